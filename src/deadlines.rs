//! The clock: milestones become deadline rows when their starting event happens, and
//! each deadline gets timer rows — remind, breach (level 1 escalation), level 2 — that
//! the clock loop fires when due. Everything is a row written in the transaction of
//! the change that causes it, and a timer is marked fired in the transaction that
//! queues its mail, so a restart loses none and repeats none (DESIGN.md, invariants
//! 2 and 5).
//!
//! Time is counted on the company calendar (`calendar`); notifications of a policy on
//! business time wait for working hours, those of a 24×7 policy go out at once.

pub mod digest;
mod fire;
pub mod set_aside_list;
pub mod weekly;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::case::Status;
use crate::outgoing::Mailer;
use crate::sla::{Event, Milestone, Policies, Policy};
use crate::store::deadlines::{self as rows, DeadlineRow, NewDeadline};
use crate::store::{CaseRow, cases};

pub use fire::fire_due;

/// Timer kinds, as stored.
pub const REMINDER: &str = "reminder";
pub const BREACH: &str = "breach";
pub const ESCALATION: &str = "escalation";
pub const SURVEY: &str = "survey";
pub const DIGEST: &str = "digest";

/// Milestones taken from the dates a collaboration request gives are named
/// `date-1`, `date-2`…; they are met when the case is resolved.
const DATED: &str = "date-";

/// The clock's view of one transaction: where to write and what to go by.
pub struct Clockwork<'a> {
    pub mailer: Mailer<'a>,
    pub policies: &'a Policies,
}

