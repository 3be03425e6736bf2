//! `kaohe verify`：离线核验一个单位的年度证明包（verify a unit's proof
//! bundle offline, with no network and no database).
//!
//! Given a bundle written by `kaohe hub export` (`proofs/<unit-id>.json`),
//! the hub's public key, the pack authorities' keys and, optionally, the
//! witnesses' (nodes') keys with how many must have cosigned, it proves —
//! or names in Chinese the first thing that does not hold:
//! 1. the bundle is in its one form (any changed byte is refused);
//! 2. the checkpoint is signed by the hub for that year's log and
//!    cosigned by enough trusted witnesses;
//! 3. every leaf is included in it (earlier years' leaves in the log head
//!    the next year's rollover leaf carries), and the log head the approval
//!    was computed from is a prefix of it;
//! 4. every submission of the unit was signed by a node whose logged
//!    registration (as edited, with its keys as rotated) held the unit and
//!    method in scope that year and was not revoked before, under a pack published in the log and signed by
//!    enough authorities (the module found by its SHA-256);
//! 5. replaying the pack on the signed evidence gives the signed scores;
//! 6. consolidating the current reports with the logged decisions gives
//!    the approved total and grade, and the published ones.
//!
//! Layout: here the command, the [`Policy`], [`VerifyError`] and
//! [`verify`]; `log` (2–3), `result` (4–6), `registry` (the nodes as
//! logged, for 4), `modules` (finding pack modules by digest).

mod log;
mod modules;
mod registry;
mod result;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use kaohe_hub::tlog::bundle::{BundleFormatError, ProofBundle};
use kaohe_proto::envelope::Digest;
use kaohe_proto::keys::PublicKey;
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
use kaohe_rulepacks::sign::TrustPolicy;

pub use result::UnitVerdict;

/// 离线核验单位年度证明包：日志包含证明、见证副署、签名、授权范围、复算与汇总（verify a proof bundle offline）
#[derive(Debug, clap::Args)]
pub struct Args {
    /// 证明包，可列多个（proof bundles: exports-<年度>/proofs/<单位编号>.json）
    #[arg(value_name = "证明包", required = true)]
    bundles: Vec<PathBuf>,
    /// 汇总中心公钥 ed25519:…（`kaohe hub init` 显示的回执公钥）（the hub's public key）
    #[arg(long, value_name = "公钥")]
    hub: PublicKey,
    /// 受信任的规则包发布机关公钥 ed25519:…，可重复（trusted pack authority key; repeat for each）
    #[arg(long = "authority", value_name = "公钥", required = true)]
    authorities: Vec<PublicKey>,
    /// 至少需要几个发布机关签名，默认为全部（how many authorities must sign; default: all）
    #[arg(long, value_name = "K")]
    threshold: Option<usize>,
    /// 见证节点：「K-of」后列出受信节点公钥，要求至少 K 个副署，如 --witnesses 2-of ed25519:… ed25519:…（K of these witness keys must have cosigned）
    #[arg(long, value_name = "K-of 公钥", num_args = 2..)]
    witnesses: Vec<String>,
    /// 查找规则包模块（按 SHA-256）的目录，默认为各证明包所在目录（folder with the pack modules; default: each bundle's folder）
    #[arg(long, value_name = "目录")]
    packs: Option<PathBuf>,
}

/// Whom a verification trusts.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The hub's key: it signs every year's checkpoints.
    pub hub: PublicKey,
    /// The pack authorities and their threshold.
    pub authorities: TrustPolicy,
    /// Trusted witnesses (nodes' keys).
    pub witnesses: Vec<PublicKey>,
    /// How many of them must have cosigned the checkpoint.
    pub witnesses_required: usize,
}

