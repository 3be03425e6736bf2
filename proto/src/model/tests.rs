use sha2::{Digest as _, Sha256};

use super::*;
use crate::envelope::{Digest, Envelope};
use crate::keys::SigningKeyPair;
use crate::pb;
use crate::receipt::{ReceiptBatch, ReceiptItem};
use crate::submission::{PackIdentity, Round, SUBMISSION_PAYLOAD_TYPE, verify_submission};
use crate::validate::Problem;

fn identity(module: &[u8]) -> PackIdentity {
    PackIdentity {
        id: "baofeng".into(),
        year: 2022,
        version: 2,
        module_sha256: Sha256::digest(module).into(),
    }
}

#[test]
fn dates_are_checked_against_the_calendar() {
    assert!(Date::new(2024, 2, 29).is_some());
    assert!(Date::new(2023, 2, 29).is_none());
    assert!(Date::new(2100, 2, 29).is_none());
    assert!(Date::new(2000, 2, 29).is_some());
    assert!(Date::new(2022, 13, 1).is_none());
    assert!(Date::new(2022, 4, 31).is_none());
    assert!(Date::new(2022, 1, 0).is_none());
    assert_eq!(Date::new(2023, 1, 5).unwrap().to_string(), "2023-01-05");
    let d = Date::new(2023, 10, 8).unwrap();
    assert_eq!(Date::try_from(pb::Date::from(d)), Ok(d));
    let bad = pb::Date {
        year: 2022,
        month: 2,
        day: 30,
    };
    assert!(
        Date::try_from(bad)
            .unwrap_err()
            .to_string()
            .contains("2022-2-30")
    );
    assert!(Date::new(2023, 1, 31) > Date::new(2022, 12, 31));
}

#[test]
fn rejection_codes_map_to_grpc_codes() {
    use tonic::Code;
    let expect = [
        (RejectionCode::Invalid, Code::InvalidArgument),
        (RejectionCode::BadSignature, Code::Unauthenticated),
        (RejectionCode::UnknownKey, Code::Unauthenticated),
        (RejectionCode::IdentityMismatch, Code::PermissionDenied),
        (RejectionCode::OutOfScope, Code::PermissionDenied),
        (RejectionCode::PackMismatch, Code::FailedPrecondition),
        (RejectionCode::ReplayMismatch, Code::InvalidArgument),
        (RejectionCode::Stale, Code::FailedPrecondition),
        (RejectionCode::SequenceReused, Code::AlreadyExists),
        (RejectionCode::Closed, Code::FailedPrecondition),
        (RejectionCode::TooLarge, Code::InvalidArgument),
    ];
    for (code, grpc) in expect {
        assert_eq!(code.grpc_code(), grpc, "{code:?}");
        let r = Rejection {
            code,
            message: "单位超出授权范围（unit out of scope）".into(),
            field: Some("submission.unit_id".into()),
        };
        let status = r.to_status();
        assert_eq!(status.code(), grpc);
        assert_eq!(Rejection::from_status(&status), Some(r.clone()));
        assert_eq!(Rejection::try_from(pb::Rejection::from(r.clone())), Ok(r));
    }
    assert_eq!(
        Rejection::from_status(&tonic::Status::internal("boom")),
        None
    );
}

