//! An escalation contact (`[sla] escalation_contacts`, the general manager) answering
//! a mail of the case, usually the escalation itself. The handbook gives them no part
//! in working the case, so of the reply commands only a legal hold is theirs
//! (`Hold: yes` / `Hold: no`, issue 18: the managers or the escalation contacts decide
//! what must be kept for a dispute). Anything else is answered with what they may do,
//! and their text is not relayed to the customer: it was written to us, not to them.
//! The reply is verified as a department's is (token and, where configured, the
//! receiving server's authentication results; src/intake/department.rs).

use anyhow::Result;

use super::{Intake, Step};
use crate::config::Department;
use crate::message::Message;
use crate::reply::{commands, commands::Command};
use crate::store::{CaseRow, cases};

impl Intake {
    /// Applies a verified escalation contact's reply. Returns the reason recorded in
    /// the ledger.
    pub(super) fn contact_reply(
        &self,
        step: &Step<'_>,
        case: &CaseRow,
        department: &Department,
        msg: &Message,
    ) -> Result<String> {
        let conn = step.conn;
        let now = step.now.timestamp();
        let parsed = commands::parse(&msg.body);
        let mut errors = parsed.errors.clone();
        let mut hold = None;
        for c in &parsed.commands {
            match c {
                Command::Hold(on) => hold = Some(*on),
                _ => errors.push(
                    "as an escalation contact you may set or lift a legal hold by reply (Hold: yes / Hold: no); the case's department changes the rest"
                        .to_string(),
                ),
            }
        }
        errors.dedup();
        if !errors.is_empty() {
            return self.answer_errors(
                step,
                case,
                department,
                msg,
                &errors,
                "escalation contact's reply",
            );
        }
        let Some(on) = hold else {
            cases::add_event(conn, case.id, now, "contact_note", &msg.from.email)?;
            return Ok("escalation contact's reply recorded (no command)".into());
        };
        let change = crate::records::hold::set(
            conn,
            case.id,
            on,
            now,
            &msg.from.email,
            ", by reply (escalation contact)",
        )?;
        Ok(format!(
            "escalation contact's reply: legal hold {}: {change:?}",
            if on { "on" } else { "off" }
        ))
    }
}
