//! The reference interpreter: runs a checked rubric exactly as ABI.md says a
//! pack must, in plain Rust. It is the oracle compiled packs are
//! differential-tested against and the baseline they are benchmarked
//! against, so it is built for speed too: names are resolved to indices once
//! at load, each formula is flattened to stack bytecode, and the per-unit
//! loop allocates nothing beyond its output. It implements
//! [`Evaluator`], so whatever takes a pack can take it instead.

use crate::abi::v2::EvalIn;
use crate::abi::{
    BatchError, FinaliseInput, FinaliseOutput, HEADER_LEN, RawFinaliseInput, RawUnitInput, Sheet,
    UnitInput, UnitOutput, UnitStatus, check_evaluate_input, decode_finalise_input, div_round,
    encode_evaluate_output, encode_finalise_output,
};
use crate::manifest::{Field, FieldType, Flag, IndicatorKind, Manifest, Missing};
use crate::pack::{Evaluator, PackError};
use crate::rubric::{BinOp, CheckedRubric, Expr, Formula, Rule};

mod input;

use input::{Fields, Marks, View};

/// A loaded rubric, ready to evaluate batches.
#[derive(Debug, Clone)]
pub struct Interpreter {
    manifest: Manifest,
    indicators: Vec<Ind>,
    /// Per method: quarterly?
    quarterly: Vec<bool>,
    /// ABI 1.1: evaluate inputs carry not-applicable marks.
    marks: bool,
    all_methods: u32,
    clause_count: usize,
    serious_bar: usize,
}

/// The interpreter never fails a whole batch: every fault is a unit's
/// status, as in a pack.
impl Evaluator for Interpreter {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn evaluate(&self, units: &[UnitInput]) -> Result<Vec<UnitOutput>, PackError> {
        Ok(Interpreter::evaluate(self, units))
    }

    fn finalise(&self, units: &[FinaliseInput]) -> Result<Vec<FinaliseOutput>, PackError> {
        Ok(Interpreter::finalise(self, units))
    }
}

#[derive(Debug, Clone)]
struct Ind {
    kind: IndicatorKind,
    method: usize,
    points: Vec<Option<i64>>,
    cost: u64,
    /// Fields with `missing = "refuse"` its formulas read.
    required: Vec<usize>,
    first_clause: usize,
    rule: Prog,
    /// May be marked not applicable.
    may_na: bool,
}

#[derive(Debug, Clone)]
enum Prog {
    Deductions(Vec<(Code, Option<Code>)>),
    Score(Code),
    Awards(Vec<(Code, Option<Code>)>),
    Flag(Code, Flag),
}

/// A formula as stack bytecode. Booleans are 0/1, choices their index,
/// numbers hundredths.
#[derive(Debug, Clone)]
struct Code(Vec<Op>);

