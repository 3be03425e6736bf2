//! 裁定（ruling）：同一单位同一年度、轮次、考核方式的结果由两个以上节点上报时，
//! 县依法治县办裁定采用哪个节点的上报。
//!
//! Two nodes reporting one slot (unit, year, round, method) is a true
//! double report: two assessors' results where the scheme wants one. The
//! hub never picks one itself; the consolidation shows the unit as not
//! assessed until the county office records a ruling ([`rule`]) naming the
//! node whose report stands, with its reason (audit-logged in the same
//! transaction). The ruling names the node, not one submission, so the
//! chosen node's later corrections still count; the report it stood on is
//! recorded for the audit. The latest ruling of a slot is in force
//! ([`in_force`]); earlier ones are kept. [`apply`] drops the other nodes'
//! results of a ruled slot from a year's results before consolidation.
//!
//! A ruling changes the year's result, so it is refused while the year is
//! approved ([`crate::lock::locked`], naming the 文号).

use kaohe_rulepacks::manifest::Round;
use rusqlite::{Connection, params};
use serde_json::json;

use super::action;
use crate::audit::{self, Actor};
use crate::registry::nodes::{FindNodeError, find_node};
/// The read side — a ruling as stored, those in force, their effect on a
/// year's results — lives with the results that apply it.
pub use crate::results::rulings::{Ruling, apply, in_force};

