//! 表格布局（layout）：模板与导入共用的“哪张表、哪些列、哪些单元格要填”。
//!
//! Derived from the year's manifest and the node's scope, so the template an
//! official fills in and the import that reads it back can never disagree:
//!
//! - **xlsx**: one sheet per round that has fields in scope — `年度` for the
//!   annual methods, `第一季度` … `第四季度` for the quarterly ones — then the
//!   notes sheet `填表说明`. A sheet has a row per unit in scope.
//! - **CSV**: one table with a `轮次` (round) column and a row per unit and
//!   round; a field's cell is left empty on rows of the other kind of round.
//! - Columns: `单位编号`, `单位名称`, (CSV: `轮次`), then the fields of the
//!   methods in scope in manifest order, then the not-applicable reason
//!   columns. Row 1 holds the Chinese headers with
//!   units (`法治专题学习次数（次）`), row 2 the field ids (hidden in xlsx), so
//!   the import finds columns by id and notices renamed or moved headers.
//!
//! **Not applicable (不适用).** After the fields of a round come the reason
//! columns of the indicators the rubric lets the assessor mark not
//! applicable (`不适用理由：N2_5 深入推进服务型行政执法建设`, id `na.N2_5`): a
//! reason written there marks the indicator not applicable to that unit in
//! that round (RUBRIC.md §11); left empty, it applies. Its cell is open
//! only where the indicator applies to the unit's category.
//!
//! **Which cells apply.** A field applies to a unit when an indicator that
//! applies to the unit's category reads it. The manifest carries formulas as
//! text, so the fields a formula reads are found by scanning it for
//! identifiers outside string literals — an over-approximation (a field
//! mentioned only inside `present(…)` counts too), so a field a unit's score
//! needs is never marked as not applying. A field no indicator reads applies
//! to every unit. Cells that do not apply are grey and locked in the template
//! and refused by the import.

use kaohe_rulepacks::manifest::{Field, Manifest, Missing, Round};

use crate::store::{Scope, UnitInfo};

/// The notes sheet's name.
pub const NOTES_SHEET: &str = "填表说明";
/// Header and id of the unit id column.
pub const UNIT_ID_HEADER: &str = "单位编号";
pub const UNIT_ID_KEY: &str = "unit_id";
/// Header and id of the unit name column.
pub const UNIT_NAME_HEADER: &str = "单位名称";
pub const UNIT_NAME_KEY: &str = "unit_name";
/// Header and id of the CSV round column.
pub const ROUND_HEADER: &str = "轮次";
pub const ROUND_KEY: &str = "round";
/// First cell of the notes sheet: identifies the template's pack and year.
pub const MARKER_PREFIX: &str = "kaohe-template";
/// Prefix of a not-applicable column's id: `na.N2_5`.
pub const MARK_KEY_PREFIX: &str = "na.";
/// Prefix of a not-applicable column's header: `不适用理由：N2_5 深入推进…`.
pub const MARK_HEADER_PREFIX: &str = "不适用理由：";

/// The layout of one year's template for one node.
#[derive(Debug, Clone)]
pub struct Layout<'a> {
    pub manifest: &'a Manifest,
    pub scope: &'a Scope,
    /// Rounds that have at least one field in scope, in ABI order.
    pub rounds: Vec<Round>,
    /// Manifest indices of the annual fields in scope.
    annual: Vec<usize>,
    /// Manifest indices of the quarterly fields in scope.
    quarterly: Vec<usize>,
    /// Manifest indices of the annual indicators in scope the assessor may
    /// mark not applicable (a reason column each).
    annual_marks: Vec<usize>,
    /// The same for the quarterly indicators.
    quarterly_marks: Vec<usize>,
    /// Per unit of the scope (same order): its category index.
    categories: Vec<usize>,
    /// `[category][field]`: the field applies to the category.
    reads: Vec<Vec<bool>>,
    /// Per indicator: the fields its formulas mention.
    mentions: Vec<Vec<usize>>,
}

