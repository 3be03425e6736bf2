//! Issue #13 §3 at the hub: a pack is published only after its own
//! self-test passes in the hub's sandbox. A pack without one, or whose
//! answers differ from what it recorded, is refused with its reason and
//! the last good pack stays current — nothing is stored.

use kaohe_rulepacks::pack::{Pack, PackError};
use kaohe_rulepacks::selftest::{self, SelfTestError};

use super::support::abi_pack_without_self_test;
use super::*;

fn publish(conn: &mut Connection, module: &[u8]) -> Result<(), publish::PublishError> {
    let envelope = sign::sign_pack(module, 1_660_000_000, &[&authority()]).unwrap();
    let policy = TrustPolicy::new(vec![authority().public()], 1).unwrap();
    let runtime = Runtime::new(small_runtime()).unwrap();
    publish::publish_signed(
        conn,
        &runtime,
        &policy,
        module,
        &envelope.to_protobuf(),
        &actor(START),
    )
    .map(|_| ())
}

#[test]
fn a_pack_without_a_self_test_is_not_published() {
    let setup = setup();
    let mut conn = db::open_existing(&setup.dir).unwrap();
    let before = dump(&conn);
    let err = publish(&mut conn, &abi_pack_without_self_test(2022, 2)).unwrap_err();
    assert!(
        matches!(err, publish::PublishError::NoSelfTest { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("没有内嵌自检用例"), "{err}");
    assert_eq!(dump(&conn), before, "nothing published; v1 stays current");
}

#[test]
fn a_pack_answering_otherwise_than_its_self_test_is_not_published() {
    let setup = setup();
    let mut conn = db::open_existing(&setup.dir).unwrap();
    let before = dump(&conn);
    // abi-pack v2 with a self-test recorded as if its first unit's L1 were
    // 3.99, not 4.00: the pack loads, but does not answer as recorded.
    let module = abi_pack_without_self_test(2022, 2);
    let runtime = Runtime::new(small_runtime()).unwrap();
    let pack = Pack::load_as_found(&runtime, &module).unwrap();
    let unit = kaohe_rulepacks::abi::UnitInput {
        category: 0,
        round: kaohe_rulepacks::manifest::Round::Annual,
        methods: 1,
        values: vec![Some(300), Some(100)],
        not_applicable: Vec::new(),
    };
    let mut test = kaohe_rulepacks::compile::record_self_test(&pack, &[unit], &[]).unwrap();
    assert_eq!(test.evaluate.output[24], 0x90, "L1 = 400 = 0x190");
    test.evaluate.output[24] = 0x8f;
    let err = publish(&mut conn, &selftest::embed(&module, &test)).unwrap_err();
    assert!(
        matches!(
            err,
            publish::PublishError::Unusable(PackError::SelfTest {
                source: SelfTestError::Failed(_),
                ..
            })
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("自检未通过") && text.contains("L1 3.99") && text.contains("L1 4"),
        "{text}"
    );
    assert_eq!(dump(&conn), before, "nothing published; v1 stays current");

    // Recorded as it answers, the same pack publishes.
    let good = kaohe_rulepacks::compile::record_self_test(
        &pack,
        &[kaohe_rulepacks::abi::UnitInput {
            category: 0,
            round: kaohe_rulepacks::manifest::Round::Annual,
            methods: 1,
            values: vec![Some(300), Some(100)],
            not_applicable: Vec::new(),
        }],
        &[],
    )
    .unwrap();
    publish(&mut conn, &selftest::embed(&module, &good)).unwrap();
}
