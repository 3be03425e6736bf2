//! Messages that are not what they should be, sent as raw gRPC frames: a
//! frame that is not protobuf is refused `INVALID_ARGUMENT` in Chinese —
//! inside `SubmitStream` as one outcome, and the next envelope still gets
//! its receipt — and an oversize one `OUT_OF_RANGE` in Chinese; an
//! unregistered key's signed call gets the code proto/README documents.

use kaohe_proto::model::SubmitOutcome;
use prost::bytes::BufMut as _;
use sha2::{Digest as _, Sha256};
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;

use super::*;

/// Sends each message's bytes as they are; reads receipt chunks (or, for
/// `Submit`, receipts) with prost.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec<T>(std::marker::PhantomData<T>);

#[derive(Debug, Clone, Copy, Default)]
struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl<T: prost::Message + Default + Send + 'static> Codec for RawCodec<T> {
    type Encode = Vec<u8>;
    type Decode = T;
    type Encoder = RawEncoder;
    type Decoder = tonic_prost::ProstDecoder<T>;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

/// Protobuf bytes that are no `Envelope`: field 1 with an invalid wire type.
const GARBAGE: [u8; 4] = [0x0f, 0xff, 0xff, 0xff];

async fn raw_client(running: &Running) -> tonic::client::Grpc<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    tonic::client::Grpc::new(channel)
}

async fn submit_raw(running: &Running, frame: Vec<u8>) -> tonic::Status {
    let mut grpc = raw_client(running).await;
    grpc.ready().await.unwrap();
    grpc.unary::<Vec<u8>, pb::Receipt, _>(
        tonic::Request::new(frame),
        PathAndQuery::from_static("/kaohe.v1.SubmissionService/Submit"),
        RawCodec::<pb::Receipt>::default(),
    )
    .await
    .expect_err("refused")
}

/// The outcomes of a stream of raw frames, and how the call ended.
async fn stream_raw(
    running: &Running,
    frames: Vec<Vec<u8>>,
) -> (Vec<SubmitOutcome>, Option<tonic::Status>) {
    let mut grpc = raw_client(running).await;
    grpc.ready().await.unwrap();
    let answer = grpc
        .streaming::<_, Vec<u8>, pb::ReceiptChunk, _>(
            tonic::Request::new(tokio_stream::iter(frames)),
            PathAndQuery::from_static(kaohe_hub::server::SUBMIT_STREAM_PATH),
            RawCodec::<pb::ReceiptChunk>::default(),
        )
        .await;
    let mut inbound = match answer {
        Ok(r) => r.into_inner(),
        Err(status) => return (Vec::new(), Some(status)),
    };
    let mut outcomes = Vec::new();
    loop {
        match inbound.message().await {
            Ok(Some(chunk)) => outcomes.extend(ReceiptChunk::try_from(chunk).unwrap().outcomes),
            Ok(None) => return (outcomes, None),
            Err(status) => return (outcomes, Some(status)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_frame_in_a_stream_is_one_refusal_and_the_next_envelope_gets_its_receipt() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    let good = signed(&submission(&a, &pack, "t1", 1), &a);
    let digest = envelope_digest(&good);
    let audit_before = running.rejections().len();
    let (outcomes, ended) = stream_raw(
        &running,
        vec![GARBAGE.to_vec(), prost::Message::encode_to_vec(&good)],
    )
    .await;
    assert!(ended.is_none(), "the stream ends normally: {ended:?}");
    assert_eq!(outcomes.len(), 2, "every frame gets exactly one outcome");
    assert_eq!(outcomes[0].index, 0);
    assert_eq!(
        outcomes[0].digest.0,
        <[u8; 32]>::from(Sha256::digest(GARBAGE))
    );
    let refused = outcomes[0].result.as_ref().unwrap_err();
    assert_eq!(refused.code, RejectionCode::Invalid);
    assert!(
        refused
            .message
            .contains("第 1 条消息不是有效的 protobuf 信封"),
        "{}",
        refused.message
    );
    assert_eq!(outcomes[1].index, 1);
    assert_eq!(outcomes[1].digest, digest);
    let receipt = outcomes[1]
        .result
        .as_ref()
        .expect("the envelope after it is accepted");
    receipt.verify(&running.hub_key).unwrap();
    assert_eq!(running.count("SELECT count(*) FROM submissions"), 1);
    assert_eq!(running.rejections().len(), audit_before + 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_or_oversize_message_is_refused_in_chinese() {
    let setup = setup();
    let running = start(setup).await;
    let before = running.dump();
    // Unary: INVALID_ARGUMENT, not INTERNAL, with a Chinese reason.
    let status = submit_raw(&running, GARBAGE.to_vec()).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("收到的消息不是有效的 protobuf 编码"),
        "{}",
        status.message()
    );
    // Over the gRPC limit, unary and streamed: OUT_OF_RANGE, in Chinese.
    let big = vec![0u8; model::MAX_ENVELOPE_MESSAGE_BYTES + 1];
    let status = submit_raw(&running, big.clone()).await;
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().starts_with("消息有 "),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("超过汇总中心的上限"),
        "{}",
        status.message()
    );
    let (outcomes, ended) = stream_raw(&running, vec![big]).await;
    assert!(outcomes.is_empty());
    let status = ended.expect("the oversize frame ends the stream");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().starts_with("消息有 "),
        "{}",
        status.message()
    );
    assert_eq!(running.dump(), before, "nothing stored");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_keys_signed_call_is_permission_denied_as_documented() {
    let running = start(setup()).await;
    let stranger = node_key(77);
    let mut units = UnitServiceClient::connect(format!("http://{}", running.addr))
        .await
        .unwrap();
    let mut request = tonic::Request::new(pb::ListMyUnitsRequest { year: 2022 });
    call_auth::sign_call(&mut request, &stranger, paths::LIST_MY_UNITS, running.now());
    let status = units.list_my_units(request).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("未在汇总中心登记"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains(stranger.key_id().as_str()),
        "{}",
        status.message()
    );
    running.stop().await;
}
