//! The wire refuses garbage clearly (RELIABILITY.md "network and time": a
//! frame that is not a protobuf message), against the real `kaohe hub
//! serve`: inside `SubmitStream` it is one `INVALID` outcome in Chinese and
//! the next envelope still gets its receipt; alone, `INVALID_ARGUMENT` in
//! Chinese, not `INTERNAL`.

use prost::bytes::BufMut as _;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;

use super::*;

/// Sends each message's bytes as they are; reads replies with prost.
#[derive(Debug, Default)]
struct RawCodec<T>(std::marker::PhantomData<T>);

#[derive(Debug, Default)]
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

/// Not an `Envelope`: field 1 with a wire type that does not exist.
const GARBAGE: [u8; 4] = [0x0f, 0xff, 0xff, 0xff];

#[test]
fn a_garbage_frame_in_a_stream_is_refused_and_the_next_envelope_gets_its_receipt() {
    let mut f = Federation::new(1, "satisfaction");
    f.start_hub(Some(ANNUAL_NOW));
    f.sync();
    let units = f.units.clone();
    f.import_rates(&units, "91");
    f.queue("annual");
    let entry = f.entries().remove(0);
    let envelope =
        prost::Message::encode_to_vec(&kaohe_proto::pb::Envelope::from(entry.envelope.clone()));
    let address = f.config().hub.address;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (outcomes, unary) = rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(address)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let mut inbound = grpc
            .streaming::<_, Vec<u8>, kaohe_proto::pb::ReceiptChunk, _>(
                tonic::Request::new(tokio_stream::iter(vec![GARBAGE.to_vec(), envelope])),
                PathAndQuery::from_static("/kaohe.v1.SubmissionService/SubmitStream"),
                RawCodec::<kaohe_proto::pb::ReceiptChunk>::default(),
            )
            .await
            .expect("the stream is taken")
            .into_inner();
        let mut outcomes = Vec::new();
        while let Some(chunk) = inbound.message().await.expect("no transport error") {
            outcomes.extend(
                kaohe_proto::model::ReceiptChunk::try_from(chunk)
                    .unwrap()
                    .outcomes,
            );
        }
        grpc.ready().await.unwrap();
        let unary = grpc
            .unary::<Vec<u8>, kaohe_proto::pb::Receipt, _>(
                tonic::Request::new(GARBAGE.to_vec()),
                PathAndQuery::from_static("/kaohe.v1.SubmissionService/Submit"),
                RawCodec::<kaohe_proto::pb::Receipt>::default(),
            )
            .await
            .expect_err("garbage is refused");
        (outcomes, unary)
    });
    assert_eq!(outcomes.len(), 2, "one outcome per frame: {outcomes:?}");
    let refused = outcomes[0].result.as_ref().unwrap_err();
    assert_eq!(refused.code, kaohe_proto::model::RejectionCode::Invalid);
    assert!(
        refused
            .message
            .starts_with("数据流中第 1 条消息不是有效的 protobuf 信封"),
        "{}",
        refused.message
    );
    assert_eq!(outcomes[1].index, 1);
    assert_eq!(outcomes[1].digest, entry.digest);
    let receipt = outcomes[1]
        .result
        .as_ref()
        .expect("the next envelope is accepted");
    let hub_key: PublicKey = f.receipt_key.parse().unwrap();
    receipt.verify(&hub_key).unwrap();
    assert_eq!(f.hub_rows("submissions"), 1);
    assert_eq!(unary.code(), tonic::Code::InvalidArgument, "{unary:?}");
    assert!(
        unary
            .message()
            .starts_with("收到的消息不是有效的 protobuf 编码"),
        "{}",
        unary.message()
    );
    // The node delivers what it queued: the hub answers with the receipt
    // it already gave.
    let out = f.node(&["deliver"]);
    assert!(out.contains("已送达 1 份"), "{out}");
    assert_eq!(
        f.entries()[0].decoded_receipt().unwrap().unwrap(),
        receipt.clone()
    );
    f.finish();
}
