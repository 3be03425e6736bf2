//! 读取表格文件（reading spreadsheet files）：`.xlsx` 与 CSV 读成统一的单元格网格。
//!
//! Nothing here knows about fields or units: it turns bytes into
//! [`Grid`]s of [`Cell`]s at the positions an official sees (row 1 is index
//! 0), refusing what cannot be read safely:
//!
//! - files larger than [`Limits::max_file_bytes`];
//! - for `.xlsx`, **before calamine sees the bytes**: more than
//!   [`Limits::max_zip_entries`] parts, declared uncompressed sizes adding up
//!   to more than [`Limits::max_unzipped_bytes`], and any part that inflates
//!   to more than it declared (each part is inflated once through a hard
//!   limit, so a lying header cannot smuggle a zip bomb past the check);
//! - sheets with more than [`Limits::max_rows`] rows or
//!   [`Limits::max_columns`] columns;
//! - CSV text that is neither UTF-8 (with or without BOM) nor GB18030/GBK
//!   (what Chinese Excel writes); a UTF-16 file ("Unicode text") is named as
//!   such.
//!
//! Formulas are kept as [`Cell::Formula`], never as their cached value, and
//! merged regions are listed so the import can refuse them.
//!
//! Sheets are read cell by cell (calamine's streaming cell reader), and a
//! cell beyond the caps stops the read at once: a tiny file naming one cell
//! at `XFD1048576` must not make the node allocate the dense grid up to it
//! (calamine's `worksheet_range` would, 512 GiB; found by fuzzing).

use std::borrow::Cow;
use std::io::{Cursor, Read as _};

use calamine::{Data, Reader as _, Xlsx};

/// Caps on what a file may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the file itself. Default 20 MiB.
    pub max_file_bytes: u64,
    /// Sum of the declared (and actual) uncompressed sizes of an `.xlsx`'s
    /// parts. Default 100 MiB.
    pub max_unzipped_bytes: u64,
    /// Parts of an `.xlsx`. Default 1 000.
    pub max_zip_entries: usize,
    /// Rows of one sheet (or of the CSV). Default 20 000.
    pub max_rows: usize,
    /// Columns of one sheet. Default 500.
    pub max_columns: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 20 * 1024 * 1024,
            max_unzipped_bytes: 100 * 1024 * 1024,
            max_zip_entries: 1_000,
            max_rows: 20_000,
            max_columns: 500,
        }
    }
}

/// The two formats the import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xlsx,
    Csv,
}

impl Format {
    /// By file extension (`.xlsx`, `.csv`, any case).
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "xlsx" => Some(Format::Xlsx),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// A cell as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
    Logical(bool),
    /// A formula (its text, without `=`); its cached value is ignored.
    Formula(String),
    /// An Excel error value such as `#DIV/0!`.
    Error(String),
    /// A date or time (Excel serial number or ISO text).
    Date(String),
}

impl Cell {
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(t) => t
                .trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}')
                .is_empty(),
            _ => false,
        }
    }

    /// The text of a text cell (trimmed), `None` for any other kind.
    pub fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(t) => Some(t.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}')),
            _ => None,
        }
    }

    /// How the cell looks, for messages.
    pub fn describe(&self) -> String {
        match self {
            Cell::Empty => "空白".to_string(),
            Cell::Text(t) => format!("文字「{t}」"),
            Cell::Number(n) => format!("数字 {}", crate::value::number_text(*n)),
            Cell::Logical(b) => format!("逻辑值 {}", if *b { "TRUE" } else { "FALSE" }),
            Cell::Formula(f) => format!("公式 ={f}"),
            Cell::Error(e) => format!("错误值 {e}"),
            Cell::Date(d) => format!("日期 {d}"),
        }
    }
}

/// One sheet (or the CSV file) as rows of cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Sheet name; `None` for a CSV file.
    pub sheet: Option<String>,
    /// `rows[r][c]` is the cell at row `r + 1`, column `c + 1`. Rows keep
    /// their own length (a CSV row may be ragged; trailing empty xlsx cells
    /// are trimmed).
    pub rows: Vec<Vec<Cell>>,
    /// Merged regions, 0-based inclusive `(first_row, first_col, last_row, last_col)`.
    pub merged: Vec<(usize, usize, usize, usize)>,
}

impl Grid {
    pub fn cell(&self, row: usize, col: usize) -> &Cell {
        self.rows
            .get(row)
            .and_then(|r| r.get(col))
            .unwrap_or(&Cell::Empty)
    }
}

