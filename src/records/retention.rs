//! Retention: what `[retention]` says has been kept long enough goes — closed cases
//! (after their bag is written and verified, where `archive_to` is set), ignored mail
//! and quarantined mail. A case under legal hold never goes.
//!
//! Order is what makes a crash harmless: the bag is written, synced and renamed into
//! place, then verified, and only then is the case deleted, in one transaction with
//! its audit row. A crash before the commit leaves the case and (perhaps) its bag; the
//! next run finds the bag, verifies it again and goes on. Never neither.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, params};

use super::{archive, audit, bagit};
use crate::config::Config;

/// The timer kind of the nightly run (`timers.kind`).
pub const TIMER: &str = "retention";

/// How many cases one nightly timer purges; more are left to the next timer, due at
/// once, so that the clock's transaction never holds the store for long.
const NIGHTLY_BATCH: usize = 20;

#[derive(Debug, Default)]
pub struct Plan {
    /// Closed cases past `closed_cases`: (id, number, closed at).
    pub cases: Vec<(i64, String, i64)>,
    /// Cases past it but under legal hold, kept: (number, held since).
    pub held: Vec<(String, i64)>,
    /// Ledger ids of ignored and of quarantined messages past their periods.
    pub ignored: Vec<i64>,
    pub quarantined: Vec<i64>,
}

