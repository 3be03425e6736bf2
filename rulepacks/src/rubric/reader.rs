//! Reading the spanned TOML tree: typed getters that record errors with their
//! positions and keep going, and the unknown-key check.
//!
//! The tree comes from `toml::de::DeTable`, which keeps every key's and
//! value's byte span and the source text of every number, so numbers are
//! converted exactly ([`super::decimal`]) and never through `f64`.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{CompileError, Diagnostic, Expect, SourceMap};
use crate::decimal::{LiteralError, parse_hundredths};

pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// The errors found so far and how to place them.
pub(crate) struct Ctx<'s> {
    pub src: &'s str,
    pub file: String,
    pub map: SourceMap<'s>,
    pub diags: Vec<(usize, Diagnostic)>,
}

impl<'s> Ctx<'s> {
    pub fn new(file: &str, src: &'s str) -> Self {
        Ctx {
            src,
            file: file.to_string(),
            map: SourceMap::new(src),
            diags: Vec::new(),
        }
    }

    pub fn err(&mut self, span: &Range<usize>, error: CompileError) {
        let d = self.map.diagnostic(&self.file, span, error);
        self.diags.push((span.start, d));
    }

    pub fn line(&self, offset: usize) -> usize {
        self.map.line_col(offset).0
    }

    pub fn error_count(&self) -> usize {
        self.diags.len()
    }
}

/// A number read from TOML: a value or the reason it is not one.
pub(crate) enum Num {
    Ok(i64),
    WrongType,
    Bad(String, LiteralError),
}

/// Hundredths of a TOML integer or float, from its source text.
pub(crate) fn number_of(v: &DeValue<'_>) -> Num {
    match v {
        DeValue::Integer(i) => {
            if i.radix() == 10 {
                match parse_hundredths(i.as_str()) {
                    Ok(x) => Num::Ok(x),
                    Err(e) => Num::Bad(i.as_str().to_string(), e),
                }
            } else {
                match i64::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .and_then(|x| x.checked_mul(100))
                {
                    Some(x) => Num::Ok(x),
                    None => Num::Bad(i.to_string(), LiteralError::TooLarge),
                }
            }
        }
        DeValue::Float(f) => match parse_hundredths(f.as_str()) {
            Ok(x) => Num::Ok(x),
            Err(e) => Num::Bad(f.as_str().to_string(), e),
        },
        _ => Num::WrongType,
    }
}

/// One TOML table being read. Every key asked for is remembered; `finish`
/// reports the others as unknown.
pub(crate) struct Tbl<'a, 'i> {
    pub name: String,
    pub span: Range<usize>,
    map: &'a DeTable<'i>,
    known: Vec<&'static str>,
}

impl<'a, 'i> Tbl<'a, 'i> {
    pub fn new(name: impl Into<String>, span: Range<usize>, map: &'a DeTable<'i>) -> Self {
        Tbl {
            name: name.into(),
            span,
            map,
            known: Vec::new(),
        }
    }

    /// The raw value of `key`, if present.
    pub fn get(&mut self, key: &'static str) -> Option<&'a Value<'i>> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        self.map.get(key)
    }

    /// The span of `key`'s value, or the table's span.
    pub fn span_of(&self, key: &str) -> Range<usize> {
        self.map
            .get(key)
            .map(|v| v.span())
            .unwrap_or_else(|| self.span.clone())
    }

    fn missing(&self, ctx: &mut Ctx<'_>, key: &str) {
        ctx.err(
            &self.span,
            CompileError::MissingKey {
                table: self.name.clone(),
                key: key.to_string(),
            },
        );
    }

    fn wrong(ctx: &mut Ctx<'_>, key: &str, v: &Value<'_>, expected: Expect) {
        ctx.err(
            &v.span(),
            CompileError::WrongType {
                key: key.to_string(),
                expected,
            },
        );
    }

    pub fn text(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        required: bool,
    ) -> Option<Spanned<String>> {
        let Some(v) = self.get(key) else {
            if required {
                self.missing(ctx, key);
            }
            return None;
        };
        match v.get_ref() {
            DeValue::String(s) => Some(Spanned::new(v.span(), s.to_string())),
            _ => {
                Self::wrong(ctx, key, v, Expect::Text);
                None
            }
        }
    }

