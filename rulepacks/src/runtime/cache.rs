//! The compiled-module cache: `Module::serialize` output on disk, so a
//! restart does not recompile every pack.
//!
//! ## Trust model
//!
//! Deserialising compiled code is `unsafe` in wasmtime: forged bytes are
//! arbitrary native code. An entry is therefore used only when all hold:
//!
//! 1. the cache directory is owned by the user this process runs as and is
//!    not writable by group or others (checked when the [`ModuleCache`] is
//!    opened; the directory is created `0700` if absent);
//! 2. the entry is a regular file (not a symlink) owned by that user and not
//!    writable by group or others;
//! 3. its name is `hex(SHA-256 of the wasm) - hex(engine compatibility hash)`,
//!    so it belongs to exactly these wasm bytes and this engine
//!    configuration (wasmtime additionally refuses output of another
//!    version or configuration);
//! 4. its body carries the SHA-256 of the serialized bytes, which is checked
//!    before use: a torn or corrupted write is rejected and recompiled;
//! 5. the bytes are read into memory first (not mapped), so a later change
//!    of the file cannot change the loaded code.
//!
//! Entries are written only by [`ModuleCache::put`], to a fresh temporary
//! file (`create_new`, mode `0600`) that is synced and then renamed into
//! place, so a reader never sees a half-written entry under a final name.
//!
//! What this does not defend against: another process running as the same
//! user. Such a process can already replace the `kaohe` binary or its
//! configuration, so neither an HMAC keyed by a file in the same directory
//! nor anything else kept on this disk would raise the bar; the directory's
//! ownership is the trust anchor, and the checksum guards integrity only.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use super::RuntimeError;

/// What happened with the cache for one load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No cache directory is configured.
    Disabled,
    /// The module was deserialised from a verified cache entry.
    Hit,
    /// The module was compiled and its entry written.
    Stored,
    /// The module was compiled but the entry could not be written (the load
    /// still succeeded); the reason is given.
    StoreFailed(String),
    /// An entry existed but failed verification; the module was recompiled
    /// and the entry replaced. The reason is given.
    Rejected(String),
}

const MAGIC: &[u8; 16] = b"kaohe-cwasm-v1\n\0";

/// A directory of compiled modules, trusted as the module docs explain.
#[derive(Debug)]
pub(super) struct ModuleCache {
    dir: PathBuf,
    /// hex(SHA-256 of `Engine::precompile_compatibility_hash`).
    compat: String,
    /// Makes temporary file names unique within this process.
    counter: AtomicU64,
}

impl ModuleCache {
    /// Opens (creating `0700` if needed) and checks the cache directory.
    pub fn open(dir: &Path, engine: &Engine) -> Result<Self, RuntimeError> {
        let cache = Self {
            dir: dir.to_owned(),
            compat: compatibility_hex(engine),
            counter: AtomicU64::new(0),
        };
        cache.check_dir()?;
        Ok(cache)
    }

