//! Signing and trusting rule packs (ABI.md §8).
//!
//! A pack's **identity** is its id, year, version and the SHA-256 of the
//! module bytes ([`PackIdentity`]). The pack authorities (e.g. the county
//! office and the justice bureau) sign a [`PackStatement`] naming that
//! identity, as JSON, in one DSSE [`Envelope`] of type
//! [`PACK_STATEMENT_TYPE`]; each office may sign on its own machine and
//! add its signature to the same envelope ([`add_signature`]).
//!
//! Nodes and the hub activate a pack only after [`verify_pack`] accepts it
//! under their pinned [`TrustPolicy`] (k of n authority keys) and their
//! [`Expectation`] (the year, the packs already accepted). Checks, in
//! order, each with its own [`PackTrustError`]:
//!
//! 1. the envelope: payload type, size, no key twice, every known key's
//!    signature verifies strictly, at least k distinct authorities signed;
//! 2. the statement decodes strictly (only then: verify, then decode);
//! 3. SHA-256 of the module equals the statement's `module_sha256`;
//! 4. the module's embedded manifest (read from its `kaohe-manifest`
//!    custom section, nothing compiled) names the statement's id, year and
//!    version;
//! 5. the year is the one expected;
//! 6. no rollback: a version below one already accepted for the same id and
//!    year is refused, and so is the same version with another module.
//!
//! **Architecture Invariant:** everything here is a pure function of its
//! inputs (the issue time is passed in); files are read and written only
//! by [`command`].

pub mod command;

use std::fmt;

use serde::{Deserialize, Serialize};
use wasmparser::{Encoding, Parser, Payload};

use kaohe_proto::envelope::{DEFAULT_MAX_SIGNATURES, Limits};
use kaohe_proto::validate::{MAX_YEAR, MIN_YEAR, is_identifier};
use kaohe_proto::{
    Digest, Envelope, EnvelopeError, KeyId, PackIdentity, PublicKey, Signature, SigningKeyPair,
};

use crate::pack::sha256;
use crate::runtime::MANIFEST_SECTION;

/// Payload type of a signed pack statement.
pub const PACK_STATEMENT_TYPE: &str = "application/vnd.kaohe.pack-statement.v1+json";
/// The statement schema this code reads and writes.
pub const STATEMENT_VERSION: u32 = 1;
/// Largest statement payload accepted, in bytes (a statement is a few
/// hundred bytes; the cap keeps a hostile envelope cheap to refuse).
pub const MAX_STATEMENT_BYTES: usize = 16 * 1024;
/// Longest title a statement may carry, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// What the authorities sign: the pack's identity, plus its title and the
/// time of signing, which are informational only (never compared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackStatement {
    /// Id, year, version and module SHA-256.
    pub identity: PackIdentity,
    /// The rubric's title, copied from the manifest when signing.
    pub title: String,
    /// When the first authority signed, unix seconds.
    pub issued_at: i64,
}

/// The statement's JSON form; field order is key order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementJson {
    statement_version: u32,
    pack: IdentityJson,
    title: String,
    issued_at: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityJson {
    id: String,
    year: u32,
    version: u32,
    module_sha256: String,
}

impl PackStatement {
    /// The statement for a module: identity and title from its embedded
    /// manifest, digest of its bytes.
    pub fn for_module(module: &[u8], issued_at: i64) -> Result<PackStatement, SignError> {
        let pack = ManifestPack::read(module).map_err(SignError::Manifest)?;
        let identity = pack.identity(sha256(module)).map_err(SignError::Manifest)?;
        let statement = PackStatement {
            identity,
            title: pack.title.chars().take(MAX_TITLE_CHARS).collect(),
            issued_at: issued_at.max(0),
        };
        Ok(statement)
    }

    /// The JSON payload: compact, keys in a fixed order, digest in
    /// lowercase hex. Signed as is; receivers never re-encode it.
    pub fn to_json(&self) -> Vec<u8> {
        let json = StatementJson {
            statement_version: STATEMENT_VERSION,
            pack: IdentityJson {
                id: self.identity.id.clone(),
                year: self.identity.year.into(),
                version: self.identity.version,
                module_sha256: hex::encode(self.identity.module_sha256),
            },
            title: self.title.clone(),
            issued_at: self.issued_at,
        };
        // Plain structs of strings and integers always serialise.
        serde_json::to_vec(&json).unwrap_or_default()
    }

