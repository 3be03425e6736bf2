//! The rubric compiler: a [`CheckedRubric`] → a WebAssembly rule pack
//! honouring ABI.md, generated directly with `wasm-encoder`.
//!
//! The reference interpreter (`interp`) is the specification; the module
//! answers byte for byte what `Interpreter::evaluate_bytes` /
//! `finalise_bytes` answer, and `tests/compile.rs` checks that
//! differentially.
//!
//! Layout:
//! - `build`: `kaohe pack build` — the fixtures beside the rubric become the
//!   pack's self-test, checked against the compiled module before it is
//!   written;
//! - `emit`: a function body under construction (named labels, locals);
//! - `expr`: formulas with checked i64 arithmetic and half-away rounding;
//! - `evaluate`: `kaohe_evaluate`, the per-unit straight-line program;
//! - `finalise`: `kaohe_finalise` and the 128-bit `muldiv` helper.
//!
//! ## The module
//!
//! | index | function | |
//! |---|---|---|
//! | 0 | `kaohe_abi_version` | `() -> ` the manifest's ABI word (2 for ABI 2.0) |
//! | 1 | `kaohe_alloc` | bump allocator from the heap global, `memory.grow` as needed, −1 on failure |
//! | 2 | `kaohe_evaluate` | header checks, output allocation, a loop over the units |
//! | 3 | `kaohe_finalise` | same shape |
//! | 4 | `first_bad_field` | the slow path naming an invalid field (status 6) |
//! | 5 | `muldiv` | only when a category's `applicable × full_marks` exceeds i64 |
//!
//! The ABI is the manifest's `abi_version`: 2 (ABI.md §10 — compact
//! inputs, sparse evaluate output) for what `kaohe pack build` makes, 1
//! for a rubric compiled as an earlier year's pack was
//! ([`crate::rubric::CheckedRubric::with_abi`]).
//!
//! Memory: a data segment at [`DATA_BASE`] holds the points table (`C × I`
//! i64, −1 where an indicator does not apply), per category
//! `[applicable, conversion divisor]` and the applicable indicators as a
//! bit mask; the heap follows. No imports, no
//! floats, no tables, no start function; the manifest's canonical JSON is
//! the `kaohe-manifest` custom section, and a built pack's self-test the
//! `kaohe-selftest` section.
//!
//! **Architecture Invariant:** a unit's faults (division by zero,
//! overflow, fuel) are branches in generated code, never traps: one unit's
//! error never affects the rest of its batch.

mod build;
mod emit;
mod evaluate;
mod expr;
mod finalise;

pub use build::{BuildError, build, record_self_test, self_test};

use std::borrow::Cow;

use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, CustomSection, DataSection, ExportKind, ExportSection,
    Function, FunctionSection, GlobalSection, GlobalType, MemorySection, MemoryType, Module,
    TypeSection, ValType,
};

use crate::manifest::{IndicatorKind, Missing};
use crate::rubric::{CheckedRubric, Expr};
use crate::selftest::SelfTest;
use emit::{Body, m32};

/// Where the static tables start (the first bytes stay unused).
pub const DATA_BASE: u64 = 16;
const PAGE: u64 = 65_536;
/// Heap kept free in the initial memory so small batches never grow it.
const INITIAL_HEAP: u64 = 48 * 1024;

const FN_ALLOC: u32 = 1;
const FN_FIRST_BAD_FIELD: u32 = 4;
const FN_MULDIV: u32 = 5;
const HEAP_GLOBAL: u32 = 0;

/// Why a checked rubric could not be compiled. A rubric from
/// [`crate::rubric::compile`] always compiles; these guard rubrics built
/// some other way and the compiler itself.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("规则与清单不一致（rubric and manifest disagree）：{0}")]
    Inconsistent(String),
    #[error("{what} 超出 32 位 ABI 的范围（too large for the 32-bit ABI）")]
    TooLarge { what: &'static str },
    #[error(
        "编译器生成了无效的模块，这是编译器的缺陷（the compiler produced an invalid module, a compiler bug）：{0}"
    )]
    InvalidModule(String),
}

