//! The `[calendar]` table of the config file, and the holiday files it names.

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;

use super::Calendar;
use super::holidays;
use super::shipped;
use crate::config::Report;
use crate::config::fields::Fields;

const DEFAULT_WORKDAYS: &[Weekday] = &[
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
];
const DEFAULT_HOURS: &[&str] = &["09:00-12:00", "13:30-18:00"];

/// Reads `timezone`, `workdays`, `hours` and `holidays` (files relative to the config
/// file; absent in Asia/Shanghai, the built-in mainland schedules) from the
/// `[calendar]` table, or an empty one when the config has none. Every problem goes to `report`, a holiday file's
/// own problems as `holiday-file:line: key: …`; `None` when there was any.
pub fn read_config(t: &mut Fields<'_>, report: &mut Report) -> Option<Calendar> {
    let errors_before = report.errors.len();

    let tz = match t.string(report, "timezone") {
        None => chrono_tz::Asia::Shanghai,
        Some(name) => name.parse::<Tz>().unwrap_or_else(|_| {
            t.error(
                report,
                "timezone",
                format!("expected an IANA time zone such as \"Asia/Shanghai\", found \"{name}\""),
            );
            chrono_tz::Asia::Shanghai
        }),
    };

    let workdays = if t.has("workdays") {
        let mut days = Vec::new();
        for (i, word) in t.strings(report, "workdays").iter().enumerate() {
            match weekday(word) {
                Some(d) if days.contains(&d) => t.error(
                    report,
                    &format!("workdays[{i}]"),
                    format!("\"{word}\" is listed twice"),
                ),
                Some(d) => days.push(d),
                None => t.error(
                    report,
                    &format!("workdays[{i}]"),
                    format!("expected a day such as \"mon\" or \"sat\", found \"{word}\""),
                ),
            }
        }
        if days.is_empty() && report.errors.len() == errors_before {
            t.error(
                report,
                "workdays",
                "expected at least one day, such as [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
            );
        }
        days
    } else {
        DEFAULT_WORKDAYS.to_vec()
    };

    let hours = if t.has("hours") {
        let errors_here = report.errors.len();
        let mut hours: Vec<(NaiveTime, NaiveTime)> = Vec::new();
        for (i, text) in t.strings(report, "hours").iter().enumerate() {
            let key = format!("hours[{i}]");
            match opening(text) {
                Ok(range) => {
                    if let Some(&(_, prev_end)) = hours.last()
                        && (prev_end == NaiveTime::MIN || prev_end > range.0)
                    {
                        t.error(report, &key, format!("\"{text}\" starts before the range before it ends; list the ranges in order without overlap"));
                    }
                    hours.push(range);
                }
                Err(why) => t.error(report, &key, why),
            }
        }
        if hours.is_empty() && report.errors.len() == errors_here {
            t.error(
                report,
                "hours",
                "expected at least one range, such as [\"09:00-12:00\", \"13:30-18:00\"]",
            );
        }
        hours
    } else {
        DEFAULT_HOURS
            .iter()
            .filter_map(|h| opening(h).ok())
            .collect()
    };

    // No `holidays` key in Asia/Shanghai: the mainland schedules compiled into the
    // binary. `holidays = []` says "none"; a list replaces the built-in schedules.
    let mut files = Vec::new();
    if !t.has("holidays") {
        if tz == chrono_tz::Asia::Shanghai {
            match shipped::mainland() {
                Ok(shipped) => files.extend(
                    shipped
                        .into_iter()
                        .map(|f| ("holidays (built in)".to_string(), f)),
                ),
                Err(problems) => report.errors.extend(problems),
            }
        }
    } else {
        // The list is taken first, so `path_or` below finds no key and only resolves
        // each entry against the config file's folder, as every path in the config is.
        let raw_files = t.strings(report, "holidays");
        for (i, raw) in raw_files.iter().enumerate() {
            let key = format!("holidays[{i}]");
            if raw.trim().is_empty() {
                t.error(report, &key, "expected a path, found an empty string");
                continue;
            }
            let path = t.path_or(report, "holidays", raw);
            match std::fs::read_to_string(&path) {
                Ok(text) => match holidays::parse(&path, &text) {
                    Ok(file) => files.push((key, file)),
                    Err(problems) => report.errors.extend(problems),
                },
                Err(e) => t.error(
                    report,
                    &key,
                    format!("cannot read the holiday file {}: {e}", path.display()),
                ),
            }
        }
    }

    if report.errors.len() > errors_before {
        return None;
    }
    let mut calendar = match Calendar::new(tz, &workdays, &hours, [], [], []) {
        Ok(c) => c,
        Err(why) => {
            t.error(report, "hours", why);
            return None;
        }
    };
    for (key, file) in &files {
        calendar = match calendar.with_holidays(file) {
            Ok(c) => c,
            Err(why) => {
                t.error(report, key, why);
                return None;
            }
        };
    }
    Some(calendar)
}

/// "mon" or "monday", any case.
fn weekday(word: &str) -> Option<Weekday> {
    let word = word.trim().to_ascii_lowercase();
    [
        ("mon", Weekday::Mon),
        ("tue", Weekday::Tue),
        ("wed", Weekday::Wed),
        ("thu", Weekday::Thu),
        ("fri", Weekday::Fri),
        ("sat", Weekday::Sat),
        ("sun", Weekday::Sun),
    ]
    .into_iter()
    .find(|(short, d)| word == *short || word == full_name(*d))
    .map(|(_, d)| d)
}

fn full_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

/// "09:00-12:00"; an end of "24:00" is the end of the day (kept as 00:00, which
/// `Calendar::new` reads as 24:00 in an end).
pub(crate) fn opening(text: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let expected =
        format!("expected opening hours \"HH:MM-HH:MM\" such as \"09:00-12:00\", found \"{text}\"");
    let Some((a, b)) = text.split_once('-') else {
        return Err(expected);
    };
    let time = |s: &str| {
        let s = s.trim();
        if s == "24:00" {
            return Some(NaiveTime::MIN);
        }
        NaiveTime::parse_from_str(s, "%H:%M").ok()
    };
    let (Some(start), Some(end)) = (time(a), time(b)) else {
        return Err(expected);
    };
    if a.trim() == "24:00" || (end != NaiveTime::MIN && end <= start) {
        return Err(format!(
            "\"{text}\" ends before it starts; opening hours stay within one day (00:00-24:00)"
        ));
    }
    Ok((start, end))
}
