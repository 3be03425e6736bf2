//! Units: `ListMyUnits`, the calling node's delegated scope.

use std::collections::HashSet;
use std::str::FromStr;

use super::{MAX_NAME_CHARS, optional_year};
use crate::keys::KeyId;
use crate::pb;
use crate::validate::{
    self, FieldError, Problem, identifier, optional_identifier, optional_text, text,
};

/// `ListMyUnits`: the caller's scope, for one year or every year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListMyUnitsRequest {
    /// Only this year.
    pub year: Option<u16>,
}

/// One assessee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Identifier.
    pub unit_id: String,
    /// Chinese name, as published.
    pub name: String,
    /// Category id from the rule pack.
    pub category_id: String,
    /// Parent unit, if any.
    pub parent_id: Option<String>,
    /// Supervising department (stationed units), if any.
    pub supervising_dept: Option<String>,
}

/// The calling node's delegated scope: these units × methods × years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMyUnitsResponse {
    /// The identity the hub authenticated the caller as.
    pub node_id: KeyId,
    /// Units in scope, each once.
    pub units: Vec<Unit>,
    /// Methods in scope, each once.
    pub method_ids: Vec<String>,
    /// Years in scope, each once.
    pub years: Vec<u16>,
}

impl ListMyUnitsResponse {
    /// Whether the scope covers this unit, method and year.
    pub fn covers(&self, unit_id: &str, method_id: &str, year: u16) -> bool {
        self.years.contains(&year)
            && self.method_ids.iter().any(|m| m == method_id)
            && self.units.iter().any(|u| u.unit_id == unit_id)
    }
}

impl TryFrom<pb::ListMyUnitsRequest> for ListMyUnitsRequest {
    type Error = FieldError;
    fn try_from(m: pb::ListMyUnitsRequest) -> Result<Self, FieldError> {
        Ok(ListMyUnitsRequest {
            year: optional_year("year", m.year)?,
        })
    }
}

impl From<ListMyUnitsRequest> for pb::ListMyUnitsRequest {
    fn from(r: ListMyUnitsRequest) -> Self {
        pb::ListMyUnitsRequest {
            year: r.year.map_or(0, u32::from),
        }
    }
}

impl TryFrom<pb::Unit> for Unit {
    type Error = FieldError;
    fn try_from(m: pb::Unit) -> Result<Self, FieldError> {
        Ok(Unit {
            unit_id: identifier("unit_id", m.unit_id)?,
            name: text("name", m.name, MAX_NAME_CHARS)?,
            category_id: identifier("category_id", m.category_id)?,
            parent_id: optional_identifier("parent_id", m.parent_id)?,
            supervising_dept: optional_text(
                "supervising_dept",
                m.supervising_dept,
                MAX_NAME_CHARS,
            )?,
        })
    }
}

impl From<Unit> for pb::Unit {
    fn from(u: Unit) -> Self {
        pb::Unit {
            unit_id: u.unit_id,
            name: u.name,
            category_id: u.category_id,
            parent_id: u.parent_id.unwrap_or_default(),
            supervising_dept: u.supervising_dept.unwrap_or_default(),
        }
    }
}

/// Refuses the second occurrence of a key.
fn unique<'a>(
    seen: &mut HashSet<String>,
    field: String,
    key: &'a str,
) -> Result<&'a str, FieldError> {
    if seen.insert(key.to_owned()) {
        Ok(key)
    } else {
        Err(FieldError::new(field, Problem::Duplicate(key.to_owned())))
    }
}

impl TryFrom<pb::ListMyUnitsResponse> for ListMyUnitsResponse {
    type Error = FieldError;
    fn try_from(m: pb::ListMyUnitsResponse) -> Result<Self, FieldError> {
        let node_id = KeyId::from_str(&m.node_id).map_err(|_| {
            FieldError::invalid(
                "node_id",
                "须为 32 个小写十六进制字符的密钥编号",
                "must be a key id of 32 lowercase hex characters",
            )
        })?;
        let mut seen = HashSet::new();
        let mut units = Vec::with_capacity(m.units.len());
        for (i, u) in m.units.into_iter().enumerate() {
            let unit = Unit::try_from(u).map_err(|e| e.within(format!("units[{i}]")))?;
            unique(&mut seen, format!("units[{i}].unit_id"), &unit.unit_id)?;
            units.push(unit);
        }
        let mut seen = HashSet::new();
        let mut method_ids = Vec::with_capacity(m.method_ids.len());
        for (i, id) in m.method_ids.into_iter().enumerate() {
            let field = format!("method_ids[{i}]");
            let id = identifier(&field, id)?;
            unique(&mut seen, field, &id)?;
            method_ids.push(id);
        }
        let mut seen = HashSet::new();
        let mut years = Vec::with_capacity(m.years.len());
        for (i, y) in m.years.into_iter().enumerate() {
            let field = format!("years[{i}]");
            let year = validate::year(&field, y)?;
            unique(&mut seen, field, &year.to_string())?;
            years.push(year);
        }
        Ok(ListMyUnitsResponse {
            node_id,
            units,
            method_ids,
            years,
        })
    }
}

impl From<ListMyUnitsResponse> for pb::ListMyUnitsResponse {
    fn from(r: ListMyUnitsResponse) -> Self {
        pb::ListMyUnitsResponse {
            node_id: r.node_id.into(),
            units: r.units.into_iter().map(Into::into).collect(),
            method_ids: r.method_ids,
            years: r.years.into_iter().map(u32::from).collect(),
        }
    }
}
