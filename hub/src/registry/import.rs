//! 名册导入（roster import）：从 Excel（.xlsx）或 CSV 读入一个年度的考核对象名册。
//!
//! **All or nothing.** The whole file is read and checked first; every
//! problem is reported at once with its sheet, row and column (and the
//! column's header), and nothing is written unless every row is valid. The
//! valid roster then replaces the year's roster in one transaction
//! ([`units::replace_year`]).
//!
//! Format: the one visible worksheet of an `.xlsx` workbook, or a CSV file
//! in UTF-8 (with or without BOM) or GB18030/GBK (what Chinese Excel
//! writes), read by [`kaohe_tables::sheet`] with every check it makes: size
//! and zip caps (a part inflating beyond what it declares is refused), an
//! old `.xls` named as such, hidden sheets never read (a hidden first sheet
//! once replaced the visible roster), a second visible sheet refused (it
//! may be the rest of the roster), and a formula refused wherever it is
//! (its cached value is whatever the file's author wrote there).
//! The header row is the first row (among the first ten) that names at least
//! two known columns; title rows above it are ignored. All six columns are
//! required, in any order, named in Chinese or English; a trailing
//! parenthesis is ignored, so `单位编号（id）` works:
//!
//! | 中文 | English | value |
//! |---|---|---|
//! | 单位编号 | id | letters, digits, `_ . -`; full-width digits are accepted |
//! | 单位名称 | name | text |
//! | 类别 | category | category id of the rule pack: `township`, `department`… |
//! | 上级单位 | parent | id of a unit in the same file, or empty |
//! | 主管部门 | supervising_department | text, or empty |
//! | 考核主体 | assessor | 依法治县办 / 国资局 / 卫健委 (or `county_office` / `sasac` / `health_commission`), or the id of a unit in the same file |

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

pub use kaohe_tables::sheet::Location;
use kaohe_tables::sheet::{self, Cell, Format, Grid, Limits, LoadError, ReadError, Workbook};
use kaohe_tables::text::{self, Fold, column_letters, echo};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::StoreError;
use super::units::{
    self, ReplaceSummary, ReplaceUnitsError, ResponsibleAssessor, RosterSource, UnitRecord,
};
use crate::audit::Actor;

/// Larger files are refused before parsing.
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// An `.xlsx` whose parts would unpack to more than this is refused (zip bomb).
pub const MAX_UNPACKED_BYTES: u64 = 200 * 1024 * 1024;
/// Data rows accepted in one roster.
pub const MAX_ROWS: usize = 50_000;
/// What the hub's imports (roster, history) read: its own size caps, the
/// reader's defaults for the rest.
pub const LIMITS: Limits = Limits {
    max_file_bytes: MAX_FILE_BYTES,
    max_unzipped_bytes: MAX_UNPACKED_BYTES,
    max_rows: MAX_ROWS + HEADER_SEARCH_ROWS,
    ..Limits::DEFAULT
};

const HEADER_SEARCH_ROWS: usize = 10;
const MAX_ID_CHARS: usize = 64;
const MAX_TEXT_CHARS: usize = 100;

/// A column of the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Id,
    Name,
    Category,
    Parent,
    SupervisingDepartment,
    Assessor,
}

impl Field {
    pub const ALL: [Field; 6] = [
        Field::Id,
        Field::Name,
        Field::Category,
        Field::Parent,
        Field::SupervisingDepartment,
        Field::Assessor,
    ];

    /// The Chinese header, as in the templates.
    pub fn header_zh(self) -> &'static str {
        match self {
            Field::Id => "单位编号",
            Field::Name => "单位名称",
            Field::Category => "类别",
            Field::Parent => "上级单位",
            Field::SupervisingDepartment => "主管部门",
            Field::Assessor => "考核主体",
        }
    }

    /// The English header (the field id).
    pub fn header_en(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Name => "name",
            Field::Category => "category",
            Field::Parent => "parent",
            Field::SupervisingDepartment => "supervising_department",
            Field::Assessor => "assessor",
        }
    }

    fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::Id => &["单位编号", "编号", "id", "unit_id"],
            Field::Name => &["单位名称", "名称", "name", "unit_name"],
            Field::Category => &["类别", "单位类别", "类别编号", "category"],
            Field::Parent => &["上级单位", "上级单位编号", "parent", "parent_id"],
            Field::SupervisingDepartment => &["主管部门", "supervising_department"],
            Field::Assessor => &["考核主体", "assessor"],
        }
    }

    fn from_header(text: &str) -> Option<Field> {
        let key = header_key(text);
        Field::ALL
            .into_iter()
            .find(|f| f.aliases().iter().any(|a| *a == key))
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}（{}）", self.header_zh(), self.header_en())
    }
}

/// One problem found in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportProblem {
    pub location: Location,
    pub kind: ProblemKind,
}

