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
//! two known columns; title rows above it are ignored. The first six
//! columns are required, the last (主要负责人) optional, in any order, named
//! in Chinese or English; a trailing parenthesis is ignored, so
//! `单位编号（id）` works:
//!
//! | 中文 | English | value |
//! |---|---|---|
//! | 单位编号 | id | letters, digits, `_ . -`; full-width digits are accepted |
//! | 单位名称 | name | text; full-width digits, `．＋－` stored as ASCII, exactly as a node's template writes and reads the name |
//! | 类别 | category | category id of the year's rule pack (checked against its categories once the year's pack is published): `township`, `department`… |
//! | 上级单位 | parent | id of a unit in the same file, or empty |
//! | 主管部门 | supervising_department | text, or empty |
//! | 考核主体 | assessor | 依法治县办 / 国资局 / 卫健委 (or `county_office` / `sasac` / `health_commission`), or the id of a unit in the same file |
//! | 主要负责人 | principal | text, or empty (optional column): named with the unit in a commendation |

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use kaohe_tables::sheet::Location;
use kaohe_tables::sheet::{self, Format, Limits, LoadError, ReadError, Workbook};
use kaohe_tables::text::{self, Fold};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use self::validate::{Table, validate};
use super::StoreError;
use super::units::{self, ReplaceSummary, ReplaceUnitsError, RosterSource, UnitRecord};
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

mod validate;

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
    Principal,
}

impl Field {
    /// The optional columns: read when present, never missing.
    pub const OPTIONAL: [Field; 1] = [Field::Principal];

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
            Field::Principal => "主要负责人",
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
            Field::Principal => "principal",
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
            Field::Principal => &["主要负责人", "负责人", "principal"],
        }
    }

    fn from_header(text: &str) -> Option<Field> {
        let key = header_key(text);
        Field::ALL
            .into_iter()
            .chain(Field::OPTIONAL)
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
    /// A category the year's rule pack does not have.
    UnknownCategory {
        value: String,
        /// The pack, as `id-year 第 n 版`.
        pack: String,
        /// Its categories: `id（名称）`.
        known: Vec<String>,
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
                "考核主体「{id}」既不是依法治县办、国资局、卫健委（或 county_office、sasac、health_commission），也不是本文件中的单位编号；乡镇、县直单位考核其下级时，填该乡镇、单位的单位编号（unknown assessor）"
            ),
            ProblemKind::UnknownCategory { value, pack, known } => write!(
                f,
                "类别「{value}」不是规则包 {pack} 的考核类别；应为：{}（category not in the year's pack）",
                known.join("、")
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

/// The categories of the year's rule pack, which every unit's category
/// must be one of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackCategories {
    /// The pack, for messages: `baofeng-2024 第 1 版`.
    pub pack: String,
    /// Category id → Chinese name, in the pack's order.
    pub categories: Vec<(String, String)>,
}

impl PackCategories {
    /// The categories of `manifest`'s pack.
    pub fn of(manifest: &kaohe_rulepacks::manifest::Manifest) -> PackCategories {
        let p = &manifest.pack;
        PackCategories {
            pack: format!("{}-{} 第 {} 版", p.id, p.year, p.version),
            categories: manifest
                .categories
                .iter()
                .map(|c| (c.id.clone(), c.name.clone()))
                .collect(),
        }
    }

    fn knows(&self, id: &str) -> bool {
        self.categories.iter().any(|(c, _)| c == id)
    }

    fn listed(&self) -> Vec<String> {
        self.categories
            .iter()
            .map(|(id, name)| format!("{id}（{name}）"))
            .collect()
    }
}

/// Reads, checks and stores the roster of `year` from `path`; with the
/// year's pack, every category must be one of its categories (without
/// one, categories are checked for their form only).
pub fn import_units_file(
    conn: &mut Connection,
    path: &Path,
    year: i32,
    pack: Option<&PackCategories>,
    actor: &Actor,
) -> Result<ImportOutcome, UnitsImportError> {
    let loaded = sheet::load(path, &LIMITS).map_err(|e| match e {
        LoadError::Io { path, source } => UnitsImportError::Read { path, source },
        LoadError::Read(e) => UnitsImportError::File {
            path: path.to_path_buf(),
            source: e.into(),
        },
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    import_units(
        conn,
        path,
        &name,
        &loaded.bytes,
        loaded.format,
        year,
        pack,
        actor,
    )
}

/// [`import_units_file`] for a file's bytes that arrived another way (a
/// browser upload): the format from `file_name`'s extension, the same
/// checks, the same all-or-nothing store.
pub fn import_units_upload(
    conn: &mut Connection,
    file_name: &str,
    bytes: &[u8],
    year: i32,
    pack: Option<&PackCategories>,
    actor: &Actor,
) -> Result<ImportOutcome, UnitsImportError> {
    let path = Path::new(file_name);
    let format = Format::from_path(path).map_err(|e| UnitsImportError::File {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    import_units(conn, path, file_name, bytes, format, year, pack, actor)
}

#[allow(clippy::too_many_arguments)]
fn import_units(
    conn: &mut Connection,
    path: &Path,
    file_name: &str,
    bytes: &[u8],
    format: Format,
    year: i32,
    pack: Option<&PackCategories>,
    actor: &Actor,
) -> Result<ImportOutcome, UnitsImportError> {
    let file_err = |source| UnitsImportError::File {
        path: path.to_path_buf(),
        source,
    };
    let book = sheet::read(bytes, format, &LIMITS).map_err(|e| file_err(e.into()))?;
    let other_years = units::ids_in_other_years(conn, year)?;
    let roster = check_units(&book, year, &other_years, pack).map_err(file_err)?;
    let source = RosterSource {
        file: file_name.to_owned(),
        sha256: hex::encode(Sha256::digest(bytes)),
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
    check_units(&book, year, other_years, None)
}

fn check_units(
    book: &Workbook,
    year: i32,
    other_years: &BTreeMap<String, Vec<i32>>,
    pack: Option<&PackCategories>,
) -> Result<Vec<UnitRecord>, ReadUnitsError> {
    let table = Table::of(book.single()?);
    validate(&table, year, other_years, pack)
        .map_err(|problems| ReadUnitsError::Invalid { problems })
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

/// Category ids as the rule packs write them: `township`, `county_enterprise`.
pub fn is_category_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && s.len() <= MAX_ID_CHARS
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
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
mod tests;
