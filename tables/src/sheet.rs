//! 读取表格文件（reading officials' spreadsheets）：`.xlsx` 与 CSV 读成统一的单元格网格。
//!
//! Nothing here knows about fields, units or rosters: it turns bytes into
//! [`Grid`]s of [`Cell`]s at the positions an official sees (row 1 is index
//! 0), refusing what cannot be read safely:
//!
//! - files larger than [`Limits::max_file_bytes`];
//! - an OLE compound file (an old Excel 97-2003 `.xls`, or a workbook with
//!   an opening password) whatever its name, named as such;
//! - for `.xlsx`, **before calamine sees the bytes**: more than
//!   [`Limits::max_zip_entries`] parts, declared uncompressed sizes adding up
//!   to more than [`Limits::max_unzipped_bytes`], and any part that inflates
//!   to more than it declared (each part is inflated once through a hard
//!   limit, so a lying header cannot smuggle a zip bomb past the check);
//! - a cell beyond [`Limits::max_rows`] or [`Limits::max_columns`], refused
//!   by its position the moment it is read;
//! - CSV text that is neither UTF-8 (with or without BOM) nor GB18030/GBK
//!   (what Chinese Excel writes); a UTF-16 file ("Unicode text") is named as
//!   such.
//!
//! Formulas are kept as [`Cell::Formula`], never as their cached value (which
//! whoever wrote the file chose), so every import refuses them; merged
//! regions are listed so an import can refuse them; a date cell is a date
//! ([`Cell::Date`], `2024-01-08`), not Excel's serial number.
//!
//! ## Hidden and extra sheets: one rule for every import
//!
//! What the official sees is what is read:
//!
//! - a **hidden** or very hidden sheet is never read as data — its cells are
//!   not even parsed; [`Workbook::hidden`] names it so the import can say it
//!   was skipped;
//! - every **visible** sheet is either read or refused. An import of named
//!   sheets (the node's evidence workbook: 年度, 第一季度 …, 填表说明) refuses
//!   a visible sheet it does not know; an import of one table (the hub's
//!   roster and history) reads the first visible sheet and refuses the file
//!   if any other sheet is visible ([`Workbook::single`]), since a second
//!   visible sheet may be half of the table.
//!
//! Sheets are read cell by cell (calamine's streaming cell reader), and a
//! cell beyond the caps stops the read at once: a tiny file naming one cell
//! at `XFD1048576` must not make us allocate the dense grid up to it
//! (calamine's `worksheet_range` would, 512 GiB; found by fuzzing).
//!
//! Layout: this file the types and [`read`]; `xlsx` the zip checks and the
//! workbook; `csv` the text decoding and the CSV grid.

mod csv;
mod xlsx;

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

pub use self::csv::decode_text;
use crate::text;

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
    /// Rows of one sheet (or lines of the CSV). Default 20 000.
    pub max_rows: usize,
    /// Columns of one sheet. Default 500.
    pub max_columns: usize,
}

impl Limits {
    /// The defaults, usable in a `const`.
    pub const DEFAULT: Limits = Limits {
        max_file_bytes: 20 * 1024 * 1024,
        max_unzipped_bytes: 100 * 1024 * 1024,
        max_zip_entries: 1_000,
        max_rows: 20_000,
        max_columns: 500,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// The two formats officials hand in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xlsx,
    Csv,
}

impl Format {
    /// By file extension, any case: `.xlsx` (or `.xlsm`, the same format
    /// with macros, which are never run) and `.csv` (or `.txt`).
    pub fn from_path(path: &Path) -> Result<Format, ReadError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match ext.as_str() {
            "xlsx" | "xlsm" => Ok(Format::Xlsx),
            "csv" | "txt" => Ok(Format::Csv),
            _ => Err(ReadError::UnsupportedFormat { extension: ext }),
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
    /// A date or time as an official reads it: `2024-01-08`,
    /// `2024-01-08 09:30`, a duration `36:00:00`, or the file's ISO text.
    Date(String),
}

impl Cell {
    /// Nothing, or only blanks.
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(t) => text::trim(t).is_empty(),
            _ => false,
        }
    }

