//! `[[indicator]]`: kind, points per category, clauses and formulas, each
//! formula parsed and type-checked in its method's scope and mapped back
//! to its position in the file.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::{Ids, Names, id, invalid, one_of, unknown_ref};
use crate::decimal::Points;
use crate::manifest::{Category, Clause, Flag, IndicatorKind};
use crate::rubric::error::{CompileError, Expect, IdKind, RefKind};
use crate::rubric::expr::{Expr, FieldSig, Formula, FormulaError, Scope, Ty, compile_formula};
use crate::rubric::reader::{Ctx, Num, Tbl, Value, number_of};
use crate::rubric::{CheckedClause, Rule};

/// An indicator after reading, before the manifest is assembled.
pub(super) struct ReadIndicator {
    pub(super) id_span: Spanned<String>,
    pub(super) group: String,
    pub(super) name: String,
    pub(super) kind: IndicatorKind,
    pub(super) points: Vec<Option<i64>>,
    pub(super) method: String,
    pub(super) clause: String,
    pub(super) criteria: String,
    pub(super) flag: Option<Flag>,
    pub(super) score_text: Option<String>,
    pub(super) reason: Option<String>,
    /// Where `allow_not_applicable = true` is written, when it is.
    pub(super) allow_not_applicable: Option<Range<usize>>,
    pub(super) when_text: Option<String>,
    pub(super) clauses: Vec<Clause>,
    pub(super) rule: Rule,
}

