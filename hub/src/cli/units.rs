//! `kaohe hub units import | list`: a year's roster of assessees.

use std::path::PathBuf;

use kaohe_tables::sheet::Workbook;
use kaohe_tables::terminal;
use rusqlite::Connection;

use super::{Invocation, year_pack};
use crate::registry::{import, units};

#[derive(Debug, clap::Subcommand)]
pub enum UnitsCommand {
    /// 从 Excel（.xlsx）或 CSV 导入一个年度的名册，整体替换该年度名册；有任何错误则全部不导入
    /// （import a year's roster, all or nothing）
    Import {
        /// 名册文件（.xlsx 或 .csv；CSV 可为 UTF-8 或 GB18030）
        #[arg(value_name = "文件")]
        file: PathBuf,
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
    },
    /// 列出一个年度的名册（list a year's roster）
    List {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
    },
}

pub(super) fn run(inv: &Invocation, command: UnitsCommand) -> anyhow::Result<()> {
    match command {
        UnitsCommand::Import { file, year } => {
            let actor = inv.actor()?;
            let mut conn = inv.open()?;
            let pack = year_pack(&conn, &inv.runtime()?, year)?;
            let categories = pack
                .as_ref()
                .map(|p| import::PackCategories::of(p.manifest()));
            let outcome =
                import::import_units_file(&mut conn, &file, year, categories.as_ref(), &actor)?;
            let s = &outcome.summary;
            println!(
                "已导入 {year} 年度名册：共 {} 个单位；新增 {}，修改 {}，删除 {}，未变 {}（imported）",
                outcome.units,
                s.added.len(),
                s.changed.len(),
                s.removed.len(),
                s.unchanged
            );
            if !s.removed.is_empty() {
                println!("已删除（removed）：{}", s.removed.join("、"));
            }
            if let Some(note) = Workbook::hidden_note(&outcome.hidden_sheets) {
                println!("{note}");
            }
            match &categories {
                Some(c) => println!("类别已按规则包 {} 核对（categories checked）", c.pack),
                None => println!(
                    "警告（warning）：{year} 年度尚未发布规则包，类别只核对了格式；发布规则包后请再导入一次名册，按规则包核对类别（no pack for {year}: categories not checked against it）"
                ),
            }
        }
        UnitsCommand::List { year } => {
            let conn = inv.open()?;
            list_units(&conn, year)?;
        }
    }
    Ok(())
}

fn list_units(conn: &Connection, year: i32) -> anyhow::Result<()> {
    let roster = units::load_roster(conn, year)?;
    if roster.is_empty() {
        let years = units::roster_years(conn)?;
        let have = if years.is_empty() {
            "无".to_string()
        } else {
            years
                .iter()
                .map(|(y, n)| format!("{y}（{n} 个单位）"))
                .collect::<Vec<_>>()
                .join("、")
        };
        println!("{year} 年度没有名册（no roster）；已有名册的年度：{have}");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = roster
        .iter()
        .map(|u| {
            vec![
                u.id.clone(),
                u.name.clone(),
                u.category.clone(),
                u.parent.clone().unwrap_or_default(),
                u.supervising_department.clone().unwrap_or_default(),
                match &u.assessor {
                    units::ResponsibleAssessor::Unit(id) => roster
                        .get(id)
                        .map(|a| format!("{}（{id}）", a.name))
                        .unwrap_or_else(|| id.clone()),
                    other => other.to_string(),
                },
            ]
        })
        .collect();
    print!(
        "{}",
        terminal::render(
            &[
                "单位编号",
                "单位名称",
                "类别",
                "上级单位",
                "主管部门",
                "考核主体"
            ],
            &rows
        )
    );
    println!("共 {} 个单位（{} units）", roster.len(), roster.len());
    Ok(())
}
