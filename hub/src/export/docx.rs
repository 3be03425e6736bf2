//! 文书草稿（DOCX drafts）: 法治建议书 and 约谈通知 per unit, one 通报警示
//! and one 通报表扬 for all units concerned — drafts an office opens in WPS
//! or Word, completes and stamps.
//!
//! The OOXML is written by hand, minimal and valid: `[Content_Types].xml`,
//! the package and document relationships, `word/document.xml`,
//! `word/styles.xml`, `word/fontTable.xml` and `docProps/core.xml`. Fonts
//! follow GB/T 9704: titles 方正小标宋简体, body 仿宋_GB2312, headings 黑体;
//! the font table gives each an alternate (宋体, 仿宋, SimHei) for machines
//! without it. What the office must fill in — 文号, date, seal, time and
//! place — is a yellow-highlighted 【placeholder】.
//!
//! All text goes through [`escape`]; text from the report never becomes
//! markup.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::ExportError;
use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;

use super::model::{OutcomeKind, Report, UnitBreakdown};

/// One draft: its file name under `letters/` and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

pub(crate) fn render(report: &Report) -> Result<Vec<Letter>, ExportError> {
    let mut letters = Vec::new();
    // One letter per (kind, unit); several outcomes of one kind for one
    // unit are one letter giving every reason.
    let mut per_unit: BTreeMap<(OutcomeKind, usize), (String, String, Vec<String>)> =
        BTreeMap::new();
    let mut first_seen: Vec<(OutcomeKind, String)> = Vec::new();
    for o in &report.outcomes {
        let key = (o.kind, o.unit_id.clone());
        let pos = match first_seen.iter().position(|k| *k == key) {
            Some(p) => p,
            None => {
                first_seen.push(key);
                first_seen.len() - 1
            }
        };
        let entry = per_unit
            .entry((o.kind, pos))
            .or_insert_with(|| (o.unit_id.clone(), o.unit_name.clone(), Vec::new()));
        if !o.reason.is_empty() && !entry.2.contains(&o.reason) {
            entry.2.push(o.reason.clone());
        }
    }
    let targets = |kind: OutcomeKind| -> Vec<Target> {
        per_unit
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, (id, name, reasons))| Target {
                unit_id: id,
                unit_name: name,
                reason: reasons.join("；"),
            })
            .collect()
    };

    for t in targets(OutcomeKind::RecommendationLetter) {
        letters.push(Letter {
            file_name: file_name(&format!("法治建议书-{}-{}", t.unit_id, t.unit_name)),
            bytes: package(&recommendation_letter(report, &t), "法治建议书")?,
        });
    }
    for t in targets(OutcomeKind::Admonition) {
        letters.push(Letter {
            file_name: file_name(&format!("约谈通知-{}-{}", t.unit_id, t.unit_name)),
            bytes: package(&admonition_notice(report, &t), "约谈通知")?,
        });
    }
    let warned = targets(OutcomeKind::Warning);
    if !warned.is_empty() {
        let doc = group_notice(report, &warned, GroupNotice::Warning);
        letters.push(Letter {
            file_name: file_name("通报警示"),
            bytes: package(&doc, "通报警示")?,
        });
    }
    let commended = targets(OutcomeKind::Commendation);
    if !commended.is_empty() {
        let doc = group_notice(report, &commended, GroupNotice::Commendation);
        letters.push(Letter {
            file_name: file_name("通报表扬"),
            bytes: package(&doc, "通报表扬")?,
        });
    }
    Ok(letters)
}

struct Target<'a> {
    unit_id: &'a str,
    unit_name: &'a str,
    reason: String,
}

