//! 导出的输入模型（export input model）：一个年度已审定考核结果的全部内容，
//! 只有字符串和以百分之一分为单位的整数。
//!
//! The consolidation result is mapped onto [`Report`] by the caller; the
//! renderers in [`super`] only read it. Every score is `i64` hundredths of a
//! point (`9550` = 95.50 分), shown with [`points`]. Grade names, category
//! names and outcome reasons come from the caller (ultimately from the pack's
//! manifest): nothing here hard-codes a number of the scheme.

use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;

/// One year's approved results, as published.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// 县名, e.g. `宝丰县`.
    pub county: String,
    pub year: i32,
    /// 考核名称 without the year, e.g. `法治宝丰（法治政府）建设`; used in the
    /// titles of letters and notices.
    pub scheme_name: String,
    /// 通报标题, e.g. `关于2022年度法治宝丰（法治政府）建设考核结果的通报`.
    pub title: String,
    /// 文号, e.g. `宝法治办〔2023〕1号`.
    pub doc_number: String,
    /// 发文机关, e.g. `中共宝丰县委全面依法治县委员会办公室`.
    pub issuer: String,
    /// 成文日期 as printed, e.g. `2023年3月1日`.
    pub published_on: String,
    /// 主送机关, e.g. `各乡镇人民政府，县直各单位`; empty: no 主送 line.
    pub recipients: String,
    /// Paragraphs before the results; empty: a standard opening is used.
    pub intro: Vec<String>,
    /// Paragraphs after the results; empty: a standard closing is used.
    pub closing: Vec<String>,
    /// Every assessed unit, by category, in published order.
    pub categories: Vec<CategoryTable>,
    /// Units per grade over all categories, best grade first (the pack's
    /// order). Each count must equal the number of rows with that grade.
    pub grade_counts: Vec<GradeCount>,
    /// Per-unit detail: indicators, deductions and their reasons.
    pub breakdown: Vec<UnitBreakdown>,
    /// 结果运用: commendations, recommendation letters, warnings, admonitions…
    pub outcomes: Vec<OutcomeRow>,
    /// Units whose submissions arrived after the deadline (still assessed).
    pub late_units: Vec<LateUnit>,
    /// Units with nothing (or not everything) reported: not assessed, never 0.
    pub unassessed: Vec<Unassessed>,
    /// 抄送 list; empty: no 抄送 line.
    pub copy_to: Vec<String>,
    /// 党建引领·比拼四季: per quarter, per ranked category with a quarterly
    /// method, quarter by quarter.
    pub leaderboards: Vec<QuarterBoard>,
    /// SHA-256 (hex) of the consolidation the approval recorded — the
    /// exported result is exactly that one; empty in drafts.
    pub approval_sha256: String,
    /// The reopened approval this one replaces, if the year was approved
    /// again after a reopening (撤销审定 / 重新审定).
    pub replaces: Option<ReplacedApproval>,
}

/// An earlier approval of the year, reopened and replaced by the one the
/// report rests on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplacedApproval {
    pub doc_number: String,
    /// e.g. `2023年3月1日`.
    pub approved_on: String,
    pub reopened_on: String,
    pub reason: String,
}

/// One quarter's leaderboard (党建引领·比拼四季) of one ranked category.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuarterBoard {
    /// e.g. `第一季度`.
    pub quarter: String,
    pub category: String,
    /// Points of the quarterly methods' scored indicators (hundredths).
    pub max_points: i64,
    pub rows: Vec<BoardRow>,
    /// Names of the units without a complete report for the quarter.
    pub not_reported: Vec<String>,
    /// Names of the units excused for the quarter.
    pub excused: Vec<String>,
}

