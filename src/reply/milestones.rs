//! Milestone dates in a collaboration request (跨部门协作申请 · 里程碑).
//!
//! The request form asks for milestones, and people write them as lines:
//!
//! ```text
//! 1. 2026-12-10：样品确认
//! - 12月20日 完成小批量试产
//! 第30天：量产
//! Dec 15 - packaging artwork approved
//! ```
//!
//! One date per line, the first that is a valid date on or after the day the
//! request was received; dates in quoted history are ignored. Accepted:
//! `2026-12-10`, `2026/12/10`, `2026.12.10`, `2026年12月10日` (or 号); `12月10日`,
//! `Dec 10`, `December 10th` and `10 Dec` (capitalised) without a year mean the next such day on or
//! after `received`; `10 December 2026` and `Dec 10, 2026` with one; `第10天` and
//! `Day 10` are that many days after `received`. Not accepted: `12/10` and
//! `10/12` (month-first or day-first depends on the writer), weekdays ("next
//! Friday"), and years more than [`MAX_YEARS_AHEAD`] ahead (typing slips).
//!
//! The text of a milestone is its line without the list bullet and, when the line
//! starts with the date, without the date and the punctuation after it; a date in the
//! middle of a sentence stays, as the sentence reads wrong without it.

use std::sync::LazyLock;

use chrono::{Datelike, Days, NaiveDate};
use regex::{Captures, Regex};

use super::quote::trim_quoted;

/// Later explicit years are taken for slips ("2062") and ignored.
pub const MAX_YEARS_AHEAD: i32 = 10;

/// Characters of a milestone's text, at most.
pub const MAX_TEXT: usize = 80;

const MONTHS: &str = "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?";

/// A date pattern and how to read it. The regex crate has no look-behind and its
/// `\b` treats CJK as word characters ("于2026-12-10" has no boundary), so each
/// pattern opens with `(?:^|[^0-9A-Za-z])` and the date is the group named `d`.
struct Pattern {
    regex: Option<Regex>,
    read: fn(&Captures, NaiveDate) -> Option<NaiveDate>,
}

fn compile(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

/// In priority order: dates with a year first, so that "2026年12月10日" is not read
/// again as "12月10日" with a guessed year.
static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    vec![
        Pattern {
            regex: compile(
                r"(?:^|[^0-9A-Za-z])(?P<d>(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<day>\d{1,2}))(?:[^0-9]|$)",
            ),
            read: |c, _| ymd(c),
        },
        Pattern {
            regex: compile(
                r"(?:^|[^0-9])(?P<d>(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*[日号])",
            ),
            read: |c, _| ymd(c),
        },
        Pattern {
            regex: compile(&format!(
                r"(?i)(?:^|[^0-9A-Za-z])(?P<d>(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon>{MONTHS})\.?,?\s+(?P<y>\d{{4}}))(?:[^0-9A-Za-z]|$)"
            )),
            read: |c, _| named_month_with_year(c),
        },
        Pattern {
            regex: compile(&format!(
                r"(?i)(?:^|[^0-9A-Za-z])(?P<d>(?P<mon>{MONTHS})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}}))(?:[^0-9A-Za-z]|$)"
            )),
            read: |c, _| named_month_with_year(c),
        },
        Pattern {
            regex: compile(r"(?:^|[^0-9年])(?P<d>(?P<m>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*[日号])"),
            read: |c, received| next_on_or_after(received, number(c, "m")?, number(c, "day")?),
        },
        Pattern {
            regex: compile(&format!(
                r"(?i)(?:^|[^0-9A-Za-z])(?P<d>(?P<mon>{MONTHS})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?)(?:[^0-9A-Za-z]|$)"
            )),
            read: |c, received| next_on_or_after(received, month(c)?, number(c, "day")?),
        },
        Pattern {
            regex: compile(&format!(
                r"(?i)(?:^|[^0-9A-Za-z])(?P<d>(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon>{MONTHS}))(?:[^0-9A-Za-z]|$)"
            )),
            read: |c, received| next_on_or_after(received, month(c)?, number(c, "day")?),
        },
        Pattern {
            regex: compile(r"(?P<d>第\s*(?P<n>\d{1,4})\s*天)"),
            read: |c, received| received.checked_add_days(Days::new(number(c, "n")?.into())),
        },
        Pattern {
            regex: compile(r"(?i)(?:^|[^0-9A-Za-z])(?P<d>day\s+(?P<n>\d{1,4}))(?:[^0-9A-Za-z]|$)"),
            read: |c, received| received.checked_add_days(Days::new(number(c, "n")?.into())),
        },
    ]
});

