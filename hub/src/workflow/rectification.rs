//! 整改（rectification）：考核方案 六（三）结果反馈、六（五）惩戒措施.
//!
//! For the problems the assessment found, the assessee draws up a
//! rectification plan (整改方案) and reports on the rectification
//! (报告整改情况); a unit admonished (约谈) is ordered to rectify (责令整改).
//!
//! - [`owed`] (pure): who owes a plan for a year — every *notified* unit
//!   with at least one deduction that fired (a scored or penalty clause;
//!   bonus awards are not problems), and, once the year is approved, every
//!   unit with an admonition notice. The obligation is derived each time
//!   from the consolidation and the outcomes, never stored.
//! - [`record`]: a plan or a report received, with its material (the
//!   objection materials' size cap, SHA-256). Refused for a unit that owes
//!   nothing (saying why) and for a report before any plan. Rows are
//!   append-only: a corrected plan is a new row, the latest counts.
//! - [`status`]: per unit, why it owes and the latest plan and report.
//!
//! **Invariant:** a record and its audit record (with the operator) commit
//! in one transaction; a refused record changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use kaohe_rulepacks::manifest::{IndicatorKind, Manifest};
use kaohe_tables::terminal;
use rusqlite::{Connection, params};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{MAX_MATERIAL_BYTES, Material};
use crate::audit::{self, Actor};
use crate::calendar::beijing_day;
use crate::consolidate::{Assessment, Consolidation};
use crate::lock;
use crate::outcome::{NoticeKind, Outcomes};

/// Audit actions of rectification.
pub mod action {
    pub const PLAN: &str = "rectification.plan";
    pub const REPORT: &str = "rectification.report";
}

/// What was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 整改方案.
    Plan,
    /// 整改情况报告.
    Report,
}

impl Kind {
    pub fn id(self) -> &'static str {
        match self {
            Kind::Plan => "plan",
            Kind::Report => "report",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Kind::Plan => "整改方案",
            Kind::Report => "整改情况报告",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Kind::Plan => action::PLAN,
            Kind::Report => action::REPORT,
        }
    }
}

/// A unit that owes a rectification plan, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owed {
    pub unit_id: String,
    pub unit_name: String,
    /// Deductions that fired, counted only once the unit was notified.
    pub deductions: usize,
    /// An admonition (约谈, 责令整改) of the approved results.
    pub admonished: bool,
}

impl Owed {
    /// "扣分 2 项；约谈".
    pub fn why_zh(&self) -> String {
        let mut parts = Vec::new();
        if self.deductions > 0 {
            parts.push(format!("扣分 {} 项", self.deductions));
        }
        if self.admonished {
            parts.push("约谈（责令整改）".to_string());
        }
        parts.join("；")
    }
}

/// Deductions that fired on `unit`'s sheet (scored and penalty clauses).
fn deductions(c: &Consolidation, manifest: &Manifest, unit: &str) -> usize {
    c.unit(unit)
        .and_then(|u| u.scored())
        .map(|s| {
            s.fired
                .iter()
                .filter(|f| {
                    manifest
                        .indicator_index(&f.indicator_id)
                        .is_some_and(|i| manifest.indicators[i].kind != IndicatorKind::Bonus)
                })
                .count()
        })
        .unwrap_or(0)
}

fn admonished(approved: Option<&Outcomes>, unit: &str) -> bool {
    approved.is_some_and(|o| o.for_unit(unit).any(|n| n.kind == NoticeKind::Admonition))
}

/// The units that owe a rectification plan, in consolidation order; see the
/// module docs. `approved` is the year's outcomes when the year is approved,
/// `None` before. Pure.
pub fn owed(
    c: &Consolidation,
    manifest: &Manifest,
    notified: &BTreeSet<String>,
    approved: Option<&Outcomes>,
) -> Vec<Owed> {
    c.units
        .iter()
        .filter_map(|u| {
            let deductions = if notified.contains(&u.unit_id) {
                deductions(c, manifest, &u.unit_id)
            } else {
                0
            };
            let admonished = admonished(approved, &u.unit_id);
            (deductions > 0 || admonished).then(|| Owed {
                unit_id: u.unit_id.clone(),
                unit_name: u.name.clone(),
                deductions,
                admonished,
            })
        })
        .collect()
}

