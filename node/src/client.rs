//! 汇总中心连接（the node's gRPC client of the hub）。
//!
//! One [`HubClient`] per command: a tonic channel to `hub.address` — TLS
//! with the configured CA only (no system roots) for `https://`, plain
//! HTTP/2 only to a loopback address (`config` refuses anything else) —
//! with a connect timeout, and a deadline on **every** call
//! ([`Timeouts`]; streams get an overall deadline enforced here).
//!
//! **Signed calls and the node's clock.** `ListMyUnits`, `GetReceipt`,
//! `ListResults` and `FileObjection` are signed with a time ([`call_auth`]) that the hub
//! accepts only within [`MAX_CALL_SKEW_SECONDS`] of its own clock. The
//! node's clock must not matter, so the client learns the hub's time from
//! every response it gets — the `kaohe-hub-time` metadata if the hub sends
//! it, else the HTTP `date` header every HTTP/2 response carries — signs
//! with `local clock + learned offset`, and when a signed call is refused
//! as unauthenticated while the hub's time it reports is far from the time
//! signed, signs again once with the hub's time. Nothing else the node
//! sends depends on its clock: ordering is by sequence number, lateness by
//! the hub's clock at commit.
//!
//! **Classification** ([`is_transient`]): `UNAVAILABLE`,
//! `DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED`, `ABORTED`, `CANCELLED`,
//! `UNKNOWN` and `INTERNAL` (a broken connection surfaces as these) are
//! worth retrying as they are; everything else needs a person
//! (registration, scope, configuration).

use std::sync::Mutex;
use std::time::Duration;

use kaohe_proto::call_auth::{self, HUB_TIME_METADATA_KEY, MAX_CALL_SKEW_SECONDS, paths};
use kaohe_proto::model::{
    AddCosignatureRequest, AddCosignatureResponse, FetchPackRequest, FetchedPack,
    GetCheckpointRequest, GetCheckpointResponse, ListMyUnitsRequest, ListMyUnitsResponse,
    ListPacksRequest, ListPacksResponse, ListResultsRequest, ListResultsResponse,
    MAX_FETCH_PACK_MESSAGE_BYTES, Objection, ObjectionReceipt,
};
use kaohe_proto::pb::log_service_client::LogServiceClient;
use kaohe_proto::pb::pack_service_client::PackServiceClient;
use kaohe_proto::pb::result_service_client::ResultServiceClient;
use kaohe_proto::pb::submission_service_client::SubmissionServiceClient;
use kaohe_proto::pb::unit_service_client::UnitServiceClient;
use kaohe_proto::{FieldError, SigningKeyPair, pb};
use tonic::codegen::http;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::config::{HubConfig, Timeouts};
use crate::tls::{TlsConnect, TlsError};

/// What an official reads when a call's deadline passed: the hub did not
/// answer `call` within `limit`, and nothing is lost.
pub fn call_timeout_message(address: &str, call: &str, limit: Duration) -> String {
    format!(
        "汇总中心 {address} 未在 {} 秒内答复 {call}（调用超时），本次调用已中止；已保存的内容不受影响，发件箱中未获回执的提交全部保留，稍后重发（call timeout: the hub did not answer {call} within {} s; nothing is lost, the outbox keeps its entries）",
        limit.as_secs(),
        limit.as_secs()
    )
}

/// Connecting failed (nothing was sent).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("汇总中心地址 {address} 无效（invalid hub address）：{source}")]
    Address {
        address: String,
        source: tonic::transport::Error,
    },
    /// The TLS settings (CA, client certificate, CRL) cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(
        "无法连接汇总中心 {address}，已保存的内容不受影响，稍后重试（cannot reach the hub; nothing is lost, retry later）：{detail}"
    )]
    Unreachable { address: String, detail: String },
    #[error(
        "无法连接汇总中心 {address}：{seconds} 秒内未完成连接（连接超时），未发送任何内容；已保存的内容不受影响，发件箱中的提交全部保留，稍后重试（connect timeout: no connection within {seconds} s; nothing was sent, the outbox keeps its entries）"
    )]
    Timeout { address: String, seconds: u64 },
}

