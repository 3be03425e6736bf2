use serde_json::json;

use super::change::{EditNodeError, NodeEdit, RotateKeyError, edit_node, rotate_key};
use super::*;
use crate::registry::units::YearRoster;
use crate::registry::units::tests::unit;
use kaohe_proto::keys::SigningKeyPair;

/// A valid public key, different for each `seed`.
pub(crate) fn key(seed: u8) -> String {
    SigningKeyPair::from_seed(&[seed; 32]).public().to_string()
}

fn actor(at: &str) -> Actor {
    Actor::new("zhang", at.parse().unwrap())
}

fn township_scope() -> Scope {
    Scope {
        categories: ["township".to_string()].into(),
        methods: ["daily".to_string()].into(),
        years: [2024].into(),
        ..Scope::default()
    }
}

fn new_node(name: &str, byte: u8) -> NewNode {
    NewNode {
        name: name.into(),
        assessor: AssessorKind::CountyOffice,
        assessor_unit: None,
        public_key: key(byte),
        scope: township_scope(),
    }
}

/// 2024: township t1 (assessed by the county office) with its village
/// t1v1 (assessed by t1); hospital h1 (assessed by the health commission).
fn roster() -> YearRoster {
    let mut t1v1 = unit(2024, "t1v1", "village", Some("t1"));
    t1v1.assessor = ResponsibleAssessor::Unit("t1".into());
    let mut h1 = unit(2024, "h1", "hospital", None);
    h1.assessor = ResponsibleAssessor::HealthCommission;
    YearRoster {
        year: 2024,
        units: [unit(2024, "t1", "township", None), t1v1, h1]
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect(),
    }
}

fn township_node(scope: Scope) -> NodeRecord {
    let pair = SigningKeyPair::from_seed(&[7; 32]);
    NodeRecord {
        id: pair.key_id(),
        key: NodeKey {
            key_id: pair.key_id(),
            public_key: pair.public(),
            first_sequence: 1,
            added_at: "2024-01-05T02:00:00Z".parse().unwrap(),
            retired: None,
        },
        earlier_keys: Vec::new(),
        name: "肖旗乡节点".into(),
        assessor: AssessorKind::Township,
        assessor_unit: Some("t1".into()),
        scope,
        added_at: "2024-01-05T02:00:00Z".parse().unwrap(),
        state: NodeState::Active,
    }
}

#[test]
fn a_node_is_added_listed_and_found_by_key_id_key_or_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::db::create(dir.path()).unwrap();
    let added = add_node(
        &mut conn,
        new_node("依法治县办节点", 1),
        &actor("2024-01-05T02:00:00Z"),
    )
    .unwrap();
    assert_eq!(added.id, SigningKeyPair::from_seed(&[1; 32]).key_id());
    assert_eq!(added.key.key_id, added.id);
    assert_eq!(list_nodes(&conn).unwrap(), vec![added.clone()]);
    assert_eq!(find_node(&conn, added.id.as_str()).unwrap(), added);
    assert_eq!(find_node(&conn, &key(1)).unwrap(), added);
    assert_eq!(find_node(&conn, "依法治县办节点").unwrap(), added);
    assert!(matches!(
        find_node(&conn, "nobody"),
        Err(FindNodeError::NotFound { .. })
    ));
    let log = audit::recent(&conn, 5).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, audit::action::NODE_ADD);
    assert_eq!(log[0].detail["scope"]["categories"], json!(["township"]));
}