/// Compiles a checked rubric to the bytes of a rule pack (unsigned),
/// without a self-test (`kaohe pack build` adds one: [`build`]).
pub fn compile(rubric: &CheckedRubric) -> Result<Vec<u8>, CompileError> {
    compile_with(rubric, None)
}

/// Compiles a checked rubric with `self_test` as its `kaohe-selftest`
/// section (`crate::selftest`).
pub fn compile_with_self_test(
    rubric: &CheckedRubric,
    self_test: &SelfTest,
) -> Result<Vec<u8>, CompileError> {
    compile_with(rubric, Some(self_test))
}

fn compile_with(
    rubric: &CheckedRubric,
    self_test: Option<&SelfTest>,
) -> Result<Vec<u8>, CompileError> {
    let plan = Plan::new(rubric)?;
    let wasm = assemble(&plan, self_test.map(SelfTest::encode));
    wasmparser::Validator::new()
        .validate_all(&wasm)
        .map_err(|e| CompileError::InvalidModule(e.to_string()))?;
    Ok(wasm)
}

/// Static memory layout.
struct Layout {
    /// `C × I` i64 points, row per category.
    points: u64,
    /// Per category `[applicable, divisor]` (i64 each).
    categories: u64,
    /// Per category the applicable indicators, `mask_words` u64 each.
    applies: u64,
    heap: u64,
    data: Vec<u8>,
}

/// What the generators need, computed and checked once.
pub(crate) struct Plan<'a> {
    rubric: &'a CheckedRubric,
    layout: Layout,
    eval_in_rec: u64,
    /// ABI 1: every unit's output record; ABI 2: the most one can take.
    eval_out_rec: u64,
    fin_in_rec: u64,
    /// i64 words of an indicator bit mask: ⌈I / 64⌉.
    mask_words: usize,
    /// Per field: the indicators for which it is a required field.
    required_by: Vec<Vec<usize>>,
    /// Conversion needs 128-bit arithmetic (`muldiv`).
    wide_conversion: bool,
}

