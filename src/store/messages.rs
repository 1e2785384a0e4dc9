//! Every message taken in, raw, with its outcome: the ledger that makes "nothing lost,
//! nothing twice" checkable.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Opened a case.
    Case,
    /// Joined an existing case.
    FollowUp,
    /// Kept, but no case: an auto-reply or bounce that belongs to nothing.
    Ignored,
    /// Could not be read, or too large: kept raw with the reason.
    Quarantined,
    /// Not a case (a not-a-case rule or a spam verdict): kept with the reason, no
    /// case, no mail; `switchboard messages open ID` takes it in as a case after all.
    SetAside,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Case => "case",
            Outcome::FollowUp => "follow_up",
            Outcome::Ignored => "ignored",
            Outcome::Quarantined => "quarantined",
            Outcome::SetAside => "set_aside",
        }
    }
}

pub struct MessageRecord<'a> {
    pub dedup_key: &'a str,
    pub message_id: Option<&'a str>,
    pub mailbox: &'a str,
    pub uidvalidity: Option<u32>,
    pub uid: Option<u32>,
    pub received_at: i64,
    pub sender: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub outcome: Outcome,
    pub case_id: Option<i64>,
    pub reason: Option<&'a str>,
    pub raw: &'a [u8],
}

/// Whether a message with this key was taken in before.
pub fn seen(conn: &Connection, dedup_key: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM messages WHERE dedup_key = ?1")?
        .query_row([dedup_key], |_| Ok(()))
        .optional()?
        .is_some())
}

/// A raw message at least this large is written into its row in place (a zeroed
/// blob of its length, then the bytes) instead of bound to the INSERT: SQLite
/// copies a bound blob, then copies it again into the record it builds, two fresh
/// allocations of the message's size on the store's thread. With 5 MB attachments
/// in the benchmark's backlog, freed copies kept in malloc's arenas made intake's
/// peak RSS 81-100 MiB over three runs; in place, 56-57 MiB, at the same rate
/// within the noise (966 against 1,005 msg/s, with the raw fetch 5% slower too).
/// The zeroed pages must stay in the page cache until they are overwritten: see
/// the cache size in `Db::open`.
const WRITE_IN_PLACE: usize = 64 * 1024;

pub fn insert(conn: &Connection, m: &MessageRecord<'_>) -> Result<i64> {
    let large = m.raw.len() >= WRITE_IN_PLACE;
    let placeholder = rusqlite::blob::ZeroBlob(i32::try_from(m.raw.len())?);
    let raw: &dyn rusqlite::ToSql = if large { &placeholder } else { &m.raw };
    conn.prepare_cached(
        "INSERT INTO messages (dedup_key, message_id, mailbox, uidvalidity, uid, received_at,
                               sender, subject, outcome, case_id, reason, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        m.dedup_key,
        m.message_id,
        m.mailbox,
        m.uidvalidity,
        m.uid,
        m.received_at,
        m.sender,
        m.subject,
        m.outcome.as_str(),
        m.case_id,
        m.reason,
        raw,
    ])?;
    let id = conn.last_insert_rowid();
    if large {
        conn.blob_open(rusqlite::MAIN_DB, "messages", "raw", id, false)?
            .write_at(m.raw, 0)?;
    }
    Ok(id)
}

/// What the ledger says of one message, without its bytes.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub message_id: Option<String>,
    pub mailbox: String,
    pub uidvalidity: Option<u32>,
    pub uid: Option<u32>,
    pub received_at: i64,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub outcome: String,
    pub case: Option<String>,
    pub reason: Option<String>,
    /// For outcome `duplicate` (a row of `duplicates`, numbered apart): the ledger
    /// row it is a copy of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<i64>,
}

