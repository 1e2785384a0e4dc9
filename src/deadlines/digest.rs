//! The weekly progress digest of collaboration requests (the handbook's 项目进度跟踪表,
//! every Friday afternoon): to each initiator and each head of a department involved,
//! one mail listing their open requests, each milestone with its state, and what is
//! overdue with the reason given. One timer row at a time; after firing, the next one
//! is written for the following week, so a daemon that was down for a month sends one
//! digest, not four.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{Value, json};

use super::{Clockwork, DIGEST};
use crate::outgoing::{self, Letter};
use crate::store::cases;
use crate::store::deadlines::{self as rows, TimerRow};

/// Makes sure the next digest is a row, when the digest is on.
pub fn ensure_timer(work: &Clockwork<'_>) -> Result<()> {
    let Some((weekday, time)) = work.mailer.config.sla.digest else {
        return Ok(());
    };
    if rows::pending_global(work.mailer.conn, DIGEST)?.is_some() {
        return Ok(());
    }
    let next = work
        .mailer
        .config
        .calendar
        .next_weekly(work.mailer.now, weekday, time);
    rows::insert_timer(work.mailer.conn, DIGEST, None, None, next.timestamp())?;
    Ok(())
}

pub fn fire(work: &Clockwork<'_>, timer: &TimerRow) -> Result<String> {
    let config = work.mailer.config;
    let conn = work.mailer.conn;
    let now = work.now();
    let open = cases::open(conn, Some("collaboration_request"))?;
    // recipient → the requests they see
    let mut by_recipient: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for case in &open {
        let deadlines = rows::for_case(conn, case.id)?;
        let milestones: Vec<Value> = deadlines
            .iter()
            .filter(|d| d.cancelled_at.is_none())
            .map(|d| super::fire::deadline_context(config, d, now))
            .collect();
        let overdue: Vec<Value> = milestones
            .iter()
            .filter(|m| m["state"] == "missed")
            .cloned()
            .collect();
        let department = config.department(&case.department);
        let names: Vec<&str> = case
            .departments()
            .map(|id| config.department(id).map_or(id, |d| d.name.as_str()))
            .collect();
        let entry = json!({
            "case": outgoing::case_context(config, case),
            "department": department.map(outgoing::department_context).unwrap_or(Value::Null),
            "departments": names,
            "milestones": milestones,
            "overdue": overdue,
        });
        // The initiator and the heads of every department involved.
        let mut recipients = vec![case.sender.clone()];
        for dep in case.departments().filter_map(|id| config.department(id)) {
            if dep.managers.is_empty() {
                recipients.push(dep.address.clone());
            } else {
                recipients.extend(dep.managers.iter().cloned());
            }
        }
        recipients.sort();
        recipients.dedup();
        for r in recipients {
            by_recipient.entry(r).or_default().push(entry.clone());
        }
    }
    if let Some((weekday, time)) = config.sla.digest {
        let next = config.calendar.next_weekly(work.mailer.now, weekday, time);
        rows::insert_timer(conn, DIGEST, None, None, next.timestamp())?;
    }
    if by_recipient.is_empty() {
        return Ok("no open collaboration requests: no digest".into());
    }
    let week = outgoing::local_time(config, now);
    for (recipient, requests) in &by_recipient {
        let ctx = json!({
            "digest": { "date": week, "requests": requests, "count": requests.len() },
            "company": outgoing::company_context(config),
        });
        work.mailer.queue(Letter::notice(
            "digest",
            None,
            outgoing::mailbox("", recipient)?,
            "digest.txt",
            &ctx,
            &format!("timer:{}", timer.id),
            None,
        ))?;
    }
    for case in &open {
        cases::add_event(
            conn,
            case.id,
            now,
            "digest",
            "in the weekly progress digest",
        )?;
    }
    Ok(format!(
        "digest of {} request(s) to {} recipient(s)",
        open.len(),
        by_recipient.len()
    ))
}
