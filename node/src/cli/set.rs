//! `kaohe node set`: one value, checked as an imported cell is.

use std::path::Path;

use anyhow::Context as _;
use kaohe_rulepacks::manifest::Round;

use super::{actor, open, parse_round};
use crate::import;

#[derive(Debug, clap::Args)]
pub(super) struct SetArgs {
    /// 单位编号（unit id）
    #[arg(value_name = "单位")]
    unit: String,
    /// 字段编号，见模板隐藏的第2行或填表说明（field id）
    #[arg(value_name = "字段")]
    field: String,
    /// 数值：数字、是/否 或选项文字（the value）
    #[arg(value_name = "数值", allow_hyphen_values = true)]
    value: String,
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: u16,
    /// 季度 Q1–Q4，按季度填报的项必填（quarter, for quarterly fields）
    #[arg(long, value_parser = parse_round, value_name = "季度")]
    round: Option<Round>,
    /// 操作人（默认为当前登录用户）（operator; default: the login user）
    #[arg(long, value_name = "姓名")]
    operator: Option<String>,
}

pub(super) fn run(dir: &Path, a: SetArgs) -> anyhow::Result<()> {
    let (_config, mut store) = open(dir)?;
    let actor = actor(a.operator)?;
    let s = import::set_value(
        &mut store, a.year, &a.unit, &a.field, &a.value, a.round, &actor,
    )
    .with_context(|| format!("设置 {} 的 {}（set the value）", a.unit, a.field))?;
    if s.written() == 0 {
        println!("数值未变（unchanged）");
    } else {
        println!("已保存（saved）：{} {} = {}", a.unit, a.field, a.value);
    }
    Ok(())
}