/// Every message taken in, or those of one case, in the order they came.
pub fn list(conn: &Connection, case_id: Option<i64>) -> Result<Vec<MessageRow>> {
    let mut stmt = conn.prepare(
        "SELECT m.id, m.message_id, m.mailbox, m.uidvalidity, m.uid, m.received_at, m.sender,
                m.subject, m.outcome, c.number, m.reason
         FROM messages m LEFT JOIN cases c ON c.id = m.case_id
         WHERE ?1 IS NULL OR m.case_id = ?1 ORDER BY m.id",
    )?;
    let rows = stmt.query_map([case_id], |r| {
        Ok(MessageRow {
            id: r.get(0)?,
            message_id: r.get(1)?,
            mailbox: r.get(2)?,
            uidvalidity: r.get(3)?,
            uid: r.get(4)?,
            received_at: r.get(5)?,
            sender: r.get(6)?,
            subject: r.get(7)?,
            outcome: r.get(8)?,
            case: r.get(9)?,
            reason: r.get(10)?,
            duplicate_of: None,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many messages this sender sent since `since`.
pub fn count_from_since(conn: &Connection, sender: &str, since: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM messages WHERE sender = ?1 AND received_at >= ?2")?
        .query_row(params![sender, since], |r| r.get(0))?)
}

/// Counts per outcome, for the end-of-run summary.
pub fn count_by_outcome(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt =
        conn.prepare("SELECT outcome, count(*) FROM messages GROUP BY outcome ORDER BY outcome")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Set-aside messages received in `[start, end)`, counted per reason: the rule's name
/// or the verdict's header, without the detail in brackets (a score, a value).
pub fn set_aside_by_reason(conn: &Connection, start: i64, end: i64) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT reason FROM messages
         WHERE outcome = 'set_aside' AND received_at >= ?1 AND received_at < ?2",
    )?;
    let reasons = stmt.query_map(params![start, end], |r| r.get::<_, Option<String>>(0))?;
    let mut counts: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for reason in reasons {
        let reason = reason?.unwrap_or_default();
        let key = match reason.find(" (") {
            Some(at) if !reason.starts_with("rule ") => reason.get(..at).unwrap_or(&reason),
            _ => reason.as_str(),
        };
        *counts.entry(key.to_string()).or_default() += 1;
    }
    let mut counts: Vec<(String, i64)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(counts)
}

/// One ledger row with its bytes: what a release from the quarantine takes in again.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: i64,
    pub dedup_key: String,
    pub mailbox: String,
    pub uidvalidity: Option<u32>,
    pub uid: Option<u32>,
    pub received_at: i64,
    pub outcome: String,
    pub reason: Option<String>,
    pub raw: Vec<u8>,
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<StoredMessage>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, dedup_key, mailbox, uidvalidity, uid, received_at, outcome, reason, raw
             FROM messages WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(StoredMessage {
                id: r.get(0)?,
                dedup_key: r.get(1)?,
                mailbox: r.get(2)?,
                uidvalidity: r.get(3)?,
                uid: r.get(4)?,
                received_at: r.get(5)?,
                outcome: r.get(6)?,
                reason: r.get(7)?,
                raw: r.get(8)?,
            })
        })
        .optional()?)
}

/// A message that the rules decided on when it came in: it opened a case or was set
/// aside (`switchboard replay` classifies these again).
pub struct Decided {
    pub id: i64,
    pub received_at: i64,
    pub outcome: String,
    pub case_id: Option<i64>,
    pub reason: Option<String>,
    pub raw: Vec<u8>,
}

/// The messages taken in in `[start, end)` that opened a case or were set aside, in
/// the order they came, one at a time (a month of mail is not held in memory).
pub fn for_each_decided(
    conn: &Connection,
    start: i64,
    end: i64,
    mut f: impl FnMut(Decided) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare(
        "SELECT id, received_at, outcome, case_id, reason, raw FROM messages
         WHERE received_at >= ?1 AND received_at < ?2 AND outcome IN ('case', 'set_aside')
         ORDER BY received_at, id",
    )?;
    let mut rows = stmt.query(params![start, end])?;
    while let Some(r) = rows.next()? {
        f(Decided {
            id: r.get(0)?,
            received_at: r.get(1)?,
            outcome: r.get(2)?,
            case_id: r.get(3)?,
            reason: r.get(4)?,
            raw: r.get(5)?,
        })?;
    }
    Ok(())
}