    /// Decodes a payload strictly: no unknown or repeated keys, schema
    /// version 1, a valid id, a year in 2000–2100, version ≥ 1, 64
    /// lowercase hex digits, a title of at most [`MAX_TITLE_CHARS`],
    /// `issued_at ≥ 0`. The error is the reason, Chinese then English.
    pub fn from_json(bytes: &[u8]) -> Result<PackStatement, String> {
        #[derive(Deserialize)]
        struct Version {
            statement_version: u32,
        }
        let version: Version = serde_json::from_slice(bytes)
            .map_err(|e| format!("不是有效的 JSON 声明（not a valid JSON statement）：{e}"))?;
        if version.statement_version != STATEMENT_VERSION {
            return Err(format!(
                "不支持的声明版本 {}，本程序只支持 {STATEMENT_VERSION}（unsupported statement version {}）",
                version.statement_version, version.statement_version
            ));
        }
        let json: StatementJson = serde_json::from_slice(bytes)
            .map_err(|e| format!("声明结构不符（statement does not match the schema）：{e}"))?;
        let p = json.pack;
        if !is_identifier(&p.id) {
            return Err(format!(
                "pack.id {:?} 不是有效标识（not a valid identifier）",
                p.id.chars().take(70).collect::<String>()
            ));
        }
        let year = u16::try_from(p.year)
            .ok()
            .filter(|y| (MIN_YEAR..=MAX_YEAR).contains(y))
            .ok_or_else(|| {
                format!(
                    "pack.year {} 不在 {MIN_YEAR}–{MAX_YEAR} 之间（year out of range）",
                    p.year
                )
            })?;
        if p.version == 0 {
            return Err("pack.version 须至少为 1（version must be at least 1）".into());
        }
        let module_sha256 = parse_sha256(&p.module_sha256).ok_or_else(|| {
            "pack.module_sha256 须为 64 个小写十六进制字符（must be 64 lowercase hex characters）"
                .to_owned()
        })?;
        if json.title.chars().count() > MAX_TITLE_CHARS {
            return Err(format!(
                "标题超过 {MAX_TITLE_CHARS} 个字符（title longer than {MAX_TITLE_CHARS} characters）"
            ));
        }
        if json.issued_at < 0 {
            return Err("issued_at 不得为负（issued_at must not be negative）".into());
        }
        Ok(PackStatement {
            identity: PackIdentity {
                id: p.id,
                year,
                version: p.version,
                module_sha256,
            },
            title: json.title,
            issued_at: json.issued_at,
        })
    }
}

/// The pinned pack authorities and how many of them must sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    authorities: Vec<PublicKey>,
    threshold: usize,
}

/// Why a trust policy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `threshold` is 0: an unsigned pack would pass.
    #[error("签名门槛须至少为 1（the signature threshold must be at least 1）")]
    ZeroThreshold,
    /// More signatures required than there are authorities.
    #[error(
        "签名门槛 {threshold} 超过发布机关数 {authorities}（threshold {threshold} exceeds the {authorities} authorities）"
    )]
    ThresholdAboveAuthorities {
        /// The threshold asked for.
        threshold: usize,
        /// Authorities in the policy.
        authorities: usize,
    },
    /// More signatures required than an envelope may carry.
    #[error(
        "签名门槛 {threshold} 超过每个信封最多 {cap} 个签名（threshold {threshold} exceeds the {cap} signatures an envelope may carry）"
    )]
    ThresholdAboveSignatureCap {
        /// The threshold asked for.
        threshold: usize,
        /// [`DEFAULT_MAX_SIGNATURES`].
        cap: usize,
    },
    /// The same key listed twice: it would count as two authorities.
    #[error(
        "发布机关公钥 {0} 重复列出，一个机关只能计一次（authority key {0} is listed twice; one authority counts once）"
    )]
    DuplicateAuthority(KeyId),
}

impl TrustPolicy {
    /// A policy of `threshold` of `authorities`: threshold at least 1, at
    /// most the number of authorities (and of signatures an envelope may
    /// carry), no key twice.
    pub fn new(authorities: Vec<PublicKey>, threshold: usize) -> Result<TrustPolicy, PolicyError> {
        if threshold == 0 {
            return Err(PolicyError::ZeroThreshold);
        }
        if threshold > authorities.len() {
            return Err(PolicyError::ThresholdAboveAuthorities {
                threshold,
                authorities: authorities.len(),
            });
        }
        if threshold > DEFAULT_MAX_SIGNATURES {
            return Err(PolicyError::ThresholdAboveSignatureCap {
                threshold,
                cap: DEFAULT_MAX_SIGNATURES,
            });
        }
        for (i, key) in authorities.iter().enumerate() {
            if authorities[..i].contains(key) {
                return Err(PolicyError::DuplicateAuthority(key.key_id()));
            }
        }
        Ok(TrustPolicy {
            authorities,
            threshold,
        })
    }

