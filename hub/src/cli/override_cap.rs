//! `kaohe hub override`: an override of a unit's penalty cap, with the
//! reason. (The module is not called `override`: that is a Rust keyword.)

use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;

use super::{Invocation, Now};
use crate::workflow;

#[derive(Debug, clap::Args)]
pub struct OverrideArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    pub year: i32,
    /// 单位编号（unit id）
    #[arg(long, value_name = "单位编号")]
    pub unit: String,
    /// 扣分上限（分），如 15 或 12.5（cap in points）
    #[arg(long, value_name = "分")]
    pub cap: String,
    /// 原因，记入审计日志（reason）
    #[arg(long, value_name = "原因")]
    pub reason: String,
    #[command(flatten)]
    pub now: Now,
}

pub(super) fn run(inv: &Invocation, args: OverrideArgs) -> anyhow::Result<()> {
    let OverrideArgs {
        year,
        unit,
        cap,
        reason,
        now,
    } = args;
    let actor = inv.actor_at(&now)?;
    let hundredths = parse_points(&cap)?;
    let mut conn = inv.open()?;
    workflow::override_cap(&mut conn, year, &unit, hundredths, &reason, &actor)?;
    println!(
        "已记录：{unit} {year} 年度扣分上限调整为 {} 分，原因：{}",
        format_hundredths_fixed(hundredths),
        reason.trim()
    );
    Ok(())
}

/// Points as an official types them (`15`, `12.5`, `0.05`) → hundredths
/// ([`workflow::parse_points`]); negative points are refused.
pub fn parse_points(text: &str) -> anyhow::Result<i64> {
    Ok(workflow::parse_points(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse_to_hundredths_and_junk_is_refused() {
        assert_eq!(parse_points("15").unwrap(), 1500);
        assert_eq!(parse_points("12.5").unwrap(), 1250);
        assert_eq!(parse_points("0.05").unwrap(), 5);
        for bad in ["", "-1", "1.234", "abc", ".5", "1e3"] {
            assert!(parse_points(bad).is_err(), "{bad}");
        }
    }
}