impl<'a> Plan<'a> {
    fn new(rubric: &'a CheckedRubric) -> Result<Plan<'a>, CompileError> {
        let m = &rubric.manifest;
        let bad = |s: String| Err(CompileError::Inconsistent(s));
        m.validate()
            .map_err(|e| CompileError::Inconsistent(e.to_string()))?;
        let (nf, ni, nc) = (m.fields.len(), m.indicators.len(), m.categories.len());
        if rubric.indicators.len() != ni {
            return bad(format!(
                "{} 条规则对 {ni} 个指标（rules vs indicators）",
                rubric.indicators.len()
            ));
        }
        let offsets = m.clause_offsets();
        let mut required_by = vec![Vec::new(); nf];
        for (i, ci) in rubric.indicators.iter().enumerate() {
            let mi = &m.indicators[i];
            let id = &mi.id;
            if m.indicator_method(i) != Some(ci.method)
                || ci.kind != mi.kind
                || ci.fuel_cost != mi.fuel_cost
            {
                return bad(format!(
                    "指标 {id} 的考核方式、类型或燃料与清单不符（method, kind or fuel）"
                ));
            }
            if ci.first_clause != offsets[i] || ci.rule.clauses().len() != mi.clauses.len() {
                return bad(format!("指标 {id} 的条款与清单不符（clauses）"));
            }
            let mut out_of_range = false;
            ci.rule.for_each_expr(&mut |e| {
                visit(e, &mut |x| match x {
                    Expr::Field(f) | Expr::Present(f) if *f >= nf => out_of_range = true,
                    _ => {}
                })
            });
            if out_of_range {
                return bad(format!(
                    "指标 {id} 引用了不存在的字段（unknown field index）"
                ));
            }
            for &f in &ci.reads {
                let Some(field) = m.fields.get(f) else {
                    return bad(format!(
                        "指标 {id} 引用了不存在的字段（unknown field index）"
                    ));
                };
                if field.missing == Missing::Refuse {
                    required_by[f].push(i);
                }
            }
        }
        let rec = |n: u64, what| {
            if n > i32::MAX as u64 / 2 {
                Err(CompileError::TooLarge { what })
            } else {
                Ok(n)
            }
        };
        let eval_in_rec = rec(
            m.evaluate_input_record() as u64,
            "求值输入记录（evaluate input record）",
        )?;
        let eval_out_rec = rec(
            m.evaluate_output_record() as u64,
            "求值输出记录（evaluate output record）",
        )?;
        let fin_in_rec = rec(
            m.finalise_input_record() as u64,
            "定档输入记录（finalise input record）",
        )?;

        // Static tables and per-category sheet constants.
        let comp = &m.composition;
        let full = i128::from(comp.full_marks);
        let mut wide_conversion = false;
        let mut data = Vec::new();
        for c in 0..nc {
            for ind in &m.indicators {
                data.extend_from_slice(&ind.points[c].unwrap_or(-1).to_le_bytes());
            }
        }
        let categories = DATA_BASE + data.len() as u64;
        for c in 0..nc {
            let applicable: i128 = m
                .indicators
                .iter()
                .filter(|ind| ind.kind == IndicatorKind::Scored)
                .filter_map(|ind| ind.points[c])
                .map(i128::from)
                .sum();
            let Ok(applicable) = i64::try_from(applicable) else {
                return bad(format!(
                    "类别 {} 的应考分值超出 i64（applicable points beyond i64）",
                    m.categories[c].id
                ));
            };
            let divisor = if comp.normalise && applicable > 0 && i128::from(applicable) < full {
                if i64::try_from(i128::from(applicable) * full).is_err() {
                    wide_conversion = true;
                }
                applicable
            } else {
                0
            };
            data.extend_from_slice(&applicable.to_le_bytes());
            data.extend_from_slice(&divisor.to_le_bytes());
        }
        // Under ABI 1.1 a unit's applicable points can drop below full
        // marks in any category, so any `applicable × full` may be needed.
        if m.has_not_applicable() && comp.normalise && i64::try_from(full * full).is_err() {
            wide_conversion = true;
        }
        // Per category, the applicable indicators as a bit mask.
        let mask_words = ni.div_ceil(64);
        let applies = DATA_BASE + data.len() as u64;
        for c in 0..nc {
            let mut words = vec![0u64; mask_words];
            for (i, ind) in m.indicators.iter().enumerate() {
                if ind.points[c].is_some() {
                    words[i / 64] |= 1 << (i % 64);
                }
            }
            for w in words {
                data.extend_from_slice(&w.to_le_bytes());
            }
        }
        let heap = (DATA_BASE + data.len() as u64).div_ceil(16) * 16;
        if heap > i32::MAX as u64 / 2 {
            return Err(CompileError::TooLarge {
                what: "静态数据（static tables）",
            });
        }
        Ok(Plan {
            rubric,
            layout: Layout {
                points: DATA_BASE,
                categories,
                applies,
                heap,
                data,
            },
            eval_in_rec,
            eval_out_rec,
            fin_in_rec,
            mask_words,
            required_by,
            wide_conversion,
        })
    }
}

/// Calls `f` on `e` and every sub-expression.
fn visit(e: &Expr, f: &mut impl FnMut(&Expr)) {
    f(e);
    match e {
        Expr::Num(_) | Expr::Bool(_) | Expr::Choice(_) | Expr::Field(_) | Expr::Present(_) => {}
        Expr::Neg(a) | Expr::Not(a) => visit(a, f),
        Expr::Binary(_, a, b) => {
            visit(a, f);
            visit(b, f);
        }
        Expr::If(a, b, c) | Expr::Clamp(a, b, c) => {
            visit(a, f);
            visit(b, f);
            visit(c, f);
        }
        Expr::Min(v) | Expr::Max(v) => v.iter().for_each(|x| visit(x, f)),
    }
}

fn assemble(plan: &Plan<'_>, self_test: Option<Vec<u8>>) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I32]);
    types
        .ty()
        .function([ValType::I32, ValType::I32], [ValType::I64]);
    types
        .ty()
        .function([ValType::I64, ValType::I64, ValType::I64], [ValType::I64]);

    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut version = Function::new([]);
    version
        .instructions()
        .i32_const(plan.rubric.manifest.abi_word() as i32)
        .end();
    for (ty, f) in [
        (0, version),
        (1, alloc()),
        (2, evaluate::function(plan)),
        (2, finalise::function(plan)),
        (1, evaluate::first_bad_field(plan)),
    ] {
        functions.function(ty);
        code.function(&f);
    }
    if plan.wide_conversion {
        functions.function(3);
        code.function(&finalise::muldiv());
    }

    let l = &plan.layout;
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: (l.heap + INITIAL_HEAP).div_ceil(PAGE),
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut globals = GlobalSection::new();
    globals.global(
        GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        },
        &ConstExpr::i32_const(l.heap as i32),
    );
    let mut exports = ExportSection::new();
    exports
        .export("memory", ExportKind::Memory, 0)
        .export("kaohe_abi_version", ExportKind::Func, 0)
        .export("kaohe_alloc", ExportKind::Func, FN_ALLOC)
        .export("kaohe_evaluate", ExportKind::Func, 2)
        .export("kaohe_finalise", ExportKind::Func, 3);
    let mut data = DataSection::new();
    if !l.data.is_empty() {
        data.active(
            0,
            &ConstExpr::i32_const(l.points as i32),
            l.data.iter().copied(),
        );
    }
    let manifest = plan.rubric.manifest.to_canonical_json();

    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&memories)
        .section(&globals)
        .section(&exports)
        .section(&code)
        .section(&data)
        .section(&CustomSection {
            name: Cow::Borrowed(crate::runtime::MANIFEST_SECTION),
            data: Cow::Owned(manifest),
        });
    if let Some(bytes) = self_test {
        module.section(&CustomSection {
            name: Cow::Borrowed(crate::selftest::SELF_TEST_SECTION),
            data: Cow::Owned(bytes),
        });
    }
    module.finish()
}

