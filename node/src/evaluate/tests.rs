//! Evaluation from the store, submission into the outbox, and the 2022
//! fixtures scored by the node's own path.

use kaohe_proto::SigningKeyPair;
use sha2::{Digest as _, Sha256};

use super::*;
use crate::outbox::{Event, Outcome, State};
use crate::store::{EvidenceWrite, SourceKind};
use crate::testutil::{TEST_RUBRIC, actor, store_with_pack, test_manifest};
use crate::value;
use kaohe_rulepacks::abi;
use kaohe_rulepacks::interp::Interpreter;

fn interpreter() -> Interpreter {
    let rubric = kaohe_rulepacks::rubric::compile("test-rubric.toml", TEST_RUBRIC)
        .expect("test rubric compiles");
    Interpreter::new(&rubric)
}

fn set(store: &mut Store, unit: &str, round: Round, field: &str, v: i64) {
    store
        .apply_evidence(
            2022,
            &[EvidenceWrite {
                unit_id: unit.into(),
                round,
                field_id: field.into(),
                value: Some(v),
            }],
            &SourceKind::Set,
            &actor("王"),
            &mut |_| {},
        )
        .unwrap();
}

fn annual_evidence(store: &mut Store) {
    for (u, f, v) in [
        ("justice", "sup_plan", 100),
        ("justice", "sup_report", 200),
        ("justice", "dept_cases", 600),
        ("justice", "sat_rate", 9000),
        ("xiaodian", "sup_plan", 0),
        ("xiaodian", "sup_report", 0),
        ("xiaodian", "sup_problems", 300),
        ("xiaodian", "sat_rate", 8000),
        // zhaozhuang: sup_plan (required) missing.
        ("zhaozhuang", "sup_report", 0),
        ("zhaozhuang", "sat_rate", 10000),
    ] {
        set(store, u, Round::Annual, f, v);
    }
}

#[test]
fn annual_evaluation_uses_stored_evidence_and_the_packs_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    annual_evidence(&mut store);
    let m = test_manifest();
    let scope = store.scope(2022).unwrap();
    let jobs = jobs(&store, &m, &scope, Round::Annual, None).unwrap();
    assert_eq!(jobs.len(), 3);
    // justice's sup_problems was never entered: passed as absent, not 0.
    assert_eq!(jobs[0].evidence.get("sup_problems"), Some(&None));
    assert!(
        !jobs[0].evidence.contains_key("q_study"),
        "daily fields are not annual evidence"
    );
    let results = run(&interpreter(), jobs).unwrap();
    let score = |r: &UnitResult, id: &str| r.output.indicators[m.indicator_index(id).unwrap()];
    // justice: plan ok, no problems (default 0), report 未公开 −1 → L2 = 2;
    // L3 = 90 × 3 / 100 = 2.7; N1a: 6 cases > 5 → 0.
    assert_eq!(score(&results[0], "L2"), Some(200));
    assert_eq!(score(&results[0], "L3"), Some(270));
    assert_eq!(score(&results[0], "N1a"), Some(0));
    assert_eq!(
        score(&results[0], "L1"),
        None,
        "daily is not evaluated in the annual round"
    );
    // xiaodian: no plan −3 → L2 = 0 (扣完为止); L3 = 2.4; N1a does not apply.
    assert_eq!(score(&results[1], "L2"), Some(0));
    assert_eq!(score(&results[1], "L3"), Some(240));
    assert_eq!(score(&results[1], "N1a"), None);
    // zhaozhuang: a required field missing → status 1, named.
    assert!(!results[2].output.status.is_ok());
    let problems = results[2].problems(&m);
    assert!(problems[0].contains("sup_plan"), "{problems:?}");
    let table = summary(&m, &results);
    // Group L: L2 + L3 = 2 + 2.7.
    assert!(
        table.contains("肖旗乡") && table.contains("4.7") && table.contains("sup_plan"),
        "{table}"
    );
}

