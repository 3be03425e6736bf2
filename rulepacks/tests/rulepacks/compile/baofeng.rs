//! The Baofeng 2022 rubric compiled and interpreted on random evidence and
//! sheets, every hand-worked fixture through the runtime, and batches of
//! any size and order giving each unit the same bytes.

use super::*;

#[test]
fn baofeng_random_evidence_matches_the_interpreter() {
    let (_, pack) = baofeng();
    let mut runner = TestRunner::new(config(160));
    runner
        .run(&units_strategy(&pack.manifest, 48), |units| {
            pack.check_evaluate(&units).map_err(TestCaseError::fail)
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn baofeng_random_sheets_match_the_interpreter() {
    let (_, pack) = baofeng();
    let mut runner = TestRunner::new(config(120));
    let sheets = std::cell::Cell::new(0);
    runner
        .run(
            &(
                proptest::collection::vec(finalise_strategy(&pack.manifest), 1..24),
                any::<u64>(),
            ),
            |(units, seed)| {
                pack.check_finalise(&units).map_err(TestCaseError::fail)?;
                let mut inner = seeded_runner(seed);
                let done = sheet_check(pack, &mut inner).map_err(TestCaseError::fail)?;
                sheets.set(sheets.get() + u32::from(done));
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        sheets.get() >= 60,
        "only {} of 120 assessees reached a sheet",
        sheets.get()
    );
}

#[test]
fn every_fixture_passes_through_the_runtime() {
    let mut checked = 0;
    for dir in ["baofeng-2022", "baofeng-2023", "tests/data/mini"] {
        let r = load_rubric(&root().join(dir).join("rubric.toml"));
        let pack = Pack::new(&r);
        let fixtures = Fixture::load_dir(&root().join(dir).join("fixtures"), &r.manifest)
            .expect("fixtures load");
        assert!(!fixtures.is_empty(), "{dir}: no fixtures");
        for fx in &fixtures {
            if let Err(diffs) = fixture::check_with(fx, &pack.compiled) {
                let lines: Vec<String> = diffs.iter().map(ToString::to_string).collect();
                panic!("{dir}/{}: {}", fx.name, lines.join("\n"));
            }
            // And the interpreter agrees with the fixture too (the oracle).
            fixture::check_with(fx, &pack.interp)
                .unwrap_or_else(|d| panic!("{dir}/{}: interpreter: {d:?}", fx.name));
            checked += 1;
        }
    }
    assert!(checked >= 17 + 7 + 6, "only {checked} fixtures checked");
}

/// Splitmix64, for a deterministic shuffle.
fn mix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[test]
fn batch_size_and_order_do_not_change_a_units_bytes() {
    let (_, pack) = baofeng();
    let m = &pack.manifest;
    let mut runner = TestRunner::deterministic();
    let units: Vec<RawUnit> = (0..1000)
        .map(|_| sample(&mut runner, &unit_strategy(m)))
        .collect();
    let statuses: std::collections::BTreeSet<u32> = pack
        .interp
        .evaluate_raw(
            &units
                .iter()
                .map(|u| abi::RawUnitInput {
                    category: u.category,
                    round: u.round,
                    methods: u.methods,
                    reserved: u.reserved,
                    fields: u.fields.clone(),
                    not_applicable: u.marks.clone(),
                })
                .collect::<Vec<_>>(),
        )
        .iter()
        .map(|o| o.status.code())
        .collect();
    assert!(
        statuses.contains(&0) && statuses.contains(&1) && statuses.contains(&6),
        "{statuses:?}"
    );

    let run = |batch: &[RawUnit]| -> Vec<Vec<u8>> {
        let bytes = pack
            .compiled
            .loaded()
            .call_evaluate(&encode_units(m, batch), batch.len() as u32)
            .expect("batch runs");
        unit_records(m, &bytes)
    };
    let whole = run(&units);
    assert_eq!(whole.len(), 1000);
    let want = pack
        .interp
        .evaluate_bytes(&encode_units(m, &units))
        .expect("interpreter");
    assert!(
        whole.concat() == want,
        "batch of 1000 differs from the interpreter"
    );

    let sevens: Vec<Vec<u8>> = units.chunks(7).flat_map(run).collect();
    assert!(
        sevens == whole,
        "batches of 7 differ from one batch of 1000"
    );
    let ones: Vec<Vec<u8>> = units.chunks(1).flat_map(run).collect();
    assert!(ones == whole, "batches of 1 differ from one batch of 1000");

    let mut order: Vec<usize> = (0..units.len()).collect();
    let mut seed = 2022;
    for i in (1..order.len()).rev() {
        let j = (mix(&mut seed) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let shuffled: Vec<RawUnit> = order.iter().map(|&i| units[i].clone()).collect();
    let out = run(&shuffled);
    for (k, &i) in order.iter().enumerate() {
        assert!(
            out[k] == whole[i],
            "unit {i} differs when shuffled to position {k}"
        );
    }
}

#[test]
fn batch_errors_are_the_interpreters() {
    let (_, pack) = baofeng();
    let m = &pack.manifest;
    let mut runner = TestRunner::deterministic();
    let units: Vec<RawUnit> = (0..3)
        .map(|_| sample(&mut runner, &unit_strategy(m)))
        .collect();
    let good = encode_units(m, &units);
    let mut cases: Vec<(Vec<u8>, i64)> = vec![
        (good[..15].to_vec(), -3),
        (Vec::new(), -3),
        ([b"KHFI".as_slice(), &good[4..]].concat(), -1),
        ([&good[..4], &2u32.to_le_bytes(), &good[8..]].concat(), -2),
        (
            [
                &good[..12],
                &(m.fields.len() as u32 + 1).to_le_bytes(),
                &good[16..],
            ]
            .concat(),
            -4,
        ),
        (good[..good.len() - 1].to_vec(), -3),
        ([good.as_slice(), &[0u8; 16]].concat(), -3),
        ([&good[..8], &4u32.to_le_bytes(), &good[12..]].concat(), -3),
        (good[..16].to_vec(), -3),
    ];
    // n = 0 is a valid, empty batch.
    let empty = [&good[..8], &0u32.to_le_bytes(), &good[12..16]].concat();
    cases.push((empty, 0));
    for (k, (input, code)) in cases.iter().enumerate() {
        let n = if *code == 0 { 0 } else { 3 };
        let (got, want) = pack.evaluate(input, n);
        assert_eq!(got, want, "case {k}");
        match want {
            Err(c) => assert_eq!(c, *code, "case {k}"),
            Ok(b) => assert!(b.is_empty() && *code == 0, "case {k}"),
        }
    }
    let fin = encode_finalise(m, &[]);
    let (got, want) = pack.finalise(&fin, 0);
    assert_eq!(got, want);
    let (got, want) = pack.finalise(&fin[..10], 0);
    assert_eq!((got, want), (Err(-3), Err(-3)));
    let (got, want) = pack.finalise(&good, 3);
    assert_eq!((got, want), (Err(-1), Err(-1)));
}
