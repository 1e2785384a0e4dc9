//! A message that continues a case: from the case's department (its commands and its
//! answer), from an escalation contact (a legal hold), refused (it claims to speak for
//! a department and cannot), or from anyone else (the customer writing again). A
//! restricted case keeps the mail and does nothing with it.

use anyhow::{Context, Result};
use rusqlite::Connection;

use super::{Intake, Report, Step, department};
use crate::message::Message;
use crate::store::{self, Outcome};

impl Intake {
    pub(super) fn follow_up(
        &self,
        step: &Step<'_>,
        case_id: i64,
        msg: &Message,
        mut report: Report,
    ) -> Result<Report> {
        let conn = step.conn;
        let case = store::cases::get(conn, case_id)?.context("The threaded case is missing")?;
        report.outcome = Outcome::FollowUp.as_str();
        report.case = Some(case.case.clone());
        report.category = Some(case.category.clone());
        report.priority = Some(case.priority.clone());
        report.department = Some(case.department.clone());
        // A restricted case is kept for storage only (`store::cases::list` says why):
        // the mail on it is kept too, and nothing is done with it.
        if let Some((_, restricted)) = store::cases::restriction(conn, case_id)? {
            let why = format!("the case is restricted ({restricted}): kept, not acted on");
            step.record(msg, Outcome::FollowUp, Some(case_id), Some(&why))?;
            report.reason = Some(why);
            return Ok(report);
        }
        let why = match self.verdict(&case, msg, step.token_key) {
            department::Verdict::Department(d) => {
                step.record(
                    msg,
                    Outcome::FollowUp,
                    Some(case_id),
                    Some("from the department"),
                )?;
                self.add_ids(conn, msg, case_id)?;
                Some(self.department_reply(step, &case, d, msg)?)
            }
            department::Verdict::Contact(d) => {
                step.record(
                    msg,
                    Outcome::FollowUp,
                    Some(case_id),
                    Some("from an escalation contact"),
                )?;
                self.add_ids(conn, msg, case_id)?;
                Some(self.contact_reply(step, &case, d, msg)?)
            }
            department::Verdict::Refused { reason, answer } => {
                tracing::warn!(case = %case.case, sender = %msg.from.email, "Reply refused: {reason}");
                let why = format!("refused as a department reply: {reason}");
                step.record(msg, Outcome::FollowUp, Some(case_id), Some(&why))?;
                store::cases::add_event(
                    conn,
                    case_id,
                    step.now.timestamp(),
                    "refused",
                    &format!("{}: {reason}", msg.from.email),
                )?;
                if let Some(d) = answer {
                    self.change(step, &case, msg)
                        .command_error(d, &[format!("nothing was changed or relayed: {reason}")])?;
                }
                Some(why)
            }
            department::Verdict::Other => return self.customer_mail(step, case, msg, report),
        };
        report.reason = why;
        Ok(report)
    }

    pub(super) fn add_ids(&self, conn: &Connection, msg: &Message, case_id: i64) -> Result<()> {
        if let Some(id) = &msg.message_id {
            store::cases::add_message_id(conn, id, case_id)?;
        }
        Ok(())
    }
}
