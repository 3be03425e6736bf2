//! Signed calls: how a node proves who it is on the calls that carry no
//! signed payload (`ListMyUnits`, `GetReceipt`, `ListResults`).
//!
//! The caller adds three metadata entries to the request:
//!
//! | key | value |
//! |---|---|
//! | `kaohe-node-id` | the node's key id (32 lowercase hex) |
//! | `kaohe-call-time` | the caller's clock, unix seconds (decimal) |
//! | `kaohe-call-sig-bin` | Ed25519 signature (64 bytes) over [`call_message`] |
//!
//! The message is the DSSE pre-authentication encoding of type
//! [`CALL_AUTH_PAYLOAD_TYPE`] over `"<gRPC method path>\n<time>"`, so a
//! signature is good for one method only and cannot be confused with a
//! signed submission or receipt. The hub verifies it strictly with the
//! registered key of that node and accepts a time within
//! [`MAX_CALL_SKEW_SECONDS`] of its own clock. These calls only read, so a
//! signature replayed within the window reveals nothing its owner could
//! not read; with TLS it cannot be observed at all.

use std::str::FromStr;

use crate::envelope::pae;
use crate::keys::{KeyId, PublicKey, SigningKeyPair};

/// Payload type of the signed call message.
pub const CALL_AUTH_PAYLOAD_TYPE: &str = "application/vnd.kaohe.call-auth.v1";
/// Metadata key: the calling node's key id.
pub const NODE_ID_METADATA_KEY: &str = "kaohe-node-id";
/// Metadata key: the caller's clock, unix seconds.
pub const CALL_TIME_METADATA_KEY: &str = "kaohe-call-time";
/// Metadata key (binary): the signature over [`call_message`].
pub const CALL_SIG_METADATA_KEY: &str = "kaohe-call-sig-bin";
/// Largest accepted difference between the caller's and the hub's clock.
pub const MAX_CALL_SKEW_SECONDS: i64 = 300;
/// Metadata key of a response (including an error status): the hub's
/// clock, unix seconds (decimal), so that a node whose clock is off can
/// sign its next call with the hub's time instead. Nodes fall back to the
/// HTTP `date` header when a hub does not send it.
pub const HUB_TIME_METADATA_KEY: &str = "kaohe-hub-time";

/// The words that end the hub's `PERMISSION_DENIED` message for a key no
/// node has, so a node tells "not registered (yet)" from the other refusals
/// of that code (a revoked node, a replaced key, another key's client
/// certificate) — e.g. to say what to do when a rotated key is adopted too
/// early.
pub const NOT_REGISTERED: &str = "（node not registered）";

/// The gRPC method paths of the calls that are signed this way.
pub mod paths {
    /// `UnitService/ListMyUnits`.
    pub const LIST_MY_UNITS: &str = "/kaohe.v1.UnitService/ListMyUnits";
    /// `SubmissionService/GetReceipt`.
    pub const GET_RECEIPT: &str = "/kaohe.v1.SubmissionService/GetReceipt";
    /// `ResultService/ListResults`.
    pub const LIST_RESULTS: &str = "/kaohe.v1.ResultService/ListResults";
    /// `ResultService/FileObjection` (a client stream: the call, not each
    /// message, is signed).
    pub const FILE_OBJECTION: &str = "/kaohe.v1.ResultService/FileObjection";
}

/// Why a call's credentials are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallAuthError {
    /// A metadata entry is absent.
    #[error("调用未签名：缺少元数据 {0}（call not signed: metadata {0} missing）")]
    Missing(&'static str),
    /// A metadata entry does not parse.
    #[error("调用签名元数据 {0} 格式错误（malformed call metadata {0}）")]
    Malformed(&'static str),
    /// The caller's clock is too far from the hub's.
    #[error(
        "调用时间 {time} 与汇总中心时间 {now} 相差超过 {MAX_CALL_SKEW_SECONDS} 秒，请校准节点时钟（call time {time} is more than {MAX_CALL_SKEW_SECONDS} s from the hub's {now}: check the node's clock）"
    )]
    Skew {
        /// The time the caller signed.
        time: i64,
        /// The hub's clock.
        now: i64,
    },
    /// The signature does not verify with the node's key.
    #[error("节点 {0} 的调用签名无效（call signature by node {0} does not verify）")]
    BadSignature(KeyId),
}

/// Credentials read from a request's metadata, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCredentials {
    /// The node the caller claims to be.
    pub node: KeyId,
    /// The caller's clock, unix seconds.
    pub time: i64,
    /// The signature over [`call_message`].
    pub sig: [u8; 64],
}

/// The bytes a node signs to call `method_path` at `time`.
pub fn call_message(method_path: &str, time: i64) -> Vec<u8> {
    pae(
        CALL_AUTH_PAYLOAD_TYPE,
        format!("{method_path}\n{time}").as_bytes(),
    )
}

