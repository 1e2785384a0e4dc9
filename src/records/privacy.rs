//! `switchboard privacy export --address X`: everything the store holds about one
//! person, as one BagIt bag — every message from or to them (From, To, Cc, Reply-To,
//! or in a case they opened), the cases they are in, and the mail sent to them
//! (PIPL Art. 45, the right to a copy; GDPR Art. 15, the right of access).
//!
//! The address itself is never written to the audit trail or a file name: both name
//! the person by a hash of their address, so that the record of a request does not
//! outlive an erasure that follows it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rusqlite::Connection;
use serde::Serialize;

use super::archive::{copy_blob, write_sent};
use super::bagit::BagWriter;
use crate::commands::timeline;
use crate::config::Config;
use crate::message::Message;

/// How much of a message is read to find its header: the header block of any mail
/// intake accepts is smaller (`message::limits`), and a header cut here still parses.
const HEADER_BYTES: usize = 256 * 1024;

/// `sha256:` and the hex SHA-256 of the address, trimmed and lower-cased.
pub fn address_hash(address: &str) -> String {
    format!(
        "sha256:{}",
        crate::digest::sha256_hex(address.trim().to_lowercase())
    )
}

/// Where the address appears in a message's header.
fn roles(msg: &Message, address: &str) -> Vec<&'static str> {
    let mut roles = Vec::new();
    if msg.from.email == address {
        roles.push("from");
    }
    if msg.to.iter().any(|a| a.email == address) {
        roles.push("to");
    }
    if msg.cc.iter().any(|a| a.email == address) {
        roles.push("cc");
    }
    if msg.reply_to.as_ref().is_some_and(|a| a.email == address) {
        roles.push("reply-to");
    }
    roles
}

/// The header block of a ledger message, read from its blob (bounded: a 25 MB
/// message costs 256 KiB here).
fn header_of(conn: &Connection, id: i64) -> Result<Vec<u8>> {
    let blob = conn.blob_open(rusqlite::MAIN_DB, "messages", "raw", id, true)?;
    let len = blob.len().min(HEADER_BYTES);
    let mut head = vec![0u8; len];
    blob.read_at_exact(&mut head, 0)?;
    let end = memchr::memmem::find(&head, b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| memchr::memmem::find(&head, b"\n\n").map(|i| i + 2))
        .unwrap_or(len);
    head.truncate(end);
    head.extend_from_slice(b"\r\n");
    Ok(head)
}

/// A sent mail to the person: its outbox row, case, and where its original is.
pub(super) struct SentRow {
    pub id: i64,
    pub case: Option<String>,
    pub original_key: Option<String>,
    pub original_at: Option<i64>,
}

#[derive(Serialize)]
struct Found {
    file: String,
    id: i64,
    case: Option<String>,
    roles: Vec<&'static str>,
}

#[derive(Serialize)]
struct Person<'a> {
    address: &'a str,
    hash: String,
    cases: Vec<String>,
    messages: Vec<Found>,
    sent: Vec<Found>,
}

/// Where one person appears in the store.
pub(super) struct Traces {
    /// Ledger rows: (id, case number, roles in its header).
    pub messages: Vec<(i64, Option<String>, Vec<&'static str>)>,
    /// Cases they opened or appear in.
    pub cases: BTreeSet<i64>,
    /// Cases they opened (`cases.sender`).
    pub opened: BTreeSet<i64>,
    pub sent: Vec<SentRow>,
}

/// Every trace of `address` (lower-case) in the store.
pub(super) fn find(conn: &Connection, address: &str) -> Result<Traces> {
    let address = address.to_string();
    let opened: BTreeSet<i64> = conn
        .prepare("SELECT id FROM cases WHERE sender = ?1")?
        .query_map([&address], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let all: Vec<(i64, Option<i64>, Option<String>)> = conn
        .prepare(
            "SELECT m.id, m.case_id, c.number FROM messages m LEFT JOIN cases c ON c.id = m.case_id ORDER BY m.id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut messages = Vec::new();
    let mut cases: BTreeSet<i64> = opened.clone();
    for (id, case_id, number) in all {
        let found = Message::parse(&header_of(conn, id)?)
            .map(|m| roles(&m, &address))
            .unwrap_or_default();
        let in_their_case = case_id.is_some_and(|c| opened.contains(&c));
        if found.is_empty() && !in_their_case {
            continue;
        }
        if let Some(c) = case_id {
            cases.insert(c);
        }
        messages.push((id, number, found));
    }
    let sent: Vec<SentRow> = conn
        .prepare(
            "SELECT o.id, c.number, o.original_key, o.original_at, o.recipients
             FROM outbox o LEFT JOIN cases c ON c.id = o.case_id
             WHERE o.sent_at IS NOT NULL ORDER BY o.id",
        )?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, String>(4)?,
            ))
        })?
        .filter_map(|row| match row {
            Ok((id, number, key, at, recipients)) => recipients
                .split(',')
                .any(|r| r.trim().eq_ignore_ascii_case(&address))
                .then_some(Ok(SentRow {
                    id,
                    case: number,
                    original_key: key,
                    original_at: at,
                })),
            Err(e) => Some(Err(e)),
        })
        .collect::<rusqlite::Result<_>>()?;

    Ok(Traces {
        messages,
        cases,
        opened,
        sent,
    })
}

