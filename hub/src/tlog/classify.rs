//! Which audit actions are leaves, of which years' logs, and what each
//! carries for a verifier.
//!
//! **The rule:** every audit action that shapes a year's result is a leaf
//! of that year's log; [`RULES`] decides it for each action, and a test
//! enumerates the actions the hub's code records and fails on one that is
//! missing here. An action recorded without a rule (a new one not yet
//! added) is still logged — of the year it names, else of every open year —
//! and warned about: logging too much is harmless, an act left out of the
//! log is not.
//!
//! Which years (a year's log is **open** once it has a leaf):
//! - [`LeafRule::OfItsYear`]: the year the record names — `detail.year`,
//!   else the year its subject starts with (`2022/unit`, `2022`); that
//!   year's log is opened if need be;
//! - [`LeafRule::OfScopeYears`]: a node's registration, scope edit or key
//!   rotation: every year of its scope (for an edit, the scope before and
//!   after; for a rotation, the node's scope as stored) whose log is open; when none is, the newest open log of an
//!   earlier year (its checkpoint rolls over into the later years' logs,
//!   so the registration stays provable there); with no such log either,
//!   the earliest year of the scope is opened. So a registration for
//!   coming years never opens their logs early, and each year's log starts
//!   with the previous year's checkpoint as it stood at the end;
//! - [`LeafRule::OfEveryOpenYear`]: a change that belongs to no one year
//!   (a revocation, a calendar, earlier years' results, a restore).
//!
//! What is carried ([`carried`]), read in the same transaction after the
//! change: an import's whole roster of the year; a published pack's
//! statement (the authorities' signature envelope); an approval's approved
//! results and the year's log head (size, root) they were computed from; a
//! publication's log head.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kaohe_proto::tlog::leaf::TreeHead;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::AuditEvent;

/// How an audit action becomes leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafRule {
    /// A leaf of the year the record names (opening its log).
    OfItsYear,
    /// A leaf of the open years of a node's scope (see the module docs).
    OfScopeYears,
    /// A leaf of every open year's log.
    OfEveryOpenYear,
    /// Not a leaf, and why not.
    NotALeaf(&'static str),
}

/// The console's account changes and logins: who may act, not a result.
const ACCOUNT: LeafRule =
    LeafRule::NotALeaf("控制台账号不改变结果（an account changes no result）");
const LOGIN: LeafRule = LeafRule::NotALeaf("登录不改变结果（a login changes no result）");

/// Every audit action the hub records, and its rule.
pub const RULES: &[(&str, LeafRule)] = &[
    // Registry.
    ("units.import", LeafRule::OfItsYear),
    ("node.add", LeafRule::OfScopeYears),
    ("node.edit", LeafRule::OfScopeYears),
    ("node.rotate_key", LeafRule::OfScopeYears),
    ("node.revoke", LeafRule::OfEveryOpenYear),
    ("pack.publish", LeafRule::OfItsYear),
    ("calendar.import", LeafRule::OfEveryOpenYear),
    // Workflow.
    ("results.notify", LeafRule::OfItsYear),
    ("review.object", LeafRule::OfItsYear),
    ("review.decide", LeafRule::OfItsYear),
    ("decision.excuse", LeafRule::OfItsYear),
    ("decision.override", LeafRule::OfItsYear),
    ("results.approve", LeafRule::OfItsYear),
    ("results.publish", LeafRule::OfItsYear),
    ("results.reopen", LeafRule::OfItsYear),
    ("results.ruling", LeafRule::OfItsYear),
    ("history.import", LeafRule::OfEveryOpenYear),
    (
        "rectification.plan",
        LeafRule::NotALeaf(
            "整改方案在结果公布之后提交，不改变结果（a rectification follows the published result and changes nothing in it）",
        ),
    ),
    (
        "rectification.report",
        LeafRule::NotALeaf(
            "整改报告在结果公布之后提交，不改变结果（a rectification follows the published result and changes nothing in it）",
        ),
    ),
    // Ingest: an accepted submission is a leaf of its own, from the commit.
    (
        "submission.reject",
        LeafRule::NotALeaf("被拒绝的上报不改变任何结果（a refused submission changes nothing）"),
    ),
    // Operations.
    (
        "hub.backup",
        LeafRule::NotALeaf("备份不改变数据（a backup changes nothing）"),
    ),
    // Console accounts: who may act, not what the results are — every act
    // an account does is recorded (and, where it shapes a year, logged) as
    // that act, naming the account.
    ("account.add", ACCOUNT),
    ("account.password", ACCOUNT),
    ("account.disable", ACCOUNT),
    ("console.login", LOGIN),
    ("console.login_failed", LOGIN),
    ("console.logout", LOGIN),
    // A restore rolls the log back to the backup: its leaf marks where the
    // history the witnesses saw and the restored one part.
    ("hub.restore", LeafRule::OfEveryOpenYear),
];

/// The rule of `action`, if [`RULES`] has one.
pub fn rule_of(action: &str) -> Option<LeafRule> {
    RULES.iter().find(|(a, _)| *a == action).map(|(_, r)| *r)
}

