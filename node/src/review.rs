//! 考核结果与异议（the hub's results and the node's objections）。
//!
//! - [`render_results`]: `kaohe node results` — the hub's `ListResults`
//!   answer as a CJK-aligned table (unit, status, scores, grade, rank,
//!   verification and review-request deadlines as Chinese dates), then each
//!   unit's reasons; [`render_leaderboards`]: the quarterly leaderboards
//!   (党建引领·比拼四季) that come with it;
//! - [`read_material`] and [`objection`]: `kaohe node object` — the
//!   supporting files read within [`MAX_OBJECTION_MATERIAL_BYTES`] and the
//!   objection whose header declares their size and SHA-256. The protocol
//!   carries **one** material per objection, so several files travel as one
//!   zip archive ([`BUNDLE_NAME`], entries stored under their own names);
//! - [`render_receipt`]: the hub's `ObjectionReceipt` for an official.
//!
//! Pure apart from reading the named files; the call itself is
//! [`crate::client::HubClient::file_objection`].

use std::io::Write as _;
use std::path::{Path, PathBuf};

use kaohe_proto::model::{
    Date, MAX_OBJECTION_MATERIAL_BYTES, Objection, ObjectionHeader, ObjectionReceipt, QuarterBoard,
    UnitResult,
};
use kaohe_rulepacks::rubric::decimal::{format_hundredths, format_hundredths_fixed};

/// The file name of several materials bundled into one archive.
pub const BUNDLE_NAME: &str = "异议材料.zip";

/// A date as officials write it: `2023年3月8日`.
pub fn date_zh(d: Date) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

fn date_or_dash(d: Option<Date>) -> String {
    d.map(date_zh).unwrap_or_else(|| "—".into())
}

/// The results table, then every unit's reasons (`ListResults`).
pub fn render_results(year: u16, results: &[UnitResult]) -> String {
    if results.is_empty() {
        return format!("{year} 年尚无本节点所评单位的结果（no results yet）\n");
    }
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            vec![
                r.unit_id.clone(),
                r.round.name_zh().to_string(),
                r.status.name_zh().to_string(),
                r.scores
                    .map(|s| format_hundredths_fixed(s.total))
                    .unwrap_or_else(|| "未考核".into()),
                r.grade
                    .map(|g| g.name_zh().to_string())
                    .unwrap_or_else(|| "—".into()),
                r.rank
                    .map(|k| format!("{}/{}", k.position, k.of))
                    .unwrap_or_else(|| "—".into()),
                date_or_dash(r.verification_deadline),
                date_or_dash(r.review_deadline),
            ]
        })
        .collect();
    let mut out = kaohe_tables::terminal::render(
        &[
            "单位",
            "轮次",
            "状态",
            "总分",
            "等次",
            "排名",
            "核实截止",
            "复核申请截止",
        ],
        &rows,
    );
    let reasons: Vec<Vec<String>> = results
        .iter()
        .flat_map(|r| {
            r.reasons.iter().map(|why| {
                vec![
                    r.unit_id.clone(),
                    why.indicator_id.clone(),
                    why.clause_id.clone().unwrap_or_else(|| "—".into()),
                    format_hundredths(why.amount),
                    why.text.clone(),
                ]
            })
        })
        .collect();
    let unassessed: Vec<Vec<String>> = results
        .iter()
        .flat_map(|r| {
            r.not_assessed_because
                .iter()
                .map(|why| vec![r.unit_id.clone(), why.clone()])
        })
        .collect();
    if !unassessed.is_empty() {
        out.push_str("\n未考核的原因（why units are not assessed）：\n");
        out.push_str(&kaohe_tables::terminal::render(
            &["单位", "原因"],
            &unassessed,
        ));
    }
    if reasons.is_empty() {
        out.push_str("\n没有扣分或加分原因（no reasons）\n");
    } else {
        out.push_str("\n得分变动原因（reasons）：\n");
        out.push_str(&kaohe_tables::terminal::render(
            &["单位", "指标", "条款", "分值", "原因"],
            &reasons,
        ));
    }
    out
}

