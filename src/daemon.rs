//! The running daemon: an intake loop, a clock loop and a sender loop, each "work,
//! then wait for due-or-interrupt", sharing the store. `--once` does one of each and
//! returns.
//!
//! SIGTERM/SIGINT stop it (the batch in hand commits or rolls back); SIGHUP reloads
//! the rules, templates and SLA policies — validated first: a broken file keeps the
//! old ones and the log says why. Under systemd it reports READY and pings the
//! watchdog (`systemd`). When the mailbox has not been read successfully for
//! `[alerts] mailbox_silence`, the administrator gets one alert, and another only
//! after it recovered and failed again. Mail that fails for good is named to the
//! administrator after the sender pass that failed it (and at start, for failures
//! from before a crash), in one alert an hour at most (`alerts::report_failed_mail`).
//! With `auth = "oauth2"`, one [`Tokens`] serves the mailbox and the sender; a grant
//! refused for good raises one alert and the loops wait for a new login (`grant`).

mod grant;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::config::Config;
use crate::deadlines;
use crate::intake::{Intake, Report};
use crate::mailbox::{self, Mailbox};
use crate::oauth2::{self, Tokens};
use crate::sender::Sender;
use crate::store::{self, Db, outbox};
use crate::{alerts, systemd};

pub struct Daemon {
    pub intake: Arc<Intake>,
    pub db: Db,
    pub clock: Clock,
    /// For `auth = "oauth2"`; `None` when no server uses it.
    pub tokens: Option<Arc<Tokens>>,
}