/// `kaohe_alloc(size) -> ptr`: 8-aligned bump allocation, growing memory;
/// −1 when the size is negative, the heap would pass 2 GiB, or
/// `memory.grow` fails.
fn alloc() -> Function {
    let size = 0u32;
    let mut b = Body::new(1);
    let ptr = b.local(ValType::I32);
    let end = b.local(ValType::I64);
    let pages = b.local(ValType::I64);
    b.ins().local_get(size).i32_const(0).i32_lt_s();
    b.if_(BlockType::Empty);
    b.ins().i32_const(-1).return_();
    b.end();
    b.ins()
        .global_get(HEAP_GLOBAL)
        .local_tee(ptr)
        .i64_extend_i32_u()
        .local_get(size)
        .i64_extend_i32_u()
        .i64_const(7)
        .i64_add()
        .i64_const(!7)
        .i64_and()
        .i64_add()
        .local_tee(end)
        .i64_const(i32::MAX as i64)
        .i64_gt_u();
    b.if_(BlockType::Empty);
    b.ins().i32_const(-1).return_();
    b.end();
    b.ins()
        .local_get(end)
        .i64_const(PAGE as i64 - 1)
        .i64_add()
        .i64_const(16)
        .i64_shr_u()
        .local_tee(pages)
        .memory_size(0)
        .i64_extend_i32_u()
        .i64_gt_u();
    b.if_(BlockType::Empty);
    b.ins()
        .local_get(pages)
        .memory_size(0)
        .i64_extend_i32_u()
        .i64_sub()
        .i32_wrap_i64()
        .memory_grow(0)
        .i32_const(-1)
        .i32_eq();
    b.if_(BlockType::Empty);
    b.ins().i32_const(-1).return_();
    b.end();
    b.end();
    b.ins()
        .local_get(end)
        .i32_wrap_i64()
        .global_set(HEAP_GLOBAL)
        .local_get(ptr);
    b.finish()
}

