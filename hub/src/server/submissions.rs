//! `SubmissionService`: `Submit`, `SubmitStream` (chunks verified — and
//! replayed ahead, `replay::ahead` — in parallel, committed by the writer while the next chunk is read, the
//! outcomes streamed back in order; its messages read as [`Frame`]s, so one
//! that is not an envelope is one refusal and the stream goes on) and
//! `GetReceipt`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll};

use kaohe_proto::call_auth;
use kaohe_proto::model::{GetReceiptRequest, ReceiptChunk, SubmitOutcome};
use kaohe_proto::pb;
use kaohe_proto::pb::submission_service_server::{SubmissionService, SubmissionServiceServer};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt as _};
use tonic::server::{NamedService, StreamingService};
use tonic::{Request, Response, Status, Streaming};

use super::frames::{Frame, FrameCodec, SUBMIT_STREAM_PATH, wire_status};
use super::limits::Limits;
use super::writer::Job;
use super::{Shared, field_status, unavailable};
use crate::ingest::{Candidate, PeerIdentity, replay};

impl Shared {
    /// Stages 1–3 for a chunk, split over the verify workers, in order;
    /// a frame that is not an envelope is refused in its place.
    pub(super) async fn verify(
        &self,
        items: Vec<(u64, Frame)>,
        peer: Option<Arc<dyn PeerIdentity>>,
    ) -> Result<Vec<Candidate>, Status> {
        let nodes = Arc::clone(&self.nodes.read().unwrap_or_else(PoisonError::into_inner));
        let view = Arc::clone(&self.replay.read().unwrap_or_else(PoisonError::into_inner));
        let workers = self.limits.verify_workers.clamp(1, items.len().max(1));
        let per = items.len().div_ceil(workers).max(1);
        let mut parts = Vec::with_capacity(workers);
        let mut items = items.into_iter();
        loop {
            let part: Vec<(u64, Frame)> = items.by_ref().take(per).collect();
            if part.is_empty() {
                break;
            }
            let nodes = Arc::clone(&nodes);
            let view = Arc::clone(&view);
            let peer = peer.clone();
            parts.push(tokio::task::spawn_blocking(move || {
                let mut candidates: Vec<Candidate> = part
                    .into_iter()
                    .map(|(i, frame)| match frame {
                        Frame::Envelope(wire) => Candidate::verify(i, wire, &nodes, peer.clone()),
                        Frame::Undecodable { digest, reason } => {
                            Candidate::undecodable(i, digest, &reason, peer.clone())
                        }
                    })
                    .collect();
                // Stage 6 here too, on this core, not in the writer.
                replay::ahead(&view, &mut candidates);
                candidates
            }));
        }
        let mut out = Vec::new();
        for part in parts {
            out.extend(
                part.await
                    .map_err(|_| Status::internal("核验线程异常（verifier failed）"))?,
            );
        }
        Ok(out)
    }

    /// Hands a chunk to the writer; the receiver resolves once committed.
    pub(super) async fn commit(
        &self,
        candidates: Vec<Candidate>,
    ) -> Result<oneshot::Receiver<Result<Vec<SubmitOutcome>, String>>, Status> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Commit { candidates, reply })
            .await
            .map_err(|_| unavailable())?;
        Ok(rx)
    }
}

