//! 示例证据（sample evidence）：fills a node's Excel or CSV template deterministically.
//!
//! The demo asks each node for its template (`kaohe node template`), then
//! fills the cells an official would: only the cells whose field applies to
//! the unit's category in that round (the node's own [`Layout`], so the
//! import never refuses a cell), every required field, and a few deductions
//! chosen from a fixed seed so the county shows a spread of grades; a
//! scripted unit's not-applicable reason goes in its indicator's
//! `不适用理由` column. The same seed always gives the same file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use kaohe_node::layout::{self, Layout};
use kaohe_node::store::Store;
use kaohe_rulepacks::manifest::{Field, FieldType, Round};

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

/// A unit's tier in `year`: drawn from the seed and the unit id alone (so
/// every round of a year sees the same unit the same way), unless the demo
/// scripts it ([`script`]). Mostly good and excellent, some pass, a few fail;
/// in 2023 a quarter of the units move one tier up or down.
pub fn tier(unit: &str, year: u16) -> Tier {
    if let Some(t) = script(unit, year).tier {
        return t;
    }
    let mut rng = unit_rng(unit, 0);
    let base = match rng.range(0, 9) {
        0..=2 => Tier::Excellent,
        3..=5 => Tier::Good,
        6..=7 => Tier::Pass,
        _ => Tier::Fail,
    };
    if year <= 2022 {
        return base;
    }
    let mut drift = unit_rng(unit, year);
    match (drift.range(0, 7), base) {
        (0, Tier::Good) => Tier::Excellent,
        (0, Tier::Pass) => Tier::Good,
        (1, Tier::Excellent) => Tier::Good,
        (1, Tier::Good) => Tier::Pass,
        _ => base,
    }
}

/// A generator of its own for `unit` in `year` (0: the unit's lasting draw).
fn unit_rng(unit: &str, year: u16) -> Rng {
    let mut h = SEED ^ u64::from(year);
    for b in unit.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    Rng::new(h)
}

/// What the demo fixes for a unit so every case the scheme names appears.
#[derive(Debug, Clone, Copy, Default)]
pub struct Script {
    pub tier: Option<Tier>,
    /// Evidence that overrides the tier's values.
    pub values: &'static [(&'static str, &'static str)],
    /// Indicators the assessor marks not applicable (不适用) for the unit in
    /// the annual round, with the reason written in the template.
    pub not_applicable: &'static [(&'static str, &'static str)],
    /// Why, as the demo prints it.
    pub why: &'static str,
}

/// The scripted units. Ids are the sample roster's ([`super::county`]).
pub fn script(unit: &str, year: u16) -> Script {
    let s = |tier, values, why| Script {
        tier: Some(tier),
        values,
        why,
        not_applicable: &[],
    };
    match (unit, year) {
        ("longwanggou", _) => s(
            Tier::Excellent,
            &[],
            "连续两年优秀的乡镇：表彰并优先向省、市推荐",
        ),
        ("yangzhuang", 2022) => s(Tier::Excellent, &[], "2022 年优秀，2023 年不合格：退步较大"),
        ("yangzhuang", _) => s(Tier::Fail, &[], ""),
        ("jiwei", _) => s(Tier::Excellent, &[], "连续两年优秀：报请通报表扬"),
        ("fayuan", 2022) => s(
            Tier::Excellent,
            &[("bp_major_problem", "是")],
            "2022 年发生重大法治问题：不论等次，约谈、责令整改、通报批评",
        ),
        ("rmyy", _) => s(
            Tier::Excellent,
            &[("bp_serious", "是"), ("bp_criticised_county", "1")],
            "总分在优秀区间但扣分事项情节严重：不得评为优秀",
        ),
        ("zgh", _) => s(
            Tier::Good,
            &[
                ("bp_honours_national", "1"),
                ("bp_honours_provincial", "1"),
                ("bp_promoted_provincial", "1"),
            ],
            "加分超过 5 分上限，按 5 分计",
        ),
        ("tzjt", _) => s(
            Tier::Pass,
            &[
                ("bp_criticised_city", "2"),
                ("bp_criticised_county", "1"),
                ("bp_negative_opinion", "1"),
            ],
            "扣分超过 10 分上限，按 10 分计",
        ),
        ("czj", _) => s(
            Tier::Fail,
            &[],
            "两年均不合格：法治建议书、约谈、末三名通报警示",
        ),
        ("gzj", _) => Script {
            tier: None,
            values: &[("fr_enf_staff_total", "0"), ("fr_enf_staff_frontline", "0")],
            not_applicable: &[(
                "N2_5",
                "国资局为履行出资人职责的特设机构，不承担行政执法职能，无服务型行政执法事项",
            )],
            why: "“深入推进服务型行政执法建设”不适用（写明理由），应考分值按 95 分换算",
        },
        ("guanyintang", 2023) => s(
            Tier::Excellent,
            &[("oc_annual_report", "逾期公开")],
            "2023 年度报告公开情况误录为逾期公开，经异议、复核后更正",
        ),
        _ => Script::default(),
    }
}

