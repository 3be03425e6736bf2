//! Formulas (`when`, `amount`, `score`): lexer, parser, type checker and the
//! checked expression tree the interpreter and the compiler consume.
//!
//! The checked tree mirrors the source one to one (parentheses aside): no
//! folding, no rewriting, so its node count is the formula's rubric-fuel cost
//! and both back ends see the same operations in the same order.

use std::ops::Range;

use super::decimal::parse_hundredths;
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

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Num(i64),
    Text(String),
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
    LParen,
    RParen,
    Comma,
    Lt,
    Le,
    Gt,
    Ge,
    EqEq,
    Ne,
}

fn lex(text: &str) -> Result<Vec<(Tok, Range<usize>)>, FormulaError> {
    let mut out = Vec::new();
    let mut it = text.char_indices().peekable();
    while let Some(&(start, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        if c.is_ascii_digit() {
            let mut end = start;
            while let Some(&(i, d)) = it.peek() {
                if d.is_ascii_digit() || d == '.' || d.is_alphanumeric() || d == '_' {
                    end = i + d.len_utf8();
                    it.next();
                } else {
                    break;
                }
            }
            let lit = &text[start..end];
            let ok_shape = {
                let (i, f) = lit.split_once('.').unwrap_or((lit, "0"));
                !i.is_empty()
                    && !f.is_empty()
                    && i.bytes().all(|b| b.is_ascii_digit())
                    && f.bytes().all(|b| b.is_ascii_digit())
            };
            if !ok_shape {
                return Err(syntax(
                    start,
                    &format!("无法识别的数字 `{lit}`（malformed number）"),
                ));
            }
            let v = parse_hundredths(lit).map_err(|reason| FormulaError {
                offset: start,
                error: CompileError::BadLiteral {
                    text: lit.to_string(),
                    reason,
                },
            })?;
            out.push((Tok::Num(v), start..end));
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let mut end = start;
            while let Some(&(i, d)) = it.peek() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    end = i + 1;
                    it.next();
                } else {
                    break;
                }
            }
            out.push((Tok::Ident(text[start..end].to_string()), start..end));
            continue;
        }
        let close = match c {
            '"' => Some('"'),
            '\'' => Some('\''),
            '“' => Some('”'),
            '‘' => Some('’'),
            _ => None,
        };
        if let Some(close) = close {
            it.next();
            let body_start = start + c.len_utf8();
            let mut end = None;
            for (i, d) in it.by_ref() {
                if d == close {
                    end = Some(i);
                    break;
                }
            }
            let Some(end) = end else {
                return Err(syntax(start, "文本缺少结束引号（unterminated text）"));
            };
            out.push((
                Tok::Text(text[body_start..end].to_string()),
                start..end + close.len_utf8(),
            ));
            continue;
        }
        it.next();
        let next = it.peek().map(|&(_, d)| d);
        let (tok, len) = match (c, next) {
            ('+', _) => (Tok::Plus, 1),
            ('-', _) => (Tok::Minus, 1),
            ('*', _) => (Tok::Star, 1),
            ('/', _) => (Tok::Slash, 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            (',', _) => (Tok::Comma, 1),
            ('<', Some('=')) => (Tok::Le, 2),
            ('<', _) => (Tok::Lt, 1),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('>', _) => (Tok::Gt, 1),
            ('=', Some('=')) => (Tok::EqEq, 2),
            ('!', Some('=')) => (Tok::Ne, 2),
            ('=', _) => {
                return Err(syntax(
                    start,
                    "单个 `=` 不是比较；相等请写 `==`（use `==` to compare）",
                ));
            }
            ('!', _) => return Err(syntax(start, "取反请写 `not`（use `not`）")),
            ('&', _) => return Err(syntax(start, "并且请写 `and`（use `and`）")),
            ('|', _) => return Err(syntax(start, "或者请写 `or`（use `or`）")),
            ('≤' | '≥' | '≠', _) => {
                return Err(syntax(
                    start,
                    "请用 `<=`、`>=`、`!=`（use ASCII comparison operators）",
                ));
            }
            (
                '（' | '）' | '，' | '＋' | '－' | '×' | '÷' | '＊' | '／' | '＜' | '＞' | '＝',
                _,
            ) => {
                return Err(syntax(
                    start,
                    &format!("全角符号 `{c}`，请改用半角（full-width symbol; use ASCII）"),
                ));
            }
            _ => {
                return Err(syntax(
                    start,
                    &format!("无法识别的字符 `{c}`（unexpected character）"),
                ));
            }
        };
        if len == 2 {
            it.next();
        }
        out.push((tok, start..start + len));
    }
    Ok(out)
}

