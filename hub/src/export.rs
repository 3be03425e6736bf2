//! 导出（exports）：the documents officials use, rendered from one
//! [`Report`](model::Report) — the results workbook (`.xlsx`), the published
//! results notice (`.pdf`) and drafts of letters and notices (`.docx`).
//!
//! Layout:
//! - [`model`]: the plain input model (strings and `i64` hundredths).
//! - `xlsx`: 排名 / 等次汇总 / 分项明细 / 结果运用 / 迟报与未考核 sheets, then
//!   季度擂台 and 审定信息.
//! - `pdf`: the notice typeset on A4 (CJK line breaking with 禁则, ruled
//!   tables with repeated headers), `font`: the embedded subset font.
//! - `docx`: 法治建议书, 约谈通知, 通报警示, 提请通报表扬的请示 drafts, each from
//!   the assessor of its units.
//! - [`proofs`]: one proof bundle per unit (`proofs/<unit-id>.json`) and
//!   the pack modules they name, for `kaohe verify`.
//!
//! **Architecture Invariant:** rendering is a pure function of the report
//! (and the font): no clock, no randomness — the same report gives the same
//! bytes. Only [`write_all`] touches the file system.
//!
//! **Architecture Invariant:** no spreadsheet cell is ever a formula; text
//! beginning with `= + - @` is written as text.
//!
//! **Architecture Invariant:** a character the PDF font lacks fails the
//! export, naming the character and where it was; nothing is written.

use std::path::{Path, PathBuf};

mod docx;
mod font;
pub mod model;
mod pdf;
pub mod proofs;
mod xlsx;

pub use docx::Letter;
pub use font::EMBEDDED_FONT;
pub use model::Report;

/// Choices for [`write_all`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// A TrueType font file (`.ttf`, or the first face of a `.ttc`) for the
    /// PDF instead of the embedded Noto Serif CJK SC subset — e.g. a
    /// county's licensed 仿宋_GB2312.
    pub font: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "字体缺少字符「{ch}」(U+{:04X})，位于{location}（字体：{font}）；请改正该文字，\
         或用 --font 指定包含该字的 TrueType 字体（missing glyph）",
        u32::from(*ch)
    )]
    MissingGlyph {
        ch: char,
        location: String,
        font: String,
    },
    #[error("不能读取字体文件 {path}（cannot read font）：{source}")]
    ReadFont {
        path: String,
        source: std::io::Error,
    },
    #[error("字体 {font} 不可用（unusable font）：{detail}")]
    Font { font: String, detail: String },
    #[error(
        "{location}含有控制字符 U+{:04X}，不能写入文书；请在源数据中删除该字符（control character）",
        u32::from(*ch)
    )]
    ControlCharacter { ch: char, location: String },
    #[error("考核结果数据前后不一致（inconsistent report）：{0}")]
    Inconsistent(String),
    #[error("{location}内容过长，一页排不下（row too tall for a page）")]
    RowTooTall { location: String },
    #[error("生成 Excel 工作簿失败（xlsx）：{0}")]
    Xlsx(String),
    #[error("生成 Word 文书失败（docx）：{0}")]
    Docx(String),
    #[error("不能写入 {path}（cannot write）：{source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Renders every document of `report` and writes them under `out_dir`:
/// `{year}年度考核结果.xlsx`, `{year}年度考核结果通报.pdf` and
/// `letters/*.docx`; returns the paths written, in that order.
///
/// Everything is rendered in memory first: if any document fails (a
/// character missing from the font, bad text), nothing is written. Each
/// file is written to a temporary name and renamed into place, so a reader
/// never sees half a file. Files of an earlier export with the same names
/// are replaced; no other file is touched.
pub fn write_all(
    report: &Report,
    out_dir: &Path,
    options: &ExportOptions,
) -> Result<Vec<PathBuf>, ExportError> {
    let workbook = render_xlsx(report)?;
    let notice = render_pdf(report, options)?;
    let letters = render_letters(report)?;

    let letters_dir = out_dir.join("letters");
    std::fs::create_dir_all(&letters_dir).map_err(|e| write_err(&letters_dir, e))?;
    let mut written = Vec::new();
    let mut put = |path: PathBuf, bytes: &[u8]| -> Result<(), ExportError> {
        write_atomically(&path, bytes)?;
        written.push(path);
        Ok(())
    };
    put(
        out_dir.join(format!("{}年度考核结果.xlsx", report.year)),
        &workbook,
    )?;
    put(
        out_dir.join(format!("{}年度考核结果通报.pdf", report.year)),
        &notice,
    )?;
    for letter in &letters {
        put(letters_dir.join(&letter.file_name), &letter.bytes)?;
    }
    Ok(written)
}

/// The results workbook.
pub fn render_xlsx(report: &Report) -> Result<Vec<u8>, ExportError> {
    validate(report)?;
    xlsx::render(report)
}

/// The results notice, in the embedded font or `options.font`.
pub fn render_pdf(report: &Report, options: &ExportOptions) -> Result<Vec<u8>, ExportError> {
    validate(report)?;
    let data = font::FontData::load(options.font.as_deref())?;
    let font = font::Font::parse(&data)?;
    pdf::render(report, &font)
}

/// The letter and notice drafts, with unique file names.
pub fn render_letters(report: &Report) -> Result<Vec<Letter>, ExportError> {
    validate(report)?;
    let mut letters = docx::render(report)?;
    let mut seen: Vec<String> = Vec::new();
    for letter in &mut letters {
        let stem = letter.file_name.trim_end_matches(".docx").to_string();
        let mut n = 1;
        while seen.contains(&letter.file_name) {
            n += 1;
            letter.file_name = format!("{stem}({n}).docx");
        }
        seen.push(letter.file_name.clone());
    }
    Ok(letters)
}

