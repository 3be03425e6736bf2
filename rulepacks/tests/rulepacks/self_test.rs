//! A pack's embedded self-test (issue #13 §3): `kaohe pack build` records
//! the rubric's fixtures with the interpreter's answers; `Pack::self_test`
//! replays them in the sandbox and refuses any difference — a wrong score,
//! or a pack that loads but cannot evaluate at all.

use std::path::Path;

use kaohe_rulepacks::compile;
use kaohe_rulepacks::fixture::Fixture;
use kaohe_rulepacks::manifest::ABI_V1;
use kaohe_rulepacks::pack::{Pack, PackError};
use kaohe_rulepacks::rubric::{self, CheckedRubric};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
use kaohe_rulepacks::selftest::{SelfTest, SelfTestError};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

fn baofeng() -> (CheckedRubric, Vec<Fixture>) {
    let r = rubric::load(&root().join("baofeng-2022/rubric.toml")).expect("rubric");
    let fixtures =
        Fixture::load_dir(&root().join("baofeng-2022/fixtures"), &r.manifest).expect("fixtures");
    (r, fixtures)
}

#[test]
fn a_built_pack_carries_its_fixtures_and_passes_them_in_the_sandbox() {
    let (r, fixtures) = baofeng();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.wasm");
    let report = compile::build(&r, &root().join("baofeng-2022/fixtures"), &out).unwrap();
    assert!(
        report.contains("内嵌自检") && report.contains("ABI 2.1"),
        "{report}"
    );
    let wasm = std::fs::read(&out).unwrap();
    let section = kaohe_rulepacks::selftest::section(&wasm).expect("a self-test section");
    let test = SelfTest::decode(section).unwrap();
    // Every round of every fixture; a sheet for each fixture that states one
    // or expects finalise to refuse.
    let rounds: usize = fixtures.iter().map(|f| f.evidence.rounds.len()).sum();
    assert_eq!(test.evaluate.units as usize, rounds);
    assert!(test.finalise.units as usize >= fixtures.len() - 3);
    let pack = Pack::load_as_found(&runtime(), &wasm).unwrap();
    let passed = pack.self_test().unwrap().expect("present");
    assert_eq!(passed.evaluate_units as usize, rounds);

    // The same rubric built as an ABI 1 pack carries and passes its
    // self-test in ABI 1's layouts.
    let v1 = r.clone().with_abi(ABI_V1);
    let out_v1 = dir.path().join("b1.wasm");
    let report = compile::build(&v1, &root().join("baofeng-2022/fixtures"), &out_v1).unwrap();
    assert!(report.contains("ABI 1.1"), "{report}");
    let wasm_v1 = std::fs::read(&out_v1).unwrap();
    let test_v1 = SelfTest::decode(kaohe_rulepacks::selftest::section(&wasm_v1).unwrap()).unwrap();
    assert_eq!(test_v1.evaluate.units, test.evaluate.units);
    assert_ne!(test_v1.evaluate.input, test.evaluate.input, "other layouts");
    assert_eq!(
        test_v1.finalise.output, test.finalise.output,
        "the finalise output is one layout"
    );
    let pack_v1 = Pack::load_as_found(&runtime(), &wasm_v1).unwrap();
    assert_eq!(
        pack_v1
            .self_test()
            .unwrap()
            .expect("present")
            .evaluate_units as usize,
        rounds
    );

    // A pack compiled without one (as before self-tests) reports none.
    let bare = compile::compile(&r).unwrap();
    assert_eq!(
        Pack::load_as_found(&runtime(), &bare)
            .unwrap()
            .self_test()
            .unwrap(),
        None
    );
}

