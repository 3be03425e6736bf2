#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match kaohe_rulepacks::rubric::compile("fuzz.toml", text) {
        Ok(r) => {
            // A checked rubric must be usable by the interpreter.
            let _ = kaohe_rulepacks::interp::Interpreter::new(&r);
            let _ = r.manifest.to_canonical_json();
        }
        Err(d) => {
            let _ = d.render();
            let _ = d.to_string();
        }
    }
});
