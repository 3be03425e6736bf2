//! What bounds a pack's cost before and while it runs: the static shape
//! limits checked before compiling (`RuntimeConfig::compile_limits`), each
//! obeyed exactly at its cap and broken one past it, the issue's hostile
//! module (380,000 tiny functions, 8 MB), and the per-call fuel ceiling that
//! keeps a slow pack over a large batch from running for minutes.
//! Timings are printed, never asserted.

use std::time::Instant;

use kaohe_rulepacks::runtime::{CompileLimits, Runtime, RuntimeConfig, RuntimeError};
use wasm_encoder::{
    CodeSection, ConstExpr, CustomSection, DataSection, ElementSection, Elements, ExportKind,
    ExportSection, Function, FunctionSection, GlobalSection, GlobalType, MemorySection, MemoryType,
    Module, TableSection, TableType, TypeSection, ValType,
};

/// What a generated pack carries beyond the ABI's four functions and
/// memory.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    extra_functions: u32,
    /// `local.get 0, i64.const 1, i64.add, local.set 0` repeated in each
    /// extra function.
    body_ops: u32,
    /// i64 locals declared by each extra function.
    locals: u32,
    extra_types: u32,
    /// Parameters of each extra type.
    arity: u32,
    globals: u32,
    extra_exports: u32,
    data_segments: u32,
    data_bytes_each: u32,
    element_segments: u32,
}

const MANIFEST: &str = r#"{"manifest_version":1,"abi_version":1,"fields":[],"indicators":[]}"#;

/// A valid ABI pack (every entry point answers an empty batch) with `s`.
fn shaped(s: Shape) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I32]);
    types
        .ty()
        .function([ValType::I32, ValType::I32], [ValType::I64]);
    types.ty().function([ValType::I64], [ValType::I64]);
    for _ in 0..s.extra_types {
        types
            .ty()
            .function(vec![ValType::I64; s.arity as usize], []);
    }
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    let abi = |ty: u32, body: &dyn Fn(&mut Function)| {
        let mut f = Function::new([]);
        body(&mut f);
        f.instructions().end();
        (ty, f)
    };
    let fixed = [
        abi(0, &|f| {
            f.instructions().i32_const(1);
        }),
        abi(1, &|f| {
            f.instructions().i32_const(1024);
        }),
        abi(2, &|f| {
            f.instructions().i64_const(0);
        }),
        abi(2, &|f| {
            f.instructions().i64_const(0);
        }),
    ];
    for (ty, f) in &fixed {
        functions.function(*ty);
        code.function(f);
    }
    for _ in 0..s.extra_functions {
        functions.function(3);
        let mut f = Function::new(if s.locals > 0 {
            vec![(s.locals, ValType::I64)]
        } else {
            vec![]
        });
        for _ in 0..s.body_ops {
            f.instructions()
                .local_get(0)
                .i64_const(1)
                .i64_add()
                .local_set(0);
        }
        f.instructions().local_get(0).end();
        code.function(&f);
    }
    let mut tables = TableSection::new();
    if s.element_segments > 0 {
        tables.table(TableType {
            element_type: wasm_encoder::RefType::FUNCREF,
            table64: false,
            minimum: 1,
            maximum: None,
            shared: false,
        });
    }
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut globals = GlobalSection::new();
    for _ in 0..s.globals {
        globals.global(
            GlobalType {
                val_type: ValType::I32,
                mutable: false,
                shared: false,
            },
            &ConstExpr::i32_const(0),
        );
    }
    let mut exports = ExportSection::new();
    exports
        .export("memory", ExportKind::Memory, 0)
        .export("kaohe_abi_version", ExportKind::Func, 0)
        .export("kaohe_alloc", ExportKind::Func, 1)
        .export("kaohe_evaluate", ExportKind::Func, 2)
        .export("kaohe_finalise", ExportKind::Func, 3);
    for i in 0..s.extra_exports {
        exports.export(&format!("x{i}"), ExportKind::Func, 0);
    }
    let mut elements = ElementSection::new();
    for _ in 0..s.element_segments {
        elements.passive(Elements::Functions(std::borrow::Cow::Borrowed(&[0])));
    }
    let mut data = DataSection::new();
    for _ in 0..s.data_segments {
        data.active(
            0,
            &ConstExpr::i32_const(0),
            vec![7u8; s.data_bytes_each as usize],
        );
    }
    let mut m = Module::new();
    m.section(&types).section(&functions);
    if s.element_segments > 0 {
        m.section(&tables);
    }
    m.section(&memories);
    if s.globals > 0 {
        m.section(&globals);
    }
    m.section(&exports);
    if s.element_segments > 0 {
        m.section(&elements);
    }
    m.section(&code);
    if s.data_segments > 0 {
        m.section(&data);
    }
    m.section(&CustomSection {
        name: "kaohe-manifest".into(),
        data: MANIFEST.as_bytes().into(),
    });
    m.finish()
}

