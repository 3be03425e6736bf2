//! 证据导入（evidence import）：`kaohe node import` 与 `kaohe node set`。
//!
//! **All or nothing.** The whole file is read ([`kaohe_tables::sheet`]) and
//! checked against the [`Layout`] first; every problem is reported at once,
//! each naming the sheet, row, column (with its header), unit and the rule
//! broken ([`Problem`]); nothing is written unless the whole file is valid.
//! The valid evidence is then written in **one SQLite transaction**
//! ([`Store::apply_evidence`]), so a node killed mid-import leaves nothing
//! half-written.
//!
//! What a row means. In each row the cells of one **method** form a block:
//! a block with no value at all is "not reported in this file" and leaves
//! stored values alone; a block with any value is the unit's complete
//! evidence of that method for that round — its required fields must be
//! filled, and an optional field left empty removes a stored value. A
//! corrected file imported again therefore replaces what it covers, and
//! every change (old → new, who, when, which file) is kept in the history.
//!
//! The rules, each a [`Rule`]: unknown sheet, header rows not found,
//! missing / unknown / renamed / duplicated / unnamed columns, merged cells,
//! a field of a method outside this node's scope or on the wrong round's
//! sheet, ragged CSV rows, a missing or non-text unit id, unknown unit, unit
//! outside the scope, unit name not matching the id, bad round (CSV),
//! duplicate rows, formulas, Excel error values, wrong types (text where a
//! number belongs and the reverse), more than two decimals, out of range,
//! missing required values, values in cells that do not apply to the
//! unit's category or (CSV) to the row's round, and a template of another
//! year. Full-width digits are accepted and counted (see [`crate::value`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use kaohe_rulepacks::manifest::Round;
use kaohe_tables::sheet::{self, Cell, Format, Grid, Limits, LoadError, ReadError, TextEncoding};
use kaohe_tables::text::{column_letters, echo};
use sha2::{Digest as _, Sha256};

use crate::layout::{
    self, Layout, LayoutError, NOTES_SHEET, ROUND_KEY, UNIT_ID_HEADER, UNIT_ID_KEY, UNIT_NAME_KEY,
};
use crate::store::{Actor, ApplyError, ApplySummary, EvidenceWrite, SourceKind, Store, StoreError};
use crate::value::{self, Input, ValueError};

/// Rows searched for the header rows.
const HEADER_SEARCH_ROWS: usize = 6;

/// Where a problem is, as the official sees the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// Sheet name (`.xlsx` only).
    pub sheet: Option<String>,
    /// 1-based row.
    pub row: Option<usize>,
    /// 0-based column.
    pub column: Option<usize>,
    /// The column's header (the field's Chinese header when known).
    pub header: Option<String>,
    /// The unit the row is about.
    pub unit: Option<String>,
}

/// One problem found in the file (or in a `set` command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: Location,
    pub rule: Rule,
}

/// The rule a problem breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    NoSheets,
    UnknownSheet {
        name: String,
    },
    WrongYear {
        found: u16,
        expected: u16,
    },
    WrongPack {
        found: String,
        expected: String,
    },
    NoHeader,
    MissingColumn {
        header: String,
        id: String,
    },
    UnknownColumn {
        text: String,
    },
    RenamedHeader {
        found: String,
        expected: String,
        id: String,
    },
    DuplicateColumn {
        id: String,
        first: String,
    },
    UnnamedColumn,
    FieldNotInScope {
        field: String,
        method: String,
    },
    FieldWrongSheet {
        field: String,
        quarterly: bool,
    },
    Merged {
        range: String,
    },
    Ragged {
        found: usize,
        expected: usize,
    },
    MissingUnitId,
    UnitIdNotText {
        found: String,
    },
    UnknownUnit {
        id: String,
    },
    OutOfScope {
        id: String,
        year: u16,
    },
    NameMismatch {
        found: String,
        expected: String,
    },
    BadRound {
        found: String,
    },
    DuplicateRow {
        first: String,
    },
    Formula {
        formula: String,
    },
    ErrorValue {
        value: String,
    },
    Value(ValueError),
    MissingRequired {
        field: String,
        method: String,
    },
    NotApplicable {
        category: String,
    },
    WrongRoundValue {
        quarterly: bool,
    },
    UnknownField {
        id: String,
    },
    RoundRequired,
    RoundNotAllowed {
        round: String,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::NoSheets => f.write_str("工作簿中没有可导入的工作表（no sheet to import）"),
            Rule::UnknownSheet { name } => write!(
                f,
                "不认识的工作表「{name}」，应为 年度、第一季度至第四季度 或 {NOTES_SHEET}（unknown sheet）"
            ),
            Rule::WrongYear { found, expected } => write!(
                f,
                "这是 {found} 年的模板，不能导入为 {expected} 年（template of another year）"
            ),
            Rule::WrongPack { found, expected } => write!(
                f,
                "模板由规则包 {found} 生成，本年度规则包为 {expected}（template of another pack）"
            ),
            Rule::NoHeader => write!(
                f,
                "找不到表头：第1行应为中文表头（{UNIT_ID_HEADER} …），第2行为字段编号（{UNIT_ID_KEY} …）；请使用 `kaohe node template` 生成的模板（header rows not found）"
            ),
            Rule::MissingColumn { header, id } => {
                write!(f, "缺少列「{header}」（{id}）（missing column）")
            }
            Rule::UnknownColumn { text } => {
                write!(f, "不认识的列「{}」（unknown column）", echo(text))
            }
            Rule::RenamedHeader {
                found,
                expected,
                id,
            } => write!(
                f,
                "表头「{}」与字段编号 {id} 不符，应为「{expected}」；请勿修改或移动表头（renamed or moved header）",
                echo(found)
            ),
            Rule::DuplicateColumn { id, first } => {
                write!(
                    f,
                    "字段 {id} 的列重复，已在 {first} 列出现（duplicate column）"
                )
            }
            Rule::UnnamedColumn => {
                f.write_str("此列没有表头却有内容（content in a column without a header）")
            }
            Rule::FieldNotInScope { field, method } => write!(
                f,
                "字段 {field} 属于考核方式「{method}」，不在本节点的考核范围内（field of a method outside this node's scope）"
            ),
            Rule::FieldWrongSheet { field, quarterly } => write!(
                f,
                "字段 {field} 应填在{}（field belongs to another round's sheet）",
                if *quarterly {
                    "第一季度至第四季度表中"
                } else {
                    "年度表中"
                }
            ),
            Rule::Merged { range } => write!(f, "合并单元格 {range}，请取消合并（merged cells）"),
            Rule::Ragged { found, expected } => {
                write!(f, "此行有 {found} 列，表头有 {expected} 列（ragged row）")
            }
            Rule::MissingUnitId => f.write_str("缺少单位编号（missing unit id）"),
            Rule::UnitIdNotText { found } => write!(
                f,
                "单位编号须为文本，实为{found}；请把该列设为文本格式后重填（number where text belongs）"
            ),
            Rule::UnknownUnit { id } => write!(f, "单位编号 {} 不存在（unknown unit）", echo(id)),
            Rule::OutOfScope { id, year } => {
                write!(
                    f,
                    "单位 {id} 不在本节点 {year} 年的考核范围内（unit outside this node's scope）"
                )
            }
            Rule::NameMismatch { found, expected } => write!(
                f,
                "单位名称「{}」与单位编号不符，应为「{expected}」（unit name does not match the id）",
                echo(found)
            ),
            Rule::BadRound { found } => write!(
                f,
                "轮次「{}」无效，应为本模板中的 年度 或 第一季度至第四季度（invalid round）",
                echo(found)
            ),
            Rule::DuplicateRow { first } => write!(
                f,
                "同一单位、同一轮次重复填报，已在{first}出现（duplicate row）"
            ),
            Rule::Formula { formula } => write!(
                f,
                "单元格是公式 ={}，请改为直接填写数值（formula where a value belongs）",
                echo(formula)
            ),
            Rule::ErrorValue { value } => write!(f, "单元格是错误值 {value}（Excel error value）"),
            Rule::Value(e) => write!(f, "{e}"),
            Rule::MissingRequired { field, method } => write!(
                f,
                "「{field}」为必填项：本行已填写「{method}」的其他项，此项不能为空（missing required value）"
            ),
            Rule::NotApplicable { category } => write!(
                f,
                "此项不适用于类别「{category}」的单位，请留空（field does not apply to this unit's category）"
            ),
            Rule::WrongRoundValue { quarterly } => write!(
                f,
                "此项{}，本行应留空（value in a field of another round）",
                if *quarterly {
                    "按季度填报，年度行"
                } else {
                    "按年度填报，季度行"
                }
            ),
            Rule::UnknownField { id } => write!(f, "规则包中没有字段 {id}（unknown field）"),
            Rule::RoundRequired => {
                f.write_str("此项按季度填报，须用 --round Q1…Q4 指定季度（round required）")
            }
            Rule::RoundNotAllowed { round } => {
                write!(
                    f,
                    "此项按年度填报，不能指定季度 {round}（no quarter for an annual field）"
                )
            }
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = sheet::Location {
            sheet: self.sheet.clone(),
            row: self.row,
            column: self.column,
            header: self.header.clone(),
        };
        let place = at.place();
        let mut shown = match (&self.header, place.is_empty()) {
            (None, true) => String::new(),
            _ => at.to_string(),
        };
        if let Some(u) = &self.unit {
            if !shown.is_empty() {
                shown.push(' ');
            }
            shown.push_str(&format!("单位 {}", echo(u)));
        }
        if shown.is_empty() {
            f.write_str("文件")
        } else {
            f.write_str(&shown)
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}：{}", self.at, self.rule)
    }
}

