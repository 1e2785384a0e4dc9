//! Sightings of messages seen before. The ledger (`messages`) holds one row per
//! message; a copy of it seen again under another mailbox, UIDVALIDITY or UID is a
//! row here, naming the ledger row it duplicates, so that `switchboard messages`
//! accounts for every UID taken in ("what became of UID 4711?" always has an answer).

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::messages::MessageRow;
use crate::digest::hex;

/// The ledger row a new sighting duplicates, as far as deciding about it needs.
pub struct Original {
    pub id: i64,
    pub mailbox: String,
    pub uidvalidity: Option<u32>,
    pub uid: Option<u32>,
    pub case: Option<String>,
}

/// The ledger row with this identity, if any.
pub fn original(conn: &Connection, dedup_key: &str) -> Result<Option<Original>> {
    Ok(conn
        .prepare_cached(
            "SELECT m.id, m.mailbox, m.uidvalidity, m.uid, c.number
             FROM messages m LEFT JOIN cases c ON c.id = m.case_id WHERE m.dedup_key = ?1",
        )?
        .query_row([dedup_key], |r| {
            Ok(Original {
                id: r.get(0)?,
                mailbox: r.get(1)?,
                uidvalidity: r.get(2)?,
                uid: r.get(3)?,
                case: r.get(4)?,
            })
        })
        .optional()?)
}

/// A sighting to record.
pub struct Sighting<'a> {
    pub mailbox: &'a str,
    pub uidvalidity: Option<u32>,
    pub uid: Option<u32>,
    pub raw: &'a [u8],
    pub seen_at: i64,
}

/// Records a sighting of `original` unless it is the original itself fetched again
/// (after a crash before the checkpoint) or a sighting already recorded. The bytes
/// are kept when they differ from the ledger's. Returns the reason, for the report.
pub fn record(conn: &Connection, original: &Original, seen: &Sighting<'_>) -> Result<String> {
    let of = match original.uid {
        Some(uid) => format!(
            "ledger row {} (UID {uid} in {})",
            original.id, original.mailbox
        ),
        None => format!("ledger row {} ({})", original.id, original.mailbox),
    };
    if original.mailbox == seen.mailbox
        && original.uidvalidity == seen.uidvalidity
        && original.uid == seen.uid
        && seen.uid.is_some()
    {
        return Ok(format!("{of} fetched again"));
    }
    let sha256 = hex(&Sha256::digest(seen.raw));
    let same_bytes = same_as_ledger(conn, original.id, seen.raw)?;
    let place = match seen.uid {
        Some(uid) => format!("UID {uid}"),
        None => "file".to_string(),
    };
    let reason = if same_bytes {
        format!("{place} is a copy of {of}: same Message-ID and sender, same bytes")
    } else {
        format!(
            "{place} has the Message-ID and sender of {of} but other bytes (kept here); taken for the same message, as a resend"
        )
    };
    // A sighting without a UID (a Maildir file) is unique by what it duplicates and
    // its bytes; one with a UID by where it was seen (the UNIQUE constraint).
    let known: bool = conn
        .prepare_cached(
            "SELECT 1 FROM duplicates WHERE mailbox = ?1 AND uidvalidity IS ?2 AND uid IS ?3
               AND (?3 IS NOT NULL OR (of_message = ?4 AND sha256 = ?5))",
        )?
        .query_row(
            params![
                seen.mailbox,
                seen.uidvalidity,
                seen.uid,
                original.id,
                sha256
            ],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !known {
        conn.prepare_cached(
            "INSERT INTO duplicates (of_message, mailbox, uidvalidity, uid, seen_at, sha256, reason, raw)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            original.id,
            seen.mailbox,
            seen.uidvalidity,
            seen.uid,
            seen.seen_at,
            sha256,
            reason,
            (!same_bytes).then_some(seen.raw),
        ])?;
    }
    Ok(reason)
}

/// Whether the ledger row holds exactly `raw`, read in pieces: a copy of a 25 MB
/// message is not loaded whole a second time to be compared.
fn same_as_ledger(conn: &Connection, id: i64, raw: &[u8]) -> Result<bool> {
    let blob = conn.blob_open(rusqlite::MAIN_DB, "messages", "raw", id, true)?;
    if blob.len() != raw.len() {
        return Ok(false);
    }
    let mut buf = vec![0; 64 * 1024];
    for (i, want) in raw.chunks(buf.len()).enumerate() {
        let got = buf.get_mut(..want.len()).unwrap_or_default();
        blob.read_at_exact(got, i * 64 * 1024)?;
        if got != want {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Every sighting, as listing rows: outcome `duplicate`, the case of the row it
/// duplicates, and `duplicate_of` naming that row.
pub fn list(conn: &Connection) -> Result<Vec<MessageRow>> {
    let mut stmt = conn.prepare(
        "SELECT d.id, m.message_id, d.mailbox, d.uidvalidity, d.uid, d.seen_at, m.sender,
                m.subject, c.number, d.reason, d.of_message
         FROM duplicates d JOIN messages m ON m.id = d.of_message
         LEFT JOIN cases c ON c.id = m.case_id ORDER BY d.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(MessageRow {
            id: r.get(0)?,
            message_id: r.get(1)?,
            mailbox: r.get(2)?,
            uidvalidity: r.get(3)?,
            uid: r.get(4)?,
            received_at: r.get(5)?,
            sender: r.get(6)?,
            subject: r.get(7)?,
            outcome: "duplicate".to_string(),
            case: r.get(8)?,
            reason: r.get(9)?,
            duplicate_of: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
