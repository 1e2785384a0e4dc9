//! Delivering the outbox: SMTP over a small pool of kept-open connections (see
//! `smtp`), or files in a Maildir for the demo.
//!
//! The pool sends due rows over [`CONNECTIONS`] connections at once, each connection
//! taking the next row when it is free and reading more when none is left; MAIL,
//! RCPT and DATA go out in one write where the server offers PIPELINING (see
//! `smtp`). Rows are still marked one by one, right after their own "250 OK", so a
//! crash can resend at most one message per connection.
//!
//! Each row is sent as committed and marked sent right after the server accepts it;
//! the only duplicate possible is a crash between the server's "250 OK" and that
//! mark (one per connection in flight). Failures are asked, not string-matched
//! (lettre's `is_permanent` / `is_transient`): a 5xx ends the row as failed with the
//! reason (the daemon then names it to the administrator, `alerts::report_failed_mail`);
//! a 4xx retries the row with backoff; a server we cannot reach is nobody's
//! fault but the network's, so rows stay due and the pass stops until the next one.

mod smtp;

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use lettre::address::Envelope;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::{Config, Transport};
use crate::store::Db;
use crate::store::messages;
use crate::store::outbox::{self, OutboxRow};

/// After this many temporary failures (about two days with the backoff below) a
/// message is given up as failed, with its last error.
const MAX_ATTEMPTS: i64 = 30;

/// SMTP connections used at once. Measured with benches/run.sh against Postfix 3.7
/// on loopback (2 cores, shared): 10,000 acknowledgements at 360 msg/s over one
/// connection (smtp-source over one: 405), 440 msg/s over four (smtp-source over
/// four: 406). A server with more cores gains more from the pool.
pub const CONNECTIONS: usize = 4;

/// Rows read from the outbox at a time: a few per connection (the next read starts
/// when these are taken, while they are being sent). A row's original, if it
/// carries one, is read by the connection about to send it (see `Lane::run`).
const ROUND: u32 = 4 * CONNECTIONS as u32;

pub enum Sender {
    /// One client per connection of the pool; each opens its connection when it
    /// first has something to send.
    Smtp(Vec<smtp::SmtpClient>),
    Maildir(PathBuf),
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub sent: u32,
    pub retried: u32,
    pub failed: u32,
    /// The server could not be reached; what was due is still due.
    pub unreachable: bool,
}

impl Sender {
    /// `tokens`: the daemon's access tokens, for `auth = "oauth2"`.
    pub fn from_config(
        config: &Config,
        tokens: Option<std::sync::Arc<crate::oauth2::Tokens>>,
    ) -> Result<Sender> {
        match &config.smtp.transport {
            Transport::Maildir(path) => Ok(Sender::Maildir(path.clone())),
            Transport::Smtp(server) => {
                let pool = (0..CONNECTIONS)
                    .map(|_| smtp::SmtpClient::new(server, tokens.clone()))
                    .collect::<anyhow::Result<Vec<_>>>()
                    .context("Cannot set up SMTP")?;
                Ok(Sender::Smtp(pool))
            }
        }
    }

    /// Ends an SMTP session politely; for the end of a run.
    pub async fn close(&mut self) {
        if let Sender::Smtp(pool) = self {
            futures::future::join_all(pool.iter_mut().map(smtp::SmtpClient::close)).await;
        }
    }

    /// Sends what is due now until nothing is due or the server is gone, or, once
    /// `stop` says so, until the messages in hand are done: the rest stays due in the
    /// outbox for the next start, so that SIGTERM is not kept waiting by a backlog.
    pub async fn deliver_due(
        &mut self,
        db: &Db,
        clock: &Clock,
        stop: Option<&watch::Receiver<bool>>,
    ) -> Result<Pass> {
        let work = Work::default();
        let lanes: Vec<Lane<'_>> = match self {
            Sender::Maildir(dir) => vec![Lane::Maildir(dir)],
            Sender::Smtp(pool) => pool.iter_mut().map(Lane::Smtp).collect(),
        };
        let stopping = || stop.is_some_and(|s| *s.borrow());
        let results = futures::future::join_all(
            lanes
                .into_iter()
                .map(|lane| lane.run(&work, db, clock, &stopping)),
        )
        .await;
        let mut pass = Pass::default();
        for lane in results {
            let lane = lane?;
            pass.sent += lane.sent;
            pass.retried += lane.retried;
            pass.failed += lane.failed;
        }
        pass.unreachable = work.unreachable.load(Ordering::Relaxed);
        Ok(pass)
    }
}

