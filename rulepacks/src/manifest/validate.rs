//! Reading a manifest back: [`Manifest::from_json`] checks the versions
//! and every internal reference, since a manifest read from a module is
//! untrusted; [`Manifest::to_canonical_json`] writes the embedded form.

use std::collections::HashSet;

use serde::Deserialize;

use super::content::{FieldType, IndicatorKind, Missing};
use super::{ABI_MINOR, ABI_V1, ABI_V2, MANIFEST_VERSION, MAX_METHODS, Manifest};

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("清单不是有效的 JSON（manifest is not valid JSON）：{0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "不支持的清单版本（unsupported manifest version）：manifest_version = {manifest_version}，abi_version = {abi_version}，abi_minor = {abi_minor}；本程序支持 manifest_version 1、abi_version 1–2、abi_minor 0–{ABI_MINOR}（this build speaks ABI 1 and 2）"
    )]
    UnsupportedVersion {
        manifest_version: u32,
        abi_version: u32,
        abi_minor: u32,
    },
    #[error("清单自相矛盾（inconsistent manifest）：{0}")]
    Inconsistent(String),
}

impl Manifest {
    /// Parses and validates a manifest read from a module or a file.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        #[derive(Deserialize)]
        struct Versions {
            manifest_version: u32,
            abi_version: u32,
            #[serde(default)]
            abi_minor: u32,
        }
        // Check the versions before the shape, so a future manifest is
        // refused as "unsupported" rather than "malformed".
        let v: Versions = serde_json::from_slice(bytes)?;
        if v.manifest_version != MANIFEST_VERSION
            || !(ABI_V1..=ABI_V2).contains(&v.abi_version)
            || v.abi_minor > ABI_MINOR
        {
            return Err(ManifestError::UnsupportedVersion {
                manifest_version: v.manifest_version,
                abi_version: v.abi_version,
                abi_minor: v.abi_minor,
            });
        }
        let m: Manifest = serde_json::from_slice(bytes)?;
        m.validate()?;
        Ok(m)
    }

    /// The canonical JSON bytes: compact, keys in struct order, no maps with
    /// unordered keys. The same manifest always gives the same bytes.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        // Serialising these plain structs cannot fail (no maps with non-string
        // keys, no custom serialisers); fall back to an empty object rather
        // than panic should that ever change.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// Checks every invariant the ABI code and the helpers rely on.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let bad = |s: String| Err(ManifestError::Inconsistent(s));
        if self.manifest_version != MANIFEST_VERSION
            || !(ABI_V1..=ABI_V2).contains(&self.abi_version)
            || self.abi_minor > ABI_MINOR
        {
            return Err(ManifestError::UnsupportedVersion {
                manifest_version: self.manifest_version,
                abi_version: self.abi_version,
                abi_minor: self.abi_minor,
            });
        }
        unique("group", self.groups.iter().map(|g| g.id.as_str()))?;
        unique("category", self.categories.iter().map(|c| c.id.as_str()))?;
        unique("method", self.methods.iter().map(|m| m.id.as_str()))?;
        unique("field", self.fields.iter().map(|f| f.id.as_str()))?;
        unique("indicator", self.indicators.iter().map(|i| i.id.as_str()))?;
        unique(
            "clause",
            self.indicators
                .iter()
                .flat_map(|i| i.clauses.iter().map(|c| c.id.as_str())),
        )?;
        unique(
            "grade",
            self.composition.grades.iter().map(|g| g.id.as_str()),
        )?;
        if self.methods.len() > MAX_METHODS {
            return bad(format!(
                "考核方式超过 {MAX_METHODS} 种（more than {MAX_METHODS} methods）"
            ));
        }
        if u32::try_from(self.fields.len()).is_err()
            || u32::try_from(self.indicators.len()).is_err()
            || u32::try_from(self.categories.len()).is_err()
        {
            return bad("数量超出 u32（counts exceed u32）".into());
        }
        for c in &self.categories {
            for g in &c.groups {
                if self.group_index(g).is_none() {
                    return bad(format!("类别 {} 引用未知分组 {g}（unknown group）", c.id));
                }
            }
        }
        for m in &self.methods {
            if m.quarterly != m.combine.is_some() {
                return bad(format!(
                    "考核方式 {} 的 quarterly 与 combine 不一致（combine must be given exactly for quarterly methods）",
                    m.id
                ));
            }
        }
        for f in &self.fields {
            if self.method_index(&f.method).is_none() {
                return bad(format!(
                    "字段 {} 引用未知考核方式 {}（unknown method）",
                    f.id, f.method
                ));
            }
            if (f.kind == FieldType::Choice) == f.choices.is_empty() {
                return bad(format!(
                    "字段 {} 的选项与类型不符（choices must be given exactly for choice fields）",
                    f.id
                ));
            }
            if let (Some(lo), Some(hi)) = (f.min, f.max)
                && lo > hi
            {
                return bad(format!("字段 {} 的 min 大于 max（min > max）", f.id));
            }
            if let Missing::Default(d) = f.missing
                && !f.accepts(d)
            {
                return bad(format!(
                    "字段 {} 的默认值无效（default out of domain）",
                    f.id
                ));
            }
        }
        for ind in &self.indicators {
            if self.group_index(&ind.group).is_none() {
                return bad(format!(
                    "指标 {} 引用未知分组 {}（unknown group）",
                    ind.id, ind.group
                ));
            }
            if self.method_index(&ind.method).is_none() {
                return bad(format!(
                    "指标 {} 引用未知考核方式 {}（unknown method）",
                    ind.id, ind.method
                ));
            }
            if ind.points.len() != self.categories.len() {
                return bad(format!(
                    "指标 {} 的分值表长度与类别数不符（points must have one entry per category）",
                    ind.id
                ));
            }
            for (c, p) in ind.points.iter().enumerate() {
                let Some(p) = p else { continue };
                let in_group = self.categories[c].groups.contains(&ind.group);
                let ok = match ind.kind {
                    IndicatorKind::Flag => *p == 0,
                    _ => *p > 0,
                };
                if !in_group || !ok {
                    return bad(format!(
                        "指标 {} 对类别 {} 的分值无效（invalid points for category）",
                        ind.id, self.categories[c].id
                    ));
                }
            }
            let shape_ok = match ind.kind {
                IndicatorKind::Scored => {
                    ind.flag.is_none()
                        && ind.when.is_none()
                        && (ind.score.is_some() == ind.clauses.is_empty())
                }
                IndicatorKind::Bonus | IndicatorKind::Penalty => {
                    ind.flag.is_none() && ind.when.is_none() && ind.score.is_none()
                }
                IndicatorKind::Flag => {
                    ind.flag.is_some()
                        && ind.when.is_some()
                        && ind.score.is_none()
                        && ind.clauses.is_empty()
                }
            };
            if !shape_ok {
                return bad(format!(
                    "指标 {} 的规则与类型 {} 不符（rule does not fit the indicator kind）",
                    ind.id,
                    ind.kind.id()
                ));
            }
            if ind.reason.is_some() && ind.score.is_none() {
                return bad(format!(
                    "指标 {} 没有 score 公式，不能有失分理由模板（reason only with a score formula）",
                    ind.id
                ));
            }
            if ind.allow_not_applicable
                && (ind.kind != IndicatorKind::Scored || !self.has_not_applicable())
            {
                return bad(format!(
                    "指标 {} 可标记不适用，须为计分指标且清单 abi_minor ≥ 1（not-applicable needs a scored indicator and ABI 1.1）",
                    ind.id
                ));
            }
        }
        let comp = &self.composition;
        if comp.full_marks <= 0 || comp.bonus_cap < 0 || comp.penalty_cap < 0 {
            return bad("满分、加分上限或减分上限无效（invalid full marks or caps）".into());
        }
        // As the rubric check has it: a category's scored points (its
        // `applicable`) never exceed full marks — also so that summing them
        // cannot overflow (found by fuzzing `kaohe pack inspect`).
        for (c, cat) in self.categories.iter().enumerate() {
            let total = self
                .indicators
                .iter()
                .filter(|i| i.kind == IndicatorKind::Scored)
                .filter_map(|i| i.points.get(c).copied().flatten())
                .try_fold(0i64, i64::checked_add);
            if total.is_none_or(|t| t > comp.full_marks) {
                return bad(format!(
                    "类别 {} 的计分指标分值合计超过满分（scored points of the category exceed full marks）",
                    cat.id
                ));
            }
        }
        // Something must remain to convert over whatever is marked not
        // applicable (RUBRIC.md §3), so `applicable` is never 0.
        for (c, cat) in self.categories.iter().enumerate() {
            let scored = |i: &&super::Indicator| {
                i.kind == IndicatorKind::Scored && i.points.get(c).copied().flatten().is_some()
            };
            let any = self.indicators.iter().filter(scored).count() > 0;
            if any
                && self
                    .indicators
                    .iter()
                    .filter(scored)
                    .all(|i| i.allow_not_applicable)
            {
                return bad(format!(
                    "类别 {} 的计分指标都可标记不适用（every scored indicator of the category may be marked not applicable）",
                    cat.id
                ));
            }
        }
        if comp.grades.len() < 2 {
            return bad("至少需要两个等次（at least two grades）".into());
        }
        if comp.grades.windows(2).any(|w| w[0].min <= w[1].min) {
            return bad("等次下限须严格递减（grade minimums must strictly decrease）".into());
        }
        match self.grade_index(&comp.serious_case_bars) {
            Some(g) if g + 1 < comp.grades.len() => {}
            _ => {
                return bad(
                    "serious_case_bars 须为非最低的等次（must name a grade other than the lowest）"
                        .into(),
                );
            }
        }
        if !(0..=100).contains(&comp.excellent_quota) {
            return bad("优秀比例须在 0 到 1 之间（excellent quota out of range）".into());
        }
        let out = &self.outcomes;
        if out
            .warn_bottom_share
            .is_some_and(|s| !(0..=100).contains(&s))
        {
            return bad("warn_bottom_share 须在 0 到 1 之间（share out of range）".into());
        }
        for c in &out.recommend_categories {
            if self.category_index(c).is_none() {
                return bad(format!("outcomes 引用未知类别 {c}（unknown category）"));
            }
        }
        for g in out.letter_grades.iter().chain(&out.admonish_grades) {
            if self.grade_index(g).is_none() {
                return bad(format!("outcomes 引用未知等次 {g}（unknown grade）"));
            }
        }
        if self.limits.fuel_per_unit == 0 {
            return bad("fuel_per_unit 须大于 0（must be positive）".into());
        }
        Ok(())
    }
}

fn unique<'a>(what: &str, ids: impl Iterator<Item = &'a str>) -> Result<(), ManifestError> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(ManifestError::Inconsistent(format!(
                "重复的 {what} 标识 {id}（duplicate {what} id）"
            )));
        }
    }
    Ok(())
}