#[derive(Debug, Clone, Copy)]
enum Op {
    Const(i64),
    Load(u32),
    Present(u32),
    Neg,
    Not,
    Bin(BinOp),
    Min(u32),
    Max(u32),
    Clamp,
    /// Pop; jump to the target when it is false (0).
    JumpIfFalse(u32),
    Jump(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    DivZero,
    Overflow,
}

impl Interpreter {
    pub fn new(rubric: &CheckedRubric) -> Interpreter {
        let m = &rubric.manifest;
        let indicators = rubric
            .indicators
            .iter()
            .zip(&m.indicators)
            .map(|(ci, mi)| Ind {
                kind: ci.kind,
                method: ci.method,
                points: mi.points.clone(),
                cost: ci.fuel_cost,
                required: ci
                    .reads
                    .iter()
                    .copied()
                    .filter(|&f| {
                        m.fields
                            .get(f)
                            .is_some_and(|f| f.missing == Missing::Refuse)
                    })
                    .collect(),
                first_clause: ci.first_clause,
                may_na: mi.allow_not_applicable,
                rule: match &ci.rule {
                    Rule::Deductions(cs) => Prog::Deductions(clauses(cs)),
                    Rule::Awards(cs) => Prog::Awards(clauses(cs)),
                    Rule::Score(f) => Prog::Score(Code::of(f)),
                    Rule::Flag { when, flag } => Prog::Flag(Code::of(when), *flag),
                },
            })
            .collect();
        Interpreter {
            quarterly: m.methods.iter().map(|x| x.quarterly).collect(),
            marks: m.has_not_applicable(),
            all_methods: m.all_methods_mask(),
            clause_count: m.clause_count(),
            serious_bar: m.grade_index(&m.composition.serious_case_bars).unwrap_or(0),
            manifest: m.clone(),
            indicators,
        }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// `kaohe_evaluate` on typed input.
    pub fn evaluate(&self, units: &[UnitInput]) -> Vec<UnitOutput> {
        let mut s = Scratch::default();
        units
            .iter()
            .map(|u| {
                self.eval_unit(
                    &View {
                        category: u.category,
                        round: u.round.code(),
                        methods: u.methods,
                        reserved: 0,
                        fields: Fields::Typed(&u.values),
                        marks: Marks::Typed(&u.not_applicable),
                    },
                    &mut s,
                )
            })
            .collect()
    }

    /// `kaohe_evaluate` on input as the bytes say.
    pub fn evaluate_raw(&self, units: &[RawUnitInput]) -> Vec<UnitOutput> {
        let mut s = Scratch::default();
        units
            .iter()
            .map(|u| {
                self.eval_unit(
                    &View {
                        category: u.category,
                        round: u.round,
                        methods: u.methods,
                        reserved: u.reserved,
                        fields: Fields::Raw(&u.fields),
                        marks: Marks::Raw(&u.not_applicable),
                    },
                    &mut s,
                )
            })
            .collect()
    }

    /// `kaohe_evaluate` byte for byte: input bytes → output bytes or the
    /// batch error a pack returns as a negative number.
    pub fn evaluate_bytes(&self, input: &[u8]) -> Result<Vec<u8>, BatchError> {
        check_evaluate_input(&self.manifest, input)?;
        let m = &self.manifest;
        let rec = m.evaluate_input_record();
        let marks_at = 16 + 16 * m.fields.len();
        let v2 = m.is_v2().then(|| EvalIn::of(m));
        let mut s = Scratch::default();
        // Fields are read in place: no per-unit decoding into vectors.
        let outs: Vec<UnitOutput> = input[HEADER_LEN..]
            .chunks_exact(rec)
            .map(|u| {
                let word = |i: usize| u32::from_le_bytes([u[i], u[i + 1], u[i + 2], u[i + 3]]);
                let view = match v2 {
                    // ABI 2: a reserved bit set is refused as `reserved` is.
                    Some(lay) => View {
                        category: word(0),
                        round: word(4),
                        methods: word(8),
                        reserved: word(12) | u32::from(lay.stray(m, u)),
                        fields: Fields::Bits {
                            present: &u[lay.present..],
                            values: &u[lay.values..],
                        },
                        marks: match lay.marks {
                            Some(at) => Marks::Bits(&u[at..]),
                            None => Marks::Typed(&[]),
                        },
                    },
                    None => View {
                        category: word(0),
                        round: word(4),
                        methods: word(8),
                        reserved: word(12),
                        fields: Fields::Bytes(&u[16..marks_at]),
                        marks: if self.marks {
                            Marks::Bytes(&u[marks_at..])
                        } else {
                            Marks::Typed(&[])
                        },
                    },
                };
                self.eval_unit(&view, &mut s)
            })
            .collect();
        Ok(encode_evaluate_output(m, &outs))
    }

    /// `kaohe_finalise` on typed input.
    pub fn finalise(&self, units: &[FinaliseInput]) -> Vec<FinaliseOutput> {
        units
            .iter()
            .map(|u| self.finalise_unit(&RawFinaliseInput::from(u)))
            .collect()
    }

    /// `kaohe_finalise` on input as the bytes say.
    pub fn finalise_raw(&self, units: &[RawFinaliseInput]) -> Vec<FinaliseOutput> {
        units.iter().map(|u| self.finalise_unit(u)).collect()
    }

    /// `kaohe_finalise` byte for byte.
    pub fn finalise_bytes(&self, input: &[u8]) -> Result<Vec<u8>, BatchError> {
        let units = decode_finalise_input(&self.manifest, input)?;
        Ok(encode_finalise_output(&self.finalise_raw(&units)))
    }

    fn failed(&self, status: UnitStatus, fuel_used: u64) -> UnitOutput {
        UnitOutput {
            status,
            fuel_used,
            indicators: vec![None; self.indicators.len()],
            clauses: vec![None; self.clause_count],
            not_applicable: vec![false; self.indicators.len()],
        }
    }

    fn eval_unit(&self, u: &View<'_>, s: &mut Scratch) -> UnitOutput {
        let m = &self.manifest;
        let nf = m.fields.len();
        let invalid = |d: usize| self.failed(UnitStatus::InvalidInput(d as u32), 0);
        let c = u.category as usize;
        if c >= m.categories.len()
            || u.round > 4
            || u.reserved != 0
            || u.methods & !self.all_methods != 0
        {
            return invalid(0);
        }
        if u.fields.len() != nf {
            return invalid(0);
        }
        // Validate and load the fields.
        s.vals.clear();
        s.present.clear();
        for (i, f) in m.fields.iter().enumerate() {
            let (p, v) = u.fields.get(i);
            let ok = match p {
                0 => v == 0,
                1 => f.accepts(v),
                _ => false,
            };
            if !ok {
                return invalid(i);
            }
            let raw = match (p, f.missing) {
                (1, _) => v,
                (_, Missing::Default(d)) => d,
                (_, Missing::Refuse) => 0,
            };
            s.vals.push(internal(f, raw));
            s.present.push(p == 1);
        }
        let quarter = u.round != 0;
        let applies = |ind: &Ind| {
            ind.points[c].is_some()
                && u.methods & (1 << ind.method) != 0
                && self.quarterly[ind.method] == quarter
        };
        // Not-applicable marks (ABI 1.1, §2 step 2b), in indicator order:
        // 0 or 1, and 1 only where the rubric allows it and the indicator
        // would be evaluated.
        s.na.clear();
        for (i, ind) in self.indicators.iter().enumerate() {
            let mark = u.marks.get(i);
            let ok = match mark {
                0 => true,
                1 => ind.may_na && applies(ind),
                _ => false,
            };
            if !ok {
                return self.failed(UnitStatus::NotApplicableRefused(i as u32), 0);
            }
            s.na.push(mark == 1);
        }
        let na = &s.na;
        let evaluated = |(i, ind): &(usize, &Ind)| applies(ind) && !na[*i];
        // Required fields, first missing in field order.
        let missing = self
            .indicators
            .iter()
            .enumerate()
            .filter(|x| evaluated(x))
            .map(|(_, ind)| ind)
            .flat_map(|ind| ind.required.iter().copied())
            .filter(|&f| !s.present[f])
            .min();
        if let Some(f) = missing {
            return self.failed(UnitStatus::MissingField(f as u32), 0);
        }
        let budget = m.limits.fuel_per_unit;
        let mut used: u64 = 0;
        let mut out = self.failed(UnitStatus::Ok, 0);
        let na = std::mem::take(&mut s.na);
        for (i, ind) in self.indicators.iter().enumerate() {
            if na[i] {
                out.not_applicable[i] = true;
                continue;
            }
            if !applies(ind) {
                continue;
            }
            match used.checked_add(ind.cost) {
                Some(n) if n <= budget => used = n,
                _ => return self.failed(UnitStatus::OutOfFuel(i as u32), used),
            }
            let points = ind.points[c].unwrap_or(0);
            let r = self.eval_indicator(ind, points, s, &mut out.clauses);
            match r {
                Ok(score) => out.indicators[i] = Some(score),
                Err(Fault::DivZero) => {
                    s.na = na;
                    return self.failed(UnitStatus::DivisionByZero(i as u32), used);
                }
                Err(Fault::Overflow) => {
                    s.na = na;
                    return self.failed(UnitStatus::Overflow(i as u32), used);
                }
            }
        }
        s.na = na;
        out.fuel_used = used;
        out
    }

    fn eval_indicator(
        &self,
        ind: &Ind,
        points: i64,
        s: &mut Scratch,
        clauses: &mut [Option<i64>],
    ) -> Result<i64, Fault> {
        let mut sum_clauses =
            |cs: &[(Code, Option<Code>)], s: &mut Scratch| -> Result<i64, Fault> {
                let mut total: i64 = 0;
                for (k, (when, amount)) in cs.iter().enumerate() {
                    if when.run(s)? == 0 {
                        continue;
                    }
                    let a = match amount {
                        Some(a) => a.run(s)?,
                        None => points,
                    }
                    .max(0);
                    clauses[ind.first_clause + k] = Some(a);
                    total = total.checked_add(a).ok_or(Fault::Overflow)?;
                }
                Ok(total)
            };
        Ok(match &ind.rule {
            Prog::Deductions(cs) => (points - sum_clauses(cs, s)?).clamp(0, points),
            Prog::Awards(cs) => sum_clauses(cs, s)?.min(points),
            Prog::Score(code) => code.run(s)?.clamp(0, points),
            Prog::Flag(code, _) => {
                if code.run(s)? != 0 {
                    100
                } else {
                    0
                }
            }
        })
    }

    fn finalise_unit(&self, u: &RawFinaliseInput) -> FinaliseOutput {
        let m = &self.manifest;
        let fail = |status| FinaliseOutput {
            status,
            sheet: Sheet::default(),
        };
        let invalid = |d: usize| fail(UnitStatus::InvalidInput(d as u32));
        let c = u.category as usize;
        let override_on = u.flags & 1 != 0;
        if c >= m.categories.len() || u.flags & !1 != 0 || (override_on && u.penalty_cap < 0) {
            return invalid(0);
        }
        if u.scores.len() != self.indicators.len() {
            return invalid(0);
        }
        let (mut applicable, mut raw, mut bonus, mut penalty) = (0i128, 0i128, 0i128, 0i128);
        let (mut serious, mut major) = (false, false);
        for (i, ind) in self.indicators.iter().enumerate() {
            let (p, v) = u.scores[i];
            let points = ind.points[c];
            match (p, points) {
                (0, _) if v != 0 => return invalid(i),
                (0, None) => continue,
                (0, Some(_)) => return fail(UnitStatus::MissingIndicator(i as u32)),
                // ABI 1.1: not applicable — out of `applicable` and `raw`.
                (2, Some(_)) if self.marks && ind.may_na && v == 0 => continue,
                (2, _) if self.marks => return fail(UnitStatus::NotApplicableRefused(i as u32)),
                (1, Some(pts)) => {
                    let in_range = match ind.kind {
                        IndicatorKind::Flag => v == 0 || v == 100,
                        _ => (0..=pts).contains(&v),
                    };
                    if !in_range {
                        return invalid(i);
                    }
                    let v = i128::from(v);
                    match (&ind.rule, ind.kind) {
                        (_, IndicatorKind::Scored) => {
                            applicable += i128::from(pts);
                            raw += v;
                        }
                        (_, IndicatorKind::Bonus) => bonus += v,
                        (_, IndicatorKind::Penalty) => penalty += v,
                        (Prog::Flag(_, flag), IndicatorKind::Flag) => {
                            let on = v != 0;
                            match flag {
                                Flag::SeriousCase => serious |= on,
                                Flag::MajorProblem => major |= on,
                            }
                        }
                        (_, IndicatorKind::Flag) => {}
                    }
                }
                _ => return invalid(i),
            }
        }
        let comp = &m.composition;
        let full = i128::from(comp.full_marks);
        let converted = if comp.normalise && applicable > 0 && applicable < full {
            div_round(raw * full, applicable).unwrap_or(0)
        } else {
            raw
        };
        let bonus = bonus.min(i128::from(comp.bonus_cap));
        let cap = if override_on {
            u.penalty_cap
        } else {
            comp.penalty_cap
        };
        let penalty = penalty.min(i128::from(cap));
        let total = converted + bonus - penalty;
        let fits = |x: i128| i64::try_from(x).ok();
        let (Some(applicable), Some(raw), Some(converted), Some(bonus), Some(penalty), Some(total)) = (
            fits(applicable),
            fits(raw),
            fits(converted),
            fits(bonus),
            fits(penalty),
            fits(total),
        ) else {
            return fail(UnitStatus::Overflow(0));
        };
        let last = comp.grades.len().saturating_sub(1);
        let mut grade = comp
            .grades
            .iter()
            .position(|g| total >= g.min)
            .unwrap_or(last);
        if serious && grade <= self.serious_bar {
            grade = (self.serious_bar + 1).min(last);
        }
        FinaliseOutput {
            status: UnitStatus::Ok,
            sheet: Sheet {
                applicable,
                raw,
                converted,
                bonus,
                penalty,
                total,
                grade: grade as u32,
                serious_case: serious,
                major_problem: major,
            },
        }
    }
}

fn clauses(cs: &[crate::rubric::CheckedClause]) -> Vec<(Code, Option<Code>)> {
    cs.iter()
        .map(|c| (Code::of(&c.when), c.amount.as_ref().map(Code::of)))
        .collect()
}

/// A field's ABI value in the interpreter's representation.
fn internal(f: &Field, abi: i64) -> i64 {
    match f.kind {
        FieldType::Count | FieldType::Decimal => abi,
        FieldType::Bool | FieldType::Choice => abi / 100,
    }
}

/// Per-batch working memory, reused across units.
#[derive(Default)]
struct Scratch {
    vals: Vec<i64>,
    present: Vec<bool>,
    stack: Vec<i64>,
    na: Vec<bool>,
}

impl Code {
    fn of(f: &Formula) -> Code {
        let mut ops = Vec::with_capacity(f.nodes as usize);
        emit(&f.expr, &mut ops);
        Code(ops)
    }