/// A call's answer did not pass the protocol checks.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The status, told in Chinese; not a `source` too, so the message
    /// is not repeated in English after it.
    #[error("{}", describe(.0))]
    Status(Status),
    #[error("汇总中心的回答不合规（malformed answer from the hub）：{0}")]
    Malformed(#[from] FieldError),
}

impl From<Status> for CallError {
    fn from(status: Status) -> CallError {
        CallError::Status(status)
    }
}

impl CallError {
    /// Whether trying again later may succeed by itself.
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Status(s) => is_transient(s.code()),
            CallError::Malformed(_) => false,
        }
    }
}

/// Whether a failed call is worth retrying unchanged (see the module docs).
pub fn is_transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled
            | Code::Unknown
            | Code::Internal
    )
}

/// A status for an official: what kind of failure, then the hub's words.
pub fn describe(status: &Status) -> String {
    let kind = match status.code() {
        Code::Unavailable => "汇总中心暂不可用（UNAVAILABLE）",
        Code::DeadlineExceeded => "汇总中心未在时限内答复（DEADLINE_EXCEEDED）",
        Code::ResourceExhausted => "汇总中心繁忙（RESOURCE_EXHAUSTED）",
        Code::Unauthenticated => "汇总中心未能确认本节点身份（UNAUTHENTICATED）",
        Code::PermissionDenied => "汇总中心拒绝（PERMISSION_DENIED）",
        Code::InvalidArgument => "请求不合规（INVALID_ARGUMENT）",
        Code::OutOfRange => "消息超过汇总中心的大小上限（OUT_OF_RANGE）",
        Code::Unimplemented => "汇总中心尚未提供此项服务（UNIMPLEMENTED）",
        Code::NotFound => "汇总中心没有所请求的内容（NOT_FOUND）",
        Code::FailedPrecondition => "汇总中心不接受（FAILED_PRECONDITION）",
        Code::Cancelled => "调用被取消（CANCELLED）",
        _ => "与汇总中心通信出错",
    };
    let message = kaohe_tables::os_error::chinese(status.message().trim());
    let message = message.trim();
    let text = if message.is_empty() {
        format!("{kind}（{:?}）", status.code())
    } else {
        format!("{kind}：{message}")
    };
    match tls_hint(&error_chain(status)) {
        Some(hint) => format!("{hint}。{text}"),
        None => text,
    }
}