    /// The text of a text cell (trimmed), `None` for any other kind.
    pub fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(t) => Some(text::trim(t)),
            _ => None,
        }
    }

    /// How the cell looks, for messages (a long text is cut, see
    /// [`text::echo`]; a huge number is `1E+308`).
    pub fn describe(&self) -> String {
        match self {
            Cell::Empty => "空白".to_string(),
            Cell::Text(t) => format!("文字「{}」", text::echo(t)),
            Cell::Number(n) => format!("数字 {}", text::number(*n)),
            Cell::Logical(b) => format!("逻辑值 {}", if *b { "TRUE" } else { "FALSE" }),
            Cell::Formula(f) => format!("公式 ={}", text::echo(f)),
            Cell::Error(e) => format!("错误值 {e}"),
            Cell::Date(d) => format!("日期 {}", text::echo(d)),
        }
    }
}

/// One sheet (or the CSV file) as rows of cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Sheet name; `None` for a CSV file.
    pub sheet: Option<String>,
    /// `rows[r][c]` is the cell at row `r + 1`, column `c + 1`. Rows keep
    /// their own length (a CSV row has as many cells as the line has fields;
    /// an xlsx row ends at its last non-empty cell).
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

    /// Where the 0-based `(row, col)` of this grid is, as the official sees it.
    pub fn place(&self, row: usize, col: usize) -> Place<'_> {
        Place {
            sheet: self.sheet.as_deref(),
            row: Some(row + 1),
            column: Some(col),
        }
    }
}

/// Where a problem is, kept with the problem: a [`Place`] and, when known,
/// the header of its column (as written in the file, or the expected one).
/// Shown as `工作表「名册」第3行B列「单位名称」`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// Sheet name (`.xlsx` only).
    pub sheet: Option<String>,
    /// 1-based row.
    pub row: Option<usize>,
    /// 0-based column.
    pub column: Option<usize>,
    pub header: Option<String>,
}

impl Location {
    pub fn place(&self) -> Place<'_> {
        Place {
            sheet: self.sheet.as_deref(),
            row: self.row,
            column: self.column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = self.place();
        match &self.header {
            Some(header) if place.is_empty() => write!(f, "「{header}」"),
            Some(header) => write!(f, "{place}「{header}」"),
            None => write!(f, "{place}"),
        }
    }
}

/// Where something is in a file, as the official sees it:
/// `工作表「名册」第3行B列` in a workbook, `第3行第2列` in a CSV file, `文件`
/// when nothing narrower is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Place<'a> {
    /// Sheet name (`.xlsx` only; its presence also makes columns letters).
    pub sheet: Option<&'a str>,
    /// 1-based row.
    pub row: Option<usize>,
    /// 0-based column.
    pub column: Option<usize>,
}

impl Place<'_> {
    pub fn is_empty(&self) -> bool {
        self.sheet.is_none() && self.row.is_none() && self.column.is_none()
    }
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("文件");
        }
        if let Some(sheet) = self.sheet {
            write!(f, "工作表「{sheet}」")?;
        }
        if let Some(row) = self.row {
            write!(f, "第{row}行")?;
        }
        match (self.column, self.sheet) {
            (Some(c), Some(_)) => write!(f, "{}列", text::column_letters(c)),
            (Some(c), None) => write!(f, "第{}列", c + 1),
            (None, _) => Ok(()),
        }
    }
}

/// Why a file could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error(
        "只支持 .xlsx 和 .csv 文件，这是「{extension}」；.xls 请在 Excel 中另存为 .xlsx（unsupported file type）"
    )]
    UnsupportedFormat { extension: String },
    #[error("文件有 {size} 字节，超过上限 {max} 字节（file too large）")]
    TooLarge { size: u64, max: u64 },
    #[error("文件是空的（the file is empty）")]
    Empty,
    #[error(
        "这是旧版 Excel 97-2003 工作簿（.xls），或设有打开密码的工作簿，不是 .xlsx 或 CSV；请在 Excel 中打开，取消密码后另存为 .xlsx（an old .xls or password-protected workbook）"
    )]
    OldXls,
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
    #[error("工作簿中没有可见的工作表（no visible worksheet）")]
    NoSheet,
    #[error(
        "工作簿中除「{read}」外还有可见的工作表{}；只读一张表，请删除其余工作表后重新导入（extra visible sheets refused）",
        quoted(.extra)
    )]
    ExtraSheets { read: String, extra: Vec<String> },
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

