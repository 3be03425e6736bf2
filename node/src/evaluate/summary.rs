//! What `kaohe node evaluate` shows: per unit its group scores and the
//! problems an official should see.

use kaohe_rulepacks::manifest::{IndicatorKind, Manifest};
use kaohe_rulepacks::rubric::decimal::format_hundredths;

use super::UnitResult;

impl UnitResult {
    /// Per group: signed sum of the evaluated indicators (scored and bonus
    /// add, penalty subtracts), `None` when none was evaluated.
    pub fn group_scores(&self, manifest: &Manifest) -> Vec<Option<i64>> {
        let mut out = vec![None; manifest.groups.len()];
        for (i, ind) in manifest.indicators.iter().enumerate() {
            let Some(Some(score)) = self.output.indicators.get(i) else {
                continue;
            };
            let Some(g) = manifest.group_index(&ind.group) else {
                continue;
            };
            let v = match ind.kind {
                IndicatorKind::Scored | IndicatorKind::Bonus => *score,
                IndicatorKind::Penalty => -*score,
                IndicatorKind::Flag => 0,
            };
            out[g] = Some(out[g].unwrap_or(0) + v);
        }
        out
    }

    /// Problems an official should see: the unit's error, raised flags,
    /// and the items marked not applicable (so a mark is never unseen).
    pub fn problems(&self, manifest: &Manifest) -> Vec<String> {
        let mut out = Vec::new();
        if !self.output.status.is_ok() {
            out.push(self.output.status.describe(manifest));
        }
        for (id, reason) in &self.job.not_applicable {
            out.push(format!("{id} 不适用：{reason}"));
        }
        for (i, ind) in manifest.indicators.iter().enumerate() {
            if ind.kind == IndicatorKind::Flag
                && let Some(Some(v)) = self.output.indicators.get(i)
                && *v != 0
                && let Some(flag) = ind.flag
            {
                out.push(format!("{}（{}）", flag.name_zh(), ind.id));
            }
        }
        out
    }
}

/// The Chinese summary table: unit, per-group scores, problems.
pub fn summary(manifest: &Manifest, results: &[UnitResult]) -> String {
    let groups: Vec<usize> = (0..manifest.groups.len())
        .filter(|&g| {
            results
                .iter()
                .any(|r| r.group_scores(manifest)[g].is_some())
        })
        .collect();
    let mut header = vec![
        "单位编号".to_string(),
        "单位名称".to_string(),
        "轮次".to_string(),
    ];
    header.extend(groups.iter().map(|&g| manifest.groups[g].id.clone()));
    header.push("问题（problems）".to_string());
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let scores = r.group_scores(manifest);
            let mut row = vec![
                r.job.unit.unit_id.clone(),
                r.job.unit.name.clone(),
                r.job.round.name_zh().to_string(),
            ];
            row.extend(groups.iter().map(|&g| {
                scores[g]
                    .map(format_hundredths)
                    .unwrap_or_else(|| "—".into())
            }));
            let problems = r.problems(manifest);
            row.push(if problems.is_empty() {
                "无".into()
            } else {
                problems.join("；")
            });
            row
        })
        .collect();
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut out = kaohe_tables::terminal::render(&header_refs, &rows);
    let legend: Vec<String> = groups
        .iter()
        .map(|&g| format!("{} = {}", manifest.groups[g].id, manifest.groups[g].name))
        .collect();
    if !legend.is_empty() {
        out.push_str(&format!("分组（groups）：{}\n", legend.join("；")));
    }
    out
}