#[derive(Debug)]
pub struct Exported {
    pub bag: PathBuf,
    pub hash: String,
    pub cases: usize,
    pub messages: usize,
    pub sent: usize,
}

pub fn export(
    config: &Config,
    conn: &Connection,
    address: &str,
    out: &Path,
    now: i64,
) -> Result<Exported> {
    let address = address.trim().to_lowercase();
    if !address.contains('@') {
        bail!("--address: expected an email address such as name@example.com, found \"{address}\"");
    }
    let hash = address_hash(&address);
    let tx = conn.unchecked_transaction()?;
    let Traces {
        messages,
        cases,
        sent,
        ..
    } = find(&tx, &address)?;
    std::fs::create_dir_all(out).with_context(|| format!("Cannot create {}", out.display()))?;
    let name = format!(
        "person-{}",
        hash.trim_start_matches("sha256:").get(..16).unwrap_or("x")
    );
    let mut bag = BagWriter::create(&out.join(name))?;
    let mut person = Person {
        address: &address,
        hash: hash.clone(),
        cases: Vec::new(),
        messages: Vec::new(),
        sent: Vec::new(),
    };
    for (n, (id, number, roles)) in messages.iter().enumerate() {
        let file = format!("messages/{:03}.eml", n + 1);
        let blob = tx.blob_open(rusqlite::MAIN_DB, "messages", "raw", *id, true)?;
        let len = blob.len();
        bag.add_with(&file, |w| {
            copy_blob(&blob, 0, len, &mut |c| Ok(w.write_all(c)?))
        })?;
        person.messages.push(Found {
            file: format!("data/{file}"),
            id: *id,
            case: number.clone(),
            roles: roles.clone(),
        });
    }
    for (n, row) in sent.iter().enumerate() {
        let file = format!("sent/{:03}.eml", n + 1);
        bag.add_with(&file, |w| {
            write_sent(&tx, row.id, row.original_key.as_deref(), row.original_at, w).map(|_| ())
        })?;
        person.sent.push(Found {
            file: format!("data/{file}"),
            id: row.id,
            case: row.case.clone(),
            roles: vec!["to"],
        });
    }
    for id in &cases {
        let number: String =
            tx.query_row("SELECT number FROM cases WHERE id = ?1", [id], |r| r.get(0))?;
        let t = timeline::read(&tx, &number, now)?;
        bag.add_bytes(
            &format!("cases/{number}.json"),
            &serde_json::to_vec_pretty(&t)?,
        )?;
        let mut text = Vec::new();
        timeline::print(config, &t, &mut text)?;
        bag.add_bytes(&format!("cases/{number}.txt"), &text)?;
        person.cases.push(number);
    }
    bag.add_bytes("person.json", &serde_json::to_vec_pretty(&person)?)?;
    let today = chrono::DateTime::<chrono::Utc>::from_timestamp(now, 0)
        .map(|t| {
            t.with_timezone(&config.calendar.tz())
                .format("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_default();
    let exported = Exported {
        hash: hash.clone(),
        cases: person.cases.len(),
        messages: person.messages.len(),
        sent: person.sent.len(),
        bag: PathBuf::new(),
    };
    drop(tx);
    let bag = bag.finish(&[
        ("Source-Organization", config.smtp.from.to_string()),
        ("External-Identifier", hash),
        (
            "External-Description",
            "Personal data held by Switchboard about one person (PIPL Art. 45, GDPR Art. 15)"
                .into(),
        ),
        ("Bagging-Date", today),
        (
            "Bag-Software-Agent",
            format!("switchboard {}", env!("CARGO_PKG_VERSION")),
        ),
    ])?;
    Ok(Exported { bag, ..exported })
}