fn runtime_with(limits: CompileLimits) -> Runtime {
    Runtime::new(RuntimeConfig {
        compile_limits: limits,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

/// The largest function body and the code section of `wasm`, in bytes, as
/// the check measures them.
fn largest_body(wasm: &[u8]) -> (u32, u64) {
    let (mut largest, mut section) = (0u32, 0u64);
    for p in wasmparser::Parser::new(0).parse_all(wasm) {
        match p {
            Ok(wasmparser::Payload::CodeSectionEntry(body)) => {
                largest = largest.max((body.range().end - body.range().start) as u32);
            }
            Ok(wasmparser::Payload::CodeSectionStart { size, .. }) => section = size.into(),
            _ => {}
        }
    }
    (largest, section)
}

/// `wasm` loads under `at_cap` and is refused under `below`, naming `what`.
fn obeyed_and_broken(wasm: &[u8], at_cap: CompileLimits, below: CompileLimits, what: &str) {
    let rt = runtime_with(at_cap);
    let pack = rt
        .load(wasm)
        .unwrap_or_else(|e| panic!("{what} at its cap: {e}"));
    pack.call_evaluate(&[], 0).unwrap();
    match runtime_with(below).load(wasm) {
        Err(
            e @ RuntimeError::ExceedsLimit {
                what: w,
                found,
                cap,
            },
        ) => {
            assert!(w.contains(what), "{what}: refused for {w}");
            assert_eq!(found, cap + 1, "{what}: one past the cap");
            let msg = e.to_string();
            assert!(
                msg.contains("静态上限") && msg.contains(what),
                "message names the limit: {msg}"
            );
        }
        other => panic!("{what} one past its cap: {other:?}"),
    }
}

#[test]
fn every_shape_limit_is_obeyed_at_its_cap_and_broken_one_past_it() {
    let d = CompileLimits::default;
    // functions: the 4 ABI functions + 6 = 10
    let wasm = shaped(Shape {
        extra_functions: 6,
        ..Shape::default()
    });
    obeyed_and_broken(
        &wasm,
        CompileLimits {
            max_functions: 10,
            ..d()
        },
        CompileLimits {
            max_functions: 9,
            ..d()
        },
        "functions",
    );
    // one body, and all code
    let wasm = shaped(Shape {
        extra_functions: 2,
        body_ops: 300,
        ..Shape::default()
    });
    let (largest, total) = largest_body(&wasm);
    obeyed_and_broken(
        &wasm,
        CompileLimits {
            max_function_body_bytes: largest,
            ..d()
        },
        CompileLimits {
            max_function_body_bytes: largest - 1,
            ..d()
        },
        "bytes of one function body",
    );
    obeyed_and_broken(
        &wasm,
        CompileLimits {
            max_code_bytes: total,
            ..d()
        },
        CompileLimits {
            max_code_bytes: total - 1,
            ..d()
        },
        "bytes of code",
    );
    // locals
    let wasm = shaped(Shape {
        extra_functions: 1,
        locals: 50,
        ..Shape::default()
    });
    obeyed_and_broken(
        &wasm,
        CompileLimits {
            max_locals_per_function: 50,
            ..d()
        },
        CompileLimits {
            max_locals_per_function: 49,
            ..d()
        },
        "locals of one function",
    );
    // types (4 of the ABI + 3) and their arity
    let wasm = shaped(Shape {
        extra_types: 3,
        arity: 20,
        ..Shape::default()
    });
    obeyed_and_broken(
        &wasm,
        CompileLimits {
            max_types: 7,
            ..d()
        },
        CompileLimits {
            max_types: 6,
            ..d()
        },
        "function types",
    );
    obeyed_and_broken(
        &wasm,
        CompileLimits {
            max_type_arity: 20,
            ..d()
        },
        CompileLimits {
            max_type_arity: 19,
            ..d()
        },
        "parameters and results of a type",
    );
    // globals
    let wasm = shaped(Shape {
        globals: 12,
        ..Shape::default()
    });
    obeyed_and_broken(
        &wasm,
        CompileLimits {
            max_globals: 12,
            ..d()
        },
        CompileLimits {
            max_globals: 11,
            ..d()
        },
        "globals",
    );
    // exports (memory + 4 ABI functions + 8)
    let wasm = shaped(Shape {
        extra_exports: 8,
        ..Shape::default()
    });
    obeyed_and_broken(
        &wasm,
        CompileLimits {
            max_exports: 13,
            ..d()
        },
        CompileLimits {
            max_exports: 12,
            ..d()
        },
        "exports",
    );
    // data segments and their bytes
    let wasm = shaped(Shape {
        data_segments: 5,
        data_bytes_each: 100,
        ..Shape::default()
    });
    obeyed_and_broken(
        &wasm,
        CompileLimits {
            max_data_segments: 5,
            ..d()
        },
        CompileLimits {
            max_data_segments: 4,
            ..d()
        },
        "data segments",
    );
    obeyed_and_broken(
        &wasm,
        CompileLimits {
            max_data_bytes: 500,
            ..d()
        },
        CompileLimits {
            max_data_bytes: 499,
            ..d()
        },
        "bytes of data segments",
    );
    // element segments
    let wasm = shaped(Shape {
        element_segments: 3,
        ..Shape::default()
    });
    obeyed_and_broken(
        &wasm,
        CompileLimits {
            max_element_segments: 3,
            ..d()
        },
        CompileLimits {
            max_element_segments: 2,
            ..d()
        },
        "element segments",
    );
}

#[test]
fn the_default_limits_admit_the_compiled_2022_pack() {
    let rubric = kaohe_rulepacks::rubric::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("baofeng-2022/rubric.toml"),
    )
    .expect("the 2022 rubric compiles");
    let wasm = kaohe_rulepacks::compile::compile(&rubric).expect("compiles to wasm");
    Runtime::new(RuntimeConfig::default())
        .unwrap()
        .load(&wasm)
        .expect("the 2022 pack is within every default limit");
}

/// 380,000 tiny functions, 8 MB: the module that took 35–41 s and 2.2 GB
/// to compile at every publish, install and evaluate.
fn hostile_many_functions() -> Vec<u8> {
    let n = 380_000u32;
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut tiny = Function::new([]);
    // (i32.add (i32.const 1) (i32.const 2)): 8 body bytes with padding
    // constants, so the whole is near the 8 MiB module cap.
    tiny.instructions()
        .i32_const(0x0fff_ffff)
        .i32_const(0x0fff_ffff)
        .i32_add()
        .end();
    for _ in 0..n {
        functions.function(0);
        code.function(&tiny);
    }
    let mut exports = ExportSection::new();
    exports.export("kaohe_abi_version", ExportKind::Func, 0);
    let mut m = Module::new();
    m.section(&types)
        .section(&functions)
        .section(&exports)
        .section(&code);
    m.finish()
}

#[test]
fn the_hostile_many_function_module_is_refused_before_compiling() {
    let wasm = hostile_many_functions();
    assert!(wasm.len() > 4 << 20, "{} bytes", wasm.len());
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let started = Instant::now();
    let refused = rt.load(&wasm);
    let took = started.elapsed();
    // Measured, not asserted (shared machines): printed for the record.
    println!(
        "380 000 functions, {} bytes: refused in {took:?}",
        wasm.len()
    );
    match refused {
        Err(e @ RuntimeError::ExceedsLimit { found, cap, .. }) => {
            assert_eq!((found, cap), (380_000, 1_000));
            assert!(e.to_string().contains("函数个数"), "{e}");
        }
        other => panic!("expected the function limit, got {other:?}"),
    }
}

/// `spin.wat` counts down the u64 at `input[0..8]` (about 8 wasm fuel per
/// step) and answers `n` (the u32 at `input[8..12]`) empty units; its
/// manifest grants 1 000 000 fuel per unit.
fn spin_input(n: u32, steps: u64) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b[0..8].copy_from_slice(&steps.to_le_bytes());
    b[8..12].copy_from_slice(&n.to_le_bytes());
    b
}

#[test]
fn a_slow_pack_over_a_large_batch_runs_out_at_the_per_call_ceiling() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/wat/spin.wat");
    let spin_wasm = wat::parse_file(&path).unwrap();
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let spin = rt.load(&spin_wasm).unwrap();
    let ceiling = rt.config().max_wasm_fuel_per_call;
    // Each unit costs ~800 000 fuel (100 000 steps), within its grant of
    // 1 000 000: a pack that is slow, not broken.
    let per_unit_steps = 100_000u64;

    // 500 units (~4·10⁸ fuel) fit under the ceiling and succeed.
    let ok = spin
        .call(
            kaohe_rulepacks::runtime::Entry::Evaluate,
            &spin_input(500, 500 * per_unit_steps),
            500,
        )
        .expect("a batch within the ceiling runs");
    assert!(ok.wasm_fuel_used <= ceiling);

    // 10 000 units would be granted 10⁷ + 10⁴ × 10⁶ ≈ 10¹⁰ fuel (minutes of
    // wasm) without the ceiling; with it the call gets exactly the ceiling.
    let n = 10_000u32;
    assert_eq!(spin.wasm_fuel_for(n), ceiling);
    assert!(
        rt.config().wasm_fuel_base + u64::from(n) * spin.wasm_fuel_per_unit() > 9 * ceiling,
        "the uncapped grant would be an order of magnitude more"
    );
    let started = Instant::now();
    let refused = spin.call_evaluate(&spin_input(n, u64::from(n) * per_unit_steps), n);
    println!(
        "10 000 slow units: out of fuel after {:?}",
        started.elapsed()
    );
    assert!(
        matches!(refused, Err(RuntimeError::OutOfFuel)),
        "{refused:?}"
    );

    // The ceiling is checked against the base when the runtime is built.
    assert!(matches!(
        Runtime::new(RuntimeConfig {
            max_wasm_fuel_per_call: 1,
            ..RuntimeConfig::default()
        }),
        Err(RuntimeError::Config(_))
    ));
}
