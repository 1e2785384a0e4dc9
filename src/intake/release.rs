//! Releasing a message from the quarantine after a fix (rules, templates, a limit):
//! its stored bytes go through intake again — [`Intake::take_in_one`], the path mail
//! from the mailbox takes, not a copy of it — in one transaction. Its ledger row ends
//! with the new outcome under its old id and time: one row per message, whatever
//! happened. A message that still fails stays quarantined, with the new reason.
//!
//! The message itself stays where it is on the server (the quarantine folder): the
//! case is in the store, and nothing is moved twice.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::{Incoming, Intake, Report, Source};
use crate::store::{Outcome, messages};

/// What a release did.
pub enum Released {
    /// Taken in again: the report says how it ended.
    TakenIn(Report),
    /// Only the header of this message was kept (it was over `max_message_bytes`),
    /// and it is within the limit now: its row is gone so that the whole message,
    /// moved back into the inbox, is taken in afresh.
    Forgotten { size: u64 },
}

impl Intake {
    /// Releases ledger row `id`, which must be quarantined.
    pub fn release(&self, conn: &mut Connection, id: i64, now: DateTime<Utc>) -> Result<Released> {
        let mut tx = conn.transaction()?;
        let row = messages::get(&tx, id)?.with_context(|| {
            format!("No message {id} in the ledger (see `switchboard messages`)")
        })?;
        if row.outcome != Outcome::Quarantined.as_str() {
            bail!(
                "Message {id} is not in the quarantine: it was taken in as {}",
                row.outcome
            );
        }
        let too_large = row.reason.as_deref().and_then(header_only_size);
        let limit = self.config.intake.max_message_bytes;
        if let Some(size) = too_large
            && size <= limit
        {
            messages::delete(&tx, id)?;
            tx.commit()
                .with_context(|| format!("Cannot release message {id}"))?;
            return Ok(Released::Forgotten { size });
        }
        let src = Source {
            mailbox: row.mailbox.clone(),
            uidvalidity: row.uidvalidity,
        };
        let prepared = self.prepare(
            Incoming {
                uid: row.uid,
                raw: row.raw,
                too_large,
            },
            now,
        );
        messages::delete(&tx, id)?;
        let token_key = crate::outgoing::reply_key(&tx)?;
        let report = self.take_in_one(&mut tx, &src, &prepared, &token_key, now, None)?;
        if report.outcome == "duplicate" {
            // Another row has this message's identity: keep the ledger as it was.
            bail!(
                "Message {id} was taken in since as another ledger row (same Message-ID and sender); nothing changed"
            );
        }
        let new_id = messages::id_by_key(&tx, &prepared.dedup_key)?
            .context("The released message has no ledger row")?;
        messages::take_place_of(&tx, new_id, id, row.received_at)?;
        tx.commit()
            .with_context(|| format!("Cannot release message {id}"))?;
        Ok(Released::TakenIn(report))
    }
}

/// The size in a "too large: N bytes…" reason: only the header of that message is in
/// the ledger.
fn header_only_size(reason: &str) -> Option<u64> {
    reason
        .strip_prefix("too large: ")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_size_of_a_too_large_reason() {
        assert_eq!(
            super::header_only_size("too large: 52428900 bytes, the limit is 1048576"),
            Some(52_428_900)
        );
        assert_eq!(super::header_only_size("unreadable: no sender"), None);
    }
}
