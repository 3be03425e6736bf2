//! `kaohe_evaluate` (ABI.md §2): one function, a loop over the batch's
//! units, and per unit straight-line code for every field and indicator of
//! the rubric.
//!
//! Per unit, in the interpreter's order of *reporting*:
//!
//! 1. unit checks;
//! 2. the evaluated set as a bit mask (i64 words, bit `i` = indicator
//!    `i`): the applicable indicators of the category (a static table) ∩
//!    those of the selected methods ∩ those whose method fits the round —
//!    it depends on the unit header only, so it is computed before the
//!    fields;
//! 3. field checks, one branch per field to a slow path that names the
//!    first invalid field (status 6); under ABI 1.1 the not-applicable
//!    marks (status 7), each marked indicator leaving the mask; then, all
//!    fields being valid, the required fields in field order (status 1:
//!    absent and some reader's bit set in the mask);
//! 4. each evaluated indicator: fuel, its rule, its score and fired
//!    clauses written straight into the output record.
//!
//! Formulas read field values from the unit's input record (which stays
//! intact) rather than from locals: values live in memory, not in
//! hundreds of long-lived locals the register allocator would spill. The
//! output record starts zeroed (fresh memory from the bump allocator), so
//! only evaluated indicators and fired clauses are written. A fault
//! branches out to one of three blocks that set the status; the failure
//! path zeroes whatever the unit had written and stores status, detail and
//! fuel.

use wasm_encoder::{BlockType, ValType};

use super::Plan;
use super::emit::{Body, m32, m64};
use super::expr::{Ctx, FieldRead, emit_as, pick};
use crate::manifest::{FieldType, Missing};
use crate::rubric::{CheckedClause, Rule};

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

/// `kaohe_evaluate(ptr: i32, len: i32) -> i64`.
pub(super) fn function(plan: &Plan<'_>) -> wasm_encoder::Function {
    super::batch_function(
        crate::abi::EVALUATE_MAGIC,
        plan.rubric.manifest.abi_word(),
        plan.rubric.manifest.fields.len() as u32,
        plan.eval_in_rec,
        plan.eval_out_rec,
        |b| UnitLocals::new(b, plan),
        |b, unit, input, o| unit_body(b, plan, unit, input, o),
    )
}

/// The per-unit locals, allocated once for the whole function.
struct UnitLocals {
    category: u32,
    round: u32,
    methods: u32,
    fuel: u32,
    status: u32,
    detail: u32,
    p: u32,
    v: u32,
    sum: u32,
    /// The current indicator's points.
    pts: u32,
    /// The evaluated set, 64 indicators per i64 word.
    evaluated: Vec<u32>,
}

impl UnitLocals {
    fn new(b: &mut Body, plan: &Plan<'_>) -> UnitLocals {
        UnitLocals {
            category: b.local(I32),
            round: b.local(I32),
            methods: b.local(I32),
            fuel: b.local(I64),
            status: b.local(I32),
            detail: b.local(I32),
            p: b.local(I64),
            v: b.local(I64),
            sum: b.local(I64),
            pts: b.local(I64),
            evaluated: (0..plan.mask_words).map(|_| b.local(I64)).collect(),
        }
    }
}

/// Bit masks over indicators, one u64 per 64 indicators.
fn mask(words: usize, members: impl IntoIterator<Item = usize>) -> Vec<u64> {
    let mut m = vec![0u64; words];
    for i in members {
        m[i / 64] |= 1 << (i % 64);
    }
    m
}

fn set_status(b: &mut Body, l: &UnitLocals, status: i32, detail: Option<i32>) {
    b.ins().i32_const(status).local_set(l.status);
    if let Some(d) = detail {
        b.ins().i32_const(d).local_set(l.detail);
    }
}

/// Pushes 1 (i32) when a `refuse` field read by the indicators in
/// `readers` is needed: some reader is evaluated.
fn needed(b: &mut Body, l: &UnitLocals, readers: &[u64]) {
    let mut first = true;
    for (w, &r) in readers.iter().enumerate() {
        if r == 0 {
            continue;
        }
        b.ins()
            .local_get(l.evaluated[w])
            .i64_const(r as i64)
            .i64_and();
        if !first {
            b.ins().i64_or();
        }
        first = false;
    }
    if first {
        b.ins().i32_const(0);
    } else {
        b.ins().i64_const(0).i64_ne();
    }
}

