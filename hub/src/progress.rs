//! 上报进度（progress）：每个节点用的规则包、最后联系时间、已报/应报单位数、
//! 逾期与被拒情况。
//!
//! Read-only: computed from `submissions`, `results`, the roster and scope,
//! and the `submission.reject` records of the audit log.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use crate::ingest::ACTION_REJECT;
use crate::registry::StoreError;
use crate::registry::nodes::{self, NodeRecord};
use crate::registry::units;

/// One node's progress for one year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProgress {
    pub node: NodeRecord,
    /// The pack of the node's latest accepted submission this year:
    /// (pack id, version, the current version of that pack).
    pub pack: Option<(String, u32, Option<u32>)>,
    /// The latest accepted submission or refusal, by the hub's clock.
    pub last_seen: Option<Timestamp>,
    /// Units with at least one current result this year.
    pub reported: usize,
    /// Units of this year's roster in the node's scope.
    pub expected: usize,
    /// Current results committed after their round's deadline (submissions).
    pub late: usize,
    /// Refused submissions (all years), by rejection code, with the latest
    /// message of each.
    pub rejected: Vec<RejectedKind>,
}

/// Refusals of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedKind {
    /// `REJECTION_CODE_…`.
    pub code: String,
    pub count: usize,
    pub latest_message: String,
}

impl NodeProgress {
    /// Refused submissions in total.
    pub fn rejected_total(&self) -> usize {
        self.rejected.iter().map(|r| r.count).sum()
    }
}

/// Progress of every node for `year`, active nodes first.
pub fn report(conn: &Connection, year: i32) -> Result<Vec<NodeProgress>, StoreError> {
    let roster = units::load_roster(conn, year)?;
    let mut out = Vec::new();
    for node in nodes::list_nodes(conn)? {
        let id = node.id.as_str().to_owned();
        let expected = if node.scope.years.contains(&year) {
            roster
                .iter()
                .filter(|u| node.may_report(u, &roster))
                .count()
        } else {
            0
        };
        let reported: i64 = conn.query_row(
            "SELECT count(DISTINCT unit_id) FROM results WHERE node_id = ?1 AND year = ?2 AND is_current = 1",
            params![id, year],
            |r| r.get(0),
        )?;
        let late: i64 = conn.query_row(
            "SELECT count(DISTINCT submission_id) FROM results
             WHERE node_id = ?1 AND year = ?2 AND is_current = 1 AND late = 1",
            params![id, year],
            |r| r.get(0),
        )?;
        let pack = conn
            .query_row(
                "SELECT s.pack_id, s.pack_version,
                        (SELECT p.version FROM packs p
                          WHERE p.pack_id = s.pack_id AND p.year = s.year AND p.is_current = 1)
                 FROM submissions s WHERE s.node_id = ?1 AND s.year = ?2
                 ORDER BY s.committed_at DESC, s.id DESC LIMIT 1",
                params![id, year],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, u32>(1)?,
                        r.get::<_, Option<u32>>(2)?,
                    ))
                },
            )
            .optional()?;
        let last_accepted: Option<i64> = conn.query_row(
            "SELECT max(committed_at) FROM submissions WHERE node_id = ?1",
            [&id],
            |r| r.get(0),
        )?;
        let operator = format!("node/{id}");
        let last_refused: Option<String> = conn.query_row(
            "SELECT max(time) FROM audit_log WHERE action = ?1 AND operator = ?2",
            params![ACTION_REJECT, operator],
            |r| r.get(0),
        )?;
        let last_seen = [
            last_accepted.and_then(|s| Timestamp::from_second(s).ok()),
            last_refused.and_then(|t| t.parse::<Timestamp>().ok()),
        ]
        .into_iter()
        .flatten()
        .max();
        let mut stmt = conn.prepare_cached(
            "SELECT json_extract(detail, '$.code') AS code, count(*),
                    (SELECT json_extract(b.detail, '$.message') FROM audit_log b
                      WHERE b.action = ?1 AND b.operator = ?2
                        AND json_extract(b.detail, '$.code') = json_extract(a.detail, '$.code')
                      ORDER BY b.seq DESC LIMIT 1)
             FROM audit_log a WHERE a.action = ?1 AND a.operator = ?2
             GROUP BY code ORDER BY count(*) DESC, code",
        )?;
        let rejected = stmt
            .query_map(params![ACTION_REJECT, operator], |r| {
                Ok(RejectedKind {
                    code: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    count: r.get::<_, i64>(1)?.max(0) as usize,
                    latest_message: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        out.push(NodeProgress {
            node,
            pack,
            last_seen,
            reported: reported.max(0) as usize,
            expected,
            late: late.max(0) as usize,
            rejected,
        });
    }
    Ok(out)
}

/// Units with a current result, per node key id and round, for `year`.
pub fn reported_by_round(
    conn: &Connection,
    year: i32,
) -> Result<std::collections::BTreeMap<(String, String), usize>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT node_id, round, count(DISTINCT unit_id) FROM results
         WHERE year = ?1 AND is_current = 1 GROUP BY node_id, round",
    )?;
    let rows = stmt.query_map([year], |r| {
        Ok((
            (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
            r.get::<_, i64>(2)?.max(0) as usize,
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Refusals whose sender could not be identified as a registered node.
pub fn unidentified_refusals(conn: &Connection) -> Result<usize, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM audit_log a WHERE a.action = ?1
           AND NOT EXISTS (SELECT 1 FROM nodes n WHERE 'node/' || n.key_id = a.operator)",
        [ACTION_REJECT],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as usize)
}
