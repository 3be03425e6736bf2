//! The hub's Excel export as tables keyed by unit.

use super::*;

pub struct Export {
    /// 等次汇总: every graded unit (category shown by name).
    pub rows: BTreeMap<String, Row>,
    /// 排名-*: the units of the ranked categories.
    pub ranking: BTreeMap<String, Row>,
    /// 分项明细: unit → indicator id (or sheet line) → score.
    pub indicators: BTreeMap<String, BTreeMap<String, i64>>,
    /// 结果运用: (kind, unit, reason).
    pub outcomes: Vec<(String, String, String)>,
    /// 迟报与未考核: unit → detail.
    pub late: BTreeMap<String, String>,
    pub unassessed: BTreeMap<String, String>,
    /// 免于考核: unit → recorded reason.
    pub excused: BTreeMap<String, String>,
}

pub fn read(path: &Path) -> Export {
    let mut book: Xlsx<_> =
        open_workbook(path).unwrap_or_else(|e| panic!("打开 {}：{e}", path.display()));
    let names = book.sheet_names();
    let mut sheet = |name: &str| -> Vec<Vec<Data>> {
        book.worksheet_range(name)
            .unwrap_or_else(|e| panic!("{} 没有工作表 {name}：{e}", path.display()))
            .rows()
            .map(<[Data]>::to_vec)
            .collect()
    };
    let mut ranking = BTreeMap::new();
    for name in names.iter().filter(|n| n.starts_with("排名-")) {
        for r in sheet(name)
            .iter()
            .skip(2)
            .filter(|r| !text(r, 1).is_empty())
        {
            ranking.insert(
                text(r, 1),
                Row {
                    category: name.clone(),
                    rank: rank(&r[0]),
                    total: hundredths(&r[3]),
                    grade: text(r, 4),
                },
            );
        }
    }
    // 等次汇总: the counts, a blank row, a header, then one row per unit.
    let mut rows = BTreeMap::new();
    let grades = sheet("等次汇总");
    let header = grades
        .iter()
        .position(|r| text(r, 1) == "类别")
        .expect("等次汇总 的明细表头");
    for r in &grades[header + 1..] {
        if text(r, 3).is_empty() {
            continue;
        }
        let prev = rows.insert(
            text(r, 3),
            Row {
                category: text(r, 1),
                rank: rank(&r[2]),
                total: hundredths(&r[5]),
                grade: text(r, 0),
            },
        );
        assert!(prev.is_none(), "等次汇总 中 {} 出现两次", text(r, 3));
    }
    let mut indicators: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for r in sheet("分项明细").iter().skip(2) {
        let (unit, id, label) = (text(r, 0), text(r, 3), text(r, 4));
        if unit.is_empty() || label == "总分" {
            continue;
        }
        let key = if id.is_empty() { label } else { id };
        indicators
            .entry(unit)
            .or_default()
            .insert(key, hundredths(&r[6]));
    }
    let outcomes = sheet("结果运用")
        .iter()
        .skip(2)
        .filter(|r| !text(r, 1).is_empty())
        .map(|r| (text(r, 0), text(r, 1), text(r, 3)))
        .collect();
    let (mut late, mut unassessed, mut excused) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for r in sheet("迟报与未考核").iter().skip(2) {
        match text(r, 0).as_str() {
            "迟报" => {
                late.insert(text(r, 1), text(r, 3));
            }
            "未考核" => {
                unassessed.insert(text(r, 1), text(r, 3));
            }
            "免于考核" => {
                excused.insert(text(r, 1), text(r, 3));
            }
            other => panic!("迟报与未考核表中未知的情况（unknown kind）：{other}"),
        }
    }
    Export {
        rows,
        ranking,
        indicators,
        outcomes,
        late,
        unassessed,
        excused,
    }
}

fn text(r: &[Data], i: usize) -> String {
    match r.get(i) {
        Some(Data::String(s)) => s.trim().to_owned(),
        Some(Data::Empty) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn rank(d: &Data) -> Option<u32> {
    match d {
        Data::Int(n) => Some(*n as u32),
        Data::Float(f) => Some(*f as u32),
        Data::Empty => None,
        other => panic!("名次单元格不是数字：{other:?}"),
    }
}

/// A points cell (two decimals) as hundredths: the export writes
/// `hundredths / 100`, so rounding the product recovers it exactly.
fn hundredths(d: &Data) -> i64 {
    match d {
        Data::Float(f) => (f * 100.0).round() as i64,
        Data::Int(n) => n * 100,
        other => panic!("分数单元格不是数字：{other:?}"),
    }
}