/// A ruling was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum RulingError {
    #[error("裁定理由不能为空（--reason），它记入审计日志（reason is empty）")]
    EmptyReason,
    #[error("{year} 年度名册中没有单位 {unit}（unknown unit）")]
    UnknownUnit { year: i32, unit: String },
    #[error(
        "单位 {unit} 的{method}{round}结果目前{reported}，没有需要裁定的重复上报（nothing to rule on）"
    )]
    NotReportedTwice {
        unit: String,
        method: String,
        round: &'static str,
        /// 没有节点上报 / 只有 1 个节点上报.
        reported: &'static str,
    },
    #[error(
        "节点「{node}」没有上报单位 {unit} 的{method}{round}结果；可采用的是：{}（the node did not report this slot）",
        candidates.join("、")
    )]
    NotAReporter {
        node: String,
        unit: String,
        method: String,
        round: &'static str,
        candidates: Vec<String>,
    },
    #[error(transparent)]
    Locked(#[from] crate::lock::Locked),
    #[error(transparent)]
    Find(#[from] FindNodeError),
    #[error("数据库读写失败，未作任何改动（database error, nothing changed）：{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// What a ruling is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot<'a> {
    pub year: i32,
    pub unit_id: &'a str,
    pub round: Round,
    pub method_id: &'a str,
}

/// Records that in `slot` the report of the node `node` (id, key id, key
/// or name) stands; see the module docs.
pub fn rule(
    conn: &mut Connection,
    slot: Slot<'_>,
    node: &str,
    reason: &str,
    actor: &Actor,
) -> Result<Ruling, RulingError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(RulingError::EmptyReason);
    }
    let Slot {
        year,
        unit_id,
        round,
        method_id,
    } = slot;
    let tx = conn.transaction()?;
    if let Some(locked) = crate::lock::locked(&tx, year)? {
        return Err(locked.into());
    }
    let known: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM units WHERE year = ?1 AND id = ?2)",
        params![year, unit_id],
        |r| r.get(0),
    )?;
    if !known {
        return Err(RulingError::UnknownUnit {
            year,
            unit: unit_id.to_owned(),
        });
    }
    let method = crate::registry::scope::method_name_zh(method_id)
        .map(|zh| format!("{zh}（{method_id}）"))
        .unwrap_or_else(|| method_id.to_owned());
    // (node id, node name, its current submission) per reporting node.
    let reports: Vec<(String, String, i64)> = tx
        .prepare(
            "SELECT r.node_id, n.name, r.submission_id FROM results r JOIN nodes n ON n.key_id = r.node_id
             WHERE r.year = ?1 AND r.unit_id = ?2 AND r.round = ?3 AND r.method_id = ?4 AND r.is_current = 1
             ORDER BY r.node_id",
        )?
        .query_map(params![year, unit_id, round.id(), method_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    if reports.len() < 2 {
        return Err(RulingError::NotReportedTwice {
            unit: unit_id.to_owned(),
            method,
            round: round.name_zh(),
            reported: if reports.is_empty() {
                "没有节点上报"
            } else {
                "只有 1 个节点上报"
            },
        });
    }
    let chosen = find_node(&tx, node)?;
    let Some((node_id, _, submission_id)) = reports
        .iter()
        .find(|(id, _, _)| *id == chosen.id.as_str())
        .cloned()
    else {
        return Err(RulingError::NotAReporter {
            node: chosen.name,
            unit: unit_id.to_owned(),
            method,
            round: round.name_zh(),
            candidates: reports
                .iter()
                .map(|(id, name, _)| format!("「{name}」（{id}）"))
                .collect(),
        });
    };
    tx.execute(
        "INSERT INTO rulings (year, unit_id, round, method_id, node_id, submission_id, reason,
             decided_at, operator)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            year,
            unit_id,
            round.id(),
            method_id,
            node_id,
            submission_id,
            reason,
            actor.at.to_string(),
            actor.operator
        ],
    )?;
    let seq = tx.last_insert_rowid();
    audit::append(
        &tx,
        actor,
        action::RULING,
        &format!("{year}/{unit_id}"),
        &json!({
            "round": round.id(),
            "method": method_id,
            "node": node_id,
            "submission": submission_id,
            "reason": reason,
            "reported_by": reports.iter().map(|(id, _, s)| json!({"node": id, "submission": s})).collect::<Vec<_>>(),
        }),
    )?;
    tx.commit()?;
    Ok(Ruling {
        seq,
        year,
        unit_id: unit_id.to_owned(),
        round,
        method_id: method_id.to_owned(),
        node_id,
        submission_id,
        reason: reason.to_owned(),
        decided_at: actor.at.to_string(),
        operator: actor.operator.clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::registry::nodes::tests::key;
    use crate::registry::nodes::{AssessorKind, NewNode, add_node};
    use crate::registry::scope::Scope;
    use crate::registry::units::{RosterSource, replace_year, tests::unit};

    fn actor() -> Actor {
        Actor::new("wang", "2024-12-01T01:00:00Z".parse().unwrap())
    }

    /// Unit t1 of 2024 whose daily Q1 two nodes reported (submissions 1
    /// and 2); returns the two node ids.
    fn reported_twice(conn: &mut Connection) -> (String, String) {
        replace_year(
            conn,
            2024,
            &[unit(2024, "t1", "township", None)],
            &RosterSource {
                file: "u.csv".into(),
                sha256: "00".into(),
            },
            &actor(),
        )
        .unwrap();
        let mut ids = Vec::new();
        for (name, seed) in [("甲节点", 1), ("乙节点", 2)] {
            let node = add_node(
                conn,
                NewNode {
                    name: name.into(),
                    assessor: AssessorKind::CountyOffice,
                    assessor_unit: None,
                    public_key: key(seed),
                    scope: Scope {
                        categories: ["township".into()].into(),
                        methods: ["daily".into()].into(),
                        years: [2024].into(),
                        ..Scope::default()
                    },
                },
                &actor(),
            )
            .unwrap();
            ids.push(node.id.to_string());
        }
        conn.execute_batch(&format!(
            "INSERT INTO packs VALUES ('p', 2024, 1, zeroblob(32), x'00', x'00', 't', 'o', 1);
             INSERT INTO receipt_batches (batch_id, commit_time, tree_size, hub_key_id) VALUES (1, 0, 2, 'h');
             INSERT INTO submissions (id, digest, node_id, sequence, unit_id, year, round, pack_id,
                 pack_version, created_at, committed_at, late, batch_id, leaf_index, envelope)
               VALUES (1, zeroblob(32), '{a}', 1, 't1', 2024, 'Q1', 'p', 1, 0, 0, 0, 1, 0, x'00'),
                      (2, randomblob(32), '{b}', 1, 't1', 2024, 'Q1', 'p', 1, 0, 0, 0, 1, 1, x'00');
             INSERT INTO results (submission_id, method_id, node_id, unit_id, year, round, sequence,
                 pack_id, pack_version, late, is_current, scores)
               VALUES (1, 'daily', '{a}', 't1', 2024, 'Q1', 1, 'p', 1, 0, 1, '{{\"D1\":100}}'),
                      (2, 'daily', '{b}', 't1', 2024, 'Q1', 1, 'p', 1, 0, 1, '{{\"D1\":200}}');",
            a = ids[0],
            b = ids[1]
        ))
        .unwrap();
        (ids[0].clone(), ids[1].clone())
    }

    fn slot() -> Slot<'static> {
        Slot {
            year: 2024,
            unit_id: "t1",
            round: Round::Q1,
            method_id: "daily",
        }
    }

    #[test]
    fn a_double_report_is_settled_by_a_ruling_that_names_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        let (a, b) = reported_twice(&mut conn);
        let mut results = crate::results::load_results(&conn, 2024, "p", 1).unwrap();
        assert_eq!(results.len(), 2);
        assert!(matches!(
            rule(&mut conn, slot(), "乙节点", " ", &actor()),
            Err(RulingError::EmptyReason)
        ));
        let r = rule(
            &mut conn,
            slot(),
            "乙节点",
            "乙为名册所列考核主体",
            &actor(),
        )
        .unwrap();
        assert_eq!((r.node_id.as_str(), r.submission_id), (b.as_str(), 2));
        let rulings = in_force(&conn, 2024).unwrap();
        assert_eq!(rulings, vec![r]);
        apply(&rulings, &mut results);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].node_id, b);
        assert_eq!(results[0].scores, BTreeMap::from([("D1".to_string(), 200)]));
        // A later ruling of the same slot replaces it; both stay recorded.
        rule(&mut conn, slot(), &a, "复查后改用甲", &actor()).unwrap();
        let rulings = in_force(&conn, 2024).unwrap();
        assert_eq!(rulings.len(), 1);
        assert_eq!(rulings[0].node_id, a);
        let log = audit::recent(&conn, 1).unwrap();
        assert_eq!(log[0].action, action::RULING);
        assert_eq!(log[0].detail["reason"], serde_json::json!("复查后改用甲"));
    }

    #[test]
    fn a_ruling_is_refused_where_there_is_nothing_to_rule_or_after_approval() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        reported_twice(&mut conn);
        let q2 = Slot {
            round: Round::Q2,
            ..slot()
        };
        let err = rule(&mut conn, q2, "甲节点", "理由", &actor()).unwrap_err();
        assert!(err.to_string().contains("没有节点上报"), "{err}");
        add_node(
            &mut conn,
            NewNode {
                name: "丙节点".into(),
                assessor: AssessorKind::CountyOffice,
                assessor_unit: None,
                public_key: key(3),
                scope: Scope {
                    categories: ["township".into()].into(),
                    methods: ["daily".into()].into(),
                    years: [2024].into(),
                    ..Scope::default()
                },
            },
            &actor(),
        )
        .unwrap();
        let err = rule(&mut conn, slot(), "丙节点", "理由", &actor()).unwrap_err();
        assert!(matches!(err, RulingError::NotAReporter { .. }), "{err}");
        assert!(err.to_string().contains("「甲节点」"), "{err}");
        conn.execute(
            "INSERT INTO approvals (year, doc_number, approved_at, operator, consolidation_sha256, results)
             VALUES (2024, '宝法办〔2025〕1号', '2025-01-20T02:00:00Z', 'wang', 'x', '{}')",
            [],
        )
        .unwrap();
        let err = rule(&mut conn, slot(), "甲节点", "理由", &actor()).unwrap_err();
        assert!(err.to_string().contains("宝法办〔2025〕1号"), "{err}");
        assert!(in_force(&conn, 2024).unwrap().is_empty());
    }
}
