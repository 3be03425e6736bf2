//! `.xlsx`: the zip checks, then the visible sheets cell by cell.

use std::io::{Cursor, Read as _};

use calamine::{Data, ExcelDateTime, Reader as _, SheetVisible, Xlsx};

use super::{Cell, Grid, Limits, ReadError, Workbook};

pub(super) fn read(bytes: &[u8], limits: &Limits) -> Result<Workbook, ReadError> {
    check_zip(bytes, limits)?;
    // calamine is third-party code parsing a file anyone may hand in: if it
    // panics (a debug build's overflow check on an absurd cell reference,
    // say), that is a bad file, not a dead process.
    std::panic::catch_unwind(|| read_sheets(bytes, limits)).map_err(|_| ReadError::Workbook {
        detail: "工作簿结构异常，解析时出错（the workbook parser failed on this file）".into(),
    })?
}

/// The zip-bomb check: entry count, declared sizes, then each part inflated
/// through a hard limit of its declared size.
fn check_zip(bytes: &[u8], limits: &Limits) -> Result<(), ReadError> {
    let not_xlsx = |e: zip::result::ZipError| ReadError::NotXlsx {
        detail: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(not_xlsx)?;
    if archive.len() > limits.max_zip_entries {
        return Err(ReadError::TooManyParts {
            entries: archive.len(),
            max: limits.max_zip_entries,
        });
    }
    let mut declared: u64 = 0;
    for i in 0..archive.len() {
        let part = archive.by_index_raw(i).map_err(not_xlsx)?;
        declared = declared.saturating_add(part.size());
        if declared > limits.max_unzipped_bytes {
            return Err(ReadError::ZipBomb {
                declared,
                max: limits.max_unzipped_bytes,
            });
        }
    }
    for i in 0..archive.len() {
        let part = archive.by_index_raw(i).map_err(not_xlsx)?;
        let name = part
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| format!("#{i}"));
        let declared = part.size();
        if inflated_size(part, &name)? > declared {
            return Err(ReadError::ZipLies {
                part: name,
                declared,
            });
        }
    }
    Ok(())
}

/// Inflates the part's raw bytes ourselves, through a hard limit of one
/// byte more than it declares: the zip crate bounds its own output too, but
/// its error cannot be told from a bad checksum, and an official should be
/// told which it is.
fn inflated_size(
    mut part: zip::read::ZipFile<'_, Cursor<&[u8]>>,
    name: &str,
) -> Result<u64, ReadError> {
    let bad = |detail: String| ReadError::BadPart {
        part: name.to_string(),
        detail,
    };
    if part.encrypted() {
        return Err(bad("已加密（encrypted）".into()));
    }
    let limit = part.size().saturating_add(1);
    let method = part.compression();
    let mut sink = std::io::sink();
    match method {
        zip::CompressionMethod::Stored => std::io::copy(&mut (&mut part).take(limit), &mut sink),
        zip::CompressionMethod::Deflated => std::io::copy(
            &mut flate2::read::DeflateDecoder::new(&mut part).take(limit),
            &mut sink,
        ),
        other => {
            return Err(bad(format!(
                "不支持的压缩方式（unsupported method）{other}"
            )));
        }
    }
    .map_err(|e| bad(e.to_string()))
}

fn read_sheets(bytes: &[u8], limits: &Limits) -> Result<Workbook, ReadError> {
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(workbook_error)?;
    let sheets = book.sheets_metadata().to_vec();
    let mut grids = Vec::new();
    let mut hidden = Vec::new();
    for sheet in sheets {
        let name = sheet.name;
        if sheet.visible != SheetVisible::Visible {
            hidden.push(name);
            continue;
        }
        let merged = book
            .merge_cells_by_sheet_name(&name)
            .map_err(workbook_error)?;
        let rows = match book.worksheet_cells_reader(&name) {
            Ok(mut reader) => read_cells(&mut reader, &name, limits)?,
            // A chart sheet holds no cells: an empty grid, still a sheet the
            // official sees.
            Err(calamine::XlsxError::NotAWorksheet(_)) => Vec::new(),
            Err(e) => return Err(workbook_error(e)),
        };
        grids.push(Grid {
            sheet: Some(name),
            rows,
            merged: merged
                .iter()
                .map(|d| {
                    (
                        d.start.0 as usize,
                        d.start.1 as usize,
                        d.end.0 as usize,
                        d.end.1 as usize,
                    )
                })
                .collect(),
        });
    }
    Ok(Workbook {
        grids,
        hidden,
        encoding: None,
    })
}