/// The quarterly leaderboards (党建引领·比拼四季) `ListResults` carries: per
/// category and quarter, the units by rank with their points; then who has
/// no complete report or is excused. Empty when there are none.
pub fn render_leaderboards(boards: &[QuarterBoard]) -> String {
    let mut out = String::new();
    for b in boards {
        out.push_str(&format!(
            "\n【党建引领·比拼四季】{}　{}（满分 {} 分）\n",
            b.round.name_zh(),
            b.category_name,
            format_hundredths_fixed(b.max_points)
        ));
        let rows: Vec<Vec<String>> = b
            .entries
            .iter()
            .map(|e| {
                vec![
                    format!("{}{}", e.rank, if e.tied { "（并列）" } else { "" }),
                    e.unit_id.clone(),
                    e.unit_name.clone(),
                    format_hundredths_fixed(e.points),
                ]
            })
            .collect();
        out.push_str(&kaohe_tables::terminal::render(
            &["名次", "编号", "单位", "得分"],
            &rows,
        ));
        if !b.not_reported.is_empty() {
            out.push_str(&format!("未完整上报：{}\n", b.not_reported.join("、")));
        }
        if !b.excused.is_empty() {
            out.push_str(&format!("免于考核：{}\n", b.excused.join("、")));
        }
    }
    out
}

/// The hub's receipt for an objection.
pub fn render_receipt(unit: &str, year: u16, receipt: &ObjectionReceipt) -> String {
    format!(
        "汇总中心已受理单位 {unit} 的 {year} 年度复核申请（objection filed）\n  异议编号（objection id）：{}\n  复核决定截止（review decision deadline）：{}\n",
        receipt.objection_id,
        date_or_dash(receipt.review_deadline),
    )
}

/// Supporting material that cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum MaterialError {
    #[error("读取材料 {path} 失败（cannot read the material）：{source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("材料 {path} 不是文件名明确的普通文件（not a regular file with a name）")]
    NotAFile { path: String },
    #[error("材料 {path} 为空文件（the material is empty）")]
    Empty { path: String },
    #[error("材料文件名 {name} 重复（two materials with the same file name）")]
    Duplicate { name: String },
    #[error(
        "材料共 {size} 字节，超过汇总中心的上限 {MAX_OBJECTION_MATERIAL_BYTES} 字节（20 MiB）（material too large）"
    )]
    TooLarge { size: u64 },
    #[error("打包材料失败（cannot bundle the materials）：{0}")]
    Zip(#[from] zip::result::ZipError),
}

/// The material as it will be sent: a file name (no path), its media type
/// and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    pub name: String,
    pub media_type: Option<String>,
    pub bytes: Vec<u8>,
}

fn media_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "pdf" => "application/pdf",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "txt" => "text/plain; charset=utf-8",
        "zip" => "application/zip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ofd" => "application/ofd",
        _ => return None,
    })
}

fn too_large(size: u64) -> Result<(), MaterialError> {
    if size > MAX_OBJECTION_MATERIAL_BYTES {
        Err(MaterialError::TooLarge { size })
    } else {
        Ok(())
    }
}

/// Reads `files` (at least one): one file is sent as it is; several are
/// stored in one zip archive named [`BUNDLE_NAME`]. Sizes are checked
/// before anything is read, and the result is at most
/// [`MAX_OBJECTION_MATERIAL_BYTES`].
pub fn read_material(files: &[PathBuf]) -> Result<Material, MaterialError> {
    let mut named: Vec<(String, &Path)> = Vec::with_capacity(files.len());
    let mut total = 0u64;
    for path in files {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| MaterialError::Read {
            path: shown.clone(),
            source,
        })?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| meta.is_file())
            .ok_or_else(|| MaterialError::NotAFile {
                path: shown.clone(),
            })?;
        if meta.len() == 0 {
            return Err(MaterialError::Empty { path: shown });
        }
        if named.iter().any(|(n, _)| n == name) {
            return Err(MaterialError::Duplicate { name: name.into() });
        }
        total = total.saturating_add(meta.len());
        too_large(total)?;
        named.push((name.to_string(), path));
    }
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| MaterialError::Read {
            path: path.display().to_string(),
            source,
        })
    };
    let material = match named.as_slice() {
        [(name, path)] => Material {
            media_type: media_type(name).map(str::to_string),
            name: name.clone(),
            bytes: read(path)?,
        },
        _ => {
            let mut out = std::io::Cursor::new(Vec::new());
            {
                let mut w = zip::ZipWriter::new(&mut out);
                // Scans and PDFs do not compress: stored as they are.
                let opts = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Stored)
                    .large_file(false);
                for (name, path) in &named {
                    w.start_file(name.as_str(), opts)?;
                    w.write_all(&read(path)?)
                        .map_err(|e| MaterialError::Zip(e.into()))?;
                }
                w.finish()?;
            }
            Material {
                name: BUNDLE_NAME.into(),
                media_type: media_type(BUNDLE_NAME).map(str::to_string),
                bytes: out.into_inner(),
            }
        }
    };
    // The file may have grown since it was measured, and the archive adds
    // its headers.
    too_large(material.bytes.len() as u64)?;
    Ok(material)
}