#[test]
fn submission_errors_become_rejections_naming_the_field() {
    let a = SigningKeyPair::from_seed(&[41; 32]);
    let b = SigningKeyPair::from_seed(&[42; 32]);
    let keys: std::collections::HashMap<_, _> =
        [(a.key_id(), a.public()), (b.key_id(), b.public())].into();

    let stranger = SigningKeyPair::from_seed(&[43; 32]);
    let unknown = Envelope::sign(SUBMISSION_PAYLOAD_TYPE, vec![1], &[&stranger]);
    let r = Rejection::from(&verify_submission(&unknown, &keys).unwrap_err());
    assert_eq!(r.code, RejectionCode::UnknownKey);
    assert!(r.message.contains(stranger.key_id().as_str()));

    // Decodes (field 2, unit_id = "!") but has no pack: the first rule broken is named.
    let junk = Envelope::sign(SUBMISSION_PAYLOAD_TYPE, vec![0x12, 0x01, b'!'], &[&a]);
    let r = Rejection::from(&verify_submission(&junk, &keys).unwrap_err());
    assert_eq!(r.code, RejectionCode::Invalid);
    assert_eq!(r.field.as_deref(), Some("submission.pack"));
    assert!(r.message.contains("字段 `pack` 缺失"), "{}", r.message);

    // Signed by a, claiming to be b.
    let s = crate::submission::tests::sample(&b);
    let r = Rejection::from(&verify_submission(&s.to_envelope(&a), &keys).unwrap_err());
    assert_eq!(r.code, RejectionCode::IdentityMismatch);
    assert_eq!(r.to_status().code(), tonic::Code::PermissionDenied);

    let wrong_type = Envelope::sign("text/plain", vec![1], &[&a]);
    let status = tonic::Status::from(verify_submission(&wrong_type, &keys).unwrap_err());
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("载荷类型"));
    assert_eq!(
        Rejection::from_status(&status).unwrap().field.as_deref(),
        Some("payload_type")
    );
}

#[test]
fn receipt_chunks_round_trip_and_name_bad_fields() {
    let hub = SigningKeyPair::from_seed(&[44; 32]);
    let items = [ReceiptItem {
        digest: Digest([7; 32]),
        unit_id: "u1".into(),
        year: 2022,
        round: Round::Annual,
        late: false,
    }];
    let receipt = ReceiptBatch::build(&items, &hub, 100).remove(0);
    let chunk = ReceiptChunk {
        outcomes: vec![
            SubmitOutcome {
                index: 0,
                digest: Digest([7; 32]),
                result: Ok(receipt),
            },
            SubmitOutcome {
                index: 1,
                digest: Digest([8; 32]),
                result: Err(Rejection::new(
                    RejectionCode::Stale,
                    "已有更新的提交（a newer submission exists）",
                )),
            },
        ],
    };
    let wire = pb::ReceiptChunk::from(chunk.clone());
    assert_eq!(ReceiptChunk::try_from(wire.clone()), Ok(chunk));

    let mut bad = wire.clone();
    bad.outcomes[1].outcome = None;
    assert_eq!(
        ReceiptChunk::try_from(bad).unwrap_err().field,
        "outcomes[1].outcome"
    );
    let mut bad = wire.clone();
    if let Some(pb::submit_outcome::Outcome::Rejection(r)) = &mut bad.outcomes[1].outcome {
        r.code = 0;
    }
    assert_eq!(
        ReceiptChunk::try_from(bad).unwrap_err().field,
        "outcomes[1].rejection.code"
    );
    let mut bad = wire;
    bad.outcomes[0].digest.truncate(31);
    assert_eq!(
        ReceiptChunk::try_from(bad).unwrap_err().field,
        "outcomes[0].digest"
    );
    assert!(GetReceiptRequest::try_from(pb::GetReceiptRequest { digest: vec![] }).is_err());
}

#[test]
fn fetched_pack_module_must_match_its_hash() {
    let authority = SigningKeyPair::from_seed(&[45; 32]);
    let module = b"\0asm\x01\0\0\0".to_vec();
    let pack = FetchedPack {
        identity: identity(&module),
        module: module.clone(),
        signature: Envelope::sign(
            "application/vnd.kaohe.pack.v1+json",
            b"{}".to_vec(),
            &[&authority],
        ),
    };
    let wire = pb::FetchPackResponse::from(pack.clone());
    assert_eq!(FetchedPack::try_from(wire.clone()), Ok(pack));

    let mut changed = wire.clone();
    changed.module[4] ^= 1;
    assert_eq!(FetchedPack::try_from(changed).unwrap_err().field, "module");
    let mut unsigned = wire.clone();
    unsigned.signature = None;
    assert_eq!(
        FetchedPack::try_from(unsigned).unwrap_err().field,
        "signature"
    );
    let mut huge = wire.clone();
    huge.module = vec![0; MAX_PACK_MODULE_BYTES + 1];
    huge.identity = Some((&identity(&huge.module)).into());
    assert!(
        FetchedPack::try_from(huge)
            .unwrap_err()
            .to_string()
            .contains("limit")
    );
    let mut no_version = wire;
    no_version.identity.as_mut().unwrap().version = 0;
    assert_eq!(
        FetchedPack::try_from(no_version).unwrap_err().field,
        "identity.version"
    );
}

