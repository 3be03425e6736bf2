//! Finding pack modules by digest: those the bundle carries, and every
//! `.wasm` file of a folder (by default the bundle's own, where `kaohe hub
//! export` writes them as `pack-<sha256>.wasm`). A file's name proves
//! nothing; its SHA-256 is what the log names.

use std::collections::HashMap;
use std::path::Path;

use kaohe_hub::tlog::bundle::ProofBundle;
use kaohe_proto::model::MAX_PACK_MODULE_BYTES;

use super::VerifyError;

/// Module digest → module.
pub fn find(bundle: &ProofBundle, dir: &Path) -> Result<HashMap<[u8; 32], Vec<u8>>, VerifyError> {
    let mut out = HashMap::new();
    for module in bundle
        .carried_modules()
        .map_err(|_| VerifyError::BadCarriedModule)?
    {
        out.insert(kaohe_rulepacks::pack::sha256(&module), module);
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_wasm = path.extension().is_some_and(|e| e == "wasm");
        let small = entry
            .metadata()
            .is_ok_and(|m| m.is_file() && m.len() <= MAX_PACK_MODULE_BYTES as u64);
        if is_wasm
            && small
            && let Ok(module) = std::fs::read(&path)
        {
            out.insert(kaohe_rulepacks::pack::sha256(&module), module);
        }
    }
    Ok(out)
}