/// What would go at `now`, and why.
pub fn plan(conn: &Connection, config: &Config, now: i64) -> Result<Plan> {
    let r = &config.retention;
    let mut plan = Plan::default();
    if let Some(period) = r.closed_cases {
        let before = period.before(now);
        for c in archive::closed_cases(conn)? {
            if c.closed_at >= before {
                continue;
            }
            let held: Option<i64> =
                conn.query_row("SELECT held_at FROM cases WHERE id = ?1", [c.id], |row| {
                    row.get(0)
                })?;
            match held {
                Some(at) => plan.held.push((c.number, at)),
                None => plan.cases.push((c.id, c.number, c.closed_at)),
            }
        }
    }
    let messages = |outcome: &str, before: i64| -> Result<Vec<i64>> {
        Ok(conn
            .prepare(
                "SELECT id FROM messages
                 WHERE outcome = ?1 AND case_id IS NULL AND received_at < ?2 ORDER BY id",
            )?
            .query_map(params![outcome, before], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    };
    if let Some(p) = r.ignored {
        plan.ignored = messages("ignored", p.before(now))?;
    }
    if let Some(p) = r.quarantine {
        plan.quarantined = messages("quarantined", p.before(now))?;
    }
    Ok(plan)
}

/// Prints the plan as `--dry-run` shows it.
pub fn describe(config: &Config, plan: &Plan, out: &mut impl Write) -> Result<()> {
    let r = &config.retention;
    let at = |t: i64| crate::outgoing::local_time(config, t);
    if !r.is_on() {
        writeln!(out, "[retention] sets no period: nothing is ever deleted.")?;
        return Ok(());
    }
    for (_, number, closed) in &plan.cases {
        let period = r.closed_cases.map(|p| p.to_string()).unwrap_or_default();
        let archive = match &r.archive_to {
            Some(dir) => format!(", archived to {} first", dir.join(number).display()),
            None => String::new(),
        };
        writeln!(
            out,
            "case {number}: closed {}, kept {period} (retention.closed_cases){archive}",
            at(*closed)
        )?;
    }
    for (number, since) in &plan.held {
        writeln!(
            out,
            "case {number}: past retention but under legal hold since {}: kept",
            at(*since)
        )?;
    }
    if let Some(p) = r.ignored {
        writeln!(
            out,
            "{} ignored message(s) received over {p} ago (retention.ignored)",
            plan.ignored.len()
        )?;
    }
    if let Some(p) = r.quarantine {
        writeln!(
            out,
            "{} quarantined message(s) received over {p} ago (retention.quarantine)",
            plan.quarantined.len()
        )?;
    }
    writeln!(
        out,
        "{} case(s) would be purged, {} held.",
        plan.cases.len(),
        plan.held.len()
    )?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct Done {
    pub cases: usize,
    pub messages: usize,
    /// Cases left because their bag could not be written or verified.
    pub failed: Vec<(String, String)>,
}

/// Makes sure `dir/<number>` is a verified bag of the case: an existing bag (left by a
/// run that crashed before its delete committed) is verified again and kept; one that
/// does not verify is put aside, never deleted, and the case exported afresh.
fn ensure_bag(
    config: &Config,
    conn: &Connection,
    number: &str,
    dir: &Path,
    now: i64,
) -> Result<PathBuf> {
    let bag = dir.join(number);
    if bag.exists() {
        if bagit::verify(&bag)?.problems.is_empty() {
            return Ok(bag);
        }
        let aside = dir.join(format!("{number}.invalid-{now}"));
        std::fs::rename(&bag, &aside)
            .with_context(|| format!("Cannot put the invalid bag {} aside", bag.display()))?;
        tracing::warn!(case = number, bag = %aside.display(), "An archived bag did not verify: put aside, exporting again");
    }
    let bag = archive::export_case(config, conn, number, dir, now)?;
    let v = bagit::verify(&bag)?;
    if !v.problems.is_empty() {
        bail!("its bag does not verify: {}", v.problems.join("; "));
    }
    Ok(bag)
}

/// Purges one case: its bag first (where archiving is on), then every row that
/// refers to it, with an audit row, in one transaction (a savepoint when the caller's
/// transaction is open).
fn purge_case(
    config: &Config,
    conn: &Connection,
    (id, number, closed): &(i64, String, i64),
    now: i64,
    actor: &str,
) -> Result<()> {
    let bag = match &config.retention.archive_to {
        Some(dir) => Some(ensure_bag(config, conn, number, dir, now)?),
        None => None,
    };
    conn.execute_batch("SAVEPOINT purge")?;
    let result = (|| {
        super::purge::delete_row(conn, "cases", *id)?;
        let detail = serde_json::json!({
            "closed_at": closed,
            "kept": config.retention.closed_cases.map(|p| p.to_string()),
            "bag": bag.as_ref().map(|b| b.display().to_string()),
        });
        audit::record(conn, now, "retention.purge_case", actor, number, &detail)
    })();
    match result {
        Ok(()) => conn.execute_batch("RELEASE purge")?,
        Err(e) => {
            conn.execute_batch("ROLLBACK TO purge; RELEASE purge")?;
            return Err(e);
        }
    }
    Ok(())
}

fn purge_messages(
    conn: &Connection,
    ids: &[i64],
    kind: &str,
    now: i64,
    actor: &str,
) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    conn.execute_batch("SAVEPOINT purge")?;
    let result = (|| {
        for id in ids {
            super::purge::delete_row(conn, "messages", *id)?;
        }
        audit::record(
            conn,
            now,
            &format!("retention.purge_{kind}"),
            actor,
            &format!("{} message(s)", ids.len()),
            &serde_json::json!({ "messages": ids }),
        )
    })();
    match result {
        Ok(()) => conn.execute_batch("RELEASE purge")?,
        Err(e) => {
            conn.execute_batch("ROLLBACK TO purge; RELEASE purge")?;
            return Err(e);
        }
    }
    Ok(ids.len())
}

/// Carries out at most `limit` cases of the plan (and all of its messages); each case
/// commits on its own when `conn` is in autocommit mode (the command), or as a
/// savepoint of the caller's transaction (the nightly timer).
pub fn execute(
    config: &Config,
    conn: &Connection,
    plan: &Plan,
    now: i64,
    actor: &str,
    limit: usize,
    mut progress: impl FnMut(&str),
) -> Result<Done> {
    // Deleted pages are overwritten with zeros, not left readable in the file.
    conn.pragma_update(None, "secure_delete", "ON")?;
    let mut done = Done::default();
    for case in plan.cases.iter().take(limit) {
        // From the command, each case is exported and deleted under one write
        // transaction: a follow-up the daemon takes in meanwhile waits for it, and so
        // cannot be deleted without being in the bag. (The timer runs inside the
        // clock's transaction already.)
        let own = conn.is_autocommit();
        if own {
            conn.execute_batch("BEGIN IMMEDIATE")?;
        }
        let result = purge_case(config, conn, case, now, actor);
        if own {
            conn.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
        }
        match result {
            Ok(()) => {
                done.cases += 1;
                progress(&case.1);
            }
            Err(e) => {
                tracing::error!(case = case.1, "Retention kept the case: {e:#}");
                done.failed.push((case.1.clone(), format!("{e:#}")));
            }
        }
    }
    done.messages += purge_messages(conn, &plan.ignored, "ignored", now, actor)?;
    done.messages += purge_messages(conn, &plan.quarantined, "quarantined", now, actor)?;
    // Give the freed pages back to the file system (a store with
    // `auto_vacuum = INCREMENTAL`, which every new store has: store.rs). It truncates
    // the file at commit; on an older store it does nothing. Stepped to the end:
    // each step frees one page (`execute_batch` steps once).
    let mut vacuum = conn.prepare("PRAGMA incremental_vacuum")?;
    let mut pages = vacuum.query([])?;
    while pages.next()?.is_some() {}
    audit::record(
        conn,
        now,
        "retention.run",
        actor,
        "retention",
        &serde_json::json!({
            "cases_purged": done.cases,
            "cases_held": plan.held.iter().map(|h| &h.0).collect::<Vec<_>>(),
            "cases_failed": done.failed,
            "messages_purged": done.messages,
        }),
    )?;
    Ok(done)
}

/// The nightly timer: makes sure one is pending (03:00 in the company's time zone)
/// when `[retention]` sets a period.
pub fn ensure_timer(
    conn: &Connection,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    if !config.retention.is_on() || crate::store::deadlines::pending_global(conn, TIMER)?.is_some()
    {
        return Ok(());
    }
    crate::store::deadlines::insert_timer(conn, TIMER, None, None, next_night(config, now))?;
    Ok(())
}

fn next_night(config: &Config, now: chrono::DateTime<chrono::Utc>) -> i64 {
    let tz = config.calendar.tz();
    let local = now.with_timezone(&tz);
    let three = chrono::NaiveTime::from_hms_opt(3, 0, 0).unwrap_or_default();
    let mut day = local.date_naive();
    if local.time() >= three {
        day = day.succ_opt().unwrap_or(day);
    }
    chrono::TimeZone::from_local_datetime(&tz, &day.and_time(three))
        .earliest()
        .map_or(now.timestamp() + 86_400, |t| t.timestamp())
}

/// Fires the nightly timer inside the clock's transaction: a batch of cases, then the
/// next timer — at once if cases remain, else the next night.
pub fn fire(
    conn: &Connection,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String> {
    let at = now.timestamp();
    let plan = plan(conn, config, at)?;
    let done = execute(config, conn, &plan, at, "daemon", NIGHTLY_BATCH, |_| {})?;
    // More to do: the next batch at once — unless a case failed to archive (a full
    // disk, an unwritable archive_to), which the next batch would only repeat, the
    // clock firing it in a loop; then tomorrow night, after the error was logged.
    let next = if plan.cases.len() > NIGHTLY_BATCH && done.failed.is_empty() {
        at
    } else {
        next_night(config, now)
    };
    crate::store::deadlines::insert_timer(conn, TIMER, None, None, next)?;
    Ok(format!(
        "retention: {} case(s) purged, {} held, {} kept after a failed archive, {} message(s) purged",
        done.cases,
        plan.held.len(),
        done.failed.len(),
        done.messages
    ))
}
