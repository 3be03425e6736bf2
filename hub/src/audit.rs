//! 审计日志（audit log）：只追加的操作记录。
//!
//! **Invariant:** every change to the registry (units, nodes, packs, imported
//! calendar years) writes its audit record in the *same* transaction as the
//! change, so a change without its record (or the reverse) cannot be
//! committed. Triggers make the table append-only: an `UPDATE` or `DELETE`
//! raises, even from a mistaken maintenance script. A record of an action
//! that shapes a year's result is also a leaf of that year's transparency
//! log, appended by [`append`] in the same transaction ([`crate::tlog`]).

use jiff::Timestamp;
use rusqlite::{Connection, params};

/// Who makes a change, and when (the hub's clock, read once at the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// 操作人（operator）: the login or name recorded in the audit log.
    pub operator: String,
    pub at: Timestamp,
}

impl Actor {
    pub fn new(operator: impl Into<String>, at: Timestamp) -> Self {
        Self {
            operator: operator.into(),
            at,
        }
    }
}

/// The actions the registry records (the `action` column).
pub mod action {
    pub const UNITS_IMPORT: &str = "units.import";
    pub const NODE_ADD: &str = "node.add";
    pub const NODE_REVOKE: &str = "node.revoke";
    pub const NODE_EDIT: &str = "node.edit";
    pub const NODE_ROTATE_KEY: &str = "node.rotate_key";
    pub const PACK_PUBLISH: &str = "pack.publish";
    pub const CALENDAR_IMPORT: &str = "calendar.import";
}

/// One audit record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub seq: i64,
    pub time: String,
    pub operator: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

/// Reading the audit log failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditReadError {
    #[error("读取审计日志失败（cannot read audit log）：{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("审计日志第 {seq} 条的 detail 不是合法 JSON（bad detail JSON）：{source}")]
    Detail { seq: i64, source: serde_json::Error },
}