/// The leaderboards as one table per category (in their order): a row per
/// unit, in order of first appearance, then a cell per quarter reading
/// `得分（名次）`, `未报` (no complete report) or `免` (excused); empty when
/// the category has no board that quarter.
pub fn board_tables(boards: &[QuarterBoard]) -> Vec<(String, Vec<Vec<String>>)> {
    const QUARTERS: [&str; 4] = ["第一季度", "第二季度", "第三季度", "第四季度"];
    /// A unit's name and its four quarters' cells.
    type Line = (String, [String; 4]);
    let mut out: Vec<(String, Vec<Line>)> = Vec::new();
    // Per category, a name's row: found by hash, not by a scan of the rows
    // (a scan per unit and quarter made a large year's table quadratic).
    let mut index: Vec<std::collections::HashMap<String, usize>> = Vec::new();
    for b in boards {
        let Some(q) = QUARTERS.iter().position(|q| *q == b.quarter) else {
            continue;
        };
        let at = match out.iter().position(|(c, _)| *c == b.category) {
            Some(at) => at,
            None => {
                out.push((b.category.clone(), Vec::new()));
                index.push(std::collections::HashMap::new());
                out.len() - 1
            }
        };
        let rows = &mut out[at].1;
        let index = &mut index[at];
        let mut put = |name: &str, cell: String| {
            let i = match index.get(name) {
                Some(&i) => i,
                None => {
                    rows.push((name.to_owned(), Default::default()));
                    index.insert(name.to_owned(), rows.len() - 1);
                    rows.len() - 1
                }
            };
            rows[i].1[q] = cell;
        };
        for r in &b.rows {
            put(
                &r.unit_name,
                format!(
                    "{}（{}{}）",
                    format_hundredths_fixed(r.points),
                    r.rank,
                    if r.tied { "，并列" } else { "" }
                ),
            );
        }
        for n in &b.not_reported {
            put(n, "未报".into());
        }
        for n in &b.excused {
            put(n, "免".into());
        }
    }
    out.into_iter()
        .map(|(c, rows)| {
            let rows = rows
                .into_iter()
                .map(|(name, cells)| std::iter::once(name).chain(cells).collect())
                .collect();
            (c, rows)
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BoardRow {
    pub rank: u32,
    pub tied: bool,
    pub unit_id: String,
    pub unit_name: String,
    /// Hundredths.
    pub points: i64,
}

/// The results of one category (类别) of assessees.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CategoryTable {
    /// e.g. `乡镇（街道）、示范区、铁路地区办事处`.
    pub name: String,
    /// Ranked (评定等次并排名) or only graded (只评定等次).
    pub ranked: bool,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Row {
    /// Shared by ties; `None` in a category that is only graded.
    pub rank: Option<u32>,
    pub unit_id: String,
    pub unit_name: String,
    /// Final score in hundredths.
    pub total: i64,
    pub grade_name: String,
    /// Reported after the deadline.
    pub late: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GradeCount {
    pub grade_name: String,
    pub count: u32,
}

/// How one unit's total came about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitBreakdown {
    pub unit_id: String,
    pub unit_name: String,
    pub category: String,
    pub indicators: Vec<IndicatorLine>,
    /// Sum of the indicator scores normalised (换算) to the 100-point scale.
    pub converted: i64,
    /// 加分, ≥ 0.
    pub bonus: i64,
    /// 扣分 (加减分评定), ≥ 0: the points taken off.
    pub penalty: i64,
    pub total: i64,
    pub grade_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndicatorLine {
    pub id: String,
    pub name: String,
    pub kind: LineKind,
    /// 分值: for a bonus or penalty item, its most.
    pub points: i64,
    /// 得分; for a penalty item the points taken off, for a flag 100 when
    /// raised.
    pub score: i64,
    /// Why points were lost (or awarded), one reason per entry.
    pub reasons: Vec<String>,
}

/// How an indicator counts (the manifest's indicator kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineKind {
    /// Counted in the raw score: lost points are `points − score`.
    #[default]
    Scored,
    /// 加分: never a problem.
    Bonus,
    /// 扣分: `score` points taken off.
    Penalty,
    /// 情节严重 / 重大法治问题: raised when `score > 0`.
    Flag,
}

impl IndicatorLine {
    /// Points this line cost the unit: the shortfall of a scored item, the
    /// deduction of a penalty item; 0 for bonus items and flags.
    pub fn lost(&self) -> i64 {
        match self.kind {
            LineKind::Scored => (self.points - self.score).max(0),
            LineKind::Penalty => self.score.max(0),
            LineKind::Bonus | LineKind::Flag => 0,
        }
    }

    /// Whether the line reports a problem: points lost or a flag raised.
    pub fn is_problem(&self) -> bool {
        self.lost() > 0 || (self.kind == LineKind::Flag && self.score > 0)
    }
}

/// A use of the results (结果运用) for one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRow {
    pub kind: OutcomeKind,
    pub unit_id: String,
    pub unit_name: String,
    /// Why, e.g. `考核等次为合格` or `排名后三名`.
    pub reason: String,
    /// Who issues it (分级考核: the assessor of the unit), as it signs,
    /// e.g. `中共宝丰县委全面依法治县委员会办公室`, `宝丰县国资局`.
    pub issuer: String,
    /// The unit's principal (主要负责人) from the roster; `None` when the
    /// roster has none (a commendation then leaves a marked blank).
    pub principal: Option<String>,
}

/// The uses of results the scheme names (六、考核结果认定和运用).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutcomeKind {
    /// 通报表扬 (two consecutive years 优秀): one notice for all.
    Commendation,
    /// 向上推荐: townships consistently 优秀, recommended upwards to create
    /// demonstration units and projects.
    RecommendUpward,
    /// 法治建议书 (合格 / 不合格): one letter per unit.
    RecommendationLetter,
    /// 通报警示 (last of a ranking, big regression): one notice for all.
    Warning,
    /// 约谈 (不合格, major problem): one notice per unit.
    Admonition,
    /// 责令整改.
    RectificationOrder,
    /// 通报批评.
    Criticism,
}

impl OutcomeKind {
    /// Every kind, in the order results are listed.
    pub const ALL: [OutcomeKind; 7] = [
        OutcomeKind::Commendation,
        OutcomeKind::RecommendUpward,
        OutcomeKind::RecommendationLetter,
        OutcomeKind::Warning,
        OutcomeKind::Admonition,
        OutcomeKind::RectificationOrder,
        OutcomeKind::Criticism,
    ];

    /// The name an official reads.
    pub fn zh(self) -> &'static str {
        match self {
            OutcomeKind::Commendation => "通报表扬",
            OutcomeKind::RecommendUpward => "向上推荐",
            OutcomeKind::RecommendationLetter => "法治建议书",
            OutcomeKind::Warning => "通报警示",
            OutcomeKind::Admonition => "约谈",
            OutcomeKind::RectificationOrder => "责令整改",
            OutcomeKind::Criticism => "通报批评",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LateUnit {
    pub unit_id: String,
    pub unit_name: String,
    /// e.g. `2023年1月20日提交，逾期2个工作日`.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unassessed {
    pub unit_id: String,
    pub unit_name: String,
    /// What is missing, e.g. `未报送实地考察结果`; for an excused unit,
    /// the recorded reason.
    pub missing: String,
    /// Excused (免于考核) by a recorded decision, rather than missing.
    pub excused: bool,
}

impl Unassessed {
    /// `免于考核` or `未考核`, as the notice lists it.
    pub fn status(&self) -> &'static str {
        if self.excused {
            "免于考核"
        } else {
            "未考核"
        }
    }
}

impl Report {
    /// Every row of every category, with its category.
    pub fn all_rows(&self) -> impl Iterator<Item = (&CategoryTable, &Row)> {
        self.categories
            .iter()
            .flat_map(|c| c.rows.iter().map(move |r| (c, r)))
    }

    /// The row of `unit_id`, if it was assessed.
    pub fn row_of(&self, unit_id: &str) -> Option<&Row> {
        self.all_rows()
            .map(|(_, r)| r)
            .find(|r| r.unit_id == unit_id)
    }

    /// Grade names in the order to list them: those of [`Report::grade_counts`]
    /// first, then any other grade found in the rows, in order of appearance.
    pub fn grade_order(&self) -> Vec<&str> {
        let mut order: Vec<&str> = self
            .grade_counts
            .iter()
            .map(|g| g.grade_name.as_str())
            .collect();
        for (_, row) in self.all_rows() {
            if !order.contains(&row.grade_name.as_str()) {
                order.push(&row.grade_name);
            }
        }
        order
    }

    /// Names of the units graded `grade`, in published order.
    pub fn units_graded(&self, grade: &str) -> Vec<&str> {
        self.all_rows()
            .filter(|(_, r)| r.grade_name == grade)
            .map(|(_, r)| r.unit_name.as_str())
            .collect()
    }

    /// The opening of the notice when [`Report::intro`] is empty.
    pub fn intro_or_standard(&self) -> Vec<String> {
        if !self.intro.is_empty() {
            return self.intro.clone();
        }
        vec![format!(
            "为深入贯彻落实习近平法治思想，推动法治建设各项任务落地见效，根据《{scheme}考核方案》，\
             {issuer}组织开展了{year}年度{scheme}考核。考核采取日常评价、监督督察、集中评查、\
             网络检索、实地考察、满意度调查和加减分评定相结合的方式进行，考核结果已经{level}委、\
             {level}政府审定。现将考核结果通报如下：",
            scheme = self.scheme_name,
            issuer = self.issuer,
            year = self.year,
            // 县委、县政府 (区委、区政府 …): the level is the county name's last character.
            level = self.county.chars().last().unwrap_or('县'),
        )]
    }

    /// The sentence saying which approval this one replaces, if any.
    pub fn replaces_text(&self) -> Option<String> {
        self.replaces.as_ref().map(|old| {
            format!(
                "本通报替代{year}年度原考核结果通报（原审定文号{doc}，{on}审定，已于{reopened}撤销审定，原因：{reason}），以本通报为准。",
                year = self.year,
                doc = old.doc_number,
                on = old.approved_on,
                reopened = old.reopened_on,
                reason = old.reason,
            )
        })
    }

    /// The closing of the notice when [`Report::closing`] is empty.
    pub fn closing_or_standard(&self) -> Vec<String> {
        if !self.closing.is_empty() {
            return self.closing.clone();
        }
        vec![
            "希望受到表扬的单位珍惜荣誉、再接再厉，继续发挥示范带动作用。各单位要以考核为契机，\
             对照考核发现的问题认真查找不足，按要求制定整改方案、报告整改情况，推动法治建设工作\
             再上新台阶。"
                .to_string(),
        ]
    }
}
