//! 证据取值（evidence values）：把官员填写的文字或 Excel 单元格变成 ABI 编码的整数。
//!
//! Values never pass through floating point on their way to the store:
//!
//! - text is parsed as an exact decimal (`12.5` → `1250` hundredths) with
//!   [`kaohe_rulepacks::rubric::decimal::parse_hundredths`], the same rule the
//!   rubric's literals follow: at most two decimals (trailing zeros carry no
//!   precision, so `12.500` is accepted), no exponents, no thousands
//!   separators, no underscores;
//! - an Excel numeric cell arrives as an `f64`; it is turned into its
//!   **shortest round-trip decimal text** (Rust's `Display` for `f64`, which
//!   never uses an exponent) and that text is parsed. `12.5` stays `12.5`, and
//!   a value computed in Excel such as `0.1 + 0.2`
//!   (`0.30000000000000004`) is refused for having more than two decimals
//!   rather than silently rounded.
//!
//! **Full-width characters are accepted** (the choice the import documents):
//! Chinese input methods easily produce `１２．５`; refusing it would only make
//! officials retype what they meant. Full-width digits, `．`, `－`/`−`, `＋` and
//! ideographic spaces are mapped to their ASCII forms before parsing, and the
//! import report counts how many cells were normalised so nobody is surprised.
//!
//! Encoding per field type (ABI.md §2): `count` and `decimal` in hundredths,
//! `bool` as 0 / 100 (written 是 / 否), `choice` as its 0-based index × 100
//! (written as the choice's label).

use kaohe_rulepacks::manifest::{Field, FieldType};
use kaohe_rulepacks::rubric::decimal::{LiteralError, format_hundredths, parse_hundredths};
use kaohe_tables::text::{self, Fold, echo};

/// The text written for a true `bool` value.
pub const YES: &str = "是";
/// The text written for a false `bool` value.
pub const NO: &str = "否";

/// A cell's content, as far as a value is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input<'a> {
    /// Text as typed (CSV cells, Excel text cells, the command line).
    Text(&'a str),
    /// An Excel numeric cell.
    Number(f64),
    /// An Excel logical cell (TRUE / FALSE).
    Logical(bool),
}

/// A value that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// ABI-encoded value.
    pub value: i64,
    /// Full-width characters were mapped to ASCII to read it.
    pub normalised: bool,
}

/// Why a value was refused. Every message says what was found (at most
/// [`text::ECHO_CHARS`] characters of it) and what the field expects, in
/// Chinese with the English beside it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("未填写（empty）")]
    Empty,
    #[error("「{}」不是数字，此项须填{expected}（text where a number belongs）", echo(.found))]
    NotANumber { found: String, expected: String },
    #[error("此项须填{expected}，不能填{}（wrong type）", echo(.found))]
    WrongType { found: String, expected: String },
    #[error("「{}」小数超过两位（more than 2 decimals）", echo(.found))]
    TooManyDecimals { found: String },
    #[error("「{}」不是整数，此项须填整数（must be a whole number）", echo(.found))]
    NotWhole { found: String },
    #[error("「{}」不支持科学计数法（exponents are not accepted）", echo(.found))]
    Exponent { found: String },
    #[error("「{}」数值过大（number too large）", echo(.found))]
    TooLarge { found: String },
    #[error("「{}」超出取值范围，须为 {range}（out of range）", echo(.found))]
    OutOfRange { found: String, range: String },
    #[error("「{}」不是可选项，须为 {choices} 之一（not one of the choices）", echo(.found))]
    NotAChoice { found: String, choices: String },
    #[error("「{}」须填「是」或「否」（must be 是 or 否）", echo(.found))]
    NotABool { found: String },
}

