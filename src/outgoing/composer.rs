//! Composing intake's mail on a thread beside the store's.
//!
//! Rendering a template and building the bytes took a third of the store thread's
//! time in a text-only intake, and the store's thread sets intake's pace. None of it
//! needs the store: [`super::Mailer::queue`] writes the outbox row at once, with
//! everything but its bytes, and hands the [`Recipe`] to a thread that composes
//! while the store goes on with the batch. Between messages the store writes the
//! bytes composed so far into their rows ([`Composer::fill_ready`]), and before the
//! batch commits, the rest ([`Composer::fill_rest`]): each row and its bytes are
//! still committed in one transaction with the message that caused them (DESIGN.md,
//! invariant 1), and a batch's mail is not held in memory to its end.
//!
//! A mail that cannot be composed there ends the whole attempt with [`NotComposed`]:
//! the caller rolls the batch back and takes it in again composing in place, where
//! the error belongs to its own message and quarantines that one alone, as before.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::mpsc;

use anyhow::Result;
use lettre::message::Mailbox;

use super::Recipe;
use crate::compose::Composed;
use crate::templates::Templates;

/// An original larger than this is composed in place: copying it to the thread
/// would cost about what composing it there saves, and would hold its bytes twice.
pub const ORIGINAL_MAX: usize = 64 * 1024;

/// Recipes waiting for the thread: when it falls behind, the store waits for it
/// rather than holding copies of originals and mail not yet written. Measured on the
/// benchmark's full mix (one run each): 64 gave 1,049 msg/s at 96 MiB peak RSS, 16
/// gave 1,032 at 81 MiB, 4 gave 1,007 at 84 MiB; composing in place, 971 at 82 MiB.
const QUEUE: usize = 16;

/// The store's side: where [`super::Mailer`] hands recipes, and where their bytes
/// come back.
pub struct Composer {
    jobs: mpsc::SyncSender<(u64, Recipe<'static>)>,
    composed: mpsc::Receiver<(u64, Result<Composed>)>,
    /// The rows waiting for their bytes, oldest first. A message rolled back to its
    /// savepoint takes its own back out ([`Composer::forget_since`]), so that its
    /// bytes cannot land in a later row that reuses the rowid.
    pending: RefCell<VecDeque<Pending>>,
    submitted: Cell<u64>,
}

struct Pending {
    job: u64,
    /// `None` when the row was already queued before: composed all the same, so
    /// that an error is found here as it would be in place.
    row: Option<Filling>,
}

/// An outbox row written without its bytes.
pub struct Filling {
    pub row: i64,
    /// The ledger key of the original the mail carries, if it carries one.
    pub ledger_key: Option<String>,
}

/// The bytes of a row written without them.
pub struct Filled {
    pub row: i64,
    pub ledger_key: Option<String>,
    pub composed: Composed,
}

/// A mail of the batch could not be composed beside the store: take the batch in
/// again composing in place.
#[derive(Debug)]
pub struct NotComposed(pub anyhow::Error);

impl std::fmt::Display for NotComposed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a mail could not be composed: {:#}", self.0)
    }
}

impl std::error::Error for NotComposed {}

impl Composer {
    /// Hands a recipe to the thread; `row` is the outbox row that waits for it.
    pub fn submit(&self, recipe: Recipe<'_>, row: Option<Filling>) {
        let job = self.submitted.get();
        self.submitted.set(job + 1);
        self.pending.borrow_mut().push_back(Pending { job, row });
        // A send fails only if the thread is gone (it panicked): the job then never
        // comes back, and `fill_rest` says so.
        let _ = self.jobs.send((job, recipe.into_owned()));
    }

    /// A point to come back to if the message being taken in is rolled back.
    pub fn mark(&self) -> u64 {
        self.submitted.get()
    }

    /// Forgets the rows written since `mark`: their savepoint was rolled back. Their
    /// bytes, when they come, are dropped.
    pub fn forget_since(&self, mark: u64) {
        let mut pending = self.pending.borrow_mut();
        while pending.back().is_some_and(|p| p.job >= mark) {
            pending.pop_back();
        }
    }

