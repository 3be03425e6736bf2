//! Why the runtime refused a pack or a call: one variant per cause, each
//! message in Chinese then English, each naming what an official or a pack
//! author can act on.

use std::time::Duration;

/// A batch-level refusal returned by the pack itself (ABI.md §5): the pack
/// ran fine and said the input is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadInputCode {
    /// `-1`: the header does not start with the expected magic.
    BadMagic,
    /// `-2`: the header names another ABI version.
    WrongAbiVersion,
    /// `-3`: the input length does not match the counts in the header.
    LengthMismatch,
    /// `-4`: the counts in the header disagree with the manifest.
    CountsMismatch,
    /// `-5`: the pack ran out of memory for this batch.
    OutOfMemory,
}

impl BadInputCode {
    /// The ABI code for a negative return value, `None` if the ABI defines
    /// no such code.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            -1 => Some(Self::BadMagic),
            -2 => Some(Self::WrongAbiVersion),
            -3 => Some(Self::LengthMismatch),
            -4 => Some(Self::CountsMismatch),
            -5 => Some(Self::OutOfMemory),
            _ => None,
        }
    }

    /// The negative number the pack returned.
    pub fn code(self) -> i64 {
        match self {
            Self::BadMagic => -1,
            Self::WrongAbiVersion => -2,
            Self::LengthMismatch => -3,
            Self::CountsMismatch => -4,
            Self::OutOfMemory => -5,
        }
    }

    /// What the code means, in Chinese then English.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::BadMagic => "输入头标识错误 / bad magic",
            Self::WrongAbiVersion => "输入头 ABI 版本不符 / wrong ABI version",
            Self::LengthMismatch => "输入长度与计数不符 / length does not match the counts",
            Self::CountsMismatch => "计数与清单不符 / counts disagree with the manifest",
            Self::OutOfMemory => "规则包内存不足 / the pack is out of memory",
        }
    }
}

