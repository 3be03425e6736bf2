use std::collections::HashMap;

use proptest::prelude::*;
use sha2::{Digest as _, Sha256};

use super::*;
use crate::envelope::pae;
use crate::keys::PublicKey;

fn node() -> SigningKeyPair {
    SigningKeyPair::from_seed(&[21; 32])
}

pub(crate) fn sample(node: &SigningKeyPair) -> Submission {
    let mut daily = MethodBlock {
        method_id: "daily".into(),
        ..MethodBlock::default()
    };
    daily.evidence.insert("study_sessions".into(), Some(300));
    daily.evidence.insert("plan_filed".into(), None);
    daily.scores.insert("L1".into(), 350);
    daily.clauses.insert(
        "L1.c1".into(),
        FiredClause {
            amount: 50,
            reason: "未按时报送年度计划，扣 0.5 分".into(),
        },
    );
    let mut review = MethodBlock {
        method_id: "file_review".into(),
        ..MethodBlock::default()
    };
    review.scores.insert("N2.3".into(), 0);
    Submission {
        pack: PackIdentity {
            id: "baofeng".into(),
            year: 2022,
            version: 1,
            module_sha256: [0xab; 32],
        },
        unit_id: "zhaozhuang".into(),
        year: 2022,
        round: Round::Q2,
        node_id: node.key_id(),
        sequence: 7,
        created_at: 1_656_000_000,
        methods: vec![daily, review],
    }
}

/// [`sample`] with an item of its second block marked not applicable.
fn sample_with_marks(node: &SigningKeyPair) -> Submission {
    let mut s = sample(node);
    s.methods[1]
        .not_applicable
        .insert("N2.5".into(), "本单位不承担行政执法职能，不适用".into());
    s
}

fn known(keys: &[&SigningKeyPair]) -> HashMap<KeyId, PublicKey> {
    keys.iter().map(|k| (k.key_id(), k.public())).collect()
}

#[test]
fn encode_decode_round_trip() {
    let s = sample(&node());
    assert_eq!(Submission::decode(&s.encode()).unwrap(), s);
    assert!(s.validate().is_ok());
    let marked = sample_with_marks(&node());
    assert_eq!(Submission::decode(&marked.encode()).unwrap(), marked);
    assert_ne!(marked.encode(), s.encode(), "the marks are signed too");
}

#[test]
fn sign_verify_round_trip() {
    let key = node();
    let s = sample(&key);
    let env = s.to_envelope(&key);
    assert_eq!(env.payload_type, SUBMISSION_PAYLOAD_TYPE);
    let v = verify_submission(&env, &known(&[&key])).unwrap();
    assert_eq!(v.submission, s);
    assert_eq!(v.node_id, key.key_id());
    assert_eq!(v.digest, env.digest());
    let via_wire = Envelope::try_from(pb::Envelope::from(env.clone())).unwrap();
    assert_eq!(verify_submission(&via_wire, &known(&[&key])).unwrap(), v);
}

#[test]
fn digest_is_sha256_of_pae_and_stable() {
    let key = node();
    let s = sample(&key);
    let env = s.to_envelope(&key);
    let expect: [u8; 32] = Sha256::digest(pae(SUBMISSION_PAYLOAD_TYPE, &s.encode())).into();
    assert_eq!(env.digest().0, expect);
    // Pinned: a change here means the wire encoding changed, which would
    // change every digest (and receipt) a hub has issued.
    assert_eq!(
        env.digest().to_string(),
        "0625b963de2428e1626f3aa8fd7fb5d887b907996d5b7b04ee97f23fae3e226c"
    );
    // Built in another order, the same content gives the same bytes.
    let mut reordered = s.clone();
    let daily = &mut reordered.methods[0];
    let evidence: Vec<_> = std::mem::take(&mut daily.evidence)
        .into_iter()
        .rev()
        .collect();
    daily.evidence.extend(evidence);
    assert_eq!(reordered.to_envelope(&key).digest(), env.digest());
    // Any change of content changes the digest.
    let mut later = s.clone();
    later.sequence += 1;
    assert_ne!(later.to_envelope(&key).digest(), env.digest());
}

