//! 导入的日历年份（imported calendar years）。
//!
//! The hub's effective calendar is the built-in years with the imported
//! years on top: an imported year adds a year (2027 once its notice is out)
//! or replaces a built-in one (should a notice ever be amended). The year
//! file is stored as imported, text and digest, so the calendar can be
//! rebuilt exactly and the audit log says who brought which notice in.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::StoreError;
use crate::audit::{self, Actor};
use crate::calendar::{Calendar, CalendarError, YearData};

/// A year stored in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedYear {
    pub year: i32,
    pub sha256: String,
    pub imported_at: Timestamp,
    pub imported_by: String,
}

/// What an import replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    Nothing,
    Builtin,
    Imported,
}

impl Replaced {
    /// What the import replaced, as the confirmation says it (empty for
    /// a new year).
    pub fn note_zh(self) -> &'static str {
        match self {
            Replaced::Nothing => "",
            Replaced::Builtin => "，替换内置数据（replaces built-in year）",
            Replaced::Imported => "，替换此前导入的数据（replaces earlier import）",
        }
    }
}

/// A year file's bytes as text: UTF-8, a byte-order mark dropped.
pub fn year_file_text(bytes: &[u8]) -> Result<String, std::string::FromUtf8Error> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    String::from_utf8(bytes.to_vec())
}

/// Importing a calendar year failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum CalendarImportError {
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    #[error(transparent)]
    Load(#[from] CalendarLoadError),
    #[error("保存日历年份失败，已回滚（cannot store calendar year, rolled back）：{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Building the effective calendar failed.
#[derive(Debug, thiserror::Error)]
pub enum CalendarLoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("数据库中保存的 {year} 年日历无法使用（stored calendar year unusable）：{source}")]
    Stored { year: i32, source: CalendarError },
}

/// Checks `source` (a year file, see [`crate::calendar`]) against the
/// effective calendar and stores it (audit-logged).
pub fn import_calendar_year(
    conn: &mut Connection,
    source: &str,
    actor: &Actor,
) -> Result<(YearData, Replaced), CalendarImportError> {
    let data = YearData::parse(source)?;
    let tx = conn.transaction()?;
    let effective = effective_calendar(&tx)?;
    let previously_imported = tx
        .query_row(
            "SELECT 1 FROM calendar_years WHERE year = ?1",
            [data.year],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    let replaced = if previously_imported {
        Replaced::Imported
    } else if effective.covers(data.year) {
        Replaced::Builtin
    } else {
        Replaced::Nothing
    };
    // Refuses a notice that disagrees with a neighbouring year's notice.
    effective.with_year(data.clone())?;
    let sha256 = hex::encode(Sha256::digest(source.as_bytes()));
    tx.execute(
        "INSERT INTO calendar_years (year, source, sha256, imported_at, imported_by)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (year) DO UPDATE SET source = excluded.source, sha256 = excluded.sha256,
           imported_at = excluded.imported_at, imported_by = excluded.imported_by",
        params![
            data.year,
            source,
            sha256,
            actor.at.to_string(),
            actor.operator
        ],
    )?;
    audit::append(
        &tx,
        actor,
        audit::action::CALENDAR_IMPORT,
        &format!("calendar/{}", data.year),
        &json!({
            "year": data.year,
            "notice": data.notice,
            "document_number": data.document_number,
            "url": data.url,
            "sha256": sha256,
            "replaces": match replaced {
                Replaced::Nothing => None,
                Replaced::Builtin => Some("builtin"),
                Replaced::Imported => Some("imported"),
            },
        }),
    )?;
    tx.commit()?;
    Ok((data, replaced))
}

/// Built-in years plus the years imported into this hub.
pub fn effective_calendar(conn: &Connection) -> Result<Calendar, CalendarLoadError> {
    let mut calendar = Calendar::builtin();
    let mut stmt = conn
        .prepare("SELECT year, source FROM calendar_years ORDER BY year")
        .map_err(StoreError::from)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i32>(0)?, r.get::<_, String>(1)?)))
        .map_err(StoreError::from)?;
    for row in rows {
        let (year, source) = row.map_err(StoreError::from)?;
        let data = YearData::parse(&source)
            .map_err(|source| CalendarLoadError::Stored { year, source })?;
        calendar = calendar
            .with_year(data)
            .map_err(|source| CalendarLoadError::Stored { year, source })?;
    }
    Ok(calendar)
}