/// Parses one value for `field` from a cell or the command line.
/// An empty (or all-blank) text is [`ValueError::Empty`]; the caller decides
/// whether that is allowed.
pub fn parse(field: &Field, input: Input<'_>) -> Result<Parsed, ValueError> {
    match input {
        Input::Text(raw) => {
            let (text, normalised) = normalise(raw);
            if text.is_empty() {
                return Err(ValueError::Empty);
            }
            let value = parse_text(field, &text)?;
            Ok(Parsed { value, normalised })
        }
        Input::Number(n) => {
            // From 10^17 on, hundredths overflow i64 whatever the field: say
            // so with the number as Excel shows it (1E+308), not its digits.
            if n.abs() >= 1e17 && matches!(field.kind, FieldType::Count | FieldType::Decimal) {
                return Err(ValueError::TooLarge {
                    found: text::number(n),
                });
            }
            let text = number_text(n);
            let value = match field.kind {
                FieldType::Count | FieldType::Decimal => parse_number(field, &text)?,
                FieldType::Choice => parse_choice(field, &text)?,
                FieldType::Bool => {
                    return Err(ValueError::WrongType {
                        found: format!("数字 {}", text::number(n)),
                        expected: expected(field),
                    });
                }
            };
            Ok(Parsed {
                value,
                normalised: false,
            })
        }
        Input::Logical(b) => match field.kind {
            FieldType::Bool => Ok(Parsed {
                value: if b { 100 } else { 0 },
                normalised: false,
            }),
            _ => Err(ValueError::WrongType {
                found: format!("逻辑值 {}", if b { "TRUE" } else { "FALSE" }),
                expected: expected(field),
            }),
        },
    }
}

/// The value as an official writes it: `12.5`, `是`, a choice's label.
pub fn display(field: &Field, value: i64) -> String {
    match field.kind {
        FieldType::Count | FieldType::Decimal => format_hundredths(value),
        FieldType::Bool => if value != 0 { YES } else { NO }.to_string(),
        FieldType::Choice => usize::try_from(value / 100)
            .ok()
            .and_then(|i| field.choices.get(i))
            .cloned()
            .unwrap_or_else(|| format!("#{value}")),
    }
}

/// What the field accepts, in words: `0 到 100 之间的整数（次）`, `是 或 否` ….
pub fn expected(field: &Field) -> String {
    match field.kind {
        FieldType::Count => format!("{}的整数", range_text(field)),
        FieldType::Decimal => format!("{}的数（最多两位小数）", range_text(field)),
        FieldType::Bool => format!("「{YES}」或「{NO}」"),
        FieldType::Choice => format!("{} 之一", choices_text(field)),
    }
}

/// The field's range in its own unit: `0 到 100 次`; `不限` without bounds.
pub fn range_text(field: &Field) -> String {
    let unit = if field.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", field.unit)
    };
    match (field.min, field.max) {
        (Some(lo), Some(hi)) => format!(
            "{} 到 {}{unit}之间",
            format_hundredths(lo),
            format_hundredths(hi)
        ),
        (Some(lo), None) => format!("不小于 {}{unit}", format_hundredths(lo)),
        (None, Some(hi)) => format!("不大于 {}{unit}", format_hundredths(hi)),
        (None, None) => "不限范围".to_string(),
    }
}

/// The choices as `「按时公开」「逾期公开」「未公开」`.
pub fn choices_text(field: &Field) -> String {
    field.choices.iter().map(|c| format!("「{c}」")).collect()
}

/// Maps full-width digits and signs to ASCII and trims blanks (ASCII,
/// ideographic and no-break spaces, a stray BOM: [`text::trim`]). Returns
/// the text and whether anything other than trimming changed it.
pub fn normalise(raw: &str) -> (String, bool) {
    match text::fold_width(text::trim(raw), Fold::Numbers) {
        std::borrow::Cow::Borrowed(t) => (t.to_string(), false),
        std::borrow::Cow::Owned(t) => (t, true),
    }
}

