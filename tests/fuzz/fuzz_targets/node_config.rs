#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let d = std::env::temp_dir().join("kaohe-fuzz-config");
        std::fs::create_dir_all(&d).unwrap();
        d.join("node.toml")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = kaohe_node::config::NodeConfig::parse(text, path()) {
        let _ = e.to_string();
    }
});
