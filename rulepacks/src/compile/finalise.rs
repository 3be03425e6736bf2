//! `kaohe_finalise` (ABI.md §3): per unit, the indicator checks in index
//! order (straight-line, kinds known statically), then the sheet exactly as
//! `Interpreter::finalise_unit` computes it in i128 — here in i64, which is
//! exact because of what the checks and the rubric guarantee:
//!
//! - `applicable` is a per-category constant (every applicable indicator
//!   must be present) less, under ABI 1.1, the points of the indicators
//!   marked not applicable; `raw ≤ applicable ≤ full_marks`;
//! - bonus and penalty sums saturate at i64::MAX, which changes nothing
//!   after `min(sum, cap)` with a cap ≤ i64::MAX;
//! - `converted = round(raw·full/applicable)` uses i64 when
//!   `applicable·full_marks` fits for every converted category, else a
//!   128-bit multiply and long division (`muldiv` below);
//! - `total = (converted − penalty) + bonus`: the first step cannot
//!   overflow (both ≥ 0), the second is checked → status 3.

use wasm_encoder::{BlockType, Function, ValType};

use super::Plan;
use super::emit::{Body, m32, m64};
use super::expr::pick;
use crate::manifest::{Flag, IndicatorKind};
use crate::rubric::Rule;

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

/// `kaohe_finalise(ptr: i32, len: i32) -> i64`.
pub(super) fn function(plan: &Plan<'_>) -> Function {
    super::batch_function(
        crate::abi::FINALISE_MAGIC,
        plan.rubric.manifest.abi_word(),
        plan.rubric.manifest.indicators.len() as u32,
        plan.fin_in_rec,
        crate::manifest::FINALISE_OUTPUT_RECORD as u64,
        false,
        Locals::new,
        |b, l, input, o| unit_body(b, plan, l, input, o),
    )
}

struct Locals {
    category: u32,
    flags: u32,
    row: u32,
    p: u32,
    v: u32,
    pts: u32,
    raw: u32,
    bonus: u32,
    penalty: u32,
    serious: u32,
    major: u32,
    status: u32,
    detail: u32,
    converted: u32,
    divisor: u32,
    total: u32,
    grade: u32,
    t: u32,
    /// Points of the indicators marked not applicable (ABI 1.1).
    na_points: u32,
}

impl Locals {
    fn new(b: &mut Body) -> Locals {
        Locals {
            category: b.local(I32),
            flags: b.local(I32),
            row: b.local(I32),
            p: b.local(I64),
            v: b.local(I64),
            pts: b.local(I64),
            raw: b.local(I64),
            bonus: b.local(I64),
            penalty: b.local(I64),
            serious: b.local(I32),
            major: b.local(I32),
            status: b.local(I32),
            detail: b.local(I32),
            converted: b.local(I64),
            divisor: b.local(I64),
            total: b.local(I64),
            grade: b.local(I64),
            t: b.local(I64),
            na_points: b.local(I64),
        }
    }
}

fn fail_with(b: &mut Body, l: &Locals, status: i32, detail: i32, fail: super::emit::Label) {
    b.ins()
        .i32_const(status)
        .local_set(l.status)
        .i32_const(detail)
        .local_set(l.detail);
    b.br(fail);
}

