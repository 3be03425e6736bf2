//! `kaohe node history`: who changed which value, when, from which file.

use std::path::Path;

use anyhow::Context as _;

use super::open;
use crate::value;

#[derive(Debug, clap::Args)]
pub(super) struct HistoryArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: u16,
    /// 只看一个单位（one unit only）
    #[arg(long, value_name = "单位")]
    unit: Option<String>,
}

pub(super) fn run(dir: &Path, a: HistoryArgs) -> anyhow::Result<()> {
    let (_config, store) = open(dir)?;
    let pack = store
        .active_pack(a.year)
        .context("读取规则包（read the pack）")?;
    let rows = store
        .history(a.year, a.unit.as_deref())
        .context("读取修改记录（read the history）")?;
    let show = |field_id: &str, v: Option<i64>| match v {
        None => "（空）".to_string(),
        Some(v) => pack
            .as_ref()
            .and_then(|p| p.manifest.fields.iter().find(|f| f.id == field_id))
            .map(|f| value::display(f, v))
            .unwrap_or_else(|| kaohe_rulepacks::rubric::decimal::format_hundredths(v)),
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|h| {
            vec![
                h.at.clone(),
                h.operator.clone(),
                h.unit_id.clone(),
                h.round.name_zh().to_string(),
                h.field_id.clone(),
                show(&h.field_id, h.old_value),
                show(&h.field_id, h.new_value),
                h.file_name.clone().unwrap_or_else(|| h.kind.clone()),
            ]
        })
        .collect();
    print!(
        "{}",
        kaohe_tables::terminal::render(
            &[
                "时间（UTC）",
                "操作人",
                "单位",
                "轮次",
                "字段",
                "原值",
                "新值",
                "来源"
            ],
            &table
        )
    );
    Ok(())
}
