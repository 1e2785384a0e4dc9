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
use std::sync::{Arc, mpsc};

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
/// benchmark's full mix (one run each, a thread per batch then): 64 gave 1,049 msg/s
/// at 96 MiB peak RSS, 16 gave 1,032 at 81 MiB, 4 gave 1,007 at 84 MiB; composing in
/// place, 971 at 82 MiB.
const QUEUE: usize = 16;

/// One recipe for the thread, and where its bytes go.
type Job = (Recipe<'static>, mpsc::SyncSender<Result<Composed>>);

/// The composing thread, for as long as its owner (the intake) lives: one thread,
/// not one per batch, so that its allocations stay in one malloc arena. Peak RSS of
/// the benchmark's full mix: with a thread per batch 97, 100 and 84 MiB over three
/// runs; with this one 83, 85, 86, then 86, 86, 99; composing in place, 82–83.
pub struct Thread {
    jobs: mpsc::SyncSender<Job>,
}

impl Thread {
    /// Starts the thread; it ends when this is dropped. `from` is the sender of
    /// every mail.
    pub fn start(templates: Arc<Templates>, from: Mailbox) -> Result<Thread> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("compose".into())
            .spawn(move || {
                for (recipe, reply) in queue {
                    // A panic is this mail's error, not the end of the thread.
                    let composed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        recipe.compose(&templates, &from)
                    }))
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("composing the mail panicked")));
                    // The store may have given up on this batch: nobody to tell.
                    let _ = reply.send(composed);
                }
            })?;
        Ok(Thread { jobs })
    }
}

/// The store's side, for one batch: where [`super::Mailer`] hands recipes, and
/// where their bytes come back.
pub struct Composer<'a> {
    thread: &'a Thread,
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
    composed: mpsc::Receiver<Result<Composed>>,
}

/// An outbox row written without its bytes.
pub struct Filling {
    pub row: i64,
    /// The ledger key of the original the mail carries, if it carries one.
    pub ledger_key: Option<String>,
}