impl fmt::Display for ImportProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}：{}", self.location, self.kind)
    }
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The sheet or file has no content at all.
    NoContent,
    /// A header row but no unit below it.
    NoRows,
    TooManyRows {
        max: usize,
    },
    UnknownHeader {
        text: String,
    },
    DuplicateHeader {
        field: Field,
        first_column: String,
    },
    MissingHeader {
        field: Field,
    },
    /// Content in a column that has no header (first row; count of rows).
    UnnamedColumn {
        rows: usize,
    },
    /// A CSV row with a different number of fields than the header.
    Ragged {
        found: usize,
        expected: usize,
    },
    EmptyValue {
        field: Field,
    },
    /// A number, date, logical value or error where text is expected.
    NotText {
        field: Field,
        found: String,
    },
    BadId {
        field: Field,
        value: String,
    },
    ReservedId {
        value: String,
    },
    BadCategory {
        value: String,
    },
    TooLong {
        field: Field,
        max: usize,
    },
    DuplicateId {
        id: String,
        first_row: usize,
    },
    UnknownParent {
        parent: String,
    },
    ParentOfAnotherYear {
        parent: String,
        years: Vec<i32>,
    },
    ParentIsSelf,
    ParentCycle {
        chain: Vec<String>,
    },
    UnknownAssessorUnit {
        id: String,
    },
    /// A formula: its cached value is whatever the file's author put there.
    Formula {
        formula: String,
    },
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::NoContent => f.write_str("没有任何内容（empty sheet or file）"),
            ProblemKind::NoRows => f.write_str("表头下没有任何单位（no units below the header）"),
            ProblemKind::TooManyRows { max } => {
                write!(f, "行数超过上限 {max}（too many rows）")
            }
            ProblemKind::UnknownHeader { text } => write!(
                f,
                "未知表头「{text}」（unknown header）；应为：{}",
                expected_headers()
            ),
            ProblemKind::DuplicateHeader {
                field,
                first_column,
            } => write!(
                f,
                "表头 {field} 重复，{first_column}已有（duplicate header）"
            ),
            ProblemKind::MissingHeader { field } => {
                write!(f, "缺少表头 {field}（missing header）")
            }
            ProblemKind::UnnamedColumn { rows } => write!(
                f,
                "此列没有表头却有内容，共 {rows} 行（content in a column without header）"
            ),
            ProblemKind::Ragged { found, expected } => write!(
                f,
                "本行有 {found} 个字段，表头有 {expected} 个（ragged row: {found} fields, header has {expected}）"
            ),
            ProblemKind::EmptyValue { field } => write!(f, "{field} 不能为空（empty value）"),
            ProblemKind::NotText { field, found } => {
                write!(f, "{field} 应为文字，实际是{found}（text expected）")
            }
            ProblemKind::BadId { field, value } => write!(
                f,
                "{field}「{value}」格式不对：只能用英文字母、数字、下划线、点和连字符，以字母或数字开头，最长 {MAX_ID_CHARS} 个字符（bad id syntax）"
            ),
            ProblemKind::ReservedId { value } => write!(
                f,
                "单位编号「{value}」是考核主体的保留字，不能用作单位编号（reserved id）"
            ),
            ProblemKind::BadCategory { value } => write!(
                f,
                "类别「{value}」格式不对：应为规则包中的类别编号，小写英文字母开头，只含小写字母、数字和下划线，如 township（bad category id）"
            ),
            ProblemKind::TooLong { field, max } => {
                write!(f, "{field} 超过 {max} 个字符（too long）")
            }
            ProblemKind::DuplicateId { id, first_row } => write!(
                f,
                "单位编号「{id}」重复，第{first_row}行已有（duplicate id）"
            ),
            ProblemKind::UnknownParent { parent } => {
                write!(f, "上级单位「{parent}」不在本文件中（unknown parent）")
            }
            ProblemKind::ParentOfAnotherYear { parent, years } => write!(
                f,
                "上级单位「{parent}」只在 {} 年度名册中，不在本年度文件中；上级单位必须是同一年度的单位（parent of another year）",
                join_years(years)
            ),
            ProblemKind::ParentIsSelf => {
                f.write_str("上级单位不能是本单位自己（unit is its own parent）")
            }
            ProblemKind::ParentCycle { chain } => {
                write!(f, "上级单位形成循环：{}（parent cycle）", chain.join(" → "))
            }
            ProblemKind::UnknownAssessorUnit { id } => write!(
                f,
                "考核主体「{id}」既不是依法治县办、国资局、卫健委，也不是本文件中的单位编号（unknown assessor）"
            ),
            ProblemKind::Formula { formula } => write!(
                f,
                "单元格是公式 ={formula}，请改为直接填写内容（formula where a value belongs）"
            ),
        }
    }
}

/// A roster file that cannot be imported. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ReadUnitsError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{}", format_problems(problems))]
    Invalid { problems: Vec<ImportProblem> },
}

/// Importing a roster failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum UnitsImportError {
    #[error("不能读取文件 {path}（cannot read file）：{source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("导入单位名册 {path} 被拒绝（import refused）：{source}")]
    File {
        path: PathBuf,
        source: ReadUnitsError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Replace(#[from] ReplaceUnitsError),
}

impl UnitsImportError {
    /// The row problems, if that is why the import was refused.
    pub fn problems(&self) -> &[ImportProblem] {
        match self {
            UnitsImportError::File {
                source: ReadUnitsError::Invalid { problems },
                ..
            } => problems,
            _ => &[],
        }
    }
}

/// The result of a successful import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    pub year: i32,
    pub units: usize,
    pub summary: ReplaceSummary,
    /// Hidden sheets of the workbook, which were not read.
    pub hidden_sheets: Vec<String>,
}

/// Reads, checks and stores the roster of `year` from `path`.
pub fn import_units_file(
    conn: &mut Connection,
    path: &Path,
    year: i32,
    actor: &Actor,
) -> Result<ImportOutcome, UnitsImportError> {
    let file_err = |source| UnitsImportError::File {
        path: path.to_path_buf(),
        source,
    };
    let loaded = sheet::load(path, &LIMITS).map_err(|e| match e {
        LoadError::Io { path, source } => UnitsImportError::Read { path, source },
        LoadError::Read(e) => file_err(e.into()),
    })?;
    let bytes = loaded.bytes;
    let book = sheet::read(&bytes, loaded.format, &LIMITS).map_err(|e| file_err(e.into()))?;
    let other_years = units::ids_in_other_years(conn, year)?;
    let roster = check_units(&book, year, &other_years).map_err(file_err)?;
    let source = RosterSource {
        file: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string()),
        sha256: hex::encode(Sha256::digest(&bytes)),
    };
    let summary = units::replace_year(conn, year, &roster, &source, actor)?;
    Ok(ImportOutcome {
        year,
        units: roster.len(),
        summary,
        hidden_sheets: book.hidden,
    })
}

/// Parses and checks a roster file's bytes. `other_years` maps unit ids of
/// other years' rosters to those years (see [`units::ids_in_other_years`]).
pub fn parse_units(
    bytes: &[u8],
    format: Format,
    year: i32,
    other_years: &BTreeMap<String, Vec<i32>>,
) -> Result<Vec<UnitRecord>, ReadUnitsError> {
    let book = sheet::read(bytes, format, &LIMITS)?;
    check_units(&book, year, other_years)
}

fn check_units(
    book: &Workbook,
    year: i32,
    other_years: &BTreeMap<String, Vec<i32>>,
) -> Result<Vec<UnitRecord>, ReadUnitsError> {
    let table = Table::of(book.single()?);
    validate(&table, year, other_years).map_err(|problems| ReadUnitsError::Invalid { problems })
}

