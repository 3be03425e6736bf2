//! Formulas (`when`, `amount`, `score`): lexer, parser, type checker and the
//! checked expression tree the interpreter and the compiler consume.
//!
//! The checked tree mirrors the source one to one (parentheses aside): no
//! folding, no rewriting, so its node count is the formula's rubric-fuel cost
//! and both back ends see the same operations in the same order.
//!
//! Layout:
//! - here: the checked tree ([`Formula`], [`Expr`], [`BinOp`]), the scope a
//!   formula is checked in, and `compile_formula`, which runs the three
//!   stages in order;
//! - `lex`: text → tokens;
//! - `parse`: tokens → untyped tree (and the reserved words);
//! - `typecheck`: untyped tree → [`Expr`].

mod lex;
mod parse;
mod typecheck;

pub(crate) use parse::RESERVED;

use lex::lex;
use parse::Parser;
use typecheck::check;

use super::error::{CompileError, TypeName};
use crate::manifest::FieldType;

/// Deepest nesting a formula may have (parser recursion and tree depth).
pub const MAX_DEPTH: usize = 64;

/// A checked formula.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formula {
    /// The source text.
    pub text: String,
    pub expr: Expr,
    /// Number of nodes of `expr` (ABI.md §6).
    pub nodes: u64,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    /// `round(a·b / 100)`
    Mul,
    /// `round(100·a / b)`
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

/// A checked expression. Values are hundredths (numbers), booleans, or the
/// index of a choice; names are resolved to manifest field indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A number literal, in hundredths.
    Num(i64),
    /// `true` / `false`.
    Bool(bool),
    /// A text literal compared with a choice field: the index of the choice.
    Choice(u32),
    /// The value of a field (its default when not supplied).
    Field(usize),
    /// `present(f)`: whether the field was supplied.
    Present(usize),
    /// `-a`
    Neg(Box<Expr>),
    /// `not a`
    Not(Box<Expr>),
    /// `a op b`; both operands are always evaluated, left first.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `if c then a else b`; only the taken branch is evaluated.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `min(a, b, …)`, arguments left to right.
    Min(Vec<Expr>),
    /// `max(a, b, …)`, arguments left to right.
    Max(Vec<Expr>),
    /// `clamp(x, lo, hi)` = `max(lo, min(x, hi))`, arguments left to right.
    Clamp(Box<Expr>, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Node count: 1 for this node plus the nodes of its operands.
    pub fn nodes(&self) -> u64 {
        1 + match self {
            Expr::Num(_) | Expr::Bool(_) | Expr::Choice(_) | Expr::Field(_) | Expr::Present(_) => 0,
            Expr::Neg(a) | Expr::Not(a) => a.nodes(),
            Expr::Binary(_, a, b) => a.nodes() + b.nodes(),
            Expr::If(c, a, b) | Expr::Clamp(c, a, b) => c.nodes() + a.nodes() + b.nodes(),
            Expr::Min(v) | Expr::Max(v) => v.iter().map(Expr::nodes).sum(),
        }
    }

    /// Calls `f` on every field this expression reads as a value (not
    /// through `present`).
    pub fn for_each_read(&self, f: &mut impl FnMut(usize)) {
        match self {
            Expr::Field(i) => f(*i),
            Expr::Num(_) | Expr::Bool(_) | Expr::Choice(_) | Expr::Present(_) => {}
            Expr::Neg(a) | Expr::Not(a) => a.for_each_read(f),
            Expr::Binary(_, a, b) => {
                a.for_each_read(f);
                b.for_each_read(f);
            }
            Expr::If(c, a, b) | Expr::Clamp(c, a, b) => {
                c.for_each_read(f);
                a.for_each_read(f);
                b.for_each_read(f);
            }
            Expr::Min(v) | Expr::Max(v) => v.iter().for_each(|e| e.for_each_read(f)),
        }
    }
}

/// What the type checker needs to know about a field.
#[derive(Debug, Clone)]
pub(crate) struct FieldSig {
    pub id: String,
    pub kind: FieldType,
    pub method: usize,
    pub has_default: bool,
    pub choices: Vec<String>,
}

/// Names visible to a formula.
pub(crate) struct Scope<'a> {
    pub fields: &'a [FieldSig],
    pub methods: &'a [String],
    /// The indicator's method.
    pub method: usize,
}

/// A formula error at a byte offset inside the formula text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FormulaError {
    pub offset: usize,
    pub error: CompileError,
}

/// The static type of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Num,
    Bool,
    Choice(usize),
    Text,
}

/// Parses and type-checks `text`, which must have type `want`.
pub(crate) fn compile_formula(
    text: &str,
    want: Ty,
    scope: &Scope<'_>,
) -> Result<Formula, FormulaError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        at: 0,
        text_len: text.len(),
    };
    let tree = p.expr(0)?;
    if let Some((_, span)) = p.peek_span() {
        return Err(syntax(
            span.start,
            "多余的内容（unexpected text after the formula）",
        ));
    }
    let (expr, ty) = check(&tree, scope)?;
    if ty != want {
        return Err(FormulaError {
            offset: 0,
            error: CompileError::TypeMismatch {
                context: "公式结果（formula result）".into(),
                expected: type_name(want, scope),
                found: type_name(ty, scope),
            },
        });
    }
    let nodes = expr.nodes();
    Ok(Formula {
        text: text.to_string(),
        expr,
        nodes,
    })
}

fn type_name(t: Ty, scope: &Scope<'_>) -> TypeName {
    match t {
        Ty::Num => TypeName::Number,
        Ty::Bool => TypeName::Bool,
        Ty::Choice(f) => TypeName::Choice(
            scope
                .fields
                .get(f)
                .map(|f| f.id.clone())
                .unwrap_or_default(),
        ),
        Ty::Text => TypeName::Text,
    }
}

fn syntax(offset: usize, message: &str) -> FormulaError {
    FormulaError {
        offset,
        error: CompileError::FormulaSyntax {
            message: message.to_string(),
            column: 0,
        },
    }
}

#[cfg(test)]
mod tests;
