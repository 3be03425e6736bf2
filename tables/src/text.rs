//! 文字（text）：what officials type, made comparable, and what is echoed
//! back to them, made short.
//!
//! - [`trim`]: blanks around a cell (ASCII, ideographic U+3000, no-break
//!   U+00A0 and a stray byte-order mark U+FEFF);
//! - [`fold_width`]: full-width forms typed by Chinese input methods
//!   (`１２．５`, `ｔｏｗｎｓｈｉｐ`) to ASCII, all of them ([`Fold::All`], for
//!   codes and ids) or only digits and signs ([`Fold::Numbers`], for values
//!   in text where other full-width characters are meant, like `（）`);
//! - [`column_letters`]: `0` → `A`, `26` → `AA`, as Excel names columns;
//! - [`echo`]: a cell's text quoted back in a message, at most
//!   [`ECHO_CHARS`] characters (a 50 MB cell once came back as a 52 MB
//!   message);
//! - [`number`]: a number read from a sheet as a message shows it — its
//!   shortest decimal, or Excel's `1E+308` when that would be a wall of
//!   digits.

use std::borrow::Cow;

/// Characters of a cell quoted in a message; the rest is counted, not shown.
pub const ECHO_CHARS: usize = 100;

/// Beyond this magnitude (and below [`NUMBER_SMALL`]) a number is shown in
/// Excel's scientific form: its plain decimal would be 16 or more digits.
const NUMBER_LARGE: f64 = 1e15;
const NUMBER_SMALL: f64 = 1e-6;

/// `s` without the blanks around it: Unicode white space (which includes
/// U+3000 and U+00A0) and U+FEFF, which Excel leaves at the start of a cell
/// copied from a file with a byte-order mark.
pub fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

/// Which full-width characters [`fold_width`] maps to ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Every full-width ASCII form (U+FF01–U+FF5E) and the ideographic
    /// space: for codes, ids and headers, where `ｔ１` can only mean `t1`.
    All,
    /// Digits, `．`, `＋`, `－` and the minus sign `−`: for values, in text
    /// where other full-width characters are meant (a name's `（）`).
    Numbers,
}

/// `s` with full-width characters mapped to ASCII as `fold` says;
/// borrowed when nothing changed, so `matches!(…, Cow::Owned(_))` tells
/// whether anything was folded.
pub fn fold_width(s: &str, fold: Fold) -> Cow<'_, str> {
    let map = |c: char| -> Option<char> {
        match (fold, c) {
            (Fold::All, '\u{ff01}'..='\u{ff5e}') => char::from_u32(u32::from(c) - 0xfee0),
            (Fold::All, '\u{3000}') => Some(' '),
            (Fold::Numbers, '０'..='９') => {
                char::from_u32(u32::from(c) - u32::from('０') + u32::from('0'))
            }
            (Fold::Numbers, '．') => Some('.'),
            (Fold::Numbers, '＋') => Some('+'),
            (Fold::Numbers, '－') => Some('-'),
            (Fold::Numbers, '−') => Some('-'),
            _ => None,
        }
    };
    if !s.chars().any(|c| map(c).is_some()) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| map(c).unwrap_or(c)).collect())
}

/// `0` → `A`, `25` → `Z`, `26` → `AA`, as Excel names a 0-based column.
pub fn column_letters(mut col: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// `s` as a message quotes it: whole when short, otherwise its first
/// [`ECHO_CHARS`] characters and how long it really is.
pub fn echo(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(ECHO_CHARS) {
        None => Cow::Borrowed(s),
        Some((cut, _)) => Cow::Owned(format!(
            "{}…（共 {} 个字符，只显示前 {ECHO_CHARS} 个）",
            &s[..cut],
            s.chars().count()
        )),
    }
}

/// A number read from a sheet as a message shows it: `12.5`, `0`, `101`,
/// and `1E+308` or `1.5E-7` where the plain decimal would run to 16 or more
/// digits (Excel shows the same).
pub fn number(n: f64) -> String {
    if n == 0.0 {
        // Both zeros read "0".
        return "0".to_string();
    }
    let magnitude = n.abs();
    if (NUMBER_SMALL..NUMBER_LARGE).contains(&magnitude) || !n.is_finite() {
        return format!("{n}");
    }
    let sci = format!("{n:e}");
    match sci.split_once('e') {
        Some((mantissa, exp)) if exp.starts_with('-') => format!("{mantissa}E{exp}"),
        Some((mantissa, exp)) => format!("{mantissa}E+{exp}"),
        None => sci,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_count_like_excel() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
        assert_eq!(column_letters(16_383), "XFD");
    }

    #[test]
    fn trim_takes_every_kind_of_blank_and_a_stray_bom() {
        assert_eq!(trim("\u{3000}肖旗乡 \u{a0}"), "肖旗乡");
        assert_eq!(trim("\u{feff}单位编号"), "单位编号");
        assert_eq!(trim(" \t\r\n"), "");
    }

    #[test]
    fn full_width_is_folded_all_for_codes_and_numbers_only_for_values() {
        assert_eq!(
            fold_width("ｔｏｗｎｓｈｉｐ１０１", Fold::All),
            "township101"
        );
        assert_eq!(fold_width("Ａ\u{3000}Ｂ", Fold::All), "A B");
        assert_eq!(fold_width("－１２．５", Fold::Numbers), "-12.5");
        assert_eq!(fold_width("＋３", Fold::Numbers), "+3");
        assert_eq!(fold_width("−3", Fold::Numbers), "-3");
        // A name keeps its full-width brackets; only the digits fold.
        assert_eq!(
            fold_width("宝丰县（示例）１号", Fold::Numbers),
            "宝丰县（示例）1号"
        );
        assert!(matches!(
            fold_width("plain 12.5", Fold::All),
            Cow::Borrowed(_)
        ));
        assert!(matches!(fold_width("１", Fold::Numbers), Cow::Owned(_)));
    }

    #[test]
    fn a_long_cell_is_echoed_short_with_its_length() {
        assert_eq!(echo("短文字"), "短文字");
        let exactly = "字".repeat(ECHO_CHARS);
        assert_eq!(echo(&exactly), exactly.as_str());
        let huge = "很长".repeat(500_000);
        let shown = echo(&huge);
        assert!(shown.starts_with(&"很长".repeat(ECHO_CHARS / 2)), "{shown}");
        assert!(shown.contains("共 1000000 个字符"), "{shown}");
        assert!(shown.chars().count() < ECHO_CHARS + 30, "{shown}");
    }

    #[test]
    fn numbers_are_shown_short_never_as_hundreds_of_digits() {
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(101.0), "101");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(0.30000000000000004), "0.30000000000000004");
        assert_eq!(number(123_456_789_012_345.0), "123456789012345");
        assert_eq!(number(1e308), "1E+308");
        assert_eq!(number(-2.5e20), "-2.5E+20");
        assert_eq!(number(1.5e-7), "1.5E-7");
    }
}
