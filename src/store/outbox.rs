//! Outgoing mail as rows: written in the transaction that causes it, delivered by the
//! sender task, marked sent or failed. A dead SMTP server delays mail, never loses it.

use anyhow::Result;
use rusqlite::{Connection, params};
use serde::Serialize;

pub use crate::compose::Splice;

/// `splices` as stored: JSON, or NULL for none.
pub fn splices_json(splices: &[Splice]) -> Option<String> {
    (!splices.is_empty()).then(|| serde_json::to_string(splices).unwrap_or_default())
}

/// The stored `splices`. A value that does not read gives one piece out of place:
/// the row then fails when sent, as one whose pieces lie outside it, and is never
/// sent without them (nor does one bad row stop the others being read).
pub fn read_splices(text: Option<&str>) -> Vec<Splice> {
    match text {
        None => Vec::new(),
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| {
            vec![Splice {
                at: usize::MAX,
                range: 0..0,
            }]
        }),
    }
}
pub struct NewOutgoing<'a> {
    pub case_id: Option<i64>,
    /// `ack`, `route`, `follow_up`…
    pub kind: &'a str,
    /// Without angle brackets; unique, and stable across a retry or a crash.
    pub message_id: &'a str,
    pub envelope_from: &'a str,
    pub recipients: &'a [String],
    pub content: &'a [u8],
    /// The ledger key of an incoming message whose raw bytes belong in `content` at
    /// this offset (see `compose::pieces`): the original of a case record is stored
    /// once, in the ledger.
    pub original: Option<(&'a str, usize)>,
    /// Pieces of the ledger message with this key (its parts' encoded bodies) that
    /// belong in `content` at their places: the same key as `original`'s when both.
    pub splices: Option<(&'a str, &'a [Splice])>,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub message_id: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub content: Vec<u8>,
    /// Where the original belongs in `content`, and its ledger key. The original
    /// itself is read when the row is sent (`messages::read_raw`), not with the
    /// row: a read of due rows then holds none of the originals, which run to
    /// megabytes each.
    pub original: Option<(usize, String)>,
    /// Pieces of the ledger message `ledger_key` that belong in `content`.
    pub splices: Vec<Splice>,
    /// The ledger message the row carries pieces of: `original`'s, or the parts'.
    pub ledger_key: Option<String>,
    pub attempts: i64,
}

impl OutboxRow {
    /// The mail as it goes out, in pieces (see `compose::pieces`), given the
    /// original this row carries as read from the ledger (`None` if it has none, or
    /// if the ledger no longer has it).
    pub fn pieces<'a>(
        &'a self,
        original: Option<&'a [u8]>,
    ) -> Result<Vec<std::borrow::Cow<'a, [u8]>>> {
        let needed = self.original.is_some() || !self.splices.is_empty();
        let raw = match original {
            Some(raw) => raw,
            None if !needed => &[],
            None => {
                anyhow::bail!("the original message this mail carries is no longer in the store")
            }
        };
        let at = self.original.as_ref().map(|(at, _)| *at);
        crate::compose::pieces(&self.content, raw, at, &self.splices).ok_or_else(|| {
            anyhow::anyhow!("the stored place of the original or of a part lies outside the mail")
        })
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct OutboxStats {
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
}

/// Queues a message. Returns false when a message with this Message-ID is already
/// queued: the same cause never sends twice.
pub fn insert(conn: &Connection, m: &NewOutgoing<'_>) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO outbox (case_id, kind, message_id, envelope_from, recipients,
                                           content, original_key, original_at, created_at,
                                           next_attempt_at, splices)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
        )?
        .execute(params![
            m.case_id,
            m.kind,
            m.message_id,
            m.envelope_from,
            m.recipients.join(","),
            m.content,
            m.original
                .map(|(key, _)| key)
                .or(m.splices.map(|(key, _)| key)),
            m.original.map(|(_, at)| at as i64),
            m.at,
            m.splices.and_then(|(_, s)| splices_json(s)),
        ])?;
    Ok(n == 1)
}

/// Gives a row queued without its bytes (see `outgoing::composer`) its bytes, in the
/// transaction that queued it.
pub fn fill(
    conn: &Connection,
    id: i64,
    content: &[u8],
    original: Option<(&str, usize)>,
    splices: Option<(&str, &[Splice])>,
) -> Result<()> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET content = ?2, original_key = ?3, original_at = ?4, splices = ?5
             WHERE id = ?1 AND sent_at IS NULL",
        )?
        .execute(params![
            id,
            content,
            original.map(|(key, _)| key).or(splices.map(|(key, _)| key)),
            original.map(|(_, at)| at as i64),
            splices.and_then(|(_, s)| splices_json(s)),
        ])?;
    anyhow::ensure!(
        n == 1,
        "outbox row {id} is gone before its bytes were written"
    );
    Ok(())
}

/// How many messages of this kind went (or will go) to this one recipient since `since`.
pub fn count_to_since(conn: &Connection, kind: &str, recipient: &str, since: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM outbox WHERE kind = ?1 AND recipients = ?2 AND created_at >= ?3",
        )?
        .query_row(params![kind, recipient, since], |r| r.get(0))?)
}

