//! The manifest: everything the hub and the node need to know about a rule
//! pack without running it (ABI.md §4).
//!
//! A manifest is produced from a checked rubric ([`crate::rubric::compile`])
//! and embedded in the pack's WebAssembly module as canonical JSON
//! ([`Manifest::to_canonical_json`]). A manifest read back from a module is
//! untrusted: [`Manifest::from_json`] checks the versions and every internal
//! reference, so the lookups and record sizes below never panic on it.
//!
//! Conventions: every score, point value and range bound is an `i64` count of
//! hundredths of a point (3 points = `300`); vectors are in ABI order (the
//! index of a field, indicator, clause, category, method or grade is its
//! position here, and the ABI speaks only in those indices).
//!
//! Layout (every type re-exported here):
//! - here: [`Manifest`], [`PackInfo`], [`Limits`], and the lookups and
//!   record sizes the ABI needs;
//! - `content`: groups, categories, methods, fields, indicators, clauses;
//! - `composition`: [`Composition`], [`Grade`], [`Outcomes`];
//! - [`reason`]: why a `score =` indicator lost points
//!   ([`Manifest::loss_reason`]);
//! - `schedule`: [`Round`], deadlines, [`Schedule`];
//! - `validate`: [`ManifestError`], [`Manifest::from_json`],
//!   [`Manifest::to_canonical_json`], [`Manifest::validate`].

mod composition;
mod content;
pub mod reason;
mod schedule;
mod validate;

pub use composition::{Composition, DEFAULT_WARN_BOTTOM_SHARE, Grade, Outcomes};
pub use content::{
    Assessor, Category, Clause, Combine, Field, FieldType, Flag, Group, Indicator, IndicatorKind,
    Method, Missing,
};
pub use schedule::{Deadline, ReviewRuns, Round, RoundDeadlines, Schedule};
pub use validate::ManifestError;

use std::fmt;

use serde::{Deserialize, Serialize};

/// The manifest schema this code reads and writes.
pub const MANIFEST_VERSION: u32 = 1;
/// ABI 1 (ABI.md §2–§3): dense records of `(present, value)` pairs in, a
/// dense output of every indicator and clause. Packs of earlier years speak
/// it; hosts keep loading, self-testing and replaying them.
pub const ABI_V1: u32 = 1;
/// ABI 2 (ABI.md §10): compact inputs (presence bits, 8-byte value slots)
/// and a sparse evaluate output (a score vector and the fired clauses only).
pub const ABI_V2: u32 = 2;
/// The ABI major version `kaohe pack build` emits (the newest this code
/// speaks; a manifest naming another is refused as unsupported).
pub const ABI_VERSION: u32 = ABI_V2;
/// The newest minor version this code speaks, of either major. 0: no
/// not-applicable marks; 1: adds them (ABI.md §2, §3, §10). A manifest
/// names the minor its module speaks; hosts encode and decode accordingly,
/// so packs of earlier years keep loading and replaying.
pub const ABI_MINOR: u32 = 1;
/// At most this many methods: the ABI selects methods with a `u32` bit mask.
pub const MAX_METHODS: usize = 32;

/// The whole manifest. Field order here is the order of keys in the canonical
/// JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_VERSION`].
    pub manifest_version: u32,
    /// The ABI major version the module speaks: [`ABI_V1`] or [`ABI_V2`].
    pub abi_version: u32,
    /// The minor version the module speaks, 0..=[`ABI_MINOR`];
    /// absent in the JSON means 0 (and 0 is not written, so a manifest of
    /// the original ABI keeps its bytes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub abi_minor: u32,
    pub pack: PackInfo,
    /// SHA-256 (lower-case hex) of the rubric source bytes the pack was built from.
    pub source_sha256: String,
    pub limits: Limits,
    pub groups: Vec<Group>,
    pub categories: Vec<Category>,
    pub methods: Vec<Method>,
    /// ABI field order.
    pub fields: Vec<Field>,
    /// ABI indicator order; their clauses, concatenated in this order, are the
    /// ABI clause order.
    pub indicators: Vec<Indicator>,
    pub composition: Composition,
    pub schedule: Schedule,
    pub outcomes: Outcomes,
}

/// Pack identity (`[pack]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackInfo {
    /// `[a-z0-9_-]+`, e.g. `baofeng`.
    pub id: String,
    pub year: u32,
    /// Increases with each corrected publication of the same year's rubric.
    pub version: u32,
    pub title: String,
    pub issuer: String,
}

/// `baofeng-2022 v1`, as [`PackIdentity`](kaohe_proto::PackIdentity) writes it.
impl fmt::Display for PackInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{} v{}", self.id, self.year, self.version)
    }
}

