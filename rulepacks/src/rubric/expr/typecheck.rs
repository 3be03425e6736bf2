//! The type checker: the untyped tree to the checked [`Expr`], every name
//! resolved to a field index, every mistake with its offset.

use super::parse::{PExpr, PKind};
use super::{BinOp, Expr, FormulaError, Scope, Ty, syntax, type_name};
use crate::manifest::FieldType;
use crate::rubric::error::{CompileError, TypeName};

fn mismatch(at: &PExpr, context: &str, expected: Ty, found: Ty, scope: &Scope<'_>) -> FormulaError {
    FormulaError {
        offset: at.span.start,
        error: CompileError::TypeMismatch {
            context: context.to_string(),
            expected: type_name(expected, scope),
            found: type_name(found, scope),
        },
    }
}

fn resolve_field(name: &str, at: &PExpr, scope: &Scope<'_>) -> Result<usize, FormulaError> {
    let Some(i) = scope.fields.iter().position(|f| f.id == name) else {
        return Err(FormulaError {
            offset: at.span.start,
            error: CompileError::UnknownField {
                name: name.to_string(),
            },
        });
    };
    let f = &scope.fields[i];
    // A field whose own method is unknown has already been reported; do not
    // cascade into "field of another method" errors.
    if f.method != scope.method && f.method != usize::MAX {
        let m = |i: usize| scope.methods.get(i).cloned().unwrap_or_default();
        return Err(FormulaError {
            offset: at.span.start,
            error: CompileError::ForeignMethodField {
                field: name.to_string(),
                field_method: m(f.method),
                indicator_method: m(scope.method),
            },
        });
    }
    Ok(i)
}

fn want(e: &PExpr, t: Ty, context: &str, scope: &Scope<'_>) -> Result<Expr, FormulaError> {
    let (x, ty) = check(e, scope)?;
    if ty != t {
        return Err(mismatch(e, context, t, ty, scope));
    }
    Ok(x)
}

pub(super) fn check(e: &PExpr, scope: &Scope<'_>) -> Result<(Expr, Ty), FormulaError> {
    Ok(match &e.kind {
        PKind::Num(v) => (Expr::Num(*v), Ty::Num),
        PKind::Bool(b) => (Expr::Bool(*b), Ty::Bool),
        PKind::Text(_) => {
            return Err(FormulaError {
                offset: e.span.start,
                error: CompileError::TypeMismatch {
                    context: "文本只能与选项字段用 == 或 != 比较；此处".into(),
                    expected: TypeName::Number,
                    found: TypeName::Text,
                },
            });
        }
        PKind::Name(n) => {
            let i = resolve_field(n, e, scope)?;
            let ty = match scope.fields[i].kind {
                FieldType::Count | FieldType::Decimal => Ty::Num,
                FieldType::Bool => Ty::Bool,
                FieldType::Choice => Ty::Choice(i),
            };
            (Expr::Field(i), ty)
        }
        PKind::Neg(a) => (
            Expr::Neg(Box::new(want(a, Ty::Num, "`-` 的操作数", scope)?)),
            Ty::Num,
        ),
        PKind::Not(a) => (
            Expr::Not(Box::new(want(a, Ty::Bool, "`not` 的操作数", scope)?)),
            Ty::Bool,
        ),
        PKind::If(c, a, b) => {
            let c = want(c, Ty::Bool, "`if` 的条件", scope)?;
            let (xa, ta) = check(a, scope)?;
            let (xb, tb) = check(b, scope)?;
            if ta == Ty::Text {
                return Err(mismatch(a, "`then` 分支", Ty::Num, ta, scope));
            }
            if ta != tb {
                return Err(mismatch(
                    b,
                    "`else` 分支（须与 then 分支同类型）",
                    ta,
                    tb,
                    scope,
                ));
            }
            (Expr::If(Box::new(c), Box::new(xa), Box::new(xb)), ta)
        }
        PKind::Binary(op, a, b) => check_binary(*op, a, b, scope)?,
        PKind::Call(name, args) => check_call(e, name, args, scope)?,
    })
}