/// The manifest and the scope do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "单位 {unit_id} 的类别 {category_id} 不在 {pack} 规则包中；请重新同步（unit category unknown to the pack: sync again）"
    )]
    UnknownCategory {
        unit_id: String,
        category_id: String,
        pack: String,
    },
    #[error("{year} 年本节点的考核范围中没有单位；请先同步（no units in scope: sync first）")]
    NoUnits { year: u16 },
    #[error(
        "{year} 年本节点的考核方式（{methods}）在规则包中都没有证据项（no evidence field of the methods in scope）"
    )]
    NoFields { year: u16, methods: String },
}

impl<'a> Layout<'a> {
    pub fn new(manifest: &'a Manifest, scope: &'a Scope) -> Result<Layout<'a>, LayoutError> {
        let pack = format!(
            "{}-{} v{}",
            manifest.pack.id, manifest.pack.year, manifest.pack.version
        );
        if scope.units.is_empty() {
            return Err(LayoutError::NoUnits { year: scope.year });
        }
        let categories = scope
            .units
            .iter()
            .map(|u| {
                manifest.category_index(&u.category_id).ok_or_else(|| {
                    LayoutError::UnknownCategory {
                        unit_id: u.unit_id.clone(),
                        category_id: u.category_id.clone(),
                        pack: pack.clone(),
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (mut annual, mut quarterly) = (Vec::new(), Vec::new());
        for (i, f) in manifest.fields.iter().enumerate() {
            if !scope.has_method(&f.method) {
                continue;
            }
            match manifest
                .method_index(&f.method)
                .map(|m| manifest.methods[m].quarterly)
            {
                Some(true) => quarterly.push(i),
                Some(false) => annual.push(i),
                None => {}
            }
        }
        if annual.is_empty() && quarterly.is_empty() {
            return Err(LayoutError::NoFields {
                year: scope.year,
                methods: scope.methods.join("、"),
            });
        }
        let (mut annual_marks, mut quarterly_marks) = (Vec::new(), Vec::new());
        for (i, ind) in manifest.indicators.iter().enumerate() {
            if !ind.allow_not_applicable || !scope.has_method(&ind.method) {
                continue;
            }
            match manifest
                .indicator_method(i)
                .map(|m| manifest.methods[m].quarterly)
            {
                Some(true) => quarterly_marks.push(i),
                Some(false) => annual_marks.push(i),
                None => {}
            }
        }
        let mentions = mentions(manifest);
        let mut rounds = Vec::new();
        if !annual.is_empty() {
            rounds.push(Round::Annual);
        }
        if !quarterly.is_empty() {
            rounds.extend(Round::QUARTERS);
        }
        Ok(Layout {
            manifest,
            scope,
            rounds,
            annual,
            quarterly,
            annual_marks,
            quarterly_marks,
            categories,
            reads: field_reads(manifest, &mentions),
            mentions,
        })
    }

    /// Manifest indices of the fields reported in `round`.
    pub fn fields_for(&self, round: Round) -> &[usize] {
        if round.is_quarter() {
            &self.quarterly
        } else {
            &self.annual
        }
    }

    /// Manifest indices of the indicators that may be marked not applicable
    /// in `round` (a reason column each, after the fields).
    pub fn marks_for(&self, round: Round) -> &[usize] {
        if round.is_quarter() {
            &self.quarterly_marks
        } else {
            &self.annual_marks
        }
    }

    /// Every markable indicator in scope: annual first, then quarterly (the
    /// CSV's reason columns, after the fields).
    pub fn all_marks(&self) -> Vec<usize> {
        self.annual_marks
            .iter()
            .chain(&self.quarterly_marks)
            .copied()
            .collect()
    }

    /// Whether indicator `indicator` may be marked in `round`.
    pub fn mark_in_round(&self, indicator: usize, round: Round) -> bool {
        self.marks_for(round).contains(&indicator)
    }

    /// Whether indicator `indicator` applies to units of `category` (so its
    /// reason cell is open).
    pub fn mark_applies(&self, category: usize, indicator: usize) -> bool {
        self.manifest.applies(indicator, category)
    }

    /// The indicators applying to `category` that read field `field`: all
    /// marked not applicable, the field is not needed.
    pub fn readers_in(&self, category: usize, field: usize) -> Vec<usize> {
        self.indicators_reading(field)
            .into_iter()
            .filter(|&i| self.manifest.applies(i, category))
            .collect()
    }

    /// Every field in scope: annual first, then quarterly, each in manifest
    /// order (the CSV column order).
    pub fn all_fields(&self) -> Vec<usize> {
        self.annual.iter().chain(&self.quarterly).copied().collect()
    }

    /// Whether field `field` is reported in `round`.
    pub fn field_in_round(&self, field: usize, round: Round) -> bool {
        self.fields_for(round).contains(&field)
    }

    /// The unit's category index (units of the scope only).
    pub fn category_of(&self, unit: &UnitInfo) -> Option<usize> {
        self.scope
            .units
            .iter()
            .position(|u| u.unit_id == unit.unit_id)
            .map(|i| self.categories[i])
    }

    /// Whether field `field` applies to units of category `category`.
    pub fn applies(&self, category: usize, field: usize) -> bool {
        self.reads
            .get(category)
            .and_then(|r| r.get(field))
            .copied()
            .unwrap_or(false)
    }

    /// Indices of the indicators whose formulas mention field `field`.
    pub fn indicators_reading(&self, field: usize) -> Vec<usize> {
        (0..self.mentions.len())
            .filter(|&i| self.mentions[i].contains(&field))
            .collect()
    }

    pub fn field(&self, field: usize) -> &'a Field {
        &self.manifest.fields[field]
    }

    /// Name of the sheet of `round`: `年度`, `第一季度` ….
    pub fn sheet_name(round: Round) -> &'static str {
        round.name_zh()
    }

    /// The round of a sheet name (Chinese name or id), if it is one.
    pub fn round_of_sheet(name: &str) -> Option<Round> {
        let name = name.trim();
        Round::ALL
            .into_iter()
            .find(|r| r.name_zh() == name || r.id().eq_ignore_ascii_case(name))
    }

    /// The marker written in the notes sheet: `kaohe-template 2022 test v1`.
    pub fn marker(&self) -> String {
        let p = &self.manifest.pack;
        format!(
            "{MARKER_PREFIX} {} {} v{}",
            self.scope.year, p.id, p.version
        )
    }
}

/// The Chinese header of a field: its label and, in full-width brackets,
/// its unit: `法治专题学习次数（次）`.
pub fn header(field: &Field) -> String {
    if field.unit.is_empty() {
        field.label.clone()
    } else {
        format!("{}（{}）", field.label, field.unit)
    }
}

/// The header of indicator `ind`'s not-applicable reason column.
pub fn mark_header(ind: &kaohe_rulepacks::manifest::Indicator) -> String {
    format!("{MARK_HEADER_PREFIX}{} {}", ind.id, ind.name)
}

/// The id of indicator `ind`'s reason column (row 2): `na.N2_5`.
pub fn mark_key(ind: &kaohe_rulepacks::manifest::Indicator) -> String {
    format!("{MARK_KEY_PREFIX}{}", ind.id)
}

/// A header as compared by the import: blanks removed, full-width brackets
/// made ASCII, so `法治专题学习次数 (次)` matches.
pub fn header_key(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{3000}')
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            c => c,
        })
        .collect()
}