#[test]
fn submit_queues_one_signed_envelope_per_unit_with_increasing_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    annual_evidence(&mut store);
    let m = test_manifest();
    let pack = store.active_pack(2022).unwrap().unwrap();
    let key = SigningKeyPair::from_seed(&[5; 32]);
    let scope = store.scope(2022).unwrap();
    let results = run(
        &interpreter(),
        jobs(&store, &m, &scope, Round::Annual, None).unwrap(),
    )
    .unwrap();
    let report = submit(&mut store, &key, &pack, &results, &actor("王")).unwrap();
    assert_eq!(
        report.queued,
        vec![("justice".to_string(), 1), ("xiaodian".to_string(), 2)]
    );
    assert_eq!(report.refused.len(), 1);
    assert_eq!(store.last_sequence().unwrap(), 2);

    let entries = store.outbox(None).unwrap();
    assert_eq!(entries.len(), 2);
    let e = &entries[0];
    assert_eq!(
        (e.state, e.methods.as_str()),
        (State::ToSend, "supervision,satisfaction")
    );
    let verified = kaohe_proto::verify_submission(&e.envelope, &key.public()).unwrap();
    let s = verified.submission;
    assert_eq!(
        (s.unit_id.as_str(), s.sequence, s.year),
        ("justice", 1, 2022)
    );
    assert_eq!(s.pack, pack.identity);
    let sup = s
        .methods
        .iter()
        .find(|b| b.method_id == "supervision")
        .unwrap();
    assert_eq!(sup.evidence.get("sup_problems"), Some(&None));
    assert_eq!(sup.scores.get("L2"), Some(&200));
    assert_eq!(sup.clauses.get("L2c").map(|c| c.amount), Some(100));

    // Nothing changed: nothing new is signed.
    let again = run(
        &interpreter(),
        jobs(&store, &m, &scope, Round::Annual, None).unwrap(),
    )
    .unwrap();
    let report = submit(&mut store, &key, &pack, &again, &actor("王")).unwrap();
    assert_eq!(
        report.unchanged,
        vec!["justice".to_string(), "xiaodian".to_string()]
    );
    assert!(report.queued.is_empty());
    // A corrected value: a new envelope with the next sequence number.
    set(&mut store, "xiaodian", Round::Annual, "sup_plan", 100);
    let changed = run(
        &interpreter(),
        jobs(&store, &m, &scope, Round::Annual, None).unwrap(),
    )
    .unwrap();
    let report = submit(&mut store, &key, &pack, &changed, &actor("王")).unwrap();
    assert_eq!(report.queued, vec![("xiaodian".to_string(), 3)]);
    assert_eq!(store.last_sequence().unwrap(), 3);
}

/// A store whose annual evidence was evaluated and queued once.
fn store_with_annual_submitted(dir: &std::path::Path) -> Store {
    let mut store = store_with_pack(dir);
    annual_evidence(&mut store);
    let m = test_manifest();
    let pack = store.active_pack(2022).unwrap().unwrap();
    let key = SigningKeyPair::from_seed(&[5; 32]);
    let scope = store.scope(2022).unwrap();
    let results = run(
        &interpreter(),
        jobs(&store, &m, &scope, Round::Annual, None).unwrap(),
    )
    .unwrap();
    submit(&mut store, &key, &pack, &results, &actor("王")).unwrap();
    store
}

#[test]
fn the_outbox_moves_only_as_the_state_machine_allows() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_annual_submitted(dir.path());
    let now = jiff::Timestamp::from_second(1_700_000_100).unwrap();
    let claimed = store.claim(10, &now).unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|e| (e.sequence, e.state, e.attempts))
            .collect::<Vec<_>>(),
        vec![(1, State::Sending, 1), (2, State::Sending, 1)]
    );
    assert!(
        store.claim(10, &now).unwrap().is_empty(),
        "sending entries are not claimed twice"
    );
    let to = store
        .record(
            1,
            &Outcome::Failed {
                reason: "连接被拒绝".into(),
                retry_at: Some(1_700_000_105),
            },
            &now,
        )
        .unwrap();
    assert_eq!(to, State::Retry);
    let to = store
        .record(
            2,
            &Outcome::Rejected {
                code: Some(kaohe_proto::model::RejectionCode::OutOfScope),
                reason: "范围外".into(),
            },
            &now,
        )
        .unwrap();
    assert_eq!(to, State::Rejected);
    let err = store
        .record(
            2,
            &Outcome::Failed {
                reason: "x".into(),
                retry_at: None,
            },
            &now,
        )
        .unwrap_err();
    assert!(matches!(err, crate::store::RecordError::Transition(t) if t.event == Event::Failed));
    // A crash while sending: recovery puts the entry back to retry.
    let claimed = store.claim(10, &now).unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(store.recover_interrupted(&now).unwrap(), 1);
    let counts = store.outbox_counts().unwrap();
    assert_eq!((counts.retry, counts.rejected, counts.sending), (1, 1, 0));
    assert_eq!(store.outbox(Some(State::Retry)).unwrap()[0].attempts, 2);
    // Entries and evaluations are never deleted.
    assert!(store.conn().execute("DELETE FROM outbox", []).is_err());
    assert!(store.conn().execute("DELETE FROM evaluations", []).is_err());
}