// ---------------------------------------------------------------------------
// The sheet as the checks walk it

/// A grid's rows with content, each with its non-empty cells by column.
#[derive(Debug)]
struct Table<'a> {
    sheet: Option<&'a str>,
    rows: Vec<TableRow<'a>>,
}

#[derive(Debug)]
struct TableRow<'a> {
    /// 1-based row (xlsx) or line (CSV) number.
    number: usize,
    /// Non-empty cells by 0-based column.
    cells: BTreeMap<usize, &'a Cell>,
    /// CSV: number of fields in the record; xlsx: None.
    fields: Option<usize>,
}

impl<'a> Table<'a> {
    fn of(grid: &'a Grid) -> Table<'a> {
        let csv = grid.sheet.is_none();
        let rows = grid
            .rows
            .iter()
            .enumerate()
            .filter_map(|(r, row)| {
                let cells: BTreeMap<usize, &Cell> = row
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| !c.is_empty())
                    .collect();
                (!cells.is_empty()).then(|| TableRow {
                    number: r + 1,
                    cells,
                    fields: csv.then_some(row.len()),
                })
            })
            .collect();
        Table {
            sheet: grid.sheet.as_deref(),
            rows,
        }
    }
}

// ---------------------------------------------------------------------------
// Checking rows

struct Draft {
    row: usize,
    id: String,
    name: String,
    category: String,
    parent: Option<String>,
    supervising_department: Option<String>,
    assessor: ResponsibleAssessor,
}

