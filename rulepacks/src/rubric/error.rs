//! Compile errors: what is wrong (Chinese first, English beside) and where
//! (file, line, column).

use std::fmt;
use std::ops::Range;

use crate::decimal::LiteralError;

/// The kind of thing an id names (for duplicate-id errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Group,
    Category,
    CategoryNo,
    Method,
    Field,
    Indicator,
    Clause,
    Grade,
    Choice,
}

impl IdKind {
    fn zh(self) -> &'static str {
        match self {
            IdKind::Group => "分组",
            IdKind::Category => "类别",
            IdKind::CategoryNo => "类别序号",
            IdKind::Method => "考核方式",
            IdKind::Field => "证据字段",
            IdKind::Indicator => "指标",
            IdKind::Clause => "条款",
            IdKind::Grade => "等次",
            IdKind::Choice => "选项",
        }
    }

    fn en(self) -> &'static str {
        match self {
            IdKind::Group => "group",
            IdKind::Category => "category",
            IdKind::CategoryNo => "category number",
            IdKind::Method => "method",
            IdKind::Field => "field",
            IdKind::Indicator => "indicator",
            IdKind::Clause => "clause",
            IdKind::Grade => "grade",
            IdKind::Choice => "choice",
        }
    }
}

/// The kind of thing a reference names (for unknown-reference errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Group,
    Method,
    Category,
    Grade,
}

impl RefKind {
    fn zh(self) -> &'static str {
        match self {
            RefKind::Group => "分组",
            RefKind::Method => "考核方式",
            RefKind::Category => "类别",
            RefKind::Grade => "等次",
        }
    }

    fn en(self) -> &'static str {
        match self {
            RefKind::Group => "group",
            RefKind::Method => "method",
            RefKind::Category => "category",
            RefKind::Grade => "grade",
        }
    }
}

/// What a TOML value should have been.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Text,
    Integer,
    Number,
    Bool,
    Table,
    TableArray,
    TextArray,
    /// A number or a formula text.
    NumberOrFormula,
    /// A number or a table of numbers per category.
    Points,
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expect::Text => "文本（a string）",
            Expect::Integer => "整数（an integer）",
            Expect::Number => "数值（a number）",
            Expect::Bool => "true 或 false（a boolean）",
            Expect::Table => "表（a table）",
            Expect::TableArray => "表数组 [[…]]（an array of tables）",
            Expect::TextArray => "文本数组（an array of strings）",
            Expect::NumberOrFormula => "数值或公式文本（a number or a formula string）",
            Expect::Points => "数值或按类别的分值表（a number or a table of points per category）",
        })
    }
}

/// The static type of a formula expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeName {
    Number,
    Bool,
    /// A choice of the named field.
    Choice(String),
    /// A text literal (only comparable with a choice field).
    Text,
    /// Any choice field.
    AnyChoice,
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeName::Number => f.write_str("数值（number）"),
            TypeName::Bool => f.write_str("布尔值（bool）"),
            TypeName::Choice(field) => write!(f, "字段 {field} 的选项（choice of {field}）"),
            TypeName::Text => f.write_str("文本（text）"),
            TypeName::AnyChoice => f.write_str("选项字段（a choice field）"),
        }
    }
}