/// Why a file could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("文件有 {size} 字节，超过上限 {max} 字节（file too large）")]
    TooLarge { size: u64, max: u64 },
    #[error("文件是空的（the file is empty）")]
    Empty,
    #[error("不是有效的 .xlsx 文件（not a valid .xlsx (zip) file）：{detail}")]
    NotXlsx { detail: String },
    #[error(
        ".xlsx 解压后共 {declared} 字节以上，超过上限 {max} 字节，疑似压缩炸弹，已拒绝（unzipped content exceeds the cap: zip bomb refused）"
    )]
    ZipBomb { declared: u64, max: u64 },
    #[error(
        ".xlsx 中的部件 {part} 解压后大于其声明的 {declared} 字节，已拒绝（a part inflates beyond its declared size）"
    )]
    ZipLies { part: String, declared: u64 },
    #[error(".xlsx 含 {entries} 个部件，超过上限 {max}（too many parts）")]
    TooManyParts { entries: usize, max: usize },
    #[error(".xlsx 中的部件 {part} 已加密或无法解压（encrypted or unsupported part）：{detail}")]
    BadPart { part: String, detail: String },
    #[error("不能读取工作簿（cannot read the workbook）：{detail}")]
    Workbook { detail: String },
    #[error(
        "工作表「{sheet}」的内容至少到第 {rows} 行、第 {columns} 列，超过上限 {max_rows} 行、{max_columns} 列（sheet too large）"
    )]
    SheetTooLarge {
        sheet: String,
        rows: usize,
        columns: usize,
        max_rows: usize,
        max_columns: usize,
    },
    #[error("CSV 文件有 {rows} 行以上，超过上限 {max} 行（too many rows）")]
    TooManyRows { rows: usize, max: usize },
    #[error(
        "CSV 文件是 UTF-16 编码（Excel 的“Unicode 文本”）；请另存为“CSV UTF-8（逗号分隔）”或“CSV（逗号分隔）”（UTF-16 is not supported）"
    )]
    Utf16,
    #[error("CSV 文件既不是 UTF-8 也不是 GB18030/GBK 编码（unknown text encoding）")]
    Encoding,
    #[error("CSV 第 {row} 行无法解析（malformed CSV）：{detail}")]
    Csv { row: usize, detail: String },
}

/// How a CSV file's bytes were decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8Bom,
    Utf8,
    Gb18030,
}

impl TextEncoding {
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8Bom => "UTF-8（带 BOM）",
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Gb18030 => "GB18030/GBK",
        }
    }
}

/// A file read into grids.
#[derive(Debug, Clone, PartialEq)]
pub struct Workbook {
    pub grids: Vec<Grid>,
    /// CSV only.
    pub encoding: Option<TextEncoding>,
}

/// Reads `bytes` as `format` within `limits`.
pub fn read(bytes: &[u8], format: Format, limits: &Limits) -> Result<Workbook, ReadError> {
    let size = bytes.len() as u64;
    if size > limits.max_file_bytes {
        return Err(ReadError::TooLarge {
            size,
            max: limits.max_file_bytes,
        });
    }
    if bytes.is_empty() {
        return Err(ReadError::Empty);
    }
    match format {
        Format::Xlsx => {
            check_zip(bytes, limits)?;
            // calamine is third-party code parsing a file anyone may hand
            // in: if it panics (a debug build's overflow check on an absurd
            // cell reference, say), that is a bad file, not a dead node.
            let grids = std::panic::catch_unwind(|| read_xlsx(bytes, limits)).map_err(|_| {
                ReadError::Workbook {
                    detail: "工作簿结构异常，解析时出错（the workbook parser failed on this file）"
                        .into(),
                }
            })??;
            Ok(Workbook {
                grids,
                encoding: None,
            })
        }
        Format::Csv => {
            let (text, encoding) = decode_text(bytes)?;
            Ok(Workbook {
                grids: vec![read_csv(&text, limits)?],
                encoding: Some(encoding),
            })
        }
    }
}

/// BOM → UTF-8; valid UTF-8 → UTF-8; otherwise GB18030 (a superset of GBK).
pub fn decode_text(bytes: &[u8]) -> Result<(Cow<'_, str>, TextEncoding), ReadError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .map(|s| (Cow::Borrowed(s), TextEncoding::Utf8Bom))
            .map_err(|_| ReadError::Encoding);
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(ReadError::Utf16);
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((Cow::Borrowed(s), TextEncoding::Utf8));
    }
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|s| (s, TextEncoding::Gb18030))
        .ok_or(ReadError::Encoding)
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
        let mut part = archive.by_index(i).map_err(|e| ReadError::BadPart {
            part: format!("#{i}"),
            detail: e.to_string(),
        })?;
        let name = part
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| format!("#{i}"));
        let size = part.size();
        let mut sink = std::io::sink();
        let inflated = std::io::copy(&mut (&mut part).take(size.saturating_add(1)), &mut sink)
            .map_err(|e| ReadError::BadPart {
                part: name.clone(),
                detail: e.to_string(),
            })?;
        if inflated > size {
            return Err(ReadError::ZipLies {
                part: name,
                declared: size,
            });
        }
    }
    Ok(())
}

