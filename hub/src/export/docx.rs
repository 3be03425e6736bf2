//! 文书草稿（DOCX drafts）: 法治建议书 and 约谈通知 per unit, one 通报警示
//! and one 提请通报表扬的请示 per issuer for the units concerned — drafts an
//! office opens in WPS or Word, completes and stamps. Each is issued by the
//! assessor of its units (分级考核: 依法治县办, 国资局, 卫健委, a township),
//! cites the approved results by their 文号 and is dated with them; a
//! letter lists only the indicators that cost points, with their reasons.
//!
//! The OOXML is written by hand, minimal and valid: `[Content_Types].xml`,
//! the package and document relationships, `word/document.xml`,
//! `word/styles.xml`, `word/fontTable.xml` and `docProps/core.xml`. Fonts
//! follow GB/T 9704: titles 方正小标宋简体, body 仿宋_GB2312, headings 黑体;
//! the font table gives each an alternate (宋体, 仿宋, SimHei) for machines
//! without it. What the office must fill in — the letter's own 文号, the
//! seal, time and place, a principal the roster lacks — is a
//! yellow-highlighted 【placeholder】.
//!
//! All text goes through [`escape`]; text from the report never becomes
//! markup.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::ExportError;
use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;

use super::model::{IndicatorLine, LineKind, OutcomeKind, Report, UnitBreakdown};

/// One draft: its file name under `letters/` and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

pub(crate) fn render(report: &Report) -> Result<Vec<Letter>, ExportError> {
    let mut letters = Vec::new();
    // One target per (kind, unit) in order of first appearance; several
    // outcomes of one kind for one unit are one letter giving every reason.
    let mut targets: Vec<(OutcomeKind, Target)> = Vec::new();
    for o in &report.outcomes {
        let at = targets
            .iter()
            .position(|(k, t)| *k == o.kind && t.unit_id == o.unit_id);
        let t = match at {
            Some(at) => &mut targets[at].1,
            None => {
                targets.push((
                    o.kind,
                    Target {
                        unit_id: &o.unit_id,
                        unit_name: &o.unit_name,
                        issuer: if o.issuer.is_empty() {
                            &report.issuer
                        } else {
                            &o.issuer
                        },
                        principal: o.principal.as_deref(),
                        reasons: Vec::new(),
                    },
                ));
                &mut targets.last_mut().expect("just pushed").1
            }
        };
        if !o.reason.is_empty() && !t.reasons.contains(&o.reason) {
            t.reasons.push(o.reason.clone());
        }
    }
    let of_kind = |kind: OutcomeKind| -> Vec<&Target> {
        targets
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, t)| t)
            .collect()
    };

    for t in of_kind(OutcomeKind::RecommendationLetter) {
        letters.push(Letter {
            file_name: file_name(&format!("法治建议书-{}-{}", t.unit_id, t.unit_name)),
            bytes: package(&recommendation_letter(report, t), "法治建议书")?,
        });
    }
    for t in of_kind(OutcomeKind::Admonition) {
        letters.push(Letter {
            file_name: file_name(&format!("约谈通知-{}-{}", t.unit_id, t.unit_name)),
            bytes: package(&admonition_notice(report, t), "约谈通知")?,
        });
    }
    // The group notices: one per issuer (分级考核), the county office's
    // under the plain name.
    for (kind, notice, stem) in [
        (OutcomeKind::Warning, GroupNotice::Warning, "通报警示"),
        (
            OutcomeKind::Commendation,
            GroupNotice::Commendation,
            "通报表扬",
        ),
    ] {
        let units = of_kind(kind);
        let mut issuers: Vec<&str> = units.iter().map(|t| t.issuer).collect();
        issuers.sort_by_key(|i| (*i != report.issuer, *i));
        issuers.dedup();
        for issuer in issuers {
            let mine: Vec<&Target> = units
                .iter()
                .copied()
                .filter(|t| t.issuer == issuer)
                .collect();
            let name = if issuer == report.issuer {
                stem.to_owned()
            } else {
                format!("{stem}-{issuer}")
            };
            letters.push(Letter {
                file_name: file_name(&name),
                bytes: package(&group_notice(report, issuer, &mine, notice), stem)?,
            });
        }
    }
    Ok(letters)
}

