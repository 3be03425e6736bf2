//! `kaohe node outbox`: every entry with its state and last error.

use std::path::Path;

use anyhow::Context as _;

use super::open;
use crate::outbox::State;

pub(super) fn run(dir: &Path) -> anyhow::Result<()> {
    let (_config, store) = open(dir)?;
    let entries = store
        .outbox(None)
        .context("读取发件箱（read the outbox）")?;
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.sequence.to_string(),
                e.unit_id.clone(),
                e.year.to_string(),
                e.round.name_zh().to_string(),
                e.methods.clone(),
                e.state.to_string(),
                e.attempts.to_string(),
                e.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        kaohe_tables::terminal::render(
            &[
                "序号",
                "单位",
                "年度",
                "轮次",
                "考核方式",
                "状态",
                "尝试",
                "说明"
            ],
            &rows
        )
    );
    let pending = entries.iter().filter(|e| e.state.is_pending()).count();
    println!(
        "待送达 {pending} 条（pending）；已接收 {} 条",
        entries
            .iter()
            .filter(|e| e.state == State::Accepted)
            .count()
    );
    Ok(())
}
