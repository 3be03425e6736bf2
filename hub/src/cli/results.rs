//! `kaohe hub results`: a year consolidated now — rankings, grades, late
//! and unassessed units, results awaiting re-evaluation under a newer pack
//! (待重新评价), the quarterly leaderboards (党建引领·比拼四季), the use of
//! results with a warning for commended units without a principal — and
//! the year's approvals, and whether the one in force still approves it.

use std::collections::BTreeMap;

use anyhow::Context as _;
use jiff::Timestamp;
use kaohe_rulepacks::manifest::Manifest;
use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;
use kaohe_tables::terminal;

use super::Invocation;
use crate::calendar;
use crate::consolidate::{Assessment, Detail, GapKind};
use crate::export::model::board_tables;
use crate::lock::{self, Approval};
use crate::registry::nodes;
use crate::results::ConsolidatedYear;

#[derive(Debug, clap::Args)]
pub struct ResultsArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    pub year: i32,
    /// 只显示这一类别（category id）
    #[arg(long, value_name = "类别")]
    pub category: Option<String>,
}

pub(super) fn run(
    inv: &Invocation,
    ResultsArgs { year, category }: ResultsArgs,
) -> anyhow::Result<()> {
    let db = inv.open()?;
    // The printout and the digest are of the database at one instant, even
    // while the hub ingests beside this command.
    let conn = db.unchecked_transaction()?;
    // Nothing printed reads a unit's indicators or fired clauses: without
    // them a national year fits in memory (issue #17).
    let y = inv.consolidate_with(&conn, year, Detail::Lean)?;
    {
        use std::io::Write as _;
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        let mut failed = None;
        write_results(&y, category.as_deref(), &mut |part| {
            if failed.is_none() {
                failed = stdout.write_all(part.as_bytes()).err();
            }
        });
        match failed {
            Some(e) => Err(e),
            None => stdout.flush(),
        }
        .context("输出考核结果（write the results）")?;
    }
    let names: BTreeMap<String, String> = nodes::list_nodes(&conn)?
        .into_iter()
        .map(|n| (n.id.to_string(), n.name))
        .collect();
    print!("{}", render_rulings_needed(&y, &names));
    // The digest (a pass over the whole year's JSON) only when there is an
    // approval to compare it with.
    let approvals = lock::of_year(&conn, year)?;
    if !approvals.is_empty() {
        print!(
            "{}",
            render_approvals(
                &approvals,
                &y.data.sha256(&conn, &y.consolidation, y.detail)?
            )
        );
    }
    Ok(())
}

/// The year's approvals, oldest first, and whether the one in force still
/// approves the year as it consolidates now (`digest`). Pure.
pub fn render_approvals(approvals: &[Approval], digest: &str) -> String {
    let mut out = String::new();
    if approvals.is_empty() {
        return out;
    }
    out.push_str("\n【审定记录】\n");
    let doc_of = |id: i64| {
        approvals
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.doc_number.clone())
            .unwrap_or_else(|| id.to_string())
    };
    for a in approvals {
        let replaces = a
            .replaces
            .map(|id| format!("，替代文号 {}", doc_of(id)))
            .unwrap_or_default();
        match &a.reopened {
            Some(r) => out.push_str(&format!(
                "文号 {}：{} 审定{replaces}；已于 {} 由 {} 撤销审定，原因：{}\n",
                a.doc_number,
                a.approved_on(),
                beijing_at(&r.at),
                r.by,
                r.reason
            )),
            None if a.approves(digest) => out.push_str(&format!(
                "文号 {}：{} 审定{replaces}（现行），当前汇总与审定时一致。\n",
                a.doc_number,
                a.approved_on()
            )),
            None => out.push_str(&format!(
                "注意：文号 {}：{} 审定{replaces}（现行），但当前汇总与审定时不同，导出将被拒绝。\n",
                a.doc_number,
                a.approved_on()
            )),
        }
    }
    if approvals.iter().all(|a| a.reopened.is_some()) {
        out.push_str("审定已撤销，须重新审定（kaohe hub approve）后才能导出和公布。\n");
    }
    out
}

fn beijing_at(at: &str) -> String {
    at.parse::<Timestamp>()
        .map(calendar::beijing_day)
        .unwrap_or_else(|_| at.to_owned())
}