/// What a TLS failure means for the official, from the error text
/// (rustls alert and verifier names); `None` if it is no known TLS failure.
///
/// With TLS 1.3 a hub requiring a client certificate (`--client-ca`)
/// completes the handshake and then refuses the first call with the
/// `CertificateRequired` alert, so the reason reaches the node as a call
/// error (with TLS 1.2 at connect): both paths are explained here.
pub fn tls_hint(text: &str) -> Option<&'static str> {
    // rustls states certificate faults in its own words ("certificate
    // expired: …") or, without details, by variant name ("Expired"); a
    // fault the hub found in this node's certificate arrives as an alert
    // ("received fatal alert: CertificateExpired").
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&["CertificateRequired"]) {
        Some(
            "汇总中心要求客户端证书（mTLS），本节点未出示：请在 node.toml 的 [hub] 中设置 hub.client_cert 与 hub.client_key（含「密钥编号.node.kaohe」的县 CA 证书）（the hub requires a client certificate）",
        )
    } else if has(&["peer certificate: Revoked"]) {
        Some(
            "汇总中心的证书未通过核验：已被县 CA 吊销（列于 hub.crl 所指的吊销列表）；请勿继续连接，并向县依法治县办核实汇总中心地址与证书（the hub's certificate is revoked）",
        )
    } else if has(&[
        "revocation list expired",
        "peer certificate: ExpiredRevocationList",
    ]) {
        Some(
            "汇总中心的证书未能核验：hub.crl 所指的吊销列表已过期（超过其下次更新时间）；请向县依法治县办领取最新的吊销列表替换该文件（the CRL has expired）",
        )
    } else if has(&[
        "UnknownRevocationStatus",
        "invalid certificate revocation list",
    ]) {
        Some(
            "汇总中心的证书未能核验：hub.crl 所指的吊销列表不是签发汇总中心证书的 CA（hub.ca_cert）签发的，或签名无效；请换用县 CA 的吊销列表（the CRL is not the hub CA's）",
        )
    } else if has(&["certificate expired", "peer certificate: Expired"]) {
        Some(
            "汇总中心的证书未通过核验：已过期（超过证书的截止日期）；请县依法治县办换发汇总中心证书，并核对本机时间（the hub's certificate has expired）",
        )
    } else if has(&["certificate not valid yet", "peer certificate: NotValidYet"]) {
        Some(
            "汇总中心的证书未通过核验：尚未生效（生效日期晚于本机时间）；请核对本机时间，或请县依法治县办换发证书（the hub's certificate is not valid yet）",
        )
    } else if has(&[
        "does not allow extended key usage",
        "peer certificate: InvalidPurpose",
    ]) {
        Some(
            "汇总中心的证书未通过核验：不是服务器证书（扩展密钥用法不含 serverAuth）；请县依法治县办按部署手册第 2 节重新签发（the hub's certificate is not a server certificate）",
        )
    } else if has(&["certificate not valid for name", "NotValidForName"]) {
        Some(
            "汇总中心的证书未通过核验：与 hub.address 的主机名不符；请核对地址，或请县依法治县办签发含该主机名的证书（the hub's certificate does not name its address）",
        )
    } else if has(&["UnknownIssuer", "invalid peer certificate"]) {
        Some(
            "汇总中心的证书未通过核验：不是 hub.ca_cert 所指 CA 签发，或不是有效的服务器证书（the hub's certificate is not trusted）",
        )
    } else if has(&["CertificateExpired"]) {
        Some(
            "汇总中心不接受本节点的客户端证书：已过期或尚未生效；请向县依法治县办申请新证书，并核对本机时间（the hub refused the node's client certificate as expired）",
        )
    } else if has(&["CertificateRevoked"]) {
        Some(
            "汇总中心不接受本节点的客户端证书：已被县 CA 吊销；请向县依法治县办申请新证书（the node's client certificate is revoked）",
        )
    } else if has(&["UnsupportedCertificate"]) {
        Some(
            "汇总中心不接受本节点的客户端证书：不是客户端证书（扩展密钥用法须含 clientAuth，且不能是 CA 证书）（the hub refused the node's client certificate）",
        )
    } else if has(&["UnknownCA", "BadCertificate", "CertificateUnknown"]) {
        Some(
            "汇总中心不接受本节点的客户端证书：须由县 CA 签发且在有效期内（the hub refused the node's client certificate）",
        )
    } else {
        None
    }
}

/// The hub's clock as a response states it: `kaohe-hub-time`, else the
/// HTTP `date` header (whole seconds).
pub fn hub_time(metadata: &MetadataMap) -> Option<i64> {
    if let Some(t) = metadata
        .get(HUB_TIME_METADATA_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<i64>().ok())
    {
        return Some(t);
    }
    let date = metadata.get("date")?.to_str().ok()?;
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(date)
        .ok()
        .map(|t| t.as_second())
}

/// A connection to the hub.
#[derive(Debug)]
pub struct HubClient {
    channel: Channel,
    address: String,
    timeouts: Timeouts,
    /// hub clock − node clock, seconds, from the latest response that
    /// stated the hub's time. A std mutex: held only to read or write it.
    offset: Mutex<Option<i64>>,
    /// TLS without a client certificate: a hub that requires one may close
    /// the connection before its `CertificateRequired` alert is read, so a
    /// bare "connection closed" then gets the client-certificate hint.
    anonymous_tls: bool,
}

