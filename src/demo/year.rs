//! One year of the demo as the actors live it: the pack signed and
//! published, the roster, the rounds reported (one node offline across a
//! round), the notice, the objection and its review, the approval, the
//! publication and the exports.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use kaohe_rulepacks::manifest::Round;

use super::process::HubServer;
use super::{Demo, OPERATOR, Year, county, evidence, print_first, round_key, round_zh, s};

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
        println!("\n{ordinal}、{year} 年度");

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
}