fn unit_body(b: &mut Body, plan: &Plan<'_>, l: &UnitLocals, input: u32, o: u32) {
    let m = &plan.rubric.manifest;
    let words = plan.mask_words;
    b.ins().i64_const(0).local_set(l.fuel);
    let done = b.block();
    let fail = b.block();
    let overflow = b.block();
    let division = b.block();

    // 1. Unit checks → 6, detail 0.
    b.ins()
        .local_get(input)
        .i32_load(m32(0))
        .local_tee(l.category)
        .i32_const(m.categories.len() as i32)
        .i32_ge_u()
        .local_get(input)
        .i32_load(m32(4))
        .local_tee(l.round)
        .i32_const(4)
        .i32_gt_u()
        .i32_or()
        .local_get(input)
        .i32_load(m32(12))
        .i32_or()
        .local_get(input)
        .i32_load(m32(8))
        .local_tee(l.methods)
        .i32_const(!m.all_methods_mask() as i32)
        .i32_and()
        .i32_or();
    b.if_(BlockType::Empty);
    set_status(b, l, 6, Some(0));
    b.br(fail);
    b.end();

    // 2. The evaluated set: applies to the category ∩ method selected ∩
    // method fits the round (quarterly in rounds 1..4, others in round 0).
    let inds = &plan.rubric.indicators;
    let quarterly = mask(
        words,
        (0..inds.len()).filter(|&i| m.methods[inds[i].method].quarterly),
    );
    let by_method: Vec<Vec<u64>> = (0..m.methods.len())
        .map(|mi| mask(words, (0..inds.len()).filter(|&i| inds[i].method == mi)))
        .collect();
    for w in 0..words {
        b.ins().i64_const(0);
        for (mi, mm) in by_method.iter().enumerate() {
            if mm[w] == 0 {
                continue;
            }
            b.ins()
                .i64_const(mm[w] as i64)
                .i64_const(0)
                .local_get(l.methods)
                .i32_const(mi as i32)
                .i32_shr_u()
                .i32_const(1)
                .i32_and()
                .select()
                .i64_or();
        }
        b.ins()
            .i64_const(quarterly[w] as i64)
            .i64_const(!quarterly[w] as i64)
            .local_get(l.round)
            .select()
            .i64_and()
            .local_get(l.category)
            .i32_const((words * 8) as i32)
            .i32_mul()
            .i64_load(m64(plan.layout.applies + 8 * w as u64))
            .i64_and()
            .local_set(l.evaluated[w]);
    }

    // 3. Field checks (→ 6, the first invalid field), then required fields
    // (→ 1, the first absent `refuse` field an evaluated indicator reads).
    let readers: Vec<Option<Vec<u64>>> = plan
        .required_by
        .iter()
        .map(|r| (!r.is_empty()).then(|| mask(words, r.iter().copied())))
        .collect();
    let valid = b.block();
    let invalid = b.block();
    for (f, field) in m.fields.iter().enumerate() {
        let at = 16 + 16 * f as u64;
        b.ins()
            .local_get(input)
            .i64_load(m64(at))
            .local_set(l.p)
            .local_get(input)
            .i64_load(m64(at + 8))
            .local_set(l.v);
        // p >u 1 | (p = 0 ? v ≠ 0 : rejects(v)). One branch per field (not
        // one flag for all): the branch anchors the field's computation
        // right after its loads, so no value outlives its field.
        b.ins().local_get(l.p).i64_const(1).i64_gt_u();
        b.ins().local_get(l.v).i64_const(0).i64_ne();
        rejects(b, l.v, field);
        b.ins().local_get(l.p).i64_eqz().select().i32_or();
        b.br_if(invalid);
    }
    b.br(valid);
    b.end(); // invalid
    b.ins()
        .i32_const(6)
        .local_set(l.status)
        .local_get(input)
        .call(super::FN_FIRST_BAD_FIELD)
        .local_set(l.detail);
    b.br(fail);
    b.end(); // valid
    // ABI 1.1: the not-applicable marks, in indicator order (→ 7, the
    // indicator): 0, or 1 where the rubric allows it and the indicator
    // would be evaluated — then it leaves the evaluated set (so neither its
    // fuel nor its required fields count) and is written as state 2.
    if m.has_not_applicable() {
        let marks_at = 16 + 16 * m.fields.len() as u64;
        for (i, mi) in m.indicators.iter().enumerate() {
            let (w, bit) = (i / 64, 1i64 << (i % 64));
            b.ins()
                .local_get(input)
                .i64_load(m64(marks_at + 8 * i as u64))
                .local_tee(l.v)
                .i64_const(0)
                .i64_ne();
            b.if_(BlockType::Empty);
            if mi.allow_not_applicable {
                b.ins()
                    .local_get(l.v)
                    .i64_const(1)
                    .i64_ne()
                    .local_get(l.evaluated[w])
                    .i64_const(bit)
                    .i64_and()
                    .i64_eqz()
                    .i32_or();
                b.if_(BlockType::Empty);
                set_status(b, l, 7, Some(i as i32));
                b.br(fail);
                b.end();
                b.ins()
                    .local_get(l.evaluated[w])
                    .i64_const(!bit)
                    .i64_and()
                    .local_set(l.evaluated[w])
                    .local_get(o)
                    .i64_const(2)
                    .i64_store(m64(16 + 16 * i as u64));
            } else {
                set_status(b, l, 7, Some(i as i32));
                b.br(fail);
            }
            b.end();
        }
    }
    // Only once every field is valid: required fields in field order.
    for (f, r) in readers.iter().enumerate() {
        let Some(r) = r else { continue };
        b.ins()
            .local_get(input)
            .i64_load(m64(16 + 16 * f as u64))
            .i64_eqz();
        needed(b, l, r);
        b.ins().i32_and();
        b.if_(BlockType::Empty);
        set_status(b, l, 1, Some(f as i32));
        b.br(fail);
        b.end();
    }

    // 4. Indicators in order.
    let budget = m.limits.fuel_per_unit;
    let fields: Vec<FieldRead> = m
        .fields
        .iter()
        .map(|f| FieldRead {
            kind: f.kind,
            default: match f.missing {
                Missing::Default(d) => internal(f.kind, d),
                Missing::Refuse => 0,
            },
        })
        .collect();
    let cx = Ctx {
        input,
        fields: &fields,
        overflow,
        division,
    };
    let ni = inds.len() as u64;
    let clause_base = 16 + 16 * ni;
    for (i, ind) in inds.iter().enumerate() {
        b.ins()
            .local_get(l.evaluated[i / 64])
            .i64_const(1i64 << (i % 64))
            .i64_and()
            .i64_const(0)
            .i64_ne();
        b.if_(BlockType::Empty);
        b.ins().i32_const(i as i32).local_set(l.detail);
        // Out of fuel when fuel + cost > budget (fuel ≤ budget always).
        b.ins()
            .i64_const(budget as i64)
            .local_get(l.fuel)
            .i64_sub()
            .i64_const(ind.fuel_cost as i64)
            .i64_lt_u();
        b.if_(BlockType::Empty);
        b.ins().i32_const(4).local_set(l.status);
        b.br(fail);
        b.end();
        b.ins()
            .local_get(l.fuel)
            .i64_const(ind.fuel_cost as i64)
            .i64_add()
            .local_set(l.fuel)
            // The points of an evaluated indicator (≥ 0).
            .local_get(l.category)
            .i32_const((ni * 8) as i32)
            .i32_mul()
            .i64_load(m64(plan.layout.points + 8 * i as u64))
            .local_set(l.pts);
        let pts = l.pts;
        let score = b.temp(I64);
        match &ind.rule {
            Rule::Deductions(cs) | Rule::Awards(cs) => {
                clauses(
                    b,
                    &cx,
                    cs,
                    pts,
                    l.sum,
                    o,
                    clause_base + 16 * ind.first_clause as u64,
                );
                if matches!(ind.rule, Rule::Deductions(_)) {
                    // clamp(points − Σ, 0, points) = max(points − Σ, 0): Σ ≥ 0.
                    b.ins()
                        .local_get(pts)
                        .local_get(l.sum)
                        .i64_sub()
                        .local_set(score);
                    b.ins().i64_const(0).local_set(l.p);
                    pick(b, score, l.p, false);
                } else {
                    pick(b, l.sum, pts, true);
                }
            }
            Rule::Score(f) => {
                // clamp(v, 0, points) = max(min(v, points), 0): points ≥ 0.
                emit_as(b, &cx, &f.expr, I64);
                b.ins().local_set(score);
                pick(b, score, pts, true);
                b.ins().local_set(score).i64_const(0).local_set(l.p);
                pick(b, score, l.p, false);
            }
            Rule::Flag { when, .. } => {
                b.ins().i64_const(100).i64_const(0);
                emit_as(b, &cx, &when.expr, I32);
                b.ins().select();
            }
        }
        let at = 16 + 16 * i as u64;
        b.ins()
            .local_set(score)
            .local_get(o)
            .i64_const(1)
            .i64_store(m64(at))
            .local_get(o)
            .local_get(score)
            .i64_store(m64(at + 8));
        b.release(I64, score);
        b.end();
    }
    b.ins().local_get(o).local_get(l.fuel).i64_store(m64(8));
    b.br(done);
    b.end(); // division
    set_status(b, l, 2, None);
    b.br(fail);
    b.end(); // overflow
    set_status(b, l, 3, None);
    b.end(); // fail
    let rest = plan.eval_out_rec - 16;
    if rest > 0 {
        b.ins()
            .local_get(o)
            .i32_const(16)
            .i32_add()
            .i32_const(0)
            .i32_const(rest as i32)
            .memory_fill(0);
    }
    b.ins()
        .local_get(o)
        .local_get(l.status)
        .i32_store(m32(0))
        .local_get(o)
        .local_get(l.detail)
        .i32_store(m32(4))
        .local_get(o)
        .local_get(l.fuel)
        .i64_store(m64(8));
    b.end(); // done
}

