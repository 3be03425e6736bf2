//! The generated services, the model and the signed objects together over a
//! real gRPC connection on 127.0.0.1:0: what a node sends is what the hub
//! checks, rejections keep their code, field and Chinese message across the
//! wire, and a rejected envelope in a stream does not end the stream.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use kaohe_proto::envelope::DEFAULT_MAX_PAYLOAD_BYTES;
use kaohe_proto::model::{
    self, MAX_ENVELOPE_MESSAGE_BYTES, Objection, ObjectionAssembler, ObjectionHeader,
    ObjectionPart, ReceiptChunk, Rejection, RejectionCode, SubmitOutcome,
};
use kaohe_proto::pb::result_service_client::ResultServiceClient;
use kaohe_proto::pb::result_service_server::{ResultService, ResultServiceServer};
use kaohe_proto::pb::submission_service_client::SubmissionServiceClient;
use kaohe_proto::pb::submission_service_server::{SubmissionService, SubmissionServiceServer};
use kaohe_proto::submission::SUBMISSION_PAYLOAD_TYPE;
use kaohe_proto::{
    Digest, Envelope, KeyId, MethodBlock, PackIdentity, PublicKey, Receipt, ReceiptBatch,
    ReceiptItem, Round, SigningKeyPair, Submission, pb, verify_submission,
};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

/// A hub reduced to what this test needs: verify, "commit" in memory, sign
/// a receipt batch of one.
struct TestHub {
    key: SigningKeyPair,
    nodes: HashMap<KeyId, PublicKey>,
    receipts: Mutex<HashMap<Digest, Receipt>>,
}

impl TestHub {
    fn accept(&self, wire: pb::Envelope) -> Result<Receipt, Rejection> {
        let envelope = Envelope::try_from(wire)?;
        let verified =
            verify_submission(&envelope, &self.nodes).map_err(|e| Rejection::from(&e))?;
        let mut receipts = self.receipts.lock().expect("lock");
        let receipt = receipts.entry(verified.digest).or_insert_with(|| {
            let item = ReceiptItem {
                digest: verified.digest,
                unit_id: verified.submission.unit_id.clone(),
                year: verified.submission.year,
                round: verified.submission.round,
                late: false,
            };
            ReceiptBatch::build(&[item], &self.key, 1_700_000_000).remove(0)
        });
        Ok(receipt.clone())
    }
}

/// The services' handle on the shared test hub.
#[derive(Clone)]
struct Hub(Arc<TestHub>);

