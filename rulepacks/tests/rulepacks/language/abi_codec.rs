//! The byte codec of ABI.md: round trips, refusals of malformed batches
//! and outputs, quarter combination and merging.

use super::*;
use proptest::prelude::*;

fn units(m: &Manifest) -> Vec<UnitInput> {
    let mut v = vec![None; m.fields.len()];
    v[m.field_index("has_plan").expect("f")] = Some(100);
    vec![
        UnitInput {
            category: 1,
            round: Round::Annual,
            methods: m.all_methods_mask(),
            values: v.clone(),
            not_applicable: Vec::new(),
        },
        UnitInput {
            category: 0,
            round: Round::Q2,
            methods: 1,
            values: {
                let mut x = v;
                x[0] = Some(0);
                x
            },
            not_applicable: Vec::new(),
        },
    ]
}

#[test]
fn roundtrip_and_byte_level_interpreter() {
    for r in [mini(), mini_v1()] {
        roundtrip(&r);
    }
}

fn roundtrip(r: &CheckedRubric) {
    let m = &r.manifest;
    let i = Interpreter::new(r);
    let u = units(m);
    let bytes = abi::encode_evaluate_input(m, &u).expect("encode");
    assert_eq!(bytes.len(), 16 + 2 * m.evaluate_input_record());
    assert_eq!(&bytes[..4], b"KHEV");
    let raw = abi::decode_evaluate_input(m, &bytes).expect("decode");
    assert_eq!(
        raw,
        u.iter().map(abi::RawUnitInput::from).collect::<Vec<_>>()
    );
    let typed = i.evaluate(&u);
    let out = i.evaluate_bytes(&bytes).expect("evaluate");
    assert_eq!(
        abi::decode_evaluate_output(m, 2, &out).expect("valid output"),
        typed
    );
    assert_eq!(typed[1].indicators[0], Some(700), "Q2: no sessions → L1 7");
    assert_eq!(typed[1].clauses[0], Some(300));

    let f = FinaliseInput {
        category: 1,
        penalty_cap_override: Some(0),
        scores: vec![
            Some(1000),
            Some(3000),
            None,
            None,
            Some(0),
            Some(0),
            Some(0),
            Some(0),
        ],
        not_applicable: Vec::new(),
    };
    let fb = abi::encode_finalise_input(m, std::slice::from_ref(&f)).expect("encode");
    let fout = i.finalise_bytes(&fb).expect("finalise");
    assert_eq!(fout.len(), 72);
    assert_eq!(
        abi::decode_finalise_output(m, 1, &fout).expect("valid"),
        i.finalise(&[f])
    );
}

#[test]
fn encoder_refuses_a_wrong_value_count() {
    let r = mini();
    let mut u = units(&r.manifest);
    u[1].values.pop();
    assert!(matches!(
        abi::encode_evaluate_input(&r.manifest, &u),
        Err(abi::AbiError::ValueCount { unit: 1, .. })
    ));
}

#[test]
fn batch_errors_in_order() {
    for r in [mini(), mini_v1()] {
        batch_errors(&r);
    }
}

fn batch_errors(r: &CheckedRubric) {
    let m = &r.manifest;
    let i = Interpreter::new(r);
    let good = abi::encode_evaluate_input(m, &units(m)).expect("encode");
    let bad = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        i.evaluate_bytes(&b).expect_err("refused")
    };
    assert_eq!(bad(&|b| b.truncate(15)), abi::BatchError::BadLength);
    assert_eq!(bad(&|b| b[0] = b'X'), abi::BatchError::BadMagic);
    assert_eq!(bad(&|b| b[4] = 9), abi::BatchError::WrongAbi);
    assert_eq!(bad(&|b| b[12] = 99), abi::BatchError::CountsDisagree);
    assert_eq!(bad(&|b| b.push(0)), abi::BatchError::BadLength);
    assert_eq!(bad(&|b| b[8] = 3), abi::BatchError::BadLength);
    assert_eq!(
        abi::BatchError::from_code(-4),
        Some(abi::BatchError::CountsDisagree)
    );
    assert_eq!(i.finalise_bytes(&good), Err(abi::BatchError::BadMagic));
}

