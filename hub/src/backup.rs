//! 备份与恢复（backup and restore）of `DATA_DIR/hub.db`.
//!
//! **Backup** uses SQLite's online backup API, so it can run while
//! `kaohe hub serve` is writing (WAL): the copy is one consistent snapshot.
//! It is written to a temporary file next to the target, switched to the
//! rollback journal (a single self-contained file), checked with
//! `PRAGMA integrity_check`, synced, and only then linked into place — an
//! existing file is never overwritten (the link fails if the name exists).
//! The backup is recorded in the live database's audit log afterwards, so the
//! copy does not contain its own record.
//!
//! **Restore** installs a backup into a data directory that has no `hub.db`
//! (a live database is never overwritten): the file is copied to a temporary
//! name in the data directory, its schema version is read (a backup newer
//! than this code is refused), `PRAGMA integrity_check` must pass, then it is
//! opened normally (an older schema is migrated), the restore is audit-logged
//! in it, and it is linked into place as `hub.db`.
//!
//! Neither touches `hub.toml` or the receipt key `hub-receipt.key`: those are
//! kept separately (see `deploy/README.md`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sha2::{Digest as _, Sha256};

use crate::audit::{self, Actor};
use crate::db::{self, DB_FILE, IntegrityError, OpenError, SCHEMA_VERSION};

/// Audit action of a backup (recorded in the live database).
pub const ACTION_BACKUP: &str = "hub.backup";
/// Audit action of a restore (recorded in the restored database).
pub const ACTION_RESTORE: &str = "hub.restore";

/// Pages copied per step of the online backup: all of them in one step, so
/// the copy is read inside one read transaction. In WAL mode that does not
/// block the server's writes, and a write by another connection cannot make
/// the backup restart (which smaller steps would, possibly forever).
const PAGES_PER_STEP: std::os::raw::c_int = std::os::raw::c_int::MAX;
const PAUSE_BETWEEN_STEPS: Duration = Duration::from_millis(5);

/// What a backup or restore produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The file written (backup) or installed (restore).
    pub path: PathBuf,
    pub bytes: u64,
    /// SHA-256 of the backup file, hex.
    pub sha256: String,
    /// Schema version of the backup file as read (before any migration).
    pub schema_version: u32,
}

/// A backup or restore was refused or failed; nothing was left behind.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path} 已存在，不会覆盖（already exists; nothing overwritten）")]
    Exists { path: PathBuf },
    #[error(
        "数据目录 {dir} 中已有数据库 {DB_FILE}，恢复不会覆盖在用的数据库；请换一个空的数据目录（a database is already there; restore into an empty data directory）"
    )]
    LiveDatabase { dir: PathBuf },
    #[error("{path}：文件操作失败（file operation failed）：{source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("备份时 SQLite 出错（SQLite error during backup）：{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path} 不是可读的 SQLite 数据库（not a SQLite database）：{source}")]
    NotADatabase {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "备份文件 {path} 的结构版本是 {found}，比本程序支持的 {supported} 新；请用新版 kaohe 恢复（backup schema {found} is newer than supported {supported}）"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "备份副本不能切换到单文件日志模式，实际为 {mode}（cannot switch the copy to journal_mode DELETE）"
    )]
    JournalMode { mode: String },
    #[error("{path}：{source}")]
    Integrity {
        path: PathBuf,
        source: IntegrityError,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Removes the temporary file (and any SQLite side files) unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
        }
    }
}

/// A fresh temporary name next to `target`, created empty (exclusively).
fn temp_beside(target: &Path) -> Result<(PathBuf, TempGuard), BackupError> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "hub.db".into());
    let mut n = 0u32;
    loop {
        let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(_) => return Ok((tmp.clone(), TempGuard(Some(tmp)))),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(io(&tmp)(e)),
        }
    }
}

/// Links `tmp` to `target` (fails if `target` exists), removes `tmp` and
/// syncs the directory.
fn install(tmp: &Path, target: &Path, guard: &mut TempGuard) -> Result<(), BackupError> {
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(io(tmp))?;
    std::fs::hard_link(tmp, target).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            BackupError::Exists {
                path: target.to_path_buf(),
            }
        } else {
            io(target)(e)
        }
    })?;
    // From here on the target is complete; the guard only removes the temp name.
    drop(std::mem::take(&mut guard.0));
    std::fs::remove_file(tmp).map_err(io(tmp))?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Best effort: not every platform can open a directory for syncing.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<(u64, String), BackupError> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// Reads the schema version of the file at `path` without writing to it,
