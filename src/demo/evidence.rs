//! 示例证据（sample evidence）：fills a node's CSV template deterministically.
//!
//! The demo asks each node for its CSV template (`kaohe node template`), then
//! fills the cells an official would: only the cells whose field applies to
//! the unit's category in that round (the node's own [`Layout`], so the
//! import never refuses a cell), every required field, and a few deductions
//! chosen from a fixed seed so the county shows a spread of grades. The same
//! seed always gives the same file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use kaohe_node::layout::{self, Layout};
use kaohe_node::store::Store;
use kaohe_rulepacks::manifest::{Field, FieldType};

/// The demo's fixed seed.
pub const SEED: u64 = 0x4b41_4f48_4532_3032; // "KAOHE202"

/// splitmix64: tiny, deterministic, no dependency.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// How well a sample unit did: how many of [`DEDUCTIONS`] it incurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Excellent,
    Good,
    Pass,
    Fail,
}

impl Tier {
    fn deductions(self) -> usize {
        match self {
            Tier::Excellent => 0,
            Tier::Good => 5,
            Tier::Pass => 10,
            Tier::Fail => DEDUCTIONS.len(),
        }
    }

    fn satisfaction(self, rng: &mut Rng) -> u64 {
        match self {
            Tier::Excellent => rng.range(96, 100),
            Tier::Good => rng.range(88, 94),
            Tier::Pass => rng.range(78, 86),
            Tier::Fail => rng.range(55, 65),
        }
    }
}

/// The tier of the `index`-th unit of a node (in template order): mostly
/// good and excellent, some pass, a few fail, shuffled by the seed.
pub fn tier(rng: &mut Rng) -> Tier {
    match rng.range(0, 9) {
        0..=2 => Tier::Excellent,
        3..=5 => Tier::Good,
        6..=7 => Tier::Pass,
        _ => Tier::Fail,
    }
}

/// Full-marks values of the required fields (the baseline fixture
/// `01-township-full.toml` and its siblings).
const BASELINE: &[(&str, &str)] = &[
    ("q_study_sessions", "1"),
    ("q_pufa_events", "1"),
    ("q_pufa_posts", "3"),
    ("fr_plan_includes", "是"),
    ("fr_party_meetings", "2"),
    ("fr_leader_duty_reported", "是"),
    ("fr_constitution_study", "是"),
    ("fr_budget_listed", "是"),
    ("fr_in_performance", "是"),
    ("fr_party_decisions", "3"),
    ("fr_party_decisions_reviewed", "3"),
    ("fr_party_docs", "2"),
    ("fr_party_docs_filed", "2"),
    ("fr_power_list_updated", "是"),
    ("fr_enf_staff_total", "20"),
    ("fr_enf_staff_frontline", "17"),
    ("fr_admin_decisions", "3"),
    ("fr_admin_decisions_reviewed", "3"),
    ("fr_norm_docs", "2"),
    ("fr_norm_docs_reviewed", "2"),
    ("fr_norm_docs_filed", "2"),
    ("fr_judicial_meeting", "是"),
    ("fr_criminal_trials", "40"),
    ("fr_criminal_with_counsel", "40"),
    ("oc_annual_report", "按时公开"),
    ("fi_leader_hearings", "1"),
    ("fi_legal_adviser", "是"),
    ("fi_law_lectures", "2"),
    ("fi_law_test_avg", "86.5"),
    ("fi_party_rule_staff", "2"),
    ("fi_adviser_mechanism", "是"),
    ("fi_service_enf_training", "是"),
    ("fi_nonforce_cases", "12"),
    ("fi_emergency_plan", "是"),
    ("fi_emergency_drills", "2"),
    ("fi_case_explain_events", "3"),
    ("fi_pufa_volunteers", "是"),
];

/// Shortfalls, in the order a weaker unit incurs them.
const DEDUCTIONS: &[(&str, &str)] = &[
    ("fi_law_lectures", "1"),
    ("fr_plan_includes", "否"),
    ("oc_annual_report", "逾期公开"),
    ("sup_governance_problems", "2"),
    ("fi_emergency_plan", "否"),
    ("fr_leader_duty_reported", "否"),
    ("fi_legal_adviser", "否"),
    ("q_pufa_posts", "1"),
    ("fr_budget_listed", "否"),
    ("oc_gov_info_missing", "3"),
    ("fr_in_performance", "否"),
    ("bp_criticised_county", "1"),
    ("fi_pufa_volunteers", "否"),
    ("fr_constitution_study", "否"),
    ("sup_party_rule_problems", "2"),
    ("fi_service_enf_training", "否"),
    ("fr_power_list_updated", "否"),
    ("fr_judicial_meeting", "否"),
    ("fi_adviser_mechanism", "否"),
    ("fr_party_docs_filed", "0"),
    ("fr_norm_docs_filed", "0"),
    ("fr_admin_decisions_reviewed", "1"),
    ("fr_party_decisions_reviewed", "1"),
    ("fr_criminal_with_counsel", "20"),
    ("fi_emergency_drills", "0"),
    ("sup_three_systems_problems", "3"),
    ("oc_enf_publicity_missing", "3"),
];