// ---------------------------------------------------------------- parser

/// Untyped parse tree.
#[derive(Debug, Clone)]
struct PExpr {
    kind: PKind,
    span: Range<usize>,
    depth: usize,
}

#[derive(Debug, Clone)]
enum PKind {
    Num(i64),
    Text(String),
    Bool(bool),
    Name(String),
    Call(String, Vec<PExpr>),
    Neg(Box<PExpr>),
    Not(Box<PExpr>),
    Binary(BinOp, Box<PExpr>, Box<PExpr>),
    If(Box<PExpr>, Box<PExpr>, Box<PExpr>),
}

const KEYWORDS: [&str; 8] = ["if", "then", "else", "and", "or", "not", "true", "false"];
/// Words a field id may not be.
pub(crate) const RESERVED: [&str; 12] = [
    "if", "then", "else", "and", "or", "not", "true", "false", "min", "max", "clamp", "present",
];

struct Parser {
    tokens: Vec<(Tok, Range<usize>)>,
    at: usize,
    text_len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    fn peek_span(&self) -> Option<(&Tok, Range<usize>)> {
        self.tokens.get(self.at).map(|(t, s)| (t, s.clone()))
    }

    fn here(&self) -> usize {
        self.tokens
            .get(self.at)
            .map(|(_, s)| s.start)
            .unwrap_or(self.text_len)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == w)
    }

    fn expect_word(&mut self, w: &str) -> Result<(), FormulaError> {
        if self.is_word(w) {
            self.at += 1;
            Ok(())
        } else {
            Err(syntax(
                self.here(),
                &format!("此处应为 `{w}`（expected `{w}`）"),
            ))
        }
    }

    fn node(kind: PKind, span: Range<usize>, children: &[&PExpr]) -> Result<PExpr, FormulaError> {
        let depth = 1 + children.iter().map(|c| c.depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(syntax(
                span.start,
                "公式嵌套过深（formula nested too deeply, at most 64 levels）",
            ));
        }
        Ok(PExpr { kind, span, depth })
    }

    fn guard(&self, level: usize) -> Result<(), FormulaError> {
        if level > MAX_DEPTH {
            Err(syntax(
                self.here(),
                "公式嵌套过深（formula nested too deeply, at most 64 levels）",
            ))
        } else {
            Ok(())
        }
    }

    fn expr(&mut self, level: usize) -> Result<PExpr, FormulaError> {
        self.guard(level)?;
        if self.is_word("if") {
            return self.if_expr(level);
        }
        self.or_expr(level)
    }

    fn if_expr(&mut self, level: usize) -> Result<PExpr, FormulaError> {
        let start = self.here();
        self.expect_word("if")?;
        let c = self.expr(level + 1)?;
        self.expect_word("then")?;
        let a = self.expr(level + 1)?;
        self.expect_word("else")?;
        let b = self.expr(level + 1)?;
        let span = start..b.span.end;
        let depth = 1 + c.depth.max(a.depth).max(b.depth);
        if depth > MAX_DEPTH {
            return Err(syntax(
                start,
                "公式嵌套过深（formula nested too deeply, at most 64 levels）",
            ));
        }
        Ok(PExpr {
            kind: PKind::If(Box::new(c), Box::new(a), Box::new(b)),
            span,
            depth,
        })
    }

    fn binary_chain(
        &mut self,
        level: usize,
        next: fn(&mut Parser, usize) -> Result<PExpr, FormulaError>,
        op_of: fn(&Tok) -> Option<BinOp>,
    ) -> Result<PExpr, FormulaError> {
        let mut left = next(self, level)?;
        while let Some(op) = self.peek().and_then(op_of) {
            self.at += 1;
            let right = next(self, level)?;
            let span = left.span.start..right.span.end;
            let children = [&left, &right];
            let depth = 1 + children.iter().map(|c| c.depth).max().unwrap_or(0);
            if depth > MAX_DEPTH {
                return Err(syntax(
                    span.start,
                    "公式嵌套过深（formula nested too deeply, at most 64 levels）",
                ));
            }
            left = PExpr {
                kind: PKind::Binary(op, Box::new(left), Box::new(right)),
                span,
                depth,
            };
        }
        Ok(left)
    }

    fn or_expr(&mut self, level: usize) -> Result<PExpr, FormulaError> {
        self.binary_chain(level, Parser::and_expr, |t| match t {
            Tok::Ident(s) if s == "or" => Some(BinOp::Or),
            _ => None,
        })
    }

    fn and_expr(&mut self, level: usize) -> Result<PExpr, FormulaError> {
        self.binary_chain(level, Parser::not_expr, |t| match t {
            Tok::Ident(s) if s == "and" => Some(BinOp::And),
            _ => None,
        })
    }

    fn not_expr(&mut self, level: usize) -> Result<PExpr, FormulaError> {
        if self.is_word("not") {
            let start = self.here();
            self.at += 1;
            self.guard(level + 1)?;
            let a = self.not_expr(level + 1)?;
            let span = start..a.span.end;
            let depth = a.depth + 1;
            if depth > MAX_DEPTH {
                return Err(syntax(
                    start,
                    "公式嵌套过深（formula nested too deeply, at most 64 levels）",
                ));
            }
            return Ok(PExpr {
                kind: PKind::Not(Box::new(a)),
                span,
                depth,
            });
        }
        self.cmp_expr(level)
    }

    fn cmp_expr(&mut self, level: usize) -> Result<PExpr, FormulaError> {
        let left = self.add_expr(level)?;
        let Some(op) = self.peek().and_then(cmp_op) else {
            return Ok(left);
        };
        self.at += 1;
        let right = self.add_expr(level)?;
        if self.peek().and_then(cmp_op).is_some() {
            return Err(syntax(
                self.here(),
                "比较不能连写，请用 and 连接（comparisons cannot be chained; join them with `and`）",
            ));
        }
        let span = left.span.start..right.span.end;
        let depth = 1 + left.depth.max(right.depth);
        if depth > MAX_DEPTH {
            return Err(syntax(
                span.start,
                "公式嵌套过深（formula nested too deeply, at most 64 levels）",
            ));
        }
        Ok(PExpr {
            kind: PKind::Binary(op, Box::new(left), Box::new(right)),
            span,
            depth,
        })
    }

    fn add_expr(&mut self, level: usize) -> Result<PExpr, FormulaError> {
        self.binary_chain(level, Parser::mul_expr, |t| match t {
            Tok::Plus => Some(BinOp::Add),
            Tok::Minus => Some(BinOp::Sub),
            _ => None,
        })
    }

    fn mul_expr(&mut self, level: usize) -> Result<PExpr, FormulaError> {
        self.binary_chain(level, Parser::unary, |t| match t {
            Tok::Star => Some(BinOp::Mul),
            Tok::Slash => Some(BinOp::Div),
            _ => None,
        })
    }

    fn unary(&mut self, level: usize) -> Result<PExpr, FormulaError> {
        if self.peek() == Some(&Tok::Minus) {
            let start = self.here();
            self.at += 1;
            self.guard(level + 1)?;
            let a = self.unary(level + 1)?;
            let span = start..a.span.end;
            let depth = a.depth + 1;
            if depth > MAX_DEPTH {
                return Err(syntax(
                    start,
                    "公式嵌套过深（formula nested too deeply, at most 64 levels）",
                ));
            }
            return Ok(PExpr {
                kind: PKind::Neg(Box::new(a)),
                span,
                depth,
            });
        }
        self.primary(level)
    }

    fn primary(&mut self, level: usize) -> Result<PExpr, FormulaError> {
        let Some((tok, span)) = self.peek_span() else {
            return Err(syntax(
                self.text_len,
                "公式不完整（formula ends too early）",
            ));
        };
        let tok = tok.clone();
        match tok {
            Tok::Num(v) => {
                self.at += 1;
                Self::node(PKind::Num(v), span, &[])
            }
            Tok::Text(s) => {
                self.at += 1;
                Self::node(PKind::Text(s), span, &[])
            }
            Tok::LParen => {
                self.at += 1;
                let e = self.expr(level + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(syntax(self.here(), "缺少右括号 `)`（expected `)`）"));
                }
                self.at += 1;
                Ok(e)
            }
            Tok::Ident(w) if w == "if" => self.if_expr(level + 1),
            Tok::Ident(w) if w == "true" || w == "false" => {
                self.at += 1;
                Self::node(PKind::Bool(w == "true"), span, &[])
            }
            Tok::Ident(w) if KEYWORDS.contains(&w.as_str()) => Err(syntax(
                span.start,
                &format!("此处不能出现关键字 `{w}`（unexpected keyword）"),
            )),
            Tok::Ident(name) => {
                self.at += 1;
                if self.peek() != Some(&Tok::LParen) {
                    return Self::node(PKind::Name(name), span, &[]);
                }
                self.at += 1;
                let mut args = Vec::new();
                if self.peek() != Some(&Tok::RParen) {
                    loop {
                        args.push(self.expr(level + 1)?);
                        match self.peek() {
                            Some(Tok::Comma) => self.at += 1,
                            Some(Tok::RParen) => break,
                            _ => {
                                return Err(syntax(
                                    self.here(),
                                    "此处应为 `,` 或 `)`（expected `,` or `)`）",
                                ));
                            }
                        }
                    }
                }
                let end = self.tokens[self.at].1.end;
                self.at += 1;
                let refs: Vec<&PExpr> = args.iter().collect();
                let depth = 1 + refs.iter().map(|c| c.depth).max().unwrap_or(0);
                if depth > MAX_DEPTH {
                    return Err(syntax(
                        span.start,
                        "公式嵌套过深（formula nested too deeply, at most 64 levels）",
                    ));
                }
                Ok(PExpr {
                    kind: PKind::Call(name, args),
                    span: span.start..end,
                    depth,
                })
            }
            _ => Err(syntax(
                span.start,
                "此处应为数值、字段名或 `(`（expected a value）",
            )),
        }
    }
}

