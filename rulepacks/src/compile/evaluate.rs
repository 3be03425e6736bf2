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
use super::expr::{Ctx, FieldRead, FieldsAt, emit_as, pick};
use crate::manifest::Missing;
use crate::rubric::Rule;

mod parts;

pub(super) use parts::first_bad_field;
use parts::{ClauseOut, clauses, internal, rejects};

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
        plan.rubric.manifest.is_v2(),
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
    /// ABI 2: where the next fired clause is written (i32).
    c: u32,
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
            c: b.local(I32),
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

/// Where a unit's pieces sit in this pack's ABI (§2 or §10).
struct Io {
    v2: bool,
    fields: FieldsAt,
    /// The not-applicable marks of the input (1.1: i64 per indicator; 2.1:
    /// u64 words of bits).
    marks_in: u64,
    /// ABI 2's output: the evaluated words, the not-applicable words (2.1),
    /// the scores, the fired count, the clause list.
    evaluated_out: u64,
    na_out: u64,
    scores_out: u64,
    fired_out: u64,
    fixed: u64,
}

impl Io {
    fn of(m: &crate::manifest::Manifest) -> Io {
        let (nf, ni) = (m.fields.len() as u64, m.indicators.len() as u64);
        let (wf, wi) = (m.field_words() as u64, m.indicator_words() as u64);
        if !m.is_v2() {
            return Io {
                v2: false,
                fields: FieldsAt::V1,
                marks_in: 16 + 16 * nf,
                evaluated_out: 0,
                na_out: 0,
                scores_out: 0,
                fired_out: 0,
                fixed: 0,
            };
        }
        let marks = m.has_not_applicable();
        let values = 16 + 8 * wf + if marks { 8 * wi } else { 0 };
        let scores_out = 16 + 8 * wi * if marks { 2 } else { 1 };
        Io {
            v2: true,
            fields: FieldsAt::V2 { values },
            marks_in: 16 + 8 * wf,
            evaluated_out: 16,
            na_out: 16 + 8 * wi,
            scores_out,
            fired_out: scores_out + 8 * ni,
            fixed: scores_out + 8 * ni + 8,
        }
    }
}

/// Pushes 1 (i32) when the last of the `⌈count/64⌉` words at `at` sets a
/// bit at or above `count` (ABI 2's reserved bits), else 0.
fn stray_bits(b: &mut Body, input: u32, at: u64, count: usize) {
    let words = count.div_ceil(64) as u64;
    if count.is_multiple_of(64) {
        b.ins().i32_const(0);
        return;
    }
    b.ins()
        .local_get(input)
        .i64_load(m64(at + 8 * (words - 1)))
        .i64_const((count % 64) as i64)
        .i64_shr_u()
        .i64_const(0)
        .i64_ne();
}

