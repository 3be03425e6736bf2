//! Evidence → reference interpreter → grades and ranks, without the hub.

use super::*;

pub struct Results {
    pub rows: BTreeMap<String, Row>,
    /// Unit → indicator id → score, for the indicators present.
    pub indicators: BTreeMap<String, BTreeMap<String, i64>>,
    /// Category id → its name (as the export shows it).
    pub category_names: BTreeMap<String, String>,
}

pub fn results(dir: &Path, year: u16, db: &rusqlite::Connection) -> Results {
    let source = std::fs::read_to_string(repo(&format!("rulepacks/baofeng-{year}/rubric.toml")))
        .expect("read the rubric");
    let rubric = kaohe_rulepacks::rubric::compile("rubric.toml", &source)
        .unwrap_or_else(|e| panic!("{year} 年度细则编译失败：{e}"));
    let interp = Interpreter::new(&rubric);
    let m = interp.manifest();
    let ranked: Vec<&str> = m
        .categories
        .iter()
        .filter(|c| c.ranked)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(
        ranked, RANKED,
        "{year} 年度规则包的排名类别（ranked categories）"
    );

    let roster = roster(&dir.join("hub/名册（示例数据）.csv"));
    let mut evidence = evidence(dir, year, m);
    let (y, unit, field, value) = CORRECTION;
    if y == year {
        let f = m.field_index(field).expect("the corrected field");
        let annual = evidence
            .get_mut(unit)
            .and_then(|r| r.get_mut(&Round::Annual))
            .expect("the corrected unit's annual evidence");
        annual.0[f] = Some(parse(m, f, value));
    }
    let caps = penalty_caps(db, year);
    let excused = excused(db, year);
    assert_eq!(excused, [EXCUSED], "{year} 年度免于考核的单位");

    let mut rows = BTreeMap::new();
    let mut indicators = BTreeMap::new();
    for (unit, rounds) in evidence {
        if excused.contains(&unit) {
            continue;
        }
        let category = roster
            .get(&unit)
            .unwrap_or_else(|| panic!("{unit} 不在名册中（not on the roster）"));
        let c = m
            .category_index(category)
            .unwrap_or_else(|| panic!("{unit} 的类别 {category} 不在规则包中"));
        let not_applicable = rounds
            .iter()
            .filter(|(_, (_, reasons))| reasons.iter().any(Option::is_some))
            .map(|(r, (_, reasons))| (*r, reasons.clone()))
            .collect();
        let ev = Evidence {
            category: c,
            methods: m.all_methods_mask(),
            rounds: rounds.into_iter().map(|(r, (v, _))| (r, v)).collect(),
            penalty_cap_override: caps.get(&unit).copied(),
            not_applicable,
        };
        let outs = interp.evaluate(&ev.units());
        for ((round, _), out) in ev.rounds.iter().zip(&outs) {
            assert!(
                out.status.is_ok(),
                "{year} {unit} {} 解释器评分失败：{:?}",
                round.name_zh(),
                out.status
            );
        }
        let pairs: Vec<(Round, &_)> = ev.rounds.iter().map(|(r, _)| *r).zip(&outs).collect();
        let input = merge_outputs(m, c as u32, &pairs, ev.penalty_cap_override)
            .unwrap_or_else(|e| panic!("{year} {unit} 汇总各轮次失败：{e}"));
        let fin = interp.finalise(std::slice::from_ref(&input));
        let sheet = *fin[0]
            .result()
            .unwrap_or_else(|s| panic!("{year} {unit} 定档失败：{s:?}"));
        rows.insert(
            unit.clone(),
            Row {
                category: category.clone(),
                total: sheet.total,
                grade: m.composition.grades[sheet.grade as usize].name.clone(),
                rank: None,
            },
        );
        let mut scores: BTreeMap<String, i64> = m
            .indicators
            .iter()
            .zip(&input.scores)
            .filter_map(|(ind, s)| s.map(|s| (ind.id.clone(), s)))
            .collect();
        // The sheet's lines the export prints after the indicators.
        scores.insert("换算得分（百分制）".into(), sheet.converted);
        scores.insert("加分".into(), sheet.bonus);
        scores.insert("扣分".into(), -sheet.penalty);
        indicators.insert(unit, scores);
    }

    // Competition ranking: ties share a rank, the next one skips (1,2,2,4).
    for cat in RANKED {
        let totals: Vec<i64> = rows
            .values()
            .filter(|r| r.category == cat)
            .map(|r| r.total)
            .collect();
        for r in rows.values_mut().filter(|r| r.category == cat) {
            let above = totals.iter().filter(|t| **t > r.total).count();
            r.rank = Some(above as u32 + 1);
        }
    }
    let category_names = m
        .categories
        .iter()
        .map(|c| (c.id.clone(), c.name.clone()))
        .collect();
    Results {
        rows,
        indicators,
        category_names,
    }
}

