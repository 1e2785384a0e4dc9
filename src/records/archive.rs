//! `switchboard archive export`: one case as one BagIt bag — the exact bytes of every
//! message taken in (`data/messages/NNN.eml`), the exact bytes of every mail sent
//! (`data/sent/NNN.eml`), the case with its events, deadlines and timers as JSON
//! (`data/case.json`) and as `cases show` prints it (`data/case.txt`).
//!
//! The export streams: a message's bytes go from SQLite's pages (incremental blob
//! I/O) through a 64 KiB buffer into the file, so a case with a 25 MB attachment costs
//! no more memory than one with none. The whole export reads one snapshot of the
//! store (one read transaction), so a case the daemon changes meanwhile is archived
//! as it was at one instant.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use super::bagit::BagWriter;
use crate::commands::timeline::{self, Timeline};
use crate::config::Config;

const CHUNK: usize = 64 * 1024;

/// A case as the retention and export commands see it.
#[derive(Debug, Clone)]
pub struct ClosedCase {
    pub id: i64,
    pub number: String,
    pub closed_at: i64,
}

/// Closed cases, with when they were closed: the last `closed` event (a case closed
/// before events were kept has its last change instead).
pub fn closed_cases(conn: &Connection) -> Result<Vec<ClosedCase>> {
    let mut stmt = conn.prepare(
        "SELECT c.id, c.number,
                coalesce((SELECT max(e.at) FROM events e WHERE e.case_id = c.id AND e.kind = 'closed'),
                         c.updated_at)
         FROM cases c WHERE c.status = 'closed' ORDER BY c.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ClosedCase {
            id: r.get(0)?,
            number: r.get(1)?,
            closed_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A file of the bag and what it is, in case.json: which ledger or outbox row it
/// holds, so that the JSON and the .eml files can be read together.
#[derive(Serialize)]
struct FileRef {
    file: String,
    /// `messages.id` or `outbox.id`.
    id: i64,
    bytes: u64,
}

#[derive(Serialize)]
struct CaseJson<'a> {
    #[serde(flatten)]
    timeline: &'a Timeline,
    files: Files,
}

#[derive(Serialize, Default)]
struct Files {
    messages: Vec<FileRef>,
    sent: Vec<FileRef>,
}

/// Writes the bag of case `number` as `out/<number>` and returns its path. `now` is
/// the Bagging-Date and the time the deadlines are judged at in case.txt.
pub fn export_case(
    config: &Config,
    conn: &Connection,
    number: &str,
    out: &Path,
    now: i64,
) -> Result<PathBuf> {
    // One snapshot for the whole bag: a deferred read transaction (nothing is
    // written), or the caller's transaction when one is open (retention's).
    let own = if conn.is_autocommit() {
        Some(conn.unchecked_transaction()?)
    } else {
        None
    };
    let tx: &Connection = own.as_deref().unwrap_or(conn);
    let timeline = timeline::read(tx, number, now)?;
    let case = &timeline.case;
    std::fs::create_dir_all(out).with_context(|| format!("Cannot create {}", out.display()))?;
    let mut bag = BagWriter::create(&out.join(&case.case))?;
    let mut files = Files::default();

    let ids: Vec<i64> = tx
        .prepare("SELECT id FROM messages WHERE case_id = ?1 ORDER BY id")?
        .query_map([case.id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (n, id) in ids.iter().enumerate() {
        let file = format!("messages/{:03}.eml", n + 1);
        let blob = tx.blob_open(rusqlite::MAIN_DB, "messages", "raw", *id, true)?;
        let len = blob.len();
        bag.add_with(&file, |w| {
            copy_blob(&blob, 0, len, &mut |c| Ok(w.write_all(c)?))
        })?;
        files.messages.push(FileRef {
            file: format!("data/{file}"),
            id: *id,
            bytes: len as u64,
        });
    }

    let sent: Vec<(i64, Option<String>, Option<i64>)> = tx
        .prepare(
            "SELECT id, original_key, original_at FROM outbox
             WHERE case_id = ?1 AND sent_at IS NOT NULL ORDER BY id",
        )?
        .query_map([case.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (n, (id, key, at)) in sent.iter().enumerate() {
        let file = format!("sent/{:03}.eml", n + 1);
        let mut bytes = 0u64;
        bag.add_with(&file, |w| {
            bytes = write_sent(tx, *id, key.as_deref(), *at, w)
                .with_context(|| format!("outbox row {id}"))?;
            Ok(())
        })?;
        files.sent.push(FileRef {
            file: format!("data/{file}"),
            id: *id,
            bytes,
        });
    }

    let json = serde_json::to_vec_pretty(&CaseJson {
        timeline: &timeline,
        files,
    })?;
    bag.add_bytes("case.json", &json)?;
    let mut text = Vec::new();
    timeline::print(config, &timeline, &mut text)?;
    bag.add_bytes("case.txt", &text)?;

    let rfc3339 = |t: i64| {
        DateTime::<Utc>::from_timestamp(t, 0)
            .map(|t| t.with_timezone(&config.calendar.tz()).to_rfc3339())
            .unwrap_or_default()
    };
    let closed = tx
        .query_row(
            "SELECT max(at) FROM events WHERE case_id = ?1 AND kind = 'closed'",
            [case.id],
            |r| r.get::<_, Option<i64>>(0),
        )?
        .map(rfc3339)
        .unwrap_or_else(|| "(not closed)".into());
    let today = DateTime::<Utc>::from_timestamp(now, 0)
        .map(|t| {
            t.with_timezone(&config.calendar.tz())
                .format("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_default();
    let info = [
        ("Source-Organization", config.smtp.from.to_string()),
        ("Contact-Email", config.smtp.from.email.to_string()),
        ("External-Identifier", case.case.clone()),
        ("External-Description", case.subject.clone()),
        ("Bagging-Date", today),
        (
            "Bag-Software-Agent",
            format!("switchboard {}", env!("CARGO_PKG_VERSION")),
        ),
        ("Case-Category", case.category.clone()),
        ("Case-Department", case.department.clone()),
        ("Case-Status", case.status.clone()),
        ("Case-Opened", rfc3339(case.opened_at)),
        ("Case-Closed", closed),
        ("Messages-Received", ids.len().to_string()),
        ("Mail-Sent", sent.len().to_string()),
    ];
    drop(own);
    bag.finish(&info)
}

/// Streams `len` bytes of a blob from `start` to `f`, a chunk at a time.
pub(super) fn copy_blob(
    blob: &rusqlite::blob::Blob<'_>,
    start: usize,
    end: usize,
    f: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut at = start;
    while at < end {
        let n = CHUNK.min(end - at);
        let chunk = buf.get_mut(..n).context("chunk")?;
        blob.read_at_exact(chunk, at)?;
        f(chunk)?;
        at += n;
    }
    Ok(())
}

/// Writes one outgoing mail exactly as the sender sent it: the stored bytes, with a
/// case record's original put back in its place with CRLF line ends (see
/// `compose::pieces`, which the sender uses; `compose::crlf_after` is its chunked
/// form). Returns the number of bytes written.
pub(super) fn write_sent(
    conn: &Connection,
    id: i64,
    original_key: Option<&str>,
    original_at: Option<i64>,
    w: &mut dyn Write,
) -> Result<u64> {
    let content = conn.blob_open(rusqlite::MAIN_DB, "outbox", "content", id, true)?;
    let len = content.len();
    let mut written = 0u64;
    let mut out = |c: &[u8]| -> Result<()> {
        w.write_all(c)?;
        written += c.len() as u64;
        Ok(())
    };
    let splices = crate::store::outbox::read_splices(
        conn.query_row("SELECT splices FROM outbox WHERE id = ?1", [id], |r| {
            r.get::<_, Option<String>>(0)
        })?
        .as_deref(),
    );
    if original_at.is_none() && splices.is_empty() {
        copy_blob(&content, 0, len, &mut out)?;
        return Ok(written);
    }
    let at = original_at
        .map(|at| {
            usize::try_from(at)
                .ok()
                .filter(|a| *a <= len)
                .context("the stored place of the original lies outside the mail")
        })
        .transpose()?;
    let key = original_key.unwrap_or_default();
    let Some(original) = crate::store::messages::id_by_key(conn, key)? else {
        bail!("the original message this mail carries is no longer in the store");
    };
    let original = conn.blob_open(rusqlite::MAIN_DB, "messages", "raw", original, true)?;
    // The pieces in the order `compose::pieces` sends them: each splice's range of
    // the original, then the whole original, each after the content before it.
    let mut inserts: Vec<(usize, std::ops::Range<usize>)> =
        splices.iter().map(|s| (s.at, s.range.clone())).collect();
    if let Some(at) = at {
        inserts.push((at, 0..original.len()));
    }
    let mut from = 0;
    for (at, range) in inserts {
        anyhow::ensure!(
            from <= at && at <= len && range.start <= range.end && range.end <= original.len(),
            "the stored place of a part lies outside the mail"
        );
        copy_blob(&content, from, at, &mut out)?;
        let mut before = match range.start.checked_sub(1) {
            Some(i) => {
                let mut b = [0u8; 1];
                original.read_at_exact(&mut b, i)?;
                let [b] = b;
                b
            }
            None => 0,
        };
        copy_blob(&original, range.start, range.end, &mut |c| {
            let fixed = crate::compose::crlf_after(before, c);
            before = c.last().copied().unwrap_or(before);
            out(&fixed)
        })?;
        from = at;
    }
    copy_blob(&content, from, len, &mut out)?;
    Ok(written)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::{MessageRecord, NewOutgoing, messages, outbox};

    #[test]
    fn a_sent_case_record_is_written_exactly_as_the_sender_sends_it() {
        let conn = crate::store::memory().unwrap();
        // Bare LF across chunk boundaries, a CRLF split between two chunks, and
        // more than one chunk in all.
        let mut original = Vec::new();
        while original.len() < 3 * CHUNK {
            original.extend_from_slice(b"line with a bare end\n");
            original.extend_from_slice(b"and a proper one\r\n");
        }
        original.truncate(CHUNK - 1);
        original.extend_from_slice(b"\r\n\nafter\n");
        messages::insert(&conn, &MessageRecord::with_raw("k1", &original)).unwrap();
        let head = b"Subject: record\r\n\r\n--b\r\n\r\n".to_vec();
        let mut content = head.clone();
        content.extend_from_slice(b"\r\n--b--\r\n");
        outbox::insert(
            &conn,
            &NewOutgoing {
                case_id: None,
                kind: "route",
                message_id: "m1@x",
                envelope_from: "a@b",
                recipients: &["c@d".to_string()],
                content: &content,
                original: Some(("k1", head.len())),
                splices: None,
                at: 0,
            },
        )
        .unwrap();
        let row = outbox::due(&conn, 0, 10).unwrap().remove(0);
        let pieces = row.pieces(Some(&original)).unwrap();
        let expected: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
        let mut got = Vec::new();
        let n = write_sent(&conn, row.id, Some("k1"), Some(head.len() as i64), &mut got).unwrap();
        assert!(
            got == expected,
            "the archived mail differs from the sent one"
        );
        assert_eq!(n, expected.len() as u64);

        let mut none = Vec::new();
        assert!(write_sent(&conn, row.id, Some("gone"), Some(3), &mut none).is_err());
    }

    /// A relay's attachments, spliced from the ledger with bare line ends and a
    /// follow-up's original after them: archived exactly as sent.
    #[test]
    fn a_sent_mail_with_parts_is_written_exactly_as_the_sender_sends_it() {
        use crate::compose::Splice;
        let conn = crate::store::memory().unwrap();
        let mut original = b"From: a@b\nSubject: x\n\n--b\n\n".to_vec();
        let part_start = original.len();
        while original.len() < 2 * CHUNK + 77 {
            original.extend_from_slice(b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n");
        }
        let part_end = original.len();
        original.extend_from_slice(b"--b--\n");
        messages::insert(&conn, &MessageRecord::with_raw("k2", &original)).unwrap();
        let content = b"Subject: relay\r\n\r\n--m\r\n\r\n\r\n--m\r\n\r\n\r\n--m--\r\n".to_vec();
        let splices = [
            Splice {
                at: 25,
                range: part_start..part_end,
            },
            Splice {
                at: 25,
                range: part_start + 3..part_start + 40,
            },
        ];
        outbox::insert(
            &conn,
            &NewOutgoing {
                case_id: None,
                kind: "follow_up",
                message_id: "m2@x",
                envelope_from: "a@b",
                recipients: &["c@d".to_string()],
                content: &content,
                original: Some(("k2", 36)),
                splices: Some(("k2", &splices)),
                at: 0,
            },
        )
        .unwrap();
        let row = outbox::due(&conn, 0, 10).unwrap().remove(0);
        assert_eq!(row.splices, splices);
        let expected: Vec<u8> = row.pieces(Some(&original)).unwrap().concat();
        assert!(!expected.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
        let mut got = Vec::new();
        write_sent(&conn, row.id, Some("k2"), Some(36), &mut got).unwrap();
        assert!(
            got == expected,
            "the archived mail differs from the sent one"
        );
    }
}
