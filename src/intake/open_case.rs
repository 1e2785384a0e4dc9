//! Opening a case for a message that continues none: the case row and its number,
//! the department it goes to, its clocks, the case record to the department and the
//! acknowledgement to the sender (unless the sender is held back: a recent bounce, or
//! RFC 3834's limit on answering one sender).

use anyhow::{Context, Result};
use chrono::{DateTime, Datelike, Utc};
use rusqlite::Connection;

use super::{Intake, Report, Step};
use crate::message::Message;
use crate::rules::Classification;
use crate::sla::Event;
use crate::store::{self, Outcome, messages};

impl Intake {
    /// Opens a case for a message; `parent`: the closed case it follows on from.
    pub(super) fn open_case(
        &self,
        step: &Step<'_>,
        msg: &Message,
        mut report: Report,
        parent: Option<&store::CaseRow>,
    ) -> Result<Report> {
        let conn = step.conn;
        let now = step.now;
        let class = match parent {
            // A customer coming back on an old matter: same kind, same department.
            Some(p) => Classification {
                category: crate::case::Category::parse(&p.category)
                    .unwrap_or(crate::case::Category::Unclassified),
                priority: crate::case::Priority::parse(&p.priority)
                    .unwrap_or(crate::case::Priority::Normal),
                department: p.department.clone(),
                rules: vec![format!("follows {}", p.case)],
                set_aside: false,
                asked: None,
            },
            // What corrections taught about the sender comes before the words.
            None => self.taught(
                conn,
                msg,
                step.class.cloned().unwrap_or_else(|| self.classify(msg)),
            )?,
        };
        let department = self
            .config
            .department(&class.department)
            .or_else(|| {
                self.config
                    .department(&self.config.intake.triage_department)
            })
            .context("The triage department is missing from the config")?;
        let language = msg.language().code();
        let subject = if msg.subject.is_empty() {
            if language == "zh" {
                "(无主题)"
            } else {
                "(no subject)"
            }
        } else {
            &msg.subject
        };
        let (case_id, number) = store::cases::insert(
            conn,
            &store::NewCase {
                prefix: &self.config.intake.case_prefix,
                year: now.with_timezone(&self.config.calendar.tz()).year(),
                category: class.category.as_str(),
                priority: class.priority.as_str(),
                department: &department.id,
                sender: &msg.reply_address().email,
                sender_name: msg.from.name.as_deref(),
                subject,
                language,
                rules: &class.rules,
                at: now.timestamp(),
            },
        )?;
        step.record(msg, Outcome::Case, Some(case_id), None)?;
        if let Some(id) = &msg.message_id {
            store::cases::add_message_id(conn, id, case_id)?;
        }
        if let Some(p) = parent {
            store::cases::set_parent(conn, case_id, p.id)?;
            store::cases::add_event(conn, p.id, now.timestamp(), "followed_by", &number)?;
        }
        let detail = format!(
            "{} {} to {} (rules: {})",
            class.category,
            class.priority,
            department.id,
            if class.rules.is_empty() {
                "none".to_string()
            } else {
                class.rules.join(", ")
            }
        );
        // A collaboration request asks several departments: each gets the case record
        // and its own clocks; the lead is the one the rules chose.
        let mut involved = Vec::new();
        if class.category == crate::case::Category::CollaborationRequest && parent.is_none() {
            // Classification kept them when its rule looked; otherwise look now.
            let looked_up;
            let asked = match &class.asked {
                Some(asked) => asked,
                None => {
                    looked_up = self.rules.departments_asked(msg, &self.rules_context());
                    &looked_up
                }
            };
            for id in asked {
                if *id != department.id
                    && let Some(d) = self.config.department(id)
                {
                    store::cases::add_involved(conn, case_id, &d.id)?;
                    involved.push(d);
                }
            }
        }
        let case = store::cases::get(conn, case_id)?.context("The case just opened is missing")?;
        let work = self.clockwork(step);
        work.event(&case, Event::Received, &detail)?;
        if class.category == crate::case::Category::CollaborationRequest {
            let today = self.today(now);
            let read_now;
            let dates = match step.dates.filter(|d| d.day == today) {
                Some(prepared) => &prepared.found,
                None => {
                    read_now = crate::reply::milestones::extract_dates(&msg.body, today);
                    &read_now
                }
            };
            work.dated_milestones(&case, dates)?;
        }
        let change = self.change(step, &case, msg);
        for d in std::iter::once(department).chain(involved) {
            change.route(d)?;
            store::cases::add_event(conn, case_id, now.timestamp(), "routed", &d.id)?;
        }

        let no_ack = match self.no_ack_reason(msg) {
            Some(why) => Some(why),
            // A set-aside message opened by a person is answered all the same.
            None if class.category == crate::case::Category::Unclassified
                && !self.config.intake.acknowledge_unclassified
                && step.late.is_none() =>
            {
                Some("no rule claims it (intake.acknowledge_unclassified = false)".to_string())
            }
            None => self.held_back(step, &msg.reply_address().email)?,
        };
        match &no_ack {
            None => {
                change.acknowledge(department, msg.reply_address(), language, step.late)?;
                store::cases::add_event(
                    conn,
                    case_id,
                    now.timestamp(),
                    "acknowledged",
                    &msg.reply_address().email,
                )?;
            }
            Some(why) => {
                store::cases::add_event(conn, case_id, now.timestamp(), "not_acknowledged", why)?
            }
        }
        report.outcome = Outcome::Case.as_str();
        report.case = Some(number);
        report.category = Some(class.category.as_str().to_string());
        report.priority = Some(class.priority.as_str().to_string());
        report.department = Some(department.id.clone());
        report.acknowledged = no_ack.is_none();
        report.reason = no_ack.map(|why| format!("not acknowledged: {why}"));
        Ok(report)
    }

    /// Why automatic mail to this address is held back now: a recent bounce, or the
    /// hourly limit — whose first crossing also alerts the administrator.
    pub(super) fn held_back(&self, step: &Step<'_>, to: &str) -> Result<Option<String>> {
        let now = step.now.timestamp();
        if let Some((until, reason)) = store::alerts::suppressed(step.conn, to, now)? {
            return Ok(Some(format!(
                "{reason}; no automatic mail to {to} until {}",
                crate::outgoing::local_time(&self.config, until)
            )));
        }
        let over = self.over_ack_limit(step.conn, to, step.now)?;
        let key = format!("flood:{to}");
        let repeat = crate::alerts::Repeat::After(86_400);
        if let Some(why) = &over
            && !crate::alerts::standing(step.conn, &key, repeat, now)?
        {
            let count = messages::count_from_since(step.conn, to, now - 3600)?;
            crate::alerts::raise(
                &self.mailer(step),
                &key,
                &format!("Flood from {to}"),
                &format!(
                    "{to} sent {count} messages in the last hour; {why}. Each message still opens or joins a case; check whether it is a loop or an attack."
                ),
                crate::alerts::Repeat::After(86_400),
            )?;
        }
        Ok(over)
    }

    /// RFC 3834 §2 asks responders to limit how often they answer one sender.
    pub(super) fn over_ack_limit(
        &self,
        conn: &Connection,
        to: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let limit = self.config.intake.max_acks_per_sender_per_hour;
        let sent = store::outbox::count_to_since(conn, "ack", to, now.timestamp() - 3600)?;
        Ok((sent >= i64::from(limit)).then(|| {
            format!("{to} already had {sent} acknowledgements this hour (intake.max_acks_per_sender_per_hour = {limit})")
        }))
    }
}
