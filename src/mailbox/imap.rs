//! Reading an IMAP folder by UID, in bounded batches, with the checkpoint in SQLite.
//!
//! The shape follows Delta Chat's `fetch_new_msg_batch`: SELECT, compare UIDVALIDITY
//! with the stored one (a change means the folder was recreated: UIDs start over and
//! the Message-ID ledger keeps us from taking anything in twice), list UIDs above the
//! checkpoint with their sizes, fetch bodies with `BODY.PEEK[]` (never touching
//! \Seen) in batches, commit each batch with its checkpoint, then do the moves that
//! the commit planned. Everything that changes the server is in `apply_moves`.

use anyhow::{Context, Result, anyhow};
use futures::TryStreamExt;

use super::connect::{self, Session};
use crate::clock::Clock;
use crate::config::Server;
use crate::intake::{Incoming, Intake, Report, Source};
use crate::store::{Db, mailbox_state};

/// At most this many bytes of message bodies are held in memory at once (together
/// with max_message_bytes for a single message that is larger).
const BATCH_BYTES: u64 = 32 * 1024 * 1024;

pub struct ImapMailbox {
    server: Server,
    session: Option<Session>,
    folders_ensured: bool,
}

impl ImapMailbox {
    pub fn new(server: Server) -> ImapMailbox {
        ImapMailbox {
            server,
            session: None,
            folders_ensured: false,
        }
    }

    /// One pass over the folder. On any error the session is dropped, so the next
    /// pass starts from a fresh connection and the checkpoint.
    pub async fn pass(
        &mut self,
        intake: &std::sync::Arc<Intake>,
        db: &Db,
        clock: &Clock,
        on_report: &mut (dyn FnMut(&Report) + Send),
    ) -> Result<usize> {
        let result = self.pass_inner(intake, db, clock, on_report).await;
        if result.is_err() {
            // A folder deleted under us is created again on the next connection.
            self.folders_ensured = false;
        }
        if result.is_err()
            && let Some(mut s) = self.session.take()
        {
            // Best effort: the connection may already be gone.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), s.logout()).await;
        }
        result
    }

    async fn pass_inner(
        &mut self,
        intake: &std::sync::Arc<Intake>,
        db: &Db,
        clock: &Clock,
        on_report: &mut (dyn FnMut(&Report) + Send),
    ) -> Result<usize> {
        let config = &intake.config;
        let folder = config.mailbox.folder.clone();
        if self.session.is_none() {
            self.session = Some(connect::login(&self.server).await?);
            tracing::info!(
                host = self.server.host,
                port = self.server.port,
                "IMAP session opened"
            );
        }
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| anyhow!("no IMAP session"))?;
        if !self.folders_ensured {
            for target in [
                &config.mailbox.processed_folder,
                &config.mailbox.quarantine_folder,
            ]
            .into_iter()
            .flatten()
            {
                ensure_folder(session, target).await?;
            }
            self.folders_ensured = true;
        }
        let selected = session
            .select(&folder)
            .await
            .with_context(|| format!("Cannot select the folder {folder}"))?;
        let uidvalidity = selected.uid_validity.ok_or_else(|| {
            anyhow!("The server gave no UIDVALIDITY for {folder}; Switchboard needs UIDs")
        })?;
        let mailbox_key = format!(
            "imap:{}@{}:{}/{folder}",
            self.server.username.as_deref().unwrap_or(""),
            self.server.host,
            self.server.port
        );

        let key = mailbox_key.clone();
        let checkpoint = db.call(move |c| mailbox_state::checkpoint(c, &key)).await?;
        let last_uid = match checkpoint {
            Some(cp) if cp.uidvalidity == uidvalidity => cp.last_uid,
            Some(cp) => {
                tracing::warn!(
                    folder,
                    old = cp.uidvalidity,
                    new = uidvalidity,
                    "UIDVALIDITY changed: the folder was recreated; rereading it, messages taken in before are recognised by Message-ID"
                );
                0
            }
            None => 0,
        };
        // Moves a crash left undone come first.
        apply_moves(session, db, &mailbox_key, uidvalidity).await?;

