//! Static checks on a validated module, before anything is compiled or run:
//! no imports, the ABI exports with their exact types, one memory and at
//! most one table within the caps, and exactly one manifest section. The
//! bytes are parsed with the workspace's `wasmparser` after wasmtime has
//! validated them with its own.

use wasmparser::{CompositeInnerType, ExternalKind, FuncType, Parser, Payload, ValType};

use super::RuntimeError;
use crate::selftest::SELF_TEST_SECTION;

/// Name of the custom section that carries the manifest (ABI.md §1).
pub const MANIFEST_SECTION: &str = "kaohe-manifest";

const WASM_PAGE: u64 = 65_536;

/// What the ABI's byte layouts follow from (ABI.md §2, §3): the record
/// counts and the ABI minor version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// `F`: number of evidence fields.
    pub fields: u32,
    /// `I`: number of indicators.
    pub indicators: u32,
    /// `K`: number of deduction/award clauses, all indicators concatenated.
    pub clauses: u32,
    /// The manifest's `abi_version`: 1 (dense records) or 2 (compact
    /// inputs, sparse evaluate output; ABI.md §10).
    pub abi_major: u32,
    /// The manifest's `abi_minor` (absent: 0); 1 adds the not-applicable
    /// marks to the evaluate input.
    pub abi_minor: u32,
}

impl Counts {
    fn v2(&self) -> bool {
        self.abi_major >= crate::manifest::ABI_V2
    }

    fn marks(&self) -> bool {
        self.abi_minor >= 1
    }

    /// `⌈I / 64⌉` u64 words, times 2 when the minor carries marks.
    fn indicator_sets(&self) -> u64 {
        u64::from(self.indicators).div_ceil(64) * if self.marks() { 2 } else { 1 }
    }

    /// Input length of `kaohe_evaluate` for `n` units. ABI 1: `16 + n ×
    /// (16 + 16·F)`, plus `8·I` per unit under 1.1. ABI 2: `16 + n × (16 +
    /// 8·⌈F/64⌉ + 8·F)`, plus `8·⌈I/64⌉` per unit under 2.1.
    pub fn evaluate_input_len(&self, n: u32) -> u64 {
        let (f, i) = (u64::from(self.fields), u64::from(self.indicators));
        let rec = if self.v2() {
            let marks = if self.marks() { i.div_ceil(64) } else { 0 };
            16 + 8 * (f.div_ceil(64) + marks) + 8 * f
        } else {
            16 + 16 * f + if self.marks() { 8 * i } else { 0 }
        };
        16 + u64::from(n) * rec
    }

    /// What `kaohe_abi_version` must return and every input header carries:
    /// the major (1 or 2) in the low 16 bits, the minor in the high 16.
    pub fn abi_word(&self) -> i32 {
        (self.abi_major | (self.abi_minor << 16)) as i32
    }

    /// Output length of `kaohe_evaluate` for `n` units: ABI 1 exactly `n ×
    /// (16 + 16·I + 16·K)`; ABI 2 at most `n × (16 + 8·⌈I/64⌉ (×2 under
    /// 2.1) + 8·I + 8 + 16·K)` (every clause fired), its exact length
    /// following from the fired counts it records.
    pub fn evaluate_output_len(&self, n: u32) -> u64 {
        let (i, k) = (u64::from(self.indicators), u64::from(self.clauses));
        let rec = if self.v2() {
            16 + 8 * self.indicator_sets() + 8 * i + 8 + 16 * k
        } else {
            16 + 16 * i + 16 * k
        };
        u64::from(n) * rec
    }

    /// Whether an evaluate output's length may be anything up to
    /// [`Counts::evaluate_output_len`] (ABI 2, sparse) rather than exactly it.
    pub fn evaluate_output_sparse(&self) -> bool {
        self.v2()
    }