/// What does not hold. Each message names it in Chinese (English beside).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    Format(#[from] BundleFormatError),
    #[error(
        "日志检查点不是汇总中心为该年度日志签署的（the checkpoint is not the hub's for that year）：{0}"
    )]
    Checkpoint(String),
    #[error(
        "日志检查点只有 {have} 个受信见证节点副署，要求至少 {need} 个（too few witness cosignatures）"
    )]
    TooFewWitnesses { have: usize, need: usize },
    #[error("{year} 年日志第 {index} 号叶无法解读（unreadable leaf）：{detail}")]
    LeafBody {
        year: u16,
        index: u64,
        detail: String,
    },
    #[error(
        "{year} 年日志第 {index} 号叶（{what}）不在{head}中：该记录被改动、删除或调换了顺序（leaf not included: changed, removed or reordered）：{detail}"
    )]
    NotIncluded {
        year: u16,
        index: u64,
        what: String,
        head: String,
        detail: String,
    },
    #[error(
        "证明包含有 {year} 年日志的记录，却没有接续该年日志的滚动记录（no rollover leaf for {year}）"
    )]
    NoChain { year: u16 },
    #[error("{year} 年日志中没有审定记录（no approval in the log）")]
    NoApproval { year: u16 },
    #[error(
        "审定所依据的日志（前 {approved} 条记录）不是检查点（{size} 条记录）的前缀：审定之后历史被改写（the approved log is not a prefix of the checkpoint）：{detail}"
    )]
    ApprovalNotInCheckpoint {
        approved: u64,
        size: u64,
        detail: String,
    },
    #[error("{year} 年日志中审定之前没有名册（no roster before the approval）")]
    NoRoster { year: u16 },
    #[error("{year} 年日志中审定之前没有发布规则包（no pack before the approval）")]
    NoPack { year: u16 },
    #[error("单位 {unit} 不在 {year} 年名册中（unit not on the roster）")]
    NotInRoster { year: u16, unit: String },
    #[error("证明包第 {index} 个签名信封无法解码（undecodable envelope）")]
    BadEnvelope { index: usize },
    #[error("证明包中有 {count} 个签名信封不在日志中（envelopes not in the log）")]
    EnvelopeNotLogged { count: usize },
    #[error("日志中的上报 {digest} 在证明包中没有签名信封（missing envelope）")]
    MissingEnvelope { digest: Digest },
    #[error("上报 {digest} 的签名节点 {node} 在此之前没有登记（signer not registered before it）")]
    Unregistered { node: String, digest: Digest },
    #[error(
        "上报 {digest} 的签名节点 {node} 已于 {time} 被吊销，吊销在此上报之前（signer revoked before it）"
    )]
    Revoked {
        node: String,
        time: String,
        digest: Digest,
    },
    #[error(
        "上报 {digest} 由节点 {node} 已更换掉的旧密钥 {key} 签名，更换记入日志在此上报之前（signed with a key retired before it）"
    )]
    RetiredKey {
        key: String,
        node: String,
        digest: Digest,
    },
    #[error("上报 {digest} 的签名无效（bad signature）：{detail}")]
    BadSignature { digest: Digest, detail: String },
    #[error(
        "上报 {digest} 的内容与其日志记录（单位、年度、轮次）不符（the envelope differs from its leaf）"
    )]
    LeafDiffers { digest: Digest },
    #[error("上报 {digest} 超出节点 {node} 登记的授权范围（out of the logged scope）：{detail}")]
    OutOfScope {
        node: String,
        digest: Digest,
        detail: String,
    },
    #[error("规则包 {pack} 没有在日志中发布（pack not published in the log）")]
    PackNotPublished { pack: String },
    #[error(
        "找不到规则包 {pack} 的模块（SHA-256 {sha256}）：请用 --packs 指定存放模块的目录（当前：{dir}）（pack module not found）"
    )]
    PackModuleMissing {
        pack: String,
        sha256: String,
        dir: String,
    },
    #[error("证明包所带的规则包模块不是有效的 base64（carried module is not base64）")]
    BadCarriedModule,
    #[error("规则包 {pack} 未通过核验（pack not trusted）：{detail}")]
    PackTrust { pack: String, detail: String },
    #[error("复算上报 {digest} 的得分与签名上报不一致（replay differs）：{detail}")]
    Replay { digest: Digest, detail: String },
    #[error("按日志汇总失败（consolidation failed）：{0}")]
    Consolidate(String),
    #[error("按日志复算，单位 {unit} 未被考核（not assessed）：{gaps}")]
    NotAssessed { unit: String, gaps: String },
    #[error("审定结果与按日志复算的不一致（the approval differs from the recomputation）：{what}")]
    ApprovedDiffers { what: String },
    #[error(
        "公布结果（{published}）与按日志复算的（{recomputed}）不一致：汇总中心数据库中的结果在审定后被改动（the published result differs from the recomputation）"
    )]
    PublishedDiffers {
        published: String,
        recomputed: String,
    },
}

/// What a verified bundle proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub year: u16,
    pub unit_id: String,
    pub log_size: u64,
    /// Trusted witnesses whose cosignatures verified.
    pub cosignatures: usize,
    /// The log head the approval was computed from.
    pub approved_size: u64,
    pub unit: UnitVerdict,
}

