//! `kaohe pack keygen | sign | verify | inspect`, and the file read of
//! `kaohe pack eval PACK.wasm` ([`load_pack_file`], a [`Pack`]): the file
//! edge around [`crate::sign`].
//!
//! The signature file (`PACK.wasm.sig` by default) is the pack envelope in
//! its protobuf encoding (`kaohe.v1.Envelope`, [`Envelope::to_protobuf`]),
//! the same bytes the hub stores and serves in `FetchPack`. It is written
//! whole to a temporary file beside it and renamed into place, so a crash
//! never leaves half a signature file.
//!
//! Every command returns its report as text; `run` prints it, tests read it.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use kaohe_proto::model::MAX_PACK_MODULE_BYTES;
use kaohe_proto::{Envelope, PublicKey, SigningKeyPair};

use super::{
    Expectation, PackStatement, TrustPolicy, VerifiedPack, add_signature, manifest_section,
    sign_pack, verify_pack,
};
use crate::decimal::Points;
use crate::manifest::Manifest;
use crate::pack::{Pack, sha256};
use crate::runtime::{Counts, Runtime, RuntimeConfig};

/// Signature files larger than this are refused unread (a statement is at
/// most 16 KiB, plus at most 16 signatures).
pub const MAX_SIG_FILE_BYTES: u64 = 64 * 1024;

/// `kaohe pack keygen`
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// 私钥文件，新建，权限 0600，已存在则不覆盖（secret key file to create, mode 0600, never overwritten）
    #[arg(short = 'o', long = "out", value_name = "密钥文件")]
    pub out: PathBuf,
}

/// `kaohe pack sign`
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// 编译好的规则包（compiled rule pack, PACK.wasm）
    #[arg(value_name = "规则包")]
    pub pack: PathBuf,
    /// 发布机关私钥文件，可重复（authority secret key file; repeat for several）
    #[arg(long = "key", value_name = "密钥文件", required = true)]
    pub keys: Vec<PathBuf>,
    /// 签名文件；已存在则在其上加签（signature file; added to if it exists）[默认 default: PACK.wasm.sig]
    #[arg(short = 'o', long = "out", value_name = "签名文件")]
    pub out: Option<PathBuf>,
}

/// `kaohe pack verify`
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// 编译好的规则包（compiled rule pack, PACK.wasm）
    #[arg(value_name = "规则包")]
    pub pack: PathBuf,
    /// 签名文件（signature file）[默认 default: PACK.wasm.sig]
    #[arg(long = "sig", value_name = "签名文件")]
    pub sig: Option<PathBuf>,
    /// 受信任的发布机关公钥 ed25519:…，可重复（trusted authority public key; repeat for each）
    #[arg(
        long = "authority-key",
        alias = "authority",
        value_name = "公钥",
        required = true
    )]
    pub authorities: Vec<PublicKey>,
    /// 至少需要几个发布机关签名（how many authorities must sign）
    #[arg(long = "threshold", value_name = "K")]
    pub threshold: usize,
    /// 要求的考核年度（the assessment year required）
    #[arg(long = "year", value_name = "年度")]
    pub year: Option<u16>,
}

/// `kaohe pack inspect`
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// 编译好的规则包（compiled rule pack, PACK.wasm）
    #[arg(value_name = "规则包")]
    pub pack: PathBuf,
    /// 签名文件（signature file）；不给则只看模块（omit to inspect the module only）
    #[arg(long = "sig", value_name = "签名文件")]
    pub sig: Option<PathBuf>,
}

impl KeygenArgs {
    /// Runs the command and prints its report.
    pub fn run(self) -> anyhow::Result<()> {
        print!("{}", keygen(&self.out)?);
        Ok(())
    }
}

impl SignArgs {
    /// Runs the command and prints its report.
    pub fn run(self) -> anyhow::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        print!(
            "{}",
            sign_files(&self.pack, &self.keys, self.out.as_deref(), now)?
        );
        Ok(())
    }
}

impl VerifyArgs {
    /// Runs the command and prints its report.
    pub fn run(self) -> anyhow::Result<()> {
        let sig = self.sig.unwrap_or_else(|| default_sig_path(&self.pack));
        let policy = TrustPolicy::new(self.authorities, self.threshold)
            .context("信任策略无效（invalid trust policy）")?;
        let expect = Expectation {
            year: self.year,
            accepted: &[],
        };
        let verified = verify_files(&self.pack, &sig, &policy, &expect)?;
        print!("{}", verify_report(&verified, &policy));
        Ok(())
    }
}

