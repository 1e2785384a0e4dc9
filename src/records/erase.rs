//! `switchboard privacy erase --address X`: a person's data made unreadable (PIPL
//! Art. 47, GDPR Art. 17), while the cases' statistics and timelines survive.
//!
//! - Their raw messages (and every message of the cases they opened) lose their
//!   bytes; the ledger rows stay, so counts and timelines do not change.
//! - Mail sent to them, and every mail of the cases they opened (a case record carries
//!   their original), loses its bytes.
//! - Their address, wherever it is written in a text column of any table (cases,
//!   events, the ledger's keys, outbox recipients, alerts, suppressions…; found from
//!   the schema, so later tables too), becomes a stable pseudonym
//!   `erased-<hash>@erased.invalid` (RFC 2606 `.invalid`: never deliverable), and
//!   the name of the cases they opened is removed.
//! - A case under legal hold, or inside its retention period, is *restricted*
//!   instead: kept as it is, marked with the reason, and the command says so.
//!
//! Deleted bytes must not stay readable: the work runs with `secure_delete` (freed
//! content is overwritten with zeros), the log is checkpointed and truncated after it
//! (the WAL holds old page images until then), and the run is an audit row naming the
//! person only by a hash of their address.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{Result, bail};
use rusqlite::Connection;

use super::privacy::{address_hash, find};
use crate::config::Config;

/// A case that could not be erased, and why.
#[derive(Debug, Clone)]
pub struct Restricted {
    pub id: i64,
    pub number: String,
    pub why: String,
}

#[derive(Debug, Default)]
pub struct Erasure {
    pub hash: String,
    pub pseudonym: String,
    pub messages: Vec<i64>,
    pub outbox: Vec<i64>,
    pub cases: Vec<String>,
    pub restricted: Vec<Restricted>,
    /// (table, column, rows) where the address was replaced.
    pub replaced: Vec<(String, String, usize)>,
}

pub fn pseudonym(address: &str) -> String {
    let hash = address_hash(address);
    let short = hash
        .trim_start_matches("sha256:")
        .get(..16)
        .unwrap_or("x")
        .to_string();
    format!("erased-{short}@erased.invalid")
}

/// Why case `id` must be kept: a legal hold, or a retention period not yet over.
fn keep_reason(conn: &Connection, config: &Config, id: i64, now: i64) -> Result<Option<String>> {
    let (held, status): (Option<i64>, String) = conn.query_row(
        "SELECT held_at, status FROM cases WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if held.is_some() {
        return Ok(Some("under legal hold".into()));
    }
    let Some(period) = config.retention.closed_cases else {
        return Ok(None);
    };
    if status != "closed" {
        return Ok(Some(format!(
            "still open ({status}); kept {period} after closing (retention.closed_cases)"
        )));
    }
    let closed: i64 = conn.query_row(
        "SELECT coalesce(max(at), (SELECT updated_at FROM cases WHERE id = ?1))
         FROM events WHERE case_id = ?1 AND kind = 'closed'",
        [id],
        |r| r.get(0),
    )?;
    Ok((closed >= period.before(now)).then(|| {
        format!("inside its retention period: kept {period} after closing (retention.closed_cases)")
    }))
}