fn write_err(path: &Path, source: std::io::Error) -> ExportError {
    ExportError::Write {
        path: path.display().to_string(),
        source,
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| write_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| write_err(path, e))
}

/// Refuses, whole, a report no document can faithfully show: control
/// characters (other than line breaks in reasons) and grade counts that
/// disagree with the rows.
fn validate(report: &Report) -> Result<(), ExportError> {
    let check = |text: &str, multiline: bool, location: &dyn Fn() -> String| match text
        .chars()
        .find(|&c| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t')))
    {
        None => Ok(()),
        Some(ch) => Err(ExportError::ControlCharacter {
            ch,
            location: location(),
        }),
    };
    for (text, what) in [
        (&report.county, "县名"),
        (&report.scheme_name, "考核名称"),
        (&report.title, "通报标题"),
        (&report.doc_number, "文号"),
        (&report.issuer, "发文机关"),
        (&report.published_on, "成文日期"),
        (&report.recipients, "主送机关"),
    ] {
        check(text, false, &|| what.to_string())?;
    }
    for (i, p) in report.intro.iter().chain(&report.closing).enumerate() {
        check(p, true, &|| format!("正文第 {} 段", i + 1))?;
    }
    for c in &report.copy_to {
        check(c, false, &|| format!("抄送单位「{c}」"))?;
    }
    for cat in &report.categories {
        check(&cat.name, false, &|| "类别名称".to_string())?;
        for (i, r) in cat.rows.iter().enumerate() {
            let at = || {
                format!(
                    "类别「{}」第 {} 行（单位编号 {}）",
                    cat.name,
                    i + 1,
                    r.unit_id
                )
            };
            check(&r.unit_id, false, &|| format!("{}的单位编号", at()))?;
            check(&r.unit_name, false, &|| format!("{}的单位名称", at()))?;
            check(&r.grade_name, false, &|| format!("{}的等次", at()))?;
        }
    }
    for g in &report.grade_counts {
        check(&g.grade_name, false, &|| "等次汇总的等次名称".to_string())?;
    }
    for b in &report.breakdown {
        let at = || format!("分项明细（单位编号 {}）", b.unit_id);
        check(&b.unit_id, false, &|| format!("{}的单位编号", at()))?;
        check(&b.unit_name, false, &|| format!("{}的单位名称", at()))?;
        check(&b.category, false, &|| format!("{}的类别", at()))?;
        check(&b.grade_name, false, &|| format!("{}的等次", at()))?;
        for ind in &b.indicators {
            let at = || format!("{}指标 {}", at(), ind.id);
            check(&ind.id, false, &|| format!("{}的编号", at()))?;
            check(&ind.name, false, &|| format!("{}的名称", at()))?;
            for r in &ind.reasons {
                check(r, true, &|| format!("{}的扣分理由", at()))?;
            }
        }
    }
    for o in &report.outcomes {
        let at = || format!("结果运用（单位编号 {}）", o.unit_id);
        check(&o.issuer, false, &|| format!("{}的发出单位", at()))?;
        if let Some(p) = &o.principal {
            check(p, false, &|| format!("{}的主要负责人", at()))?;
        }
    }
    for b in &report.leaderboards {
        let at = || format!("季度擂台（{}，{}）", b.quarter, b.category);
        check(&b.quarter, false, &at)?;
        check(&b.category, false, &at)?;
        for r in &b.rows {
            check(&r.unit_id, false, &|| format!("{}的单位编号", at()))?;
            check(&r.unit_name, false, &|| format!("{}的单位名称", at()))?;
        }
        for n in b.not_reported.iter().chain(&b.excused) {
            check(n, false, &|| format!("{}的单位名称", at()))?;
        }
    }
    check(&report.approval_sha256, false, &|| {
        "审定汇总摘要".to_string()
    })?;
    if let Some(old) = &report.replaces {
        for (text, what) in [
            (&old.doc_number, "被替代的审定文号"),
            (&old.approved_on, "被替代的审定日期"),
            (&old.reopened_on, "撤销审定日期"),
        ] {
            check(text, false, &|| what.to_string())?;
        }
        check(&old.reason, true, &|| "撤销审定原因".to_string())?;
    }
    for (what, id, name, note) in report
        .outcomes
        .iter()
        .map(|o| ("结果运用", &o.unit_id, &o.unit_name, &o.reason))
        .chain(
            report
                .late_units
                .iter()
                .map(|u| ("迟报单位", &u.unit_id, &u.unit_name, &u.detail)),
        )
        .chain(
            report
                .unassessed
                .iter()
                .map(|u| ("未考核单位", &u.unit_id, &u.unit_name, &u.missing)),
        )
    {
        let at = || format!("{what}（单位编号 {id}）");
        check(id, false, &|| format!("{}的单位编号", at()))?;
        check(name, false, &|| format!("{}的单位名称", at()))?;
        check(note, true, &|| format!("{}的说明", at()))?;
    }

    for g in &report.grade_counts {
        let rows = report.units_graded(&g.grade_name).len();
        if rows != g.count as usize {
            return Err(ExportError::Inconsistent(format!(
                "等次汇总中「{}」为 {} 个单位，各类别名单中却有 {} 个",
                g.grade_name, g.count, rows
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
