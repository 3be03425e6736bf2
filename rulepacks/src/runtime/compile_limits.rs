//! Static limits that bound what compiling a module costs, checked on the
//! raw bytes before wasmtime validates or compiles anything.
//!
//! Cranelift's time and memory grow with the number of functions, the size
//! of each body and the locals it juggles; a signed 8 MB module of 380,000
//! tiny functions took 35–41 s and 2.2 GB at every publish, install and
//! evaluate. These checks read only section headers, each body's size and
//! its local declarations (never an instruction), so even that module is
//! refused in milliseconds, naming the limit it breaks.
//!
//! Measured here (dev build, fuel and epoch instrumentation on): a tiny
//! function costs ≈ 0.2 ms to compile, straight-line code ≈ 0.2–3 ms per
//! KiB, a pathological chain on one local ≈ 13 ms per KiB. The defaults
//! therefore allow ≈ 0.2 s of per-function overhead and, at worst, ≈ 13 s
//! for a whole module of pathological code — typically well under a
//! second; the compiled 2022 rubric has 6 functions, the largest body
//! 17 KiB with 27 locals, and compiles in ≈ 50 ms. `compile_timeout`
//! remains the backstop for anything these counts cannot see.

use wasmparser::{Parser, Payload};

use super::RuntimeError;

/// Caps on a module's shape (see the module docs for why each exists).
/// `Default` gives the production values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileLimits {
    /// Defined functions. Default 1 000.
    pub max_functions: u32,
    /// Bytes of one function body. Default 512 KiB (a rubric of about a
    /// thousand indicators).
    pub max_function_body_bytes: u32,
    /// Bytes of the code section (every body with its size prefix).
    /// Default 1 MiB.
    pub max_code_bytes: u64,
    /// Locals declared by one function (parameters not counted).
    /// Default 10 000.
    pub max_locals_per_function: u32,
    /// Function types. Default 1 000.
    pub max_types: u32,
    /// Parameters plus results of one function type. Default 64.
    pub max_type_arity: u32,
    /// Globals. Default 1 000.
    pub max_globals: u32,
    /// Exports. Default 1 000.
    pub max_exports: u32,
    /// Data segments. Default 1 000.
    pub max_data_segments: u32,
    /// Bytes of all data segments together. Default 4 MiB.
    pub max_data_bytes: u64,
    /// Element segments. Default 1 000.
    pub max_element_segments: u32,
}

impl Default for CompileLimits {
    fn default() -> Self {
        Self {
            max_functions: 1_000,
            max_function_body_bytes: 512 * 1024,
            max_code_bytes: 1024 * 1024,
            max_locals_per_function: 10_000,
            max_types: 1_000,
            max_type_arity: 64,
            max_globals: 1_000,
            max_exports: 1_000,
            max_data_segments: 1_000,
            max_data_bytes: 4 * 1024 * 1024,
            max_element_segments: 1_000,
        }
    }
}

/// Checks `wasm` against `limits`, stopping at the first limit broken.
/// Bytes that do not parse are left to validation, which names the fault.
pub(super) fn check(wasm: &[u8], limits: &CompileLimits) -> Result<(), RuntimeError> {
    let exceeds = |what: &'static str, found: u64, cap: u64| {
        if found > cap {
            Err(RuntimeError::ExceedsLimit { what, found, cap })
        } else {
            Ok(())
        }
    };
    let mut data_bytes: u64 = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else {
            return Ok(());
        };
        match payload {
            Payload::TypeSection(reader) => {
                exceeds(
                    "函数类型个数（function types）",
                    reader.count().into(),
                    limits.max_types.into(),
                )?;
                for group in reader {
                    let Ok(group) = group else { return Ok(()) };
                    for sub in group.into_types() {
                        if let wasmparser::CompositeInnerType::Func(f) = &sub.composite_type.inner {
                            exceeds(
                                "函数类型的参数与返回值个数（parameters and results of a type）",
                                (f.params().len() + f.results().len()) as u64,
                                limits.max_type_arity.into(),
                            )?;
                        }
                    }
                }
            }
            Payload::FunctionSection(reader) => exceeds(
                "函数个数（functions）",
                reader.count().into(),
                limits.max_functions.into(),
            )?,
            Payload::GlobalSection(reader) => exceeds(
                "全局变量个数（globals）",
                reader.count().into(),
                limits.max_globals.into(),
            )?,
            Payload::ExportSection(reader) => exceeds(
                "导出项个数（exports）",
                reader.count().into(),
                limits.max_exports.into(),
            )?,
            Payload::ElementSection(reader) => exceeds(
                "元素段个数（element segments）",
                reader.count().into(),
                limits.max_element_segments.into(),
            )?,
            Payload::DataSection(reader) => {
                exceeds(
                    "数据段个数（data segments）",
                    reader.count().into(),
                    limits.max_data_segments.into(),
                )?;
                for data in reader {
                    let Ok(data) = data else { return Ok(()) };
                    data_bytes = data_bytes.saturating_add(data.data.len() as u64);
                    exceeds(
                        "数据段总字节数（bytes of data segments）",
                        data_bytes,
                        limits.max_data_bytes,
                    )?;
                }
            }
            Payload::CodeSectionStart { count, size, .. } => {
                // The section's header bounds both before any body is read
                // (code bytes: the whole section, size prefixes included).
                exceeds(
                    "函数个数（functions）",
                    count.into(),
                    limits.max_functions.into(),
                )?;
                exceeds(
                    "代码总字节数（bytes of code）",
                    size.into(),
                    limits.max_code_bytes,
                )?;
            }
            Payload::CodeSectionEntry(body) => {
                let range = body.range();
                let size = range.end - range.start;
                exceeds(
                    "单个函数体字节数（bytes of one function body）",
                    size,
                    limits.max_function_body_bytes.into(),
                )?;
                let Ok(locals) = body.get_locals_reader() else {
                    return Ok(());
                };
                let mut declared: u64 = 0;
                for group in locals {
                    let Ok((n, _)) = group else { return Ok(()) };
                    declared = declared.saturating_add(n.into());
                    exceeds(
                        "单个函数的局部变量个数（locals of one function）",
                        declared,
                        limits.max_locals_per_function.into(),
                    )?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}
