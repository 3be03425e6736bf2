//! 登记（registry）：每年的考核对象名册、节点及其授权范围、规则包、导入的日历年份。
//!
//! Every function that changes the registry takes an [`Actor`](crate::audit::Actor)
//! and writes its audit record in the same transaction as the change.
//!
//! - [`units`]: the roster of assessees (units) per assessment year.
//! - [`import`]: reading a roster from `.xlsx` or CSV, all or nothing.
//! - [`scope`]: what a node may report on — units × methods × years — and
//!   the pure [`Scope::check`](scope::Scope::check).
//! - [`nodes`]: assessor nodes — an identity with a history of keys, the
//!   unit a township or county unit node stands for — what the roster lets
//!   each report ([`NodeRecord::authorize`](nodes::NodeRecord::authorize)),
//!   editing a scope and rotating a key (`nodes::change`), revocation.
//! - [`coverage`]: which node reports which method of which unit; the
//!   warnings at registration and the reasons a unit is not assessed.
//! - [`packs`]: published rule pack versions, one current per (pack, year).
//! - [`calendar_years`]: calendar years imported on top of the built-in ones.

pub mod calendar_years;
pub mod coverage;
pub mod import;
pub mod nodes;
pub mod packs;
pub mod scope;
pub mod units;

/// Reading registry data failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("数据库读写失败（database error）：{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("数据库 {table} 表中的记录 {key} 已损坏（corrupt row）：{detail}")]
    Corrupt {
        table: &'static str,
        key: String,
        detail: String,
    },
}