#[test]
fn malformed_outputs_are_refused() {
    let r = mini_v1();
    let m = &r.manifest;
    let i = Interpreter::new(&r);
    let out = i
        .evaluate_bytes(&abi::encode_evaluate_input(m, &units(m)).expect("e"))
        .expect("o");
    let rec = m.evaluate_output_record();
    let refused = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = out.clone();
        f(&mut b);
        abi::decode_evaluate_output(m, 2, &b).is_err()
    };
    assert!(
        refused(&|b| {
            b.pop();
        }),
        "short"
    );
    assert!(refused(&|b| b[0] = 9), "unknown status");
    assert!(refused(&|b| b[0] = 5), "finalise-only status");
    assert!(refused(&|b| b[16] = 2), "state 2");
    assert!(refused(&|b| b[rec] = 2), "failed unit with scores");
    assert!(
        refused(&|b| b[8..16].copy_from_slice(&u64::MAX.to_le_bytes())),
        "fuel above budget"
    );
    // indicator 0 of unit 0 not evaluated but with a score
    // unit 0's L2 (index 1) evaluated: clear its state, keep its score
    assert!(refused(&|b| b[32] = 0), "score without state");
    // score above the indicator's points (L1 = 10 points)
    assert!(
        refused(&|b| b[rec + 24..rec + 32].copy_from_slice(&1001i64.to_le_bytes())),
        "score out of range"
    );
    assert!(!refused(&|_| {}), "the original is fine");

    let fout = i
        .finalise_bytes(
            &abi::encode_finalise_input(
                m,
                &[FinaliseInput {
                    category: 1,
                    penalty_cap_override: None,
                    scores: vec![
                        Some(1000),
                        Some(3000),
                        None,
                        None,
                        Some(0),
                        Some(0),
                        Some(0),
                        Some(0),
                    ],
                    not_applicable: Vec::new(),
                }],
            )
            .expect("e"),
        )
        .expect("o");
    let frefused = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = fout.clone();
        f(&mut b);
        abi::decode_finalise_output(m, 1, &b).is_err()
    };
    assert!(!frefused(&|_| {}));
    assert!(
        frefused(&|b| b[48] ^= 1),
        "total ≠ converted + bonus − penalty"
    );
    assert!(frefused(&|b| b[56] = 9), "grade out of range");
    assert!(frefused(&|b| b[64] = 4), "flags out of range");
    assert!(frefused(&|b| b[0] = 1), "evaluate-only status");
}

#[test]
fn combine_quarters_table() {
    use kaohe_rulepacks::manifest::{Combine, IndicatorKind as K};
    let q = |a: [Option<i64>; 4]| a;
    assert_eq!(
        abi::combine_quarters(
            Combine::Mean,
            K::Scored,
            1000,
            q([Some(700), Some(1000), Some(800), None])
        ),
        Some(833)
    );
    assert_eq!(
        abi::combine_quarters(
            Combine::Mean,
            K::Scored,
            1000,
            q([Some(1), Some(2), None, None])
        ),
        Some(2),
        "1.5 → 2"
    );
    assert_eq!(
        abi::combine_quarters(
            Combine::Sum,
            K::Scored,
            1000,
            q([Some(700), Some(1000), Some(800), Some(1000)])
        ),
        Some(500)
    );
    assert_eq!(
        abi::combine_quarters(
            Combine::Sum,
            K::Scored,
            1000,
            q([Some(0), Some(0), Some(0), Some(0)])
        ),
        Some(0)
    );
    assert_eq!(
        abi::combine_quarters(
            Combine::Sum,
            K::Bonus,
            500,
            q([Some(200), Some(200), Some(200), None])
        ),
        Some(500)
    );
    assert_eq!(
        abi::combine_quarters(
            Combine::Last,
            K::Scored,
            1000,
            q([Some(700), Some(900), None, None])
        ),
        Some(900)
    );
    assert_eq!(
        abi::combine_quarters(
            Combine::Mean,
            K::Flag,
            0,
            q([Some(0), Some(100), Some(0), None])
        ),
        Some(100)
    );
    assert_eq!(
        abi::combine_quarters(Combine::Mean, K::Scored, 1000, q([None; 4])),
        None
    );
}

#[test]
fn merge_refuses_conflicts() {
    let r = mini();
    let m = &r.manifest;
    let out = Interpreter::new(&r).evaluate(&units(m));
    let a = &out[0];
    assert!(matches!(
        abi::merge_outputs(m, 1, &[(Round::Annual, a), (Round::Annual, a)], None),
        Err(abi::MergeError::Conflict { .. })
    ));
    assert!(matches!(
        abi::merge_outputs(m, 1, &[(Round::Q1, a)], None),
        Err(abi::MergeError::WrongRound { .. })
    ));
    assert!(matches!(
        abi::merge_outputs(m, 9, &[], None),
        Err(abi::MergeError::Category(9))
    ));
}