/// Connects to the configured hub (eagerly: an unreachable hub fails here).
pub async fn connect(hub: &HubConfig, timeouts: &Timeouts) -> Result<HubClient, ConnectError> {
    // With TLS the connector does the handshake (it checks the CRL, which
    // tonic's own TLS cannot): the channel dials "http" to it and keeps
    // "https" as the requests' origin.
    let (dial, connector) = if hub.tls {
        let connector = TlsConnect::new(hub)?;
        (
            hub.address.replacen("https://", "http://", 1),
            Some(connector),
        )
    } else {
        (hub.address.clone(), None)
    };
    let address_error = |source| ConnectError::Address {
        address: hub.address.clone(),
        source,
    };
    let endpoint = Endpoint::from_shared(dial)
        .map_err(address_error)?
        .origin(hub.address.parse().map_err(|e: http::uri::InvalidUri| {
            ConnectError::Tls(TlsError::Invalid(format!("{}：{e}", hub.address)))
        })?)
        .timeout(timeouts.call)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    // The whole handshake (TCP, TLS, HTTP/2) within `connect`: a peer that
    // accepts and then says nothing must not hold the node. (The TLS
    // connector bounds TCP + TLS itself, in Chinese, for reconnects too;
    // tonic's connect timeout around it would say only "deadline has
    // elapsed".)
    let connecting = async {
        match connector {
            Some(connector) => endpoint.connect_with_connector(connector).await,
            None => endpoint.connect_timeout(timeouts.connect).connect().await,
        }
    };
    let connected = tokio::time::timeout(timeouts.connect, connecting)
        .await
        .map_err(|_| ConnectError::Timeout {
            address: hub.address.clone(),
            seconds: timeouts.connect.as_secs(),
        })?;
    let channel = connected.map_err(|e| {
        // The connector's own TCP + TLS deadline is the same wait as the
        // timeout above, whichever timer fires first.
        if has_timed_out(&e) {
            return ConnectError::Timeout {
                address: hub.address.clone(),
                seconds: timeouts.connect.as_secs(),
            };
        }
        let detail = error_chain(&e);
        ConnectError::Unreachable {
            address: hub.address.clone(),
            detail: match tls_hint(&detail) {
                Some(hint) => format!("{hint}：{detail}"),
                None => detail,
            },
        }
    })?;
    Ok(HubClient {
        channel,
        address: hub.address.clone(),
        timeouts: timeouts.clone(),
        offset: Mutex::new(None),
        anonymous_tls: hub.tls && hub.client_identity.is_none(),
    })
}

/// Whether `e` or one of its sources is an I/O timeout.
fn has_timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// An error with its sources, one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push('：');
            out.push_str(&text);
        }
        source = s.source();
    }
    // The OS error at its end ("Connection refused (os error 111)") in
    // Chinese: this text is printed as it is, also outside an error.
    kaohe_tables::os_error::chinese(&out).into_owned()
}

impl HubClient {
    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    pub(crate) fn submissions(&self) -> SubmissionServiceClient<Channel> {
        SubmissionServiceClient::new(self.channel.clone())
            .max_decoding_message_size(kaohe_proto::model::MAX_ENVELOPE_MESSAGE_BYTES * 4)
    }

    /// The learned hub − node clock offset, seconds (`None` before any
    /// response stated the hub's time).
    pub fn clock_offset(&self) -> Option<i64> {
        *self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers the hub's time a response stated; returns it.
    pub fn learn(&self, metadata: &MetadataMap, local_now: i64) -> Option<i64> {
        let t = hub_time(metadata)?;
        *self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(t - local_now);
        Some(t)
    }

    /// The time to sign a call with: the node's clock corrected by the
    /// learned offset.
    pub fn hub_now(&self, local_now: i64) -> i64 {
        local_now.saturating_add(self.clock_offset().unwrap_or(0))
    }

    fn unary<T>(&self, message: T) -> Request<T> {
        let mut r = Request::new(message);
        r.set_timeout(self.timeouts.call);
        r
    }

    /// `ListPacks`.
    pub async fn list_packs(
        &self,
        year: Option<u16>,
        now: &dyn Fn() -> i64,
    ) -> Result<ListPacksResponse, CallError> {
        let mut client = PackServiceClient::new(self.channel.clone());
        let result = client
            .list_packs(self.unary(pb::ListPacksRequest::from(ListPacksRequest { year })))
            .await;
        let response = self.settle(Call::Unary("ListPacks"), result, now())?;
        Ok(ListPacksResponse::try_from(response)?)
    }

    /// `FetchPack` (the module may be up to 16 MiB).
    pub async fn fetch_pack(
        &self,
        request: FetchPackRequest,
        now: &dyn Fn() -> i64,
    ) -> Result<FetchedPack, CallError> {
        let mut client = PackServiceClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_FETCH_PACK_MESSAGE_BYTES);
        let result = client
            .fetch_pack(self.unary(pb::FetchPackRequest::from(request)))
            .await;
        let response = self.settle(Call::Unary("FetchPack"), result, now())?;
        Ok(FetchedPack::try_from(response)?)
    }