/// One compile error. Each variant is a distinct mistake an author can make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("TOML 语法错误（TOML syntax error）：{message}")]
    Toml { message: String },

    #[error("{table} 中有未知的键 `{key}`（unknown key; allowed: {allowed}）")]
    UnknownKey {
        table: String,
        key: String,
        allowed: String,
    },

    #[error("{table} 缺少必填的键 `{key}`（missing required key）")]
    MissingKey { table: String, key: String },

    #[error("`{key}` 应为{expected}")]
    WrongType { key: String, expected: Expect },

    #[error("`{key}` 的值 {value} 无效，应为{expected}")]
    InvalidValue {
        key: String,
        value: String,
        expected: String,
    },

    #[error("标识 `{id}` 不合规（invalid id）：{rule}")]
    InvalidId { id: String, rule: &'static str },

    #[error("重复的{}标识 `{id}`，第 {first_line} 行已定义（duplicate {} id）", kind.zh(), kind.en())]
    DuplicateId {
        kind: IdKind,
        id: String,
        first_line: usize,
    },

    #[error("未知的{} `{id}`（unknown {} reference）", kind.zh(), kind.en())]
    UnknownReference { kind: RefKind, id: String },

    #[error("数值 `{text}` 无效（bad literal）：{reason}")]
    BadLiteral { text: String, reason: LiteralError },

    #[error(
        "类别 `{category}` 适用的计分指标合计 {total} 分，超过满分 {full_marks} 分（applicable points of the category exceed full marks）"
    )]
    CategoryPointsExceed {
        category: String,
        total: String,
        full_marks: String,
    },

    #[error(
        "类别 `{category}` 没有任何适用的计分指标（no scored indicator applies to the category）"
    )]
    CategoryWithoutIndicators { category: String },

    #[error(
        "等次 `{grade}` 的下限 {min} 分不低于上一等次的 {previous} 分；等次须从高到低、下限严格递减（grade bands out of order）"
    )]
    GradeBandsOutOfOrder {
        grade: String,
        min: String,
        previous: String,
    },

    #[error(
        "公式语法错误（formula syntax error）：{message}（公式第 {column} 列，formula column {column}）"
    )]
    FormulaSyntax { message: String, column: usize },

    #[error("公式引用了未知的证据字段 `{name}`（unknown evidence field）")]
    UnknownField { name: String },

    #[error(
        "字段 `{field}` 属于考核方式 `{field_method}`，不能用于考核方式为 `{indicator_method}` 的指标（field of another method）"
    )]
    ForeignMethodField {
        field: String,
        field_method: String,
        indicator_method: String,
    },

    #[error("类型不符（type mismatch）：{context}应为{expected}，实际为{found}")]
    TypeMismatch {
        context: String,
        expected: TypeName,
        found: TypeName,
    },

    #[error("字段 `{field}` 没有选项 \"{value}\"（unknown choice; choices: {choices}）")]
    UnknownChoice {
        field: String,
        value: String,
        choices: String,
    },

    #[error("未知的函数 `{name}`（unknown function; known: min, max, clamp, present）")]
    UnknownFunction { name: String },

    #[error(
        "函数 `{function}` 需要 {expected} 个参数，实际 {found} 个（wrong number of arguments）"
    )]
    WrongArity {
        function: String,
        expected: &'static str,
        found: usize,
    },

    #[error(
        "present({field}) 只能用于有默认值的字段；该字段缺失时单位被拒绝（present() needs a field with a default）"
    )]
    PresentNeedsDefault { field: String },

    #[error("`{key}` 不适用于{kind}类指标（key not allowed for this indicator kind）")]
    KeyNotForKind { key: String, kind: &'static str },

    #[error("指标 `{indicator}` 的规则不完整或冲突（rule shape）：{expected}")]
    RuleShape {
        indicator: String,
        expected: &'static str,
    },

    #[error(
        "类别 `{category}` 不含分组 `{group}`，指标 `{indicator}` 不能为它设分值（category lacks the indicator's group）"
    )]
    CategoryLacksGroup {
        category: String,
        indicator: String,
        group: String,
    },

    #[error("{what}超过上限 {max}（too many）")]
    TooMany { what: &'static str, max: usize },

    #[error(
        "失分理由模板中的占位符 {{{name}}} 无效：只能是 score、points、lost 或本指标考核方式的证据字段（unknown placeholder）"
    )]
    UnknownPlaceholder { name: String },

    #[error(
        "类别 `{category}` 适用的计分指标都可标记“不适用”；至少要有一项不可标记，换算才有依据（every scored indicator of the category may be marked not applicable）"
    )]
    CategoryAllNotApplicable { category: String },

    #[error(
        "有指标可标记“不适用”（指标 `{indicator}`），[composition] 须 normalise = true，按实际考核内容换算（not-applicable needs normalisation）"
    )]
    NotApplicableWithoutNormalise { indicator: String },
}

/// A compile error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The source line the position is on (for display).
    pub source_line: String,
    pub error: CompileError,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.error
        )
    }
}

/// Every error found in one rubric, in source order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl Diagnostics {
    /// The errors without positions, for matching in tests and tools.
    pub fn errors(&self) -> impl Iterator<Item = &CompileError> {
        self.0.iter().map(|d| &d.error)
    }

    /// Each error with the source line and a marker under the column.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for d in &self.0 {
            s.push_str(&format!("{d}\n"));
            if !d.source_line.is_empty() {
                s.push_str(&format!("    | {}\n", d.source_line));
                let pad: usize = d
                    .source_line
                    .chars()
                    .take(d.column.saturating_sub(1))
                    .map(|c| if c.is_ascii() { 1 } else { 2 })
                    .sum();
                s.push_str(&format!("    | {}^\n", " ".repeat(pad)));
            }
        }
        s
    }
}

/// Byte offset → line and column.
#[derive(Debug, Clone)]
pub struct SourceMap<'s> {
    src: &'s str,
    line_starts: Vec<usize>,
}

impl<'s> SourceMap<'s> {
    pub fn new(src: &'s str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        SourceMap { src, line_starts }
    }

    /// 1-based line and character column of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let col = self
            .src
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (line, col + 1)
    }

    /// The text of 1-based `line`, without its newline.
    pub fn line_text(&self, line: usize) -> &'s str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .map(|e| e - 1)
            .unwrap_or(self.src.len());
        self.src
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches('\r')
    }

    pub fn diagnostic(&self, file: &str, span: &Range<usize>, error: CompileError) -> Diagnostic {
        let (line, column) = self.line_col(span.start);
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            source_line: self.line_text(line).to_string(),
            error,
        }
    }
}