/// Verifies a bundle's bytes; `packs_dir` is where modules are looked for;
/// `compiled` keeps compiled packs for the next bundle.
pub fn verify(
    bytes: &[u8],
    policy: &Policy,
    packs_dir: &Path,
    runtime: &Runtime,
    compiled: &mut result::Compiled,
) -> Result<Verified, VerifyError> {
    let bundle = ProofBundle::parse(bytes)?;
    let log = log::prove_log(&bundle, policy)?;
    let unit = result::verify_result(&bundle, &log, policy, packs_dir, runtime, compiled)?;
    Ok(Verified {
        year: bundle.year,
        unit_id: bundle.unit_id,
        log_size: log.checkpoint.checkpoint.size,
        cosignatures: log.checkpoint.cosignatures.len(),
        approved_size: log.approval.1.size,
        unit,
    })
}

/// `K-of KEY…` → (K, keys).
fn parse_witnesses(words: &[String]) -> anyhow::Result<(usize, Vec<PublicKey>)> {
    let Some((first, keys)) = words.split_first() else {
        return Ok((0, Vec::new()));
    };
    let k: usize = first
        .strip_suffix("-of")
        .and_then(|k| k.parse().ok())
        .with_context(|| {
            format!("--witnesses 须以「K-of」开头，如 2-of（must start with K-of）：{first}")
        })?;
    let keys = keys
        .iter()
        .map(|k| {
            PublicKey::parse(k).with_context(|| format!("见证节点公钥无效（bad witness key）：{k}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if k == 0 || k > keys.len() {
        bail!(
            "--witnesses {k}-of 须在 1 到所列公钥数 {} 之间（K must be 1 to the number of keys）",
            keys.len()
        );
    }
    Ok((k, keys))
}

/// Runs `kaohe verify`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let threshold = a.threshold.unwrap_or(a.authorities.len());
    let authorities = TrustPolicy::new(a.authorities, threshold)
        .context("发布机关与签名门槛（--authority, --threshold）")?;
    let (witnesses_required, witnesses) = parse_witnesses(&a.witnesses)?;
    let policy = Policy {
        hub: a.hub,
        authorities,
        witnesses,
        witnesses_required,
    };
    let runtime = Runtime::new(RuntimeConfig::default())
        .context("启动规则包运行环境（start the pack runtime）")?;
    let mut compiled = result::Compiled::new();
    let mut failed = 0;
    for path in &a.bundles {
        let packs_dir = a.packs.clone().unwrap_or_else(|| {
            path.parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        });
        let outcome = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("读取证明包失败（cannot read the bundle）：{e}"))
            .and_then(|bytes| {
                Ok(verify(
                    &bytes,
                    &policy,
                    &packs_dir,
                    &runtime,
                    &mut compiled,
                )?)
            });
        match outcome {
            Ok(v) => print(&v, &policy),
            Err(e) => {
                failed += 1;
                println!("核验未通过（verification failed）：{}", path.display());
                println!("  {e}");
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} 个证明包未通过核验（共 {} 个）（{failed} of {} bundles failed）",
            a.bundles.len(),
            a.bundles.len()
        );
    }
    Ok(())
}

fn print(v: &Verified, policy: &Policy) {
    let u = &v.unit;
    println!(
        "核验通过（verified）：{} 年度 单位 {}（{}）",
        v.year, v.unit_id, u.unit_name
    );
    println!(
        "  透明日志：检查点共 {} 条记录，经汇总中心签名，{} 个受信见证节点副署（要求 {} 个）",
        v.log_size, v.cosignatures, policy.witnesses_required
    );
    println!(
        "  审定（文号 {}）依据日志前 {} 条记录，为该检查点的前缀",
        u.doc_number, v.approved_size
    );
    println!(
        "  {} 份签名上报均由登记授权的节点签名，复算得分一致；规则包 {} 经 {} 个发布机关签名",
        u.submissions, u.pack, u.pack_signers
    );
    match &u.scored {
        Some((total, _, grade_name)) => println!(
            "  按日志复算：总分 {}，等次 {grade_name}，与审定结果{}一致",
            result::hundredths(*total),
            if u.published_checked {
                "及公布结果"
            } else {
                ""
            }
        ),
        None => println!("  按日志复算：免于考核，与审定结果一致"),
    }
    for note in &u.notes {
        println!("  注（note）：{note}");
    }
}