    /// `GetCheckpoint`: the newest checkpoint of a year's log and the
    /// consistency proof from `from_size`.
    pub async fn get_checkpoint(
        &self,
        request: GetCheckpointRequest,
        now: &dyn Fn() -> i64,
    ) -> Result<GetCheckpointResponse, CallError> {
        let mut client = LogServiceClient::new(self.channel.clone());
        let result = client
            .get_checkpoint(self.unary(pb::GetCheckpointRequest::from(request)))
            .await;
        let response = self.settle(Call::Unary("GetCheckpoint"), result, now())?;
        Ok(GetCheckpointResponse::try_from(response)?)
    }

    /// `AddCosignature`: this node's cosignature of a checkpoint.
    pub async fn add_cosignature(
        &self,
        request: AddCosignatureRequest,
        now: &dyn Fn() -> i64,
    ) -> Result<AddCosignatureResponse, CallError> {
        let mut client = LogServiceClient::new(self.channel.clone());
        let result = client
            .add_cosignature(self.unary(pb::AddCosignatureRequest::from(request)))
            .await;
        let response = self.settle(Call::Unary("AddCosignature"), result, now())?;
        Ok(AddCosignatureResponse::from(response))
    }

    /// `ListMyUnits`, signed.
    pub async fn list_my_units(
        &self,
        key: &SigningKeyPair,
        year: Option<u16>,
        now: &dyn Fn() -> i64,
    ) -> Result<ListMyUnitsResponse, CallError> {
        let message = pb::ListMyUnitsRequest::from(ListMyUnitsRequest { year });
        let mut retried = false;
        loop {
            let signed_at = self.hub_now(now());
            let mut request = self.unary(message);
            call_auth::sign_call(&mut request, key, paths::LIST_MY_UNITS, signed_at);
            let result = UnitServiceClient::new(self.channel.clone())
                .list_my_units(request)
                .await;
            let call = Call::Unary("ListMyUnits");
            match self.settle_signed(call, result, now(), signed_at, &mut retried) {
                Signed::Done(r) => return Ok(ListMyUnitsResponse::try_from(r?)?),
                Signed::Again => continue,
            }
        }
    }

    /// `ListResults`, signed.
    pub async fn list_results(
        &self,
        key: &SigningKeyPair,
        request: ListResultsRequest,
        now: &dyn Fn() -> i64,
    ) -> Result<ListResultsResponse, CallError> {
        let message = pb::ListResultsRequest::from(request);
        let mut retried = false;
        loop {
            let signed_at = self.hub_now(now());
            let mut request = self.unary(message);
            call_auth::sign_call(&mut request, key, paths::LIST_RESULTS, signed_at);
            let result = ResultServiceClient::new(self.channel.clone())
                .list_results(request)
                .await;
            let call = Call::Unary("ListResults");
            match self.settle_signed(call, result, now(), signed_at, &mut retried) {
                Signed::Done(r) => return Ok(ListResultsResponse::try_from(r?)?),
                Signed::Again => continue,
            }
        }
    }

    /// `FileObjection`, signed: the header, then the material in
    /// [`kaohe_proto::model::OBJECTION_CHUNK_BYTES`] chunks (size and
    /// SHA-256 declared in the header), within the stream deadline. Signed
    /// again (once) with the hub's time, resending everything, when the
    /// hub's clock is far from the node's.
    pub async fn file_objection(
        &self,
        key: &SigningKeyPair,
        objection: Objection,
        now: &dyn Fn() -> i64,
    ) -> Result<ObjectionReceipt, CallError> {
        let parts = objection.into_parts();
        let mut retried = false;
        loop {
            let signed_at = self.hub_now(now());
            let mut request = Request::new(tokio_stream::iter(parts.clone()));
            request.set_timeout(self.timeouts.stream);
            call_auth::sign_call(&mut request, key, paths::FILE_OBJECTION, signed_at);
            let result = ResultServiceClient::new(self.channel.clone())
                .file_objection(request)
                .await;
            let call = Call::Stream("FileObjection");
            match self.settle_signed(call, result, now(), signed_at, &mut retried) {
                Signed::Done(r) => return Ok(ObjectionReceipt::try_from(r?)?),
                Signed::Again => continue,
            }
        }
    }

