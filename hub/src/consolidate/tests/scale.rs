//! Issue #17: a year of any size — finalised in batches and calls the
//! pack's memory holds, digested without holding its JSON.

use super::super::golden::{Golden, county};
use super::super::*;

/// Issue #17: a year with more units than one pack call holds (here the
/// golden county 80 times over, ~1,800 sheets, under a 1 MiB pack memory
/// that holds ~790 per call) consolidates to the same bytes as the
/// interpreter's single pass.
#[test]
fn a_year_larger_than_one_pack_call_consolidates_as_the_interpreter_does() {
    use kaohe_rulepacks::runtime::{Entry, Runtime, RuntimeConfig};
    let mut g: Golden = county();
    let copy = |id: &str, k: usize| format!("{id}-{k:02}");
    let (units, results, decisions) = (
        g.roster.units.clone(),
        g.results.clone(),
        g.decisions.clone(),
    );
    g.roster.units.clear();
    g.results.clear();
    g.decisions = Decisions::default();
    for k in 0..80 {
        for u in units.values() {
            let mut u = u.clone();
            u.id = copy(&u.id, k);
            u.parent = u.parent.map(|p| copy(&p, k));
            g.roster.units.insert(u.id.clone(), u);
        }
        g.results.extend(results.iter().cloned().map(|mut r| {
            r.unit_id = copy(&r.unit_id, k);
            r
        }));
        for (id, o) in &decisions.penalty_cap_overrides {
            g.decisions
                .penalty_cap_overrides
                .insert(copy(id, k), o.clone());
        }
        g.decisions
            .excusals
            .extend(decisions.excusals.iter().cloned().map(|mut e| {
                e.unit_id = copy(&e.unit_id, k);
                e
            }));
    }
    let wasm = kaohe_rulepacks::compile::compile(&g.rubric).expect("the rubric compiles to wasm");
    let runtime = Runtime::new(RuntimeConfig {
        memory_cap_bytes: 1 << 20,
        memory_keep_resident_bytes: 1 << 20,
        max_concurrent_instances: 2,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let pack = kaohe_rulepacks::pack::Pack::load_as_found(&runtime, &wasm).unwrap();
    let per_call = pack.loaded().units_per_call(Entry::Finalise) as usize;
    let (mut calls, mut sheets) = (0, 0);
    let with_pack = consolidate(&g.input(), |units| {
        calls += 1;
        sheets += units.len();
        pack.finalise(units)
    })
    .unwrap();
    assert!(
        sheets > 2 * per_call,
        "{sheets} sheets, {per_call} per call"
    );
    assert_eq!(calls, sheets.div_ceil(SHEETS_PER_BATCH));
    let by_interp = g.consolidate();
    assert_eq!(by_interp.units.len(), 80 * units.len());
    assert_eq!(with_pack.to_json(), by_interp.to_json());
}

/// The digest an approval records is the SHA-256 of the canonical JSON,
/// though it is hashed as it is written (issue #17: a large year's JSON is
/// never held whole).
#[test]
fn the_digest_is_the_sha256_of_the_canonical_json() {
    use sha2::Digest as _;
    let c = county().consolidate();
    assert_eq!(c.sha256(), hex::encode(sha2::Sha256::digest(c.to_json())));
}
