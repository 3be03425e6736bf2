//! 授权范围（scope）：节点可以上报哪些单位、哪些考核方式、哪些年度。
//!
//! A scope is units × methods × years. The unit dimension is the union of
//! three selectors: categories (every unit of that category), subtrees
//! (a unit and everything below it — a township's system, the hospitals
//! under the health commission) and an explicit unit list.
//!
//! **Invariant:** [`Scope::check`] is pure — the roster it needs is passed in
//! as a [`RegistryView`] — so the hub checks every submission the same way,
//! in the server and in tests.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::import::is_category_id;
use super::units::{UnitRecord, YearRoster};

/// The assessment methods (考核方式) of the scheme, with their Chinese names.
/// The rule pack manifest uses the same ids.
pub const METHODS: [(&str, &str); 7] = [
    ("daily", "日常评价"),
    ("supervision", "监督督察"),
    ("file_review", "集中评查"),
    ("online_check", "网络检索"),
    ("field_inspection", "实地考察"),
    ("satisfaction", "满意度调查"),
    ("bonus_penalty", "加减分评定"),
];

/// The Chinese name of a method id.
pub fn method_name_zh(method: &str) -> Option<&'static str> {
    METHODS
        .iter()
        .find(|(id, _)| *id == method)
        .map(|(_, zh)| *zh)
}

/// Read access to the units of a year, as [`Scope::check`] needs it.
pub trait RegistryView {
    fn unit(&self, year: i32, id: &str) -> Option<&UnitRecord>;
}

impl RegistryView for YearRoster {
    fn unit(&self, year: i32, id: &str) -> Option<&UnitRecord> {
        if year == self.year {
            self.get(id)
        } else {
            None
        }
    }
}

impl RegistryView for BTreeMap<i32, YearRoster> {
    fn unit(&self, year: i32, id: &str) -> Option<&UnitRecord> {
        self.get(&year)?.get(id)
    }
}

/// What a node may report on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Every unit of these categories.
    #[serde(default)]
    pub categories: BTreeSet<String>,
    /// These units and every unit below them.
    #[serde(default)]
    pub subtrees: BTreeSet<String>,
    /// These units.
    #[serde(default)]
    pub units: BTreeSet<String>,
    pub methods: BTreeSet<String>,
    pub years: BTreeSet<i32>,
    /// The node may also report the unit it assesses for (its own unit,
    /// 本单位自评) where the scheme lets a unit assess itself; the roster
    /// names another assessor for that unit, so it must be said here. The
    /// selectors above must still cover the unit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_unit: bool,
}

/// Which dimension of a scope a report falls outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeDimension {
    Unit,
    Method,
    Year,
}

/// A report outside a node's scope; the message says which dimension.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeViolation {
    #[error(
        "{year} 年度不在本节点授权的年度（{}）之内（year out of scope）",
        join(allowed)
    )]
    Year { year: i32, allowed: Vec<i32> },
    #[error(
        "考核方式「{}」不在本节点授权的考核方式（{}）之内（method out of scope）",
        method_label(method),
        allowed.iter().map(|m| method_label(m)).collect::<Vec<_>>().join("、")
    )]
    Method {
        method: String,
        allowed: Vec<String>,
    },
    #[error(
        "单位 {unit_id}（{unit_name}）是 {unit_year} 年度名册中的单位，不是 {year} 年度的考核对象（unit of another year）"
    )]
    UnitOfAnotherYear {
        unit_id: String,
        unit_name: String,
        unit_year: i32,
        year: i32,
    },
    #[error(
        "单位 {unit_id}（{unit_name}，类别 {category}）不在本节点授权的考核对象范围内；授权范围为：{granted}（unit out of scope）"
    )]
    Unit {
        unit_id: String,
        unit_name: String,
        category: String,
        granted: String,
    },
    #[error(
        "单位 {unit_id}（{unit_name}）在 {year} 年度名册中的考核主体是{roster}，不是本节点（{node}）；只有名册所列的考核主体可以上报该单位的考核结果{hint}（the roster gives this unit to another assessor）"
    )]
    NotTheAssessor {
        unit_id: String,
        unit_name: String,
        year: i32,
        /// The roster's 考核主体 of the unit, for messages.
        roster: String,
        /// The node's own assessor, for messages.
        node: String,
        /// What to do when the unit is the node's own unit.
        hint: String,
    },
}

