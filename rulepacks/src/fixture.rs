//! Evidence files and hand-worked fixtures (RUBRIC.md "Fixtures"), and the
//! checker that runs a fixture through any evaluator and reports every
//! difference in Chinese and English.
//!
//! [`check_with`] takes any [`Evaluator`](crate::pack::Evaluator) so the
//! same fixtures run through the reference interpreter and through a
//! compiled [`Pack`](crate::pack::Pack);
//! [`check`] takes the two entry points as functions, for evaluators made
//! up in tests.
//!
//! Layout:
//! - here: [`Evidence`], [`Fixture`], what a fixture expects, and loading;
//! - `parse`: the TOML of evidence files and fixtures;
//! - `check`: [`check`] and [`check_with`], comparing an evaluator's
//!   outputs with what a fixture expects.

mod check;
mod parse;

pub use check::{check, check_with};

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::abi::{UnitInput, UnitStatus};
use crate::manifest::{Manifest, Round};
use crate::rubric::Diagnostics;
use crate::rubric::reader::Ctx;
use parse::parse_file;

/// The evidence of one unit: what `kaohe pack eval` reads, and the first part
/// of every fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Category index.
    pub category: usize,
    /// Method mask (default: every method).
    pub methods: u32,
    /// The rounds to evaluate, in ABI order, each with one ABI-encoded value
    /// per manifest field. The annual round is always there; a quarter is
    /// there when the file has `[evidence.Qn]` or `[expected.Qn]`.
    pub rounds: Vec<(Round, Vec<Option<i64>>)>,
    /// A recorded override of the penalty cap (hundredths).
    pub penalty_cap_override: Option<i64>,
    /// Per round with marks, one entry per manifest indicator: the reason
    /// given when the assessor marked it not applicable (不适用)
    /// (`[not_applicable.<round>]`).
    pub not_applicable: BTreeMap<Round, Vec<Option<String>>>,
}

impl Evidence {
    /// One evaluate input per round, in `rounds` order.
    pub fn units(&self) -> Vec<UnitInput> {
        self.rounds
            .iter()
            .map(|(round, values)| UnitInput {
                category: self.category as u32,
                round: *round,
                methods: self.methods,
                values: values.clone(),
                not_applicable: self.marks(*round),
            })
            .collect()
    }

    /// The not-applicable marks of `round` as the ABI takes them (empty when
    /// none).
    pub fn marks(&self, round: Round) -> Vec<bool> {
        self.not_applicable
            .get(&round)
            .map(|marked| marked.iter().map(Option::is_some).collect())
            .unwrap_or_default()
    }
}

/// What a fixture expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Scores per round and, optionally, the finalised sheet.
    Scores {
        rounds: BTreeMap<Round, ExpectedRound>,
        sheet: Option<ExpectedSheet>,
    },
    /// Evaluation (or finalisation, `round = None`) must fail.
    Error {
        kind: ErrorKind,
        /// `None` = the sheet (finalise).
        round: Option<Round>,
        /// Indicator index, or field index for `missing_field`.
        at: usize,
    },
}

/// Indicators not at their default and clauses that fire, in one round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedRound {
    /// Indicator index → score (hundredths; flags 0/100).
    pub indicators: BTreeMap<usize, i64>,
    /// Clause index → amount (hundredths).
    pub fired: BTreeMap<usize, i64>,
    /// Indicator index → why it lost points (`score =` indicators;
    /// `Manifest::loss_reason`). Unlisted reasons are not compared.
    pub reasons: BTreeMap<usize, String>,
}

/// The expected finalised sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedSheet {
    pub applicable: i64,
    pub raw: i64,
    pub converted: i64,
    pub bonus: i64,
    pub penalty: i64,
    pub total: i64,
    /// Grade index.
    pub grade: usize,
    pub serious_case: bool,
    pub major_problem: bool,
}

/// The failures a fixture can expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    MissingField,
    DivisionByZero,
    Overflow,
    OutOfFuel,
    MissingIndicator,
}

impl ErrorKind {
    const ALL: [ErrorKind; 5] = [
        ErrorKind::MissingField,
        ErrorKind::DivisionByZero,
        ErrorKind::Overflow,
        ErrorKind::OutOfFuel,
        ErrorKind::MissingIndicator,
    ];

