use super::*;

fn scope_fields() -> Vec<FieldSig> {
    let f = |id: &str, kind, method, has_default, choices: &[&str]| FieldSig {
        id: id.into(),
        kind,
        method,
        has_default,
        choices: choices.iter().map(|s| s.to_string()).collect(),
    };
    vec![
        f("a", FieldType::Count, 0, false, &[]),
        f("b", FieldType::Decimal, 0, true, &[]),
        f("ok", FieldType::Bool, 0, false, &[]),
        f("rating", FieldType::Choice, 0, false, &["好", "一般", "差"]),
        f("other", FieldType::Count, 1, false, &[]),
    ]
}

fn run(text: &str, want: Ty) -> Result<Formula, FormulaError> {
    let fields = scope_fields();
    let methods = vec!["daily".to_string(), "supervision".to_string()];
    let scope = Scope {
        fields: &fields,
        methods: &methods,
        method: 0,
    };
    compile_formula(text, want, &scope)
}

#[test]
fn precedence_and_nodes() {
    let f = run("a + b * 2 < 10 and not ok", Ty::Bool).expect("compiles");
    // and(<(+(a, *(b, 2)), 10), not(ok)) = 10 nodes
    assert_eq!(f.nodes, 10);
    let Expr::Binary(BinOp::And, l, _) = &f.expr else {
        panic!("{:?}", f.expr)
    };
    let Expr::Binary(BinOp::Lt, sum, _) = &**l else {
        panic!()
    };
    assert!(
        matches!(&**sum, Expr::Binary(BinOp::Add, _, r) if matches!(&**r, Expr::Binary(BinOp::Mul, _, _)))
    );
    // Parentheses are not nodes; a minus sign is.
    assert_eq!(run("((a))", Ty::Num).expect("ok").nodes, 1);
    assert_eq!(
        run("-2.5", Ty::Num).expect("ok").expr,
        Expr::Neg(Box::new(Expr::Num(250)))
    );
    // Subtraction is left-associative.
    let f = run("10 - 3 - 2", Ty::Num).expect("ok");
    assert!(
        matches!(&f.expr, Expr::Binary(BinOp::Sub, l, _) if matches!(&**l, Expr::Binary(BinOp::Sub, _, _)))
    );
}

#[test]
fn if_and_functions() {
    let f = run("if present(b) then b else min(a, 3, 4)", Ty::Num).expect("ok");
    assert_eq!(f.nodes, 1 + 1 + 1 + 4);
    run("clamp(a, 0, 5)", Ty::Num).expect("ok");
    run("1 + if ok then 2 else 3", Ty::Num).expect("if in operand position");
}

#[test]
fn choices() {
    let f = run("rating == \"差\"", Ty::Bool).expect("ok");
    assert_eq!(
        f.expr,
        Expr::Binary(
            BinOp::Eq,
            Box::new(Expr::Field(3)),
            Box::new(Expr::Choice(2))
        )
    );
    run("'好' != rating", Ty::Bool).expect("either side");
    run("rating == “一般”", Ty::Bool).expect("Chinese quotes");
    let e = run("rating == \"极差\"", Ty::Bool).unwrap_err();
    assert!(
        matches!(e.error, CompileError::UnknownChoice { .. }),
        "{e:?}"
    );
    let e = run("rating < \"差\"", Ty::Bool).unwrap_err();
    assert!(
        matches!(e.error, CompileError::TypeMismatch { .. }),
        "{e:?}"
    );
    let e = run("a == \"差\"", Ty::Bool).unwrap_err();
    assert!(
        matches!(e.error, CompileError::TypeMismatch { .. }),
        "{e:?}"
    );
}

#[test]
fn errors_have_offsets() {
    let e = run("a + ", Ty::Num).unwrap_err();
    assert!(matches!(e.error, CompileError::FormulaSyntax { .. }));
    assert_eq!(e.offset, 4);
    let e = run("a = 1", Ty::Bool).unwrap_err();
    assert_eq!(e.offset, 2);
    let e = run("a < 1 < 2", Ty::Bool).unwrap_err();
    assert!(matches!(e.error, CompileError::FormulaSyntax { .. }));
    let e = run("a + 2.555", Ty::Num).unwrap_err();
    assert!(matches!(e.error, CompileError::BadLiteral { .. }));
    assert_eq!(e.offset, 4);
    let e = run("zz > 1", Ty::Bool).unwrap_err();
    assert!(matches!(e.error, CompileError::UnknownField { .. }));
    let e = run("other > 1", Ty::Bool).unwrap_err();
    assert!(matches!(e.error, CompileError::ForeignMethodField { .. }));
    let e = run("a + ok", Ty::Num).unwrap_err();
    assert!(matches!(e.error, CompileError::TypeMismatch { .. }));
    assert_eq!(e.offset, 4);
    let e = run("a", Ty::Bool).unwrap_err();
    assert!(matches!(e.error, CompileError::TypeMismatch { .. }));
    let e = run("avg(a, 1)", Ty::Num).unwrap_err();
    assert!(matches!(e.error, CompileError::UnknownFunction { .. }));
    let e = run("min(a)", Ty::Num).unwrap_err();
    assert!(matches!(e.error, CompileError::WrongArity { .. }));
    let e = run("present(a)", Ty::Bool).unwrap_err();
    assert!(matches!(e.error, CompileError::PresentNeedsDefault { .. }));
    let e = run("if ok then 1 else false", Ty::Num).unwrap_err();
    assert!(matches!(e.error, CompileError::TypeMismatch { .. }));
    let e = run("a （ 1", Ty::Num).unwrap_err();
    assert!(matches!(e.error, CompileError::FormulaSyntax { .. }));
}

#[test]
fn depth_is_bounded() {
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    assert!(matches!(
        run(&deep, Ty::Num).unwrap_err().error,
        CompileError::FormulaSyntax { .. }
    ));
    let long = vec!["1"; 100].join(" + ");
    assert!(matches!(
        run(&long, Ty::Num).unwrap_err().error,
        CompileError::FormulaSyntax { .. }
    ));
    let ok = vec!["1"; 60].join(" + ");
    run(&ok, Ty::Num).expect("60 terms fit");
    let negs = format!("{}1", "-".repeat(10_000));
    assert!(run(&negs, Ty::Num).is_err());
}
