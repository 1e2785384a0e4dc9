//! Composing intake's mail on a thread beside the store's.
//!
//! Rendering a template and building the bytes took a third of the store thread's
//! time in a text-only intake, and the store's thread sets intake's pace. None of it
//! needs the store: [`super::Mailer::queue`] writes the outbox row at once, with
//! everything but its bytes, and hands the [`Recipe`] to a thread that composes
//! while the store goes on with the batch. Before the batch commits, every row gets
//! its bytes ([`beside`] returns them, `outbox::fill` writes them), so the row and its
//! bytes are still committed in one transaction with the message that caused them
//! (DESIGN.md, invariant 1).
//!
//! A mail that cannot be composed here ends the whole attempt with [`NotComposed`]:
//! the caller rolls the batch back and takes it in again composing in place, where
//! the error belongs to its own message and quarantines that one alone, as before.

use std::cell::RefCell;
use std::sync::mpsc;

use anyhow::Result;
use lettre::message::Mailbox;

use super::Recipe;
use crate::compose::Composed;
use crate::templates::Templates;

/// An original larger than this is composed in place: copying it to the thread
/// would cost about what composing it there saves, and would hold its bytes twice.
pub const ORIGINAL_MAX: usize = 64 * 1024;

/// The store's side: where [`super::Mailer`] hands recipes.
pub struct Composer {
    jobs: mpsc::Sender<(usize, Recipe<'static>)>,
    /// What the rows written so far are waiting for, in order: a message rolled back
    /// to its savepoint takes its own back out ([`Composer::forget_since`]), so that
    /// its bytes cannot land in a later row that reuses the rowid.
    pending: RefCell<Vec<Pending>>,
    submitted: std::cell::Cell<usize>,
}

struct Pending {
    job: usize,
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
        self.pending.borrow_mut().push(Pending { job, row });
        // The thread ends only when this sender is dropped; a send that fails means
        // it panicked, which `beside` reports when it joins it.
        let _ = self.jobs.send((job, recipe.into_owned()));
    }

    /// A point to come back to if the message being taken in is rolled back.
    pub fn mark(&self) -> usize {
        self.pending.borrow().len()
    }

    /// Forgets the rows written since `mark`: their savepoint was rolled back.
    pub fn forget_since(&self, mark: usize) {
        self.pending.borrow_mut().truncate(mark);
    }
}

/// Runs `work` with a [`Composer`] whose recipes are composed on a thread of their
/// own, and returns what `work` returned with the bytes of every row it left
/// waiting, in the order the rows were written. `from` is the sender of every mail.
pub fn beside<T>(
    templates: &Templates,
    from: &Mailbox,
    work: impl FnOnce(&Composer) -> Result<T>,
) -> Result<(T, Vec<Filled>)> {
    std::thread::scope(|scope| {
        let (jobs, queue) = mpsc::channel::<(usize, Recipe<'static>)>();
        let thread = std::thread::Builder::new()
            .name("compose".into())
            .spawn_scoped(scope, move || {
                queue
                    .into_iter()
                    .map(|(job, recipe)| (job, recipe.compose(templates, from)))
                    .collect::<Vec<_>>()
            })?;
        let composer = Composer {
            jobs,
            pending: RefCell::new(Vec::new()),
            submitted: std::cell::Cell::new(0),
        };
        let outcome = work(&composer);
        let Composer { jobs, pending, .. } = composer;
        drop(jobs); // ends the thread's queue
        let composed = thread
            .join()
            .map_err(|_| NotComposed(anyhow::anyhow!("the composing thread panicked")))?;
        let value = outcome?;
        Ok((value, collect(pending.into_inner(), composed)?))
    })
}

/// Matches the waiting rows with what the thread composed for them.
fn collect(pending: Vec<Pending>, composed: Vec<(usize, Result<Composed>)>) -> Result<Vec<Filled>> {
    // The thread composed every job in the order submitted; a forgotten job's
    // result (and error) is skipped, since its message was rolled back anyway.
    let mut composed = composed.into_iter();
    let mut filled = Vec::with_capacity(pending.len());
    for p in pending {
        let result = composed
            .by_ref()
            .find(|(job, _)| *job == p.job)
            .map(|(_, r)| r)
            .ok_or_else(|| NotComposed(anyhow::anyhow!("job {} was never composed", p.job)))?;
        let composed = result.map_err(NotComposed)?;
        if let Some(Filling { row, ledger_key }) = p.row {
            filled.push(Filled {
                row,
                ledger_key,
                composed,
            });
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use chrono::DateTime;
    use lettre::message::Mailbox;
    use serde_json::json;

    use super::{Filling, NotComposed, beside};
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

    #[test]
    fn a_rolled_back_message_takes_its_waiting_rows_back() {
        let templates = templates();
        let ((), filled) = beside(&templates, &from(), |c| {
            c.submit(recipe(1, "ack.en.txt"), waiting(1));
            let mark = c.mark();
            // A message that queued a mail (one that cannot even be composed) and
            // was then rolled back: the next message's row takes the same rowid.
            c.submit(recipe(2, "no-such-template.txt"), waiting(2));
            c.forget_since(mark);
            c.submit(recipe(3, "ack.en.txt"), waiting(2));
            // Queued before: composed all the same, and nothing to fill.
            c.submit(recipe(4, "ack.en.txt"), None);
            Ok(())
        })
        .unwrap();
        let rows: Vec<(i64, String)> = filled
            .iter()
            .map(|f| {
                (
                    f.row,
                    String::from_utf8_lossy(&f.composed.bytes).into_owned(),
                )
            })
            .collect();
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
    fn a_mail_that_cannot_be_composed_ends_the_attempt_and_names_its_template() {
        let templates = templates();
        let e = beside(&templates, &from(), |c| {
            c.submit(recipe(1, "ack.en.txt"), waiting(1));
            c.submit(recipe(2, "no-such-template.txt"), None);
            Ok(())
        })
        .map(|_| ())
        .unwrap_err();
        assert!(e.is::<NotComposed>(), "{e:#}");
        assert!(format!("{e:#}").contains("no-such-template.txt"), "{e:#}");
    }

    #[test]
    fn the_stores_own_error_is_returned_as_it_is() {
        let templates = templates();
        let e = beside(&templates, &from(), |c| -> anyhow::Result<()> {
            c.submit(recipe(1, "no-such-template.txt"), waiting(1));
            anyhow::bail!("disk full")
        })
        .map(|_| ())
        .unwrap_err();
        assert!(!e.is::<NotComposed>(), "{e:#}");
        assert_eq!(format!("{e:#}"), "disk full");
    }
}
