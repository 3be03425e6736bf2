//! The pieces of `kaohe_evaluate`'s per-unit program besides its outline:
//! a field's domain check (and the slow path naming the first invalid
//! field), the clause writers of ABI 1 and ABI 2, and the value a formula
//! sees.

use wasm_encoder::{BlockType, ValType};

use super::super::Plan;
use super::super::emit::{Body, m64};
use super::super::expr::{Ctx, emit_as};
use super::Io;
use crate::manifest::FieldType;
use crate::rubric::CheckedClause;

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

/// `first_bad_field(unit: i32) -> i32`: the index of the first field of the
/// unit's input record that fails ABI.md §2 step 2 (−1 if none).
pub(in crate::compile) fn first_bad_field(plan: &Plan<'_>) -> wasm_encoder::Function {
    let input = 0u32;
    let mut b = Body::new(1);
    let (p, v) = (b.local(I64), b.local(I64));
    let io = Io::of(&plan.rubric.manifest);
    for (f, field) in plan.rubric.manifest.fields.iter().enumerate() {
        if io.v2 {
            // present 0/1 from its bit.
            io.fields.present(&mut b, input, f);
            b.ins().i64_extend_i32_u().local_set(p);
        } else {
            b.ins()
                .local_get(input)
                .i64_load(m64(16 + 16 * f as u64))
                .local_set(p);
        }
        b.ins()
            .local_get(input)
            .i64_load(m64(io.fields.value(f)))
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

/// Where fired clauses are written.
#[derive(Clone, Copy)]
pub(super) enum ClauseOut {
    /// ABI 1: clause `k` of the indicator at `o + at + 16k` (fired, amount).
    Fixed { o: u32, at: u64 },
    /// ABI 2: appended at `cursor` (index, amount), which moves on 16;
    /// `first` is the indicator's first clause index.
    List { cursor: u32, first: u64 },
}

/// Deduction or award clauses: `sum` = Σ of the fired amounts (each at
/// least 0), each fired clause written as `to` says.
pub(super) fn clauses(
    b: &mut Body,
    cx: &Ctx<'_>,
    cs: &[CheckedClause],
    pts: u32,
    sum: u32,
    to: ClauseOut,
) {
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
        match to {
            ClauseOut::Fixed { o, at } => {
                let here = at + 16 * k as u64;
                b.ins()
                    .local_get(o)
                    .i64_const(1)
                    .i64_store(m64(here))
                    .local_get(o)
                    .local_get(a)
                    .i64_store(m64(here + 8));
            }
            ClauseOut::List { cursor, first } => {
                b.ins()
                    .local_get(cursor)
                    .i64_const((first + k as u64) as i64)
                    .i64_store(m64(0))
                    .local_get(cursor)
                    .local_get(a)
                    .i64_store(m64(8))
                    .local_get(cursor)
                    .i32_const(16)
                    .i32_add()
                    .local_set(cursor);
            }
        }
        // Both are ≥ 0: the sum overflowed iff it wrapped negative.
        b.ins()
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
pub(super) fn rejects(b: &mut Body, v: u32, field: &crate::manifest::Field) {
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
pub(super) fn internal(kind: FieldType, abi: i64) -> i64 {
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