/// What the connections of one pass share: the rows read and not yet taken, the
/// rows being sent, and whether to go on.
#[derive(Default)]
struct Work {
    rows: Mutex<Rows>,
    /// One connection at a time reads more rows; the others wait for it.
    refill: tokio::sync::Mutex<()>,
    unreachable: AtomicBool,
    /// The last read found nothing that is not already being sent.
    done: AtomicBool,
}

#[derive(Default)]
struct Rows {
    queue: VecDeque<OutboxRow>,
    /// Taken and not yet marked: still due in the store, so a read returns them
    /// again and must leave them out.
    in_flight: HashSet<i64>,
}

impl Work {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Rows>> {
        self.rows
            .lock()
            .map_err(|_| anyhow::anyhow!("The outbox queue lock is poisoned"))
    }

    /// The next row to send, marked as in flight in the same step.
    fn take(&self) -> Result<Option<OutboxRow>> {
        let mut rows = self.lock()?;
        let row = rows.queue.pop_front();
        if let Some(r) = &row {
            rows.in_flight.insert(r.id);
        }
        Ok(row)
    }

    fn finished(&self, id: i64) -> Result<()> {
        self.lock()?.in_flight.remove(&id);
        Ok(())
    }

    /// Reads the next ROUND due rows while the other connections are still sending
    /// theirs (so that none waits for the slowest at the end of a round). Rows in
    /// flight are still due in the store and come back first; they are read again
    /// and dropped (at most one per connection), since the store cannot skip them.
    /// Returns false when nothing new is due.
    async fn refill(&self, db: &Db, clock: &Clock) -> Result<bool> {
        let _one_at_a_time = self.refill.lock().await;
        let in_flight = {
            let rows = self.lock()?;
            if !rows.queue.is_empty() {
                return Ok(true);
            }
            rows.in_flight.clone()
        };
        if self.done.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let now = clock.unix();
        let limit = ROUND + in_flight.len() as u32;
        let read = db.call(move |c| outbox::due(c, now, limit)).await?;
        let new: Vec<OutboxRow> = read
            .into_iter()
            .filter(|r| !in_flight.contains(&r.id))
            .collect();
        if new.is_empty() {
            self.done.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        self.lock()?.queue.extend(new);
        Ok(true)
    }
}

/// One connection of the pool (or the Maildir), taking the next due row whenever
/// it is free, until nothing is due or the server turned out to be unreachable.
enum Lane<'a> {
    Smtp(&'a mut smtp::SmtpClient),
    Maildir(&'a Path),
}

impl Lane<'_> {
    async fn run(
        mut self,
        work: &Work,
        db: &Db,
        clock: &Clock,
        stopping: &(dyn Fn() -> bool + Sync),
    ) -> Result<Pass> {
        let mut pass = Pass::default();
        let mut original = Vec::new();
        while !work.unreachable.load(Ordering::Relaxed) && !stopping() {
            let Some(row) = work.take()? else {
                if work.refill(db, clock).await? {
                    continue;
                }
                break;
            };
            // The original this row carries, if any, read into this connection's
            // own buffer, reused from row to row: a backlog of case records with
            // originals of megabytes costs one buffer per connection. (Read as
            // a fresh copy per row, on whichever blocking thread served the
            // read, they left a malloc arena per thread holding freed megabytes:
            // the benchmark's backlog outbox peaked at 187 MiB instead of 53.)
            let mut found = false;
            if let Some(key) = &row.ledger_key {
                let (key, buf) = (key.clone(), std::mem::take(&mut original));
                (original, found) = db
                    .call(move |c| {
                        let mut buf = buf;
                        let found = messages::read_raw(c, &key, &mut buf)?;
                        Ok((buf, found))
                    })
                    .await?;
            }
            let now = clock.unix();
            let carried = found.then_some(original.as_slice());
            let outcome = self.send(&row, carried).await;
            let id = row.id;
            match outcome {
                Ok(()) => {
                    db.call(move |c| outbox::mark_sent(c, id, now)).await?;
                    tracing::info!(kind = row.kind, to = %row.recipients.join(","), message_id = row.message_id, "Mail sent");
                    pass.sent += 1;
                }
                Err(Failure::Unreachable(e)) => {
                    tracing::warn!("SMTP server unreachable, mail waits in the outbox: {e:#}");
                    work.unreachable.store(true, Ordering::Relaxed);
                }
                Err(Failure::Permanent(e)) => {
                    let error = reason(&e);
                    tracing::error!(kind = row.kind, to = %row.recipients.join(","), "Mail refused for good: {error}");
                    db.call(move |c| outbox::mark_failed(c, id, now, &error))
                        .await?;
                    pass.failed += 1;
                }
                Err(Failure::Temporary(e)) => {
                    let error = reason(&e);
                    if row.attempts + 1 >= MAX_ATTEMPTS {
                        tracing::error!(kind = row.kind, to = %row.recipients.join(","), "Mail given up after {MAX_ATTEMPTS} attempts: {error}");
                        db.call(move |c| outbox::mark_failed(c, id, now, &error))
                            .await?;
                        pass.failed += 1;
                    } else {
                        let next = now + backoff(row.attempts).as_secs() as i64;
                        tracing::warn!(kind = row.kind, to = %row.recipients.join(","), "Mail deferred, will retry: {error}");
                        db.call(move |c| outbox::mark_retry(c, id, next, &error))
                            .await?;
                        pass.retried += 1;
                    }
                }
            }
            work.finished(id)?;
        }
        Ok(pass)
    }

    async fn send(&mut self, row: &OutboxRow, original: Option<&[u8]>) -> Result<(), Failure> {
        let pieces = row.pieces(original).map_err(Failure::Permanent)?;
        match self {
            Lane::Maildir(dir) => write_maildir(dir, &pieces).map_err(Failure::Unreachable),
            Lane::Smtp(client) => {
                let from = row
                    .envelope_from
                    .parse()
                    .map_err(|e| Failure::Permanent(anyhow::anyhow!("bad envelope sender: {e}")))?;
                let to = row
                    .recipients
                    .iter()
                    .map(|r| r.parse())
                    .collect::<Result<Vec<lettre::Address>, _>>()
                    .map_err(|e| Failure::Permanent(anyhow::anyhow!("bad recipient: {e}")))?;
                let envelope =
                    Envelope::new(Some(from), to).map_err(|e| Failure::Permanent(e.into()))?;
                client.send(&envelope, &pieces).await
            }
        }
    }
}

/// How a delivery failed: lettre's errors are asked (`is_permanent`, `is_transient`),
/// never matched by their text.
pub enum Failure {
    Unreachable(anyhow::Error),
    Temporary(anyhow::Error),
    Permanent(anyhow::Error),
}

/// An error with its causes on one line, each said once: lettre's SMTP errors quote
/// the server's answer and also give it as their cause, so `{:#}` said it twice
/// ("permanent error (550): 5.1.1 <a@b>: Recipient address rejected: 5.1.1 <a@b>: …")
/// in the outbox, the log and the administrator's alert.
fn reason(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(part.as_str()) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// 1, 2, 4 … minutes, at most an hour, with up to a fifth of jitter so that many
/// deferred messages do not all come back at once.
fn backoff(attempts: i64) -> Duration {
    let base = 60u64.saturating_mul(1u64 << attempts.clamp(0, 6)).min(3600);
    let jitter = fastrand_u64() % (base / 5 + 1);
    Duration::from_secs(base + jitter)
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Maildir delivery (the demo): write into tmp/, then rename into new/ — the rename
/// is atomic, so a reader never sees half a message.
fn write_maildir(dir: &Path, pieces: &[Cow<'_, [u8]>]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("Cannot create {}", dir.join(sub).display()))?;
    }
    let name = format!(
        "{}.{}_{}.switchboard",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = dir.join("tmp").join(&name);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        for piece in pieces {
            file.write_all(piece)?;
        }
        Ok(())
    };
    write().with_context(|| format!("Cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join("new").join(&name))
        .with_context(|| format!("Cannot move {} into new/", tmp.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Pass, Sender, backoff, reason};
    use crate::clock::Clock;
    use crate::store::Db;
    use crate::store::messages::{self, MessageRecord};
    use crate::store::outbox::{self, NewOutgoing};

    fn ledger(db: &Db, key: &str, raw: &[u8]) {
        db.blocking(|c| messages::insert(c, &MessageRecord::with_raw(key, raw)))
            .unwrap();
    }

    /// Case record `n`, carrying the ledger's message `key` between two lines.
    fn queue_record(db: &Db, n: u32, key: &str) {
        let head = format!("Subject: record {n}\r\n\r\nbefore\r\n");
        let content = format!("{head}\r\nafter\r\n");
        db.blocking(|c| {
            outbox::insert(
                c,
                &NewOutgoing {
                    case_id: None,
                    kind: "route",
                    message_id: &format!("record-{n}@test"),
                    envelope_from: "support@example.com",
                    recipients: &["dept@example.com".to_string()],
                    content: content.as_bytes(),
                    original: Some((key, head.len())),
                    splices: None,
                    at: 0,
                },
            )
        })
        .unwrap();
    }

    #[test]
    fn each_record_carries_its_own_original_and_a_lost_one_fails_its_row() {
        let db = Db::open(std::path::Path::new(":memory:")).unwrap();
        // Large, then small, through the one lane of a Maildir: the reused buffer
        // must hold the second original alone, not the tail of the first.
        let large: Vec<u8> = (0..300_000).map(|i| b'a' + (i % 26) as u8).collect();
        let small = b"Subject: small\r\n\r\nhello\r\n";
        ledger(&db, "large", &large);
        ledger(&db, "small", small);
        queue_record(&db, 1, "large");
        queue_record(&db, 2, "small");
        queue_record(&db, 3, "gone");
        let out = std::env::temp_dir().join(format!("sb-sender-{}", std::process::id()));
        std::fs::remove_dir_all(&out).ok();
        let mut sender = Sender::Maildir(out.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let pass = runtime
            .block_on(sender.deliver_due(&db, &Clock::System, None))
            .unwrap();
        let expected = Pass {
            sent: 2,
            failed: 1,
            ..Pass::default()
        };
        assert_eq!(pass, expected);
        let mut mails: Vec<Vec<u8>> = std::fs::read_dir(out.join("new"))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        std::fs::remove_dir_all(&out).ok();
        mails.sort_by_key(Vec::len);
        let mail = |n: u32, original: &[u8]| {
            let mut m = format!("Subject: record {n}\r\n\r\nbefore\r\n").into_bytes();
            m.extend_from_slice(original);
            m.extend_from_slice(b"\r\nafter\r\n");
            m
        };
        let expected = [mail(2, small), mail(1, &large)];
        assert_eq!(mails.len(), expected.len());
        for (got, want) in mails.iter().zip(&expected) {
            // Not assert_eq!, which would print 300 KB.
            assert!(
                got == want,
                "got {} bytes, want {}: {:?}…",
                got.len(),
                want.len(),
                String::from_utf8_lossy(&got[..got.len().min(80)])
            );
        }
        let failed: Vec<_> = db
            .blocking(|c| outbox::list(c, None))
            .unwrap()
            .into_iter()
            .filter(|r| r.status == "failed")
            .collect();
        assert_eq!(failed.len(), 1);
        let error = failed[0].last_error.as_deref().unwrap_or_default();
        assert!(error.contains("no longer in the store"), "{error}");
    }

    #[test]
    fn a_reason_says_each_cause_once() {
        let server = anyhow::anyhow!("5.1.1 <a@b>: Recipient address rejected");
        let e = server.context("permanent error (550): 5.1.1 <a@b>: Recipient address rejected");
        assert_eq!(
            reason(&e),
            "permanent error (550): 5.1.1 <a@b>: Recipient address rejected"
        );
        let e = anyhow::anyhow!("connection reset").context("cannot send");
        assert_eq!(reason(&e), "cannot send: connection reset");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0).as_secs() >= 60 && backoff(0).as_secs() <= 72);
        assert!(backoff(3).as_secs() >= 480);
        assert!(backoff(40).as_secs() <= 3600 + 720);
    }
}
