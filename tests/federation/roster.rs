//! The roster import checks what it imports (RELIABILITY.md "import": a
//! name with full-width digits or ＋－, unknown units), through the real
//! binary with the year's pack published: a category the pack does not
//! know and a 考核主体 that is neither a unit nor a county-level assessor
//! are refused, nothing changed; a unit name with full-width digits is
//! stored as the node's template writes it, so the node's own unedited
//! template imports.

use super::*;

#[test]
fn a_roster_is_checked_against_the_pack_and_names_are_stored_as_the_template_writes_them() {
    let f = Federation::new(2, "satisfaction");
    let before = strings(
        &f.hub_db(),
        "SELECT id || ' ' || name FROM units ORDER BY id",
    );

    // Refused: an unknown category, an unknown assessor.
    let mut bad = f.units.clone();
    bad[0].category = "departments";
    bad[1].assessor = "县卫生健康委员会";
    let file = f.root().join("错误名册.csv");
    std::fs::write(&file, roster_csv(&bad)).unwrap();
    let o = kaohe(&[
        "hub",
        "--data-dir",
        s(&f.hub_dir),
        "--operator",
        OPERATOR,
        "units",
        "import",
        s(&file),
        "--year",
        "2022",
    ]);
    let err = all_output(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains(
            "第2行第3列「类别」：类别「departments」不是规则包 baofeng-2022 第 1 版 的考核类别"
        ),
        "{err}"
    );
    assert!(err.contains("government_department（"), "{err}");
    assert!(
        err.contains("第3行第6列「考核主体」：考核主体「县卫生健康委员会」既不是依法治县办"),
        "{err}"
    );
    assert_eq!(
        strings(
            &f.hub_db(),
            "SELECT id || ' ' || name FROM units ORDER BY id"
        ),
        before,
        "nothing changed"
    );

    // A name with full-width digits and a full-width minus.
    let mut wide = f.units.clone();
    wide[0].name = "宝丰县第３测试局－东区".into();
    f.import_roster(&wide);
    assert_eq!(
        strings(&f.hub_db(), "SELECT name FROM units WHERE id = 'u0001'"),
        ["宝丰县第3测试局-东区"]
    );

    // The node's own template, its name cells untouched, imports.
    let mut f = f;
    f.start_hub(Some(ANNUAL_NOW));
    f.sync();
    let template = f.root().join("模板.csv");
    f.node(&["template", "--year", "2022", "-o", s(&template)]);
    let text = std::fs::read_to_string(&template).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let ids = lines
        .iter()
        .position(|l| l.starts_with("unit_id,"))
        .unwrap_or_else(|| panic!("no id row in:\n{text}"));
    let column = lines[ids]
        .split(',')
        .position(|c| c == "sat_rate")
        .unwrap_or_else(|| panic!("no sat_rate column in:\n{text}"));
    let filled: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i <= ids || l.trim().is_empty() {
                return l.to_string();
            }
            let mut cells: Vec<String> = l.split(',').map(str::to_string).collect();
            cells[column] = "93".into();
            cells.join(",")
        })
        .collect();
    assert!(
        filled.iter().any(|l| l.contains("宝丰县第3测试局-东区")),
        "the template writes the stored name:\n{text}"
    );
    std::fs::write(&template, filled.join("\n") + "\n").unwrap();
    let out = f.node(&[
        "import",
        "--year",
        "2022",
        s(&template),
        "--operator",
        "王科员",
    ]);
    assert!(out.contains("已导入"), "{out}");
    f.finish();
}
