//! How pages write dates, times and scores: `2024年1月8日（星期一）`,
//! Beijing time (UTC+8, no daylight saving), two decimals.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::{self, TimeZone};

/// `2024年1月8日（星期一）`.
pub fn date(d: Date) -> String {
    format!(
        "{}年{}月{}日（{}）",
        d.year(),
        d.month(),
        d.day(),
        weekday_zh(d.weekday())
    )
}

/// `星期一` … `星期日`.
pub fn weekday_zh(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "星期一",
        Weekday::Tuesday => "星期二",
        Weekday::Wednesday => "星期三",
        Weekday::Thursday => "星期四",
        Weekday::Friday => "星期五",
        Weekday::Saturday => "星期六",
        Weekday::Sunday => "星期日",
    }
}

/// The Beijing date of an instant.
pub fn beijing_date(ts: Timestamp) -> Date {
    ts.to_zoned(TimeZone::fixed(tz::offset(8))).date()
}

/// `2024年1月8日（星期一）10:05`, Beijing time.
pub fn datetime(ts: Timestamp) -> String {
    let z = ts.to_zoned(TimeZone::fixed(tz::offset(8)));
    format!("{} {:02}:{:02}", date(z.date()), z.hour(), z.minute())
}

/// [`datetime`] of unix seconds; the number itself when out of range.
pub fn unix(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .map(datetime)
        .unwrap_or_else(|_| seconds.to_string())
}

/// [`datetime`] of an RFC 3339 text as stored; the text itself when it
/// does not parse.
pub fn stored(text: &str) -> String {
    text.parse::<Timestamp>()
        .map(datetime)
        .unwrap_or_else(|_| text.to_owned())
}

/// Hundredths of a point with exactly two decimals: `9890` → `98.90`.
pub fn score(hundredths: i64) -> String {
    kaohe_rulepacks::rubric::decimal::format_hundredths_fixed(hundredths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_carry_the_weekday_and_times_are_beijing() {
        assert_eq!(
            date(jiff::civil::date(2024, 1, 8)),
            "2024年1月8日（星期一）"
        );
        let ts: Timestamp = "2024-01-07T18:30:00Z".parse().unwrap();
        assert_eq!(datetime(ts), "2024年1月8日（星期一） 02:30");
        assert_eq!(stored("not a time"), "not a time");
        assert_eq!(score(9890), "98.90");
        assert_eq!(score(-300), "-3.00");
        assert_eq!(score(5), "0.05");
    }
}
