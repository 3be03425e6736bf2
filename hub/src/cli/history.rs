//! `kaohe hub history import`: earlier years' results, for the use of
//! results.

use std::path::PathBuf;

use kaohe_tables::sheet::Workbook;

use super::{Invocation, Now};
use crate::workflow;

#[derive(Debug, clap::Subcommand)]
pub enum HistoryCommand {
    /// 导入往年考核结果（单位编号、年度、总分、等次），用于结果运用；全部无误才写入（import earlier years' results）
    Import {
        /// Excel（.xlsx）或 CSV 文件（file）
        #[arg(value_name = "文件")]
        file: PathBuf,
        /// 这些往年结果用于哪一考核年度：等次按该年度规则包的等次核对（the year whose pack's grades apply）
        #[arg(long, value_name = "年度")]
        year: i32,
        #[command(flatten)]
        now: Now,
    },
}

pub(super) fn run(inv: &Invocation, command: HistoryCommand) -> anyhow::Result<()> {
    let HistoryCommand::Import { file, year, now } = command;
    let actor = inv.actor_at(&now)?;
    let mut conn = inv.open()?;
    let data = inv.load(&conn, year)?;
    let done = workflow::history::import_history_file(&mut conn, &file, data.manifest(), &actor)?;
    println!(
        "已导入往年考核结果 {} 条（imported），来自 {}",
        done.rows,
        file.display()
    );
    if let Some(note) = Workbook::hidden_note(&done.hidden_sheets) {
        println!("{note}");
    }
    Ok(())
}
