//! Formulas to wasm: every operation of RUBRIC.md §7.3 with the overflow,
//! division-by-zero and rounding rules of the reference interpreter
//! (`interp::binary`, `abi::div_round` on i128), done in i64 with explicit
//! checks. A fault branches to the unit's `overflow` or `division` block
//! (dropping whatever is on the operand stack), never traps.
//!
//! Values: numbers are i64 hundredths, choices i64 indices, booleans i32
//! 0/1 (inputs and defaults are validated before any formula runs, so a
//! bool field holds 0 or 1 too).

use wasm_encoder::{BlockType, ValType};

use super::emit::{Body, Label, m64};
use crate::manifest::FieldType;
use crate::rubric::{BinOp, Expr};

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

/// Where a unit's fields sit in its evaluate input record.
#[derive(Debug, Clone, Copy)]
pub(super) enum FieldsAt {
    /// ABI 1: field `f` at `16 + 16f`: present i64, value i64.
    V1,
    /// ABI 2: presence bits in u64 words from 16, values from `values`.
    V2 { values: u64 },
}

impl FieldsAt {
    /// Offset of field `f`'s value.
    pub(super) fn value(self, f: usize) -> u64 {
        match self {
            FieldsAt::V1 => 16 + 16 * f as u64 + 8,
            FieldsAt::V2 { values } => values + 8 * f as u64,
        }
    }

    /// Pushes 1 (i32) when field `f` is present (a validated record).
    pub(super) fn present(self, b: &mut Body, input: u32, f: usize) {
        match self {
            FieldsAt::V1 => {
                b.ins()
                    .local_get(input)
                    .i64_load(m64(16 + 16 * f as u64))
                    .i32_wrap_i64();
            }
            FieldsAt::V2 { .. } => {
                self.bit(b, input, f);
                b.ins().i64_const(0).i64_ne();
            }
        }
    }

    /// Pushes 1 (i32) when field `f` is absent.
    pub(super) fn absent(self, b: &mut Body, input: u32, f: usize) {
        match self {
            FieldsAt::V1 => {
                b.ins()
                    .local_get(input)
                    .i64_load(m64(16 + 16 * f as u64))
                    .i64_eqz();
            }
            FieldsAt::V2 { .. } => {
                self.bit(b, input, f);
                b.ins().i64_eqz();
            }
        }
    }

    /// ABI 2: pushes field `f`'s presence word masked to its bit (i64).
    fn bit(self, b: &mut Body, input: u32, f: usize) {
        b.ins()
            .local_get(input)
            .i64_load(m64(16 + 8 * (f / 64) as u64))
            .i64_const((1u64 << (f % 64)) as i64)
            .i64_and();
    }
}

/// Where a formula finds its inputs and sends its faults.
pub(super) struct Ctx<'a> {
    /// The unit's input record (laid out as `at` says).
    pub input: u32,
    pub at: FieldsAt,
    pub fields: &'a [FieldRead],
    pub overflow: Label,
    pub division: Label,
}

/// How to read a field's value for formulas.
#[derive(Debug, Clone, Copy)]
pub(super) struct FieldRead {
    pub kind: FieldType,
    /// The value (the interpreter's representation) when absent.
    pub default: i64,
}

/// The static type of an expression's wasm value.
pub(super) fn type_of(cx: &Ctx<'_>, e: &Expr) -> ValType {
    match e {
        Expr::Bool(_) | Expr::Not(_) | Expr::Present(_) => I32,
        Expr::Field(f) => match cx.fields.get(*f) {
            Some(FieldRead {
                kind: FieldType::Bool,
                ..
            }) => I32,
            _ => I64,
        },
        Expr::Binary(op, _, _) => match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => I64,
            _ => I32,
        },
        Expr::If(_, a, b) => {
            let (ta, tb) = (type_of(cx, a), type_of(cx, b));
            if ta == tb { ta } else { I64 }
        }
        Expr::Num(_)
        | Expr::Choice(_)
        | Expr::Neg(_)
        | Expr::Min(_)
        | Expr::Max(_)
        | Expr::Clamp(..) => I64,
    }
}

