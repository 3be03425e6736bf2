//! From the spanned TOML tree to a [`CheckedRubric`]: every table read, every
//! reference resolved, every formula parsed and type-checked, every error
//! collected with its position.

use std::collections::HashMap;
use std::ops::Range;

use sha2::{Digest, Sha256};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::decimal::{LiteralError, Points};
use super::error::{CompileError, Expect, IdKind, RefKind};
use super::expr::{Expr, FieldSig, Formula, FormulaError, RESERVED, Scope, Ty, compile_formula};
use super::reader::{Ctx, Num, Tbl, Value, number_of};
use super::{CheckedClause, CheckedIndicator, CheckedRubric, Rule};
use crate::manifest::{
    ABI_VERSION, Assessor, Category, Clause, Combine, Composition, Deadline, Field, FieldType,
    Flag, Grade, Group, Indicator, IndicatorKind, Limits, MANIFEST_VERSION, MAX_METHODS, Manifest,
    Method, Missing, Outcomes, PackInfo, ReviewRuns, Round, RoundDeadlines, Schedule,
};

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
            when: ind.when_text,
            clauses: ind.clauses,
            fuel_cost,
        });
    }

    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        abi_version: ABI_VERSION,
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

// ------------------------------------------------------------------ helpers

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

// ------------------------------------------------------------------ tables

fn pack(ctx: &mut Ctx<'_>, mut t: Tbl<'_, '_>) -> Option<PackInfo> {
    let id = t.text(ctx, "id", true);
    if let Some(id) = &id {
        let s = id.get_ref();
        if s.is_empty()
            || s.len() > 64
            || !s
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
        {
            ctx.err(
                &id.span(),
                CompileError::InvalidId {
                    id: s.clone(),
                    rule: "规则包标识只含小写英文字母、数字、`_` 和 `-`（pack id: [a-z0-9_-]+）",
                },
            );
        }
    }
    let year = t.integer(ctx, "year", true, 2000..=2100);
    let version = t.integer(ctx, "version", true, 1..=i64::from(u32::MAX));
    let title = t.text(ctx, "title", true);
    let issuer = t.text(ctx, "issuer", true);
    t.finish(ctx);
    Some(PackInfo {
        id: id?.into_inner(),
        year: *year?.get_ref() as u32,
        version: *version?.get_ref() as u32,
        title: title?.into_inner(),
        issuer: issuer?.into_inner(),
    })
}

fn group(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>) -> Option<Group> {
    let id = t
        .get("id")
        .and_then(|v| v.get_ref().as_str())
        .unwrap_or_default()
        .to_string();
    let name = t.text(ctx, "name", true)?;
    Some(Group {
        id,
        name: name.into_inner(),
    })
}

fn method(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>) -> Option<Method> {
    let id = t
        .get("id")
        .and_then(|v| v.get_ref().as_str())
        .unwrap_or_default()
        .to_string();
    let name = t.text(ctx, "name", true);
    let quarterly = t.boolean(ctx, "quarterly", false).unwrap_or(false);
    let combine = t.text(ctx, "combine", false);
    let combine = match (&combine, quarterly) {
        (Some(c), true) => Some(one_of(
            ctx,
            "combine",
            c,
            Combine::from_id,
            "mean、sum、last",
        )?),
        (None, true) => {
            ctx.err(
                &t.span,
                CompileError::MissingKey {
                    table: t.name.clone(),
                    key: "combine".into(),
                },
            );
            return None;
        }
        (Some(c), false) => {
            ctx.err(
                &c.span(),
                CompileError::KeyNotForKind {
                    key: "combine".into(),
                    kind: "非按季度（quarterly = false）的考核方式",
                },
            );
            return None;
        }
        (None, false) => None,
    };
    Some(Method {
        id,
        name: name?.into_inner(),
        quarterly,
        combine,
    })
}