/// [`read_material`] for files that arrived as bytes (a browser upload):
/// the same checks (a name, not empty, no duplicate, the size cap), one
/// file sent as it is, several bundled into [`BUNDLE_NAME`].
pub fn material_from(files: Vec<(String, Vec<u8>)>) -> Result<Material, MaterialError> {
    let mut total = 0u64;
    let mut names: Vec<&str> = Vec::new();
    for (name, bytes) in &files {
        if name.trim().is_empty() {
            return Err(MaterialError::NotAFile { path: name.clone() });
        }
        if bytes.is_empty() {
            return Err(MaterialError::Empty { path: name.clone() });
        }
        if names.contains(&name.as_str()) {
            return Err(MaterialError::Duplicate { name: name.clone() });
        }
        names.push(name);
        total = total.saturating_add(bytes.len() as u64);
        too_large(total)?;
    }
    let material = match files.as_slice() {
        [] => {
            return Err(MaterialError::Empty {
                path: String::new(),
            });
        }
        [(name, bytes)] => Material {
            media_type: media_type(name).map(str::to_string),
            name: name.clone(),
            bytes: bytes.clone(),
        },
        _ => {
            let mut out = std::io::Cursor::new(Vec::new());
            {
                let mut w = zip::ZipWriter::new(&mut out);
                let opts = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Stored)
                    .large_file(false);
                for (name, bytes) in &files {
                    w.start_file(name.as_str(), opts)?;
                    w.write_all(bytes)
                        .map_err(|e| MaterialError::Zip(e.into()))?;
                }
                w.finish()?;
            }
            Material {
                name: BUNDLE_NAME.into(),
                media_type: media_type(BUNDLE_NAME).map(str::to_string),
                bytes: out.into_inner(),
            }
        }
    };
    too_large(material.bytes.len() as u64)?;
    Ok(material)
}

