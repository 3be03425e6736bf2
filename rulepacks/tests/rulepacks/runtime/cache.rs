//! The cache of compiled modules by digest: stored then hit, a corrupted
//! entry recompiled and replaced, unsafe directories and entries refused.

use super::*;

fn cached_runtime(dir: &Path) -> Runtime {
    runtime_with(RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        ..RuntimeConfig::default()
    })
}

fn only_entry(dir: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one entry, no temporary files: {entries:?}"
    );
    entries.into_iter().next().unwrap()
}

fn sample_output(pack: &LoadedPack) -> Vec<u8> {
    pack.call_evaluate(&sample_input(), 5).unwrap()
}

#[test]
fn cache_stores_then_hits_across_runtimes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("modules");
    let wasm = fixture("abi-pack");

    let first = cached_runtime(&dir).load(&wasm).unwrap();
    assert_eq!(*first.cache_outcome(), CacheOutcome::Stored);
    let entry = only_entry(&dir);
    let name = entry.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&hex::encode(first.digest())), "{name}");

    let second = cached_runtime(&dir).load(&wasm).unwrap();
    assert_eq!(*second.cache_outcome(), CacheOutcome::Hit);
    assert_eq!(sample_output(&first), sample_output(&second));
    assert_eq!(
        decode_evaluate(&sample_output(&second), 5),
        expected_sample()
    );
}

#[test]
fn corrupted_cache_entry_is_rejected_recompiled_and_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("modules");
    let wasm = fixture("abi-pack");
    cached_runtime(&dir).load(&wasm).unwrap();
    let entry = only_entry(&dir);
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&entry, &bytes).unwrap();

    let again = cached_runtime(&dir).load(&wasm).unwrap();
    assert!(
        matches!(again.cache_outcome(), CacheOutcome::Rejected(r) if r.contains("checksum")),
        "{:?}",
        again.cache_outcome()
    );
    assert_eq!(
        decode_evaluate(&sample_output(&again), 5),
        expected_sample()
    );
    assert_eq!(
        *cached_runtime(&dir).load(&wasm).unwrap().cache_outcome(),
        CacheOutcome::Hit
    );
}

#[cfg(unix)]
#[test]
fn cache_refuses_directories_and_entries_others_can_write() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("modules");
    let wasm = fixture("abi-pack");
    cached_runtime(&dir).load(&wasm).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "created private");
    let entry = only_entry(&dir);
    assert_eq!(mode(&entry), 0o600, "written private");

    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    let pack = cached_runtime(&dir).load(&wasm).unwrap();
    assert!(
        matches!(pack.cache_outcome(), CacheOutcome::Rejected(r) if r.contains("writable")),
        "{:?}",
        pack.cache_outcome()
    );

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(
        err(Runtime::new(RuntimeConfig {
            cache_dir: Some(dir.clone()),
            ..RuntimeConfig::default()
        })),
        RuntimeError::Cache(_)
    ));
}
