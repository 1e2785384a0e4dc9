//! Where mail comes from: an IMAP folder, or a Maildir for the demo. Both hand batches
//! to intake and move what intake has committed.

mod batch;
mod connect;
mod folder;
mod id;
mod imap;
mod maildir;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::MailboxKind;
use crate::intake::{Intake, Report};
use crate::oauth2::Tokens;
use crate::store::Db;

pub use imap::uid_set;

/// Why [`Mailbox::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The server said mail arrived (IMAP IDLE).
    NewMail,
    /// The wait ran out: poll again.
    Timeout,
    /// `stop` changed.
    Stop,
}

pub enum Mailbox {
    Imap(Box<imap::ImapMailbox>),
    Maildir(maildir::MaildirMailbox),
}

impl Mailbox {
    /// `tokens`: the daemon's access tokens, for `auth = "oauth2"`.
    pub fn from_config(kind: &MailboxKind, tokens: Option<Arc<Tokens>>) -> Mailbox {
        match kind {
            MailboxKind::Imap(server) => {
                Mailbox::Imap(Box::new(imap::ImapMailbox::new(server.clone(), tokens)))
            }
            MailboxKind::Maildir(path) => {
                Mailbox::Maildir(maildir::MaildirMailbox::new(path.clone()))
            }
        }
    }

    /// Takes in everything waiting; returns how many messages were new.
    pub async fn pass(
        &mut self,
        intake: &Arc<Intake>,
        db: &Db,
        clock: &Clock,
        on_report: &mut (dyn FnMut(&Report) + Send),
    ) -> Result<usize> {
        match self {
            Mailbox::Imap(m) => m.pass(intake, db, clock, on_report).await,
            Mailbox::Maildir(m) => m.pass(intake, db, clock, on_report).await,
        }
    }

    /// Waits until there may be new mail: IMAP IDLE where the server offers it,
    /// otherwise `poll`. Returns early when `stop` changes.
    pub async fn wait(&mut self, poll: Duration, stop: &mut watch::Receiver<bool>) -> Result<Wake> {
        match self {
            Mailbox::Imap(m) => m.wait(poll, stop).await,
            Mailbox::Maildir(_) => Ok(sleep(poll, stop).await),
        }
    }

    /// Ends the session with the server, for the end of a run.
    pub async fn close(&mut self) {
        if let Mailbox::Imap(m) = self {
            m.close().await;
        }
    }
}

/// Sleeps `wait`, or less when `stop` changes.
pub async fn sleep(wait: Duration, stop: &mut watch::Receiver<bool>) -> Wake {
    tokio::select! {
        _ = tokio::time::sleep(wait) => Wake::Timeout,
        _ = stop.changed() => Wake::Stop,
    }
}
