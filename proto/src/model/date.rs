//! Civil dates: the deadlines of the county's calendar, as they travel.

use std::fmt;

use crate::pb;
use crate::validate::FieldError;

/// A civil date (deadlines, in the county's calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// The date, if it exists (years 1000..=9999).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        ((1000..=9999).contains(&year) && (1..=days).contains(&day)).then_some(Date {
            year,
            month,
            day,
        })
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1..=12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1..=31.
    pub fn day(self) -> u8 {
        self.day
    }
}

impl fmt::Display for Date {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl TryFrom<pb::Date> for Date {
    type Error = FieldError;
    fn try_from(m: pb::Date) -> Result<Self, FieldError> {
        let parts = (
            u16::try_from(m.year),
            u8::try_from(m.month),
            u8::try_from(m.day),
        );
        match parts {
            (Ok(y), Ok(mo), Ok(d)) => Date::new(y, mo, d),
            _ => None,
        }
        .ok_or_else(|| {
            FieldError::invalid(
                "",
                format!("{}-{}-{} 不是有效日期", m.year, m.month, m.day),
                format!("{}-{}-{} is not a valid date", m.year, m.month, m.day),
            )
        })
    }
}

impl From<Date> for pb::Date {
    fn from(d: Date) -> Self {
        pb::Date {
            year: d.year.into(),
            month: d.month.into(),
            day: d.day.into(),
        }
    }
}

pub(super) fn optional_date(field: &str, m: Option<pb::Date>) -> Result<Option<Date>, FieldError> {
    m.map(|d| {
        Date::try_from(d).map_err(|mut e| {
            e.field = field.to_owned();
            e
        })
    })
    .transpose()
}
