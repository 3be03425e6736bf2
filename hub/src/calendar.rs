//! 工作日日历（working-day calendar）：法定节假日与调休上班日。
//!
//! A pure module: no IO, no clock. The statutory holidays and make-up
//! workdays of each year come from the State Council's annual notice
//! (国务院办公厅关于XXXX年部分节假日安排的通知). The years 2022–2026 are
//! carried in `hub/data/holidays/YYYY.toml` and compiled into the binary
//! ([`Calendar::builtin`]); later years are imported into the hub database
//! (`kaohe hub calendar import FILE`) and added with [`Calendar::with_year`].
//!
//! **Invariant:** a date in a year the calendar does not cover is an error
//! ([`CalendarError::YearNotCovered`]), never a guess from the ordinary week.
//!
//! Year file format (TOML), listing only the exceptions to the ordinary week
//! (Monday–Friday work, Saturday and Sunday off):
//!
//! ```toml
//! year = 2023
//! notice = "国务院办公厅关于2023年部分节假日安排的通知"
//! document_number = "国办发明电〔2022〕16号"   # optional if url is given
//! issued = 2022-12-08                           # optional
//! url = "http://www.gov.cn/..."                 # optional if document_number is given
//!
//! [[holiday]]
//! name = "春节"
//! off = [2023-01-21, 2023-01-22]                # days off
//! make_up_workdays = [2023-01-28]               # weekend days worked (调休上班)
//! ```
//!
//! A notice may list days at the edge of the neighbouring year (the 2023
//! notice gives 2022-12-31 off): dates from December of the previous year to
//! January of the next are accepted. Two loaded notices may not disagree
//! about a date.
//!
//! Dates are Beijing dates: an instant becomes one by [`beijing_date`]
//! (UTC+8, no daylight saving since 1991), which is how the hub's clock
//! meets the calendar's deadlines.

pub mod describe;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use jiff::Timestamp;
use jiff::ToSpan;
use jiff::civil::{Date, Weekday};
use jiff::tz::{self, TimeZone};
use serde::Deserialize;

/// The year files compiled into the binary.
pub const BUILTIN_YEARS: &[(i32, &str)] = &[
    (2022, include_str!("../data/holidays/2022.toml")),
    (2023, include_str!("../data/holidays/2023.toml")),
    (2024, include_str!("../data/holidays/2024.toml")),
    (2025, include_str!("../data/holidays/2025.toml")),
    (2026, include_str!("../data/holidays/2026.toml")),
];

/// Years a calendar file may describe (a sanity bound against typos).
pub const YEAR_RANGE: std::ops::RangeInclusive<i32> = 2000..=2200;

/// What kind of day a date is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayKind {
    /// 工作日: Monday to Friday, no holiday.
    Workday,
    /// 周末: Saturday or Sunday, no make-up work.
    Weekend,
    /// 法定节假日（放假）, with the holiday's name.
    Holiday(String),
    /// 调休上班日: a weekend day worked, with the holiday it pays for.
    MakeUpWorkday(String),
}

impl DayKind {
    pub fn is_working(&self) -> bool {
        matches!(self, DayKind::Workday | DayKind::MakeUpWorkday(_))
    }
}

impl fmt::Display for DayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DayKind::Workday => f.write_str("工作日"),
            DayKind::Weekend => f.write_str("周末"),
            DayKind::Holiday(name) => write!(f, "{name}放假"),
            DayKind::MakeUpWorkday(name) => write!(f, "{name}调休上班"),
        }
    }
}

/// One holiday of a notice: its days off and the weekend days worked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub name: String,
    pub off: Vec<Date>,
    pub make_up_workdays: Vec<Date>,
}

/// One year's notice, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearData {
    pub year: i32,
    /// 通知标题, e.g. 国务院办公厅关于2024年部分节假日安排的通知.
    pub notice: String,
    /// 文号, e.g. 国办发明电〔2023〕7号.
    pub document_number: Option<String>,
    pub issued: Option<Date>,
    pub url: Option<String>,
    pub holidays: Vec<Holiday>,
}

