//! Alerts raised to the administrator, and addresses that get no automatic mail for a
//! while (their mail bounced).

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    pub id: i64,
    pub key: String,
    pub raised_at: i64,
    pub title: String,
    pub detail: String,
}

/// When an alert with this key was last raised.
pub fn last_raised(conn: &Connection, key: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT max(raised_at) FROM alerts WHERE key = ?1")?
        .query_row([key], |r| r.get(0))?)
}

/// Whether an alert with this key is raised and not yet cleared.
pub fn open(conn: &Connection, key: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM alerts WHERE key = ?1 AND cleared_at IS NULL LIMIT 1")?
        .query_row([key], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The condition is over: a new failure raises a new alert.
pub fn clear(conn: &Connection, key: &str, at: i64) -> Result<usize> {
    Ok(conn
        .prepare_cached("UPDATE alerts SET cleared_at = ?2 WHERE key = ?1 AND cleared_at IS NULL")?
        .execute(params![key, at])?)
}

pub fn insert(conn: &Connection, key: &str, at: i64, title: &str, detail: &str) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO alerts (key, raised_at, title, detail) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![key, at, title, detail])?;
    Ok(conn.last_insert_rowid())
}

pub fn list(conn: &Connection) -> Result<Vec<AlertRow>> {
    let mut stmt =
        conn.prepare("SELECT id, key, raised_at, title, detail FROM alerts ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(AlertRow {
            id: r.get(0)?,
            key: r.get(1)?,
            raised_at: r.get(2)?,
            title: r.get(3)?,
            detail: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn suppress(conn: &Connection, address: &str, until: i64, reason: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO suppressions (address, until, reason) VALUES (?1, ?2, ?3)
         ON CONFLICT (address) DO UPDATE SET until = max(until, excluded.until), reason = excluded.reason",
    )?
    .execute(params![address, until, reason])?;
    Ok(())
}

/// Why automatic mail to this address is held back at `now`, if it is.
pub fn suppressed(conn: &Connection, address: &str, now: i64) -> Result<Option<(i64, String)>> {
    Ok(conn
        .prepare_cached("SELECT until, reason FROM suppressions WHERE address = ?1 AND until > ?2")?
        .query_row(params![address, now], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// The outbox row with this Message-ID: (kind, recipients).
pub fn outgoing_by_message_id(
    conn: &Connection,
    message_id: &str,
) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached("SELECT kind, recipients FROM outbox WHERE message_id = ?1")?
        .query_row([message_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}