    /// Input length of `kaohe_finalise` for `n` units. ABI 1: `16 + n × (16
    /// + 16·I)`; ABI 2: `16 + n × (16 + 8·⌈I/64⌉ (×2 under 2.1) + 8·I)`.
    pub fn finalise_input_len(&self, n: u32) -> u64 {
        let i = u64::from(self.indicators);
        let rec = if self.v2() {
            16 + 8 * self.indicator_sets() + 8 * i
        } else {
            16 + 16 * i
        };
        16 + u64::from(n) * rec
    }

    /// Output length of `kaohe_finalise` for `n` units: `n × 72`.
    pub fn finalise_output_len(&self, n: u32) -> u64 {
        u64::from(n) * (8 + 8 * 8)
    }

    /// Reads the counts from the manifest JSON: `fields` and `indicators`
    /// are arrays; each indicator may carry a `clauses` array (its
    /// deductions or awards, in order), absent meaning none.
    ///
    /// This is the one place the runtime reads the manifest's shape; when
    /// the typed `Manifest` lands it should supply these numbers instead.
    pub fn from_manifest(manifest: &serde_json::Value) -> Result<Self, RuntimeError> {
        let array = |key: &str| {
            manifest.get(key).and_then(|v| v.as_array()).ok_or_else(|| {
                RuntimeError::ManifestInvalid(format!("缺少数组 {key} / missing array `{key}`"))
            })
        };
        let fields = array("fields")?;
        let indicators = array("indicators")?;
        let mut clauses: u64 = 0;
        for (i, indicator) in indicators.iter().enumerate() {
            match indicator.get("clauses") {
                None => {}
                Some(serde_json::Value::Array(list)) => clauses += list.len() as u64,
                Some(_) => {
                    return Err(RuntimeError::ManifestInvalid(format!(
                        "indicators[{i}].clauses 不是数组 / indicators[{i}].clauses is not an array"
                    )));
                }
            }
        }
        let count = |n: u64, what: &str| {
            u32::try_from(n).map_err(|_| {
                RuntimeError::ManifestInvalid(format!("{what} 过多 / too many {what}"))
            })
        };
        let abi_major = match manifest
            .get("abi_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(v) if (1..=u64::from(crate::manifest::ABI_V2)).contains(&v) => v as u32,
            other => {
                return Err(RuntimeError::ManifestVersionMismatch {
                    field: "abi_version",
                    found: other.map_or(-1, |v| v as i64),
                });
            }
        };
        let abi_minor = match manifest.get("abi_minor") {
            None => 0,
            Some(v) => match v.as_u64() {
                Some(m) if m <= u64::from(crate::manifest::ABI_MINOR) => m as u32,
                _ => {
                    return Err(RuntimeError::ManifestVersionMismatch {
                        field: "abi_minor",
                        found: v.as_i64().unwrap_or(-1),
                    });
                }
            },
        };
        Ok(Self {
            fields: count(fields.len() as u64, "fields")?,
            indicators: count(indicators.len() as u64, "indicators")?,
            clauses: count(clauses, "clauses")?,
            abi_major,
            abi_minor,
        })
    }
}

/// What the static checks learnt about a module that passed them.
#[derive(Debug)]
pub(super) struct Inspected {
    pub manifest_json: Vec<u8>,
    /// The `kaohe-selftest` section, if the module carries one.
    pub self_test: Option<Vec<u8>>,
    pub counts: Counts,
    /// `limits.wasm_fuel_per_unit` from the manifest, if it names one.
    pub wasm_fuel_per_unit: Option<u64>,
}

/// Caps the static checks enforce.
pub(super) struct StaticCaps {
    pub memory_bytes: u64,
    pub table_elements: u64,
}

