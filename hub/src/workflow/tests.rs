use kaohe_rulepacks::manifest::{ReviewRuns, Schedule};

use super::*;
use crate::calendar::{Calendar, format_date_zh};
use crate::consolidate::Assessment;
use crate::lock::in_force;
use jiff::civil::date;

fn schedule(runs: ReviewRuns) -> Schedule {
    let mut s = crate::consolidate::golden::county()
        .manifest()
        .schedule
        .clone();
    s.review_request_runs = runs;
    s.verification_days = 5;
    s.review_request_days = 5;
    s
}

#[test]
fn deadlines_skip_the_national_day_holiday_and_count_the_make_up_workday() {
    let cal = Calendar::builtin();
    // Notified Friday 2024-09-27; 2024-09-29 (Sun) is a make-up workday,
    // 10-01..10-07 the National Day holiday, 10-12 (Sat) a make-up workday.
    let d = deadlines(&cal, &schedule(ReviewRuns::After), date(2024, 9, 27)).unwrap();
    assert_eq!(d.verification, date(2024, 10, 10));
    assert_eq!(format_date_zh(d.verification), "2024年10月10日（星期四）");
    assert_eq!(d.review_request, date(2024, 10, 16));
    let d = deadlines(&cal, &schedule(ReviewRuns::Alongside), date(2024, 9, 27)).unwrap();
    assert_eq!(d.review_request, d.verification);
}

#[test]
fn an_approval_recognises_the_consolidation_it_approved_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::db::create(dir.path()).unwrap();
    let mut c = crate::consolidate::golden::county().consolidate();
    // Approval refuses unassessed units; what is approved here is the rest.
    c.units
        .retain(|u| !matches!(u.assessment, Assessment::NotAssessed { .. }));
    let actor = Actor::new("tester", "2023-01-10T02:00:00Z".parse().unwrap());
    let digest = approve(&mut conn, &c, "宝法治办〔2023〕1号", &actor).unwrap();
    let record = in_force(&conn, c.year).unwrap().unwrap();
    assert_eq!(record.doc_number, "宝法治办〔2023〕1号");
    assert_eq!(record.consolidation_sha256, digest);
    assert!(record.approves(&c.sha256()));

    // One total changed after approval: no longer what was approved.
    let mut changed = c.clone();
    let scored = changed
        .units
        .iter_mut()
        .find_map(|u| match &mut u.assessment {
            Assessment::Assessed(s) => Some(s),
            _ => None,
        })
        .unwrap();
    scored.total += 1;
    assert!(!record.approves(&changed.sha256()));
    assert_eq!(in_force(&conn, c.year + 1).unwrap(), None);
}

#[test]
fn a_deadline_beyond_the_calendar_is_an_error_not_a_guess() {
    let cal = Calendar::builtin();
    let last = cal.years().max().unwrap();
    let err = deadlines(
        &cal,
        &schedule(ReviewRuns::After),
        date(last as i16, 12, 28),
    )
    .unwrap_err();
    assert!(!err.to_string().is_empty());
}