    /// The pinned authority keys.
    pub fn authorities(&self) -> &[PublicKey] {
        &self.authorities
    }

    /// How many distinct authorities must sign.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    fn knows(&self, id: &KeyId) -> bool {
        self.authorities.iter().any(|k| k.key_id() == *id)
    }
}

/// What the receiver expects beyond the signatures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expectation<'a> {
    /// The assessment year a pack is being activated for; `None` accepts
    /// any year.
    pub year: Option<u16>,
    /// Every pack already accepted (any id and year; those with the
    /// statement's id and year are compared): a lower version is a
    /// rollback, the same version must be the same module.
    pub accepted: &'a [PackIdentity],
}

/// A pack that passed [`verify_pack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPack {
    /// The signed identity, equal to the module's digest and manifest.
    pub identity: PackIdentity,
    /// Title from the statement (informational).
    pub title: String,
    /// Issue time from the statement, unix seconds (informational).
    pub issued_at: i64,
    /// The authorities whose signatures verified, in envelope order.
    pub signers: Vec<KeyId>,
    /// SHA-256 of the envelope's PAE bytes.
    pub statement_digest: Digest,
}

/// Why a pack is not trusted. Each reason names what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackTrustError {
    /// The envelope or its statement is not a pack statement this code
    /// reads (wrong type, empty, oversize, too many signatures, bad JSON).
    #[error("签名文件中的规则包声明格式错误（malformed pack statement）：{0}")]
    MalformedStatement(String),
    /// Nobody but unknown keys signed.
    #[error(
        "签名密钥 {0} 不是受信任的规则包发布机关（signing key {0} is not a trusted pack authority）"
    )]
    UnknownKey(KeyId),
    /// A pinned authority's signature does not verify over the statement.
    #[error(
        "发布机关密钥 {0} 的签名无效：声明或签名被改动过（signature by authority key {0} does not verify: the statement or the signature was altered）"
    )]
    BadSignature(KeyId),
    /// The same key signed twice; one authority counts once.
    #[error(
        "密钥 {0} 重复签名，同一发布机关只计一次，签名文件不予接受（key {0} signed more than once; one authority counts once and the signature file is refused）"
    )]
    DuplicateSigner(KeyId),
    /// Fewer distinct authorities signed validly than the threshold.
    #[error(
        "发布机关有效签名 {valid} 个，少于要求的 {needed} 个（另有 {untrusted} 个签名来自不受信任的密钥）（{valid} valid authority signatures, {needed} required; {untrusted} more by untrusted keys）"
    )]
    TooFewSignatures {
        /// Valid signatures by distinct pinned authorities.
        valid: usize,
        /// The policy's threshold.
        needed: usize,
        /// Signatures by keys the policy does not pin (not counted).
        untrusted: usize,
    },
    /// The module is not the one the authorities signed.
    #[error(
        "模块的 SHA-256 为 {actual}，与签名声明中的 {signed} 不符：模块被改动过，或不是所签的模块（module SHA-256 is {actual}, the statement signed {signed}: the module was altered or is not the signed one）"
    )]
    TamperedModule {
        /// Digest in the statement, hex.
        signed: String,
        /// Digest of the bytes received, hex.
        actual: String,
    },
    /// The module's embedded manifest cannot be read.
    #[error("模块中的清单无法读取（the module's embedded manifest cannot be read）：{0}")]
    ManifestUnreadable(String),
    /// The statement names another id, year or version than the manifest.
    #[error(
        "签名声明与模块清单不一致：{field} 声明为 {signed}，清单为 {manifest}（the statement and the manifest disagree on {field}: signed {signed}, manifest {manifest}）"
    )]
    StatementManifestMismatch {
        /// `pack.id`, `pack.year` or `pack.version`.
        field: &'static str,
        /// The statement's value.
        signed: String,
        /// The manifest's value.
        manifest: String,
    },
    /// A pack for another year than the one being activated.
    #[error(
        "规则包 {id} 为 {got} 年度，此处需要 {expected} 年度的规则包（pack {id} is for {got}, {expected} expected）"
    )]
    WrongYear {
        /// Pack id.
        id: String,
        /// The year expected.
        expected: u16,
        /// The pack's year.
        got: u16,
    },
    /// A lower version than one already accepted.
    #[error(
        "规则包 {id} {year} 年第 {got} 版低于已接受的第 {accepted} 版，拒绝回退（rollback refused: {id} {year} version {got} is lower than the accepted version {accepted}）"
    )]
    Rollback {
        /// Pack id.
        id: String,
        /// Pack year.
        year: u16,
        /// Highest version already accepted.
        accepted: u32,
        /// The version offered.
        got: u32,
    },
    /// The version already accepted, but another module.
    #[error(
        "规则包 {id} {year} 年第 {version} 版已接受过另一个模块（SHA-256 {accepted}），同一版本不得更换模块，此模块为 {got}（{id} {year} version {version} was already accepted with module {accepted}; the same version cannot change module, got {got}）"
    )]
    VersionConflict {
        /// Pack id.
        id: String,
        /// Pack year.
        year: u16,
        /// The version.
        version: u32,
        /// Digest of the accepted module, hex.
        accepted: String,
        /// Digest of this module, hex.
        got: String,
    },
}