/// Adds the signed-call metadata for `method_path` to `request`.
pub fn sign_call<T>(
    request: &mut tonic::Request<T>,
    key: &SigningKeyPair,
    method_path: &str,
    time: i64,
) {
    let sig = key.sign(&call_message(method_path, time));
    let metadata = request.metadata_mut();
    // Key ids and decimal numbers are always valid ASCII metadata.
    if let Ok(v) = key.key_id().as_str().parse() {
        metadata.insert(NODE_ID_METADATA_KEY, v);
    }
    if let Ok(v) = time.to_string().parse() {
        metadata.insert(CALL_TIME_METADATA_KEY, v);
    }
    metadata.insert_bin(
        CALL_SIG_METADATA_KEY,
        tonic::metadata::MetadataValue::from_bytes(&sig),
    );
}

impl CallCredentials {
    /// Reads the three entries; refuses absent or malformed ones.
    pub fn from_metadata(
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<CallCredentials, CallAuthError> {
        let text = |key: &'static str| -> Result<&str, CallAuthError> {
            metadata
                .get(key)
                .ok_or(CallAuthError::Missing(key))?
                .to_str()
                .map_err(|_| CallAuthError::Malformed(key))
        };
        let node = KeyId::from_str(text(NODE_ID_METADATA_KEY)?)
            .map_err(|_| CallAuthError::Malformed(NODE_ID_METADATA_KEY))?;
        let time = text(CALL_TIME_METADATA_KEY)?
            .parse::<i64>()
            .map_err(|_| CallAuthError::Malformed(CALL_TIME_METADATA_KEY))?;
        let sig = metadata
            .get_bin(CALL_SIG_METADATA_KEY)
            .ok_or(CallAuthError::Missing(CALL_SIG_METADATA_KEY))?
            .to_bytes()
            .map_err(|_| CallAuthError::Malformed(CALL_SIG_METADATA_KEY))?;
        let sig = <[u8; 64]>::try_from(sig.as_ref())
            .map_err(|_| CallAuthError::Malformed(CALL_SIG_METADATA_KEY))?;
        Ok(CallCredentials { node, time, sig })
    }

    /// Checks the time against `now` and the signature, strictly, with
    /// `key` (the registered key of [`CallCredentials::node`]).
    pub fn verify(
        &self,
        key: &PublicKey,
        method_path: &str,
        now: i64,
    ) -> Result<(), CallAuthError> {
        if self.time.abs_diff(now) > MAX_CALL_SKEW_SECONDS.unsigned_abs() {
            return Err(CallAuthError::Skew {
                time: self.time,
                now,
            });
        }
        if key.key_id() != self.node
            || !key.verify_strict(&call_message(method_path, self.time), &self.sig)
        {
            return Err(CallAuthError::BadSignature(self.node.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(key: &SigningKeyPair, path: &str, time: i64) -> CallCredentials {
        let mut request = tonic::Request::new(());
        sign_call(&mut request, key, path, time);
        CallCredentials::from_metadata(request.metadata()).unwrap()
    }

    #[test]
    fn a_signed_call_verifies_for_its_method_and_time_only() {
        let key = SigningKeyPair::from_seed(&[7; 32]);
        let creds = signed(&key, paths::LIST_MY_UNITS, 1_700_000_000);
        assert_eq!(creds.node, key.key_id());
        assert_eq!(
            creds.verify(&key.public(), paths::LIST_MY_UNITS, 1_700_000_100),
            Ok(())
        );
        // Another method: the signature does not carry over.
        assert_eq!(
            creds.verify(&key.public(), paths::GET_RECEIPT, 1_700_000_100),
            Err(CallAuthError::BadSignature(key.key_id()))
        );
        // Another key claiming the same id cannot pass.
        let other = SigningKeyPair::from_seed(&[8; 32]);
        assert!(matches!(
            creds.verify(&other.public(), paths::LIST_MY_UNITS, 1_700_000_100),
            Err(CallAuthError::BadSignature(_))
        ));
        // Too far from the hub's clock, either way.
        assert!(matches!(
            creds.verify(&key.public(), paths::LIST_MY_UNITS, 1_700_000_301),
            Err(CallAuthError::Skew { .. })
        ));
        assert!(matches!(
            creds.verify(&key.public(), paths::LIST_MY_UNITS, 1_699_999_699),
            Err(CallAuthError::Skew { .. })
        ));
    }

    #[test]
    fn missing_or_malformed_metadata_is_named() {
        let request = tonic::Request::new(());
        assert_eq!(
            CallCredentials::from_metadata(request.metadata()),
            Err(CallAuthError::Missing(NODE_ID_METADATA_KEY))
        );
        let mut request = tonic::Request::new(());
        sign_call(
            &mut request,
            &SigningKeyPair::from_seed(&[7; 32]),
            paths::LIST_MY_UNITS,
            5,
        );
        request
            .metadata_mut()
            .insert(CALL_TIME_METADATA_KEY, "soon".parse().unwrap());
        assert_eq!(
            CallCredentials::from_metadata(request.metadata()),
            Err(CallAuthError::Malformed(CALL_TIME_METADATA_KEY))
        );
    }
}