#[test]
fn supersession_follows_sequence_numbers() {
    assert_eq!(compare_sequence(5, 6), Supersession::Newer);
    assert_eq!(compare_sequence(5, 5), Supersession::Same);
    assert_eq!(compare_sequence(6, 5), Supersession::Stale);
    assert_eq!(compare_sequence(1, u64::MAX), Supersession::Newer);
    // Arrival order does not matter; only the numbers do.
    let arrivals = [3u64, 1, 4, 2, 4, 5];
    let mut stored: Option<u64> = None;
    let mut outcomes = Vec::new();
    for seq in arrivals {
        let outcome = stored.map_or(Supersession::Newer, |s| compare_sequence(s, seq));
        if outcome == Supersession::Newer {
            stored = Some(seq);
        }
        outcomes.push(outcome);
    }
    use Supersession::*;
    assert_eq!(outcomes, [Newer, Stale, Newer, Stale, Same, Newer]);
    assert_eq!(stored, Some(5));
    let keys: Vec<_> = sample(&node()).supersession_keys().collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1].method_id, "file_review");
    assert_eq!(keys[0].round, Round::Q2);
}

#[test]
fn node_id_must_be_the_signer() {
    let a = node();
    let b = SigningKeyPair::from_seed(&[22; 32]);
    // Written as node a, signed by node b, both known to the hub.
    let env = sample(&a).to_envelope(&b);
    assert_eq!(
        verify_submission(&env, &known(&[&a, &b])),
        Err(SubmissionError::IdentityMismatch {
            payload: a.key_id(),
            signer: b.key_id()
        })
    );
    let good = sample(&a).to_envelope(&a);
    assert!(verify_submission_from(&good, &known(&[&a, &b]), &a.key_id()).is_ok());
    assert_eq!(
        verify_submission_from(&good, &known(&[&a, &b]), &b.key_id()),
        Err(SubmissionError::PeerMismatch {
            signer: a.key_id(),
            peer: b.key_id()
        })
    );
}

#[test]
fn exactly_one_signature() {
    let a = node();
    let b = SigningKeyPair::from_seed(&[23; 32]);
    let s = sample(&a);
    let env = Envelope::sign(SUBMISSION_PAYLOAD_TYPE, s.encode(), &[&a, &b]);
    assert_eq!(
        verify_submission(&env, &known(&[&a, &b])),
        Err(SubmissionError::SignerCount(2))
    );
    let unsigned = Envelope::sign(SUBMISSION_PAYLOAD_TYPE, s.encode(), &[]);
    assert_eq!(
        verify_submission(&unsigned, &known(&[&a])),
        Err(SubmissionError::SignerCount(0))
    );
}

#[test]
fn signed_junk_and_truncated_payloads_are_refused_after_verification() {
    let a = node();
    let mut bytes = sample(&a).encode();
    bytes.truncate(bytes.len() - 3);
    let env = Envelope::sign(SUBMISSION_PAYLOAD_TYPE, bytes, &[&a]);
    assert!(matches!(
        verify_submission(&env, &known(&[&a])),
        Err(SubmissionError::Decode(_))
    ));
    // Unsigned-by-a-known-key junk never reaches the decoder.
    let stranger = SigningKeyPair::from_seed(&[24; 32]);
    let junk = Envelope::sign(SUBMISSION_PAYLOAD_TYPE, vec![0xff; 9], &[&stranger]);
    assert_eq!(
        verify_submission(&junk, &known(&[&a])),
        Err(SubmissionError::Envelope(EnvelopeError::UnknownKey(
            stranger.key_id()
        )))
    );
}