    /// Learns the hub's time from an answer; the message or the status
    /// (this node's own deadline passing is said as such, naming `call`).
    pub(crate) fn settle<T>(
        &self,
        call: Call,
        result: Result<tonic::Response<T>, Status>,
        local_now: i64,
    ) -> Result<T, CallError> {
        match result {
            Ok(response) => {
                self.learn(response.metadata(), local_now);
                Ok(response.into_inner())
            }
            Err(status) => {
                self.learn(status.metadata(), local_now);
                Err(CallError::Status(self.annotate(call, status)))
            }
        }
    }

    /// How long `call` may wait for the hub's answer (its headers, for a
    /// stream): the channel's per-call deadline, or the stream's if shorter.
    pub fn deadline_of(&self, call: Call) -> Duration {
        match call {
            Call::Unary(_) => self.timeouts.call,
            Call::Stream(_) => self.timeouts.call.min(self.timeouts.stream),
        }
    }

    /// The status for this node's own deadline on `call` having passed.
    pub fn timed_out(&self, call: Call) -> Status {
        Status::deadline_exceeded(call_timeout_message(
            &self.address,
            call.name(),
            self.deadline_of(call),
        ))
    }

    /// Says a passed deadline of this node's as such; adds the
    /// client-certificate hint to a connection the hub closed while this
    /// node presented no certificate (see `anonymous_tls`).
    fn annotate(&self, call: Call, status: Status) -> Status {
        if is_local_timeout(&status) {
            return self.timed_out(call);
        }
        let chain = error_chain(&status);
        let closed = chain.contains("connection closed")
            || chain.contains("connection reset")
            || chain.contains("broken pipe");
        if !self.anonymous_tls || !closed || tls_hint(&chain).is_some() {
            return status;
        }
        Status::new(
            status.code(),
            format!(
                "汇总中心在 TLS 握手后关闭了连接；若汇总中心要求客户端证书（--client-ca），请在 node.toml 的 [hub] 中设置 hub.client_cert 与 hub.client_key（the hub closed the connection; it may require a client certificate）：{}",
                status.message()
            ),
        )
    }

    /// Like [`HubClient::settle`]; asks to sign again (once) when the hub
    /// refused the signature and its clock is far from the time signed.
    fn settle_signed<T>(
        &self,
        call: Call,
        result: Result<tonic::Response<T>, Status>,
        local_now: i64,
        signed_at: i64,
        retried: &mut bool,
    ) -> Signed<T> {
        match result {
            Ok(response) => {
                self.learn(response.metadata(), local_now);
                Signed::Done(Ok(response.into_inner()))
            }
            Err(status) => {
                let hub = self.learn(status.metadata(), local_now);
                let skewed = hub.is_some_and(|t| {
                    t.abs_diff(signed_at) > (MAX_CALL_SKEW_SECONDS / 2).unsigned_abs()
                });
                if status.code() == Code::Unauthenticated && skewed && !*retried {
                    *retried = true;
                    tracing::info!(
                        "节点时钟与汇总中心相差约 {} 秒，按汇总中心时间重新签名（signing again with the hub's time）",
                        self.clock_offset().unwrap_or(0)
                    );
                    return Signed::Again;
                }
                Signed::Done(Err(CallError::Status(self.annotate(call, status))))
            }
        }
    }
}

/// A call of the hub's, by name, for messages and its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// One request, one answer, within [`Timeouts::call`].
    Unary(&'static str),
    /// A streaming call (`SubmitStream`, `FileObjection`).
    Stream(&'static str),
}

impl Call {
    pub fn name(self) -> &'static str {
        match self {
            Call::Unary(name) | Call::Stream(name) => name,
        }
    }
}