/// The shortest decimal text that reads back as `n` (never an exponent).
pub fn number_text(n: f64) -> String {
    if n == 0.0 {
        // Both zeros are written "0".
        return "0".to_string();
    }
    format!("{n}")
}

fn parse_text(field: &Field, text: &str) -> Result<i64, ValueError> {
    match field.kind {
        FieldType::Count | FieldType::Decimal => parse_number(field, text),
        FieldType::Bool => match text {
            YES => Ok(100),
            NO => Ok(0),
            t if t.eq_ignore_ascii_case("true") => Ok(100),
            t if t.eq_ignore_ascii_case("false") => Ok(0),
            t => Err(ValueError::NotABool {
                found: t.to_string(),
            }),
        },
        FieldType::Choice => parse_choice(field, text),
    }
}

fn parse_number(field: &Field, text: &str) -> Result<i64, ValueError> {
    let found = || text.to_string();
    if text.contains('_') {
        return Err(ValueError::NotANumber {
            found: found(),
            expected: expected(field),
        });
    }
    let v = parse_hundredths(text).map_err(|e| match e {
        LiteralError::TooManyDecimals => ValueError::TooManyDecimals { found: found() },
        LiteralError::TooLarge => ValueError::TooLarge { found: found() },
        LiteralError::Exponent => ValueError::Exponent { found: found() },
        LiteralError::NotWhole => ValueError::NotWhole { found: found() },
        LiteralError::NotANumber => ValueError::NotANumber {
            found: found(),
            expected: expected(field),
        },
    })?;
    if field.kind == FieldType::Count && v % 100 != 0 {
        return Err(ValueError::NotWhole { found: found() });
    }
    if !field.accepts(v) {
        return Err(ValueError::OutOfRange {
            found: found(),
            range: range_text(field),
        });
    }
    Ok(v)
}