fn cmp_op(t: &Tok) -> Option<BinOp> {
    match t {
        Tok::Lt => Some(BinOp::Lt),
        Tok::Le => Some(BinOp::Le),
        Tok::Gt => Some(BinOp::Gt),
        Tok::Ge => Some(BinOp::Ge),
        Tok::EqEq => Some(BinOp::Eq),
        Tok::Ne => Some(BinOp::Ne),
        _ => None,
    }
}

// ---------------------------------------------------------------- checker

fn mismatch(at: &PExpr, context: &str, expected: Ty, found: Ty, scope: &Scope<'_>) -> FormulaError {
    FormulaError {
        offset: at.span.start,
        error: CompileError::TypeMismatch {
            context: context.to_string(),
            expected: type_name(expected, scope),
            found: type_name(found, scope),
        },
    }
}

fn resolve_field(name: &str, at: &PExpr, scope: &Scope<'_>) -> Result<usize, FormulaError> {
    let Some(i) = scope.fields.iter().position(|f| f.id == name) else {
        return Err(FormulaError {
            offset: at.span.start,
            error: CompileError::UnknownField {
                name: name.to_string(),
            },
        });
    };
    let f = &scope.fields[i];
    // A field whose own method is unknown has already been reported; do not
    // cascade into "field of another method" errors.
    if f.method != scope.method && f.method != usize::MAX {
        let m = |i: usize| scope.methods.get(i).cloned().unwrap_or_default();
        return Err(FormulaError {
            offset: at.span.start,
            error: CompileError::ForeignMethodField {
                field: name.to_string(),
                field_method: m(f.method),
                indicator_method: m(scope.method),
            },
        });
    }
    Ok(i)
}