    /// Hands `fill` the rows whose bytes are ready, without waiting.
    pub fn fill_ready(&self, fill: &mut impl FnMut(Filled) -> Result<()>) -> Result<()> {
        while let Ok((job, composed)) = self.composed.try_recv() {
            self.take(job, composed, fill)?;
        }
        Ok(())
    }

    /// Hands `fill` every row still waiting, as its bytes come.
    pub fn fill_rest(&self, fill: &mut impl FnMut(Filled) -> Result<()>) -> Result<()> {
        while !self.pending.borrow().is_empty() {
            let (job, composed) = self.composed.recv().map_err(|_| {
                NotComposed(anyhow::anyhow!(
                    "the composing thread ended before its work"
                ))
            })?;
            self.take(job, composed, fill)?;
        }
        Ok(())
    }

    fn take(
        &self,
        job: u64,
        composed: Result<Composed>,
        fill: &mut impl FnMut(Filled) -> Result<()>,
    ) -> Result<()> {
        // The thread composes in the order submitted, so a job older than the oldest
        // waiting row was forgotten (its message rolled back); its error too.
        let waiting = {
            let mut pending = self.pending.borrow_mut();
            match pending.front() {
                Some(p) if p.job == job => pending.pop_front(),
                _ => None,
            }
        };
        let Some(Pending { row, .. }) = waiting else {
            return Ok(());
        };
        let composed = composed.map_err(NotComposed)?;
        match row {
            Some(Filling { row, ledger_key }) => fill(Filled {
                row,
                ledger_key,
                composed,
            }),
            None => Ok(()),
        }
    }
}

