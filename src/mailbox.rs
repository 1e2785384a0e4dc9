//! Where mail comes from: an IMAP folder, or a Maildir for the demo. Both hand batches
//! to intake and move what intake has committed.

mod connect;
mod imap;
mod maildir;

use std::sync::Arc;

use anyhow::Result;

use crate::clock::Clock;
use crate::config::MailboxKind;
use crate::intake::{Intake, Report};
use crate::store::Db;

pub use imap::uid_set;

pub enum Mailbox {
    Imap(imap::ImapMailbox),
    Maildir(maildir::MaildirMailbox),
}

impl Mailbox {
    pub fn from_config(kind: &MailboxKind) -> Mailbox {
        match kind {
            MailboxKind::Imap(server) => Mailbox::Imap(imap::ImapMailbox::new(server.clone())),
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
}