#[test]
fn only_a_verified_receipt_for_the_entry_makes_it_accepted_and_is_stored() {
    use kaohe_proto::receipt::ReceiptItem;
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_annual_submitted(dir.path());
    let now = jiff::Timestamp::from_second(1_700_000_100).unwrap();
    let claimed = store.claim(10, &now).unwrap();
    let hub = SigningKeyPair::from_seed(&[8; 32]);
    let item = |e: &crate::outbox::Entry| ReceiptItem {
        digest: e.digest,
        unit_id: e.unit_id.clone(),
        year: e.year,
        round: kaohe_proto::Round::Annual,
        late: false,
    };
    let receipts = crate::testutil::receipts_in_log(
        &[item(&claimed[0]), item(&claimed[1])],
        &hub,
        1_700_000_200,
    );
    let hub_key = hub.public();
    // The receipt of entry 2 presented for entry 1: refused, unchanged.
    let err = store
        .record(
            1,
            &Outcome::Accepted {
                receipt: &receipts[1],
                hub: &hub_key,
            },
            &now,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            crate::store::RecordError::Receipt(crate::outbox::ReceiptMismatch::Digest { .. })
        ),
        "{err:?}"
    );
    // A receipt checked against another hub key: refused.
    let other = SigningKeyPair::from_seed(&[9; 32]).public();
    let err = store
        .record(
            1,
            &Outcome::Accepted {
                receipt: &receipts[0],
                hub: &other,
            },
            &now,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            crate::store::RecordError::Receipt(crate::outbox::ReceiptMismatch::Invalid(_))
        ),
        "{err:?}"
    );
    assert_eq!(store.outbox(Some(State::Sending)).unwrap().len(), 2);
    // The right one: accepted, and the receipt kept.
    let to = store
        .record(
            1,
            &Outcome::Accepted {
                receipt: &receipts[0],
                hub: &hub_key,
            },
            &now,
        )
        .unwrap();
    assert_eq!(to, State::Accepted);
    let e = &store.outbox(Some(State::Accepted)).unwrap()[0];
    let stored = e.receipt.as_deref().expect("receipt stored");
    use prost::Message as _;
    let decoded =
        kaohe_proto::receipt::Receipt::try_from(kaohe_proto::pb::Receipt::decode(stored).unwrap())
            .unwrap();
    assert_eq!(decoded, receipts[0]);
}