struct Target<'a> {
    unit_id: &'a str,
    unit_name: &'a str,
    /// Who issues the letter: the unit's assessor (分级考核).
    issuer: &'a str,
    principal: Option<&'a str>,
    reasons: Vec<String>,
}

impl Target<'_> {
    fn reason(&self) -> String {
        self.reasons.join("；")
    }
}

/// Marks what the office must still fill in.
const PRINCIPAL_BLANK: &str = "【主要负责人姓名（名册未登记）】";

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

/// `县委、县政府审定的2022年度…考核结果（宝法治办〔2023〕1号）`: the approved
/// results, with the approval's 文号 when known.
fn approved_results(report: &Report) -> String {
    let level = report.county.chars().last().unwrap_or('县');
    let doc = if report.doc_number.is_empty() {
        String::new()
    } else {
        format!("（{}）", report.doc_number)
    };
    format!(
        "{level}委、{level}政府审定的{}年度{}考核结果{doc}",
        report.year, report.scheme_name
    )
}

/// "根据县委、县政府审定的2022年度…考核结果（文号），你单位考核总分79.80分，等次为合格。"
fn opening(report: &Report, t: &Target) -> String {
    let result = match result_phrase(report, t.unit_id) {
        Some(p) => format!("，你单位{p}"),
        None => String::new(),
    };
    format!("根据{}{result}。", approved_results(report))
}

/// "因你单位考核等次为合格，" — the outcome's reason, if it has one.
fn because(t: &Target) -> String {
    if t.reasons.is_empty() {
        String::new()
    } else {
        format!("因你单位{}，", t.reason())
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
        d.para("本次考核未记录分项失分事项，请对照考核细则全面自查。");
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
        t.issuer
    ));
    d.signature(t.issuer, &report.published_on);
    d
}

