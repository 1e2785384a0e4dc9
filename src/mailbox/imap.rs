//! Reading an IMAP folder by UID, in bounded batches, with the checkpoint in SQLite.
//!
//! The shape follows Delta Chat's `fetch_new_msg_batch`: SELECT, compare UIDVALIDITY
//! with the stored one (a change means the folder was recreated: UIDs start over and
//! the Message-ID ledger keeps us from taking anything in twice), list UIDs above the
//! checkpoint with their sizes, fetch bodies with `BODY.PEEK[]` (never touching
//! \Seen) in batches, commit each batch with its checkpoint, then do the moves that
//! the commits planned (see MOVES_EVERY). Everything that changes the server is in
//! `apply_moves`.
//!
//! While one batch is committed on the store's thread, the next one is fetched: the
//! server's work and ours overlap, and at most two batches (each bounded by count
//! and by [`BATCH_BYTES`](super::batch::BATCH_BYTES)) are held at once. A batch's
//! moves still wait for its commit.
//!
//! Between passes the session waits in IDLE (RFC 2177) where the server offers it,
//! see [`ImapMailbox::wait`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{MailboxDatum, Response};
use async_imap::types::UnsolicitedResponse;
use futures::TryStreamExt;
use tokio::sync::watch;

use super::Wake;
use super::batch::batches;
use super::connect::{self, Session};
use super::folder::FolderNames;
use crate::clock::Clock;
use crate::config::Server;
use crate::intake::{Incoming, Intake, Prepared, Report, Source};
use crate::oauth2::Tokens;
use crate::store::{Db, mailbox_state};

/// RFC 2177 §3 asks clients to re-issue IDLE at least every 29 minutes. Five also
/// stays under the idle timeouts of common NAT gateways (AWS: 350 s) for servers that
/// stay silent while idling; each renewal costs one DONE and an empty pass.
const IDLE_RENEW: Duration = Duration::from_secs(5 * 60);

/// While a backlog is taken in, the moves are carried out at most this often, and
/// always at the end of the pass. A UID MOVE costs the server about the same whatever
/// it moves (Dovecot syncs the folder's index: ~14 ms on the benchmark's
/// 10,000-message folder), and one after every batch was a quarter of a backlog's
/// wall time. Until then the moves wait as rows, as they do across a crash.
const MOVES_EVERY: Duration = Duration::from_secs(1);

/// How long DONE and LOGOUT may take before the session is given up.
const GOODBYE: Duration = Duration::from_secs(2);

/// How long any other exchange with the server (login, SELECT, a listing, one
/// batch's FETCH, the moves) may take. A server that stops answering without closing
/// the connection — a crashed process on a half-open TCP connection, a network that
/// drops packets — would otherwise stall intake silently; this turns it into an
/// error, and the next pass reconnects with backoff. A batch is at most BATCH_BYTES
/// (or one message up to max_message_bytes), far below two minutes on any link.
const EXCHANGE: Duration = Duration::from_secs(120);

/// `fut`, or an error naming `what` when the server takes longer than EXCHANGE.
async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(EXCHANGE, fut).await {
        Ok(result) => result,
        Err(_) => Err(anyhow!(
            "The IMAP server did not finish {what} within {} s",
            EXCHANGE.as_secs()
        )),
    }
}

/// What the server said it can do, asked once per session.
#[derive(Debug, Clone, Copy, Default)]
struct Capabilities {
    idle: bool,
    r#move: bool,
    uidplus: bool,
    id: bool,
}

pub struct ImapMailbox {
    server: Server,
    /// Access tokens, for `auth = "oauth2"`.
    tokens: Option<Arc<Tokens>>,
    session: Option<Session>,
    /// When the session's access token is due for renewal: the session is opened
    /// again before the next pass after it (Exchange Online ends a session whose
    /// token expired, mid-command; we would rather choose the moment).
    renew_at: Option<Instant>,
    caps: Capabilities,
    /// How the config's folder names are spelled on this server, from LIST.
    names: FolderNames,
    folders_ensured: bool,
}

impl ImapMailbox {
    pub fn new(server: Server, tokens: Option<Arc<Tokens>>) -> ImapMailbox {
        ImapMailbox {
            server,
            tokens,
            session: None,
            renew_at: None,
            caps: Capabilities::default(),
            names: FolderNames::default(),
            folders_ensured: false,
        }
    }