/// Runs the static checks. `wasm` must already have passed
/// `wasmtime::Module::validate`, so parse errors here are not expected but
/// are still reported, never panicked on.
pub(super) fn inspect(wasm: &[u8], caps: &StaticCaps) -> Result<Inspected, RuntimeError> {
    let not_a_module = |e: wasmparser::BinaryReaderError| RuntimeError::NotAModule(e.to_string());
    let mut types: Vec<Option<FuncType>> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut memories: Vec<(bool, bool, u64)> = Vec::new(); // (memory64, shared, initial pages)
    let mut tables: Vec<u64> = Vec::new();
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
    let mut manifests: Vec<Vec<u8>> = Vec::new();
    let mut self_tests: Vec<Vec<u8>> = Vec::new();

    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(not_a_module)? {
            Payload::ImportSection(reader) => {
                // Refuse on the first import: the pack may not import anything.
                if let Some(import) = reader.into_imports().next() {
                    let import = import.map_err(not_a_module)?;
                    return Err(RuntimeError::ImportNotAllowed {
                        module: import.module.to_owned(),
                        name: import.name.to_owned(),
                    });
                }
            }
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.map_err(not_a_module)?.into_types() {
                        types.push(match sub.composite_type.inner {
                            CompositeInnerType::Func(f) => Some(f),
                            _ => None,
                        });
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    func_types.push(ty.map_err(not_a_module)?);
                }
            }
            Payload::MemorySection(reader) => {
                for mem in reader {
                    let mem = mem.map_err(not_a_module)?;
                    memories.push((mem.memory64, mem.shared, mem.initial));
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    tables.push(table.map_err(not_a_module)?.ty.initial);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let e = export.map_err(not_a_module)?;
                    exports.push((e.name.to_owned(), e.kind, e.index));
                }
            }
            Payload::CustomSection(reader) if reader.name() == MANIFEST_SECTION => {
                manifests.push(reader.data().to_vec());
            }
            Payload::CustomSection(reader) if reader.name() == SELF_TEST_SECTION => {
                self_tests.push(reader.data().to_vec());
            }
            _ => {}
        }
    }

    // Memory: exactly one, 32-bit, unshared, its minimum within the cap.
    let [(memory64, shared, initial_pages)] = memories[..] else {
        return Err(RuntimeError::Unsupported(format!(
            "需要恰好一个内存，实有 {} 个 / exactly one memory is required, found {}",
            memories.len(),
            memories.len()
        )));
    };
    if memory64 || shared {
        return Err(RuntimeError::Unsupported(
            "内存须为 32 位且不共享 / the memory must be 32-bit and unshared".to_owned(),
        ));
    }
    let declared_bytes = initial_pages.saturating_mul(WASM_PAGE);
    if declared_bytes > caps.memory_bytes {
        return Err(RuntimeError::MemoryTooLarge {
            declared_bytes,
            cap_bytes: caps.memory_bytes,
        });
    }
    // Tables: at most one, its minimum within the cap.
    if tables.len() > 1 {
        return Err(RuntimeError::Unsupported(format!(
            "至多一个表，实有 {} 个 / at most one table is allowed, found {}",
            tables.len(),
            tables.len()
        )));
    }
    if let Some(&elements) = tables.first()
        && elements > caps.table_elements
    {
        return Err(RuntimeError::TableTooLarge {
            elements,
            cap: caps.table_elements,
        });
    }

    check_exports(&exports, &types, &func_types)?;

    let manifest_json = match manifests.len() {
        0 => return Err(RuntimeError::ManifestMissing),
        1 => manifests.pop().unwrap_or_default(),
        n => {
            return Err(RuntimeError::ManifestInvalid(format!(
                "须恰好一个 {MANIFEST_SECTION} 段，实有 {n} 个 / exactly one {MANIFEST_SECTION} section is required, found {n}"
            )));
        }
    };
    if self_tests.len() > 1 {
        return Err(RuntimeError::Unsupported(format!(
            "至多一个 {SELF_TEST_SECTION} 段，实有 {} 个 / at most one {SELF_TEST_SECTION} section is allowed, found {}",
            self_tests.len(),
            self_tests.len()
        )));
    }
    let (counts, wasm_fuel_per_unit) = check_manifest(&manifest_json)?;
    Ok(Inspected {
        manifest_json,
        self_test: self_tests.pop(),
        counts,
        wasm_fuel_per_unit,
    })
}