/// The unit whose 2023 annual evidence holds an entry error, the field and
/// the value its review corrects it to.
pub const OBJECTION: (&str, &str, &str) = ("guanyintang", "oc_annual_report", "按时公开");

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

/// Fills the node's template at `template` — the `.xlsx` workbook (one
/// sheet per round) or the CSV (`--encoding utf8`, a round column) that
/// `kaohe node template` wrote for the node whose store is `store_file` —
/// in the rows of `round` only, and writes the filled copy to `out` in the
/// same format. Other rounds' rows stay empty ("not reported in this
/// file"); units in `skip` keep empty rows.
pub fn fill_template(
    store_file: &Path,
    year: u16,
    template: &Path,
    out: &Path,
    round: Round,
    skip: &[&str],
) -> Result<Filled> {
    let store = Store::open(store_file).context("打开节点证据库（open the node store）")?;
    let pack = store
        .active_pack(year)?
        .ok_or_else(|| anyhow!("节点没有 {year} 年的规则包（no active pack）"))?;
    let scope = store.scope(year)?;
    let layout = Layout::new(&pack.manifest, &scope)?;
    let (per_unit, filled) = unit_values(&layout, year, skip);
    let filler = Filler {
        layout: &layout,
        per_unit: &per_unit,
        round,
        year,
    };
    if template.extension().is_some_and(|e| e == "xlsx") {
        let mut sheets = read_workbook(template)?;
        for (name, rows) in &mut sheets {
            if let Some(sheet_round) = Layout::round_of_sheet(name) {
                filler.fill(rows, |_| Ok(sheet_round))?;
            }
        }
        write_workbook(&sheets, out)?;
    } else {
        let text = std::fs::read_to_string(template)
            .with_context(|| format!("读取模板 {}", template.display()))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let mut rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_owned).collect()))
            .collect::<Result<_, _>>()?;
        let round_col = rows
            .get(1)
            .and_then(|keys| keys.iter().position(|k| k == layout::ROUND_KEY))
            .ok_or_else(|| anyhow!("模板第 2 行缺少 round（not a CSV template）"))?;
        filler.fill(&mut rows, |row| {
            Layout::round_of_sheet(row.get(round_col).map_or("", String::as_str))
                .ok_or_else(|| anyhow!("模板中有未知轮次（unknown round）：{row:?}"))
        })?;
        let mut writer = csv::WriterBuilder::new().from_path(out)?;
        for row in &rows {
            writer.write_record(row)?;
        }
        writer.flush()?;
    }
    Ok(filled)
}

/// Each unit's values of `year`: the baseline, its tier's shortfalls, its
/// satisfaction, then what the demo scripts for it.
fn unit_values(
    layout: &Layout,
    year: u16,
    skip: &[&str],
) -> (BTreeMap<String, BTreeMap<&'static str, String>>, Filled) {
    let mut per_unit = BTreeMap::new();
    let mut filled = Filled::default();
    for unit in &layout.scope.units {
        if skip.contains(&unit.unit_id.as_str()) {
            filled.left_empty.push(unit.unit_id.clone());
            continue;
        }
        let t = tier(&unit.unit_id, year);
        let mut rng = unit_rng(&unit.unit_id, year);
        let mut values: BTreeMap<&'static str, String> = BASELINE
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        for (k, v) in &DEDUCTIONS[..t.deductions()] {
            values.insert(k, (*v).to_owned());
        }
        values.insert("sat_rate", format!("{}.0", t.satisfaction(&mut rng)));
        if t == Tier::Excellent && rng.range(0, 3) == 0 {
            values.insert("bp_honours_provincial", "1".into());
        }
        let scripted = script(&unit.unit_id, year);
        for (k, v) in scripted.values {
            values.insert(k, (*v).to_owned());
        }

        per_unit.insert(unit.unit_id.clone(), values);
        filled.units += 1;
    }
    (per_unit, filled)
}

/// Fills a template's rows (row 1 headers, row 2 the field keys, then one
/// row per unit) for one round.
struct Filler<'a> {
    layout: &'a Layout<'a>,
    per_unit: &'a BTreeMap<String, BTreeMap<&'static str, String>>,
    round: Round,
    /// The year, for the scripted not-applicable reasons.
    year: u16,
}