    /// Looks up the entry for `digest_hex`. `Ok(None)` when there is none;
    /// `Err(reason)` when there is one that must not be used.
    pub fn get(&self, engine: &Engine, digest_hex: &str) -> Result<Option<Module>, String> {
        let path = self.entry_path(digest_hex);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("stat {}: {e}", path.display())),
        };
        if !meta.file_type().is_file() {
            return Err("缓存项不是普通文件 / cache entry is not a regular file".to_owned());
        }
        check_owned_private(&meta, self.owner_uid()?)?;
        let bytes = fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
        let serialized = verify_entry(&bytes)?;
        deserialize_trusted(engine, serialized).map(Some)
    }

    /// Writes the entry for `digest_hex` (temp file + rename).
    pub fn put(&self, digest_hex: &str, module: &Module) -> Result<(), String> {
        let serialized = module.serialize().map_err(|e| format!("serialize: {e}"))?;
        let mut body = Vec::with_capacity(MAGIC.len() + 32 + serialized.len());
        body.extend_from_slice(MAGIC);
        body.extend_from_slice(&Sha256::digest(&serialized));
        body.extend_from_slice(&serialized);

        let final_path = self.entry_path(digest_hex);
        let tmp = self.dir.join(format!(
            ".{digest_hex}.{}.{}.tmp",
            std::process::id(),
            self.counter.fetch_add(1, Ordering::Relaxed)
        ));
        let result = write_private(&tmp, &body)
            .and_then(|()| fs::rename(&tmp, &final_path))
            .map_err(|e| format!("write {}: {e}", final_path.display()));
        if result.is_err() {
            // Best effort: the temporary file is useless now.
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn entry_path(&self, digest_hex: &str) -> PathBuf {
        self.dir.join(format!("{digest_hex}-{}.cwasm", self.compat))
    }

    fn check_dir(&self) -> Result<(), RuntimeError> {
        let err = |what: String| RuntimeError::Cache(format!("{}: {what}", self.dir.display()));
        create_private_dir(&self.dir).map_err(|e| err(e.to_string()))?;
        let meta = fs::symlink_metadata(&self.dir).map_err(|e| err(e.to_string()))?;
        if !meta.file_type().is_dir() {
            return Err(err("不是目录 / not a directory".to_owned()));
        }
        let uid = self.owner_uid().map_err(err)?;
        check_owned_private(&meta, uid).map_err(err)
    }

    /// The uid this process creates files as, learnt without `unsafe` by
    /// creating (and removing) a probe file in the cache directory.
    fn owner_uid(&self) -> Result<u32, String> {
        let probe = self.dir.join(format!(
            ".probe.{}.{}",
            std::process::id(),
            self.counter.fetch_add(1, Ordering::Relaxed)
        ));
        let meta = write_private(&probe, b"")
            .and_then(|()| fs::symlink_metadata(&probe))
            .map_err(|e| format!("probe {}: {e}", probe.display()));
        let _ = fs::remove_file(&probe);
        Ok(file_uid(&meta?))
    }
}

/// Checks the header and checksum of an entry, returning the serialized
/// module bytes.
fn verify_entry(bytes: &[u8]) -> Result<&[u8], String> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or("缓存项头部错误 / bad cache entry header")?;
    if rest.len() < 32 {
        return Err("缓存项被截断 / truncated cache entry".to_owned());
    }
    let (sum, serialized) = rest.split_at(32);
    if Sha256::digest(serialized).as_slice() != sum {
        return Err("缓存项校验和不符 / cache entry checksum mismatch".to_owned());
    }
    Ok(serialized)
}

#[allow(
    unsafe_code,
    reason = "deserialising compiled code is inherently unsafe; the cache trust model bounds it"
)]
fn deserialize_trusted(engine: &Engine, serialized: &[u8]) -> Result<Module, String> {
    // SAFETY: `serialized` is the output of `Module::serialize` written by
    // `ModuleCache::put` of a process of this user: it was read (into memory,
    // so later file changes cannot alter it) from a regular file owned by
    // this user, not writable by group or others, inside a directory with
    // the same properties, named after the wasm digest and this engine's
    // compatibility hash, and its embedded SHA-256 matched. See the module
    // docs for the trust model and what it leaves out. wasmtime itself
    // rejects output of another version or configuration safely.
    unsafe { Module::deserialize(engine, serialized) }.map_err(|e| format!("deserialize: {e}"))
}

/// hex(SHA-256) over the engine's compatibility hash, a stable cache key
/// part (std's `DefaultHasher` is not guaranteed stable across releases).
fn compatibility_hex(engine: &Engine) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            let out = self.0.clone().finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(&out[..8]);
            u64::from_le_bytes(first)
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(hasher.0.finalize())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(unix)]
fn file_uid(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::MetadataExt;
    meta.uid()
}

#[cfg(unix)]
fn check_owned_private(meta: &fs::Metadata, uid: u32) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if meta.uid() != uid {
        return Err(format!(
            "属主 uid {} 不是本进程用户 {uid} / owned by uid {}, not this process's {uid}",
            meta.uid(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "组或其他用户可写（权限 {:o}）/ writable by group or others (mode {:o})",
            meta.mode() & 0o7777,
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private_dir(_dir: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "模块缓存只支持 Unix 主机 / the module cache needs a Unix host",
    ))
}

#[cfg(not(unix))]
fn write_private(_path: &Path, _bytes: &[u8]) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "模块缓存只支持 Unix 主机 / the module cache needs a Unix host",
    ))
}

#[cfg(not(unix))]
fn file_uid(_meta: &fs::Metadata) -> u32 {
    0
}

#[cfg(not(unix))]
fn check_owned_private(_meta: &fs::Metadata, _uid: u32) -> Result<(), String> {
    Err("模块缓存只支持 Unix 主机 / the module cache needs a Unix host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_entry_rejects_flipped_byte_and_truncation() {
        let serialized = b"pretend compiled code".to_vec();
        let mut body = MAGIC.to_vec();
        body.extend_from_slice(&Sha256::digest(&serialized));
        body.extend_from_slice(&serialized);
        assert_eq!(verify_entry(&body).ok(), Some(serialized.as_slice()));

        let mut flipped = body.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(verify_entry(&flipped).is_err());
        assert!(verify_entry(&body[..MAGIC.len() + 10]).is_err());
        assert!(verify_entry(b"not an entry").is_err());
    }
}