fn category(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>, names: &Names) -> Option<Category> {
    let id = t
        .get("id")
        .and_then(|v| v.get_ref().as_str())
        .unwrap_or_default()
        .to_string();
    let no = t.integer(ctx, "no", true, 1..=i64::from(u32::MAX));
    let name = t.text(ctx, "name", true);
    let groups = t.texts(ctx, "groups", true);
    let ranked = t.boolean(ctx, "ranked", true);
    let assessor = t.text(ctx, "assessor", true);
    let copy_to_supervisor = t.boolean(ctx, "copy_to_supervisor", false).unwrap_or(false);
    let assessor = assessor.and_then(|a| {
        one_of(
            ctx,
            "assessor",
            &a,
            Assessor::from_id,
            "county_office、sasac、health_commission、township、county_unit",
        )
    });
    let mut ok = true;
    let mut gs = Vec::new();
    let mut seen = Ids::default();
    for g in groups.iter().flatten() {
        if names.group(g.get_ref()).is_none() {
            unknown_ref(ctx, RefKind::Group, g);
            ok = false;
        } else if seen.insert(ctx, IdKind::Group, g) {
            gs.push(g.get_ref().clone());
        }
    }
    if !ok {
        return None;
    }
    Some(Category {
        id,
        no: *no?.get_ref() as u32,
        name: name?.into_inner(),
        groups: gs,
        ranked: ranked?,
        assessor: assessor?,
        copy_to_supervisor,
    })
}

fn field(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>, names: &Names) -> Option<Field> {
    let id = t
        .get("id")
        .and_then(|v| v.get_ref().as_str())
        .unwrap_or_default()
        .to_string();
    if RESERVED.contains(&id.as_str()) {
        let span = t.span_of("id");
        ctx.err(
            &span,
            CompileError::InvalidId {
                id: id.clone(),
                rule: "字段标识不能是公式的保留字（a field id cannot be a formula keyword or function name）",
            },
        );
    }
    let label = t.text(ctx, "label", true);
    let kind_text = t.text(ctx, "type", true);
    let kind = kind_text.as_ref().and_then(|k| {
        one_of(
            ctx,
            "type",
            k,
            FieldType::from_id,
            "count、decimal、bool、choice",
        )
    });
    let unit = t
        .text(ctx, "unit", false)
        .map(Spanned::into_inner)
        .unwrap_or_default();
    let help = t
        .text(ctx, "help", false)
        .map(Spanned::into_inner)
        .unwrap_or_default();
    let method = t.text(ctx, "method", true);
    if let Some(m) = &method
        && names.method(m.get_ref()).is_none()
    {
        unknown_ref(ctx, RefKind::Method, m);
    }
    let min = t.number(ctx, "min", false);
    let max = t.number(ctx, "max", false);
    let choices = t.texts(ctx, "choices", false);
    let missing = t.text(ctx, "missing", false);
    let default = t.get("default");
    let kind = kind?;

    let numeric = matches!(kind, FieldType::Count | FieldType::Decimal);
    let mut ok = true;
    for (key, v) in [("min", &min), ("max", &max)] {
        let Some(v) = v else { continue };
        if !numeric {
            // Reported, but the field stays usable so formulas reading it do
            // not produce follow-on errors.
            ctx.err(
                &v.span(),
                CompileError::KeyNotForKind {
                    key: key.into(),
                    kind: "布尔或选项字段（bool or choice fields）",
                },
            );
        } else if kind == FieldType::Count && v.get_ref() % 100 != 0 {
            ctx.err(
                &v.span(),
                CompileError::BadLiteral {
                    text: Points(*v.get_ref()).to_string(),
                    reason: LiteralError::NotWhole,
                },
            );
            ok = false;
        }
    }
    let min = min.map(|v| *v.get_ref()).or(if kind == FieldType::Count {
        Some(0)
    } else {
        None
    });
    let max = max.map(|v| *v.get_ref());
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        invalid(
            ctx,
            &t.span_of("max"),
            "max",
            Points(hi).to_string(),
            "不小于 min 的数（a number ≥ min）",
        );
        ok = false;
    }
    let choices: Vec<String> = match (kind, choices) {
        (FieldType::Choice, Some(c)) => {
            let mut seen = Ids::default();
            for ch in &c {
                ok &= seen.insert(ctx, IdKind::Choice, ch);
            }
            if c.is_empty() {
                invalid(
                    ctx,
                    &t.span_of("choices"),
                    "choices",
                    "[]".into(),
                    "至少一个选项（at least one choice）",
                );
                ok = false;
            }
            c.into_iter().map(Spanned::into_inner).collect()
        }
        (FieldType::Choice, None) => {
            ctx.err(
                &t.span,
                CompileError::MissingKey {
                    table: t.name.clone(),
                    key: "choices".into(),
                },
            );
            return None;
        }
        (_, Some(_)) => {
            ctx.err(
                &t.span_of("choices"),
                CompileError::KeyNotForKind {
                    key: "choices".into(),
                    kind: "非选项字段（non-choice fields）",
                },
            );
            return None;
        }
        (_, None) => Vec::new(),
    };

    let missing = match (missing, default) {
        (Some(m), None) if m.get_ref() == "refuse" => Missing::Refuse,
        (Some(m), Some(_)) if m.get_ref() == "refuse" => {
            invalid(
                ctx,
                &m.span(),
                "missing",
                "\"refuse\"".into(),
                "与 default 二选一（either missing = \"refuse\" or a default, not both）",
            );
            return None;
        }
        (Some(m), _) if m.get_ref() != "default" => {
            one_of(ctx, "missing", &m, |_| None::<()>, "refuse、default");
            return None;
        }
        (_, Some(d)) => {
            let v = field_value(ctx, "default", d, kind, &choices)?;
            let probe = Field {
                id: id.clone(),
                label: String::new(),
                kind,
                min,
                max,
                unit: String::new(),
                method: String::new(),
                missing: Missing::Refuse,
                choices: choices.clone(),
                help: String::new(),
            };
            if !probe.accepts(v) {
                invalid(
                    ctx,
                    &d.span(),
                    "default",
                    Points(v).to_string(),
                    "字段取值范围内的值（a value within the field's range）",
                );
                return None;
            }
            Missing::Default(v)
        }
        (_, None) => {
            ctx.err(
                &t.span,
                CompileError::MissingKey {
                    table: t.name.clone(),
                    key: "missing 或 default（missing or default）".into(),
                },
            );
            return None;
        }
    };
    if !ok {
        return None;
    }
    Some(Field {
        id,
        label: label?.into_inner(),
        kind,
        min: if numeric { min } else { None },
        max: if numeric { max } else { None },
        unit,
        method: method?.into_inner(),
        missing,
        choices,
        help,
    })
}