/// Why `unit` owes nothing, in Chinese. Pure.
pub fn why_nothing_owed(
    c: &Consolidation,
    manifest: &Manifest,
    notified: &BTreeSet<String>,
    approved: Option<&Outcomes>,
    unit: &str,
) -> String {
    let Some(u) = c.unit(unit) else {
        return format!("{} 年度名册中没有该单位", c.year);
    };
    match &u.assessment {
        Assessment::NotAssessed { .. } => return "该单位未被考核，没有考核发现的问题".into(),
        Assessment::Excused { reason } => return format!("该单位免于考核（{reason}）"),
        Assessment::Assessed(_) => {}
    }
    let n = deductions(c, manifest, unit);
    let mut why = if n == 0 {
        "考核未扣分（没有发现问题）".to_string()
    } else if !notified.contains(unit) {
        format!("扣分 {n} 项，但尚未通报反馈考核结果")
    } else {
        String::new()
    };
    if approved.is_none() {
        why.push_str("，考核结果尚未审定，不涉及约谈");
    } else if !admonished(approved, unit) {
        why.push_str("，未被约谈");
    }
    why
}

/// A rectification record was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum RectificationError {
    #[error("数据库读写失败，未作任何改动（database error, nothing changed）：{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("单位 {unit} 无须整改：{why}（nothing owed）")]
    NothingOwed { unit: String, why: String },
    #[error("单位 {unit} 尚未报送整改方案，不能先报告整改情况（report before plan）")]
    ReportBeforePlan { unit: String },
    #[error(
        "{what} {name} 有 {size} 字节，超过 {MAX_MATERIAL_BYTES} 字节上限（material too large）"
    )]
    MaterialTooLarge {
        what: &'static str,
        name: String,
        size: usize,
    },
    #[error("{what}文件为空（empty material）：{name}")]
    EmptyMaterial { what: &'static str, name: String },
}

/// What [`record`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub id: i64,
    pub sha256: String,
    pub size: usize,
    pub owed: Owed,
}

/// The notified units of `year`.
pub fn notified(conn: &Connection, year: i32) -> rusqlite::Result<BTreeSet<String>> {
    conn.prepare("SELECT unit_id FROM notifications WHERE year = ?1")?
        .query_map([year], |r| r.get(0))?
        .collect()
}