/// Decides whether `module` with its signature `envelope` may be activated:
/// see the module docs for the checks and their order.
pub fn verify_pack(
    module: &[u8],
    envelope: &Envelope,
    policy: &TrustPolicy,
    expect: &Expectation<'_>,
) -> Result<VerifiedPack, PackTrustError> {
    let limits = Limits {
        max_payload_bytes: MAX_STATEMENT_BYTES,
        max_signatures: DEFAULT_MAX_SIGNATURES,
    };
    let verified = envelope
        .verify_with(
            PACK_STATEMENT_TYPE,
            &policy.authorities,
            policy.threshold,
            &limits,
        )
        .map_err(|e| envelope_refusal(e, envelope, policy))?;
    let statement =
        PackStatement::from_json(verified.payload).map_err(PackTrustError::MalformedStatement)?;
    let signed = &statement.identity;

    let actual = sha256(module);
    if actual != signed.module_sha256 {
        return Err(PackTrustError::TamperedModule {
            signed: hex::encode(signed.module_sha256),
            actual: hex::encode(actual),
        });
    }

    let manifest = ManifestPack::read(module).map_err(PackTrustError::ManifestUnreadable)?;
    if let Some((field, signed, manifest)) = manifest.disagreement(signed) {
        return Err(PackTrustError::StatementManifestMismatch {
            field,
            signed,
            manifest,
        });
    }

    if let Some(expected) = expect.year
        && expected != signed.year
    {
        return Err(PackTrustError::WrongYear {
            id: signed.id.clone(),
            expected,
            got: signed.year,
        });
    }

    let same_line = expect
        .accepted
        .iter()
        .filter(|a| a.id == signed.id && a.year == signed.year);
    if let Some(highest) = same_line.clone().map(|a| a.version).max()
        && signed.version < highest
    {
        return Err(PackTrustError::Rollback {
            id: signed.id.clone(),
            year: signed.year,
            accepted: highest,
            got: signed.version,
        });
    }
    if let Some(other) = same_line
        .filter(|a| a.version == signed.version)
        .find(|a| a.module_sha256 != signed.module_sha256)
    {
        return Err(PackTrustError::VersionConflict {
            id: signed.id.clone(),
            year: signed.year,
            version: signed.version,
            accepted: hex::encode(other.module_sha256),
            got: hex::encode(signed.module_sha256),
        });
    }

    Ok(VerifiedPack {
        signers: verified.signers,
        statement_digest: verified.digest,
        title: statement.title,
        issued_at: statement.issued_at,
        identity: statement.identity,
    })
}

fn envelope_refusal(e: EnvelopeError, envelope: &Envelope, policy: &TrustPolicy) -> PackTrustError {
    match e {
        EnvelopeError::UnknownKey(id) => PackTrustError::UnknownKey(id),
        EnvelopeError::BadSignature(id) => PackTrustError::BadSignature(id),
        EnvelopeError::DuplicateSigner(id) => PackTrustError::DuplicateSigner(id),
        EnvelopeError::TooFewSignatures { needed, valid } => PackTrustError::TooFewSignatures {
            valid,
            needed,
            untrusted: envelope
                .signatures
                .iter()
                .filter(|s| !policy.knows(&s.key_id))
                .count(),
        },
        other @ (EnvelopeError::WrongPayloadType { .. }
        | EnvelopeError::TruncatedPayload
        | EnvelopeError::OversizePayload { .. }
        | EnvelopeError::TooManySignatures { .. }) => {
            PackTrustError::MalformedStatement(other.to_string())
        }
    }
}