/// The objection for the annual round of `unit`, its header declaring the
/// material's size and SHA-256.
pub fn objection(unit: &str, year: u16, reason: &str, material: Material) -> Objection {
    Objection::new(
        ObjectionHeader {
            unit_id: unit.to_string(),
            year,
            round: kaohe_proto::Round::Annual,
            reason: reason.trim().to_string(),
            material_name: Some(material.name),
            media_type: material.media_type,
            material_size: 0,
            material_sha256: [0; 32],
        },
        material.bytes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaohe_proto::model::{ObjectionAssembler, ObjectionPart, ResultStatus};

    #[test]
    fn several_materials_travel_as_one_archive_that_reassembles_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("整改报告.pdf");
        let b = dir.path().join("会议记录.txt");
        std::fs::write(&a, b"%PDF-1.4 report").unwrap();
        std::fs::write(&b, "会议记录".as_bytes()).unwrap();

        let one = read_material(std::slice::from_ref(&a)).unwrap();
        assert_eq!(one.name, "整改报告.pdf");
        assert_eq!(one.media_type.as_deref(), Some("application/pdf"));
        assert_eq!(one.bytes, b"%PDF-1.4 report");

        let both = read_material(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(both.name, BUNDLE_NAME);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(both.bytes.clone())).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("会议记录.txt").unwrap(), &mut text)
            .unwrap();
        assert_eq!(text, "会议记录");
        assert_eq!(archive.len(), 2);

        // Through the wire format and the hub's assembler: size and hash hold.
        let sent = objection("u0001", 2022, " 满意率统计有误 ", both.clone());
        let mut parts = sent.clone().into_parts().into_iter();
        let mut asm =
            ObjectionAssembler::start(ObjectionPart::try_from(parts.next().unwrap()).unwrap())
                .unwrap();
        for p in parts {
            asm.push(ObjectionPart::try_from(p).unwrap()).unwrap();
        }
        let got = asm.finish().unwrap();
        assert_eq!(got, sent);
        assert_eq!(got.header.reason, "满意率统计有误");
        assert_eq!(got.header.material_size, both.bytes.len() as u64);

        assert!(matches!(
            read_material(&[a.clone(), a.clone()]),
            Err(MaterialError::Duplicate { .. })
        ));
        let empty = dir.path().join("空.pdf");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(
            read_material(&[empty]),
            Err(MaterialError::Empty { .. })
        ));
        assert!(matches!(
            read_material(&[dir.path().to_path_buf()]),
            Err(MaterialError::NotAFile { .. })
        ));
    }

    #[test]
    fn a_material_over_the_cap_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("扫描件.pdf");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_OBJECTION_MATERIAL_BYTES + 1).unwrap();
        assert!(matches!(
            read_material(&[big]),
            Err(MaterialError::TooLarge { .. })
        ));
    }

    #[test]
    fn results_show_chinese_dates_and_every_reason() {
        let d = |m, day| Date::new(2023, m, day).unwrap();
        let r = UnitResult {
            unit_id: "u0001".into(),
            year: 2022,
            round: kaohe_proto::Round::Annual,
            status: ResultStatus::Verification,
            scores: None,
            grade: None,
            rank: None,
            reasons: vec![kaohe_proto::model::ResultReason {
                indicator_id: "sat".into(),
                clause_id: Some("sat_low".into()),
                amount: -150,
                text: "满意率低于90%".into(),
            }],
            verification_deadline: Some(d(3, 8)),
            review_deadline: Some(d(3, 15)),
            not_assessed_because: Vec::new(),
        };
        let missing = UnitResult {
            unit_id: "u0002".into(),
            status: ResultStatus::NotAssessed,
            reasons: Vec::new(),
            verification_deadline: None,
            review_deadline: None,
            not_assessed_because: vec![
                "满意度调查（satisfaction）年度结果未报送：应由考核主体依法治县办上报，但尚无节点获授权上报此方式".into(),
            ],
            ..r.clone()
        };
        let text = render_results(2022, &[r, missing]);
        for want in [
            "核实中",
            "2023年3月8日",
            "2023年3月15日",
            "未考核",
            "-1.5",
            "满意率低于90%",
            "未考核的原因",
            "尚无节点获授权上报此方式",
        ] {
            assert!(text.contains(want), "{want} missing:\n{text}");
        }
        assert!(render_results(2022, &[]).contains("尚无"));
    }

    #[test]
    fn the_quarterly_leaderboard_is_shown_by_quarter_with_ranks_and_points() {
        use kaohe_proto::model::BoardEntry;
        let entry = |rank, tied, id: &str, name: &str, points| BoardEntry {
            rank,
            tied,
            unit_id: id.into(),
            unit_name: name.into(),
            points,
        };
        let board = QuarterBoard {
            round: kaohe_proto::Round::Q3,
            category_id: "township".into(),
            category_name: "乡镇（街道）".into(),
            max_points: 1200,
            entries: vec![
                entry(1, true, "t1", "大营镇", 1100),
                entry(1, true, "t2", "肖旗乡", 1100),
                entry(3, false, "t3", "石桥镇", 950),
            ],
            not_reported: vec!["t4".into()],
            excused: vec![],
        };
        let text = render_leaderboards(&[board]);
        for want in [
            "【党建引领·比拼四季】第三季度　乡镇（街道）（满分 12.00 分）",
            "1（并列）",
            "肖旗乡",
            "9.50",
            "未完整上报：t4",
        ] {
            assert!(text.contains(want), "{want} missing:\n{text}");
        }
        assert!(render_leaderboards(&[]).is_empty());
    }
}
