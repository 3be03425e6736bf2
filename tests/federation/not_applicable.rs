//! Issue #13 §2 through the real binaries: an item marked not applicable
//! (不适用) in the node's template, with its reason, is imported, signed,
//! replayed by the hub and consolidated — the department's sheet converted
//! over its remaining 95 points, exactly as hand-worked fixture 18 of the
//! 2022 pack says (97.16), the reason printed with the result.

use kaohe_rulepacks::fixture::Fixture;

use super::*;

const ALL_METHODS: &str =
    "daily,supervision,file_review,online_check,field_inspection,satisfaction,bonus_penalty";

#[test]
fn an_item_marked_not_applicable_is_replayed_converted_and_printed_with_its_reason() {
    let mut f = Federation::new(1, ALL_METHODS);
    f.start_hub(Some(ANNUAL_NOW));
    f.sync();

    // The department's evidence is fixture 18's, typed into the node's own
    // CSV template: every field, and the reason in N2_5's 不适用理由 column.
    let rubric =
        kaohe_rulepacks::rubric::load(&crate::repo("rulepacks/baofeng-2022/rubric.toml")).unwrap();
    let m = &rubric.manifest;
    let fixture = Fixture::load(
        &crate::repo("rulepacks/baofeng-2022/fixtures/18-government-not-applicable-converted.toml"),
        m,
    )
    .unwrap();
    let template = f.root().join("模板.csv");
    f.node(&[
        "template",
        "--year",
        "2022",
        "--encoding",
        "utf8",
        "-o",
        s(&template),
    ]);
    let text = std::fs::read_to_string(&template).unwrap();
    let mut lines = text.lines();
    let (zh, ids) = (lines.next().unwrap(), lines.next().unwrap());
    assert!(
        zh.contains("不适用理由：N2_5 深入推进服务型行政执法建设"),
        "{zh}"
    );
    let ids: Vec<&str> = ids.split(',').collect();
    let mut filled = format!("{zh}\n{}\n", ids.join(","));
    for line in lines {
        let mut cells: Vec<String> = line.split(',').map(str::to_owned).collect();
        let round = kaohe_rulepacks::manifest::Round::ALL
            .into_iter()
            .find(|r| r.name_zh() == cells[2])
            .expect("a round");
        let values = &fixture
            .evidence
            .rounds
            .iter()
            .find(|(r, _)| *r == round)
            .expect("the fixture has the round")
            .1;
        for (c, id) in ids.iter().enumerate().skip(3) {
            if let Some(i) = m.field_index(id)
                && let Some(v) = values[i]
            {
                cells[c] = kaohe_node::value::display(&m.fields[i], v);
            }
            if *id == "na.N2_5" && round == kaohe_rulepacks::manifest::Round::Annual {
                cells[c] =
                    "本单位不承担行政执法职能，行政执法人员编制为0，无服务型行政执法事项".into();
            }
        }
        filled.push_str(&cells.join(","));
        filled.push('\n');
    }
    let file = f.root().join("证据.csv");
    std::fs::write(&file, filled).unwrap();
    let out = f.node(&["import", "--year", "2022", s(&file), "--operator", "王科员"]);
    assert!(out.contains("已导入"), "{out}");
    for round in ["Q1", "Q2", "Q3", "Q4"] {
        f.node(&[
            "submit",
            "--year",
            "2022",
            "--round",
            round,
            "--operator",
            "王科员",
        ]);
    }
    let out = f.submit();
    assert!(
        out.contains("N2_5 不适用"),
        "the node shows the mark: {out}"
    );
    assert_eq!(
        states(&f.entries()),
        BTreeMap::from([("accepted", 5)]),
        "the hub replayed every report, the mark included"
    );

    // The hub kept the mark with its reason and converted the sheet.
    let marks: String = f
        .hub_db()
        .query_row(
            "SELECT not_applicable FROM results WHERE method_id = 'field_inspection' AND is_current = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        marks,
        r#"{"N2_5":"本单位不承担行政执法职能，行政执法人员编制为0，无服务型行政执法事项"}"#
    );
    let results = f.hub(&["results", "--year", "2022"]);
    let ranking = section(&results, "【县政府组成部门、直属单位，部门管理机构】");
    assert!(
        ranking.contains("97.16") && ranking.contains("优秀"),
        "fixture 18's hand-worked total:\n{results}"
    );
    let marked = section(&results, "【不适用的考核内容】");
    for want in [
        "u0001",
        "N2_5 深入推进服务型行政执法建设",
        "5.00",
        "本单位不承担行政执法职能",
        "95.00",
    ] {
        assert!(marked.contains(want), "missing {want}:\n{results}");
    }
    f.finish();
}