/// Whether `status` is this node's own deadline passing (tonic's
/// `TimeoutExpired` in its sources), not an answer of the hub's.
pub fn is_local_timeout(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if e.downcast_ref::<tonic::TimeoutExpired>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}

enum Signed<T> {
    Done(Result<T, CallError>),
    Again,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_time_comes_from_its_metadata_or_the_http_date() {
        let mut m = MetadataMap::new();
        assert_eq!(hub_time(&m), None);
        m.insert("date", "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
        assert_eq!(hub_time(&m), Some(784_111_777));
        m.insert(HUB_TIME_METADATA_KEY, "1700000000".parse().unwrap());
        assert_eq!(
            hub_time(&m),
            Some(1_700_000_000),
            "the hub's own clock first"
        );
        let mut junk = MetadataMap::new();
        junk.insert("date", "yesterday".parse().unwrap());
        assert_eq!(hub_time(&junk), None);
    }

    #[test]
    fn tls_failures_are_explained_in_chinese() {
        let required =
            tls_hint("connection error: received fatal alert: CertificateRequired").unwrap();
        assert!(required.contains("hub.client_cert"), "{required}");
        let untrusted = tls_hint("invalid peer certificate: UnknownIssuer").unwrap();
        assert!(untrusted.contains("hub.ca_cert"), "{untrusted}");
        let refused = tls_hint("received fatal alert: UnknownCA").unwrap();
        assert!(refused.contains("客户端证书"), "{refused}");
        for (error, words) in [
            (
                "invalid peer certificate: certificate expired: verification time 2",
                "已过期",
            ),
            (
                "invalid peer certificate: certificate not valid yet: verification",
                "尚未生效",
            ),
            (
                "certificate does not allow extended key usage for id-kp-serverAuth",
                "serverAuth",
            ),
            ("invalid peer certificate: NotValidForName", "hub.address"),
            ("received fatal alert: CertificateExpired", "客户端证书"),
            ("received fatal alert: CertificateRevoked", "吊销"),
            ("invalid peer certificate: Revoked", "已被县 CA 吊销"),
            (
                "invalid peer certificate: certificate revocation list expired: verification time 2",
                "吊销列表已过期",
            ),
            (
                "invalid peer certificate: ExpiredRevocationList",
                "吊销列表已过期",
            ),
            (
                "invalid peer certificate: UnknownRevocationStatus",
                "不是签发汇总中心证书的 CA",
            ),
            (
                "invalid certificate revocation list: BadSignature",
                "不是签发汇总中心证书的 CA",
            ),
        ] {
            let hint = tls_hint(error).unwrap();
            assert!(hint.contains(words), "{error} → {hint}");
        }
        assert_eq!(tls_hint("connection refused"), None);
    }

    /// Only this node's own deadline is said as "the hub did not answer in
    /// N seconds"; a status the hub sent keeps its words.
    #[test]
    fn a_local_deadline_is_told_apart_from_the_hubs_status() {
        let local = Status::from_error(Box::new(tonic::TimeoutExpired(())));
        assert!(is_local_timeout(&local), "{local:?}");
        let from_hub = Status::cancelled("Timeout expired");
        assert!(!is_local_timeout(&from_hub));
        assert!(!is_local_timeout(&Status::deadline_exceeded("空闲")));
        let text = call_timeout_message("https://hub:7443", "ListPacks", Duration::from_secs(7));
        assert!(
            text.contains("7 秒") && text.contains("ListPacks") && text.contains("调用超时"),
            "{text}"
        );
    }

    #[test]
    fn transient_codes_are_the_ones_worth_retrying_unchanged() {
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
        ] {
            assert!(is_transient(code), "{code:?}");
        }
        for code in [
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::InvalidArgument,
            Code::OutOfRange,
            Code::Unimplemented,
            Code::FailedPrecondition,
        ] {
            assert!(!is_transient(code), "{code:?}");
        }
        let text = describe(&Status::unavailable("正在关闭"));
        assert!(
            text.contains("UNAVAILABLE") && text.contains("正在关闭"),
            "{text}"
        );
    }
}