fn check_binary(
    op: BinOp,
    a: &PExpr,
    b: &PExpr,
    scope: &Scope<'_>,
) -> Result<(Expr, Ty), FormulaError> {
    let ctx = |side: &str| format!("`{}` 的{side}操作数", op.symbol());
    let bin = |x, y| Expr::Binary(op, Box::new(x), Box::new(y));
    Ok(match op {
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
            let x = want(a, Ty::Num, &ctx("左"), scope)?;
            let y = want(b, Ty::Num, &ctx("右"), scope)?;
            (bin(x, y), Ty::Num)
        }
        BinOp::And | BinOp::Or => {
            let x = want(a, Ty::Bool, &ctx("左"), scope)?;
            let y = want(b, Ty::Bool, &ctx("右"), scope)?;
            (bin(x, y), Ty::Bool)
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let x = want(a, Ty::Num, &ctx("左"), scope)?;
            let y = want(b, Ty::Num, &ctx("右"), scope)?;
            (bin(x, y), Ty::Bool)
        }
        BinOp::Eq | BinOp::Ne => {
            // A text literal takes its meaning from the choice field on the
            // other side.
            let (x, y) = match (&a.kind, &b.kind) {
                (PKind::Text(_), PKind::Text(_)) => {
                    return Err(mismatch(a, &ctx("左"), Ty::Num, Ty::Text, scope));
                }
                (PKind::Text(t), _) => {
                    let (y, ty) = check(b, scope)?;
                    (choice_literal(t, a, ty, b, scope)?, y)
                }
                (_, PKind::Text(t)) => {
                    let (x, tx) = check(a, scope)?;
                    (x, choice_literal(t, b, tx, a, scope)?)
                }
                _ => {
                    let (x, tx) = check(a, scope)?;
                    let (y, ty) = check(b, scope)?;
                    if tx != ty {
                        return Err(mismatch(b, &ctx("右"), tx, ty, scope));
                    }
                    (x, y)
                }
            };
            (bin(x, y), Ty::Bool)
        }
    })
}

fn choice_literal(
    text: &str,
    lit: &PExpr,
    other: Ty,
    other_expr: &PExpr,
    scope: &Scope<'_>,
) -> Result<Expr, FormulaError> {
    let Ty::Choice(f) = other else {
        return Err(FormulaError {
            offset: other_expr.span.start,
            error: CompileError::TypeMismatch {
                context: "与文本比较的操作数".into(),
                expected: TypeName::AnyChoice,
                found: type_name(other, scope),
            },
        });
    };
    let field = &scope.fields[f];
    match field.choices.iter().position(|c| c == text) {
        Some(i) => Ok(Expr::Choice(i as u32)),
        None => Err(FormulaError {
            offset: lit.span.start,
            error: CompileError::UnknownChoice {
                field: field.id.clone(),
                value: text.to_string(),
                choices: field.choices.join("、"),
            },
        }),
    }
}

fn check_call(
    e: &PExpr,
    name: &str,
    args: &[PExpr],
    scope: &Scope<'_>,
) -> Result<(Expr, Ty), FormulaError> {
    let arity = |expected: &'static str| FormulaError {
        offset: e.span.start,
        error: CompileError::WrongArity {
            function: name.to_string(),
            expected,
            found: args.len(),
        },
    };
    let nums = |args: &[PExpr]| -> Result<Vec<Expr>, FormulaError> {
        args.iter()
            .map(|a| want(a, Ty::Num, &format!("`{name}` 的参数"), scope))
            .collect()
    };
    Ok(match name {
        "min" | "max" => {
            if args.len() < 2 {
                return Err(arity("至少 2（at least 2）"));
            }
            let v = nums(args)?;
            (
                if name == "min" {
                    Expr::Min(v)
                } else {
                    Expr::Max(v)
                },
                Ty::Num,
            )
        }
        "clamp" => {
            if args.len() != 3 {
                return Err(arity("3"));
            }
            let mut v = nums(args)?.into_iter();
            match (v.next(), v.next(), v.next()) {
                (Some(x), Some(lo), Some(hi)) => (
                    Expr::Clamp(Box::new(x), Box::new(lo), Box::new(hi)),
                    Ty::Num,
                ),
                _ => return Err(arity("3")),
            }
        }
        "present" => {
            if args.len() != 1 {
                return Err(arity("1"));
            }
            let PKind::Name(f) = &args[0].kind else {
                return Err(syntax(
                    args[0].span.start,
                    "present() 的参数须为字段名（present() takes a field name）",
                ));
            };
            let i = resolve_field(f, &args[0], scope)?;
            if !scope.fields[i].has_default {
                return Err(FormulaError {
                    offset: args[0].span.start,
                    error: CompileError::PresentNeedsDefault { field: f.clone() },
                });
            }
            (Expr::Present(i), Ty::Bool)
        }
        _ => {
            return Err(FormulaError {
                offset: e.span.start,
                error: CompileError::UnknownFunction {
                    name: name.to_string(),
                },
            });
        }
    })
}
