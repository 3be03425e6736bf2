//! Field checks shared by every `TryFrom<pb::…>` conversion, and the one
//! error they produce: [`FieldError`] names the field (a path such as
//! `methods[2].evidence[0].field_id`) and the problem, in Chinese and
//! English, and becomes `tonic::Status::invalid_argument`.

use std::fmt;

/// Years the protocol accepts, inclusive.
pub const MIN_YEAR: u16 = 2000;
/// Years the protocol accepts, inclusive.
pub const MAX_YEAR: u16 = 2100;
/// Longest identifier (unit, method, field, indicator, clause, pack id), bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 64;

/// A field of a received message that does not hold what the protocol says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("字段 `{field}` {}（field `{field}` {}）", problem.zh(), problem.en())]
pub struct FieldError {
    /// Path of the field inside the message, e.g. `methods[2].method_id`.
    pub field: String,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Required and absent (or the protobuf default).
    Missing,
    /// Not 1–64 ASCII letters, digits, `_`, `-` or `.`.
    NotIdentifier,
    /// Text that is empty, too long or holds control characters.
    BadText {
        /// Most characters allowed.
        max_chars: usize,
    },
    /// Bytes of the wrong length.
    WrongLength {
        /// Required length in bytes.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// A number outside its range.
    OutOfRange {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
        /// Value received.
        got: i64,
    },
    /// An enum value this version does not know.
    UnknownEnum(i32),
    /// A key that must be unique appears again.
    Duplicate(String),
    /// More entries than allowed.
    TooMany {
        /// Most entries allowed.
        max: usize,
    },
    /// Anything else, said precisely in both languages.
    Invalid {
        /// Chinese.
        zh: String,
        /// English.
        en: String,
    },
}

impl Problem {
    /// The problem in Chinese.
    pub fn zh(&self) -> String {
        match self {
            Problem::Missing => "缺失".to_owned(),
            Problem::NotIdentifier => {
                "不是合法标识符（1–64 个 ASCII 字母、数字、`_`、`-`、`.`）".to_owned()
            }
            Problem::BadText { max_chars } => {
                format!("须为 1–{max_chars} 个字符且不含控制字符")
            }
            Problem::WrongLength { expected, got } => {
                format!("长度应为 {expected} 字节，实为 {got} 字节")
            }
            Problem::OutOfRange { min, max, got } => {
                format!("取值 {got} 超出范围 {min}–{max}")
            }
            Problem::UnknownEnum(v) => format!("枚举值 {v} 未知"),
            Problem::Duplicate(key) => format!("重复：`{key}`"),
            Problem::TooMany { max } => format!("条目过多，最多 {max} 条"),
            Problem::Invalid { zh, .. } => zh.clone(),
        }
    }

    /// The problem in English.
    pub fn en(&self) -> String {
        match self {
            Problem::Missing => "is missing".to_owned(),
            Problem::NotIdentifier => {
                "is not an identifier (1–64 ASCII letters, digits, `_`, `-`, `.`)".to_owned()
            }
            Problem::BadText { max_chars } => {
                format!("must be 1–{max_chars} characters without control characters")
            }
            Problem::WrongLength { expected, got } => {
                format!("must be {expected} bytes long, got {got}")
            }
            Problem::OutOfRange { min, max, got } => {
                format!("value {got} is outside {min}–{max}")
            }
            Problem::UnknownEnum(v) => format!("has unknown enum value {v}"),
            Problem::Duplicate(key) => format!("repeats `{key}`"),
            Problem::TooMany { max } => format!("has more than {max} entries"),
            Problem::Invalid { en, .. } => en.clone(),
        }
    }
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, problem: Problem) -> Self {
        FieldError {
            field: field.into(),
            problem,
        }
    }

    /// A problem said in both languages.
    pub fn invalid(field: impl Into<String>, zh: impl Into<String>, en: impl Into<String>) -> Self {
        FieldError::new(
            field,
            Problem::Invalid {
                zh: zh.into(),
                en: en.into(),
            },
        )
    }

    /// The same error for a field nested under `parent`.
    pub fn within(mut self, parent: impl fmt::Display) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}

impl From<FieldError> for tonic::Status {
    fn from(e: FieldError) -> Self {
        tonic::Status::invalid_argument(e.to_string())
    }
}

