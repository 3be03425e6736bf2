//! Evidence files and hand-worked fixtures (RUBRIC.md "Fixtures"), and the
//! checker that runs a fixture through any evaluator and reports every
//! difference in Chinese and English.
//!
//! [`check_with`] takes any [`Evaluator`] so the same fixtures run through
//! the reference interpreter and through a compiled [`Pack`](crate::pack::Pack);
//! [`check`] takes the two entry points as functions, for evaluators made
//! up in tests.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use crate::abi::{FinaliseInput, FinaliseOutput, UnitInput, UnitOutput, UnitStatus, merge_outputs};
use crate::manifest::{Flag, IndicatorKind, Manifest, Round};
use crate::pack::Evaluator;
use crate::rubric::decimal::Points;
use crate::rubric::error::{CompileError, Expect, RefKind};
use crate::rubric::reader::{Ctx, Num, Tbl, number_of};
use crate::rubric::{Diagnostics, field_value};

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
            })
            .collect()
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

type Parsed = (String, Evidence, Option<Expected>);

fn parse_file(ctx: &mut Ctx<'_>, text: &str, m: &Manifest, fixture: bool) -> Option<Parsed> {
    let root = match DeTable::parse(text) {
        Ok(t) => t,
        Err(e) => {
            ctx.err(
                &e.span().unwrap_or(0..0),
                CompileError::Toml {
                    message: e.message().trim().to_string(),
                },
            );
            return None;
        }
    };
    let mut r = Tbl::new("顶层（top level）", 0..0, root.get_ref());
    let title = r.text(ctx, "title", fixture);
    let category = r.text(ctx, "category", true);
    let methods = r.texts(ctx, "methods", false);
    let pco = r.non_negative(ctx, "penalty_cap_override", false);
    let evidence_t = r.table(ctx, "evidence", false);
    let expected_t = r.get("expected");
    r.finish(ctx);

    let category = category.and_then(|c| {
        let i = m.category_index(c.get_ref());
        if i.is_none() {
            ctx.err(
                &c.span(),
                CompileError::UnknownReference {
                    kind: RefKind::Category,
                    id: c.get_ref().clone(),
                },
            );
        }
        i
    });
    let mut mask = m.all_methods_mask();
    if let Some(ms) = methods {
        mask = 0;
        for id in ms {
            match m.method_index(id.get_ref()) {
                Some(i) => mask |= 1 << i,
                None => ctx.err(
                    &id.span(),
                    CompileError::UnknownReference {
                        kind: RefKind::Method,
                        id: id.get_ref().clone(),
                    },
                ),
            }
        }
    }

    // Expected first: it decides which quarters are evaluated.
    let expected = match (fixture, expected_t) {
        (true, Some(v)) => match v.get_ref() {
            DeValue::Table(t) => expected(ctx, Tbl::new("[expected]", v.span(), t), m),
            _ => {
                ctx.err(
                    &v.span(),
                    CompileError::WrongType {
                        key: "expected".into(),
                        expected: Expect::Table,
                    },
                );
                None
            }
        },
        (true, None) => {
            ctx.err(
                &(0..0),
                CompileError::MissingKey {
                    table: "顶层（top level）".into(),
                    key: "expected".into(),
                },
            );
            None
        }
        (false, _) => None,
    };

    let mut rounds: BTreeMap<Round, Vec<Option<i64>>> = BTreeMap::new();
    rounds.insert(Round::Annual, vec![None; m.fields.len()]);
    if let Some(Expected::Scores { rounds: r, .. }) = &expected {
        for round in r.keys() {
            rounds.insert(*round, vec![None; m.fields.len()]);
        }
    }
    if let Some(mut ev) = evidence_t {
        ev.name = "[evidence]".into();
        for round in Round::ALL {
            let Some(mut t) = ev.table(ctx, round.id(), false) else {
                continue;
            };
            t.name = format!("[evidence.{}]", round.id());
            let values = rounds
                .entry(round)
                .or_insert_with(|| vec![None; m.fields.len()]);
            for (key, v) in t.entries() {
                let Some(f) = m.field_index(key.get_ref()) else {
                    ctx.err(
                        &key.span(),
                        CompileError::UnknownField {
                            name: key.get_ref().clone(),
                        },
                    );
                    continue;
                };
                let field = &m.fields[f];
                let Some(mi) = m.method_index(&field.method) else {
                    continue;
                };
                let method = &m.methods[mi];
                if method.quarterly != round.is_quarter() {
                    ctx.err(
                        &key.span(),
                        CompileError::InvalidValue {
                            key: key.get_ref().clone(),
                            value: format!("[evidence.{}]", round.id()),
                            expected: if method.quarterly {
                                format!(
                                    "按季度填报，写在 [evidence.Q1] … [evidence.Q4]（field of quarterly method {}）",
                                    method.id
                                )
                            } else {
                                format!("写在 [evidence.annual]（field of annual method {}）", method.id)
                            },
                        },
                    );
                    continue;
                }
                if mask & (1 << mi) == 0 {
                    ctx.err(
                        &key.span(),
                        CompileError::InvalidValue {
                            key: key.get_ref().clone(),
                            value: method.id.clone(),
                            expected:
                                "methods 中选用的考核方式的字段（a field of a selected method）"
                                    .into(),
                        },
                    );
                    continue;
                }
                let Some(x) = field_value(ctx, key.get_ref(), v, field.kind, &field.choices) else {
                    continue;
                };
                if !field.accepts(x) {
                    ctx.err(
                        &v.span(),
                        CompileError::InvalidValue {
                            key: key.get_ref().clone(),
                            value: Points(x).to_string(),
                            expected: format!(
                                "{} 到 {} 之间（within the field's range）",
                                field
                                    .min
                                    .map(|x| Points(x).to_string())
                                    .unwrap_or_else(|| "-∞".into()),
                                field
                                    .max
                                    .map(|x| Points(x).to_string())
                                    .unwrap_or_else(|| "+∞".into()),
                            ),
                        },
                    );
                    continue;
                }
                values[f] = Some(x);
            }
            // Keys were checked one by one above (unknown field ids are
            // reported as such), so `t` needs no unknown-key pass.
        }
        ev.finish(ctx);
    }
    let evidence = Evidence {
        category: category?,
        methods: mask,
        rounds: rounds.into_iter().collect(),
        penalty_cap_override: pco.map(|p| *p.get_ref()),
    };
    Some((
        title.map(|t| t.into_inner()).unwrap_or_default(),
        evidence,
        expected,
    ))
}