/// A calendar error; every variant says which year or date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error(
        "日历未包含 {year} 年的节假日安排（国务院办公厅当年通知尚未导入），不能推算该年的工作日；请用 `kaohe hub calendar import` 导入（year {year} not covered by the calendar）"
    )]
    YearNotCovered { year: i32 },
    #[error("日历文件格式错误（calendar file syntax）：{message}")]
    Syntax { message: String },
    #[error("{year} 年日历文件有 {} 处问题（invalid calendar file）：{}", problems.len(), problems.join("；"))]
    Invalid { year: i32, problems: Vec<String> },
    #[error(
        "{date} 在 {first} 年和 {second} 年的通知中安排不一致，一处放假、一处上班（notices disagree about {date}）"
    )]
    Conflict { date: Date, first: i32, second: i32 },
    #[error("日期 {date} 之后再无可推算的日期（date arithmetic overflow）")]
    Overflow { date: Date },
}

/// Statutory holidays and make-up workdays for the years it covers.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    years: BTreeMap<i32, YearData>,
    /// Every exception of every loaded notice: date → (notice year, name, is day off).
    exceptions: BTreeMap<Date, Exception>,
}

#[derive(Debug, Clone)]
struct Exception {
    notice_year: i32,
    name: String,
    off: bool,
}

impl Calendar {
    /// An empty calendar: covers no year.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The years 2022–2026 compiled into the binary (parsed once).
    pub fn builtin() -> Self {
        static BUILTIN: LazyLock<Calendar> = LazyLock::new(|| {
            let mut cal = Calendar::empty();
            for (year, text) in BUILTIN_YEARS {
                // The embedded files are part of the source tree, not input:
                // `builtin_years_parse_and_name_their_notice` parses them all.
                let data = YearData::parse(text)
                    .unwrap_or_else(|e| panic!("built-in calendar {year} is broken: {e}"));
                cal = cal
                    .with_year(data)
                    .unwrap_or_else(|e| panic!("built-in calendar {year} conflicts: {e}"));
            }
            cal
        });
        BUILTIN.clone()
    }

    /// Adds (or replaces) one year's notice. Fails if it disagrees with
    /// another loaded notice about a date at the edge of the two years.
    pub fn with_year(mut self, data: YearData) -> Result<Self, CalendarError> {
        self.years.insert(data.year, data);
        self.exceptions = build_exceptions(&self.years)?;
        Ok(self)
    }

