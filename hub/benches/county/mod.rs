//! The benchmarks' county: `n` township units of 2022, one node, the ABI
//! pack 2022 v1 published, and each unit's signed annual report (its
//! evidence, scores and the clause that fires with fewer than two study
//! sessions). Shared by the `ingest` and `console` benches.

use kaohe_hub::audit::Actor;
use kaohe_hub::registry::nodes::{self, AssessorKind, NewNode};
use kaohe_hub::registry::scope::Scope;
use kaohe_hub::registry::units::{self, ResponsibleAssessor, RosterSource, UnitRecord};
use kaohe_hub::{config, db, publish};
use kaohe_proto::submission::FiredClause;
use kaohe_proto::{MethodBlock, PackIdentity, Round, SigningKeyPair, Submission};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
use kaohe_rulepacks::sign::{self, TrustPolicy};

use super::support;

/// A data directory with `n` township units for 2022, one node, and the
/// ABI pack 2022 v1 published.
pub fn prepare(dir: &std::path::Path, node: &SigningKeyPair, n: usize) -> PackIdentity {
    let mut conn = db::create(dir).expect("db");
    config::init_receipt_key(dir).expect("key");
    let actor = Actor::new("bench", "2022-01-01T00:00:00Z".parse().expect("time"));
    let roster: Vec<UnitRecord> = (0..n)
        .map(|i| UnitRecord {
            year: 2022,
            id: unit_id(i),
            name: format!("乡镇{i}"),
            category: "township".into(),
            parent: None,
            supervising_department: None,
            assessor: ResponsibleAssessor::CountyOffice,
            principal: None,
        })
        .collect();
    let source = RosterSource {
        file: "bench".into(),
        sha256: "0".repeat(64),
    };
    units::replace_year(&mut conn, 2022, &roster, &source, &actor).expect("roster");
    nodes::add_node(
        &mut conn,
        NewNode {
            name: "基准节点".into(),
            assessor: AssessorKind::CountyOffice,
            assessor_unit: None,
            public_key: node.public().to_string(),
            scope: Scope {
                categories: ["township".to_string()].into(),
                methods: ["daily".to_string()].into(),
                years: [2022].into(),
                ..Scope::default()
            },
        },
        &actor,
    )
    .expect("node");
    let module = support::abi_pack(2022, 1);
    let authority = SigningKeyPair::from_seed(&[90; 32]);
    let envelope = sign::sign_pack(&module, 1, &[&authority]).expect("sign");
    let policy = TrustPolicy::new(vec![authority.public()], 1).expect("policy");
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let (verified, _) = publish::publish_signed(
        &mut conn,
        &runtime,
        &policy,
        &module,
        &envelope.to_protobuf(),
        &actor,
    )
    .expect("publish");
    verified.identity
}

pub fn unit_id(i: usize) -> String {
    format!("u{i:06}")
}

pub fn submission(node: &SigningKeyPair, pack: &PackIdentity, i: usize) -> Submission {
    let sessions = (i % 5) as i64;
    let plan = !i.is_multiple_of(3);
    let mut block = MethodBlock {
        method_id: "daily".into(),
        ..MethodBlock::default()
    };
    block
        .evidence
        .insert("sessions".into(), Some(sessions * 100));
    block
        .evidence
        .insert("plan".into(), Some(if plan { 100 } else { 0 }));
    let deduction = if sessions < 2 { 200 } else { 0 };
    block.scores.insert("L1".into(), 400 - deduction);
    block.scores.insert("L2".into(), if plan { 300 } else { 0 });
    if deduction > 0 {
        block.clauses.insert(
            "L1a".into(),
            FiredClause {
                amount: deduction,
                reason: "专题学习少于2次，扣2分".into(),
            },
        );
    }
    Submission {
        pack: pack.clone(),
        unit_id: unit_id(i),
        year: 2022,
        round: Round::Annual,
        node_id: node.key_id(),
        sequence: i as u64 + 1,
        created_at: 1_669_881_600,
        methods: vec![block],
    }
}