/// Issue "Assessor node" §5: the node's own path — pack installed after
/// verification, evidence written through the import's checks and
/// [`Store::apply_evidence_and_marks`] (with the items marked not
/// applicable, issue #13), inputs built by [`jobs`] from the store,
/// scored by [`evaluate_units`] with the wasm `Pack` — reproduces
/// every hand-worked Baofeng 2022 fixture (error fixtures included).
#[test]
fn the_nodes_evaluation_of_the_2022_fixtures_matches_their_expected_sheets() {
    use crate::import::check_set;
    use crate::layout::Layout;
    use crate::testutil::{config_pinning, unit};
    use kaohe_rulepacks::fixture::{self, Fixture};
    use kaohe_rulepacks::pack::Pack;
    use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rulepacks/baofeng-2022");
    let source = std::fs::read_to_string(root.join("rubric.toml")).unwrap();
    let rubric = kaohe_rulepacks::rubric::compile("rubric.toml", &source)
        .unwrap_or_else(|d| panic!("the 2022 rubric does not compile:\n{d}"));
    let module = kaohe_rulepacks::compile::compile(&rubric).unwrap();
    let fixtures = Fixture::load_dir(&root.join("fixtures"), &rubric.manifest).unwrap();
    assert_eq!(fixtures.len(), 21, "the 2022 fixtures");

    // Installed as `kaohe node pack install` / sync do: verified k of n.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(&dir.path().join(crate::store::DB_FILE)).unwrap();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let authority = SigningKeyPair::from_seed(&[3; 32]);
    let envelope = kaohe_rulepacks::sign::sign_pack(&module, 1_700_000_000, &[&authority]).unwrap();
    crate::pack::install(
        &mut store,
        &config_pinning(dir.path(), &[&authority], 1),
        &runtime,
        &module,
        &envelope,
        &actor("王"),
    )
    .unwrap();
    // Loaded as `kaohe node evaluate` does: the module from the store,
    // under the active pack's identity.
    let pack = store.active_pack(2022).unwrap().expect("active 2022 pack");
    let m = &pack.manifest;
    let stored = store.pack_module(&pack.identity).unwrap().unwrap();
    let loaded = Pack::load(&runtime, &stored, &pack.identity).unwrap();
    assert_eq!(loaded.manifest(), m);

    // One unit per fixture, of its category; every method in scope.
    let unit_id = |i: usize| format!("fx{:02}", i + 1);
    store
        .replace_scope(&Scope {
            year: 2022,
            units: fixtures
                .iter()
                .enumerate()
                .map(|(i, f)| unit(&unit_id(i), &f.title, &m.categories[f.evidence.category].id))
                .collect(),
            methods: m.methods.iter().map(|x| x.id.clone()).collect(),
        })
        .unwrap();
    let scope = store.scope(2022).unwrap();

    // Evidence as an official enters it: the value's text, checked as
    // `set`/import check it, then one all-or-nothing write per fixture.
    {
        let layout = Layout::new(m, &scope).unwrap();
        let known = store.known_units().unwrap();
        for (i, f) in fixtures.iter().enumerate() {
            let mut writes = Vec::new();
            for (round, values) in &f.evidence.rounds {
                for (field, v) in m.fields.iter().zip(values) {
                    let Some(v) = *v else { continue };
                    let text = value::display(field, v);
                    let w = check_set(&layout, &known, &unit_id(i), &field.id, &text, Some(*round))
                        .unwrap_or_else(|p| panic!("{}: {} = {text}: {p}", f.name, field.id));
                    assert_eq!(w.value, Some(v), "{}: {} = {text}", f.name, field.id);
                    writes.push(w);
                }
            }
            // Items the fixture marks not applicable, with their reasons.
            let marks: Vec<crate::store::MarkWrite> = f
                .evidence
                .not_applicable
                .iter()
                .flat_map(|(round, reasons)| {
                    reasons.iter().enumerate().filter_map(|(k, r)| {
                        r.as_ref().map(|reason| crate::store::MarkWrite {
                            unit_id: unit_id(i),
                            round: *round,
                            indicator_id: m.indicators[k].id.clone(),
                            reason: Some(reason.clone()),
                        })
                    })
                })
                .collect();
            let bytes = std::fs::read(root.join("fixtures").join(&f.name)).unwrap();
            let summary = store
                .apply_evidence_and_marks(
                    2022,
                    &writes,
                    &marks,
                    &SourceKind::Import {
                        file_name: f.name.clone(),
                        sha256: Sha256::digest(&bytes).into(),
                    },
                    &actor("王"),
                    &mut |_| {},
                )
                .unwrap();
            assert_eq!(summary.added, writes.len() + marks.len());
        }
    }

    let mut failures = Vec::new();
    for (i, f) in fixtures.iter().enumerate() {
        let id = unit_id(i);
        let all = (1u32 << m.methods.len()) - 1;
        let only: Option<Vec<String>> = (f.evidence.methods & all != all).then(|| {
            (0..m.methods.len())
                .filter(|&k| f.evidence.methods & (1 << k) != 0)
                .map(|k| m.methods[k].id.clone())
                .collect()
        });
        // The fixture's inputs only say which rounds to score; the
        // node's inputs come from its store.
        let evaluate = |wanted: &[UnitInput]| -> Result<Vec<UnitOutput>, EvaluateError> {
            let mut inputs = Vec::new();
            for w in wanted {
                let js = jobs(&store, m, &scope, w.round, only.as_deref())?;
                let job = js
                    .into_iter()
                    .find(|j| j.unit.unit_id == id)
                    .unwrap_or_else(|| panic!("{}: no node job in {}", f.name, w.round.id()));
                assert_eq!(job.input.category, w.category, "{}", f.name);
                inputs.push(job.input);
            }
            evaluate_units(&loaded, &inputs)
        };
        // The sheet is the hub's step; the same loaded pack finalises.
        let finalise = |units: &[abi::FinaliseInput]| loaded.finalise(units);
        if let Err(diffs) = fixture::check(f, evaluate, finalise) {
            let lines: Vec<String> = diffs.iter().map(ToString::to_string).collect();
            failures.push(format!(
                "{}（{}）:\n  {}",
                f.name,
                f.title,
                lines.join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
