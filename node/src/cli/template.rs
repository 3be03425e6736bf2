//! `kaohe node template`: the year's Excel or CSV template, optionally
//! prefilled with the stored values.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::open;
use crate::layout::Layout;
use crate::template::{self, CsvEncoding, Prefill};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum TemplateFormat {
    Xlsx,
    Csv,
}

#[derive(Debug, clap::Args)]
pub(super) struct TemplateArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: u16,
    /// 文件格式；默认按输出文件扩展名（format; default from the file name）
    #[arg(long, value_enum)]
    format: Option<TemplateFormat>,
    /// CSV 的文字编码（CSV text encoding）
    #[arg(long, value_enum, default_value_t = CsvEncoding::Utf8Bom)]
    encoding: CsvEncoding,
    /// 预先填入已保存的数值，便于更正后重新导入（prefill stored values）
    #[arg(long)]
    with_values: bool,
    /// 覆盖已有文件（overwrite an existing file）
    #[arg(long)]
    force: bool,
    /// 输出文件（output file）
    #[arg(short = 'o', long = "out", alias = "output", value_name = "文件")]
    output: PathBuf,
}

pub(super) fn run(dir: &Path, a: TemplateArgs) -> anyhow::Result<()> {
    let (_config, store) = open(dir)?;
    let format = match a.format {
        Some(f) => f,
        None => match a
            .output
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => TemplateFormat::Csv,
            Some("xlsx") => TemplateFormat::Xlsx,
            _ => bail!(
                "请用 --format xlsx|csv 指定格式，或让输出文件以 .xlsx / .csv 结尾（cannot tell the format）"
            ),
        },
    };
    let pack = store
        .require_pack(a.year)
        .context("读取规则包（read the pack）")??;
    let scope = store
        .scope(a.year)
        .context("读取考核范围（read the scope）")?;
    let layout =
        Layout::new(&pack.manifest, &scope).context("生成模板布局（lay out the template）")?;
    let prefill: Prefill = if a.with_values {
        Prefill::stored(&store, a.year)
            .context("读取已保存的证据和不适用标记（read stored evidence and marks）")?
    } else {
        Prefill::new()
    };
    let bytes = match format {
        TemplateFormat::Xlsx => template::xlsx(&layout, &prefill),
        TemplateFormat::Csv => template::csv(&layout, &prefill, a.encoding),
    }
    .context("生成模板（write the template）")?;
    write_output(&a.output, &bytes, a.force)?;
    println!(
        "已生成 {} 年模板（template written）：{}（{} 个单位，{} 个轮次）",
        a.year,
        a.output.display(),
        scope.units.len(),
        layout.rounds.len()
    );
    Ok(())
}

fn write_output(path: &Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut f = options.open(path).with_context(|| {
        format!(
            "创建 {}（create the output file; use --force to overwrite）",
            path.display()
        )
    })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("写入 {}（write the output file）", path.display()))
}