/// The bytes of a row written without them.
pub struct Filled {
    pub filling: Filling,
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

impl<'a> Composer<'a> {
    /// A batch's composer on `thread`.
    pub fn new(thread: &'a Thread) -> Composer<'a> {
        Composer {
            thread,
            pending: RefCell::new(VecDeque::new()),
            submitted: Cell::new(0),
        }
    }

    /// Hands a recipe to the thread; `row` is the outbox row that waits for it.
    pub fn submit(&self, recipe: Recipe<'_>, row: Option<Filling>) {
        let job = self.submitted.get();
        self.submitted.set(job + 1);
        let (reply, composed) = mpsc::sync_channel(1);
        // A send fails only if the thread is gone; the reply's sender is dropped with
        // the job then, and the wait for it says so.
        let _ = self.thread.jobs.send((recipe.into_owned(), reply));
        self.pending
            .borrow_mut()
            .push_back(Pending { job, row, composed });
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

    /// Hands `fill` the rows whose bytes are ready, oldest first, without waiting.
    pub fn fill_ready(&self, fill: &mut impl FnMut(Filled) -> Result<()>) -> Result<()> {
        loop {
            let ready = {
                let mut pending = self.pending.borrow_mut();
                let Some(front) = pending.front() else {
                    return Ok(());
                };
                match front.composed.try_recv() {
                    Ok(composed) => pending.pop_front().map(|p| (p, composed)),
                    Err(mpsc::TryRecvError::Empty) => return Ok(()),
                    Err(mpsc::TryRecvError::Disconnected) => None,
                }
            };
            let Some((p, composed)) = ready else {
                return Err(gone());
            };
            take(p, composed, fill)?;
        }
    }

    /// Hands `fill` every row still waiting, as its bytes come.
    pub fn fill_rest(&self, fill: &mut impl FnMut(Filled) -> Result<()>) -> Result<()> {
        while let Some(p) = self.pending.borrow_mut().pop_front() {
            let composed = p.composed.recv().map_err(|_| gone())?;
            take(p, composed, fill)?;
        }
        Ok(())
    }
}

fn gone() -> anyhow::Error {
    NotComposed(anyhow::anyhow!("the composing thread is gone")).into()
}

fn take(
    p: Pending,
    composed: Result<Composed>,
    fill: &mut impl FnMut(Filled) -> Result<()>,
) -> Result<()> {
    let composed = composed.map_err(NotComposed)?;
    p.row
        .map_or(Ok(()), |filling| fill(Filled { filling, composed }))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use chrono::DateTime;
    use serde_json::json;

    use super::{Composer, Filled, Filling, NotComposed, Thread};
    use crate::compose::AutoSubmitted;
    use crate::outgoing::Recipe;
    use crate::templates::{REQUIRED, Templates};

    /// A composing thread whose templates each say only their number.
    fn thread() -> Thread {
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
        let templates = Arc::new(Templates::load(&dir).unwrap());
        Thread::start(templates, "Support <support@example.com>".parse().unwrap()).unwrap()
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
            parts: Cow::Owned(Vec::new()),
            date: DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
        }
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
                f.filling.row,
                String::from_utf8_lossy(&f.composed.bytes).into_owned(),
            ));
            Ok(())
        }
    }

    #[test]
    fn a_rolled_back_message_takes_its_waiting_rows_back() {
        let thread = thread();
        let c = Composer::new(&thread);
        let mut rows = Rows::new();
        c.submit(recipe(1, "ack.en.txt"), waiting(1));
        let mark = c.mark();
        // A message that queued a mail (one that cannot even be composed) and was
        // then rolled back: the next message's row takes the same rowid.
        c.submit(recipe(2, "no-such-template.txt"), waiting(2));
        c.forget_since(mark);
        c.fill_ready(&mut collect(&mut rows)).unwrap();
        c.submit(recipe(3, "ack.en.txt"), waiting(2));
        // Queued before: composed all the same, and nothing to fill.
        c.submit(recipe(4, "ack.en.txt"), None);
        c.fill_rest(&mut collect(&mut rows)).unwrap();
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
    fn every_row_is_filled_once_and_in_order_whatever_the_pace() {
        let thread = thread();
        let mut rows = Rows::new();
        // Two batches on the same thread, each more than the queue holds.
        for batch in 0..2 {
            let c = Composer::new(&thread);
            for n in 0..100 {
                c.submit(
                    recipe(batch * 100 + n, "ack.en.txt"),
                    waiting(batch * 100 + n),
                );
                c.fill_ready(&mut collect(&mut rows)).unwrap();
            }
            c.fill_rest(&mut collect(&mut rows)).unwrap();
        }
        let order: Vec<i64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(order, (0..200).collect::<Vec<_>>());
        for (n, text) in &rows {
            assert!(text.contains(&format!("This is mail {n}.")), "{text}");
        }
    }

    #[test]
    fn a_mail_that_cannot_be_composed_ends_the_attempt_and_names_its_template() {
        let thread = thread();
        let c = Composer::new(&thread);
        let mut rows = Rows::new();
        c.submit(recipe(1, "ack.en.txt"), waiting(1));
        c.submit(recipe(2, "no-such-template.txt"), None);
        let e = c.fill_rest(&mut collect(&mut rows)).unwrap_err();
        assert!(e.is::<NotComposed>(), "{e:#}");
        assert!(format!("{e:#}").contains("no-such-template.txt"), "{e:#}");
        assert_eq!(rows.len(), 1, "the mail before it was filled");
        // The thread goes on serving the next batch.
        let c = Composer::new(&thread);
        c.submit(recipe(3, "ack.en.txt"), waiting(3));
        c.fill_rest(&mut collect(&mut rows)).unwrap();
        assert_eq!(rows.len(), 2);
    }
}