/// `first_bad_field(unit: i32) -> i32`: the index of the first field of the
/// unit's input record that fails ABI.md §2 step 2 (−1 if none).
pub(super) fn first_bad_field(plan: &Plan<'_>) -> wasm_encoder::Function {
    let input = 0u32;
    let mut b = Body::new(1);
    let (p, v) = (b.local(I64), b.local(I64));
    for (f, field) in plan.rubric.manifest.fields.iter().enumerate() {
        let at = 16 + 16 * f as u64;
        b.ins()
            .local_get(input)
            .i64_load(m64(at))
            .local_set(p)
            .local_get(input)
            .i64_load(m64(at + 8))
            .local_set(v)
            .local_get(p)
            .i64_eqz();
        b.if_(BlockType::Result(I32));
        b.ins().local_get(v).i64_const(0).i64_ne();
        b.else_();
        b.ins().local_get(p).i64_const(1).i64_ne();
        rejects(&mut b, v, field);
        b.ins().i32_or();
        b.end();
        b.if_(BlockType::Empty);
        b.ins().i32_const(f as i32).return_();
        b.end();
    }
    b.ins().i32_const(-1);
    b.finish()
}

/// Deduction or award clauses: `sum` = Σ of the fired amounts (each at
/// least 0), each fired clause written at `o + at + 16k`.
fn clauses(b: &mut Body, cx: &Ctx<'_>, cs: &[CheckedClause], pts: u32, sum: u32, o: u32, at: u64) {
    b.ins().i64_const(0).local_set(sum);
    let a = b.temp(I64);
    for (k, c) in cs.iter().enumerate() {
        emit_as(b, cx, &c.when.expr, I32);
        b.if_(BlockType::Empty);
        match c.amount.as_ref().map(|f| &f.expr) {
            None => {
                // The points of an evaluated indicator are ≥ 0.
                b.ins().local_get(pts).local_set(a);
            }
            Some(crate::rubric::Expr::Num(v)) => {
                b.ins().i64_const((*v).max(0)).local_set(a);
            }
            Some(e) => {
                emit_as(b, cx, e, I64);
                b.ins()
                    .local_tee(a)
                    .i64_const(0)
                    .local_get(a)
                    .i64_const(0)
                    .i64_gt_s()
                    .select()
                    .local_set(a);
            }
        }
        let here = at + 16 * k as u64;
        b.ins()
            .local_get(o)
            .i64_const(1)
            .i64_store(m64(here))
            .local_get(o)
            .local_get(a)
            .i64_store(m64(here + 8))
            // Both are ≥ 0: the sum overflowed iff it wrapped negative.
            .local_get(sum)
            .local_get(a)
            .i64_add()
            .local_tee(sum)
            .i64_const(0)
            .i64_lt_s();
        b.br_if(cx.overflow);
        b.end();
    }
    b.release(I64, a);
}

