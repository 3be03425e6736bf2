//! 证明包（proof bundles）beside the documents: `<out>/proofs/<unit-id>.json`
//! for every unit of the year ([`crate::tlog::bundle`]), and the pack
//! modules they name as `<out>/proofs/pack-<sha256>.wasm`, so that
//! `kaohe verify proofs/<unit-id>.json` finds them with no other folder.

use std::path::{Path, PathBuf};

use crate::tlog::BundleSet;

use super::{ExportError, write_atomically, write_err};

/// The folder under the export directory.
pub const PROOFS_DIR: &str = "proofs";

/// The file name of a pack module in the proofs folder.
pub fn module_file_name(sha256_hex: &str) -> String {
    format!("pack-{sha256_hex}.wasm")
}

/// Writes every bundle and module of `set` under `out_dir/proofs/`; returns
/// the paths written (bundles by unit id, then modules). Each file is
/// written under a temporary name and renamed into place.
pub fn write_proofs(set: &BundleSet, out_dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
    let dir = out_dir.join(PROOFS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| write_err(&dir, e))?;
    let mut written = Vec::with_capacity(set.bundles.len() + set.modules.len());
    for bundle in &set.bundles {
        let path = dir.join(format!("{}.json", bundle.unit_id));
        write_atomically(&path, &bundle.to_bytes())?;
        written.push(path);
    }
    for (sha, module) in &set.modules {
        let path = dir.join(module_file_name(sha));
        write_atomically(&path, module)?;
        written.push(path);
    }
    Ok(written)
}
