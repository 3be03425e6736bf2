//! Issue #17: a year of any size — finalised in batches and calls the
//! pack's memory holds, digested without holding its JSON.

use super::super::golden::{Golden, county};
use super::super::*;

/// The golden county `times` times over (unit `T1` as `T1-00`, `T1-01`, …),
/// with its decisions.
fn county_times(times: usize) -> Golden {
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
    for k in 0..times {
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
    g
}

/// Issue #17: a year with more units than one pack call holds (here the
/// golden county 80 times over, ~1,800 sheets, under a 1 MiB pack memory
/// that holds ~790 per call) consolidates to the same bytes as the
/// interpreter's single pass.
#[test]
fn a_year_larger_than_one_pack_call_consolidates_as_the_interpreter_does() {
    use kaohe_rulepacks::runtime::{Entry, Runtime, RuntimeConfig};
    let g = county_times(80);
    let units = county().roster.units;
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

/// Issue #17: a year streamed a unit at a time, over several finalise
/// batches, consolidates to the same bytes as the whole-year path; the
/// lean consolidation (no per-indicator detail held) has the same totals,
/// grades, ranks, boards, tiers and completeness, its detail worked out
/// again per unit is the full one's, and its filled digest is the full
/// consolidation's digest — what an approval records.
#[test]
fn a_streamed_lean_year_equals_the_whole_year_path_and_digests_the_same() {
    let g = county_times(400);
    let whole = g.consolidate();
    let assessed = whole.units.iter().filter(|u| u.scored().is_some()).count();
    assert!(
        assessed > 2 * SHEETS_PER_BATCH,
        "{assessed} sheets span several batches"
    );
    // A unit's results in any order, units in id order, a unit off the
    // roster among them.
    let mut by_unit: BTreeMap<String, Vec<AcceptedResult>> = BTreeMap::new();
    for r in &g.results {
        by_unit
            .entry(r.unit_id.clone())
            .or_default()
            .insert(0, r.clone());
    }
    let stray = AcceptedResult {
        unit_id: "A-off-roster".into(),
        ..g.results[0].clone()
    };
    by_unit.insert(stray.unit_id.clone(), vec![stray.clone()]);
    let mut with_stray = g.results.clone();
    with_stray.push(stray);
    let input = ConsolidationInput {
        results: &with_stray,
        ..g.input()
    };
    let whole = consolidate(&input, g.finaliser()).unwrap();
    let stream = |detail| {
        consolidate_units(
            g.manifest(),
            &g.roster,
            &g.decisions,
            by_unit.values().cloned(),
            detail,
            g.finaliser(),
        )
        .unwrap()
    };
    let full = stream(Detail::Full);
    assert_eq!(full.to_json(), whole.to_json());
    assert!(full.problems.iter().any(|p| p.contains("A-off-roster")));

    let lean = stream(Detail::Lean);
    assert_eq!(lean.units.len(), full.units.len());
    for (l, f) in lean.units.iter().zip(&full.units) {
        match (l.scored(), f.scored()) {
            (Some(l), Some(f)) => {
                assert!(l.indicators.is_empty() && l.fired.is_empty());
                assert_eq!(
                    (l.total, &l.grade, l.rank, &l.notes),
                    (f.total, &f.grade, f.rank, &f.notes)
                );
            }
            (None, None) => assert_eq!(l, f),
            _ => panic!("{} assessed in one and not the other", l.unit_id),
        }
    }
    assert_eq!(
        (&lean.rankings, &lean.leaderboards, &lean.tiers),
        (&full.rankings, &full.leaderboards, &full.tiers)
    );
    assert_eq!(
        (&lean.completeness, &lean.problems),
        (&full.completeness, &full.problems)
    );
    assert_ne!(lean.sha256(), full.sha256());

    let filler = Filler::new(g.manifest(), &g.roster, &g.decisions);
    let mut filled = Vec::new();
    let digest = lean.sha256_filled(|u| {
        filler.fill(u, by_unit.get(&u.unit_id).cloned().unwrap_or_default());
        filled.push(u.clone());
    });
    assert_eq!(filled, full.units);
    assert_eq!(digest, full.sha256());
}