fn want(e: &PExpr, t: Ty, context: &str, scope: &Scope<'_>) -> Result<Expr, FormulaError> {
    let (x, ty) = check(e, scope)?;
    if ty != t {
        return Err(mismatch(e, context, t, ty, scope));
    }
    Ok(x)
}

fn check(e: &PExpr, scope: &Scope<'_>) -> Result<(Expr, Ty), FormulaError> {
    Ok(match &e.kind {
        PKind::Num(v) => (Expr::Num(*v), Ty::Num),
        PKind::Bool(b) => (Expr::Bool(*b), Ty::Bool),
        PKind::Text(_) => {
            return Err(FormulaError {
                offset: e.span.start,
                error: CompileError::TypeMismatch {
                    context: "文本只能与选项字段用 == 或 != 比较；此处".into(),
                    expected: TypeName::Number,
                    found: TypeName::Text,
                },
            });
        }
        PKind::Name(n) => {
            let i = resolve_field(n, e, scope)?;
            let ty = match scope.fields[i].kind {
                FieldType::Count | FieldType::Decimal => Ty::Num,
                FieldType::Bool => Ty::Bool,
                FieldType::Choice => Ty::Choice(i),
            };
            (Expr::Field(i), ty)
        }
        PKind::Neg(a) => (
            Expr::Neg(Box::new(want(a, Ty::Num, "`-` 的操作数", scope)?)),
            Ty::Num,
        ),
        PKind::Not(a) => (
            Expr::Not(Box::new(want(a, Ty::Bool, "`not` 的操作数", scope)?)),
            Ty::Bool,
        ),
        PKind::If(c, a, b) => {
            let c = want(c, Ty::Bool, "`if` 的条件", scope)?;
            let (xa, ta) = check(a, scope)?;
            let (xb, tb) = check(b, scope)?;
            if ta == Ty::Text {
                return Err(mismatch(a, "`then` 分支", Ty::Num, ta, scope));
            }
            if ta != tb {
                return Err(mismatch(
                    b,
                    "`else` 分支（须与 then 分支同类型）",
                    ta,
                    tb,
                    scope,
                ));
            }
            (Expr::If(Box::new(c), Box::new(xa), Box::new(xb)), ta)
        }
        PKind::Binary(op, a, b) => check_binary(*op, a, b, scope)?,
        PKind::Call(name, args) => check_call(e, name, args, scope)?,
    })
}

