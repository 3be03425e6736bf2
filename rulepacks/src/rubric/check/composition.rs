//! `[composition]` (full marks, normalisation, caps, grade bands, the
//! excellent quota) and `[outcomes]` (the use of results).

use std::ops::Range;

use toml::Spanned;

use super::{Ids, Names, id, invalid, unknown_ref};
use crate::decimal::Points;
use crate::manifest::{Category, Composition, Grade, Outcomes};
use crate::rubric::error::{CompileError, IdKind, RefKind};
use crate::rubric::reader::{Ctx, Tbl};

pub(super) fn composition(
    ctx: &mut Ctx<'_>,
    mut t: Tbl<'_, '_>,
) -> Option<(Composition, Range<usize>)> {
    t.name = "[composition]".into();
    let full_marks = t.number(ctx, "full_marks", true);
    let normalise = t.boolean(ctx, "normalise", true);
    let bonus_cap = t.non_negative(ctx, "bonus_cap", true);
    let penalty_cap = t.non_negative(ctx, "penalty_cap", true);
    let bars = t.text(ctx, "serious_case_bars", true);
    let quota = t.number(ctx, "excellent_quota", false);
    let mut grades: Vec<(Spanned<String>, Grade)> = Vec::new();
    let mut ids = Ids::default();
    for mut g in t.tables(ctx, "grade") {
        let gid = id(ctx, &mut g);
        let name = g.text(ctx, "name", true);
        let min = g.non_negative(ctx, "min", true);
        g.finish(ctx);
        let (Some(gid), Some(name), Some(min)) = (gid, name, min) else {
            continue;
        };
        if !ids.insert(ctx, IdKind::Grade, &gid) {
            continue;
        }
        if let Some((_, prev)) = grades.last()
            && *min.get_ref() >= prev.min
        {
            ctx.err(
                &min.span(),
                CompileError::GradeBandsOutOfOrder {
                    grade: gid.get_ref().clone(),
                    min: Points(*min.get_ref()).to_string(),
                    previous: Points(prev.min).to_string(),
                },
            );
            continue;
        }
        grades.push((
            gid.clone(),
            Grade {
                id: gid.into_inner(),
                name: name.into_inner(),
                min: *min.get_ref(),
            },
        ));
    }
    let span = t.span.clone();
    t.finish(ctx);
    if grades.len() < 2 {
        invalid(
            ctx,
            &span,
            "grade",
            grades.len().to_string(),
            "至少两个等次 [[composition.grade]]（at least two grade bands）",
        );
        return None;
    }
    if let Some(f) = &full_marks
        && *f.get_ref() <= 0
    {
        invalid(
            ctx,
            &f.span(),
            "full_marks",
            Points(*f.get_ref()).to_string(),
            "大于 0 的分数（points > 0）",
        );
        return None;
    }
    if let Some(q) = &quota
        && !(0..=100).contains(q.get_ref())
    {
        invalid(
            ctx,
            &q.span(),
            "excellent_quota",
            Points(*q.get_ref()).to_string(),
            "0 到 1 之间的比例（a share from 0 to 1）",
        );
        return None;
    }
    let bars = bars?;
    match grades
        .iter()
        .position(|(g, _)| g.get_ref() == bars.get_ref())
    {
        None => {
            unknown_ref(ctx, RefKind::Grade, &bars);
            return None;
        }
        Some(i) if i + 1 == grades.len() => {
            invalid(
                ctx,
                &bars.span(),
                "serious_case_bars",
                format!("\"{}\"", bars.get_ref()),
                "最低等次以外的等次（a grade other than the lowest, so there is one to demote to）",
            );
            return None;
        }
        Some(_) => {}
    }
    Some((
        Composition {
            full_marks: *full_marks?.get_ref(),
            normalise: normalise?,
            bonus_cap: *bonus_cap?.get_ref(),
            penalty_cap: *penalty_cap?.get_ref(),
            serious_case_bars: bars.into_inner(),
            grades: grades.into_iter().map(|(_, g)| g).collect(),
            excellent_quota: quota.map(|q| *q.get_ref()).unwrap_or(0),
        },
        span,
    ))
}

pub(super) fn outcomes(
    ctx: &mut Ctx<'_>,
    mut t: Tbl<'_, '_>,
    names: &Names,
    cats: &[Category],
    comp: &Composition,
) -> Option<Outcomes> {
    t.name = "[outcomes]".into();
    let small = 0..=1000;
    let warn_bottom = t.integer(ctx, "warn_bottom", true, small.clone());
    let share = t.number(ctx, "warn_bottom_share", false);
    let regression = t.non_negative(ctx, "big_regression_points", true);
    let commend = t.integer(ctx, "commend_consecutive_excellent", true, small.clone());
    let recommend = t.integer(ctx, "recommend_township_consecutive_excellent", true, small);
    let copy_list = t.texts(ctx, "copy_list", true);
    let rec_cats = t.texts(ctx, "recommend_categories", false);
    let letter = t.texts(ctx, "letter_grades", false);
    let admonish = t.texts(ctx, "admonish_grades", false);
    t.finish(ctx);
    let mut ok = true;
    let mut refs = |ctx: &mut Ctx<'_>,
                    list: Option<Vec<Spanned<String>>>,
                    kind: RefKind|
     -> Option<Vec<String>> {
        let list = list?;
        for s in &list {
            let known = match kind {
                RefKind::Category => names.category(s.get_ref()).is_some(),
                _ => comp.grades.iter().any(|g| g.id == *s.get_ref()),
            };
            if !known {
                unknown_ref(ctx, kind, s);
                ok = false;
            }
        }
        Some(list.into_iter().map(Spanned::into_inner).collect())
    };
    let rec_cats = refs(ctx, rec_cats, RefKind::Category).unwrap_or_else(|| {
        cats.iter()
            .filter(|c| c.no == 1)
            .map(|c| c.id.clone())
            .collect()
    });
    let n = comp.grades.len();
    let letter = refs(ctx, letter, RefKind::Grade).unwrap_or_else(|| {
        comp.grades[n.saturating_sub(2)..]
            .iter()
            .map(|g| g.id.clone())
            .collect()
    });
    let admonish = refs(ctx, admonish, RefKind::Grade).unwrap_or_else(|| {
        comp.grades[n.saturating_sub(1)..]
            .iter()
            .map(|g| g.id.clone())
            .collect()
    });
    if let Some(q) = &share
        && !(0..=100).contains(q.get_ref())
    {
        invalid(
            ctx,
            &q.span(),
            "warn_bottom_share",
            Points(*q.get_ref()).to_string(),
            "0 到 1 之间的比例（a share from 0 to 1）",
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(Outcomes {
        warn_bottom: *warn_bottom?.get_ref() as u32,
        warn_bottom_share: share.map(|q| *q.get_ref()),
        big_regression_points: *regression?.get_ref(),
        commend_consecutive_excellent: *commend?.get_ref() as u32,
        recommend_township_consecutive_excellent: *recommend?.get_ref() as u32,
        recommend_categories: rec_cats,
        letter_grades: letter,
        admonish_grades: admonish,
        copy_list: copy_list?.into_iter().map(Spanned::into_inner).collect(),
    })
}