impl ScopeViolation {
    pub fn dimension(&self) -> ScopeDimension {
        match self {
            ScopeViolation::Year { .. } => ScopeDimension::Year,
            ScopeViolation::Method { .. } => ScopeDimension::Method,
            ScopeViolation::UnitOfAnotherYear { .. }
            | ScopeViolation::Unit { .. }
            | ScopeViolation::NotTheAssessor { .. } => ScopeDimension::Unit,
        }
    }
}

/// A scope that cannot be granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("授权范围有误（invalid scope）：{}", problems.join("；"))]
pub struct InvalidScope {
    pub problems: Vec<String>,
}

impl Scope {
    /// Checks that a report on `unit` by `method` for `year` is inside the
    /// scope. Dimensions are checked in the order year, method, unit; the
    /// first one outside is reported.
    pub fn check(
        &self,
        unit: &UnitRecord,
        method: &str,
        year: i32,
        view: &impl RegistryView,
    ) -> Result<(), ScopeViolation> {
        if !self.years.contains(&year) {
            return Err(ScopeViolation::Year {
                year,
                allowed: self.years.iter().copied().collect(),
            });
        }
        if !self.methods.contains(method) {
            return Err(ScopeViolation::Method {
                method: method.to_string(),
                allowed: self.methods.iter().cloned().collect(),
            });
        }
        if unit.year != year {
            return Err(ScopeViolation::UnitOfAnotherYear {
                unit_id: unit.id.clone(),
                unit_name: unit.name.clone(),
                unit_year: unit.year,
                year,
            });
        }
        if self.covers_unit(unit, view) {
            Ok(())
        } else {
            Err(ScopeViolation::Unit {
                unit_id: unit.id.clone(),
                unit_name: unit.name.clone(),
                category: unit.category.clone(),
                granted: self.units_description(),
            })
        }
    }

    /// Whether the unit dimension covers `unit` (its year's roster in `view`
    /// gives its ancestors).
    pub fn covers_unit(&self, unit: &UnitRecord, view: &impl RegistryView) -> bool {
        if self.categories.contains(&unit.category) || self.units.contains(&unit.id) {
            return true;
        }
        if self.subtrees.is_empty() {
            return false;
        }
        // Walk up the parents; the bound guards against a cycle in stored data.
        let mut current = Some(unit.id.clone());
        let mut parent = unit.parent.clone();
        for _ in 0..1024 {
            let Some(id) = current else { return false };
            if self.subtrees.contains(&id) {
                return true;
            }
            current = parent.take();
            parent = current
                .as_deref()
                .and_then(|p| view.unit(unit.year, p))
                .and_then(|u| u.parent.clone());
        }
        false
    }