/// The import refused the file (nothing was written), or writing failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("不能读取文件 {path}（cannot read the file）：{source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}：{source}")]
    Read { file: String, source: ReadError },
    #[error("{year} 年还没有启用的规则包，请先同步（no active pack for the year: sync first）")]
    NoPack { year: u16 },
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("{}", invalid_message(file, problems))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
    #[error(
        "导入 {file} 时写入失败，未保存任何数据（writing failed; nothing was saved）：{source}"
    )]
    Apply { file: String, source: ApplyError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid_message(file: &str, problems: &[Problem]) -> String {
    format!(
        "{file} 有 {} 处问题，未导入任何数据（{} problems; nothing was imported）：{}",
        problems.len(),
        problems.len(),
        sheet::problem_lines(problems)
    )
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub summary: ApplySummary,
    /// Data rows that reported something.
    pub rows: usize,
    /// (unit, round, method) blocks written.
    pub blocks: usize,
    /// Cells read after mapping full-width characters to ASCII.
    pub normalised: usize,
    /// CSV only: how the text was decoded.
    pub encoding: Option<TextEncoding>,
    /// Hidden sheets of the workbook, which were not read.
    pub hidden_sheets: Vec<String>,
    pub sha256: [u8; 32],
}

/// The checked content of a file, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub writes: Vec<EvidenceWrite>,
    pub rows: usize,
    pub blocks: usize,
    pub normalised: usize,
}

/// Imports `path` (`.xlsx` or `.csv`) as the evidence of `year`.
pub fn import_file(
    store: &mut Store,
    path: &Path,
    year: u16,
    actor: &Actor,
    limits: &Limits,
    progress: &mut dyn FnMut(usize),
) -> Result<ImportReport, ImportError> {
    let shown = path.display().to_string();
    let loaded = sheet::load(path, limits).map_err(|e| match e {
        LoadError::Io { source, .. } => ImportError::Io {
            path: shown.clone(),
            source,
        },
        LoadError::Read(source) => ImportError::Read {
            file: shown.clone(),
            source,
        },
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    import_bytes(
        store,
        &name,
        &loaded.bytes,
        loaded.format,
        year,
        actor,
        limits,
        progress,
    )
}

/// Imports a file's bytes; `file_name` is used in messages and the history.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site each in the CLI and the tests"
)]
pub fn import_bytes(
    store: &mut Store,
    file_name: &str,
    bytes: &[u8],
    format: Format,
    year: u16,
    actor: &Actor,
    limits: &Limits,
    progress: &mut dyn FnMut(usize),
) -> Result<ImportReport, ImportError> {
    let pack = store
        .active_pack(year)?
        .ok_or(ImportError::NoPack { year })?;
    let scope = store.scope(year)?;
    let layout = Layout::new(&pack.manifest, &scope)?;
    let book = sheet::read(bytes, format, limits).map_err(|source| ImportError::Read {
        file: file_name.to_string(),
        source,
    })?;
    let known = store.known_units()?;
    let plan = check(&layout, &book.grids, &known).map_err(|problems| ImportError::Invalid {
        file: file_name.to_string(),
        problems,
    })?;
    let sha256: [u8; 32] = Sha256::digest(bytes).into();
    let source = SourceKind::Import {
        file_name: file_name.to_string(),
        sha256,
    };
    let summary = store
        .apply_evidence(year, &plan.writes, &source, actor, progress)
        .map_err(|source| ImportError::Apply {
            file: file_name.to_string(),
            source,
        })?;
    Ok(ImportReport {
        summary,
        rows: plan.rows,
        blocks: plan.blocks,
        normalised: plan.normalised,
        encoding: book.encoding,
        hidden_sheets: book.hidden,
        sha256,
    })
}

/// Checks every grid against the layout. `known` holds every unit id the
/// node has heard of (to tell an unknown unit from one outside the scope).
/// Pure: no IO.
pub fn check(
    layout: &Layout<'_>,
    grids: &[Grid],
    known: &BTreeSet<String>,
) -> Result<Plan, Vec<Problem>> {
    let mut cx = Checker {
        layout,
        known,
        problems: Vec::new(),
        plan: Plan::default(),
        seen_rows: BTreeMap::new(),
    };
    let mut any = false;
    for grid in grids {
        match &grid.sheet {
            Some(name) if name.trim() == NOTES_SHEET => cx.check_marker(grid),
            Some(name) => match Layout::round_of_sheet(name) {
                Some(round) => {
                    any = true;
                    cx.check_grid(grid, Some(round));
                }
                None => cx.problem(sheet_at(grid), Rule::UnknownSheet { name: name.clone() }),
            },
            None => {
                any = true;
                cx.check_grid(grid, None);
            }
        }
    }
    if !any && cx.problems.is_empty() {
        cx.problem(Location::default(), Rule::NoSheets);
    }
    if cx.problems.is_empty() {
        Ok(cx.plan)
    } else {
        Err(cx.problems)
    }
}

/// Sets one value from the command line, with the import's checks.
pub fn set_value(
    store: &mut Store,
    year: u16,
    unit_id: &str,
    field_id: &str,
    text: &str,
    round: Option<Round>,
    actor: &Actor,
) -> Result<ApplySummary, SetError> {
    let pack = store.active_pack(year)?.ok_or(SetError::NoPack { year })?;
    let scope = store.scope(year)?;
    let layout = Layout::new(&pack.manifest, &scope)?;
    let known = store.known_units()?;
    let write =
        check_set(&layout, &known, unit_id, field_id, text, round).map_err(SetError::Invalid)?;
    Ok(store.apply_evidence(year, &[write], &SourceKind::Set, actor, &mut |_| {})?)
}

/// `set` was refused or failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error("{year} 年还没有启用的规则包，请先同步（no active pack for the year: sync first）")]
    NoPack { year: u16 },
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("{0}，未作修改（nothing changed）")]
    Invalid(Box<Problem>),
    #[error("写入失败，未作修改（writing failed; nothing changed）：{0}")]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The checks of `set`, pure.
pub fn check_set(
    layout: &Layout<'_>,
    known: &BTreeSet<String>,
    unit_id: &str,
    field_id: &str,
    text: &str,
    round: Option<Round>,
) -> Result<EvidenceWrite, Box<Problem>> {
    let m = layout.manifest;
    let mut at = Location {
        unit: Some(unit_id.to_string()),
        ..Location::default()
    };
    let fail = |at: &Location, rule| {
        Box::new(Problem {
            at: at.clone(),
            rule,
        })
    };
    let Some(unit) = layout.scope.unit(unit_id) else {
        let rule = if known.contains(unit_id) {
            Rule::OutOfScope {
                id: unit_id.to_string(),
                year: layout.scope.year,
            }
        } else {
            Rule::UnknownUnit {
                id: unit_id.to_string(),
            }
        };
        return Err(fail(&at, rule));
    };
    let Some(f) = m.field_index(field_id) else {
        return Err(fail(
            &at,
            Rule::UnknownField {
                id: field_id.to_string(),
            },
        ));
    };
    let field = &m.fields[f];
    at.header = Some(layout::header(field));
    if !layout.scope.has_method(&field.method) {
        return Err(fail(
            &at,
            Rule::FieldNotInScope {
                field: field.id.clone(),
                method: method_name(layout, &field.method),
            },
        ));
    }
    let quarterly = layout.fields_for(Round::Q1).contains(&f);
    let round = match (quarterly, round) {
        (true, Some(r)) if r.is_quarter() => r,
        (true, _) => return Err(fail(&at, Rule::RoundRequired)),
        (false, None | Some(Round::Annual)) => Round::Annual,
        (false, Some(r)) => {
            return Err(fail(
                &at,
                Rule::RoundNotAllowed {
                    round: r.id().to_string(),
                },
            ));
        }
    };
    let category = layout.category_of(unit);
    if !category.is_some_and(|c| layout.applies(c, f)) {
        return Err(fail(
            &at,
            Rule::NotApplicable {
                category: category_name(layout, unit),
            },
        ));
    }
    let parsed = value::parse(field, Input::Text(text)).map_err(|e| fail(&at, Rule::Value(e)))?;
    Ok(EvidenceWrite {
        unit_id: unit.unit_id.clone(),
        round,
        field_id: field.id.clone(),
        value: Some(parsed.value),
    })
}

// ------------------------------------------------------------- checker --

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    UnitId,
    UnitName,
    Round,
    Field(usize),
}

