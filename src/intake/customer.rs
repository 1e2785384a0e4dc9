//! Mail on a case from anyone but a verified department: the customer writing again
//! (passed on to the department), answering the satisfaction survey, or coming back
//! after the case was resolved (reopened within the window, else a new case linked to
//! the old one); a colleague's or a machine's mail is recorded and not passed on.

use anyhow::Result;

use super::{Intake, Report, Step, screen};
use crate::calendar::ClockKind;
use crate::case::Status;
use crate::message::Message;
use crate::reply::{quote, survey};
use crate::sla::Event;
use crate::store::{CaseRow, Outcome, cases, deadlines};

impl Intake {
    pub(super) fn customer_mail(
        &self,
        step: &Step<'_>,
        case: CaseRow,
        msg: &Message,
        mut report: Report,
    ) -> Result<Report> {
        let conn = step.conn;
        let now = step.now;
        let from_case_sender =
            msg.from.email == case.sender || msg.reply_address().email == case.sender;
        let internal = self
            .config
            .intake
            .internal_domains
            .iter()
            .any(|d| d == msg.from.domain());
        let recorded_only = if internal && !from_case_sender {
            Some("from a colleague: recorded on the case, not passed on".to_string())
        } else {
            screen::automatic(msg).map(|a| format!("{a}: recorded on the case, not passed on"))
        };
        if let Some(why) = recorded_only {
            step.record(msg, Outcome::FollowUp, Some(case.id), Some(&why))?;
            self.add_ids(conn, msg, case.id)?;
            cases::add_event(conn, case.id, now.timestamp(), "follow_up", &msg.from.email)?;
            report.reason = Some(why);
            return Ok(report);
        }
        let status = Status::parse(&case.status).unwrap_or(Status::New);
        let work = self.clockwork(step);

        if from_case_sender
            && case.satisfaction.is_none()
            && cases::last_event_at(conn, case.id, Event::SurveySent.as_str())?.is_some()
            && let Some(answer) = survey::parse_answer(&quote::trim_quoted(&msg.body))
        {
            let label = format!("{} {}", answer.label_zh(), answer.label_en());
            step.record(
                msg,
                Outcome::FollowUp,
                Some(case.id),
                Some(&format!("survey answer: {label}")),
            )?;
            self.add_ids(conn, msg, case.id)?;
            cases::set_satisfaction(conn, case.id, Some(answer.as_str()))?;
            work.event(&case, Event::SurveyAnswered, &label)?;
            if answer.needs_escalation() {
                let cs = self
                    .config
                    .department(&self.config.sla.survey_department)
                    .or_else(|| self.config.department(&case.department));
                if let Some(cs) = cs {
                    let to = if cs.managers.is_empty() {
                        vec![cs.address.clone()]
                    } else {
                        cs.managers.clone()
                    };
                    self.change(step, &case, msg)
                        .survey_escalation(cs, &to, &label)?;
                    cases::add_event(
                        conn,
                        case.id,
                        now.timestamp(),
                        "escalated",
                        &format!("survey answer {label} → {}", to.join(", ")),
                    )?;
                }
            }
            let case = super::department::fresh(conn, case.id)?;
            work.advance(&case, Status::Closed, "satisfaction recorded")?;
            report.reason = Some(format!("survey answer: {label}"));
            return Ok(report);
        }

        if from_case_sender && status >= Status::Resolved {
            let resolved = case.resolved_at.unwrap_or(case.updated_at);
            let resolved = chrono::DateTime::from_timestamp(resolved, 0).unwrap_or(now);
            let window_end = self.config.calendar.add(
                resolved,
                self.policies.reopen_within,
                ClockKind::Calendar,
            );
            if now > window_end {
                // Long after: a new matter that refers to the old one.
                return self.open_case(step, msg, report, Some(&case));
            }
            cases::set_status(conn, case.id, Status::New.as_str())?;
            cases::set_resolved_at(conn, case.id, None)?;
            cases::set_satisfaction(conn, case.id, None)?;
            deadlines::cancel_case_timers(
                conn,
                case.id,
                crate::deadlines::SURVEY,
                now.timestamp(),
            )?;
            let case = super::department::fresh(conn, case.id)?;
            work.event(&case, Event::Reopened, &msg.from.email)?;
            report.reason = Some("reopened the case".into());
        }

        step.record(
            msg,
            Outcome::FollowUp,
            Some(case.id),
            report.reason.as_deref(),
        )?;
        self.add_ids(conn, msg, case.id)?;
        cases::add_event(conn, case.id, now.timestamp(), "follow_up", &msg.from.email)?;
        let case = super::department::fresh(conn, case.id)?;
        if let Some(department) = self.config.department(&case.department) {
            self.change(step, &case, msg).follow_up(department)?;
        }
        Ok(report)
    }
}
