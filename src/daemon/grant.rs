//! What the daemon does when its OAuth2 grant is refused for good (or was never
//! stored): one alert to `[alerts] to`, through the outbox like every alert, keyed so
//! that the mailbox and the sender finding the same refusal make one mail; the loop
//! that found it then watches the store for the next `switchboard login` instead of
//! backing off for minutes, and carries on by itself once there is a new grant. The
//! alert is cleared by the first refresh that works (`store::grants::refreshed`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::watch;

use crate::alerts;
use crate::clock::Clock;
use crate::intake::Intake;
use crate::oauth2::{GRANT_POLL, TokenError, Tokens};
use crate::store::Db;

pub use crate::oauth2::GRANT_ALERT;

/// Raises the grant alert unless it stands already. The text says what happened,
/// what still works, and what to run.
pub async fn raise_alert(
    intake: &Arc<Intake>,
    db: &Db,
    clock: &Clock,
    error: &TokenError,
) -> Result<bool> {
    let config = &intake.config;
    let (title, what) = match error {
        TokenError::Refused { reason, .. } => (
            "The OAuth2 grant was refused: run switchboard login",
            format!(
                "The authorization server refused Switchboard's OAuth2 grant for good ({reason}). This happens when the grant is revoked, when the account's password is changed, or after 90 days without use."
            ),
        ),
        _ => (
            "No OAuth2 grant is stored: run switchboard login",
            "Switchboard is configured with auth = \"oauth2\" but no grant is stored for the app in [oauth2]."
                .to_string(),
        ),
    };
    let (imap_oauth2, smtp_oauth2) = (config.mailbox_uses_oauth2(), config.smtp_uses_oauth2());
    let mut detail = what;
    detail.push_str("\n\n");
    if imap_oauth2 {
        detail.push_str("New mail is not taken in: it waits on the mail server, nothing is lost. ");
    }
    if smtp_oauth2 {
        detail.push_str("Outgoing mail waits in the outbox (this alert too, if it reaches you late): nothing is lost. ");
    } else {
        detail.push_str("Outgoing mail is still sent. ");
    }
    detail.push_str("Deadlines, reminders and escalations keep running.\n\n");
    detail.push_str(&format!(
        "To mend it, run on the server, as the user the service runs as:\n\n    switchboard login --config {}\n\nand approve the code it shows while signed in as the shared mailbox. The running daemon picks the new grant up by itself; no restart is needed.",
        config.file.display()
    ));
    let intake = intake.clone();
    let now = clock.now();
    let raised = db
        .call(move |c| {
            crate::deadlines::in_transaction(
                c,
                &intake.config,
                intake.templates(),
                intake.policies(),
                now,
                |work| {
                    alerts::raise(
                        &work.mailer,
                        GRANT_ALERT,
                        title,
                        &detail,
                        alerts::Repeat::AfterClear,
                    )
                },
            )
        })
        .await?;
    Ok(raised)
}

/// Waits up to `max` for a grant newer than `since` (a new `switchboard login`),
/// asking the store every GRANT_POLL. Returns whether one came; `false` also when
/// `stop` changed.
pub async fn wait_for_new(
    tokens: &Tokens,
    since: Option<i64>,
    max: Duration,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let deadline = tokio::time::Instant::now() + max;
    loop {
        match tokens.latest_grant().await {
            Ok(id) if id != since => return true,
            Ok(_) => {}
            Err(e) => tracing::warn!("Cannot read the OAuth2 grants: {e:#}"),
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(GRANT_POLL.min(left)) => {}
            _ = stop.changed() => return false,
        }
    }
}