#[test]
fn pack_and_result_requests_use_zero_for_any() {
    let all = ListPacksRequest::try_from(pb::ListPacksRequest { year: 0 }).unwrap();
    assert_eq!(all.year, None);
    assert_eq!(pb::ListPacksRequest::from(all).year, 0);
    assert!(ListPacksRequest::try_from(pb::ListPacksRequest { year: 1900 }).is_err());
    let current = FetchPackRequest::try_from(pb::FetchPackRequest {
        id: "baofeng".into(),
        year: 2022,
        version: 0,
    })
    .unwrap();
    assert_eq!(current.version, None);
    let every_round = ListResultsRequest::try_from(pb::ListResultsRequest {
        year: 2022,
        round: 0,
    })
    .unwrap();
    assert_eq!(every_round.round, None);
    let q4 = ListResultsRequest {
        year: 2022,
        round: Some(Round::Q4),
    };
    assert_eq!(
        ListResultsRequest::try_from(pb::ListResultsRequest::from(q4)),
        Ok(q4)
    );
    assert_eq!(
        ListResultsRequest::try_from(pb::ListResultsRequest {
            year: 2022,
            round: 9
        })
        .unwrap_err()
        .field,
        "round"
    );
    let packs = ListPacksResponse {
        packs: vec![PackSummary {
            identity: identity(b"m"),
            current: true,
            module_size: 1,
        }],
    };
    assert_eq!(
        ListPacksResponse::try_from(pb::ListPacksResponse::from(packs.clone())),
        Ok(packs)
    );
}

fn scope() -> ListMyUnitsResponse {
    ListMyUnitsResponse {
        node_id: SigningKeyPair::from_seed(&[46; 32]).key_id(),
        units: vec![
            Unit {
                unit_id: "zhaozhuang".into(),
                name: "赵庄镇".into(),
                category_id: "township".into(),
                parent_id: None,
                supervising_dept: None,
            },
            Unit {
                unit_id: "rail-office".into(),
                name: "铁路地区办事处".into(),
                category_id: "stationed".into(),
                parent_id: Some("county".into()),
                supervising_dept: Some("平顶山市铁路局".into()),
            },
        ],
        method_ids: vec!["daily".into(), "file_review".into()],
        years: vec![2022, 2023],
    }
}

#[test]
fn unit_scope_round_trips_and_refuses_duplicates() {
    let s = scope();
    let wire = pb::ListMyUnitsResponse::from(s.clone());
    assert_eq!(ListMyUnitsResponse::try_from(wire.clone()), Ok(s.clone()));
    assert!(s.covers("rail-office", "daily", 2023));
    assert!(!s.covers("rail-office", "satisfaction", 2023));
    assert!(!s.covers("rail-office", "daily", 2021));
    assert!(!s.covers("elsewhere", "daily", 2022));

    let mut dup = wire.clone();
    dup.units[1].unit_id = "zhaozhuang".into();
    assert_eq!(
        ListMyUnitsResponse::try_from(dup).unwrap_err().field,
        "units[1].unit_id"
    );
    let mut dup = wire.clone();
    dup.years = vec![2022, 2022];
    assert_eq!(
        ListMyUnitsResponse::try_from(dup).unwrap_err().field,
        "years[1]"
    );
    let mut dup = wire.clone();
    dup.method_ids.push("daily".into());
    assert_eq!(
        ListMyUnitsResponse::try_from(dup).unwrap_err().field,
        "method_ids[2]"
    );
    let mut unnamed = wire.clone();
    unnamed.units[0].name.clear();
    assert_eq!(
        ListMyUnitsResponse::try_from(unnamed).unwrap_err().field,
        "units[0].name"
    );
    let mut anonymous = wire;
    anonymous.node_id = "node".into();
    assert_eq!(
        ListMyUnitsResponse::try_from(anonymous).unwrap_err().field,
        "node_id"
    );
}