    /// Waits for new mail after a pass that found none: in IDLE when the server
    /// offers it (up to IDLE_RENEW), else by sleeping `poll`. Returns early when
    /// `stop` changes. An error means the session is gone; the next pass reconnects.
    ///
    /// Nothing that arrives meanwhile is missed: a pass that took nothing in began
    /// with SELECT, which showed the folder as it was; whatever a later command's
    /// response announced (EXISTS) is checked here before idling; and the server
    /// reports at the start of IDLE what arrived since its last response (Dovecot
    /// 2.3 does; RFC 2177 allows it to wait for the next change, which IDLE_RENEW
    /// bounds).
    pub async fn wait(&mut self, poll: Duration, stop: &mut watch::Receiver<bool>) -> Result<Wake> {
        let Some(mut session) = self.session.take() else {
            return Ok(super::sleep(poll, stop).await);
        };
        if !self.caps.idle {
            self.session = Some(session);
            return Ok(super::sleep(poll, stop).await);
        }
        if drain_unsolicited(&mut session) {
            self.session = Some(session);
            return Ok(Wake::NewMail);
        }
        let mut handle = session.idle();
        bounded("IDLE", async {
            handle.init().await.context("Cannot start IMAP IDLE")
        })
        .await?;
        tracing::debug!(host = self.server.host, "IMAP IDLE started");
        let deadline = tokio::time::Instant::now() + IDLE_RENEW;
        let wake = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break Wake::Timeout;
            }
            let (idle, _interrupt) = handle.wait_with_timeout(left);
            let response = tokio::select! {
                r = idle => r.context("IMAP IDLE failed")?,
                _ = stop.changed() => break Wake::Stop,
            };
            match response {
                IdleResponse::NewData(data) if announces_mail(data.parsed()) => {
                    break Wake::NewMail;
                }
                // Flags or expunges from other clients: nothing for us.
                IdleResponse::NewData(_) => continue,
                IdleResponse::Timeout => break Wake::Timeout,
                // The stream ended: DONE below fails and the session is dropped.
                IdleResponse::ManualInterrupt => break Wake::NewMail,
            }
        };
        let session = tokio::time::timeout(GOODBYE, handle.done())
            .await
            .map_err(|_| anyhow!("The IMAP server did not end IDLE within {GOODBYE:?}"))?
            .context("Cannot end IMAP IDLE")?;
        self.session = Some(session);
        Ok(wake)
    }

    /// Logs out, for the end of a run.
    pub async fn close(&mut self) {
        if let Some(mut s) = self.session.take() {
            let _ = tokio::time::timeout(GOODBYE, s.logout()).await;
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
            let _ = tokio::time::timeout(GOODBYE, s.logout()).await;
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
        if self.renew_at.is_some_and(|t| Instant::now() >= t)
            && let Some(mut old) = self.session.take()
        {
            tracing::debug!(
                host = self.server.host,
                "IMAP session's access token due for renewal: logging in again"
            );
            let _ = tokio::time::timeout(GOODBYE, old.logout()).await;
        }
        if self.session.is_none() {
            let (mut session, renew_at) = bounded(
                "the login",
                connect::login(&self.server, self.tokens.as_deref()),
            )
            .await?;
            self.renew_at = renew_at;
            let caps = bounded("CAPABILITY", async {
                session
                    .capabilities()
                    .await
                    .context("Cannot read capabilities")
            })
            .await?;
            self.caps = Capabilities {
                idle: caps.has_str("IDLE"),
                r#move: caps.has_str("MOVE"),
                uidplus: caps.has_str("UIDPLUS"),
                id: caps.has_str("ID"),
            };
            // Right after authentication and before SELECT, which NetEase and
            // Coremail refuse without it (see super::id).
            if self.caps.id {
                let support = config.mailbox.support_email.as_deref().or(config
                    .alerts
                    .to
                    .first()
                    .map(String::as_str));
                bounded("ID", super::id::identify(&mut session, support)).await?;
            }
            self.names = bounded("LIST of the delimiter", hierarchy(&mut session)).await?;
            self.session = Some(session);
            tracing::info!(
                host = self.server.host,
                port = self.server.port,
                idle = self.caps.idle,
                r#move = self.caps.r#move,
                id = self.caps.id,
                delimiter = self.names.delimiter().map(String::from),
                "IMAP session opened"
            );
        }
        let (caps, names) = (self.caps, self.names);
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| anyhow!("no IMAP session"))?;
        // What the server announced before this pass is seen by the SELECT below.
        drain_unsolicited(session);
        if !self.folders_ensured {
            for target in [
                &config.mailbox.processed_folder,
                &config.mailbox.quarantine_folder,
                &config.mailbox.set_aside_folder,
            ]
            .into_iter()
            .flatten()
            {
                bounded("creating a folder", ensure_folder(session, names, target)).await?;
            }
            self.folders_ensured = true;
        }
        let wire_folder = names.wire(&folder)?;
        let selected = bounded("SELECT", async {
            session
                .select(&wire_folder)
                .await
                .with_context(|| format!("Cannot select the folder {folder}"))
        })
        .await?;
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
        bounded(
            "the moves",
            apply_moves(session, caps, names, db, &mailbox_key, uidvalidity),
        )
        .await?;

        if selected
            .uid_next
            .is_some_and(|next| next <= last_uid.saturating_add(1))
        {
            return Ok(0);
        }
        // `n:*` always includes the highest UID even when it is below n (RFC 3501 §6.4.8),
        // hence the filter.
        let listing: Vec<(u32, u64)> = bounded("the listing of new messages", async {
            session
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
                .context("Cannot list new messages")
        })
        .await?
        .into_iter()
        .filter(|(uid, _)| *uid > last_uid)
        .collect();
        let mut listing = listing;
        listing.sort_unstable();
        let max = config.intake.max_message_bytes;
        let batches = batches(
            &listing,
            |(_, size)| *size,
            config.mailbox.batch_size as usize,
            max,
        );
        let source = || Source {
            mailbox: mailbox_key.clone(),
            uidvalidity: Some(uidvalidity),
        };
        let mut taken = 0;
        // A backlog that outlasts the session's access token ends its pass after the
        // batch in hand; the next pass logs in again with a fresh token and goes on
        // from the checkpoint.
        let renew_at = self.renew_at;
        let renew_due = || renew_at.is_some_and(|t| Instant::now() >= t);
        let mut next = match batches.first() {
            Some(b) => Some(fetch_and_prepare(session, b, max, intake, clock).await?),
            None => None,
        };
        let mut i = 0;
        let mut moved_at = Instant::now();
        while let Some((prepared, batch_last)) = next.take() {
            i += 1;
            // Commit this batch on the store's thread while the next one is fetched
            // and prepared beside it.
            let commit = intake.commit_batch(db, source(), prepared, Some(batch_last), clock.now());
            let prefetch = async {
                match batches.get(i) {
                    Some(_) if renew_due() => {
                        tracing::debug!(
                            "IMAP access token due for renewal: the pass ends after this batch"
                        );
                        Ok(None)
                    }
                    Some(b) => fetch_and_prepare(session, b, max, intake, clock)
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            };
            let (reports, fetched) = tokio::join!(commit, prefetch);
            let reports = reports?;
            taken += reports.len();
            for r in &reports {
                on_report(r);
            }
            next = fetched?;
            if next.is_none() || moved_at.elapsed() >= MOVES_EVERY {
                bounded(
                    "the moves",
                    apply_moves(session, caps, names, db, &mailbox_key, uidvalidity),
                )
                .await?;
                moved_at = Instant::now();
            }
        }
        Ok(taken)
    }
}