/// The ABI value of a TOML value written for a field of type `kind` (a
/// default here; evidence in fixtures uses the same rule).
pub(crate) fn field_value(
    ctx: &mut Ctx<'_>,
    key: &str,
    v: &Value<'_>,
    kind: FieldType,
    choices: &[String],
) -> Option<i64> {
    let wrong = |ctx: &mut Ctx<'_>, expected| {
        ctx.err(
            &v.span(),
            CompileError::WrongType {
                key: key.to_string(),
                expected,
            },
        );
    };
    match kind {
        FieldType::Count | FieldType::Decimal => match number_of(v.get_ref()) {
            Num::Ok(x) if kind == FieldType::Count && x % 100 != 0 => {
                ctx.err(
                    &v.span(),
                    CompileError::BadLiteral {
                        text: Points(x).to_string(),
                        reason: LiteralError::NotWhole,
                    },
                );
                None
            }
            Num::Ok(x) => Some(x),
            Num::WrongType => {
                wrong(ctx, Expect::Number);
                None
            }
            Num::Bad(text, reason) => {
                ctx.err(&v.span(), CompileError::BadLiteral { text, reason });
                None
            }
        },
        FieldType::Bool => match v.get_ref() {
            DeValue::Boolean(b) => Some(if *b { 100 } else { 0 }),
            _ => {
                wrong(ctx, Expect::Bool);
                None
            }
        },
        FieldType::Choice => match v.get_ref() {
            DeValue::String(s) => match choices.iter().position(|c| c == s.as_ref()) {
                Some(i) => Some(i as i64 * 100),
                None => {
                    ctx.err(
                        &v.span(),
                        CompileError::UnknownChoice {
                            field: key.to_string(),
                            value: s.to_string(),
                            choices: choices.join("、"),
                        },
                    );
                    None
                }
            },
            _ => {
                wrong(ctx, Expect::Text);
                None
            }
        },
    }
}

/// An indicator after reading, before the manifest is assembled.
struct ReadIndicator {
    id_span: Spanned<String>,
    group: String,
    name: String,
    kind: IndicatorKind,
    points: Vec<Option<i64>>,
    method: String,
    clause: String,
    criteria: String,
    flag: Option<Flag>,
    score_text: Option<String>,
    when_text: Option<String>,
    clauses: Vec<Clause>,
    rule: Rule,
}

fn indicator(
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
        IndicatorKind::Scored => matches!(k, "points" | "score" | "deduction"),
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
        when_text,
        clauses: clauses_out,
        rule,
    })
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