/// The `hub results` text: ranking tables of ranked categories, grade
/// counts of the others, late and not-assessed units, outcomes. Pure.
pub fn render_results(y: &ConsolidatedYear, category: Option<&str>) -> String {
    let mut text = String::new();
    write_results(y, category, &mut |part| text.push_str(part));
    text
}

/// Where [`write_results`] writes, a part at a time.
struct Sink<'w>(&'w mut dyn FnMut(&str));

impl Sink<'_> {
    fn push_str(&mut self, part: &str) {
        (self.0)(part);
    }
}

/// [`render_results`] handed to `write` a section at a time, so that a
/// national year's printout is never held whole (issue #17).
pub fn write_results(y: &ConsolidatedYear, category: Option<&str>, write: &mut dyn FnMut(&str)) {
    let (c, o, manifest) = (&y.consolidation, &y.outcomes, y.manifest());
    let mut out = Sink(write);
    out.push_str(&format!(
        "{} 年度考核结果（规则包 {}-{} 第 {} 版）\n",
        c.year, c.pack.id, c.pack.year, c.pack.version
    ));
    for cat in &manifest.categories {
        if category.is_some_and(|x| x != cat.id) {
            continue;
        }
        let units: Vec<_> = c.units.iter().filter(|u| u.category == cat.id).collect();
        if units.is_empty() {
            continue;
        }
        if let Some(r) = c.ranking(&cat.id).filter(|_| cat.ranked) {
            out.push_str(&format!("\n【{}】评定等次并排名\n", cat.name));
            let rows: Vec<Vec<String>> = r
                .entries
                .iter()
                .map(|e| {
                    let late = c
                        .unit(&e.unit_id)
                        .is_some_and(|u| !u.late_reports.is_empty());
                    vec![
                        format!("{}{}", e.rank, if e.tied { "（并列）" } else { "" }),
                        e.unit_id.clone(),
                        e.name.clone(),
                        format_hundredths_fixed(e.total),
                        grade_name(manifest, &e.grade),
                        if late { "迟报".into() } else { String::new() },
                    ]
                })
                .collect();
            out.push_str(&terminal::render(
                &["名次", "编号", "单位", "总分", "等次", "备注"],
                &rows,
            ));
            out.push_str(&bottom_rule_note(manifest, r.entries.len()));
        } else {
            out.push_str(&format!("\n【{}】只评定等次\n", cat.name));
            let rows: Vec<Vec<String>> = manifest
                .composition
                .grades
                .iter()
                .map(|g| {
                    let names: Vec<&str> = units
                        .iter()
                        .filter(|u| u.scored().is_some_and(|s| s.grade == g.id))
                        .map(|u| u.name.as_str())
                        .collect();
                    vec![g.name.clone(), names.len().to_string(), names.join("、")]
                })
                .collect();
            out.push_str(&terminal::render(&["等次", "单位数", "单位"], &rows));
        }
    }
    let late: Vec<Vec<String>> = c
        .completeness
        .late
        .iter()
        .filter(|l| category.is_none_or(|x| c.unit(&l.unit_id).is_some_and(|u| u.category == x)))
        .map(|l| {
            vec![
                l.unit_id.clone(),
                l.unit_name.clone(),
                format!("{}{}", l.method_name, l.round.name_zh()),
                Timestamp::from_second(l.received_at)
                    .map(calendar::beijing_day)
                    .unwrap_or_default(),
            ]
        })
        .collect();
    if !late.is_empty() {
        out.push_str("\n【迟报单位】（已计入考核）\n");
        out.push_str(&terminal::render(
            &["编号", "单位", "上报", "提交日期"],
            &late,
        ));
    }
    let stale = &y.data.reevaluation;
    let mut missing = Vec::new();
    for u in &c.units {
        if category.is_some_and(|x| x != u.category) {
            continue;
        }
        let awaiting = stale.iter().any(|r| r.unit_id == u.unit_id);
        match &u.assessment {
            Assessment::NotAssessed { gaps } => missing.push(vec![
                u.unit_id.clone(),
                u.name.clone(),
                if awaiting {
                    "待重新评价"
                } else {
                    "未考核"
                }
                .into(),
                gaps.iter()
                    .map(|g| g.message.as_str())
                    .collect::<Vec<_>>()
                    .join("；"),
            ]),
            Assessment::Excused { reason } => missing.push(vec![
                u.unit_id.clone(),
                u.name.clone(),
                "免于考核".into(),
                reason.clone(),
            ]),
            Assessment::Assessed(_) => {}
        }
    }
    if !missing.is_empty() {
        out.push_str("\n【未考核单位】（不计 0 分）\n");
        out.push_str(&terminal::render(
            &["编号", "单位", "状态", "缺少什么 / 原因"],
            &missing,
        ));
    }
    let marked: Vec<Vec<String>> = c
        .units
        .iter()
        .filter(|u| category.is_none_or(|x| x == u.category))
        .filter_map(|u| u.scored().map(|s| (u, s)))
        .flat_map(|(u, s)| {
            s.not_applicable.iter().map(move |n| {
                vec![
                    u.unit_id.clone(),
                    u.name.clone(),
                    format!("{} {}", n.indicator_id, n.name),
                    format_hundredths_fixed(n.points),
                    n.reason.clone(),
                    format_hundredths_fixed(s.applicable),
                ]
            })
        })
        .collect();
    if !marked.is_empty() {
        out.push_str(
            "
【不适用的考核内容】（应考分值相应减少，按实际得分换算，考核方案五）
",
        );
        out.push_str(&terminal::render(
            &["编号", "单位", "指标", "分值", "不适用理由", "应考分值"],
            &marked,
        ));
    }
    let stale_rows: Vec<Vec<String>> = stale
        .iter()
        .filter(|r| category.is_none_or(|x| c.unit(&r.unit_id).is_some_and(|u| u.category == x)))
        .map(|r| {
            vec![
                r.unit_id.clone(),
                c.unit(&r.unit_id)
                    .map(|u| u.name.clone())
                    .unwrap_or_default(),
                format!(
                    "{}{}",
                    method_name(manifest, &r.method_id),
                    r.round.name_zh()
                ),
                format!("第 {} 版", r.computed_under),
            ]
        })
        .collect();
    if !stale_rows.is_empty() {
        out.push_str(&format!(
            "\n【待重新评价】规则包已更新为第 {} 版，下列结果按旧版计算，不计入汇总，审定前须由有关节点同步后按新版重新上报（节点同步时自动完成）\n",
            c.pack.version
        ));
        out.push_str(&terminal::render(
            &["编号", "单位", "上报", "原按"],
            &stale_rows,
        ));
    }
    // One category's boards at a time: a national year's boards, copied
    // into the export model all at once, weighed more than the year.
    let mut board_categories: Vec<&str> = Vec::new();
    for b in &c.leaderboards {
        if !board_categories.contains(&b.category_name.as_str())
            && category.is_none_or(|x| {
                manifest
                    .category_index(x)
                    .is_some_and(|i| manifest.categories[i].name == b.category_name)
            })
        {
            board_categories.push(&b.category_name);
        }
    }
    for (name, rows) in board_categories.into_iter().flat_map(|name| {
        let boards: Vec<_> = c
            .leaderboards
            .iter()
            .filter(|b| b.category_name == name)
            .map(|b| crate::results::leaderboard(c, b))
            .collect();
        board_tables(&boards)
    }) {
        out.push_str(&format!(
            "\n【党建引领·比拼四季】{name}（季度得分与名次）\n"
        ));
        out.push_str(&terminal::render(
            &["单位", "第一季度", "第二季度", "第三季度", "第四季度"],
            &rows,
        ));
    }
    let notices: Vec<Vec<String>> = o
        .notices
        .iter()
        .filter(|n| category.is_none_or(|x| c.unit(&n.unit_id).is_some_and(|u| u.category == x)))
        .map(|n| {
            vec![
                n.kind.name_zh().to_string(),
                n.unit_name.clone(),
                n.issued_by.clone(),
                n.reasons.join("；"),
            ]
        })
        .collect();
    if !notices.is_empty() {
        out.push_str("\n【结果运用】\n");
        out.push_str(&terminal::render(
            &["类别", "单位", "发出单位", "原因"],
            &notices,
        ));
    }
    // 通报表扬 names the unit and its principal (考核方案 六（二）).
    let unnamed: Vec<String> = y
        .commended_without_principal()
        .into_iter()
        .filter(|(id, _)| category.is_none_or(|x| c.unit(id).is_some_and(|u| u.category == x)))
        .map(|(id, name)| format!("{name}（{id}）"))
        .collect();
    if !unnamed.is_empty() {
        out.push_str(&format!(
            "\n注意：下列受通报表扬的单位在名册中没有登记主要负责人，表扬文书中将留下待填的空白；请在审定前于名册“主要负责人”一列补登后重新导入，或在文书中填写：{}\n",
            unnamed.join("、")
        ));
    }
}

