//! kaohe-tables：hub 与 node 共用的表格（the tables hub and node both handle
//! and nothing else owns）— an official's spreadsheet read in, a SQLite
//! database opened and migrated, a table printed for the terminal.
//!
//! Both the county hub (roster, earlier years' results) and every node
//! (evidence) take Excel and CSV files from officials, and both keep their
//! state in SQLite. Each once had its own copy of that code, and the copies
//! drifted: the hub's roster import took a formula's cached value, read a
//! hidden first sheet in place of the visible roster and trusted a zip's
//! declared sizes, while the node's reader had learnt better; the hub's
//! migrations ran with foreign keys on, so the first table rebuild would
//! have failed. One crate, so a lesson learnt once holds everywhere.
//!
//! Layout:
//! - [`sheet`]: `.xlsx` / CSV bytes → [`sheet::Grid`]s of located
//!   [`sheet::Cell`]s within [`sheet::Limits`]; the zip checks before
//!   calamine sees the bytes, cells streamed, formulas kept as formulas,
//!   dates as dates, merged regions listed, hidden sheets never read and
//!   extra visible sheets refused (the rule is in the module docs);
//!   [`sheet::Place`] names a cell as the official sees it;
//! - [`text`]: trimming, full-width folding, column letters, the short echo
//!   of a cell and of a number in messages;
//! - [`sqlite`]: a [`sqlite::Schema`] (its ordered migrations) opened with
//!   the pragmas both sides need, migrated in one transaction with foreign
//!   keys off and `foreign_key_check` before commit, a newer database
//!   refused untouched, `integrity_check`;
//! - [`terminal`]: text tables aligned by display width (a Chinese
//!   character is two columns);
//! - [`os_error`]: the English OS error tails of a message
//!   (`No such file or directory (os error 2)`, a failed host lookup) in
//!   Chinese, for every command's last word.
//!
//! **Architecture Invariant:** nothing here knows a field, a unit or a
//! table of the schema: which columns and values an import accepts, and
//! which migrations a database has, belong to the hub and the node.
//! No tokio, tonic or wasmtime.

pub mod os_error;
pub mod sheet;
pub mod sqlite;
pub mod terminal;
pub mod text;