/// The ledger id of the message with this key.
pub fn id_by_key(conn: &Connection, dedup_key: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM messages WHERE dedup_key = ?1")?
        .query_row([dedup_key], |r| r.get(0))
        .optional()?)
}

/// Reads the raw bytes of the message with this key into `buf` (replacing what it
/// held), for a mail that carries them (a case record sent from the outbox). Returns
/// false if the ledger has no such message. Read straight from SQLite's pages into
/// the caller's buffer: a plain SELECT would first build a copy of its own, megabytes
/// for a large original, and a caller that reuses `buf` allocates nothing more.
pub fn read_raw(conn: &Connection, dedup_key: &str, buf: &mut Vec<u8>) -> Result<bool> {
    let Some(id) = id_by_key(conn, dedup_key)? else {
        return Ok(false);
    };
    let blob = conn.blob_open(rusqlite::MAIN_DB, "messages", "raw", id, true)?;
    buf.clear();
    buf.resize(blob.len(), 0);
    blob.read_at_exact(buf, 0)?;
    Ok(true)
}

/// Removes a row; only a release does this, inside its transaction, before the same
/// bytes are taken in again (or, for a message of which only the header was kept,
/// so that the whole message is taken in when it is put back in the inbox).
pub fn delete(conn: &Connection, id: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM messages WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Replaces a row's reason (a set-aside message opened as a case says why).
pub fn set_reason(conn: &Connection, id: i64, reason: &str) -> Result<()> {
    conn.prepare_cached("UPDATE messages SET reason = ?2 WHERE id = ?1")?
        .execute(params![id, reason])?;
    Ok(())
}

/// Gives the row written by a release the id and time of the row it replaces, so that
/// the ledger keeps one row per message, in the order the messages came.
pub fn take_place_of(conn: &Connection, new_id: i64, old_id: i64, received_at: i64) -> Result<()> {
    conn.prepare_cached("UPDATE messages SET id = ?2, received_at = ?3 WHERE id = ?1")?
        .execute(params![new_id, old_id, received_at])?;
    Ok(())
}

#[cfg(test)]
impl<'a> MessageRecord<'a> {
    /// A message taken in with nothing but its key and its bytes.
    pub fn with_raw(dedup_key: &'a str, raw: &'a [u8]) -> MessageRecord<'a> {
        MessageRecord {
            dedup_key,
            message_id: None,
            mailbox: "INBOX",
            uidvalidity: None,
            uid: None,
            received_at: 0,
            sender: None,
            subject: None,
            outcome: Outcome::Case,
            case_id: None,
            reason: None,
            raw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MessageRecord, WRITE_IN_PLACE, get, insert, read_raw};

    #[test]
    fn a_raw_message_reads_back_byte_for_byte_whichever_way_it_was_written() {
        let conn = crate::store::memory().unwrap();
        let large: Vec<u8> = (0..WRITE_IN_PLACE * 3 + 7)
            .map(|i| (i % 251) as u8)
            .collect();
        let exactly: Vec<u8> = vec![b'x'; WRITE_IN_PLACE];
        let small = b"Subject: hi\r\n\r\nhello\r\n".to_vec();
        for (key, raw) in [("large", &large), ("exactly", &exactly), ("small", &small)] {
            let id = insert(&conn, &MessageRecord::with_raw(key, raw)).unwrap();
            assert!(get(&conn, id).unwrap().unwrap().raw == *raw, "{key}");
            let mut buf = b"left over".to_vec();
            assert!(read_raw(&conn, key, &mut buf).unwrap());
            assert!(buf == *raw, "{key}");
        }
        assert!(!read_raw(&conn, "absent", &mut Vec::new()).unwrap());
    }
}