#[tonic::async_trait]
impl SubmissionService for Hub {
    async fn submit(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::Receipt>, Status> {
        let receipt = self.0.accept(request.into_inner())?;
        Ok(Response::new(receipt.into()))
    }

    type SubmitStreamStream = ReceiverStream<Result<pb::ReceiptChunk, Status>>;

    async fn submit_stream(
        &self,
        request: Request<Streaming<pb::Envelope>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        let mut incoming = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let hub = Arc::clone(&self.0);
        tokio::spawn(async move {
            let mut index = 0u64;
            while let Some(next) = incoming.next().await {
                let Ok(wire) = next else { break };
                let digest = Digest::of_pae(&wire.payload_type, &wire.payload);
                let outcome = SubmitOutcome {
                    index,
                    digest,
                    result: hub.accept(wire),
                };
                let chunk = ReceiptChunk {
                    outcomes: vec![outcome],
                };
                if tx.send(Ok(chunk.into())).await.is_err() {
                    break;
                }
                index += 1;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::Receipt>, Status> {
        let request = model::GetReceiptRequest::try_from(request.into_inner())?;
        let receipts = self.0.receipts.lock().expect("lock");
        match receipts.get(&request.digest) {
            Some(r) => Ok(Response::new(r.clone().into())),
            None => Err(Status::not_found(format!(
                "没有摘要为 {} 的提交（no submission with digest {}）",
                request.digest, request.digest
            ))),
        }
    }
}

#[tonic::async_trait]
impl ResultService for Hub {
    async fn list_results(
        &self,
        request: Request<pb::ListResultsRequest>,
    ) -> Result<Response<pb::ListResultsResponse>, Status> {
        let request = model::ListResultsRequest::try_from(request.into_inner())?;
        let response = model::ListResultsResponse {
            results: vec![model::UnitResult {
                unit_id: "zhaozhuang".into(),
                year: request.year,
                round: request.round.unwrap_or(Round::Annual),
                status: model::ResultStatus::NotAssessed,
                scores: None,
                grade: None,
                rank: None,
                reasons: Vec::new(),
                verification_deadline: None,
                review_deadline: None,
                not_assessed_because: vec!["日常评价（daily）第一季度结果未报送".into()],
            }],
            leaderboards: Vec::new(),
        };
        Ok(Response::new(response.into()))
    }

    async fn file_objection(
        &self,
        request: Request<Streaming<pb::ObjectionPart>>,
    ) -> Result<Response<pb::ObjectionReceipt>, Status> {
        let mut parts = request.into_inner();
        let first = parts
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("空的异议（empty objection）"))??;
        let mut assembler = ObjectionAssembler::start(ObjectionPart::try_from(first)?)?;
        while let Some(part) = parts.next().await {
            assembler.push(ObjectionPart::try_from(part?)?)?;
        }
        let objection = assembler.finish()?;
        let receipt = model::ObjectionReceipt {
            objection_id: format!("obj-{}", hex(&objection.header.material_sha256[..4])),
            received_at: 1_700_000_000,
            review_deadline: None,
        };
        Ok(Response::new(receipt.into()))
    }
}

/// A small valid submission from `node`.
fn tests_fixture(node: &SigningKeyPair) -> Submission {
    let mut daily = MethodBlock {
        method_id: "daily".into(),
        ..MethodBlock::default()
    };
    daily.evidence.insert("study_sessions".into(), Some(300));
    daily.scores.insert("L1".into(), 400);
    Submission {
        pack: PackIdentity {
            id: "baofeng".into(),
            year: 2022,
            version: 1,
            module_sha256: [9; 32],
        },
        unit_id: "zhaozhuang".into(),
        year: 2022,
        round: Round::Q1,
        node_id: node.key_id(),
        sequence: 1,
        created_at: 1_650_000_000,
        methods: vec![daily],
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn start(hub: Arc<TestHub>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let submissions = SubmissionServiceServer::new(Hub(Arc::clone(&hub)))
        .max_decoding_message_size(MAX_ENVELOPE_MESSAGE_BYTES);
    let results = ResultServiceServer::new(Hub(hub));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(submissions)
            .add_service(results)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

fn hub_with(node: &SigningKeyPair) -> Arc<TestHub> {
    Arc::new(TestHub {
        key: SigningKeyPair::from_seed(&[200; 32]),
        nodes: [(node.key_id(), node.public())].into(),
        receipts: Mutex::new(HashMap::new()),
    })
}

#[tokio::test]
async fn submit_verifies_commits_and_answers_idempotently() {
    let node = SigningKeyPair::from_seed(&[101; 32]);
    let hub = hub_with(&node);
    let hub_public = hub.key.public();
    let addr = start(hub).await;
    let mut client = SubmissionServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");

    let envelope = tests_fixture(&node).to_envelope(&node);
    let first = client
        .submit(pb::Envelope::from(envelope.clone()))
        .await
        .expect("accepted")
        .into_inner();
    let receipt = Receipt::try_from(first.clone()).expect("receipt converts");
    assert_eq!(receipt.verify(&hub_public), Ok(()));
    assert_eq!(receipt.leaf.digest, envelope.digest());

    let again = client
        .submit(pb::Envelope::from(envelope.clone()))
        .await
        .expect("accepted again")
        .into_inner();
    assert_eq!(again, first);

    let fetched = client
        .get_receipt(pb::GetReceiptRequest::from(model::GetReceiptRequest {
            digest: envelope.digest(),
        }))
        .await
        .expect("stored")
        .into_inner();
    assert_eq!(fetched, first);
    let missing = client
        .get_receipt(pb::GetReceiptRequest {
            digest: vec![0; 32],
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn rejections_keep_code_field_and_chinese_message_across_the_wire() {
    let node = SigningKeyPair::from_seed(&[102; 32]);
    let stranger = SigningKeyPair::from_seed(&[103; 32]);
    let addr = start(hub_with(&node)).await;
    let mut client = SubmissionServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");

    let unknown = tests_fixture(&stranger).to_envelope(&stranger);
    let status = client
        .submit(pb::Envelope::from(unknown))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let rejection = Rejection::from_status(&status).expect("rejection in metadata");
    assert_eq!(rejection.code, RejectionCode::UnknownKey);
    assert!(
        rejection.message.contains("未登记"),
        "{}",
        rejection.message
    );
    assert!(rejection.message.contains(stranger.key_id().as_str()));

    let mut short_sig = pb::Envelope::from(tests_fixture(&node).to_envelope(&node));
    short_sig.signatures[0].sig.pop();
    let status = client.submit(short_sig).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let rejection = Rejection::from_status(&status).expect("rejection in metadata");
    assert_eq!(rejection.field.as_deref(), Some("signatures[0].sig"));

    // Over the payload cap but under the gRPC message limit: refused by the
    // envelope check as too large, before anything is decoded.
    let big = Envelope::sign(
        SUBMISSION_PAYLOAD_TYPE,
        vec![0; DEFAULT_MAX_PAYLOAD_BYTES + 1],
        &[&node],
    );
    let status = client.submit(pb::Envelope::from(big)).await.unwrap_err();
    assert_eq!(
        Rejection::from_status(&status).map(|r| r.code),
        Some(RejectionCode::TooLarge)
    );
    // Over the gRPC message limit: tonic refuses it before the service runs.
    let huge = Envelope::sign(
        SUBMISSION_PAYLOAD_TYPE,
        vec![0; MAX_ENVELOPE_MESSAGE_BYTES],
        &[&node],
    );
    let status = client.submit(pb::Envelope::from(huge)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange);
    assert_eq!(Rejection::from_status(&status), None);
}

#[tokio::test]
async fn a_rejected_envelope_does_not_end_the_stream() {
    let node = SigningKeyPair::from_seed(&[104; 32]);
    let stranger = SigningKeyPair::from_seed(&[105; 32]);
    let hub = hub_with(&node);
    let hub_public = hub.key.public();
    let addr = start(hub).await;
    let mut client = SubmissionServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");

    let mut second = tests_fixture(&node);
    second.sequence += 1;
    let envelopes = vec![
        tests_fixture(&node).to_envelope(&node),
        tests_fixture(&stranger).to_envelope(&stranger),
        second.to_envelope(&node),
    ];
    let request = tokio_stream::iter(envelopes.clone().into_iter().map(pb::Envelope::from));
    let mut chunks = client
        .submit_stream(request)
        .await
        .expect("stream")
        .into_inner();
    let mut outcomes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = ReceiptChunk::try_from(chunk.expect("chunk")).expect("chunk converts");
        outcomes.extend(chunk.outcomes);
    }
    outcomes.sort_by_key(|o| o.index);
    assert_eq!(outcomes.len(), 3);
    for (outcome, envelope) in outcomes.iter().zip(&envelopes) {
        assert_eq!(outcome.digest, envelope.digest());
    }
    let receipt = outcomes[0].result.as_ref().expect("first accepted");
    assert_eq!(receipt.verify(&hub_public), Ok(()));
    let rejection = outcomes[1].result.as_ref().expect_err("second refused");
    assert_eq!(rejection.code, RejectionCode::UnknownKey);
    let receipt = outcomes[2].result.as_ref().expect("third accepted");
    assert_eq!(receipt.leaf.digest, envelopes[2].digest());
}

#[tokio::test]
async fn objections_stream_header_then_material() {
    let node = SigningKeyPair::from_seed(&[106; 32]);
    let addr = start(hub_with(&node)).await;
    let mut client = ResultServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let material: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let objection = Objection::new(
        ObjectionHeader {
            unit_id: "zhaozhuang".into(),
            year: 2022,
            round: Round::Annual,
            reason: "扣分依据有误".into(),
            material_name: Some("说明.pdf".into()),
            media_type: Some("application/pdf".into()),
            material_size: 0,
            material_sha256: [0; 32],
        },
        material,
    );
    let parts = objection.clone().into_parts();
    let receipt = client
        .file_objection(tokio_stream::iter(parts.clone()))
        .await
        .expect("filed")
        .into_inner();
    let receipt = model::ObjectionReceipt::try_from(receipt).expect("receipt converts");
    assert_eq!(
        receipt.objection_id,
        format!("obj-{}", hex(&objection.header.material_sha256[..4]))
    );

    // One chunk lost on the way: refused, naming the declared size.
    let mut lossy = parts;
    lossy.remove(2);
    let status = client
        .file_objection(tokio_stream::iter(lossy))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("header.material_size"),
        "{}",
        status.message()
    );

    let listed = client
        .list_results(pb::ListResultsRequest::from(model::ListResultsRequest {
            year: 2022,
            round: None,
        }))
        .await
        .expect("listed")
        .into_inner();
    let listed = model::ListResultsResponse::try_from(listed).expect("converts");
    assert_eq!(listed.results[0].status, model::ResultStatus::NotAssessed);
    assert_eq!(listed.results[0].scores, None);
}