/// Records a plan or a report of `unit` received; see the module docs.
/// `outcomes` are the outcomes of `c`; they count only once the year is
/// approved (read in the same transaction).
#[allow(
    clippy::too_many_arguments,
    reason = "one record act: connection, consolidation, outcomes, unit, kind, material, note, actor"
)]
pub fn record(
    conn: &mut Connection,
    c: &Consolidation,
    manifest: &Manifest,
    outcomes: &Outcomes,
    unit: &str,
    kind: Kind,
    material: &Material,
    note: Option<&str>,
    actor: &Actor,
) -> Result<Recorded, RectificationError> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if material.bytes.len() > MAX_MATERIAL_BYTES {
        return Err(RectificationError::MaterialTooLarge {
            what: kind.name_zh(),
            name: material.file_name.clone(),
            size: material.bytes.len(),
        });
    }
    if material.bytes.is_empty() {
        return Err(RectificationError::EmptyMaterial {
            what: kind.name_zh(),
            name: material.file_name.clone(),
        });
    }
    let year = c.year;
    let tx = conn.transaction()?;
    let notified = notified(&tx, year)?;
    let approved = lock::last_approved(&tx, year)?.map(|_| outcomes);
    let Some(owed) = owed(c, manifest, &notified, approved)
        .into_iter()
        .find(|o| o.unit_id == unit)
    else {
        return Err(RectificationError::NothingOwed {
            unit: unit.into(),
            why: why_nothing_owed(c, manifest, &notified, approved, unit),
        });
    };
    if kind == Kind::Report {
        let has_plan: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM rectifications WHERE year = ?1 AND unit_id = ?2 AND kind = 'plan')",
            params![year, unit],
            |r| r.get(0),
        )?;
        if !has_plan {
            return Err(RectificationError::ReportBeforePlan { unit: unit.into() });
        }
    }
    let sha = hex::encode(Sha256::digest(&material.bytes));
    tx.execute(
        "INSERT INTO rectifications (year, unit_id, kind, received_at, operator, note,
           file_name, sha256, size, content)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            year,
            unit,
            kind.id(),
            actor.at.to_string(),
            actor.operator,
            note,
            material.file_name,
            sha,
            material.bytes.len() as i64,
            material.bytes
        ],
    )?;
    let id = tx.last_insert_rowid();
    audit::append(
        &tx,
        actor,
        kind.action(),
        &format!("{year}/{unit}"),
        &json!({
            "rectification": id,
            "why": owed.why_zh(),
            "note": note,
            "material": {"name": material.file_name, "sha256": sha, "size": material.bytes.len()},
        }),
    )?;
    tx.commit()?;
    Ok(Recorded {
        id,
        sha256: sha,
        size: material.bytes.len(),
        owed,
    })
}

/// The latest record of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: i64,
    /// RFC 3339.
    pub received_at: String,
    pub file_name: String,
    pub sha256: String,
    /// How many of this kind were received (corrections included).
    pub count: usize,
}

/// One line of the rectification list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub unit_id: String,
    pub unit_name: String,
    /// `None`: records exist but the unit no longer owes (e.g. revised).
    pub owed: Option<Owed>,
    pub plan: Option<Received>,
    pub report: Option<Received>,
}