#[test]
fn the_same_key_or_an_active_name_cannot_be_registered_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::db::create(dir.path()).unwrap();
    let at = actor("2024-01-05T02:00:00Z");
    add_node(&mut conn, new_node("甲", 1), &at).unwrap();
    assert!(matches!(
        add_node(&mut conn, new_node("乙", 1), &at),
        Err(AddNodeError::DuplicateKey { .. })
    ));
    let err = add_node(&mut conn, new_node("甲", 2), &at).unwrap_err();
    assert!(matches!(err, AddNodeError::DuplicateName { .. }));
    // The way out is named: edit or rotate, not a second registration.
    assert!(err.to_string().contains("kaohe hub node edit"), "{err}");
    let mut bad = new_node("丙", 3);
    bad.scope.methods.clear();
    assert!(matches!(
        add_node(&mut conn, bad, &at),
        Err(AddNodeError::Scope(_))
    ));
    let mut bad = new_node("丁", 4);
    bad.public_key = "ed25519:AAAA".into();
    assert!(matches!(
        add_node(&mut conn, bad, &at),
        Err(AddNodeError::Key(_))
    ));
    // A small-order point is refused (verification must be strict).
    let mut weak = new_node("戊", 5);
    // The identity point (y = 1), of order 1.
    weak.public_key = "ed25519:AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    assert!(matches!(
        add_node(&mut conn, weak, &at),
        Err(AddNodeError::Key(_))
    ));
    assert_eq!(list_nodes(&conn).unwrap().len(), 1);
    assert_eq!(audit::recent(&conn, 10).unwrap().len(), 1);
}

#[test]
fn a_township_node_must_name_its_unit_and_a_county_level_one_must_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::db::create(dir.path()).unwrap();
    let at = actor("2024-01-05T02:00:00Z");
    let mut township = new_node("肖旗乡节点", 1);
    township.assessor = AssessorKind::Township;
    let err = add_node(&mut conn, township.clone(), &at).unwrap_err();
    assert!(matches!(
        err,
        AddNodeError::AssessorUnit(AssessorUnitError::Required { .. })
    ));
    assert!(err.to_string().contains("--assessor-unit"), "{err}");
    let mut office = new_node("依法治县办节点", 2);
    office.assessor_unit = Some("t1".into());
    assert!(matches!(
        add_node(&mut conn, office, &at),
        Err(AddNodeError::AssessorUnit(
            AssessorUnitError::NotAllowed { .. }
        ))
    ));
    township.assessor_unit = Some(" t1 ".into());
    let added = add_node(&mut conn, township, &at).unwrap();
    assert_eq!(added.assessor_unit.as_deref(), Some("t1"));
    assert_eq!(
        find_node(&conn, "肖旗乡节点").unwrap().responsible(),
        Some(ResponsibleAssessor::Unit("t1".into()))
    );
}

#[test]
fn a_node_reports_only_units_the_roster_gives_to_its_assessor() {
    let r = roster();
    // Its subtree includes the township itself; the roster gives the
    // township to the county office.
    let node = township_node(Scope {
        subtrees: ["t1".to_string()].into(),
        ..township_scope()
    });
    assert_eq!(
        node.authorize(r.get("t1v1").unwrap(), "daily", 2024, &r),
        Ok(())
    );
    let refusal = node
        .authorize(r.get("t1").unwrap(), "daily", 2024, &r)
        .unwrap_err();
    let text = refusal.to_string();
    assert!(text.contains("考核主体是依法治县办"), "{text}");
    assert!(text.contains("--own-unit"), "{text}");
    assert!(!node.may_report(r.get("t1").unwrap(), &r));
    assert!(node.may_report(r.get("t1v1").unwrap(), &r));

    // Said explicitly, its own unit is allowed (self-assessment).
    let own = township_node(Scope {
        subtrees: ["t1".to_string()].into(),
        own_unit: true,
        ..township_scope()
    });
    assert_eq!(
        own.authorize(r.get("t1").unwrap(), "daily", 2024, &r),
        Ok(())
    );

    // A county-office node granted everything by category still cannot
    // report the hospital the roster gives to the health commission.
    let mut office = township_node(Scope {
        categories: ["hospital".to_string(), "village".to_string()].into(),
        ..township_scope()
    });
    office.assessor = AssessorKind::CountyOffice;
    office.assessor_unit = None;
    let text = office
        .authorize(r.get("h1").unwrap(), "daily", 2024, &r)
        .unwrap_err()
        .to_string();
    assert!(text.contains("考核主体是卫健委"), "{text}");
    assert!(text.contains("本节点（依法治县办）"), "{text}");
    let text = office
        .authorize(r.get("t1v1").unwrap(), "daily", 2024, &r)
        .unwrap_err()
        .to_string();
    assert!(text.contains("考核主体是t1名称（t1）"), "{text}");
}

