//! `kaohe hub results`: a year consolidated now — rankings, grades, late
//! and unassessed units, the use of results — and whether it is still what
//! was approved.

use jiff::Timestamp;
use kaohe_rulepacks::manifest::Manifest;
use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;
use kaohe_tables::terminal;

use super::Invocation;
use crate::calendar;
use crate::consolidate::Assessment;
use crate::results::ConsolidatedYear;
use crate::workflow;

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
    let conn = inv.open()?;
    let y = inv.consolidate(&conn, year)?;
    print!("{}", render_results(&y, category.as_deref()));
    if let Some(approval) = workflow::approval_record(&conn, year)? {
        let (doc, at) = (&approval.doc_number, &approval.approved_at);
        if approval.approves(&y.consolidation) {
            println!("\n已审定（文号 {doc}，{at}），当前汇总与审定时一致。");
        } else {
            println!(
                "\n注意：已审定（文号 {doc}，{at}），但当前汇总与审定时不同（审定后有改动）。"
            );
        }
    }
    Ok(())
}

/// The `hub results` text: ranking tables of ranked categories, grade
/// counts of the others, late and not-assessed units, outcomes. Pure.
pub fn render_results(y: &ConsolidatedYear, category: Option<&str>) -> String {
    let (c, o, manifest) = (&y.consolidation, &y.outcomes, y.manifest());
    let mut out = format!(
        "{} 年度考核结果（规则包 {}-{} 第 {} 版）\n",
        c.year, c.pack.id, c.pack.year, c.pack.version
    );
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
    let mut missing = Vec::new();
    for u in &c.units {
        if category.is_some_and(|x| x != u.category) {
            continue;
        }
        match &u.assessment {
            Assessment::NotAssessed { gaps } => missing.push(vec![
                u.unit_id.clone(),
                u.name.clone(),
                "未考核".into(),
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
    out
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
    use super::bottom_rule_note;

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