fn unit_body(b: &mut Body, plan: &Plan<'_>, l: &Locals, input: u32, o: u32) {
    let m = &plan.rubric.manifest;
    let comp = &m.composition;
    let ni = m.indicators.len() as u64;
    let done = b.block();
    let fail = b.block();

    // 1. Unit checks → 6, detail 0.
    b.ins()
        .local_get(input)
        .i32_load(m32(0))
        .local_tee(l.category)
        .i32_const(m.categories.len() as i32)
        .i32_ge_u()
        .local_get(input)
        .i32_load(m32(4))
        .local_tee(l.flags)
        .i32_const(!1)
        .i32_and()
        .i32_or()
        .local_get(l.flags)
        .i32_const(1)
        .i32_and()
        .local_get(input)
        .i64_load(m64(8))
        .i64_const(0)
        .i64_lt_s()
        .i32_and()
        .i32_or();
    let v2 = m.is_v2();
    let wi = m.indicator_words() as u64;
    let na_at = 16 + 8 * wi;
    let scores_at = 16 + 8 * wi * if m.has_not_applicable() { 2 } else { 1 };
    if v2 && !ni.is_multiple_of(64) {
        // ABI 2: no present or not-applicable bit at or above I.
        let sets: &[u64] = if m.has_not_applicable() {
            &[16, na_at]
        } else {
            &[16]
        };
        for &at in sets {
            b.ins()
                .local_get(input)
                .i64_load(m64(at + 8 * (wi - 1)))
                .i64_const((ni % 64) as i64)
                .i64_shr_u()
                .i64_const(0)
                .i64_ne()
                .i32_or();
        }
    }
    b.if_(BlockType::Empty);
    fail_with(b, l, 6, 0, fail);
    b.end();

    b.ins()
        .local_get(l.category)
        .i32_const((ni * 8) as i32)
        .i32_mul()
        .local_set(l.row)
        .i64_const(0)
        .local_tee(l.raw)
        .local_tee(l.bonus)
        .local_tee(l.na_points)
        .local_set(l.penalty)
        .i32_const(0)
        .local_tee(l.serious)
        .local_set(l.major);

    // 2. Indicators in index order.
    for (i, ind) in plan.rubric.indicators.iter().enumerate() {
        let d = i as i32;
        if v2 {
            // present = its bit | (2.1) its not-applicable bit << 1: 0, 1,
            // 2 or 3 (both: invalid like any other present word).
            let (word, bit) = (8 * (i / 64) as u64, (i % 64) as i64);
            b.ins()
                .local_get(input)
                .i64_load(m64(16 + word))
                .i64_const(bit)
                .i64_shr_u()
                .i64_const(1)
                .i64_and();
            if m.has_not_applicable() {
                b.ins()
                    .local_get(input)
                    .i64_load(m64(na_at + word))
                    .i64_const(bit)
                    .i64_shr_u()
                    .i64_const(1)
                    .i64_and()
                    .i64_const(1)
                    .i64_shl()
                    .i64_or();
            }
            b.ins()
                .local_set(l.p)
                .local_get(input)
                .i64_load(m64(scores_at + 8 * i as u64))
                .local_set(l.v);
        } else {
            let at = 16 + 16 * i as u64;
            b.ins()
                .local_get(input)
                .i64_load(m64(at))
                .local_set(l.p)
                .local_get(input)
                .i64_load(m64(at + 8))
                .local_set(l.v);
        }
        b.ins()
            .local_get(l.row)
            .i64_load(m64(plan.layout.points + 8 * i as u64))
            .local_set(l.pts)
            .local_get(l.p)
            .i64_eqz();
        b.if_(BlockType::Empty);
        {
            // Absent: a score is invalid; applicable → missing (5).
            b.ins().local_get(l.v).i64_const(0).i64_ne();
            b.if_(BlockType::Empty);
            fail_with(b, l, 6, d, fail);
            b.end();
            b.ins().local_get(l.pts).i64_const(0).i64_ge_s();
            b.if_(BlockType::Empty);
            fail_with(b, l, 5, d, fail);
            b.end();
        }
        b.else_();
        let marks = m.has_not_applicable();
        if marks {
            // ABI 1.1, present = 2: not applicable — only where the rubric
            // allows it, applicable to the category, score 0; its points
            // leave `applicable`.
            b.ins().local_get(l.p).i64_const(2).i64_eq();
            b.if_(BlockType::Empty);
            if m.indicators[i].allow_not_applicable {
                b.ins()
                    .local_get(l.v)
                    .i64_const(0)
                    .i64_ne()
                    .local_get(l.pts)
                    .i64_const(0)
                    .i64_lt_s()
                    .i32_or();
                b.if_(BlockType::Empty);
                fail_with(b, l, 7, d, fail);
                b.end();
                b.ins()
                    .local_get(l.na_points)
                    .local_get(l.pts)
                    .i64_add()
                    .local_set(l.na_points);
            } else {
                fail_with(b, l, 7, d, fail);
            }
            b.else_();
        }
        {
            // Present: must be 1, applicable and in range.
            b.ins()
                .local_get(l.p)
                .i64_const(1)
                .i64_ne()
                .local_get(l.pts)
                .i64_const(0)
                .i64_lt_s()
                .i32_or();
            if ind.kind == IndicatorKind::Flag {
                b.ins()
                    .local_get(l.v)
                    .i64_const(0)
                    .i64_ne()
                    .local_get(l.v)
                    .i64_const(100)
                    .i64_ne()
                    .i32_and();
            } else {
                // 0 ≤ v ≤ points: as unsigned, v ≤ points (points ≥ 0 here).
                b.ins().local_get(l.v).local_get(l.pts).i64_gt_u();
            }
            b.ins().i32_or();
            b.if_(BlockType::Empty);
            fail_with(b, l, 6, d, fail);
            b.end();
            match ind.kind {
                IndicatorKind::Scored => {
                    b.ins()
                        .local_get(l.raw)
                        .local_get(l.v)
                        .i64_add()
                        .local_set(l.raw);
                }
                IndicatorKind::Bonus => saturating_add(b, l.bonus, l.v, l.t),
                IndicatorKind::Penalty => saturating_add(b, l.penalty, l.v, l.t),
                IndicatorKind::Flag => {
                    let target = match &ind.rule {
                        Rule::Flag {
                            flag: Flag::SeriousCase,
                            ..
                        } => Some(l.serious),
                        Rule::Flag {
                            flag: Flag::MajorProblem,
                            ..
                        } => Some(l.major),
                        _ => None,
                    };
                    if let Some(t) = target {
                        b.ins()
                            .local_get(t)
                            .local_get(l.v)
                            .i64_const(0)
                            .i64_ne()
                            .i32_or()
                            .local_set(t);
                    }
                }
            }
        }
        if marks {
            b.end();
        }
        b.end();
    }

    // 3. The sheet. Per category: [applicable, divisor (0 = no conversion)].
    let cat_at = |b: &mut Body, off: u64| {
        b.ins()
            .local_get(l.category)
            .i32_const(16)
            .i32_mul()
            .i64_load(m64(plan.layout.categories + off));
    };
    if m.has_not_applicable() {
        // applicable − the points marked not applicable; converted when
        // 0 < applicable < full marks (the rubric guarantees > 0).
        cat_at(b, 0);
        b.ins().local_get(l.na_points).i64_sub().local_set(l.t);
        if comp.normalise {
            b.ins()
                .local_get(l.t)
                .i64_const(0)
                .local_get(l.t)
                .i64_const(0)
                .i64_gt_s()
                .local_get(l.t)
                .i64_const(comp.full_marks)
                .i64_lt_s()
                .i32_and()
                .select();
        } else {
            b.ins().i64_const(0);
        }
    } else {
        cat_at(b, 8);
    }
    b.ins().local_tee(l.divisor).i64_eqz();
    b.if_(BlockType::Result(I64));
    b.ins().local_get(l.raw);
    b.else_();
    if plan.wide_conversion {
        b.ins()
            .local_get(l.raw)
            .i64_const(comp.full_marks)
            .local_get(l.divisor)
            .call(super::FN_MULDIV);
    } else {
        // raw·full ≤ applicable·full fits; all operands ≥ 0.
        b.ins()
            .local_get(l.raw)
            .i64_const(comp.full_marks)
            .i64_mul()
            .local_tee(l.t)
            .local_get(l.divisor)
            .i64_div_u()
            .local_get(l.t)
            .local_get(l.divisor)
            .i64_rem_u()
            .local_tee(l.t)
            .local_get(l.divisor)
            .local_get(l.t)
            .i64_sub()
            .i64_ge_u()
            .i64_extend_i32_u()
            .i64_add();
    }
    b.end();
    b.ins().local_set(l.converted);
    // Caps.
    b.ins().i64_const(comp.bonus_cap).local_set(l.t);
    pick(b, l.bonus, l.t, true);
    b.ins()
        .local_set(l.bonus)
        .local_get(input)
        .i64_load(m64(8))
        .i64_const(comp.penalty_cap)
        .local_get(l.flags)
        .i32_const(1)
        .i32_and()
        .select()
        .local_set(l.t);
    pick(b, l.penalty, l.t, true);
    b.ins().local_set(l.penalty);
    // total = (converted − penalty) + bonus; only the addition can overflow.
    b.ins()
        .local_get(l.converted)
        .local_get(l.penalty)
        .i64_sub()
        .local_tee(l.t)
        .local_get(l.bonus)
        .i64_add()
        .local_tee(l.total)
        .local_get(l.t)
        .i64_lt_s();
    b.if_(BlockType::Empty);
    fail_with(b, l, 3, 0, fail);
    b.end();
    // Grade: the first band whose min ≤ total, else the last.
    let grades = &comp.grades;
    let last = grades.len().saturating_sub(1) as i64;
    b.ins().i64_const(last).local_set(l.grade);
    for (g, band) in grades
        .iter()
        .enumerate()
        .take(grades.len().saturating_sub(1))
        .rev()
    {
        b.ins()
            .i64_const(g as i64)
            .local_get(l.grade)
            .local_get(l.total)
            .i64_const(band.min)
            .i64_ge_s()
            .select()
            .local_set(l.grade);
    }
    // A serious case at or above the barred band drops below it.
    let bar = m.grade_index(&comp.serious_case_bars).unwrap_or(0) as i64;
    b.ins()
        .i64_const((bar + 1).min(last))
        .local_get(l.grade)
        .local_get(l.serious)
        .local_get(l.grade)
        .i64_const(bar)
        .i64_le_u()
        .i32_and()
        .select()
        .local_set(l.grade);
    // Store the sheet (status and detail stay 0).
    b.ins().local_get(o);
    cat_at(b, 0);
    if m.has_not_applicable() {
        b.ins().local_get(l.na_points).i64_sub();
    }
    b.ins().i64_store(m64(8));
    for (off, v) in [
        (16, l.raw),
        (24, l.converted),
        (32, l.bonus),
        (40, l.penalty),
        (48, l.total),
        (56, l.grade),
    ] {
        b.ins().local_get(o).local_get(v).i64_store(m64(off));
    }
    b.ins()
        .local_get(o)
        .local_get(l.major)
        .i32_const(1)
        .i32_shl()
        .local_get(l.serious)
        .i32_or()
        .i64_extend_i32_u()
        .i64_store(m64(64));
    b.br(done);
    b.end(); // fail
    b.ins()
        .local_get(o)
        .local_get(l.status)
        .i32_store(m32(0))
        .local_get(o)
        .local_get(l.detail)
        .i32_store(m32(4));
    b.end(); // done
}

