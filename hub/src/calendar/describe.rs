//! A year's notice as people read it: each holiday's days off as runs
//! (`1月21日至1月27日（共7天）`) and its 调休 working days with the
//! weekday — what `kaohe hub calendar show` prints and the console's 日历
//! page shows. Pure.

use jiff::civil::Date;

use super::{YearData, weekday_zh};

/// One holiday of `data` as (节日, 放假, 调休上班).
pub fn holiday_rows(data: &YearData) -> Vec<[String; 3]> {
    let year = data.year;
    data.holidays
        .iter()
        .map(|h| {
            [
                h.name.clone(),
                describe_ranges(&h.off, year),
                if h.make_up_workdays.is_empty() {
                    "—".to_string()
                } else {
                    h.make_up_workdays
                        .iter()
                        .map(|d| day_in_year(*d, year))
                        .collect::<Vec<_>>()
                        .join("、")
                },
            ]
        })
        .collect()
}

/// `1月21日至1月27日（共7天）、…` for runs of consecutive dates; the year is
/// written only for dates outside `year` (a notice may list 12月31日 of the
/// year before).
pub fn describe_ranges(dates: &[Date], year: i32) -> String {
    let mut runs: Vec<(Date, Date, usize)> = Vec::new();
    for &d in dates {
        match runs.last_mut() {
            Some((_, end, n)) if end.tomorrow().ok() == Some(d) => {
                *end = d;
                *n += 1;
            }
            _ => runs.push((d, d, 1)),
        }
    }
    runs.into_iter()
        .map(|(start, end, n)| {
            if n == 1 {
                day_in_year(start, year)
            } else {
                format!(
                    "{}至{}（共{n}天）",
                    short_date(start, year),
                    short_date(end, year)
                )
            }
        })
        .collect::<Vec<_>>()
        .join("、")
}

/// `2月4日（星期日）`, with the year if it is not `year`.
pub fn day_in_year(date: Date, year: i32) -> String {
    format!(
        "{}（{}）",
        short_date(date, year),
        weekday_zh(date.weekday())
    )
}

fn short_date(date: Date, year: i32) -> String {
    if i32::from(date.year()) == year {
        format!("{}月{}日", date.month(), date.day())
    } else {
        format!("{}年{}月{}日", date.year(), date.month(), date.day())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn runs_of_days_are_described_as_ranges() {
        let dates = [
            date(2024, 2, 10),
            date(2024, 2, 11),
            date(2024, 2, 12),
            date(2024, 4, 4),
        ];
        assert_eq!(
            describe_ranges(&dates, 2024),
            "2月10日至2月12日（共3天）、4月4日（星期四）"
        );
        let new_year = [date(2022, 12, 31), date(2023, 1, 1), date(2023, 1, 2)];
        assert_eq!(
            describe_ranges(&new_year, 2023),
            "2022年12月31日至1月2日（共3天）"
        );
    }
}
