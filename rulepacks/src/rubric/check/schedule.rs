//! `[schedule]`: the feedback workflow's working days and the report
//! deadline of every round.

use super::{invalid, one_of};
use crate::manifest::{Deadline, ReviewRuns, Round, RoundDeadlines, Schedule};
use crate::rubric::reader::{Ctx, Tbl};

pub(super) fn schedule(ctx: &mut Ctx<'_>, mut t: Tbl<'_, '_>) -> Option<Schedule> {
    t.name = "[schedule]".into();
    let days = 0..=366;
    let verification_days = t.integer(ctx, "verification_days", true, days.clone());
    let review_request_days = t.integer(ctx, "review_request_days", true, days.clone());
    let runs = t.text(ctx, "review_request_runs", true);
    let review_decision_days = t.integer(ctx, "review_decision_days", true, days);
    let deadlines = t.table(ctx, "round_deadline", true);
    t.finish(ctx);
    let runs = runs.and_then(|r| {
        one_of(
            ctx,
            "review_request_runs",
            &r,
            |s| match s {
                "alongside" => Some(ReviewRuns::Alongside),
                "after" => Some(ReviewRuns::After),
                _ => None,
            },
            "alongside、after",
        )
    });
    let mut dl = deadlines?;
    dl.name = "[schedule] round_deadline".into();
    let mut get = |ctx: &mut Ctx<'_>, round: Round| -> Option<Deadline> {
        let key = round.id();
        let v = dl.text(ctx, key, true)?;
        let parsed = v.get_ref().split_once('-').and_then(|(m, d)| {
            let (m, d): (u8, u8) = (m.parse().ok()?, d.parse().ok()?);
            let max = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
                .get(usize::from(m).checked_sub(1)?)?;
            (v.get_ref().len() == 5 && d >= 1 && d <= *max).then_some((m, d))
        });
        let Some((month, day)) = parsed else {
            invalid(
                ctx,
                &v.span(),
                key,
                format!("\"{}\"", v.get_ref()),
                "\"MM-DD\" 格式的日期，不含 02-29（a \"MM-DD\" date; 02-29 is not allowed）",
            );
            return None;
        };
        // The first such date after the round's period ends.
        let end = match round {
            Round::Q1 => (3, 31),
            Round::Q2 => (6, 30),
            Round::Q3 => (9, 30),
            Round::Q4 | Round::Annual => (12, 31),
        };
        Some(Deadline {
            month,
            day,
            next_year: (month, day) <= end,
        })
    };
    let (q1, q2, q3, q4, annual) = (
        get(ctx, Round::Q1),
        get(ctx, Round::Q2),
        get(ctx, Round::Q3),
        get(ctx, Round::Q4),
        get(ctx, Round::Annual),
    );
    dl.finish(ctx);
    Some(Schedule {
        verification_days: *verification_days?.get_ref() as u32,
        review_request_days: *review_request_days?.get_ref() as u32,
        review_request_runs: runs?,
        review_decision_days: *review_decision_days?.get_ref() as u32,
        round_deadlines: RoundDeadlines {
            q1: q1?,
            q2: q2?,
            q3: q3?,
            q4: q4?,
            annual: annual?,
        },
    })
}