fn validate(
    grid: &Table<'_>,
    year: i32,
    other_years: &BTreeMap<String, Vec<i32>>,
) -> Result<Vec<UnitRecord>, Vec<ImportProblem>> {
    let mut problems = Vec::new();
    let sheet_loc = |row: Option<usize>, column: Option<usize>, header: Option<String>| Location {
        sheet: grid.sheet.map(str::to_string),
        row,
        column,
        header,
    };

    // Header row: the first of the first rows naming two known columns, or
    // else the first row with content (its problems are then reported).
    let Some(header_index) = grid
        .rows
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .position(|r| {
            r.cells
                .values()
                .filter(|c| matches!(c, Cell::Text(t) if Field::from_header(t).is_some()))
                .count()
                >= 2
        })
        .or(if grid.rows.is_empty() { None } else { Some(0) })
    else {
        return Err(vec![ImportProblem {
            location: sheet_loc(None, None, None),
            kind: ProblemKind::NoContent,
        }]);
    };
    let header_row = &grid.rows[header_index];

    let mut columns: BTreeMap<Field, (usize, String)> = BTreeMap::new();
    let mut named: BTreeSet<usize> = BTreeSet::new();
    for (&col, cell) in &header_row.cells {
        named.insert(col);
        let text = match cell {
            Cell::Text(t) => text::trim(t).to_string(),
            other => other.describe(),
        };
        match Field::from_header(&text) {
            Some(field) => {
                if let Some((first, _)) = columns.get(&field) {
                    problems.push(ImportProblem {
                        location: sheet_loc(Some(header_row.number), Some(col), Some(text.clone())),
                        kind: ProblemKind::DuplicateHeader {
                            field,
                            first_column: column_name(grid.sheet.is_some(), *first),
                        },
                    });
                } else {
                    columns.insert(field, (col, text));
                }
            }
            None => problems.push(ImportProblem {
                location: sheet_loc(Some(header_row.number), Some(col), None),
                kind: ProblemKind::UnknownHeader { text: shown(&text) },
            }),
        }
    }
    for field in Field::ALL {
        if !columns.contains_key(&field) {
            problems.push(ImportProblem {
                location: sheet_loc(Some(header_row.number), None, None),
                kind: ProblemKind::MissingHeader { field },
            });
        }
    }
    let header_fields = header_row.fields.unwrap_or(0);

    let mut drafts: Vec<Draft> = Vec::new();
    // Every readable id with its row, also from rows with other problems, so
    // that one bad row does not make its children report "unknown parent".
    let mut all_ids: Vec<(String, usize)> = Vec::new();
    let mut unnamed: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    let mut data_rows = 0usize;
    for row in &grid.rows[header_index + 1..] {
        if row.cells.is_empty() {
            continue;
        }
        data_rows += 1;
        if data_rows > MAX_ROWS {
            problems.push(ImportProblem {
                location: sheet_loc(Some(row.number), None, None),
                kind: ProblemKind::TooManyRows { max: MAX_ROWS },
            });
            break;
        }
        if let Some(found) = row.fields {
            let extra_content = row.cells.keys().any(|&c| c >= header_fields);
            if found < header_fields || extra_content {
                problems.push(ImportProblem {
                    location: sheet_loc(Some(row.number), None, None),
                    kind: ProblemKind::Ragged {
                        found,
                        expected: header_fields,
                    },
                });
                continue;
            }
        }
        for &col in row.cells.keys() {
            if !named.contains(&col) {
                let entry = unnamed.entry(col).or_insert((row.number, 0));
                entry.1 += 1;
            }
        }
        let mut row_problems = Vec::new();
        // A formula is refused where it stands; its field reads as absent.
        let mut formulas = BTreeSet::new();
        for (field, (col, header)) in &columns {
            if let Some(Cell::Formula(formula)) = row.cells.get(col) {
                formulas.insert(*field);
                row_problems.push(ImportProblem {
                    location: sheet_loc(Some(row.number), Some(*col), Some(header.clone())),
                    kind: ProblemKind::Formula {
                        formula: shown(formula),
                    },
                });
            }
        }
        let get = |field: Field| -> Option<(&Cell, Location)> {
            if formulas.contains(&field) {
                return None;
            }
            let (col, header) = columns.get(&field)?;
            let loc = sheet_loc(Some(row.number), Some(*col), Some(header.clone()));
            Some((row.cells.get(col).copied().unwrap_or(&Cell::Empty), loc))
        };
        let mut report = |location: Location, kind: ProblemKind| {
            row_problems.push(ImportProblem { location, kind })
        };

        let id = get(Field::Id).and_then(|(cell, loc)| {
            let id = required_code(cell, Field::Id, &loc, &mut report)?;
            if ResponsibleAssessor::RESERVED_IDS.contains(&id.as_str()) {
                report(loc, ProblemKind::ReservedId { value: id });
                return None;
            }
            Some(id)
        });
        let name = get(Field::Name)
            .and_then(|(cell, loc)| required_text(cell, Field::Name, &loc, &mut report));
        let category = get(Field::Category).and_then(|(cell, loc)| {
            let value = match code_of(cell) {
                Ok(Some(v)) => v,
                Ok(None) => {
                    report(
                        loc,
                        ProblemKind::EmptyValue {
                            field: Field::Category,
                        },
                    );
                    return None;
                }
                Err(found) => {
                    report(loc, ProblemKind::BadCategory { value: found });
                    return None;
                }
            };
            if !is_category_id(&value) {
                report(
                    loc,
                    ProblemKind::BadCategory {
                        value: shown(&value),
                    },
                );
                return None;
            }
            Some(value)
        });
        let parent = get(Field::Parent).map(|(cell, loc)| match code_of(cell) {
            Ok(None) => Ok(None),
            Ok(Some(v)) if is_unit_id(&v) => Ok(Some(v)),
            Ok(Some(v)) => {
                report(
                    loc,
                    ProblemKind::BadId {
                        field: Field::Parent,
                        value: shown(&v),
                    },
                );
                Err(())
            }
            Err(found) => {
                report(
                    loc,
                    ProblemKind::BadId {
                        field: Field::Parent,
                        value: found,
                    },
                );
                Err(())
            }
        });
        let supervising = get(Field::SupervisingDepartment).map(|(cell, loc)| {
            optional_text(cell, Field::SupervisingDepartment, &loc, &mut report)
        });
        let assessor = get(Field::Assessor).and_then(|(cell, loc)| {
            let text = match cell {
                Cell::Text(t) => text::trim(t).to_string(),
                _ => match code_of(cell) {
                    Ok(Some(v)) => v,
                    Ok(None) => String::new(),
                    Err(found) => {
                        report(
                            loc,
                            ProblemKind::NotText {
                                field: Field::Assessor,
                                found,
                            },
                        );
                        return None;
                    }
                },
            };
            if text.is_empty() {
                report(
                    loc,
                    ProblemKind::EmptyValue {
                        field: Field::Assessor,
                    },
                );
                return None;
            }
            match ResponsibleAssessor::from_import(&text) {
                ResponsibleAssessor::Unit(_) => {
                    let code = text::fold_width(&text, Fold::All).into_owned();
                    if is_unit_id(&code) {
                        Some(ResponsibleAssessor::Unit(code))
                    } else {
                        report(loc, ProblemKind::UnknownAssessorUnit { id: shown(&text) });
                        None
                    }
                }
                kind => Some(kind),
            }
        });
        let clean_row = row_problems.is_empty();
        problems.extend(row_problems);
        if let Some(id) = &id {
            all_ids.push((id.clone(), row.number));
        }
        if let (
            Some(id),
            Some(name),
            Some(category),
            Some(Ok(parent)),
            Some(Ok(supervising)),
            Some(assessor),
        ) = (id, name, category, parent, supervising, assessor)
            && clean_row
        {
            drafts.push(Draft {
                row: row.number,
                id,
                name,
                category,
                parent,
                supervising_department: supervising,
                assessor,
            });
        }
    }
    for (col, (first_row, rows)) in unnamed {
        problems.push(ImportProblem {
            location: sheet_loc(Some(first_row), Some(col), None),
            kind: ProblemKind::UnnamedColumn { rows },
        });
    }
    if data_rows == 0 {
        problems.push(ImportProblem {
            location: sheet_loc(Some(header_row.number), None, None),
            kind: ProblemKind::NoRows,
        });
    }

    // Across rows: unique ids, parents and unit assessors in this file, no cycles.
    let field_loc = |row: usize, field: Field| {
        let (col, header) = columns
            .get(&field)
            .map(|(c, h)| (Some(*c), Some(h.clone())))
            .unwrap_or((None, None));
        sheet_loc(Some(row), col, header)
    };
    let mut first_row: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, row) in &all_ids {
        if let Some(&first) = first_row.get(id.as_str()) {
            problems.push(ImportProblem {
                location: field_loc(*row, Field::Id),
                kind: ProblemKind::DuplicateId {
                    id: id.clone(),
                    first_row: first,
                },
            });
        } else {
            first_row.insert(id, *row);
        }
    }
    let parents: BTreeMap<&str, Option<&str>> = drafts
        .iter()
        .map(|d| (d.id.as_str(), d.parent.as_deref()))
        .collect();
    let mut reported_cycles: BTreeSet<Vec<String>> = BTreeSet::new();
    for d in &drafts {
        if let Some(parent) = &d.parent {
            if parent == &d.id {
                problems.push(ImportProblem {
                    location: field_loc(d.row, Field::Parent),
                    kind: ProblemKind::ParentIsSelf,
                });
            } else if !first_row.contains_key(parent.as_str()) {
                let kind = match other_years.get(parent) {
                    Some(years) => ProblemKind::ParentOfAnotherYear {
                        parent: parent.clone(),
                        years: years.clone(),
                    },
                    None => ProblemKind::UnknownParent {
                        parent: parent.clone(),
                    },
                };
                problems.push(ImportProblem {
                    location: field_loc(d.row, Field::Parent),
                    kind,
                });
            } else if let Some(cycle) = find_cycle(&d.id, &parents) {
                // The same cycle is found from each of its members; report it once.
                let mut key = cycle[..cycle.len() - 1].to_vec();
                key.sort();
                if reported_cycles.insert(key) {
                    problems.push(ImportProblem {
                        location: field_loc(d.row, Field::Parent),
                        kind: ProblemKind::ParentCycle { chain: cycle },
                    });
                }
            }
        }
        if let ResponsibleAssessor::Unit(id) = &d.assessor
            && !first_row.contains_key(id.as_str())
        {
            problems.push(ImportProblem {
                location: field_loc(d.row, Field::Assessor),
                kind: ProblemKind::UnknownAssessorUnit { id: id.clone() },
            });
        }
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(drafts
        .into_iter()
        .map(|d| UnitRecord {
            year,
            id: d.id,
            name: d.name,
            category: d.category,
            parent: d.parent,
            supervising_department: d.supervising_department,
            assessor: d.assessor,
        })
        .collect())
}