/// Deterministic budgets (ABI.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Rubric fuel per unit (sum of indicator costs a unit may spend).
    pub fuel_per_unit: u64,
    /// wasmtime fuel per unit of a batch (the host adds a fixed base).
    pub wasm_fuel_per_unit: u64,
}

fn is_zero(x: &u32) -> bool {
    *x == 0
}

impl Manifest {
    /// The ABI version word of the module's `kaohe_abi_version` and of every
    /// input header: the major in the low 16 bits, the minor in the high
    /// 16 (`1` for ABI 1.0, `0x0001_0001` for 1.1).
    pub fn abi_word(&self) -> u32 {
        self.abi_version | (self.abi_minor << 16)
    }

    /// Whether the module speaks ABI 2 (compact inputs, sparse evaluate
    /// output, ABI.md §10) rather than ABI 1.
    pub fn is_v2(&self) -> bool {
        self.abi_version >= ABI_V2
    }

    /// `⌈F / 64⌉`: u64 words of a field bit set (ABI 2).
    pub fn field_words(&self) -> usize {
        self.fields.len().div_ceil(64)
    }

    /// `⌈I / 64⌉`: u64 words of an indicator bit set (ABI 2).
    pub fn indicator_words(&self) -> usize {
        self.indicators.len().div_ceil(64)
    }

    /// Whether the module speaks ABI x.1: evaluate inputs carry
    /// not-applicable marks and finalise inputs may mark an indicator not
    /// applicable (ABI.md §2, §3).
    pub fn has_not_applicable(&self) -> bool {
        self.abi_minor >= 1
    }

