use super::layout::balanced;
use super::linebreak::{break_lines, no_line_end, no_line_start};
use super::*;
use crate::export::font::FontData;

fn lines(text: &str, chars_per_line: usize) -> Vec<String> {
    let data = FontData::load(None).unwrap();
    let font = Font::parse(&data).unwrap();
    let w = chars_per_line as f32 * 10.0;
    break_lines(&font, text, 10.0, w, w)
        .into_iter()
        .map(|l| l.text)
        .collect()
}

#[test]
fn cjk_breaks_at_any_character() {
    assert_eq!(
        lines("一二三四五六七八九十", 4),
        ["一二三四", "五六七八", "九十"]
    );
}

#[test]
fn closing_punctuation_never_starts_a_line() {
    // 。 would start line 2: 四 is carried down with it.
    assert_eq!(lines("一二三四。五六", 4), ["一二三", "四。五六"]);
    // Two closing marks in a row: one character carried with both.
    assert_eq!(lines("一二三）。五", 4), ["一二", "三）。五"]);
    for text in [
        "法治宝丰（法治政府）建设考核结果，经县委、县政府审定。现予通报！",
        "甲乙丙丁，戊己庚辛：壬癸、子丑；寅卯？",
    ] {
        for n in 3..9 {
            for line in lines(text, n).iter().skip(1) {
                let first = line.chars().next().unwrap();
                assert!(
                    !no_line_start(first),
                    "{n}: line starts with {first}: {line}"
                );
            }
        }
    }
}

#[test]
fn opening_punctuation_never_ends_a_line() {
    assert_eq!(lines("一二三（四五", 4), ["一二三", "（四五"]);
    for n in 3..9 {
        for line in lines("县司法局《关于「法治」的通知》（试行）", n) {
            let last = line.chars().last().unwrap();
            assert!(!no_line_end(last), "{n}: line ends with {last}: {line}");
        }
    }
}

#[test]
fn numbers_and_latin_words_stay_whole() {
    // "95.50" does not fit after 得分为 on a 6-em line: it moves whole.
    let got = lines("考核得分为95.50分", 6);
    assert_eq!(got[0], "考核得分为");
    assert!(got[1].starts_with("95.50"), "{got:?}");
    // A run longer than a line is cut.
    let got = lines("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ", 4);
    assert!(got.len() > 1);
    assert_eq!(got.concat(), "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ");
}

#[test]
fn newline_forces_a_break_and_text_is_never_lost() {
    assert_eq!(lines("甲乙\n丙", 10), ["甲乙", "丙"]);
    assert_eq!(lines("", 10), [""]);
    let text =
        "（一）根据考核结果，对排名后三名的单位予以通报警示，对考核等次为不合格的单位进行约谈。";
    for n in 2..12 {
        assert_eq!(lines(text, n).concat(), text, "{n}");
    }
}

#[test]
fn centred_titles_are_balanced() {
    let data = FontData::load(None).unwrap();
    let font = Font::parse(&data).unwrap();
    let text = "关于2022年度法治宝丰（法治政府）建设考核结果的通报";
    let greedy = break_lines(&font, text, TITLE, TEXT_W, TEXT_W);
    assert_eq!(greedy.len(), 2);
    assert!(
        greedy[0].width - greedy[1].width > TITLE * 6.0,
        "greedy is lopsided"
    );
    let even = balanced(&font, text, TITLE, greedy);
    assert_eq!(even.len(), 2);
    assert!(
        (even[0].width - even[1].width).abs() <= TITLE * 2.0,
        "{even:?}"
    );
    assert_eq!(
        even.iter().map(|l| l.text.as_str()).collect::<String>(),
        text
    );
}

#[test]
fn chinese_section_numbers() {
    assert_eq!(cn_number(1), "一");
    assert_eq!(cn_number(10), "十");
    assert_eq!(cn_number(12), "十二");
    assert_eq!(cn_number(20), "二十");
    assert_eq!(cn_number(35), "三十五");
}
