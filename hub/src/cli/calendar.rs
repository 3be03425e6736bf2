//! `kaohe hub calendar show | import | deadline`: the working-day calendar.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use jiff::civil::Date;
use kaohe_tables::terminal;
use rusqlite::Connection;

use super::{Invocation, beijing};
use crate::calendar::{Calendar, describe, format_date_zh};
use crate::registry::calendar_years;

#[derive(Debug, clap::Subcommand)]
pub enum CalendarCommand {
    /// 显示一年的法定节假日和调休上班日（show a year's holidays）
    Show {
        /// 年份（year）
        #[arg(value_name = "年份")]
        year: i32,
    },
    /// 导入一年的节假日安排文件（.toml，格式见 hub/data/holidays/）（import a year file）
    Import {
        /// 年度日历文件（year file）
        #[arg(value_name = "文件")]
        file: PathBuf,
    },
    /// 推算期限（compute a deadline）：默认按工作日，通知当日不计
    Deadline {
        /// 起算日（通知日），如 2024-09-27（start date）
        #[arg(long, value_name = "日期")]
        from: Date,
        /// 天数（number of days）
        #[arg(long, value_name = "天数")]
        days: u32,
        /// 按自然日计算，期满日为休息日的顺延到下一个工作日（calendar days）
        #[arg(long)]
        natural: bool,
    },
}

pub(super) fn run(inv: &Invocation, command: CalendarCommand) -> anyhow::Result<()> {
    match command {
        CalendarCommand::Show { year } => {
            let conn = inv.open()?;
            let calendar = calendar_years::effective_calendar(&conn)?;
            show_calendar(&conn, &calendar, year)?;
        }
        CalendarCommand::Import { file } => {
            let actor = inv.actor()?;
            let mut conn = inv.open()?;
            let text = read_text(&file)?;
            let (data, replaced) = calendar_years::import_calendar_year(&mut conn, &text, &actor)
                .with_context(|| {
                format!("导入日历文件 {}（import calendar file）", file.display())
            })?;
            println!(
                "已导入 {} 年日历：{}{}（calendar imported）",
                data.year,
                data.notice,
                replaced.note_zh()
            );
        }
        CalendarCommand::Deadline {
            from,
            days,
            natural,
        } => {
            let conn = inv.open()?;
            let calendar = calendar_years::effective_calendar(&conn)?;
            if natural {
                let end = calendar.deadline_after_days(from, days)?;
                println!(
                    "自 {} 起 {days} 日（期满日为休息日的顺延），期限为 {}",
                    format_date_zh(from),
                    format_date_zh(end)
                );
            } else {
                let end = calendar.add_working_days(from, days)?;
                println!(
                    "自 {} 起 {days} 个工作日（当日不计），期限为 {}",
                    format_date_zh(from),
                    format_date_zh(end)
                );
            }
        }
    }
    Ok(())
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("读取文件 {}（read file）", path.display()))?;
    calendar_years::year_file_text(&bytes)
        .with_context(|| format!("文件 {} 不是 UTF-8 编码（not UTF-8）", path.display()))
}

fn show_calendar(conn: &Connection, calendar: &Calendar, year: i32) -> anyhow::Result<()> {
    let Some(data) = calendar.year_data(year) else {
        let covered: Vec<String> = calendar.years().map(|y| y.to_string()).collect();
        bail!(
            "日历未包含 {year} 年（year not covered）；已有：{}。国务院办公厅通知发布后可用 `kaohe hub calendar import` 导入",
            covered.join("、")
        );
    };
    let source = match calendar_years::imported_years(conn)?
        .into_iter()
        .find(|y| y.year == year)
    {
        Some(imported) => format!(
            "导入（imported）：{}，{}",
            beijing(imported.imported_at),
            imported.imported_by
        ),
        None => "内置（built-in）".to_string(),
    };
    println!("{year} 年 {}", data.notice);
    if let Some(number) = &data.document_number {
        println!("文号：{number}");
    }
    if let Some(issued) = data.issued {
        println!("发布日期：{}", format_date_zh(issued));
    }
    if let Some(url) = &data.url {
        println!("原文：{url}");
    }
    println!("数据来源：{source}");
    println!();
    let rows: Vec<Vec<String>> = describe::holiday_rows(data)
        .into_iter()
        .map(Vec::from)
        .collect();
    print!("{}", terminal::render(&["节日", "放假", "调休上班"], &rows));
    println!();
    println!(
        "全年工作日 {} 天（working days）",
        calendar.working_days_in_year(year)?
    );
    Ok(())
}