/// Runs `work` with a [`Composer`] whose recipes are composed on a thread of their
/// own; `work` fills the rows it wrote before it returns. `from` is the sender of
/// every mail.
pub fn beside<T>(
    templates: &Templates,
    from: &Mailbox,
    work: impl FnOnce(&Composer) -> Result<T>,
) -> Result<T> {
    std::thread::scope(|scope| {
        let (jobs, queue) = mpsc::sync_channel::<(u64, Recipe<'static>)>(QUEUE);
        let (done, composed) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("compose".into())
            .spawn_scoped(scope, move || {
                for (job, recipe) in queue {
                    if done.send((job, recipe.compose(templates, from))).is_err() {
                        break; // the store gave up on this batch
                    }
                }
            })?;
        let composer = Composer {
            jobs,
            composed,
            pending: RefCell::new(VecDeque::new()),
            submitted: Cell::new(0),
        };
        let outcome = work(&composer);
        drop(composer); // ends the thread's queue
        thread
            .join()
            .map_err(|_| NotComposed(anyhow::anyhow!("the composing thread panicked")))?;
        outcome
    })
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use chrono::DateTime;
    use lettre::message::Mailbox;
    use serde_json::json;

    use super::{Filled, Filling, NotComposed, beside};
    use crate::compose::AutoSubmitted;
    use crate::outgoing::Recipe;
    use crate::templates::{REQUIRED, Templates};

    /// Every required template, saying only its number.
    fn templates() -> Templates {
        let dir = std::env::temp_dir().join(format!(
            "sb-composer-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for name in REQUIRED {
            std::fs::write(
                dir.join(name),
                "Subject: mail {{ n }}\n\nThis is mail {{ n }}.\n",
            )
            .unwrap();
        }
        Templates::load(&dir).unwrap()
    }

    fn recipe(n: i64, template: &'static str) -> Recipe<'static> {
        Recipe {
            kind: Cow::Borrowed("ack"),
            template: Cow::Borrowed(template),
            context: Cow::Owned(json!({ "n": n })),
            case_number: Cow::Borrowed("SB-2026-000001"),
            to: "Li Ming <liming@example.cn>".parse().unwrap(),
            reply_to: "Support <support@example.com>".parse().unwrap(),
            message_id: Cow::Owned(format!("ack.{n}@example.com")),
            in_reply_to: None,
            references: Cow::Owned(Vec::new()),
            auto: AutoSubmitted::AutoReplied,
            original: None,
            date: DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
        }
    }

    fn from() -> Mailbox {
        "Support <support@example.com>".parse().unwrap()
    }

    fn waiting(row: i64) -> Option<Filling> {
        Some(Filling {
            row,
            ledger_key: None,
        })
    }

    /// What `fill` was handed: each row and its text.
    type Rows = Vec<(i64, String)>;

    fn collect(rows: &mut Rows) -> impl FnMut(Filled) -> anyhow::Result<()> + '_ {
        |f| {
            rows.push((
                f.row,
                String::from_utf8_lossy(&f.composed.bytes).into_owned(),
            ));
            Ok(())
        }
    }

    #[test]
    fn a_rolled_back_message_takes_its_waiting_rows_back() {
        let templates = templates();
        let mut rows = Rows::new();
        beside(&templates, &from(), |c| {
            c.submit(recipe(1, "ack.en.txt"), waiting(1));
            let mark = c.mark();
            // A message that queued a mail (one that cannot even be composed) and
            // was then rolled back: the next message's row takes the same rowid.
            c.submit(recipe(2, "no-such-template.txt"), waiting(2));
            c.forget_since(mark);
            c.fill_ready(&mut collect(&mut rows))?;
            c.submit(recipe(3, "ack.en.txt"), waiting(2));
            // Queued before: composed all the same, and nothing to fill.
            c.submit(recipe(4, "ack.en.txt"), None);
            c.fill_rest(&mut collect(&mut rows))
        })
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 1);
        assert!(rows[0].1.contains("This is mail 1."), "{}", rows[0].1);
        assert_eq!(rows[1].0, 2);
        assert!(rows[1].1.contains("This is mail 3."), "{}", rows[1].1);
        assert!(
            rows[1].1.contains("Subject: [SB-2026-000001] mail 3"),
            "{}",
            rows[1].1
        );
    }

    #[test]
    fn every_row_is_filled_once_whatever_the_pace() {
        let templates = templates();
        let mut rows = Rows::new();
        beside(&templates, &from(), |c| {
            // More than the queue holds, taking what is ready as it goes.
            for n in 0..200 {
                c.submit(recipe(n, "ack.en.txt"), waiting(n));
                c.fill_ready(&mut collect(&mut rows))?;
            }
            c.fill_rest(&mut collect(&mut rows))
        })
        .unwrap();
        let order: Vec<i64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(order, (0..200).collect::<Vec<_>>());
        for (n, text) in &rows {
            assert!(text.contains(&format!("This is mail {n}.")), "{text}");
        }
    }

    #[test]
    fn a_mail_that_cannot_be_composed_ends_the_attempt_and_names_its_template() {
        let templates = templates();
        let mut rows = Rows::new();
        let e = beside(&templates, &from(), |c| {
            c.submit(recipe(1, "ack.en.txt"), waiting(1));
            c.submit(recipe(2, "no-such-template.txt"), None);
            c.fill_rest(&mut collect(&mut rows))
        })
        .unwrap_err();
        assert!(e.is::<NotComposed>(), "{e:#}");
        assert!(format!("{e:#}").contains("no-such-template.txt"), "{e:#}");
        assert_eq!(rows.len(), 1, "the mail before it was filled");
    }

    #[test]
    fn the_stores_own_error_is_returned_as_it_is() {
        let templates = templates();
        let e = beside(&templates, &from(), |c| -> anyhow::Result<()> {
            c.submit(recipe(1, "no-such-template.txt"), waiting(1));
            anyhow::bail!("disk full")
        })
        .unwrap_err();
        assert!(!e.is::<NotComposed>(), "{e:#}");
        assert_eq!(format!("{e:#}"), "disk full");
    }
}