/// `关于…` + `.docx`, with characters no file system accepts replaced.
fn file_name(stem: &str) -> String {
    let clean: String = stem
        .chars()
        .map(|c| {
            if "/\\:*?\"<>|".contains(c) || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .take(80)
        .collect();
    let clean = clean.trim_matches(|c: char| c == '.' || c.is_whitespace());
    format!("{}.docx", if clean.is_empty() { "文书" } else { clean })
}

/// "总分95.50分，等次为良好" when the unit was assessed.
fn result_phrase(report: &Report, unit_id: &str) -> Option<String> {
    report.row_of(unit_id).map(|r| {
        format!(
            "考核总分{}分，等次为{}",
            format_hundredths_fixed(r.total),
            r.grade_name
        )
    })
}

/// "根据2022年度…考核结果，你单位考核总分79.80分，等次为合格。"
fn opening(report: &Report, t: &Target) -> String {
    let result = match result_phrase(report, t.unit_id) {
        Some(p) => format!("，你单位{p}"),
        None => String::new(),
    };
    format!(
        "根据{}年度{}考核结果{result}。",
        report.year, report.scheme_name
    )
}

/// "因你单位考核等次为合格，" — the outcome's reason, if it has one.
fn because(t: &Target) -> String {
    if t.reason.is_empty() {
        String::new()
    } else {
        format!("因你单位{}，", t.reason)
    }
}

fn recommendation_letter(report: &Report, t: &Target) -> Doc {
    let mut d = Doc::default();
    d.title("法治建议书");
    d.placeholder_line("【文号】", Jc::Center);
    d.blank();
    d.addressee(&format!("{}：", t.unit_name));
    d.para(&format!(
        "{}按照《{}考核方案》关于考核结果运用的规定，{}现就你单位法治建设工作提出如下建议：",
        opening(report, t),
        report.scheme_name,
        because(t)
    ));
    d.heading("一、考核发现的主要问题");
    let problems = report
        .breakdown
        .iter()
        .find(|b| b.unit_id == t.unit_id)
        .map(problem_lines)
        .unwrap_or_default();
    if problems.is_empty() {
        d.para("本次考核未记录分项扣分事项，请对照考核细则全面自查。");
    }
    for (i, p) in problems.iter().enumerate() {
        d.para(&format!("{}. {p}", i + 1));
    }
    d.heading("二、整改建议");
    for p in [
        "（一）对照上述问题逐项分析原因，制定整改方案，明确整改措施、责任人和完成时限。",
        "（二）落实党政主要负责人履行推进法治建设第一责任人职责，健全本单位法治建设工作机制。",
        "（三）严格规范公正文明执法，加强行政规范性文件、重大行政决策和行政执法案卷的合法性审核与监督。",
    ] {
        d.para(p);
    }
    d.para(&format!(
        "请你单位收到本建议书后认真研究落实，并按要求将整改情况书面报送{}。",
        report.issuer
    ));
    d.signature(&report.issuer);
    d
}

/// "指标名称（分值10.00分，得分8.00分）：理由；理由" for every indicator
/// that lost points or carries a reason; then bonus/penalty.
fn problem_lines(b: &UnitBreakdown) -> Vec<String> {
    let mut out: Vec<String> = b
        .indicators
        .iter()
        .filter(|i| i.score < i.points || !i.reasons.is_empty())
        .map(|i| {
            let reasons = if i.reasons.is_empty() {
                String::new()
            } else {
                format!("：{}", i.reasons.join("；"))
            };
            format!(
                "{}（分值{}分，得分{}分）{reasons}。",
                i.name,
                format_hundredths_fixed(i.points),
                format_hundredths_fixed(i.score)
            )
        })
        .collect();
    if b.penalty > 0 {
        out.push(format!(
            "加减分评定扣{}分。",
            format_hundredths_fixed(b.penalty)
        ));
    }
    out
}

fn admonition_notice(report: &Report, t: &Target) -> Doc {
    let mut d = Doc::default();
    d.title(&format!("关于约谈{}主要负责人的通知", t.unit_name));
    d.placeholder_line("【文号】", Jc::Center);
    d.blank();
    d.addressee(&format!("{}：", t.unit_name));
    d.para(&format!(
        "{}{}依照《{}考核方案》关于考核结果运用的规定，经研究，决定对你单位主要负责人进行约谈。\
         现将有关事项通知如下：",
        opening(report, t),
        because(t),
        report.scheme_name
    ));
    d.runs(&[Run::hei("一、约谈时间："), Run::placeholder("【约谈时间】")]);
    d.runs(&[Run::hei("二、约谈地点："), Run::placeholder("【约谈地点】")]);
    d.runs(&[
        Run::hei("三、参加人员："),
        Run::body("你单位主要负责人、分管法治工作的负责人。"),
    ]);
    d.runs(&[
        Run::hei("四、有关要求："),
        Run::body("请你单位对照考核发现的问题认真剖析原因，形成书面说明，于约谈时提交。"),
    ]);
    d.runs(&[
        Run::body("联系人："),
        Run::placeholder("【联系人】"),
        Run::body("　　联系电话："),
        Run::placeholder("【联系电话】"),
    ]);
    d.signature(&report.issuer);
    d
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum GroupNotice {
    Warning,
    Commendation,
}

fn group_notice(report: &Report, units: &[Target], kind: GroupNotice) -> Doc {
    let mut d = Doc::default();
    let (title, decision, ending) = match kind {
        GroupNotice::Warning => (
            format!(
                "关于对{}年度{}考核有关单位予以通报警示的通报",
                report.year, report.scheme_name
            ),
            "决定对以下单位予以通报警示：",
            "被通报警示的单位要深刻汲取教训，认真查找问题根源，制定整改方案，按要求报告整改情况。各单位要引以为戒，切实履行法治建设职责。",
        ),
        GroupNotice::Commendation => (
            format!(
                "关于对{}年度{}考核优秀单位予以通报表扬的通报",
                report.year, report.scheme_name
            ),
            "决定对以下单位予以通报表扬：",
            "希望受到表扬的单位珍惜荣誉、再接再厉，继续发挥示范带动作用。各单位要以受表扬单位为榜样，推动法治建设工作再上新台阶。",
        ),
    };
    d.title(&title);
    d.placeholder_line("【文号】", Jc::Center);
    d.blank();
    if !report.recipients.is_empty() {
        d.addressee(&format!("{}：", report.recipients));
    }
    d.para(&format!(
        "根据《{}考核方案》关于考核结果运用的规定和{}年度考核结果，{decision}",
        report.scheme_name, report.year
    ));
    for (i, t) in units.iter().enumerate() {
        let mut detail: Vec<String> = Vec::new();
        if !t.reason.is_empty() {
            detail.push(t.reason.clone());
        }
        if let Some(p) = result_phrase(report, t.unit_id) {
            detail.push(p);
        }
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!("（{}）", detail.join("；"))
        };
        d.para(&format!("{}. {}{detail}", i + 1, t.unit_name));
    }
    d.para(ending);
    d.signature(&report.issuer);
    d
}

// ---------------------------------------------------------------- OOXML

#[derive(Clone, Copy, PartialEq, Eq)]
enum Jc {
    Both,
    Center,
    Right,
}

impl Jc {
    fn val(self) -> &'static str {
        match self {
            Jc::Both => "both",
            Jc::Center => "center",
            Jc::Right => "right",
        }
    }
}

/// The east-Asian font of a run; Latin text is always Times New Roman.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Face {
    FangSong,
    XiaoBiaoSong,
    Hei,
}

