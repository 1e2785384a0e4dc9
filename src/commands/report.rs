//! `switchboard report`: per department and milestone, over the deadlines that
//! started in a period — how many were met, missed or are still pending, and how
//! long meeting them took (median and 90th percentile, wall-clock minutes).

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, Result, bail};
use chrono_tz::Tz;
use rusqlite::Connection;
use serde::Serialize;

use crate::store::deadlines::{self, DeadlineRow};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    pub department: String,
    pub milestone: String,
    pub met: usize,
    pub missed: usize,
    pub pending: usize,
    pub median_minutes: Option<i64>,
    pub p90_minutes: Option<i64>,
}

/// The period from the first day's midnight to the end of the last day, in the
/// company's time zone, as Unix seconds `[start, end)`. `flag` is how the two are
/// named to the person who gave them ("--" for the command, "" for the web view).
pub fn period(tz: Tz, from: &str, to: &str, flag: &str) -> Result<(i64, i64)> {
    let day_start = |text: &str, key: &str| -> Result<i64> {
        let day =
            chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").with_context(|| {
                format!("{flag}{key}: expected a date such as 2026-11-01, found \"{text}\"")
            })?;
        let midnight = day.and_hms_opt(0, 0, 0).context("midnight")?;
        Ok(chrono::TimeZone::from_local_datetime(&tz, &midnight)
            .earliest()
            .context("no such local time")?
            .timestamp())
    };
    let start = day_start(from, "from")?;
    let end = day_start(to, "to")? + 86_400;
    if end <= start {
        bail!("{flag}to is before {flag}from");
    }
    Ok((start, end))
}

/// The deadlines started in `[start, end)` whose department `shown` accepts, and
/// the report's lines over them: what `switchboard report`, the web view's
/// overview and CSV, and the weekly mail all show.
pub fn figures(
    conn: &Connection,
    start: i64,
    end: i64,
    now: i64,
    shown: impl Fn(&str) -> bool,
) -> Result<Vec<Line>> {
    let rows: Vec<DeadlineRow> = deadlines::started_between(conn, start, end)?
        .into_iter()
        .filter(|r| shown(&r.department))
        .collect();
    Ok(lines(&rows, now))
}

/// Groups the deadlines; `now` decides whether an open one is pending or missed.
pub fn lines(rows: &[DeadlineRow], now: i64) -> Vec<Line> {
    let mut groups: BTreeMap<(String, String), Vec<&DeadlineRow>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.cancelled_at.is_none()) {
        groups
            .entry((r.department.clone(), r.label.clone()))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|((department, milestone), rows)| {
            let mut times: Vec<i64> = rows
                .iter()
                .filter_map(|r| r.met_at.map(|m| (m - r.started_at) / 60))
                .collect();
            times.sort_unstable();
            let count = |state: &str| rows.iter().filter(|r| r.state(now) == state).count();
            Line {
                department,
                milestone,
                met: count("met"),
                missed: count("missed") + count("met late"),
                pending: count("pending"),
                median_minutes: percentile(&times, 50),
                p90_minutes: percentile(&times, 90),
            }
        })
        .collect()
}

/// Nearest-rank percentile.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

pub fn print(lines: &[Line], csv: bool, out: &mut impl Write) -> Result<()> {
    let minutes = |m: Option<i64>| m.map(|m| m.to_string()).unwrap_or_default();
    if csv {
        return write_csv(lines, out);
    }
    writeln!(
        out,
        "{:<18} {:<34} {:>5} {:>6} {:>7} {:>8} {:>8}",
        "DEPARTMENT", "MILESTONE", "MET", "MISSED", "PENDING", "MEDIAN", "P90"
    )?;
    for l in lines {
        writeln!(
            out,
            "{:<18} {:<34} {:>5} {:>6} {:>7} {:>8} {:>8}",
            l.department,
            l.milestone,
            l.met,
            l.missed,
            l.pending,
            minutes(l.median_minutes).to_string()
                + if l.median_minutes.is_some() { "m" } else { "" },
            minutes(l.p90_minutes).to_string() + if l.p90_minutes.is_some() { "m" } else { "" },
        )?;
    }
    if lines.is_empty() {
        writeln!(out, "(no deadlines started in this period)")?;
    }
    Ok(())
}

/// The mail the desk no longer handles: set-aside messages received in the period,
/// per reason (the text report only; the CSV stays one table of deadlines).
pub fn print_set_aside(counts: &[(String, i64)], out: &mut impl Write) -> Result<()> {
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    writeln!(out)?;
    writeln!(
        out,
        "SET ASIDE (not cases, received in this period): {total}"
    )?;
    for (reason, n) in counts {
        writeln!(out, "{n:>7}  {reason}")?;
    }
    Ok(())
}

/// RFC 4180 text, one line per department and milestone: the command's `--csv`,
/// the web view's `/report.csv` and the weekly mail's attachment.
pub fn write_csv(lines: &[Line], out: &mut impl Write) -> Result<()> {
    let minutes = |m: Option<i64>| m.map(|m| m.to_string()).unwrap_or_default();
    write!(
        out,
        "department,milestone,met,missed,pending,median_minutes,p90_minutes\r\n"
    )?;
    for l in lines {
        write!(
            out,
            "{},{},{},{},{},{},{}\r\n",
            field(&l.department),
            field(&l.milestone),
            l.met,
            l.missed,
            l.pending,
            minutes(l.median_minutes),
            minutes(l.p90_minutes)
        )?;
    }
    Ok(())
}

/// RFC 4180: quote a field that holds a comma, a quote or a line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn row(dept: &str, started: i64, due: i64, met: Option<i64>) -> DeadlineRow {
        DeadlineRow {
            id: 0,
            case_id: 0,
            milestone: "analysis".into(),
            label: "analysis".into(),
            department: dept.into(),
            started_at: started,
            due_at: due,
            met_at: met,
            breached_at: None,
            cancelled_at: None,
            delay_reason: None,
            delay_at: None,
            delay_late: false,
        }
    }

    #[test]
    fn counts_and_percentiles() {
        let rows: Vec<DeadlineRow> = (1..=10)
            .map(|i| row("logistics", 0, 7200, Some(i * 600)))
            .chain([
                row("logistics", 0, 7200, None),
                row("quality", 0, 99_999, None),
            ])
            .collect();
        let l = lines(&rows, 10_000);
        assert_eq!(l.len(), 2);
        let logistics = &l[0];
        // 10..100 minutes; due at 120: all ten met in time, the open one missed.
        assert_eq!(
            (logistics.met, logistics.missed, logistics.pending),
            (10, 1, 0)
        );
        assert_eq!(logistics.median_minutes, Some(50));
        assert_eq!(logistics.p90_minutes, Some(90));
        assert_eq!((l[1].met, l[1].missed, l[1].pending), (0, 0, 1));
        assert_eq!(l[1].median_minutes, None);
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(
            field("初步分析 initial analysis"),
            "初步分析 initial analysis"
        );
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
