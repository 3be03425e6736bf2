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

mod county;
mod evidence;
mod pki;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use kaohe_rulepacks::manifest::Round;

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

/// One assessment year of the demo and its fixed instants.
struct Year {
    year: &'static str,
    /// The rubric the authorities compile, built into the binary.
    rubric: &'static str,
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
        rubric: include_str!("../../rulepacks/baofeng-2022/rubric.toml"),
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
        rubric: include_str!("../../rulepacks/baofeng-2023/rubric.toml"),
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
}

pub fn run(args: Args) -> Result<()> {
    let dir = prepare_dir(&args.dir, args.fresh)?;
    let k = Kaohe::new(&dir)?;
    println!(
        "考核演示（示例数据）：宝丰县 2022、2023 年度法治政府建设考核，目录 {}",
        dir.display()
    );

    // 一 县 CA、发布机关、汇总中心
    println!("\n一、县 CA 签发证书，两个发布机关生成密钥，县依法治县办初始化汇总中心");
    let ca = pki::CountyCa::create(&dir.join("ca"))?;
    let hub_cert = ca.issue_hub()?;
    println!(
        "  县 CA：{}（汇总中心证书 {}；吊销列表 {}）",
        ca.cert().display(),
        hub_cert.cert.display(),
        ca.crl().display()
    );
    std::fs::create_dir_all(dir.join("authority"))?;
    let mut authority_keys = Vec::new();
    for (stem, name) in AUTHORITIES {
        let key = dir.join(format!("authority/{stem}.key"));
        let out = k.run(&["pack", "keygen", "-o", s(&key)])?;
        let public = key_in(&out, "公钥")?;
        println!("  发布机关 {name}：{public}");
        authority_keys.push((key, public));
    }
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

    // 二 节点
    println!("\n二、考核主体节点初始化，县 CA 签发客户端证书，汇总中心登记节点");
    let roster = hub_dir.join("名册（示例数据）.csv");
    std::fs::write(&roster, county::roster_csv())?;
    let years = YEARS.map(|y| y.year).join(",");
    let nodes = county::nodes();
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
        let units;
        match &n.delegation {
            county::Delegation::Categories(c) => add.extend(["--categories", c]),
            county::Delegation::Units(u) => {
                units = u.join(",");
                add.extend(["--units", &units]);
            }
        }
        print_first(&k.hub(&add)?);
    }

    let demo = Demo {
        k,
        dir: dir.clone(),
        hub_dir,
        ca,
        hub_cert,
        nodes,
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
        println!("可以这样查看（try）：");
        println!(
            "  {exe} node --data-dir {} results --year 2023",
            office.display()
        );
        println!("  {exe} node --data-dir {} status", office.display());
        println!(
            "  {exe} hub --data-dir {} progress --year 2023",
            demo.hub_dir.display()
        );
        println!("停止（stop）：kill {}", hub.pid());
        hub.detach();
    } else {
        hub.stop()?;
        println!("\n汇总中心已停止（hub stopped）");
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

    /// One whole year: the pack, the roster, the rounds, the review, the
    /// approval, the publication and the exports. Returns the running hub.
    fn year(
        &self,
        y: &Year,
        index: usize,
        authorities: &[(PathBuf, String)],
        roster: &Path,
        hub: Option<HubServer>,
    ) -> Result<HubServer> {
        let k = &self.k;
        let year = y.year;
        let ordinal = ["三", "四"][index.min(1)];
        println!("\n{ordinal}、{year} 年度");

        // 规则包：两个发布机关签署，汇总中心发布
        let rubric = self.dir.join(format!("authority/baofeng-{year}.toml"));
        std::fs::write(&rubric, y.rubric)?;
        let wasm = self.dir.join(format!("authority/baofeng-{year}.wasm"));
        k.run(&["pack", "build", s(&rubric), "-o", s(&wasm)])?;
        for (key, _) in authorities {
            k.run(&["pack", "sign", s(&wasm), "--key", s(key)])?;
        }
        print_first(&k.hub(&["pack", "publish", s(&wasm)])?);
        print_first(&k.hub(&["units", "import", s(roster), "--year", year])?);

        // 各节点按轮次逐季填报、评分、签名、上报
        let mut hub = hub;
        let mut owed: Vec<Round> = Vec::new();
        for (round, now) in &y.rounds {
            let h = self.serve(hub.take(), now)?;
            println!(
                "  {}：汇总中心 https://{}，固定时刻 {now}",
                round_zh(*round),
                h.addr
            );
            for n in &self.nodes {
                let nd = self.node_dir(n);
                let offline_node = y.offline.map(|(node, _)| node);
                if y.offline == Some((n.dir, *round)) {
                    println!("    {}：本轮未联网上报（离线）", n.name);
                    owed.push(*round);
                    continue;
                }
                k.node(&nd, &["sync", "--operator", OPERATOR])?;
                if *round == Round::Q1 {
                    let xlsx = nd.join(format!("{year}-证据模板.xlsx"));
                    k.node(&nd, &["template", "--year", year, "-o", s(&xlsx)])?;
                }
                let mut rounds: Vec<Round> = Vec::new();
                if offline_node == Some(n.dir) {
                    rounds.append(&mut owed);
                }
                rounds.push(*round);
                for r in rounds {
                    let units = self.fill_evidence(n, year, r)?;
                    k.node(
                        &nd,
                        &[
                            "submit",
                            "--year",
                            year,
                            "--round",
                            round_key(r),
                            "--operator",
                            OPERATOR,
                            "--no-deliver",
                        ],
                    )?;
                    let late = if r == *round { "" } else { "，补报" };
                    let form = if n.assessor == "township" {
                        "CSV"
                    } else {
                        "Excel"
                    };
                    println!(
                        "    {}：导入 {units} 个单位的{}证据（{form}），评分、签名、上报{late}",
                        n.name,
                        round_zh(r)
                    );
                }
                k.node(&nd, &["deliver"])?;
            }
            hub = Some(h);
        }

        // 汇总、通报反馈
        k.hub(&["results", "--year", year])?;
        let notices = self.dir.join(format!("notices-{year}"));
        k.hub(&[
            "notify",
            "--year",
            year,
            "--out",
            s(&notices),
            "--now",
            y.notify,
        ])?;
        let sent = std::fs::read_dir(&notices).map_or(0, |d| d.count());
        println!("  已向 {sent} 个单位通报反馈考核结果（{}）", y.notify);

        // 异议、更正、复核决定（2023 年度）
        let mut hub = hub.ok_or_else(|| anyhow!("没有上报轮次（no rounds）"))?;
        if y.objection {
            hub = self.objection(y, hub)?;
        }

        // 未报送单位免于考核、审定、公布、导出
        {
            print_first(&k.hub(&[
                "excuse",
                "--year",
                year,
                "--unit",
                county::UNREPORTED,
                "--reason",
                county::UNREPORTED_REASON,
                "--now",
                y.approve,
            ])?);
        }
        print_first(&k.hub(&[
            "approve",
            "--year",
            year,
            "--doc-number",
            y.doc_number,
            "--now",
            y.approve,
        ])?);
        print_first(&k.hub(&["publish-results", "--year", year, "--now", y.publish])?);
        let exports = self.dir.join(format!("exports-{year}"));
        k.hub(&["export", "--year", year, "--out", s(&exports)])?;
        Ok(hub)
    }

    /// The county office objects to one 2023 result on its unit's behalf,
    /// with material, corrects the evidence and submits again; the hub
    /// decides the review on the corrected result.
    fn objection(&self, y: &Year, hub: HubServer) -> Result<HubServer> {
        let k = &self.k;
        let (unit, field, corrected) = evidence::OBJECTION;
        let office = self
            .nodes
            .iter()
            .find(|n| n.assessor == "county_office")
            .ok_or_else(|| anyhow!("没有县依法治县办节点"))?;
        let nd = self.node_dir(office);
        let hub = self.serve(Some(hub), y.object)?;
        let material = nd.join("异议材料-政府信息公开年度报告（示例数据）.txt");
        std::fs::write(
            &material,
            "示例数据：本单位 2023 年度政府信息公开工作年度报告已于 2024 年 1 月 15 日前在县政府网站公开，\n\
             网页截图及发布记录附后。评分时误录为“逾期公开”，请予复核更正。\n",
        )?;
        let reason = "示例：政府信息公开年度报告实为按时公开，评分时误录为逾期公开";
        let out = k.node(
            &nd,
            &[
                "object",
                "--year",
                y.year,
                "--unit",
                unit,
                "--reason",
                reason,
                "--material",
                s(&material),
            ],
        )?;
        for l in out.lines().skip(1) {
            println!("  {l}");
        }
        let hub = self.serve(Some(hub), y.correct)?;
        print_first(&k.node(
            &nd,
            &[
                "set",
                "--year",
                y.year,
                unit,
                field,
                corrected,
                "--operator",
                OPERATOR,
            ],
        )?);
        k.node(
            &nd,
            &[
                "submit",
                "--year",
                y.year,
                "--round",
                "annual",
                "--operator",
                OPERATOR,
            ],
        )?;
        print_first(&k.hub(&[
            "review",
            "decide",
            "--year",
            y.year,
            "--unit",
            unit,
            "--revised",
            "--reason",
            "经核实，年度报告按时公开，依更正后的上报重新评定",
            "--now",
            y.decide,
        ])?);
        Ok(hub)
    }

    /// The node's templates (xlsx for officials, CSV for the generator), the
    /// CSV's `round` rows filled from the seed and imported; returns how many
    /// units got evidence.
    fn fill_evidence(&self, n: &county::NodeSpec, year: &str, round: Round) -> Result<usize> {
        let k = &self.k;
        let nd = &self.node_dir(n);
        // The county-level assessors fill the Excel template an official
        // opens; the townships fill the CSV one.
        let excel = n.assessor != "township";
        let ext = if excel { "xlsx" } else { "csv" };
        let template = nd.join(format!("{year}-证据模板.{ext}"));
        if !template.exists() {
            let mut args = vec!["template", "--year", year, "-o", s(&template)];
            if !excel {
                args.extend(["--format", "csv", "--encoding", "utf8"]);
            }
            k.node(nd, &args)?;
        }
        let filled = nd.join(format!(
            "{year}-{}-证据（示例数据）.{ext}",
            round_key(round)
        ));
        let config = kaohe_node::config::NodeConfig::load_from_dir(nd)?;
        let summary = evidence::fill_template(
            &config.store_file,
            year.parse()?,
            &template,
            &filled,
            round,
            &[county::UNREPORTED],
        )?;
        k.node(
            nd,
            &["import", "--year", year, s(&filled), "--operator", OPERATOR],
        )?;
        Ok(summary.units)
    }

    /// What an official looks at: rankings, grades, late and unassessed
    /// units, outcomes, and where the files are.
    fn report(&self, first: &Year, y: &Year) -> Result<()> {
        let k = &self.k;
        let year = y.year;
        println!("\n五、考核结果（示例数据）");
        let out = k.hub(&["results", "--year", first.year, "--category", "township"])?;
        if let Some(ranking) = sections(&out)
            .into_iter()
            .find(|s| s.starts_with('【') && s.contains("排名\n"))
        {
            println!("\n{} 年度第1类排名（供对照）{ranking}", first.year);
        }
        for (n, category) in [
            (1, "township"),
            (4, "government_department"),
            (7, "stationed_unit"),
        ] {
            let out = k.hub(&["results", "--year", year, "--category", category])?;
            let ranking = sections(&out)
                .into_iter()
                .find(|s| s.starts_with('【') && s.contains("排名\n"))
                .ok_or_else(|| anyhow!("第{n}类没有排名表（no ranking）：\n{out}"))?;
            println!("\n{year} 年度第{n}类排名 {ranking}");
        }
        let all = k.hub(&["results", "--year", year])?;
        println!("\n{year} 年度其他类别等次：");
        for s in sections(&all) {
            if s.lines().next().is_some_and(|l| l.contains("只评定等次")) {
                println!("\n{s}");
            }
        }
        println!("\n{year} 年度迟报和未考核单位、结果运用：");
        for title in ["【迟报", "【未考核单位】", "【结果运用"] {
            let found: Vec<&str> = sections(&all)
                .into_iter()
                .filter(|s| s.starts_with(title))
                .collect();
            if found.is_empty() {
                println!("\n{title}】无");
            }
            for s in found {
                println!("\n{s}");
            }
        }

        println!("\n示例中特意安排的情形（scripted cases）：");
        for u in county::units() {
            let mut said = Vec::new();
            for y in &YEARS {
                let why = evidence::script(u.id, y.year.parse()?).why;
                if !why.is_empty() && !said.contains(&why) {
                    said.push(why);
                }
            }
            if !said.is_empty() {
                println!("  {}（{}）：{}", u.name, u.id, said.join("；"));
            }
        }
        let unreported = county::units()
            .into_iter()
            .find(|u| u.id == county::UNREPORTED)
            .map_or(county::UNREPORTED, |u| u.name);
        println!(
            "  {unreported}（{}）：两年均未报送任何结果，显示为未考核，审定前记录免于考核",
            county::UNREPORTED
        );
        println!("  赵庄镇节点：2023 年第三季度离线，第四季度补报，其村（社区）第三季度迟报");

        println!("\n六、文件位置");
        for y in &YEARS {
            let exports = self.dir.join(format!("exports-{}", y.year));
            for (what, ext) in [
                ("Excel 工作簿", "xlsx"),
                ("PDF 通报", "pdf"),
                ("Word 文书", "docx"),
            ] {
                let files = files_with(&exports, ext)?;
                println!("  {} 年度 {what}：{} 个", y.year, files.len());
                for f in files.iter().take(2) {
                    println!("    {}", f.display());
                }
                if files.len() > 2 {
                    println!("    ……（另 {} 个）", files.len() - 2);
                }
            }
            println!(
                "  {} 年度通报反馈：{}",
                y.year,
                self.dir.join(format!("notices-{}", y.year)).display()
            );
        }
        println!("  县 CA 与证书：{}", self.dir.join("ca").display());
        println!("  汇总中心数据目录：{}", self.hub_dir.display());
        println!("  节点数据目录：{}", self.dir.join("nodes").display());
        println!("  每一步的命令与输出：{}", self.k.log.display());
        Ok(())
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

/// The blank-line separated blocks of a command's output, trimmed.
fn sections(out: &str) -> Vec<&str> {
    out.split("\n\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

fn print_first(out: &str) {
    if let Some(l) = out.lines().next() {
        println!("  {l}");
    }
}

/// Files named `*.ext` in `dir` and its subdirectories (`letters/`…), sorted.
fn files_with(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("读取 {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Edits the node's `[hub]` section as its official would: the hub's
/// address once the hub has one, and the client certificate once the county
/// CA issued it.
/// Points node.toml at `addr`, and adds the client certificate and the
/// CA's revocation list when given.
fn configure_node(
    node_dir: &Path,
    addr: Option<&str>,
    tls: Option<(&pki::Issued, &Path)>,
) -> Result<()> {
    let path = node_dir.join("node.toml");
    let text = std::fs::read_to_string(&path)?;
    let mut found = false;
    let mut lines = Vec::new();
    for l in text.lines() {
        if l.starts_with("address = ") {
            found = true;
            lines.push(match addr {
                Some(a) => format!("address = \"https://{a}\""),
                None => l.to_owned(),
            });
            if let Some((c, crl)) = tls {
                lines.push(format!("client_cert = \"{}\"", s(&c.cert)));
                lines.push(format!("client_key = \"{}\"", s(&c.key)));
                lines.push(format!("crl = \"{}\"", s(crl)));
            }
        } else {
            lines.push(l.to_owned());
        }
    }
    if !found {
        bail!("{} 中没有 address（no hub address line）", path.display());
    }
    std::fs::write(&path, lines.join("\n") + "\n")?;
    Ok(())
}

/// This binary, run as a separate process per step.
struct Kaohe {
    exe: PathBuf,
    hub_dir: PathBuf,
    log: PathBuf,
}

impl Kaohe {
    fn new(dir: &Path) -> Result<Kaohe> {
        Ok(Kaohe {
            exe: std::env::current_exe().context("找不到 kaohe 程序（current_exe）")?,
            hub_dir: dir.join("hub"),
            log: dir.join("demo.log"),
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.args(args).env_remove("KAOHE_LOG").stdin(Stdio::null());
        c
    }

    fn hub_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec![
            "hub",
            "--data-dir",
            s(&self.hub_dir),
            "--operator",
            OPERATOR,
        ];
        all.extend_from_slice(args);
        all
    }

    /// Runs `kaohe <args>`; fails with its output unless it succeeds.
    fn run(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command(args)
            .output()
            .with_context(|| format!("运行 kaohe {}", args.join(" ")))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        self.log_line(&format!("$ kaohe {}\n{stdout}{stderr}", args.join(" ")));
        if !out.status.success() {
            bail!(
                "kaohe {} 失败（failed）：\n{stdout}{stderr}",
                args.join(" ")
            );
        }
        Ok(stdout)
    }

    /// Appends to `demo.log` (best effort: the log is for reading later).
    fn log_line(&self, text: &str) {
        use std::io::Write as _;
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
        {
            let _ = writeln!(log, "{text}");
        }
    }

    fn hub(&self, args: &[&str]) -> Result<String> {
        self.run(&self.hub_args(args))
    }

    fn node(&self, dir: &Path, args: &[&str]) -> Result<String> {
        let mut all = vec!["node", "--data-dir", s(dir)];
        all.extend_from_slice(args);
        self.run(&all)
    }
}

/// The `kaohe hub serve` child.
struct HubServer {
    child: Option<Child>,
    addr: String,
}

impl HubServer {
    fn start(
        k: &Kaohe,
        hub_dir: &Path,
        cert: &pki::Issued,
        ca: &pki::CountyCa,
        now: &str,
    ) -> Result<HubServer> {
        let addr_file = hub_dir.join(kaohe_hub::server::ADDR_FILE);
        let _ = std::fs::remove_file(&addr_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(hub_dir.join("serve.log"))?;
        let (client_ca, client_crl) = (ca.cert(), ca.crl());
        let args = k.hub_args(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            s(&cert.cert),
            "--tls-key",
            s(&cert.key),
            "--client-ca",
            s(&client_ca),
            "--client-crl",
            s(&client_crl),
            "--now",
            now,
        ]);
        k.log_line(&format!(
            "$ kaohe {}  （后台运行，输出见 {}）\n",
            args.join(" "),
            hub_dir.join("serve.log").display()
        ));
        let child = k
            .command(&args)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("启动汇总中心（spawn kaohe hub serve）")?;
        let mut hub = HubServer {
            child: Some(child),
            addr: String::new(),
        };
        for _ in 0..HUB_START_POLLS {
            if let Ok(text) = std::fs::read_to_string(&addr_file)
                && !text.trim().is_empty()
            {
                hub.addr = text.trim().to_owned();
                return Ok(hub);
            }
            if let Some(status) = hub.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!(
                    "汇总中心启动失败（{status}）：\n{}",
                    std::fs::read_to_string(hub_dir.join("serve.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(anyhow!("汇总中心未能在限定时间内启动（hub did not start）"))
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Leaves the hub serving after the demo exits.
    fn detach(mut self) {
        self.child = None;
    }

    /// SIGTERM (the hub shuts down cleanly), then waits for it.
    fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        terminate(&mut child)?;
        let status = child.wait()?;
        if !status.success() {
            bail!("汇总中心退出异常（hub exited with {status}）");
        }
        Ok(())
    }
}

#[cfg(unix)]
fn terminate(child: &mut Child) -> Result<()> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .context("运行 kill")?;
    if !status.success() {
        bail!("kill -TERM {} 失败", child.id());
    }
    Ok(())
}

#[cfg(not(unix))]
fn terminate(child: &mut Child) -> Result<()> {
    child.kill()?;
    Ok(())
}

impl Drop for HubServer {
    /// A demo that fails half-way does not leave a hub behind.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = terminate(&mut child);
            let _ = child.wait();
        }
    }
}