/// Emits `e`, leaving a value of type `want` on the stack.
pub(super) fn emit_as(b: &mut Body, cx: &Ctx<'_>, e: &Expr, want: ValType) {
    let got = emit(b, cx, e);
    match (got, want) {
        (ValType::I32, ValType::I64) => {
            b.ins().i64_extend_i32_u();
        }
        (ValType::I64, ValType::I32) => {
            b.ins().i64_eqz().i32_eqz();
        }
        _ => {}
    }
}

/// Emits `e` and returns the type of the value it leaves on the stack.
fn emit(b: &mut Body, cx: &Ctx<'_>, e: &Expr) -> ValType {
    match e {
        Expr::Num(v) => {
            b.ins().i64_const(*v);
            I64
        }
        Expr::Bool(x) => {
            b.ins().i32_const(i32::from(*x));
            I32
        }
        Expr::Choice(i) => {
            b.ins().i64_const(i64::from(*i));
            I64
        }
        Expr::Field(f) => field(b, cx, *f),
        Expr::Present(f) => {
            // Validated: present is 0 or 1.
            cx.at.present(b, cx.input, *f);
            I32
        }
        Expr::Neg(a) => {
            if let Expr::Num(v) = **a
                && v != i64::MIN
            {
                b.ins().i64_const(-v);
                return I64;
            }
            emit_as(b, cx, a, I64);
            let t = b.temp(I64);
            b.ins().local_tee(t).i64_const(i64::MIN).i64_eq();
            b.br_if(cx.overflow);
            b.ins().i64_const(0).local_get(t).i64_sub();
            b.release(I64, t);
            I64
        }
        Expr::Not(a) => {
            emit_as(b, cx, a, I32);
            b.ins().i32_eqz();
            I32
        }
        Expr::Binary(op, x, y) => binary(b, cx, *op, x, y),
        Expr::If(c, x, y) => {
            let ty = type_of(cx, e);
            emit_as(b, cx, c, I32);
            b.if_(BlockType::Result(ty));
            emit_as(b, cx, x, ty);
            b.else_();
            emit_as(b, cx, y, ty);
            b.end();
            ty
        }
        Expr::Min(args) | Expr::Max(args) => {
            let is_min = matches!(e, Expr::Min(_));
            let acc = b.temp(I64);
            let t = b.temp(I64);
            for (k, x) in args.iter().enumerate() {
                emit_as(b, cx, x, I64);
                if k == 0 {
                    b.ins().local_set(acc);
                    continue;
                }
                b.ins().local_set(t);
                pick(b, acc, t, is_min);
                b.ins().local_set(acc);
            }
            b.ins().local_get(acc);
            b.release(I64, t);
            b.release(I64, acc);
            I64
        }
        Expr::Clamp(x, lo, hi) => {
            // max(lo, min(x, hi)), arguments left to right.
            let (tx, tl, th) = (b.temp(I64), b.temp(I64), b.temp(I64));
            emit_as(b, cx, x, I64);
            b.ins().local_set(tx);
            emit_as(b, cx, lo, I64);
            b.ins().local_set(tl);
            emit_as(b, cx, hi, I64);
            b.ins().local_set(th);
            pick(b, tx, th, true);
            b.ins().local_set(tx);
            pick(b, tl, tx, false);
            b.release(I64, th);
            b.release(I64, tl);
            b.release(I64, tx);
            I64
        }
    }
}

/// Pushes field `f`'s value from the (validated) input record: an absent
/// field has value 0 there, so its default is added when non-zero.
fn field(b: &mut Body, cx: &Ctx<'_>, f: usize) -> ValType {
    let Some(&FieldRead { kind, default }) = cx.fields.get(f) else {
        b.ins().i64_const(0);
        return I64;
    };
    let mut s = b.ins();
    s.local_get(cx.input).i64_load(m64(cx.at.value(f)));
    let ty = match kind {
        FieldType::Count | FieldType::Decimal => I64,
        FieldType::Choice => {
            s.i64_const(100).i64_div_u();
            I64
        }
        FieldType::Bool => {
            s.i64_const(0).i64_ne();
            I32
        }
    };
    if default != 0 {
        if ty == I32 {
            // A bool default is true (1): absent or true.
            cx.at.absent(b, cx.input, f);
            b.ins().i32_or();
        } else {
            b.ins().i64_const(default).i64_const(0);
            cx.at.absent(b, cx.input, f);
            b.ins().select().i64_add();
        }
    }
    ty
}

