//! 送达（delivery）：把发件箱中的提交送到汇总中心，逐批记录回执。
//!
//! One **pass** ([`deliver_pass`]), under the [`DeliveryLock`] — none at
//! all while the hub's log is found inconsistent and unresolved
//! ([`crate::witness`]: a hub that rewrites its history gets nothing more):
//!
//! 1. entries left `sending` by a process that died are put back to `retry`
//!    ([`Store::recover_interrupted`]; only the lock holder may do this);
//! 2. due entries are claimed in sequence order ([`Store::claim_due`]: an
//!    entry never overtakes an earlier pending one of the same unit, year
//!    and round; entries of a pack that is no longer active are superseded,
//!    never sent);
//! 3. one `SubmitStream` call carries them in that order, with an overall
//!    deadline and a sliding window (at most [`DeliverOptions::window`]
//!    envelopes unanswered; more are sent once a chunk is recorded); each
//!    [`ReceiptChunk`] is recorded **as it arrives**, in one
//!    transaction per chunk: a receipt that verifies offline with the pinned
//!    hub key (`hub.receipt_key`) and names the entry's digest, unit, year
//!    and round makes the entry `accepted` together with the stored receipt;
//!    a rejection makes it `rejected` with the hub's code and Chinese reason;
//! 4. every entry without an outcome when the call ends (hub down, killed,
//!    deadline, connection lost) goes to `retry` with a persisted next
//!    attempt time ([`retry_delay`]: exponential backoff with jitter), so a
//!    restart resumes where this one stopped. Sending it again is harmless:
//!    the hub answers an envelope it already committed with the same
//!    receipt.
//!
//! A call that fails for a reason retrying will not fix (not registered,
//! client certificate, …) also leaves the entries in `retry`, at the longest
//! delay, and is reported as [`PassReport::call_error`] for a person to act
//! on: it says nothing about the entries themselves.

use std::fs::File;
use std::path::{Path, PathBuf};

use kaohe_proto::model::{MAX_ENVELOPE_MESSAGE_BYTES, ReceiptChunk};
use kaohe_proto::{PublicKey, pb};
use prost::Message as _;
use tokio_stream::StreamExt as _;

use crate::client::{self, Call, HubClient};
use crate::config::NodeConfig;
use crate::outbox::{Entry, Outcome, RETRY_MAX_SECONDS, State, retry_delay};
use crate::store::{Settled, Store, StoreError};

/// Most entries sent on one `SubmitStream` call.
pub const MAX_PER_STREAM: usize = 2_000;

/// Default [`DeliverOptions::window`]: two of the hub's default chunks.
pub const WINDOW: usize = 1_024;

/// The lock file next to the store: one delivering process at a time.
pub const LOCK_FILE: &str = "deliver.lock";

/// Proof that this process is the only one delivering from this store (an
/// exclusive lock on `deliver.lock`, released when the process ends, even
/// by SIGKILL).
#[derive(Debug)]
pub struct DeliveryLock {
    _file: File,
    path: PathBuf,
}

/// Taking the delivery lock failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "另一个 kaohe node 进程正在送达（{path}），本次不重复发送（another process is delivering）"
    )]
    Busy { path: PathBuf },
    #[error("不能打开送达锁文件 {path}（cannot open the delivery lock）：{source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DeliveryLock {
    /// Takes the lock beside `store_file`, without waiting.
    pub fn acquire(store_file: &Path) -> Result<DeliveryLock, LockError> {
        let path = store_file
            .parent()
            .unwrap_or(Path::new("."))
            .join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| LockError::Io {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(DeliveryLock { _file: file, path }),
            Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Busy { path }),
            Err(std::fs::TryLockError::Error(source)) => Err(LockError::Io { path, source }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// How a pass runs.
#[derive(Debug, Clone)]
pub struct DeliverOptions {
    /// Most entries per stream (and per pass).
    pub max_per_stream: usize,
    /// Most envelopes sent and not yet answered at any moment; more are
    /// sent only after a chunk's outcomes are recorded.
    pub window: usize,
    /// Wait for each entry's stored retry time (`deliver --follow`); an
    /// official who asks to deliver now (`submit`, `deliver`) does not.
    pub respect_retry_time: bool,
}

impl Default for DeliverOptions {
    fn default() -> Self {
        DeliverOptions {
            max_per_stream: MAX_PER_STREAM,
            window: WINDOW,
            respect_retry_time: false,
        }
    }
}

/// Why a whole call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// For an official.
    pub message: String,
    /// Retrying later may succeed by itself (hub down, deadline, …).
    pub transient: bool,
}

/// What one chunk's outcomes did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkReport {
    /// 1-based, in arrival order.
    pub chunk: usize,
    pub accepted: Vec<u64>,
    pub rejected: Vec<(u64, String)>,
    /// Receipts that did not verify (entries back to `retry`).
    pub bad_receipts: Vec<(u64, String)>,
}

