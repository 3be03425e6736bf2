//! RELIABILITY.md "slow or stuck peer" at the hub: a node that opens
//! `SubmitStream` and then stops — after a whole envelope, or in the middle
//! of one — is cut off after `[limits] stream_idle_secs` with
//! `DEADLINE_EXCEEDED` and a Chinese message; what it had receipted stays
//! stored and nothing after it is; other nodes are served meanwhile.
//!
//! The half-message client speaks HTTP/2 by hand over a plain socket (a
//! gRPC client library cannot stop inside a message): preface, settings,
//! one HEADERS frame, then DATA frames carrying one whole gRPC message and
//! the first half of the next.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::time::Duration;

use prost::Message as _;

use super::*;

/// The idle limit these tests run with: short, but long enough for the
/// first envelope to arrive on a loaded machine.
const IDLE: Duration = Duration::from_secs(3);

/// How long a test waits for the hub to end a stalled stream before it
/// fails (a guard against a hang, not a timing assertion).
const GUARD: Duration = Duration::from_secs(60);

/// The digests of every stored submission.
fn stored(running: &Running) -> BTreeSet<Vec<u8>> {
    let conn = running.conn();
    let mut stmt = conn.prepare("SELECT digest FROM submissions").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn digest_bytes(e: &pb::Envelope) -> Vec<u8> {
    envelope_digest(e).0.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stalls_keeps_its_receipts_ends_deadline_exceeded_and_others_are_served() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start_with(setup, |o| o.limits.stream_idle = IDLE).await;
    let (a, b, c) = (node_key(1), node_key(2), node_key(3));

    // Node A: one envelope, then nothing (the sender stays open).
    let first = signed(&submission(&a, &pack, "t1", 1), &a);
    let (tx, rx) = mpsc::channel::<pb::Envelope>(4);
    tx.send(first.clone()).await.unwrap();
    let mut stalled = running
        .client()
        .await
        .submit_stream(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let chunk = tokio::time::timeout(GUARD, stalled.next())
        .await
        .expect("the first envelope is answered")
        .expect("a chunk, not the end")
        .expect("a chunk, not an error");
    let chunk = ReceiptChunk::try_from(chunk).unwrap();
    assert_eq!(chunk.outcomes.len(), 1, "{chunk:?}");
    let receipt = chunk.outcomes[0].result.as_ref().expect("accepted");
    receipt.verify(&running.hub_key).unwrap();
    assert_eq!(receipt.leaf.digest, envelope_digest(&first));

    // Meanwhile node C streams two and node B submits one: both served.
    let others = [
        signed(&submission(&c, &pack, "t1", 1), &c),
        signed(&submission(&c, &pack, "t2", 2), &c),
    ];
    let mut answers = running
        .client()
        .await
        .submit_stream(tokio_stream::iter(others.clone()))
        .await
        .unwrap()
        .into_inner();
    let mut outcomes = Vec::new();
    while let Some(chunk) = tokio::time::timeout(GUARD, answers.next())
        .await
        .expect("node C is answered while node A stalls")
    {
        outcomes.extend(ReceiptChunk::try_from(chunk.unwrap()).unwrap().outcomes);
    }
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    let from_b = signed(&submission(&b, &pack, "t2", 1), &b);
    accept(&running, from_b.clone()).await;

    // A's stream is ended by the hub, with the reason in Chinese.
    let end = tokio::time::timeout(GUARD, stalled.next())
        .await
        .expect("the hub ends a stalled stream");
    let status = match end {
        Some(Err(status)) => status,
        other => panic!("expected the idle deadline, got {other:?}"),
    };
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let seconds = format!("{} 秒内没有收到新的上报", IDLE.as_secs());
    assert!(
        status.message().contains(&seconds) && status.message().contains("已回执的上报均已保存"),
        "{}",
        status.message()
    );
    drop(tx);

    let expected: BTreeSet<Vec<u8>> = [&first, &others[0], &others[1], &from_b]
        .into_iter()
        .map(digest_bytes)
        .collect();
    assert_eq!(stored(&running), expected);

    // And the hub goes on serving node A itself.
    let again = signed(&submission(&a, &pack, "t2", 2), &a);
    accept(&running, again).await;
    assert_eq!(running.count("SELECT count(*) FROM submissions"), 5);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_stopped_inside_a_message_is_cut_off_and_nothing_of_it_is_stored() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start_with(setup, |o| o.limits.stream_idle = IDLE).await;
    let a = node_key(1);
    let whole = signed(&submission(&a, &pack, "t1", 1), &a);
    let half = signed(&submission(&a, &pack, "t2", 2), &a);
    let addr = running.addr;
    let (w, h) = (whole.clone(), half.clone());
    let raw = tokio::task::spawn_blocking(move || half_message_stream(addr, &w, &h));

    // Another node is served while that stream hangs.
    let c = node_key(3);
    let other = signed(&submission(&c, &pack, "t1", 1), &c);
    accept(&running, other.clone()).await;

    let answer = raw.await.unwrap();
    assert_eq!(answer.chunks.len(), 1, "one chunk: the whole envelope's");
    let outcomes = ReceiptChunk::try_from(answer.chunks[0].clone())
        .unwrap()
        .outcomes;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].digest, envelope_digest(&whole));
    outcomes[0]
        .result
        .as_ref()
        .expect("accepted")
        .verify(&running.hub_key)
        .unwrap();
    assert!(
        answer.ended,
        "the hub ended the stream (trailers or reset), not the test's guard"
    );

    let stored = stored(&running);
    assert!(stored.contains(&digest_bytes(&whole)));
    assert!(
        !stored.contains(&digest_bytes(&half)),
        "half a message was stored"
    );
    assert_eq!(stored.len(), 2, "the whole envelope and the other node's");
    // The half-sent one, sent again whole, is accepted.
    accept(&running, half).await;
    running.stop().await;
}