/// The imported years, ascending.
pub fn imported_years(conn: &Connection) -> Result<Vec<ImportedYear>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT year, sha256, imported_at, imported_by FROM calendar_years ORDER BY year",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i32>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (year, sha256, at, by) = row?;
        out.push(ImportedYear {
            year,
            sha256,
            imported_at: at.parse().map_err(|e| StoreError::Corrupt {
                table: "calendar_years",
                key: year.to_string(),
                detail: format!("imported_at: {e}"),
            })?,
            imported_by: by,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const Y2027: &str = r#"
year = 2027
notice = "国务院办公厅关于2027年部分节假日安排的通知（测试用）"
url = "https://example.invalid/2027"

[[holiday]]
name = "元旦"
off = [2027-01-01]
"#;

    fn actor() -> Actor {
        Actor::new("calendar-admin", "2026-11-20T00:00:00Z".parse().unwrap())
    }

    #[test]
    fn an_imported_year_extends_the_hub_calendar_and_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        assert_eq!(
            effective_calendar(&conn)
                .unwrap()
                .add_working_days(date(2026, 12, 31), 1),
            Err(CalendarError::YearNotCovered { year: 2027 })
        );
        let (data, replaced) = import_calendar_year(&mut conn, Y2027, &actor()).unwrap();
        assert_eq!((data.year, replaced), (2027, Replaced::Nothing));
        let cal = effective_calendar(&conn).unwrap();
        // Thu 2026-12-31 → Fri 2027-01-01 off → Mon 2027-01-04.
        assert_eq!(
            cal.add_working_days(date(2026, 12, 31), 1),
            Ok(date(2027, 1, 4))
        );
        let years = imported_years(&conn).unwrap();
        assert_eq!(years.len(), 1);
        assert_eq!(years[0].imported_by, "calendar-admin");
        let log = audit::recent(&conn, 5).unwrap();
        assert_eq!(log[0].action, audit::action::CALENDAR_IMPORT);
        assert_eq!(log[0].operator, "calendar-admin");
        assert_eq!(log[0].detail["year"], json!(2027));

        // Importing the same year again replaces it.
        let (_, replaced) = import_calendar_year(&mut conn, Y2027, &actor()).unwrap();
        assert_eq!(replaced, Replaced::Imported);
        assert_eq!(imported_years(&conn).unwrap().len(), 1);
    }

    #[test]
    fn a_bad_or_conflicting_year_is_refused_and_nothing_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        assert!(matches!(
            import_calendar_year(&mut conn, "year = 2027\n", &actor()),
            Err(CalendarImportError::Calendar(CalendarError::Syntax { .. }))
        ));
        // A 2027 notice making Saturday 2026-12-26 a make-up workday: the
        // 2026 notice says nothing about that day, so it is accepted.
        let with_edge_day = r#"
year = 2027
notice = "测试"
url = "u"

[[holiday]]
name = "元旦"
off = [2027-01-01]
make_up_workdays = [2026-12-26]
"#;
        import_calendar_year(&mut conn, with_edge_day, &actor()).unwrap();
        assert_eq!(
            effective_calendar(&conn)
                .unwrap()
                .is_working_day(date(2026, 12, 26)),
            Ok(true)
        );
        // A 2026 notice giving 2026-12-26 off now contradicts the 2027 one.
        let contradicting_2026 = include_str!("../../data/holidays/2026.toml").replace(
            "[[holiday]]\nname = \"元旦\"\noff = [",
            "[[holiday]]\nname = \"元旦\"\noff = [2026-12-26, ",
        );
        assert!(contradicting_2026.contains("2026-12-26"));
        let err = import_calendar_year(&mut conn, &contradicting_2026, &actor()).unwrap_err();
        assert!(
            matches!(
                err,
                CalendarImportError::Calendar(CalendarError::Conflict { .. })
            ),
            "{err:?}"
        );
        assert_eq!(audit::recent(&conn, 10).unwrap().len(), 1);
        assert_eq!(imported_years(&conn).unwrap().len(), 1);
    }
}