fn result() -> UnitResult {
    UnitResult {
        unit_id: "zhaozhuang".into(),
        year: 2022,
        round: Round::Annual,
        status: ResultStatus::Verification,
        scores: Some(Scores {
            applicable: 9000,
            raw: 8550,
            converted: 9500,
            bonus: 200,
            penalty: 100,
            total: 9600,
        }),
        grade: Some(Grade::Excellent),
        rank: Some(Rank {
            position: 2,
            of: 14,
        }),
        reasons: vec![ResultReason {
            indicator_id: "L1".into(),
            clause_id: Some("L1.c1".into()),
            amount: -50,
            text: "未按时报送年度计划".into(),
        }],
        verification_deadline: Date::new(2023, 1, 30),
        review_deadline: Date::new(2023, 2, 6),
        not_assessed_because: Vec::new(),
    }
}

#[test]
fn unit_results_round_trip_and_hold_together() {
    let r = result();
    let wire = pb::UnitResult::from(r.clone());
    assert_eq!(UnitResult::try_from(wire.clone()), Ok(r));
    let listed = ListResultsResponse {
        results: vec![result()],
        leaderboards: vec![QuarterBoard {
            round: Round::Q1,
            category_id: "township".into(),
            category_name: "乡镇".into(),
            max_points: 1000,
            entries: vec![BoardEntry {
                rank: 1,
                tied: false,
                unit_id: "t1".into(),
                unit_name: "大营镇".into(),
                points: 950,
            }],
            not_reported: vec![],
            excused: vec!["t2".into()],
        }],
    };
    assert_eq!(
        ListResultsResponse::try_from(pb::ListResultsResponse::from(listed.clone())),
        Ok(listed)
    );

    type Mutation = fn(&mut pb::UnitResult);
    let cases: &[(&str, Mutation)] = &[
        ("status", |m| m.status = 0),
        ("status", |m| m.status = 99),
        ("scores", |m| {
            m.status = pb::ResultStatus::NotAssessed as i32
        }),
        ("scores", |m| m.scores = None),
        ("not_assessed_because", |m| {
            m.not_assessed_because = vec!["缺日常评价".into()]
        }),
        ("scores.total", |m| m.scores.as_mut().unwrap().total += 1),
        ("scores.total", |m| {
            m.scores.as_mut().unwrap().converted = i64::MAX;
            m.scores.as_mut().unwrap().bonus = 1;
        }),
        ("grade", |m| m.grade = 7),
        ("rank", |m| m.rank = 15),
        ("rank", |m| m.rank = 0),
        ("reasons[0].text", |m| m.reasons[0].text.clear()),
        ("reasons[0].clause_id", |m| {
            m.reasons[0].clause_id = "扣分".into()
        }),
        ("verification_deadline", |m| {
            m.verification_deadline.as_mut().unwrap().day = 32
        }),
        ("review_deadline", |m| {
            m.review_deadline.as_mut().unwrap().month = 0
        }),
        ("unit_id", |m| m.unit_id.clear()),
    ];
    for (field, mutate) in cases {
        let mut bad = wire.clone();
        mutate(&mut bad);
        let err = UnitResult::try_from(bad).unwrap_err();
        assert_eq!(err.field, *field, "{err}");
    }

    // Not assessed: no scores, no grade, never a silent 0.
    let mut not_assessed = wire;
    not_assessed.status = pb::ResultStatus::NotAssessed as i32;
    not_assessed.scores = None;
    assert_eq!(
        UnitResult::try_from(not_assessed.clone())
            .unwrap_err()
            .field,
        "grade"
    );
    not_assessed.grade = 0;
    let r = UnitResult::try_from(not_assessed).unwrap();
    assert_eq!((r.scores, r.grade), (None, None));
}

fn objection(material: &[u8]) -> Objection {
    Objection::new(
        ObjectionHeader {
            unit_id: "zhaozhuang".into(),
            year: 2022,
            round: Round::Annual,
            reason: "L1 扣分依据有误，已于 3 月报送计划".into(),
            material_name: Some("报送回执.pdf".into()),
            media_type: Some("application/pdf".into()),
            material_size: 0,
            material_sha256: [0; 32],
        },
        material.to_vec(),
    )
}