/// A line for the office to confirm when a ranking is too small for the
/// scheme's "last three": the pack's `warn_bottom_share` decides how many
/// places are warned (ASSUMPTIONS A-30d), an assumption the scheme does not
/// state.
fn bottom_rule_note(manifest: &Manifest, ranked: usize) -> String {
    let o = &manifest.outcomes;
    if !o.share_limits_warnings(ranked) {
        return String::new();
    }
    let share = o
        .warn_bottom_share
        .unwrap_or(kaohe_rulepacks::manifest::DEFAULT_WARN_BOTTOM_SHARE);
    let warned = match o.warned_places(ranked) {
        0 => "不作末位通报警示".to_owned(),
        k => format!("只对末 {k} 名通报警示"),
    };
    format!(
        "请依法治县办确认：本类别参加排名的只有 {ranked} 个单位，按细则{warned}（至多为参加排名单位数的 {share}%，向下取整），而不是末 {} 名（bottom-n rule for a small ranking: to be confirmed）\n",
        o.warn_bottom
    )
}

/// For every slot two or more nodes reported: which nodes, and the
/// `kaohe hub ruling` command that settles it. Empty when there is none.
pub fn render_rulings_needed(
    y: &ConsolidatedYear,
    node_names: &BTreeMap<String, String>,
) -> String {
    let c = &y.consolidation;
    let mut out = String::new();
    for u in &c.units {
        let Assessment::NotAssessed { gaps } = &u.assessment else {
            continue;
        };
        for gap in gaps {
            let GapKind::DuplicateReport {
                method_id,
                round,
                nodes,
            } = &gap.what
            else {
                continue;
            };
            if out.is_empty() {
                out.push_str(
                    "\n【待裁定的重复上报】同一项结果由两个以上节点上报，须由县依法治县办裁定采用哪一份（kaohe hub ruling）：\n",
                );
            }
            let named: Vec<String> = nodes
                .iter()
                .map(|id| match node_names.get(id) {
                    Some(name) => format!("「{name}」（{id}）"),
                    None => id.clone(),
                })
                .collect();
            out.push_str(&format!(
                "  {}（{}）{}{}：{}\n    kaohe hub ruling --year {} --unit {} --round {} --method {method_id} --node <节点编号> --reason <理由>\n",
                u.name,
                u.unit_id,
                method_name(y.manifest(), method_id),
                round.name_zh(),
                named.join("、"),
                c.year,
                u.unit_id,
                round.id(),
            ));
        }
    }
    out
}