/// Messages due at `now`, oldest first, without their originals.
pub fn due(conn: &Connection, now: i64, limit: u32) -> Result<Vec<OutboxRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, message_id, envelope_from, recipients, content, attempts,
                original_at, original_key, splices
         FROM outbox
         WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?1
         ORDER BY next_attempt_at, id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, limit], |r| {
        let recipients: String = r.get(4)?;
        let ledger_key: Option<String> = r.get(8)?;
        let splices = read_splices(r.get::<_, Option<String>>(9)?.as_deref());
        Ok(OutboxRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            message_id: r.get(2)?,
            envelope_from: r.get(3)?,
            recipients: recipients
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            content: r.get(5)?,
            // A place without a key finds no original, and the row fails as one
            // whose original is gone: never sent without it.
            original: r
                .get::<_, Option<i64>>(7)?
                .map(|at| {
                    Ok::<_, rusqlite::Error>((
                        at as usize,
                        r.get::<_, Option<String>>(8)?.unwrap_or_default(),
                    ))
                })
                .transpose()?,
            splices,
            ledger_key,
            attempts: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// When the next queued message falls due, if any.
pub fn next_due(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn.query_row(
        "SELECT min(next_attempt_at) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}

pub fn mark_sent(conn: &Connection, id: i64, at: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
    )?
    .execute(params![id, at])?;
    Ok(())
}

pub fn mark_retry(conn: &Connection, id: i64, next_attempt_at: i64, error: &str) -> Result<()> {
    conn.prepare_cached("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1")?
        .execute(params![id, next_attempt_at, error])?;
    Ok(())
}

pub fn mark_failed(conn: &Connection, id: i64, at: i64, error: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET attempts = attempts + 1, failed_at = ?2, last_error = ?3 WHERE id = ?1",
    )?
    .execute(params![id, at, error])?;
    Ok(())
}

/// An outgoing mail that failed for good and that the administrator has not yet been
/// told about.
#[derive(Debug, Clone)]
pub struct Unreported {
    pub kind: String,
    pub recipients: String,
    /// The case it was about, if any: its number and subject (cheaper to read than
    /// the mail itself, which may carry a large original).
    pub case: Option<(String, String)>,
    pub failed_at: i64,
    pub error: Option<String>,
}

/// Failed mail not yet reported to the administrator, oldest first, at most `limit` of
/// them, and how many there are in all. Alerts are left out: a failed alert is never
/// itself alerted about, or one refused address would make a loop.
pub fn unreported_failures(conn: &Connection, limit: u32) -> Result<(Vec<Unreported>, i64)> {
    let total = conn
        .prepare_cached(
            "SELECT count(*) FROM outbox
             WHERE failed_at IS NOT NULL AND reported_at IS NULL AND kind <> 'alert'",
        )?
        .query_row([], |r| r.get(0))?;
    if total == 0 {
        return Ok((Vec::new(), 0));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT o.kind, o.recipients, c.number, c.subject, o.failed_at, o.last_error
         FROM outbox o LEFT JOIN cases c ON c.id = o.case_id
         WHERE o.failed_at IS NOT NULL AND o.reported_at IS NULL AND o.kind <> 'alert'
         ORDER BY o.failed_at, o.id LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        let number: Option<String> = r.get(2)?;
        let subject: Option<String> = r.get(3)?;
        Ok(Unreported {
            kind: r.get(0)?,
            recipients: r.get(1)?,
            case: number.map(|n| (n, subject.unwrap_or_default())),
            failed_at: r.get(4)?,
            error: r.get(5)?,
        })
    })?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total))
}

/// Marks every failed mail not yet reported (alerts aside, as above) as reported at
/// `at`; called in the transaction that raises the alert naming them. Returns how many.
pub fn mark_reported(conn: &Connection, at: i64) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "UPDATE outbox SET reported_at = ?1
             WHERE failed_at IS NOT NULL AND reported_at IS NULL AND kind <> 'alert'",
        )?
        .execute([at])?)
}

/// One line of `switchboard outbox`, and of a case's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxListing {
    pub id: i64,
    pub kind: String,
    /// `sent`, `waiting` or `failed`.
    pub status: &'static str,
    pub recipients: String,
    #[serde(skip)]
    pub content: Vec<u8>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// Every outgoing mail, or those of one case, in the order they were queued.
pub fn list(conn: &Connection, case_id: Option<i64>) -> Result<Vec<OutboxListing>> {
    let mut stmt = conn.prepare(
        "SELECT id, kind, sent_at IS NOT NULL, failed_at IS NOT NULL, recipients, content, last_error,
                created_at
         FROM outbox WHERE ?1 IS NULL OR case_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([case_id], |r| {
        let (sent, failed): (bool, bool) = (r.get(2)?, r.get(3)?);
        Ok(OutboxListing {
            id: r.get(0)?,
            kind: r.get(1)?,
            status: if sent {
                "sent"
            } else if failed {
                "failed"
            } else {
                "waiting"
            },
            recipients: r.get(4)?,
            content: r.get(5)?,
            last_error: r.get(6)?,
            created_at: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn stats(conn: &Connection) -> Result<OutboxStats> {
    Ok(conn.query_row(
        "SELECT count(*) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL),
                count(*) FILTER (WHERE sent_at IS NOT NULL),
                count(*) FILTER (WHERE failed_at IS NOT NULL)
         FROM outbox",
        [],
        |r| {
            Ok(OutboxStats {
                pending: r.get(0)?,
                sent: r.get(1)?,
                failed: r.get(2)?,
            })
        },
    )?)
}