/// The batch checks of ABI.md §5 in their order; sets `n`. Returns the
/// negative code from the function on failure.
/// The shape `kaohe_evaluate` and `kaohe_finalise` share: check the batch
/// header, allocate the output, run `unit` once per input record (with the
/// input and output record offsets in locals), return `(out << 32) | len`.
/// `locals` declares the per-unit locals once for the whole function.
/// `sparse` (ABI 2's evaluate output): `out_rec` is the most a unit can
/// take, `unit` moves the output offset past what it wrote itself, and the
/// length returned is what the units wrote.
#[allow(
    clippy::too_many_arguments,
    reason = "the batch's shape, each fixed by ABI.md per entry point"
)]
fn batch_function<L>(
    magic: [u8; 4],
    abi: u32,
    count: u32,
    in_rec: u64,
    out_rec: u64,
    sparse: bool,
    locals: impl FnOnce(&mut Body) -> L,
    unit: impl FnOnce(&mut Body, &L, u32, u32),
) -> Function {
    let (ptr, len) = (0u32, 1u32);
    let mut b = Body::new(2);
    let n = b.local(ValType::I32);
    let out = b.local(ValType::I32);
    let input = b.local(ValType::I32);
    let o = b.local(ValType::I32);
    let u = b.local(ValType::I32);
    header_check(&mut b, ptr, len, n, magic, abi, count, in_rec);
    // Sparse: the output grows as the units need it, `grow` bytes at a
    // time (contiguous: nothing else allocates during the call), so the
    // memory a call dirties — and the host resets afterwards — is what the
    // units wrote, not their worst case.
    let grow = out_rec.max(64 * 1024).div_ceil(8) * 8;
    let end = b.local(ValType::I32);
    let wide = b.local(ValType::I64);
    if sparse {
        // First min(n × out_rec, grow): a small batch takes what it may
        // need at most (usually within the initial memory), a large one a
        // first `grow`.
        b.ins()
            .i64_const(grow as i64)
            .local_get(n)
            .i64_extend_i32_u()
            .i64_const(out_rec as i64)
            .i64_mul()
            .local_tee(wide)
            .local_get(wide)
            .i64_const(grow as i64)
            .i64_gt_u()
            .select()
            .i32_wrap_i64()
            .local_tee(end)
            .call(FN_ALLOC)
            .local_tee(out)
            .i32_const(0)
            .i32_lt_s();
        b.if_(BlockType::Empty);
        b.ins()
            .i64_const(crate::abi::BatchError::OutOfMemory.code())
            .return_();
        b.end();
        b.ins()
            .local_get(out)
            .local_get(end)
            .i32_add()
            .local_set(end);
    } else {
        alloc_output(&mut b, n, out, out_rec);
    }
    let l = locals(&mut b);
    b.ins()
        .local_get(ptr)
        .i32_const(crate::abi::HEADER_LEN as i32)
        .i32_add()
        .local_set(input)
        .local_get(out)
        .local_set(o);
    let exit = b.block();
    let next = b.loop_();
    b.ins().local_get(u).local_get(n).i32_ge_u();
    b.br_if(exit);
    if sparse {
        // Room for this unit's largest record, or grow (−5 if memory
        // cannot, or if the new region were not the continuation).
        b.ins()
            .local_get(end)
            .local_get(o)
            .i32_sub()
            .i32_const(out_rec as i32)
            .i32_lt_u();
        b.if_(BlockType::Empty);
        b.ins()
            .i32_const(grow as i32)
            .call(FN_ALLOC)
            .local_get(end)
            .i32_ne();
        b.if_(BlockType::Empty);
        b.ins()
            .i64_const(crate::abi::BatchError::OutOfMemory.code())
            .return_();
        b.end();
        b.ins()
            .local_get(end)
            .i32_const(grow as i32)
            .i32_add()
            .local_set(end);
        b.end();
    }
    unit(&mut b, &l, input, o);
    b.ins()
        .local_get(input)
        .i32_const(in_rec as i32)
        .i32_add()
        .local_set(input);
    if !sparse {
        b.ins()
            .local_get(o)
            .i32_const(out_rec as i32)
            .i32_add()
            .local_set(o);
    }
    b.ins().local_get(u).i32_const(1).i32_add().local_set(u);
    b.br(next);
    b.end();
    b.end();
    if sparse {
        // (out << 32) | (o − out)
        b.ins()
            .local_get(out)
            .i64_extend_i32_u()
            .i64_const(32)
            .i64_shl()
            .local_get(o)
            .local_get(out)
            .i32_sub()
            .i64_extend_i32_u()
            .i64_or();
    } else {
        return_output(&mut b, out, n, out_rec);
    }
    b.finish()
}

