//! 审定记录与年度锁定（approval records and the year's lock）: 审定 means
//! final.
//!
//! Every approval of a year is kept in `approvals`; at most one is **in
//! force**. While one is, the year is locked: every change to its result —
//! a submission, an override or excusal, an objection or a review decision,
//! a pack version, the roster — is refused with [`Locked`], which names the
//! approval's 文号 and date. The only way to change a locked year is the
//! audited reopening ([`crate::workflow::reopen`]: 撤销审定 with a reason),
//! which marks the approval superseded (never deleted) and leaves the year
//! open until the next approval, which names the one it replaces.
//!
//! This module only reads; the acts (approve, reopen, publish) are
//! [`crate::workflow`]'s. It sits below the registry, ingest and workflow so
//! that each of them checks the lock with one call to [`locked`] inside its
//! own write transaction. Triggers in the schema (migration 7) refuse the
//! same inserts as a backstop.
//!
//! Layout: [`Approval`] (+ [`Reopening`], [`Publication`]) as stored;
//! [`in_force`], [`of_year`], [`last_approved`], [`publication`]; [`Locked`]
//! and [`locked`].

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::calendar::{beijing_date, format_date_zh};

/// One approval (审定) of a year, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub id: i64,
    pub year: i32,
    pub doc_number: String,
    /// RFC 3339, the hub's time of the act.
    pub approved_at: String,
    pub operator: String,
    /// SHA-256 (hex) of the consolidation approved
    /// ([`Consolidation::sha256`](crate::consolidate::Consolidation::sha256)).
    pub consolidation_sha256: String,
    /// The earlier approval of the year this one replaces (after a
    /// reopening), if any.
    pub replaces: Option<i64>,
    /// Set once the approval was reopened (撤销审定): no longer in force.
    pub reopened: Option<Reopening>,
}

/// Who reopened an approval, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reopening {
    /// RFC 3339.
    pub at: String,
    pub by: String,
    pub reason: String,
}

/// The publication (公布) of one approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub approval_id: i64,
    /// RFC 3339.
    pub published_at: String,
    pub operator: String,
}

impl Approval {
    /// Whether this approval is the one in force (not reopened).
    pub fn in_force(&self) -> bool {
        self.reopened.is_none()
    }

    /// Whether a consolidation with this digest is what was approved:
    /// nothing that counts changed since.
    pub fn approves(&self, consolidation_sha256: &str) -> bool {
        self.consolidation_sha256 == consolidation_sha256
    }

    /// The Beijing date of the act, `2023年3月1日（星期三）`; the stored
    /// text when it does not parse.
    pub fn approved_on(&self) -> String {
        date_zh(&self.approved_at)
    }
}

/// The year is approved: nothing of its result may change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{year} 年度考核结果已于 {on} 审定（文号 {doc_number}），不能再改动；确需更正的，须先由县依法治县办撤销审定（kaohe hub reopen --reason …），改动后重新审定（year approved: locked）"
)]
pub struct Locked {
    pub year: i32,
    pub doc_number: String,
    /// The approval's Beijing date, as [`Approval::approved_on`].
    pub on: String,
}

/// `Some` when `year` has an approval in force: the refusal to give.
/// One indexed lookup; call it inside the transaction that would write.
pub fn locked(conn: &Connection, year: i32) -> rusqlite::Result<Option<Locked>> {
    conn.prepare_cached(
        "SELECT doc_number, approved_at FROM approvals WHERE year = ?1 AND reopened_at IS NULL",
    )?
    .query_row([year], |r| {
        Ok(Locked {
            year,
            doc_number: r.get(0)?,
            on: date_zh(&r.get::<_, String>(1)?),
        })
    })
    .optional()
}

const COLUMNS: &str = "id, year, doc_number, approved_at, operator, consolidation_sha256, replaces,
     reopened_at, reopened_by, reopen_reason";

fn approval_of(r: &Row<'_>) -> rusqlite::Result<Approval> {
    let reopened_at: Option<String> = r.get(7)?;
    Ok(Approval {
        id: r.get(0)?,
        year: r.get(1)?,
        doc_number: r.get(2)?,
        approved_at: r.get(3)?,
        operator: r.get(4)?,
        consolidation_sha256: r.get(5)?,
        replaces: r.get(6)?,
        reopened: match reopened_at {
            Some(at) => Some(Reopening {
                at,
                by: r.get(8)?,
                reason: r.get(9)?,
            }),
            None => None,
        },
    })
}

/// The approval of `year` in force, if any.
pub fn in_force(conn: &Connection, year: i32) -> rusqlite::Result<Option<Approval>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM approvals WHERE year = ?1 AND reopened_at IS NULL"),
        [year],
        approval_of,
    )
    .optional()
}

/// Every approval of `year`, oldest first (reopened ones included).
pub fn of_year(conn: &Connection, year: i32) -> rusqlite::Result<Vec<Approval>> {
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM approvals WHERE year = ?1 ORDER BY id"
    ))?
    .query_map([year], approval_of)?
    .collect()
}

/// The latest approval of `year`, in force or reopened: the result last
/// approved. While a reopened year awaits its new approval this is still
/// the reopened one — what the county last decided.
pub fn last_approved(conn: &Connection, year: i32) -> rusqlite::Result<Option<Approval>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM approvals WHERE year = ?1 ORDER BY id DESC LIMIT 1"),
        [year],
        approval_of,
    )
    .optional()
}