pub(super) fn indicator(
    ctx: &mut Ctx<'_>,
    mut t: Tbl<'_, '_>,
    names: &Names,
    cats: &[Category],
    sigs: &[FieldSig],
    clause_ids: &mut Ids,
) -> Option<ReadIndicator> {
    let errors_before = ctx.error_count();
    let id_span = id(ctx, &mut t);
    let group = t.text(ctx, "group", true);
    let name = t.text(ctx, "name", true);
    let kind_text = t.text(ctx, "kind", false);
    let method = t.text(ctx, "method", true);
    let clause = t
        .text(ctx, "clause", false)
        .map(Spanned::into_inner)
        .unwrap_or_default();
    let criteria = t
        .text(ctx, "criteria", false)
        .map(Spanned::into_inner)
        .unwrap_or_default();
    let points_v = t.get("points");
    let score_v = t.get("score");
    let reason_v = t.text(ctx, "reason", false);
    let na_v = t.boolean(ctx, "allow_not_applicable", false);
    let na_span = t.span_of("allow_not_applicable");
    let when_v = t.get("when");
    let flag_v = t.text(ctx, "flag", false);
    let deductions = t.tables(ctx, "deduction");
    let awards = t.tables(ctx, "award");
    let kind = match &kind_text {
        Some(k) => one_of(
            ctx,
            "kind",
            k,
            IndicatorKind::from_id,
            "scored、bonus、penalty、flag",
        ),
        None => Some(IndicatorKind::Scored),
    };
    let group_i = group.as_ref().and_then(|g| {
        let i = names.group(g.get_ref());
        if i.is_none() {
            unknown_ref(ctx, RefKind::Group, g);
        }
        i
    });
    let method_i = method.as_ref().and_then(|m| {
        let i = names.method(m.get_ref());
        if i.is_none() {
            unknown_ref(ctx, RefKind::Method, m);
        }
        i
    });
    let Some(kind) = kind else {
        t.finish(ctx);
        return None;
    };
    let ind_id = id_span
        .as_ref()
        .map(|s| s.get_ref().clone())
        .unwrap_or_default();
    let kind_zh = match kind {
        IndicatorKind::Scored => "计分（scored）",
        IndicatorKind::Bonus => "加分（bonus）",
        IndicatorKind::Penalty => "减分（penalty）",
        IndicatorKind::Flag => "标记（flag）",
    };
    let not_for = |ctx: &mut Ctx<'_>, key: &str, span: Range<usize>| {
        ctx.err(
            &span,
            CompileError::KeyNotForKind {
                key: key.to_string(),
                kind: kind_zh,
            },
        );
    };

    // Which keys this kind may use.
    let allow = |k: &str| match kind {
        IndicatorKind::Scored => matches!(
            k,
            "points" | "score" | "deduction" | "reason" | "allow_not_applicable"
        ),
        IndicatorKind::Bonus | IndicatorKind::Penalty => matches!(k, "points" | "award"),
        IndicatorKind::Flag => matches!(k, "when" | "flag"),
    };
    for (key, present) in [
        ("points", points_v.is_some()),
        ("score", score_v.is_some()),
        ("when", when_v.is_some()),
        ("flag", flag_v.is_some()),
        ("deduction", !deductions.is_empty()),
        ("award", !awards.is_empty()),
        ("reason", reason_v.is_some()),
        ("allow_not_applicable", na_v.is_some()),
    ] {
        if present && !allow(key) {
            not_for(ctx, key, t.span_of(key));
        }
    }

    // Points per category.
    let group_id = group
        .as_ref()
        .map(|g| g.get_ref().clone())
        .unwrap_or_default();
    let has_group = |c: &Category| c.groups.contains(&group_id);
    let mut points: Vec<Option<i64>> = vec![None; cats.len()];
    match (kind, points_v) {
        (IndicatorKind::Flag, _) => {
            for (c, cat) in cats.iter().enumerate() {
                if has_group(cat) {
                    points[c] = Some(0);
                }
            }
        }
        (_, None) => {
            ctx.err(
                &t.span,
                CompileError::MissingKey {
                    table: t.name.clone(),
                    key: "points".into(),
                },
            );
        }
        (_, Some(v)) => read_points(ctx, v, &ind_id, &group_id, names, cats, &mut points),
    }

    // Rule.
    let scope_fields = sigs;
    let scope = method_i.map(|m| Scope {
        fields: scope_fields,
        methods: &names.methods,
        method: m,
    });
    let mut clauses_out = Vec::new();
    let mut checked_clauses = Vec::new();
    let clause_tables = match kind {
        IndicatorKind::Scored => deductions,
        IndicatorKind::Bonus | IndicatorKind::Penalty => awards,
        IndicatorKind::Flag => Vec::new(),
    };
    for mut ct in clause_tables {
        let cid = id(ctx, &mut ct);
        if let Some(cid) = &cid {
            clause_ids.insert(ctx, IdKind::Clause, cid);
        }
        let when = ct.text(ctx, "when", true);
        let amount = ct.get("amount");
        let reason = ct.text(ctx, "reason", true);
        ct.finish(ctx);
        let when_f = match (&when, &scope) {
            (Some(w), Some(s)) => formula_at(ctx, w.get_ref(), &w.span(), Ty::Bool, s),
            _ => None,
        };
        let amount_f = match (amount, &scope) {
            (Some(a), Some(s)) => Some(formula_value(ctx, "amount", a, Ty::Num, s)),
            _ => None,
        };
        if let (Some(cid), Some(when), Some(reason), Some(when_f)) = (cid, when, reason, when_f) {
            let amount_text = amount.map(|a| value_text(ctx.src, a));
            let amount_f = match amount_f {
                Some(Some(f)) => Some(f),
                Some(None) => continue,
                None => None,
            };
            clauses_out.push(Clause {
                id: cid.into_inner(),
                when: when.into_inner(),
                amount: amount_text,
                reason: reason.into_inner(),
            });
            checked_clauses.push(CheckedClause {
                when: when_f,
                amount: amount_f,
            });
        }
    }

    let shape = |ctx: &mut Ctx<'_>, expected: &'static str| {
        ctx.err(
            &t.span,
            CompileError::RuleShape {
                indicator: ind_id.clone(),
                expected,
            },
        );
    };
    let mut score_text = None;
    let mut when_text = None;
    let mut flag = None;
    let rule = match kind {
        IndicatorKind::Scored => match (
            score_v,
            clauses_out.is_empty() && checked_clauses.is_empty(),
        ) {
            (Some(_), false) | (None, true) if ctx.error_count() == errors_before => {
                shape(
                    ctx,
                    "计分指标须且只能给出 [[indicator.deduction]] 扣分条款或 score 公式之一（a scored indicator needs either deduction clauses or a score formula, not both）",
                );
                None
            }
            (Some(v), _) => {
                score_text = Some(value_text(ctx.src, v));
                scope
                    .as_ref()
                    .and_then(|s| formula_value(ctx, "score", v, Ty::Num, s))
                    .map(Rule::Score)
            }
            (None, _) => Some(Rule::Deductions(checked_clauses)),
        },
        IndicatorKind::Bonus | IndicatorKind::Penalty => {
            if checked_clauses.is_empty() && ctx.error_count() == errors_before {
                shape(
                    ctx,
                    "加分、减分指标须至少有一条 [[indicator.award]] 条款（bonus and penalty indicators need award clauses）",
                );
                None
            } else {
                Some(Rule::Awards(checked_clauses))
            }
        }
        IndicatorKind::Flag => {
            let f = flag_v
                .as_ref()
                .and_then(|f| one_of(ctx, "flag", f, Flag::from_id, "serious_case、major_problem"));
            if flag_v.is_none() || when_v.is_none() {
                if ctx.error_count() == errors_before {
                    shape(
                        ctx,
                        "标记指标须给出 when 条件和 flag（a flag indicator needs `when` and `flag`）",
                    );
                }
                None
            } else {
                flag = f;
                let w = when_v.and_then(|w| {
                    when_text = Some(value_text(ctx.src, w));
                    scope
                        .as_ref()
                        .and_then(|s| formula_value(ctx, "when", w, Ty::Bool, s))
                });
                match (w, f) {
                    (Some(when), Some(flag)) => Some(Rule::Flag { when, flag }),
                    _ => None,
                }
            }
        }
    };
    if let Some(r) = &reason_v
        && kind == IndicatorKind::Scored
    {
        if score_v.is_none() {
            not_for(ctx, "reason", r.span());
        } else if let Some(m) = method_i {
            reason_template(ctx, r, sigs, m);
        }
    }
    t.finish(ctx);
    if ctx.error_count() > errors_before {
        return None;
    }
    let (Some(id_span), Some(group), Some(name), Some(method), Some(_), Some(_), Some(rule)) =
        (id_span, group, name, method, group_i, method_i, rule)
    else {
        return None;
    };
    Some(ReadIndicator {
        id_span,
        group: group.into_inner(),
        name: name.into_inner(),
        kind,
        points,
        method: method.into_inner(),
        clause,
        criteria,
        flag,
        score_text,
        reason: reason_v.map(Spanned::into_inner),
        allow_not_applicable: na_v.unwrap_or(false).then_some(na_span),
        when_text,
        clauses: clauses_out,
        rule,
    })
}