/// Whether a field must be filled whenever its method is reported.
pub fn required(field: &Field) -> bool {
    field.missing == Missing::Refuse
}

/// Per indicator: the fields its formulas mention (ascending, each once).
fn mentions(manifest: &Manifest) -> Vec<Vec<usize>> {
    manifest
        .indicators
        .iter()
        .map(|ind| {
            let formulas = ind.score.iter().chain(ind.when.iter()).chain(
                ind.clauses
                    .iter()
                    .flat_map(|c| std::iter::once(&c.when).chain(c.amount.iter())),
            );
            let mut fields: Vec<usize> = formulas
                .flat_map(|text| identifiers(text).filter_map(|id| manifest.field_index(id)))
                .collect();
            fields.sort_unstable();
            fields.dedup();
            fields
        })
        .collect()
}

/// `[category][field]`: whether an indicator applying to the category reads
/// the field (see the module docs).
fn field_reads(manifest: &Manifest, mentions: &[Vec<usize>]) -> Vec<Vec<bool>> {
    let mut read_anywhere = vec![false; manifest.fields.len()];
    for &f in mentions.iter().flatten() {
        read_anywhere[f] = true;
    }
    (0..manifest.categories.len())
        .map(|c| {
            let mut row: Vec<bool> = read_anywhere.iter().map(|r| !r).collect();
            for (i, fields) in mentions.iter().enumerate() {
                if manifest.applies(i, c) {
                    for &f in fields {
                        row[f] = true;
                    }
                }
            }
            row
        })
        .collect()
}

