//! Exact decimal literals in hundredths.
//!
//! Numbers are never taken through `f64`: TOML numbers are read from their
//! source text (the `toml` crate keeps it), formula literals from the formula
//! text. `2.5` is `250`; `2.50` and `2.500` are `250` too (trailing zeros
//! carry no precision); `2.555` is refused. Exponents, `inf` and `nan` are
//! refused.
//!
//! The other direction lives here too: [`Points`] is the one formatter of
//! hundredths ([`format_hundredths`], [`format_hundredths_fixed`]).

use std::fmt;

/// Why a literal is not an exact number of hundredths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LiteralError {
    #[error("小数超过两位（more than two decimals）")]
    TooManyDecimals,
    #[error("超出范围（out of range）")]
    TooLarge,
    #[error("不支持指数写法（exponents are not supported）")]
    Exponent,
    #[error("不是数字（not a number）")]
    NotANumber,
    #[error("应为整数（must be a whole number）")]
    NotWhole,
}

/// Parses `[+-]digits[.digits]` (underscores between digits allowed, as TOML
/// writes them) into hundredths.
pub fn parse_hundredths(text: &str) -> Result<i64, LiteralError> {
    let t: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t.as_str()),
    };
    if body.contains(['e', 'E'])
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || b".eE+-".contains(&b))
    {
        return Err(LiteralError::Exponent);
    }
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (body.contains('.') && frac.is_empty())
    {
        return Err(LiteralError::NotANumber);
    }
    let significant = frac.trim_end_matches('0');
    if significant.len() > 2 {
        return Err(LiteralError::TooManyDecimals);
    }
    let mut cents: i128 = 0;
    for b in int.bytes() {
        cents = cents * 10 + i128::from(b - b'0');
        if cents > i128::from(i64::MAX) {
            return Err(LiteralError::TooLarge);
        }
    }
    let mut frac2 = significant.to_string();
    while frac2.len() < 2 {
        frac2.push('0');
    }
    let f: i128 = frac2.parse().map_err(|_| LiteralError::NotANumber)?;
    let v = cents * 100 + f;
    let v = if neg { -v } else { v };
    i64::try_from(v).map_err(|_| LiteralError::TooLarge)
}

/// Parses a whole number (no decimals other than zeros) into hundredths.
pub fn parse_whole_hundredths(text: &str) -> Result<i64, LiteralError> {
    let v = parse_hundredths(text)?;
    if v % 100 != 0 {
        return Err(LiteralError::NotWhole);
    }
    Ok(v)
}

/// Hundredths written as points: the one formatter of scores in kaohe.
///
/// `{}` writes them the way an official writes points, without trailing
/// zeros: `93.5`, `3`, `-0.25` (rubric text, evidence values, the published
/// rubric). `{:.2}` — any precision — writes exactly two decimals, the way
/// result tables and exports show totals: `93.50`, `3.00`, `-0.25`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Points(pub i64);

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        let (int, frac) = (a / 100, a % 100);
        if f.precision().is_some() {
            write!(f, "{sign}{int}.{frac:02}")
        } else if frac == 0 {
            write!(f, "{sign}{int}")
        } else if frac % 10 == 0 {
            write!(f, "{sign}{int}.{}", frac / 10)
        } else {
            write!(f, "{sign}{int}.{frac:02}")
        }
    }
}

/// Hundredths as an official writes points: `1250` → `12.5`, `300` → `3`.
pub fn format_hundredths(hundredths: i64) -> String {
    Points(hundredths).to_string()
}