proptest! {
    /// Whatever the bytes, the interpreter answers without panicking, and
    /// its answer always passes the output decoder's checks.
    #[test]
    fn interpreter_output_is_always_well_formed(
        cat in 0u32..4, round in 0u32..6, methods in 0u32..10, reserved in 0u32..2,
        fields in proptest::collection::vec((0i64..3, prop_oneof![Just(0i64), Just(100), -200i64..20_000, any::<i64>()]), 10),
    ) {
        let r = mini_v1();
        let m = &r.manifest;
        let i = Interpreter::new(&r);
        let mut b = Vec::new();
        b.extend_from_slice(b"KHEV");
        for x in [1u32, 1, m.fields.len() as u32, cat, round, methods, reserved] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        for (p, v) in fields {
            b.extend_from_slice(&p.to_le_bytes());
            b.extend_from_slice(&v.to_le_bytes());
        }
        let out = i.evaluate_bytes(&b).expect("well-formed batch");
        let decoded = abi::decode_evaluate_output(m, 1, &out);
        prop_assert!(decoded.is_ok(), "{:?}", decoded);
    }

    #[test]
    fn finalise_output_is_always_well_formed(
        cat in 0u32..4, flags in 0u32..3, cap in -5i64..2000,
        scores in proptest::collection::vec((0i64..3, prop_oneof![Just(0i64), Just(100), 0i64..5000, any::<i64>()]), 8),
    ) {
        let r = mini_v1();
        let m = &r.manifest;
        let i = Interpreter::new(&r);
        let mut b = Vec::new();
        b.extend_from_slice(b"KHFI");
        for x in [1u32, 1, 8, cat, flags] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(&cap.to_le_bytes());
        for (p, v) in scores {
            b.extend_from_slice(&p.to_le_bytes());
            b.extend_from_slice(&v.to_le_bytes());
        }
        let out = i.finalise_bytes(&b).expect("well-formed batch");
        let decoded = abi::decode_finalise_output(m, 1, &out);
        prop_assert!(decoded.is_ok(), "{:?}", decoded);
    }

    /// ABI 2: whatever the bits and slots, the interpreter answers, its
    /// answer passes the decoder, and it is ABI 1's answer where the
    /// bytes mean the same.
    #[test]
    fn abi2_interpreter_output_is_always_well_formed(
        cat in 0u32..4, round in 0u32..6, methods in 0u32..10, reserved in 0u32..2,
        present in any::<u64>(),
        values in proptest::collection::vec(prop_oneof![Just(0i64), Just(100), -200i64..20_000, any::<i64>()], 10),
    ) {
        let r = mini();
        let m = &r.manifest;
        prop_assert!(m.is_v2() && !m.has_not_applicable());
        let i = Interpreter::new(&r);
        let mut b = Vec::new();
        b.extend_from_slice(b"KHEV");
        for x in [2u32, 1, m.fields.len() as u32, cat, round, methods, reserved] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(&present.to_le_bytes());
        for v in &values {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let out = i.evaluate_bytes(&b).expect("well-formed batch");
        let decoded = abi::decode_evaluate_output(m, 1, &out);
        prop_assert!(decoded.is_ok(), "{:?}", decoded);
        if present >> m.fields.len() == 0 {
            let r1 = mini_v1();
            let mut b1 = Vec::new();
            b1.extend_from_slice(b"KHEV");
            for x in [1u32, 1, m.fields.len() as u32, cat, round, methods, reserved] {
                b1.extend_from_slice(&x.to_le_bytes());
            }
            for (f, v) in values.iter().enumerate() {
                b1.extend_from_slice(&(((present >> f) & 1) as i64).to_le_bytes());
                b1.extend_from_slice(&v.to_le_bytes());
            }
            let one = Interpreter::new(&r1).evaluate_bytes(&b1).expect("well-formed batch");
            prop_assert_eq!(
                abi::decode_evaluate_output(&r1.manifest, 1, &one).ok(),
                decoded.ok()
            );
        }
    }
}

/// ABI 2's sparse evaluate output: what the decoder refuses (ABI.md §10).
#[test]
fn malformed_abi2_outputs_are_refused() {
    let r = mini();
    let m = &r.manifest;
    assert!(m.is_v2());
    let i = Interpreter::new(&r);
    let out = i
        .evaluate_bytes(&abi::encode_evaluate_input(m, &units(m)).expect("e"))
        .expect("o");
    // mini: 8 indicators → one word; unit 0 = 16 + 8 (evaluated) + 64
    // (scores) + 8 (fired) = 96 bytes before its clauses.
    let fixed = m.evaluate_output_fixed();
    assert_eq!(fixed, 96);
    let fired0 = u32::from_le_bytes(out[88..92].try_into().unwrap()) as usize;
    let unit1 = fixed + 16 * fired0;
    let refused = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = out.clone();
        f(&mut b);
        abi::decode_evaluate_output(m, 2, &b).err()
    };
    assert_eq!(refused(&|_| {}), None, "the original is fine");
    let malformed = |f: &dyn Fn(&mut Vec<u8>), what: &str| {
        assert!(
            matches!(
                refused(f),
                Some(abi::AbiError::Malformed { .. } | abi::AbiError::OutputLength { .. })
            ),
            "{what}"
        );
    };
    malformed(
        &|b| {
            b.pop();
        },
        "short",
    );
    malformed(&|b| b.extend_from_slice(&[0; 16]), "bytes left over");
    malformed(&|b| b[0] = 9, "unknown status");
    malformed(&|b| b[0] = 5, "finalise-only status");
    malformed(&|b| b[16 + 7] |= 0x80, "a reserved evaluated bit");
    // unit 1 (Q2, daily only): L1 (index 0) evaluated; clear the bit, keep
    // its score.
    malformed(
        &|b| b[unit1 + 16] &= !1,
        "score on an unevaluated indicator",
    );
    malformed(
        &|b| b[unit1 + 24..unit1 + 32].copy_from_slice(&1001i64.to_le_bytes()),
        "score out of range",
    );
    malformed(&|b| b[unit1 + 92] = 1, "the fired word's reserved half");
    malformed(
        &|b| b[unit1 + 88..unit1 + 92].copy_from_slice(&99u32.to_le_bytes()),
        "more fired than clauses",
    );
    // unit 1's fired clause: L1a (index 0), amount 300.
    let entry = unit1 + fixed;
    assert_eq!(
        u32::from_le_bytes(out[entry..entry + 4].try_into().unwrap()),
        0
    );
    malformed(
        &|b| b[entry..entry + 4].copy_from_slice(&99u32.to_le_bytes()),
        "clause index out of range",
    );
    malformed(
        &|b| b[entry..entry + 4].copy_from_slice(&2u32.to_le_bytes()),
        "a clause of an unevaluated indicator",
    );
    malformed(
        &|b| b[entry + 8..entry + 16].copy_from_slice(&(-1i64).to_le_bytes()),
        "negative amount",
    );
    malformed(&|b| b[entry + 4] = 1, "the entry's reserved word");
    malformed(&|b| b[unit1] = 6, "a failed unit with scores");
}