/// Everything that can go wrong loading a pack or calling it.
///
/// Load-time variants mean the pack can never be used; call-time variants
/// refer to one batch only. After any of them the [`Runtime`](super::Runtime)
/// and every other loaded pack keep working.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime configuration is inconsistent (a bug in the caller).
    #[error("运行时配置无效 / invalid runtime configuration: {0}")]
    Config(String),
    /// The module cache directory cannot be trusted or used.
    #[error("模块缓存目录不可用 / module cache directory unusable: {0}")]
    Cache(String),
    /// The bytes are not a valid WebAssembly module for this runtime
    /// (includes modules using disabled proposals: threads, SIMD, memory64…).
    #[error("不是有效的 WebAssembly 模块 / not a valid WebAssembly module: {0}")]
    NotAModule(String),
    /// The module is bigger than the module size cap.
    #[error("模块过大：{size} 字节，上限 {cap} 字节 / module too large: {size} bytes, cap {cap}")]
    TooLarge { size: usize, cap: usize },
    /// The module's shape breaks a static limit that bounds compile time
    /// and memory (functions, body size, locals, …); checked before
    /// anything is compiled.
    #[error(
        "模块超出静态上限，未编译：{what} 为 {found}，上限 {cap} / the module exceeds a static limit and was not compiled: {what} is {found}, cap {cap}"
    )]
    ExceedsLimit {
        what: &'static str,
        found: u64,
        cap: u64,
    },
    /// The module imports something; packs must import nothing.
    #[error(
        "规则包不得导入任何内容，却导入了 {module}.{name} / packs may not import anything, found {module}.{name}"
    )]
    ImportNotAllowed { module: String, name: String },
    /// A required export is absent.
    #[error("缺少导出项 {name} / missing export {name}")]
    MissingExport { name: &'static str },
    /// A required export has the wrong kind or signature.
    #[error(
        "导出项 {name} 类型错误：应为 {expected}，实为 {found} / export {name} has the wrong type: expected {expected}, found {found}"
    )]
    WrongExportType {
        name: &'static str,
        expected: &'static str,
        found: String,
    },
    /// The module's shape is outside what the ABI allows (a second table,
    /// a memory that is not exported as `memory`, …).
    #[error("模块结构不受支持 / unsupported module shape: {0}")]
    Unsupported(String),
    /// The declared minimum memory already exceeds the memory cap.
    #[error(
        "声明的初始内存 {declared_bytes} 字节超过上限 {cap_bytes} 字节 / declared initial memory of {declared_bytes} bytes exceeds the cap of {cap_bytes}"
    )]
    MemoryTooLarge { declared_bytes: u64, cap_bytes: u64 },
    /// A table is declared with, or grown to, more elements than the cap.
    #[error(
        "表元素 {elements} 个超过上限 {cap} / table of {elements} elements exceeds the cap of {cap}"
    )]
    TableTooLarge { elements: u64, cap: u64 },
    /// `kaohe_abi_version` did not return the ABI word the manifest names
    /// (1 for ABI 1.0, `0x0001_0001` for 1.1).
    #[error(
        "规则包 ABI 版本为 {found:#x}，清单写明 {expected:#x} / pack ABI version is {found:#x}, its manifest names {expected:#x}"
    )]
    AbiVersionMismatch { found: i32, expected: i32 },
    /// There is no `kaohe-manifest` custom section.
    #[error(
        "缺少清单（自定义段 kaohe-manifest）/ manifest missing (custom section kaohe-manifest)"
    )]
    ManifestMissing,
    /// The manifest is not one UTF-8 JSON object with the keys the runtime reads.
    #[error("清单无效 / invalid manifest: {0}")]
    ManifestInvalid(String),
    /// The manifest declares an unsupported `abi_version`,
    /// `manifest_version` or `abi_minor`.
    #[error(
        "清单 {field} 为 {found}，本程序不支持 / manifest {field} is {found}, which this program does not support"
    )]
    ManifestVersionMismatch { field: &'static str, found: i64 },
    /// Compilation did not finish within the compile time bound.
    #[error("编译超时（上限 {bound:?}）/ compilation exceeded its time bound of {bound:?}")]
    CompileTimeout { bound: Duration },
    /// The compiler refused a validated module (e.g. an implementation limit).
    #[error("编译失败 / compilation failed: {0}")]
    Compile(String),
    /// Instantiation failed for a reason other than a trap or a limit.
    #[error("实例化失败 / instantiation failed: {0}")]
    Instantiate(String),
    /// The input does not fit into the memory cap, so no pack could take it.
    #[error(
        "输入 {len} 字节超过内存上限 {cap} 字节 / input of {len} bytes exceeds the memory cap of {cap}"
    )]
    InputTooLarge { len: usize, cap: u64 },
    /// The batch used up its wasm fuel (deterministic).
    #[error(
        "规则包燃料耗尽（计算量超过预算）/ the pack ran out of fuel (computation budget exceeded)"
    )]
    OutOfFuel,
    /// The batch hit the wall-clock epoch deadline (the backstop).
    #[error("规则包运行超时 / the pack exceeded its wall-clock deadline")]
    DeadlineExceeded,
    /// The pack tried to grow its memory beyond the cap, or could not
    /// allocate its input (`kaohe_alloc` returned a negative offset).
    #[error(
        "规则包内存超限（上限 {cap_bytes} 字节）/ the pack exceeded its memory cap of {cap_bytes} bytes"
    )]
    OutOfMemory { cap_bytes: u64 },
    /// The pack exhausted the wasm stack (usually unbounded recursion).
    #[error("规则包调用栈溢出 / the pack overflowed its call stack")]
    StackOverflow,
    /// Any other trap (unreachable, out-of-bounds access, division by zero…).
    #[error("规则包运行出错 / the pack trapped: {0}")]
    Trap(String),
    /// The pack refused the batch as malformed (ABI.md §5).
    #[error("规则包拒绝输入（代码 {}）：{} / the pack refused the input (code {}): {}", .0.code(), .0.meaning(), .0.code(), .0.meaning())]
    BadInput(BadInputCode),
    /// The pack's output breaks the ABI: pointer or length out of bounds,
    /// a length other than the counts require, an undefined status code.
    #[error("规则包输出不符合 ABI / the pack's output breaks the ABI: {0}")]
    MalformedOutput(String),
}