#[test]
fn a_pack_whose_answers_differ_from_its_self_test_is_refused_naming_the_difference() {
    let (r, fixtures) = baofeng();
    let mut test = compile::self_test(&r, &fixtures).unwrap();
    // One recorded score 0.01 lower: the pack no longer answers as recorded.
    // ABI 2.1: unit 0's evaluated set, its not-applicable set, its scores.
    let m = &r.manifest;
    assert!(m.is_v2() && m.has_not_applicable());
    let s1 = m.indicator_index("S1").unwrap();
    assert_ne!(
        test.evaluate.output[16 + s1 / 8] & (1 << (s1 % 8)),
        0,
        "S1 evaluated in unit 0"
    );
    let at = 16 + 16 * m.indicator_words() + 8 * s1; // unit 0, S1's score
    assert!(test.evaluate.output[at] > 0);
    test.evaluate.output[at] -= 1;
    assert!(at < m.evaluate_output_fixed());
    let wasm = compile::compile_with_self_test(&r, &test).unwrap();
    let pack = Pack::load_as_found(&runtime(), &wasm).expect("it loads");
    match pack.self_test() {
        Err(PackError::SelfTest {
            source: SelfTestError::Failed(reason),
            ..
        }) => assert!(
            reason.contains("第 1 个单位") && reason.contains("S1"),
            "{reason}"
        ),
        other => panic!("expected a failed self-test, got {other:?}"),
    }
}

#[test]
fn a_pack_that_loads_but_cannot_evaluate_fails_its_self_test() {
    // The mini rubric's self-test carried by a module whose evaluate answers
    // the wrong length: it loads (its ABI version and manifest are fine) and
    // only running it shows the fault.
    // An ABI 1 pack: wrong-length.wat speaks ABI 1.
    let r = rubric::load(&root().join("tests/data/mini/rubric.toml"))
        .unwrap()
        .with_abi(ABI_V1);
    let fx = "title = \"t\"\ncategory = \"dept\"\nmethods = [\"review\"]\n[evidence.annual]\nstaff_total = 10\nstaff_front = 9\nhas_plan = true\navg_score = 80\n[expected.annual.indicators]\n";
    let fixture = Fixture::parse("t.toml", "t.toml", fx, &r.manifest).unwrap();
    let test = compile::self_test(&r, &[fixture]).unwrap();
    let path = root().join("fixtures/wat/wrong-length.wat");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("(@custom \"kaohe-manifest\"").unwrap();
    let end = start + text[start..].find(")\n").unwrap() + 1;
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("\\{b:02x}")).collect() };
    let text = format!(
        "{}(@custom \"kaohe-manifest\" \"{}\") (@custom \"kaohe-selftest\" \"{}\"){}",
        &text[..start],
        hex(&r.manifest.to_canonical_json()),
        hex(&test.encode()),
        &text[end..]
    );
    let wasm = wat::parse_str(&text).unwrap();
    let pack = Pack::load_as_found(&runtime(), &wasm).expect("it loads");
    match pack.self_test() {
        Err(PackError::SelfTest {
            source: SelfTestError::Failed(reason),
            ..
        }) => assert!(
            reason.contains("运行失败") && reason.contains("输出长度"),
            "{reason}"
        ),
        other => panic!("expected a failed self-test, got {other:?}"),
    }
}

#[test]
fn build_refuses_without_fixtures_or_with_a_fixture_the_interpreter_contradicts() {
    let (r, _) = baofeng();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.wasm");
    let empty = dir.path().join("none");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(
        compile::build(&r, &empty, &out),
        Err(compile::BuildError::NoFixtures { .. })
    ));
    // A fixture whose hand-worked S1 is off by 0.01.
    let fixtures = dir.path().join("f");
    std::fs::create_dir(&fixtures).unwrap();
    let good = std::fs::read_to_string(
        root().join("baofeng-2022/fixtures/18-government-not-applicable-converted.toml"),
    )
    .unwrap();
    std::fs::write(
        fixtures.join("18.toml"),
        good.replacen("S1 = 9.3", "S1 = 9.31", 1),
    )
    .unwrap();
    match compile::build(&r, &fixtures, &out) {
        Err(e @ compile::BuildError::FixtureFails { .. }) => {
            assert!(e.to_string().contains("S1"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!out.exists(), "nothing written");
}
