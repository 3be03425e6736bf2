//! A corrected pack reaching a node that has results queued (RELIABILITY.md
//! promise 5): under-signed, it is refused and the last good pack stays;
//! signed by both authorities, it replaces what was not yet sent.

use std::collections::BTreeMap;

use super::*;

/// A corrected pack: v2 signed by one authority is refused (the node pins
/// two, threshold 2) and v1 stays; v3 signed by both is activated, the
/// results queued under v1 and not yet sent are superseded — never sent —
/// and the same sync evaluates every unit again under v3 and delivers:
/// each unit ends accepted once under the current pack.
#[test]
fn a_corrected_pack_replaces_unsent_results_and_the_new_ones_are_accepted() {
    let mut f = Federation::new(4, "satisfaction");
    f.start_hub(None);
    f.sync();
    f.import_rates(&f.units, "90");
    f.submit();
    assert_eq!(states(&f.entries()), BTreeMap::from([("accepted", 4)]));

    // Two corrections queued while the hub is down.
    f.kill_hub();
    f.import_rates(&f.units[..2], "97");
    f.submit_hub_down();
    let unsent: Vec<Entry> = f
        .entries()
        .into_iter()
        .filter(|e| e.state == State::Retry)
        .collect();
    assert_eq!(unsent.len(), 2);

    // The office publishes v2, signed by one authority only.
    f.start_hub(None);
    let v2 = f.build_pack_signed_by(2, &[&f.authorities[0]]);
    f.hub(&["pack", "publish", s(&v2)]);
    let err = f.node_fails(&["sync", "--operator", "王科员"]);
    assert!(err.contains("未通过核验"), "{err}");
    {
        let store = f.store();
        assert_eq!(
            store.active_pack(2022).unwrap().unwrap().identity.version,
            1
        );
        assert!(store.reevaluations(2022).unwrap().is_empty());
        assert_eq!(
            states(&store.outbox(None).unwrap())["retry"],
            2,
            "nothing superseded"
        );
    }

    // v3, signed by both: activated; the unsent v1 results are replaced,
    // and the same sync evaluates every unit again under v3 from the
    // evidence it holds and delivers (issue #13 §3: before, the results
    // were only listed for the next submit).
    let v3 = f.build_pack(3);
    let out = f.hub(&["pack", "publish", s(&v3)]);
    assert!(out.contains("已发布"), "{out}");
    let out = f.sync();
    assert!(
        out.contains("放入发件箱 4 份"),
        "every unit, under v3:\n{out}"
    );
    {
        let store = f.store();
        assert_eq!(
            store.active_pack(2022).unwrap().unwrap().identity.version,
            3
        );
        for e in &unsent {
            let now = store.outbox_entry(e.sequence).unwrap().unwrap();
            assert_eq!(now.state, State::Superseded, "#{}", e.sequence);
            assert!(now.last_error.unwrap().contains("baofeng-2022 v3"));
        }
        assert!(store.reevaluations(2022).unwrap().is_empty());
    }
    f.node(&["status"]);

    // Nothing is left for the next submit.
    let out = f.submit();
    assert!(!out.contains("已放入发件箱（queued）"), "{out}");
    let entries = f.entries();
    assert!(f.store().reevaluations(2022).unwrap().is_empty());
    let mut accepted_v3: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.pack_version == 3) {
        assert_eq!(e.state, State::Accepted, "#{}", e.sequence);
        *accepted_v3.entry(e.unit_id.as_str()).or_insert(0) += 1;
    }
    assert_eq!(
        accepted_v3,
        f.units.iter().map(|u| (u.id.as_str(), 1)).collect(),
        "each unit accepted exactly once under the current pack"
    );
    // The superseded ones never reached the hub.
    let at_hub = f.hub_submissions();
    for e in &unsent {
        assert!(
            !at_hub.contains_key(e.digest.0.as_slice()),
            "#{} was sent",
            e.sequence
        );
    }
    assert_eq!(f.receipts_are_at_the_hub().stored, 8);
    let conn = f.hub_db();
    let current: Vec<(String, u32)> = conn
        .prepare("SELECT unit_id, pack_version FROM results WHERE is_current = 1 ORDER BY unit_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        current,
        f.units
            .iter()
            .map(|u| (u.id.clone(), 3))
            .collect::<Vec<_>>()
    );
    drop(conn);
    f.finish();
}