fn read_xlsx(bytes: &[u8], limits: &Limits) -> Result<Vec<Grid>, ReadError> {
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(workbook_error)?;
    let mut grids = Vec::new();
    for name in book.sheet_names() {
        let merged = book
            .merge_cells_by_sheet_name(&name)
            .map_err(workbook_error)?;
        let grid_rows = match book.worksheet_cells_reader(&name) {
            Ok(mut reader) => read_cells(&mut reader, &name, limits)?,
            // A chart sheet holds no cells: an empty grid, as before.
            Err(calamine::XlsxError::NotAWorksheet(_)) => Vec::new(),
            Err(e) => return Err(workbook_error(e)),
        };
        grids.push(Grid {
            sheet: Some(name),
            rows: grid_rows,
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
    Ok(grids)
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
        Data::DateTime(d) => Cell::Date(d.to_string()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Date(s.clone()),
    }
}

fn read_csv(text: &str, limits: &Limits) -> Result<Grid, ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    // Records are placed at their line (blank lines are skipped by the
    // reader, and a quoted field may span lines), so row numbers in
    // messages are the lines an editor shows.
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| ReadError::Csv {
            row: e.position().map_or(i + 1, |p| p.line() as usize),
            detail: e.to_string(),
        })?;
        // The reader's position is where it started reading, before any
        // blank lines it skipped: count those to get the record's own line.
        let line = record.position().map_or(i + 1, |p| {
            let start = usize::try_from(p.byte()).unwrap_or(usize::MAX);
            let skipped = text
                .get(start..)
                .unwrap_or("")
                .bytes()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .filter(|&b| b == b'\n')
                .count();
            p.line() as usize + skipped
        });
        let line = line.max(1);
        if line > limits.max_rows {
            return Err(ReadError::TooManyRows {
                rows: line,
                max: limits.max_rows,
            });
        }
        let mut row: Vec<Cell> = record
            .iter()
            .map(|s| {
                if s.is_empty() {
                    Cell::Empty
                } else {
                    Cell::Text(s.to_string())
                }
            })
            .collect();
        if row.len() == 1 && row[0].is_empty() {
            row.clear();
        }
        if rows.len() < line - 1 {
            rows.resize(line - 1, Vec::new());
        }
        rows.push(row);
    }
    Ok(Grid {
        sheet: None,
        rows,
        merged: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

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

    #[test]
    fn encodings_are_detected_bom_then_utf8_then_gb18030() {
        let text = "单位编号,法治专题学习次数（次）\n";
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        let (s, e) = decode_text(&bom).unwrap();
        assert_eq!((s.as_ref(), e), (text, TextEncoding::Utf8Bom));
        let (s, e) = decode_text(text.as_bytes()).unwrap();
        assert_eq!((s.as_ref(), e), (text, TextEncoding::Utf8));
        let (gbk, _, _) = encoding_rs::GB18030.encode(text);
        assert!(
            std::str::from_utf8(&gbk).is_err(),
            "the GB18030 bytes must not be valid UTF-8"
        );
        let (s, e) = decode_text(&gbk).unwrap();
        assert_eq!((s.as_ref(), e), (text, TextEncoding::Gb18030));
        assert_eq!(decode_text(b"\xFF\xFEa\x00").unwrap_err(), ReadError::Utf16);
    }

    #[test]
    fn a_zip_bomb_is_refused_by_its_declared_size() {
        // 200 MiB of zeros deflate to about 200 KiB.
        let bomb = zip_with("xl/worksheets/sheet1.xml", &vec![0u8; 200 * 1024 * 1024]);
        assert!(bomb.len() < 1024 * 1024);
        let err = read(&bomb, Format::Xlsx, &Limits::default()).unwrap_err();
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
        let err = read(&bytes, Format::Xlsx, &Limits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::ZipLies { declared: 1000, .. } | ReadError::BadPart { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn oversized_files_and_junk_are_refused_before_parsing() {
        let limits = Limits {
            max_file_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            read(b"01234567890", Format::Csv, &limits),
            Err(ReadError::TooLarge { size: 11, max: 10 })
        ));
        assert!(matches!(
            read(b"not a zip at all", Format::Xlsx, &Limits::default()),
            Err(ReadError::NotXlsx { .. })
        ));
        assert_eq!(
            read(b"", Format::Csv, &Limits::default()),
            Err(ReadError::Empty)
        );
        let many_rows = "a\n".repeat(11);
        let limits = Limits {
            max_rows: 10,
            ..Limits::default()
        };
        assert!(matches!(
            read(many_rows.as_bytes(), Format::Csv, &limits),
            Err(ReadError::TooManyRows { max: 10, .. })
        ));
    }

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
        let err = read(&bytes, Format::Xlsx, &limits).unwrap_err();
        assert!(
            matches!(err, ReadError::SheetTooLarge { rows: 31, .. }),
            "{err:?}"
        );
        assert!(read(&bytes, Format::Xlsx, &Limits::default()).is_ok());
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
        let err = read(&bytes, Format::Xlsx, &Limits::default()).unwrap_err();
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
    /// column without). Either way the file is refused and the node lives.
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
        let err = read(&out.into_inner(), Format::Xlsx, &Limits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::Workbook { .. } | ReadError::SheetTooLarge { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn csv_rows_keep_their_own_length() {
        let wb = read(
            "a,b,c\n1,2\n\n4,5,6,7\n".as_bytes(),
            Format::Csv,
            &Limits::default(),
        )
        .unwrap();
        let lens: Vec<_> = wb.grids[0].rows.iter().map(Vec::len).collect();
        assert_eq!(lens, vec![3, 2, 0, 4]);
    }
}