/// Problems a refusal lists; the error value keeps them all.
pub const PROBLEMS_SHOWN: usize = 200;

/// The problems of a refused file as the lines of its message, one
/// indented line each, at most [`PROBLEMS_SHOWN`] and then how many more:
/// a file bad in every row must not print a message as long as the file.
pub fn problem_lines<P: fmt::Display>(problems: &[P]) -> String {
    let mut out = String::new();
    for p in problems.iter().take(PROBLEMS_SHOWN) {
        out.push_str("\n  - ");
        out.push_str(&p.to_string());
    }
    if let Some(more) = problems
        .len()
        .checked_sub(PROBLEMS_SHOWN)
        .filter(|n| *n > 0)
    {
        out.push_str(&format!("\n  …… 另有 {more} 处问题未列出（{more} more）"));
    }
    out
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("「{n}」")).collect()
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
    /// The visible sheets, in the workbook's order (one grid for a CSV file).
    pub grids: Vec<Grid>,
    /// Hidden and very hidden sheets, by name: never read.
    pub hidden: Vec<String>,
    /// CSV only.
    pub encoding: Option<TextEncoding>,
}

impl Workbook {
    /// What to tell the official about [`Workbook::hidden`]: `None` when
    /// every sheet was visible.
    pub fn hidden_note(hidden: &[String]) -> Option<String> {
        (!hidden.is_empty()).then(|| {
            format!(
                "隐藏的工作表未读取（hidden sheets not read）：{}",
                quoted(hidden)
            )
        })
    }

    /// The one table of a one-table file: the first visible sheet, refused
    /// if another sheet is visible too (see the module docs).
    pub fn single(&self) -> Result<&Grid, ReadError> {
        let (first, rest) = self.grids.split_first().ok_or(ReadError::NoSheet)?;
        if rest.is_empty() {
            return Ok(first);
        }
        Err(ReadError::ExtraSheets {
            read: first.sheet.clone().unwrap_or_default(),
            extra: rest
                .iter()
                .map(|g| g.sheet.clone().unwrap_or_default())
                .collect(),
        })
    }
}

/// An official's file as taken from disk: its bytes (which the import
/// records by SHA-256) and the format its name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub bytes: Vec<u8>,
    pub format: Format,
}

/// The file could not be taken from disk.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("不能读取文件 {path}（cannot read the file）：{source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An unsupported extension, or a file over [`Limits::max_file_bytes`].
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Takes the file at `path` from disk: its format by extension, refused
/// unread when larger than [`Limits::max_file_bytes`] (and never more than
/// that read, however the file grows meanwhile). [`read`] then reads it.
pub fn load(path: &Path, limits: &Limits) -> Result<Loaded, LoadError> {
    let format = Format::from_path(path)?;
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > limits.max_file_bytes {
        return Err(ReadError::TooLarge {
            size,
            max: limits.max_file_bytes,
        }
        .into());
    }
    let mut bytes = Vec::new();
    file.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(Loaded { bytes, format })
}