#[tonic::async_trait]
impl SubmissionService for Shared {
    async fn submit(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::Receipt>, Status> {
        let peer = self.peer(&request)?;
        let wire = request.into_inner();
        let candidates = self.verify(vec![(0, Frame::Envelope(wire))], peer).await?;
        let outcome = self
            .commit(candidates)
            .await?
            .await
            .map_err(|_| unavailable())?
            .map_err(Status::unavailable)?
            .pop()
            .ok_or_else(|| Status::internal("没有提交结果（no outcome）"))?;
        match outcome.result {
            Ok(receipt) => Ok(Response::new(receipt.into())),
            Err(rejection) => Err(rejection.to_status()),
        }
    }

    type SubmitStreamStream = OutcomeStream;

    /// Served as [`Frame`]s by [`Submissions`],
    /// which reads a message that is not an envelope as a refusal in its
    /// place; a server built from the generated code alone lands here,
    /// where tonic has decoded every message already.
    async fn submit_stream(
        &self,
        request: Request<Streaming<pb::Envelope>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        let peer = self.peer(&request)?;
        let inbound = request.into_inner().map(|m| m.map(Frame::Envelope));
        Ok(Response::new(start_pump(self, Box::pin(inbound), peer)))
    }

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::Receipt>, Status> {
        let node = self.caller(&request, call_auth::paths::GET_RECEIPT).await?;
        let GetReceiptRequest { digest } =
            GetReceiptRequest::try_from(request.into_inner()).map_err(field_status)?;
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Receipt { digest, reply })
            .await
            .map_err(|_| unavailable())?;
        let stored = rx
            .await
            .map_err(|_| unavailable())?
            .map_err(Status::unavailable)?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "没有摘要为 {digest} 的已提交上报（no committed submission with this digest）"
                ))
            })?;
        if stored.node_id != node.id {
            return Err(Status::permission_denied(
                "该摘要属于另一节点的上报（the digest belongs to another node's submission）",
            ));
        }
        Ok(Response::new(stored.receipt.into()))
    }
}

/// The outcomes of a `SubmitStream`, chunk by chunk.
pub type OutcomeStream = ReceiverStream<Result<pb::ReceiptChunk, Status>>;

/// The frames of a stream, whatever read them.
type Frames = std::pin::Pin<Box<dyn Stream<Item = Result<Frame, Status>> + Send>>;

/// `SubmitStream` over frames (see [`super::frames`]).
fn submit_frames(
    shared: &Shared,
    request: Request<Streaming<Frame>>,
) -> Result<Response<OutcomeStream>, Status> {
    let peer = shared.peer(&request)?;
    let inbound = request.into_inner();
    Ok(Response::new(start_pump(shared, Box::pin(inbound), peer)))
}

fn start_pump(
    shared: &Shared,
    inbound: Frames,
    peer: Option<Arc<dyn PeerIdentity>>,
) -> OutcomeStream {
    let (out, rx) = mpsc::channel(8);
    tokio::spawn(pump(shared.clone(), inbound, peer, out));
    ReceiverStream::new(rx)
}

/// One queued step of a stream's answer, in arrival order.
enum Pending {
    Chunk(oneshot::Receiver<Result<Vec<SubmitOutcome>, String>>),
    End(Status),
}