/// What a pass did.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    /// Entries found `sending` (a process died while sending) and put back.
    pub recovered: usize,
    /// Entries claimed and sent.
    pub sent: usize,
    pub accepted: Vec<u64>,
    /// Refused by the hub (or, too large, by this node): sequence, reason.
    pub rejected: Vec<(u64, String)>,
    /// Back to `retry`: sequence, reason.
    pub failed: Vec<(u64, String)>,
    /// Superseded instead of sent (computed under an old pack).
    pub superseded: Vec<(u64, String)>,
    /// Pending entries left for a later pass (not yet due, or behind one).
    pub waiting: usize,
    /// Why the call failed, if it did.
    pub call_error: Option<CallFailure>,
    /// Chunks received.
    pub chunks: usize,
}

/// Delivery could not run (the store failed); nothing is lost.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(
        "节点配置 {path} 中没有汇总中心回执公钥（[hub] receipt_key），无法核验回执，因此不送达；请向县依法治县办索取（`kaohe hub init` 显示的回执公钥）后填写（no pinned hub receipt key: nothing is delivered）"
    )]
    NoReceiptKey { path: String },
    /// The hub's log was found inconsistent and no official has resolved
    /// it: nothing is sent (the outbox keeps everything).
    #[error("{0}；发件箱中的提交全部保留（nothing was sent; the outbox keeps every entry）")]
    LogInconsistent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The pinned receipt key, or why delivery cannot start.
pub fn receipt_key(config: &NodeConfig) -> Result<PublicKey, DeliverError> {
    config
        .hub
        .receipt_key
        .ok_or_else(|| DeliverError::NoReceiptKey {
            path: config.path.display().to_string(),
        })
}

/// A random number for the retry jitter (std's randomly keyed hasher; no
/// other source of randomness is needed for spreading retries).
pub fn jitter() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    h.finish()
}

