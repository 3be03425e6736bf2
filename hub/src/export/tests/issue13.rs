//! What issue #13 asked of the outputs: letters that list only what cost
//! points and are issued by the unit's assessor, commendations naming the
//! principal, the quarterly leaderboard shown, and every file saying which
//! approval it rests on (and which it replaces).

use super::*;

fn line(
    id: &str,
    name: &str,
    kind: LineKind,
    points: i64,
    score: i64,
    reasons: &[&str],
) -> IndicatorLine {
    IndicatorLine {
        id: id.into(),
        name: name.into(),
        kind,
        points,
        score,
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
    }
}

/// The sample with 杨庄镇's sheet carrying every kind of line, a unit of
/// the 国资局 warned, a leaderboard, and an approval replacing another.
fn richer() -> Report {
    let mut r = sample();
    let b = &mut r.breakdown[0];
    b.indicators.extend([
        line(
            "S1",
            "满意度调查",
            LineKind::Scored,
            1000,
            860,
            &["满意度 86.00%，按比例得 8.60 分，失 1.40 分"],
        ),
        line("B1", "获得省部级以上表扬表彰", LineKind::Bonus, 500, 0, &[]),
        line(
            "B2",
            "经验做法被推广",
            LineKind::Bonus,
            500,
            200,
            &["经验做法被市级推广"],
        ),
        line(
            "P1",
            "被有关单位通报批评",
            LineKind::Penalty,
            1000,
            200,
            &["被市级通报批评1次"],
        ),
        line("F1", "情节严重", LineKind::Flag, 0, 0, &[]),
    ]);
    r.outcomes.push(OutcomeRow {
        kind: OutcomeKind::Warning,
        unit_id: "gt".into(),
        unit_name: "县国有投资公司".into(),
        reason: "总分比上年下降12.00分，退步较大".into(),
        issuer: "宝丰县国资局".into(),
        principal: None,
    });
    r.outcomes.push(OutcomeRow {
        kind: OutcomeKind::Commendation,
        unit_id: "sfj".into(),
        unit_name: "县司法局".into(),
        reason: "连续2年考核优秀".into(),
        issuer: "中共宝丰县委全面依法治县委员会办公室".into(),
        principal: None,
    });
    r.leaderboards = vec![
        QuarterBoard {
            quarter: "第一季度".into(),
            category: "乡镇（街道）、示范区、铁路地区办事处".into(),
            max_points: 1200,
            rows: vec![
                BoardRow {
                    rank: 1,
                    tied: false,
                    unit_id: "t01".into(),
                    unit_name: "赵庄镇".into(),
                    points: 1150,
                },
                BoardRow {
                    rank: 2,
                    tied: false,
                    unit_id: "007".into(),
                    unit_name: "杨庄镇".into(),
                    points: 1010,
                },
            ],
            not_reported: vec!["肖旗乡".into()],
            excused: vec![],
        },
        QuarterBoard {
            quarter: "第二季度".into(),
            category: "乡镇（街道）、示范区、铁路地区办事处".into(),
            max_points: 1200,
            rows: vec![
                BoardRow {
                    rank: 1,
                    tied: true,
                    unit_id: "t01".into(),
                    unit_name: "赵庄镇".into(),
                    points: 1100,
                },
                BoardRow {
                    rank: 1,
                    tied: true,
                    unit_id: "007".into(),
                    unit_name: "杨庄镇".into(),
                    points: 1100,
                },
            ],
            not_reported: vec![],
            excused: vec!["肖旗乡".into()],
        },
    ];
    r.approval_sha256 = "0123456789abcdef".repeat(4);
    r.doc_number = "宝法治办〔2023〕5号".into();
    r.replaces = Some(ReplacedApproval {
        doc_number: "宝法治办〔2023〕1号".into(),
        approved_on: "2023年3月1日".into(),
        reopened_on: "2023年4月3日".into(),
        reason: "县司法局得分计算有误".into(),
    });
    r
}

fn letter_text(letters: &[Letter], name: &str) -> String {
    let l = letters
        .iter()
        .find(|l| l.file_name == name)
        .unwrap_or_else(|| {
            panic!(
                "{name} among {:?}",
                letters.iter().map(|l| &l.file_name).collect::<Vec<_>>()
            )
        });
    read_docx(&l.bytes).1
}

/// Issue #13: a letter listed "获得省部级以上表扬表彰（分值5.00分，得分0.00分）"
/// as a problem and labelled a 2-point deduction "得分2.00分".
#[test]
fn a_letter_lists_only_what_cost_points_each_labelled_by_its_kind() {
    let letters = render_letters(&richer()).unwrap();
    let t = letter_text(&letters, "法治建议书-007-杨庄镇.docx");
    for want in [
        "1. 行政规范性文件合法性审核（分值8.00分，得分5.00分，失3.00分）：2份规范性文件未经合法性审核即印发；备案超期。",
        "2. 满意度调查（分值10.00分，得分8.60分，失1.40分）：满意度 86.00%，按比例得 8.60 分，失 1.40 分。",
        "3. 被有关单位通报批评（扣2.00分）：被市级通报批评1次。",
    ] {
        assert!(t.contains(want), "{want}\n in {t}");
    }
    for never in [
        "获得省部级以上表扬表彰",
        "经验做法被推广",
        "情节严重",
        "第一责任人职责（分值",
        "得分2.00分",
        "4. ",
    ] {
        assert!(!t.contains(never), "{never} listed in {t}");
    }
}