/// Unit id → category id, from the roster the hub imported.
fn roster(path: &Path) -> BTreeMap<String, String> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}：{e}", path.display()));
    let headers = r.headers().expect("roster headers").clone();
    let col = |h: &str| {
        headers
            .iter()
            .position(|x| x == h)
            .unwrap_or_else(|| panic!("名册缺少列 {h}"))
    };
    let (id, category) = (col("单位编号"), col("类别"));
    r.records()
        .map(|rec| {
            let rec = rec.expect("roster row");
            (rec[id].to_owned(), rec[category].to_owned())
        })
        .collect()
}

/// One unit's rounds: one value per manifest field, and the reasons of the
/// indicators marked not applicable (one entry per indicator).
type UnitRounds = BTreeMap<Round, (Vec<Option<i64>>, Vec<Option<String>>)>;

/// Unit → round → its values and not-applicable reasons, from every node's
/// filled CSV and Excel files of `year`. A round whose cells are all empty
/// for a unit was not reported in that file.
fn evidence(dir: &Path, year: u16, m: &Manifest) -> BTreeMap<String, UnitRounds> {
    let mut out: BTreeMap<String, UnitRounds> = BTreeMap::new();
    let mut files = 0;
    for e in std::fs::read_dir(dir.join("nodes")).expect("nodes/") {
        let nd = e.expect("nodes/ entry").path();
        for round in Round::ALL {
            let stem = format!("{year}-{}-证据（示例数据）", round.id());
            let (path, rows) = read_filled(&nd, &stem, round);
            files += 1;
            let keys: Vec<&str> = rows[1].iter().map(String::as_str).collect();
            let col = |k: &str| {
                keys.iter()
                    .position(|x| *x == k)
                    .unwrap_or_else(|| panic!("{} 第 2 行缺少 {k}", path.display()))
            };
            let id_col = col("unit_id");
            // CSV: a round column; Excel: one sheet per round.
            let round_col = keys.iter().position(|x| *x == "round");
            // `na.<indicator>`: the not-applicable reason columns.
            let marks: Vec<(usize, usize)> = keys
                .iter()
                .enumerate()
                .filter_map(|(i, k)| Some((i, m.indicator_index(k.strip_prefix("na.")?)?)))
                .collect();
            let fields: Vec<(usize, usize)> = keys
                .iter()
                .enumerate()
                .filter(|(_, k)| !["unit_id", "unit_name", "round"].contains(k))
                .filter(|(_, k)| !k.starts_with("na."))
                .map(|(i, k)| {
                    let f = m
                        .field_index(k)
                        .unwrap_or_else(|| panic!("{}：{k} 不是规则包的字段", path.display()));
                    (i, f)
                })
                .collect();
            for row in &rows[2..] {
                let mut values = vec![None; m.fields.len()];
                let mut reasons = vec![None; m.indicators.len()];
                let mut any = false;
                for &(i, f) in &fields {
                    let cell = row.get(i).map_or("", |c| c.trim());
                    if !cell.is_empty() {
                        values[f] = Some(parse(m, f, cell));
                        any = true;
                    }
                }
                for &(i, ind) in &marks {
                    let cell = row.get(i).map_or("", |c| c.trim());
                    if !cell.is_empty() {
                        reasons[ind] = Some(cell.to_owned());
                        any = true;
                    }
                }
                let row_round = match round_col {
                    None => round,
                    Some(c) => Round::ALL
                        .into_iter()
                        .find(|r| r.name_zh() == row[c])
                        .unwrap_or_else(|| panic!("{}：未知轮次 {}", path.display(), &row[c])),
                };
                if !any {
                    continue;
                }
                assert_eq!(
                    row_round,
                    round,
                    "{}：{} 填写了其他轮次的行（another round's row filled）",
                    path.display(),
                    &row[id_col]
                );
                let prev = out
                    .entry(row[id_col].to_owned())
                    .or_default()
                    .insert(round, (values, reasons));
                assert!(prev.is_none(), "{} {} 被填报两次", &row[id_col], round.id());
            }
        }
    }
    assert_eq!(files, 25, "五个节点、五个轮次的证据文件");
    out
}