    /// The covered years, ascending.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.keys().copied()
    }

    /// The notice loaded for `year`.
    pub fn year_data(&self, year: i32) -> Option<&YearData> {
        self.years.get(&year)
    }

    pub fn covers(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// What kind of day `date` is.
    pub fn day_kind(&self, date: Date) -> Result<DayKind, CalendarError> {
        let year = i32::from(date.year());
        if !self.covers(year) {
            return Err(CalendarError::YearNotCovered { year });
        }
        Ok(match self.exceptions.get(&date) {
            Some(e) if e.off => DayKind::Holiday(e.name.clone()),
            Some(e) => DayKind::MakeUpWorkday(e.name.clone()),
            None if is_weekend(date) => DayKind::Weekend,
            None => DayKind::Workday,
        })
    }

    pub fn is_working_day(&self, date: Date) -> Result<bool, CalendarError> {
        Ok(self.day_kind(date)?.is_working())
    }

    /// The date that ends a window of `n` working days starting from a
    /// notification on `notified`: the day of notification is not counted,
    /// the result is the `n`-th working day after it (`n = 0` gives
    /// `notified` itself).
    pub fn add_working_days(&self, notified: Date, n: u32) -> Result<Date, CalendarError> {
        self.day_kind(notified)?;
        let mut date = notified;
        let mut counted = 0;
        while counted < n {
            date = next_day(date)?;
            if self.is_working_day(date)? {
                counted += 1;
            }
        }
        Ok(date)
    }

    /// The end of a window of `n` calendar days from `start` (the start day
    /// is not counted, so the last day is `start + n`); if that day is not a
    /// working day, the deadline moves to the next working day — the rule of
    /// 期间届满的最后一日是法定休假日的，以休假日后的第一日为期间届满的日期.
    pub fn deadline_after_days(&self, start: Date, n: u32) -> Result<Date, CalendarError> {
        self.day_kind(start)?;
        let mut date = start
            .checked_add(i64::from(n).days())
            .map_err(|_| CalendarError::Overflow { date: start })?;
        while !self.is_working_day(date)? {
            date = next_day(date)?;
        }
        Ok(date)
    }

    /// Working days after `from` up to and including `to` (0 when `to` is
    /// not after `from`): how many working days are left before a
    /// deadline.
    pub fn working_days_between(&self, from: Date, to: Date) -> Result<u32, CalendarError> {
        let mut count = 0;
        let mut date = from;
        while date < to {
            date = next_day(date)?;
            if self.is_working_day(date)? {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Number of working days in `year`.
    pub fn working_days_in_year(&self, year: i32) -> Result<u32, CalendarError> {
        let first = year_start(year)?;
        let mut count = 0;
        let mut date = first;
        while i32::from(date.year()) == year {
            if self.is_working_day(date)? {
                count += 1;
            }
            date = next_day(date)?;
        }
        Ok(count)
    }
}

impl YearData {
    /// Parses and validates a year file (format in the module docs). All
    /// problems are reported at once.
    pub fn parse(text: &str) -> Result<YearData, CalendarError> {
        let file: YearFile = toml::from_str(text).map_err(|e| CalendarError::Syntax {
            message: e.to_string().trim_end().to_string(),
        })?;
        file.validate()
    }
}

/// `2026年12月8日（星期二）`.
pub fn format_date_zh(date: Date) -> String {
    format!(
        "{}年{}月{}日（{}）",
        date.year(),
        date.month(),
        date.day(),
        weekday_zh(date.weekday())
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

/// `2023年1月21日` in Beijing time.
pub fn beijing_day(ts: Timestamp) -> String {
    let d = beijing_date(ts);
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// The date in Beijing of an instant.
pub fn beijing_date(ts: Timestamp) -> Date {
    ts.to_zoned(TimeZone::fixed(tz::offset(8))).date()
}

fn is_weekend(date: Date) -> bool {
    matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

fn next_day(date: Date) -> Result<Date, CalendarError> {
    date.tomorrow()
        .map_err(|_| CalendarError::Overflow { date })
}

fn year_start(year: i32) -> Result<Date, CalendarError> {
    i16::try_from(year)
        .ok()
        .and_then(|y| Date::new(y, 1, 1).ok())
        .ok_or(CalendarError::YearNotCovered { year })
}

fn build_exceptions(
    years: &BTreeMap<i32, YearData>,
) -> Result<BTreeMap<Date, Exception>, CalendarError> {
    let mut out: BTreeMap<Date, Exception> = BTreeMap::new();
    for data in years.values() {
        for holiday in &data.holidays {
            let days = holiday
                .off
                .iter()
                .map(|d| (d, true))
                .chain(holiday.make_up_workdays.iter().map(|d| (d, false)));
            for (&date, off) in days {
                let new = Exception {
                    notice_year: data.year,
                    name: holiday.name.clone(),
                    off,
                };
                match out.get(&date) {
                    Some(old) if old.off != off => {
                        return Err(CalendarError::Conflict {
                            date,
                            first: old.notice_year,
                            second: data.year,
                        });
                    }
                    // Both notices agree; keep the notice of the date's own year.
                    Some(old) if i32::from(date.year()) == old.notice_year => {}
                    _ => {
                        out.insert(date, new);
                    }
                }
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i64,
    notice: String,
    document_number: Option<String>,
    issued: Option<toml::value::Datetime>,
    url: Option<String>,
    #[serde(default)]
    holiday: Vec<HolidayFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayFile {
    name: String,
    #[serde(default)]
    off: Vec<toml::value::Datetime>,
    #[serde(default)]
    make_up_workdays: Vec<toml::value::Datetime>,
}

impl YearFile {
    fn validate(self) -> Result<YearData, CalendarError> {
        let mut problems = Vec::new();
        let year = match i32::try_from(self.year) {
            Ok(y) if YEAR_RANGE.contains(&y) => y,
            _ => {
                return Err(CalendarError::Invalid {
                    year: self.year.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
                    problems: vec![format!(
                        "year = {} 不在 {}–{} 之间（year out of range）",
                        self.year,
                        YEAR_RANGE.start(),
                        YEAR_RANGE.end()
                    )],
                });
            }
        };
        let notice = self.notice.trim().to_string();
        if notice.is_empty() {
            problems.push("notice（通知标题）为空（empty notice title）".to_string());
        }
        let document_number = non_empty(self.document_number);
        let url = non_empty(self.url);
        if document_number.is_none() && url.is_none() {
            problems.push(
                "document_number（文号）和 url（原文链接）至少要有一个（name the source notice）"
                    .to_string(),
            );
        }
        let issued = self
            .issued
            .and_then(|dt| to_date(&dt, "issued", &mut problems));
        if self.holiday.is_empty() {
            problems.push("没有任何 [[holiday]]（no holidays listed）".to_string());
        }

        let earliest = Date::new((year - 1) as i16, 12, 1).ok();
        let latest = Date::new((year + 1) as i16, 1, 31).ok();
        let mut seen: BTreeMap<Date, String> = BTreeMap::new();
        let mut holidays = Vec::new();
        for h in self.holiday {
            let name = h.name.trim().to_string();
            if name.is_empty() {
                problems.push("有一个 [[holiday]] 的 name 为空（empty holiday name）".to_string());
            }
            let mut convert = |list: Vec<toml::value::Datetime>, field: &str, off: bool| {
                let mut dates = Vec::new();
                for dt in list {
                    let Some(date) = to_date(&dt, field, &mut problems) else {
                        continue;
                    };
                    if earliest.is_some_and(|e| date < e) || latest.is_some_and(|l| date > l) {
                        problems.push(format!(
                            "{name} 的 {date} 不在 {year} 年（及前后相邻的 12 月、1 月）之内（date outside the notice's year）"
                        ));
                    }
                    if !off && !is_weekend(date) {
                        problems.push(format!(
                            "{name} 的调休上班日 {} 不是周六或周日（a make-up workday must be a weekend day）",
                            format_date_zh(date)
                        ));
                    }
                    if let Some(other) = seen.insert(date, name.clone()) {
                        problems.push(format!(
                            "{date} 重复出现（{other}、{name}）（date listed twice）"
                        ));
                    }
                    dates.push(date);
                }
                dates.sort();
                dates
            };
            let off = convert(h.off, "off", true);
            let make_up_workdays = convert(h.make_up_workdays, "make_up_workdays", false);
            if off.is_empty() && make_up_workdays.is_empty() {
                problems.push(format!("{name} 没有列出任何日期（holiday without dates）"));
            }
            holidays.push(Holiday {
                name,
                off,
                make_up_workdays,
            });
        }
        if !problems.is_empty() {
            return Err(CalendarError::Invalid { year, problems });
        }
        Ok(YearData {
            year,
            notice,
            document_number,
            issued,
            url,
            holidays,
        })
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn to_date(dt: &toml::value::Datetime, field: &str, problems: &mut Vec<String>) -> Option<Date> {
    match (dt.date, dt.time, dt.offset) {
        (Some(d), None, None) => match Date::new(d.year as i16, d.month as i8, d.day as i8) {
            Ok(date) => Some(date),
            Err(_) => {
                problems.push(format!("{field} 中的 {dt} 不是有效日期（invalid date）"));
                None
            }
        },
        _ => {
            problems.push(format!(
                "{field} 中的 {dt} 应是不带时间的日期，如 2024-10-01（expected a plain date）"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn cal() -> Calendar {
        Calendar::builtin()
    }

    /// Working-day windows worked out by hand from the State Council notices.
    #[test]
    fn golden_working_day_windows() {
        let cases = [
            // Notified Friday 2023-01-20, the eve of Spring Festival (off
            // 01-21..01-27). Make-up Sat 01-28 (1), Sun 01-29 (2), Mon 01-30
            // (3), Tue 01-31 (4), Wed 02-01 (5).
            (date(2023, 1, 20), 5, date(2023, 2, 1)),
            // Notified Thu 2023-09-28; Mid-Autumn + National Day off
            // 09-29..10-06; make-up Sat 10-07 (1), Sun 10-08 (2), then
            // Mon 10-09 (3), Tue 10-10 (4), Wed 10-11 (5).
            (date(2023, 9, 28), 5, date(2023, 10, 11)),
            // A make-up Saturday counts: notified Fri 2024-09-13, Sat 09-14 is
            // the make-up workday for Mid-Autumn.
            (date(2024, 9, 13), 1, date(2024, 9, 14)),
            // … and the next working day after it is Wed 09-18 (09-15..17 off).
            (date(2024, 9, 13), 2, date(2024, 9, 18)),
            // Notified Fri 2024-09-27: Sat 09-28 weekend, Sun 09-29 make-up (1),
            // Mon 09-30 (2), 10-01..07 off, Tue 10-08 (3), Wed 10-09 (4),
            // Thu 10-10 (5).
            (date(2024, 9, 27), 5, date(2024, 10, 10)),
            // Across the new year: Fri 2022-12-30, then 12-31 (listed by the
            // 2023 notice), 01-01, 01-02 off; Tue 2023-01-03.
            (date(2022, 12, 30), 1, date(2023, 1, 3)),
            // 2025 National Day: make-up Sun 09-28 right after Fri 09-26.
            (date(2025, 9, 26), 1, date(2025, 9, 28)),
            (date(2025, 9, 30), 1, date(2025, 10, 9)),
            // Zero days: the notification day itself.
            (date(2024, 10, 3), 0, date(2024, 10, 3)),
            // Last covered days.
            (date(2026, 12, 28), 3, date(2026, 12, 31)),
        ];
        let cal = cal();
        for (notified, n, expected) in cases {
            assert_eq!(
                cal.add_working_days(notified, n),
                Ok(expected),
                "{notified} + {n} working days"
            );
        }
    }

    #[test]
    fn golden_calendar_day_deadlines() {
        let cases = [
            // 2023-09-20 + 10 = Sat 09-30 (holiday) → 10-01..06 off → Sat
            // 10-07, a make-up workday.
            (date(2023, 9, 20), 10, date(2023, 10, 7)),
            // 2024-01-31 + 10 = Sat 02-10 (Spring Festival) → 02-11..17 off →
            // Sun 02-18, a make-up workday.
            (date(2024, 1, 31), 10, date(2024, 2, 18)),
            // 2023-01-10 + 15 = Wed 01-25 (Spring Festival) → Sat 01-28 (make-up).
            (date(2023, 1, 10), 15, date(2023, 1, 28)),
            // Ending on an ordinary workday: no shift.
            (date(2026, 12, 21), 10, date(2026, 12, 31)),
            // Ending on an ordinary Sunday 2024-03-10 → Monday.
            (date(2024, 3, 1), 9, date(2024, 3, 11)),
        ];
        let cal = cal();
        for (start, n, expected) in cases {
            assert_eq!(
                cal.deadline_after_days(start, n),
                Ok(expected),
                "{start} + {n} days"
            );
        }
    }

    #[test]
    fn a_deadline_reaching_2027_is_refused_naming_2027() {
        let cal = cal();
        let err = cal.add_working_days(date(2026, 12, 28), 4).unwrap_err();
        assert_eq!(err, CalendarError::YearNotCovered { year: 2027 });
        assert!(err.to_string().contains("2027"), "{err}");
        assert_eq!(
            cal.deadline_after_days(date(2026, 12, 31), 1),
            Err(CalendarError::YearNotCovered { year: 2027 })
        );
        assert_eq!(
            cal.is_working_day(date(2021, 6, 1)),
            Err(CalendarError::YearNotCovered { year: 2021 })
        );
    }

    #[test]
    fn day_kinds_follow_the_notices() {
        let cal = cal();
        assert_eq!(
            cal.day_kind(date(2024, 2, 4)),
            Ok(DayKind::MakeUpWorkday("春节".into()))
        );
        assert_eq!(
            cal.day_kind(date(2024, 2, 12)),
            Ok(DayKind::Holiday("春节".into()))
        );
        assert_eq!(cal.day_kind(date(2024, 2, 24)), Ok(DayKind::Weekend));
        assert_eq!(cal.day_kind(date(2024, 2, 26)), Ok(DayKind::Workday));
        // Listed by the 2023 notice although it falls in 2022.
        assert_eq!(
            cal.day_kind(date(2022, 12, 31)),
            Ok(DayKind::Holiday("元旦".into()))
        );
        assert_eq!(cal.is_working_day(date(2026, 1, 4)), Ok(true));
        assert_eq!(cal.is_working_day(date(2026, 1, 2)), Ok(false));
    }

    #[test]
    fn builtin_years_parse_and_name_their_notice() {
        let cal = cal();
        assert_eq!(
            cal.years().collect::<Vec<_>>(),
            vec![2022, 2023, 2024, 2025, 2026]
        );
        let y2024 = cal.year_data(2024).unwrap();
        assert_eq!(y2024.notice, "国务院办公厅关于2024年部分节假日安排的通知");
        assert_eq!(
            y2024.document_number.as_deref(),
            Some("国办发明电〔2023〕7号")
        );
        assert_eq!(y2024.issued, Some(date(2023, 10, 25)));
        // Totals counted independently by a short script over the
        // holiday-cn data, not by this code.
        assert_eq!(cal.working_days_in_year(2023), Ok(249));
        assert_eq!(cal.working_days_in_year(2024), Ok(251));
        assert_eq!(cal.working_days_in_year(2026), Ok(248));
    }

    #[test]
    fn chinese_date_format() {
        assert_eq!(format_date_zh(date(2026, 12, 8)), "2026年12月8日（星期二）");
        assert_eq!(format_date_zh(date(2023, 2, 1)), "2023年2月1日（星期三）");
        assert_eq!(format_date_zh(date(2024, 2, 18)), "2024年2月18日（星期日）");
    }

    const Y2027: &str = r#"
year = 2027
notice = "国务院办公厅关于2027年部分节假日安排的通知（测试用，非真实安排）"
url = "https://example.invalid/2027"

[[holiday]]
name = "元旦"
off = [2027-01-01]

[[holiday]]
name = "测试假"
off = [2027-01-04, 2027-01-05]
make_up_workdays = [2027-01-09]
"#;

    #[test]
    fn an_added_year_extends_the_calendar() {
        let data = YearData::parse(Y2027).unwrap();
        let cal = cal().with_year(data).unwrap();
        // Mon 2026-12-28: 29, 30, 31 (3), 2027-01-01 off, Sat 01-02, Sun 01-03,
        // Mon 01-04 off, Tue 01-05 off, Wed 01-06 (4).
        assert_eq!(
            cal.add_working_days(date(2026, 12, 28), 4),
            Ok(date(2027, 1, 6))
        );
        // Sat 2027-01-09 is a make-up workday.
        assert_eq!(
            cal.add_working_days(date(2027, 1, 8), 1),
            Ok(date(2027, 1, 9))
        );
        assert_eq!(
            cal.add_working_days(date(2027, 12, 30), 2),
            Err(CalendarError::YearNotCovered { year: 2028 })
        );
    }

    #[test]
    fn a_bad_year_file_reports_every_problem() {
        let text = r#"
year = 2027
notice = ""

[[holiday]]
name = "春节"
off = [2027-02-06, 2027-02-06, 2025-05-01]
make_up_workdays = [2027-02-03, 2027-02-20T09:00:00]
"#;
        let err = YearData::parse(text).unwrap_err();
        let CalendarError::Invalid { year, problems } = &err else {
            panic!("expected Invalid, got {err:?}");
        };
        assert_eq!(*year, 2027);
        let all = problems.join("\n");
        for needle in [
            "notice",
            "document_number",
            "2027-02-06 重复出现",
            "2025-05-01 不在 2027 年",
            "2027年2月3日（星期三） 不是周六或周日",
            "不带时间的日期",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        assert_eq!(problems.len(), 6, "{all}");
    }

    #[test]
    fn syntax_errors_and_unknown_fields_name_the_line() {
        let err = YearData::parse("year = 2027\nnotice = \"x\"\nurl = \"u\"\nholliday = 1\n")
            .unwrap_err();
        let CalendarError::Syntax { message } = &err else {
            panic!("expected Syntax, got {err:?}");
        };
        assert!(message.contains("holliday"), "{message}");
        assert!(message.contains('4'), "line number expected: {message}");
    }

    #[test]
    fn notices_that_disagree_about_a_date_conflict() {
        // A 2027 notice may give 2026-12-31 off (the 2026 notice says
        // nothing about it): the edge day follows the later notice.
        let text = r#"
year = 2027
notice = "测试"
url = "u"

[[holiday]]
name = "元旦"
off = [2026-12-31, 2027-01-01]
"#;
        let cal = cal().with_year(YearData::parse(text).unwrap()).unwrap();
        assert_eq!(
            cal.day_kind(date(2026, 12, 31)),
            Ok(DayKind::Holiday("元旦".into()))
        );

        // Two notices that disagree: 2026 says 2026-01-04 is a make-up
        // workday; a fake 2025 correction says it is a day off.
        let fake_2025 = r#"
year = 2025
notice = "测试"
url = "u"

[[holiday]]
name = "元旦"
off = [2026-01-04]
"#;
        let err = cal
            .with_year(YearData::parse(fake_2025).unwrap())
            .unwrap_err();
        assert_eq!(
            err,
            CalendarError::Conflict {
                date: date(2026, 1, 4),
                first: 2025,
                second: 2026
            }
        );
    }
}