/// Pushes `min(a, b)` (or `max`) of two i64 locals.
pub(super) fn pick(b: &mut Body, a: u32, c: u32, min: bool) {
    let mut s = b.ins();
    s.local_get(a).local_get(c).local_get(a).local_get(c);
    if min {
        s.i64_lt_s();
    } else {
        s.i64_gt_s();
    }
    s.select();
}

fn binary(b: &mut Body, cx: &Ctx<'_>, op: BinOp, x: &Expr, y: &Expr) -> ValType {
    match op {
        BinOp::Add | BinOp::Sub => {
            add_sub(b, cx, op == BinOp::Add, x, y);
            I64
        }
        BinOp::Mul => {
            mul(b, cx, x, y);
            I64
        }
        BinOp::Div => {
            div(b, cx, x, y);
            I64
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            emit_as(b, cx, x, I64);
            emit_as(b, cx, y, I64);
            let mut s = b.ins();
            match op {
                BinOp::Lt => s.i64_lt_s(),
                BinOp::Le => s.i64_le_s(),
                BinOp::Gt => s.i64_gt_s(),
                _ => s.i64_ge_s(),
            };
            I32
        }
        BinOp::Eq | BinOp::Ne => {
            let (tx, ty) = (type_of(cx, x), type_of(cx, y));
            let t = if tx == ty { tx } else { I64 };
            emit_as(b, cx, x, t);
            emit_as(b, cx, y, t);
            let mut s = b.ins();
            match (t, op) {
                (ValType::I32, BinOp::Eq) => s.i32_eq(),
                (ValType::I32, _) => s.i32_ne(),
                (_, BinOp::Eq) => s.i64_eq(),
                _ => s.i64_ne(),
            };
            I32
        }
        BinOp::And | BinOp::Or => {
            // Both operands are always evaluated (RUBRIC.md §7.3).
            emit_as(b, cx, x, I32);
            emit_as(b, cx, y, I32);
            if op == BinOp::And {
                b.ins().i32_and();
            } else {
                b.ins().i32_or();
            }
            I32
        }
    }
}

/// Branches to `overflow` unless `lo <= value of local t <= hi`.
fn check_range(b: &mut Body, cx: &Ctx<'_>, t: u32, lo: i64, hi: i64) {
    if lo != i64::MIN {
        b.ins().local_get(t).i64_const(lo).i64_lt_s();
        b.br_if(cx.overflow);
    }
    if hi != i64::MAX {
        b.ins().local_get(t).i64_const(hi).i64_gt_s();
        b.br_if(cx.overflow);
    }
}

/// `a + b` / `a - b`, exact, overflow a fault.
fn add_sub(b: &mut Body, cx: &Ctx<'_>, add: bool, x: &Expr, y: &Expr) {
    if let Expr::Num(k) = *y {
        // a ± k fits iff a lies in the range below.
        let (lo, hi) = match (add, k >= 0) {
            (true, true) => (i64::MIN, i64::MAX - k),
            (true, false) => (i64::MIN - k, i64::MAX),
            (false, true) => (i64::MIN + k, i64::MAX),
            (false, false) => (i64::MIN, i64::MAX + k),
        };
        emit_as(b, cx, x, I64);
        let t = b.temp(I64);
        b.ins().local_set(t);
        check_range(b, cx, t, lo, hi);
        b.ins().local_get(t).i64_const(k);
        if add {
            b.ins().i64_add();
        } else {
            b.ins().i64_sub();
        }
        b.release(I64, t);
        return;
    }
    let (ta, tb, tr) = (b.temp(I64), b.temp(I64), b.temp(I64));
    emit_as(b, cx, x, I64);
    b.ins().local_set(ta);
    emit_as(b, cx, y, I64);
    b.ins().local_set(tb);
    if add {
        // Overflow iff both operands differ in sign from the result.
        b.ins()
            .local_get(ta)
            .local_get(tb)
            .i64_add()
            .local_set(tr)
            .local_get(ta)
            .local_get(tr)
            .i64_xor()
            .local_get(tb)
            .local_get(tr)
            .i64_xor()
            .i64_and();
    } else {
        // Overflow iff the operands differ in sign and the result's sign
        // differs from the minuend's.
        b.ins()
            .local_get(ta)
            .local_get(tb)
            .i64_sub()
            .local_set(tr)
            .local_get(ta)
            .local_get(tb)
            .i64_xor()
            .local_get(ta)
            .local_get(tr)
            .i64_xor()
            .i64_and();
    }
    b.ins().i64_const(0).i64_lt_s();
    b.br_if(cx.overflow);
    b.ins().local_get(tr);
    b.release(I64, tr);
    b.release(I64, tb);
    b.release(I64, ta);
}