/// Checks a loss-reason template: braces enclose names, and every name is
/// `score`, `points`, `lost` or a field of the indicator's method.
fn reason_template(ctx: &mut Ctx<'_>, r: &Spanned<String>, sigs: &[FieldSig], method: usize) {
    use crate::manifest::reason::{Piece, SCORE_PLACEHOLDERS, pieces};
    let bad = |ctx: &mut Ctx<'_>, name: String| {
        ctx.err(&r.span(), CompileError::UnknownPlaceholder { name });
    };
    match pieces(r.get_ref()) {
        Err(text) => bad(ctx, text),
        Ok(ps) => {
            for p in ps {
                let Piece::Slot(name) = p else { continue };
                let known = SCORE_PLACEHOLDERS.contains(&name)
                    || sigs.iter().any(|f| f.id == name && f.method == method);
                if !known {
                    bad(ctx, name.to_string());
                }
            }
        }
    }
}

fn read_points(
    ctx: &mut Ctx<'_>,
    v: &Value<'_>,
    ind_id: &str,
    group_id: &str,
    names: &Names,
    cats: &[Category],
    points: &mut [Option<i64>],
) {
    let positive = |ctx: &mut Ctx<'_>, span: &Range<usize>, x: i64| {
        if x <= 0 {
            invalid(
                ctx,
                span,
                "points",
                Points(x).to_string(),
                "大于 0 的分值（points > 0）",
            );
            false
        } else {
            true
        }
    };
    match v.get_ref() {
        DeValue::Table(tbl) => {
            let mut default = None;
            let mut per = vec![None; cats.len()];
            let t = Tbl::new("points", v.span(), tbl);
            for (k, val) in t.entries() {
                let x = match number_of(val.get_ref()) {
                    Num::Ok(x) => x,
                    Num::WrongType => {
                        ctx.err(
                            &val.span(),
                            CompileError::WrongType {
                                key: format!("points.{}", k.get_ref()),
                                expected: Expect::Number,
                            },
                        );
                        continue;
                    }
                    Num::Bad(text, reason) => {
                        ctx.err(&val.span(), CompileError::BadLiteral { text, reason });
                        continue;
                    }
                };
                if !positive(ctx, &val.span(), x) {
                    continue;
                }
                if k.get_ref() == "default" {
                    default = Some(x);
                    continue;
                }
                match names.category(k.get_ref()) {
                    None => unknown_ref(ctx, RefKind::Category, &k),
                    Some(c) if !cats[c].groups.iter().any(|g| g == group_id) => ctx.err(
                        &k.span(),
                        CompileError::CategoryLacksGroup {
                            category: k.get_ref().clone(),
                            indicator: ind_id.to_string(),
                            group: group_id.to_string(),
                        },
                    ),
                    Some(c) => per[c] = Some(x),
                }
            }
            for (c, cat) in cats.iter().enumerate() {
                if cat.groups.iter().any(|g| g == group_id) {
                    points[c] = per[c].or(default);
                }
            }
        }
        _ => match number_of(v.get_ref()) {
            Num::Ok(x) => {
                if positive(ctx, &v.span(), x) {
                    for (c, cat) in cats.iter().enumerate() {
                        if cat.groups.iter().any(|g| g == group_id) {
                            points[c] = Some(x);
                        }
                    }
                }
            }
            Num::WrongType => ctx.err(
                &v.span(),
                CompileError::WrongType {
                    key: "points".into(),
                    expected: Expect::Points,
                },
            ),
            Num::Bad(text, reason) => ctx.err(&v.span(), CompileError::BadLiteral { text, reason }),
        },
    }
}

