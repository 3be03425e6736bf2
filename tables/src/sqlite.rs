//! SQLite 数据库的打开、升级与完整性检查（open, migrate, integrity check）。
//!
//! A [`Schema`] is an ordered list of migrations: migration *i* (0-based)
//! takes the database from version *i* to *i + 1*, and the version lives in
//! `PRAGMA user_version`. [`Schema::open`]:
//!
//! 1. reads the version first, and refuses a database newer than the schema
//!    **before anything is written to it** (not even the switch to WAL,
//!    which rewrites the file header);
//! 2. sets what every connection needs: WAL journal, `synchronous = FULL`
//!    (a commit is on disk before anyone is told it happened), foreign keys
//!    on, a busy timeout so a CLI command and a server can share the file;
//! 3. runs every pending migration in one `BEGIN IMMEDIATE` transaction with
//!    foreign keys **off** (a migration may rebuild a table others refer
//!    to: create the new table, copy, drop the old, rename — SQLite's
//!    documented procedure, which fails with foreign keys on), and commits
//!    only if `PRAGMA foreign_key_check` then finds nothing; foreign keys
//!    are on again afterwards.
//!
//! [`Schema::integrity_check`] runs `PRAGMA integrity_check` and the foreign
//! key check, for after a crash or a restore.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

/// How long a connection waits for another writer before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A database's migrations, and how messages name it.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The file as an official knows it: `数据库` (the hub's), `证据库` (a
    /// node's).
    pub noun: &'static str,
    /// Ordered migrations; index *i* upgrades version *i* to *i + 1*. Never
    /// edit one that has shipped: append a new one.
    pub migrations: &'static [&'static str],
}

/// Whether opening may create the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create an empty database (then migrate it).
    Create,
    /// Fail: the caller expects the file to be there.
    Refuse,
}

/// Opening (and migrating) a database failed; a newer database, or one
/// whose migration failed, was left as it was.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("不能打开{noun} {path}（cannot open the database）：{source}")]
    Open {
        noun: &'static str,
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path} 不是 kaohe 能读的 SQLite 数据库（not a SQLite database）：{source}")]
    NotADatabase {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "{noun} {path} 的结构版本是 {found}，比本程序支持的 {supported} 新；请升级 kaohe，{noun}未作任何改动（database schema {found} is newer than supported {supported}; nothing was changed）"
    )]
    NewerSchema {
        noun: &'static str,
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{noun} {path} 不能切换到 WAL 日志模式，实际为 {mode}（cannot enable WAL）")]
    NoWal {
        noun: &'static str,
        path: PathBuf,
        mode: String,
    },
    #[error("设置{noun} {path} 失败（cannot configure the database）：{source}")]
    Configure {
        noun: &'static str,
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "{noun} {path} 升级到结构版本 {version} 失败，已回滚（migration to schema {version} failed, rolled back）：{source}"
    )]
    Migrate {
        noun: &'static str,
        path: PathBuf,
        version: u32,
        source: rusqlite::Error,
    },
    #[error(
        "{noun} {path} 升级到结构版本 {version} 后有 {} 处外键引用不存在的记录，已回滚（foreign key violations after migrating, rolled back）：{}",
        .violations.len(),
        .violations.join("；")
    )]
    ForeignKeys {
        noun: &'static str,
        path: PathBuf,
        version: u32,
        violations: Vec<String>,
    },
}

/// `PRAGMA integrity_check` (or the foreign key check) found problems, or
/// could not run.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error("{noun}完整性检查发现问题（integrity check failed）：{}", .problems.join("；"))]
    Corrupt {
        noun: &'static str,
        problems: Vec<String>,
    },
    #[error("{noun}完整性检查无法运行（integrity check could not run）：{source}")]
    Sqlite {
        noun: &'static str,
        source: rusqlite::Error,
    },
}

impl Schema {
    /// The version this schema's code writes and understands.
    pub const fn version(&self) -> u32 {
        self.migrations.len() as u32
    }