    /// Checks the scope's own syntax before it is granted.
    pub fn validate(&self) -> Result<(), InvalidScope> {
        let mut problems = Vec::new();
        if self.categories.is_empty() && self.subtrees.is_empty() && self.units.is_empty() {
            problems.push(
                "没有授权任何单位：请给出类别、下级单位树或单位清单（no units: give categories, subtrees or units）"
                    .to_string(),
            );
        }
        for c in &self.categories {
            if !is_category_id(c) {
                problems.push(format!(
                    "类别「{c}」格式不对，应为小写字母开头的类别编号，如 township（bad category id）"
                ));
            }
        }
        for u in self.subtrees.iter().chain(&self.units) {
            if u.is_empty() || u.chars().any(|c| c.is_whitespace() || c == ',') {
                problems.push(format!("单位编号「{u}」格式不对（bad unit id）"));
            }
        }
        if self.methods.is_empty() {
            problems.push("没有授权任何考核方式（no methods）".to_string());
        }
        for m in &self.methods {
            if method_name_zh(m).is_none() {
                problems.push(format!(
                    "未知考核方式「{m}」，应为 {}（unknown method）",
                    METHODS
                        .iter()
                        .map(|(id, zh)| format!("{id}（{zh}）"))
                        .collect::<Vec<_>>()
                        .join("、")
                ));
            }
        }
        if self.years.is_empty() {
            problems.push("没有授权任何年度（no years）".to_string());
        }
        for y in &self.years {
            if !crate::calendar::YEAR_RANGE.contains(y) {
                problems.push(format!("年度 {y} 不合理（year out of range）"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidScope { problems })
        }
    }

    /// The unit dimension in Chinese, for messages and listings.
    pub fn units_description(&self) -> String {
        let mut parts = Vec::new();
        if !self.categories.is_empty() {
            parts.push(format!("类别 {}", join(&self.categories)));
        }
        if !self.subtrees.is_empty() {
            parts.push(format!("下级单位树 {}", join(&self.subtrees)));
        }
        if !self.units.is_empty() {
            parts.push(format!("单位 {}", join(&self.units)));
        }
        if self.own_unit {
            parts.push("含本单位自评".to_string());
        }
        if parts.is_empty() {
            "无".to_string()
        } else {
            parts.join("；")
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}；方式 {}；年度 {}",
            self.units_description(),
            self.methods
                .iter()
                .map(|m| method_name_zh(m).unwrap_or(m))
                .collect::<Vec<_>>()
                .join("、"),
            join(&self.years)
        )
    }
}

fn method_label(method: &str) -> String {
    match method_name_zh(method) {
        Some(zh) => format!("{zh} {method}"),
        None => method.to_string(),
    }
}

fn join<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("、")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::units::tests::unit;

    /// 2024: township `t1` with village `t1v1` and its group `t1v1g`;
    /// health commission `wjw` with hospital `h1`; department `sfj`.
    fn roster() -> YearRoster {
        let units = [
            unit(2024, "t1", "township", None),
            unit(2024, "t1v1", "village", Some("t1")),
            unit(2024, "t1v1g", "village_group", Some("t1v1")),
            unit(2024, "t2", "township", None),
            unit(2024, "wjw", "department", None),
            unit(2024, "h1", "hospital", Some("wjw")),
            unit(2024, "sfj", "department", None),
        ];
        YearRoster {
            year: 2024,
            units: units.into_iter().map(|u| (u.id.clone(), u)).collect(),
        }
    }

    fn scope(categories: &[&str], subtrees: &[&str], units: &[&str]) -> Scope {
        Scope {
            categories: categories.iter().map(|s| s.to_string()).collect(),
            subtrees: subtrees.iter().map(|s| s.to_string()).collect(),
            units: units.iter().map(|s| s.to_string()).collect(),
            methods: ["daily", "field_inspection"].map(String::from).into(),
            years: [2024].into(),
            own_unit: false,
        }
    }

    #[test]
    fn categories_subtrees_and_unit_lists_each_grant_units() {
        let r = roster();
        let by_category = scope(&["township"], &[], &[]);
        assert_eq!(
            by_category.check(r.get("t2").unwrap(), "daily", 2024, &r),
            Ok(())
        );
        let by_subtree = scope(&[], &["t1"], &[]);
        for id in ["t1", "t1v1", "t1v1g"] {
            assert_eq!(
                by_subtree.check(r.get(id).unwrap(), "daily", 2024, &r),
                Ok(()),
                "{id}"
            );
        }
        let by_list = scope(&[], &[], &["sfj"]);
        assert_eq!(
            by_list.check(r.get("sfj").unwrap(), "daily", 2024, &r),
            Ok(())
        );
    }