fn expected(ctx: &mut Ctx<'_>, mut t: Tbl<'_, '_>, m: &Manifest) -> Option<Expected> {
    let error = t.table(ctx, "error", false);
    let sheet = t.table(ctx, "sheet", false);
    let mut round_tables = Vec::new();
    for round in Round::ALL {
        if let Some(rt) = t.table(ctx, round.id(), false) {
            round_tables.push((round, rt));
        }
    }
    let span = t.span.clone();
    t.finish(ctx);
    if let Some(mut e) = error {
        e.name = "[expected.error]".into();
        if sheet.is_some() || !round_tables.is_empty() {
            ctx.err(
                &span,
                CompileError::InvalidValue {
                    key: "expected".into(),
                    value: "error + …".into(),
                    expected: "[expected.error] 与 [expected.<轮次>]、[expected.sheet] 二选一（an error fixture expects nothing else）"
                        .into(),
                },
            );
        }
        let kind = e.text(ctx, "kind", true);
        let round = e.text(ctx, "round", true);
        let at = e.text(ctx, "at", true);
        e.finish(ctx);
        let (kind, round, at) = (kind?, round?, at?);
        let Some(k) = ErrorKind::ALL
            .into_iter()
            .find(|k| k.id() == kind.get_ref())
        else {
            ctx.err(
                &kind.span(),
                CompileError::InvalidValue {
                    key: "kind".into(),
                    value: format!("\"{}\"", kind.get_ref()),
                    expected: "missing_field、division_by_zero、overflow、out_of_fuel、missing_indicator 之一".into(),
                },
            );
            return None;
        };
        let r = match (round.get_ref().as_str(), k) {
            ("sheet", ErrorKind::MissingIndicator) => None,
            (s, k) if k != ErrorKind::MissingIndicator => match Round::from_id(s) {
                Some(r) => Some(r),
                None => {
                    bad_round(ctx, &round);
                    return None;
                }
            },
            _ => {
                bad_round(ctx, &round);
                return None;
            }
        };
        let at_i = if k == ErrorKind::MissingField {
            m.field_index(at.get_ref())
        } else {
            m.indicator_index(at.get_ref())
        };
        let Some(at_i) = at_i else {
            ctx.err(
                &at.span(),
                if k == ErrorKind::MissingField {
                    CompileError::UnknownField {
                        name: at.get_ref().clone(),
                    }
                } else {
                    CompileError::InvalidValue {
                        key: "at".into(),
                        value: format!("\"{}\"", at.get_ref()),
                        expected: "指标标识（an indicator id）".into(),
                    }
                },
            );
            return None;
        };
        return Some(Expected::Error {
            kind: k,
            round: r,
            at: at_i,
        });
    }

    let mut rounds = BTreeMap::new();
    for (round, mut rt) in round_tables {
        rt.name = format!("[expected.{}]", round.id());
        let inds = rt.table(ctx, "indicators", false);
        let fired = rt.table(ctx, "fired", false);
        rt.finish(ctx);
        let mut er = ExpectedRound::default();
        if let Some(it) = inds {
            for (key, v) in it.entries() {
                let Some(i) = m.indicator_index(key.get_ref()) else {
                    ctx.err(
                        &key.span(),
                        CompileError::InvalidValue {
                            key: key.get_ref().clone(),
                            value: String::new(),
                            expected: "指标标识（an indicator id）".into(),
                        },
                    );
                    continue;
                };
                let value = if m.indicators[i].kind == IndicatorKind::Flag {
                    match v.get_ref() {
                        DeValue::Boolean(b) => Some(if *b { 100 } else { 0 }),
                        _ => {
                            ctx.err(
                                &v.span(),
                                CompileError::WrongType {
                                    key: key.get_ref().clone(),
                                    expected: Expect::Bool,
                                },
                            );
                            None
                        }
                    }
                } else {
                    points_value(ctx, key.get_ref(), v)
                };
                if let Some(x) = value {
                    er.indicators.insert(i, x);
                }
            }
        }
        if let Some(ft) = fired {
            for (key, v) in ft.entries() {
                let Some((k, _)) = m.clause_index(key.get_ref()) else {
                    ctx.err(
                        &key.span(),
                        CompileError::InvalidValue {
                            key: key.get_ref().clone(),
                            value: String::new(),
                            expected: "条款标识（a clause id）".into(),
                        },
                    );
                    continue;
                };
                if let Some(x) = points_value(ctx, key.get_ref(), v) {
                    er.fired.insert(k, x);
                }
            }
        }
        rounds.insert(round, er);
    }

    let sheet = match sheet {
        None => None,
        Some(mut s) => {
            s.name = "[expected.sheet]".into();
            let mut num = |ctx: &mut Ctx<'_>, key| s.number(ctx, key, true).map(|v| *v.get_ref());
            let applicable = num(ctx, "applicable");
            let raw = num(ctx, "raw");
            let converted = num(ctx, "converted");
            let bonus = num(ctx, "bonus");
            let penalty = num(ctx, "penalty");
            let total = num(ctx, "total");
            let grade = s.text(ctx, "grade", true);
            let flags = s.texts(ctx, "flags", true);
            s.finish(ctx);
            let grade = grade.and_then(|g| {
                let i = m.grade_index(g.get_ref());
                if i.is_none() {
                    ctx.err(
                        &g.span(),
                        CompileError::UnknownReference {
                            kind: RefKind::Grade,
                            id: g.get_ref().clone(),
                        },
                    );
                }
                i
            });
            let mut serious = false;
            let mut major = false;
            for f in flags.iter().flatten() {
                match Flag::from_id(f.get_ref()) {
                    Some(Flag::SeriousCase) => serious = true,
                    Some(Flag::MajorProblem) => major = true,
                    None => ctx.err(
                        &f.span(),
                        CompileError::InvalidValue {
                            key: "flags".into(),
                            value: format!("\"{}\"", f.get_ref()),
                            expected: "serious_case、major_problem 之一".into(),
                        },
                    ),
                }
            }
            Some(ExpectedSheet {
                applicable: applicable?,
                raw: raw?,
                converted: converted?,
                bonus: bonus?,
                penalty: penalty?,
                total: total?,
                grade: grade?,
                serious_case: serious,
                major_problem: major,
            })
        }
    };
    Some(Expected::Scores { rounds, sheet })
}