fn method_name(manifest: &Manifest, id: &str) -> String {
    manifest
        .method_index(id)
        .map(|m| manifest.methods[m].name.clone())
        .unwrap_or_else(|| id.to_owned())
}

fn grade_name(manifest: &Manifest, id: &str) -> String {
    manifest
        .composition
        .grades
        .iter()
        .find(|g| g.id == id)
        .map(|g| g.name.clone())
        .unwrap_or_else(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use kaohe_proto::submission::PackIdentity;
    use kaohe_rulepacks::manifest::Round;
    use kaohe_rulepacks::pack::{self, Pack};
    use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};

    use super::*;
    use crate::results::{Reevaluation, ResultSource, YearData};

    /// The golden county through the compiled 2022 pack, with D6's
    /// satisfaction computed under an older version and only T1 of the
    /// commended units (T1, D1, H1) with a principal on the roster.
    fn golden_year() -> ConsolidatedYear {
        let g = crate::consolidate::golden::county();
        let module = kaohe_rulepacks::compile::compile(&g.rubric).unwrap();
        let m = g.manifest();
        let identity = PackIdentity {
            id: m.pack.id.clone(),
            year: u16::try_from(m.pack.year).unwrap(),
            version: m.pack.version,
            module_sha256: pack::sha256(&module),
        };
        let runtime = Runtime::new(RuntimeConfig {
            max_concurrent_instances: 2,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let mut roster = g.roster.clone();
        roster.units.get_mut("T1").unwrap().principal = Some("李某某".into());
        let data = YearData {
            year: 2022,
            pack: Pack::load(&runtime, &module, &identity).unwrap(),
            roster,
            results: ResultSource::Held(g.results.clone()),
            decisions: g.decisions.clone(),
            history: g.history.clone(),
            reevaluation: vec![Reevaluation {
                unit_id: "D6".into(),
                method_id: "satisfaction".into(),
                round: Round::Annual,
                node_id: "n1".into(),
                computed_under: 1,
                current: 2,
            }],
        };
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let consolidation = data.consolidate(&conn, Detail::Full).unwrap();
        let outcomes = data.outcomes(&consolidation);
        ConsolidatedYear {
            data,
            consolidation,
            outcomes,
            detail: Detail::Full,
        }
    }

    /// Issue #17: `hub results` consolidates lean (no per-indicator
    /// detail held); it prints what the full consolidation prints, and its
    /// digest — compared with the approval's — is the full one's.
    #[test]
    fn lean_results_print_and_digest_as_the_full_consolidation() {
        let y = golden_year();
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let lean = y.data.consolidate(&conn, Detail::Lean).unwrap();
        assert!(lean.units.iter().any(|u| u.scored().is_some()));
        assert!(
            lean.units
                .iter()
                .filter_map(|u| u.scored())
                .all(|s| s.indicators.is_empty())
        );
        assert_eq!(
            y.data.sha256(&conn, &lean, Detail::Lean).unwrap(),
            y.consolidation.sha256()
        );
        let full_text = render_results(&y, None);
        let outcomes = y.data.outcomes(&lean);
        let lean_year = ConsolidatedYear {
            consolidation: lean,
            outcomes,
            detail: Detail::Lean,
            ..y
        };
        assert_eq!(render_results(&lean_year, None), full_text);
    }

    /// Issue #13: the quarterly leaderboard was computed and never shown;
    /// a superseded pack's result read as plain 未考核; a commendation
    /// without a principal went unnoticed.
    #[test]
    fn results_show_leaderboards_what_awaits_reevaluation_and_commended_units_without_a_principal()
    {
        let y = golden_year();
        let text = render_results(&y, None);
        let boards: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("【党建引领·比拼四季】"))
            .collect();
        assert_eq!(boards.len(), 3, "one per ranked category:\n{text}");
        assert!(
            text.contains("第一季度") && text.contains("第四季度"),
            "{text}"
        );

        let stale = text
            .split("\n\n")
            .find(|s| s.trim_start().starts_with("【待重新评价】"))
            .unwrap_or_else(|| panic!("no 待重新评价 section:\n{text}"));
        assert!(stale.contains("D6") && stale.contains("第 1 版"), "{stale}");
        let d6 = text
            .lines()
            .find(|l| l.starts_with("D6 "))
            .unwrap_or_else(|| panic!("no D6 row:\n{text}"));
        assert!(d6.contains("待重新评价"), "{d6}");

        let warning = text
            .lines()
            .find(|l| l.contains("没有登记主要负责人"))
            .unwrap_or_else(|| panic!("no principal warning:\n{text}"));
        assert!(
            warning.contains("（D1）") && warning.contains("（H1）"),
            "{warning}"
        );
        assert!(!warning.contains("（T1）"), "T1 has one: {warning}");

        // Only the category asked for.
        let townships = render_results(&y, Some("township"));
        assert_eq!(
            townships
                .lines()
                .filter(|l| l.starts_with("【党建引领·比拼四季】"))
                .count(),
            1
        );
        assert!(!townships.contains("【待重新评价】"), "D6 is a department");
    }

    #[test]
    fn a_ranking_too_small_for_the_last_three_is_flagged_for_the_office() {
        let r = kaohe_rulepacks::rubric::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../rulepacks/baofeng-2022/rubric.toml"),
        )
        .unwrap();
        let m = &r.manifest;
        for ranked in [6, 16, 40] {
            assert_eq!(bottom_rule_note(m, ranked), "", "{ranked} units");
        }
        assert!(bottom_rule_note(m, 1).contains("不作末位通报警示"));
        for (ranked, warned) in [(2, 1), (3, 1), (4, 2), (5, 2)] {
            let note = bottom_rule_note(m, ranked);
            assert!(
                note.contains("请依法治县办确认")
                    && note.contains(&format!("只有 {ranked} 个单位"))
                    && note.contains(&format!("只对末 {warned} 名通报警示")),
                "{note}"
            );
        }
    }
}
