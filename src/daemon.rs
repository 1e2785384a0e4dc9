//! The running daemon: an intake loop, a clock loop and a sender loop, each "work,
//! then wait for due-or-interrupt", sharing the store. `--once` does one of each and
//! returns.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::deadlines;
use crate::intake::{Intake, Report};
use crate::mailbox::{self, Mailbox};
use crate::sender::Sender;
use crate::store::{self, Db, outbox};

pub struct Daemon {
    pub intake: Arc<Intake>,
    pub db: Db,
    pub clock: Clock,
}

#[derive(Debug, Default)]
pub struct OnceSummary {
    pub taken_in: usize,
    pub timers: usize,
    pub sent: u32,
    pub waiting: i64,
    pub failed: u32,
}

impl Daemon {
    pub fn new(intake: Intake, clock: Clock) -> Result<Daemon> {
        let db = Db::open(&intake.config.store_path)?;
        Ok(Daemon {
            intake: Arc::new(intake),
            db,
            clock,
        })
    }

    /// Takes in what is waiting, sends what is due, and returns.
    pub async fn run_once(
        &self,
        on_report: &mut (dyn FnMut(&Report) + Send),
    ) -> Result<OnceSummary> {
        let mut mailbox = Mailbox::from_config(&self.intake.config.mailbox.kind);
        let mut sender = Sender::from_config(&self.intake.config)?;
        let mut summary = OnceSummary::default();
        loop {
            // A pass reads up to what the folder held when it began; go again until dry.
            let n = mailbox
                .pass(&self.intake, &self.db, &self.clock, on_report)
                .await?;
            summary.taken_in += n;
            if n == 0 {
                break;
            }
        }
        summary.timers = clock_pass(&self.intake, &self.db, &self.clock).await?;
        let pass = sender.deliver_due(&self.db, &self.clock).await?;
        sender.close().await;
        summary.sent = pass.sent;
        summary.failed = pass.failed;
        summary.waiting = self.db.call(|c| outbox::stats(c)).await?.pending;
        Ok(summary)
    }

    /// Runs until SIGTERM or SIGINT.
    pub async fn run(self) -> Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let wake_sender = Arc::new(Notify::new());
        let wake_clock = Arc::new(Notify::new());
        let intake_task = tokio::spawn(intake_loop(
            self.intake.clone(),
            self.db.clone(),
            self.clock,
            wake_sender.clone(),
            wake_clock.clone(),
            stop_rx.clone(),
        ));
        let clock_task = tokio::spawn(clock_loop(
            self.intake.clone(),
            self.db.clone(),
            self.clock,
            wake_clock.clone(),
            wake_sender.clone(),
            stop_rx.clone(),
        ));
        let sender = Sender::from_config(&self.intake.config)?;
        let sender_task = tokio::spawn(sender_loop(
            sender,
            self.db.clone(),
            self.clock,
            wake_sender,
            stop_rx,
        ));
        tracing::info!(config = %self.intake.config.file.display(), "Switchboard running");
        shutdown_signal().await;
        tracing::info!("Stopping: finishing the batch in hand");
        let _ = stop_tx.send(true);
        let _ = intake_task.await;
        let _ = clock_task.await;
        let _ = sender_task.await;
        tracing::info!("Stopped");
        Ok(())
    }
}

/// Takes in what is waiting until a pass finds nothing, then waits for new mail
/// (IMAP IDLE where the server offers it, else `poll_interval`) or the stop signal.
async fn intake_loop(
    intake: Arc<Intake>,
    db: Db,
    clock: Clock,
    wake_sender: Arc<Notify>,
    wake_clock: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut mailbox = Mailbox::from_config(&intake.config.mailbox.kind);
    let poll = intake.config.mailbox.poll_interval;
    let mut failures: u32 = 0;
    while !*stop.borrow() {
        let mut log = |r: &Report| log_report(r);
        match mailbox.pass(&intake, &db, &clock, &mut log).await {
            Ok(n) => {
                failures = 0;
                if n > 0 {
                    wake_sender.notify_one();
                    wake_clock.notify_one();
                    // A pass reads up to what the folder held when it began.
                    continue;
                }
                match mailbox.wait(poll, &mut stop).await {
                    Ok(wake) => tracing::debug!(?wake, "Mailbox wait over"),
                    Err(e) => {
                        // The session is gone; the next pass opens a new one. Waiting
                        // `poll` first keeps a server whose IDLE always fails from
                        // being asked in a busy loop.
                        tracing::warn!(retry_in = ?poll, "Waiting for new mail failed: {e:#}");
                        mailbox::sleep(poll, &mut stop).await;
                    }
                }
            }
            Err(e) => {
                failures += 1;
                let wait = error_backoff(failures);
                tracing::error!(attempt = failures, retry_in = ?wait, "Mailbox check failed: {e:#}");
                mailbox::sleep(wait, &mut stop).await;
            }
        }
    }
    mailbox.close().await;
}

