//! Worked examples of the calendar; the general laws are in `properties.rs`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::holidays;
use super::*;
use crate::config::Report;
use crate::config::fields::Fields;

pub(super) fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// The default hours with the shipped 2025 and 2026 holiday files.
pub(super) fn shanghai() -> Calendar {
    let mut cal = Calendar::default_for(chrono_tz::Asia::Shanghai);
    for year in [2025, 2026] {
        let file = holidays::load(&repo_file(&format!("calendars/cn-{year}.toml"))).unwrap();
        cal = cal.with_holidays(&file).unwrap();
    }
    cal
}

/// A local wall time in `tz` (the first of two, for a repeated time).
pub(super) fn local(tz: Tz, text: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
    tz.from_local_datetime(&naive)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn sh(text: &str) -> DateTime<Utc> {
    local(chrono_tz::Asia::Shanghai, text)
}

fn show(cal: &Calendar, t: DateTime<Utc>) -> String {
    t.with_timezone(&cal.tz())
        .format("%Y-%m-%d %H:%M %a")
        .to_string()
}

fn span(text: &str) -> Span {
    text.parse().unwrap()
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

const B: ClockKind = ClockKind::Business;
const C: ClockKind = ClockKind::Calendar;

#[test]
fn two_hours_from_friday_afternoon_end_on_monday_morning() {
    let cal = Calendar::default_for(chrono_tz::Asia::Shanghai);
    // 2026-03-06 is a Friday: one hour on Friday, one on Monday.
    let due = cal.add(sh("2026-03-06 17:00"), span("2 hours"), B);
    assert_eq!(show(&cal, due), "2026-03-09 10:00 Mon");
    let due = cal.add(sh("2026-03-06 17:30"), span("2h"), B);
    assert_eq!(show(&cal, due), "2026-03-09 10:30 Mon");
}

#[test]
fn the_lunch_break_does_not_count() {
    let cal = Calendar::default_for(chrono_tz::Asia::Shanghai);
    let due = cal.add(sh("2026-03-04 11:30"), span("2 hours"), B);
    assert_eq!(show(&cal, due), "2026-03-04 15:00 Wed");
    // Starting in the break is starting at 13:30.
    let due = cal.add(sh("2026-03-04 12:40"), span("30 min"), B);
    assert_eq!(show(&cal, due), "2026-03-04 14:00 Wed");
}

#[test]
fn a_deadline_on_a_closing_time_stays_there() {
    let cal = Calendar::default_for(chrono_tz::Asia::Shanghai);
    let due = cal.add(sh("2026-03-04 16:00"), span("2 hours"), B);
    assert_eq!(show(&cal, due), "2026-03-04 18:00 Wed");
    let due = cal.add(sh("2026-03-04 09:00"), span("3 hours"), B);
    assert_eq!(show(&cal, due), "2026-03-04 12:00 Wed");
    // But a closing time is not working time: what starts there starts next morning.
    assert!(!cal.is_working_time(sh("2026-03-04 18:00")));
    assert_eq!(
        show(&cal, cal.next_working_time(sh("2026-03-04 18:00"))),
        "2026-03-05 09:00 Thu"
    );
}

#[test]
fn starts_outside_hours_begin_at_the_next_opening() {
    let cal = Calendar::default_for(chrono_tz::Asia::Shanghai);
    for (start, expected) in [
        ("2026-03-04 07:10", "2026-03-04 10:00 Wed"),
        ("2026-03-04 22:00", "2026-03-05 10:00 Thu"),
        ("2026-03-07 11:00", "2026-03-09 10:00 Mon"),
    ] {
        let due = cal.add(sh(start), span("1 hour"), B);
        assert_eq!(show(&cal, due), expected, "from {start}");
    }
    assert_eq!(
        cal.next_working_time(sh("2026-03-04 10:17")),
        sh("2026-03-04 10:17")
    );
}

#[test]
fn national_day_2026_and_its_make_up_saturday() {
    let cal = shanghai();
    // Oct 1-7 off; Oct 8 (Thu), Oct 9 (Fri) and the make-up Saturday Oct 10 work.
    let start = sh("2026-09-30 16:00");
    assert_eq!(
        show(&cal, cal.add(start, span("1 working day"), B)),
        "2026-10-08 16:00 Thu"
    );
    assert_eq!(
        show(&cal, cal.add(start, span("3 working days"), B)),
        "2026-10-10 16:00 Sat"
    );
    assert_eq!(
        show(&cal, cal.add(start, span("4 working days"), B)),
        "2026-10-12 16:00 Mon"
    );
    // 2 working hours on Sep 30, 7.5 on Oct 8, 0.5 on Oct 9.
    assert_eq!(
        show(&cal, cal.add(start, span("10 hours"), B)),
        "2026-10-09 09:30 Fri"
    );
    assert_eq!(
        show(&cal, cal.add(sh("2026-10-09 17:00"), span("2h"), B)),
        "2026-10-10 10:00 Sat"
    );
    // The Sunday before is a make-up working day too.
    assert!(cal.is_working_day(day("2026-09-20")));
    assert!(!cal.is_working_day(day("2026-10-05")));
    assert!(!cal.is_working_day(day("2026-10-11")));
    // On the calendar clock the holiday counts like any day.
    assert_eq!(
        show(&cal, cal.add(start, span("3 days"), C)),
        "2026-10-03 16:00 Sat"
    );
}

#[test]
fn spring_festival_make_up_saturday_counts() {
    let cal = shanghai();
    assert!(cal.is_working_day(day("2026-02-14")));
    assert!(cal.is_working_day(day("2026-02-28")));
    assert!(!cal.is_working_day(day("2026-02-15")));
    assert!(!cal.is_working_day(day("2026-02-23")));
    assert_eq!(
        show(&cal, cal.add(sh("2026-02-13 17:00"), span("2 hours"), B)),
        "2026-02-14 10:00 Sat"
    );
    // After the make-up Saturday: nine days off, back on Tuesday the 24th.
    assert_eq!(
        show(&cal, cal.add(sh("2026-02-14 17:00"), span("2 hours"), B)),
        "2026-02-24 10:00 Tue"
    );
    assert_eq!(
        show(&cal, cal.add(sh("2026-02-13 10:00"), span("2个工作日"), B)),
        "2026-02-24 10:00 Tue"
    );
}

#[test]
fn the_shipped_holiday_files_load() {
    let file = holidays::load(&repo_file("calendars/cn-2026.toml")).unwrap();
    assert_eq!(file.year, 2026);
    assert!(file.source.contains("国办发明电"), "{}", file.source);
    assert_eq!(file.holidays.len(), 7);
    assert_eq!(file.days_off().count(), 3 + 9 + 3 + 5 + 3 + 3 + 7);
    let work: Vec<String> = file.extra_workdays().map(|d| d.to_string()).collect();
    assert_eq!(
        work,
        [
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10"
        ]
    );
    let file = holidays::load(&repo_file("calendars/cn-2025.toml")).unwrap();
    assert_eq!(file.days_off().count(), 1 + 8 + 3 + 5 + 3 + 8);
    assert_eq!(file.extra_workdays().count(), 5);
    // Every make-up working day is a weekend day, every day off would otherwise be
    // worked or is part of a weekend inside the holiday.
    for file in
        [2025, 2026].map(|y| holidays::load(&repo_file(&format!("calendars/cn-{y}.toml"))).unwrap())
    {
        for d in file.extra_workdays() {
            assert!(matches!(d.weekday(), Weekday::Sat | Weekday::Sun), "{d}");
        }
    }
}

#[test]
fn broken_holiday_files_name_file_line_and_key() {
    let path = Path::new("calendars/xx-2026.toml");
    let text = r#"year = 2026
source = "test"

[[holiday]]
name = "A"
off = ["2026-02-15..2026-02-23", "2025-12-31"]
work = ["2026-02-16", "2026-02-30"]

[[holiday]]
name = "B"
off = ["2026-02-20", 5, 2026-03-01]
"#;
    let errors = holidays::parse(path, text).unwrap_err();
    let all = errors.join("\n");
    assert!(
        all.contains("calendars/xx-2026.toml:6: holiday[0].off[1]: \"2025-12-31\" is outside 2026"),
        "{all}"
    );
    assert!(
        all.contains("calendars/xx-2026.toml:7: holiday[0].work[0]: 2026-02-16 cannot be both a day off and a make-up working day (also at calendars/xx-2026.toml:6"),
        "{all}"
    );
    assert!(
        all.contains(
            "calendars/xx-2026.toml:7: holiday[0].work[1]: expected a date \"YYYY-MM-DD\""
        ),
        "{all}"
    );
    assert!(
        all.contains("calendars/xx-2026.toml:11: holiday[1].off[0]: 2026-02-20 is listed twice"),
        "{all}"
    );
    assert!(
        all.contains("calendars/xx-2026.toml:11: holiday[1].off[1]: expected a date \"YYYY-MM-DD\" or a range \"YYYY-MM-DD..YYYY-MM-DD\", found integer"),
        "{all}"
    );
    // A bare TOML date is accepted.
    assert_eq!(errors.len(), 5, "{all}");

    let errors = holidays::parse(path, "year = 2026\nsource = \"x\"\nholidays = []\n").unwrap_err();
    assert!(
        errors[0].starts_with("calendars/xx-2026.toml:3: unknown field `holidays`"),
        "{errors:?}"
    );
    let errors = holidays::parse(
        path,
        "year = 2026\n[[holiday]]\nname = \"A\"\noff = [\"2026-01-01\"]\n",
    )
    .unwrap_err();
    assert!(errors[0].contains("missing field `source`"), "{errors:?}");
    let errors = holidays::parse(path, "year = \"2026\"\nsource = \"x\"\n").unwrap_err();
    assert!(
        errors[0].starts_with("calendars/xx-2026.toml:1:"),
        "{errors:?}"
    );
    let errors = holidays::parse(
        path,
        "year = 2026\nsource = \"x\"\n[[holiday]]\nname = \"A\"\noff = [\"2026-03-05..2026-03-01\"]\n",
    )
    .unwrap_err();
    assert!(
        errors[0].contains(
            ":5: holiday[0].off[0]: the range \"2026-03-05..2026-03-01\" ends before it starts"
        ),
        "{errors:?}"
    );
}

#[test]
fn spans_parse_as_the_handbook_writes_them() {
    for (text, expected) in [
        ("2 hours", Span::Minutes(120)),
        ("1 hour", Span::Minutes(60)),
        ("90 minutes", Span::Minutes(90)),
        ("30 min", Span::Minutes(30)),
        ("24 hours", Span::Minutes(1440)),
        ("2h", Span::Minutes(120)),
        ("30m", Span::Minutes(30)),
        ("1h30m", Span::Minutes(90)),
        ("1 hour 30 minutes", Span::Minutes(90)),
        ("1.5 hours", Span::Minutes(90)),
        ("3 working days", Span::Days(3)),
        ("1 working day", Span::Days(1)),
        ("3 business days", Span::Days(3)),
        ("3 days", Span::Days(3)),
        ("1 day", Span::Days(1)),
        ("3d", Span::Days(3)),
        ("2小时", Span::Minutes(120)),
        ("30分钟", Span::Minutes(30)),
        ("1小时30分钟", Span::Minutes(90)),
        ("3个工作日", Span::Days(3)),
        ("1天", Span::Days(1)),
        ("  4 Hours ", Span::Minutes(240)),
    ] {
        assert_eq!(text.parse::<Span>(), Ok(expected), "{text}");
    }
    for bad in [
        "",
        "soon",
        "2",
        "h",
        "1d2h",
        "1.5 days",
        "-2 hours",
        "2 fortnights",
        "0.01 hours",
    ] {
        let err = bad.parse::<Span>().unwrap_err();
        assert!(
            err.starts_with("expected a duration such as"),
            "{bad}: {err}"
        );
        assert!(err.contains(&format!("found \"{bad}\"")), "{bad}: {err}");
    }
    assert_eq!(Span::Minutes(120).to_string(), "2 hours");
    assert_eq!(Span::Minutes(60).to_string(), "1 hour");
    assert_eq!(Span::Minutes(90).to_string(), "90 minutes");
    assert_eq!(Span::Days(3).to_string(), "3 days");
    assert_eq!(Span::Days(1).to_string(), "1 day");
    assert_eq!(ClockKind::parse("Business"), Some(ClockKind::Business));
    assert_eq!(
        ClockKind::parse("calendar").map(ClockKind::as_str),
        Some("calendar")
    );
    assert_eq!(ClockKind::parse("wall"), None);
}

#[test]
fn calendar_days_keep_the_local_time_across_dst() {
    let ny = Calendar::default_for(chrono_tz::America::New_York);
    let tz = ny.tz();
    // DST starts on Sunday 2026-03-08 at 02:00 in New York: that day has 23 hours.
    let start = local(tz, "2026-03-07 10:00");
    let next = ny.add(start, Span::Days(1), C);
    assert_eq!(show(&ny, next), "2026-03-08 10:00 Sun");
    assert_eq!((next - start).num_hours(), 23);
    // 02:30 does not exist on that day: the moment the clocks jump (03:00 EDT).
    let next = ny.add(local(tz, "2026-03-07 02:30"), Span::Days(1), C);
    assert_eq!(next, Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap());
    // DST ends on 2026-11-01: 01:30 happens twice; the first is taken.
    let next = ny.add(local(tz, "2026-10-31 01:30"), Span::Days(1), C);
    assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap());
    // Minutes on the calendar clock are elapsed minutes.
    let next = ny.add(local(tz, "2026-03-08 01:30"), Span::Minutes(60), C);
    assert_eq!(show(&ny, next), "2026-03-08 03:30 Sun");
}

#[test]
fn working_hours_are_local_wall_times_in_dst_zones() {
    let tz = chrono_tz::Europe::Berlin;
    let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    let all_week = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    // Around the clock: a day is as long as the clocks make it.
    let desk = Calendar::new(tz, &all_week, &[(hm(0, 0), hm(0, 0))], [], [], []).unwrap();
    let sunday = |d: &str| local(tz, &format!("{d} 00:00"));
    let spring = desk.working_duration(sunday("2026-03-29"), sunday("2026-03-30"));
    let autumn = desk.working_duration(sunday("2026-10-25"), sunday("2026-10-26"));
    assert_eq!((spring.num_hours(), autumn.num_hours()), (23, 25));
    assert_eq!(
        desk.add(sunday("2026-03-29"), Span::Days(1), B),
        sunday("2026-03-30")
    );
    // Night hours across the jump: 01:00-04:00 is two real hours on 2026-03-29,
    // opening at 01:00 and closing at 04:00 local.
    let night = Calendar::new(tz, &all_week, &[(hm(1, 0), hm(4, 0))], [], [], []).unwrap();
    let opening = local(tz, "2026-03-29 01:00");
    assert_eq!(
        night.add(opening, Span::Minutes(120), B),
        local(tz, "2026-03-29 04:00")
    );
    // Opening hours that start inside the gap start at the jump.
    let gap = Calendar::new(tz, &all_week, &[(hm(2, 30), hm(5, 0))], [], [], []).unwrap();
    assert_eq!(
        gap.next_working_time(local(tz, "2026-03-29 00:00")),
        Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap()
    );
    assert_eq!(
        gap.working_duration(local(tz, "2026-03-29 00:00"), local(tz, "2026-03-30 00:00"))
            .num_minutes(),
        120
    );
}

#[test]
fn fractions_are_measured_on_their_clock() {
    let cal = Calendar::default_for(chrono_tz::Asia::Shanghai);
    // Fri 17:00 to Mon 10:00 is 2 working hours: half is 18:00 on Friday.
    let (start, due) = (sh("2026-03-06 17:00"), sh("2026-03-09 10:00"));
    assert_eq!(cal.fraction(start, due, 50, B), sh("2026-03-06 18:00"));
    assert_eq!(cal.fraction(start, due, 75, B), sh("2026-03-09 09:30"));
    assert_eq!(cal.fraction(start, due, 100, B), due);
    assert_eq!(cal.fraction(start, due, 0, B), start);
    assert_eq!(
        cal.fraction(sh("2026-03-07 10:00"), due, 0, B),
        sh("2026-03-09 09:00")
    );
    assert_eq!(cal.fraction(start, due, 50, C), sh("2026-03-08 01:30"));
}

#[test]
fn next_weekly_is_strictly_after() {
    let cal = Calendar::default_for(chrono_tz::Asia::Shanghai);
    let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
    // 2026-03-09 is a Monday.
    for (after, expected) in [
        ("2026-03-09 08:59", "2026-03-09 09:00 Mon"),
        ("2026-03-09 09:00", "2026-03-16 09:00 Mon"),
        ("2026-03-10 12:00", "2026-03-16 09:00 Mon"),
        ("2026-03-08 23:00", "2026-03-09 09:00 Mon"),
    ] {
        assert_eq!(
            show(&cal, cal.next_weekly(sh(after), Weekday::Mon, nine)),
            expected,
            "after {after}"
        );
    }
}

#[test]
fn coverage_warnings_name_the_missing_year_and_file() {
    let cal = shanghai();
    assert!(cal.coverage_warnings(day("2026-05-01")).is_empty());
    let warnings = cal.coverage_warnings(day("2026-10-01"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("no holiday file covers 2027 (from calendar.holidays); add ")
            && warnings[0].contains("calendars/cn-2027.toml"),
        "{warnings:?}"
    );
    let bare = Calendar::default_for(chrono_tz::Asia::Shanghai);
    let warnings = bare.coverage_warnings(day("2026-03-01"));
    assert_eq!(
        warnings,
        [
            "no holiday file covers 2026 (from calendar.holidays); add calendars/cn-2026.toml from the government's notice and list it in calendar.holidays, or deadlines in 2026 count public holidays as working days"
        ]
    );
    assert_eq!(bare.coverage_warnings(day("2026-12-31")).len(), 2);
}

#[test]
fn a_calendar_without_working_time_still_answers() {
    let closed = Calendar::new(chrono_tz::Asia::Shanghai, &[], &[], [], [], []).unwrap();
    let start = sh("2026-03-04 10:00");
    for (span, clock) in [
        (Span::Minutes(60), B),
        (Span::Days(3), B),
        (Span::Minutes(i64::MAX), B),
    ] {
        let due = closed.add(start, span, clock);
        assert!(due > start + chrono::TimeDelta::days(365 * 3), "{span}");
    }
    assert!(closed.next_working_time(start) > start + chrono::TimeDelta::days(365 * 3));
    assert!(!closed.is_working_time(start));
    assert_eq!(
        closed.fraction(start, start, 50, B),
        closed.next_working_time(start)
    );
}

#[test]
fn long_spans_are_day_by_day_not_minute_by_minute() {
    let cal = shanghai();
    let started = std::time::Instant::now();
    let due = cal.add(sh("2026-01-05 09:00"), span("200 hours"), B);
    // 7.5 working hours a day: 26 working days and 5 hours, past the Spring Festival.
    assert_eq!(
        cal.working_duration(sh("2026-01-05 09:00"), due)
            .num_hours(),
        200
    );
    let far = cal.add(sh("2026-01-05 09:00"), Span::Days(250), B);
    assert!(far > due);
    let huge = cal.add(sh("2026-01-05 09:00"), Span::Minutes(i64::MAX), B);
    assert!(huge.year() > 2100, "{huge}");
    // How long it took is measured by benches/clock.rs; a bound here would depend
    // on the machine.
    eprintln!("three long spans in {:?}", started.elapsed());
}

#[test]
fn calendar_new_checks_its_hours_and_days() {
    let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    let tz = chrono_tz::Asia::Shanghai;
    let week = [Weekday::Mon];
    assert!(Calendar::new(tz, &week, &[(hm(12, 0), hm(9, 0))], [], [], []).is_err());
    assert!(
        Calendar::new(
            tz,
            &week,
            &[(hm(9, 0), hm(13, 0)), (hm(12, 0), hm(18, 0))],
            [],
            [],
            []
        )
        .is_err()
    );
    let d = day("2026-10-10");
    assert!(Calendar::new(tz, &week, &[(hm(9, 0), hm(18, 0))], [d], [d], []).is_err());
    let cal = shanghai();
    let again = holidays::load(&repo_file("calendars/cn-2026.toml")).unwrap();
    assert!(
        cal.with_holidays(&again)
            .unwrap_err()
            .contains("2026 is already covered")
    );
}

fn read(text: &str) -> (Option<Calendar>, Report) {
    let table: toml::Table = text.parse().unwrap();
    let config = repo_file("switchboard.toml");
    let mut report = Report::default();
    let mut fields = Fields::new(&config, "calendar", table);
    let cal = read_config(&mut fields, &mut report);
    fields.finish(&mut report);
    (cal, report)
}

#[test]
fn reads_the_calendar_table() {
    let (cal, report) = read(
        r#"
timezone = "Europe/Berlin"
workdays = ["mon", "Tuesday", "wed", "thu", "fri", "sat"]
hours = ["08:00-12:00", "13:00-24:00"]
holidays = ["calendars/cn-2026.toml"]
"#,
    );
    assert!(
        report.errors.is_empty() && report.warnings.is_empty(),
        "{report:?}"
    );
    let cal = cal.unwrap();
    assert_eq!(cal.tz(), chrono_tz::Europe::Berlin);
    assert!(cal.is_working_day(day("2026-03-07")));
    assert!(!cal.is_working_day(day("2026-10-01")));
    assert_eq!(cal.years_covered().collect::<Vec<_>>(), [2026]);
    let t = local(cal.tz(), "2026-03-04 23:59");
    assert!(cal.is_working_time(t));

    let (cal, report) = read("");
    assert!(report.errors.is_empty(), "{report:?}");
    let cal = cal.unwrap();
    assert_eq!(cal.tz(), chrono_tz::Asia::Shanghai);
    assert!(cal.is_working_time(sh("2026-03-04 13:30")));
    assert!(!cal.is_working_time(sh("2026-03-04 13:29")));
    assert!(!cal.is_working_day(day("2026-03-07")));
}

#[test]
fn calendar_table_problems_are_reported_together() {
    let (cal, report) = read(
        r#"
timezone = "Mars/Olympus"
workdays = ["mon", "funday", "mon"]
hours = ["9-12", "13:00-12:00", "10:00-11:00", "10:30-18:00"]
holidays = ["calendars/nowhere-2026.toml", ""]
weekend = ["sat"]
"#,
    );
    assert!(cal.is_none());
    let all = report.errors.join("\n");
    let config = repo_file("switchboard.toml").display().to_string();
    for expected in [
        format!(
            "{config}: calendar.timezone: expected an IANA time zone such as \"Asia/Shanghai\", found \"Mars/Olympus\""
        ),
        format!(
            "{config}: calendar.workdays[1]: expected a day such as \"mon\" or \"sat\", found \"funday\""
        ),
        format!("{config}: calendar.workdays[2]: \"mon\" is listed twice"),
        format!("{config}: calendar.hours[0]: expected opening hours \"HH:MM-HH:MM\""),
        format!("{config}: calendar.hours[1]: \"13:00-12:00\" ends before it starts"),
        format!(
            "{config}: calendar.hours[3]: \"10:30-18:00\" starts before the range before it ends"
        ),
        format!("{config}: calendar.holidays[0]: cannot read the holiday file "),
        format!("{config}: calendar.holidays[1]: expected a path, found an empty string"),
    ] {
        assert!(all.contains(&expected), "missing {expected}\nin\n{all}");
    }
    assert_eq!(report.errors.len(), 8, "{all}");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("calendar.weekend: unknown key")),
        "{report:?}"
    );
}

#[test]
fn a_broken_holiday_file_is_reported_by_its_own_name_and_line() {
    let dir = std::env::temp_dir().join(format!("switchboard-calendar-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cn-2027.toml");
    std::fs::write(
        &file,
        "year = 2027\nsource = \"draft\"\n[[holiday]]\nname = \"元旦\"\noff = [\"2027-01-01\", \"2027-02-30\"]\n",
    )
    .unwrap();
    let (cal, report) = read(&format!("holidays = [{:?}]", file.display().to_string()));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(cal.is_none());
    assert_eq!(
        report.errors,
        [format!(
            "{}:5: holiday[0].off[1]: expected a date \"YYYY-MM-DD\" or a range \"YYYY-MM-DD..YYYY-MM-DD\", found \"2027-02-30\"",
            file.display()
        )]
    );
}
