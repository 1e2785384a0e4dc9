//! Firing due timers. Each timer runs under a savepoint and is marked fired with what
//! it did in the same transaction as the mail it queued: a crash before the commit
//! fires it again (nothing was sent yet), a crash after it does not (invariant 2).
//! A timer that cannot be carried out (a template error, an address we cannot send
//! to) is marked fired with the reason, so one bad row never stalls the clock.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::{Value, json};

use super::{BREACH, Clockwork, DATED, DIGEST, ESCALATION, REMINDER, SURVEY, digest};
use crate::case::Status;
use crate::config::Config;
use crate::outgoing::{self, Letter};
use crate::sla::{Event, Policies};
use crate::store::deadlines::{self as rows, DeadlineRow, TimerRow};
use crate::store::{CaseRow, cases};
use crate::templates::Templates;

/// How many timers one transaction fires at most.
const BATCH: u32 = 200;

/// Fires every timer due at `now`; returns how many fired.
pub fn fire_due(
    conn: &mut Connection,
    config: &Config,
    templates: &Templates,
    policies: &Policies,
    now: DateTime<Utc>,
) -> Result<usize> {
    let mut fired = 0;
    loop {
        let n = super::in_transaction(conn, config, templates, policies, now, |work| {
            digest::ensure_timer(work)?;
            crate::records::retention::ensure_timer(work.mailer.conn, work.mailer.config, now)?;
            super::set_aside_list::ensure_timer(work)?;
            super::weekly::ensure_timer(work)?;
            let tx = work.mailer.conn;
            let due = rows::due(tx, now.timestamp(), BATCH)?;
            for timer in &due {
                tx.execute_batch("SAVEPOINT timer")?;
                let outcome = match fire_one(work, timer) {
                    Ok(outcome) => {
                        tx.execute_batch("RELEASE timer")?;
                        tracing::info!(timer = timer.id, kind = %timer.kind, "Timer fired: {outcome}");
                        outcome
                    }
                    Err(e) => {
                        tx.execute_batch("ROLLBACK TO timer; RELEASE timer")?;
                        tracing::error!(timer = timer.id, kind = %timer.kind, "Timer failed: {e:#}");
                        format!("failed: {e:#}")
                    }
                };
                rows::mark_fired(tx, timer.id, now.timestamp(), &outcome)?;
            }
            Ok(due.len())
        })?;
        fired += n;
        if n < BATCH as usize {
            return Ok(fired);
        }
    }
}

fn fire_one(work: &Clockwork<'_>, timer: &TimerRow) -> Result<String> {
    let conn = work.mailer.conn;
    if timer.kind == DIGEST {
        return digest::fire(work, timer);
    }
    if timer.kind == crate::records::retention::TIMER {
        return crate::records::retention::fire(conn, work.mailer.config, work.mailer.now);
    }
    if timer.kind == super::set_aside_list::SET_ASIDE_LIST {
        return super::set_aside_list::fire(work, timer);
    }
    if timer.kind == super::weekly::WEEKLY {
        return super::weekly::fire(work, timer);
    }
    let case = timer
        .case_id
        .and_then(|id| cases::get(conn, id).transpose())
        .transpose()?
        .context("The timer's case is missing")?;
    if timer.kind == SURVEY {
        return send_survey(work, &case, timer);
    }
    let d = timer
        .deadline_id
        .and_then(|id| rows::get(conn, id).transpose())
        .transpose()?
        .context("The timer's deadline is missing")?;
    if !d.is_open() {
        return Ok("nothing to do: the deadline was met or cancelled".into());
    }
    match timer.kind.as_str() {
        REMINDER => remind(work, &case, &d, timer),
        BREACH => breach(work, &case, &d, timer),
        ESCALATION => escalate(
            work,
            &case,
            &d,
            timer,
            2,
            &work.mailer.config.sla.escalation_contacts,
        ),
        other => Ok(format!("unknown timer kind \"{other}\": nothing done")),
    }
}

fn remind(
    work: &Clockwork<'_>,
    case: &CaseRow,
    d: &DeadlineRow,
    timer: &TimerRow,
) -> Result<String> {
    if work.now() >= d.due_at {
        // The daemon was down past the deadline: the escalation says it all.
        return Ok("not sent: the deadline passed before the reminder could go out".into());
    }
    let config = work.mailer.config;
    let department = config
        .department(&d.department)
        .with_context(|| format!("Department \"{}\" is no longer in the config", d.department))?;
    let ctx = context(work, case, d, json!({ "level": 0, "reason": "" }));
    let to = outgoing::mailbox(&department.name, &department.address)?;
    work.mailer.queue(Letter::notice(
        "reminder",
        Some(case),
        to,
        "reminder.txt",
        &ctx,
        &format!("timer:{}", timer.id),
        Some(&department.id),
    ))?;
    cases::add_event(
        work.mailer.conn,
        case.id,
        work.now(),
        "reminded",
        &format!("{} → {}", d.label, department.address),
    )?;
    Ok(format!("reminded {}", department.address))
}

