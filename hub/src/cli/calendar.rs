//! `kaohe hub calendar show | import | deadline`: the working-day calendar.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use jiff::civil::Date;
use kaohe_tables::terminal;
use rusqlite::Connection;

use super::{Invocation, beijing};
use crate::calendar::{self, Calendar, format_date_zh};
use crate::registry::calendar_years::{self, Replaced};

#[derive(Debug, clap::Subcommand)]
pub enum CalendarCommand {
    /// 显示一年的法定节假日和调休上班日（show a year's holidays）
    Show {
        /// 年份（year）
        #[arg(value_name = "年份")]
        year: i32,
    },
    /// 导入一年的节假日安排文件（.toml，格式见 hub/data/holidays/）（import a year file）
    Import {
        /// 年度日历文件（year file）
        #[arg(value_name = "文件")]
        file: PathBuf,
    },
    /// 推算期限（compute a deadline）：默认按工作日，通知当日不计
    Deadline {
        /// 起算日（通知日），如 2024-09-27（start date）
        #[arg(long, value_name = "日期")]
        from: Date,
        /// 天数（number of days）
        #[arg(long, value_name = "天数")]
        days: u32,
        /// 按自然日计算，期满日为休息日的顺延到下一个工作日（calendar days）
        #[arg(long)]
        natural: bool,
    },
}

pub(super) fn run(inv: &Invocation, command: CalendarCommand) -> anyhow::Result<()> {
    match command {
        CalendarCommand::Show { year } => {
            let conn = inv.open()?;
            let calendar = calendar_years::effective_calendar(&conn)?;
            show_calendar(&conn, &calendar, year)?;
        }
        CalendarCommand::Import { file } => {
            let actor = inv.actor()?;
            let mut conn = inv.open()?;
            let text = read_text(&file)?;
            let (data, replaced) = calendar_years::import_calendar_year(&mut conn, &text, &actor)
                .with_context(|| {
                format!("导入日历文件 {}（import calendar file）", file.display())
            })?;
            let note = match replaced {
                Replaced::Nothing => "",
                Replaced::Builtin => "，替换内置数据（replaces built-in year）",
                Replaced::Imported => "，替换此前导入的数据（replaces earlier import）",
            };
            println!(
                "已导入 {} 年日历：{}{}（calendar imported）",
                data.year, data.notice, note
            );
        }
        CalendarCommand::Deadline {
            from,
            days,
            natural,
        } => {
            let conn = inv.open()?;
            let calendar = calendar_years::effective_calendar(&conn)?;
            if natural {
                let end = calendar.deadline_after_days(from, days)?;
                println!(
                    "自 {} 起 {days} 日（期满日为休息日的顺延），期限为 {}",
                    format_date_zh(from),
                    format_date_zh(end)
                );
            } else {
                let end = calendar.add_working_days(from, days)?;
                println!(
                    "自 {} 起 {days} 个工作日（当日不计），期限为 {}",
                    format_date_zh(from),
                    format_date_zh(end)
                );
            }
        }
    }
    Ok(())
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("读取文件 {}（read file）", path.display()))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    String::from_utf8(bytes.to_vec())
        .with_context(|| format!("文件 {} 不是 UTF-8 编码（not UTF-8）", path.display()))
}

fn show_calendar(conn: &Connection, calendar: &Calendar, year: i32) -> anyhow::Result<()> {
    let Some(data) = calendar.year_data(year) else {
        let covered: Vec<String> = calendar.years().map(|y| y.to_string()).collect();
        bail!(
            "日历未包含 {year} 年（year not covered）；已有：{}。国务院办公厅通知发布后可用 `kaohe hub calendar import` 导入",
            covered.join("、")
        );
    };
    let source = match calendar_years::imported_years(conn)?
        .into_iter()
        .find(|y| y.year == year)
    {
        Some(imported) => format!(
            "导入（imported）：{}，{}",
            beijing(imported.imported_at),
            imported.imported_by
        ),
        None => "内置（built-in）".to_string(),
    };
    println!("{year} 年 {}", data.notice);
    if let Some(number) = &data.document_number {
        println!("文号：{number}");
    }
    if let Some(issued) = data.issued {
        println!("发布日期：{}", format_date_zh(issued));
    }
    if let Some(url) = &data.url {
        println!("原文：{url}");
    }
    println!("数据来源：{source}");
    println!();
    let rows: Vec<Vec<String>> = data
        .holidays
        .iter()
        .map(|h| {
            vec![
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
        .collect();
    print!("{}", terminal::render(&["节日", "放假", "调休上班"], &rows));
    println!();
    println!(
        "全年工作日 {} 天（working days）",
        calendar.working_days_in_year(year)?
    );
    Ok(())
}

/// `1月21日至1月27日（共7天）、…` for runs of consecutive dates; the year is
/// written only for dates outside `year` (a notice may list 12月31日 of the
/// year before).
fn describe_ranges(dates: &[Date], year: i32) -> String {
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
fn day_in_year(date: Date, year: i32) -> String {
    format!(
        "{}（{}）",
        short_date(date, year),
        calendar::weekday_zh(date.weekday())
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
