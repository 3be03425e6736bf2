//! The formula parser: tokens to an untyped tree, precedence climbing with
//! the depth bounded by [`MAX_DEPTH`].

use std::ops::Range;

use super::lex::Tok;
use super::{BinOp, FormulaError, MAX_DEPTH, syntax};

/// Untyped parse tree.
#[derive(Debug, Clone)]
pub(super) struct PExpr {
    pub(super) kind: PKind,
    pub(super) span: Range<usize>,
    pub(super) depth: usize,
}

#[derive(Debug, Clone)]
pub(super) enum PKind {
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

pub(super) struct Parser {
    pub(super) tokens: Vec<(Tok, Range<usize>)>,
    pub(super) at: usize,
    pub(super) text_len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    pub(super) fn peek_span(&self) -> Option<(&Tok, Range<usize>)> {
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

    pub(super) fn expr(&mut self, level: usize) -> Result<PExpr, FormulaError> {
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
