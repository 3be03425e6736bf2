//! The tables that name what is assessed: `[pack]`, `[[group]]`,
//! `[[method]]`, `[[category]]` and `[[field]]`, and the reading of one
//! field's value (shared with evidence files).

use toml::Spanned;
use toml::de::DeValue;

use super::{Ids, Names, invalid, one_of, unknown_ref};
use crate::decimal::{LiteralError, Points};
use crate::manifest::{
    Assessor, Category, Combine, Field, FieldType, Group, Method, Missing, PackInfo,
};
use crate::rubric::error::{CompileError, Expect, IdKind, RefKind};
use crate::rubric::expr::RESERVED;
use crate::rubric::reader::{Ctx, Num, Tbl, Value, number_of};

pub(super) fn pack(ctx: &mut Ctx<'_>, mut t: Tbl<'_, '_>) -> Option<PackInfo> {
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

pub(super) fn group(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>) -> Option<Group> {
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

pub(super) fn method(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>) -> Option<Method> {
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

pub(super) fn category(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>, names: &Names) -> Option<Category> {
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

pub(super) fn field(ctx: &mut Ctx<'_>, t: &mut Tbl<'_, '_>, names: &Names) -> Option<Field> {
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