/// Hundredths with exactly two decimals, as results and exports show
/// them: `9890` → `98.90`, `-300` → `-3.00`.
pub fn format_hundredths_fixed(hundredths: i64) -> String {
    format!("{:.2}", Points(hundredths))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_values() {
        assert_eq!(parse_hundredths("3"), Ok(300));
        assert_eq!(parse_hundredths("2.5"), Ok(250));
        assert_eq!(parse_hundredths("2.50"), Ok(250));
        assert_eq!(parse_hundredths("2.500"), Ok(250));
        assert_eq!(parse_hundredths("0.05"), Ok(5));
        assert_eq!(parse_hundredths("-0.05"), Ok(-5));
        assert_eq!(parse_hundredths("+1.1"), Ok(110));
        assert_eq!(parse_hundredths("1_000"), Ok(100_000));
        // 0.29 is not exactly representable in binary; it must still be 29.
        assert_eq!(parse_hundredths("0.29"), Ok(29));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            parse_hundredths("2.555"),
            Err(LiteralError::TooManyDecimals)
        );
        assert_eq!(
            parse_hundredths("2.001"),
            Err(LiteralError::TooManyDecimals)
        );
        assert_eq!(parse_hundredths("1e2"), Err(LiteralError::Exponent));
        assert_eq!(parse_hundredths("inf"), Err(LiteralError::NotANumber));
        assert_eq!(parse_hundredths("nan"), Err(LiteralError::NotANumber));
        assert_eq!(parse_hundredths("."), Err(LiteralError::NotANumber));
        assert_eq!(parse_hundredths("1."), Err(LiteralError::NotANumber));
        assert_eq!(parse_hundredths(""), Err(LiteralError::NotANumber));
        assert_eq!(
            parse_hundredths("92233720368547759"),
            Err(LiteralError::TooLarge)
        );
        assert_eq!(parse_hundredths("92233720368547758.07"), Ok(i64::MAX));
        assert_eq!(parse_whole_hundredths("2.5"), Err(LiteralError::NotWhole));
        assert_eq!(parse_whole_hundredths("2.0"), Ok(200));
    }

    #[test]
    fn display() {
        assert_eq!(Points(9350).to_string(), "93.5");
        assert_eq!(Points(300).to_string(), "3");
        assert_eq!(Points(-25).to_string(), "-0.25");
        assert_eq!(Points(205).to_string(), "2.05");
        assert_eq!(Points(0).to_string(), "0");
        assert_eq!(Points(i64::MIN).to_string(), "-92233720368547758.08");
        // As the published rubric (`doc::points_text`) and the node's
        // evidence values (`value::format_hundredths`) wrote them.
        assert_eq!(format_hundredths(400), "4");
        assert_eq!(format_hundredths(250), "2.5");
        assert_eq!(format_hundredths(75), "0.75");
        assert_eq!(format_hundredths(-1010), "-10.1");
        assert_eq!(format_hundredths(1250), "12.5");
        assert_eq!(format_hundredths(5), "0.05");
        assert_eq!(format_hundredths(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn display_with_two_decimals() {
        // As results, replay messages, exports and the node's copy of the
        // hub's results wrote them.
        assert_eq!(format_hundredths_fixed(399), "3.99");
        assert_eq!(format_hundredths_fixed(400), "4.00");
        assert_eq!(format_hundredths_fixed(-5), "-0.05");
        assert_eq!(format_hundredths_fixed(9550), "95.50");
        assert_eq!(format_hundredths_fixed(-300), "-3.00");
        assert_eq!(format_hundredths_fixed(0), "0.00");
        assert_eq!(format!("{:.2}", Points(9890)), "98.90");
        assert_eq!(format_hundredths_fixed(7), "0.07");
        assert_eq!(format_hundredths_fixed(10000), "100.00");
        assert_eq!(format_hundredths_fixed(4690), "46.90");
        assert_eq!(format_hundredths_fixed(10200), "102.00");
        assert_eq!(format_hundredths_fixed(9187), "91.87");
        assert_eq!(format_hundredths_fixed(5), "0.05");
        assert_eq!(format_hundredths_fixed(-25), "-0.25");
        assert_eq!(format_hundredths_fixed(i64::MIN), "-92233720368547758.08");
    }
}