fn unit_body(b: &mut Body, plan: &Plan<'_>, l: &UnitLocals, input: u32, o: u32) {
    let m = &plan.rubric.manifest;
    let io = Io::of(m);
    let words = plan.mask_words;
    b.ins().i64_const(0).local_set(l.fuel);
    if io.v2 {
        // The clause list starts after the unit's fixed part.
        b.ins()
            .local_get(o)
            .i32_const(io.fixed as i32)
            .i32_add()
            .local_set(l.c);
    }
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
    if io.v2 {
        // ABI 2: no presence bit at or above F, no mark bit at or above I.
        stray_bits(b, input, 16, m.fields.len());
        b.ins().i32_or();
        if m.has_not_applicable() {
            stray_bits(b, input, io.marks_in, m.indicators.len());
            b.ins().i32_or();
        }
    }
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
        b.ins()
            .local_get(input)
            .i64_load(m64(io.fields.value(f)))
            .local_set(l.v);
        if io.v2 {
            // absent ? v ≠ 0 : rejects(v)
            b.ins().local_get(l.v).i64_const(0).i64_ne();
            rejects(b, l.v, field);
            io.fields.absent(b, input, f);
            b.ins().select();
        } else {
            b.ins()
                .local_get(input)
                .i64_load(m64(16 + 16 * f as u64))
                .local_set(l.p);
            // p >u 1 | (p = 0 ? v ≠ 0 : rejects(v)). One branch per field
            // (not one flag for all): the branch anchors the field's
            // computation right after its loads, so no value outlives its
            // field.
            b.ins().local_get(l.p).i64_const(1).i64_gt_u();
            b.ins().local_get(l.v).i64_const(0).i64_ne();
            rejects(b, l.v, field);
            b.ins().local_get(l.p).i64_eqz().select().i32_or();
        }
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
    // x.1: the not-applicable marks, in indicator order (→ 7, the
    // indicator): 0, or 1 where the rubric allows it and the indicator
    // would be evaluated — then it leaves the evaluated set (so neither its
    // fuel nor its required fields count) and is reported not applicable.
    if m.has_not_applicable() && io.v2 {
        let allow = mask(
            words,
            (0..m.indicators.len()).filter(|&i| m.indicators[i].allow_not_applicable),
        );
        for (w, &allowed) in allow.iter().enumerate() {
            // bad = marks & ¬(allowed & evaluated); the lowest is the first.
            b.ins()
                .local_get(input)
                .i64_load(m64(io.marks_in + 8 * w as u64))
                .local_tee(l.v)
                .local_get(l.evaluated[w])
                .i64_const(allowed as i64)
                .i64_and()
                .i64_const(-1)
                .i64_xor()
                .i64_and()
                .local_tee(l.p)
                .i64_const(0)
                .i64_ne();
            b.if_(BlockType::Empty);
            b.ins()
                .i32_const(7)
                .local_set(l.status)
                .local_get(l.p)
                .i64_ctz()
                .i32_wrap_i64()
                .i32_const(64 * w as i32)
                .i32_add()
                .local_set(l.detail);
            b.br(fail);
            b.end();
            b.ins()
                .local_get(l.evaluated[w])
                .local_get(l.v)
                .i64_const(-1)
                .i64_xor()
                .i64_and()
                .local_set(l.evaluated[w]);
        }
    } else if m.has_not_applicable() {
        let marks_at = io.marks_in;
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
        io.fields.absent(b, input, f);
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
        at: io.fields,
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
                let to = if io.v2 {
                    ClauseOut::List {
                        cursor: l.c,
                        first: ind.first_clause as u64,
                    }
                } else {
                    ClauseOut::Fixed {
                        o,
                        at: clause_base + 16 * ind.first_clause as u64,
                    }
                };
                clauses(b, &cx, cs, pts, l.sum, to);
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
        if io.v2 {
            // The evaluated bit is written once, from the set, at the end.
            b.ins()
                .local_set(score)
                .local_get(o)
                .local_get(score)
                .i64_store(m64(io.scores_out + 8 * i as u64));
        } else {
            let at = 16 + 16 * i as u64;
            b.ins()
                .local_set(score)
                .local_get(o)
                .i64_const(1)
                .i64_store(m64(at))
                .local_get(o)
                .local_get(score)
                .i64_store(m64(at + 8));
        }
        b.release(I64, score);
        b.end();
    }
    b.ins().local_get(o).local_get(l.fuel).i64_store(m64(8));
    if io.v2 {
        for w in 0..words {
            b.ins()
                .local_get(o)
                .local_get(l.evaluated[w])
                .i64_store(m64(io.evaluated_out + 8 * w as u64));
            if m.has_not_applicable() {
                // Valid marks are exactly the indicators not applicable.
                b.ins()
                    .local_get(o)
                    .local_get(input)
                    .i64_load(m64(io.marks_in + 8 * w as u64))
                    .i64_store(m64(io.na_out + 8 * w as u64));
            }
        }
        // fired = (c − o − fixed) / 16, as u32 | reserved 0.
        b.ins()
            .local_get(o)
            .local_get(l.c)
            .local_get(o)
            .i32_sub()
            .i32_const(io.fixed as i32)
            .i32_sub()
            .i32_const(4)
            .i32_shr_u()
            .i64_extend_i32_u()
            .i64_store(m64(io.fired_out));
    }
    b.br(done);
    b.end(); // division
    set_status(b, l, 2, None);
    b.br(fail);
    b.end(); // overflow
    set_status(b, l, 3, None);
    b.end(); // fail
    if io.v2 {
        // Zero all the unit wrote past its status, clauses included, and
        // drop its clause list.
        b.ins()
            .local_get(o)
            .i32_const(16)
            .i32_add()
            .i32_const(0)
            .local_get(l.c)
            .local_get(o)
            .i32_sub()
            .i32_const(16)
            .i32_sub()
            .memory_fill(0)
            .local_get(o)
            .i32_const(io.fixed as i32)
            .i32_add()
            .local_set(l.c);
    } else {
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
    if io.v2 {
        // The next unit's record starts where this one's clauses end.
        b.ins().local_get(l.c).local_set(o);
    }
}
