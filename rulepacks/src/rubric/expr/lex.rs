//! The formula lexer: source text to tokens with their byte spans.

use std::ops::Range;

use super::{FormulaError, syntax};
use crate::decimal::parse_hundredths;
use crate::rubric::error::CompileError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
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

pub(super) fn lex(text: &str) -> Result<Vec<(Tok, Range<usize>)>, FormulaError> {
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