/// Identifiers of a formula, skipping string literals.
fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if b.is_ascii_alphabetic() || b == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push(&text[start..i]);
        } else if b.is_ascii_digit() {
            // A number literal: skip its digits and decimal point.
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{sample_scope, test_manifest};

    #[test]
    fn identifiers_skip_strings_and_numbers() {
        let ids: Vec<_> =
            identifiers("sup_report == \"q_study\" and x2 > 2.5 or present(y)").collect();
        assert_eq!(ids, vec!["sup_report", "and", "x2", "or", "present", "y"]);
    }

    #[test]
    fn sheets_and_fields_follow_the_scope() {
        let m = test_manifest();
        let scope = sample_scope(2022);
        let l = Layout::new(&m, &scope).unwrap();
        assert_eq!(
            l.rounds,
            vec![Round::Annual, Round::Q1, Round::Q2, Round::Q3, Round::Q4]
        );
        let ids = |r| {
            l.fields_for(r)
                .iter()
                .map(|&f| m.fields[f].id.as_str())
                .collect::<Vec<_>>()
        };
        // file_review is not in scope: fr_files is absent.
        assert_eq!(
            ids(Round::Annual),
            vec![
                "sup_plan",
                "sup_problems",
                "sup_report",
                "dept_cases",
                "sat_rate"
            ]
        );
        assert_eq!(ids(Round::Q2), vec!["q_study", "q_overdue"]);
    }

    #[test]
    fn a_field_only_a_departments_indicator_reads_does_not_apply_to_townships() {
        let m = test_manifest();
        let scope = sample_scope(2022);
        let l = Layout::new(&m, &scope).unwrap();
        let f = m.field_index("dept_cases").unwrap();
        let township = m.category_index("township").unwrap();
        let department = m.category_index("department").unwrap();
        assert!(!l.applies(township, f));
        assert!(l.applies(department, f));
        assert!(l.applies(township, m.field_index("sup_report").unwrap()));
    }

    #[test]
    fn a_unit_of_a_category_the_pack_does_not_know_is_refused() {
        let m = test_manifest();
        let mut scope = sample_scope(2022);
        scope.units[0].category_id = "hospital".into();
        let err = Layout::new(&m, &scope).unwrap_err();
        assert!(matches!(err, LayoutError::UnknownCategory { .. }), "{err}");
        assert!(err.to_string().contains("hospital"));
    }

    #[test]
    fn headers_compare_without_blanks_and_bracket_width() {
        assert_eq!(
            header_key("法治专题学习次数 (次)"),
            header_key("法治专题学习次数（次）")
        );
        assert_ne!(
            header_key("学习次数（次）"),
            header_key("法治专题学习次数（次）")
        );
    }
}