/// Pushes 1 (i32) when `v` (a supplied ABI value) is outside the field's
/// domain or range (`Field::accepts` negated).
fn rejects(b: &mut Body, v: u32, field: &crate::manifest::Field) {
    let mut s = b.ins();
    match field.kind {
        FieldType::Count | FieldType::Decimal => {
            match (field.kind, field.min) {
                // A negative v is refused by the range check below, so the
                // unsigned divisibility test is exact where it matters.
                (FieldType::Count, Some(min)) if min >= 0 => not_multiple_of_100(&mut s, v),
                (FieldType::Count, _) => {
                    s.local_get(v)
                        .i64_const(100)
                        .i64_rem_s()
                        .i64_const(0)
                        .i64_ne();
                }
                _ => {
                    s.i32_const(0);
                }
            }
            if let Some(min) = field.min {
                s.local_get(v).i64_const(min).i64_lt_s().i32_or();
            }
            if let Some(max) = field.max {
                s.local_get(v).i64_const(max).i64_gt_s().i32_or();
            }
        }
        FieldType::Bool => {
            s.local_get(v)
                .i64_const(0)
                .i64_ne()
                .local_get(v)
                .i64_const(100)
                .i64_ne()
                .i32_and();
        }
        FieldType::Choice => match (field.choices.len() as u64).checked_sub(1) {
            // 0 ≤ v, a multiple of 100, v/100 < len: as unsigned, v ≤ (len−1)·100.
            Some(last) if last <= (i64::MAX as u64) / 100 => {
                not_multiple_of_100(&mut s, v);
                s.local_get(v)
                    .i64_const((last * 100) as i64)
                    .i64_gt_u()
                    .i32_or();
            }
            Some(_) => {
                s.local_get(v)
                    .i64_const(100)
                    .i64_rem_s()
                    .i64_const(0)
                    .i64_ne()
                    .local_get(v)
                    .i64_const(0)
                    .i64_lt_s()
                    .i32_or();
            }
            None => {
                s.i32_const(1);
            }
        },
    }
}