/// Why a pack could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The module's manifest cannot be read or names no valid identity.
    #[error(
        "无法从模块清单得到规则包标识（cannot take the pack identity from the module's manifest）：{0}"
    )]
    Manifest(String),
    /// No signing key was given.
    #[error("至少需要一把发布机关密钥（at least one authority key is needed）")]
    NoKeys,
    /// The existing signature file does not carry a pack statement.
    #[error(
        "已有签名文件中的声明格式错误（the existing signature file's statement is malformed）：{0}"
    )]
    MalformedStatement(String),
    /// The existing statement is for another module: co-signing it would
    /// vouch for bytes the signer has not seen.
    #[error(
        "已有签名文件声明的是另一个模块（SHA-256 {signed}），而此模块为 {actual}，不予加签（the existing statement is for module {signed}, this module is {actual}; not co-signed）"
    )]
    ModuleMismatch {
        /// Digest in the existing statement, hex.
        signed: String,
        /// Digest of the module at hand, hex.
        actual: String,
    },
    /// The existing statement's id, year or version differ from the manifest.
    #[error(
        "已有签名声明与模块清单不一致：{field} 声明为 {signed}，清单为 {manifest}，不予加签（the existing statement and the manifest disagree on {field}: signed {signed}, manifest {manifest}; not co-signed）"
    )]
    StatementManifestMismatch {
        /// `pack.id`, `pack.year` or `pack.version`.
        field: &'static str,
        /// The statement's value.
        signed: String,
        /// The manifest's value.
        manifest: String,
    },
    /// This key has already signed the envelope.
    #[error("密钥 {0} 已签过此规则包（key {0} has already signed this pack）")]
    AlreadySigned(KeyId),
    /// The envelope holds as many signatures as one may carry.
    #[error(
        "签名已达上限 {0} 个，不能再加（the envelope already holds the maximum of {0} signatures）"
    )]
    TooManySignatures(usize),
}

/// Signs a module's statement ([`PackStatement::for_module`]) with every
/// key given, in order, into a new envelope.
pub fn sign_pack(
    module: &[u8],
    issued_at: i64,
    keys: &[&SigningKeyPair],
) -> Result<Envelope, SignError> {
    if keys.is_empty() {
        return Err(SignError::NoKeys);
    }
    let statement = PackStatement::for_module(module, issued_at)?;
    let mut envelope = Envelope::sign(PACK_STATEMENT_TYPE, statement.to_json(), &[]);
    for key in keys {
        add_signature(&mut envelope, module, key)?;
    }
    Ok(envelope)
}

/// Adds `key`'s signature to an existing pack envelope, after checking the
/// statement it would vouch for: the payload type, a statement that decodes,
/// names this module's digest and agrees with its manifest; the key has not
/// signed yet; room for one more signature. Other signatures are kept as
/// they are (a co-signer need not hold the other offices' keys). The
/// envelope is unchanged on error.
pub fn add_signature(
    envelope: &mut Envelope,
    module: &[u8],
    key: &SigningKeyPair,
) -> Result<PackStatement, SignError> {
    if envelope.payload_type != PACK_STATEMENT_TYPE {
        return Err(SignError::MalformedStatement(format!(
            "载荷类型为 {:?}，应为 {PACK_STATEMENT_TYPE}（payload type should be {PACK_STATEMENT_TYPE}）",
            envelope.payload_type.chars().take(100).collect::<String>()
        )));
    }
    if envelope.payload.len() > MAX_STATEMENT_BYTES {
        return Err(SignError::MalformedStatement(format!(
            "声明超过 {MAX_STATEMENT_BYTES} 字节（statement larger than {MAX_STATEMENT_BYTES} bytes）"
        )));
    }
    let statement =
        PackStatement::from_json(&envelope.payload).map_err(SignError::MalformedStatement)?;
    let actual = sha256(module);
    if actual != statement.identity.module_sha256 {
        return Err(SignError::ModuleMismatch {
            signed: hex::encode(statement.identity.module_sha256),
            actual: hex::encode(actual),
        });
    }
    let manifest = ManifestPack::read(module).map_err(SignError::Manifest)?;
    if let Some((field, signed, manifest)) = manifest.disagreement(&statement.identity) {
        return Err(SignError::StatementManifestMismatch {
            field,
            signed,
            manifest,
        });
    }
    let id = key.key_id();
    if envelope.signatures.iter().any(|s| s.key_id == id) {
        return Err(SignError::AlreadySigned(id));
    }
    if envelope.signatures.len() >= DEFAULT_MAX_SIGNATURES {
        return Err(SignError::TooManySignatures(DEFAULT_MAX_SIGNATURES));
    }
    let sig = key.sign(&envelope.pae());
    envelope.signatures.push(Signature { key_id: id, sig });
    Ok(statement)
}