/// What the generator filled, for the demo's summary.
#[derive(Debug, Default)]
pub struct Filled {
    /// Units whose rows were filled.
    pub units: usize,
    /// Units whose rows were left empty.
    pub left_empty: Vec<String>,
}

/// Fills the CSV template at `template` (UTF-8, as `kaohe node template
/// --encoding utf8` writes it) of the node whose store is `store_file`, and
/// writes the filled table to `out`. Units in `skip` keep empty rows.
pub fn fill_template(
    store_file: &Path,
    year: u16,
    template: &Path,
    out: &Path,
    rng: &mut Rng,
    skip: &[&str],
) -> Result<Filled> {
    let store = Store::open(store_file).context("打开节点证据库（open the node store）")?;
    let pack = store
        .active_pack(year)?
        .ok_or_else(|| anyhow!("节点没有 {year} 年的规则包（no active pack）"))?;
    let scope = store.scope(year)?;
    let layout = Layout::new(&pack.manifest, &scope)?;

    let text = std::fs::read_to_string(template)
        .with_context(|| format!("读取模板 {}", template.display()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    if rows.len() < 2 {
        bail!("模板缺少表头（template has no header rows）");
    }
    let keys: Vec<String> = rows[1].iter().map(str::to_owned).collect();
    let column = |key: &str| keys.iter().position(|k| k == key);
    let (Some(id_col), Some(round_col)) = (column(layout::UNIT_ID_KEY), column(layout::ROUND_KEY))
    else {
        bail!("模板第 2 行缺少 unit_id 或 round（not a CSV template）");
    };
    let field_index: BTreeMap<&str, usize> = pack
        .manifest
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.as_str(), i))
        .collect();

    // Each unit's values: the baseline, then its tier's shortfalls.
    let mut per_unit: BTreeMap<String, BTreeMap<&str, String>> = BTreeMap::new();
    let mut filled = Filled::default();
    for unit in &scope.units {
        if skip.contains(&unit.unit_id.as_str()) {
            filled.left_empty.push(unit.unit_id.clone());
            continue;
        }
        let t = tier(rng);
        let mut values: BTreeMap<&str, String> = BASELINE
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        for (k, v) in &DEDUCTIONS[..t.deductions()] {
            values.insert(k, (*v).to_owned());
        }
        values.insert("sat_rate", format!("{}.0", t.satisfaction(rng)));
        if t == Tier::Excellent && rng.range(0, 3) == 0 {
            values.insert("bp_honours_provincial", "1".into());
        }
        per_unit.insert(unit.unit_id.clone(), values);
        filled.units += 1;
    }

    let mut writer = csv::WriterBuilder::new().from_path(out)?;
    writer.write_record(&rows[0])?;
    writer.write_record(&rows[1])?;
    for row in &rows[2..] {
        let unit_id = row.get(id_col).unwrap_or_default();
        let round = Layout::round_of_sheet(row.get(round_col).unwrap_or_default())
            .ok_or_else(|| anyhow!("模板中有未知轮次（unknown round）：{row:?}"))?;
        let unit = scope.units.iter().find(|u| u.unit_id == unit_id);
        let category = unit.and_then(|u| layout.category_of(u));
        let values = per_unit.get(unit_id);
        let mut cells: Vec<String> = row.iter().map(str::to_owned).collect();
        if let (Some(category), Some(values)) = (category, values) {
            for (col, key) in keys.iter().enumerate() {
                let Some(&field) = field_index.get(key.as_str()) else {
                    continue;
                };
                if !layout.applies(category, field) || !layout.field_in_round(field, round) {
                    continue;
                }
                let f = layout.field(field);
                if let Some(v) = values.get(key.as_str()) {
                    cells[col] = v.clone();
                } else if layout::required(f) {
                    cells[col] = neutral(f);
                }
            }
        }
        writer.write_record(&cells)?;
    }
    writer.flush()?;
    Ok(filled)
}

/// A harmless value for a required field the baseline does not name.
fn neutral(f: &Field) -> String {
    match f.kind {
        FieldType::Bool => "是".into(),
        FieldType::Choice => f.choices.first().cloned().unwrap_or_default(),
        FieldType::Count | FieldType::Decimal => (f.min.unwrap_or(0).max(0) / 100).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_gives_the_same_tiers_and_a_spread() {
        let tiers = |seed| {
            let mut r = Rng::new(seed);
            (0..40).map(|_| tier(&mut r)).collect::<Vec<_>>()
        };
        assert_eq!(tiers(SEED), tiers(SEED));
        let t = tiers(SEED);
        for want in [Tier::Excellent, Tier::Good, Tier::Pass, Tier::Fail] {
            assert!(t.contains(&want), "{want:?} missing from {t:?}");
        }
    }

    #[test]
    fn deductions_only_touch_known_fields() {
        let ids: Vec<&str> = BASELINE.iter().map(|(k, _)| *k).collect();
        let mut seen = std::collections::BTreeSet::new();
        for (k, _) in DEDUCTIONS {
            assert!(seen.insert(*k), "{k} twice");
            assert!(
                ids.contains(k)
                    || k.starts_with("sup_")
                    || k.starts_with("oc_")
                    || k.starts_with("bp_"),
                "{k}"
            );
        }
    }
}