/// The source text of a value (a formula string's content, or a number as
/// written).
fn value_text(src: &str, v: &Value<'_>) -> String {
    match v.get_ref() {
        DeValue::String(s) => s.to_string(),
        _ => src.get(v.span()).unwrap_or_default().trim().to_string(),
    }
}

/// A formula given as a string or, for numbers, as a TOML number.
fn formula_value(
    ctx: &mut Ctx<'_>,
    key: &str,
    v: &Value<'_>,
    want: Ty,
    scope: &Scope<'_>,
) -> Option<Formula> {
    match v.get_ref() {
        DeValue::String(s) => formula_at(ctx, s, &v.span(), want, scope),
        DeValue::Integer(_) | DeValue::Float(_) if want == Ty::Num => {
            match number_of(v.get_ref()) {
                Num::Ok(x) => Some(Formula {
                    text: value_text(ctx.src, v),
                    expr: Expr::Num(x),
                    nodes: 1,
                }),
                Num::Bad(text, reason) => {
                    ctx.err(&v.span(), CompileError::BadLiteral { text, reason });
                    None
                }
                Num::WrongType => None,
            }
        }
        _ => {
            ctx.err(
                &v.span(),
                CompileError::WrongType {
                    key: key.to_string(),
                    expected: if want == Ty::Num {
                        Expect::NumberOrFormula
                    } else {
                        Expect::Text
                    },
                },
            );
            None
        }
    }
}

/// Compiles the formula `text`, the value of the TOML string at `span`;
/// errors are placed at their position in the file when the string has no
/// escapes, else at the start of the string (the column in the formula is in
/// the message either way).
fn formula_at(
    ctx: &mut Ctx<'_>,
    text: &str,
    span: &Range<usize>,
    want: Ty,
    scope: &Scope<'_>,
) -> Option<Formula> {
    match compile_formula(text, want, scope) {
        Ok(f) => Some(f),
        Err(FormulaError { offset, mut error }) => {
            let column = text.get(..offset).map(|s| s.chars().count()).unwrap_or(0) + 1;
            if let CompileError::FormulaSyntax { column: c, .. } = &mut error {
                *c = column;
            }
            let at = match formula_origin(ctx.src, span, text) {
                Some(base) => base + offset,
                None => span.start,
            };
            ctx.err(&(at..at), error);
            None
        }
    }
}

/// Byte offset in the file of the first character of a string value's
/// content, when the content is the value verbatim (no escapes).
pub(crate) fn formula_origin(src: &str, span: &Range<usize>, text: &str) -> Option<usize> {
    let raw = src.get(span.clone())?;
    for q in ["\"\"\"", "'''", "\"", "'"] {
        if raw.len() >= 2 * q.len() && raw.starts_with(q) && raw.ends_with(q) {
            let mut start = span.start + q.len();
            let mut inner = &raw[q.len()..raw.len() - q.len()];
            if q.len() == 3 {
                if let Some(r) = inner.strip_prefix("\r\n") {
                    start += 2;
                    inner = r;
                } else if let Some(r) = inner.strip_prefix('\n') {
                    start += 1;
                    inner = r;
                }
            }
            return (inner == text).then_some(start);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::formula_origin;

    #[test]
    fn formula_positions_map_into_the_file() {
        let at = |src: &str, text: &str| {
            let start = src.find('=').map(|i| i + 2).unwrap_or(0);
            formula_origin(src, &(start..src.trim_end().len()), text)
        };
        // basic and literal strings: content starts after the quote
        assert_eq!(at("w = \"a < 1\"", "a < 1"), Some(5));
        assert_eq!(at("w = 'a < 1'", "a < 1"), Some(5));
        // multi-line strings drop the newline right after the opening quotes
        assert_eq!(at("w = \"\"\"\na < 1\"\"\"", "a < 1"), Some(8));
        assert_eq!(at("w = '''\r\na < 1'''", "a < 1"), Some(9));
        // escapes make the content differ from the value: no mapping
        assert_eq!(at("w = \"a \\u003c 1\"", "a < 1"), None);
    }
}
