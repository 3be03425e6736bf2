//! `kaohe node set`: one value from the command line, checked as an
//! imported cell would be, written as a one-value import.

use std::collections::BTreeSet;

use kaohe_rulepacks::manifest::Round;

use super::check::{category_name, method_name};
use super::problem::{Location, Problem, Rule};
use crate::layout::{self, Layout, LayoutError};
use crate::store::{Actor, ApplyError, ApplySummary, EvidenceWrite, SourceKind, Store, StoreError};
use crate::value::{self, Input};

/// Sets one value from the command line, with the import's checks.
pub fn set_value(
    store: &mut Store,
    year: u16,
    unit_id: &str,
    field_id: &str,
    text: &str,
    round: Option<Round>,
    actor: &Actor,
) -> Result<ApplySummary, SetError> {
    let pack = store.require_pack(year)??;
    let scope = store.scope(year)?;
    let layout = Layout::new(&pack.manifest, &scope)?;
    let known = store.known_units()?;
    let write =
        check_set(&layout, &known, unit_id, field_id, text, round).map_err(SetError::Invalid)?;
    Ok(store.apply_evidence(year, &[write], &SourceKind::Set, actor, &mut |_| {})?)
}

/// `set` was refused or failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error(transparent)]
    NoPack(#[from] crate::store::NoPack),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("{0}，未作修改（nothing changed）")]
    Invalid(Box<Problem>),
    #[error("写入失败，未作修改（writing failed; nothing changed）：{0}")]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The checks of `set`, pure.
pub fn check_set(
    layout: &Layout<'_>,
    known: &BTreeSet<String>,
    unit_id: &str,
    field_id: &str,
    text: &str,
    round: Option<Round>,
) -> Result<EvidenceWrite, Box<Problem>> {
    let m = layout.manifest;
    let mut at = Location {
        unit: Some(unit_id.to_string()),
        ..Location::default()
    };
    let fail = |at: &Location, rule| {
        Box::new(Problem {
            at: at.clone(),
            rule,
        })
    };
    let Some(unit) = layout.scope.unit(unit_id) else {
        let rule = if known.contains(unit_id) {
            Rule::OutOfScope {
                id: unit_id.to_string(),
                year: layout.scope.year,
            }
        } else {
            Rule::UnknownUnit {
                id: unit_id.to_string(),
            }
        };
        return Err(fail(&at, rule));
    };
    let Some(f) = m.field_index(field_id) else {
        return Err(fail(
            &at,
            Rule::UnknownField {
                id: field_id.to_string(),
            },
        ));
    };
    let field = &m.fields[f];
    at.header = Some(layout::header(field));
    if !layout.scope.has_method(&field.method) {
        return Err(fail(
            &at,
            Rule::FieldNotInScope {
                field: field.id.clone(),
                method: method_name(layout, &field.method),
            },
        ));
    }
    let quarterly = layout.fields_for(Round::Q1).contains(&f);
    let round = match (quarterly, round) {
        (true, Some(r)) if r.is_quarter() => r,
        (true, _) => return Err(fail(&at, Rule::RoundRequired)),
        (false, None | Some(Round::Annual)) => Round::Annual,
        (false, Some(r)) => {
            return Err(fail(
                &at,
                Rule::RoundNotAllowed {
                    round: r.id().to_string(),
                },
            ));
        }
    };
    let category = layout.category_of(unit);
    if !category.is_some_and(|c| layout.applies(c, f)) {
        return Err(fail(
            &at,
            Rule::NotApplicable {
                category: category_name(layout, unit),
            },
        ));
    }
    let parsed = value::parse(field, Input::Text(text)).map_err(|e| fail(&at, Rule::Value(e)))?;
    Ok(EvidenceWrite {
        unit_id: unit.unit_id.clone(),
        round,
        field_id: field.id.clone(),
        value: Some(parsed.value),
    })
}