/// `(date, text)` for each line of `body` that names a milestone date.
pub fn extract_dates(body: &str, received: NaiveDate) -> Vec<(NaiveDate, String)> {
    trim_quoted(body)
        .lines()
        .filter_map(|line| line_date(line, received))
        .collect()
}

fn line_date(line: &str, received: NaiveDate) -> Option<(NaiveDate, String)> {
    // Every pattern reads its numbers as ASCII digits: a line without one names no
    // date, and most lines of a request have none (the patterns' captures on every
    // line were a fifth of opening a collaboration request).
    if !line.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    // (start, end, date) of each date found, the earliest on the line winning;
    // spans claimed by an earlier pattern are not read again by a later one.
    let mut spans: Vec<(usize, usize, Option<NaiveDate>)> = Vec::new();
    for pattern in PATTERNS.iter() {
        let Some(regex) = &pattern.regex else {
            continue;
        };
        for caps in regex.captures_iter(line) {
            let Some(d) = caps.name("d") else { continue };
            if spans.iter().any(|(s, e, _)| d.start() < *e && *s < d.end()) {
                continue;
            }
            let date = (pattern.read)(&caps, received).filter(|date| {
                *date >= received && date.year() <= received.year() + MAX_YEARS_AHEAD
            });
            spans.push((d.start(), d.end(), date));
        }
    }
    let (start, end, date) = spans
        .into_iter()
        .filter_map(|(s, e, date)| Some((s, e, date?)))
        .min_by_key(|(s, _, _)| *s)?;
    Some((date, milestone_text(line, start, end)))
}

fn number(c: &Captures, name: &str) -> Option<u32> {
    c.name(name)?.as_str().parse().ok()
}

fn ymd(c: &Captures) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        c.name("y")?.as_str().parse().ok()?,
        number(c, "m")?,
        number(c, "day")?,
    )
}

/// Month names must start with a capital: "may 5" is more often a verb than a date.
fn month(c: &Captures) -> Option<u32> {
    let written = c.name("mon")?.as_str();
    if !written.starts_with(|c: char| c.is_ascii_uppercase()) {
        return None;
    }
    let name = written.to_ascii_lowercase();
    let prefix = name.get(..3)?;
    let index = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| *m == prefix)?;
    u32::try_from(index + 1).ok()
}

fn named_month_with_year(c: &Captures) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        c.name("y")?.as_str().parse().ok()?,
        month(c)?,
        number(c, "day")?,
    )
}

/// The first `month`/`day` on or after `received`; 29 February may be years ahead.
fn next_on_or_after(received: NaiveDate, month: u32, day: u32) -> Option<NaiveDate> {
    (received.year()..=received.year() + 8)
        .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
        .find(|date| *date >= received)
}

/// Leading list markers: "-", "*", "•", "1.", "1)", "(1)", "①", "一、", "里程碑1：".
static BULLET: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compile(
        r"^\s*(?:[-*•·‣▪–—]+\s*|\(?（?\d{1,2}[.)）、]\s*|[①-⑳]\s*|[一二三四五六七八九十]+、\s*|(?i:milestone|里程碑)\s*\d{0,2}\s*[:：.]?\s*)+",
    )
});

/// What separates a leading date from the milestone's description.
const AFTER_DATE: &[char] = &[
    ':', '：', '-', '–', '—', ',', '，', '、', '.', '。', ' ', '\t', '前',
];