/// Every unit that owes, then every other unit with records, each with its
/// latest plan and report.
pub fn status(
    conn: &Connection,
    c: &Consolidation,
    manifest: &Manifest,
    outcomes: &Outcomes,
) -> rusqlite::Result<Vec<Status>> {
    let year = c.year;
    let notified = notified(conn, year)?;
    let approved = lock::last_approved(conn, year)?.map(|_| outcomes);
    let mut latest: BTreeMap<(String, String), Received> = BTreeMap::new();
    let mut stmt = conn.prepare(
        "SELECT seq, unit_id, kind, received_at, file_name, sha256 FROM rectifications
         WHERE year = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([year], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    for row in rows {
        let (id, unit, kind, received_at, file_name, sha256) = row?;
        let count = latest
            .get(&(unit.clone(), kind.clone()))
            .map_or(0, |r| r.count);
        latest.insert(
            (unit, kind),
            Received {
                id,
                received_at,
                file_name,
                sha256,
                count: count + 1,
            },
        );
    }
    let take = |latest: &mut BTreeMap<(String, String), Received>, unit: &str, kind: Kind| {
        latest.remove(&(unit.to_string(), kind.id().to_string()))
    };
    let mut out = Vec::new();
    for o in owed(c, manifest, &notified, approved) {
        out.push(Status {
            unit_id: o.unit_id.clone(),
            unit_name: o.unit_name.clone(),
            plan: take(&mut latest, &o.unit_id, Kind::Plan),
            report: take(&mut latest, &o.unit_id, Kind::Report),
            owed: Some(o),
        });
    }
    let rest: BTreeSet<String> = latest.keys().map(|(u, _)| u.clone()).collect();
    for unit in rest {
        out.push(Status {
            unit_name: c.unit(&unit).map(|u| u.name.clone()).unwrap_or_default(),
            plan: take(&mut latest, &unit, Kind::Plan),
            report: take(&mut latest, &unit, Kind::Report),
            unit_id: unit,
            owed: None,
        });
    }
    Ok(out)
}

fn received_cell(r: &Option<Received>, missing: &str) -> String {
    match r {
        None => missing.to_string(),
        Some(r) => {
            let day = r
                .received_at
                .parse::<jiff::Timestamp>()
                .map(beijing_day)
                .unwrap_or_else(|_| r.received_at.clone());
            if r.count > 1 {
                format!("{day}（第 {} 次报送）", r.count)
            } else {
                day
            }
        }
    }
}

/// The `hub rectification list` table. Pure.
pub fn render(year: i32, rows: &[Status]) -> String {
    let mut out = format!("{year} 年度整改方案与整改情况报告\n");
    if rows.is_empty() {
        out.push_str("没有须整改的单位（nothing owed）。\n");
        return out;
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            vec![
                s.unit_id.clone(),
                s.unit_name.clone(),
                s.owed
                    .as_ref()
                    .map(Owed::why_zh)
                    .unwrap_or_else(|| "现无须整改（已有报送）".into()),
                received_cell(&s.plan, "未报送"),
                received_cell(&s.report, "未报告"),
            ]
        })
        .collect();
    out.push_str(&terminal::render(
        &["编号", "单位", "整改原因", "整改方案", "整改情况报告"],
        &cells,
    ));
    let owing = rows.iter().filter(|s| s.owed.is_some()).count();
    let planned = rows
        .iter()
        .filter(|s| s.owed.is_some() && s.plan.is_some())
        .count();
    let reported = rows
        .iter()
        .filter(|s| s.owed.is_some() && s.report.is_some())
        .count();
    out.push_str(&format!(
        "须整改 {owing} 个单位，已报送整改方案 {planned} 个，已报告整改情况 {reported} 个。\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consolidate::golden::county;
    use crate::outcome::outcomes;

    #[test]
    fn admonished_units_owe_only_once_approved_and_deductions_only_once_notified() {
        let g = county();
        let c = g.consolidate();
        let o = outcomes(&c, &g.history, g.manifest());
        let m = g.manifest();
        // Nothing notified, not approved: nobody owes.
        assert!(owed(&c, m, &BTreeSet::new(), None).is_empty());
        // Approved: the admonished units E1 and S1 owe, nothing else unless notified.
        let ids: Vec<String> = owed(&c, m, &BTreeSet::new(), Some(&o))
            .into_iter()
            .inspect(|x| assert!(x.admonished && x.deductions == 0, "{x:?}"))
            .map(|x| x.unit_id)
            .collect();
        let ids: BTreeSet<String> = ids.into_iter().collect();
        assert_eq!(ids, BTreeSet::from(["E1".to_string(), "S1".to_string()]));
        // Notified: every notified unit with a fired deduction owes; one
        // without any deduction does not.
        let all: BTreeSet<String> = c.units.iter().map(|u| u.unit_id.clone()).collect();
        let with_deductions: Vec<&str> = c
            .units
            .iter()
            .filter(|u| deductions(&c, m, &u.unit_id) > 0)
            .map(|u| u.unit_id.as_str())
            .collect();
        let clean = c
            .units
            .iter()
            .find(|u| u.scored().is_some() && deductions(&c, m, &u.unit_id) == 0)
            .expect("the golden county has an assessed unit without deductions");
        let notified_owed = owed(&c, m, &all, None);
        assert_eq!(
            notified_owed
                .iter()
                .map(|x| x.unit_id.as_str())
                .collect::<Vec<_>>(),
            with_deductions
        );
        assert!(!with_deductions.is_empty());
        assert!(!notified_owed.iter().any(|x| x.unit_id == clean.unit_id));
        assert!(why_nothing_owed(&c, m, &all, None, &clean.unit_id).contains("未扣分"));
        let e1 = owed(&c, m, &all, Some(&o))
            .into_iter()
            .find(|x| x.unit_id == "E1")
            .unwrap();
        assert!(e1.why_zh().contains("约谈"), "{}", e1.why_zh());
    }
}
