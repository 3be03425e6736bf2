//! Compile errors: every mistake in a rubric is reported with its file,
//! line and column, all of them in file order.

use super::*;

/// Asserts the rubric fails with exactly one error matching `pred`, at
/// `at` (line, column) when given.
fn one(src: &str, at: Option<(usize, usize)>, pred: impl Fn(&CompileError) -> bool) -> String {
    let d = errors_of(src);
    assert_eq!(d.0.len(), 1, "one error expected:\n{}", d.render());
    let e = &d.0[0];
    assert!(pred(&e.error), "unexpected error: {e}");
    if let Some((line, col)) = at {
        assert_eq!((e.line, e.column), (line, col), "{e}");
    }
    let text = e.to_string();
    assert!(text.starts_with("t.toml:"), "{text}");
    assert!(
        text.contains('（') && text.contains('）'),
        "Chinese with English beside: {text}"
    );
    text
}

#[test]
fn mini_compiles() {
    let r = mini();
    assert_eq!(r.manifest.indicators.len(), 8);
    assert_eq!(r.manifest.clause_count(), 6);
}

#[test]
fn toml_syntax() {
    let src = mini_src() + "\noops = = 1\n";
    let at = pos(&src, "= = 1", 0);
    one(&src, Some((at.0, at.1 + 2)), |e| {
        matches!(e, CompileError::Toml { .. })
    });
}

#[test]
fn unknown_key() {
    let src = edit(
        &mini_src(),
        "name = \"党的领导\"\n",
        "name = \"党的领导\"\nnmae = \"x\"\n",
    );
    let at = pos(&src, "nmae", 0);
    let t = one(
        &src,
        Some(at),
        |e| matches!(e, CompileError::UnknownKey { key, .. } if key == "nmae"),
    );
    assert!(t.contains("name"), "lists the allowed keys: {t}");
}

#[test]
fn unknown_key_after_grade_header_belongs_to_the_grade() {
    // The trap the first RUBRIC.md draft had: a composition key written
    // after [[composition.grade]] belongs to the last grade.
    let src = edit(&mini_src(), "excellent_quota = 0.3\n", "") + "";
    let src = edit(&src, "  min = 0\n", "  min = 0\nexcellent_quota = 0.3\n");
    one(
        &src,
        None,
        |e| matches!(e, CompileError::UnknownKey { key, .. } if key == "excellent_quota"),
    );
}

#[test]
fn missing_key() {
    let src = edit(&mini_src(), "issuer = \"测试办公室\"\n", "");
    one(
        &src,
        Some(pos(&src, "[pack]", 0)),
        |e| matches!(e, CompileError::MissingKey { key, .. } if key == "issuer"),
    );
}

#[test]
fn wrong_type() {
    let src = edit(&mini_src(), "year = 2022", "year = \"2022\"");
    one(
        &src,
        Some(pos(&src, "\"2022\"", 0)),
        |e| matches!(e, CompileError::WrongType { key, .. } if key == "year"),
    );
}

#[test]
fn invalid_value() {
    let src = edit(
        &mini_src(),
        "assessor = \"township\"",
        "assessor = \"town_office\"",
    );
    one(
        &src,
        Some(pos(&src, "\"town_office\"", 0)),
        |e| matches!(e, CompileError::InvalidValue { key, .. } if key == "assessor"),
    );
}

#[test]
fn invalid_id() {
    let src = edit(&mini_src(), "id = \"L1\"", "id = \"1L\"");
    one(
        &src,
        Some(pos(&src, "\"1L\"", 0)),
        |e| matches!(e, CompileError::InvalidId { id, .. } if id == "1L"),
    );
    let src = edit(&mini_src(), "id = \"awards\"", "id = \"min\"");
    let d = errors_of(&src);
    assert!(
        d.errors()
            .any(|e| matches!(e, CompileError::InvalidId { id, .. } if id == "min"))
    );
}

#[test]
fn duplicate_id() {
    let src = edit(&mini_src(), "id = \"N2\"\n", "id = \"N1\"\n");
    let first = pos(&src, "id = \"N1\"", 0).0;
    one(
        &src,
        Some(pos(&src, "\"N1\"", 1)),
        |e| matches!(e, CompileError::DuplicateId { id, first_line, .. } if id == "N1" && *first_line == first),
    );
    // Clause ids are unique across the pack.
    let src = edit(&mini_src(), "id = \"P1a\"", "id = \"B1a\"");
    one(
        &src,
        None,
        |e| matches!(e, CompileError::DuplicateId { id, .. } if id == "B1a"),
    );
}