impl Face {
    fn name(self) -> &'static str {
        match self {
            Face::FangSong => "仿宋_GB2312",
            Face::XiaoBiaoSong => "方正小标宋简体",
            Face::Hei => "黑体",
        }
    }
}

struct Run<'a> {
    text: &'a str,
    face: Face,
    /// Half-points (Word's unit): 32 = 16 pt 三号, 44 = 22 pt 二号.
    size: u32,
    highlight: bool,
}

impl<'a> Run<'a> {
    fn body(text: &'a str) -> Run<'a> {
        Run {
            text,
            face: Face::FangSong,
            size: 32,
            highlight: false,
        }
    }
    fn hei(text: &'a str) -> Run<'a> {
        Run {
            face: Face::Hei,
            ..Run::body(text)
        }
    }
    fn placeholder(text: &'a str) -> Run<'a> {
        Run {
            highlight: true,
            ..Run::body(text)
        }
    }
}

/// The body of `word/document.xml` being built.
#[derive(Default)]
struct Doc {
    body: String,
}

impl Doc {
    fn paragraph(&mut self, runs: &[Run], jc: Jc, first_line_chars: u32) {
        self.body.push_str("<w:p><w:pPr>");
        if let Some(big) = runs.iter().map(|r| r.size).max().filter(|&s| s > 32) {
            // Larger than body text (the title): its own exact line height,
            // off the 22-line document grid that would double it.
            self.body.push_str(&format!(
                r#"<w:snapToGrid w:val="0"/><w:spacing w:line="{}" w:lineRule="exact"/>"#,
                big * 16
            ));
        }
        if first_line_chars > 0 {
            // 100 = one character; 320 twips = one 16 pt character.
            self.body.push_str(&format!(
                r#"<w:ind w:firstLineChars="{}" w:firstLine="{}"/>"#,
                first_line_chars * 100,
                first_line_chars * 320
            ));
        }
        self.body
            .push_str(&format!(r#"<w:jc w:val="{}"/></w:pPr>"#, jc.val()));
        for run in runs {
            self.body.push_str("<w:r><w:rPr>");
            self.body.push_str(&format!(
                r#"<w:rFonts w:ascii="Times New Roman" w:hAnsi="Times New Roman" w:eastAsia="{}" w:cs="Times New Roman" w:hint="eastAsia"/>"#,
                run.face.name()
            ));
            // Schema order matters to Word: rFonts, sz, szCs, highlight.
            self.body.push_str(&format!(
                r#"<w:sz w:val="{0}"/><w:szCs w:val="{0}"/>"#,
                run.size
            ));
            if run.highlight {
                self.body.push_str(r#"<w:highlight w:val="yellow"/>"#);
            }
            self.body.push_str("</w:rPr>");
            for (i, line) in run.text.split('\n').enumerate() {
                if i > 0 {
                    self.body.push_str("<w:br/>");
                }
                self.body.push_str(r#"<w:t xml:space="preserve">"#);
                self.body.push_str(&escape(line));
                self.body.push_str("</w:t>");
            }
            self.body.push_str("</w:r>");
        }
        self.body.push_str("</w:p>");
    }

    fn title(&mut self, text: &str) {
        self.paragraph(
            &[Run {
                face: Face::XiaoBiaoSong,
                size: 44,
                ..Run::body(text)
            }],
            Jc::Center,
            0,
        );
        self.blank();
    }

    fn placeholder_line(&mut self, text: &str, jc: Jc) {
        self.paragraph(&[Run::placeholder(text)], jc, 0);
    }

    fn blank(&mut self) {
        self.paragraph(&[], Jc::Both, 0);
    }

    fn addressee(&mut self, text: &str) {
        self.paragraph(&[Run::body(text)], Jc::Both, 0);
    }

    fn para(&mut self, text: &str) {
        self.paragraph(&[Run::body(text)], Jc::Both, 2);
    }

    fn runs(&mut self, runs: &[Run]) {
        self.paragraph(runs, Jc::Both, 2);
    }

    fn heading(&mut self, text: &str) {
        self.paragraph(&[Run::hei(text)], Jc::Both, 2);
    }

    /// 署名, seal and date, right-aligned four characters in.
    fn signature(&mut self, issuer: &str) {
        self.blank();
        self.blank();
        for runs in [
            vec![Run::body(issuer), Run::body("　　　　")],
            vec![Run::placeholder("【盖章】"), Run::body("　　　　")],
            vec![Run::placeholder("【成文日期】"), Run::body("　　　　")],
        ] {
            self.paragraph(&runs, Jc::Right, 0);
        }
    }
}

/// Escapes text for XML character data and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Not allowed in XML 1.0 at all (the report is validated
            // before rendering; this keeps the package well-formed anyway).
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const W_NS: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

/// Zips `doc` into a `.docx` package titled `title`.
fn package(doc: &Doc, title: &str) -> Result<Vec<u8>, ExportError> {
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="{W_NS}"><w:body>{}<w:sectPr><w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="2098" w:right="1474" w:bottom="1984" w:left="1588" w:header="851" w:footer="992" w:gutter="0"/><w:docGrid w:type="lines" w:linePitch="579"/></w:sectPr></w:body></w:document>"#,
        doc.body
    );
    let styles = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="{W_NS}"><w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii="Times New Roman" w:hAnsi="Times New Roman" w:eastAsia="仿宋_GB2312" w:cs="Times New Roman"/><w:sz w:val="32"/><w:szCs w:val="32"/><w:lang w:val="en-US" w:eastAsia="zh-CN"/></w:rPr></w:rPrDefault><w:pPrDefault><w:pPr><w:spacing w:line="579" w:lineRule="exact"/></w:pPr></w:pPrDefault></w:docDefaults><w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/><w:qFormat/></w:style></w:styles>"#
    );
    let font = |name: &str, alt: &str, family: &str| {
        format!(
            r#"<w:font w:name="{name}"><w:altName w:val="{alt}"/><w:charset w:val="86"/><w:family w:val="{family}"/><w:pitch w:val="variable"/></w:font>"#
        )
    };
    let font_table = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:fonts xmlns:w="{W_NS}">{}{}{}<w:font w:name="Times New Roman"><w:charset w:val="00"/><w:family w:val="roman"/><w:pitch w:val="variable"/></w:font></w:fonts>"#,
        font("仿宋_GB2312", "仿宋", "modern"),
        font("方正小标宋简体", "宋体", "script"),
        font("黑体", "SimHei", "modern"),
    );
    let core = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{}</dc:title><dc:creator>kaohe</dc:creator></cp:coreProperties>"#,
        escape(title)
    );
    let parts: [(&str, &str); 7] = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/><Override PartName="/word/fontTable.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.fontTable+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>"#,
        ),
        (
            "word/_rels/document.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/fontTable" Target="fontTable.xml"/></Relationships>"#,
        ),
        ("word/document.xml", &document),
        ("word/styles.xml", &styles),
        ("word/fontTable.xml", &font_table),
        ("docProps/core.xml", &core),
    ];
    let zip_err = |e: zip::result::ZipError| ExportError::Docx(e.to_string());
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    // Fixed timestamps (1980-01-01): the same report gives the same bytes.
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (name, content) in parts {
        zip.start_file(name, options).map_err(zip_err)?;
        zip.write_all(content.as_bytes())
            .map_err(|e| ExportError::Docx(e.to_string()))?;
    }
    Ok(zip.finish().map_err(zip_err)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("A&B <w:t> \"x\" 'y'"),
            "A&amp;B &lt;w:t&gt; &quot;x&quot; &apos;y&apos;"
        );
        assert_eq!(escape("甲\u{1}乙"), "甲\u{FFFD}乙");
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(
            file_name("法治建议书-t1-县/司法局"),
            "法治建议书-t1-县_司法局.docx"
        );
        assert_eq!(file_name("..."), "文书.docx");
        assert_eq!(file_name("a:b*c?d\"e<f>g|h\\i"), "a_b_c_d_e_f_g_h_i.docx");
    }
}