fn breach(
    work: &Clockwork<'_>,
    case: &CaseRow,
    d: &DeadlineRow,
    timer: &TimerRow,
) -> Result<String> {
    let conn = work.mailer.conn;
    rows::mark_breached(conn, d.id, d.due_at)?;
    cases::add_event(conn, case.id, work.now(), "missed", &d.label)?;
    let milestone = work.policy(case).and_then(|p| p.milestone(&d.milestone));
    if milestone.map_or(d.milestone.starts_with(DATED), |m| m.escalate) {
        let config = work.mailer.config;
        let managers = config
            .department(&d.department)
            .map(|dep| {
                if dep.managers.is_empty() {
                    vec![dep.address.clone()]
                } else {
                    dep.managers.clone()
                }
            })
            .unwrap_or_default();
        return escalate(work, case, d, timer, 1, &managers);
    }
    if milestone.is_some_and(|m| m.met_by.contains(&Event::SurveyAnswered)) {
        cases::set_satisfaction(conn, case.id, Some("no_answer"))?;
        cases::add_event(
            conn,
            case.id,
            work.now(),
            "survey_unanswered",
            "no answer within the time",
        )?;
        cases::set_status(conn, case.id, Status::Closed.as_str())?;
        work.event(case, Event::Closed, "the survey went unanswered")?;
        return Ok("recorded: the survey went unanswered; case closed".into());
    }
    Ok("recorded as missed".into())
}

fn escalate(
    work: &Clockwork<'_>,
    case: &CaseRow,
    d: &DeadlineRow,
    timer: &TimerRow,
    level: u8,
    to: &[String],
) -> Result<String> {
    if to.is_empty() {
        tracing::warn!(case = %case.case, "Escalation level {level} of \"{}\" has nobody to go to: set [sla] escalation_contacts", d.label);
        return Ok(format!(
            "level {level}: nobody to send to ([sla] escalation_contacts is empty)"
        ));
    }
    let reason = format!("{} missed", d.label);
    let ctx = context(work, case, d, json!({ "level": level, "reason": reason }));
    for address in to {
        work.mailer.queue(Letter::notice(
            "escalation",
            Some(case),
            outgoing::mailbox("", address)?,
            "escalation.txt",
            &ctx,
            &format!("timer:{}", timer.id),
            Some(&d.department),
        ))?;
    }
    let who = to.join(", ");
    cases::add_event(
        work.mailer.conn,
        case.id,
        work.now(),
        "escalated",
        &format!("level {level}: {} → {who}", d.label),
    )?;
    Ok(format!("level {level} escalation to {who}"))
}

fn send_survey(work: &Clockwork<'_>, case: &CaseRow, timer: &TimerRow) -> Result<String> {
    if case.status == Status::Closed.as_str() || case.satisfaction.is_some() {
        return Ok("nothing to do: the case is closed or answered".into());
    }
    if let Some((_, reason)) =
        crate::store::alerts::suppressed(work.mailer.conn, &case.sender, work.now())?
    {
        return Ok(format!("survey not sent: {reason}"));
    }
    let config = work.mailer.config;
    let ctx = json!({
        "case": outgoing::case_context(config, case),
        "company": outgoing::company_context(config),
    });
    let language = if case.language == "zh" { "zh" } else { "en" };
    work.mailer.queue(Letter::notice(
        "survey",
        Some(case),
        outgoing::mailbox(case.sender_name.as_deref().unwrap_or(""), &case.sender)?,
        &format!("survey.{language}.txt"),
        &ctx,
        &format!("timer:{}", timer.id),
        None,
    ))?;
    work.event(case, Event::SurveySent, &case.sender)?;
    Ok(format!("survey sent to {}", case.sender))
}

/// What the reminder and escalation templates may use.
fn context(work: &Clockwork<'_>, case: &CaseRow, d: &DeadlineRow, escalation: Value) -> Value {
    let config = work.mailer.config;
    let department = config.department(&d.department);
    json!({
        "case": outgoing::case_context(config, case),
        "department": department.map(outgoing::department_context).unwrap_or(Value::Null),
        "deadline": deadline_context(config, d, work.now()),
        "escalation": escalation,
        "company": outgoing::company_context(config),
    })
}

pub fn deadline_context(config: &Config, d: &DeadlineRow, now: i64) -> Value {
    json!({
        "label": d.label,
        "milestone": d.milestone,
        "started_at": outgoing::local_time(config, d.started_at),
        "due_at": outgoing::local_time(config, d.due_at),
        "state": d.state(now),
        "delay_reason": d.delay_reason.clone().unwrap_or_default(),
        "delay_late": d.delay_late,
    })
}