fn milestone_text(line: &str, start: usize, end: usize) -> String {
    let bullet_end = BULLET
        .as_ref()
        .and_then(|b| b.find(line))
        .map_or(0, |m| m.end());
    let (body_start, text) = if bullet_end > start {
        // The bullet pattern ran into the date ("1. 2026-12-10"); keep the date.
        (0, line)
    } else {
        (bullet_end, line.get(bullet_end..).unwrap_or(line))
    };
    let leading = line
        .get(body_start..start)
        .is_some_and(|s| s.trim().is_empty());
    let mut text = text.trim();
    if leading {
        let after = line
            .get(end..)
            .unwrap_or_default()
            .trim_start_matches(AFTER_DATE)
            .trim();
        if !after.is_empty() {
            text = after;
        }
    }
    shorten(text)
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_TEXT {
        return text.to_string();
    }
    let mut short: String = text.chars().take(MAX_TEXT - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn every_pattern_compiles() {
        assert!(PATTERNS.iter().all(|p| p.regex.is_some()));
        assert!(BULLET.is_some());
    }

    #[test]
    fn one_date_per_line() {
        let received = day(2026, 11, 27);
        let table: &[(&str, Option<(NaiveDate, &str)>)] = &[
            (
                "2026-12-10 sample approval",
                Some((day(2026, 12, 10), "sample approval")),
            ),
            (
                "2026/12/10：样品确认",
                Some((day(2026, 12, 10), "样品确认")),
            ),
            ("2026.1.5 kickoff", None),
            ("2027.1.5 kickoff", Some((day(2027, 1, 5), "kickoff"))),
            (
                "2026年12月10日 完成样品确认",
                Some((day(2026, 12, 10), "完成样品确认")),
            ),
            (
                "2026 年 12 月 10 号前：试产",
                Some((day(2026, 12, 10), "试产")),
            ),
            (
                "- 12月10日：样品确认",
                Some((day(2026, 12, 10), "样品确认")),
            ),
            ("3月1日 量产", Some((day(2027, 3, 1), "量产"))),
            ("11月27日 启动会", Some((day(2026, 11, 27), "启动会"))),
            (
                "Dec 10 - artwork approved",
                Some((day(2026, 12, 10), "artwork approved")),
            ),
            (
                "December 10th: artwork",
                Some((day(2026, 12, 10), "artwork")),
            ),
            (
                "10 December 2026 - artwork",
                Some((day(2026, 12, 10), "artwork")),
            ),
            ("Jan 15, 2027: launch", Some((day(2027, 1, 15), "launch"))),
            ("5 Jan: launch", Some((day(2027, 1, 5), "launch"))),
            ("第10天：完成测试", Some((day(2026, 12, 7), "完成测试"))),
            ("第 0 天 启动", Some((day(2026, 11, 27), "启动"))),
            (
                "Day 30: mass production",
                Some((day(2026, 12, 27), "mass production")),
            ),
            (
                "请在2026-12-10前完成样品确认",
                Some((day(2026, 12, 10), "请在2026-12-10前完成样品确认")),
            ),
            (
                "Samples approved by Dec 12, then tooling",
                Some((
                    day(2026, 12, 12),
                    "Samples approved by Dec 12, then tooling",
                )),
            ),
            ("1. 2026-12-10 sample", Some((day(2026, 12, 10), "sample"))),
            ("① 12月20日 小批量", Some((day(2026, 12, 20), "小批量"))),
            (
                "里程碑2：12月20日 小批量",
                Some((day(2026, 12, 20), "小批量")),
            ),
            (
                "二、2026年12月25日：验收",
                Some((day(2026, 12, 25), "验收")),
            ),
            ("12月10日", Some((day(2026, 12, 10), "12月10日"))),
            (
                "From 2026-12-01 to 2026-12-10: trial",
                Some((day(2026, 12, 1), "From 2026-12-01 to 2026-12-10: trial")),
            ),
            (
                "2026-11-01 (past) then 2026-12-01 next",
                Some((day(2026, 12, 1), "2026-11-01 (past) then 2026-12-01 next")),
            ),
            ("2026-02-30 typo", None),
            ("2026-11-26 yesterday", None),
            ("2025年12月10日 去年", None),
            ("2040-01-01 slip", None),
            ("12/10 ambiguous", None),
            ("order 20261210 shipped", None),
            ("Call me at 10:30", None),
            ("May we start early?", None),
            ("we may 5 times", None),
            ("no dates here", None),
        ];
        for (line, want) in table {
            let got = extract_dates(line, received);
            let want: Vec<(NaiveDate, String)> =
                want.iter().map(|(d, t)| (*d, t.to_string())).collect();
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn a_request_body() {
        let body = "各位好，\n\n为推进新包装项目，申请质量部、物流部协作，里程碑如下：\n\n1. 2026-12-10：样品确认（质量部）\n2. 12月20日 完成小批量试产\n3. 2027年1月15日：正式发货\n第45天：项目验收\n\n谢谢！\n\n-- \n市场部 李雷\n\n-----原始邮件-----\n发件人: 王五\n发送时间: 2026年11月20日 10:00\n\n2026-12-01 旧计划\n";
        let got = extract_dates(body, day(2026, 11, 27));
        let want = vec![
            (day(2026, 12, 10), "样品确认（质量部）".to_string()),
            (day(2026, 12, 20), "完成小批量试产".to_string()),
            (day(2027, 1, 15), "正式发货".to_string()),
            (day(2027, 1, 11), "项目验收".to_string()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn february_29_without_a_year_is_the_next_leap_day() {
        let got = extract_dates("2月29日 年度盘点", day(2026, 11, 27));
        assert_eq!(got, vec![(day(2028, 2, 29), "年度盘点".to_string())]);
    }

    #[test]
    fn long_lines_are_shortened() {
        let long = format!("2026-12-10 {}", "x".repeat(200));
        let got = extract_dates(&long, day(2026, 11, 27));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.chars().count(), MAX_TEXT);
        assert!(got[0].1.ends_with('…'));
    }
}