/// What an erasure of `address` would do; changes nothing.
pub fn plan(conn: &Connection, config: &Config, address: &str, now: i64) -> Result<Erasure> {
    let address = address.trim().to_lowercase();
    if !address.contains('@') {
        bail!("--address: expected an email address such as name@example.com, found \"{address}\"");
    }
    let traces = find(conn, &address)?;
    let mut e = Erasure {
        hash: address_hash(&address),
        pseudonym: pseudonym(&address),
        ..Erasure::default()
    };
    let mut kept: BTreeSet<i64> = BTreeSet::new();
    for id in &traces.cases {
        let number: String =
            conn.query_row("SELECT number FROM cases WHERE id = ?1", [id], |r| r.get(0))?;
        match keep_reason(conn, config, *id, now)? {
            Some(why) => {
                kept.insert(*id);
                e.restricted.push(Restricted {
                    id: *id,
                    number,
                    why,
                });
            }
            None => e.cases.push(number),
        }
    }
    let case_of = |number: &Option<String>| -> Result<Option<i64>> {
        Ok(match number {
            Some(n) => crate::store::cases::id_by_number(conn, n)?,
            None => None,
        })
    };
    for (id, number, _) in &traces.messages {
        if !case_of(number)?.is_some_and(|c| kept.contains(&c)) {
            e.messages.push(*id);
        }
    }
    let erasable: Vec<i64> = traces
        .opened
        .iter()
        .filter(|c| !kept.contains(c))
        .copied()
        .collect();
    let mut outbox: BTreeSet<i64> = BTreeSet::new();
    for row in &traces.sent {
        if !case_of(&row.case)?.is_some_and(|c| kept.contains(&c)) {
            outbox.insert(row.id);
        }
    }
    for case in &erasable {
        let ids: Vec<i64> = conn
            .prepare("SELECT id FROM outbox WHERE case_id = ?1")?
            .query_map([case], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        outbox.extend(ids);
    }
    e.outbox = outbox.into_iter().collect();
    Ok(e)
}

/// Text columns of every table: where an address may be written.
fn text_columns(conn: &Connection) -> Result<Vec<(String, String)>> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'audit'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for t in tables {
        let cols: Vec<(String, String)> = conn
            .prepare("SELECT name, upper(type) FROM pragma_table_info(?1)")?
            .query_map([&t], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (c, ty) in cols {
            if ty == "TEXT" {
                out.push((t.clone(), c));
            }
        }
    }
    Ok(out)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Replaces `needle` (lower-case) in `text`, whatever its case, by `with`.
fn replace_ignoring_case(text: &str, needle: &str, with: &str) -> String {
    let lower = text.to_lowercase();
    // Lower-casing may change byte lengths outside ASCII; an address is ASCII here,
    // and a text whose lower-case form differs in length is replaced as lower-case.
    if lower.len() != text.len() {
        return lower.replace(needle, with);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = lower.get(at..).and_then(|rest| rest.find(needle)) {
        out.push_str(text.get(at..at + found).unwrap_or_default());
        out.push_str(with);
        at += found + needle.len();
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Carries the plan out in one transaction of the caller's.
pub fn execute(
    conn: &Connection,
    address: &str,
    e: &mut Erasure,
    restricted_at: i64,
) -> Result<()> {
    let address = address.trim().to_lowercase();
    conn.pragma_update(None, "secure_delete", "ON")?;
    for id in &e.messages {
        conn.execute(
            "UPDATE messages SET raw = X'', reason = 'erased on request (privacy erase)' WHERE id = ?1",
            [id],
        )?;
        // A resend's other bytes, kept beside the ledger row (store/duplicates.rs).
        conn.execute(
            "UPDATE duplicates SET raw = NULL WHERE of_message = ?1",
            [id],
        )?;
    }
    for id in &e.outbox {
        conn.execute("UPDATE outbox SET content = X'', original_key = NULL, original_at = NULL WHERE id = ?1", [id])?;
    }
    for number in &e.cases {
        conn.execute(
            "UPDATE cases SET sender_name = NULL WHERE number = ?1 AND sender = ?2",
            [number, &address],
        )?;
    }
    for r in &e.restricted {
        conn.execute(
            "UPDATE cases SET restricted_at = ?2, restricted_why = ?3 WHERE id = ?1",
            rusqlite::params![r.id, restricted_at, r.why],
        )?;
        // Storage only from now on: no reminder, escalation or survey goes out on it.
        conn.execute(
            "UPDATE timers SET cancelled_at = ?2
             WHERE case_id = ?1 AND fired_at IS NULL AND cancelled_at IS NULL",
            rusqlite::params![r.id, restricted_at],
        )?;
        crate::store::cases::add_event(
            conn,
            r.id,
            restricted_at,
            "restricted",
            &format!("{}: kept for storage only (privacy erase)", r.why),
        )?;
    }
    // The rows of restricted cases keep the address (they are kept as they are).
    let kept: Vec<i64> = e.restricted.iter().map(|r| r.id).collect();
    let like = crate::store::like_containing(&address);
    for (table, column) in text_columns(conn)? {
        let case_col = match table.as_str() {
            "cases" => Some("id"),
            _ => {
                let has: bool = conn.query_row(
                    "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = 'case_id'",
                    [&table],
                    |r| r.get(0),
                )?;
                has.then_some("case_id")
            }
        };
        let rows: Vec<(i64, String, Option<i64>)> = conn
            .prepare(&format!(
                "SELECT rowid, {c}, {k} FROM {t} WHERE lower({c}) LIKE ?1 ESCAPE '\\'",
                c = quoted(&column),
                t = quoted(&table),
                k = case_col.map_or("NULL".to_string(), quoted),
            ))?
            .query_map([&like], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut n = 0;
        for (rowid, text, case) in rows {
            if case.is_some_and(|c| kept.contains(&c)) {
                continue;
            }
            let new = replace_ignoring_case(&text, &address, &e.pseudonym);
            conn.execute(
                &format!(
                    "UPDATE {} SET {} = ?2 WHERE rowid = ?1",
                    quoted(&table),
                    quoted(&column)
                ),
                rusqlite::params![rowid, new],
            )?;
            n += 1;
        }
        if n > 0 {
            e.replaced.push((table, column, n));
        }
    }
    Ok(())
}

pub fn describe(e: &Erasure, dry_run: bool, out: &mut impl Write) -> Result<()> {
    let verb = if dry_run { "would be" } else { "were" };
    writeln!(out, "Person {} (pseudonym {}):", e.hash, e.pseudonym)?;
    writeln!(
        out,
        "  {} message(s) {verb} emptied of their bytes",
        e.messages.len()
    )?;
    writeln!(
        out,
        "  {} outgoing mail(s) {verb} emptied of their bytes",
        e.outbox.len()
    )?;
    for c in &e.cases {
        writeln!(
            out,
            "  case {c}: their address and name {verb} replaced by the pseudonym"
        )?;
    }
    for r in &e.restricted {
        writeln!(
            out,
            "  case {}: RESTRICTED, not erased: {} (kept for storage only, PIPL Art. 47)",
            r.number, r.why
        )?;
    }
    for (t, c, n) in &e.replaced {
        writeln!(out, "  {t}.{c}: the address replaced in {n} row(s)")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_replaced_whatever_its_case() {
        assert_eq!(
            replace_ignoring_case("to LiMing@X.cn, liming@x.cn.", "liming@x.cn", "P"),
            "to P, P."
        );
        assert_eq!(replace_ignoring_case("nothing", "a@b", "P"), "nothing");
        assert!(pseudonym(" A@B.cn ").ends_with("@erased.invalid"));
        assert_eq!(pseudonym("A@B.cn"), pseudonym("a@b.cn"));
    }
}
