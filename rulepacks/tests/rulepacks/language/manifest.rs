//! The manifest: canonical JSON, versions and inconsistencies refused,
//! defaults.

use super::*;

#[test]
fn canonical_json_is_deterministic_and_round_trips() {
    let a = mini().manifest.to_canonical_json();
    let b = mini().manifest.to_canonical_json();
    assert_eq!(a, b);
    let m = Manifest::from_json(&a).expect("valid");
    assert_eq!(m.to_canonical_json(), a);
    assert_eq!(m.source_sha256.len(), 64);
    let text = String::from_utf8(a).expect("utf8");
    assert!(
        text.starts_with("{\"manifest_version\":1,\"abi_version\":2,\"pack\":"),
        "{text}"
    );
}

#[test]
fn versions_and_inconsistencies_are_refused() {
    let m = mini().manifest;
    let mut v: serde_json::Value = serde_json::from_slice(&m.to_canonical_json()).expect("json");
    v["abi_version"] = 3.into();
    assert!(matches!(
        Manifest::from_json(v.to_string().as_bytes()),
        Err(kaohe_rulepacks::manifest::ManifestError::UnsupportedVersion { .. })
    ));
    let mut bad = m.clone();
    bad.indicators[0].points.pop();
    assert!(bad.validate().is_err());
    let mut bad = m.clone();
    bad.composition.grades[1].min = 9000;
    assert!(bad.validate().is_err());
    let mut bad = m.clone();
    bad.fields[0].method = "nope".into();
    assert!(Manifest::from_json(&bad.to_canonical_json()).is_err());
    assert!(Manifest::from_json(b"{\"manifest_version\":1}").is_err());

    // Found by fuzzing: two scored indicators at i64::MAX points made
    // `applicable_points` overflow (`kaohe pack inspect` of a hostile
    // pack). A category's scored points may not exceed full marks.
    let scored: Vec<usize> = (0..m.indicators.len())
        .filter(|&i| m.indicators[i].kind == IndicatorKind::Scored && m.applies(i, 0))
        .collect();
    assert!(
        scored.len() >= 2,
        "the mini rubric has two scored indicators"
    );
    let mut bad = m.clone();
    for &i in &scored[..2] {
        bad.indicators[i].points[0] = Some(i64::MAX);
    }
    let err = Manifest::from_json(&bad.to_canonical_json()).unwrap_err();
    assert!(err.to_string().contains("超过满分"), "{err}");
    let mut bad = m.clone();
    bad.indicators[scored[0]].points[0] = Some(m.composition.full_marks + 1);
    assert!(bad.validate().is_err());
}

#[test]
fn schedule_and_outcome_defaults() {
    let m = mini().manifest;
    let d = &m.schedule.round_deadlines;
    assert_eq!((d.q1.month, d.q1.day, d.q1.next_year), (4, 15, false));
    assert!(d.q4.next_year && d.annual.next_year);
    assert_eq!(m.outcomes.recommend_categories, vec!["town"]);
    assert_eq!(m.outcomes.letter_grades, vec!["pass", "fail"]);
    assert_eq!(m.outcomes.admonish_grades, vec!["fail"]);
    assert_eq!(m.composition.excellent_quota, 30);
    assert_eq!(m.fields[0].min, Some(0), "count fields start at 0");
}
