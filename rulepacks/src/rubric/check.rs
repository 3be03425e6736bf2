//! From the spanned TOML tree to a [`CheckedRubric`]: every table read, every
//! reference resolved, every formula parsed and type-checked, every error
//! collected with its position.
//!
//! Layout (mirroring the manifest's sections):
//! - here: [`check`] itself, which reads the tables in order and assembles
//!   the manifest, and the helpers every table shares (ids, lists,
//!   references, choices);
//! - `content`: `[pack]`, groups, methods, categories, fields;
//! - `indicator`: indicators, their points, clauses and formulas;
//! - `composition`: `[composition]` and `[outcomes]`;
//! - `schedule`: `[schedule]`.

mod composition;
mod content;
mod indicator;
mod schedule;

pub(crate) use content::field_value;

use std::collections::HashMap;
use std::ops::Range;

use sha2::{Digest, Sha256};
use toml::Spanned;
use toml::de::DeTable;

use super::error::{CompileError, IdKind, RefKind};
use super::expr::FieldSig;
use super::reader::{Ctx, Tbl};
use super::{CheckedIndicator, CheckedRubric};
use crate::decimal::Points;
use crate::manifest::{
    ABI_VERSION, Category, Indicator, IndicatorKind, Limits, MANIFEST_VERSION, MAX_METHODS,
    Manifest, Missing,
};
use composition::{composition, outcomes};
use content::{category, field, group, method, pack};
use indicator::indicator;
use schedule::schedule;

/// Default rubric fuel per unit when `[limits]` does not say.
pub const DEFAULT_FUEL_PER_UNIT: u64 = 100_000;