impl InspectArgs {
    /// Runs the command and prints its report.
    pub fn run(self) -> anyhow::Result<()> {
        print!("{}", inspect_files(&self.pack, self.sig.as_deref())?);
        Ok(())
    }
}

/// `PACK.wasm` → `PACK.wasm.sig`.
pub fn default_sig_path(pack: &Path) -> PathBuf {
    let mut name = pack.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// Generates an authority key into a new file; reports the public key and
/// key id to pin.
pub fn keygen(out: &Path) -> anyhow::Result<String> {
    let key = SigningKeyPair::generate();
    key.save(out)
        .context("生成发布机关密钥（generate an authority key）")?;
    Ok(format!(
        "已生成发布机关密钥（authority key generated）：{}\n\
         公钥（public key，供各节点与汇总中心固定信任 / to pin on nodes and the hub）：{}\n\
         密钥编号（key id）：{}\n\
         私钥文件请离线妥善保管（keep the secret key file offline）\n",
        out.display(),
        key.public(),
        key.key_id()
    ))
}

/// Signs `pack` with every key file, creating the signature file or adding
/// to the one there (after checking that its statement is for this module).
/// Nothing is written unless every key signed.
pub fn sign_files(
    pack: &Path,
    key_files: &[PathBuf],
    out: Option<&Path>,
    now: i64,
) -> anyhow::Result<String> {
    let module = read_module(pack)?;
    let keys = key_files
        .iter()
        .map(|path| {
            SigningKeyPair::load(path)
                .with_context(|| format!("读取密钥文件（read key file）{}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sig_path = out.map_or_else(|| default_sig_path(pack), Path::to_path_buf);
    let existing = read_envelope_if_exists(&sig_path)?;
    let (envelope, added) = match existing {
        None => {
            let refs: Vec<&SigningKeyPair> = keys.iter().collect();
            let envelope = sign_pack(&module, now, &refs).context("签名（sign）")?;
            (envelope, false)
        }
        Some(mut envelope) => {
            for key in &keys {
                add_signature(&mut envelope, &module, key).with_context(|| {
                    format!("在 {} 上加签（add a signature）", sig_path.display())
                })?;
            }
            (envelope, true)
        }
    };
    write_atomically(&sig_path, &envelope.to_protobuf())?;
    let statement = PackStatement::from_json(&envelope.payload)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("读回声明（read back the statement）")?;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}（{}）：{}",
        if added { "已加签" } else { "已签名" },
        if added { "signature added" } else { "signed" },
        sig_path.display()
    );
    let _ = writeln!(s, "  规则包（pack）：{statement}");
    let _ = writeln!(s, "  签名 {} 个（signatures）：", envelope.signatures.len());
    for sig in &envelope.signatures {
        let mine = keys.iter().any(|k| k.key_id() == sig.key_id);
        let _ = writeln!(
            s,
            "    {}{}",
            sig.key_id,
            if mine {
                "（本次签名 / signed now）"
            } else {
                ""
            }
        );
    }
    Ok(s)
}

/// Reads both files and runs [`verify_pack`].
pub fn verify_files(
    pack: &Path,
    sig: &Path,
    policy: &TrustPolicy,
    expect: &Expectation<'_>,
) -> anyhow::Result<VerifiedPack> {
    let module = read_module(pack)?;
    let envelope = read_envelope(sig)?;
    verify_pack(&module, &envelope, policy, expect).with_context(|| {
        format!(
            "规则包 {} 未通过核验，不得启用（pack refused; do not activate it）",
            pack.display()
        )
    })
}

/// What `kaohe pack verify` prints for a pack that passed.
pub fn verify_report(v: &VerifiedPack, policy: &TrustPolicy) -> String {
    let mut s = String::new();
    let id = &v.identity;
    let _ = writeln!(
        s,
        "核验通过（verified）：{} {} 年第 {} 版《{}》",
        id.id, id.year, id.version, v.title
    );
    let _ = writeln!(
        s,
        "  模块 SHA-256（module）：{}",
        hex::encode(id.module_sha256)
    );
    let _ = writeln!(
        s,
        "  发布机关签名 {} 个，要求至少 {} 个（共 {} 个机关）（{} authority signatures, {} of {} required）：",
        v.signers.len(),
        policy.threshold(),
        policy.authorities().len(),
        v.signers.len(),
        policy.threshold(),
        policy.authorities().len()
    );
    for signer in &v.signers {
        let _ = writeln!(s, "    {signer}");
    }
    let _ = writeln!(s, "  声明摘要（statement digest）：{}", v.statement_digest);
    s
}

/// What `kaohe pack inspect` prints: the module's identity and digest, a
/// summary of its manifest and, with a signature file, the statement, its
/// agreement with the module and the signers' key ids (not verified: that
/// needs the pinned keys, `kaohe pack verify`).
pub fn inspect_files(pack: &Path, sig: Option<&Path>) -> anyhow::Result<String> {
    let module = read_module(pack)?;
    let mut s = String::new();
    let _ = writeln!(s, "规则包文件（pack file）：{}", pack.display());
    let _ = writeln!(
        s,
        "  {} 字节，SHA-256（bytes, SHA-256）：{}",
        module.len(),
        hex::encode(sha256(&module))
    );
    match manifest_section(&module) {
        Err(e) => {
            let _ = writeln!(s, "  清单（manifest）：无法读取（unreadable）：{e}");
        }
        Ok(json) => manifest_summary(&mut s, json),
    }
    let _ = match crate::selftest::section(&module).map(crate::selftest::SelfTest::decode) {
        None => writeln!(
            s,
            "  自检（self-test）：无——早于自检的规则包，县级平台不予发布（none: built before self-tests; the hub refuses to publish it）"
        ),
        Some(Err(e)) => writeln!(s, "  自检（self-test）：{e}"),
        Some(Ok(t)) => writeln!(
            s,
            "  自检（self-test）：{} 个单位轮次、{} 张得分表，启用前在沙箱中比对（units and sheets, compared before activation）",
            t.evaluate.units, t.finalise.units
        ),
    };
    if let Some(sig) = sig {
        let envelope = read_envelope(sig)?;
        let _ = writeln!(s);
        let _ = writeln!(s, "签名文件（signature file）：{}", sig.display());
        let _ = writeln!(s, "  载荷类型（payload type）：{}", envelope.payload_type);
        match PackStatement::from_json(&envelope.payload) {
            Err(e) => {
                let _ = writeln!(s, "  声明无法读取（statement unreadable）：{e}");
            }
            Ok(st) => {
                let _ = writeln!(s, "  声明（statement）：{st}");
                let _ = writeln!(s, "  签发时间（issued at, unix seconds）：{}", st.issued_at);
                let matches = st.identity.module_sha256 == sha256(&module);
                let _ = writeln!(
                    s,
                    "  {}",
                    if matches {
                        "与此模块一致（names this module）"
                    } else {
                        "与此模块不一致：声明的是另一个模块（names another module）"
                    }
                );
            }
        }
        let _ = writeln!(
            s,
            "  签名 {} 个（signatures; not verified here — use `kaohe pack verify`）：",
            envelope.signatures.len()
        );
        for sig in &envelope.signatures {
            let _ = writeln!(s, "    密钥编号（key id）{}", sig.key_id);
        }
    }
    Ok(s)
}

/// Appends a summary of a manifest: the typed one when it is a complete
/// manifest v1, otherwise the pack object and the record counts.
fn manifest_summary(s: &mut String, json: &[u8]) {
    let m = match Manifest::from_json(json) {
        Ok(m) => m,
        Err(e) => {
            let _ = writeln!(
                s,
                "  清单不是完整的第 1 版清单，只列计数（not a complete manifest v1; counts only）：{e}"
            );
            let value: Option<serde_json::Value> = serde_json::from_slice(json).ok();
            if let Some(pack) = value.as_ref().and_then(|v| v.get("pack")) {
                let _ = writeln!(s, "  规则包（pack）：{pack}");
            }
            if let Some(Ok(c)) = value.as_ref().map(Counts::from_manifest) {
                let _ = writeln!(
                    s,
                    "  证据字段 {} 个，指标 {} 个，条款 {} 条（fields, indicators, clauses）",
                    c.fields, c.indicators, c.clauses
                );
            }
            return;
        }
    };
    let p = &m.pack;
    let _ = writeln!(
        s,
        "  清单（manifest）：{} {} 年第 {} 版《{}》，{}",
        p.id, p.year, p.version, p.title, p.issuer
    );
    let _ = writeln!(
        s,
        "  规则包接口（ABI）：{}.{}{}",
        m.abi_version,
        m.abi_minor,
        if m.is_v2() {
            "（紧凑输入、稀疏输出 / compact input, sparse output）"
        } else {
            "（早期版本，仍可加载与复算 / earlier layouts, still loaded and replayed）"
        }
    );
    let _ = writeln!(s, "  类别 {} 个（categories）：", m.categories.len());
    for (c, cat) in m.categories.iter().enumerate() {
        let _ = writeln!(
            s,
            "    {} {}（{}）：应考 {} 分，{}，考核主体 {}",
            cat.no,
            cat.name,
            cat.id,
            Points(m.applicable_points(c)),
            if cat.ranked {
                "评等次并排名（graded and ranked）"
            } else {
                "评等次（graded）"
            },
            cat.assessor.name_zh()
        );
    }
    let _ = writeln!(
        s,
        "  指标 {} 个，按分组（indicators by group）：",
        m.indicators.len()
    );
    for g in &m.groups {
        let n = m.indicators.iter().filter(|i| i.group == g.id).count();
        let _ = writeln!(s, "    {} {}：{n} 个", g.id, g.name);
    }
    let methods: Vec<String> = m
        .methods
        .iter()
        .map(|x| match x.combine {
            Some(c) => format!("{}（{}，按季度 quarterly，{}）", x.name, x.id, c.id()),
            None => format!("{}（{}）", x.name, x.id),
        })
        .collect();
    let _ = writeln!(s, "  考核方式（methods）：{}", methods.join("、"));
    let _ = writeln!(s, "  证据字段（fields）：{} 个", m.fields.len());
    let grades: Vec<String> = m
        .composition
        .grades
        .iter()
        .map(|g| format!("{}（{}）≥ {}", g.name, g.id, Points(g.min)))
        .collect();
    let _ = writeln!(s, "  等次（grades）：{}", grades.join("；"));
}

/// Reads a compiled pack file and loads it in a runtime with the default
/// limits, taking it for whatever pack its manifest names: the pack of
/// `kaohe pack eval PACK.wasm`.
pub fn load_pack_file(path: &Path) -> anyhow::Result<Pack> {
    let module = read_module(path)?;
    let runtime = user_runtime()?;
    Pack::load_as_found(&runtime, &module)
        .with_context(|| format!("加载规则包（load the pack）{}", path.display()))
}

/// The runtime of a command without a data directory (`kaohe pack eval`):
/// compiled modules cached in the user's cache directory
/// (`$XDG_CACHE_HOME/kaohe/module-cache`, else `~/.cache/kaohe/…`), so an
/// evaluation does not recompile the pack each time. A cache that cannot be
/// used is reported and skipped: the evaluation itself never depends on it.
fn user_runtime() -> anyhow::Result<Runtime> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| std::path::PathBuf::from(h).join(".cache"))
        });
    if let Some(base) = base {
        match Runtime::new(RuntimeConfig::with_cache_under(&base.join("kaohe"))) {
            Ok(runtime) => return Ok(runtime),
            Err(e) => eprintln!("注意（note）：不使用模块缓存（module cache not used）：{e}"),
        }
    }
    Runtime::new(RuntimeConfig::default()).context("启动运行时（start the runtime）")
}