    /// Opens the database at `path` and migrates it to [`Schema::version`].
    /// A newer database is refused untouched.
    pub fn open(&self, path: &Path, missing: Missing) -> Result<Connection, OpenError> {
        self.open_at(path, self.version(), missing)
    }

    /// Opens and migrates up to `target` (at most [`Schema::version`]);
    /// tests use a lower target to build old-schema snapshots.
    pub fn open_at(
        &self,
        path: &Path,
        target: u32,
        missing: Missing,
    ) -> Result<Connection, OpenError> {
        let noun = self.noun;
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if missing == Missing::Create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(|source| OpenError::Open {
            noun,
            path: path.to_path_buf(),
            source,
        })?;
        let configure = |source| OpenError::Configure {
            noun,
            path: path.to_path_buf(),
            source,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(configure)?;

        // Read-only look first: nothing below this line may run on a newer file.
        let found = schema_version(&conn).map_err(|source| OpenError::NotADatabase {
            path: path.to_path_buf(),
            source,
        })?;
        self.refuse_newer(path, found)?;

        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(configure)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenError::NoWal {
                noun,
                path: path.to_path_buf(),
                mode,
            });
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(configure)?;
        self.migrate(conn, path, target.min(self.version()))
    }

    /// `PRAGMA integrity_check` and the foreign key check.
    pub fn integrity_check(&self, conn: &Connection) -> Result<(), IntegrityError> {
        let sqlite = |source| IntegrityError::Sqlite {
            noun: self.noun,
            source,
        };
        let mut problems = Vec::new();
        let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(sqlite)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(sqlite)?;
        for row in rows {
            let line = row.map_err(sqlite)?;
            if line != "ok" {
                problems.push(line);
            }
        }
        problems.extend(foreign_key_violations(conn).map_err(sqlite)?);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(IntegrityError::Corrupt {
                noun: self.noun,
                problems,
            })
        }
    }

    fn refuse_newer(&self, path: &Path, found: u32) -> Result<(), OpenError> {
        if found > self.version() {
            return Err(OpenError::NewerSchema {
                noun: self.noun,
                path: path.to_path_buf(),
                found,
                supported: self.version(),
            });
        }
        Ok(())
    }

    fn migrate(
        &self,
        mut conn: Connection,
        path: &Path,
        target: u32,
    ) -> Result<Connection, OpenError> {
        let fail = |version, source| OpenError::Migrate {
            noun: self.noun,
            path: path.to_path_buf(),
            version,
            source,
        };
        // Off outside the transaction (the pragma is a no-op inside one), so
        // a migration may rebuild a table others refer to; checked before
        // commit, and on again whatever happened.
        conn.pragma_update(None, "foreign_keys", false)
            .map_err(|e| fail(target, e))?;
        let result = self.run_migrations(&mut conn, path, target);
        let restored = conn.pragma_update(None, "foreign_keys", true);
        result?;
        restored.map_err(|e| fail(target, e))?;
        Ok(conn)
    }

    fn run_migrations(
        &self,
        conn: &mut Connection,
        path: &Path,
        target: u32,
    ) -> Result<(), OpenError> {
        let fail = |version, source| OpenError::Migrate {
            noun: self.noun,
            path: path.to_path_buf(),
            version,
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| fail(target, e))?;
        // Another process may have migrated between the first look and the lock.
        let current = schema_version(&tx).map_err(|e| fail(target, e))?;
        self.refuse_newer(path, current)?;
        if current >= target {
            tx.rollback().map_err(|e| fail(target, e))?;
            return Ok(());
        }
        for (index, sql) in self
            .migrations
            .iter()
            .enumerate()
            .take(target as usize)
            .skip(current as usize)
        {
            let version = index as u32 + 1;
            tx.execute_batch(sql).map_err(|e| fail(version, e))?;
            tx.pragma_update(None, "user_version", version)
                .map_err(|e| fail(version, e))?;
        }
        let violations = foreign_key_violations(&tx).map_err(|e| fail(target, e))?;
        if !violations.is_empty() {
            return Err(OpenError::ForeignKeys {
                noun: self.noun,
                path: path.to_path_buf(),
                version: target,
                violations,
            });
        }
        tx.commit().map_err(|e| fail(target, e))?;
        Ok(())
    }
}