fn bad_round(ctx: &mut Ctx<'_>, round: &toml::Spanned<String>) {
    ctx.err(
        &round.span(),
        CompileError::InvalidValue {
            key: "round".into(),
            value: format!("\"{}\"", round.get_ref()),
            expected: "annual、Q1…Q4（求值错误）或 sheet（仅 missing_indicator）".into(),
        },
    );
}

fn points_value(ctx: &mut Ctx<'_>, key: &str, v: &toml::Spanned<DeValue<'_>>) -> Option<i64> {
    match number_of(v.get_ref()) {
        Num::Ok(x) => Some(x),
        Num::WrongType => {
            ctx.err(
                &v.span(),
                CompileError::WrongType {
                    key: key.to_string(),
                    expected: Expect::Number,
                },
            );
            None
        }
        Num::Bad(text, reason) => {
            ctx.err(&v.span(), CompileError::BadLiteral { text, reason });
            None
        }
    }
}

/// Runs `fixture` through an evaluator and compares everything it states:
/// each round's status, every evaluated indicator (unlisted scored ones at
/// full points, unlisted bonus and penalty ones at 0, unlisted flags not
/// compared), every clause (unlisted ones must not fire), and the sheet.
pub fn check<E1: fmt::Display, E2: fmt::Display>(
    fixture: &Fixture,
    mut evaluate: impl FnMut(&[UnitInput]) -> Result<Vec<UnitOutput>, E1>,
    mut finalise: impl FnMut(&[FinaliseInput]) -> Result<Vec<FinaliseOutput>, E2>,
) -> Result<(), Vec<Difference>> {
    let m = &fixture.manifest;
    let ev = &fixture.evidence;
    let c = ev.category;
    let mut diffs = Vec::new();
    let diff = |round, subject: String, expected: String, actual: String| Difference {
        round,
        subject,
        expected,
        actual,
    };
    let units = ev.units();
    let outs = match evaluate(&units) {
        Ok(o) if o.len() == units.len() => o,
        Ok(o) => {
            return Err(vec![diff(
                None,
                "求值结果个数（number of outputs）".into(),
                units.len().to_string(),
                o.len().to_string(),
            )]);
        }
        Err(e) => {
            return Err(vec![diff(
                None,
                "求值（evaluate）".into(),
                "成功（success）".into(),
                e.to_string(),
            )]);
        }
    };
    let status_text = |s: UnitStatus| format!("{}：{}", s.kind_id(), s.describe(m));

    // Statuses.
    let mut status_failed = false;
    let expected_error = match &fixture.expected {
        Expected::Error { kind, round, at } => Some((*kind, *round, *at)),
        Expected::Scores { .. } => None,
    };
    for ((round, _), out) in ev.rounds.iter().zip(&outs) {
        let want = match expected_error {
            Some((kind, Some(r), at)) if r == *round => kind.status(at),
            _ => UnitStatus::Ok,
        };
        if out.status != want {
            status_failed = true;
            diffs.push(diff(
                Some(*round),
                "状态（status）".into(),
                status_text(want),
                status_text(out.status),
            ));
        }
    }
    if let Some((kind, round, at)) = expected_error {
        if let Some(r) = round
            && !ev.rounds.iter().any(|(x, _)| *x == r)
        {
            diffs.push(diff(
                Some(r),
                "轮次（round）".into(),
                "被评估（evaluated）".into(),
                "证据中没有该轮次（no evidence for the round）".into(),
            ));
        }
        if round.is_none() && diffs.is_empty() {
            let want = kind.status(at);
            match finalise_sheet(fixture, &outs, &mut finalise) {
                Ok(out) if out.status == want => {}
                Ok(out) => diffs.push(diff(
                    None,
                    "状态（status）".into(),
                    status_text(want),
                    status_text(out.status),
                )),
                Err(d) => diffs.push(d),
            }
        }
        return if diffs.is_empty() { Ok(()) } else { Err(diffs) };
    }
    let Expected::Scores { rounds, sheet } = &fixture.expected else {
        return Err(diffs);
    };

    // Indicators and clauses, round by round.
    let empty = ExpectedRound::default();
    let offsets = m.clause_offsets();
    for ((round, _), out) in ev.rounds.iter().zip(&outs) {
        if !out.status.is_ok() {
            continue;
        }
        let want = rounds.get(round).unwrap_or(&empty);
        for (i, ind) in m.indicators.iter().enumerate() {
            let actual = out.indicators.get(i).copied().flatten();
            let listed = want.indicators.get(&i).copied();
            let default = match ind.kind {
                IndicatorKind::Scored => m.points(i, c),
                IndicatorKind::Bonus | IndicatorKind::Penalty => Some(0),
                IndicatorKind::Flag => None,
            };
            let subject = || format!("指标 {}（{}）", ind.id, ind.name);
            let show = |v: Option<i64>, flag: bool| match v {
                None => "未评估（not evaluated）".to_string(),
                Some(x) if flag => if x != 0 { "true" } else { "false" }.to_string(),
                Some(x) => Points(x).to_string(),
            };
            let flag = ind.kind == IndicatorKind::Flag;
            match (actual, listed) {
                (Some(a), Some(l)) if a != l => diffs.push(diff(
                    Some(*round),
                    subject(),
                    show(Some(l), flag),
                    show(Some(a), flag),
                )),
                (Some(a), None) => {
                    if let Some(d) = default
                        && a != d
                    {
                        diffs.push(diff(
                            Some(*round),
                            subject(),
                            show(Some(d), flag),
                            show(Some(a), flag),
                        ));
                    }
                }
                (None, Some(l)) => diffs.push(diff(
                    Some(*round),
                    subject(),
                    show(Some(l), flag),
                    show(None, flag),
                )),
                _ => {}
            }
            for (j, clause) in ind.clauses.iter().enumerate() {
                let k = offsets[i] + j;
                let actual = out.clauses.get(k).copied().flatten();
                let listed = want.fired.get(&k).copied();
                if actual != listed {
                    let show = |v: Option<i64>| match v {
                        None => "不触发（not fired）".to_string(),
                        Some(x) => format!("触发，{} 分（fired, {} points）", Points(x), Points(x)),
                    };
                    diffs.push(diff(
                        Some(*round),
                        format!("条款 {}（{}）", clause.id, clause.reason),
                        show(listed),
                        show(actual),
                    ));
                }
            }
        }
    }

    // The sheet.
    if let Some(want) = sheet {
        if status_failed {
            return Err(diffs);
        }
        match finalise_sheet(fixture, &outs, &mut finalise) {
            Err(d) => diffs.push(d),
            Ok(out) if !out.status.is_ok() => diffs.push(diff(
                None,
                "状态（status）".into(),
                "ok".into(),
                status_text(out.status),
            )),
            Ok(out) => {
                let s = out.sheet;
                for (name, w, a) in [
                    ("应考分值（applicable）", want.applicable, s.applicable),
                    ("原始得分（raw）", want.raw, s.raw),
                    ("换算得分（converted）", want.converted, s.converted),
                    ("加分（bonus）", want.bonus, s.bonus),
                    ("减分（penalty）", want.penalty, s.penalty),
                    ("总分（total）", want.total, s.total),
                ] {
                    if w != a {
                        diffs.push(diff(
                            None,
                            name.into(),
                            Points(w).to_string(),
                            Points(a).to_string(),
                        ));
                    }
                }
                let grade = |g: usize| {
                    m.composition
                        .grades
                        .get(g)
                        .map(|g| format!("{}（{}）", g.name, g.id))
                        .unwrap_or_else(|| format!("#{g}"))
                };
                if want.grade != s.grade as usize {
                    diffs.push(diff(
                        None,
                        "等次（grade）".into(),
                        grade(want.grade),
                        grade(s.grade as usize),
                    ));
                }
                let flags = |serious: bool, major: bool| {
                    let v: Vec<&str> = [(serious, "serious_case"), (major, "major_problem")]
                        .into_iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, id)| id)
                        .collect();
                    format!("[{}]", v.join(", "))
                };
                if (want.serious_case, want.major_problem) != (s.serious_case, s.major_problem) {
                    diffs.push(diff(
                        None,
                        "标记（flags）".into(),
                        flags(want.serious_case, want.major_problem),
                        flags(s.serious_case, s.major_problem),
                    ));
                }
            }
        }
    }
    if diffs.is_empty() { Ok(()) } else { Err(diffs) }
}