/// A field cell after checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    Value(i64),
    Invalid,
}

struct Checker<'a, 'b> {
    layout: &'a Layout<'b>,
    known: &'a BTreeSet<String>,
    problems: Vec<Problem>,
    plan: Plan,
    /// (unit, round) → where it was first reported.
    seen_rows: BTreeMap<(String, Round), String>,
}

impl Checker<'_, '_> {
    fn problem(&mut self, at: Location, rule: Rule) {
        self.problems.push(Problem { at, rule });
    }

    fn check_marker(&mut self, grid: &Grid) {
        let Some(text) = grid.cell(0, 0).text() else {
            return;
        };
        let mut words = text.split_whitespace();
        if words.next() != Some(layout::MARKER_PREFIX) {
            return;
        }
        let (Some(year), Some(pack)) = (words.next(), words.next()) else {
            return;
        };
        let expected_year = self.layout.scope.year;
        let at = Location {
            sheet: grid.sheet.clone(),
            row: Some(1),
            column: Some(0),
            ..Location::default()
        };
        if let Ok(found) = year.parse::<u16>()
            && found != expected_year
        {
            self.problem(
                at.clone(),
                Rule::WrongYear {
                    found,
                    expected: expected_year,
                },
            );
        }
        let expected_pack = &self.layout.manifest.pack.id;
        if pack != expected_pack {
            self.problem(
                at,
                Rule::WrongPack {
                    found: pack.to_string(),
                    expected: expected_pack.clone(),
                },
            );
        }
    }

    /// `round`: the sheet's round (xlsx), or `None` for a CSV with a round column.
    fn check_grid(&mut self, grid: &Grid, round: Option<Round>) {
        let sheet = grid.sheet.clone();
        let base = Location {
            sheet: sheet.clone(),
            ..Location::default()
        };
        for &(r0, c0, r1, c1) in &grid.merged {
            let range = format!(
                "{}{}:{}{}",
                column_letters(c0),
                r0 + 1,
                column_letters(c1),
                r1 + 1
            );
            self.problem(
                Location {
                    row: Some(r0 + 1),
                    column: Some(c0),
                    ..base.clone()
                },
                Rule::Merged { range },
            );
        }
        let Some(header) = self.find_header(grid) else {
            self.problem(base, Rule::NoHeader);
            return;
        };
        let Some(columns) = self.map_columns(grid, &header, round) else {
            return;
        };
        let width = header.width;
        let mut unnamed_reported = BTreeSet::new();
        for r in header.data_start..grid.rows.len() {
            let row = &grid.rows[r];
            if row.iter().all(Cell::is_empty) {
                continue;
            }
            let at_row = Location {
                row: Some(r + 1),
                ..base.clone()
            };
            if sheet.is_none() && row.len() != width {
                self.problem(
                    at_row.clone(),
                    Rule::Ragged {
                        found: row.len(),
                        expected: width,
                    },
                );
            }
            if sheet.is_some() {
                for (c, cell) in row.iter().enumerate().skip(width) {
                    if !cell.is_empty() && unnamed_reported.insert(c) {
                        self.problem(
                            Location {
                                column: Some(c),
                                ..at_row.clone()
                            },
                            Rule::UnnamedColumn,
                        );
                    }
                }
            }
            self.check_row(grid, r, &columns, round, at_row);
        }
    }

    fn find_header(&self, grid: &Grid) -> Option<Header> {
        let limit = grid.rows.len().min(HEADER_SEARCH_ROWS);
        if let Some(r) = (0..limit).find(|&r| grid.cell(r, 0).text() == Some(UNIT_ID_KEY)) {
            let width = grid.rows[r]
                .len()
                .max(r.checked_sub(1).map_or(0, |h| grid.rows[h].len()));
            return Some(Header {
                ids: Some(r),
                zh: r.checked_sub(1),
                data_start: r + 1,
                width: if grid.sheet.is_none() {
                    grid.rows[r].len()
                } else {
                    width
                },
            });
        }
        let key = layout::header_key(UNIT_ID_HEADER);
        (0..limit)
            .find(|&r| grid.cell(r, 0).text().map(layout::header_key) == Some(key.clone()))
            .map(|r| Header {
                ids: None,
                zh: Some(r),
                data_start: r + 1,
                width: grid.rows[r].len(),
            })
    }

    /// Maps each column to what it holds; reports header problems. `None`
    /// when the rows cannot be read (no unit id or, in a CSV, no round
    /// column).
    fn map_columns(
        &mut self,
        grid: &Grid,
        header: &Header,
        round: Option<Round>,
    ) -> Option<Vec<(usize, Col)>> {
        let layout = self.layout;
        let m = layout.manifest;
        let base = Location {
            sheet: grid.sheet.clone(),
            ..Location::default()
        };
        let header_row = header.ids.or(header.zh).unwrap_or(0);
        let at_col = |c: usize, h: Option<String>| Location {
            row: Some(header_row + 1),
            column: Some(c),
            header: h,
            ..base.clone()
        };
        let expected_fields: Vec<usize> = match round {
            Some(r) => layout.fields_for(r).to_vec(),
            None => layout.all_fields(),
        };
        let mut columns: Vec<(usize, Col)> = Vec::new();
        let mut first_of: BTreeMap<String, usize> = BTreeMap::new();
        for c in 0..header.width {
            let zh_cell = header.zh.map(|r| grid.cell(r, c));
            let zh_text = zh_cell.and_then(Cell::text).unwrap_or("");
            let key: String = match header.ids {
                Some(ir) => match grid.cell(ir, c) {
                    Cell::Empty => String::new(),
                    cell => match cell.text() {
                        Some(t) => t.to_string(),
                        None => {
                            self.problem(
                                at_col(c, None),
                                Rule::UnknownColumn {
                                    text: cell.describe(),
                                },
                            );
                            continue;
                        }
                    },
                },
                None => key_from_header(layout, &expected_fields, round.is_none(), zh_text),
            };
            if key.is_empty() {
                let has_data =
                    (header.data_start..grid.rows.len()).any(|r| !grid.cell(r, c).is_empty());
                if !zh_text.is_empty() {
                    self.problem(
                        at_col(c, None),
                        Rule::UnknownColumn {
                            text: zh_text.to_string(),
                        },
                    );
                } else if has_data {
                    self.problem(at_col(c, None), Rule::UnnamedColumn);
                }
                continue;
            }
            let (col, expected_header) = match key.as_str() {
                UNIT_ID_KEY => (Col::UnitId, UNIT_ID_HEADER.to_string()),
                UNIT_NAME_KEY => (Col::UnitName, layout::UNIT_NAME_HEADER.to_string()),
                ROUND_KEY if round.is_none() => (Col::Round, layout::ROUND_HEADER.to_string()),
                id => match m.field_index(id) {
                    Some(f) => (Col::Field(f), layout::header(&m.fields[f])),
                    None => {
                        let text = if zh_text.is_empty() {
                            id.to_string()
                        } else {
                            format!("{zh_text}（{id}）")
                        };
                        self.problem(at_col(c, None), Rule::UnknownColumn { text });
                        continue;
                    }
                },
            };
            if let Some(&first) = first_of.get(&key) {
                self.problem(
                    at_col(c, Some(expected_header)),
                    Rule::DuplicateColumn {
                        id: key.clone(),
                        first: column_name(grid, first),
                    },
                );
                continue;
            }
            first_of.insert(key.clone(), c);
            if header.ids.is_some()
                && zh_cell.is_some()
                && layout::header_key(zh_text) != layout::header_key(&expected_header)
            {
                self.problem(
                    at_col(c, None),
                    Rule::RenamedHeader {
                        found: zh_text.to_string(),
                        expected: expected_header.clone(),
                        id: key.clone(),
                    },
                );
            }
            if let Col::Field(f) = col {
                let field = &m.fields[f];
                if !layout.scope.has_method(&field.method) {
                    self.problem(
                        at_col(c, Some(expected_header)),
                        Rule::FieldNotInScope {
                            field: field.id.clone(),
                            method: method_name(layout, &field.method),
                        },
                    );
                    continue;
                }
                if let Some(r) = round
                    && !layout.field_in_round(f, r)
                {
                    self.problem(
                        at_col(c, Some(expected_header)),
                        Rule::FieldWrongSheet {
                            field: field.id.clone(),
                            quarterly: !r.is_quarter(),
                        },
                    );
                    continue;
                }
            }
            columns.push((c, col));
        }
        let has = |want: Col| columns.iter().any(|&(_, col)| col == want);
        let mut readable = true;
        let whole = Location {
            row: Some(header_row + 1),
            ..base.clone()
        };
        let missing = |this: &mut Self, header: &str, id: &str| {
            this.problem(
                whole.clone(),
                Rule::MissingColumn {
                    header: header.to_string(),
                    id: id.to_string(),
                },
            );
        };
        if !has(Col::UnitId) {
            missing(self, UNIT_ID_HEADER, UNIT_ID_KEY);
            readable = false;
        }
        if !has(Col::UnitName) {
            missing(self, layout::UNIT_NAME_HEADER, UNIT_NAME_KEY);
        }
        if round.is_none() && !has(Col::Round) {
            missing(self, layout::ROUND_HEADER, ROUND_KEY);
            readable = false;
        }
        for &f in &expected_fields {
            if !has(Col::Field(f)) {
                let field = &m.fields[f];
                missing(self, &layout::header(field), &field.id);
            }
        }
        readable.then_some(columns)
    }