/// One token source for every server that logs in with OAuth2.
fn tokens(config: &Config, db: &Db) -> Option<Arc<Tokens>> {
    let used = config.mailbox_uses_oauth2() || config.smtp_uses_oauth2();
    config
        .oauth2
        .as_ref()
        .filter(|_| used)
        .map(|o| Arc::new(Tokens::new(o, db.clone())))
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
        let tokens = tokens(&intake.config, &db);
        Ok(Daemon {
            intake: Arc::new(intake),
            db,
            clock,
            tokens,
        })
    }

    /// Takes in what is waiting, sends what is due, and returns.
    pub async fn run_once(
        &self,
        on_report: &mut (dyn FnMut(&Report) + Send),
    ) -> Result<OnceSummary> {
        let mut mailbox =
            Mailbox::from_config(&self.intake.config.mailbox.kind, self.tokens.clone());
        let mut sender = Sender::from_config(&self.intake.config, self.tokens.clone())?;
        let mut summary = OnceSummary::default();
        loop {
            // A pass reads up to what the folder held when it began; go again until dry.
            let n = match mailbox
                .pass(&self.intake, &self.db, &self.clock, on_report)
                .await
            {
                Ok(n) => n,
                // The rest still runs: the clock, and the outbox if SMTP can log in.
                Err(ref e) if let Some(refused) = oauth2::needs_login(e) => {
                    tracing::error!("Mailbox not read: {refused}");
                    grant::raise_alert(&self.intake, &self.db, &self.clock, refused).await?;
                    0
                }
                Err(e) => return Err(e),
            };
            summary.taken_in += n;
            if n == 0 {
                break;
            }
            crate::memory::release_free();
        }
        crate::web::MailboxBeat::default()
            .note(&self.db, &self.clock)
            .await;
        summary.timers = clock_pass(&self.intake, &self.db, &self.clock).await?;
        let pass = sender.deliver_due(&self.db, &self.clock, None).await?;
        summary.sent = pass.sent;
        summary.failed = pass.failed;
        // Mail that failed now, or in a run that crashed before saying so, goes to the
        // administrator in one alert, sent in this run.
        let reported = report_failed_mail(&self.intake, &self.db, &self.clock).await?;
        if let alerts::Reported::Alerted(_) = reported {
            let pass = sender.deliver_due(&self.db, &self.clock, None).await?;
            summary.sent += pass.sent;
            summary.failed += pass.failed;
        }
        sender.close().await;
        summary.waiting = self.db.call(|c| outbox::stats(c)).await?.pending;
        Ok(summary)
    }

    /// Runs until SIGTERM or SIGINT; SIGHUP reloads rules, templates and policies.
    pub async fn run(self) -> Result<()> {
        // Before anything starts: a SIGTERM or SIGHUP that came between READY and the
        // handlers would otherwise end the process with the default action.
        let mut signals = Signals::new()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        // The web view, when [web] is configured: bound before READY, so a port in use
        // or a broken users file stops the start instead of passing unnoticed.
        let web_task = crate::web::Server::bind(&self.intake.config, self.clock)
            .await?
            .map(|web| tokio::spawn(web.run(stop_rx.clone())));
        let (intake_tx, intake_rx) = watch::channel(self.intake.clone());
        let wake_sender = Arc::new(Notify::new());
        let wake_clock = Arc::new(Notify::new());
        let intake_task = tokio::spawn(intake_loop(
            intake_rx.clone(),
            self.tokens.clone(),
            self.db.clone(),
            self.clock,
            wake_sender.clone(),
            wake_clock.clone(),
            stop_rx.clone(),
        ));
        let clock_task = tokio::spawn(clock_loop(
            intake_rx.clone(),
            self.db.clone(),
            self.clock,
            wake_clock.clone(),
            wake_sender.clone(),
            stop_rx.clone(),
        ));
        let sender = Sender::from_config(&self.intake.config, self.tokens.clone())?;
        // The sender waits for a new grant only when SMTP itself logs in with it.
        let smtp_tokens = self
            .tokens
            .clone()
            .filter(|_| self.intake.config.smtp_uses_oauth2());
        let sender_task = tokio::spawn(sender_loop(
            intake_rx,
            sender,
            smtp_tokens,
            self.db.clone(),
            self.clock,
            wake_sender,
            stop_rx,
        ));
        tracing::info!(config = %self.intake.config.file.display(), "Switchboard running");
        systemd::notify("READY=1");
        let mut watchdog = systemd::watchdog_interval().map(tokio::time::interval);
        loop {
            tokio::select! {
                signal = signals.next() => match signal {
                    Signal::Reload => reload(&intake_tx),
                    Signal::Stop => break,
                },
                _ = async {
                    match watchdog.as_mut() {
                        Some(w) => { w.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => systemd::notify("WATCHDOG=1"),
            }
        }
        systemd::notify("STOPPING=1");
        tracing::info!("Stopping: finishing the batch in hand");
        let _ = stop_tx.send(true);
        let _ = intake_task.await;
        let _ = clock_task.await;
        let _ = sender_task.await;
        if let Some(web) = web_task {
            let _ = web.await;
        }
        tracing::info!("Stopped");
        Ok(())
    }
}

/// Loads the rules, templates and policies again with the running config; the loops
/// pick the new set up at their next pass. A problem keeps the old set.
fn reload(intake_tx: &watch::Sender<Arc<Intake>>) {
    let current = intake_tx.borrow().clone();
    systemd::notify("RELOADING=1");
    match Intake::new(current.config.clone()) {
        Ok(new) => {
            let rules = new.rules().len();
            let learned_words = new.rules().learned().map_or(0, |m| m.len());
            let policies = new.policies().policies.len();
            intake_tx.send_replace(Arc::new(new));
            tracing::info!(
                rules,
                learned_words,
                policies,
                "Reloaded on SIGHUP: {rules} rules, a learned model of {learned_words} words, \
                 {policies} SLA policies, templates"
            );
        }
        Err(e) => {
            tracing::error!("Reload on SIGHUP refused, the old rules and templates stay: {e:#}")
        }
    }
    systemd::notify("READY=1");
}

/// Takes in what is waiting until a pass finds nothing, then waits for new mail
/// (IMAP IDLE where the server offers it, else `poll_interval`) or the stop signal.
async fn intake_loop(
    intakes: watch::Receiver<Arc<Intake>>,
    tokens: Option<Arc<Tokens>>,
    db: Db,
    clock: Clock,
    wake_sender: Arc<Notify>,
    wake_clock: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let first = intakes.borrow().clone();
    let mut mailbox = Mailbox::from_config(&first.config.mailbox.kind, tokens.clone());
    let poll = first.config.mailbox.poll_interval;
    let silence = first.config.alerts.mailbox_silence;
    let mut failures: u32 = 0;
    let mut last_ok = Instant::now();
    let mut alerted = false;
    let mut beat = crate::web::MailboxBeat::default();
    while !*stop.borrow() {
        let intake = intakes.borrow().clone();
        let mut log = |r: &Report| log_report(r);
        match mailbox.pass(&intake, &db, &clock, &mut log).await {
            Ok(n) => {
                failures = 0;
                last_ok = Instant::now();
                beat.note(&db, &clock).await;
                if alerted {
                    alerted = false;
                    let now = clock.unix();
                    if let Err(e) = db.call(move |c| alerts::clear(c, MAILBOX_ALERT, now)).await {
                        tracing::error!("Cannot clear the mailbox alert: {e:#}");
                    }
                }
                if n > 0 {
                    wake_sender.notify_one();
                    wake_clock.notify_one();
                    // What the pass freed goes back to the system (see `memory`).
                    crate::memory::release_free();
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
            Err(ref e) if let (Some(refused), Some(tokens)) = (oauth2::needs_login(e), &tokens) => {
                // Only a person can mend this: one alert (not the silence alert as
                // well), then watch the store for their `switchboard login`.
                tracing::error!(
                    "Mailbox not read until `switchboard login` stores a new grant: {refused}"
                );
                match grant::raise_alert(&intake, &db, &clock, refused).await {
                    Ok(true) => wake_sender.notify_one(),
                    Ok(false) => {}
                    Err(e) => tracing::error!("Cannot raise the OAuth2 alert: {e:#}"),
                }
                let since = match refused {
                    oauth2::TokenError::Refused { grant, .. } => Some(*grant),
                    _ => None,
                };
                if grant::wait_for_new(tokens, since, Duration::from_secs(3600), &mut stop).await {
                    tracing::info!("A new OAuth2 grant is stored: reading the mailbox again");
                    failures = 0;
                    // The time without a grant was told by its own alert, not as silence.
                    last_ok = Instant::now();
                }
            }
            Err(e) => {
                failures += 1;
                let wait = error_backoff(failures);
                tracing::error!(attempt = failures, retry_in = ?wait, "Mailbox check failed: {e:#}");
                if !alerted && last_ok.elapsed() >= silence {
                    let detail = format!(
                        "The shared mailbox has not been read for {} s ({failures} failed attempts). The last error: {e:#}. Mail waits on the server and is taken in when it is back; nothing is lost.",
                        last_ok.elapsed().as_secs()
                    );
                    match raise_alert(
                        &intake,
                        &db,
                        &clock,
                        MAILBOX_ALERT,
                        "The mailbox cannot be read",
                        detail,
                    )
                    .await
                    {
                        Ok(()) => {
                            alerted = true;
                            wake_sender.notify_one();
                        }
                        Err(e) => tracing::error!("Cannot raise the mailbox alert: {e:#}"),
                    }
                }
                mailbox::sleep(wait, &mut stop).await;
            }
        }
    }
    mailbox.close().await;
}

const MAILBOX_ALERT: &str = "mailbox";

/// Runs `f` with a mailer, in one transaction on the store's thread: what it queues,
/// the outbox carries.
async fn with_mailer<R: Send + 'static>(
    intake: &Arc<Intake>,
    db: &Db,
    clock: &Clock,
    f: impl FnOnce(&crate::outgoing::Mailer<'_>) -> Result<R> + Send + 'static,
) -> Result<R> {
    let intake = intake.clone();
    let now = clock.now();
    db.call(move |c| {
        deadlines::in_transaction(
            c,
            &intake.config,
            intake.templates(),
            intake.policies(),
            now,
            |work| f(&work.mailer),
        )
    })
    .await
}

/// Raises an alert in its own transaction (the outbox carries it to the administrator).
async fn raise_alert(
    intake: &Arc<Intake>,
    db: &Db,
    clock: &Clock,
    key: &'static str,
    title: &'static str,
    detail: String,
) -> Result<()> {
    with_mailer(intake, db, clock, move |mailer| {
        alerts::raise(mailer, key, title, &detail, alerts::Repeat::AfterClear)
    })
    .await?;
    Ok(())
}

/// Names the mail that failed for good and was not yet reported to the administrator,
/// in one alert, in its own transaction (which also marks them reported).
async fn report_failed_mail(
    intake: &Arc<Intake>,
    db: &Db,
    clock: &Clock,
) -> Result<alerts::Reported> {
    with_mailer(intake, db, clock, alerts::report_failed_mail).await
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
    mut intakes: watch::Receiver<Arc<Intake>>,
    db: Db,
    clock: Clock,
    wake: Arc<Notify>,
    wake_sender: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    let mut started = false;
    while !*stop.borrow() {
        // After a reload the policies may have changed: recompute as at start.
        if intakes.has_changed().unwrap_or(false) {
            started = false;
        }
        let intake2 = intakes.borrow_and_update().clone();
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

/// Sends what is due, then sleeps until the next row is due or intake and the clock
/// queue more. After a pass that failed mail for good, and after the first pass (for
/// failures from before a crash), the administrator is told (`report_failed_mail`);
/// failures held back by the hourly limit are told when it allows.
async fn sender_loop(
    intakes: watch::Receiver<Arc<Intake>>,
    mut sender: Sender,
    tokens: Option<Arc<Tokens>>,
    db: Db,
    clock: Clock,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    // When to tell the administrator about failed mail next, if there may be any.
    let mut report_at = Some(i64::MIN);
    while !*stop.borrow() {
        let pass = sender.deliver_due(&db, &clock, Some(&stop)).await;
        let mut alerted = false;
        // A pass that ended in an error may have failed rows before it.
        let may_have_failed = pass.as_ref().map_or(true, |p| p.failed > 0);
        if may_have_failed || report_at.is_some_and(|t| t <= clock.unix()) {
            let intake = intakes.borrow().clone();
            report_at = match report_failed_mail(&intake, &db, &clock).await {
                Ok(alerts::Reported::Alerted(_)) => {
                    alerted = true;
                    None
                }
                Ok(alerts::Reported::Waiting(at)) => Some(at),
                Ok(alerts::Reported::Nothing) => None,
                Err(e) => {
                    tracing::error!("Cannot report failed mail to the administrator: {e:#}");
                    Some(clock.unix() + 60)
                }
            };
        }
        let wait = match pass {
            Ok(pass) if pass.unreachable => {
                failures += 1;
                let wait = error_backoff(failures);
                // SMTP over OAuth2 with a refused grant: the same one alert, and the
                // mail goes out soon after the next login rather than after the backoff.
                if let Some(tokens) = &tokens
                    && let Some(refused) = tokens.refusal().await
                {
                    let intake = intakes.borrow().clone();
                    if let Err(e) = grant::raise_alert(&intake, &db, &clock, &refused).await {
                        tracing::error!("Cannot raise the OAuth2 alert: {e:#}");
                    }
                    let since = match &refused {
                        oauth2::TokenError::Refused { grant, .. } => Some(*grant),
                        _ => None,
                    };
                    if grant::wait_for_new(tokens, since, wait, &mut stop).await {
                        failures = 0;
                    }
                    continue;
                }
                wait
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
        let wait = match report_at {
            // The alert just queued goes out now, unless the server is away.
            _ if alerted && failures == 0 => Duration::ZERO,
            Some(at) => wait.min(Duration::from_secs(
                (at - clock.unix()).clamp(1, 3600) as u64
            )),
            None => wait,
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

/// One line per message, written once its batch is committed (a batch taken in
/// again after a rollback logs nothing twice). A quarantined message is a warning:
/// it waits for the administrator (`switchboard quarantine`).
pub fn log_report(r: &Report) {
    macro_rules! line {
        ($level:ident, $what:literal) => {
            tracing::$level!(
                uid = r.uid,
                outcome = r.outcome,
                case = r.case.as_deref().unwrap_or("-"),
                category = r.category.as_deref().unwrap_or("-"),
                priority = r.priority.as_deref().unwrap_or("-"),
                department = r.department.as_deref().unwrap_or("-"),
                acknowledged = r.acknowledged,
                sender = r.sender.as_deref().unwrap_or("-"),
                reason = r.reason.as_deref().unwrap_or("-"),
                $what
            )
        };
    }
    if r.outcome == crate::store::Outcome::Quarantined.as_str() {
        line!(warn, "Message quarantined");
    } else {
        line!(info, "Message taken in");
    }
}

enum Signal {
    Stop,
    Reload,
}

/// SIGTERM and SIGINT stop the daemon; SIGHUP reloads.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}
