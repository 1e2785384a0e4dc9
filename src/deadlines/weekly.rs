//! The weekly service-level report (`[sla] report = "mon 09:00"`): to each
//! department's managers, the figures of their departments, and to the escalation
//! contacts, all of them — the same lines as `switchboard report` for the seven days
//! before the report's day, with the seven before those beside them, the deadlines
//! missed in the week with their cases, and the survey answers. Like the digest it
//! is one timer row at a time, moved into working hours; after firing, the next is
//! written, so a daemon that was down for a month sends one report, not four, and a
//! restart sends none twice. The mail is text and HTML (weekly_report.html: the
//! bars as table cells) with the week's table attached as CSV.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

use super::Clockwork;
use crate::commands::report::{self, Line};
use crate::compose;
use crate::config::Config;
use crate::outgoing::{self, Letter, Parts};
use crate::store::cases;
use crate::store::deadlines::{self as rows, TimerRow};

pub const WEEKLY: &str = "weekly_report";

/// When the next report is due after `after`: the configured weekday and time, or
/// the next working time after it (a holiday Monday sends on Tuesday morning).
fn next_due(config: &Config, after: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    let (weekday, time) = config.sla.report?;
    let at = config.calendar.next_weekly(after, weekday, time);
    let at = if config.calendar.is_working_time(at) {
        at
    } else {
        config.calendar.next_working_time(at)
    };
    Some(at.timestamp())
}

/// Makes sure the next report is a row, when the report is on.
pub fn ensure_timer(work: &Clockwork<'_>) -> Result<()> {
    let Some(next) = next_due(work.mailer.config, work.mailer.now) else {
        return Ok(());
    };
    if rows::pending_global(work.mailer.conn, WEEKLY)?.is_some() {
        return Ok(());
    }
    rows::insert_timer(work.mailer.conn, WEEKLY, None, None, next)?;
    Ok(())
}

/// Who gets which departments: `None` is all of them.
fn audience(config: &Config) -> BTreeMap<String, Option<BTreeSet<String>>> {
    let mut to: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
    for d in &config.departments {
        for m in &d.managers {
            if let Some(set) = to.entry(m.clone()).or_insert_with(|| Some(BTreeSet::new())) {
                set.insert(d.id.clone());
            }
        }
    }
    for c in &config.sla.escalation_contacts {
        to.insert(c.clone(), None);
    }
    to
}

fn pct(l: &Line) -> Option<usize> {
    let judged = l.met + l.missed;
    (judged > 0).then(|| l.met * 100 / judged)
}

/// The week's table as `switchboard report --csv` writes it (the same code), with a
/// UTF-8 byte order mark: without one, Excel reads the Chinese milestone names as
/// another charset.
fn csv_attachment(week: &[Line], from: &str, to: &str) -> Result<compose::Part> {
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    report::write_csv(week, &mut bytes)?;
    Ok(compose::Part {
        name: format!("sla-report-{from}-{to}.csv"),
        content_type: "text/csv".into(),
        content_id: None,
        size: bytes.len(),
        body: compose::PartBody::Bytes(bytes),
    })
}

pub fn fire(work: &Clockwork<'_>, timer: &TimerRow) -> Result<String> {
    let config = work.mailer.config;
    let conn = work.mailer.conn;
    let now = work.now();
    if let Some(next) = next_due(config, work.mailer.now) {
        rows::insert_timer(conn, WEEKLY, None, None, next)?;
    }
    let tz = config.calendar.tz();
    let today = work.mailer.now.with_timezone(&tz).date_naive();
    let day = |d: NaiveDate| d.to_string();
    let (from, to) = (today - Duration::days(7), today - Duration::days(1));
    let (prev_from, prev_to) = (today - Duration::days(14), today - Duration::days(8));
    let (start, end) = report::period(tz, &day(from), &day(to), "")?;
    let (prev_start, prev_end) = report::period(tz, &day(prev_from), &day(prev_to), "")?;
    let name = |id: &str| {
        config
            .department(id)
            .map_or(id.to_string(), |d| d.name.clone())
    };

    let mut sent = 0;
    for (recipient, departments) in audience(config) {
        let shown = |d: &str| departments.as_ref().is_none_or(|set| set.contains(d));
        let week = report::figures(conn, start, end, now, shown)?;
        let before = report::figures(conn, prev_start, prev_end, now, shown)?;
        let mut keys: BTreeSet<(String, String)> = BTreeSet::new();
        for l in week.iter().chain(&before) {
            keys.insert((l.department.clone(), l.milestone.clone()));
        }
        let find = |lines: &[Line], k: &(String, String)| {
            lines
                .iter()
                .find(|l| l.department == k.0 && l.milestone == k.1)
                .cloned()
        };
        let lines: Vec<Value> = keys
            .iter()
            .map(|k| {
                let w = find(&week, k);
                let b = find(&before, k);
                let figures = |l: &Option<Line>| match l {
                    Some(l) => json!({"met": l.met, "missed": l.missed, "pending": l.pending,
                        "pct": pct(l), "median": l.median_minutes, "p90": l.p90_minutes}),
                    None => json!({"met": 0, "missed": 0, "pending": 0, "pct": null, "median": null, "p90": null}),
                };
                json!({"department": name(&k.0), "milestone": k.1, "week": figures(&w), "before": figures(&b)})
            })
            .collect();
        let mut missed = Vec::new();
        let mut answers: BTreeMap<String, usize> = BTreeMap::new();
        for d in rows::started_between(conn, start, end)? {
            if !shown(&d.department) || !matches!(d.state(now), "missed" | "met late") {
                continue;
            }
            if let Some(case) = cases::get(conn, d.case_id)? {
                missed.push(json!({"case": case.case, "subject": case.subject,
                    "department": name(&d.department), "milestone": d.label,
                    "due": outgoing::local_time(config, d.due_at), "state": d.state(now)}));
            }
        }
        for case in cases::list(conn)? {
            if case.opened_at >= start
                && case.opened_at < end
                && case.departments().any(shown)
                && let Some(a) = &case.satisfaction
            {
                *answers.entry(a.clone()).or_default() += 1;
            }
        }
        let names: Vec<String> = match &departments {
            Some(set) => set.iter().map(|d| name(d)).collect(),
            None => vec!["全部部门 all departments".into()],
        };
        let ctx = json!({
            "report": {
                "from": day(from), "to": day(to), "prev_from": day(prev_from), "prev_to": day(prev_to),
                "departments": names, "lines": lines, "missed": missed,
                "satisfaction": answers.into_iter().map(|(a, n)| json!({"answer": a, "count": n})).collect::<Vec<_>>(),
            },
            "company": outgoing::company_context(config),
        });
        let csv = [csv_attachment(&week, &day(from), &day(to))?];
        let cause = format!("timer:{}", timer.id);
        let mut letter = Letter::notice(
            WEEKLY,
            None,
            outgoing::mailbox("", &recipient)?,
            "weekly_report.txt",
            &ctx,
            &cause,
            None,
        );
        letter.parts = Some(Parts::given(&csv));
        sent += usize::from(work.mailer.queue(letter)?);
    }
    Ok(format!(
        "weekly report {} – {} to {sent} recipient(s)",
        day(from),
        day(to)
    ))
}