/// What the hand-made HTTP/2 client saw on its stream.
struct RawAnswer {
    /// Receipt chunks, decoded from the DATA frames.
    chunks: Vec<pb::ReceiptChunk>,
    /// The hub ended the stream (END_STREAM or RST_STREAM).
    ended: bool,
}

/// Opens `SubmitStream` over HTTP/2 by hand, sends `whole` and the first
/// half of `half`, then only answers the hub's SETTINGS and PINGs until
/// the hub ends the stream.
fn half_message_stream(addr: SocketAddr, whole: &pb::Envelope, half: &pb::Envelope) -> RawAnswer {
    const DATA: u8 = 0;
    const HEADERS: u8 = 1;
    const RST_STREAM: u8 = 3;
    const SETTINGS: u8 = 4;
    const PING: u8 = 6;
    const GOAWAY: u8 = 7;
    const END_STREAM: u8 = 0x1;
    const ACK: u8 = 0x1;
    const END_HEADERS: u8 = 0x4;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap();
        let mut out = len.to_be_bytes()[1..].to_vec();
        out.extend([kind, flags]);
        out.extend(stream.to_be_bytes());
        out.extend(payload);
        out
    }
    fn grpc_message(e: &pb::Envelope) -> Vec<u8> {
        let body = e.encode_to_vec();
        let mut out = vec![0u8];
        out.extend(u32::try_from(body.len()).unwrap().to_be_bytes());
        out.extend(body);
        out
    }
    // HPACK "literal header field without indexing, new name", no Huffman.
    fn header(block: &mut Vec<u8>, name: &str, value: &str) {
        block.push(0);
        block.push(u8::try_from(name.len()).unwrap());
        block.extend(name.as_bytes());
        block.push(u8::try_from(value.len()).unwrap());
        block.extend(value.as_bytes());
    }

    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(GUARD)).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    let mut block = Vec::new();
    header(&mut block, ":method", "POST");
    header(&mut block, ":scheme", "http");
    header(
        &mut block,
        ":path",
        "/kaohe.v1.SubmissionService/SubmitStream",
    );
    header(&mut block, ":authority", &addr.to_string());
    header(&mut block, "content-type", "application/grpc");
    header(&mut block, "te", "trailers");
    out.extend(frame(HEADERS, END_HEADERS, 1, &block));
    let mut body = grpc_message(whole);
    let second = grpc_message(half);
    body.extend(&second[..second.len() / 2]);
    for piece in body.chunks(16_384) {
        out.extend(frame(DATA, 0, 1, piece));
    }
    socket.write_all(&out).unwrap();

    let mut answer = RawAnswer {
        chunks: Vec::new(),
        ended: false,
    };
    let mut data = Vec::new();
    loop {
        let mut head = [0u8; 9];
        if let Err(e) = socket.read_exact(&mut head) {
            assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "the hub did not end the stalled stream within {GUARD:?}"
            );
            // The hub closed the connection: the stream is over too.
            answer.ended = true;
            break;
        }
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        socket.read_exact(&mut payload).unwrap();
        match kind {
            SETTINGS if flags & ACK == 0 => {
                socket.write_all(&frame(SETTINGS, ACK, 0, &[])).unwrap();
            }
            PING if flags & ACK == 0 => {
                socket.write_all(&frame(PING, ACK, 0, &payload)).unwrap();
            }
            DATA if stream == 1 => {
                data.extend(payload);
                // Whole gRPC messages: flag byte, length, message.
                while data.len() >= 5 {
                    let n = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
                    if data.len() < 5 + n {
                        break;
                    }
                    let message: Vec<u8> = data.drain(..5 + n).skip(5).collect();
                    answer
                        .chunks
                        .push(pb::ReceiptChunk::decode(message.as_slice()).unwrap());
                }
                if flags & END_STREAM != 0 {
                    answer.ended = true;
                    break;
                }
            }
            HEADERS if stream == 1 && flags & END_STREAM != 0 => {
                answer.ended = true;
                break;
            }
            RST_STREAM if stream == 1 => {
                answer.ended = true;
                break;
            }
            GOAWAY => {
                answer.ended = true;
                break;
            }
            _ => {}
        }
    }
    answer
}
