//! How far intake has read each folder (UIDVALIDITY + last UID), and the moves that an
//! intake transaction decided but the server has not done yet.
//!
//! The checkpoint moves in the same transaction that records the messages, so a crash
//! either keeps both or neither. Moves are intent rows: done after the commit, deleted
//! once the server has done them, redone after a crash.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMove {
    pub id: i64,
    pub uid: u32,
    pub target: String,
}

pub fn checkpoint(conn: &Connection, mailbox: &str) -> Result<Option<Checkpoint>> {
    Ok(conn
        .query_row(
            "SELECT uidvalidity, last_uid FROM mailbox_state WHERE mailbox = ?1",
            [mailbox],
            |r| {
                Ok(Checkpoint {
                    uidvalidity: r.get(0)?,
                    last_uid: r.get(1)?,
                })
            },
        )
        .optional()?)
}

pub fn set_checkpoint(conn: &Connection, mailbox: &str, cp: Checkpoint) -> Result<()> {
    conn.execute(
        "INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid) VALUES (?1, ?2, ?3)
         ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = ?2, last_uid = ?3",
        params![mailbox, cp.uidvalidity, cp.last_uid],
    )?;
    Ok(())
}

pub fn plan_move(
    conn: &Connection,
    mailbox: &str,
    uidvalidity: u32,
    uid: u32,
    target: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO pending_moves (mailbox, uidvalidity, uid, target) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![mailbox, uidvalidity, uid, target])?;
    Ok(())
}

/// Planned moves for this folder incarnation. Moves planned under an older
/// UIDVALIDITY name UIDs that no longer mean anything and are dropped.
pub fn pending_moves(
    conn: &Connection,
    mailbox: &str,
    uidvalidity: u32,
) -> Result<Vec<PendingMove>> {
    conn.execute(
        "DELETE FROM pending_moves WHERE mailbox = ?1 AND uidvalidity != ?2",
        params![mailbox, uidvalidity],
    )?;
    let mut stmt = conn.prepare(
        "SELECT id, uid, target FROM pending_moves WHERE mailbox = ?1 ORDER BY target, uid",
    )?;
    let rows = stmt.query_map([mailbox], |r| {
        Ok(PendingMove {
            id: r.get(0)?,
            uid: r.get(1)?,
            target: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn moves_done(conn: &mut Connection, ids: &[i64]) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached("DELETE FROM pending_moves WHERE id = ?1")?;
        for id in ids {
            stmt.execute([id])?;
        }
    }
    tx.commit()?;
    Ok(())
}