#[test]
fn unknown_group_method_category_grade() {
    use kaohe_rulepacks::rubric::error::RefKind;
    let is = |k: RefKind, want: &'static str| move |e: &CompileError| matches!(e, CompileError::UnknownReference { kind, id } if *kind == k && id == want);
    let src = edit(
        &mini_src(),
        "group = \"N\"\nname = \"执法力量向一线倾斜\"",
        "group = \"X\"\nname = \"执法力量向一线倾斜\"",
    );
    one(&src, Some(pos(&src, "\"X\"", 0)), is(RefKind::Group, "X"));
    let src = edit(
        &mini_src(),
        "method = \"bp\"\ndefault = 0\n\n[[field]]\nid = \"criticised\"",
        "method = \"bpx\"\ndefault = 0\n\n[[field]]\nid = \"criticised\"",
    );
    one(
        &src,
        Some(pos(&src, "\"bpx\"", 0)),
        is(RefKind::Method, "bpx"),
    );
    let src = edit(&mini_src(), "dept = 30 }", "dpt = 30 }");
    one(
        &src,
        Some(pos(&src, "dpt", 0)),
        is(RefKind::Category, "dpt"),
    );
    let src = edit(
        &mini_src(),
        "serious_case_bars = \"excellent\"",
        "serious_case_bars = \"best\"",
    );
    one(
        &src,
        Some(pos(&src, "\"best\"", 0)),
        is(RefKind::Grade, "best"),
    );
}

#[test]
fn bad_literal_in_toml_and_in_formula() {
    let src = edit(&mini_src(), "points = 40", "points = 40.125");
    one(&src, Some(pos(&src, "40.125", 0)), |e| {
        matches!(e, CompileError::BadLiteral { .. })
    });
    // Inside a formula the column points at the literal in the file.
    let src = edit(&mini_src(), "- 0.6) * 200", "- 0.625) * 200");
    one(
        &src,
        Some(pos(&src, "0.625", 0)),
        |e| matches!(e, CompileError::BadLiteral { text, .. } if text == "0.625"),
    );
}

#[test]
fn category_points_exceed_full_marks() {
    let src = edit(&mini_src(), "points = 40", "points = 41");
    let d = errors_of(&src);
    // town and village both reach 101.
    assert_eq!(d.0.len(), 2, "{}", d.render());
    assert!(
        d.errors().all(
            |e| matches!(e, CompileError::CategoryPointsExceed { total, .. } if total == "101")
        )
    );
    assert_eq!((d.0[0].line, d.0[0].column), pos(&src, "\"town\"", 0));
}

#[test]
fn category_without_indicators() {
    let src = mini_src()
        + "\n[[category]]\nid = \"empty\"\nno = 11\nname = \"空\"\ngroups = [\"B\"]\nranked = false\nassessor = \"county_unit\"\n";
    one(&src, Some(pos(&src, "\"empty\"", 0)), |e| {
        matches!(e, CompileError::CategoryWithoutIndicators { .. })
    });
}

#[test]
fn grade_bands_out_of_order() {
    let src = edit(&mini_src(), "min = 80", "min = 95");
    one(
        &src,
        Some(pos(&src, "95", 0)),
        |e| matches!(e, CompileError::GradeBandsOutOfOrder { grade, .. } if grade == "good"),
    );
    let src = edit(&mini_src(), "min = 80", "min = 90");
    one(&src, None, |e| {
        matches!(e, CompileError::GradeBandsOutOfOrder { .. })
    });
}

#[test]
fn formula_syntax_error_maps_to_file_position() {
    let src = edit(
        &mini_src(),
        "when = \"q_sessions < 1\"",
        "when = \"q_sessions < < 1\"",
    );
    let at = pos(&src, "< < 1", 0);
    let t = one(
        &src,
        Some((at.0, at.1 + 2)),
        |e| matches!(e, CompileError::FormulaSyntax { column, .. } if *column == 14),
    );
    assert!(t.contains("公式第 14 列"), "{t}");
    // A string with escapes cannot be mapped: the error is at the string,
    // and the message still gives the column inside the formula.
    let src = edit(
        &mini_src(),
        "when = \"not has_plan\"",
        "when = \"not has_plan \\u0026\"",
    );
    let e = &errors_of(&src).0[0];
    assert_eq!((e.line, e.column), pos(&src, "\"not has_plan \\u0026\"", 0));
    assert!(
        matches!(e.error, CompileError::FormulaSyntax { column: 14, .. }),
        "{e}"
    );
}

#[test]
fn unknown_field() {
    let src = edit(&mini_src(), "\"awards * 2\"", "\"award * 2\"");
    one(
        &src,
        Some(pos(&src, "award * 2", 0)),
        |e| matches!(e, CompileError::UnknownField { name } if name == "award"),
    );
}

