//! Stage 6, replay: the hub runs the current pack on the evidence inside a
//! submission and requires the node's numbers exactly.
//!
//! How a submission maps onto the pack ABI (ABI.md §2) — the node builds its
//! submissions the same way:
//!
//! - **category**: the unit's category in the hub's roster of that year
//!   (never a value the node sends), as its index in `manifest.categories`;
//! - **round**: the submission's round (annual = 0, Q1..Q4 = 1..4); a method
//!   whose `quarterly` flag does not fit the round is refused;
//! - **methods**: one bit per method block, `manifest.methods` order;
//! - **fields**: each block's evidence, by field id → manifest index; a
//!   field must belong to its block's method (`fields[].method`); a value
//!   `None` and a field not sent are both "absent";
//! - **not applicable** (ABI 1.1): each block's marks, by indicator id → the
//!   indicator's mark, which must be an indicator of the block's method; the
//!   pack itself refuses a mark its rubric does not allow (status 7), and a
//!   marked indicator has no score to compare. The reasons are the node's
//!   text, stored and printed, not compared;
//! - **expected output**: for every indicator the pack evaluates, its score
//!   must be in the block of the indicator's method; for every clause that
//!   fires, its id, amount and reason text (the rubric's, as the manifest
//!   carries it) in that block; nothing else may be there. A reason the
//!   node changed would put words in the published result that the pack
//!   never said, so it is a mismatch like any other.
//!
//! One `kaohe_evaluate` call replays a whole batch; if the call fails (a
//! trap, fuel), each unit is replayed alone so one bad unit refuses only
//! itself. The evaluator is the current [`Pack`](kaohe_rulepacks::pack::Pack)
//! in production; anything implementing [`Evaluator`] (the reference
//! interpreter) replays the same way.

use std::collections::HashMap;

use kaohe_proto::model::{Rejection, RejectionCode};
use kaohe_proto::submission::Submission;
use kaohe_rulepacks::abi::{UnitInput, UnitOutput, UnitStatus};
use kaohe_rulepacks::manifest::{self, Manifest};
use kaohe_rulepacks::pack::{Evaluator, PackError};
use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;

use super::checks::method_label;
use super::snapshot::ReplayView;
use super::verify::{Ahead, Candidate};

/// Stage 6 ahead of the writer, on a verify worker: each candidate that
/// verified, names a usable current pack of `view` and a unit of that
/// year's roster is replayed (one pack call per pack) and carries its
/// verdict in [`Candidate::ahead`]. The writer re-checks stages 4–5 and
/// uses the verdict only if they give the same pack, category and unit
/// name; anything else is replayed in the writer as before. This moves the
/// pack's work off the single writer onto every core.
pub fn ahead(view: &ReplayView, candidates: &mut [Candidate]) {
    let mut groups: HashMap<(String, u16), Vec<usize>> = HashMap::new();
    for (k, c) in candidates.iter().enumerate() {
        let Ok(v) = &c.verified else { continue };
        let sub = &v.submission;
        let key = (sub.pack.id.clone(), sub.pack.year);
        let usable = view
            .packs
            .get(&key)
            .is_some_and(|a| a.identity() == &sub.pack)
            && view
                .rosters
                .get(&i32::from(sub.year))
                .is_some_and(|r| r.get(&sub.unit_id).is_some());
        if usable {
            groups.entry(key).or_default().push(k);
        }
    }
    for (key, members) in groups {
        let Some(active) = view.packs.get(&key) else {
            continue;
        };
        let units: Vec<(&Submission, &crate::registry::units::UnitRecord)> = members
            .iter()
            .filter_map(|&k| {
                let sub = &candidates[k].verified.as_ref().ok()?.submission;
                let unit = view.rosters.get(&i32::from(sub.year))?.get(&sub.unit_id)?;
                Some((sub, unit))
            })
            .collect();
        if units.len() != members.len() {
            continue;
        }
        let batch: Vec<Replayed<'_>> = units
            .iter()
            .map(|(submission, unit)| Replayed {
                submission,
                unit_name: &unit.name,
                category: &unit.category,
            })
            .collect();
        let verdicts = replay_batch(&active.pack, &batch);
        let found: Vec<Ahead> = units
            .iter()
            .zip(verdicts)
            .map(|((_, unit), verdict)| Ahead {
                pack: active.identity().clone(),
                category: unit.category.clone(),
                unit_name: unit.name.clone(),
                verdict,
            })
            .collect();
        drop(batch);
        drop(units);
        for (&k, a) in members.iter().zip(found) {
            candidates[k].ahead = Some(a);
        }
    }
}

