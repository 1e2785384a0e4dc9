//! A department answering a case by email. The reply must carry the token of the mail
//! it answers (in In-Reply-To/References, or in the plus-addressed Reply-To it was
//! sent to) AND come from an address allowed to speak for that department — and,
//! where configured, pass the receiving server's authentication checks. A From
//! header alone proves nothing (DESIGN.md, invariant 6).
//!
//! Commands at the top of the reply (`Status:`, `Priority:`, `Department:`,
//! `Category:`, `Internal:`, `Delay:`, `Hold:`) change the case (a `Department:` or
//! `Category:` is also a correction that teaches: src/intake/correction.rs); a reply with any bad command changes
//! nothing and is answered with what is valid. The rest of the text goes to the
//! customer unless the reply is internal.

use anyhow::{Context, Result};

use super::{Intake, Step};
use crate::case::Status;
use crate::config::Department;
use crate::message::Message;
use crate::reply::{auth, commands, commands::Command, token};
use crate::sla::Event;
use crate::store::{self, CaseRow, cases};

/// What a message on a case is, as far as the department loop is concerned.
pub enum Verdict<'c> {
    /// A verified reply from this department.
    Department(&'c Department),
    /// A verified reply from an escalation contact (`[sla] escalation_contacts`) to a
    /// mail of this department's on the case, such as an escalation: it may set or
    /// lift a legal hold, nothing else (src/intake/contact.rs).
    Contact(&'c Department),
    /// It claims to be from a department and is not: changes nothing. `answer`: the
    /// writer is one of ours (or holds a valid token) and is told why.
    Refused {
        reason: String,
        answer: Option<&'c Department>,
    },
    /// Anyone else: the customer, a colleague, a machine.
    Other,
}

impl Intake {
    pub(super) fn verdict<'c>(&'c self, case: &CaseRow, msg: &Message, key: &[u8]) -> Verdict<'c> {
        let sender = msg.from.email.as_str();
        let mut tokens: Vec<(String, String, String)> = msg
            .in_reply_to
            .iter()
            .chain(msg.references.iter())
            .filter_map(|id| token::parse_message_id(id))
            .collect();
        if let Some(delimiter) = self.config.replies.subaddress_delimiter {
            tokens.extend(crate::thread::subaddress_tokens(msg, delimiter));
        }
        let valid = tokens.iter().find(|(number, dept, tok)| {
            number.eq_ignore_ascii_case(&case.case) && token::verify(key, &case.case, dept, tok)
        });
        let speaks_for_any = self
            .config
            .departments
            .iter()
            .find(|d| d.may_command(sender));
        match valid {
            Some((_, dept, _)) => {
                let Some(department) = self.config.department(dept) else {
                    return Verdict::Refused {
                        reason: format!(
                            "the reply token names department \"{dept}\", which is no longer configured"
                        ),
                        answer: speaks_for_any,
                    };
                };
                if department.may_command(sender) {
                    if let Err(why) = self.authenticated(msg) {
                        return Verdict::Refused {
                            reason: format!("not authenticated: {why}"),
                            answer: None,
                        };
                    }
                    // The triage desk re-routes and re-files what it once held.
                    if !case.departments().any(|d| d == department.id)
                        && department.id != self.config.intake.triage_department
                    {
                        return Verdict::Refused {
                            reason: format!(
                                "the case has moved to department \"{}\"; only its replies may change it",
                                case.department
                            ),
                            answer: Some(department),
                        };
                    }
                    Verdict::Department(department)
                } else if self
                    .config
                    .sla
                    .escalation_contacts
                    .iter()
                    .any(|c| c == sender)
                {
                    if let Err(why) = self.authenticated(msg) {
                        return Verdict::Refused {
                            reason: format!("not authenticated: {why}"),
                            answer: None,
                        };
                    }
                    Verdict::Contact(department)
                } else if sender == case.sender {
                    Verdict::Other
                } else {
                    Verdict::Refused {
                        reason: format!(
                            "{sender} is not one of the addresses of {} (address, members, managers)",
                            department.name
                        ),
                        answer: Some(department),
                    }
                }
            }
            None => match speaks_for_any {
                Some(d) if sender != case.sender => Verdict::Refused {
                    reason: if tokens.is_empty() {
                        "no reply token: answer by replying to the case mail Switchboard sent"
                            .into()
                    } else {
                        "the reply token does not match this case".into()
                    },
                    answer: Some(d),
                },
                _ => Verdict::Other,
            },
        }
    }

    /// RFC 8601 results from our own receiving server, when the config asks for them.
    pub(super) fn authenticated(&self, msg: &Message) -> Result<(), String> {
        let replies = &self.config.replies;
        if !replies.require_authenticated {
            return Ok(());
        }
        let Some(authserv) = replies.authserv_id.as_deref() else {
            return Err("no authserv_id configured".into());
        };
        let headers: Vec<&str> = msg
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("Authentication-Results"))
            .map(|(_, value)| value.as_str())
            .collect();
        auth::check_authentication_results(&headers, authserv, msg.from.domain())
    }

    /// A reply whose commands had errors changes nothing: the writer is answered with
    /// what was wrong (`command_error.txt`), the case's timeline says so, and the
    /// ledger's reason is returned.
    pub(super) fn answer_errors(
        &self,
        step: &Step<'_>,
        case: &CaseRow,
        department: &Department,
        msg: &Message,
        errors: &[String],
        what: &str,
    ) -> Result<String> {
        self.change(step, case, msg)
            .command_error(department, errors)?;
        let errors = errors.join("; ");
        cases::add_event(
            step.conn,
            case.id,
            step.now.timestamp(),
            "command_error",
            &errors,
        )?;
        Ok(format!("{what} with errors, nothing changed: {errors}"))
    }

    /// Applies a verified department reply. Returns the reason recorded in the ledger.
    pub(super) fn department_reply(
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
        let mut target_department = None;
        for c in &parsed.commands {
            // A legal hold is the managers' (or an escalation contact's, where one is
            // also a department address) to give, not every member's (records/hold.rs).
            if let Command::Hold(_) = c
                && !department.managers.contains(&msg.from.email)
                && !self
                    .config
                    .sla
                    .escalation_contacts
                    .contains(&msg.from.email)
            {
                errors.push(format!(
                    "Hold: only the managers of {} may set or lift a legal hold by reply; ask one of them, or the administrator (switchboard cases hold)",
                    department.name
                ));
            }
            if let Command::Category(to) = c
                && to.as_str() == case.category
            {
                errors.push(format!("Category: the case is already {}", to.as_str()));
            }
            if let Command::Department(name) = c {
                match self.find_department(name) {
                    Some(d) if d.id == case.department => {
                        errors.push(format!("Department: the case is already with {}", d.id))
                    }
                    Some(d) => target_department = Some(d),
                    None => errors.push(format!(
                        "Department: expected one of {}; found \"{name}\"",
                        self.config
                            .departments
                            .iter()
                            .map(|d| d.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
            }
        }
        if !errors.is_empty() {
            return self.answer_errors(step, case, department, msg, &errors, "department reply");
        }
        let work = self.clockwork(step);
        work.department_replied(case, &department.id, &msg.from.email)?;
        let mut internal = false;
        let mut done = Vec::new();
        for c in &parsed.commands {
            let case = fresh(conn, case.id)?;
            match c {
                Command::Priority(p) if p.as_str() != case.priority => {
                    cases::set_priority(conn, case.id, p.as_str())?;
                    cases::add_event(
                        conn,
                        case.id,
                        now,
                        "priority",
                        &format!("{} → {}", case.priority, p.as_str()),
                    )?;
                    let changed = work.recompute_case(&fresh(conn, case.id)?)?;
                    done.push(format!(
                        "priority {} ({changed} deadline(s) recomputed)",
                        p.as_str()
                    ));
                }
                Command::Priority(_) => {}
                Command::Department(_) => {
                    if let Some(to) = target_department {
                        cases::set_department(conn, case.id, &to.id)?;
                        store::deadlines::reassign_open(conn, case.id, &to.id)?;
                        cases::add_event(
                            conn,
                            case.id,
                            now,
                            "reassigned",
                            &format!("{} → {}", case.department, to.id),
                        )?;
                        self.record_correction(
                            step,
                            &case,
                            department,
                            msg,
                            store::corrections::Field::Department,
                            &to.id,
                        )?;
                        let moved = fresh(conn, case.id)?;
                        self.change(step, &moved, msg).route(to)?;
                        done.push(format!("reassigned to {}", to.id));
                    }
                }
                Command::Status(s) if Status::parse(&case.status).is_some_and(|now| now >= *s) => {
                    // Going back is not something a reply can do; say so in the ledger.
                    done.push(format!(
                        "status {} ignored: the case is already {}",
                        s.as_str(),
                        case.status
                    ));
                }
                Command::Status(s) => {
                    work.advance(&case, *s, &msg.from.email)?;
                    done.push(format!("status {}", s.as_str()));
                }
                Command::Internal(yes) => internal = *yes,
                Command::Hold(on) => {
                    let change = crate::records::hold::set(
                        conn,
                        case.id,
                        *on,
                        now,
                        &msg.from.email,
                        ", by reply",
                    )?;
                    done.push(format!(
                        "legal hold {}: {change:?}",
                        if *on { "on" } else { "off" }
                    ));
                }
                Command::Category(to) => {
                    done.push(self.recategorise(step, &case, department, msg, *to)?);
                }
                Command::Delay(reason) => {
                    done.push(self.delay(step, &case, &department.id, reason)?);
                }
            }
        }
        let case = fresh(conn, case.id)?;
        let department = self
            .config
            .department(&case.department)
            .unwrap_or(department);
        if !internal && !parsed.text.is_empty() {
            self.change(step, &case, msg)
                .relay(department, &parsed.text)?;
            cases::add_event(conn, case.id, now, "relayed", &case.sender)?;
            done.push("relayed to the customer".into());
            let status = Status::parse(&case.status).unwrap_or(Status::New);
            if status < Status::Contacted {
                work.advance(
                    &case,
                    Status::Contacted,
                    "first answer relayed to the customer",
                )?;
            }
            let case = fresh(conn, case.id)?;
            if case.status == Status::Resolved.as_str()
                && cases::last_event_at(conn, case.id, Event::FeedbackSent.as_str())?
                    .is_none_or(|t| case.resolved_at.is_some_and(|r| t < r))
            {
                work.event(
                    &case,
                    Event::FeedbackSent,
                    "the result relayed to the customer",
                )?;
            }
        } else if internal {
            cases::add_event(conn, case.id, now, "internal_note", &msg.from.email)?;
        }
        Ok(if done.is_empty() {
            "department reply recorded".into()
        } else {
            format!("department reply: {}", done.join(", "))
        })
    }

    /// `Delay: reason` concerns the writing department's next open milestone by due
    /// date (any department's if it has none); a notice less than 3 days before it is
    /// flagged late (the handbook asks for 3 days' notice).
    fn delay(
        &self,
        step: &Step<'_>,
        case: &CaseRow,
        department: &str,
        reason: &str,
    ) -> Result<String> {
        let now = step.now.timestamp();
        let open = store::deadlines::open_for_case(step.conn, case.id)?;
        let next = open
            .iter()
            .filter(|d| d.department == department)
            .min_by_key(|d| d.due_at)
            .or_else(|| open.iter().min_by_key(|d| d.due_at));
        let Some(d) = next else {
            cases::add_event(step.conn, case.id, now, "delay", reason)?;
            return Ok("delay noted (no open milestone)".into());
        };
        let late = d.due_at - now < 3 * 86_400;
        store::deadlines::set_delay(step.conn, d.id, reason, now, late)?;
        let flag = if late {
            " — late notice (less than 3 days ahead)"
        } else {
            ""
        };
        cases::add_event(
            step.conn,
            case.id,
            now,
            "delay",
            &format!("{}: {reason}{flag}", d.label),
        )?;
        Ok(format!("delay noted on {}{flag}", d.label))
    }

    /// A department by id, name or alias, as people write it.
    fn find_department(&self, name: &str) -> Option<&Department> {
        let lower = name.trim().to_lowercase();
        self.config.departments.iter().find(|d| {
            d.id == lower
                || d.name.to_lowercase() == lower
                || super::name_parts(&d.name)
                    .iter()
                    .any(|n| n.to_lowercase() == lower)
                || d.aliases.iter().any(|a| a.to_lowercase() == lower)
        })
    }
}

pub(super) fn fresh(conn: &rusqlite::Connection, id: i64) -> Result<CaseRow> {
    cases::get(conn, id)?.context("The case is missing")
}