/// The schema version recorded in the database.
pub fn schema_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// The database's tables by name, sorted (SQLite's own included): what the
/// migrations left.
pub fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
    let names = stmt.query_map([], |r| r.get(0))?;
    names.collect()
}

/// Each row `PRAGMA foreign_key_check` reports, in words.
fn foreign_key_violations(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let rows = stmt.query_map([], |r| {
        Ok(format!(
            "表 {} 第 {} 行引用了 {} 中不存在的记录（foreign key violation）",
            r.get::<_, String>(0)?,
            r.get::<_, Option<i64>>(1)?.unwrap_or_default(),
            r.get::<_, String>(2)?
        ))
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: Schema = Schema {
        noun: "测试库",
        migrations: &[
            // 1: a parent and a child referring to it.
            "CREATE TABLE unit (id TEXT PRIMARY KEY, name TEXT NOT NULL) STRICT;
             CREATE TABLE evidence (
                 unit_id TEXT NOT NULL REFERENCES unit (id),
                 value   INTEGER NOT NULL
             ) STRICT;",
            // 2: the parent rebuilt (a CHECK cannot be added in place), as
            //    SQLite documents it: new table, copy, drop, rename.
            "CREATE TABLE unit_v2 (
                 id   TEXT PRIMARY KEY,
                 name TEXT NOT NULL CHECK (length(name) > 0)
             ) STRICT;
             INSERT INTO unit_v2 (id, name) SELECT id, name FROM unit;
             DROP TABLE unit;
             ALTER TABLE unit_v2 RENAME TO unit;",
        ],
    };

    /// A migration that leaves evidence pointing at a unit it deleted.
    const DANGLING: Schema = Schema {
        noun: "测试库",
        migrations: &[TEST.migrations[0], "DELETE FROM unit WHERE id = 't1';"],
    };

    fn v1_with_rows(path: &Path) {
        let conn = TEST.open_at(path, 1, Missing::Create).unwrap();
        conn.execute_batch(
            "INSERT INTO unit VALUES ('t1', '肖旗乡'), ('t2', '杨庄镇');
             INSERT INTO evidence VALUES ('t1', 300), ('t2', 100);",
        )
        .unwrap();
    }

    #[test]
    fn a_fresh_database_gets_wal_full_sync_foreign_keys_and_every_migration() {
        let dir = tempfile::tempdir().unwrap();
        let conn = TEST
            .open(&dir.path().join("t.db"), Missing::Create)
            .unwrap();
        assert_eq!(schema_version(&conn).unwrap(), 2);
        let pragma = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| format!("{v:?}"))
            .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "Text(\"wal\")");
        assert_eq!(pragma("synchronous"), "Integer(2)", "synchronous = FULL");
        assert_eq!(pragma("foreign_keys"), "Integer(1)");
        assert_eq!(table_names(&conn).unwrap(), ["evidence", "unit"]);
        TEST.integrity_check(&conn).unwrap();
    }

    #[test]
    fn a_missing_file_is_refused_when_it_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let err = TEST.open(&path, Missing::Refuse).unwrap_err();
        assert!(matches!(err, OpenError::Open { .. }), "{err:?}");
        assert!(!path.exists());
    }

    /// The hub's migrations used to run with foreign keys on: the first one
    /// to rebuild a table others refer to would have failed.
    #[test]
    fn a_migration_rebuilding_a_referenced_table_keeps_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        v1_with_rows(&path);
        let conn = TEST.open(&path, Missing::Refuse).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), 2);
        let rows: i64 = conn
            .query_row(
                "SELECT count(*) FROM evidence JOIN unit ON unit.id = evidence.unit_id",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 2);
        TEST.integrity_check(&conn).unwrap();
        // Foreign keys are enforced again after migrating.
        let err = conn
            .execute("INSERT INTO evidence VALUES ('nowhere', 1)", [])
            .unwrap_err();
        assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
    }

    #[test]
    fn a_migration_leaving_a_dangling_reference_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        v1_with_rows(&path);
        let err = DANGLING.open(&path, Missing::Refuse).unwrap_err();
        match &err {
            OpenError::ForeignKeys {
                version,
                violations,
                ..
            } => {
                assert_eq!(*version, 2);
                assert_eq!(violations.len(), 1, "{violations:?}");
                assert!(violations[0].contains("evidence"), "{violations:?}");
            }
            other => panic!("expected ForeignKeys, got {other:?}"),
        }
        assert!(err.to_string().contains("已回滚"), "{err}");
        let raw = Connection::open(&path).unwrap();
        assert_eq!(schema_version(&raw).unwrap(), 1);
        let units: i64 = raw
            .query_row("SELECT count(*) FROM unit", [], |r| r.get(0))
            .unwrap();
        assert_eq!(units, 2, "the deleted unit is back");
    }

    #[test]
    fn a_failing_migration_rolls_back_every_step() {
        // Version 0 already has the table migration 1 creates second.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let old = TEST.open_at(&path, 0, Missing::Create).unwrap();
            old.execute_batch("CREATE TABLE evidence (x INTEGER)")
                .unwrap();
        }
        let err = TEST.open(&path, Missing::Refuse).unwrap_err();
        assert!(
            matches!(err, OpenError::Migrate { version: 1, .. }),
            "{err:?}"
        );
        let raw = Connection::open(&path).unwrap();
        assert_eq!(schema_version(&raw).unwrap(), 0);
        assert_eq!(table_names(&raw).unwrap(), ["evidence"]);
    }

    #[test]
    fn a_newer_database_is_refused_and_left_byte_for_byte_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(TEST.open(&path, Missing::Create).unwrap());
        {
            // A future kaohe wrote this database; simulate it with a raw connection.
            let raw = Connection::open(&path).unwrap();
            raw.pragma_update(None, "user_version", TEST.version() + 1)
                .unwrap();
            raw.execute_batch("PRAGMA journal_mode = DELETE").unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let err = TEST.open(&path, Missing::Refuse).unwrap_err();
        assert!(
            matches!(
                err,
                OpenError::NewerSchema {
                    found: 3,
                    supported: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("测试库未作任何改动"), "{msg}");
        assert!(
            std::fs::read(&path).unwrap() == before,
            "the newer database was modified"
        );
        // Still in the journal mode the newer program left it in.
        let raw = Connection::open(&path).unwrap();
        let mode: String = raw
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_refused_and_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let junk = b"this is a spreadsheet, not a database; ".repeat(40);
        std::fs::write(&path, &junk).unwrap();
        let err = TEST.open(&path, Missing::Refuse).unwrap_err();
        assert!(matches!(err, OpenError::NotADatabase { .. }), "{err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), junk);
    }

    #[test]
    fn an_unmigrated_database_is_brought_to_the_current_schema_and_reopening_is_idempotent() {
        // Version 0 is an empty SQLite file (what a crash before the first
        // migration committed leaves behind).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(TEST.open_at(&path, 0, Missing::Create).unwrap());
        assert_eq!(
            schema_version(&Connection::open(&path).unwrap()).unwrap(),
            0
        );
        drop(TEST.open(&path, Missing::Refuse).unwrap());
        let conn = TEST.open(&path, Missing::Refuse).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), 2);
    }

    #[test]
    fn the_integrity_check_reports_a_dangling_reference() {
        let dir = tempfile::tempdir().unwrap();
        let conn = TEST
            .open(&dir.path().join("t.db"), Missing::Create)
            .unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO evidence VALUES ('nowhere', 1);
             PRAGMA foreign_keys = ON;",
        )
        .unwrap();
        let err = TEST.integrity_check(&conn).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("测试库完整性检查发现问题"), "{msg}");
        assert!(msg.contains("表 evidence 第 1 行引用了 unit"), "{msg}");
    }
}