fn workbook_error(e: calamine::XlsxError) -> ReadError {
    ReadError::Workbook {
        detail: e.to_string(),
    }
}

/// The sheet's non-empty cells by position (rows end at their last
/// non-empty cell), refused at the first cell beyond the caps.
fn read_cells(
    reader: &mut calamine::XlsxCellReader<'_, Cursor<&[u8]>>,
    sheet: &str,
    limits: &Limits,
) -> Result<Vec<Vec<Cell>>, ReadError> {
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    while let Some(record) = reader.next_cell_with_formula().map_err(workbook_error)? {
        let cell = match record.formula {
            Some(f) if !f.is_empty() => Cell::Formula(f),
            _ => cell_of(&Data::from(record.value)),
        };
        if cell.is_empty() {
            continue;
        }
        let (r, c) = (record.pos.0 as usize, record.pos.1 as usize);
        if r >= limits.max_rows || c >= limits.max_columns {
            return Err(ReadError::SheetTooLarge {
                sheet: sheet.to_string(),
                rows: r + 1,
                columns: c + 1,
                max_rows: limits.max_rows,
                max_columns: limits.max_columns,
            });
        }
        if rows.len() <= r {
            rows.resize(r + 1, Vec::new());
        }
        let row = &mut rows[r];
        if row.len() <= c {
            row.resize(c + 1, Cell::Empty);
        }
        row[c] = cell;
    }
    Ok(rows)
}

fn cell_of(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s.clone()),
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::Logical(*b),
        Data::Error(e) => Cell::Error(e.to_string()),
        Data::DateTime(d) => Cell::Date(date_text(d)),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Date(s.clone()),
    }
}