    pub fn boolean(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        required: bool,
    ) -> Option<bool> {
        let Some(v) = self.get(key) else {
            if required {
                self.missing(ctx, key);
            }
            return None;
        };
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                Self::wrong(ctx, key, v, Expect::Bool);
                None
            }
        }
    }

    /// A whole number within `range`.
    pub fn integer(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        required: bool,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<Spanned<i64>> {
        let Some(v) = self.get(key) else {
            if required {
                self.missing(ctx, key);
            }
            return None;
        };
        let DeValue::Integer(i) = v.get_ref() else {
            Self::wrong(ctx, key, v, Expect::Integer);
            return None;
        };
        let Ok(x) = i64::from_str_radix(i.as_str(), i.radix()) else {
            ctx.err(
                &v.span(),
                CompileError::BadLiteral {
                    text: i.to_string(),
                    reason: LiteralError::TooLarge,
                },
            );
            return None;
        };
        if !range.contains(&x) {
            ctx.err(
                &v.span(),
                CompileError::InvalidValue {
                    key: key.to_string(),
                    value: x.to_string(),
                    expected: format!(
                        "{} 到 {} 之间的整数（an integer from {} to {}）",
                        range.start(),
                        range.end(),
                        range.start(),
                        range.end()
                    ),
                },
            );
            return None;
        }
        Some(Spanned::new(v.span(), x))
    }

    /// A number (integer or decimal, at most two decimals) in hundredths.
    pub fn number(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        required: bool,
    ) -> Option<Spanned<i64>> {
        let Some(v) = self.get(key) else {
            if required {
                self.missing(ctx, key);
            }
            return None;
        };
        match number_of(v.get_ref()) {
            Num::Ok(x) => Some(Spanned::new(v.span(), x)),
            Num::WrongType => {
                Self::wrong(ctx, key, v, Expect::Number);
                None
            }
            Num::Bad(text, reason) => {
                ctx.err(&v.span(), CompileError::BadLiteral { text, reason });
                None
            }
        }
    }

    /// A non-negative number in hundredths.
    pub fn non_negative(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        required: bool,
    ) -> Option<Spanned<i64>> {
        let n = self.number(ctx, key, required)?;
        if *n.get_ref() < 0 {
            ctx.err(
                &n.span(),
                CompileError::InvalidValue {
                    key: key.to_string(),
                    value: crate::decimal::Points(*n.get_ref()).to_string(),
                    expected: "不小于 0 的数（a number ≥ 0）".into(),
                },
            );
            return None;
        }
        Some(n)
    }

    pub fn texts(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        required: bool,
    ) -> Option<Vec<Spanned<String>>> {
        let Some(v) = self.get(key) else {
            if required {
                self.missing(ctx, key);
            }
            return None;
        };
        let DeValue::Array(a) = v.get_ref() else {
            Self::wrong(ctx, key, v, Expect::TextArray);
            return None;
        };
        let mut out = Vec::new();
        for e in a.iter() {
            match e.get_ref() {
                DeValue::String(s) => out.push(Spanned::new(e.span(), s.to_string())),
                _ => {
                    Self::wrong(ctx, key, e, Expect::TextArray);
                    return None;
                }
            }
        }
        Some(out)
    }

    /// A sub-table (`[a.b]` or an inline table).
    pub fn table(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        required: bool,
    ) -> Option<Tbl<'a, 'i>> {
        let Some(v) = self.get(key) else {
            if required {
                self.missing(ctx, key);
            }
            return None;
        };
        match v.get_ref() {
            DeValue::Table(t) => Some(Tbl::new(format!("[{key}]"), v.span(), t)),
            _ => {
                Self::wrong(ctx, key, v, Expect::Table);
                None
            }
        }
    }

    /// An array of tables (`[[key]]`); absent = empty.
    pub fn tables(&mut self, ctx: &mut Ctx<'_>, key: &'static str) -> Vec<Tbl<'a, 'i>> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        let DeValue::Array(a) = v.get_ref() else {
            Self::wrong(ctx, key, v, Expect::TableArray);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (n, e) in a.iter().enumerate() {
            match e.get_ref() {
                DeValue::Table(t) => {
                    out.push(Tbl::new(format!("[[{key}]] #{}", n + 1), e.span(), t))
                }
                _ => {
                    Self::wrong(ctx, key, e, Expect::TableArray);
                    return Vec::new();
                }
            }
        }
        out
    }

    /// Entries of this table in source order (for tables keyed by id).
    pub fn entries(&self) -> Vec<(Spanned<String>, &'a Value<'i>)> {
        let mut v: Vec<_> = self
            .map
            .iter()
            .map(|(k, v)| (Spanned::new(k.span(), k.get_ref().to_string()), v))
            .collect();
        v.sort_by_key(|(k, _)| k.span().start);
        v
    }

    /// Reports every key that was never asked for.
    pub fn finish(self, ctx: &mut Ctx<'_>) {
        let mut unknown: Vec<_> = self
            .map
            .iter()
            .filter(|(k, _)| !self.known.contains(&k.get_ref().as_ref()))
            .map(|(k, _)| (k.span(), k.get_ref().to_string()))
            .collect();
        unknown.sort_by_key(|(s, _)| s.start);
        for (span, key) in unknown {
            ctx.err(
                &span,
                CompileError::UnknownKey {
                    table: self.name.clone(),
                    key,
                    allowed: self.known.join(", "),
                },
            );
        }
    }
}
