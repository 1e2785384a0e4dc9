//! `switchboard cases show CASE`: everything that happened to one case, in order —
//! messages in, mail out, events, each deadline with met / missed / pending, and each
//! reminder and escalation with whom it went to.

use std::io::Write;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::config::Config;
use crate::outgoing::local_time;
use crate::store::cases::EventRow;
use crate::store::corrections::{self, CorrectionRow};
use crate::store::deadlines::{self, DeadlineRow, TimerRow};
use crate::store::messages::{self, MessageRow};
use crate::store::outbox::{self, OutboxListing};
use crate::store::{CaseRow, Db, cases};

#[derive(Serialize)]
pub struct Timeline {
    pub case: CaseRow,
    pub events: Vec<EventRow>,
    pub messages: Vec<MessageRow>,
    pub outgoing: Vec<OutboxListing>,
    pub deadlines: Vec<DeadlineView>,
    pub timers: Vec<TimerRow>,
    /// `Department:` and `Category:` replies that corrected where the rules put it.
    pub corrections: Vec<CorrectionRow>,
}

#[derive(Serialize)]
pub struct DeadlineView {
    #[serde(flatten)]
    pub row: DeadlineRow,
    pub state: &'static str,
}

/// A case's timeline for `cases show` and the web view: not a restricted case's,
/// which is kept for storage only (`cases::list` says why).
pub fn load(db: &Db, number: &str, now: i64) -> Result<Timeline> {
    db.blocking(|c| {
        let t = read(c, number, now)?;
        if let Some((_, why)) = cases::restriction(c, t.case.id)? {
            bail!(
                "Case {} is restricted ({why}): it is kept for storage only (PIPL Art. 47); `switchboard archive export --case {}` hands it over where the law requires",
                t.case.case,
                t.case.case
            );
        }
        Ok(t)
    })
}

/// [`load`] on a connection of the caller's (the case archive's, read-only).
pub fn read(c: &rusqlite::Connection, number: &str, now: i64) -> Result<Timeline> {
    let number = number.trim().trim_matches(['[', ']']).to_string();
    {
        let Some(id) = cases::id_by_number(c, &number)? else {
            bail!("No case {number}");
        };
        let Some(case) = cases::get(c, id)? else {
            bail!("No case {number}");
        };
        Ok(Timeline {
            events: cases::events(c, id)?,
            messages: messages::list(c, Some(id))?,
            outgoing: outbox::list(c, Some(id))?,
            deadlines: deadlines::for_case(c, id)?
                .into_iter()
                .map(|row| DeadlineView {
                    state: row.state(now),
                    row,
                })
                .collect(),
            timers: deadlines::timers_for_case(c, id)?,
            corrections: corrections::for_case(c, id)?,
            case,
        })
    }
}

pub fn print(config: &Config, t: &Timeline, out: &mut impl Write) -> Result<()> {
    let at = |s: i64| local_time(config, s);
    let c = &t.case;
    writeln!(out, "{}  {}", c.case, c.subject)?;
    writeln!(
        out,
        "  {} · {} · {} · status {}",
        c.category, c.priority, c.department, c.status
    )?;
    let name = c.sender_name.as_deref().unwrap_or("");
    writeln!(
        out,
        "  from {name} <{}>, opened {}",
        c.sender,
        at(c.opened_at)
    )?;
    if let Some(p) = &c.parent {
        writeln!(out, "  follows case {p}")?;
    }
    if let Some(s) = &c.satisfaction {
        writeln!(out, "  satisfaction: {s}")?;
    }

    writeln!(out, "\nDeadlines")?;
    if t.deadlines.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for d in &t.deadlines {
        let r = &d.row;
        let met = r
            .met_at
            .map(|m| format!(", done {}", at(m)))
            .unwrap_or_default();
        writeln!(
            out,
            "  {:<9} {}  started {}, due {}{met}",
            d.state,
            r.label,
            at(r.started_at),
            at(r.due_at)
        )?;
        if let Some(reason) = &r.delay_reason {
            let late = if r.delay_late { " (late notice)" } else { "" };
            writeln!(out, "            delay: {reason}{late}")?;
        }
    }

    if !t.corrections.is_empty() {
        writeln!(out, "\nCorrections")?;
    }
    for k in &t.corrections {
        writeln!(
            out,
            "  {}  {}: {} → {} by {} ({}); it had been decided by \"{}\"",
            at(k.at),
            k.field,
            k.from,
            k.to,
            k.by,
            k.by_department,
            k.rule
        )?;
    }

    writeln!(out, "\nReminders and escalations")?;
    let shown: Vec<&TimerRow> = t
        .timers
        .iter()
        .filter(|t| t.kind != "survey" || t.fired_at.is_some())
        .collect();
    if shown.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for timer in shown {
        let state = match (timer.fired_at, timer.cancelled_at) {
            (Some(f), _) => format!(
                "fired {}: {}",
                at(f),
                timer.outcome.as_deref().unwrap_or("")
            ),
            (None, Some(_)) => "cancelled".to_string(),
            (None, None) => "pending".to_string(),
        };
        let about = timer
            .deadline_id
            .and_then(|id| t.deadlines.iter().find(|d| d.row.id == id))
            .map(|d| format!(" ({})", d.row.label))
            .unwrap_or_default();
        writeln!(
            out,
            "  {:<10} {}{about}  {state}",
            timer.kind,
            at(timer.fire_at)
        )?;
    }

    writeln!(out, "\nMessages in")?;
    for m in &t.messages {
        writeln!(
            out,
            "  {}  {:<11} {}  \"{}\"{}",
            at(m.received_at),
            m.outcome,
            m.sender.as_deref().unwrap_or("?"),
            m.subject.as_deref().unwrap_or(""),
            m.reason
                .as_deref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default()
        )?;
    }

    writeln!(out, "\nMail out")?;
    for o in &t.outgoing {
        writeln!(
            out,
            "  {}  {:<13} {:<7} {}",
            at(o.created_at),
            o.kind,
            o.status,
            o.recipients
        )?;
    }

    writeln!(out, "\nTimeline")?;
    for e in &t.events {
        writeln!(out, "  {}  {:<18} {}", at(e.at), e.kind, e.detail)?;
    }
    Ok(())
}
