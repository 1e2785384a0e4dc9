//! The bodies of `switchboard archive export|verify` and `switchboard backup`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::{archive, backup, bagit};
use crate::clock::Clock;
use crate::config::Config;

/// Which cases `archive export` writes.
pub enum Selection {
    Case(String),
    /// Closed before this day (YYYY-MM-DD, company time zone) began.
    ClosedBefore(String),
}

pub fn archive_export(
    config: &Path,
    selection: &Selection,
    out: &Path,
    tar: bool,
    clock: &Clock,
) -> Result<ExitCode> {
    let (config, _) = Config::load(config)?;
    let conn = super::open_read_only(&config.store_path)?;
    let now = clock.unix();
    let numbers: Vec<String> = match selection {
        Selection::Case(n) => vec![n.trim().trim_matches(['[', ']']).to_string()],
        Selection::ClosedBefore(day) => {
            let before = day_start(&config, day, "closed-before")?;
            archive::closed_cases(&conn)?
                .into_iter()
                .filter(|c| c.closed_at < before)
                .map(|c| c.number)
                .collect()
        }
    };
    let mut stdout = std::io::stdout().lock();
    let (mut failed, mut exported) = (false, 0);
    for number in &numbers {
        match export_one(&config, &conn, number, out, tar, now) {
            Ok(path) => {
                exported += 1;
                writeln!(stdout, "{number}: {}", path.display())?
            }
            Err(e) => {
                failed = true;
                writeln!(stdout, "{number}: not exported: {e:#}")?;
            }
        }
    }
    writeln!(stdout, "{exported} case(s) exported to {}", out.display())?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes the bag, checks it as `archive verify` would, and with `tar` packs it.
fn export_one(
    config: &Config,
    conn: &rusqlite::Connection,
    number: &str,
    out: &Path,
    tar: bool,
    now: i64,
) -> Result<PathBuf> {
    let bag = archive::export_case(config, conn, number, out, now)?;
    let verdict = bagit::verify(&bag)?;
    if !verdict.problems.is_empty() {
        bail!(
            "the bag {} does not verify: {}",
            bag.display(),
            verdict.problems.join("; ")
        );
    }
    if !tar {
        return Ok(bag);
    }
    let file = super::tar::pack(&bag)?;
    std::fs::remove_dir_all(&bag)
        .with_context(|| format!("Cannot remove {} after packing it", bag.display()))?;
    Ok(file)
}

/// Midnight starting `day` in the company's time zone, as Unix seconds.
pub fn day_start(config: &Config, day: &str, key: &str) -> Result<i64> {
    let date = chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .with_context(|| format!("--{key}: expected a date such as 2026-11-01, found \"{day}\""))?;
    let midnight = date.and_hms_opt(0, 0, 0).context("midnight")?;
    Ok(
        chrono::TimeZone::from_local_datetime(&config.calendar.tz(), &midnight)
            .earliest()
            .context("no such local time")?
            .timestamp(),
    )
}

/// `archive verify DIR`: DIR is a bag, or a folder of bags (as `export` writes them).
/// Exit status 1 if any bag is incomplete or changed.
pub fn archive_verify(dir: &Path) -> Result<ExitCode> {
    let bags: Vec<PathBuf> = if dir.join("bagit.txt").exists() {
        vec![dir.to_path_buf()]
    } else {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("Cannot read {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            // A `.partial` folder is a bag an export never finished (see bagit.rs):
            // not an archive, and the next export replaces it.
            .filter(|p| {
                p.join("bagit.txt").exists() && p.extension().is_none_or(|e| e != "partial")
            })
            .collect();
        found.sort();
        found
    };
    if bags.is_empty() {
        bail!(
            "{} holds no bag (no bagit.txt in it or its folders)",
            dir.display()
        );
    }
    let mut stdout = std::io::stdout().lock();
    let mut bad = 0;
    for bag in &bags {
        let v = bagit::verify(bag)?;
        if v.problems.is_empty() {
            writeln!(stdout, "{}: valid, {} file(s)", bag.display(), v.files)?;
        } else {
            bad += 1;
            writeln!(stdout, "{}: INVALID", bag.display())?;
            for p in &v.problems {
                writeln!(stdout, "  {p}")?;
            }
        }
    }
    writeln!(stdout, "{} bag(s) checked, {bad} invalid", bags.len())?;
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn backup(config: &Path, to: &Path) -> Result<ExitCode> {
    let (config, _) = Config::load(config)?;
    let copy = backup::backup(&config.store_path, to)?;
    println!(
        "Backup {}: {} bytes, schema {}, integrity ok, {} case(s), {} message(s).",
        copy.path.display(),
        copy.bytes,
        copy.schema,
        copy.cases,
        copy.messages
    );
    Ok(ExitCode::SUCCESS)
}

/// `switchboard retention [--dry-run]`: what `[retention]` says has been kept long
/// enough, listed, and (without `--dry-run`) archived and purged now.
pub fn retention(config: &Path, dry_run: bool, clock: &Clock) -> Result<ExitCode> {
    let (config, _) = Config::load(config)?;
    let now = clock.unix();
    let mut stdout = std::io::stdout().lock();
    if dry_run {
        // Read-only: a dry run cannot change the store, whatever goes wrong.
        let conn = super::open_read_only(&config.store_path)?;
        let plan = super::retention::plan(&conn, &config, now)?;
        super::retention::describe(&config, &plan, &mut stdout)?;
        writeln!(stdout, "Dry run: nothing was changed.")?;
        return Ok(ExitCode::SUCCESS);
    }
    if !config.store_path.exists() {
        bail!(
            "No store at {} yet: run the daemon first",
            config.store_path.display()
        );
    }
    let db = crate::store::Db::open(&config.store_path)?;
    let actor = format!("administrator ({})", super::hold::whoami());
    let done = db.blocking(|c| {
        let plan = super::retention::plan(c, &config, now)?;
        super::retention::describe(&config, &plan, &mut stdout)?;
        let done = super::retention::execute(&config, c, &plan, now, &actor, usize::MAX, |case| {
            let _ = writeln!(stdout, "{case}: purged");
            let _ = stdout.flush();
        })?;
        // The deleted pages leave the log too (they were zeroed: secure_delete).
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(done)
    })?;
    for (case, why) in &done.failed {
        writeln!(stdout, "{case}: kept: {why}")?;
    }
    writeln!(
        stdout,
        "Retention: {} case(s) purged, {} message(s) purged, {} case(s) kept after a failed archive.",
        done.cases,
        done.messages,
        done.failed.len()
    )?;
    Ok(if done.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `switchboard cases hold SB-… [--off]`.
pub fn hold(config: &Path, case: &str, off: bool, clock: &Clock) -> Result<ExitCode> {
    let (config, _) = Config::load(config)?;
    if !config.store_path.exists() {
        bail!(
            "No store at {} yet: run the daemon first",
            config.store_path.display()
        );
    }
    let db = crate::store::Db::open(&config.store_path)?;
    let now = clock.unix();
    let said = db.blocking(|c| super::hold::command(c, case, !off, now))?;
    println!("{said}");
    Ok(ExitCode::SUCCESS)
}

/// `switchboard audit`: every retention run, purge and hold, oldest first.
pub fn audit(config: &Path, json: bool) -> Result<ExitCode> {
    let (config, _) = Config::load(config)?;
    let conn = super::open_read_only(&config.store_path)?;
    let rows = super::audit::list(&conn)?;
    super::audit::print(&config, &rows, json, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

/// `switchboard privacy export --address X --out DIR`: one bag of everything about
/// the person, and an audit row naming them by a hash of their address.
pub fn privacy_export(config: &Path, address: &str, out: &Path, clock: &Clock) -> Result<ExitCode> {
    let (config, _) = Config::load(config)?;
    let now = clock.unix();
    let exported = {
        let conn = super::open_read_only(&config.store_path)?;
        super::privacy::export(&config, &conn, address, out, now)?
    };
    let v = bagit::verify(&exported.bag)?;
    if !v.problems.is_empty() {
        bail!(
            "the bag {} does not verify: {}",
            exported.bag.display(),
            v.problems.join("; ")
        );
    }
    let db = crate::store::Db::open(&config.store_path)?;
    let actor = format!("administrator ({})", super::hold::whoami());
    db.blocking(|c| {
        super::audit::record(
            c,
            now,
            "privacy.export",
            &actor,
            &exported.hash,
            &serde_json::json!({
                "cases": exported.cases,
                "messages": exported.messages,
                "sent": exported.sent,
                "bag": exported.bag.display().to_string(),
            }),
        )
    })?;
    println!(
        "{}: {} message(s), {} mail(s) sent to them, {} case(s); audit row written ({}).",
        exported.bag.display(),
        exported.messages,
        exported.sent,
        exported.cases,
        exported.hash
    );
    Ok(ExitCode::SUCCESS)
}

/// `switchboard privacy erase --address X [--dry-run]`.
pub fn privacy_erase(
    config: &Path,
    address: &str,
    dry_run: bool,
    clock: &Clock,
) -> Result<ExitCode> {
    let (config, _) = Config::load(config)?;
    let now = clock.unix();
    let mut stdout = std::io::stdout().lock();
    if dry_run {
        let conn = super::open_read_only(&config.store_path)?;
        let e = super::erase::plan(&conn, &config, address, now)?;
        super::erase::describe(&e, true, &mut stdout)?;
        writeln!(stdout, "Dry run: nothing was changed.")?;
        return Ok(ExitCode::SUCCESS);
    }
    if !config.store_path.exists() {
        bail!(
            "No store at {} yet: run the daemon first",
            config.store_path.display()
        );
    }
    let db = crate::store::Db::open(&config.store_path)?;
    let actor = format!("administrator ({})", super::hold::whoami());
    let (e, busy) = db.blocking(|c| {
        // secure_delete must be set outside the transaction to cover it all.
        c.pragma_update(None, "secure_delete", "ON")?;
        let tx = c.transaction()?;
        let mut e = super::erase::plan(&tx, &config, address, now)?;
        super::erase::execute(&tx, address, &mut e, now)?;
        super::audit::record(
            &tx,
            now,
            "privacy.erase",
            &actor,
            &e.hash,
            &serde_json::json!({
                "messages_emptied": e.messages.len(),
                "mail_emptied": e.outbox.len(),
                "cases_pseudonymised": e.cases,
                "cases_restricted": e.restricted.iter().map(|r| serde_json::json!({"case": r.number, "why": r.why})).collect::<Vec<_>>(),
                "pseudonym": e.pseudonym,
            }),
        )?;
        tx.commit()?;
        // secure_delete zeroes what this run deletes, but not the stale copies that
        // ordinary work leaves in pages' free space (a row moved by a page split, an
        // overwritten cell): measured here, the acknowledgement to an erased address
        // was still readable on two pages after the UPDATEs. VACUUM rebuilds the file
        // from the live rows only. It holds the store while it copies it.
        c.execute_batch("VACUUM")?;
        // The log still holds the old pages until they are copied back and it is
        // truncated; a reader in the middle of a snapshot makes that wait.
        let busy: i64 = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        Ok((e, busy))
    })?;
    super::erase::describe(&e, false, &mut stdout)?;
    if busy != 0 {
        writeln!(
            stdout,
            "warning: the log could not be truncated while another connection read it; the old pages leave it at the daemon's next checkpoint (or run this again)"
        )?;
    }
    writeln!(
        stdout,
        "Erased: {} message(s), {} mail(s), {} case(s) pseudonymised, {} case(s) restricted; audit row written.",
        e.messages.len(),
        e.outbox.len(),
        e.cases.len(),
        e.restricted.len()
    )?;
    Ok(ExitCode::SUCCESS)
}