impl Filler<'_> {
    fn fill(
        &self,
        rows: &mut [Vec<String>],
        row_round: impl Fn(&[String]) -> Result<Round>,
    ) -> Result<()> {
        let layout = self.layout;
        let Some((keys, units)) = rows.get_mut(1..).and_then(|r| r.split_first_mut()) else {
            bail!("模板缺少表头（template has no header rows）");
        };
        let id_col = keys
            .iter()
            .position(|k| k == layout::UNIT_ID_KEY)
            .ok_or_else(|| anyhow!("模板第 2 行缺少 unit_id（not a template）"))?;
        let fields: Vec<(usize, usize)> = keys
            .iter()
            .enumerate()
            .filter_map(|(col, key)| Some((col, layout.manifest.field_index(key)?)))
            .collect();
        let marks: Vec<(usize, usize)> = keys
            .iter()
            .enumerate()
            .filter_map(|(col, key)| {
                let id = key.strip_prefix(layout::MARK_KEY_PREFIX)?;
                Some((col, layout.manifest.indicator_index(id)?))
            })
            .collect();
        for row in units {
            if row_round(row)? != self.round {
                continue;
            }
            let unit_id = row.get(id_col).cloned().unwrap_or_default();
            let unit = layout.scope.units.iter().find(|u| u.unit_id == unit_id);
            let (Some(category), Some(values)) = (
                unit.and_then(|u| layout.category_of(u)),
                self.per_unit.get(&unit_id),
            ) else {
                continue;
            };
            for &(col, field) in &fields {
                if !layout.applies(category, field) || !layout.field_in_round(field, self.round) {
                    continue;
                }
                let f = layout.field(field);
                let value = match values.get(f.id.as_str()) {
                    Some(v) => v.clone(),
                    None if layout::required(f) => neutral(f),
                    None => continue,
                };
                if row.len() <= col {
                    row.resize(col + 1, String::new());
                }
                row[col] = value;
            }
            for &(col, indicator) in &marks {
                if !layout.mark_applies(category, indicator)
                    || !layout.mark_in_round(indicator, self.round)
                {
                    continue;
                }
                let id = layout.manifest.indicators[indicator].id.as_str();
                let scripted = script(&unit_id, self.year).not_applicable;
                if let Some((_, reason)) = scripted.iter().find(|(i, _)| *i == id) {
                    if row.len() <= col {
                        row.resize(col + 1, String::new());
                    }
                    row[col] = (*reason).to_owned();
                }
            }
        }
        Ok(())
    }
}

/// Every sheet of a workbook as text rows, in order.
fn read_workbook(path: &Path) -> Result<Vec<(String, Vec<Vec<String>>)>> {
    use calamine::{Data, Reader as _};
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook(path).with_context(|| format!("读取模板 {}", path.display()))?;
    let mut sheets = Vec::new();
    for name in book.sheet_names() {
        let range = book
            .worksheet_range(&name)
            .with_context(|| format!("读取模板 {} 的工作表 {name}", path.display()))?;
        let rows = range
            .rows()
            .map(|r| {
                r.iter()
                    .map(|c| match c {
                        Data::Empty => String::new(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        sheets.push((name, rows));
    }
    Ok(sheets)
}

/// Writes the sheets back as an official's Excel would hold them: numbers
/// as numbers, everything else as text, never a formula.
fn write_workbook(sheets: &[(String, Vec<Vec<String>>)], out: &Path) -> Result<()> {
    let mut book = rust_xlsxwriter::Workbook::new();
    for (name, rows) in sheets {
        let ws = book.add_worksheet();
        ws.set_name(name)?;
        for (r, row) in rows.iter().enumerate() {
            let r = u32::try_from(r)?;
            for (c, cell) in row.iter().enumerate() {
                let c = u16::try_from(c)?;
                // Rows 1–2 (headers, keys) and text columns stay text.
                match cell.parse::<f64>() {
                    Ok(n) if r >= 2 && c >= 2 => ws.write_number(r, c, n)?,
                    _ if cell.is_empty() => continue,
                    _ => ws.write_string(r, c, cell)?,
                };
            }
        }
    }
    book.save(out)
        .with_context(|| format!("写入 {}", out.display()))?;
    Ok(())
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
    fn the_seed_gives_the_same_tiers_and_a_spread_in_every_year_and_category() {
        let units = super::super::county::units();
        for year in [2022, 2023] {
            let tiers = || units.iter().map(|u| tier(u.id, year)).collect::<Vec<_>>();
            assert_eq!(tiers(), tiers());
            let t = tiers();
            for want in [Tier::Excellent, Tier::Good, Tier::Pass, Tier::Fail] {
                assert!(t.contains(&want), "{year}: {want:?} missing from {t:?}");
            }
        }
        // Year over year: the scripted regression and some drift.
        assert_eq!(tier("yangzhuang", 2022), Tier::Excellent);
        assert_eq!(tier("yangzhuang", 2023), Tier::Fail);
        let moved = units
            .iter()
            .filter(|u| tier(u.id, 2022) != tier(u.id, 2023))
            .count();
        assert!(moved >= 3, "only {moved} units changed tier");
    }

    #[test]
    fn scripted_values_name_fields_of_the_pack() {
        let rubric = kaohe_rulepacks::rubric::compile(
            "rubric.toml",
            include_str!("../../rulepacks/baofeng-2022/rubric.toml"),
        )
        .expect("the 2022 rubric compiles");
        let ids: Vec<&str> = rubric
            .manifest
            .fields
            .iter()
            .map(|f| f.id.as_str())
            .collect();
        for unit in super::super::county::units() {
            for year in [2022, 2023] {
                for (k, _) in script(unit.id, year).values {
                    assert!(ids.contains(k), "{}/{year}: {k}", unit.id);
                }
            }
        }
        assert!(ids.contains(&OBJECTION.1));
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
