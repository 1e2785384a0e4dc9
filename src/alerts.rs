//! Telling the administrator when something needs a person: a mailbox that has not
//! been read for too long, mail a server refused for good, a sender flooding the
//! shared address. Each alert is a row and goes out through the outbox like all our
//! mail; a key makes sure the same condition raises one alert, not one per minute.

use anyhow::Result;
use serde_json::json;

use crate::outgoing::{self, Letter, Mailer};
use crate::store::alerts as rows;

/// When the same key may raise again.
#[derive(Debug, Clone, Copy)]
pub enum Repeat {
    /// Only after [`clear`]: the condition ended and came back.
    AfterClear,
    /// After this many seconds.
    After(i64),
}

/// Raises an alert unless one with this key is still standing. Returns whether it did.
pub fn raise(
    mailer: &Mailer<'_>,
    key: &str,
    title: &str,
    detail: &str,
    repeat: Repeat,
) -> Result<bool> {
    let conn = mailer.conn;
    let now = mailer.now.timestamp();
    if standing(conn, key, repeat, now)? {
        return Ok(false);
    }
    let id = rows::insert(conn, key, now, title, detail)?;
    tracing::warn!(alert = key, "Alert: {title}: {detail}");
    let config = mailer.config;
    let ctx = json!({
        "alert": {
            "title": title,
            "detail": detail,
            "key": key,
            "raised_at": outgoing::local_time(config, now),
        },
        "company": outgoing::company_context(config),
    });
    for admin in &config.alerts.to {
        mailer.queue(&Letter::notice(
            "alert",
            None,
            outgoing::mailbox("", admin)?,
            "alert.txt",
            &ctx,
            &format!("alert:{id}"),
            None,
        ))?;
    }
    if config.alerts.to.is_empty() {
        tracing::warn!(
            alert = key,
            "No [alerts] to: the alert is in the log and the store only"
        );
    }
    Ok(true)
}

/// Whether an alert with this key would be held back now (so the caller can skip
/// working out its text).
pub fn standing(conn: &rusqlite::Connection, key: &str, repeat: Repeat, now: i64) -> Result<bool> {
    Ok(match repeat {
        Repeat::AfterClear => rows::open(conn, key)?,
        Repeat::After(secs) => rows::last_raised(conn, key)?.is_some_and(|t| now - t < secs),
    })
}

/// The condition behind `key` is over; logs the recovery if an alert was standing.
pub fn clear(conn: &rusqlite::Connection, key: &str, now: i64) -> Result<()> {
    if rows::clear(conn, key, now)? > 0 {
        tracing::info!(alert = key, "Recovered: the alert is cleared");
    }
    Ok(())
}
