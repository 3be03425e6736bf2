//! `kaohe pack check` and `kaohe pack eval` through their library entry.

use super::*;
use kaohe_rulepacks::cli::{Command, eval_report, run};
use kaohe_rulepacks::fixture::Evidence;

#[test]
fn check_fails_on_errors_and_passes_on_a_good_rubric() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, edit(&mini_src(), "min = 80", "min = 95")).expect("write");
    let e = run(Command::Check { rubric: bad }).expect_err("fails");
    assert!(e.to_string().contains("1 处错误"), "{e}");
    run(Command::Check {
        rubric: data("mini/rubric.toml"),
    })
    .expect("passes");
    let report = kaohe_rulepacks::cli::check_report(&mini());
    assert!(
        report.contains("检查通过") && report.contains("town"),
        "{report}"
    );
}

#[test]
fn eval_prints_the_chinese_score_sheet() {
    let r = mini();
    let ev = Evidence::load(&data("mini/fixtures/02-dept-normalise.toml"), &r.manifest)
        .expect("evidence");
    let (text, ok) = eval_report(&Interpreter::new(&r), &ev);
    assert!(ok);
    for want in [
        "考核评分表",
        "换算得分（converted）    20.83",
        "总分（total）",
        "12.83",
        "不合格（fail）",
        "未制定年度工作计划",
        "L1b",
    ] {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }
    run(Command::Eval {
        rubric: data("mini/rubric.toml"),
        evidence: data("mini/fixtures/02-dept-normalise.toml"),
    })
    .expect("eval");
    let e = run(Command::Eval {
        rubric: data("mini/rubric.toml"),
        evidence: data("mini/fixtures/04-error-missing-field.toml"),
    });
    assert!(e.is_err(), "evaluation errors exit non-zero");
}

#[test]
fn eval_prints_not_applicable_items_their_reasons_and_why_a_formula_lost_points() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("baofeng-2022");
    let r = rubric::load(&path.join("rubric.toml")).expect("rubric");
    let ev = Evidence::load(
        &path.join("fixtures/18-government-not-applicable-converted.toml"),
        &r.manifest,
    )
    .expect("evidence");
    let (text, ok) = eval_report(&Interpreter::new(&r), &ev);
    assert!(ok, "{text}");
    for want in [
        "N2_5",
        "不适用（not applicable）：本单位不承担行政执法职能，行政执法人员编制为0，无服务型行政执法事项",
        "失分理由（why points were lost）：满意率 96.50%，按“10 −（100 − 满意率）× 0.2”计得 9.30 分，失 0.70 分",
        "95（N2_5 不适用，不计入",
        "97.16",
    ] {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }
}
