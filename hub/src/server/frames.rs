//! Messages that are not what they should be, refused clearly.
//!
//! tonic decodes every message before a service sees it; a message that is
//! not valid protobuf becomes an `INTERNAL` status with prost's English
//! text, and inside a client stream it ends the stream (tonic cannot read
//! on after a failed decode), so the envelopes after it get no outcome —
//! contrary to `SubmitStream`'s promise that every envelope gets exactly
//! one. Here:
//!
//! - [`FrameCodec`] reads `SubmitStream` (served by `submissions::Submissions`):
//!   each message is decoded by the hub, and one that is not an `Envelope`
//!   becomes a [`Frame::Undecodable`] — one `INVALID` outcome in its place
//!   — and the stream goes on.
//! - [`wire_status_layer`] puts tonic's own refusals of a message into
//!   Chinese on the way out: a message that does not decode is
//!   `INVALID_ARGUMENT` (not `INTERNAL`) with a Chinese reason, an
//!   oversize one keeps `OUT_OF_RANGE` with a Chinese reason;
//!   [`wire_status`] does the same for a status a stream read returns.

use kaohe_proto::Digest;
use kaohe_proto::pb;
use prost::Message as _;
use prost::bytes::Buf as _;
use sha2::{Digest as _, Sha256};
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tower::util::MapResponseLayer;

/// The path of `SubmitStream`, read here through [`FrameCodec`].
pub const SUBMIT_STREAM_PATH: &str = "/kaohe.v1.SubmissionService/SubmitStream";

/// One message of a `SubmitStream`, as the hub read it.
#[derive(Debug, Clone)]
pub enum Frame {
    Envelope(pb::Envelope),
    /// Not a protobuf `Envelope`: its SHA-256 (the digest its outcome
    /// names) and why it does not decode.
    Undecodable {
        digest: Digest,
        reason: String,
    },
}

impl Frame {
    /// Decodes one message; never fails.
    pub fn decode(bytes: &[u8]) -> Frame {
        match pb::Envelope::decode(bytes) {
            Ok(envelope) => Frame::Envelope(envelope),
            Err(e) => Frame::Undecodable {
                digest: Digest(Sha256::digest(bytes).into()),
                reason: e.to_string(),
            },
        }
    }
}

/// Encodes receipt chunks with prost; decodes each request message into a
/// [`Frame`], whatever its bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameCodec;

/// The decoder of [`FrameCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameDecoder;

impl Decoder for FrameDecoder {
    type Item = Frame;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Frame>, Status> {
        // The whole message is taken off the buffer, decodable or not, so
        // the stream reads on from the next message.
        let bytes = buf.copy_to_bytes(buf.remaining());
        Ok(Some(Frame::decode(&bytes)))
    }
}

impl Codec for FrameCodec {
    type Encode = pb::ReceiptChunk;
    type Decode = Frame;
    type Encoder = tonic_prost::ProstEncoder<pb::ReceiptChunk>;
    type Decoder = FrameDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        FrameDecoder
    }
}

/// tonic's refusal of a message in Chinese (see the module docs); `None`
/// for any other status, which is left as it is.
pub fn wire_status(status: &Status) -> Option<Status> {
    let message = status.message();
    match status.code() {
        Code::Internal if message.starts_with("failed to decode Protobuf message") => {
            Some(Status::invalid_argument(format!(
                "收到的消息不是有效的 protobuf 编码，未作处理；请核对发送方所用的 kaohe 版本（the message is not valid protobuf: {message}）"
            )))
        }
        Code::OutOfRange if message.starts_with("Error, decoded message length too large") => {
            let numbers: Vec<&str> = message
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .collect();
            let (found, limit) = match numbers.as_slice() {
                [found, limit] => (*found, *limit),
                _ => ("?", "?"),
            };
            Some(Status::out_of_range(format!(
                "消息有 {found} 字节，超过汇总中心的上限 {limit} 字节，未作处理；一份上报的证据过大，请拆分或核对（message of {found} bytes over the hub's limit of {limit} bytes）"
            )))
        }
        _ => None,
    }
}

/// A tower layer putting tonic's refusals of a message (in the headers of
/// a trailers-only response) into Chinese, see the module docs.
pub fn wire_status_layer() -> MapResponseLayer<fn(Answer) -> Answer> {
    MapResponseLayer::new(in_chinese)
}

type Answer = http::Response<tonic::body::Body>;

fn in_chinese(mut response: Answer) -> Answer {
    if let Some(status) = Status::from_header_map(response.headers())
        && let Some(chinese) = wire_status(&status)
    {
        for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
            response.headers_mut().remove(name);
        }
        if chinese.add_header(response.headers_mut()).is_err() {
            tracing::warn!("cannot write the translated status {chinese:?}");
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_that_is_not_an_envelope_is_a_frame_naming_its_bytes() {
        let good = pb::Envelope {
            payload_type: "t".into(),
            payload: vec![1, 2, 3],
            signatures: Vec::new(),
        };
        assert!(matches!(Frame::decode(&good.encode_to_vec()), Frame::Envelope(e) if e == good));
        let garbage = [0xff_u8, 0xff, 0xff, 0xff];
        match Frame::decode(&garbage) {
            Frame::Undecodable { digest, reason } => {
                assert_eq!(digest.0, <[u8; 32]>::from(Sha256::digest(garbage)));
                assert!(!reason.is_empty());
            }
            other => panic!("expected Undecodable, got {other:?}"),
        }
    }

    #[test]
    fn tonics_english_refusals_of_a_message_are_told_in_chinese() {
        let decode = Status::internal("failed to decode Protobuf message: invalid wire type");
        let s = wire_status(&decode).unwrap();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(
            s.message()
                .starts_with("收到的消息不是有效的 protobuf 编码"),
            "{s:?}"
        );
        let big = Status::out_of_range(
            "Error, decoded message length too large: found 5000000 bytes, the limit is: 4259840 bytes",
        );
        let s = wire_status(&big).unwrap();
        assert_eq!(s.code(), Code::OutOfRange);
        assert!(
            s.message()
                .starts_with("消息有 5000000 字节，超过汇总中心的上限 4259840 字节"),
            "{s:?}"
        );
        assert!(wire_status(&Status::internal("something else")).is_none());
    }
}
