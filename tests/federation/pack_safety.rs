//! Issue #13 §3 through the real binaries: a pack cannot break a year.
//! A signed pack that scores otherwise than its own self-test is refused
//! by `kaohe hub pack publish` and by `kaohe node pack install`, the last
//! good pack staying active; a signed module built to be slow to compile
//! is refused at publish in a moment, naming the limit it breaks.

use std::time::Instant;

use kaohe_rulepacks::compile;
use kaohe_rulepacks::fixture::Fixture;

use super::*;

/// The 2022 rubric as `version`, with `edit` applied to its text.
fn rubric_v(
    version: u32,
    edit: impl Fn(String) -> String,
) -> kaohe_rulepacks::rubric::CheckedRubric {
    let src = std::fs::read_to_string(crate::repo("rulepacks/baofeng-2022/rubric.toml")).unwrap();
    let src = edit(src.replacen("\nversion = 1\n", &format!("\nversion = {version}\n"), 1));
    kaohe_rulepacks::rubric::compile("rubric.toml", &src).unwrap_or_else(|d| panic!("{d}"))
}

/// Signs `wasm` (written to `path`) with both authorities.
fn signed(f: &Federation, path: &Path, wasm: &[u8]) {
    std::fs::write(path, wasm).unwrap();
    kaohe_ok(&[
        "pack",
        "sign",
        s(path),
        "--key",
        s(&f.authorities[0].key),
        "--key",
        s(&f.authorities[1].key),
    ]);
}

fn current_hub_version(f: &Federation) -> i64 {
    f.hub_db()
        .query_row(
            "SELECT version FROM packs WHERE pack_id = 'baofeng' AND year = 2022 AND is_current = 1",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn a_pack_scoring_otherwise_than_its_self_test_is_refused_at_publish_and_install() {
    let mut f = Federation::new(1, "satisfaction");
    f.start_hub(None);
    f.sync();

    // v2 whose satisfaction formula lost a coefficient (0.3 for 0.2), with
    // the self-test of the true rubric: signed by both authorities, loads
    // fine, but scores otherwise than it was built to.
    let good = rubric_v(2, |s| s);
    let fixtures = Fixture::load_dir(
        &crate::repo("rulepacks/baofeng-2022/fixtures"),
        &good.manifest,
    )
    .unwrap();
    let test = compile::self_test(&good, &fixtures).unwrap();
    let wrong = rubric_v(2, |s| {
        s.replacen(
            "score = \"10 - (100 - sat_rate) * 0.2\"",
            "score = \"10 - (100 - sat_rate) * 0.3\"",
            1,
        )
    });
    let wasm = compile::compile_with_self_test(&wrong, &test).unwrap();
    let file = f.root().join("baofeng-2022-v2.wasm");
    signed(&f, &file, &wasm);

    let o = kaohe(&f.hub_args(&["pack", "publish", s(&file)]));
    let text = all_output(&o);
    assert!(!o.status.success(), "published:\n{text}");
    assert!(
        text.contains("自检未通过") && text.contains("S1"),
        "the hub names the difference:\n{text}"
    );
    assert_eq!(current_hub_version(&f), 1, "v1 stays current");

    let err = f.node_fails(&["pack", "install", s(&file), "--operator", "王科员"]);
    assert!(err.contains("自检未通过") && err.contains("S1"), "{err}");
    assert_eq!(
        f.store()
            .active_pack(2022)
            .unwrap()
            .unwrap()
            .identity
            .version,
        1,
        "v1 stays active at the node"
    );

    // The same pack built honestly passes at both, and says so.
    let honest = f.build_pack(3);
    let out = f.hub(&["pack", "publish", s(&honest)]);
    assert!(out.contains("已发布规则包 baofeng-2022 v3"), "{out}");
    let out = f.node(&["pack", "install", s(&honest), "--operator", "王科员"]);
    assert!(out.contains("自检通过"), "{out}");
    f.finish();
}

/// 380,000 tiny functions and the 2022 v2 manifest: the module that took
/// 35–41 s and 2.2 GB to compile at every publish, install and evaluate.
fn hostile(manifest: &[u8]) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, CustomSection, Function, FunctionSection, Module, TypeSection, ValType,
    };
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut tiny = Function::new([]);
    tiny.instructions().i32_const(1).end();
    for _ in 0..380_000 {
        functions.function(0);
        code.function(&tiny);
    }
    let mut m = Module::new();
    m.section(&types)
        .section(&functions)
        .section(&code)
        .section(&CustomSection {
            name: "kaohe-manifest".into(),
            data: manifest.into(),
        });
    m.finish()
}

#[test]
fn a_module_built_to_be_slow_to_compile_is_refused_at_publish_in_a_moment() {
    let mut f = Federation::new(1, "satisfaction");
    f.start_hub(None);
    let manifest = rubric_v(2, |s| s).manifest.to_canonical_json();
    let file = f.root().join("hostile-v2.wasm");
    signed(&f, &file, &hostile(&manifest));
    let started = Instant::now();
    let o = kaohe(&f.hub_args(&["pack", "publish", s(&file)]));
    // Measured, not asserted (the process start is most of it).
    println!(
        "hostile module refused by `kaohe hub pack publish` in {:?}",
        started.elapsed()
    );
    let text = all_output(&o);
    assert!(!o.status.success(), "published:\n{text}");
    assert!(
        text.contains("静态上限") && text.contains("函数个数") && text.contains("380000"),
        "{text}"
    );
    assert_eq!(current_hub_version(&f), 1, "v1 stays current");
    f.finish();
}