/// A date cell as an official reads it, never Excel's serial number:
/// `2024-01-08`, `2024-01-08 09:30`, `2024-01-08 09:30:15`; a duration
/// (a time format like `[h]:mm`) as `36:00:00`.
fn date_text(d: &ExcelDateTime) -> String {
    if d.is_duration() {
        let seconds = (d.as_f64() * 86_400.0).round();
        // Saturating cast: a nonsense duration stays a finite number.
        let total = seconds.abs() as u64;
        let sign = if seconds < 0.0 { "-" } else { "" };
        return format!(
            "{sign}{}:{:02}:{:02}",
            total / 3600,
            total / 60 % 60,
            total % 60
        );
    }
    let (year, month, day, hour, minute, second, _) = d.to_ymd_hms_milli();
    match (hour, minute, second) {
        (0, 0, 0) => format!("{year:04}-{month:02}-{day:02}"),
        (_, _, 0) => format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}"),
        _ => format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::super::{Format, read as read_file};
    use super::*;

    fn zip_with(name: &str, content: &[u8]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut out);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.start_file(name, opts).unwrap();
            w.write_all(content).unwrap();
            w.finish().unwrap();
        }
        out.into_inner()
    }

    fn read(bytes: &[u8]) -> Result<Workbook, ReadError> {
        read_file(bytes, Format::Xlsx, &Limits::default())
    }

    #[test]
    fn a_zip_bomb_is_refused_by_its_declared_size() {
        // 200 MiB of zeros deflate to about 200 KiB.
        let bomb = zip_with("xl/worksheets/sheet1.xml", &vec![0u8; 200 * 1024 * 1024]);
        assert!(bomb.len() < 1024 * 1024);
        let err = read(&bomb).unwrap_err();
        assert!(matches!(err, ReadError::ZipBomb { .. }), "{err:?}");
    }

    #[test]
    fn a_part_that_inflates_beyond_its_declared_size_is_refused() {
        let content = vec![b'a'; 64 * 1024];
        let mut bytes = zip_with("xl/worksheets/sheet1.xml", &content);
        // Lower the declared uncompressed size in the local header (offset
        // 22) and the central directory entry (offset 24 of its record).
        let lie = 1000u32.to_le_bytes();
        bytes[22..26].copy_from_slice(&lie);
        let cd = bytes
            .windows(4)
            .rposition(|w| w == b"PK\x01\x02")
            .expect("central directory record");
        bytes[cd + 24..cd + 28].copy_from_slice(&lie);
        let err = read(&bytes).unwrap_err();
        assert_eq!(
            err,
            ReadError::ZipLies {
                part: "xl/worksheets/sheet1.xml".into(),
                declared: 1000
            }
        );
    }

    #[test]
    fn oversized_files_and_junk_are_refused_before_parsing() {
        let limits = Limits {
            max_file_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            read_file(b"01234567890", Format::Csv, &limits),
            Err(ReadError::TooLarge { size: 11, max: 10 })
        ));
        assert!(matches!(
            read(b"not a zip at all"),
            Err(ReadError::NotXlsx { .. })
        ));
        assert_eq!(
            read_file(b"", Format::Csv, &Limits::default()),
            Err(ReadError::Empty)
        );
        let many_rows = "a\n".repeat(11);
        let limits = Limits {
            max_rows: 10,
            ..Limits::default()
        };
        assert!(matches!(
            read_file(many_rows.as_bytes(), Format::Csv, &limits),
            Err(ReadError::TooManyRows { max: 10, .. })
        ));
    }

    /// An old Excel 97-2003 file renamed `.xlsx` used to be "not a valid
    /// zip"; it is named for what it is, whichever format was asked for.
    #[test]
    fn an_old_xls_renamed_xlsx_is_named_as_such() {
        let mut xls = OLE_HEADER.to_vec();
        xls.resize(4096, 0);
        for format in [Format::Xlsx, Format::Csv] {
            let err = read_file(&xls, format, &Limits::default()).unwrap_err();
            assert_eq!(err, ReadError::OldXls);
            assert!(err.to_string().contains(".xls"), "{err}");
            assert!(err.to_string().contains("另存为 .xlsx"), "{err}");
        }
    }

    const OLE_HEADER: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

    #[test]
    fn a_sheet_beyond_the_row_cap_is_refused() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let ws = book.add_worksheet();
        ws.write_string(0, 0, "单位编号").unwrap();
        ws.write_number(30, 0, 1.0).unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let limits = Limits {
            max_rows: 30,
            ..Limits::default()
        };
        let err = read_file(&bytes, Format::Xlsx, &limits).unwrap_err();
        assert!(
            matches!(err, ReadError::SheetTooLarge { rows: 31, .. }),
            "{err:?}"
        );
        assert!(read(&bytes).is_ok());
    }

    /// Found by fuzzing: two cells, A1 and XFD1048576, in a 6 KB file made
    /// calamine's dense range ask for 512 GiB. Cells are streamed now and
    /// the far one is refused by position, at once.
    #[test]
    fn a_tiny_file_naming_the_last_cell_of_a_sheet_is_refused_by_position() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let ws = book.add_worksheet();
        ws.write_number(0, 0, 1.0).unwrap();
        ws.write_number(1_048_575, 16_383, 1.0).unwrap();
        let bytes = book.save_to_buffer().unwrap();
        assert!(bytes.len() < 10_000, "{} bytes", bytes.len());
        let err = read(&bytes).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::SheetTooLarge {
                    rows: 1_048_576,
                    columns: 16_384,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("第 1048576 行"), "{err}");
    }

    /// Found by fuzzing: a cell reference of eight letters overflows
    /// calamine's column arithmetic (a panic with overflow checks, a wrapped
    /// column without). Either way the file is refused and the process lives.
    #[test]
    fn a_cell_reference_beyond_any_column_is_refused() {
        let mut book = rust_xlsxwriter::Workbook::new();
        book.add_worksheet().write_number(0, 0, 1.0).unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        let mut out = Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut out);
            for i in 0..archive.len() {
                let mut part = archive.by_index(i).unwrap();
                let name = part.name().unwrap().into_owned();
                let mut content = Vec::new();
                part.read_to_end(&mut content).unwrap();
                if name == "xl/worksheets/sheet1.xml" {
                    let xml = String::from_utf8(content).unwrap();
                    assert!(xml.contains(r#"r="A1""#), "{xml}");
                    content = xml.replace(r#"r="A1""#, r#"r="AAAAAAAA1""#).into_bytes();
                }
                w.start_file(name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                w.write_all(&content).unwrap();
            }
            w.finish().unwrap();
        }
        let err = read(&out.into_inner()).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::Workbook { .. } | ReadError::SheetTooLarge { .. }
            ),
            "{err:?}"
        );
    }

    /// A hidden first sheet once replaced the visible roster at the hub: a
    /// hidden or very hidden sheet is never read, only named.
    #[test]
    fn hidden_sheets_are_named_and_never_read() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let old = book.add_worksheet();
        old.set_name("旧名册").unwrap();
        old.write_string(0, 0, "不应读到").unwrap();
        // Cells beyond every cap: refused if the hidden sheet were parsed.
        old.write_number(1_048_575, 16_383, 1.0).unwrap();
        old.set_hidden(true);
        let shown = book.add_worksheet();
        shown.set_name("名册").unwrap();
        shown.write_string(0, 0, "单位编号").unwrap();
        // A hidden sheet cannot be the active one (rust_xlsxwriter would
        // show it again).
        shown.set_active(true);
        let secret = book.add_worksheet();
        secret.set_name("参数").unwrap();
        secret.write_string(0, 0, "x").unwrap();
        secret.set_very_hidden(true);
        let bytes = book.save_to_buffer().unwrap();

        let wb = read(&bytes).unwrap();
        assert_eq!(wb.hidden, ["旧名册", "参数"]);
        assert_eq!(
            Workbook::hidden_note(&wb.hidden).unwrap(),
            "隐藏的工作表未读取（hidden sheets not read）：「旧名册」「参数」"
        );
        assert_eq!(Workbook::hidden_note(&[]), None);
        let names: Vec<_> = wb.grids.iter().map(|g| g.sheet.as_deref()).collect();
        assert_eq!(names, [Some("名册")]);
        let grid = wb.single().unwrap();
        assert_eq!(grid.cell(0, 0).text(), Some("单位编号"));
    }

    /// A one-table import reads the first visible sheet; another visible
    /// sheet may be the rest of the table, so the file is refused.
    #[test]
    fn a_second_visible_sheet_is_refused_by_a_one_table_import() {
        let mut book = rust_xlsxwriter::Workbook::new();
        book.add_worksheet().set_name("乡镇").unwrap();
        book.add_worksheet().set_name("县直单位").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let wb = read(&bytes).unwrap();
        let err = wb.single().unwrap_err();
        assert_eq!(
            err,
            ReadError::ExtraSheets {
                read: "乡镇".into(),
                extra: vec!["县直单位".into()]
            }
        );
        assert!(err.to_string().contains("「县直单位」"), "{err}");
    }

    #[test]
    fn formulas_are_kept_as_formulas_never_as_their_cached_value() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let ws = book.add_worksheet();
        ws.write_formula(
            0,
            0,
            rust_xlsxwriter::Formula::new("=\"t\"&\"9\"").set_result("t9"),
        )
        .unwrap();
        ws.write_formula(1, 0, rust_xlsxwriter::Formula::new("=1+1").set_result("95"))
            .unwrap();
        let wb = read(&book.save_to_buffer().unwrap()).unwrap();
        let grid = wb.single().unwrap();
        assert_eq!(grid.cell(0, 0), &Cell::Formula("\"t\"&\"9\"".into()));
        assert_eq!(grid.cell(1, 0), &Cell::Formula("1+1".into()));
    }

    /// A date cell used to be echoed as Excel's serial number (45299).
    #[test]
    fn dates_read_as_dates_not_serial_numbers() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let ws = book.add_worksheet();
        let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        let stamp = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm");
        let day = rust_xlsxwriter::ExcelDateTime::from_ymd(2024, 1, 8).unwrap();
        let at = rust_xlsxwriter::ExcelDateTime::from_ymd(2024, 1, 8)
            .unwrap()
            .and_hms(9, 30, 0)
            .unwrap();
        ws.write_datetime_with_format(0, 0, &day, &date).unwrap();
        ws.write_datetime_with_format(0, 1, &at, &stamp).unwrap();
        let wb = read(&book.save_to_buffer().unwrap()).unwrap();
        let grid = wb.single().unwrap();
        assert_eq!(grid.cell(0, 0), &Cell::Date("2024-01-08".into()));
        assert_eq!(grid.cell(0, 1), &Cell::Date("2024-01-08 09:30".into()));
        assert_eq!(grid.cell(0, 0).describe(), "日期 2024-01-08");
    }

    #[test]
    fn merged_regions_are_listed() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let ws = book.add_worksheet();
        ws.merge_range(0, 0, 0, 5, "标题", &rust_xlsxwriter::Format::new())
            .unwrap();
        let wb = read(&book.save_to_buffer().unwrap()).unwrap();
        assert_eq!(wb.grids[0].merged, [(0, 0, 0, 5)]);
    }
}
