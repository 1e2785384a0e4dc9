//! The daily list of set-aside mail: which messages it named, under which numbers.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

/// A set-aside message as the list shows it.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: i64,
    pub received_at: i64,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub reason: Option<String>,
}

/// Set-aside messages no list has named yet, in the order they came.
pub fn unlisted(conn: &Connection) -> Result<Vec<Item>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.id, m.received_at, m.sender, m.subject, m.reason FROM messages m
         WHERE m.outcome = 'set_aside'
           AND NOT EXISTS (SELECT 1 FROM set_aside_listed l WHERE l.message_id = m.id)
         ORDER BY m.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Item {
            id: r.get(0)?,
            received_at: r.get(1)?,
            sender: r.get(2)?,
            subject: r.get(3)?,
            reason: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn mark_listed(conn: &Connection, id: i64, list: &str, number: i64, at: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO set_aside_listed (message_id, list, number, listed_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id, list, number, at])?;
    Ok(())
}

/// Whether this Message-ID is one of our set-aside lists.
pub fn is_list(conn: &Connection, list: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM set_aside_listed WHERE list = ?1 LIMIT 1")?
        .query_row([list], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The ledger id of line `number` of that list.
pub fn listed(conn: &Connection, list: &str, number: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT message_id FROM set_aside_listed WHERE list = ?1 AND number = ?2")?
        .query_row(params![list, number], |r| r.get(0))
        .optional()?)
}

/// The Message-ID of the newest outgoing mail of a kind (the list just queued).
pub fn last_queued(conn: &Connection, kind: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT message_id FROM outbox WHERE kind = ?1 ORDER BY id DESC LIMIT 1")?
        .query_row([kind], |r| r.get(0))
        .optional()?)
}