/// refuses a newer one and runs the integrity check.
fn check_file(path: &Path, shown_as: &Path) -> Result<u32, BackupError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| BackupError::NotADatabase {
        path: shown_as.to_path_buf(),
        source,
    })?;
    let found = db::schema_version(&conn).map_err(|source| BackupError::NotADatabase {
        path: shown_as.to_path_buf(),
        source,
    })?;
    if found > SCHEMA_VERSION {
        return Err(BackupError::NewerSchema {
            path: shown_as.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    db::integrity_check(&conn).map_err(|source| BackupError::Integrity {
        path: shown_as.to_path_buf(),
        source,
    })?;
    Ok(found)
}

/// Copies the live database of `data_dir` to `out` (which must not exist)
/// with the online backup API, checks the copy and audit-logs the backup.
pub fn backup(data_dir: &Path, out: &Path, actor: &Actor) -> Result<BackupReport, BackupError> {
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(BackupError::Exists {
            path: out.to_path_buf(),
        });
    }
    let source = db::open_existing(data_dir)?;
    let (tmp, mut guard) = temp_beside(out)?;
    {
        let mut dest = Connection::open(&tmp)?;
        {
            let step = rusqlite::backup::Backup::new(&source, &mut dest)?;
            step.run_to_completion(PAGES_PER_STEP, PAUSE_BETWEEN_STEPS, None)?;
        }
        // One self-contained file: no -wal beside the backup.
        let mode: String = dest.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(BackupError::JournalMode { mode });
        }
        dest.close().map_err(|(_, e)| e)?;
    }
    let schema_version = check_file(&tmp, out)?;
    let (bytes, sha256) = sha256_file(&tmp)?;
    install(&tmp, out, &mut guard)?;
    let shown = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    audit::append(
        &source,
        actor,
        ACTION_BACKUP,
        &format!("file:{}", shown.display()),
        &serde_json::json!({
            "bytes": bytes,
            "sha256": sha256,
            "schema_version": schema_version,
        }),
    )?;
    Ok(BackupReport {
        path: out.to_path_buf(),
        bytes,
        sha256,
        schema_version,
    })
}

/// Installs the backup `from` as `data_dir/hub.db`; refuses when a database
/// is already there, when the backup is newer than this code or fails the
/// integrity check.
pub fn restore(data_dir: &Path, from: &Path, actor: &Actor) -> Result<BackupReport, BackupError> {
    let target = data_dir.join(DB_FILE);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = target.clone().into_os_string();
        p.push(suffix);
        if std::fs::symlink_metadata(PathBuf::from(p)).is_ok() {
            return Err(BackupError::LiveDatabase {
                dir: data_dir.to_path_buf(),
            });
        }
    }
    std::fs::metadata(from).map_err(io(from))?;
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let (tmp, mut guard) = temp_beside(&target)?;
    std::fs::copy(from, &tmp).map_err(io(&tmp))?;
    let (bytes, sha256) = sha256_file(&tmp)?;
    let schema_version = check_file(&tmp, from)?;
    {
        // Normal open: WAL, foreign keys, migration of an older schema.
        let conn = db::open(&tmp)?;
        db::integrity_check(&conn).map_err(|source| BackupError::Integrity {
            path: from.to_path_buf(),
            source,
        })?;
        let shown = std::path::absolute(from).unwrap_or_else(|_| from.to_path_buf());
        audit::append(
            &conn,
            actor,
            ACTION_RESTORE,
            &format!("file:{}", shown.display()),
            &serde_json::json!({
                "bytes": bytes,
                "sha256": sha256,
                "schema_version": schema_version,
                "migrated_to": SCHEMA_VERSION,
            }),
        )?;
        // Fold the WAL back into the file before it is linked into place.
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
        conn.close().map_err(|(_, e)| e)?;
    }
    install(&tmp, &target, &mut guard).map_err(|e| match e {
        BackupError::Exists { .. } => BackupError::LiveDatabase {
            dir: data_dir.to_path_buf(),
        },
        other => other,
    })?;
    Ok(BackupReport {
        path: target,
        bytes,
        sha256,
        schema_version,
    })
}