    pub fn group_index(&self, id: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.id == id)
    }

    pub fn category_index(&self, id: &str) -> Option<usize> {
        self.categories.iter().position(|c| c.id == id)
    }

    pub fn method_index(&self, id: &str) -> Option<usize> {
        self.methods.iter().position(|m| m.id == id)
    }

    pub fn field_index(&self, id: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.id == id)
    }

    pub fn indicator_index(&self, id: &str) -> Option<usize> {
        self.indicators.iter().position(|i| i.id == id)
    }

    pub fn grade_index(&self, id: &str) -> Option<usize> {
        self.composition.grades.iter().position(|g| g.id == id)
    }

    /// Global ABI index of the clause `id` and the index of its indicator.
    pub fn clause_index(&self, id: &str) -> Option<(usize, usize)> {
        let mut k = 0;
        for (i, ind) in self.indicators.iter().enumerate() {
            for c in &ind.clauses {
                if c.id == id {
                    return Some((k, i));
                }
                k += 1;
            }
        }
        None
    }

    /// `K`: the number of clauses of all indicators.
    pub fn clause_count(&self) -> usize {
        self.indicators.iter().map(|i| i.clauses.len()).sum()
    }

    /// For each indicator, the ABI index of its first clause (its clauses are
    /// `offsets[i] .. offsets[i] + indicators[i].clauses.len()`).
    pub fn clause_offsets(&self) -> Vec<usize> {
        let mut k = 0;
        self.indicators
            .iter()
            .map(|i| {
                let at = k;
                k += i.clauses.len();
                at
            })
            .collect()
    }

    /// The clause at ABI index `k`, with its indicator index.
    pub fn clause(&self, k: usize) -> Option<(usize, &Clause)> {
        let mut rest = k;
        for (i, ind) in self.indicators.iter().enumerate() {
            if rest < ind.clauses.len() {
                return Some((i, &ind.clauses[rest]));
            }
            rest -= ind.clauses.len();
        }
        None
    }

    /// Bit mask of every method (the `methods` value that evaluates all).
    pub fn all_methods_mask(&self) -> u32 {
        match self.methods.len() {
            n if n >= 32 => u32::MAX,
            n => (1u32 << n) - 1,
        }
    }

    /// Bit mask of the given method ids; `None` if one is unknown.
    pub fn methods_mask<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Option<u32> {
        let mut mask = 0u32;
        for id in ids {
            mask |= 1u32 << self.method_index(id)?;
        }
        Some(mask)
    }

    /// Points of indicator `indicator` for category `category` (hundredths), or
    /// `None` when it does not apply (or either index is out of range).
    pub fn points(&self, indicator: usize, category: usize) -> Option<i64> {
        self.indicators
            .get(indicator)?
            .points
            .get(category)
            .copied()?
    }

    /// Whether indicator `indicator` applies to category `category`.
    pub fn applies(&self, indicator: usize, category: usize) -> bool {
        self.points(indicator, category).is_some()
    }

    /// Indices of the indicators that apply to category `category`, in order.
    pub fn applicable_indicators(&self, category: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.indicators.len()).filter(move |&i| self.applies(i, category))
    }

    /// Sum of the points of the scored indicators that apply to `category`
    /// (the sheet's `applicable` when nothing is marked not applicable).
    pub fn applicable_points(&self, category: usize) -> i64 {
        self.applicable_indicators(category)
            .filter(|&i| self.indicators[i].kind == IndicatorKind::Scored)
            .filter_map(|i| self.points(i, category))
            .sum()
    }

    /// The reports a unit of category `category` must receive, in method
    /// order: every method with an indicator that applies to the category,
    /// in `Q1`..`Q4` when quarterly, else `annual`. What the hub counts a
    /// unit complete by and a node lists as still owed — one rule for both.
    pub fn expected_reports(&self, category: usize) -> Vec<(usize, Round)> {
        let mut out = Vec::new();
        for (m, method) in self.methods.iter().enumerate() {
            let applies = self
                .applicable_indicators(category)
                .any(|i| self.indicator_method(i) == Some(m));
            if !applies {
                continue;
            }
            if method.quarterly {
                out.extend(Round::QUARTERS.iter().map(|&q| (m, q)));
            } else {
                out.push((m, Round::Annual));
            }
        }
        out
    }

    /// Index of an indicator's method (valid manifests only; `None` otherwise).
    pub fn indicator_method(&self, indicator: usize) -> Option<usize> {
        self.method_index(&self.indicators.get(indicator)?.method)
    }

    /// The ABI rule of §2: whether `indicator` is evaluated for a unit of
    /// `category` in `round` with the method mask `methods`.
    pub fn is_evaluated(
        &self,
        indicator: usize,
        category: usize,
        round: Round,
        methods: u32,
    ) -> bool {
        let Some(m) = self.indicator_method(indicator) else {
            return false;
        };
        self.applies(indicator, category)
            && methods & (1u32 << m) != 0
            && self.methods[m].quarterly == round.is_quarter()
    }

    /// Highest points the indicator has in any category (0 if none).
    pub fn max_points(&self, indicator: usize) -> i64 {
        self.indicators
            .get(indicator)
            .map(|i| i.points.iter().flatten().copied().max().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Bytes per unit of the `kaohe_evaluate` input. ABI 1: `16 + 16·F`,
    /// and `+ 8·I` of not-applicable marks under 1.1. ABI 2: `16 + 8·⌈F/64⌉
    /// + 8·F`, and `+ 8·⌈I/64⌉` of mark bits under 2.1.
    pub fn evaluate_input_record(&self) -> usize {
        let marks = self.has_not_applicable();
        if self.is_v2() {
            let mark_words = if marks { self.indicator_words() } else { 0 };
            return 16 + 8 * (self.field_words() + mark_words) + 8 * self.fields.len();
        }
        let marks = if marks { 8 * self.indicators.len() } else { 0 };
        16 + 16 * self.fields.len() + marks
    }

    /// Bytes per unit of the `kaohe_evaluate` output. ABI 1: `16 + 16·I +
    /// 16·K`, every unit. ABI 2: the most one unit can take,
    /// [`Manifest::evaluate_output_fixed`] `+ 16·K` (every clause fired).
    pub fn evaluate_output_record(&self) -> usize {
        if self.is_v2() {
            return self.evaluate_output_fixed() + 16 * self.clause_count();
        }
        16 + 16 * self.indicators.len() + 16 * self.clause_count()
    }

    /// ABI 2: the bytes of a unit's evaluate output before its fired
    /// clauses: `16 + 8·⌈I/64⌉ (+ 8·⌈I/64⌉ under 2.1) + 8·I + 8`.
    pub fn evaluate_output_fixed(&self) -> usize {
        let sets = if self.has_not_applicable() { 2 } else { 1 };
        16 + 8 * sets * self.indicator_words() + 8 * self.indicators.len() + 8
    }

    /// Bytes per unit of the `kaohe_finalise` input. ABI 1: `16 + 16·I`.
    /// ABI 2: `16 + 8·⌈I/64⌉ (+ 8·⌈I/64⌉ under 2.1) + 8·I`.
    pub fn finalise_input_record(&self) -> usize {
        if self.is_v2() {
            let sets = if self.has_not_applicable() { 2 } else { 1 };
            return 16 + 8 * sets * self.indicator_words() + 8 * self.indicators.len();
        }
        16 + 16 * self.indicators.len()
    }

    /// Bytes per unit of the `kaohe_finalise` output: `72`.
    pub fn finalise_output_record(&self) -> usize {
        FINALISE_OUTPUT_RECORD
    }
}

/// Bytes per unit of the `kaohe_finalise` output.
pub const FINALISE_OUTPUT_RECORD: usize = 8 + 8 * 8;