/// The approval `id`.
pub fn by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<Approval>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1"),
        [id],
        approval_of,
    )
    .optional()
}

/// The publication of approval `approval_id`, if it was published.
pub fn publication(conn: &Connection, approval_id: i64) -> rusqlite::Result<Option<Publication>> {
    conn.query_row(
        "SELECT approval_id, published_at, operator FROM publications WHERE approval_id = ?1",
        params![approval_id],
        |r| {
            Ok(Publication {
                approval_id: r.get(0)?,
                published_at: r.get(1)?,
                operator: r.get(2)?,
            })
        },
    )
    .optional()
}

/// An RFC 3339 instant as its Beijing date in Chinese.
fn date_zh(at: &str) -> String {
    at.parse::<Timestamp>()
        .map(|t| format_date_zh(beijing_date(t)))
        .unwrap_or_else(|_| at.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approve(conn: &Connection, year: i32, doc: &str, replaces: Option<i64>) -> i64 {
        conn.execute(
            "INSERT INTO approvals (year, doc_number, approved_at, operator, consolidation_sha256, results, replaces)
             VALUES (?1, ?2, '2023-03-01T02:00:00Z', '王', 'ab', '{}', ?3)",
            params![year, doc, replaces],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    #[test]
    fn a_year_is_locked_by_its_approval_in_force_and_the_refusal_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::create(dir.path()).unwrap();
        assert_eq!(locked(&conn, 2022).unwrap(), None);
        let first = approve(&conn, 2022, "宝法治办〔2023〕1号", None);
        let lock = locked(&conn, 2022).unwrap().unwrap();
        assert_eq!(lock.on, "2023年3月1日（星期三）");
        let text = lock.to_string();
        assert!(text.contains("宝法治办〔2023〕1号"), "{text}");
        assert!(text.contains("2023年3月1日"), "{text}");
        assert!(text.contains("kaohe hub reopen"), "{text}");
        assert_eq!(locked(&conn, 2023).unwrap(), None, "other years stay open");

        // A second approval in force for the year is impossible.
        assert!(
            conn.execute(
                "INSERT INTO approvals (year, doc_number, approved_at, operator, consolidation_sha256, results)
                 VALUES (2022, '另一个', '2023-03-02T02:00:00Z', '王', 'cd', '{}')",
                [],
            )
            .is_err()
        );
        // Reopened: open, and the record stays.
        conn.execute(
            "UPDATE approvals SET reopened_at = '2023-04-01T02:00:00Z', reopened_by = '李', reopen_reason = '分数有误' WHERE id = ?1",
            [first],
        )
        .unwrap();
        assert_eq!(locked(&conn, 2022).unwrap(), None);
        assert_eq!(in_force(&conn, 2022).unwrap(), None);
        let last = last_approved(&conn, 2022).unwrap().unwrap();
        assert_eq!(last.id, first);
        assert_eq!(last.reopened.as_ref().unwrap().reason, "分数有误");
        let second = approve(&conn, 2022, "宝法治办〔2023〕5号", Some(first));
        assert_eq!(
            in_force(&conn, 2022).unwrap().unwrap().replaces,
            Some(first)
        );
        assert_eq!(
            of_year(&conn, 2022)
                .unwrap()
                .iter()
                .map(|a| a.id)
                .collect::<Vec<_>>(),
            [first, second]
        );
    }

    #[test]
    fn approvals_are_never_deleted_and_change_only_by_being_reopened_once() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::create(dir.path()).unwrap();
        let id = approve(&conn, 2022, "宝法治办〔2023〕1号", None);
        let refused = |sql: &str| {
            let err = conn.execute(sql, [id]).unwrap_err().to_string();
            assert!(err.contains("审定记录"), "{sql}: {err}");
        };
        refused("DELETE FROM approvals WHERE id = ?1");
        refused("UPDATE approvals SET consolidation_sha256 = 'ff' WHERE id = ?1");
        refused("UPDATE approvals SET doc_number = '改' WHERE id = ?1");
        conn.execute(
            "UPDATE approvals SET reopened_at = 'x', reopened_by = 'y', reopen_reason = 'z' WHERE id = ?1",
            [id],
        )
        .unwrap();
        refused("UPDATE approvals SET reopen_reason = '再改' WHERE id = ?1");
        assert_eq!(of_year(&conn, 2022).unwrap().len(), 1);
    }

    #[test]
    fn the_schema_refuses_new_rows_for_a_locked_year() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::create(dir.path()).unwrap();
        conn.execute(
            "INSERT INTO units (year, id, name, category, assessor) VALUES (2022, 't1', '大营镇', 'township', 'county_office')",
            [],
        )
        .unwrap();
        approve(&conn, 2022, "宝法治办〔2023〕1号", None);
        for sql in [
            "INSERT INTO recorded_decisions (year, unit_id, kind, reason, recorded_at, operator)
             VALUES (2022, 't1', 'excusal', '原因', 'x', 'y')",
            "INSERT INTO packs (pack_id, year, version, module_sha256, module, envelope, published_at, published_by, is_current)
             VALUES ('baofeng', 2022, 2, zeroblob(32), x'00', x'00', 'x', 'y', 1)",
        ] {
            let err = conn.execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("该年度考核结果已审定"), "{err}");
        }
    }
}