/// The exports the ABI requires (ABI.md §1) and their exact function types.
const REQUIRED_FUNCS: [(&str, &[ValType], &[ValType], &str); 4] = [
    ("kaohe_abi_version", &[], &[ValType::I32], "() -> i32"),
    (
        "kaohe_alloc",
        &[ValType::I32],
        &[ValType::I32],
        "(i32) -> i32",
    ),
    (
        "kaohe_evaluate",
        &[ValType::I32, ValType::I32],
        &[ValType::I64],
        "(i32, i32) -> i64",
    ),
    (
        "kaohe_finalise",
        &[ValType::I32, ValType::I32],
        &[ValType::I64],
        "(i32, i32) -> i64",
    ),
];

fn check_exports(
    exports: &[(String, ExternalKind, u32)],
    types: &[Option<FuncType>],
    func_types: &[u32],
) -> Result<(), RuntimeError> {
    let find = |name: &str| exports.iter().find(|(n, _, _)| n == name);
    match find("memory") {
        None => return Err(RuntimeError::MissingExport { name: "memory" }),
        Some((_, ExternalKind::Memory, _)) => {}
        Some((_, kind, _)) => {
            return Err(RuntimeError::WrongExportType {
                name: "memory",
                expected: "memory",
                found: format!("{kind:?}"),
            });
        }
    }
    for (name, params, results, expected) in REQUIRED_FUNCS {
        let Some((_, kind, index)) = find(name) else {
            return Err(RuntimeError::MissingExport { name });
        };
        let wrong = |found: String| RuntimeError::WrongExportType {
            name,
            expected,
            found,
        };
        if !matches!(kind, ExternalKind::Func | ExternalKind::FuncExact) {
            return Err(wrong(format!("{kind:?}")));
        }
        // No imports, so function indices are the defined functions.
        let ty = func_types
            .get(*index as usize)
            .and_then(|t| types.get(*t as usize))
            .and_then(Option::as_ref)
            .ok_or_else(|| wrong("未知类型 / unknown type".to_owned()))?;
        if ty.params() != params || ty.results() != results {
            return Err(wrong(ty.to_string()));
        }
    }
    Ok(())
}

/// Checks the manifest is one UTF-8 JSON object with `manifest_version ==
/// 1`, an `abi_version` of 1 or 2 and an `abi_minor` this code speaks, and
/// reads what the runtime needs from it.
fn check_manifest(json: &[u8]) -> Result<(Counts, Option<u64>), RuntimeError> {
    let text = std::str::from_utf8(json)
        .map_err(|e| RuntimeError::ManifestInvalid(format!("不是 UTF-8 / not UTF-8: {e}")))?;
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| RuntimeError::ManifestInvalid(format!("不是 JSON / not JSON: {e}")))?;
    if !value.is_object() {
        return Err(RuntimeError::ManifestInvalid(
            "不是 JSON 对象 / not a JSON object".to_owned(),
        ));
    }
    for (field, speaks) in [
        (
            "abi_version",
            crate::manifest::ABI_V1..=crate::manifest::ABI_V2,
        ),
        ("manifest_version", 1..=1),
    ] {
        let found = value
            .get(field)
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| {
                RuntimeError::ManifestInvalid(format!(
                    "缺少整数 {field} / missing integer `{field}`"
                ))
            })?;
        if !(i64::from(*speaks.start())..=i64::from(*speaks.end())).contains(&found) {
            return Err(RuntimeError::ManifestVersionMismatch { field, found });
        }
    }
    let counts = Counts::from_manifest(&value)?;
    let fuel = match value.get("limits").and_then(|l| l.get("wasm_fuel_per_unit")) {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            RuntimeError::ManifestInvalid(
                "limits.wasm_fuel_per_unit 须为非负整数 / limits.wasm_fuel_per_unit must be a non-negative integer"
                    .to_owned(),
            )
        })?),
    };
    Ok((counts, fuel))
}