fn composition(ctx: &mut Ctx<'_>, mut t: Tbl<'_, '_>) -> Option<(Composition, Range<usize>)> {
    t.name = "[composition]".into();
    let full_marks = t.number(ctx, "full_marks", true);
    let normalise = t.boolean(ctx, "normalise", true);
    let bonus_cap = t.non_negative(ctx, "bonus_cap", true);
    let penalty_cap = t.non_negative(ctx, "penalty_cap", true);
    let bars = t.text(ctx, "serious_case_bars", true);
    let quota = t.number(ctx, "excellent_quota", false);
    let mut grades: Vec<(Spanned<String>, Grade)> = Vec::new();
    let mut ids = Ids::default();
    for mut g in t.tables(ctx, "grade") {
        let gid = id(ctx, &mut g);
        let name = g.text(ctx, "name", true);
        let min = g.non_negative(ctx, "min", true);
        g.finish(ctx);
        let (Some(gid), Some(name), Some(min)) = (gid, name, min) else {
            continue;
        };
        if !ids.insert(ctx, IdKind::Grade, &gid) {
            continue;
        }
        if let Some((_, prev)) = grades.last()
            && *min.get_ref() >= prev.min
        {
            ctx.err(
                &min.span(),
                CompileError::GradeBandsOutOfOrder {
                    grade: gid.get_ref().clone(),
                    min: Points(*min.get_ref()).to_string(),
                    previous: Points(prev.min).to_string(),
                },
            );
            continue;
        }
        grades.push((
            gid.clone(),
            Grade {
                id: gid.into_inner(),
                name: name.into_inner(),
                min: *min.get_ref(),
            },
        ));
    }
    let span = t.span.clone();
    t.finish(ctx);
    if grades.len() < 2 {
        invalid(
            ctx,
            &span,
            "grade",
            grades.len().to_string(),
            "至少两个等次 [[composition.grade]]（at least two grade bands）",
        );
        return None;
    }
    if let Some(f) = &full_marks
        && *f.get_ref() <= 0
    {
        invalid(
            ctx,
            &f.span(),
            "full_marks",
            Points(*f.get_ref()).to_string(),
            "大于 0 的分数（points > 0）",
        );
        return None;
    }
    if let Some(q) = &quota
        && !(0..=100).contains(q.get_ref())
    {
        invalid(
            ctx,
            &q.span(),
            "excellent_quota",
            Points(*q.get_ref()).to_string(),
            "0 到 1 之间的比例（a share from 0 to 1）",
        );
        return None;
    }
    let bars = bars?;
    match grades
        .iter()
        .position(|(g, _)| g.get_ref() == bars.get_ref())
    {
        None => {
            unknown_ref(ctx, RefKind::Grade, &bars);
            return None;
        }
        Some(i) if i + 1 == grades.len() => {
            invalid(
                ctx,
                &bars.span(),
                "serious_case_bars",
                format!("\"{}\"", bars.get_ref()),
                "最低等次以外的等次（a grade other than the lowest, so there is one to demote to）",
            );
            return None;
        }
        Some(_) => {}
    }
    Some((
        Composition {
            full_marks: *full_marks?.get_ref(),
            normalise: normalise?,
            bonus_cap: *bonus_cap?.get_ref(),
            penalty_cap: *penalty_cap?.get_ref(),
            serious_case_bars: bars.into_inner(),
            grades: grades.into_iter().map(|(_, g)| g).collect(),
            excellent_quota: quota.map(|q| *q.get_ref()).unwrap_or(0),
        },
        span,
    ))
}