/// The cycle through `start` following parents, if `start` is on one.
fn find_cycle(start: &str, parents: &BTreeMap<&str, Option<&str>>) -> Option<Vec<String>> {
    let mut chain = vec![start.to_string()];
    let mut current = start;
    for _ in 0..=parents.len() {
        let next = (*parents.get(current)?)?;
        chain.push(next.to_string());
        if next == start {
            return Some(chain);
        }
        if chain[..chain.len() - 1].iter().any(|c| c == next) {
            // A cycle further up that `start` merely leads into.
            return None;
        }
        current = next;
    }
    None
}

fn required_code(
    cell: &Cell,
    field: Field,
    loc: &Location,
    report: &mut impl FnMut(Location, ProblemKind),
) -> Option<String> {
    match code_of(cell) {
        Ok(Some(v)) if is_unit_id(&v) => Some(v),
        Ok(Some(v)) => {
            report(
                loc.clone(),
                ProblemKind::BadId {
                    field,
                    value: shown(&v),
                },
            );
            None
        }
        Ok(None) => {
            report(loc.clone(), ProblemKind::EmptyValue { field });
            None
        }
        Err(found) => {
            report(
                loc.clone(),
                ProblemKind::BadId {
                    field,
                    value: found,
                },
            );
            None
        }
    }
}

fn required_text(
    cell: &Cell,
    field: Field,
    loc: &Location,
    report: &mut impl FnMut(Location, ProblemKind),
) -> Option<String> {
    match optional_text(cell, field, loc, report) {
        Ok(Some(v)) => Some(v),
        Ok(None) => {
            report(loc.clone(), ProblemKind::EmptyValue { field });
            None
        }
        Err(()) => None,
    }
}

fn optional_text(
    cell: &Cell,
    field: Field,
    loc: &Location,
    report: &mut impl FnMut(Location, ProblemKind),
) -> Result<Option<String>, ()> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(t) => {
            let t = text::trim(t).to_string();
            if t.is_empty() {
                Ok(None)
            } else if t.chars().count() > MAX_TEXT_CHARS {
                report(
                    loc.clone(),
                    ProblemKind::TooLong {
                        field,
                        max: MAX_TEXT_CHARS,
                    },
                );
                Err(())
            } else {
                Ok(Some(t))
            }
        }
        other => {
            report(
                loc.clone(),
                ProblemKind::NotText {
                    field,
                    found: other.describe(),
                },
            );
            Err(())
        }
    }
}

/// A code-like cell (id, category, parent) as text: full-width ASCII folded,
/// whole numbers accepted (Excel turns `101` into a number). `Err` carries a
/// description of a cell that cannot be a code.
fn code_of(cell: &Cell) -> Result<Option<String>, String> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(t) => {
            let v = text::fold_width(text::trim(t), Fold::All).into_owned();
            Ok(if v.is_empty() { None } else { Some(v) })
        }
        Cell::Number(f) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(Some(format!("{}", *f as i64))),
        other => Err(other.describe()),
    }
}

fn header_key(s: &str) -> String {
    let s = text::fold_width(text::trim(s), Fold::All);
    let s = s.trim_matches('*');
    let s = match (s.rfind('('), s.ends_with(')')) {
        (Some(open), true) if open > 0 => &s[..open],
        _ => s,
    };
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '*')
        .collect::<String>()
        .to_lowercase()
}

fn is_unit_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().count() <= MAX_ID_CHARS
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Category ids as the rule packs write them: `township`, `county_enterprise`.
pub fn is_category_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && s.len() <= MAX_ID_CHARS
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A cell's text as a problem quotes it: at most [`text::ECHO_CHARS`]
/// characters (a 1 MB cell must not make a 1 MB message).
fn shown(cell_text: &str) -> String {
    echo(cell_text).into_owned()
}

fn column_name(xlsx: bool, col: usize) -> String {
    if xlsx {
        format!("{}列", column_letters(col))
    } else {
        format!("第{}列", col + 1)
    }
}

fn expected_headers() -> String {
    Field::ALL
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join("、")
}

fn join_years(years: &[i32]) -> String {
    years
        .iter()
        .map(|y| y.to_string())
        .collect::<Vec<_>>()
        .join("、")
}