/// An identifier: 1–64 ASCII letters, digits, `_`, `-` or `.`.
pub fn identifier(field: &str, value: String) -> Result<String, FieldError> {
    if is_identifier(&value) {
        Ok(value)
    } else if value.is_empty() {
        Err(FieldError::new(field, Problem::Missing))
    } else {
        Err(FieldError::new(field, Problem::NotIdentifier))
    }
}

/// Whether `value` is an identifier (see [`identifier`]).
pub fn is_identifier(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_IDENTIFIER_BYTES
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// An optional identifier: empty means absent.
pub fn optional_identifier(field: &str, value: String) -> Result<Option<String>, FieldError> {
    if value.is_empty() {
        Ok(None)
    } else {
        identifier(field, value).map(Some)
    }
}

/// Human text: 1..=`max_chars` characters, no control characters except
/// line breaks and tabs.
pub fn text(field: &str, value: String, max_chars: usize) -> Result<String, FieldError> {
    let ok = !value.trim().is_empty()
        && value.chars().count() <= max_chars
        && value
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\t'));
    if ok {
        Ok(value)
    } else if value.is_empty() {
        Err(FieldError::new(field, Problem::Missing))
    } else {
        Err(FieldError::new(field, Problem::BadText { max_chars }))
    }
}

/// Optional human text: empty means absent.
pub fn optional_text(
    field: &str,
    value: String,
    max_chars: usize,
) -> Result<Option<String>, FieldError> {
    if value.is_empty() {
        Ok(None)
    } else {
        text(field, value, max_chars).map(Some)
    }
}

/// An assessment year, [`MIN_YEAR`]..=[`MAX_YEAR`].
pub fn year(field: &str, value: u32) -> Result<u16, FieldError> {
    match u16::try_from(value) {
        Ok(y) if (MIN_YEAR..=MAX_YEAR).contains(&y) => Ok(y),
        _ if value == 0 => Err(FieldError::new(field, Problem::Missing)),
        _ => Err(FieldError::new(
            field,
            Problem::OutOfRange {
                min: MIN_YEAR.into(),
                max: MAX_YEAR.into(),
                got: value.into(),
            },
        )),
    }
}

/// Exactly 32 bytes (a SHA-256 hash).
pub fn hash32(field: &str, value: &[u8]) -> Result<[u8; 32], FieldError> {
    <[u8; 32]>::try_from(value).map_err(|_| {
        if value.is_empty() {
            FieldError::new(field, Problem::Missing)
        } else {
            FieldError::new(
                field,
                Problem::WrongLength {
                    expected: 32,
                    got: value.len(),
                },
            )
        }
    })
}

/// A required sub-message.
pub fn required<T>(field: &str, value: Option<T>) -> Result<T, FieldError> {
    value.ok_or_else(|| FieldError::new(field, Problem::Missing))
}

/// At most `max` entries.
pub fn at_most<T>(field: &str, items: &[T], max: usize) -> Result<(), FieldError> {
    if items.len() > max {
        Err(FieldError::new(field, Problem::TooMany { max }))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_identifier("N2.3"));
        assert!(is_identifier("file_review"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("乡镇"));
        assert!(!is_identifier("a b"));
        assert!(!is_identifier(&"a".repeat(65)));
        assert_eq!(
            identifier("unit_id", String::new()).unwrap_err().problem,
            Problem::Missing
        );
    }

    #[test]
    fn text_refuses_control_characters_and_blank() {
        assert!(text("reason", "扣 1 分\n原因".into(), 10).is_ok());
        assert!(text("reason", "a\u{0}b".into(), 10).is_err());
        assert!(text("reason", "   ".into(), 10).is_err());
        assert!(text("reason", "一二三".into(), 2).is_err());
    }

    #[test]
    fn years_and_hashes() {
        assert_eq!(year("year", 2022), Ok(2022));
        assert_eq!(year("year", 0).unwrap_err().problem, Problem::Missing);
        assert!(matches!(
            year("year", 1999).unwrap_err().problem,
            Problem::OutOfRange { got: 1999, .. }
        ));
        assert!(year("year", u32::MAX).is_err());
        assert!(hash32("h", &[0; 32]).is_ok());
        assert_eq!(
            hash32("h", &[0; 31]).unwrap_err().problem,
            Problem::WrongLength {
                expected: 32,
                got: 31
            }
        );
    }

    #[test]
    fn status_names_the_field_in_both_languages() {
        let status = tonic::Status::from(
            FieldError::new("unit_id", Problem::NotIdentifier).within("submission"),
        );
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("字段 `submission.unit_id`"));
        assert!(status.message().contains("field `submission.unit_id`"));
    }
}