/// Recomputes deadlines if the policies changed, then fires what is due.
async fn clock_pass(intake: &Arc<Intake>, db: &Db, clock: &Clock) -> Result<usize> {
    let intake = intake.clone();
    let now = clock.now();
    db.call(move |c| {
        deadlines::on_start(
            c,
            &intake.config,
            intake.templates(),
            intake.policies(),
            now,
        )?;
        deadlines::fire_due(
            c,
            &intake.config,
            intake.templates(),
            intake.policies(),
            now,
        )
    })
    .await
}

/// Fires due timers, then sleeps until the next one is due (an indexed lookup) or
/// intake says something happened.
async fn clock_loop(
    intake: Arc<Intake>,
    db: Db,
    clock: Clock,
    wake: Arc<Notify>,
    wake_sender: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    let mut started = false;
    while !*stop.borrow() {
        let intake2 = intake.clone();
        let now = clock.now();
        let first = !started;
        let pass = db
            .call(move |c| {
                if first {
                    deadlines::on_start(
                        c,
                        &intake2.config,
                        intake2.templates(),
                        intake2.policies(),
                        now,
                    )?;
                }
                let fired = deadlines::fire_due(
                    c,
                    &intake2.config,
                    intake2.templates(),
                    intake2.policies(),
                    now,
                )?;
                Ok((fired, store::deadlines::next_due(c)?))
            })
            .await;
        let wait = match pass {
            Ok((fired, next)) => {
                started = true;
                failures = 0;
                if fired > 0 {
                    wake_sender.notify_one();
                }
                match next {
                    Some(due) => Duration::from_secs((due - clock.unix()).clamp(1, 3600) as u64),
                    None => Duration::from_secs(3600),
                }
            }
            Err(e) => {
                failures += 1;
                let wait = error_backoff(failures);
                tracing::error!(retry_in = ?wait, "The clock failed: {e:#}");
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => {}
        }
    }
}

async fn sender_loop(
    mut sender: Sender,
    db: Db,
    clock: Clock,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    while !*stop.borrow() {
        let wait = match sender.deliver_due(&db, &clock).await {
            Ok(pass) if pass.unreachable => {
                failures += 1;
                error_backoff(failures)
            }
            Ok(_) => {
                failures = 0;
                match db.call(|c| outbox::next_due(c)).await {
                    Ok(Some(due)) => {
                        Duration::from_secs((due - clock.unix()).clamp(1, 3600) as u64)
                    }
                    Ok(None) => Duration::from_secs(3600),
                    Err(e) => {
                        tracing::error!("Cannot read the outbox: {e:#}");
                        Duration::from_secs(30)
                    }
                }
            }
            Err(e) => {
                failures += 1;
                let wait = error_backoff(failures);
                tracing::error!(retry_in = ?wait, "Sending failed: {e:#}");
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => {}
        }
    }
    sender.close().await;
}

/// 2, 4, 8 … seconds up to five minutes, with jitter: never a busy loop, never a stall.
fn error_backoff(failures: u32) -> Duration {
    let base = 2u64.saturating_pow(failures.min(9)).min(300);
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_millis()))
        .unwrap_or(0);
    Duration::from_millis(base * 1000 + jitter * base / 4)
}

pub fn log_report(r: &Report) {
    tracing::info!(
        uid = ?r.uid,
        outcome = r.outcome,
        case = r.case.as_deref().unwrap_or("-"),
        category = r.category.as_deref().unwrap_or("-"),
        priority = r.priority.as_deref().unwrap_or("-"),
        department = r.department.as_deref().unwrap_or("-"),
        acknowledged = r.acknowledged,
        sender = r.sender.as_deref().unwrap_or("-"),
        reason = r.reason.as_deref().unwrap_or("-"),
        "Message taken in"
    );
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
