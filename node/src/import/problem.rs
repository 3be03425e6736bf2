//! What an official is told about a refused file: where (the sheet, row,
//! column with its header, unit) and which rule, in Chinese.

use std::fmt;

use kaohe_tables::sheet;
use kaohe_tables::text::echo;

use crate::layout::{NOTES_SHEET, UNIT_ID_HEADER, UNIT_ID_KEY};
use crate::value::ValueError;

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
    /// A not-applicable reason that is not text (a number, a date, a
    /// true/false).
    MarkNotText {
        found: String,
    },
    /// A not-applicable reason longer than a submission carries.
    MarkTooLong {
        chars: usize,
        max: usize,
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
            Rule::MarkNotText { found } => write!(
                f,
                "“不适用理由”须写明文字理由，实为 {}（a not-applicable reason must be text）",
                echo(found)
            ),
            Rule::MarkTooLong { chars, max } => write!(
                f,
                "“不适用理由”有 {chars} 个字，至多 {max} 个（reason too long）"
            ),
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