    fn check_row(
        &mut self,
        grid: &Grid,
        r: usize,
        columns: &[(usize, Col)],
        round: Option<Round>,
        at_row: Location,
    ) {
        let layout = self.layout;
        let m = layout.manifest;
        let col_of = |want: Col| {
            columns
                .iter()
                .find(|&&(_, col)| col == want)
                .map(|&(c, _)| c)
        };
        let Some(id_col) = col_of(Col::UnitId) else {
            return;
        };
        let at_id = Location {
            column: Some(id_col),
            header: Some(UNIT_ID_HEADER.to_string()),
            ..at_row.clone()
        };
        let unit_id = match grid.cell(r, id_col) {
            Cell::Text(t) => unquote(&value::normalise(t).0).to_string(),
            Cell::Empty => String::new(),
            Cell::Formula(f) => {
                self.problem(at_id, Rule::Formula { formula: f.clone() });
                return;
            }
            other => {
                self.problem(
                    at_id,
                    Rule::UnitIdNotText {
                        found: other.describe(),
                    },
                );
                return;
            }
        };
        if unit_id.is_empty() {
            self.problem(at_id, Rule::MissingUnitId);
            return;
        }
        let at_row = Location {
            unit: Some(unit_id.clone()),
            ..at_row
        };
        let Some(unit) = layout.scope.unit(&unit_id) else {
            let rule = if self.known.contains(&unit_id) {
                Rule::OutOfScope {
                    id: unit_id,
                    year: layout.scope.year,
                }
            } else {
                Rule::UnknownUnit { id: unit_id }
            };
            self.problem(
                Location {
                    unit: None,
                    ..at_id
                },
                rule,
            );
            return;
        };
        if let Some(c) = col_of(Col::UnitName) {
            let cell = grid.cell(r, c);
            let found = match cell {
                Cell::Empty => None,
                Cell::Text(t) => {
                    let t = value::normalise(t).0;
                    let t = unquote(&t).to_string();
                    (!t.is_empty() && t != unit.name).then_some(t)
                }
                other => Some(other.describe()),
            };
            if let Some(found) = found {
                self.problem(
                    Location {
                        column: Some(c),
                        header: Some(layout::UNIT_NAME_HEADER.to_string()),
                        ..at_row.clone()
                    },
                    Rule::NameMismatch {
                        found,
                        expected: unit.name.clone(),
                    },
                );
            }
        }
        let round = match round {
            Some(r) => r,
            None => {
                let Some(c) = col_of(Col::Round) else { return };
                let cell = grid.cell(r, c);
                match cell.text().and_then(Layout::round_of_sheet) {
                    Some(rd) if layout.rounds.contains(&rd) => rd,
                    _ => {
                        let found = cell
                            .text()
                            .map(str::to_string)
                            .unwrap_or_else(|| cell.describe());
                        self.problem(
                            Location {
                                column: Some(c),
                                header: Some(layout::ROUND_HEADER.to_string()),
                                ..at_row
                            },
                            Rule::BadRound { found },
                        );
                        return;
                    }
                }
            }
        };
        let here = match &at_row.sheet {
            Some(s) => format!("工作表「{s}」第{}行", r + 1),
            None => format!("第{}行", r + 1),
        };
        if let Some(first) = self.seen_rows.get(&(unit.unit_id.clone(), round)) {
            self.problem(
                at_row,
                Rule::DuplicateRow {
                    first: first.clone(),
                },
            );
            return;
        }
        self.seen_rows.insert((unit.unit_id.clone(), round), here);

        let category = layout.category_of(unit);
        let mut states: BTreeMap<usize, (usize, State)> = BTreeMap::new();
        for &(c, col) in columns {
            let Col::Field(f) = col else { continue };
            let field = &m.fields[f];
            let at = Location {
                column: Some(c),
                header: Some(layout::header(field)),
                ..at_row.clone()
            };
            let cell = grid.cell(r, c);
            let state = match cell {
                _ if cell.is_empty() => State::Empty,
                Cell::Formula(formula) => {
                    self.problem(
                        at.clone(),
                        Rule::Formula {
                            formula: formula.clone(),
                        },
                    );
                    State::Invalid
                }
                Cell::Error(e) => {
                    self.problem(at.clone(), Rule::ErrorValue { value: e.clone() });
                    State::Invalid
                }
                Cell::Date(d) => {
                    self.problem(
                        at.clone(),
                        Rule::Value(ValueError::WrongType {
                            found: format!("日期 {d}"),
                            expected: value::expected(field),
                        }),
                    );
                    State::Invalid
                }
                Cell::Text(t) => self.value(at.clone(), field, Input::Text(t)),
                Cell::Number(n) => self.value(at.clone(), field, Input::Number(*n)),
                Cell::Logical(b) => self.value(at.clone(), field, Input::Logical(*b)),
                Cell::Empty => State::Empty,
            };
            if state == State::Empty {
                states.insert(f, (c, state));
                continue;
            }
            if !layout.field_in_round(f, round) {
                self.problem(
                    at,
                    Rule::WrongRoundValue {
                        quarterly: !round.is_quarter(),
                    },
                );
                continue;
            }
            if !category.is_some_and(|cat| layout.applies(cat, f)) {
                self.problem(
                    at,
                    Rule::NotApplicable {
                        category: category_name(layout, unit),
                    },
                );
                continue;
            }
            states.insert(f, (c, state));
        }
        // Blocks: the fields of one method in this row.
        let mut reported = false;
        for method in &m.methods {
            let block: Vec<usize> = layout
                .fields_for(round)
                .iter()
                .copied()
                .filter(|&f| m.fields[f].method == method.id)
                .filter(|&f| category.is_some_and(|cat| layout.applies(cat, f)))
                .collect();
            let filled = block
                .iter()
                .any(|f| states.get(f).is_some_and(|&(_, s)| s != State::Empty));
            if !filled {
                continue;
            }
            reported = true;
            self.plan.blocks += 1;
            for &f in &block {
                let Some(&(c, state)) = states.get(&f) else {
                    continue;
                };
                let field = &m.fields[f];
                match state {
                    State::Empty if layout::required(field) => self.problem(
                        Location {
                            column: Some(c),
                            header: Some(layout::header(field)),
                            ..at_row.clone()
                        },
                        Rule::MissingRequired {
                            field: field.label.clone(),
                            method: method.name.clone(),
                        },
                    ),
                    State::Empty => self.plan.writes.push(EvidenceWrite {
                        unit_id: unit.unit_id.clone(),
                        round,
                        field_id: field.id.clone(),
                        value: None,
                    }),
                    State::Value(v) => self.plan.writes.push(EvidenceWrite {
                        unit_id: unit.unit_id.clone(),
                        round,
                        field_id: field.id.clone(),
                        value: Some(v),
                    }),
                    State::Invalid => {}
                }
            }
        }
        if reported {
            self.plan.rows += 1;
        }
    }

    fn value(
        &mut self,
        at: Location,
        field: &kaohe_rulepacks::manifest::Field,
        input: Input<'_>,
    ) -> State {
        match value::parse(field, input) {
            Ok(p) => {
                if p.normalised {
                    self.plan.normalised += 1;
                }
                State::Value(p.value)
            }
            Err(e) => {
                self.problem(at, Rule::Value(e));
                State::Invalid
            }
        }
    }
}

/// Where the header rows are.
struct Header {
    /// The field-id row, if present.
    ids: Option<usize>,
    /// The Chinese header row, if present.
    zh: Option<usize>,
    /// First data row.
    data_start: usize,
    /// Columns of the header.
    width: usize,
}

/// Without the id row: the key of a Chinese header, or "" if unknown.
fn key_from_header(layout: &Layout<'_>, fields: &[usize], csv: bool, text: &str) -> String {
    let k = layout::header_key(text);
    if k.is_empty() {
        return String::new();
    }
    if k == layout::header_key(UNIT_ID_HEADER) {
        return UNIT_ID_KEY.to_string();
    }
    if k == layout::header_key(layout::UNIT_NAME_HEADER) {
        return UNIT_NAME_KEY.to_string();
    }
    if csv && k == layout::header_key(layout::ROUND_HEADER) {
        return ROUND_KEY.to_string();
    }
    fields
        .iter()
        .map(|&f| layout.field(f))
        .find(|f| layout::header_key(&layout::header(f)) == k)
        .map(|f| f.id.clone())
        .unwrap_or_default()
}

fn method_name(layout: &Layout<'_>, method: &str) -> String {
    let m = layout.manifest;
    m.method_index(method)
        .map(|i| m.methods[i].name.clone())
        .unwrap_or_else(|| method.to_string())
}