/// Appends a record; call it inside the transaction that makes the change.
///
/// An action that shapes a year's result also becomes a leaf of that
/// year's transparency log ([`crate::tlog::record_audit`]), in the same
/// transaction: record and leaf commit together or not at all (a savepoint
/// keeps them together also for a caller without a transaction).
pub fn append(
    conn: &Connection,
    actor: &Actor,
    action: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> rusqlite::Result<i64> {
    conn.execute_batch("SAVEPOINT audit_append")?;
    let appended = (|| {
        let time = actor.at.to_string();
        conn.execute(
            "INSERT INTO audit_log (time, operator, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![time, actor.operator, action, subject, detail.to_string()],
        )?;
        let seq = conn.last_insert_rowid();
        crate::tlog::record_audit(
            conn,
            &crate::tlog::AuditEvent {
                seq,
                time: &time,
                operator: &actor.operator,
                action,
                subject,
                detail,
            },
        )
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(seq)
    })();
    match appended {
        Ok(seq) => {
            conn.execute_batch("RELEASE audit_append")?;
            Ok(seq)
        }
        Err(e) => {
            // The caller learns of the first error; undoing what this call
            // wrote is best effort (its own transaction ends it anyway).
            let _ = conn.execute_batch("ROLLBACK TO audit_append; RELEASE audit_append");
            Err(e)
        }
    }
}

/// The latest time of `action` per subject, as stored: subject → time
/// (e.g. each account's last console login).
pub fn latest_per_subject(
    conn: &Connection,
    action: &str,
) -> rusqlite::Result<std::collections::BTreeMap<String, String>> {
    let mut stmt = conn
        .prepare("SELECT subject, MAX(time) FROM audit_log WHERE action = ?1 GROUP BY subject")?;
    let rows = stmt.query_map([action], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The most recent `limit` records, oldest first.
pub fn recent(conn: &Connection, limit: u32) -> Result<Vec<AuditRecord>, AuditReadError> {
    let mut stmt = conn.prepare(
        "SELECT seq, time, operator, action, subject, detail FROM
           (SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?1)
         ORDER BY seq",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, time, operator, action, subject, detail) = row?;
        let detail = serde_json::from_str(&detail)
            .map_err(|source| AuditReadError::Detail { seq, source })?;
        out.push(AuditRecord {
            seq,
            time,
            operator,
            action,
            subject,
            detail,
        });
    }
    Ok(out)
}

/// What [`search`] looks for; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The operator exactly (an account, `node/<key id>`, a CLI user).
    pub operator: Option<String>,
    /// Subjects containing this text (a unit id, `2023/u1`, a node).
    pub subject: Option<String>,
    /// Actions starting with this text (`review.`, `units.import`).
    pub action: Option<String>,
    /// RFC 3339 bounds on the stored time, inclusive from, exclusive to.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// The newest `limit` records matching `filter`, newest first.
pub fn search(
    conn: &Connection,
    filter: &AuditFilter,
    limit: u32,
) -> Result<Vec<AuditRecord>, AuditReadError> {
    let mut stmt = conn.prepare(
        "SELECT seq, time, operator, action, subject, detail FROM audit_log
         WHERE (?1 IS NULL OR operator = ?1)
           AND (?2 IS NULL OR instr(subject, ?2) > 0)
           AND (?3 IS NULL OR substr(action, 1, length(?3)) = ?3)
           AND (?4 IS NULL OR time >= ?4)
           AND (?5 IS NULL OR time < ?5)
         ORDER BY seq DESC LIMIT ?6",
    )?;
    let rows = stmt.query_map(
        params![
            filter.operator,
            filter.subject,
            filter.action,
            filter.from.map(|t| t.to_string()),
            filter.to.map(|t| t.to_string()),
            limit
        ],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, time, operator, action, subject, detail) = row?;
        let detail = serde_json::from_str(&detail)
            .map_err(|source| AuditReadError::Detail { seq, source })?;
        out.push(AuditRecord {
            seq,
            time,
            operator,
            action,
            subject,
            detail,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor::new("wang", "2024-03-01T08:00:00Z".parse().unwrap())
    }

    #[test]
    fn records_are_appended_in_order_with_their_detail() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::create(dir.path()).unwrap();
        let a = append(&conn, &actor(), "x.one", "s1", &serde_json::json!({"n": 1})).unwrap();
        let b = append(&conn, &actor(), "x.two", "s2", &serde_json::json!([])).unwrap();
        assert!(b > a);
        let all = recent(&conn, 10).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].action, "x.one");
        assert_eq!(all[0].operator, "wang");
        assert_eq!(all[0].time, "2024-03-01T08:00:00Z");
        assert_eq!(all[0].detail, serde_json::json!({"n": 1}));
        assert_eq!(recent(&conn, 1).unwrap()[0].action, "x.two");
        let found = search(
            &conn,
            &AuditFilter {
                action: Some("x.t".into()),
                ..AuditFilter::default()
            },
            10,
        )
        .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].subject, "s2");
        let found = search(
            &conn,
            &AuditFilter {
                operator: Some("wang".into()),
                subject: Some("s".into()),
                from: Some("2024-03-01T08:00:00Z".parse().unwrap()),
                to: Some("2024-03-01T08:00:01Z".parse().unwrap()),
                ..AuditFilter::default()
            },
            10,
        )
        .unwrap();
        assert_eq!(found.iter().map(|r| r.seq).collect::<Vec<_>>(), [b, a]);
        let none = AuditFilter {
            operator: Some("li".into()),
            ..AuditFilter::default()
        };
        assert!(search(&conn, &none, 10).unwrap().is_empty());
    }

    #[test]
    fn update_and_delete_on_the_audit_log_raise() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::create(dir.path()).unwrap();
        append(&conn, &actor(), "x.one", "s", &serde_json::json!({})).unwrap();

        let err = conn
            .execute("UPDATE audit_log SET operator = 'mallory'", [])
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        let err = conn.execute("DELETE FROM audit_log", []).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");

        let all = recent(&conn, 10).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].operator, "wang");
    }

    #[test]
    fn detail_must_be_json() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::create(dir.path()).unwrap();
        let err = conn
            .execute(
                "INSERT INTO audit_log (time, operator, action, subject, detail) VALUES ('t', 'o', 'a', 's', 'not json')",
                [],
            )
            .unwrap_err();
        assert!(err.to_string().contains("CHECK"), "{err}");
    }
}