/// The operands `a` with `a·k` inside i64 form `lo..=hi` (k ≠ 0).
fn mul_range(k: i64) -> (i64, i64) {
    let (min, max, k) = (i128::from(i64::MIN), i128::from(i64::MAX), i128::from(k));
    let (lo_num, hi_num) = if k > 0 { (min, max) } else { (max, min) };
    let lo = ceil_div(lo_num, k).max(min);
    let hi = floor_div(hi_num, k).min(max);
    (lo as i64, hi as i64)
}

fn floor_div(n: i128, d: i128) -> i128 {
    let q = n / d;
    if (n % d != 0) && ((n < 0) != (d < 0)) {
        q - 1
    } else {
        q
    }
}

fn ceil_div(n: i128, d: i128) -> i128 {
    let q = n / d;
    if (n % d != 0) && ((n < 0) == (d < 0)) {
        q + 1
    } else {
        q
    }
}

/// `round(a·b / 100)`: the product must fit in i64, then rounding half
/// away from zero (never overflows).
fn mul(b: &mut Body, cx: &Ctx<'_>, x: &Expr, y: &Expr) {
    let p = b.temp(I64);
    let constant = match (x, y) {
        (_, Expr::Num(k)) => Some((x, *k)),
        (Expr::Num(k), _) => Some((y, *k)),
        _ => None,
    };
    if let Some((other, k)) = constant {
        // A literal has no effects, so evaluating only the other operand
        // keeps the order of faults.
        emit_as(b, cx, other, I64);
        if k == 0 {
            b.ins().drop().i64_const(0);
            b.release(I64, p);
            return;
        }
        b.ins().local_set(p);
        let (lo, hi) = mul_range(k);
        check_range(b, cx, p, lo, hi);
        b.ins().local_get(p).i64_const(k).i64_mul().local_set(p);
    } else {
        let (ta, tb) = (b.temp(I64), b.temp(I64));
        emit_as(b, cx, x, I64);
        b.ins().local_set(ta);
        emit_as(b, cx, y, I64);
        b.ins().local_set(tb);
        // a = -1: overflow iff b = MIN; a = 0: never; else the wrapped
        // product divided by a must give b back.
        b.ins().local_get(ta).i64_const(-1).i64_eq();
        b.if_(BlockType::Result(I32));
        b.ins().local_get(tb).i64_const(i64::MIN).i64_eq();
        b.else_();
        b.ins().local_get(ta).i64_eqz();
        b.if_(BlockType::Result(I32));
        b.ins().i32_const(0);
        b.else_();
        b.ins()
            .local_get(ta)
            .local_get(tb)
            .i64_mul()
            .local_get(ta)
            .i64_div_s()
            .local_get(tb)
            .i64_ne();
        b.end();
        b.end();
        b.br_if(cx.overflow);
        b.ins().local_get(ta).local_get(tb).i64_mul().local_set(p);
        b.release(I64, tb);
        b.release(I64, ta);
    }
    // q = p / 100 (truncated), r = p % 100 (sign of p); |r| ≥ 50 rounds
    // away from zero.
    let r = b.temp(I64);
    b.ins()
        .local_get(p)
        .i64_const(100)
        .i64_div_s()
        .local_get(p)
        .i64_const(100)
        .i64_rem_s()
        .local_tee(r)
        .i64_const(50)
        .i64_ge_s()
        .local_get(r)
        .i64_const(-50)
        .i64_le_s()
        .i32_sub()
        .i64_extend_i32_s()
        .i64_add();
    b.release(I64, r);
    b.release(I64, p);
}

