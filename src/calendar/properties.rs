//! The calendar's laws, over random starts and spans: nights, weekends, the 2026
//! holidays and make-up days in Shanghai, and both DST changes in Berlin and New York
//! with opening hours that cross them.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc, Weekday};
use proptest::prelude::*;

use super::tests::{local, shanghai};
use super::*;

const ALL_WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn calendars() -> Vec<Calendar> {
    vec![
        shanghai(),
        // Night hours across both of Berlin's changes (02:00 → 03:00, 03:00 → 02:00).
        Calendar::new(
            chrono_tz::Europe::Berlin,
            &ALL_WEEK[..6],
            &[
                (hm(1, 0), hm(4, 0)),
                (hm(9, 0), hm(12, 0)),
                (hm(13, 30), hm(18, 0)),
            ],
            [],
            [],
            [],
        )
        .unwrap(),
        // New York changes at 02:00 on a Sunday; this desk is open then.
        Calendar::new(
            chrono_tz::America::New_York,
            &ALL_WEEK,
            &[(hm(0, 30), hm(3, 30)), (hm(8, 0), hm(17, 0))],
            [],
            [],
            [],
        )
        .unwrap(),
        // Around the clock: 23- and 25-hour days.
        Calendar::new(
            chrono_tz::Europe::Berlin,
            &ALL_WEEK,
            &[(hm(0, 0), hm(0, 0))],
            [],
            [],
            [],
        )
        .unwrap(),
    ]
}

/// Moments near the interesting days, in UTC.
fn anchors() -> Vec<DateTime<Utc>> {
    let sh = chrono_tz::Asia::Shanghai;
    let berlin = chrono_tz::Europe::Berlin;
    let ny = chrono_tz::America::New_York;
    vec![
        local(sh, "2026-01-01 12:00"),
        local(sh, "2026-02-14 12:00"),
        local(sh, "2026-02-28 12:00"),
        local(sh, "2026-05-08 12:00"),
        local(sh, "2026-09-20 12:00"),
        local(sh, "2026-10-05 12:00"),
        local(sh, "2026-12-31 12:00"),
        local(berlin, "2026-03-29 01:30"),
        local(berlin, "2026-10-25 02:00"),
        local(ny, "2026-03-08 01:30"),
        local(ny, "2026-11-01 01:00"),
    ]
}

fn start() -> impl Strategy<Value = DateTime<Utc>> {
    let uniform = (local(chrono_tz::UTC, "2025-06-01 00:00").timestamp()
        ..local(chrono_tz::UTC, "2027-02-01 00:00").timestamp())
        .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap());
    let near = (0..anchors().len(), -4 * 86_400_i64..4 * 86_400)
        .prop_map(|(i, offset)| anchors()[i] + TimeDelta::seconds(offset));
    // Whole minutes half of the time: openings and closings are hit exactly.
    prop_oneof![
        uniform,
        near.clone(),
        near.prop_map(|t| t - TimeDelta::seconds(t.timestamp() % 60))
    ]
}

fn calendar() -> impl Strategy<Value = usize> {
    0..calendars().len()
}