impl Clockwork<'_> {
    fn now(&self) -> i64 {
        self.mailer.now.timestamp()
    }

    fn at(&self, t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap_or(self.mailer.now)
    }

    pub fn policy(&self, case: &CaseRow) -> Option<&Policy> {
        self.policies.for_case(&case.category, &case.priority)
    }

    /// Records that `event` happened on the case now: meets the deadlines it meets,
    /// starts the milestones it starts, and what follows from it (the survey after the
    /// result, nothing more after closing).
    pub fn event(&self, case: &CaseRow, event: Event, detail: &str) -> Result<()> {
        self.event_by(case, event, detail, None)
    }

    /// A verified reply from `department`: it meets that department's deadlines that
    /// a reply meets (on a collaboration request, each department confirms its own).
    pub fn department_replied(&self, case: &CaseRow, department: &str, detail: &str) -> Result<()> {
        self.event_by(case, Event::DepartmentReplied, detail, Some(department))
    }

    fn event_by(
        &self,
        case: &CaseRow,
        event: Event,
        detail: &str,
        department: Option<&str>,
    ) -> Result<()> {
        let conn = self.mailer.conn;
        let now = self.now();
        cases::add_event(conn, case.id, now, event.as_str(), detail)?;
        let policy = self.policy(case);
        // What is still open after this event, for the milestones it starts: read
        // once, not again for each of them.
        let mut still_open = Vec::new();
        for d in rows::open_for_case(conn, case.id)? {
            if department.is_some_and(|dep| dep != d.department) {
                still_open.push(d);
                continue;
            }
            let met = if let Some(m) = policy.and_then(|p| p.milestone(&d.milestone)) {
                m.met_by.contains(&event)
            } else {
                d.milestone.starts_with(DATED) && matches!(event, Event::Resolved)
            };
            if met {
                rows::mark_met(conn, d.id, now)?;
                let how = if now <= d.due_at { "met" } else { "met late" };
                cases::add_event(
                    conn,
                    case.id,
                    now,
                    "deadline_met",
                    &format!("{} ({how})", d.label),
                )?;
            } else if event == Event::Closed {
                rows::cancel(conn, d.id, now)?;
            } else {
                still_open.push(d);
            }
        }
        if event == Event::Closed {
            rows::cancel_case_timers(conn, case.id, SURVEY, now)?;
            return Ok(());
        }
        if let Some(policy) = policy {
            for m in policy
                .milestones
                .iter()
                .filter(|m| m.starts.contains(&event))
            {
                self.start(case, policy, m, &mut still_open)?;
            }
        }
        if event == Event::FeedbackSent {
            let survey = &self.policies.survey;
            let calendar = &self.mailer.config.calendar;
            let at = calendar.next_working_time(calendar.add(
                self.mailer.now,
                survey.send_after,
                survey.send_clock,
            ));
            rows::insert_timer(conn, SURVEY, Some(case.id), None, at.timestamp())?;
        }
        Ok(())
    }

    /// Moves the case forward to `target`, through every step on the way: a
    /// department that answers "resolved" on a fresh case has analysed it and
    /// contacted the customer too, and those milestones are met now. Going back is
    /// not a thing a reply can do; such a status is ignored.
    pub fn advance(&self, case: &CaseRow, target: Status, detail: &str) -> Result<()> {
        let conn = self.mailer.conn;
        let current = Status::parse(&case.status).unwrap_or(Status::New);
        for step in Status::ALL
            .into_iter()
            .filter(|s| *s > current && *s <= target)
        {
            cases::set_status(conn, case.id, step.as_str())?;
            if step == Status::Resolved {
                cases::set_resolved_at(conn, case.id, Some(self.now()))?;
            }
            let case = cases::get(conn, case.id)?.context("The case is missing")?;
            let event = match step {
                Status::New | Status::Analysed => Event::Analysed,
                Status::Contacted => Event::Contacted,
                Status::Resolved => Event::Resolved,
                Status::Closed => Event::Closed,
            };
            self.event(&case, event, detail)?;
        }
        Ok(())
    }

    /// Opens a deadline for a milestone, unless one is already running. A milestone a
    /// department's reply meets, on a case that involves several departments, is one
    /// deadline per department. `open`: the case's open deadlines, to which the new
    /// ones are added.
    fn start(
        &self,
        case: &CaseRow,
        policy: &Policy,
        m: &Milestone,
        open: &mut Vec<DeadlineRow>,
    ) -> Result<()> {
        let conn = self.mailer.conn;
        let each = m.met_by.contains(&Event::DepartmentReplied) && !case.involved.is_empty();
        let departments: Vec<&str> = if each {
            case.departments().collect()
        } else {
            vec![case.department.as_str()]
        };
        let calendar = &self.mailer.config.calendar;
        let due = calendar.add(self.mailer.now, m.within, m.clock);
        for department in departments {
            if open
                .iter()
                .any(|d| d.milestone == m.name && (!each || d.department == department))
            {
                continue;
            }
            let label = match self.mailer.config.department(department) {
                Some(dep) if each => format!("{} · {}", m.label, dep.name),
                _ => m.label.clone(),
            };
            let new = NewDeadline {
                case_id: case.id,
                milestone: &m.name,
                label: &label,
                department,
                started_at: self.now(),
                due_at: due.timestamp(),
            };
            let id = rows::insert(conn, &new)?;
            let d = new.row(id);
            self.schedule(&d, policy, m, &[])?;
            open.push(d);
            cases::add_event(
                conn,
                case.id,
                self.now(),
                "deadline_started",
                &format!(
                    "{label} due {} ({})",
                    crate::outgoing::local_time(self.mailer.config, due.timestamp()),
                    describe(m.within, m.clock)
                ),
            )?;
        }
        Ok(())
    }

    /// Writes the timers of a deadline, leaving out kinds that have already fired for
    /// it (after a recomputation, a reminder that went out does not go out again).
    /// They are one statement: a deadline's timers are written together.
    fn schedule(
        &self,
        d: &DeadlineRow,
        policy: &Policy,
        m: &Milestone,
        fired: &[String],
    ) -> Result<()> {
        let conn = self.mailer.conn;
        let mut timers: Vec<rows::NewTimer<'_>> = Vec::with_capacity(3);
        let timer = |kind, at: DateTime<Utc>| rows::NewTimer::of(kind, d.case_id, d.id, at);
        let calendar = &self.mailer.config.calendar;
        let start = self.at(d.started_at);
        let due = self.at(d.due_at);
        // A business policy's reminders and escalations wait for working hours; the
        // closing minute itself (a deadline due at 18:00) still counts as working.
        let notify_at = |t: DateTime<Utc>| {
            let closing = calendar.is_working_time(t - chrono::Duration::seconds(1));
            if policy.around_the_clock() || closing {
                t
            } else {
                calendar.next_working_time(t)
            }
        };
        let not_fired = |kind: &str| !fired.iter().any(|f| f == kind);
        if let Some(percent) = m.remind_at
            && not_fired(REMINDER)
        {
            let at = notify_at(calendar.fraction(start, due, percent, m.clock));
            if at < due {
                timers.push(timer(REMINDER, at));
            }
        }
        if not_fired(BREACH) {
            timers.push(timer(BREACH, notify_at(due)));
        }
        if m.escalate
            && let Some(after) = m.level2_after
            && not_fired(ESCALATION)
        {
            timers.push(timer(
                ESCALATION,
                notify_at(calendar.add(due, after, m.clock)),
            ));
        }
        rows::insert_timers(conn, &timers)
    }

    /// Milestones a collaboration request dates itself ("海报初稿 12月10日"): due at the
    /// end of that working day, met when the case is resolved, escalated like any other.
    pub fn dated_milestones(&self, case: &CaseRow, dates: &[(NaiveDate, String)]) -> Result<()> {
        let conn = self.mailer.conn;
        let calendar = &self.mailer.config.calendar;
        for (i, (date, label)) in dates.iter().enumerate() {
            let Some(end) = date.and_hms_opt(18, 0, 0) else {
                continue;
            };
            let Some(due) = calendar.tz().from_local_datetime(&end).earliest() else {
                continue;
            };
            let due = due.with_timezone(&Utc);
            // "渠道清单 12月15日 提交（销售部）" is the sales department's milestone.
            let department = case
                .departments()
                .find(|id| {
                    self.mailer.config.department(id).is_some_and(|d| {
                        d.name
                            .split_whitespace()
                            .any(|part| part.chars().count() >= 2 && label.contains(part))
                    })
                })
                .unwrap_or(&case.department);
            let id = rows::insert(
                conn,
                &NewDeadline {
                    case_id: case.id,
                    milestone: &format!("{DATED}{}", i + 1),
                    label,
                    department,
                    started_at: self.now(),
                    due_at: due.timestamp(),
                },
            )?;
            // The handbook asks for 3 days' notice of a delay: remind the department
            // on the working day before that, at 10:00, while there is still time.
            let mut day = *date - chrono::Duration::days(3);
            while !calendar.is_working_day(day) && day > *date - chrono::Duration::days(14) {
                day -= chrono::Duration::days(1);
            }
            let reminder = day
                .and_hms_opt(10, 0, 0)
                .and_then(|t| calendar.tz().from_local_datetime(&t).earliest())
                .map(|t| t.with_timezone(&Utc));
            let timer = |kind, at: DateTime<Utc>| rows::NewTimer::of(kind, case.id, id, at);
            let mut timers = Vec::with_capacity(2);
            if let Some(reminder) = reminder
                && reminder > self.mailer.now
            {
                timers.push(timer(REMINDER, reminder));
            }
            timers.push(timer(BREACH, due));
            rows::insert_timers(conn, &timers)?;
        }
        Ok(())
    }

    /// Recomputes the open deadlines of one case under its current policy (after a
    /// priority change). Returns how many changed.
    pub fn recompute_case(&self, case: &CaseRow) -> Result<usize> {
        let open = rows::open_for_case(self.mailer.conn, case.id)?;
        self.recompute(case, &open)
    }

    fn recompute(&self, case: &CaseRow, open: &[DeadlineRow]) -> Result<usize> {
        let conn = self.mailer.conn;
        let now = self.now();
        let policy = self.policy(case);
        let mut changed = 0;
        for d in open.iter().filter(|d| !d.milestone.starts_with(DATED)) {
            let Some((policy, m)) = policy.and_then(|p| p.milestone(&d.milestone).map(|m| (p, m)))
            else {
                rows::cancel(conn, d.id, now)?;
                cases::add_event(
                    conn,
                    case.id,
                    now,
                    "deadline_cancelled",
                    &format!("{}: no longer in the policy", d.label),
                )?;
                changed += 1;
                continue;
            };
            let due = self
                .mailer
                .config
                .calendar
                .add(self.at(d.started_at), m.within, m.clock)
                .timestamp();
            if due == d.due_at {
                continue;
            }
            let fired: Vec<String> = rows::timers_for_case(conn, case.id)?
                .into_iter()
                .filter(|t| t.deadline_id == Some(d.id) && t.fired_at.is_some())
                .map(|t| t.kind)
                .collect();
            rows::cancel_timers_of(conn, d.id, now)?;
            rows::set_due(conn, d.id, due)?;
            let recomputed = DeadlineRow {
                due_at: due,
                ..d.clone()
            };
            self.schedule(&recomputed, policy, m, &fired)?;
            cases::add_event(
                conn,
                case.id,
                now,
                "deadline_recomputed",
                &format!(
                    "{}: due {} (was {})",
                    d.label,
                    crate::outgoing::local_time(self.mailer.config, due),
                    crate::outgoing::local_time(self.mailer.config, d.due_at)
                ),
            )?;
            changed += 1;
        }
        Ok(changed)
    }

    /// After the policy file or the calendar changed: every open deadline is computed
    /// again from when it started. Returns (deadlines changed, cases touched).
    pub fn recompute_all(&self) -> Result<(usize, usize)> {
        let conn = self.mailer.conn;
        let open = rows::all_open(conn)?;
        let mut changed = 0;
        let mut touched = 0;
        let mut i = 0;
        while i < open.len() {
            let case_id = open.get(i).map(|d| d.case_id).unwrap_or_default();
            let j = open
                .iter()
                .skip(i)
                .position(|d| d.case_id != case_id)
                .map_or(open.len(), |p| i + p);
            if let Some(case) = cases::get(conn, case_id)? {
                let n = self.recompute(&case, open.get(i..j).unwrap_or(&[]))?;
                changed += n;
                touched += usize::from(n > 0);
            }
            i = j;
        }
        Ok((changed, touched))
    }
}