/// Reads a module file, refusing one larger than the protocol carries.
fn read_module(path: &Path) -> anyhow::Result<Vec<u8>> {
    read_capped(path, MAX_PACK_MODULE_BYTES as u64)
        .with_context(|| format!("读取规则包（read the pack）{}", path.display()))
}

fn read_envelope(path: &Path) -> anyhow::Result<Envelope> {
    let bytes = read_capped(path, MAX_SIG_FILE_BYTES)
        .with_context(|| format!("读取签名文件（read the signature file）{}", path.display()))?;
    Envelope::from_protobuf(&bytes).with_context(|| {
        format!(
            "签名文件 {} 无法解码（signature file does not decode）",
            path.display()
        )
    })
}

fn read_envelope_if_exists(path: &Path) -> anyhow::Result<Option<Envelope>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_envelope(path).map(Some),
    }
}

fn read_capped(path: &Path, cap: u64) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        bail!("文件超过 {cap} 字节上限（file larger than the {cap}-byte limit）");
    }
    Ok(bytes)
}

/// Writes `bytes` to a new temporary file beside `path`, syncs it and
/// renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // Leave no temporary file behind; the target is untouched.
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| {
            format!("写入签名文件（write the signature file）{}", path.display())
        });
    }
    Ok(())
}