/// Which years' logs the record goes to: (years, whether the first of them
/// may be opened). The caller opens, appends and carries.
pub(super) fn target_years(
    conn: &Connection,
    event: &AuditEvent<'_>,
    open: &[u16],
) -> Result<Result<Vec<u16>, &'static str>, rusqlite::Error> {
    let rule = rule_of(event.action).unwrap_or_else(|| {
        tracing::warn!(
            "审计动作 {} 未在 tlog::classify::RULES 中分类，按其年度（或每个已开启的年度）记入透明日志（unclassified audit action）",
            event.action
        );
        if year_named(event).is_some() {
            LeafRule::OfItsYear
        } else {
            LeafRule::OfEveryOpenYear
        }
    });
    Ok(Ok(match rule {
        LeafRule::NotALeaf(_) => Vec::new(),
        LeafRule::OfEveryOpenYear => open.to_vec(),
        LeafRule::OfItsYear => match year_named(event) {
            Some(year) => vec![year],
            None => return Ok(Err("年度（year）")),
        },
        LeafRule::OfScopeYears => {
            let mut named = scope_years(conn, event)?;
            named.sort_unstable();
            named.dedup();
            let Some(&first) = named.first() else {
                return Ok(Err("授权年度（scope.years）"));
            };
            let targets: Vec<u16> = named.into_iter().filter(|y| open.contains(y)).collect();
            if !targets.is_empty() {
                targets
            } else if let Some(&earlier) = open.iter().rev().find(|&&y| y < first) {
                vec![earlier]
            } else {
                vec![first]
            }
        }
    }))
}

/// The years of the node's scope a registry record touches: the scope it
/// carries (`scope`, or `before` and `after` of an edit), else the stored
/// scope of the node it names (`node`: a key rotation).
fn scope_years(conn: &Connection, event: &AuditEvent<'_>) -> rusqlite::Result<Vec<u16>> {
    let years_of = |scope: &Value| -> Vec<u16> {
        scope
            .get("years")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|y| y.as_u64().and_then(|y| u16::try_from(y).ok()))
            .collect()
    };
    let d = event.detail;
    let carried: Vec<u16> = ["/scope", "/before/scope", "/after/scope"]
        .into_iter()
        .filter_map(|p| d.pointer(p))
        .flat_map(years_of)
        .collect();
    if !carried.is_empty() {
        return Ok(carried);
    }
    let Some(node) = d.get("node").and_then(Value::as_str) else {
        return Ok(Vec::new());
    };
    let stored: Option<String> = conn
        .query_row("SELECT scope FROM nodes WHERE key_id = ?1", [node], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(stored
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .map(|s| years_of(&s))
        .unwrap_or_default())
}

/// The year a record names: `detail.year`, else its subject's first
/// segment when that is a year.
fn year_named(event: &AuditEvent<'_>) -> Option<u16> {
    let of_detail = event
        .detail
        .get("year")
        .and_then(Value::as_u64)
        .and_then(|y| u16::try_from(y).ok());
    let of_subject = || {
        event
            .subject
            .split('/')
            .next()
            .filter(|s| s.len() == 4)
            .and_then(|s| s.parse::<u16>().ok())
    };
    of_detail
        .or_else(of_subject)
        .filter(|y| (2000..=2100).contains(y))
}

/// What the leaf of `event` in `year`'s log carries besides the record
/// (see the module docs); `head` is that log as it stood before the leaf.
pub(super) fn carried(
    conn: &Connection,
    event: &AuditEvent<'_>,
    year: u16,
    head: TreeHead,
) -> rusqlite::Result<Option<Value>> {
    let head = json!({"size": head.size, "root": hex::encode(head.root)});
    Ok(match event.action {
        "units.import" => Some(json!({ "roster": roster(conn, year)? })),
        "pack.publish" => statement(conn, event)?.map(|s| json!({ "statement": s })),
        "results.approve" => {
            let results: Option<String> = conn
                .query_row(
                    "SELECT results FROM approvals WHERE year = ?1 AND reopened_at IS NULL",
                    [year],
                    |r| r.get(0),
                )
                .optional()?;
            let results = results
                .and_then(|r| serde_json::from_str::<Value>(&r).ok())
                .unwrap_or(Value::Null);
            Some(json!({ "checkpoint": head, "results": results }))
        }
        "results.publish" => Some(json!({ "checkpoint": head })),
        _ => None,
    })
}

/// The year's roster as stored after the import, by unit id.
fn roster(conn: &Connection, year: u16) -> rusqlite::Result<Vec<Value>> {
    conn.prepare(
        "SELECT id, name, category, parent_id, supervising_department, assessor, principal
         FROM units WHERE year = ?1 ORDER BY id",
    )?
    .query_map([year], |r| {
        Ok(json!({
            "id": r.get::<_, String>(0)?,
            "name": r.get::<_, String>(1)?,
            "category": r.get::<_, String>(2)?,
            "parent": r.get::<_, Option<String>>(3)?,
            "supervising_department": r.get::<_, Option<String>>(4)?,
            "assessor": r.get::<_, String>(5)?,
            "principal": r.get::<_, Option<String>>(6)?,
        }))
    })?
    .collect()
}

/// The published pack's statement envelope (protobuf, base64).
fn statement(conn: &Connection, event: &AuditEvent<'_>) -> rusqlite::Result<Option<String>> {
    let d = event.detail;
    let (Some(id), Some(year), Some(version)) = (
        d.get("pack_id").and_then(Value::as_str),
        d.get("year").and_then(Value::as_i64),
        d.get("version").and_then(Value::as_i64),
    ) else {
        return Ok(None);
    };
    let envelope: Option<Vec<u8>> = conn
        .query_row(
            "SELECT envelope FROM packs WHERE pack_id = ?1 AND year = ?2 AND version = ?3",
            params![id, year, version],
            |r| r.get(0),
        )
        .optional()?;
    Ok(envelope.map(|e| BASE64.encode(e)))
}
