//! One year of the demo as the actors live it: the pack signed and
//! published, the roster, the rounds reported (one node offline across a
//! round), the notice, the objection and its review, the approval, the
//! publication and the exports.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use kaohe_rulepacks::manifest::Round;

use super::process::HubServer;
use super::{
    Demo, OPERATOR, Year, county, date_zh, evidence, printed_after, round_key, round_zh, s,
};

impl Demo {
    /// One whole year: the pack, the roster, the rounds, the review, the
    /// approval, the publication and the exports. Returns the running hub.
    pub(super) fn year(
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
        println!("\n{ordinal}、{year} 年度考核");

        // 规则包：两个发布机关签署，汇总中心发布
        let rubric = self.dir.join(format!("authority/baofeng-{year}.toml"));
        std::fs::write(&rubric, y.rubric)?;
        let fixtures = self.dir.join(format!("authority/fixtures-{year}"));
        std::fs::create_dir_all(&fixtures)?;
        for (name, text) in y.fixtures {
            std::fs::write(fixtures.join(name), text)?;
        }
        let wasm = self.dir.join(format!("authority/baofeng-{year}.wasm"));
        k.run(&[
            "pack",
            "build",
            s(&rubric),
            "-o",
            s(&wasm),
            "--fixtures",
            s(&fixtures),
        ])?;
        for (key, _) in authorities {
            k.run(&["pack", "sign", s(&wasm), "--key", s(key)])?;
        }
        k.hub(&["pack", "publish", s(&wasm)])?;
        println!(
            "  规则包：《{}》第 1 版，{}个发布机关签署，汇总中心核验签名后发布。",
            y.title,
            ["零", "一", "两", "三"][authorities.len().min(3)]
        );
        k.hub(&["units", "import", s(roster), "--year", year])?;
        println!(
            "  名册：{} 个考核对象，类别按规则包核对。",
            county::units().len()
        );

        // 各节点按轮次逐季填报、评分、签名、上报
        let mut hub = hub;
        let mut owed: Vec<Round> = Vec::new();
        for (round, now) in &y.rounds {
            let h = self.serve(hub.take(), now)?;
            let mut reported = Reported::default();
            let mut notes = Vec::new();
            for n in &self.nodes {
                let nd = self.node_dir(n);
                let offline_node = y.offline.map(|(node, _)| node);
                if y.offline == Some((n.dir, *round)) {
                    notes.push(format!("{}本轮未联网上报（离线）", n.name));
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
                    if r == *round {
                        reported.add(n, units);
                    } else {
                        notes.push(format!(
                            "{}补报{} {units} 个单位（迟报）",
                            n.name,
                            round_zh(r)
                        ));
                    }
                }
                k.node(&nd, &["deliver"])?;
            }
            let mut line = format!(
                "  {}（截至{}）：{} 个考核主体填报证据、评分、签名上报 {} 个单位（{}）",
                round_zh(*round),
                date_zh(now)?,
                reported.nodes,
                reported.units,
                reported.forms()
            );
            for note in notes {
                line.push_str(&format!("；{note}"));
            }
            println!("{line}。");
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
        println!(
            "  {}向 {sent} 个单位通报反馈考核结果，起算核实和申请复核期限。",
            date_zh(y.notify)?
        );

        // 异议、更正、复核决定（2023 年度）
        let mut hub = hub.ok_or_else(|| anyhow!("没有上报轮次（no rounds）"))?;
        if y.objection {
            hub = self.objection(y, hub)?;
        }

        // 未报送单位免于考核、审定、公布、导出
        k.hub(&[
            "excuse",
            "--year",
            year,
            "--unit",
            county::UNREPORTED,
            "--reason",
            county::UNREPORTED_REASON,
            "--now",
            y.approve,
        ])?;
        println!(
            "  {}本年度免于考核，原因：{}。",
            county::name_of(county::UNREPORTED),
            county::UNREPORTED_REASON.trim_start_matches("示例：")
        );
        k.hub(&[
            "approve",
            "--year",
            year,
            "--doc-number",
            y.doc_number,
            "--now",
            y.approve,
        ])?;
        println!(
            "  {}县委、县政府审定考核结果（{}），该年度结果锁定。",
            date_zh(y.approve)?,
            y.doc_number
        );
        k.hub(&["publish-results", "--year", year, "--now", y.publish])?;
        println!(
            "  {}公布考核结果，导出通报、工作簿和文书。",
            date_zh(y.publish)?
        );
        // 各节点同步：见证并副署本年度透明日志的最终检查点
        for n in &self.nodes {
            k.node(&self.node_dir(n), &["sync", "--operator", OPERATOR])?;
        }
        let exports = self.dir.join(format!("exports-{year}"));
        k.hub(&["export", "--year", year, "--out", s(&exports)])?;
        self.verify_one(authorities, &exports)?;
        Ok(hub)
    }

    /// `kaohe verify` on one unit's proof bundle, offline, as anyone
    /// holding the published keys would run it; prints its verdict.
    fn verify_one(&self, authorities: &[(PathBuf, String)], exports: &Path) -> Result<()> {
        let bundle = exports.join(format!("proofs/{}.json", evidence::OBJECTION.0));
        let required = format!("{}-of", self.witness_keys.len().div_ceil(2));
        let mut args = vec!["verify", s(&bundle), "--hub", &self.hub_key];
        for (_, public) in authorities {
            args.extend(["--authority", public]);
        }
        args.extend(["--witnesses", &required]);
        args.extend(self.witness_keys.iter().map(String::as_str));
        let out = self.k.run(&args)?;
        // Its verdict, in the report's words: the unit by the name the
        // county gives it (its own parentheses made a name read back from
        // the verdict line come out as "示例数据）"), no glosses.
        let name = county::name_of(evidence::OBJECTION.0);
        println!("  用 kaohe verify 离线核验「{name}」的证明包：核验通过。");
        for l in out.lines().skip(1) {
            println!("  {}", l.trim().replace("注（note）：", "注："));
        }
        Ok(())
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
        let deadline = printed_after(&out, "复核决定截止（review decision deadline）：")?;
        println!(
            "  {}，{}对{}的结果申请复核并附证明材料（{}），复核决定截止{deadline}。",
            date_zh(y.object)?,
            office.name,
            county::name_of(unit),
            reason.trim_start_matches("示例：")
        );
        let hub = self.serve(Some(hub), y.correct)?;
        k.node(
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
        )?;
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
        println!("  同日更正该项证据为「{corrected}」，重新评分、签名上报。");
        k.hub(&[
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
        ])?;
        println!(
            "  {}作出复核决定：更正，依更正后的上报重新评定。",
            date_zh(y.decide)?
        );
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
}

/// What one round's on-time reports came to: how many nodes, units, and in
/// which form the evidence was filled.
#[derive(Default)]
struct Reported {
    nodes: usize,
    units: usize,
    excel: usize,
    csv: usize,
}

impl Reported {
    fn add(&mut self, n: &county::NodeSpec, units: usize) {
        self.nodes += 1;
        self.units += units;
        if n.assessor == "township" {
            self.csv += 1;
        } else {
            self.excel += 1;
        }
    }

    /// 「县级 3 个用 Excel 模板，乡镇 2 个用 CSV 模板」.
    fn forms(&self) -> String {
        let mut parts = Vec::new();
        if self.excel > 0 {
            parts.push(format!("县级 {} 个用 Excel 模板", self.excel));
        }
        if self.csv > 0 {
            parts.push(format!("乡镇 {} 个用 CSV 模板", self.csv));
        }
        parts.join("，")
    }
}