#[test]
fn letters_come_from_the_units_assessor_cite_the_approval_and_carry_its_date() {
    let letters = render_letters(&richer()).unwrap();
    let names: Vec<&str> = letters.iter().map(|l| l.file_name.as_str()).collect();
    assert!(
        names.contains(&"通报警示.docx") && names.contains(&"通报警示-宝丰县国资局.docx"),
        "{names:?}"
    );
    let county = letter_text(&letters, "通报警示.docx");
    assert!(
        county.contains("杨庄镇") && !county.contains("县国有投资公司"),
        "{county}"
    );
    let sasac = letter_text(&letters, "通报警示-宝丰县国资局.docx");
    assert!(
        sasac.contains("县国有投资公司") && !sasac.contains("杨庄镇"),
        "{sasac}"
    );
    assert!(
        sasac.contains("宝丰县国资局"),
        "signed by the 国资局: {sasac}"
    );
    assert!(
        !sasac.contains("中共宝丰县委全面依法治县委员会办公室"),
        "{sasac}"
    );
    for t in [&county, &sasac] {
        assert!(
            t.contains(
                "县委、县政府审定的2022年度法治宝丰（法治政府）建设考核结果（宝法治办〔2023〕5号）"
            ),
            "{t}"
        );
        assert!(
            t.contains("2023年3月1日") && !t.contains("【成文日期】"),
            "{t}"
        );
    }
}

#[test]
fn the_commendation_is_a_request_to_those_who_decide_naming_unit_and_principal() {
    let letters = render_letters(&richer()).unwrap();
    let t = letter_text(&letters, "通报表扬.docx");
    for want in [
        "关于提请对2022年度法治宝丰（法治政府）建设考核连续优秀单位及其主要负责人予以通报表扬的请示",
        "县委、县政府：",
        "现提请县委、县政府对以下单位及其主要负责人予以通报表扬",
        "1. 赵庄镇及其主要负责人王某某同志（连续2年考核优秀",
        // No principal on the roster: a marked blank, never a silent gap.
        "2. 县司法局及其主要负责人【主要负责人姓名（名册未登记）】同志",
        "妥否，请批示。",
    ] {
        assert!(t.contains(want), "{want}\n in {t}");
    }
    assert!(
        !t.contains("决定对以下单位予以通报表扬"),
        "the office does not decide: {t}"
    );
}

#[test]
fn the_quarterly_leaderboard_is_a_sheet_and_a_section_of_the_notice() {
    let report = richer();
    let mut book = read_workbook(render_xlsx(&report).unwrap());
    assert!(book.sheet_names().contains(&"季度擂台".to_string()));
    let rows: Vec<Vec<String>> = book
        .worksheet_range("季度擂台")
        .unwrap()
        .rows()
        .map(|r| r.iter().map(ToString::to_string).collect())
        .collect();
    assert_eq!(
        rows[2],
        [
            "第一季度",
            "乡镇（街道）、示范区、铁路地区办事处",
            "1",
            "t01",
            "赵庄镇",
            "11.5",
            "12",
            ""
        ]
    );
    assert!(
        rows.iter()
            .any(|r| r[4] == "肖旗乡" && r[7] == "未完整上报"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r[0] == "第二季度" && r[4] == "杨庄镇" && r[7] == "并列"),
        "{rows:?}"
    );

    let (_, pages) = pdf_text(&render_pdf(&report, &ExportOptions::default()).unwrap());
    let all = pages.concat();
    assert!(all.contains("党建引领·比拼四季季度擂台"), "{all}");
    assert!(
        all.contains("名单位第一季度第二季度第三季度第四季度")
            || all.contains("单位第一季度第二季度第三季度第四季度"),
        "{all}"
    );
    assert!(all.contains("赵庄镇11.50（1）11.00（1，并列）"), "{all}");
    assert!(all.contains("肖旗乡未报免"), "{all}");
}

/// Issue #13 §1: the exports of a new approval say it replaces the old
/// one (文号 of both) and carry the approval's digest.
#[test]
fn every_export_names_its_approval_its_digest_and_the_approval_it_replaces() {
    let report = richer();
    let mut book = read_workbook(render_xlsx(&report).unwrap());
    let info: Vec<String> = book
        .worksheet_range("审定信息")
        .unwrap()
        .cells()
        .map(|(_, _, d)| d.to_string())
        .collect();
    for want in [
        "宝法治办〔2023〕5号",
        report.approval_sha256.as_str(),
        "宝法治办〔2023〕1号",
        "2023年4月3日",
        "县司法局得分计算有误",
    ] {
        assert!(info.iter().any(|c| c == want), "{want} in {info:?}");
    }
    let (_, pages) = pdf_text(&render_pdf(&report, &ExportOptions::default()).unwrap());
    let all = pages.concat();
    assert!(
        all.contains(&squeeze(
            "本通报替代2022年度原考核结果通报（原审定文号宝法治办〔2023〕1号，2023年3月1日审定，已于2023年4月3日撤销审定，原因：县司法局得分计算有误），以本通报为准。"
        )),
        "{all}"
    );
    assert!(
        all.contains(&format!("审定汇总SHA-256：{}", report.approval_sha256)),
        "{all}"
    );
    // A draft without an approval carries neither.
    let mut book = read_workbook(render_xlsx(&sample()).unwrap());
    assert!(!book.sheet_names().contains(&"审定信息".to_string()));
    assert!(book.worksheet_range("等次汇总").is_ok());
}