    #[test]
    fn a_unit_outside_every_selector_is_a_unit_violation_naming_the_unit() {
        let r = roster();
        // The health commission's node: hospitals under wjw, not wjw's peers.
        let s = scope(&[], &["wjw"], &[]);
        assert_eq!(s.check(r.get("h1").unwrap(), "daily", 2024, &r), Ok(()));
        let err = s
            .check(r.get("t1v1").unwrap(), "daily", 2024, &r)
            .unwrap_err();
        assert_eq!(err.dimension(), ScopeDimension::Unit);
        let msg = err.to_string();
        assert!(msg.contains("单位 t1v1"), "{msg}");
        assert!(msg.contains("类别 village"), "{msg}");
        assert!(msg.contains("下级单位树 wjw"), "{msg}");
        // A subtree does not grant its parent or siblings.
        let s = scope(&[], &["t1v1"], &[]);
        assert_eq!(
            s.check(r.get("t1").unwrap(), "daily", 2024, &r)
                .unwrap_err()
                .dimension(),
            ScopeDimension::Unit
        );
    }

    #[test]
    fn a_method_outside_the_scope_is_a_method_violation_in_chinese() {
        let r = roster();
        let s = scope(&["township"], &[], &[]);
        let err = s
            .check(r.get("t1").unwrap(), "satisfaction", 2024, &r)
            .unwrap_err();
        assert_eq!(err.dimension(), ScopeDimension::Method);
        let msg = err.to_string();
        assert!(msg.contains("满意度调查 satisfaction"), "{msg}");
        assert!(msg.contains("日常评价 daily"), "{msg}");
    }

    #[test]
    fn another_year_is_a_year_violation_even_for_a_unit_in_scope() {
        let r = roster();
        let s = scope(&["township"], &[], &[]);
        let err = s
            .check(r.get("t1").unwrap(), "daily", 2025, &r)
            .unwrap_err();
        assert_eq!(
            err,
            ScopeViolation::Year {
                year: 2025,
                allowed: vec![2024]
            }
        );
        assert!(err.to_string().contains("2025 年度不在"), "{err}");
    }

    #[test]
    fn a_unit_record_of_another_year_is_refused() {
        let r = roster();
        let mut s = scope(&["township"], &[], &[]);
        s.years.insert(2025);
        let err = s
            .check(r.get("t1").unwrap(), "daily", 2025, &r)
            .unwrap_err();
        assert!(matches!(
            err,
            ScopeViolation::UnitOfAnotherYear {
                unit_year: 2024,
                year: 2025,
                ..
            }
        ));
        assert_eq!(err.dimension(), ScopeDimension::Unit);
    }

    #[test]
    fn validate_lists_every_problem() {
        let s = Scope {
            categories: ["Township".to_string()].into(),
            subtrees: BTreeSet::new(),
            units: BTreeSet::new(),
            methods: ["daily".to_string(), "gossip".to_string()].into(),
            years: BTreeSet::new(),
            own_unit: false,
        };
        let err = s.validate().unwrap_err();
        let all = err.problems.join("\n");
        assert!(all.contains("Township"), "{all}");
        assert!(all.contains("gossip"), "{all}");
        assert!(all.contains("no years"), "{all}");
        assert_eq!(err.problems.len(), 3, "{all}");
        assert_eq!(scope(&["township"], &[], &[]).validate(), Ok(()));
        assert!(
            Scope {
                methods: ["daily".into()].into(),
                years: [2024].into(),
                ..Scope::default()
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn scope_round_trips_through_json() {
        let s = scope(&["township"], &["wjw"], &["sfj"]);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Scope>(&text).unwrap(), s);
        assert!(serde_json::from_str::<Scope>(r#"{"methods":[],"years":[],"unit":[]}"#).is_err());
        // Scopes stored before `own_unit` existed read as without it, and
        // a scope without it is stored as before.
        assert!(!text.contains("own_unit"), "{text}");
        let own = Scope {
            own_unit: true,
            ..s.clone()
        };
        let text = serde_json::to_string(&own).unwrap();
        assert_eq!(serde_json::from_str::<Scope>(&text).unwrap(), own);
    }
}