/// `round(100·a / b)`: `b = 0` is a division fault (checked first), then
/// `100·a` must fit in i64; the quotient then always fits (|100·a| ≠ 2^63
/// because i64::MIN is no multiple of 100).
fn div(b: &mut Body, cx: &Ctx<'_>, x: &Expr, y: &Expr) {
    const A_MAX: i64 = i64::MAX / 100;
    const A_MIN: i64 = i64::MIN / 100;
    let (n, r) = (b.temp(I64), b.temp(I64));
    if let Expr::Num(k) = *y
        && k != 0
    {
        emit_as(b, cx, x, I64);
        b.ins().local_set(n);
        check_range(b, cx, n, A_MIN, A_MAX);
        // Round away from zero when |r| ≥ ceil(|k| / 2); r has n's sign, the
        // quotient's direction is sign(n)·sign(k).
        let h = (k.unsigned_abs() / 2 + k.unsigned_abs() % 2) as i64;
        let mut s = b.ins();
        s.local_get(n)
            .i64_const(100)
            .i64_mul()
            .local_tee(n)
            .i64_const(k)
            .i64_div_s()
            .local_get(n)
            .i64_const(k)
            .i64_rem_s()
            .local_set(r);
        let (up, down) = if k > 0 { (true, false) } else { (false, true) };
        for positive in [up, down] {
            if positive {
                s.local_get(r).i64_const(h).i64_ge_s();
            } else {
                s.local_get(r).i64_const(-h).i64_le_s();
            }
        }
        s.i32_sub().i64_extend_i32_s().i64_add();
    } else {
        let d = b.temp(I64);
        emit_as(b, cx, x, I64);
        b.ins().local_set(n);
        emit_as(b, cx, y, I64);
        b.ins().local_tee(d).i64_eqz();
        b.br_if(cx.division);
        check_range(b, cx, n, A_MIN, A_MAX);
        let (ar, ad) = (b.temp(I64), b.temp(I64));
        b.ins()
            .local_get(n)
            .i64_const(100)
            .i64_mul()
            .local_tee(n)
            .local_get(d)
            .i64_div_s()
            // adjustment: ±1 (sign(n)·sign(d)) when |r| ≥ |d| − |r|
            .local_get(n)
            .local_get(d)
            .i64_xor()
            .i64_const(63)
            .i64_shr_s()
            .i64_const(1)
            .i64_or()
            .i64_const(0)
            .local_get(n)
            .local_get(d)
            .i64_rem_s()
            .local_set(r);
        abs_u(b, r, ar);
        abs_u(b, d, ad);
        b.ins()
            .local_get(ar)
            .local_get(ad)
            .local_get(ar)
            .i64_sub()
            .i64_ge_u()
            .select()
            .i64_add();
        b.release(I64, ad);
        b.release(I64, ar);
        b.release(I64, d);
    }
    b.release(I64, r);
    b.release(I64, n);
}

/// `out = |x|` as an unsigned 64-bit value (|i64::MIN| = 2^63).
fn abs_u(b: &mut Body, x: u32, out: u32) {
    b.ins()
        .local_get(x)
        .i64_const(63)
        .i64_shr_s()
        .local_set(out)
        .local_get(x)
        .local_get(out)
        .i64_xor()
        .local_get(out)
        .i64_sub()
        .local_set(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_ranges_are_exact() {
        for k in [
            1i64,
            -1,
            2,
            -2,
            3,
            50,
            -50,
            100,
            7,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
            12345,
        ] {
            let (lo, hi) = mul_range(k);
            assert!(lo.checked_mul(k).is_some(), "{k}: lo");
            assert!(hi.checked_mul(k).is_some(), "{k}: hi");
            if lo != i64::MIN {
                assert!((lo - 1).checked_mul(k).is_none(), "{k}: below lo");
            }
            if hi != i64::MAX {
                assert!((hi + 1).checked_mul(k).is_none(), "{k}: above hi");
            }
        }
    }
}