/// ABI 2's score checks run in one pass and name the faulty indicator on
/// a second scan: a flag scores 0 or 100 and nothing between, and the
/// refusal names the flag, not the first indicator of its word.
#[test]
fn an_abi2_score_fault_names_its_indicator_and_a_flag_is_0_or_100() {
    let r = mini();
    let m = &r.manifest;
    let out = Interpreter::new(&r)
        .evaluate_bytes(&abi::encode_evaluate_input(m, &units(m)).expect("e"))
        .expect("o");
    // Unit 0 (dept, annual, all methods): F1 evaluated; its score slot is
    // after the header (16) and the evaluated word (8).
    let f1 = m.indicator_index("F1").expect("F1");
    assert_eq!(m.indicators[f1].kind, IndicatorKind::Flag);
    assert!(out[16] >> f1 & 1 == 1, "F1 is evaluated in unit 0");
    let slot = 24 + 8 * f1;
    let with = |score: i64| {
        let mut b = out.clone();
        b[slot..slot + 8].copy_from_slice(&score.to_le_bytes());
        abi::decode_evaluate_output(m, 2, &b)
    };
    for raised in [0, 100] {
        let decoded = with(raised).expect("a flag of 0 or 100 is read");
        assert_eq!(decoded[0].indicators[f1], Some(raised));
    }
    for bad in [50, 1, 99, 101, 200, -100] {
        match with(bad) {
            Err(abi::AbiError::Malformed { unit: 0, reason }) => assert!(
                reason.contains("F1") && reason.contains("score out of range"),
                "{bad}: {reason}"
            ),
            other => panic!("a flag scored {bad} must be refused naming F1: {other:?}"),
        }
    }
}
