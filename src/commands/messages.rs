//! `switchboard messages`: every message ever taken in and what became of it — the
//! accounting that "nothing lost" is checked with.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use chrono::DateTime;

use crate::store::duplicates;
use crate::store::messages::{self, MessageRow};

pub fn messages(config: &Path, json: bool) -> Result<ExitCode> {
    let (config, db) = super::open_store(config)?;
    let rows = db.blocking(|c| {
        let mut rows = messages::list(c, None)?;
        rows.extend(duplicates::list(c)?);
        // In the order they came; a copy after the row it duplicates.
        rows.sort_by_key(|r| (r.received_at, r.duplicate_of.is_some(), r.id));
        Ok(rows)
    })?;
    print(&config, &rows, json, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

/// `switchboard messages open ID`: a set-aside message taken in as a case after all.
pub fn open(config_path: &Path, id: i64, json: bool, now: Option<&str>) -> Result<ExitCode> {
    let now = super::clock(now)?.now();
    let (_, db) = super::open_store(config_path)?;
    let intake = super::load(config_path)?;
    let by = std::env::var("USER")
        .map(|u| format!("{u} (switchboard messages open)"))
        .unwrap_or_else(|_| "switchboard messages open".to_string());
    let report = db.blocking(|c| intake.open_set_aside(c, id, now, &by))?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        writeln!(out, "Message {id}: {}", super::describe(&report))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One JSON object per line, or a table with each reason under its message.
pub fn print(
    config: &crate::config::Config,
    rows: &[MessageRow],
    json: bool,
    out: &mut impl Write,
) -> Result<()> {
    if json {
        for row in rows {
            writeln!(out, "{}", serde_json::to_string(row)?)?;
        }
        return Ok(());
    }
    let tz = config.calendar.tz();
    writeln!(
        out,
        "{:<6} {:<12} {:<8} {:<16} {:<16} {:<32} SUBJECT",
        "ID", "OUTCOME", "UID", "RECEIVED", "CASE", "SENDER"
    )?;
    for r in rows {
        let received = DateTime::from_timestamp(r.received_at, 0)
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        // A copy's number is its own (d12), apart from the ledger's.
        let id = match r.duplicate_of {
            Some(_) => format!("d{}", r.id),
            None => r.id.to_string(),
        };
        writeln!(
            out,
            "{:<6} {:<12} {:<8} {:<16} {:<16} {:<32} {}",
            id,
            r.outcome,
            r.uid.map(|u| u.to_string()).unwrap_or_else(|| "-".into()),
            received,
            r.case.as_deref().unwrap_or("-"),
            r.sender.as_deref().unwrap_or("?"),
            r.subject.as_deref().unwrap_or(""),
        )?;
        if let Some(reason) = &r.reason {
            writeln!(out, "       reason: {reason}")?;
        }
    }
    let count = |o: &str| rows.iter().filter(|r| r.outcome == o).count();
    writeln!(
        out,
        "{} message(s): {} case, {} follow-up, {} ignored, {} quarantined, {} set aside, {} duplicate",
        rows.len(),
        count("case"),
        count("follow_up"),
        count("ignored"),
        count("quarantined"),
        count("set_aside"),
        count("duplicate")
    )?;
    Ok(())
}