fn schedule(ctx: &mut Ctx<'_>, mut t: Tbl<'_, '_>) -> Option<Schedule> {
    t.name = "[schedule]".into();
    let days = 0..=366;
    let verification_days = t.integer(ctx, "verification_days", true, days.clone());
    let review_request_days = t.integer(ctx, "review_request_days", true, days.clone());
    let runs = t.text(ctx, "review_request_runs", true);
    let review_decision_days = t.integer(ctx, "review_decision_days", true, days);
    let deadlines = t.table(ctx, "round_deadline", true);
    t.finish(ctx);
    let runs = runs.and_then(|r| {
        one_of(
            ctx,
            "review_request_runs",
            &r,
            |s| match s {
                "alongside" => Some(ReviewRuns::Alongside),
                "after" => Some(ReviewRuns::After),
                _ => None,
            },
            "alongside、after",
        )
    });
    let mut dl = deadlines?;
    dl.name = "[schedule] round_deadline".into();
    let mut get = |ctx: &mut Ctx<'_>, round: Round| -> Option<Deadline> {
        let key = round.id();
        let v = dl.text(ctx, key, true)?;
        let parsed = v.get_ref().split_once('-').and_then(|(m, d)| {
            let (m, d): (u8, u8) = (m.parse().ok()?, d.parse().ok()?);
            let max = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
                .get(usize::from(m).checked_sub(1)?)?;
            (v.get_ref().len() == 5 && d >= 1 && d <= *max).then_some((m, d))
        });
        let Some((month, day)) = parsed else {
            invalid(
                ctx,
                &v.span(),
                key,
                format!("\"{}\"", v.get_ref()),
                "\"MM-DD\" 格式的日期，不含 02-29（a \"MM-DD\" date; 02-29 is not allowed）",
            );
            return None;
        };
        // The first such date after the round's period ends.
        let end = match round {
            Round::Q1 => (3, 31),
            Round::Q2 => (6, 30),
            Round::Q3 => (9, 30),
            Round::Q4 | Round::Annual => (12, 31),
        };
        Some(Deadline {
            month,
            day,
            next_year: (month, day) <= end,
        })
    };
    let (q1, q2, q3, q4, annual) = (
        get(ctx, Round::Q1),
        get(ctx, Round::Q2),
        get(ctx, Round::Q3),
        get(ctx, Round::Q4),
        get(ctx, Round::Annual),
    );
    dl.finish(ctx);
    Some(Schedule {
        verification_days: *verification_days?.get_ref() as u32,
        review_request_days: *review_request_days?.get_ref() as u32,
        review_request_runs: runs?,
        review_decision_days: *review_decision_days?.get_ref() as u32,
        round_deadlines: RoundDeadlines {
            q1: q1?,
            q2: q2?,
            q3: q3?,
            q4: q4?,
            annual: annual?,
        },
    })
}

fn outcomes(
    ctx: &mut Ctx<'_>,
    mut t: Tbl<'_, '_>,
    names: &Names,
    cats: &[Category],
    comp: &Composition,
) -> Option<Outcomes> {
    t.name = "[outcomes]".into();
    let small = 0..=1000;
    let warn_bottom = t.integer(ctx, "warn_bottom", true, small.clone());
    let regression = t.non_negative(ctx, "big_regression_points", true);
    let commend = t.integer(ctx, "commend_consecutive_excellent", true, small.clone());
    let recommend = t.integer(ctx, "recommend_township_consecutive_excellent", true, small);
    let copy_list = t.texts(ctx, "copy_list", true);
    let rec_cats = t.texts(ctx, "recommend_categories", false);
    let letter = t.texts(ctx, "letter_grades", false);
    let admonish = t.texts(ctx, "admonish_grades", false);
    t.finish(ctx);
    let mut ok = true;
    let mut refs = |ctx: &mut Ctx<'_>,
                    list: Option<Vec<Spanned<String>>>,
                    kind: RefKind|
     -> Option<Vec<String>> {
        let list = list?;
        for s in &list {
            let known = match kind {
                RefKind::Category => names.category(s.get_ref()).is_some(),
                _ => comp.grades.iter().any(|g| g.id == *s.get_ref()),
            };
            if !known {
                unknown_ref(ctx, kind, s);
                ok = false;
            }
        }
        Some(list.into_iter().map(Spanned::into_inner).collect())
    };
    let rec_cats = refs(ctx, rec_cats, RefKind::Category).unwrap_or_else(|| {
        cats.iter()
            .filter(|c| c.no == 1)
            .map(|c| c.id.clone())
            .collect()
    });
    let n = comp.grades.len();
    let letter = refs(ctx, letter, RefKind::Grade).unwrap_or_else(|| {
        comp.grades[n.saturating_sub(2)..]
            .iter()
            .map(|g| g.id.clone())
            .collect()
    });
    let admonish = refs(ctx, admonish, RefKind::Grade).unwrap_or_else(|| {
        comp.grades[n.saturating_sub(1)..]
            .iter()
            .map(|g| g.id.clone())
            .collect()
    });
    if !ok {
        return None;
    }
    Some(Outcomes {
        warn_bottom: *warn_bottom?.get_ref() as u32,
        big_regression_points: *regression?.get_ref(),
        commend_consecutive_excellent: *commend?.get_ref() as u32,
        recommend_township_consecutive_excellent: *recommend?.get_ref() as u32,
        recommend_categories: rec_cats,
        letter_grades: letter,
        admonish_grades: admonish,
        copy_list: copy_list?.into_iter().map(Spanned::into_inner).collect(),
    })
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