    pub fn id(self) -> &'static str {
        match self {
            ErrorKind::MissingField => "missing_field",
            ErrorKind::DivisionByZero => "division_by_zero",
            ErrorKind::Overflow => "overflow",
            ErrorKind::OutOfFuel => "out_of_fuel",
            ErrorKind::MissingIndicator => "missing_indicator",
        }
    }

    /// The status this kind expects, naming `at`.
    pub fn status(self, at: usize) -> UnitStatus {
        let d = at as u32;
        match self {
            ErrorKind::MissingField => UnitStatus::MissingField(d),
            ErrorKind::DivisionByZero => UnitStatus::DivisionByZero(d),
            ErrorKind::Overflow => UnitStatus::Overflow(d),
            ErrorKind::OutOfFuel => UnitStatus::OutOfFuel(d),
            ErrorKind::MissingIndicator => UnitStatus::MissingIndicator(d),
        }
    }
}

/// A loaded fixture.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// File name, for reports.
    pub name: String,
    pub title: String,
    pub evidence: Evidence,
    pub expected: Expected,
    manifest: Manifest,
}

/// Why an evidence or fixture file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("无法读取 {path}（cannot read）：{source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(#[from] Diagnostics),
}

/// One way the evaluator's answer differs from the fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `None`: the sheet or the batch as a whole.
    pub round: Option<Round>,
    /// What differs: an indicator, a clause, a sheet entry, a status.
    pub subject: String,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.round {
            Some(r) => write!(f, "{}（{}）", r.name_zh(), r.id())?,
            None => f.write_str("汇总（sheet）")?,
        }
        write!(
            f,
            " {}：期望（expected）{}，实际（actual）{}",
            self.subject, self.expected, self.actual
        )
    }
}

impl Fixture {
    /// Reads a fixture file against a pack's manifest.
    pub fn load(path: &Path, manifest: &Manifest) -> Result<Fixture, FixtureError> {
        let text = read(path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Fixture::parse(&path.display().to_string(), &name, &text, manifest)
    }

    /// Parses fixture text; `file` names it in errors.
    pub fn parse(
        file: &str,
        name: &str,
        text: &str,
        manifest: &Manifest,
    ) -> Result<Fixture, FixtureError> {
        let mut ctx = Ctx::new(file, text);
        let parsed = parse_file(&mut ctx, text, manifest, true);
        match parsed {
            Some((title, evidence, Some(expected))) if ctx.diags.is_empty() => Ok(Fixture {
                name: name.to_string(),
                title,
                evidence,
                expected,
                manifest: manifest.clone(),
            }),
            _ => Err(FixtureError::Invalid(crate::rubric::finish(ctx))),
        }
    }

    /// Every `*.toml` fixture in `dir`, sorted by file name.
    pub fn load_dir(dir: &Path, manifest: &Manifest) -> Result<Vec<Fixture>, FixtureError> {
        let io = |source| FixtureError::Io {
            path: dir.display().to_string(),
            source,
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        paths.iter().map(|p| Fixture::load(p, manifest)).collect()
    }
}

impl Evidence {
    /// Reads an evidence file (a fixture's `category`, `methods`,
    /// `penalty_cap_override` and `[evidence.*]`; other fixture keys are
    /// allowed and ignored).
    pub fn load(path: &Path, manifest: &Manifest) -> Result<Evidence, FixtureError> {
        let text = read(path)?;
        Evidence::parse(&path.display().to_string(), &text, manifest)
    }

    pub fn parse(file: &str, text: &str, manifest: &Manifest) -> Result<Evidence, FixtureError> {
        let mut ctx = Ctx::new(file, text);
        match parse_file(&mut ctx, text, manifest, false) {
            Some((_, evidence, _)) if ctx.diags.is_empty() => Ok(evidence),
            _ => Err(FixtureError::Invalid(crate::rubric::finish(ctx))),
        }
    }
}

fn read(path: &Path) -> Result<String, FixtureError> {
    std::fs::read_to_string(path).map_err(|source| FixtureError::Io {
        path: path.display().to_string(),
        source,
    })
}