fn assemble(parts: Vec<pb::ObjectionPart>) -> Result<Objection, FieldError> {
    let mut parts = parts.into_iter();
    let first = parts
        .next()
        .ok_or(FieldError::new("part", Problem::Missing))?;
    let mut assembler = ObjectionAssembler::start(ObjectionPart::try_from(first)?)?;
    for part in parts {
        assembler.push(ObjectionPart::try_from(part)?)?;
    }
    assembler.finish()
}

#[test]
fn objections_reassemble_exactly() {
    let material: Vec<u8> = (0..OBJECTION_CHUNK_BYTES * 2 + 17)
        .map(|i| i as u8)
        .collect();
    let o = objection(&material);
    assert_eq!(o.header.material_size, material.len() as u64);
    let parts = o.clone().into_parts();
    assert_eq!(parts.len(), 4);
    assert_eq!(assemble(parts), Ok(o));
    // No material at all is allowed: the hash is of nothing.
    let empty = objection(b"");
    assert_eq!(empty.clone().into_parts().len(), 1);
    assert_eq!(assemble(empty.clone().into_parts()), Ok(empty));
}

#[test]
fn objection_streams_that_break_the_rules_are_refused() {
    use pb::objection_part::Part;
    let o = objection(b"material bytes");
    let good = o.into_parts();
    let chunk = |b: &[u8]| pb::ObjectionPart {
        part: Some(Part::Chunk(b.to_vec())),
    };

    let cases: Vec<(&str, Vec<pb::ObjectionPart>)> = vec![
        ("part", vec![chunk(b"x"), good[0].clone()]),
        ("header", vec![good[0].clone(), good[0].clone()]),
        (
            "part",
            vec![good[0].clone(), pb::ObjectionPart { part: None }],
        ),
        ("header.material_size", vec![good[0].clone()]),
        (
            "header.material_size",
            vec![good[0].clone(), good[1].clone(), chunk(b"!")],
        ),
        (
            "header.material_sha256",
            vec![good[0].clone(), chunk(b"material bytez")],
        ),
        (
            "chunk",
            vec![
                good[0].clone(),
                chunk(&vec![0; MAX_OBJECTION_CHUNK_BYTES + 1]),
            ],
        ),
    ];
    for (field, parts) in cases {
        let err = assemble(parts).unwrap_err();
        assert_eq!(err.field, field, "{err}");
    }

    type Mutation = fn(&mut pb::ObjectionHeader);
    let header_cases: &[(&str, Mutation)] = &[
        ("header.material_name", |h| {
            h.material_name = "../../etc/passwd".into()
        }),
        ("header.material_name", |h| {
            h.material_name = "a\\b.pdf".into()
        }),
        ("header.material_name", |h| h.material_name.clear()),
        ("header.material_size", |h| {
            h.material_size = MAX_OBJECTION_MATERIAL_BYTES + 1
        }),
        ("header.reason", |h| h.reason = "\u{7}".into()),
        ("header.round", |h| h.round = 0),
        ("header.material_sha256", |h| h.material_sha256.clear()),
    ];
    let Some(Part::Header(header)) = good[0].part.clone() else {
        panic!("first part is the header");
    };
    for (field, mutate) in header_cases {
        let mut h = header.clone();
        mutate(&mut h);
        let part = pb::ObjectionPart {
            part: Some(Part::Header(h)),
        };
        let err = ObjectionPart::try_from(part).unwrap_err();
        assert_eq!(err.field, *field, "{err}");
    }
}

#[test]
fn objection_receipt_round_trip() {
    let r = ObjectionReceipt {
        objection_id: "obj-2022-0001".into(),
        received_at: 1_675_000_000,
        review_deadline: Date::new(2023, 2, 10),
    };
    assert_eq!(
        ObjectionReceipt::try_from(pb::ObjectionReceipt::from(r.clone())),
        Ok(r)
    );
}