fn category_name(layout: &Layout<'_>, unit: &crate::store::UnitInfo) -> String {
    let m = layout.manifest;
    m.category_index(&unit.category_id)
        .map(|i| m.categories[i].name.clone())
        .unwrap_or_else(|| unit.category_id.clone())
}

fn sheet_at(grid: &Grid) -> Location {
    Location {
        sheet: grid.sheet.clone(),
        ..Location::default()
    }
}

fn column_name(grid: &Grid, c: usize) -> String {
    if grid.sheet.is_some() {
        column_letters(c)
    } else {
        format!("第{}", c + 1)
    }
}

/// Text the CSV template protected from being read as a formula (`'=…`,
/// `'+…`, `'-…`, `'@…`) without its quote.
fn unquote(t: &str) -> &str {
    match t.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EvidenceRow, HistoryRow, Scope};
    use crate::template::{self, CsvEncoding, Prefill};
    use crate::testutil::{
        T, actor, header_rows, sample_scope, store_with_pack, test_manifest, unit, xlsx,
        xlsx_hiding,
    };
    use T::{B, D, E, F, N, S};

    fn sheet(name: &str, rows: Vec<Vec<T>>) -> crate::testutil::Sheet {
        crate::testutil::Sheet {
            name: name.to_string(),
            rows,
            merged: Vec::new(),
        }
    }

    fn rows(round: Round, data: Vec<Vec<T>>) -> Vec<Vec<T>> {
        let m = test_manifest();
        let scope = sample_scope(2022);
        let layout = Layout::new(&m, &scope).unwrap();
        let mut out = header_rows(&layout, round);
        out.extend(data);
        out
    }

    fn import(
        store: &mut Store,
        name: &str,
        bytes: &[u8],
        format: Format,
    ) -> Result<ImportReport, ImportError> {
        import_bytes(
            store,
            name,
            bytes,
            format,
            2022,
            &actor("王科员"),
            &Limits::default(),
            &mut |_| {},
        )
    }

    fn problems(r: Result<ImportReport, ImportError>) -> Vec<Problem> {
        match r {
            Err(ImportError::Invalid { problems, .. }) => problems,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    /// Asserts a problem at (sheet, row, column letter, unit) with a rule
    /// matching `rule`.
    fn has(
        ps: &[Problem],
        sheet: Option<&str>,
        row: usize,
        col: Option<&str>,
        unit: Option<&str>,
        rule: impl Fn(&Rule) -> bool,
    ) {
        let found = ps.iter().any(|p| {
            p.at.sheet.as_deref() == sheet
                && p.at.row == Some(row)
                && p.at.column.map(column_letters).as_deref() == col
                && p.at.unit.as_deref() == unit
                && rule(&p.rule)
        });
        assert!(
            found,
            "no problem at {sheet:?} row {row} col {col:?} unit {unit:?}; got:\n{}",
            ps.iter()
                .map(|p| format!("{p:?}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    fn snapshot(store: &Store) -> (Vec<EvidenceRow>, Vec<HistoryRow>) {
        (
            store.evidence(2022).unwrap(),
            store.history(2022, None).unwrap(),
        )
    }

    fn good_annual() -> Vec<u8> {
        xlsx(&[sheet(
            "年度",
            rows(
                Round::Annual,
                vec![
                    vec![
                        S("justice"),
                        S("县司法局"),
                        S("是"),
                        N(0.0),
                        S("按时公开"),
                        N(3.0),
                        N(95.5),
                    ],
                    vec![
                        S("xiaodian"),
                        S("肖旗乡"),
                        S("否"),
                        N(2.0),
                        S("未公开"),
                        E,
                        N(90.0),
                    ],
                    // zhaozhuang reports nothing: an empty block.
                    vec![S("zhaozhuang"), S("赵庄镇")],
                ],
            ),
        )])
    }

    #[test]
    fn a_valid_workbook_is_stored_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let report = import(&mut store, "2022.xlsx", &good_annual(), Format::Xlsx).unwrap();
        assert_eq!(report.rows, 2);
        assert_eq!(
            report.blocks, 4,
            "supervision and satisfaction for two units"
        );
        assert_eq!(report.summary.added, 9, "{report:?}");
        let got: Vec<_> = store
            .evidence(2022)
            .unwrap()
            .into_iter()
            .map(|e| (e.unit_id, e.field_id, e.value))
            .collect();
        let want: Vec<(String, String, i64)> = [
            ("justice", "dept_cases", 300),
            ("justice", "sat_rate", 9550),
            ("justice", "sup_plan", 100),
            ("justice", "sup_problems", 0),
            ("justice", "sup_report", 0),
            ("xiaodian", "sat_rate", 9000),
            ("xiaodian", "sup_plan", 0),
            ("xiaodian", "sup_problems", 200),
            ("xiaodian", "sup_report", 200),
        ]
        .into_iter()
        .map(|(u, f, v)| (u.to_string(), f.to_string(), v))
        .collect();
        // xiaodian's dept_cases does not apply to a township: never written.
        assert_eq!(got, want);
        assert!(
            store
                .evidence(2022)
                .unwrap()
                .iter()
                .all(|e| e.operator == "王科员")
        );
    }

    #[test]
    fn every_kind_of_bad_row_is_reported_at_once_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        // "old" was in scope in 2021 only.
        store
            .replace_scope(&Scope {
                year: 2021,
                units: vec![unit("old", "旧单位", "township")],
                methods: vec!["daily".into()],
            })
            .unwrap();
        import(&mut store, "first.xlsx", &good_annual(), Format::Xlsx).unwrap();
        let before = snapshot(&store);
        let book = xlsx(&[
            sheet(
                "年度",
                rows(
                    Round::Annual,
                    vec![
                        // row 3: fine
                        vec![
                            S("justice"),
                            S("县司法局"),
                            S("是"),
                            N(1.0),
                            S("逾期公开"),
                            N(3.0),
                            N(95.0),
                        ],
                        // row 4: text where a number belongs; a value in a cell that does not apply
                        vec![
                            S("xiaodian"),
                            S("肖旗乡"),
                            S("是"),
                            S("三"),
                            S("按时公开"),
                            N(3.0),
                            N(90.0),
                        ],
                        // row 5: required value missing; out of range; name does not match
                        vec![
                            S("zhaozhuang"),
                            S("赵庄乡"),
                            E,
                            N(1.0),
                            S("按时公开"),
                            E,
                            N(101.0),
                        ],
                        // row 6: unknown unit
                        vec![S("nobody"), E, S("是")],
                        // row 7: unit outside this year's scope
                        vec![S("old"), S("旧单位"), S("是")],
                        // row 8: a number where the unit id (text) belongs
                        vec![N(410421.0), S("某单位"), S("是")],
                        // row 9: duplicate of row 3
                        vec![
                            S("justice"),
                            S("县司法局"),
                            S("否"),
                            N(0.0),
                            S("按时公开"),
                            N(1.0),
                            N(80.0),
                        ],
                        // row 10: missing unit id
                        vec![E, S("肖旗乡"), S("是")],
                        // row 11: an id no unit has
                        vec![S("zhaozhuang2"), E],
                    ],
                ),
            ),
            sheet(
                "第一季度",
                rows(
                    Round::Q1,
                    vec![
                        // row 3: formula where a value belongs
                        vec![S("xiaodian"), S("肖旗乡"), F("=1+1"), E],
                        // row 4: full-width digits (accepted); more than two decimals
                        vec![S("zhaozhuang"), S("赵庄镇"), S("１２"), N(2.555)],
                        // row 5: a logical where a number belongs
                        vec![S("justice"), S("县司法局"), B(true), E],
                    ],
                ),
            ),
            sheet("Sheet3", vec![vec![S("随手记的东西")]]),
        ]);
        let ps = problems(import(&mut store, "bad.xlsx", &book, Format::Xlsx));
        let y = Some("年度");
        let q = Some("第一季度");
        has(&ps, y, 4, Some("D"), Some("xiaodian"), |r| {
            matches!(r, Rule::Value(ValueError::NotANumber { .. }))
        });
        has(&ps, y, 4, Some("F"), Some("xiaodian"), |r| {
            matches!(r, Rule::NotApplicable { .. })
        });
        has(&ps, y, 5, Some("C"), Some("zhaozhuang"), |r| {
            matches!(r, Rule::MissingRequired { .. })
        });
        has(&ps, y, 5, Some("G"), Some("zhaozhuang"), |r| {
            matches!(r, Rule::Value(ValueError::OutOfRange { .. }))
        });
        has(&ps, y, 5, Some("B"), Some("zhaozhuang"), |r| {
            matches!(r, Rule::NameMismatch { .. })
        });
        has(
            &ps,
            y,
            6,
            Some("A"),
            None,
            |r| matches!(r, Rule::UnknownUnit { id } if id == "nobody"),
        );
        has(
            &ps,
            y,
            7,
            Some("A"),
            None,
            |r| matches!(r, Rule::OutOfScope { id, year: 2022 } if id == "old"),
        );
        has(
            &ps,
            y,
            8,
            Some("A"),
            None,
            |r| matches!(r, Rule::UnitIdNotText { found } if found.contains("410421")),
        );
        has(
            &ps,
            y,
            9,
            None,
            Some("justice"),
            |r| matches!(r, Rule::DuplicateRow { first } if first.contains("第3行")),
        );
        has(&ps, y, 10, Some("A"), None, |r| {
            matches!(r, Rule::MissingUnitId)
        });
        has(&ps, y, 11, Some("A"), None, |r| {
            matches!(r, Rule::UnknownUnit { .. })
        });
        has(
            &ps,
            q,
            3,
            Some("C"),
            Some("xiaodian"),
            |r| matches!(r, Rule::Formula { formula } if formula.contains("1+1")),
        );
        has(&ps, q, 4, Some("D"), Some("zhaozhuang"), |r| {
            matches!(r, Rule::Value(ValueError::TooManyDecimals { .. }))
        });
        has(&ps, q, 5, Some("C"), Some("justice"), |r| {
            matches!(r, Rule::Value(ValueError::WrongType { .. }))
        });
        assert!(
            ps.iter().any(|p| p.at.sheet.as_deref() == Some("Sheet3")
                && matches!(p.rule, Rule::UnknownSheet { .. })),
            "{ps:?}"
        );
        // Full-width "１２" is not a problem.
        assert!(
            !ps.iter().any(|p| p.at.row == Some(4)
                && p.at.sheet.as_deref() == q
                && p.at.column == Some(2))
        );
        // Row 3 of 年度 is fine: no problem names it.
        assert!(
            !ps.iter()
                .any(|p| p.at.sheet.as_deref() == y && p.at.row == Some(3)),
            "{ps:?}"
        );
        // Every problem says where, and the message lists them all.
        assert!(
            ps.iter()
                .all(|p| p.at.row.is_some() || p.at.sheet.is_some())
        );
        let msg = ImportError::Invalid {
            file: "bad.xlsx".into(),
            problems: ps.clone(),
        }
        .to_string();
        assert!(
            msg.contains("未导入任何数据") && msg.contains("工作表「年度」第5行G列"),
            "{msg}"
        );
        assert_eq!(
            snapshot(&store),
            before,
            "a rejected file changed the store"
        );
    }

    #[test]
    fn other_value_problems() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let book = xlsx(&[sheet(
            "年度",
            rows(
                Round::Annual,
                vec![
                    vec![
                        S("justice"),
                        S("县司法局"),
                        N(1.0),
                        N(1.5),
                        S("较好"),
                        N(3.0),
                        N(95.123),
                    ],
                    vec![
                        S("xiaodian"),
                        S("肖旗乡"),
                        S("是"),
                        N(-1.0),
                        S("按时公开"),
                        E,
                        S("九十"),
                    ],
                ],
            ),
        )]);
        let ps = problems(import(&mut store, "v.xlsx", &book, Format::Xlsx));
        let y = Some("年度");
        let j = Some("justice");
        has(&ps, y, 3, Some("C"), j, |r| {
            matches!(r, Rule::Value(ValueError::WrongType { .. }))
        });
        has(&ps, y, 3, Some("D"), j, |r| {
            matches!(r, Rule::Value(ValueError::NotWhole { .. }))
        });
        has(&ps, y, 3, Some("E"), j, |r| {
            matches!(r, Rule::Value(ValueError::NotAChoice { .. }))
        });
        has(&ps, y, 3, Some("G"), j, |r| {
            matches!(r, Rule::Value(ValueError::TooManyDecimals { .. }))
        });
        has(&ps, y, 4, Some("D"), Some("xiaodian"), |r| {
            matches!(r, Rule::Value(ValueError::OutOfRange { .. }))
        });
        has(&ps, y, 4, Some("G"), Some("xiaodian"), |r| {
            matches!(r, Rule::Value(ValueError::NotANumber { .. }))
        });
        assert_eq!(ps.len(), 6, "{ps:?}");
        assert!(store.evidence(2022).unwrap().is_empty());
    }

    /// Issue #14: a refused cell is echoed short and as an official reads
    /// it — 1E+308, not 309 digits; a date, not its serial number; a 1 MB
    /// text cut to its first 100 characters.
    #[test]
    fn refused_cells_are_echoed_short_and_as_officials_read_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let book = xlsx(&[sheet(
            "年度",
            rows(
                Round::Annual,
                vec![vec![
                    S("justice"),
                    S("县司法局"),
                    S("是"),
                    N(1e308),
                    S("按时公开"),
                    N(3.0),
                    D(2024, 1, 8),
                ]],
            ),
        )]);
        let err = import(&mut store, "v.xlsx", &book, Format::Xlsx).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("「1E+308」数值过大"), "{msg}");
        assert!(!msg.contains("0000000000"), "{msg}");
        assert!(msg.contains("不能填日期 2024-01-08"), "{msg}");

        let huge = "九".repeat(1_000_000);
        let text = csv_text(&[&format!(
            "justice,县司法局,年度,是,{huge},按时公开,3,95.5,,"
        )]);
        let err = import(&mut store, "v.csv", text.as_bytes(), Format::Csv).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&"九".repeat(100)), "{}", &msg[..300]);
        assert!(msg.contains("共 1000000 个字符"), "{}", &msg[..300]);
        assert!(msg.len() < 2_000, "{} bytes", msg.len());
        assert!(store.evidence(2022).unwrap().is_empty());
    }

    #[test]
    fn an_old_xls_renamed_xlsx_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let mut xls = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        xls.resize(4096, 0);
        let err = import(&mut store, "2022.xlsx", &xls, Format::Xlsx).unwrap_err();
        assert!(
            matches!(
                err,
                ImportError::Read {
                    source: ReadError::OldXls,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("2022.xlsx") && msg.contains("旧版"), "{msg}");
    }

    /// The one rule for sheets: a hidden sheet is never read (here a hidden
    /// 第一季度 with values that would be refused), and the report names it.
    #[test]
    fn a_hidden_sheet_is_never_read_and_is_named_in_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let annual = sheet(
            "年度",
            rows(
                Round::Annual,
                vec![vec![
                    S("justice"),
                    S("县司法局"),
                    S("是"),
                    N(0.0),
                    S("按时公开"),
                    N(3.0),
                    N(95.5),
                ]],
            ),
        );
        let hidden = sheet(
            "第一季度",
            rows(
                Round::Q1,
                vec![vec![S("justice"), S("县司法局"), S("很多"), S("很多")]],
            ),
        );
        let book = xlsx_hiding(&[hidden, annual], &["第一季度"]);
        let report = import(&mut store, "h.xlsx", &book, Format::Xlsx).unwrap();
        assert_eq!(report.hidden_sheets, ["第一季度"]);
        let rounds: BTreeSet<Round> = store
            .evidence(2022)
            .unwrap()
            .into_iter()
            .map(|e| e.round)
            .collect();
        assert_eq!(rounds, BTreeSet::from([Round::Annual]));
    }

    #[test]
    fn header_problems_are_reported_with_their_column() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let m = test_manifest();
        // Columns: A unit_id, B unit_name, C sup_plan, D sup_problems (header
        // renamed), E fr_files (method outside scope), F q_study (quarterly,
        // on the annual sheet), G foo (unknown), H sup_plan again, I sat_rate.
        // sup_report and dept_cases are missing. J has data but no header.
        let h = |id: &str| crate::layout::header(&m.fields[m.field_index(id).unwrap()]);
        let zh = vec![
            S("单位编号"),
            S("单位名称"),
            T::Own(h("sup_plan")),
            S("督察问题"),
            T::Own(h("fr_files")),
            T::Own(h("q_study")),
            S("备注"),
            T::Own(h("sup_plan")),
            T::Own(h("sat_rate")),
        ];
        let ids = vec![
            S("unit_id"),
            S("unit_name"),
            S("sup_plan"),
            S("sup_problems"),
            S("fr_files"),
            S("q_study"),
            S("foo"),
            S("sup_plan"),
            S("sat_rate"),
        ];
        let mut s = sheet(
            "年度",
            vec![
                zh,
                ids,
                vec![
                    S("justice"),
                    S("县司法局"),
                    S("是"),
                    N(1.0),
                    E,
                    E,
                    E,
                    E,
                    N(90.0),
                    S("多出来的"),
                ],
                vec![
                    S("xiaodian"),
                    S("肖旗乡"),
                    S("是"),
                    N(1.0),
                    E,
                    E,
                    E,
                    E,
                    N(90.0),
                ],
            ],
        );
        s.merged.push((3, 2, 3, 3));
        let ps = problems(import(&mut store, "h.xlsx", &xlsx(&[s]), Format::Xlsx));
        let y = Some("年度");
        has(
            &ps,
            y,
            2,
            Some("D"),
            None,
            |r| matches!(r, Rule::RenamedHeader { found, .. } if found == "督察问题"),
        );
        has(
            &ps,
            y,
            2,
            Some("E"),
            None,
            |r| matches!(r, Rule::FieldNotInScope { field, method } if field == "fr_files" && method == "集中评查"),
        );
        has(&ps, y, 2, Some("F"), None, |r| {
            matches!(
                r,
                Rule::FieldWrongSheet {
                    quarterly: true,
                    ..
                }
            )
        });
        has(
            &ps,
            y,
            2,
            Some("G"),
            None,
            |r| matches!(r, Rule::UnknownColumn { text } if text.contains("foo")),
        );
        has(
            &ps,
            y,
            2,
            Some("H"),
            None,
            |r| matches!(r, Rule::DuplicateColumn { first, .. } if first == "C"),
        );
        has(
            &ps,
            y,
            2,
            None,
            None,
            |r| matches!(r, Rule::MissingColumn { id, .. } if id == "sup_report"),
        );
        has(
            &ps,
            y,
            2,
            None,
            None,
            |r| matches!(r, Rule::MissingColumn { id, .. } if id == "dept_cases"),
        );
        has(&ps, y, 3, Some("J"), None, |r| {
            matches!(r, Rule::UnnamedColumn)
        });
        has(
            &ps,
            y,
            4,
            Some("C"),
            None,
            |r| matches!(r, Rule::Merged { range } if range == "C4:D4"),
        );
        assert!(store.evidence(2022).unwrap().is_empty());
    }

    #[test]
    fn a_sheet_without_the_id_row_is_read_by_its_chinese_headers() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let mut r = rows(
            Round::Q2,
            vec![
                vec![S("xiaodian"), S("肖旗乡"), N(3.0), E],
                vec![S("justice"), E, S("２"), S("1")],
            ],
        );
        r.remove(1);
        let report = import(
            &mut store,
            "q2.xlsx",
            &xlsx(&[sheet("第二季度", r)]),
            Format::Xlsx,
        )
        .unwrap();
        assert_eq!(report.normalised, 1);
        let got: Vec<_> = store
            .evidence(2022)
            .unwrap()
            .into_iter()
            .map(|e| (e.unit_id, e.round, e.field_id, e.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("justice".into(), Round::Q2, "q_overdue".into(), 100),
                ("justice".into(), Round::Q2, "q_study".into(), 200),
                ("xiaodian".into(), Round::Q2, "q_study".into(), 300),
            ]
        );
        // Without either header row nothing can be read.
        let ps = problems(import(
            &mut store,
            "none.xlsx",
            &xlsx(&[sheet("第二季度", vec![vec![S("xiaodian"), N(3.0)]])]),
            Format::Xlsx,
        ));
        assert!(
            matches!(
                ps[..],
                [Problem {
                    rule: Rule::NoHeader,
                    ..
                }]
            ),
            "{ps:?}"
        );
    }

    fn csv_text(data: &[&str]) -> String {
        let m = test_manifest();
        let scope = sample_scope(2022);
        let layout = Layout::new(&m, &scope).unwrap();
        let t = template::csv(&layout, &Prefill::new(), CsvEncoding::Utf8).unwrap();
        let t = String::from_utf8(t).unwrap();
        let mut lines: Vec<&str> = t.lines().take(2).collect();
        lines.extend_from_slice(data);
        lines.join("\r\n") + "\r\n"
    }

    // CSV columns: unit_id, unit_name, round, sup_plan, sup_problems,
    // sup_report, dept_cases, sat_rate, q_study, q_overdue.
    const CSV_ROWS: &[&str] = &[
        "justice,县司法局,年度,是,0,按时公开,3,95.5,,",
        "justice,县司法局,第一季度,,,,,,4,",
        "xiaodian,肖旗乡,年度,否,１,逾期公开,,88,,",
        "xiaodian,肖旗乡,Q1,,,,,,1,2",
    ];

    #[test]
    fn csv_is_read_alike_from_utf8_with_and_without_bom_and_gb18030() {
        let text = csv_text(CSV_ROWS);
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        let gb = encoding_rs::GB18030.encode(&text).0.into_owned();
        assert!(std::str::from_utf8(&gb).is_err());
        let mut results = Vec::new();
        for (bytes, enc) in [
            (bom, TextEncoding::Utf8Bom),
            (text.clone().into_bytes(), TextEncoding::Utf8),
            (gb, TextEncoding::Gb18030),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut store = store_with_pack(dir.path());
            let report = import(&mut store, "e.csv", &bytes, Format::Csv).unwrap();
            assert_eq!(report.encoding, Some(enc));
            assert_eq!(report.normalised, 1);
            results.push(
                store
                    .evidence(2022)
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.unit_id, e.round, e.field_id, e.value))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(results[0].len(), 12, "{:?}", results[0]);
        assert_eq!(results[0], results[1]);
        assert_eq!(results[0], results[2]);
        assert!(results[0].contains(&(
            "xiaodian".into(),
            Round::Annual,
            "sup_problems".into(),
            100
        )));
        assert!(results[0].contains(&("xiaodian".into(), Round::Q1, "q_overdue".into(), 200)));
    }

    #[test]
    fn csv_row_problems() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let text = csv_text(&[
            "justice,县司法局,年度,是,0,按时公开,3,95.5", // row 3: ragged (8 of 10)
            "xiaodian,肖旗乡,第五季度,,,,,,1,",           // row 4: bad round
            "xiaodian,肖旗乡,年度,是,0,按时公开,,90,2,",  // row 5: quarterly value on an annual row
            "zhaozhuang,赵庄镇,第一季度,是,,,,,1,",       // row 6: annual value on a quarterly row
            "zhaozhuang,赵庄镇,Q1,,,,,,1,", // row 7: duplicate of row 6 (Q1 = 第一季度)
        ]);
        let ps = problems(import(&mut store, "r.csv", text.as_bytes(), Format::Csv));
        has(&ps, None, 3, None, None, |r| {
            matches!(
                r,
                Rule::Ragged {
                    found: 8,
                    expected: 10
                }
            )
        });
        has(&ps, None, 4, Some("C"), Some("xiaodian"), |r| {
            matches!(r, Rule::BadRound { .. })
        });
        has(&ps, None, 5, Some("I"), Some("xiaodian"), |r| {
            matches!(r, Rule::WrongRoundValue { quarterly: true })
        });
        has(&ps, None, 6, Some("D"), Some("zhaozhuang"), |r| {
            matches!(r, Rule::WrongRoundValue { quarterly: false })
        });
        has(&ps, None, 7, None, Some("zhaozhuang"), |r| {
            matches!(r, Rule::DuplicateRow { .. })
        });
        // CSV locations say 第N列 rather than a letter.
        let shown = ps
            .iter()
            .find(|p| matches!(p.rule, Rule::BadRound { .. }))
            .unwrap()
            .to_string();
        assert!(
            shown.starts_with("第4行第3列「轮次」 单位 xiaodian："),
            "{shown}"
        );
        assert!(store.evidence(2022).unwrap().is_empty());
    }

    #[test]
    fn reimporting_a_corrected_file_replaces_values_and_records_who_changed_what() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        import(&mut store, "v1.xlsx", &good_annual(), Format::Xlsx).unwrap();
        let corrected = xlsx(&[sheet(
            "年度",
            rows(
                Round::Annual,
                vec![
                    // sup_problems cleared (optional: removed), sat_rate corrected.
                    vec![
                        S("xiaodian"),
                        S("肖旗乡"),
                        S("否"),
                        E,
                        S("未公开"),
                        E,
                        N(92.5),
                    ],
                ],
            ),
        )]);
        let report = import_bytes(
            &mut store,
            "v2.xlsx",
            &corrected,
            Format::Xlsx,
            2022,
            &actor("李科长"),
            &Limits::default(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            (
                report.summary.changed,
                report.summary.removed,
                report.summary.unchanged
            ),
            (1, 1, 2)
        );
        let h: Vec<_> = store
            .history(2022, Some("xiaodian"))
            .unwrap()
            .into_iter()
            .filter(|h| h.operator == "李科长")
            .map(|h| (h.field_id, h.old_value, h.new_value, h.file_name))
            .collect();
        assert_eq!(
            h,
            vec![
                (
                    "sup_problems".into(),
                    Some(200),
                    None,
                    Some("v2.xlsx".into())
                ),
                (
                    "sat_rate".into(),
                    Some(9000),
                    Some(9250),
                    Some("v2.xlsx".into())
                ),
            ]
        );
        // justice was not in the corrected file: untouched.
        assert_eq!(
            store
                .evidence_of("justice", 2022, Round::Annual)
                .unwrap()
                .len(),
            5
        );
    }

    #[test]
    fn a_zip_bomb_is_refused_and_nothing_is_written() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut out);
            let o = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.start_file("xl/worksheets/sheet1.xml", o).unwrap();
            for _ in 0..200 {
                w.write_all(&[b' '; 1024 * 1024]).unwrap();
            }
            w.finish().unwrap();
        }
        let bomb = out.into_inner();
        let err = import(&mut store, "bomb.xlsx", &bomb, Format::Xlsx).unwrap_err();
        assert!(
            matches!(
                err,
                ImportError::Read {
                    source: ReadError::ZipBomb { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("bomb.xlsx"), "{err}");
        assert!(store.history(2022, None).unwrap().is_empty());
    }

    #[test]
    fn a_template_of_another_year_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let mut m2023 = test_manifest();
        m2023.pack.year = 2023;
        crate::testutil::install_test_pack(&mut store, &m2023, b"2023 module");
        store.replace_scope(&sample_scope(2023)).unwrap();
        let m = test_manifest();
        let scope = sample_scope(2022);
        let layout = Layout::new(&m, &scope).unwrap();
        let bytes = template::xlsx(&layout, &Prefill::new()).unwrap();
        let err = import_bytes(
            &mut store,
            "t.xlsx",
            &bytes,
            Format::Xlsx,
            2023,
            &actor("王"),
            &Limits::default(),
            &mut |_| {},
        )
        .unwrap_err();
        let ps = problems(Err(err));
        assert!(
            ps.iter().any(|p| matches!(
                p.rule,
                Rule::WrongYear {
                    found: 2022,
                    expected: 2023
                }
            )),
            "{ps:?}"
        );
    }

    fn prefill() -> Prefill {
        let mut p = Prefill::new();
        for (u, r, f, v) in [
            ("justice", Round::Annual, "sup_plan", 100),
            ("justice", Round::Annual, "sup_problems", 0),
            ("justice", Round::Annual, "sup_report", 100),
            ("justice", Round::Annual, "dept_cases", 700),
            ("justice", Round::Annual, "sat_rate", 9999),
            ("xiaodian", Round::Annual, "sat_rate", 1),
            ("xiaodian", Round::Q3, "q_study", 500),
            ("zhaozhuang", Round::Q4, "q_study", 0),
            ("zhaozhuang", Round::Q4, "q_overdue", 1200),
        ] {
            p.insert((u.to_string(), r, f.to_string()), v);
        }
        p
    }

    fn stored(store: &Store) -> Prefill {
        store
            .evidence(2022)
            .unwrap()
            .into_iter()
            .map(|e| ((e.unit_id, e.round, e.field_id), e.value))
            .collect()
    }

    #[test]
    fn template_round_trip_xlsx_and_csv() {
        let m = test_manifest();
        let scope = sample_scope(2022);
        let layout = Layout::new(&m, &scope).unwrap();
        let values = prefill();
        for (name, bytes, format) in [
            (
                "t.xlsx",
                template::xlsx(&layout, &values).unwrap(),
                Format::Xlsx,
            ),
            (
                "t.csv",
                template::csv(&layout, &values, CsvEncoding::Utf8Bom).unwrap(),
                Format::Csv,
            ),
            (
                "t.csv",
                template::csv(&layout, &values, CsvEncoding::Gb18030).unwrap(),
                Format::Csv,
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut store = store_with_pack(dir.path());
            // xiaodian's annual block has only sat_rate: its other required
            // supervision fields are missing, so fill them.
            let mut v = values.clone();
            for (f, x) in [("sup_plan", 0), ("sup_report", 0)] {
                v.insert(("xiaodian".into(), Round::Annual, f.into()), x);
            }
            let bytes = match format {
                Format::Xlsx => template::xlsx(&layout, &v).unwrap(),
                Format::Csv if name == "t.csv" && bytes.starts_with(b"\xEF\xBB\xBF") => {
                    template::csv(&layout, &v, CsvEncoding::Utf8Bom).unwrap()
                }
                Format::Csv => template::csv(&layout, &v, CsvEncoding::Gb18030).unwrap(),
            };
            let report = import(&mut store, name, &bytes, format).unwrap();
            assert_eq!(stored(&store), v, "{name}: {report:?}");
        }
    }

    #[test]
    fn the_empty_template_imports_as_nothing_and_has_the_promised_shape() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let m = test_manifest();
        let scope = sample_scope(2022);
        let layout = Layout::new(&m, &scope).unwrap();
        let bytes = template::xlsx(&layout, &Prefill::new()).unwrap();
        let report = import(&mut store, "empty.xlsx", &bytes, Format::Xlsx).unwrap();
        assert_eq!(report.summary, ApplySummary::default());

        let book = sheet::read(&bytes, Format::Xlsx, &Limits::default()).unwrap();
        let names: Vec<_> = book
            .grids
            .iter()
            .map(|g| g.sheet.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "年度",
                "第一季度",
                "第二季度",
                "第三季度",
                "第四季度",
                "填表说明"
            ]
        );
        let annual = &book.grids[0];
        assert_eq!(
            annual.cell(0, 2),
            &Cell::Text("已制定年度法治工作计划".into())
        );
        assert_eq!(
            annual.cell(0, 3),
            &Cell::Text("督察发现问题数（个）".into())
        );
        assert_eq!(annual.cell(1, 3), &Cell::Text("sup_problems".into()));
        assert_eq!(annual.cell(2, 0), &Cell::Text("justice".into()));
        assert_eq!(annual.cell(4, 1), &Cell::Text("赵庄镇".into()));
        let notes = &book.grids[5];
        assert_eq!(
            notes.cell(0, 0),
            &Cell::Text("kaohe-template 2022 test v1".into())
        );
        let notes_text: String = notes
            .rows
            .iter()
            .flatten()
            .filter_map(|c| c.text())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            notes_text.contains("本季度开展法治专题学习的次数"),
            "help text missing"
        );
        assert!(notes_text.contains("每季度至少学习2次"), "criteria missing");

        // Hidden id row, validations, protection and locked/unlocked cells,
        // read from the sheet's XML.
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
        let mut xml = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
            &mut xml,
        )
        .unwrap();
        assert!(
            xml.contains(r#"<row r="2""#) && xml.contains(r#"hidden="1""#),
            "id row not hidden"
        );
        assert!(xml.contains("<sheetProtection"), "sheet not protected");
        assert!(
            xml.contains(r#"type="whole""#) && xml.contains(r#"type="decimal""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"type="list""#) && xml.contains("按时公开,逾期公开,未公开"),
            "choice dropdown missing"
        );
        assert!(
            xml.contains("<formula1>0</formula1><formula2>100</formula2>"),
            "range missing"
        );
    }

    #[test]
    fn set_checks_like_the_import() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let a = actor("王");
        let set = |store: &mut Store, unit: &str, field: &str, v: &str, round| {
            set_value(store, 2022, unit, field, v, round, &a)
        };
        let rule = |r: Result<ApplySummary, SetError>| match r {
            Err(SetError::Invalid(p)) => p.rule,
            other => panic!("expected Invalid, got {other:?}"),
        };
        assert!(matches!(
            rule(set(&mut store, "nobody", "sat_rate", "1", None)),
            Rule::UnknownUnit { .. }
        ));
        assert!(matches!(
            rule(set(&mut store, "justice", "nope", "1", None)),
            Rule::UnknownField { .. }
        ));
        assert!(matches!(
            rule(set(&mut store, "justice", "fr_files", "1", None)),
            Rule::FieldNotInScope { .. }
        ));
        assert!(matches!(
            rule(set(&mut store, "justice", "q_study", "1", None)),
            Rule::RoundRequired
        ));
        assert!(matches!(
            rule(set(&mut store, "justice", "sat_rate", "1", Some(Round::Q2))),
            Rule::RoundNotAllowed { .. }
        ));
        assert!(matches!(
            rule(set(&mut store, "xiaodian", "dept_cases", "1", None)),
            Rule::NotApplicable { .. }
        ));
        assert!(matches!(
            rule(set(&mut store, "justice", "sat_rate", "100.5", None)),
            Rule::Value(ValueError::OutOfRange { .. })
        ));
        let s = set(&mut store, "justice", "q_study", "３", Some(Round::Q2)).unwrap();
        assert_eq!(s.added, 1);
        let s = set(&mut store, "justice", "q_study", "4", Some(Round::Q2)).unwrap();
        assert_eq!(s.changed, 1);
        let h = store.history(2022, Some("justice")).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(
            (h[1].old_value, h[1].new_value, h[1].kind.as_str()),
            (Some(300), Some(400), "set")
        );
    }

    #[test]
    fn csv_text_excel_would_read_as_a_formula_is_quoted_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let scope = Scope {
            year: 2022,
            units: vec![unit("-dash", "=SUM(A1)单位", "township")],
            methods: vec!["daily".into()],
        };
        store.replace_scope(&scope).unwrap();
        let m = test_manifest();
        let layout = Layout::new(&m, &scope).unwrap();
        let mut values = Prefill::new();
        values.insert(("-dash".into(), Round::Q1, "q_study".into()), 300);
        let bytes = template::csv(&layout, &values, CsvEncoding::Utf8).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("'-dash,'=SUM(A1)单位,第一季度,3"), "{text}");
        import(&mut store, "f.csv", &bytes, Format::Csv).unwrap();
        assert_eq!(
            store
                .evidence_of("-dash", 2022, Round::Q1)
                .unwrap()
                .get("q_study"),
            Some(&300)
        );
    }
}