#[test]
fn a_revoked_node_is_refused_and_its_name_can_be_reused_by_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::db::create(dir.path()).unwrap();
    let node = add_node(
        &mut conn,
        new_node("肖旗乡节点", 1),
        &actor("2024-01-05T02:00:00Z"),
    )
    .unwrap();
    let r = YearRoster {
        year: 2024,
        units: [("t1".to_string(), unit(2024, "t1", "township", None))].into(),
    };
    let t1 = r.get("t1").unwrap();
    assert_eq!(node.authorize(t1, "daily", 2024, &r), Ok(()));

    assert!(matches!(
        revoke_node(
            &mut conn,
            node.id.as_str(),
            "  ",
            &actor("2024-06-01T00:00:00Z")
        ),
        Err(RevokeNodeError::EmptyReason)
    ));
    let revoked = revoke_node(
        &mut conn,
        "肖旗乡节点",
        "密钥遗失",
        &actor("2024-06-01T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        revoked.state,
        NodeState::Revoked {
            at: "2024-06-01T00:00:00Z".parse().unwrap(),
            reason: "密钥遗失".into()
        }
    );
    let stored = node_by_key_id(&conn, &node.id).unwrap().unwrap();
    assert_eq!(stored, revoked);
    let refusal = stored.authorize(t1, "daily", 2024, &r).unwrap_err();
    assert!(matches!(refusal, NodeRefusal::Revoked { .. }));
    assert!(refusal.to_string().contains("密钥遗失"), "{refusal}");

    assert!(matches!(
        revoke_node(
            &mut conn,
            node.id.as_str(),
            "again",
            &actor("2024-06-02T00:00:00Z")
        ),
        Err(RevokeNodeError::AlreadyRevoked { .. })
    ));
    // The same name with a new key.
    let fresh = add_node(
        &mut conn,
        new_node("肖旗乡节点", 2),
        &actor("2024-06-03T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(find_node(&conn, "肖旗乡节点").unwrap(), fresh);
    let nodes = list_nodes(&conn).unwrap();
    assert_eq!(nodes.len(), 2);
    assert!(nodes[0].is_active(), "active nodes are listed first");

    let log = audit::recent(&conn, 10).unwrap();
    let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, vec!["node.add", "node.revoke", "node.add"]);
    assert_eq!(log[1].detail["reason"], json!("密钥遗失"));
}

#[test]
fn a_scope_is_edited_with_its_reason_and_both_versions_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::db::create(dir.path()).unwrap();
    let node = add_node(
        &mut conn,
        new_node("依法治县办节点", 1),
        &actor("2024-01-05T02:00:00Z"),
    )
    .unwrap();
    let at = actor("2024-02-01T02:00:00Z");
    let edit = NodeEdit {
        methods: Some(["daily".to_string(), "supervision".to_string()].into()),
        years: Some([2024, 2025].into()),
        ..NodeEdit::default()
    };
    assert!(matches!(
        edit_node(&mut conn, node.id.as_str(), &edit, " ", &at),
        Err(EditNodeError::EmptyReason)
    ));
    assert!(matches!(
        edit_node(&mut conn, node.id.as_str(), &NodeEdit::default(), "无", &at),
        Err(EditNodeError::Nothing)
    ));
    let bad = NodeEdit {
        categories: Some(Default::default()),
        ..NodeEdit::default()
    };
    assert!(matches!(
        edit_node(&mut conn, node.id.as_str(), &bad, "清空", &at),
        Err(EditNodeError::Scope(_))
    ));
    let edited = edit_node(&mut conn, "依法治县办节点", &edit, "补授权监督督察", &at).unwrap();
    assert_eq!(edited.before, node);
    assert_eq!(edited.after.scope.categories, node.scope.categories);
    assert_eq!(edited.after.scope.methods.len(), 2);
    assert_eq!(find_node(&conn, node.id.as_str()).unwrap(), edited.after);
    let log = audit::recent(&conn, 1).unwrap();
    assert_eq!(log[0].action, audit::action::NODE_EDIT);
    assert_eq!(log[0].detail["reason"], json!("补授权监督督察"));
    assert_eq!(
        log[0].detail["before"]["scope"]["methods"],
        json!(["daily"])
    );
    assert_eq!(
        log[0].detail["after"]["scope"]["methods"],
        json!(["daily", "supervision"])
    );
    // A county-level node has no unit to name.
    let unit = NodeEdit {
        assessor_unit: Some("t1".into()),
        ..NodeEdit::default()
    };
    assert!(matches!(
        edit_node(&mut conn, node.id.as_str(), &unit, "误填", &at),
        Err(EditNodeError::AssessorUnit(_))
    ));
}