/// One submission to replay, with what the hub's roster says of its unit.
#[derive(Debug, Clone, Copy)]
pub struct Replayed<'a> {
    pub submission: &'a Submission,
    /// The unit's Chinese name, for messages.
    pub unit_name: &'a str,
    /// The unit's category id in that year's roster.
    pub category: &'a str,
}

impl Replayed<'_> {
    fn unit(&self) -> String {
        format!("单位 {}（{}）", self.submission.unit_id, self.unit_name)
    }
}

/// Replays a batch under one pack: one verdict per submission, in order.
pub fn replay_batch(pack: &dyn Evaluator, batch: &[Replayed<'_>]) -> Vec<Result<(), Rejection>> {
    let manifest = pack.manifest();
    let inputs: Vec<Result<UnitInput, Rejection>> =
        batch.iter().map(|r| unit_input(manifest, r)).collect();
    let ready: Vec<UnitInput> = inputs
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .cloned()
        .collect();
    let in_order: Vec<Result<Option<UnitOutput>, PackError>> = match pack.evaluate(&ready) {
        Ok(outs) if outs.len() == ready.len() => outs.into_iter().map(|o| Ok(Some(o))).collect(),
        // Find the unit that broke the batch: each alone.
        _ => ready
            .iter()
            .map(|u| pack.evaluate(std::slice::from_ref(u)).map(|mut o| o.pop()))
            .collect(),
    };
    let mut outputs: Vec<Result<Option<UnitOutput>, PackError>> =
        in_order.into_iter().rev().collect();
    batch
        .iter()
        .zip(inputs)
        .map(|(r, input)| {
            input?;
            match outputs.pop() {
                Some(Ok(Some(output))) => compare(manifest, r, &output),
                Some(Err(e)) => Err(Rejection {
                    code: RejectionCode::ReplayMismatch,
                    message: format!(
                        "{}：规则包 {} 复算时出错，无法核对上报分数（the pack failed while replaying）：{e}",
                        r.unit(),
                        manifest.pack
                    ),
                    field: Some("submission.methods".to_owned()),
                }),
                Some(Ok(None)) | None => Err(Rejection::new(
                    RejectionCode::ReplayMismatch,
                    format!("{}：复算结果缺失（replay output missing）", r.unit()),
                )),
            }
        })
        .collect()
}

/// The ABI input of one submission (see the module docs for the mapping).
pub fn unit_input(manifest: &Manifest, r: &Replayed<'_>) -> Result<UnitInput, Rejection> {
    let sub = r.submission;
    let invalid = |message: String, field: String| Rejection {
        code: RejectionCode::Invalid,
        message,
        field: Some(field),
    };
    let category = manifest.category_index(r.category).ok_or_else(|| {
        invalid(
            format!(
                "{} 在名册中的类别「{}」不是规则包 {}-{} 的考核类别，无法复算；请核对名册（unit category not in the pack）",
                r.unit(),
                r.category,
                manifest.pack.id,
                manifest.pack.year
            ),
            "submission.unit_id".to_owned(),
        )
    })?;
    let round = manifest::Round::from_code(sub.round.abi_code()).ok_or_else(|| {
        invalid(
            format!("{}：轮次无效（invalid round）", r.unit()),
            "submission.round".to_owned(),
        )
    })?;
    let mut mask = 0u32;
    let mut values = vec![None; manifest.fields.len()];
    let mut not_applicable = vec![false; manifest.indicators.len()];
    for (b, block) in sub.methods.iter().enumerate() {
        let m = manifest.method_index(&block.method_id).ok_or_else(|| {
            invalid(
                format!(
                    "{}：规则包 {}-{} 中没有考核方式「{}」（unknown method）",
                    r.unit(),
                    manifest.pack.id,
                    manifest.pack.year,
                    block.method_id
                ),
                format!("submission.methods[{b}].method_id"),
            )
        })?;
        let method = &manifest.methods[m];
        if method.quarterly != round.is_quarter() {
            let how = if method.quarterly {
                "按季度评价"
            } else {
                "按年度评价"
            };
            return Err(invalid(
                format!(
                    "{}：考核方式 {} {how}，不能在{}上报（method does not fit the round）",
                    r.unit(),
                    method_label(&block.method_id),
                    round.name_zh()
                ),
                format!("submission.methods[{b}].method_id"),
            ));
        }
        mask |= 1u32 << m;
        for (field_id, value) in &block.evidence {
            let field = format!("submission.methods[{b}].evidence[{field_id}]");
            let f = manifest.field_index(field_id).ok_or_else(|| {
                invalid(
                    format!(
                        "{}：规则包中没有证据字段「{field_id}」（unknown evidence field）",
                        r.unit()
                    ),
                    field.clone(),
                )
            })?;
            let def = &manifest.fields[f];
            if def.method != block.method_id {
                return Err(invalid(
                    format!(
                        "{}：证据字段 {field_id}（{}）属于考核方式 {}，不能放在 {} 中上报（field belongs to another method）",
                        r.unit(),
                        def.label,
                        method_label(&def.method),
                        method_label(&block.method_id)
                    ),
                    field,
                ));
            }
            values[f] = *value;
        }
        for indicator_id in block.not_applicable.keys() {
            let field = format!("submission.methods[{b}].not_applicable[{indicator_id}]");
            let i = manifest
                .indicator_index(indicator_id)
                .filter(|&i| manifest.indicators[i].method == block.method_id)
                .ok_or_else(|| {
                    invalid(
                        format!(
                            "{}：标记为不适用的指标「{indicator_id}」不是考核方式 {} 的指标（not-applicable mark on an unknown indicator or another method's）",
                            r.unit(),
                            method_label(&block.method_id)
                        ),
                        field.clone(),
                    )
                })?;
            if !manifest.has_not_applicable() {
                return Err(invalid(
                    format!(
                        "{}：规则包 {} 不支持标记“不适用”，不能复算（the pack predates not-applicable marks）",
                        r.unit(),
                        manifest.pack
                    ),
                    field,
                ));
            }
            not_applicable[i] = true;
        }
    }
    Ok(UnitInput {
        category: category as u32,
        round,
        methods: mask,
        values,
        not_applicable: if not_applicable.iter().any(|&na| na) {
            not_applicable
        } else {
            Vec::new()
        },
    })
}

/// Compares the node's numbers with the replay's: every evaluated
/// indicator's score and every fired clause's amount and reason, exactly.
pub fn compare(manifest: &Manifest, r: &Replayed<'_>, out: &UnitOutput) -> Result<(), Rejection> {
    let sub = r.submission;
    let mismatch = |message: String, field: String| Rejection {
        code: RejectionCode::ReplayMismatch,
        message,
        field: Some(field),
    };
    if out.status != UnitStatus::Ok {
        let code = match out.status {
            UnitStatus::MissingField(_)
            | UnitStatus::InvalidInput(_)
            | UnitStatus::NotApplicableRefused(_) => RejectionCode::Invalid,
            _ => RejectionCode::ReplayMismatch,
        };
        return Err(Rejection {
            code,
            message: format!(
                "{}：按上报的证据复算不能得出结果：{}（replay failed on this evidence）",
                r.unit(),
                out.status.describe(manifest)
            ),
            field: Some("submission.methods".to_owned()),
        });
    }
    let block_of = |method: &str| sub.methods.iter().position(|b| b.method_id == method);
    // Every evaluated indicator: its score, exactly.
    for (i, score) in out.indicators.iter().enumerate() {
        let Some(expected) = score else { continue };
        let ind = &manifest.indicators[i];
        let Some(b) = block_of(&ind.method) else {
            return Err(mismatch(
                format!(
                    "{}：复算评价了指标 {}（{}），但提交中没有考核方式 {} 的结果（indicator of a method not submitted）",
                    r.unit(),
                    ind.id,
                    ind.name,
                    method_label(&ind.method)
                ),
                "submission.methods".to_owned(),
            ));
        };
        match sub.methods[b].scores.get(&ind.id) {
            None => {
                return Err(mismatch(
                    format!(
                        "{}：指标 {}（{}）复算得 {} 分，提交中没有该指标的得分（indicator missing）",
                        r.unit(),
                        ind.id,
                        ind.name,
                        format_hundredths_fixed(*expected)
                    ),
                    format!("submission.methods[{b}].scores"),
                ));
            }
            Some(got) if got != expected => {
                return Err(mismatch(
                    format!(
                        "{}：指标 {}（{}）上报 {} 分，复算为 {} 分，相差 {} 分；请用当前规则包重新计算后再提交（score differs from the replay）",
                        r.unit(),
                        ind.id,
                        ind.name,
                        format_hundredths_fixed(*got),
                        format_hundredths_fixed(*expected),
                        format_hundredths_fixed(got.saturating_sub(*expected).saturating_abs())
                    ),
                    format!("submission.methods[{b}].scores[{}]", ind.id),
                ));
            }
            Some(_) => {}
        }
    }
    // Every fired clause: id and amount, exactly.
    for (k, fired) in out.clauses.iter().enumerate() {
        let Some(expected) = fired else { continue };
        let Some((i, clause)) = manifest.clause(k) else {
            continue;
        };
        let ind = &manifest.indicators[i];
        let b = block_of(&ind.method).unwrap_or(0);
        match sub.methods.get(b).and_then(|m| m.clauses.get(&clause.id)) {
            None => {
                return Err(mismatch(
                    format!(
                        "{}：指标 {}（{}）的扣/加分条款 {} 复算时成立（{} 分），提交中没有该条款（fired clause missing）",
                        r.unit(),
                        ind.id,
                        ind.name,
                        clause.id,
                        format_hundredths_fixed(*expected)
                    ),
                    format!("submission.methods[{b}].clauses"),
                ));
            }
            Some(c) if c.amount != *expected => {
                return Err(mismatch(
                    format!(
                        "{}：指标 {}（{}）条款 {} 上报 {} 分，复算为 {} 分（clause amount differs from the replay）",
                        r.unit(),
                        ind.id,
                        ind.name,
                        clause.id,
                        format_hundredths_fixed(c.amount),
                        format_hundredths_fixed(*expected)
                    ),
                    format!("submission.methods[{b}].clauses[{}]", clause.id),
                ));
            }
            Some(c) if c.reason != clause.reason => {
                return Err(mismatch(
                    format!(
                        "{}：指标 {}（{}）条款 {} 上报的原因「{}」与规则包的原因「{}」不同；请用当前规则包重新计算后再提交（clause reason differs from the pack's）",
                        r.unit(),
                        ind.id,
                        ind.name,
                        clause.id,
                        kaohe_tables::text::echo(&c.reason),
                        clause.reason
                    ),
                    format!("submission.methods[{b}].clauses[{}].reason", clause.id),
                ));
            }
            Some(_) => {}
        }
    }
    // Nothing the replay did not produce.
    for (b, block) in sub.methods.iter().enumerate() {
        for id in block.scores.keys() {
            let evaluated = manifest.indicator_index(id).is_some_and(|i| {
                out.indicators[i].is_some() && manifest.indicators[i].method == block.method_id
            });
            if !evaluated {
                let what = match manifest.indicator_index(id) {
                    None => "规则包中没有该指标（unknown indicator）".to_owned(),
                    Some(i) => format!(
                        "该指标（{}）对此单位、此轮次不评价（indicator not evaluated here）",
                        manifest.indicators[i].name
                    ),
                };
                return Err(mismatch(
                    format!("{}：提交了指标 {id} 的得分，但{what}", r.unit()),
                    format!("submission.methods[{b}].scores[{id}]"),
                ));
            }
        }
        for id in block.clauses.keys() {
            let fired = manifest.clause_index(id).is_some_and(|(k, i)| {
                out.clauses.get(k).is_some_and(Option::is_some)
                    && manifest.indicators[i].method == block.method_id
            });
            if !fired {
                return Err(mismatch(
                    format!(
                        "{}：提交了条款 {id}，但复算时该条款不成立或不存在（clause did not fire in the replay）",
                        r.unit()
                    ),
                    format!("submission.methods[{b}].clauses[{id}]"),
                ));
            }
        }
    }
    Ok(())
}
