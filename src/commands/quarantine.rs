//! `switchboard quarantine list | release ID`: what could not be taken in, and taking
//! it in again after a fix.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::intake::Released;
use crate::store::messages;

pub fn list(config: &Path, json: bool) -> Result<ExitCode> {
    let (config, db) = super::open_store(config)?;
    let rows: Vec<_> = db
        .blocking(|c| messages::list(c, None))?
        .into_iter()
        .filter(|r| r.outcome == crate::store::Outcome::Quarantined.as_str())
        .collect();
    super::messages::print(&config, &rows, json, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

/// Takes ledger row `id` in again. Exit status 1 when it is still quarantined.
pub fn release(config_path: &Path, id: i64, json: bool, now: Option<&str>) -> Result<ExitCode> {
    let now = super::clock(now)?.now();
    let (_, db) = super::open_store(config_path)?;
    let intake = super::load(config_path)?;
    let released = db.blocking(|c| intake.release(c, id, now))?;
    let mut out = std::io::stdout().lock();
    match released {
        Released::TakenIn(report) => {
            if json {
                writeln!(out, "{}", serde_json::to_string(&report)?)?;
            } else {
                writeln!(out, "Message {id}: {}", super::describe(&report))?;
            }
            Ok(
                if report.outcome == crate::store::Outcome::Quarantined.as_str() {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                },
            )
        }
        Released::Forgotten { size } => {
            let folders = &intake.config.mailbox;
            writeln!(
                out,
                "Message {id}: only its header was kept ({size} bytes, over the limit then). It is out of the ledger now: move it from {} back to {} on the server and it will be taken in whole.",
                folders
                    .quarantine_folder
                    .as_deref()
                    .unwrap_or("the quarantine folder"),
                folders.folder
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