/// Reads a stream in chunks and hands each to the writer; a forwarder
/// sends each chunk's outcomes back once committed, in order.
async fn pump(
    shared: Shared,
    mut inbound: Frames,
    peer: Option<Arc<dyn PeerIdentity>>,
    out: mpsc::Sender<Result<pb::ReceiptChunk, Status>>,
) {
    let (queue, mut pending) = mpsc::channel::<Pending>(4);
    let forward = tokio::spawn(async move {
        while let Some(step) = pending.recv().await {
            let item = match step {
                Pending::Chunk(rx) => match rx.await {
                    Ok(Ok(outcomes)) => Ok(ReceiptChunk { outcomes }.into()),
                    Ok(Err(e)) => Err(Status::unavailable(e)),
                    Err(_) => Err(unavailable()),
                },
                Pending::End(status) => Err(status),
            };
            let stop = item.is_err();
            if out.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    let mut shutdown = shared.shutdown.clone();
    let mut index = 0u64;
    loop {
        let chunk = match next_chunk(&mut inbound, &shared.limits, &mut shutdown).await {
            Ok(chunk) => chunk,
            Err(status) => {
                let _ = queue.send(Pending::End(status)).await;
                break;
            }
        };
        if chunk.is_empty() {
            break;
        }
        let items: Vec<(u64, Frame)> = chunk
            .into_iter()
            .map(|e| {
                let i = index;
                index += 1;
                (i, e)
            })
            .collect();
        let step = match shared.verify(items, peer.clone()).await {
            Ok(candidates) => match shared.commit(candidates).await {
                Ok(rx) => Pending::Chunk(rx),
                Err(status) => Pending::End(status),
            },
            Err(status) => Pending::End(status),
        };
        let end = matches!(step, Pending::End(_));
        if queue.send(step).await.is_err() || end {
            break;
        }
    }
    drop(queue);
    let _ = forward.await;
}

/// Waits for the next envelope, then takes whatever else has already
/// arrived, up to `limits.chunk`. Empty at the end of the stream.
async fn next_chunk(
    inbound: &mut Frames,
    limits: &Limits,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Vec<Frame>, Status> {
    if *shutdown.borrow() {
        return Err(shutting_down());
    }
    let first = tokio::select! {
        message = tokio::time::timeout(limits.stream_idle, inbound.next()) => match message {
            Ok(Some(Ok(m))) => m,
            Ok(None) => return Ok(Vec::new()),
            Ok(Some(Err(status))) => return Err(wire_status(&status).unwrap_or(status)),
            // Also a client stopped in the middle of a message: what it
            // sent of that message is dropped with the stream, never stored.
            Err(_) => return Err(stream_idle(limits)),
        },
        _ = shutdown.changed() => return Err(shutting_down()),
    };
    let mut chunk = vec![first];
    while chunk.len() < limits.chunk {
        // Only what is already here: never wait to fill a chunk.
        let ready = tokio::select! {
            biased;
            message = inbound.next() => Some(message),
            () = std::future::ready(()) => None,
        };
        match ready {
            Some(Some(Ok(m))) => chunk.push(m),
            Some(None) | None => break,
            Some(Some(Err(status))) => {
                // Commit what came before the broken message; the error
                // ends the stream on the next read.
                tracing::debug!(
                    "stream read error after {} envelopes: {status}",
                    chunk.len()
                );
                break;
            }
        }
    }
    Ok(chunk)
}

/// The status that ends a stream silent for [`Limits::stream_idle`].
fn stream_idle(limits: &Limits) -> Status {
    let seconds = limits.stream_idle.as_secs();
    Status::deadline_exceeded(format!(
        "汇总中心 {seconds} 秒内没有收到新的上报（数据流空闲超时），数据流已结束：已回执的上报均已保存，未回执的请重新提交（stream idle for {seconds} s: ended; everything receipted is stored, resubmit the rest）"
    ))
}

fn shutting_down() -> Status {
    Status::unavailable(
        "汇总中心正在关闭：已回执的上报均已保存，未回执的请稍后重新提交（hub shutting down; resubmit what has no receipt）",
    )
}

/// `SubmissionService` with `SubmitStream` read as [`Frame`]s.
#[derive(Clone)]
pub struct Submissions {
    generated: SubmissionServiceServer<Shared>,
    shared: Shared,
    max_decoding: usize,
}

impl Submissions {
    pub(super) fn new(shared: Shared, max_decoding: usize) -> Submissions {
        Submissions {
            generated: SubmissionServiceServer::new(shared.clone())
                .max_decoding_message_size(max_decoding),
            shared,
            max_decoding,
        }
    }
}

impl NamedService for Submissions {
    const NAME: &'static str = <SubmissionServiceServer<Shared> as NamedService>::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send>>;

impl tower_service::Service<http::Request<tonic::body::Body>> for Submissions {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() == SUBMIT_STREAM_PATH {
            let method = StreamMethod(self.shared.clone());
            let max = self.max_decoding;
            Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(FrameCodec)
                    .apply_max_message_size_config(Some(max), None);
                Ok(grpc.streaming(method, request).await)
            })
        } else {
            let mut generated = self.generated.clone();
            Box::pin(async move { generated.call(request).await })
        }
    }
}

/// `SubmitStream` over frames.
struct StreamMethod(Shared);

impl StreamingService<Frame> for StreamMethod {
    type Response = pb::ReceiptChunk;
    type ResponseStream = OutcomeStream;
    type Future =
        Pin<Box<dyn Future<Output = Result<Response<Self::ResponseStream>, Status>> + Send>>;

    fn call(&mut self, request: Request<Streaming<Frame>>) -> Self::Future {
        let shared = self.0.clone();
        Box::pin(async move { submit_frames(&shared, request) })
    }
}
