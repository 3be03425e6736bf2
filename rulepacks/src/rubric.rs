//! The rubric language (RUBRIC.md): a TOML source file checked into a
//! [`CheckedRubric`] — the manifest plus the typed, name-resolved rules the
//! interpreter runs and the compiler translates.
//!
//! Layout:
//! - `reader`: typed access to the spanned TOML tree, unknown-key detection;
//! - `check`: tables, references, per-category points, composition, schedule;
//! - [`expr`]: formula lexer, parser, type checker and the checked tree;
//! - [`error`]: compile errors with file, line and column.
//!
//! Exact decimal literals in hundredths are [`crate::decimal`], re-exported
//! here as `rubric::decimal` (the path hub and node use): the manifest's
//! loss reasons format hundredths too, and the manifest sits below the
//! rubric.

mod check;
pub use crate::decimal;
pub mod error;
pub mod expr;
pub(crate) mod reader;

use std::path::Path;

pub use check::DEFAULT_FUEL_PER_UNIT;
pub(crate) use check::field_value;
pub use error::{CompileError, Diagnostic, Diagnostics};
pub use expr::{BinOp, Expr, Formula};

use crate::manifest::{Flag, IndicatorKind, Manifest};

/// A rubric that compiled: the manifest and, parallel to
/// `manifest.indicators`, the checked rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRubric {
    pub manifest: Manifest,
    pub indicators: Vec<CheckedIndicator>,
}

impl CheckedRubric {
    /// The same rubric compiled to another ABI major version
    /// ([`crate::manifest::ABI_V1`] or [`crate::manifest::ABI_V2`]): the
    /// manifest names it, so the compiler emits and the interpreter answers
    /// its layouts. `kaohe pack build` emits the newest; ABI 1 is kept to
    /// compare with, and to rebuild an earlier year's pack as it was.
    pub fn with_abi(mut self, abi_version: u32) -> CheckedRubric {
        self.manifest.abi_version = abi_version;
        self
    }
}

/// One indicator's checked rule, with every name resolved to an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedIndicator {
    /// Index into `manifest.methods`.
    pub method: usize,
    /// Index into `manifest.groups`.
    pub group: usize,
    pub kind: IndicatorKind,
    pub rule: Rule,
    /// Rubric fuel per evaluation: 1 + the node count of every formula
    /// (ABI.md §6).
    pub fuel_cost: u64,
    /// Fields read as values by any of its formulas (ascending, no
    /// duplicates); with `missing = "refuse"` they are required whenever the
    /// indicator is evaluated.
    pub reads: Vec<usize>,
    /// ABI index of its first clause.
    pub first_clause: usize,
}

/// How an indicator gets its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Scored: `clamp(points − Σ fired amounts, 0, points)`.
    Deductions(Vec<CheckedClause>),
    /// Scored: `clamp(score, 0, points)`.
    Score(Formula),
    /// Bonus or penalty: `min(Σ fired amounts, points)`.
    Awards(Vec<CheckedClause>),
    /// Flag: 100 when `when` holds, else 0.
    Flag { when: Formula, flag: Flag },
}

/// A deduction or award clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedClause {
    pub when: Formula,
    /// `None`: the indicator's points for the unit's category.
    pub amount: Option<Formula>,
}

impl Rule {
    /// Every formula of the rule, in evaluation order (clause by clause,
    /// `when` before `amount`).
    pub fn for_each_formula(&self, f: &mut impl FnMut(&Formula)) {
        match self {
            Rule::Deductions(cs) | Rule::Awards(cs) => {
                for c in cs {
                    f(&c.when);
                    if let Some(a) = &c.amount {
                        f(a);
                    }
                }
            }
            Rule::Score(s) => f(s),
            Rule::Flag { when, .. } => f(when),
        }
    }

    /// Every formula's expression.
    pub fn for_each_expr(&self, f: &mut impl FnMut(&Expr)) {
        self.for_each_formula(&mut |x| f(&x.expr));
    }

    /// Rubric fuel per evaluation (ABI.md §6): 1 + the nodes of every formula.
    pub fn fuel_cost(&self) -> u64 {
        let mut n = 1;
        self.for_each_formula(&mut |f| n += f.nodes);
        n
    }

    /// The clauses (deductions or awards), if any.
    pub fn clauses(&self) -> &[CheckedClause] {
        match self {
            Rule::Deductions(cs) | Rule::Awards(cs) => cs,
            Rule::Score(_) | Rule::Flag { .. } => &[],
        }
    }
}

/// Compiles rubric source text. `file` is the name used in diagnostics.
pub fn compile(file: &str, source: &str) -> Result<CheckedRubric, Diagnostics> {
    let mut ctx = reader::Ctx::new(file, source);
    let root = match toml::de::DeTable::parse(source) {
        Ok(t) => t,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            ctx.err(
                &span,
                CompileError::Toml {
                    message: e.message().trim().to_string(),
                },
            );
            return Err(finish(ctx));
        }
    };
    match check::check(&mut ctx, root.get_ref()) {
        Some(r) if ctx.diags.is_empty() => Ok(r),
        _ => Err(finish(ctx)),
    }
}

pub(crate) fn finish(mut ctx: reader::Ctx<'_>) -> Diagnostics {
    ctx.diags.sort_by_key(|(at, _)| *at);
    Diagnostics(ctx.diags.into_iter().map(|(_, d)| d).collect())
}

/// Why a rubric file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("无法读取 {path}（cannot read the rubric）：{source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Compile(#[from] Diagnostics),
}

/// The rubric file `path` names: the file itself, or the `rubric.toml` of a
/// pack directory (`rulepacks/baofeng-2022`), as an official would type it.
pub fn file_of(path: &Path) -> std::path::PathBuf {
    if path.is_dir() {
        path.join("rubric.toml")
    } else {
        path.to_path_buf()
    }
}

/// Reads and compiles a rubric file (or a pack directory's, [`file_of`]).
pub fn load(path: &Path) -> Result<CheckedRubric, LoadError> {
    let path = file_of(path);
    let source = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(compile(&path.display().to_string(), &source)?)
}
