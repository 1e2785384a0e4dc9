//! Corrections that teach (issue 15). A department that moves a case from where the
//! rules put it — `Department:` to another department, `Category:` to another kind
//! of matter — says the rules were wrong for that mail; each such change is a row
//! in `corrections` (`store::corrections`), written in the same transaction as the
//! change itself.
//!
//! When the same sender writes again, what was taught comes before the words:
//! a sender whose cases were corrected twice the same way is routed that way (the
//! case's rules say so first: `learned: 2 cases of this sender corrected to …`;
//! colleagues are not taught routes, since each request names its department);
//! otherwise the side their earlier cases ended on (customer or supplier) is the
//! last fallback of who they are, after `suppliers`, `vip_customers` and the parties
//! file (`rules::Context::history`).

use anyhow::Result;

use super::{Intake, Step, department::fresh};
use crate::case::Category;
use crate::config::Department;
use crate::message::Message;
use crate::rules::Classification;
use crate::store::corrections::{self, Field, NewCorrection};
use crate::store::{CaseRow, cases};

impl Intake {
    /// `Category: …` from a department of the case (or the triage department).
    pub(super) fn recategorise(
        &self,
        step: &Step<'_>,
        case: &CaseRow,
        by: &Department,
        msg: &Message,
        to: Category,
    ) -> Result<String> {
        let conn = step.conn;
        let now = step.now.timestamp();
        cases::set_category(conn, case.id, to.as_str())?;
        cases::add_event(
            conn,
            case.id,
            now,
            "recategorised",
            &format!("{} → {}", case.category, to.as_str()),
        )?;
        let changed = self
            .clockwork(step)
            .recompute_case(&fresh(conn, case.id)?)?;
        self.record_correction(step, case, by, msg, Field::Category, to.as_str())?;
        Ok(format!(
            "category {} ({changed} deadline(s) recomputed)",
            to.as_str()
        ))
    }

    /// Records that `by` moved `before` (the case as it was) in `field` to `to`; the
    /// row keeps where the case stands now and the rule that had decided it.
    pub(super) fn record_correction(
        &self,
        step: &Step<'_>,
        before: &CaseRow,
        by: &Department,
        msg: &Message,
        field: Field,
        to: &str,
    ) -> Result<()> {
        let after = fresh(step.conn, before.id)?;
        let from = match field {
            Field::Category => &before.category,
            Field::Department => &before.department,
        };
        // The rule that decided; a case opened by an earlier lesson names that first.
        let rule = before
            .rules
            .iter()
            .find(|r| !r.starts_with("learned: "))
            .map_or("", String::as_str);
        corrections::record(
            step.conn,
            &NewCorrection {
                case_id: before.id,
                at: step.now.timestamp(),
                sender: &after.sender,
                by_address: &msg.from.email,
                by_department: &by.id,
                field,
                from,
                to,
                category: &after.category,
                department: &after.department,
                rule,
            },
        )?;
        tracing::info!(
            case = %after.case,
            department = %by.id,
            field = field.as_str(),
            "Case corrected: {} {from} → {to} (rule: {})",
            field.as_str(),
            if rule.is_empty() { "none" } else { rule }
        );
        Ok(())
    }

    /// The rules' verdict on a new case, with what corrections taught about its
    /// sender: their corrected side (then the words again), and a route corrected
    /// twice the same way over the words.
    pub(super) fn taught(
        &self,
        conn: &rusqlite::Connection,
        msg: &Message,
        class: Classification,
    ) -> Result<Classification> {
        let sender = msg.reply_address().email.clone();
        let mut class = match corrections::history_role(conn, &sender)? {
            Some(role) => {
                let mut ctx = self.rules_context();
                ctx.history = Some(role);
                self.rules.classify(msg, &ctx)
            }
            None => class,
        };
        // A colleague's requests name the department each time; only outside senders
        // are taught a route.
        let colleague = crate::rules::is_internal(&sender, &self.config.intake.internal_domains);
        if !colleague
            && let Some(lesson) = corrections::learned(conn, &sender)?
            && let Some(category) = Category::parse(&lesson.category)
            && self.config.department(&lesson.department).is_some()
            && (category, lesson.department.as_str()) != (class.category, class.department.as_str())
        {
            tracing::info!(
                sender = %sender,
                category = category.as_str(),
                department = %lesson.department,
                "Routed as taught: {}",
                lesson.reason()
            );
            class.rules.insert(0, lesson.reason());
            class.category = category;
            class.department = lesson.department;
            class.set_aside = false;
        }
        Ok(class)
    }
}