/// Merges the round outputs and finalises the unit's sheet.
fn finalise_sheet<E: fmt::Display>(
    fixture: &Fixture,
    outs: &[UnitOutput],
    finalise: &mut impl FnMut(&[FinaliseInput]) -> Result<Vec<FinaliseOutput>, E>,
) -> Result<FinaliseOutput, Difference> {
    let m = &fixture.manifest;
    let ev = &fixture.evidence;
    let pairs: Vec<(Round, &UnitOutput)> = ev.rounds.iter().map(|(r, _)| *r).zip(outs).collect();
    let bad = |subject: &str, actual: String| Difference {
        round: None,
        subject: subject.to_string(),
        expected: "成功（success）".into(),
        actual,
    };
    let input = merge_outputs(m, ev.category as u32, &pairs, ev.penalty_cap_override)
        .map_err(|e| bad("汇总各轮次（merge）", e.to_string()))?;
    let out = finalise(std::slice::from_ref(&input))
        .map_err(|e| bad("定档（finalise）", e.to_string()))?;
    match out.as_slice() {
        [one] => Ok(*one),
        _ => Err(bad(
            "定档（finalise）",
            format!("{} 个结果（outputs）", out.len()),
        )),
    }
}

/// Runs a fixture through an evaluator: the reference interpreter or a
/// compiled pack.
pub fn check_with(fixture: &Fixture, evaluator: &dyn Evaluator) -> Result<(), Vec<Difference>> {
    check(
        fixture,
        |u| evaluator.evaluate(u),
        |u| evaluator.finalise(u),
    )
}