/// The indicators that cost the unit something, each with its reasons:
/// "指标（分值10.00分，得分8.00分，失2.00分）：理由" for a scored item, "指标
/// （扣2.00分）：理由" for a penalty, "指标：理由" for a raised flag. Bonus
/// items and items with nothing lost are never listed. A total penalty
/// below the items' sum (the cap) is said once at the end.
fn problem_lines(b: &UnitBreakdown) -> Vec<String> {
    let reasons = |i: &IndicatorLine| {
        if i.reasons.is_empty() {
            String::new()
        } else {
            format!("：{}", i.reasons.join("；"))
        }
    };
    let mut out: Vec<String> = b
        .indicators
        .iter()
        .filter(|i| i.is_problem())
        .map(|i| match i.kind {
            LineKind::Scored => format!(
                "{}（分值{}分，得分{}分，失{}分）{}。",
                i.name,
                format_hundredths_fixed(i.points),
                format_hundredths_fixed(i.score),
                format_hundredths_fixed(i.lost()),
                reasons(i)
            ),
            LineKind::Penalty => format!(
                "{}（扣{}分）{}。",
                i.name,
                format_hundredths_fixed(i.lost()),
                reasons(i)
            ),
            LineKind::Flag | LineKind::Bonus => format!("{}{}。", i.name, reasons(i)),
        })
        .collect();
    let itemised: i64 = b
        .indicators
        .iter()
        .filter(|i| i.kind == LineKind::Penalty)
        .map(IndicatorLine::lost)
        .sum();
    if b.penalty > 0 && b.penalty != itemised {
        out.push(format!(
            "加减分评定合计扣{}分（按扣分上限计）。",
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
        "{}{}依照《{}考核方案》关于考核结果运用的规定，经研究，决定对你单位主要负责人{}进行约谈。\
         现将有关事项通知如下：",
        opening(report, t),
        because(t),
        report.scheme_name,
        t.principal.map(|p| format!("{p}同志")).unwrap_or_default()
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
    d.signature(t.issuer, &report.published_on);
    d
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum GroupNotice {
    Warning,
    Commendation,
}

/// 通报警示 is the issuer's own notice. 通报表扬 is decided by the county
/// party committee and government (考核方案 六（二）"报请县委、县政府通报表扬"),
/// so the issuer's document is a request (请示) to them, naming each unit
/// and its principal (a marked blank where the roster has none).
fn group_notice(report: &Report, issuer: &str, units: &[&Target], kind: GroupNotice) -> Doc {
    let mut d = Doc::default();
    let level = report.county.chars().last().unwrap_or('县');
    match kind {
        GroupNotice::Warning => {
            d.title(&format!(
                "关于对{}年度{}考核有关单位予以通报警示的通报",
                report.year, report.scheme_name
            ));
            d.placeholder_line("【文号】", Jc::Center);
            d.blank();
            if !report.recipients.is_empty() {
                d.addressee(&format!("{}：", report.recipients));
            }
            d.para(&format!(
                "根据《{}考核方案》关于考核结果运用的规定和{}，决定对以下单位予以通报警示：",
                report.scheme_name,
                approved_results(report)
            ));
        }
        GroupNotice::Commendation => {
            d.title(&format!(
                "关于提请对{}年度{}考核连续优秀单位及其主要负责人予以通报表扬的请示",
                report.year, report.scheme_name
            ));
            d.placeholder_line("【文号】", Jc::Center);
            d.blank();
            d.addressee(&format!("{level}委、{level}政府："));
            d.para(&format!(
                "根据《{}考核方案》关于考核结果运用的规定和{}，以下单位连续考核优秀，现提请{level}委、{level}政府对以下单位及其主要负责人予以通报表扬：",
                report.scheme_name,
                approved_results(report)
            ));
        }
    }
    for (i, t) in units.iter().enumerate() {
        let mut detail: Vec<String> = Vec::new();
        if !t.reasons.is_empty() {
            detail.push(t.reason());
        }
        if let Some(p) = result_phrase(report, t.unit_id) {
            detail.push(p);
        }
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!("（{}）", detail.join("；"))
        };
        match kind {
            GroupNotice::Warning => d.para(&format!("{}. {}{detail}", i + 1, t.unit_name)),
            GroupNotice::Commendation => match t.principal {
                Some(p) => d.para(&format!(
                    "{}. {}及其主要负责人{p}同志{detail}",
                    i + 1,
                    t.unit_name
                )),
                None => d.runs(&[
                    Run::body(&format!("{}. {}及其主要负责人", i + 1, t.unit_name)),
                    Run::placeholder(PRINCIPAL_BLANK),
                    Run::body(&format!("同志{detail}")),
                ]),
            },
        }
    }
    match kind {
        GroupNotice::Warning => d.para(
            "被通报警示的单位要深刻汲取教训，认真查找问题根源，制定整改方案，按要求报告整改情况。各单位要引以为戒，切实履行法治建设职责。",
        ),
        GroupNotice::Commendation => d.para("以上请示，妥否，请批示。"),
    }
    d.signature(issuer, &report.published_on);
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

    /// 署名, seal and date, right-aligned four characters in; the date
    /// is the approved results' date when known, else a placeholder.
    fn signature(&mut self, issuer: &str, date: &str) {
        self.blank();
        self.blank();
        let date = if date.is_empty() {
            Run::placeholder("【成文日期】")
        } else {
            Run::body(date)
        };
        for runs in [
            vec![Run::body(issuer), Run::body("　　　　")],
            vec![Run::placeholder("【盖章】"), Run::body("　　　　")],
            vec![date, Run::body("　　　　")],
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