#[allow(
    clippy::too_many_arguments,
    reason = "the header's fields, each checked once in ABI.md §5 order"
)]
fn header_check(
    b: &mut Body,
    ptr: u32,
    len: u32,
    n: u32,
    magic: [u8; 4],
    abi: u32,
    count: u32,
    rec: u64,
) {
    let refuse = |b: &mut Body, code: i64| {
        b.if_(BlockType::Empty);
        b.ins().i64_const(code).return_();
        b.end();
    };
    b.ins()
        .local_get(len)
        .i32_const(crate::abi::HEADER_LEN as i32)
        .i32_lt_u();
    refuse(b, crate::abi::BatchError::BadLength.code());
    b.ins()
        .local_get(ptr)
        .i32_load(m32(0))
        .i32_const(i32::from_le_bytes(magic))
        .i32_ne();
    refuse(b, crate::abi::BatchError::BadMagic.code());
    b.ins()
        .local_get(ptr)
        .i32_load(m32(4))
        .i32_const(abi as i32)
        .i32_ne();
    refuse(b, crate::abi::BatchError::WrongAbi.code());
    b.ins()
        .local_get(ptr)
        .i32_load(m32(12))
        .i32_const(count as i32)
        .i32_ne();
    refuse(b, crate::abi::BatchError::CountsDisagree.code());
    b.ins()
        .local_get(len)
        .i64_extend_i32_u()
        .local_get(ptr)
        .i32_load(m32(8))
        .local_tee(n)
        .i64_extend_i32_u()
        .i64_const(rec as i64)
        .i64_mul()
        .i64_const(crate::abi::HEADER_LEN as i64)
        .i64_add()
        .i64_ne();
    refuse(b, crate::abi::BatchError::BadLength.code());
}

/// `out = kaohe_alloc(n × rec)`, or return −5.
fn alloc_output(b: &mut Body, n: u32, out: u32, rec: u64) {
    b.ins()
        .local_get(n)
        .i64_extend_i32_u()
        .i64_const(rec as i64)
        .i64_mul()
        .i64_const(i32::MAX as i64)
        .i64_gt_u();
    b.if_(BlockType::Empty);
    b.ins()
        .i64_const(crate::abi::BatchError::OutOfMemory.code())
        .return_();
    b.end();
    b.ins()
        .local_get(n)
        .i32_const(rec as i32)
        .i32_mul()
        .call(FN_ALLOC)
        .local_tee(out)
        .i32_const(0)
        .i32_lt_s();
    b.if_(BlockType::Empty);
    b.ins()
        .i64_const(crate::abi::BatchError::OutOfMemory.code())
        .return_();
    b.end();
}

/// Pushes `(out << 32) | (n × rec)`.
fn return_output(b: &mut Body, out: u32, n: u32, rec: u64) {
    b.ins()
        .local_get(out)
        .i64_extend_i32_u()
        .i64_const(32)
        .i64_shl()
        .local_get(n)
        .i64_extend_i32_u()
        .i64_const(rec as i64)
        .i64_mul()
        .i64_or();
}