        if selected
            .uid_next
            .is_some_and(|next| next <= last_uid.saturating_add(1))
        {
            return Ok(0);
        }
        // `n:*` always includes the highest UID even when it is below n (RFC 3501 §6.4.8),
        // hence the filter.
        let listing: Vec<(u32, u64)> = session
            .uid_fetch(
                format!("{}:*", last_uid.saturating_add(1)),
                "(UID RFC822.SIZE)",
            )
            .await
            .context("Cannot list new messages")?
            .try_filter_map(|f| async move {
                Ok(f.uid.map(|uid| (uid, u64::from(f.size.unwrap_or(0)))))
            })
            .try_collect::<Vec<_>>()
            .await
            .context("Cannot list new messages")?
            .into_iter()
            .filter(|(uid, _)| *uid > last_uid)
            .collect();
        let mut listing = listing;
        listing.sort_unstable();
        let mut taken = 0;
        let max = config.intake.max_message_bytes;
        for batch in batches(&listing, config.mailbox.batch_size as usize, max) {
            let Some(&(batch_last, _)) = batch.last() else {
                continue;
            };
            let mut incoming = Vec::with_capacity(batch.len());
            let small: Vec<u32> = batch
                .iter()
                .filter(|(_, s)| *s <= max)
                .map(|(u, _)| *u)
                .collect();
            let large: Vec<(u32, u64)> = batch.iter().filter(|(_, s)| *s > max).copied().collect();
            if !small.is_empty() {
                let fetched: Vec<(u32, Vec<u8>)> = session
                    .uid_fetch(uid_set(&small), "(UID BODY.PEEK[])")
                    .await
                    .context("Cannot fetch messages")?
                    .try_filter_map(|f| async move {
                        Ok(f.uid
                            .map(|uid| (uid, f.body().unwrap_or_default().to_vec())))
                    })
                    .try_collect()
                    .await
                    .context("Cannot fetch messages")?;
                incoming.extend(fetched.into_iter().map(|(uid, raw)| Incoming {
                    uid: Some(uid),
                    raw,
                    too_large: None,
                }));
            }
            for (uid, size) in large {
                let header: Vec<Vec<u8>> = session
                    .uid_fetch(uid.to_string(), "(UID BODY.PEEK[HEADER])")
                    .await
                    .context("Cannot fetch a header")?
                    .try_filter_map(|f| async move { Ok(f.header().map(<[u8]>::to_vec)) })
                    .try_collect()
                    .await?;
                incoming.push(Incoming {
                    uid: Some(uid),
                    raw: header.concat(),
                    too_large: Some(size),
                });
            }
            // A message deleted by a person between the listing and the fetch is simply
            // absent; the checkpoint still moves past it.
            incoming.sort_by_key(|i| i.uid);
            let source = Source {
                mailbox: mailbox_key.clone(),
                uidvalidity: Some(uidvalidity),
            };
            let reports = intake
                .commit_batch(db, source, incoming, Some(batch_last), clock.now())
                .await?;
            taken += reports.len();
            for r in &reports {
                on_report(r);
            }
            apply_moves(session, db, &mailbox_key, uidvalidity).await?;
        }
        Ok(taken)
    }
}

/// Groups the listing into batches of at most `count` messages and about BATCH_BYTES.
fn batches(listing: &[(u32, u64)], count: usize, max_message: u64) -> Vec<&[(u32, u64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, (_, size)) in listing.iter().enumerate() {
        let size = if *size > max_message { 0 } else { *size };
        if i > start && (i - start >= count.max(1) || bytes + size > BATCH_BYTES) {
            if let Some(b) = listing.get(start..i) {
                out.push(b);
            }
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if let Some(b) = listing.get(start..).filter(|b| !b.is_empty()) {
        out.push(b);
    }
    out
}

/// "1:3,7,9:10" from a sorted list of UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = uids.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
    }
    parts.join(",")
}

async fn ensure_folder(session: &mut Session, folder: &str) -> Result<()> {
    let exists = session
        .list(None, Some(folder))
        .await
        .context("Cannot list folders")?
        .try_collect::<Vec<_>>()
        .await
        .context("Cannot list folders")?
        .iter()
        .any(|n| n.name() == folder);
    if !exists {
        session
            .create(folder)
            .await
            .with_context(|| format!("Cannot create the folder {folder}"))?;
        tracing::info!(folder, "IMAP folder created");
    }
    Ok(())
}

/// The one place that changes the server: moves the messages the store planned to
/// move, grouped by target, and forgets each plan once the server has done it.
async fn apply_moves(
    session: &mut Session,
    db: &Db,
    mailbox_key: &str,
    uidvalidity: u32,
) -> Result<()> {
    let key = mailbox_key.to_string();
    let pending = db
        .call(move |c| mailbox_state::pending_moves(c, &key, uidvalidity))
        .await?;
    if pending.is_empty() {
        return Ok(());
    }
    let caps = session
        .capabilities()
        .await
        .context("Cannot read capabilities")?;
    let has_move = caps.has_str("MOVE");
    let has_uidplus = caps.has_str("UIDPLUS");
    let mut targets: Vec<&str> = pending.iter().map(|m| m.target.as_str()).collect();
    targets.dedup();
    for target in targets {
        let group: Vec<&mailbox_state::PendingMove> =
            pending.iter().filter(|m| m.target == target).collect();
        let mut uids: Vec<u32> = group.iter().map(|m| m.uid).collect();
        uids.sort_unstable();
        let set = uid_set(&uids);
        if has_move {
            session
                .uid_mv(&set, target)
                .await
                .with_context(|| format!("Cannot move UIDs {set} to {target}"))?;
        } else {
            // RFC 6851 absent: copy, flag, expunge just these (UIDPLUS) or all flagged.
            session
                .uid_copy(&set, target)
                .await
                .with_context(|| format!("Cannot copy UIDs {set} to {target}"))?;
            session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect::<Vec<_>>()
                .await
                .with_context(|| format!("Cannot flag UIDs {set} deleted"))?;
            if has_uidplus {
                session
                    .uid_expunge(&set)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await?;
            } else {
                session.expunge().await?.try_collect::<Vec<_>>().await?;
            }
        }
        let ids: Vec<i64> = group.iter().map(|m| m.id).collect();
        db.call(move |c| mailbox_state::moves_done(c, &ids)).await?;
        tracing::debug!(target, uids = set, "Messages moved");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn batches_respect_count() {
        let listing: Vec<(u32, u64)> = (1..=5).map(|u| (u, 10)).collect();
        let b = batches(&listing, 2, 100);
        assert_eq!(b.iter().map(|b| b.len()).collect::<Vec<_>>(), vec![2, 2, 1]);
    }
}