/// `acc = acc + v`, both ≥ 0, saturating at i64::MAX.
fn saturating_add(b: &mut Body, acc: u32, v: u32, t: u32) {
    b.ins()
        .i64_const(i64::MAX)
        .local_get(acc)
        .local_get(v)
        .i64_add()
        .local_tee(t)
        .local_get(t)
        .i64_const(0)
        .i64_lt_s()
        .select()
        .local_set(acc);
}

/// `muldiv(a, b, d) = round(a·b / d)` half up, for `0 ≤ a ≤ d`, `b ≥ 0`,
/// `d > 0` (so the quotient fits): the 128-bit product from 32-bit halves,
/// then 64 steps of restoring division (the high word is below `d`).
pub(super) fn muldiv() -> Function {
    let (a, x, d) = (0u32, 1u32, 2u32);
    let mut b = Body::new(3);
    let [p00, p01, p10, mid, lo, hi, q, i] = [(); 8].map(|_| b.local(I64));
    let lo32 = |s: &mut wasm_encoder::InstructionSink<'_>| {
        s.i64_const(0xffff_ffff).i64_and();
    };
    let hi32 = |s: &mut wasm_encoder::InstructionSink<'_>| {
        s.i64_const(32).i64_shr_u();
    };
    {
        let mut s = b.ins();
        // p00 = a0·b0, p01 = a0·b1, p10 = a1·b0 (each < 2^64)
        s.local_get(a);
        lo32(&mut s);
        s.local_get(x);
        lo32(&mut s);
        s.i64_mul().local_set(p00);
        s.local_get(a);
        lo32(&mut s);
        s.local_get(x);
        hi32(&mut s);
        s.i64_mul().local_set(p01);
        s.local_get(a);
        hi32(&mut s);
        s.local_get(x);
        lo32(&mut s);
        s.i64_mul().local_set(p10);
        // mid = hi32(p00) + lo32(p01) + lo32(p10) (< 3·2^32)
        s.local_get(p00);
        hi32(&mut s);
        s.local_get(p01);
        lo32(&mut s);
        s.i64_add().local_get(p10);
        lo32(&mut s);
        s.i64_add().local_set(mid);
        // lo = mid << 32 | lo32(p00)
        s.local_get(mid).i64_const(32).i64_shl().local_get(p00);
        lo32(&mut s);
        s.i64_or().local_set(lo);
        // hi = a1·b1 + hi32(p01) + hi32(p10) + hi32(mid)
        s.local_get(a);
        hi32(&mut s);
        s.local_get(x);
        hi32(&mut s);
        s.i64_mul().local_get(p01);
        hi32(&mut s);
        s.i64_add().local_get(p10);
        hi32(&mut s);
        s.i64_add().local_get(mid);
        hi32(&mut s);
        s.i64_add().local_set(hi);
        s.i64_const(64).local_set(i);
    }
    // rem lives in `hi`; each step shifts in the next bit of `lo`.
    let top = b.loop_();
    b.ins()
        .local_get(hi)
        .i64_const(1)
        .i64_shl()
        .local_get(lo)
        .i64_const(63)
        .i64_shr_u()
        .i64_or()
        .local_set(hi)
        .local_get(lo)
        .i64_const(1)
        .i64_shl()
        .local_set(lo)
        .local_get(q)
        .i64_const(1)
        .i64_shl()
        .local_set(q)
        .local_get(hi)
        .local_get(d)
        .i64_ge_u();
    b.if_(BlockType::Empty);
    b.ins()
        .local_get(hi)
        .local_get(d)
        .i64_sub()
        .local_set(hi)
        .local_get(q)
        .i64_const(1)
        .i64_or()
        .local_set(q);
    b.end();
    b.ins()
        .local_get(i)
        .i64_const(1)
        .i64_sub()
        .local_tee(i)
        .i64_eqz()
        .i32_eqz();
    b.br_if(top);
    b.end();
    // Half up: rem ≥ d − rem.
    b.ins()
        .local_get(q)
        .local_get(hi)
        .local_get(d)
        .local_get(hi)
        .i64_sub()
        .i64_ge_u()
        .i64_extend_i32_u()
        .i64_add();
    b.finish()
}
