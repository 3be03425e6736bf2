//! 未考核原因（standing）：本节点范围内每个单位还缺哪些应报结果、为什么。
//!
//! Pure, offline: from the synced scope (units and the methods delegated
//! to this node), the year's active pack (the methods and rounds each
//! category must report) and the outbox, every report a unit still lacks
//! for the hub to assess it, and why — a method not delegated to this node
//! (another assessor owes it; `kaohe node results` asks the hub who), not
//! submitted yet, waiting in the outbox, or refused by the hub. A unit
//! without such a gap is left out.

use std::collections::BTreeMap;

use kaohe_rulepacks::manifest::{Manifest, Round};

use crate::outbox::{Entry, State};
use crate::store::Scope;

/// Why a required report is not at the hub.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// The method is not in this node's scope: another assessor owes it.
    NotDelegated,
    /// This node has not submitted it.
    NotSubmitted,
    /// In the outbox, not yet delivered.
    Pending,
    /// The hub refused it; its latest reason.
    Refused(String),
}

impl Why {
    fn text(&self) -> String {
        match self {
            Why::NotDelegated => {
                "本节点未获授权，须由其他考核主体上报（kaohe node results 可查由谁上报）"
                    .to_string()
            }
            Why::NotSubmitted => "本节点尚未上报".to_string(),
            Why::Pending => "在发件箱中，尚未送达".to_string(),
            Why::Refused(reason) => format!("被汇总中心拒收：{reason}"),
        }
    }
}

/// One unit's missing reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitGaps {
    pub unit_id: String,
    pub name: String,
    /// (method name and id, the rounds, why), grouped by method and why.
    pub gaps: Vec<(String, Vec<Round>, Why)>,
}

impl UnitGaps {
    /// One line for an official: the missing reports grouped by why.
    pub fn line(&self) -> String {
        let mut by_why: BTreeMap<&Why, Vec<String>> = BTreeMap::new();
        for (method, rounds, why) in &self.gaps {
            let rounds = if rounds.as_slice() == Round::QUARTERS {
                "各季度".to_string()
            } else {
                rounds
                    .iter()
                    .map(|r| r.name_zh())
                    .collect::<Vec<_>>()
                    .join("、")
            };
            by_why
                .entry(why)
                .or_default()
                .push(format!("{method}{rounds}"));
        }
        let parts: Vec<String> = by_why
            .into_iter()
            .map(|(why, reports)| format!("{}（{}）", reports.join("、"), why.text()))
            .collect();
        format!(
            "{}（{}）未考核：缺 {}",
            self.name,
            self.unit_id,
            parts.join("；")
        )
    }
}

/// The reports each unit of `scope` still lacks (see the module docs).
pub fn gaps(scope: &Scope, manifest: &Manifest, outbox: &[Entry]) -> Vec<UnitGaps> {
    let mut out = Vec::new();
    for unit in &scope.units {
        let Some(category) = manifest.category_index(&unit.category_id) else {
            continue;
        };
        let mut by: BTreeMap<(usize, Why), Vec<Round>> = BTreeMap::new();
        for (m, round) in manifest.expected_reports(category) {
            let method = &manifest.methods[m];
            let why = if !scope.has_method(&method.id) {
                Some(Why::NotDelegated)
            } else {
                report_state(outbox, &unit.unit_id, scope.year, round, &method.id)
            };
            if let Some(why) = why {
                by.entry((m, why)).or_default().push(round);
            }
        }
        if by.is_empty() {
            continue;
        }
        out.push(UnitGaps {
            unit_id: unit.unit_id.clone(),
            name: unit.name.clone(),
            gaps: by
                .into_iter()
                .map(|((m, why), rounds)| {
                    let method = &manifest.methods[m];
                    (format!("{}（{}）", method.name, method.id), rounds, why)
                })
                .collect(),
        });
    }
    out
}

/// Where one report stands in the outbox: `None` once accepted.
fn report_state(
    outbox: &[Entry],
    unit: &str,
    year: u16,
    round: Round,
    method: &str,
) -> Option<Why> {
    let mine: Vec<&Entry> = outbox
        .iter()
        .filter(|e| {
            e.unit_id == unit
                && e.year == year
                && e.round == round
                && e.methods.split(',').any(|m| m == method)
        })
        .collect();
    if mine.iter().any(|e| e.state == State::Accepted) {
        return None;
    }
    if mine.iter().any(|e| e.state.is_pending()) {
        return Some(Why::Pending);
    }
    match mine.iter().rev().find(|e| e.state == State::Rejected) {
        Some(e) => Some(Why::Refused(
            e.last_error.clone().unwrap_or_else(|| "未说明原因".into()),
        )),
        None => Some(Why::NotSubmitted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{sample_scope, test_manifest};

    fn entry(unit: &str, round: Round, methods: &str, state: State, why: Option<&str>) -> Entry {
        let envelope = kaohe_proto::Envelope {
            payload_type: "application/vnd.kaohe.test".into(),
            payload: unit.as_bytes().to_vec(),
            signatures: Vec::new(),
        };
        Entry {
            sequence: 1,
            evaluation_id: 1,
            unit_id: unit.into(),
            year: 2022,
            round,
            methods: methods.into(),
            digest: envelope.digest(),
            envelope,
            state,
            attempts: 0,
            last_error: why.map(str::to_string),
            receipt: None,
            next_attempt_at: None,
            rejection_code: None,
            pack_id: "test".into(),
            pack_version: 1,
        }
    }

    /// The sample scope lacks file_review; what each unit still lacks, and
    /// why, follows from the pack and the outbox alone.
    #[test]
    fn every_missing_report_says_whether_it_is_this_nodes_and_where_it_is() {
        let manifest = test_manifest();
        let scope = sample_scope(2022);
        let all = gaps(&scope, &manifest, &[]);
        assert_eq!(all.len(), 3, "nothing reported: every unit lacks something");
        let line = all.iter().find(|g| g.unit_id == "xiaodian").unwrap().line();
        assert!(line.starts_with("肖旗乡（xiaodian）未考核：缺 "), "{line}");
        assert!(line.contains("各季度"), "{line}");
        assert!(line.contains("本节点尚未上报"), "{line}");

        // Daily delivered for every quarter, one method pending, one refused.
        let mut outbox: Vec<Entry> = Round::QUARTERS
            .iter()
            .map(|&q| entry("xiaodian", q, "daily", State::Accepted, None))
            .collect();
        outbox.push(entry(
            "xiaodian",
            Round::Annual,
            "supervision",
            State::Retry,
            None,
        ));
        outbox.push(entry(
            "xiaodian",
            Round::Annual,
            "satisfaction",
            State::Rejected,
            Some("单位 xiaodian：指标 S1 上报 8.00 分，复算为 9.00 分"),
        ));
        let mine: Vec<UnitGaps> = gaps(&scope, &manifest, &outbox)
            .into_iter()
            .filter(|g| g.unit_id == "xiaodian")
            .collect();
        let line = mine[0].line();
        assert!(!line.contains("日常评价"), "{line}");
        assert!(line.contains("在发件箱中，尚未送达"), "{line}");
        assert!(
            line.contains("被汇总中心拒收：单位 xiaodian：指标 S1"),
            "{line}"
        );
        let delegated = mine[0]
            .gaps
            .iter()
            .any(|(m, _, why)| m.contains("file_review") && *why == Why::NotDelegated);
        let applies_file_review = manifest.category_index("township").is_some_and(|c| {
            manifest
                .applicable_indicators(c)
                .any(|i| manifest.indicators[i].method == "file_review")
        });
        assert_eq!(delegated, applies_file_review, "{line}");
    }
}