fn check_binary(
    op: BinOp,
    a: &PExpr,
    b: &PExpr,
    scope: &Scope<'_>,
) -> Result<(Expr, Ty), FormulaError> {
    let ctx = |side: &str| format!("`{}` 的{side}操作数", op.symbol());
    let bin = |x, y| Expr::Binary(op, Box::new(x), Box::new(y));
    Ok(match op {
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
            let x = want(a, Ty::Num, &ctx("左"), scope)?;
            let y = want(b, Ty::Num, &ctx("右"), scope)?;
            (bin(x, y), Ty::Num)
        }
        BinOp::And | BinOp::Or => {
            let x = want(a, Ty::Bool, &ctx("左"), scope)?;
            let y = want(b, Ty::Bool, &ctx("右"), scope)?;
            (bin(x, y), Ty::Bool)
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let x = want(a, Ty::Num, &ctx("左"), scope)?;
            let y = want(b, Ty::Num, &ctx("右"), scope)?;
            (bin(x, y), Ty::Bool)
        }
        BinOp::Eq | BinOp::Ne => {
            // A text literal takes its meaning from the choice field on the
            // other side.
            let (x, y) = match (&a.kind, &b.kind) {
                (PKind::Text(_), PKind::Text(_)) => {
                    return Err(mismatch(a, &ctx("左"), Ty::Num, Ty::Text, scope));
                }
                (PKind::Text(t), _) => {
                    let (y, ty) = check(b, scope)?;
                    (choice_literal(t, a, ty, b, scope)?, y)
                }
                (_, PKind::Text(t)) => {
                    let (x, tx) = check(a, scope)?;
                    (x, choice_literal(t, b, tx, a, scope)?)
                }
                _ => {
                    let (x, tx) = check(a, scope)?;
                    let (y, ty) = check(b, scope)?;
                    if tx != ty {
                        return Err(mismatch(b, &ctx("右"), tx, ty, scope));
                    }
                    (x, y)
                }
            };
            (bin(x, y), Ty::Bool)
        }
    })
}

fn choice_literal(
    text: &str,
    lit: &PExpr,
    other: Ty,
    other_expr: &PExpr,
    scope: &Scope<'_>,
) -> Result<Expr, FormulaError> {
    let Ty::Choice(f) = other else {
        return Err(FormulaError {
            offset: other_expr.span.start,
            error: CompileError::TypeMismatch {
                context: "与文本比较的操作数".into(),
                expected: TypeName::AnyChoice,
                found: type_name(other, scope),
            },
        });
    };
    let field = &scope.fields[f];
    match field.choices.iter().position(|c| c == text) {
        Some(i) => Ok(Expr::Choice(i as u32)),
        None => Err(FormulaError {
            offset: lit.span.start,
            error: CompileError::UnknownChoice {
                field: field.id.clone(),
                value: text.to_string(),
                choices: field.choices.join("、"),
            },
        }),
    }
}