/// A closing time: the end of one of the openings of its day or the day before.
fn is_closing(cal: &Calendar, t: DateTime<Utc>) -> bool {
    let day = cal.local_date(t);
    [day.pred_opt().unwrap(), day]
        .into_iter()
        .flat_map(|d| cal.day_openings(d).collect::<Vec<_>>())
        .any(|(_, e)| e == t)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn business_minutes_land_in_working_time_or_on_a_closing(
        c in calendar(), s in start(), minutes in 0_i64..200 * 60,
    ) {
        let cal = &calendars()[c];
        let due = cal.add(s, Span::Minutes(minutes), ClockKind::Business);
        prop_assert!(cal.is_working_time(due) || is_closing(cal, due), "{due}");
        prop_assert_eq!(cal.working_duration(s, due), TimeDelta::minutes(minutes));
        prop_assert!(due >= cal.next_working_time(s));
    }

    #[test]
    fn business_minutes_add_up(
        c in calendar(), s in start(), a in 0_i64..60 * 60, b in 1_i64..60 * 60,
    ) {
        let cal = &calendars()[c];
        let once = cal.add(s, Span::Minutes(a + b), ClockKind::Business);
        let twice = cal.add(cal.add(s, Span::Minutes(a), ClockKind::Business), Span::Minutes(b), ClockKind::Business);
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn longer_spans_end_no_earlier(
        c in calendar(), s in start(), a in 0_i64..100 * 60, extra in 0_i64..100 * 60, days in 0_i64..40, more in 0_i64..10,
    ) {
        let cal = &calendars()[c];
        for clock in [ClockKind::Business, ClockKind::Calendar] {
            prop_assert!(cal.add(s, Span::Minutes(a), clock) <= cal.add(s, Span::Minutes(a + extra), clock));
            prop_assert!(cal.add(s, Span::Days(days), clock) <= cal.add(s, Span::Days(days + more), clock));
        }
    }

    #[test]
    fn working_days_keep_the_time_of_day(c in calendar(), s in start(), days in 0_i64..40) {
        let cal = &calendars()[c];
        let first = cal.next_working_time(s);
        let due = cal.add(s, Span::Days(days), ClockKind::Business);
        prop_assert!(cal.is_working_time(due), "{due}");
        prop_assert!(cal.is_working_day(cal.local_date(due)));
        let tz = cal.tz();
        let wanted = first.with_timezone(&tz).naive_local();
        let target = due.with_timezone(&tz).date_naive().and_time(wanted.time());
        if let LocalResult::Single(_) = tz.from_local_datetime(&target) {
            prop_assert_eq!(due.with_timezone(&tz).naive_local(), target);
        }
        // Exactly `days` working days lie after the first one, up to the due day.
        let counted = cal.local_date(first).iter_days().skip(1)
            .take_while(|d| *d <= cal.local_date(due))
            .filter(|d| cal.is_working_day(*d))
            .count();
        prop_assert_eq!(counted as i64, days);
    }

    #[test]
    fn calendar_days_keep_the_local_time(c in calendar(), s in start(), days in 0_i64..400) {
        let cal = &calendars()[c];
        let tz = cal.tz();
        let due = cal.add(s, Span::Days(days), ClockKind::Calendar);
        let start_local = s.with_timezone(&tz).naive_local();
        let target = start_local + TimeDelta::days(days);
        match tz.from_local_datetime(&target) {
            LocalResult::Single(t) => prop_assert_eq!(due, t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => prop_assert_eq!(due, first.with_timezone(&Utc)),
            // Skipped by a jump forward: the jump, within the hour after.
            LocalResult::None => {
                prop_assert!(tz.from_local_datetime(&(target + TimeDelta::hours(1))).earliest().is_some());
                prop_assert!(due.with_timezone(&tz).naive_local() > target);
                prop_assert!(due.with_timezone(&tz).naive_local() <= target + TimeDelta::hours(1));
            }
        }
        prop_assert_eq!(cal.add(s, Span::Minutes(days), ClockKind::Calendar), s + TimeDelta::minutes(days));
    }

    #[test]
    fn fractions_run_from_the_first_working_time_to_due(
        c in calendar(), s in start(), minutes in 0_i64..100 * 60, p in 0_u32..=100, q in 0_u32..=100,
    ) {
        let cal = &calendars()[c];
        let b = ClockKind::Business;
        let due = cal.add(s, Span::Minutes(minutes), b);
        prop_assert_eq!(cal.fraction(s, due, 100, b), due);
        prop_assert_eq!(cal.fraction(s, due, 0, b), cal.next_working_time(s));
        let (lo, hi) = (p.min(q), p.max(q));
        let (x, y) = (cal.fraction(s, due, lo, b), cal.fraction(s, due, hi, b));
        prop_assert!(x <= y && y <= due);
        // Measured in working time: p% of the working minutes have passed.
        let worked = cal.working_duration(s, x).num_seconds();
        prop_assert_eq!(worked, minutes * 60 * i64::from(lo) / 100);
        let (cs, cd) = (s, s + TimeDelta::minutes(minutes));
        prop_assert_eq!(cal.fraction(cs, cd, 0, ClockKind::Calendar), cs);
        prop_assert_eq!(cal.fraction(cs, cd, 100, ClockKind::Calendar), cd);
    }

    #[test]
    fn next_working_time_is_the_first_working_moment(c in calendar(), s in start()) {
        let cal = &calendars()[c];
        let next = cal.next_working_time(s);
        prop_assert!(next >= s);
        prop_assert!(cal.is_working_time(next));
        prop_assert_eq!(next == s, cal.is_working_time(s));
        prop_assert_eq!(cal.working_duration(s, next), TimeDelta::zero());
    }

    #[test]
    fn next_weekly_is_the_next_such_local_time(
        c in calendar(), s in start(), wd in 0_usize..7, h in 0_u32..24, m in 0_u32..60,
    ) {
        let cal = &calendars()[c];
        let (weekday, time) = (ALL_WEEK[wd], hm(h, m));
        let next = cal.next_weekly(s, weekday, time);
        prop_assert!(next > s && next <= s + TimeDelta::days(8));
        let shown = next.with_timezone(&cal.tz());
        prop_assert_eq!(shown.weekday(), weekday);
        // No such moment lies between: the one a week earlier is not after `s`.
        let week_before = cal.resolve(shown.date_naive().and_time(time) - TimeDelta::days(7));
        prop_assert!(week_before <= s);
    }

    #[test]
    fn spans_read_back_what_they_show(minutes in 0_i64..1_000_000, days in 0_i64..10_000) {
        for span in [Span::Minutes(minutes), Span::Days(days)] {
            prop_assert_eq!(span.to_string().parse::<Span>(), Ok(span));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Against the slow, obvious count: every whole minute that is working time.
    #[test]
    fn working_minutes_match_a_minute_by_minute_count(
        c in calendar(), s in start(), minutes in 0_i64..600,
    ) {
        let cal = &calendars()[c];
        let s = s - TimeDelta::seconds(s.timestamp() % 60);
        let due = cal.add(s, Span::Minutes(minutes), ClockKind::Business);
        let mut counted = 0;
        let mut t = s;
        while t < due {
            if cal.is_working_time(t) {
                counted += 1;
            }
            t += TimeDelta::minutes(1);
        }
        prop_assert_eq!(counted, minutes);
    }
}
