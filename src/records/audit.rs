//! The audit trail: one row for every retention run, every case or message purged,
//! every legal hold set or lifted — what, when, by whom. Rows name cases by number
//! and never hold an address (PIPL Art. 47 and GDPR Art. 17 ask that erased data be
//! gone; the record that it was erased must not bring it back).

use std::io::Write;

use anyhow::Result;
use rusqlite::{Connection, params};
use serde::Serialize;

pub fn record(
    conn: &Connection,
    at: i64,
    action: &str,
    actor: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (at, action, actor, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![at, action, actor, subject, detail.to_string()])?;
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub action: String,
    pub actor: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

pub fn list(conn: &Connection) -> Result<Vec<AuditRow>> {
    let mut stmt =
        conn.prepare("SELECT id, at, action, actor, subject, detail FROM audit ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        let detail: String = r.get(5)?;
        Ok(AuditRow {
            id: r.get(0)?,
            at: r.get(1)?,
            action: r.get(2)?,
            actor: r.get(3)?,
            subject: r.get(4)?,
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `switchboard audit`: a table, or one JSON object per row.
pub fn print(
    config: &crate::config::Config,
    rows: &[AuditRow],
    json: bool,
    out: &mut impl Write,
) -> Result<()> {
    if json {
        for r in rows {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<6} {:<16} {:<26} {:<16} {:<22} DETAIL",
        "ID", "AT", "ACTION", "BY", "SUBJECT"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<6} {:<16} {:<26} {:<16} {:<22} {}",
            r.id,
            crate::outgoing::local_time(config, r.at),
            r.action,
            r.actor,
            r.subject,
            r.detail
        )?;
    }
    writeln!(out, "{} audit row(s)", rows.len())?;
    Ok(())
}