/// Bytes an OLE compound file starts with: an old `.xls`, or an `.xlsx`
/// Excel encrypted with an opening password.
const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

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
    if bytes.starts_with(&OLE_MAGIC) {
        return Err(ReadError::OldXls);
    }
    match format {
        Format::Xlsx => xlsx::read(bytes, limits),
        Format::Csv => {
            let (text, encoding) = decode_text(bytes)?;
            Ok(Workbook {
                grids: vec![csv::read(&text, limits)?],
                hidden: Vec::new(),
                encoding: Some(encoding),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_read_as_an_official_names_them() {
        let at = |sheet, row, column| Place { sheet, row, column }.to_string();
        assert_eq!(at(Some("名册"), Some(3), Some(1)), "工作表「名册」第3行B列");
        assert_eq!(at(None, Some(3), Some(1)), "第3行第2列");
        assert_eq!(at(Some("年度"), None, None), "工作表「年度」");
        assert_eq!(at(None, Some(8), None), "第8行");
        assert_eq!(at(None, None, None), "文件");
        let with_header = |sheet: Option<&str>, row, column| {
            Location {
                sheet: sheet.map(str::to_string),
                row,
                column,
                header: Some("单位名称".into()),
            }
            .to_string()
        };
        assert_eq!(
            with_header(Some("名册"), Some(3), Some(1)),
            "工作表「名册」第3行B列「单位名称」"
        );
        assert_eq!(with_header(None, None, None), "「单位名称」");
    }

    #[test]
    fn extensions_name_the_format_and_an_xls_is_sent_to_save_as() {
        assert_eq!(Format::from_path(Path::new("名册.XLSX")), Ok(Format::Xlsx));
        assert_eq!(Format::from_path(Path::new("a.xlsm")), Ok(Format::Xlsx));
        assert_eq!(Format::from_path(Path::new("a.csv")), Ok(Format::Csv));
        assert_eq!(Format::from_path(Path::new("a.txt")), Ok(Format::Csv));
        let err = Format::from_path(Path::new("名册.xls")).unwrap_err();
        assert!(err.to_string().contains("另存为 .xlsx"), "{err}");
    }

    #[test]
    fn a_file_is_loaded_by_its_extension_and_refused_unread_when_too_large() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("名册.csv");
        std::fs::write(&csv, "单位编号\nt1\n").unwrap();
        let loaded = load(&csv, &Limits::default()).unwrap();
        assert_eq!(loaded.format, Format::Csv);
        assert_eq!(loaded.bytes, "单位编号\nt1\n".as_bytes());
        let small = Limits {
            max_file_bytes: 4,
            ..Limits::default()
        };
        assert!(matches!(
            load(&csv, &small),
            Err(LoadError::Read(ReadError::TooLarge { max: 4, .. }))
        ));
        assert!(matches!(
            load(&dir.path().join("名册.xls"), &Limits::default()),
            Err(LoadError::Read(ReadError::UnsupportedFormat { .. }))
        ));
        let err = load(&dir.path().join("无此文件.csv"), &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("无此文件.csv"), "{err}");
    }

    #[test]
    fn problem_lines_stop_at_the_cap_and_count_the_rest() {
        let few = problem_lines(&["第2行：甲", "第3行：乙"]);
        assert_eq!(few, "\n  - 第2行：甲\n  - 第3行：乙");
        let many: Vec<String> = (1..=PROBLEMS_SHOWN + 5)
            .map(|i| format!("第{i}行"))
            .collect();
        let text = problem_lines(&many);
        assert_eq!(text.lines().count(), 1 + PROBLEMS_SHOWN + 1);
        assert!(
            text.contains("第200行") && !text.contains("第201行"),
            "{text}"
        );
        assert!(text.ends_with("另有 5 处问题未列出（5 more）"), "{text}");
    }

    #[test]
    fn cells_describe_themselves_briefly() {
        assert_eq!(Cell::Number(123.0).describe(), "数字 123");
        assert_eq!(Cell::Number(1e308).describe(), "数字 1E+308");
        assert_eq!(Cell::Logical(true).describe(), "逻辑值 TRUE");
        assert_eq!(Cell::Formula("A1+1".into()).describe(), "公式 =A1+1");
        let long = Cell::Text("字".repeat(1_000_000)).describe();
        assert!(long.chars().count() < 200, "{} chars", long.chars().count());
        assert!(Cell::Text("\u{3000} ".into()).is_empty());
        assert_eq!(Cell::Text(" t1\u{3000}".into()).text(), Some("t1"));
    }
}
