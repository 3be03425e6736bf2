//! `kaohe demo`：一个示例县连续两年（2022、2023 年度）的完整考核，各方为独立进程。
//!
//! Runs this very binary (`std::env::current_exe()`) as every actor: the two
//! pack authorities (`kaohe pack keygen/build/sign`, 2 of 2), the county hub
//! (`kaohe hub init`, `units import`, `node add`, `pack publish`, a `hub
//! serve` child on 127.0.0.1 with TLS and client certificates, then
//! `results`, `notify`, `review decide`, `excuse`, `approve`,
//! `publish-results`, `export`) and five assessor nodes (`kaohe node init`,
//! `sync`, `template`, `import`, `submit`, `deliver`, `object`, `set`). The
//! county CA and every certificate are made in-process ([`pki`]).
//!
//! Two years on an injected clock: the hub runs with `--now` fixed before
//! each round's deadline and every dated hub command gets a fixed instant,
//! so deadlines, notices, lateness and approvals are the same on every run.
//! Between the years the authorities sign the revised 2023 pack. Evidence is
//! entered round by round from a fixed seed ([`evidence`]) into the node's
//! own template — the Excel workbook for the county-level assessors, the
//! CSV for the townships — and imported; one township node
//! is offline across the 2023 third quarter and reports it late; one unit
//! never reports; one 2023 result is objected to, corrected and revised.
//!
//! Layout:
//! - this file: the command's arguments, the two years' script of fixed
//!   instants ([`YEARS`]), and [`run`] — the CA, the authorities, the hub
//!   and the nodes set up, then each year, then the report;
//! - `year`: one year as the actors live it (pack, rounds, review,
//!   approval, publication, the nodes witnessing the year's log, exports,
//!   one unit's proof bundle verified offline);
//! - `report`: what is printed at the end;
//! - `process`: this binary as child processes (`Kaohe`, the `HubServer`
//!   child, a node's `[hub]` edited);
//! - `county`: the sample county; `evidence`: deterministic evidence per
//!   unit, year and round; `pki`: the demo's county CA.

mod county;
mod evidence;
mod pki;
mod process;
mod report;
mod year;

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use kaohe_rulepacks::manifest::Round;

use process::{HubServer, Kaohe, configure_node};

/// 运行一个示例县连续两年（2022、2023 年度）的完整考核：县 CA、规则包、汇总中心、五个考核主体节点，各为独立进程
#[derive(Debug, clap::Args)]
pub struct Args {
    /// 演示数据目录（demo directory）；须不存在或为空
    #[arg(long, value_name = "目录", default_value = "kaohe-demo")]
    dir: PathBuf,
    /// 目录非空时先清空（empty a non-empty directory first）
    #[arg(long)]
    fresh: bool,
    /// 结束后保持汇总中心运行，并显示其地址（leave the hub serving）
    #[arg(long)]
    keep_running: bool,
}

const OPERATOR: &str = "演示操作员";
/// Polls of `hub.addr` before giving up on a starting hub (100 ms apart).
const HUB_START_POLLS: u32 = 3000;

/// The hand-worked fixtures of a year's rubric, built into the binary: the
/// pack carries them as its self-test.
macro_rules! fixtures {
    ($year:literal: $($name:literal),* $(,)?) => {
        &[$((
            $name,
            include_str!(concat!("../../rulepacks/baofeng-", $year, "/fixtures/", $name)),
        )),*]
    };
}