/// Pushes 1 when `v`, read as unsigned, is not a multiple of 100:
/// `rotr(v · 25⁻¹, 2) > (2⁶⁴ − 1) / 100` (divisibility by 25 via the
/// inverse modulo 2⁶⁴, by 4 via the rotation), no division.
fn not_multiple_of_100(s: &mut wasm_encoder::InstructionSink<'_>, v: u32) {
    s.local_get(v)
        .i64_const(INV25 as i64)
        .i64_mul()
        .i64_const(2)
        .i64_rotr()
        .i64_const((u64::MAX / 100) as i64)
        .i64_gt_u();
}

/// 25⁻¹ modulo 2⁶⁴ (Newton's iteration doubles the correct bits).
const INV25: u64 = {
    let mut x: u64 = 25;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(25u64.wrapping_mul(x)));
        i += 1;
    }
    x
};

/// The interpreter's value of an ABI value (`interp::internal`).
fn internal(kind: FieldType, abi: i64) -> i64 {
    match kind {
        FieldType::Count | FieldType::Decimal => abi,
        FieldType::Bool | FieldType::Choice => abi / 100,
    }
}

#[cfg(test)]
mod tests {
    use super::INV25;

    /// The division-free test of `not_multiple_of_100`, in Rust.
    fn multiple_of_100(v: u64) -> bool {
        v.wrapping_mul(INV25).rotate_right(2) <= u64::MAX / 100
    }

    #[test]
    fn divisibility_by_100_without_division() {
        assert_eq!(25u64.wrapping_mul(INV25), 1);
        for v in (0..200_000u64)
            .chain(u64::MAX - 200_000..=u64::MAX)
            .chain((0..64).map(|k| 1u64 << k))
        {
            assert_eq!(multiple_of_100(v), v % 100 == 0, "{v}");
        }
    }
}