/// Runs `f` with a [`Clockwork`] over a new transaction, and commits if it succeeds.
pub fn in_transaction<R>(
    conn: &mut rusqlite::Connection,
    config: &crate::config::Config,
    templates: &crate::templates::Templates,
    policies: &Policies,
    now: DateTime<Utc>,
    f: impl FnOnce(&Clockwork<'_>) -> Result<R>,
) -> Result<R> {
    let tx = conn.transaction()?;
    let key = crate::outgoing::reply_key(&tx)?;
    let work = Clockwork {
        mailer: Mailer {
            conn: &tx,
            config,
            templates,
            token_key: &key,
            now,
            composer: None,
        },
        policies,
    };
    let result = f(&work)?;
    tx.commit().context("Cannot commit the clock's work")?;
    Ok(result)
}

/// What the clock goes by, as a fingerprint: the policy file and the calendar. When it
/// differs from the one stored, open deadlines are recomputed.
pub fn fingerprint(policies: &Policies, calendar: &crate::calendar::Calendar) -> String {
    crate::digest::sha256_prefix(format!("{}\n{calendar:?}", policies.fingerprint), 8)
}

/// At start (and reload): recomputes open deadlines if the policies or the calendar
/// changed, and warns when the calendar has no holidays for this year or the next.
pub fn on_start(
    conn: &mut rusqlite::Connection,
    config: &crate::config::Config,
    templates: &crate::templates::Templates,
    policies: &Policies,
    now: DateTime<Utc>,
) -> Result<()> {
    for warning in config
        .calendar
        .coverage_warnings(now.with_timezone(&config.calendar.tz()).date_naive())
    {
        tracing::warn!("{warning}");
    }
    in_transaction(conn, config, templates, policies, now, recompute_if_changed)
}

/// Recomputes open deadlines if the policies or the calendar changed since the last
/// start, and says so in the log.
fn recompute_if_changed(work: &Clockwork<'_>) -> Result<()> {
    let conn = work.mailer.conn;
    let now = fingerprint(work.policies, &work.mailer.config.calendar);
    let before = rows::meta_get(conn, "sla_fingerprint")?;
    if before.as_deref() == Some(now.as_bytes()) {
        return Ok(());
    }
    if before.is_some() {
        let (changed, cases) = work.recompute_all()?;
        tracing::warn!(
            deadlines = changed,
            cases,
            "The SLA policies or the calendar changed: {changed} open deadline(s) on {cases} case(s) recomputed"
        );
    }
    rows::meta_set(conn, "sla_fingerprint", now.as_bytes())?;
    Ok(())
}

/// "2 hours of working time", "3 working days", "24 hours".
fn describe(span: crate::calendar::Span, clock: crate::calendar::ClockKind) -> String {
    use crate::calendar::{ClockKind, Span};
    match (clock, span) {
        (ClockKind::Business, Span::Days(1)) => "1 working day".into(),
        (ClockKind::Business, Span::Days(n)) => format!("{n} working days"),
        (ClockKind::Business, minutes) => format!("{minutes} of working time"),
        (ClockKind::Calendar, span) => span.to_string(),
    }
}