/// Fetches one batch, then has it prepared (parsed and classified) on a thread of its
/// own, see [`Intake::prepare_batch`].
async fn fetch_and_prepare(
    session: &mut Session,
    batch: &[(u32, u64)],
    max: u64,
    intake: &std::sync::Arc<Intake>,
    clock: &Clock,
) -> Result<(Vec<Prepared>, u32)> {
    let (incoming, batch_last) =
        bounded("a batch's FETCH", fetch_batch(session, batch, max)).await?;
    Ok((
        intake.prepare_batch(incoming, clock.now()).await?,
        batch_last,
    ))
}

/// Fetches one batch: bodies of the messages within `max_message_bytes` in one UID
/// FETCH (`BODY.PEEK[]`, so \Seen stays as it was), only the header of larger ones.
/// Returns the messages in UID order and the batch's last UID, which the checkpoint
/// moves to even when a message was deleted between the listing and the fetch.
async fn fetch_batch(
    session: &mut Session,
    batch: &[(u32, u64)],
    max: u64,
) -> Result<(Vec<Incoming>, u32)> {
    let &(batch_last, _) = batch.last().context("an empty batch")?;
    let mut incoming = Vec::with_capacity(batch.len());
    let small: Vec<u32> = batch
        .iter()
        .filter(|(_, s)| *s <= max)
        .map(|(u, _)| *u)
        .collect();
    if !small.is_empty() {
        let mut stream = session
            .uid_fetch(uid_set(&small), "(UID BODY.PEEK[])")
            .await
            .context("Cannot fetch messages")?;
        while let Some(f) = stream.try_next().await.context("Cannot fetch messages")? {
            let Some(uid) = f.uid else { continue };
            match f.body() {
                Some(raw) if !raw.is_empty() => incoming.push(Incoming {
                    uid: Some(uid),
                    raw: raw.to_vec(),
                    too_large: None,
                }),
                // No message is empty. Dovecot answers so for a message whose file
                // was deleted by hand after the listing: it is gone, not broken, so
                // it is not taken in (or quarantined as unreadable).
                _ => tracing::warn!(
                    uid,
                    "The server had no content for a message: deleted while it was fetched; skipped"
                ),
            }
        }
    }
    for &(uid, size) in batch.iter().filter(|(_, s)| *s > max) {
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
    incoming.sort_by_key(|i| i.uid);
    Ok((incoming, batch_last))
}

/// Empties the channel of responses the server sent unasked; true if one of them
/// announced new mail.
fn drain_unsolicited(session: &mut Session) -> bool {
    let mut new_mail = false;
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        new_mail |= matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        );
    }
    new_mail
}