/// Each case breaks one rule of the wire message and names the field the
/// error must point at.
#[test]
fn validation_names_the_field() {
    type Mutation = fn(&mut pb::Submission);
    let cases: &[(&str, Mutation)] = &[
        ("pack", |m| m.pack = None),
        ("pack.id", |m| m.pack.as_mut().unwrap().id = "宝丰".into()),
        ("pack.version", |m| m.pack.as_mut().unwrap().version = 0),
        ("pack.module_sha256", |m| {
            m.pack.as_mut().unwrap().module_sha256.pop();
        }),
        ("pack.year", |m| m.pack.as_mut().unwrap().year = 2021),
        ("unit_id", |m| m.unit_id.clear()),
        ("year", |m| m.year = 1999),
        ("round", |m| m.round = pb::Round::Unspecified as i32),
        ("round", |m| m.round = 42),
        ("node_id", |m| m.node_id = "node-1".into()),
        ("sequence", |m| m.sequence = 0),
        ("created_at", |m| m.created_at = -1),
        ("methods", |m| m.methods.clear()),
        ("methods[1].method_id", |m| {
            m.methods[1].method_id = "daily".into()
        }),
        ("methods[0].evidence[1].field_id", |m| {
            let first = m.methods[0].evidence[0].clone();
            m.methods[0].evidence[1] = first;
        }),
        ("methods[0].scores[0].indicator_id", |m| {
            m.methods[0].scores[0].indicator_id = "L 1".into()
        }),
        ("methods[0].clauses[0].reason", |m| {
            m.methods[0].clauses[0].reason.clear()
        }),
        ("methods[0].clauses[0].reason", |m| {
            m.methods[0].clauses[0].reason = "长".repeat(MAX_REASON_CHARS + 1)
        }),
        ("methods[1].not_applicable[0].reason", |m| {
            m.methods[1].not_applicable[0].reason = " ".into()
        }),
        ("methods[1].not_applicable[0].reason", |m| {
            m.methods[1].not_applicable[0].reason = "长".repeat(MAX_REASON_CHARS + 1)
        }),
        ("methods[1].not_applicable[1].indicator_id", |m| {
            let first = m.methods[1].not_applicable[0].clone();
            m.methods[1].not_applicable.push(first);
        }),
        ("methods[1].not_applicable[0].indicator_id", |m| {
            m.methods[1].not_applicable[0].indicator_id = "N2 5".into()
        }),
        ("methods", |m| {
            m.methods = (0..=MAX_METHODS)
                .map(|i| pb::MethodBlock {
                    method_id: format!("m{i}"),
                    ..Default::default()
                })
                .collect()
        }),
    ];
    let good = pb::Submission::from(&sample_with_marks(&node()));
    assert!(Submission::try_from(good.clone()).is_ok());
    for (field, mutate) in cases {
        let mut bad = good.clone();
        mutate(&mut bad);
        let err = Submission::try_from(bad).unwrap_err();
        assert_eq!(err.field, *field, "{err}");
    }
}

fn id() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_.-]{0,12}"
}

fn method_block() -> impl Strategy<Value = MethodBlock> {
    (
        id(),
        prop::collection::btree_map(id(), prop::option::of(any::<i64>()), 0..6),
        prop::collection::btree_map(id(), any::<i64>(), 0..6),
        prop::collection::btree_map(id(), (any::<i64>(), "[扣加分 a-z0-9]{1,20}"), 0..4),
        prop::collection::btree_map(id(), "[不适用理由 a-z0-9]{1,20}", 0..3),
    )
        .prop_map(
            |(method_id, evidence, scores, clauses, not_applicable)| MethodBlock {
                method_id,
                evidence,
                scores,
                clauses: clauses
                    .into_iter()
                    .filter(|(_, (_, reason))| !reason.trim().is_empty())
                    .map(|(k, (amount, reason))| (k, FiredClause { amount, reason }))
                    .collect(),
                not_applicable: not_applicable
                    .into_iter()
                    .filter(|(_, reason)| !reason.trim().is_empty())
                    .collect(),
            },
        )
}

proptest! {
    #[test]
    fn any_valid_submission_round_trips(
        blocks in prop::collection::vec(method_block(), 1..4),
        sequence in 1u64..,
        created_at in 0i64..,
        year in 2000u16..=2100,
        round in prop::sample::select(Round::ALL.to_vec()),
    ) {
        let key = node();
        let mut s = sample(&key);
        let mut seen = std::collections::HashSet::new();
        s.methods = blocks.into_iter().filter(|b| seen.insert(b.method_id.clone())).collect();
        s.sequence = sequence;
        s.created_at = created_at;
        s.year = year;
        s.pack.year = year;
        s.round = round;
        let v = verify_submission(&s.to_envelope(&key), &known(&[&key])).unwrap();
        prop_assert_eq!(v.submission, s);
    }
}