pub(crate) fn check(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> Option<CheckedRubric> {
    let mut r = Tbl::new("顶层（top level）", 0..0, root);

    let pack = r.table(ctx, "pack", true).and_then(|t| pack(ctx, t));
    let limits_tbl = r.table(ctx, "limits", false);
    let groups = list(ctx, &mut r, "group", IdKind::Group, group);
    let methods = list(ctx, &mut r, "method", IdKind::Method, method);
    if methods.len() > MAX_METHODS {
        ctx.err(
            &r.span_of("method"),
            CompileError::TooMany {
                what: "考核方式（methods）",
                max: MAX_METHODS,
            },
        );
    }
    let names = Names {
        groups: groups.iter().map(|g| g.0.get_ref().clone()).collect(),
        methods: methods.iter().map(|m| m.0.get_ref().clone()).collect(),
        categories: Vec::new(),
    };
    let categories = list(ctx, &mut r, "category", IdKind::Category, |ctx, t| {
        category(ctx, t, &names)
    });
    let names = Names {
        categories: categories.iter().map(|c| c.0.get_ref().clone()).collect(),
        ..names
    };
    {
        let mut nos: HashMap<u32, usize> = HashMap::new();
        for (id, c) in &categories {
            if let Some(&first) = nos.get(&c.no) {
                ctx.err(
                    &id.span(),
                    CompileError::DuplicateId {
                        kind: IdKind::CategoryNo,
                        id: c.no.to_string(),
                        first_line: first,
                    },
                );
            } else {
                nos.insert(c.no, ctx.line(id.span().start));
            }
        }
    }
    let fields = list(ctx, &mut r, "field", IdKind::Field, |ctx, t| {
        field(ctx, t, &names)
    });
    let sigs: Vec<FieldSig> = fields
        .iter()
        .map(|(id, f)| FieldSig {
            id: id.get_ref().clone(),
            kind: f.kind,
            method: names.method(&f.method).unwrap_or(usize::MAX),
            has_default: matches!(f.missing, Missing::Default(_)),
            choices: f.choices.clone(),
        })
        .collect();
    let cats: Vec<Category> = categories.iter().map(|(_, c)| c.clone()).collect();

    let mut clause_ids = Ids::default();
    let mut ind_ids = Ids::default();
    let mut indicators = Vec::new();
    for t in r.tables(ctx, "indicator") {
        if let Some(ind) = indicator(ctx, t, &names, &cats, &sigs, &mut clause_ids)
            && ind_ids.insert(ctx, IdKind::Indicator, &ind.id_span)
        {
            indicators.push(ind);
        }
    }

    let composition = r
        .table(ctx, "composition", true)
        .and_then(|t| composition(ctx, t));
    let schedule = r
        .table(ctx, "schedule", true)
        .and_then(|t| schedule(ctx, t));
    let outcomes_tbl = r.table(ctx, "outcomes", true);
    r.finish(ctx);

    // Per-category points.
    if let Some((comp, _)) = &composition {
        let errors_before = ctx.error_count();
        for (c, (id, _)) in categories.iter().enumerate() {
            let total: i64 = indicators
                .iter()
                .filter(|i| i.kind == IndicatorKind::Scored)
                .filter_map(|i| i.points[c])
                .fold(0i64, |a, p| a.saturating_add(p));
            if total > comp.full_marks {
                ctx.err(
                    &id.span(),
                    CompileError::CategoryPointsExceed {
                        category: id.get_ref().clone(),
                        total: Points(total).to_string(),
                        full_marks: Points(comp.full_marks).to_string(),
                    },
                );
            } else if total == 0 && errors_before == 0 {
                // Only when nothing else is wrong: a broken indicator would
                // otherwise make every category look empty.
                ctx.err(
                    &id.span(),
                    CompileError::CategoryWithoutIndicators {
                        category: id.get_ref().clone(),
                    },
                );
            }
        }
    }

    // Not applicable (RUBRIC.md §3): conversion must be on, and each
    // category keeps a scored indicator that cannot be marked.
    if let Some((comp, _)) = &composition
        && let Some((ind, span)) = indicators
            .iter()
            .find_map(|i| i.allow_not_applicable.as_ref().map(|s| (i, s)))
    {
        if !comp.normalise {
            ctx.err(
                span,
                CompileError::NotApplicableWithoutNormalise {
                    indicator: ind.id_span.get_ref().clone(),
                },
            );
        }
        for (c, (id, _)) in categories.iter().enumerate() {
            let mut scored = indicators
                .iter()
                .filter(|i| i.kind == IndicatorKind::Scored && i.points[c].is_some())
                .peekable();
            if scored.peek().is_some() && scored.all(|i| i.allow_not_applicable.is_some()) {
                ctx.err(
                    &id.span(),
                    CompileError::CategoryAllNotApplicable {
                        category: id.get_ref().clone(),
                    },
                );
            }
        }
    }

    let outcomes = match (outcomes_tbl, &composition) {
        (Some(t), Some((comp, _))) => outcomes(ctx, t, &names, &cats, comp),
        _ => None,
    };
    let (fuel_per_unit, wasm_fuel) = match limits_tbl {
        Some(mut t) => {
            let f = t.integer(ctx, "fuel_per_unit", false, 1..=i64::MAX);
            let w = t.integer(ctx, "wasm_fuel_per_unit", false, 1..=i64::MAX);
            t.finish(ctx);
            (
                f.map(|x| *x.get_ref() as u64)
                    .unwrap_or(DEFAULT_FUEL_PER_UNIT),
                w.map(|x| *x.get_ref() as u64),
            )
        }
        None => (DEFAULT_FUEL_PER_UNIT, None),
    };

    if ctx.error_count() > 0 {
        return None;
    }
    let (pack, composition, schedule, outcomes) = (pack?, composition?.0, schedule?, outcomes?);

    let clause_count: usize = indicators.iter().map(|i| i.clauses.len()).sum();
    let wasm_fuel_per_unit = wasm_fuel.unwrap_or_else(|| {
        let items = (fields.len() + indicators.len() + clause_count) as u64;
        fuel_per_unit
            .saturating_mul(100)
            .saturating_add(items.saturating_mul(100))
            .saturating_add(10_000)
    });

    let any_not_applicable = indicators.iter().any(|i| i.allow_not_applicable.is_some());
    let mut checked = Vec::with_capacity(indicators.len());
    let mut manifest_inds = Vec::with_capacity(indicators.len());
    let mut first_clause = 0;
    for ind in indicators {
        let fuel_cost = ind.rule.fuel_cost();
        let mut reads = Vec::new();
        ind.rule
            .for_each_expr(&mut |e| e.for_each_read(&mut |f| reads.push(f)));
        reads.sort_unstable();
        reads.dedup();
        let method = names.method(&ind.method).unwrap_or(0);
        let group = names.group(&ind.group).unwrap_or(0);
        checked.push(CheckedIndicator {
            method,
            group,
            kind: ind.kind,
            rule: ind.rule,
            fuel_cost,
            reads,
            first_clause,
        });
        first_clause += ind.clauses.len();
        manifest_inds.push(Indicator {
            id: ind.id_span.get_ref().clone(),
            group: ind.group,
            name: ind.name,
            kind: ind.kind,
            points: ind.points,
            method: ind.method,
            clause: ind.clause,
            criteria: ind.criteria,
            flag: ind.flag,
            score: ind.score_text,
            reason: ind.reason,
            when: ind.when_text,
            clauses: ind.clauses,
            fuel_cost,
            allow_not_applicable: ind.allow_not_applicable.is_some(),
        });
    }

    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        abi_version: ABI_VERSION,
        // The original layouts unless the rubric uses what needs 1.1, so a
        // rubric that marks nothing not applicable builds the same pack.
        abi_minor: u32::from(any_not_applicable),
        pack,
        source_sha256: hex::encode(Sha256::digest(ctx.src.as_bytes())),
        limits: Limits {
            fuel_per_unit,
            wasm_fuel_per_unit,
        },
        groups: groups.into_iter().map(|(_, g)| g).collect(),
        categories: cats,
        methods: methods.into_iter().map(|(_, m)| m).collect(),
        fields: fields.into_iter().map(|(_, f)| f).collect(),
        indicators: manifest_inds,
        composition,
        schedule,
        outcomes,
    };
    if let Err(e) = manifest.validate() {
        // The checks above are meant to imply every manifest invariant; if
        // one slipped through, say so at the top of the file rather than
        // produce a pack the hub would refuse.
        ctx.err(
            &(0..0),
            CompileError::InvalidValue {
                key: "manifest".into(),
                value: String::new(),
                expected: e.to_string(),
            },
        );
        return None;
    }
    Some(CheckedRubric {
        manifest,
        indicators: checked,
    })
}

