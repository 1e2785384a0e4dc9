//! Delivering the outbox: SMTP (one kept-open connection, see `smtp`), or files in a
//! Maildir for the demo.
//!
//! Each row is sent as committed and marked sent right after the server accepts it;
//! the only duplicate possible is a crash between the server's "250 OK" and that
//! mark. Failures are asked, not string-matched (lettre's `is_permanent` /
//! `is_transient`): a 5xx ends the row as failed with the reason; a 4xx retries the
//! row with backoff; a server we cannot reach is nobody's fault but the network's,
//! so rows stay due and the pass stops until the next one.

mod smtp;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use lettre::address::Envelope;

use crate::clock::Clock;
use crate::config::{Config, Transport};
use crate::store::Db;
use crate::store::outbox::{self, OutboxRow};

/// After this many temporary failures (about two days with the backoff below) a
/// message is given up as failed, with its last error.
const MAX_ATTEMPTS: i64 = 30;

pub enum Sender {
    Smtp(Box<smtp::SmtpClient>),
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
    pub fn from_config(config: &Config) -> Result<Sender> {
        match &config.smtp.transport {
            Transport::Maildir(path) => Ok(Sender::Maildir(path.clone())),
            Transport::Smtp(server) => {
                let client = smtp::SmtpClient::new(server).context("Cannot set up SMTP")?;
                Ok(Sender::Smtp(Box::new(client)))
            }
        }
    }

    /// Ends an SMTP session politely; for the end of a run.
    pub async fn close(&mut self) {
        if let Sender::Smtp(client) = self {
            client.close().await;
        }
    }

    /// Sends what is due now, in batches, until nothing is due or the server is gone.
    pub async fn deliver_due(&mut self, db: &Db, clock: &Clock) -> Result<Pass> {
        let mut pass = Pass::default();
        loop {
            let now = clock.unix();
            let rows = db.call(move |c| outbox::due(c, now, 100)).await?;
            if rows.is_empty() {
                return Ok(pass);
            }
            for row in rows {
                match self.send(&row).await {
                    Ok(()) => {
                        let id = row.id;
                        db.call(move |c| outbox::mark_sent(c, id, now)).await?;
                        tracing::info!(kind = row.kind, to = %row.recipients.join(","), message_id = row.message_id, "Mail sent");
                        pass.sent += 1;
                    }
                    Err(Failure::Unreachable(e)) => {
                        tracing::warn!("SMTP server unreachable, mail waits in the outbox: {e:#}");
                        pass.unreachable = true;
                        return Ok(pass);
                    }
                    Err(Failure::Permanent(e)) => {
                        let (id, error) = (row.id, format!("{e:#}"));
                        tracing::error!(kind = row.kind, to = %row.recipients.join(","), "Mail refused for good: {error}");
                        db.call(move |c| outbox::mark_failed(c, id, now, &error))
                            .await?;
                        pass.failed += 1;
                    }
                    Err(Failure::Temporary(e)) => {
                        let (id, error) = (row.id, format!("{e:#}"));
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
            }
        }
    }

    async fn send(&mut self, row: &OutboxRow) -> Result<(), Failure> {
        match self {
            Sender::Maildir(dir) => write_maildir(dir, row).map_err(Failure::Unreachable),
            Sender::Smtp(client) => {
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
                client.send(&envelope, &row.content).await
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
fn write_maildir(dir: &Path, row: &OutboxRow) -> Result<()> {
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
    std::fs::write(&tmp, &row.content)
        .with_context(|| format!("Cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join("new").join(&name))
        .with_context(|| format!("Cannot move {} into new/", tmp.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0).as_secs() >= 60 && backoff(0).as_secs() <= 72);
        assert!(backoff(3).as_secs() >= 480);
        assert!(backoff(40).as_secs() <= 3600 + 720);
    }
}
