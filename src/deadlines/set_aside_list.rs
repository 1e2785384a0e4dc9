//! The daily list of set-aside mail to the triage department: once each working day
//! at `[spam] list_at`, one mail numbering what was set aside since the last list —
//! time, sender, subject, why — so that a message set aside by mistake is seen within
//! a day and opened with a reply `Open: N` (see `intake::set_aside`). One timer row at
//! a time, like the weekly digest: after firing, the next working day's is written,
//! so a daemon that was down for a week sends one list, naming all of it.

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use serde_json::json;

use super::Clockwork;
use crate::calendar::Calendar;
use crate::outgoing::{self, Letter};
use crate::store::deadlines::{self as rows, TimerRow};
use crate::store::set_aside;

pub const SET_ASIDE_LIST: &str = "set_aside_list";

/// Makes sure the next list is a row, when the list is on.
pub fn ensure_timer(work: &Clockwork<'_>) -> Result<()> {
    let Some(time) = work.mailer.config.spam.list_at else {
        return Ok(());
    };
    if rows::pending_global(work.mailer.conn, SET_ASIDE_LIST)?.is_some() {
        return Ok(());
    }
    let next = next_working(&work.mailer.config.calendar, work.mailer.now, time);
    rows::insert_timer(
        work.mailer.conn,
        SET_ASIDE_LIST,
        None,
        None,
        next.timestamp(),
    )?;
    Ok(())
}

/// The first working day's local `time` strictly after `after`.
pub fn next_working(calendar: &Calendar, after: DateTime<Utc>, time: NaiveTime) -> DateTime<Utc> {
    let tz = calendar.tz();
    let first = after.with_timezone(&tz).date_naive();
    first
        .iter_days()
        .take(60)
        .filter(|d| calendar.is_working_day(*d))
        .filter_map(|d| tz.from_local_datetime(&d.and_time(time)).earliest())
        .map(|t| t.with_timezone(&Utc))
        .find(|t| *t > after)
        .unwrap_or(after + chrono::TimeDelta::days(1))
}

pub fn fire(work: &Clockwork<'_>, timer: &TimerRow) -> Result<String> {
    let config = work.mailer.config;
    let conn = work.mailer.conn;
    let now = work.mailer.now;
    if let Some(time) = config.spam.list_at {
        let next = next_working(&config.calendar, now, time);
        rows::insert_timer(conn, SET_ASIDE_LIST, None, None, next.timestamp())?;
    }
    let items = set_aside::unlisted(conn)?;
    if items.is_empty() {
        return Ok("nothing set aside since the last list: no list".into());
    }
    let triage = config
        .department(&config.intake.triage_department)
        .context("The triage department is missing from the config")?;
    let lines: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            json!({
                "number": i + 1,
                "id": m.id,
                "received_at": outgoing::local_time(config, m.received_at),
                "sender": m.sender.as_deref().unwrap_or("?"),
                "subject": m.subject.as_deref().unwrap_or(""),
                "reason": m.reason.as_deref().unwrap_or(""),
            })
        })
        .collect();
    let ctx = json!({
        "list": {
            "date": outgoing::local_time(config, now.timestamp()),
            "count": items.len(),
            "items": lines,
            "folder": config.mailbox.set_aside_folder.as_deref().unwrap_or(""),
        },
        "department": outgoing::department_context(triage),
        "company": outgoing::company_context(config),
    });
    // The cause carries a reply token, so that the list's Message-ID, which an
    // `Open: N` reply names, cannot be guessed by someone who never saw the list.
    let token = crate::reply::token::token(
        work.mailer.token_key,
        &format!("set-aside-list-{}", timer.id),
        &triage.id,
    );
    work.mailer.queue(Letter::notice(
        SET_ASIDE_LIST,
        None,
        outgoing::mailbox(&triage.name, &triage.address)?,
        "set_aside_list.txt",
        &ctx,
        &format!("timer:{}:{token}", timer.id),
        None,
    ))?;
    let list = set_aside::last_queued(conn, SET_ASIDE_LIST)?
        .context("The set-aside list just queued is missing")?;
    for (i, m) in items.iter().enumerate() {
        set_aside::mark_listed(conn, m.id, &list, i as i64 + 1, now.timestamp())?;
    }
    Ok(format!(
        "set-aside list of {} message(s) to {}",
        items.len(),
        triage.address
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_next_list_is_on_the_next_working_day() {
        let cal = Calendar::default_for(chrono_tz::Asia::Shanghai);
        let at = NaiveTime::from_hms_opt(9, 30, 0).unwrap();
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // Wednesday before 09:30: today; after it: Thursday.
        assert_eq!(
            next_working(&cal, t("2026-12-02T08:00:00+08:00"), at),
            t("2026-12-02T09:30:00+08:00")
        );
        assert_eq!(
            next_working(&cal, t("2026-12-02T09:30:00+08:00"), at),
            t("2026-12-03T09:30:00+08:00")
        );
        // Friday after it: Monday.
        assert_eq!(
            next_working(&cal, t("2026-12-04T10:00:00+08:00"), at),
            t("2026-12-07T09:30:00+08:00")
        );
    }
}