#[test]
fn a_rotated_key_keeps_the_node_and_its_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::db::create(dir.path()).unwrap();
    let node = add_node(
        &mut conn,
        new_node("依法治县办节点", 1),
        &actor("2024-01-05T02:00:00Z"),
    )
    .unwrap();
    let at = actor("2024-07-01T02:00:00Z");
    assert!(matches!(
        rotate_key(&mut conn, node.id.as_str(), &key(1), "换钥", &at),
        Err(RotateKeyError::DuplicateKey { .. })
    ));
    assert!(matches!(
        rotate_key(&mut conn, node.id.as_str(), &key(2), "", &at),
        Err(RotateKeyError::EmptyReason)
    ));
    let rotated = rotate_key(&mut conn, "依法治县办节点", &key(2), "定期更换", &at).unwrap();
    let new_id = SigningKeyPair::from_seed(&[2; 32]).key_id();
    assert_eq!(rotated.node.id, node.id);
    assert_eq!(rotated.node.key.key_id, new_id);
    // Nothing was accepted from the node yet: its sequence starts at 1.
    assert_eq!(rotated.node.key.first_sequence, 1);
    assert_eq!(rotated.old.key_id, node.id);
    let stored = node_by_key_id(&conn, &new_id).unwrap().unwrap();
    assert_eq!(stored, rotated.node);
    // Found by the old key too, and it is the same node.
    assert_eq!(node_by_key_id(&conn, &node.id).unwrap().unwrap(), stored);
    assert_eq!(stored.earlier_keys.len(), 1);
    assert_eq!(
        stored.earlier_keys[0]
            .retired
            .as_ref()
            .map(|(_, why)| why.as_str()),
        Some("定期更换")
    );
    assert_eq!(list_nodes(&conn).unwrap(), vec![stored.clone()]);
    // Neither key can be registered again, not even as a new node.
    assert!(matches!(
        add_node(&mut conn, new_node("新节点", 1), &at),
        Err(AddNodeError::DuplicateKey { .. })
    ));
    let log = audit::recent(&conn, 1).unwrap();
    assert_eq!(log[0].action, audit::action::NODE_ROTATE_KEY);
    assert_eq!(log[0].detail["new_key_id"], json!(new_id));
    // A revoked node gets no new key.
    revoke_node(&mut conn, node.id.as_str(), "撤销", &at).unwrap();
    assert!(matches!(
        rotate_key(&mut conn, node.id.as_str(), &key(3), "换钥", &at),
        Err(RotateKeyError::Revoked { .. })
    ));
}

#[test]
fn assessor_kinds_parse_from_ids_and_chinese() {
    assert_eq!("sasac".parse(), Ok(AssessorKind::Sasac));
    assert_eq!("卫健委".parse(), Ok(AssessorKind::HealthCommission));
    assert!("police".parse::<AssessorKind>().is_err());
}