/// The rows of a filled evidence file `stem`.csv (UTF-8, a round column)
/// or `stem`.xlsx (the sheet of `round`), as text.
fn read_filled(nd: &Path, stem: &str, round: Round) -> (PathBuf, Vec<Vec<String>>) {
    let csv_path = nd.join(format!("{stem}.csv"));
    if csv_path.exists() {
        let text = std::fs::read_to_string(&csv_path)
            .unwrap_or_else(|e| panic!("{}：{e}", csv_path.display()));
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let rows = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes())
            .records()
            .map(|r| {
                r.unwrap_or_else(|e| panic!("{}：{e}", csv_path.display()))
                    .iter()
                    .map(str::to_owned)
                    .collect()
            })
            .collect();
        return (csv_path, rows);
    }
    let path = nd.join(format!("{stem}.xlsx"));
    let mut book: Xlsx<_> =
        open_workbook(&path).unwrap_or_else(|e| panic!("打开 {}：{e}", path.display()));
    let sheet = round.name_zh();
    let rows = book
        .worksheet_range(sheet)
        .unwrap_or_else(|e| panic!("{} 没有工作表 {sheet}：{e}", path.display()))
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Empty => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    (path, rows)
}

/// A cell as an official writes it → the ABI value (hundredths; 是 100,
/// 否 0; a choice's index × 100).
pub fn parse(m: &Manifest, f: usize, cell: &str) -> i64 {
    let field = &m.fields[f];
    let bad = || -> ! { panic!("{} 的值「{cell}」无法识别", field.id) };
    match field.kind {
        FieldType::Bool => match cell {
            "是" => 100,
            "否" => 0,
            _ => bad(),
        },
        FieldType::Choice => {
            field
                .choices
                .iter()
                .position(|c| c == cell)
                .unwrap_or_else(|| bad()) as i64
                * 100
        }
        FieldType::Count | FieldType::Decimal => {
            let (int, frac) = cell.split_once('.').unwrap_or((cell, ""));
            if frac.len() > 2 || !frac.chars().all(|c| c.is_ascii_digit()) {
                bad();
            }
            let int: i64 = int.parse().unwrap_or_else(|_| bad());
            let frac: i64 = format!("{frac:0<2}").parse().unwrap_or_else(|_| bad());
            int * 100 + if int < 0 { -frac } else { frac }
        }
    }
}

fn penalty_caps(db: &rusqlite::Connection, year: u16) -> BTreeMap<String, i64> {
    db.prepare(
        "SELECT unit_id, cap FROM recorded_decisions WHERE year = ?1 AND kind = 'penalty_cap' ORDER BY seq",
    )
    .and_then(|mut s| {
        s.query_map([year], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()
    })
    .expect("read penalty-cap decisions")
}

fn excused(db: &rusqlite::Connection, year: u16) -> Vec<String> {
    db.prepare(
        "SELECT unit_id FROM recorded_decisions WHERE year = ?1 AND kind = 'excusal' ORDER BY seq",
    )
    .and_then(|mut s| s.query_map([year], |r| r.get(0))?.collect::<Result<_, _>>())
    .expect("read excusals")
}