/// EXISTS (and RECENT) is how a server says that mail arrived (RFC 3501 §7.3.1).
fn announces_mail(response: &Response<'_>) -> bool {
    matches!(
        response,
        Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_))
    )
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

/// The server's hierarchy delimiter, from `LIST "" ""` (RFC 3501 §6.3.8: the
/// reply names the root and its delimiter, `NIL` for a flat server).
async fn hierarchy(session: &mut Session) -> Result<FolderNames> {
    let listed = session
        .list(None, None)
        .await
        .context("Cannot ask for the hierarchy delimiter")?
        .try_collect::<Vec<_>>()
        .await
        .context("Cannot ask for the hierarchy delimiter")?;
    match listed.first() {
        Some(root) => FolderNames::with_delimiter(root.delimiter()),
        // RFC 3501 requires the reply; without one, the config's `/` is kept.
        None => Ok(FolderNames::default()),
    }
}

/// Creates `folder` (the config's name) unless LIST shows it. The names LIST
/// returns are decoded back, so the comparison is the config's spelling.
async fn ensure_folder(session: &mut Session, names: FolderNames, folder: &str) -> Result<()> {
    let wire = names.wire(folder)?;
    // async-imap sends the LIST pattern as given: a name with a space ("Switchboard/Not
    // a case") must go as a quoted string (RFC 3501 §9, list-mailbox), or Dovecot reads
    // only its first word, finds nothing, and the CREATE then fails with ALREADYEXISTS.
    let pattern = format!("\"{}\"", wire.replace('\\', "\\\\").replace('"', "\\\""));
    let exists = session
        .list(None, Some(&pattern))
        .await
        .context("Cannot list folders")?
        .try_collect::<Vec<_>>()
        .await
        .context("Cannot list folders")?
        .iter()
        .any(|n| names.config_name(n.name()).is_ok_and(|name| name == folder));
    if !exists {
        session
            .create(&wire)
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
    caps: Capabilities,
    names: FolderNames,
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
    let (has_move, has_uidplus) = (caps.r#move, caps.uidplus);
    let mut targets: Vec<&str> = pending.iter().map(|m| m.target.as_str()).collect();
    targets.dedup();
    for target in targets {
        let group: Vec<&mailbox_state::PendingMove> =
            pending.iter().filter(|m| m.target == target).collect();
        let mut uids: Vec<u32> = group.iter().map(|m| m.uid).collect();
        uids.sort_unstable();
        let set = uid_set(&uids);
        let wire = names.wire(target)?;
        if has_move {
            session
                .uid_mv(&set, &wire)
                .await
                .with_context(|| format!("Cannot move UIDs {set} to {target}"))?;
        } else {
            // RFC 6851 absent: copy, flag, expunge just these (UIDPLUS) or all flagged.
            session
                .uid_copy(&set, &wire)
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
}