/// One assessment year of the demo and its fixed instants.
struct Year {
    year: &'static str,
    /// The rubric's title, as the report names the pack.
    title: &'static str,
    /// The rubric the authorities compile, built into the binary.
    rubric: &'static str,
    /// Its hand-worked fixtures (file name, text), compiled into the pack as
    /// its self-test.
    fixtures: &'static [(&'static str, &'static str)],
    /// The rounds in reporting order, each with the hub's fixed clock while
    /// nodes report it: a few days before the round's deadline (Q1 04-15,
    /// Q2 07-15, Q3 10-15, Q4 01-15, annual 01-31).
    rounds: [(Round, &'static str); 5],
    notify: &'static str,
    /// While the review window is open: an objection is filed and the
    /// corrected result submitted.
    object: &'static str,
    /// Later that day: the corrected result is submitted.
    correct: &'static str,
    /// The review decision, after the windows closed.
    decide: &'static str,
    approve: &'static str,
    publish: &'static str,
    doc_number: &'static str,
    /// A node (its directory name) offline across this round, reporting it
    /// at the next one.
    offline: Option<(&'static str, Round)>,
    /// Whether an objection is filed, corrected and decided this year.
    objection: bool,
}

const YEARS: [Year; 2] = [
    Year {
        year: "2022",
        title: "法治宝丰（法治政府）建设考核细则（2022年度）",
        rubric: include_str!("../../rulepacks/baofeng-2022/rubric.toml"),
        fixtures: fixtures!("2022":
            "01-township-full.toml",
            "02-township-edge-excellent-90.toml",
            "03-government-edge-good-8999.toml",
            "04-stationed-edge-good-80.toml",
            "05-township-edge-pass-7999.toml",
            "06-government-edge-pass-60.toml",
            "07-stationed-edge-fail-5999.toml",
            "08-party-organ-conversion.toml",
            "09-congress-conversion-edge-90.toml",
            "10-court-major-problem.toml",
            "11-mass-org-bonus-cap.toml",
            "12-enterprise-penalty-cap.toml",
            "13-hospital-serious-case.toml",
            "14-village-conversion.toml",
            "15-error-missing-field.toml",
            "16-error-division-by-zero.toml",
            "17-government-fail-both-flags.toml",
            "18-government-not-applicable-converted.toml",
            "19-stationed-not-applicable-edge-90.toml",
            "20-village-online-check-not-applicable.toml",
            "21-enterprise-penalty-cap-override.toml",
        ),
        rounds: [
            (Round::Q1, "2022-04-08T10:00:00+08:00"),
            (Round::Q2, "2022-07-08T10:00:00+08:00"),
            (Round::Q3, "2022-10-10T10:00:00+08:00"),
            (Round::Q4, "2023-01-09T10:00:00+08:00"),
            (Round::Annual, "2023-01-16T10:00:00+08:00"),
        ],
        notify: "2023-02-01T09:00:00+08:00",
        object: "2023-02-02T10:00:00+08:00",
        correct: "2023-02-02T15:00:00+08:00",
        decide: "2023-02-20T09:00:00+08:00",
        approve: "2023-03-20T09:00:00+08:00",
        publish: "2023-03-24T09:00:00+08:00",
        doc_number: "宝法治办〔2023〕1号",
        offline: None,
        objection: false,
    },
    Year {
        year: "2023",
        title: "法治宝丰（法治政府）建设考核细则（2023年度）",
        rubric: include_str!("../../rulepacks/baofeng-2023/rubric.toml"),
        fixtures: fixtures!("2023":
            "01-township-full.toml",
            "02-government-new-indicator-deductions.toml",
            "03-stationed-tightened-hearings-n2-10-clamped.toml",
            "04-township-edge-excellent-90.toml",
            "05-government-edge-good-8999.toml",
            "06-court-moved-points-n3-1-clamped.toml",
            "07-procuratorate-conversion-edge-90.toml",
        ),
        rounds: [
            (Round::Q1, "2023-04-10T10:00:00+08:00"),
            (Round::Q2, "2023-07-10T10:00:00+08:00"),
            (Round::Q3, "2023-10-10T10:00:00+08:00"),
            (Round::Q4, "2024-01-08T10:00:00+08:00"),
            (Round::Annual, "2024-01-15T10:00:00+08:00"),
        ],
        notify: "2024-01-31T09:00:00+08:00",
        object: "2024-02-02T10:00:00+08:00",
        correct: "2024-02-02T15:00:00+08:00",
        decide: "2024-02-19T09:00:00+08:00",
        approve: "2024-03-20T09:00:00+08:00",
        publish: "2024-03-25T09:00:00+08:00",
        doc_number: "宝法治办〔2024〕1号",
        offline: Some((county::LATE_NODE, Round::Q3)),
        objection: true,
    },
];

/// The two pack authorities; a pack needs both signatures (2 of 2).
const AUTHORITIES: [(&str, &str); 2] = [
    ("county-office", "县委依法治县办"),
    ("justice-bureau", "县司法局"),
];

/// Everything the years share: the binary, the directories, the CA.
struct Demo {
    k: Kaohe,
    dir: PathBuf,
    hub_dir: PathBuf,
    ca: pki::CountyCa,
    hub_cert: pki::Issued,
    nodes: Vec<county::NodeSpec>,
    /// The hub's public key and the nodes' (the log's witnesses), for
    /// `kaohe verify`.
    hub_key: String,
    witness_keys: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let dir = prepare_dir(&args.dir, args.fresh)?;
    let k = Kaohe::new(&dir)?;
    println!("宝丰县法治政府建设考核演示（示例数据）：2022、2023 年度");
    println!("（所有单位、人员、数据均为示例；文件在 {}）", dir.display());

    // 一 县 CA、发布机关、汇总中心
    println!("\n一、准备工作");
    let ca = pki::CountyCa::create(&dir.join("ca"))?;
    let hub_cert = ca.issue_hub()?;
    println!("  县 CA 为汇总中心签发服务器证书，并发布证书吊销列表。");
    std::fs::create_dir_all(dir.join("authority"))?;
    let mut authority_keys = Vec::new();
    for (stem, _) in AUTHORITIES {
        let key = dir.join(format!("authority/{stem}.key"));
        let out = k.run(&["pack", "keygen", "-o", s(&key)])?;
        let public = key_in(&out, "公钥")?;
        authority_keys.push((key, public));
    }
    println!(
        "  规则包发布机关{}各自生成签名密钥，规则包须{}家共同签署方可发布。",
        AUTHORITIES.map(|(_, name)| name).join("、"),
        ["零", "一", "两", "三"][AUTHORITIES.len().min(3)]
    );
    let hub_dir = dir.join("hub");
    let out = k.hub(&["init"])?;
    let receipt_key = key_in(&out, "回执公钥")?;
    let authorities: Vec<String> = authority_keys
        .iter()
        .map(|(_, p)| format!("\"{p}\""))
        .collect();
    std::fs::write(
        hub_dir.join("hub.toml"),
        format!(
            "[packs]\nauthorities = [{}]\nthreshold = 2\n",
            authorities.join(", ")
        ),
    )?;

    println!("  县委依法治县办设立汇总中心。");

    // 二 节点
    println!("\n二、考核主体节点");
    let roster = hub_dir.join("名册（示例数据）.csv");
    std::fs::write(&roster, county::roster_csv())?;
    let years = YEARS.map(|y| y.year).join(",");
    let nodes = county::nodes();
    let mut witness_keys = Vec::new();
    let ca_cert = ca.cert();
    for n in &nodes {
        let nd = dir.join("nodes").join(n.dir);
        let mut init = vec![
            "init",
            "--hub",
            "https://127.0.0.1:1",
            "--ca-cert",
            s(&ca_cert),
            "--name",
            n.name,
            "--assessor",
            n.assessor,
            "--threshold",
            "2",
            "--hub-receipt-key",
            &receipt_key,
        ];
        for (_, public) in &authority_keys {
            init.extend(["--authority-key", public]);
        }
        let out = k.node(&nd, &init)?;
        let node_key = key_in(&out, "公钥")?;
        let key_id = node_key
            .parse::<kaohe_proto::PublicKey>()
            .map_err(|e| anyhow!("节点公钥 {node_key}：{e}"))?
            .key_id();
        witness_keys.push(node_key.clone());
        let cert = ca.issue_node(n.dir, n.name, key_id.as_str())?;
        configure_node(&nd, None, Some((&cert, &ca.crl())))?;
        let mut add = vec![
            "node",
            "add",
            "--name",
            n.name,
            "--assessor",
            n.assessor,
            "--key",
            &node_key,
            "--methods",
            county::ALL_METHODS,
            "--years",
            &years,
        ];
        if let Some(unit) = n.assessor_unit {
            add.extend(["--assessor-unit", unit]);
        }
        let units;
        match &n.delegation {
            county::Delegation::Categories(c) => add.extend(["--categories", c]),
            county::Delegation::Units(u) => {
                units = u.join(",");
                add.extend(["--units", &units]);
            }
        }
        k.hub(&add)?;
        println!(
            "  {}：考核 {} 个单位，县 CA 已签发客户端证书，汇总中心已登记",
            n.name,
            county::assessed_by(n).len()
        );
    }

    let demo = Demo {
        k,
        dir: dir.clone(),
        hub_dir,
        ca,
        hub_cert,
        nodes,
        hub_key: receipt_key,
        witness_keys,
    };
    let mut hub = None;
    for (i, y) in YEARS.iter().enumerate() {
        hub = Some(demo.year(y, i, &authority_keys, &roster, hub)?);
    }
    let hub = hub.ok_or_else(|| anyhow!("没有考核年度（no years）"))?;
    demo.report(&YEARS[0], &YEARS[YEARS.len() - 1])?;

    let served = hub.addr.clone();
    if args.keep_running {
        println!(
            "\n汇总中心保持运行：https://{served}（进程号 {}；CA 证书 {}）",
            hub.pid(),
            demo.ca.cert().display()
        );
        let exe = demo.k.exe.display();
        let office = demo.dir.join("nodes/county-office");
        println!("可以这样查看：");
        println!(
            "  {exe} node --data-dir {} results --year 2023",
            office.display()
        );
        println!("  {exe} node --data-dir {} status", office.display());
        println!(
            "  {exe} hub --data-dir {} progress --year 2023",
            demo.hub_dir.display()
        );
        println!("停止：kill {}", hub.pid());
        hub.detach();
    } else {
        hub.stop()?;
        println!("\n汇总中心已停止。");
    }
    Ok(())
}

impl Demo {
    fn node_dir(&self, n: &county::NodeSpec) -> PathBuf {
        self.dir.join("nodes").join(n.dir)
    }

    /// (Re)starts the hub at `now` and points every node at it.
    fn serve(&self, hub: Option<HubServer>, now: &str) -> Result<HubServer> {
        if let Some(h) = hub {
            h.stop()?;
        }
        let h = HubServer::start(&self.k, &self.hub_dir, &self.hub_cert, &self.ca, now)?;
        for n in &self.nodes {
            configure_node(&self.node_dir(n), Some(&h.addr), None)?;
        }
        Ok(h)
    }
}

fn round_zh(round: Round) -> &'static str {
    match round {
        Round::Q1 => "第一季度日常评价",
        Round::Q2 => "第二季度日常评价",
        Round::Q3 => "第三季度日常评价",
        Round::Q4 => "第四季度日常评价",
        Round::Annual => "年度考核",
    }
}

/// The round as `kaohe node submit --round` takes it.
fn round_key(round: Round) -> &'static str {
    match round {
        Round::Q1 => "Q1",
        Round::Q2 => "Q2",
        Round::Q3 => "Q3",
        Round::Q4 => "Q4",
        Round::Annual => "annual",
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("the demo directory is valid UTF-8")
}

/// Marks a directory as the demo's own, so `--fresh` may wipe it.
const DEMO_MARKER: &str = ".kaohe-demo";

/// Creates `dir`, refusing a non-empty one unless `fresh` and it is an
/// earlier demo's; returns it absolute.
fn prepare_dir(dir: &Path, fresh: bool) -> Result<PathBuf> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)?.next().is_some();
        if non_empty {
            if !fresh {
                bail!(
                    "目录 {} 非空；换一个目录，或加 --fresh 清空后重来（directory not empty）",
                    dir.display()
                );
            }
            // Only ever wipe what an earlier demo created: a mistyped
            // `--dir ~ --fresh` must not delete a home directory.
            if !dir.join(DEMO_MARKER).is_file() {
                bail!(
                    "目录 {} 不是演示目录（没有 {DEMO_MARKER}），--fresh 不会清空它；请换一个目录（not a demo directory）",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(dir)?;
        }
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(DEMO_MARKER),
        "kaohe demo 生成的目录，可用 --fresh 清空（created by kaohe demo）\n",
    )?;
    let dir = std::fs::canonicalize(dir)?;
    if dir.to_str().is_none() {
        bail!("目录路径须为 UTF-8（directory path must be UTF-8）");
    }
    Ok(dir)
}

/// The `ed25519:…` key on the first output line that mentions `label`.
fn key_in(out: &str, label: &str) -> Result<String> {
    out.lines()
        .filter(|l| l.contains(label))
        .flat_map(|l| l.split(['：', ' ', '，']))
        .find(|w| w.starts_with("ed25519:"))
        .map(|w| w.trim().to_owned())
        .ok_or_else(|| anyhow!("输出中没有「{label}」（no key printed）：\n{out}"))
}

/// An instant of the script (RFC 3339) as the report dates it: 2024年1月8日,
/// in Beijing time.
fn date_zh(at: &str) -> Result<String> {
    let ts: jiff::Timestamp = at.parse().map_err(|e| anyhow!("时刻 {at} 无法解析：{e}"))?;
    Ok(kaohe_hub::calendar::beijing_day(ts))
}

/// The value after `label` on the first line of `out` that has it, up to the
/// line's end: what a command printed that the report restates.
fn printed_after<'a>(out: &'a str, label: &str) -> Result<&'a str> {
    out.lines()
        .find_map(|l| l.split_once(label).map(|(_, v)| v.trim()))
        .ok_or_else(|| anyhow!("输出中没有「{label}」：\n{out}"))
}

#[cfg(test)]
mod tests {
    use super::YEARS;

    /// The pack the demo builds carries every fixture of its rubric as its
    /// self-test: the list compiled into the binary is the directory's.
    #[test]
    fn the_demo_builds_each_pack_with_every_fixture_of_its_rubric() {
        for y in &YEARS {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("rulepacks/baofeng-{}/fixtures", y.year));
            let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".toml"))
                .collect();
            on_disk.sort();
            let built: Vec<&str> = y.fixtures.iter().map(|(n, _)| *n).collect();
            assert_eq!(built, on_disk, "{}", y.year);
        }
    }
}