struct Names {
    groups: Vec<String>,
    methods: Vec<String>,
    categories: Vec<String>,
}

impl Names {
    fn group(&self, id: &str) -> Option<usize> {
        self.groups.iter().position(|g| g == id)
    }
    fn method(&self, id: &str) -> Option<usize> {
        self.methods.iter().position(|g| g == id)
    }
    fn category(&self, id: &str) -> Option<usize> {
        self.categories.iter().position(|g| g == id)
    }
}

/// Ids already defined, with the line of their definition.
#[derive(Default)]
struct Ids(HashMap<String, usize>);

impl Ids {
    /// Records `id`; reports a duplicate and returns false if it was seen.
    fn insert(&mut self, ctx: &mut Ctx<'_>, kind: IdKind, id: &Spanned<String>) -> bool {
        if let Some(&first_line) = self.0.get(id.get_ref()) {
            ctx.err(
                &id.span(),
                CompileError::DuplicateId {
                    kind,
                    id: id.get_ref().clone(),
                    first_line,
                },
            );
            return false;
        }
        self.0
            .insert(id.get_ref().clone(), ctx.line(id.span().start));
        true
    }
}

const ID_RULE: &str = "须以英文字母开头，只含英文字母、数字和下划线，至多 64 个字符（an ASCII letter, then letters, digits or `_`; at most 64 characters）";

fn valid_id(s: &str) -> bool {
    let mut b = s.bytes();
    s.len() <= 64
        && b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Reads `id`, checking its syntax.
fn id(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>) -> Option<Spanned<String>> {
    let id = t.text(ctx, "id", true)?;
    if !valid_id(id.get_ref()) {
        ctx.err(
            &id.span(),
            CompileError::InvalidId {
                id: id.get_ref().clone(),
                rule: ID_RULE,
            },
        );
        return None;
    }
    t.name = format!(
        "{} `{}`",
        t.name.split(" #").next().unwrap_or(""),
        id.get_ref()
    );
    Some(id)
}

/// Reads an array of tables whose elements have unique ids.
fn list<T>(
    ctx: &mut Ctx<'_>,
    r: &mut Tbl<'_, '_>,
    key: &'static str,
    kind: IdKind,
    mut read: impl FnMut(&mut Ctx<'_>, &mut Tbl<'_, '_>) -> Option<T>,
) -> Vec<(Spanned<String>, T)> {
    let mut ids = Ids::default();
    let mut out = Vec::new();
    for mut t in r.tables(ctx, key) {
        let id = id(ctx, &mut t);
        let item = read(ctx, &mut t);
        t.finish(ctx);
        if let (Some(id), Some(item)) = (id, item)
            && ids.insert(ctx, kind, &id)
        {
            out.push((id, item));
        }
    }
    out
}

fn unknown_ref(ctx: &mut Ctx<'_>, kind: RefKind, id: &Spanned<String>) {
    ctx.err(
        &id.span(),
        CompileError::UnknownReference {
            kind,
            id: id.get_ref().clone(),
        },
    );
}

fn one_of<T: Copy>(
    ctx: &mut Ctx<'_>,
    key: &str,
    v: &Spanned<String>,
    parse: impl Fn(&str) -> Option<T>,
    allowed: &str,
) -> Option<T> {
    let r = parse(v.get_ref());
    if r.is_none() {
        ctx.err(
            &v.span(),
            CompileError::InvalidValue {
                key: key.to_string(),
                value: format!("\"{}\"", v.get_ref()),
                expected: format!("{allowed} 之一（one of {allowed}）"),
            },
        );
    }
    r
}

fn invalid(ctx: &mut Ctx<'_>, span: &Range<usize>, key: &str, value: String, expected: &str) {
    ctx.err(
        span,
        CompileError::InvalidValue {
            key: key.to_string(),
            value,
            expected: expected.to_string(),
        },
    );
}