fn check_call(
    e: &PExpr,
    name: &str,
    args: &[PExpr],
    scope: &Scope<'_>,
) -> Result<(Expr, Ty), FormulaError> {
    let arity = |expected: &'static str| FormulaError {
        offset: e.span.start,
        error: CompileError::WrongArity {
            function: name.to_string(),
            expected,
            found: args.len(),
        },
    };
    let nums = |args: &[PExpr]| -> Result<Vec<Expr>, FormulaError> {
        args.iter()
            .map(|a| want(a, Ty::Num, &format!("`{name}` 的参数"), scope))
            .collect()
    };
    Ok(match name {
        "min" | "max" => {
            if args.len() < 2 {
                return Err(arity("至少 2（at least 2）"));
            }
            let v = nums(args)?;
            (
                if name == "min" {
                    Expr::Min(v)
                } else {
                    Expr::Max(v)
                },
                Ty::Num,
            )
        }
        "clamp" => {
            if args.len() != 3 {
                return Err(arity("3"));
            }
            let mut v = nums(args)?.into_iter();
            match (v.next(), v.next(), v.next()) {
                (Some(x), Some(lo), Some(hi)) => (
                    Expr::Clamp(Box::new(x), Box::new(lo), Box::new(hi)),
                    Ty::Num,
                ),
                _ => return Err(arity("3")),
            }
        }
        "present" => {
            if args.len() != 1 {
                return Err(arity("1"));
            }
            let PKind::Name(f) = &args[0].kind else {
                return Err(syntax(
                    args[0].span.start,
                    "present() 的参数须为字段名（present() takes a field name）",
                ));
            };
            let i = resolve_field(f, &args[0], scope)?;
            if !scope.fields[i].has_default {
                return Err(FormulaError {
                    offset: args[0].span.start,
                    error: CompileError::PresentNeedsDefault { field: f.clone() },
                });
            }
            (Expr::Present(i), Ty::Bool)
        }
        _ => {
            return Err(FormulaError {
                offset: e.span.start,
                error: CompileError::UnknownFunction {
                    name: name.to_string(),
                },
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_fields() -> Vec<FieldSig> {
        let f = |id: &str, kind, method, has_default, choices: &[&str]| FieldSig {
            id: id.into(),
            kind,
            method,
            has_default,
            choices: choices.iter().map(|s| s.to_string()).collect(),
        };
        vec![
            f("a", FieldType::Count, 0, false, &[]),
            f("b", FieldType::Decimal, 0, true, &[]),
            f("ok", FieldType::Bool, 0, false, &[]),
            f("rating", FieldType::Choice, 0, false, &["好", "一般", "差"]),
            f("other", FieldType::Count, 1, false, &[]),
        ]
    }

    fn run(text: &str, want: Ty) -> Result<Formula, FormulaError> {
        let fields = scope_fields();
        let methods = vec!["daily".to_string(), "supervision".to_string()];
        let scope = Scope {
            fields: &fields,
            methods: &methods,
            method: 0,
        };
        compile_formula(text, want, &scope)
    }

    #[test]
    fn precedence_and_nodes() {
        let f = run("a + b * 2 < 10 and not ok", Ty::Bool).expect("compiles");
        // and(<(+(a, *(b, 2)), 10), not(ok)) = 10 nodes
        assert_eq!(f.nodes, 10);
        let Expr::Binary(BinOp::And, l, _) = &f.expr else {
            panic!("{:?}", f.expr)
        };
        let Expr::Binary(BinOp::Lt, sum, _) = &**l else {
            panic!()
        };
        assert!(
            matches!(&**sum, Expr::Binary(BinOp::Add, _, r) if matches!(&**r, Expr::Binary(BinOp::Mul, _, _)))
        );
        // Parentheses are not nodes; a minus sign is.
        assert_eq!(run("((a))", Ty::Num).expect("ok").nodes, 1);
        assert_eq!(
            run("-2.5", Ty::Num).expect("ok").expr,
            Expr::Neg(Box::new(Expr::Num(250)))
        );
        // Subtraction is left-associative.
        let f = run("10 - 3 - 2", Ty::Num).expect("ok");
        assert!(
            matches!(&f.expr, Expr::Binary(BinOp::Sub, l, _) if matches!(&**l, Expr::Binary(BinOp::Sub, _, _)))
        );
    }

    #[test]
    fn if_and_functions() {
        let f = run("if present(b) then b else min(a, 3, 4)", Ty::Num).expect("ok");
        assert_eq!(f.nodes, 1 + 1 + 1 + 4);
        run("clamp(a, 0, 5)", Ty::Num).expect("ok");
        run("1 + if ok then 2 else 3", Ty::Num).expect("if in operand position");
    }

    #[test]
    fn choices() {
        let f = run("rating == \"差\"", Ty::Bool).expect("ok");
        assert_eq!(
            f.expr,
            Expr::Binary(
                BinOp::Eq,
                Box::new(Expr::Field(3)),
                Box::new(Expr::Choice(2))
            )
        );
        run("'好' != rating", Ty::Bool).expect("either side");
        run("rating == “一般”", Ty::Bool).expect("Chinese quotes");
        let e = run("rating == \"极差\"", Ty::Bool).unwrap_err();
        assert!(
            matches!(e.error, CompileError::UnknownChoice { .. }),
            "{e:?}"
        );
        let e = run("rating < \"差\"", Ty::Bool).unwrap_err();
        assert!(
            matches!(e.error, CompileError::TypeMismatch { .. }),
            "{e:?}"
        );
        let e = run("a == \"差\"", Ty::Bool).unwrap_err();
        assert!(
            matches!(e.error, CompileError::TypeMismatch { .. }),
            "{e:?}"
        );
    }

    #[test]
    fn errors_have_offsets() {
        let e = run("a + ", Ty::Num).unwrap_err();
        assert!(matches!(e.error, CompileError::FormulaSyntax { .. }));
        assert_eq!(e.offset, 4);
        let e = run("a = 1", Ty::Bool).unwrap_err();
        assert_eq!(e.offset, 2);
        let e = run("a < 1 < 2", Ty::Bool).unwrap_err();
        assert!(matches!(e.error, CompileError::FormulaSyntax { .. }));
        let e = run("a + 2.555", Ty::Num).unwrap_err();
        assert!(matches!(e.error, CompileError::BadLiteral { .. }));
        assert_eq!(e.offset, 4);
        let e = run("zz > 1", Ty::Bool).unwrap_err();
        assert!(matches!(e.error, CompileError::UnknownField { .. }));
        let e = run("other > 1", Ty::Bool).unwrap_err();
        assert!(matches!(e.error, CompileError::ForeignMethodField { .. }));
        let e = run("a + ok", Ty::Num).unwrap_err();
        assert!(matches!(e.error, CompileError::TypeMismatch { .. }));
        assert_eq!(e.offset, 4);
        let e = run("a", Ty::Bool).unwrap_err();
        assert!(matches!(e.error, CompileError::TypeMismatch { .. }));
        let e = run("avg(a, 1)", Ty::Num).unwrap_err();
        assert!(matches!(e.error, CompileError::UnknownFunction { .. }));
        let e = run("min(a)", Ty::Num).unwrap_err();
        assert!(matches!(e.error, CompileError::WrongArity { .. }));
        let e = run("present(a)", Ty::Bool).unwrap_err();
        assert!(matches!(e.error, CompileError::PresentNeedsDefault { .. }));
        let e = run("if ok then 1 else false", Ty::Num).unwrap_err();
        assert!(matches!(e.error, CompileError::TypeMismatch { .. }));
        let e = run("a （ 1", Ty::Num).unwrap_err();
        assert!(matches!(e.error, CompileError::FormulaSyntax { .. }));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        assert!(matches!(
            run(&deep, Ty::Num).unwrap_err().error,
            CompileError::FormulaSyntax { .. }
        ));
        let long = vec!["1"; 100].join(" + ");
        assert!(matches!(
            run(&long, Ty::Num).unwrap_err().error,
            CompileError::FormulaSyntax { .. }
        ));
        let ok = vec!["1"; 60].join(" + ");
        run(&ok, Ty::Num).expect("60 terms fit");
        let negs = format!("{}1", "-".repeat(10_000));
        assert!(run(&negs, Ty::Num).is_err());
    }
}