fn format_problems(problems: &[ImportProblem]) -> String {
    format!(
        "共 {} 处问题，未写入任何数据（{} problems, nothing written）：{}",
        problems.len(),
        problems.len(),
        sheet::problem_lines(problems)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit;
    use rust_xlsxwriter::{Format as XlsxFormat, Workbook};

    fn other_years() -> BTreeMap<String, Vec<i32>> {
        [("old".to_string(), vec![2023])].into()
    }

    fn csv_problems(text: &str) -> Vec<ImportProblem> {
        match parse_units(text.as_bytes(), Format::Csv, 2024, &other_years()) {
            Err(ReadUnitsError::Invalid { problems }) => problems,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    /// (row, 0-based column, short kind name) of each problem, sorted.
    fn summary(problems: &[ImportProblem]) -> Vec<(Option<usize>, Option<usize>, String)> {
        let mut out: Vec<_> = problems
            .iter()
            .map(|p| {
                let kind = format!("{:?}", p.kind);
                let short = kind.split([' ', '{', '(']).next().unwrap_or("").to_string();
                (p.location.row, p.location.column, short)
            })
            .collect();
        out.sort();
        out
    }

    const GOOD: &str = "单位编号,单位名称,类别,上级单位,主管部门,考核主体\n\
        t1,肖旗乡,township,,,依法治县办\n\
        t1v1,肖旗村,village,t1,,t1\n\
        wjw,县卫健委,department,,,依法治县办\n\
        h1,县人民医院,hospital,wjw,,卫健委\n\
        gt,县供电公司,stationed_enterprise,,市供电公司,国资局\n";

    #[test]
    fn a_good_csv_gives_every_field() {
        let units = parse_units(GOOD.as_bytes(), Format::Csv, 2024, &other_years()).unwrap();
        assert_eq!(units.len(), 5);
        let v = &units[1];
        assert_eq!(
            (v.year, v.id.as_str(), v.name.as_str(), v.category.as_str()),
            (2024, "t1v1", "肖旗村", "village")
        );
        assert_eq!(v.parent.as_deref(), Some("t1"));
        assert_eq!(v.assessor, ResponsibleAssessor::Unit("t1".into()));
        assert_eq!(units[3].assessor, ResponsibleAssessor::HealthCommission);
        assert_eq!(units[4].assessor, ResponsibleAssessor::Sasac);
        assert_eq!(
            units[4].supervising_department.as_deref(),
            Some("市供电公司")
        );
        assert_eq!(units[0].parent, None);
    }

    #[test]
    fn a_csv_with_bom_and_english_headers_in_another_order_is_read() {
        let text = "\u{feff}name,id,category,parent,assessor,supervising_department\r\n\
                    肖旗乡,t1,township,,county_office,\r\n";
        let units = parse_units(text.as_bytes(), Format::Csv, 2024, &other_years()).unwrap();
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].id, "t1");
        assert_eq!(units[0].name, "肖旗乡");
        assert_eq!(units[0].assessor, ResponsibleAssessor::CountyOffice);
    }

    #[test]
    fn a_gb18030_csv_from_chinese_excel_is_read() {
        let (bytes, _, had_errors) = encoding_rs::GB18030.encode(GOOD);
        assert!(!had_errors);
        assert!(std::str::from_utf8(&bytes).is_err(), "must not be UTF-8");
        let units = parse_units(&bytes, Format::Csv, 2024, &other_years()).unwrap();
        assert_eq!(units.len(), 5);
        assert_eq!(units[0].name, "肖旗乡");
        assert_eq!(
            units[4].supervising_department.as_deref(),
            Some("市供电公司")
        );
    }

    #[test]
    fn utf16_and_undecodable_bytes_are_refused_with_a_hint() {
        let err = parse_units(b"\xFF\xFEa\x00", Format::Csv, 2024, &other_years()).unwrap_err();
        assert!(matches!(err, ReadUnitsError::Read(ReadError::Utf16)));
        assert!(err.to_string().contains("UTF-8"), "{err}");
        let err = parse_units(b"\x81\x20\x81\x20", Format::Csv, 2024, &other_years()).unwrap_err();
        assert!(
            matches!(err, ReadUnitsError::Read(ReadError::Encoding)),
            "{err:?}"
        );
    }

    #[test]
    fn full_width_digits_and_padded_cells_are_normalised() {
        let text = "单位编号,单位名称,类别,上级单位,主管部门,考核主体\n\
                    １０１,\u{3000}肖旗乡 ,ｔｏｗｎｓｈｉｐ,,,依法治县办\n";
        let units = parse_units(text.as_bytes(), Format::Csv, 2024, &other_years()).unwrap();
        assert_eq!(units[0].id, "101");
        assert_eq!(units[0].name, "肖旗乡");
        assert_eq!(units[0].category, "township");
    }

    #[test]
    fn every_bad_row_is_reported_at_once_with_row_and_column() {
        let text = "单位编号,单位名称,类别,上级单位,主管部门,考核主体\n\
            t1,肖旗乡,township,,,依法治县办\n\
            t2,,township,,,依法治县办\n\
            t3,杨庄镇,Township,,,依法治县办\n\
            t1,重复乡,township,,,依法治县办\n\
            v1,某村,village,t9,,t1\n\
            v2,某村二,village,old,,t1\n\
            v3,某村三,village,t1,,依法治县办,多余\n\
            v4,某村四,village\n\
            sasac,国资单位,department,,,国资局\n\
            h1,医院,hospital,,县卫健委,wjx\n\
            c1,甲,department,c2,,依法治县办\n\
            c2,乙,department,c1,,依法治县办\n\
            b@d,坏编号,department,,,依法治县办\n";
        let problems = csv_problems(text);
        let s = |row, col: Option<usize>, kind: &str| (Some(row), col, kind.to_string());
        assert_eq!(
            summary(&problems),
            vec![
                s(3, Some(1), "EmptyValue"),
                s(4, Some(2), "BadCategory"),
                s(5, Some(0), "DuplicateId"),
                s(6, Some(3), "UnknownParent"),
                s(7, Some(3), "ParentOfAnotherYear"),
                s(8, None, "Ragged"),
                s(9, None, "Ragged"),
                s(10, Some(0), "ReservedId"),
                s(11, Some(5), "UnknownAssessorUnit"),
                s(12, Some(3), "ParentCycle"),
                s(14, Some(0), "BadId"),
            ]
        );
        let text = ReadUnitsError::Invalid { problems }.to_string();
        for needle in [
            "共 11 处问题，未写入任何数据",
            "第3行第2列「单位名称」：单位名称（name） 不能为空",
            "第4行第3列「类别」：类别「Township」格式不对",
            "第5行第1列「单位编号」：单位编号「t1」重复，第2行已有",
            "第6行第4列「上级单位」：上级单位「t9」不在本文件中",
            "上级单位「old」只在 2023 年度名册中",
            "第8行：本行有 7 个字段，表头有 6 个",
            "第9行：本行有 3 个字段",
            "考核主体「wjx」",
            "c1 → c2 → c1",
            "单位编号（id）「b@d」格式不对",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn renamed_duplicate_and_missing_headers_are_reported() {
        let problems = csv_problems(
            "单位编号,单位名字,类别,上级单位,类别,考核主体\n\
             t1,肖旗乡,township,,township,依法治县办\n",
        );
        let text = format_problems(&problems);
        assert_eq!(
            summary(&problems),
            vec![
                (Some(1), None, "MissingHeader".to_string()),
                (Some(1), None, "MissingHeader".to_string()),
                (Some(1), Some(1), "UnknownHeader".to_string()),
                (Some(1), Some(4), "DuplicateHeader".to_string()),
            ],
            "{text}"
        );
        assert!(text.contains("第1行第2列：未知表头「单位名字」"), "{text}");
        assert!(text.contains("缺少表头 单位名称（name）"), "{text}");
        assert!(
            text.contains("缺少表头 主管部门（supervising_department）"),
            "{text}"
        );
        assert!(
            text.contains("表头 类别（category） 重复，第3列已有"),
            "{text}"
        );
    }

    #[test]
    fn a_header_without_rows_or_an_empty_file_is_refused() {
        let problems = csv_problems("单位编号,单位名称,类别,上级单位,主管部门,考核主体\n");
        assert_eq!(
            summary(&problems),
            vec![(Some(1), None, "NoRows".to_string())]
        );
        // Zero bytes are refused by the reader; blank lines and empty
        // fields are content-free.
        assert!(matches!(
            parse_units(b"", Format::Csv, 2024, &other_years()),
            Err(ReadUnitsError::Read(ReadError::Empty))
        ));
        let problems = csv_problems("\n,,\n");
        assert_eq!(
            summary(&problems),
            vec![(None, None, "NoContent".to_string())]
        );
    }

    fn workbook(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.set_name("名册").unwrap();
        build(ws);
        wb.save_to_buffer().unwrap()
    }

    fn xlsx_header(ws: &mut rust_xlsxwriter::Worksheet, row: u32) {
        for (col, h) in [
            "单位编号（id）",
            "单位名称",
            "类别",
            "上级单位",
            "主管部门",
            "考核主体",
        ]
        .iter()
        .enumerate()
        {
            ws.write_string(row, col as u16, *h).unwrap();
        }
    }

    #[test]
    fn a_real_xlsx_with_a_title_row_and_numeric_ids_is_read() {
        let bytes = workbook(|ws| {
            ws.merge_range(
                0,
                0,
                0,
                5,
                "2024年度法治建设考核对象名册",
                &XlsxFormat::new(),
            )
            .unwrap();
            xlsx_header(ws, 1);
            ws.write_number(2, 0, 101).unwrap();
            ws.write_string(2, 1, "肖旗乡").unwrap();
            ws.write_string(2, 2, "township").unwrap();
            ws.write_string(2, 5, "依法治县办").unwrap();
            ws.write_string(3, 0, "101-1").unwrap();
            ws.write_string(3, 1, "肖旗村").unwrap();
            ws.write_string(3, 2, "village").unwrap();
            ws.write_number(3, 3, 101).unwrap();
            ws.write_number(3, 5, 101).unwrap();
        });
        let units = parse_units(&bytes, Format::Xlsx, 2024, &other_years()).unwrap();
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].id, "101");
        assert_eq!(units[1].parent.as_deref(), Some("101"));
        assert_eq!(units[1].assessor, ResponsibleAssessor::Unit("101".into()));
    }

    #[test]
    fn xlsx_problems_name_the_sheet_row_column_letter_and_header() {
        let bytes = workbook(|ws| {
            xlsx_header(ws, 0);
            ws.write_string(1, 0, "t1").unwrap();
            ws.write_string(1, 1, "肖旗乡").unwrap();
            ws.write_string(1, 2, "township").unwrap();
            ws.write_string(1, 5, "依法治县办").unwrap();
            // A number where a name is expected, and a note in column H without header.
            ws.write_string(2, 0, "t2").unwrap();
            ws.write_number(2, 1, 123).unwrap();
            ws.write_string(2, 2, "township").unwrap();
            ws.write_string(2, 5, "依法治县办").unwrap();
            ws.write_string(2, 7, "备注").unwrap();
            // A logical value where a category is expected.
            ws.write_string(3, 0, "t3").unwrap();
            ws.write_string(3, 1, "杨庄镇").unwrap();
            ws.write_boolean(3, 2, true).unwrap();
            ws.write_string(3, 5, "依法治县办").unwrap();
        });
        let err = parse_units(&bytes, Format::Xlsx, 2024, &other_years()).unwrap_err();
        let ReadUnitsError::Invalid { problems } = &err else {
            panic!("expected Invalid, got {err:?}");
        };
        assert_eq!(
            summary(problems),
            vec![
                (Some(3), Some(1), "NotText".to_string()),
                (Some(3), Some(7), "UnnamedColumn".to_string()),
                (Some(4), Some(2), "BadCategory".to_string()),
            ]
        );
        assert!(
            problems
                .iter()
                .all(|p| p.location.sheet.as_deref() == Some("名册"))
        );
        let text = err.to_string();
        for needle in [
            "工作表「名册」第3行B列「单位名称」：单位名称（name） 应为文字，实际是数字 123",
            "工作表「名册」第3行H列：此列没有表头却有内容，共 1 行",
            "工作表「名册」第4行C列「类别」：类别「逻辑值 TRUE」格式不对",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    /// A formula's cached value is whatever the file's author wrote there
    /// (here the id `t9` over a formula that could say anything): the
    /// roster used to take it; now the cell is refused where it stands.
    #[test]
    fn formula_cells_are_refused_not_read_as_their_cached_value() {
        let bytes = workbook(|ws| {
            xlsx_header(ws, 0);
            ws.write_formula(
                1,
                0,
                rust_xlsxwriter::Formula::new("=\"t\"&\"9\"").set_result("t9"),
            )
            .unwrap();
            ws.write_string(1, 1, "某乡").unwrap();
            ws.write_string(1, 2, "township").unwrap();
            ws.write_string(1, 5, "依法治县办").unwrap();
        });
        let err = parse_units(&bytes, Format::Xlsx, 2024, &other_years()).unwrap_err();
        let ReadUnitsError::Invalid { problems } = &err else {
            panic!("expected Invalid, got {err:?}");
        };
        assert_eq!(
            summary(problems),
            vec![(Some(2), Some(0), "Formula".to_string())]
        );
        let text = err.to_string();
        assert!(
            text.contains("工作表「名册」第2行A列「单位编号（id）」：单元格是公式 =\"t\"&\"9\""),
            "{text}"
        );
    }

    /// Issue #14: a refused cell is echoed short and as officials read it —
    /// a date as a date, a huge number as 1E+308, a 1 MB id cut to 100
    /// characters.
    #[test]
    fn refused_cells_are_echoed_short_and_as_officials_read_them() {
        let bytes = workbook(|ws| {
            xlsx_header(ws, 0);
            ws.write_string(1, 0, "t1").unwrap();
            ws.write_string(1, 1, "肖旗乡").unwrap();
            let day = rust_xlsxwriter::ExcelDateTime::from_ymd(2024, 1, 8).unwrap();
            ws.write_datetime_with_format(
                1,
                2,
                &day,
                &XlsxFormat::new().set_num_format("yyyy-mm-dd"),
            )
            .unwrap();
            ws.write_string(1, 5, "依法治县办").unwrap();
            ws.write_number(2, 0, 1e308).unwrap();
            ws.write_string(2, 1, "杨庄镇").unwrap();
            ws.write_string(2, 2, "township").unwrap();
            ws.write_string(2, 5, "依法治县办").unwrap();
        });
        let text = parse_units(&bytes, Format::Xlsx, 2024, &other_years())
            .unwrap_err()
            .to_string();
        assert!(text.contains("类别「日期 2024-01-08」格式不对"), "{text}");
        assert!(text.contains("「数字 1E+308」格式不对"), "{text}");
        assert!(!text.contains("0000000000"), "{text}");

        let huge = "x".repeat(1_000_000);
        let csv = format!(
            "单位编号,单位名称,类别,上级单位,主管部门,考核主体\n{huge},某乡,township,,,依法治县办\n"
        );
        let text = parse_units(csv.as_bytes(), Format::Csv, 2024, &other_years())
            .unwrap_err()
            .to_string();
        assert!(text.contains(&"x".repeat(100)), "{}", &text[..300]);
        assert!(text.contains("共 1000000 个字符"), "{}", &text[..300]);
        assert!(text.len() < 2_000, "{} bytes", text.len());
    }

    #[test]
    fn a_truncated_workbook_is_refused_not_half_read() {
        let bytes = workbook(|ws| {
            xlsx_header(ws, 0);
            ws.write_string(1, 0, "t1").unwrap();
        });
        let err = parse_units(
            &bytes[..bytes.len() / 2],
            Format::Xlsx,
            2024,
            &other_years(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                ReadUnitsError::Read(ReadError::NotXlsx { .. } | ReadError::Workbook { .. })
            ),
            "{err:?}"
        );
    }

    /// Found by fuzzing the node's reader: a tiny file naming the last cell
    /// of a sheet is read cell by cell (no dense grid). The roster used to
    /// read it and report the stray cell as a column without header; with
    /// the shared reader it is refused by its position, which is named.
    #[test]
    fn a_stray_cell_at_the_end_of_the_sheet_is_named_not_allocated() {
        let bytes = workbook(|ws| {
            xlsx_header(ws, 0);
            ws.write_string(1, 0, "t1").unwrap();
            ws.write_string(1, 1, "肖旗乡").unwrap();
            ws.write_string(1, 2, "township").unwrap();
            ws.write_string(1, 5, "依法治县办").unwrap();
            ws.write_number(1_048_575, 16_383, 1.0).unwrap();
        });
        let err = parse_units(&bytes, Format::Xlsx, 2024, &other_years()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("工作表「名册」的内容至少到第 1048576 行"),
            "{text}"
        );
        assert!(
            matches!(
                err,
                ReadUnitsError::Read(ReadError::SheetTooLarge {
                    rows: 1_048_576,
                    columns: 16_384,
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_workbook_is_refused_clearly() {
        let err = parse_units(b"not a zip", Format::Xlsx, 2024, &other_years()).unwrap_err();
        assert!(
            matches!(err, ReadUnitsError::Read(ReadError::NotXlsx { .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains(".xlsx"), "{err}");
        assert!(matches!(
            Format::from_path(Path::new("名册.xls")),
            Err(ReadError::UnsupportedFormat { .. })
        ));
    }

    /// An Excel 97-2003 roster renamed `.xlsx` was "not a valid zip"; it is
    /// named for what it is.
    #[test]
    fn an_old_xls_renamed_xlsx_is_named_as_such() {
        let mut xls = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        xls.resize(4096, 0);
        let err = parse_units(&xls, Format::Xlsx, 2024, &other_years()).unwrap_err();
        assert!(
            matches!(err, ReadUnitsError::Read(ReadError::OldXls)),
            "{err:?}"
        );
        assert!(err.to_string().contains("旧版 Excel 97-2003"), "{err}");
    }

    #[test]
    fn import_is_all_or_nothing_and_audited() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(&dir.path().join("hub")).unwrap();
        let actor = Actor::new("wang", "2024-12-01T00:00:00Z".parse().unwrap());
        let good = dir.path().join("good.csv");
        std::fs::write(&good, GOOD).unwrap();
        let outcome = import_units_file(&mut conn, &good, 2024, &actor).unwrap();
        assert_eq!(outcome.units, 5);
        assert_eq!(outcome.summary.added.len(), 5);

        // One good change and one bad row: nothing at all is written.
        let bad = dir.path().join("bad.csv");
        std::fs::write(
            &bad,
            GOOD.replace("肖旗乡", "肖旗乡（新）")
                .replace("hospital,wjw", "hospital,nowhere"),
        )
        .unwrap();
        let err = import_units_file(&mut conn, &bad, 2024, &actor).unwrap_err();
        assert_eq!(err.problems().len(), 1);
        let msg = err.to_string();
        assert!(msg.contains("bad.csv"), "{msg}");
        assert!(msg.contains("第5行第4列「上级单位」"), "{msg}");
        let roster = units::load_roster(&conn, 2024).unwrap();
        assert_eq!(roster.get("t1").unwrap().name, "肖旗乡");
        assert_eq!(roster.get("h1").unwrap().parent.as_deref(), Some("wjw"));
        assert_eq!(audit::recent(&conn, 10).unwrap().len(), 1);

        // The same file for another year: the parent check knows 2024's ids.
        let next = dir.path().join("next.csv");
        std::fs::write(
            &next,
            "单位编号,单位名称,类别,上级单位,主管部门,考核主体\nx,某村,village,t1,,依法治县办\n",
        )
        .unwrap();
        let err = import_units_file(&mut conn, &next, 2025, &actor).unwrap_err();
        assert!(
            err.to_string()
                .contains("上级单位「t1」只在 2024 年度名册中"),
            "{err}"
        );

        let log = audit::recent(&conn, 10).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].detail["file"], serde_json::json!("good.csv"));
        assert_eq!(log[0].detail["units"], serde_json::json!(5));
    }
}