/// One delivery pass (see the module docs). `now` is the node's clock;
/// `observer` is told about each chunk once it is recorded.
pub async fn deliver_pass(
    _lock: &DeliveryLock,
    store: &mut Store,
    config: &NodeConfig,
    hub_key: &PublicKey,
    options: &DeliverOptions,
    now: &dyn Fn() -> jiff::Timestamp,
    observer: &mut dyn FnMut(&ChunkReport),
) -> Result<PassReport, DeliverError> {
    if let Some(why) = crate::witness::delivery_stopped(store)? {
        return Err(DeliverError::LogInconsistent(why));
    }
    let mut report = PassReport {
        recovered: store.recover_interrupted(&now())?,
        ..PassReport::default()
    };
    let claim = store.claim_due(
        options.max_per_stream.max(1),
        &now(),
        options.respect_retry_time,
    )?;
    report.superseded = claim.superseded;
    report.waiting = claim.waiting;
    if claim.entries.is_empty() {
        return Ok(report);
    }
    // Too large for the hub's transport: refused here, with the reason,
    // instead of failing the whole stream for everyone.
    let mut entries = Vec::with_capacity(claim.entries.len());
    let mut oversize = Vec::new();
    for e in claim.entries {
        let size = pb::Envelope::from(e.envelope.clone()).encoded_len();
        if size > MAX_ENVELOPE_MESSAGE_BYTES {
            oversize.push((
                e.sequence,
                format!(
                    "签名信封 {size} 字节，超过汇总中心的上限 {MAX_ENVELOPE_MESSAGE_BYTES} 字节，未发送（envelope too large for the hub; not sent）"
                ),
            ));
        } else {
            entries.push(e);
        }
    }
    if !oversize.is_empty() {
        let outcomes: Vec<(u64, Outcome<'_>)> = oversize
            .iter()
            .map(|(s, reason)| {
                (
                    *s,
                    Outcome::Rejected {
                        code: None,
                        reason: reason.clone(),
                    },
                )
            })
            .collect();
        store.record_chunk(&outcomes, &now(), None)?;
        report.rejected.extend(oversize);
    }
    report.sent = entries.len();
    if entries.is_empty() {
        return Ok(report);
    }
    let jitter = jitter();
    let local_seconds = || now().as_second();

    // The deadlines of `node.toml` `[hub]`: a stuck hub costs at most
    // these, and the entries stay in the outbox.
    let outcome = match client::connect(&config.hub, &config.hub.timeouts).await {
        Err(e) => Err(CallFailure {
            transient: !matches!(
                e,
                client::ConnectError::Address { .. } | client::ConnectError::Tls(_)
            ),
            message: e.to_string(),
        }),
        Ok(hub) => {
            stream(
                &hub,
                store,
                &entries,
                options.window,
                hub_key,
                &local_seconds,
                now,
                &mut report,
                observer,
            )
            .await?
        }
    };
    if let Err(failure) = outcome {
        report.call_error = Some(failure);
    }

    // Whatever has no outcome goes back to retry, with its next time.
    let settled: std::collections::HashSet<u64> = report
        .accepted
        .iter()
        .copied()
        .chain(report.rejected.iter().map(|(s, _)| *s))
        .chain(report.failed.iter().map(|(s, _)| *s))
        .collect();
    let unanswered: Vec<&Entry> = entries
        .iter()
        .filter(|e| !settled.contains(&e.sequence))
        .collect();
    if !unanswered.is_empty() {
        let (reason, permanent_call) = match &report.call_error {
            Some(f) => (f.message.clone(), !f.transient),
            None => (
                "汇总中心结束了数据流但未答复此条，将重新发送（the hub ended the stream without an outcome for this entry）".to_string(),
                false,
            ),
        };
        let at = now();
        let outcomes: Vec<(u64, Outcome<'_>)> = unanswered
            .iter()
            .map(|e| {
                let delay = if permanent_call {
                    RETRY_MAX_SECONDS
                } else {
                    retry_delay(e.attempts, jitter ^ e.sequence)
                };
                (
                    e.sequence,
                    Outcome::Failed {
                        reason: reason.clone(),
                        retry_at: Some(at.as_second().saturating_add(delay)),
                    },
                )
            })
            .collect();
        for (sequence, settled) in store.record_chunk(&outcomes, &at, None)? {
            if let Settled::State(State::Retry) = settled {
                report.failed.push((sequence, reason.clone()));
            }
        }
    }
    Ok(report)
}

/// The `SubmitStream` call: sends `entries` in order and records each chunk
/// as it arrives. `Err` only for the store; the call's own failure is the
/// inner `Err`.
#[allow(
    clippy::too_many_arguments,
    reason = "one private step of deliver_pass, called once"
)]
async fn stream(
    hub: &HubClient,
    store: &mut Store,
    entries: &[Entry],
    window: usize,
    hub_key: &PublicKey,
    local_seconds: &dyn Fn() -> i64,
    now: &dyn Fn() -> jiff::Timestamp,
    report: &mut PassReport,
    observer: &mut dyn FnMut(&ChunkReport),
) -> Result<Result<(), CallFailure>, DeliverError> {
    let deadline = tokio::time::Instant::now() + hub.timeouts().stream;
    // A sliding window: at most `window` envelopes sent and not yet
    // answered. More go out only after a chunk is recorded, so a failure
    // costs at most a window of re-sends and neither side buffers a whole
    // outbox.
    let window = window.max(1);
    let (outbound, rx) = tokio::sync::mpsc::unbounded_channel::<pb::Envelope>();
    let mut outbound = Some(outbound);
    let mut next_to_send = 0usize;
    let mut release =
        |count: usize, outbound: &mut Option<tokio::sync::mpsc::UnboundedSender<pb::Envelope>>| {
            for e in entries.iter().skip(next_to_send).take(count) {
                if let Some(tx) = outbound.as_ref() {
                    // The receiver lives as long as the call; a send after the
                    // call ended changes nothing.
                    let _ = tx.send(pb::Envelope::from(e.envelope.clone()));
                }
                next_to_send += 1;
            }
            if next_to_send >= entries.len() {
                // Everything is on its way: end the request stream.
                *outbound = None;
            }
        };
    release(window, &mut outbound);
    let mut request = tonic::Request::new(tokio_stream::wrappers::UnboundedReceiverStream::new(rx));
    request.set_timeout(hub.timeouts().stream);
    let started = tokio::time::timeout_at(deadline, hub.submissions().submit_stream(request)).await;
    let mut inbound = match started {
        Err(_) => return Ok(Err(deadline_failure(hub))),
        Ok(result) => match hub.settle(SUBMIT_STREAM, result, local_seconds()) {
            Ok(inbound) => inbound,
            Err(e) => {
                return Ok(Err(CallFailure {
                    transient: e.is_transient(),
                    message: e.to_string(),
                }));
            }
        },
    };
    let mut chunk_no = 0usize;
    loop {
        let next = match tokio::time::timeout_at(deadline, inbound.next()).await {
            Err(_) => return Ok(Err(deadline_failure(hub))),
            Ok(None) => return Ok(Ok(())),
            Ok(Some(Err(status))) => {
                return Ok(Err(CallFailure {
                    transient: client::is_transient(status.code()),
                    message: client::describe(&status),
                }));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        let chunk = match ReceiptChunk::try_from(next) {
            Ok(c) => c,
            Err(e) => {
                // A malformed chunk: its entries get no outcome from it and
                // are sent again (idempotent).
                return Ok(Err(CallFailure {
                    transient: true,
                    message: format!(
                        "汇总中心的回执数据不合规，未回执的将重新发送（malformed receipt chunk）：{e}"
                    ),
                }));
            }
        };
        chunk_no += 1;
        report.chunks = chunk_no;
        let mut outcomes: Vec<(u64, Outcome<'_>)> = Vec::with_capacity(chunk.outcomes.len());
        for o in &chunk.outcomes {
            let Some(entry) = usize::try_from(o.index).ok().and_then(|i| entries.get(i)) else {
                tracing::warn!("outcome for index {} that was never sent", o.index);
                continue;
            };
            if o.digest != entry.digest {
                tracing::warn!(
                    "outcome for index {} names digest {}, sent {}",
                    o.index,
                    o.digest,
                    entry.digest
                );
                continue;
            }
            let outcome = match &o.result {
                Ok(receipt) => Outcome::Accepted {
                    receipt,
                    hub: hub_key,
                },
                Err(rejection) => Outcome::Rejected {
                    code: Some(rejection.code),
                    reason: match &rejection.field {
                        Some(field) => format!("{}（字段 field：{field}）", rejection.message),
                        None => rejection.message.clone(),
                    },
                },
            };
            outcomes.push((entry.sequence, outcome));
        }
        let at = now();
        let bad_receipt_retry = Some(at.as_second().saturating_add(RETRY_MAX_SECONDS));
        let settled = store.record_chunk(&outcomes, &at, bad_receipt_retry)?;
        let mut chunk_report = ChunkReport {
            chunk: chunk_no,
            ..ChunkReport::default()
        };
        for ((sequence, outcome), (_, result)) in outcomes.iter().zip(settled) {
            match (result, outcome) {
                (Settled::State(State::Accepted), _) => chunk_report.accepted.push(*sequence),
                (Settled::State(State::Rejected), Outcome::Rejected { reason, .. }) => {
                    chunk_report.rejected.push((*sequence, reason.clone()));
                }
                (Settled::BadReceipt(why), _) => chunk_report.bad_receipts.push((*sequence, why)),
                (Settled::State(_) | Settled::Skipped(_), _) => {}
            }
        }
        report.accepted.extend(&chunk_report.accepted);
        report
            .rejected
            .extend(chunk_report.rejected.iter().cloned());
        report
            .failed
            .extend(chunk_report.bad_receipts.iter().cloned());
        observer(&chunk_report);
        // Recorded (and observed): the window moves on.
        release(chunk.outcomes.len(), &mut outbound);
    }
}

const SUBMIT_STREAM: Call = Call::Stream("SubmitStream");

/// The stream's overall deadline ([`crate::config::Timeouts::stream`]) passed.
fn deadline_failure(hub: &HubClient) -> CallFailure {
    CallFailure {
        transient: true,
        message: client::call_timeout_message(
            hub.address(),
            SUBMIT_STREAM.name(),
            hub.timeouts().stream,
        ),
    }
}