/// The bytes of a module's one `kaohe-manifest` custom section, read with
/// `wasmparser` without compiling anything. The error is the reason,
/// Chinese then English.
pub fn manifest_section(module: &[u8]) -> Result<&[u8], String> {
    let mut found = None;
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload
            .map_err(|e| format!("不是有效的 WebAssembly 模块（not a valid module）：{e}"))?;
        match payload {
            Payload::Version {
                encoding: Encoding::Component,
                ..
            } => {
                return Err("是组件而不是核心模块（a component, not a core module）".to_owned());
            }
            Payload::CustomSection(reader)
                if reader.name() == MANIFEST_SECTION && found.replace(reader.data()).is_some() =>
            {
                return Err(format!(
                    "有多个 {MANIFEST_SECTION} 自定义段（more than one {MANIFEST_SECTION} custom section）"
                ));
            }
            _ => {}
        }
    }
    found.ok_or_else(|| {
        format!("缺少 {MANIFEST_SECTION} 自定义段（no {MANIFEST_SECTION} custom section）")
    })
}

/// The `pack` object of a module's manifest: all signing needs. Read
/// loosely (other keys are the runtime's and the manifest's business), but
/// a repeated key is refused so no two readers can see different packs.
#[derive(Debug)]
struct ManifestPack {
    id: String,
    year: u32,
    version: u32,
    title: String,
}

impl ManifestPack {
    fn read(module: &[u8]) -> Result<ManifestPack, String> {
        #[derive(Deserialize)]
        struct Outer {
            pack: Inner,
        }
        #[derive(Deserialize)]
        struct Inner {
            id: String,
            year: u32,
            version: u32,
            #[serde(default)]
            title: String,
        }
        let json = manifest_section(module)?;
        let outer: Outer = serde_json::from_slice(json).map_err(|e| {
            format!("清单的 pack 对象无法读取（the manifest's pack object cannot be read）：{e}")
        })?;
        let p = outer.pack;
        Ok(ManifestPack {
            id: p.id,
            year: p.year,
            version: p.version,
            title: p.title,
        })
    }

    /// The identity this manifest names, checked as a statement would be.
    fn identity(&self, module_sha256: [u8; 32]) -> Result<PackIdentity, String> {
        if !is_identifier(&self.id) {
            return Err(format!(
                "pack.id {:?} 不是有效标识（not a valid identifier）",
                self.id.chars().take(70).collect::<String>()
            ));
        }
        let year = u16::try_from(self.year)
            .ok()
            .filter(|y| (MIN_YEAR..=MAX_YEAR).contains(y))
            .ok_or_else(|| {
                format!(
                    "pack.year {} 不在 {MIN_YEAR}–{MAX_YEAR} 之间（year out of range）",
                    self.year
                )
            })?;
        if self.version == 0 {
            return Err("pack.version 须至少为 1（version must be at least 1）".into());
        }
        Ok(PackIdentity {
            id: self.id.clone(),
            year,
            version: self.version,
            module_sha256,
        })
    }

    /// The first of id, year, version where `signed` differs, with both values.
    fn disagreement(&self, signed: &PackIdentity) -> Option<(&'static str, String, String)> {
        if self.id != signed.id {
            Some(("pack.id", signed.id.clone(), self.id.clone()))
        } else if self.year != u32::from(signed.year) {
            Some(("pack.year", signed.year.to_string(), self.year.to_string()))
        } else if self.version != signed.version {
            Some((
                "pack.version",
                signed.version.to_string(),
                self.version.to_string(),
            ))
        } else {
            None
        }
    }
}

fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let lower = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let mut out = [0u8; 32];
    (lower && hex::decode_to_slice(text, &mut out).is_ok()).then_some(out)
}

impl fmt::Display for PackStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} 年第 {} 版（{}），模块 SHA-256 {}",
            self.identity.id,
            self.identity.year,
            self.identity.version,
            self.title,
            hex::encode(self.identity.module_sha256)
        )
    }
}