    fn run(&self, s: &mut Scratch) -> Result<i64, Fault> {
        let (vals, present, st) = (&s.vals, &s.present, &mut s.stack);
        st.clear();
        let ops = &self.0;
        let mut pc = 0;
        while let Some(op) = ops.get(pc) {
            pc += 1;
            match *op {
                Op::Const(v) => st.push(v),
                Op::Load(f) => st.push(vals[f as usize]),
                Op::Present(f) => st.push(i64::from(present[f as usize])),
                Op::Neg => {
                    let a = pop(st);
                    st.push(a.checked_neg().ok_or(Fault::Overflow)?);
                }
                Op::Not => {
                    let a = pop(st);
                    st.push(i64::from(a == 0));
                }
                Op::Bin(op) => {
                    let b = pop(st);
                    let a = pop(st);
                    st.push(binary(op, a, b)?);
                }
                Op::Min(n) | Op::Max(n) => {
                    let at = st.len() - n as usize;
                    let args = &st[at..];
                    let v = if matches!(op, Op::Min(_)) {
                        args.iter().copied().min()
                    } else {
                        args.iter().copied().max()
                    }
                    .unwrap_or(0);
                    st.truncate(at);
                    st.push(v);
                }
                Op::Clamp => {
                    let hi = pop(st);
                    let lo = pop(st);
                    let x = pop(st);
                    st.push(lo.max(x.min(hi)));
                }
                Op::JumpIfFalse(t) => {
                    if pop(st) == 0 {
                        pc = t as usize;
                    }
                }
                Op::Jump(t) => pc = t as usize,
            }
        }
        Ok(pop(st))
    }
}

/// Pops a value the bytecode's shape guarantees is there.
fn pop(st: &mut Vec<i64>) -> i64 {
    st.pop().unwrap_or(0)
}

/// One binary operation with RUBRIC.md's arithmetic.
fn binary(op: BinOp, a: i64, b: i64) -> Result<i64, Fault> {
    Ok(match op {
        BinOp::Add => a.checked_add(b).ok_or(Fault::Overflow)?,
        BinOp::Sub => a.checked_sub(b).ok_or(Fault::Overflow)?,
        BinOp::Mul => {
            let p = a.checked_mul(b).ok_or(Fault::Overflow)?;
            round_i64(div_round(i128::from(p), 100))?
        }
        BinOp::Div => {
            if b == 0 {
                return Err(Fault::DivZero);
            }
            let n = a.checked_mul(100).ok_or(Fault::Overflow)?;
            round_i64(div_round(i128::from(n), i128::from(b)))?
        }
        BinOp::Lt => i64::from(a < b),
        BinOp::Le => i64::from(a <= b),
        BinOp::Gt => i64::from(a > b),
        BinOp::Ge => i64::from(a >= b),
        BinOp::Eq => i64::from(a == b),
        BinOp::Ne => i64::from(a != b),
        BinOp::And => i64::from(a != 0 && b != 0),
        BinOp::Or => i64::from(a != 0 || b != 0),
    })
}

fn round_i64(q: Option<i128>) -> Result<i64, Fault> {
    q.and_then(|q| i64::try_from(q).ok()).ok_or(Fault::Overflow)
}

fn emit(e: &Expr, ops: &mut Vec<Op>) {
    match e {
        Expr::Num(v) => ops.push(Op::Const(*v)),
        Expr::Bool(b) => ops.push(Op::Const(i64::from(*b))),
        Expr::Choice(i) => ops.push(Op::Const(i64::from(*i))),
        Expr::Field(f) => ops.push(Op::Load(*f as u32)),
        Expr::Present(f) => ops.push(Op::Present(*f as u32)),
        Expr::Neg(a) => {
            emit(a, ops);
            ops.push(Op::Neg);
        }
        Expr::Not(a) => {
            emit(a, ops);
            ops.push(Op::Not);
        }
        Expr::Binary(op, a, b) => {
            emit(a, ops);
            emit(b, ops);
            ops.push(Op::Bin(*op));
        }
        Expr::If(c, a, b) => {
            emit(c, ops);
            let jf = ops.len();
            ops.push(Op::JumpIfFalse(0));
            emit(a, ops);
            let j = ops.len();
            ops.push(Op::Jump(0));
            let else_at = ops.len() as u32;
            emit(b, ops);
            let end = ops.len() as u32;
            ops[jf] = Op::JumpIfFalse(else_at);
            ops[j] = Op::Jump(end);
        }
        Expr::Min(v) | Expr::Max(v) => {
            for x in v {
                emit(x, ops);
            }
            let n = v.len() as u32;
            ops.push(if matches!(e, Expr::Min(_)) {
                Op::Min(n)
            } else {
                Op::Max(n)
            });
        }
        Expr::Clamp(x, lo, hi) => {
            emit(x, ops);
            emit(lo, ops);
            emit(hi, ops);
            ops.push(Op::Clamp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_rounds_half_away_from_zero() {
        // 2.5 * 0.5 = 1.25 exactly; 0.05 * 0.5 = 0.025 → 0.03; negative → -0.03
        assert_eq!(binary(BinOp::Mul, 250, 50), Ok(125));
        assert_eq!(binary(BinOp::Mul, 5, 50), Ok(3));
        assert_eq!(binary(BinOp::Mul, -5, 50), Ok(-3));
        assert_eq!(binary(BinOp::Mul, 5, -50), Ok(-3));
        assert_eq!(binary(BinOp::Mul, 4, 50), Ok(2));
        // 1 / 3 = 0.333… → 0.33; 2 / 3 → 0.67; -2 / 3 → -0.67; 1 / 8 = 0.125 → 0.13
        assert_eq!(binary(BinOp::Div, 100, 300), Ok(33));
        assert_eq!(binary(BinOp::Div, 200, 300), Ok(67));
        assert_eq!(binary(BinOp::Div, -200, 300), Ok(-67));
        assert_eq!(binary(BinOp::Div, 200, -300), Ok(-67));
        assert_eq!(binary(BinOp::Div, 100, 800), Ok(13));
        assert_eq!(binary(BinOp::Div, -100, 800), Ok(-13));
        assert_eq!(binary(BinOp::Div, 1, 0), Err(Fault::DivZero));
        assert_eq!(binary(BinOp::Div, 0, 0), Err(Fault::DivZero));
    }

    #[test]
    fn overflow_is_a_fault() {
        assert_eq!(binary(BinOp::Add, i64::MAX, 1), Err(Fault::Overflow));
        assert_eq!(binary(BinOp::Sub, i64::MIN, 1), Err(Fault::Overflow));
        // The product is the intermediate that must fit, even if /100 would.
        assert_eq!(binary(BinOp::Mul, i64::MAX / 50, 100), Err(Fault::Overflow));
        assert_eq!(binary(BinOp::Div, i64::MAX / 10, 100), Err(Fault::Overflow));
        assert_eq!(binary(BinOp::Mul, i64::MAX, 100), Err(Fault::Overflow));
        // i64::MAX hundredths × 0.01 = i64::MAX / 100 hundredths, rounded.
        assert_eq!(binary(BinOp::Mul, i64::MAX, 1), Ok(92_233_720_368_547_758));
    }
}