fn parse_choice(field: &Field, text: &str) -> Result<i64, ValueError> {
    field
        .choices
        .iter()
        .position(|c| c == text)
        .and_then(|i| i64::try_from(i).ok())
        .map(|i| i * 100)
        .ok_or_else(|| ValueError::NotAChoice {
            found: text.to_string(),
            choices: choices_text(field),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaohe_rulepacks::manifest::Missing;

    fn field(kind: FieldType, min: Option<i64>, max: Option<i64>) -> Field {
        Field {
            id: "f".into(),
            label: "测试".into(),
            kind,
            min,
            max,
            unit: "次".into(),
            method: "daily".into(),
            missing: Missing::Refuse,
            choices: if kind == FieldType::Choice {
                vec!["好".into(), "一般".into(), "差".into()]
            } else {
                vec![]
            },
            help: String::new(),
        }
    }

    fn text(f: &Field, t: &str) -> Result<i64, ValueError> {
        parse(f, Input::Text(t)).map(|p| p.value)
    }

    #[test]
    fn decimals_are_exact_hundredths() {
        let f = field(FieldType::Decimal, Some(0), Some(10_000));
        assert_eq!(text(&f, "12.5"), Ok(1250));
        assert_eq!(text(&f, "12.50"), Ok(1250));
        assert_eq!(
            text(&f, "12.500"),
            Ok(1250),
            "trailing zeros carry no precision"
        );
        assert_eq!(text(&f, " 7 "), Ok(700));
        assert_eq!(text(&f, "0.05"), Ok(5));
        assert!(matches!(
            text(&f, "12.345"),
            Err(ValueError::TooManyDecimals { .. })
        ));
        assert!(matches!(text(&f, "1e2"), Err(ValueError::Exponent { .. })));
        assert!(matches!(
            text(&f, "1,000"),
            Err(ValueError::NotANumber { .. })
        ));
        assert!(matches!(
            text(&f, "1_000"),
            Err(ValueError::NotANumber { .. })
        ));
        assert!(matches!(text(&f, "五"), Err(ValueError::NotANumber { .. })));
        let over = text(&f, "100.01").unwrap_err();
        assert!(matches!(over, ValueError::OutOfRange { .. }));
        // The range is said once ("之间 之间" was doubled).
        assert_eq!(over.to_string().matches("之间").count(), 1, "{over}");
        assert!(matches!(
            text(&f, "-0.01"),
            Err(ValueError::OutOfRange { .. })
        ));
        assert_eq!(text(&f, ""), Err(ValueError::Empty));
        assert_eq!(text(&f, "\u{3000} "), Err(ValueError::Empty));
        assert!(matches!(
            text(&f, "99999999999999999999"),
            Err(ValueError::TooLarge { .. })
        ));
    }

    #[test]
    fn full_width_digits_are_accepted_and_reported() {
        let f = field(FieldType::Decimal, Some(0), Some(10_000));
        let p = parse(&f, Input::Text("１２．５")).expect("full-width decimal");
        assert_eq!(
            p,
            Parsed {
                value: 1250,
                normalised: true
            }
        );
        let p = parse(&f, Input::Text("12.5")).expect("ascii decimal");
        assert!(!p.normalised);
        let neg = field(FieldType::Decimal, Some(-10_000), Some(0));
        assert_eq!(text(&neg, "－３"), Ok(-300));
    }

    #[test]
    fn counts_must_be_whole() {
        let f = field(FieldType::Count, Some(0), Some(10_000));
        assert_eq!(text(&f, "3"), Ok(300));
        assert_eq!(text(&f, "3.00"), Ok(300));
        assert!(matches!(text(&f, "3.5"), Err(ValueError::NotWhole { .. })));
        assert_eq!(parse(&f, Input::Number(3.0)).map(|p| p.value), Ok(300));
        assert!(matches!(
            parse(&f, Input::Number(2.5)),
            Err(ValueError::NotWhole { .. })
        ));
    }

    #[test]
    fn excel_numbers_go_through_their_shortest_text() {
        let f = field(FieldType::Decimal, Some(-100_000), Some(100_000));
        assert_eq!(parse(&f, Input::Number(12.5)).map(|p| p.value), Ok(1250));
        assert_eq!(parse(&f, Input::Number(0.07)).map(|p| p.value), Ok(7));
        assert_eq!(parse(&f, Input::Number(-0.0)).map(|p| p.value), Ok(0));
        // 0.1 + 0.2 is 0.30000000000000004: a computed value, refused rather
        // than rounded.
        assert!(matches!(
            parse(&f, Input::Number(0.1 + 0.2)),
            Err(ValueError::TooManyDecimals { .. })
        ));
        assert!(matches!(
            parse(&f, Input::Number(1e300)),
            Err(ValueError::TooLarge { .. })
        ));
        assert_eq!(number_text(1e21), "1000000000000000000000");
    }

    #[test]
    fn bools_and_choices() {
        let b = field(FieldType::Bool, None, None);
        assert_eq!(text(&b, "是"), Ok(100));
        assert_eq!(text(&b, "否"), Ok(0));
        assert_eq!(text(&b, "TRUE"), Ok(100));
        assert_eq!(parse(&b, Input::Logical(false)).map(|p| p.value), Ok(0));
        assert!(matches!(text(&b, "1"), Err(ValueError::NotABool { .. })));
        assert!(matches!(
            parse(&b, Input::Number(1.0)),
            Err(ValueError::WrongType { .. })
        ));
        let c = field(FieldType::Choice, None, None);
        assert_eq!(text(&c, "差"), Ok(200));
        assert!(matches!(
            text(&c, "较差"),
            Err(ValueError::NotAChoice { .. })
        ));
        let n = field(FieldType::Count, Some(0), Some(100));
        assert!(matches!(
            parse(&n, Input::Logical(true)),
            Err(ValueError::WrongType { .. })
        ));
        assert_eq!(display(&c, 100), "一般");
        assert_eq!(display(&b, 100), "是");
    }
}