#[test]
fn field_of_another_method() {
    let src = edit(
        &mini_src(),
        "when = \"q_sessions < 1\"",
        "when = \"has_plan\"",
    );
    one(&src, Some(pos(&src, "has_plan\"", 1)), |e| {
        matches!(e, CompileError::ForeignMethodField { field, field_method, indicator_method }
            if field == "has_plan" && field_method == "review" && indicator_method == "daily")
    });
}

#[test]
fn type_mismatch() {
    let src = edit(
        &mini_src(),
        "when = \"not has_plan\"",
        "when = \"has_plan + 1\"",
    );
    one(&src, Some(pos(&src, "has_plan + 1", 0)), |e| {
        matches!(e, CompileError::TypeMismatch { .. })
    });
    // A number where a bool is needed.
    let src = edit(&mini_src(), "when = \"not has_plan\"", "when = \"1\"");
    one(&src, None, |e| {
        matches!(e, CompileError::TypeMismatch { .. })
    });
}

#[test]
fn unknown_choice() {
    let src = edit(&mini_src(), "q_rating == \"差\"", "q_rating == \"极差\"");
    one(
        &src,
        Some(pos(&src, "\"极差\"", 0)),
        |e| matches!(e, CompileError::UnknownChoice { value, .. } if value == "极差"),
    );
}

#[test]
fn unknown_function_and_arity() {
    let src = edit(&mini_src(), "clamp((", "clip((");
    one(
        &src,
        Some(pos(&src, "clip", 0)),
        |e| matches!(e, CompileError::UnknownFunction { name } if name == "clip"),
    );
    let src = edit(&mini_src(), "* 200, 0, 40)", "* 200, 0)");
    one(&src, Some(pos(&src, "clamp", 0)), |e| {
        matches!(e, CompileError::WrongArity { found: 2, .. })
    });
}

#[test]
fn present_needs_a_default() {
    let src = edit(
        &mini_src(),
        "when = \"avg_score < 60\"",
        "when = \"present(staff_total)\"",
    );
    one(&src, Some(pos(&src, "staff_total)", 0)), |e| {
        matches!(e, CompileError::PresentNeedsDefault { .. })
    });
}

#[test]
fn key_not_for_kind() {
    let src = edit(
        &mini_src(),
        "score = \"if staff_total",
        "flag = \"serious_case\"\nscore = \"if staff_total",
    );
    one(
        &src,
        Some(pos(&src, "\"serious_case\"\nscore", 0)),
        |e| matches!(e, CompileError::KeyNotForKind { key, .. } if key == "flag"),
    );
    let src = edit(
        &mini_src(),
        "type = \"bool\"\nmethod = \"review\"",
        "type = \"bool\"\nmax = 3\nmethod = \"review\"",
    );
    one(
        &src,
        None,
        |e| matches!(e, CompileError::KeyNotForKind { key, .. } if key == "max"),
    );
}

#[test]
fn rule_shape() {
    let src = edit(
        &mini_src(),
        "method = \"review\"\n  [[indicator.deduction]]\n  id = \"N2a\"",
        "method = \"review\"\nscore = 30\n  [[indicator.deduction]]\n  id = \"N2a\"",
    );
    one(
        &src,
        None,
        |e| matches!(e, CompileError::RuleShape { indicator, .. } if indicator == "N2"),
    );
    let src = edit(&mini_src(), "when = \"major\"\n", "");
    one(
        &src,
        None,
        |e| matches!(e, CompileError::RuleShape { indicator, .. } if indicator == "F2"),
    );
}

#[test]
fn category_lacks_group() {
    let src = edit(
        &mini_src(),
        "points = 40",
        "points = { default = 40, dept = 30 }",
    );
    one(
        &src,
        Some(pos(&src, "dept = 30 }\nmethod = \"review\"\nscore", 0)),
        |e| matches!(e, CompileError::CategoryLacksGroup { category, .. } if category == "dept"),
    );
}

#[test]
fn too_many_methods() {
    let mut src = mini_src();
    for i in 0..30 {
        src += &format!("\n[[method]]\nid = \"m{i}\"\nname = \"方式{i}\"\n");
    }
    one(&src, None, |e| {
        matches!(e, CompileError::TooMany { max: 32, .. })
    });
}

#[test]
fn all_errors_are_reported_in_file_order() {
    let src = edit(&mini_src(), "year = 2022", "year = 1999");
    let src = edit(&src, "\"awards * 2\"", "\"award * 2\"");
    let src = edit(&src, "min = 80", "min = 95");
    let d = errors_of(&src);
    assert_eq!(d.0.len(), 3, "{}", d.render());
    assert!(
        d.0.windows(2)
            .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column))
    );
    assert!(
        d.render().contains("    | "),
        "render shows the source line"
    );
}
