//! The clock with many open deadlines (issue 5, item 5): one wake-up of the clock
//! loop — `deadlines::fire_due` then `store::deadlines::next_due`, exactly what
//! `daemon::clock_loop` runs each time it wakes — timed with nothing due and with ten
//! reminders due, over stores of 10,000 and 1,000,000 open deadlines (each with a
//! reminder and a breach timer, due over the next 30 days), and the peak RSS of a
//! process that opens such a store and wakes up 30 times.
//!
//! `cargo bench --bench clock` (benches/run.sh runs it on tmpfs). Each store is built
//! by one child process and measured by another, so that the peak RSS measured is
//! the wake-ups', not the building's. Prints rows of the benchmark table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[allow(dead_code)]
#[path = "../tests/classify/workload.rs"]
mod workload;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use switchboard::config::Config;
use switchboard::intake::Intake;
use switchboard::store::Db;

const SIZES: &[usize] = &[10_000, 1_000_000];
const WAKES: usize = 30;
const DUE_PER_WAKE: usize = 10;
/// A fixed "now": 2026-11-02 10:00 Asia/Shanghai, a Monday in working hours.
const NOW: i64 = 1_793_584_800;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build(Path::new(&args[1]), args[2].parse().unwrap()),
        Some("wake") => wake(Path::new(&args[1])),
        _ => orchestrate(),
    };
    if let Err(e) = result {
        eprintln!("clock benchmark failed: {e:#}");
        std::process::exit(1);
    }
}

fn orchestrate() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("sb-clock-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let me = std::env::current_exe()?;
    let mut rows = Vec::new();
    for &n in SIZES {
        let store = dir.join(format!("clock-{n}.db"));
        let started = Instant::now();
        run(&me, &["build", store.to_str().unwrap(), &n.to_string()])?;
        eprintln!(
            "[clock] {n} open deadlines written in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let out = run(&me, &["wake", store.to_str().unwrap()])?;
        rows.push((n, out));
        std::fs::remove_file(&store).ok();
        std::fs::remove_file(store.with_extension("db-wal")).ok();
        std::fs::remove_file(store.with_extension("db-shm")).ok();
    }
    std::fs::remove_dir_all(&dir).ok();
    for (n, out) in &rows {
        // "idle_ms_median idle_ms_max due_ms_median due_ms_max hwm_kib"
        let v: Vec<f64> = out
            .split_whitespace()
            .map(|s| s.parse().unwrap_or(f64::NAN))
            .collect();
        if v.len() < 5 {
            bail!("unexpected output from the wake-up run: {out}");
        }
        let target = if *n >= 1_000_000 { "< 10 ms" } else { "" };
        println!(
            "| 5. clock wake-up, {n} open deadlines ({} timers): nothing due / {DUE_PER_WAKE} due, median (max) of {WAKES} | {:.2} ms ({:.2}) / {:.2} ms ({:.2}) |  |  | {target} |",
            2 * n + 1,
            v[0],
            v[1],
            v[2],
            v[3]
        );
    }
    let hwm: Vec<f64> = rows
        .iter()
        .map(|(_, out)| {
            out.split_whitespace()
                .nth(4)
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
                / 1024.0
        })
        .collect();
    println!(
        "| 5. clock: peak RSS of a process that opens the store and wakes up {} times, {} vs {} open deadlines | {:.0} MiB vs {:.0} MiB |  |  | independent of the count |",
        2 * WAKES,
        SIZES[0],
        SIZES[1],
        hwm[0],
        hwm[1]
    );
    Ok(())
}

fn run(me: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(me).args(args).output()?;
    if !out.status.success() {
        bail!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The config every process of this benchmark uses: the shipped rules, templates,
/// SLA policies and calendar; mail goes to a Maildir (nothing is sent).
fn intake(dir: &Path) -> Result<Intake> {
    let repo = repo();
    let path = dir.join("clock.toml");
    let departments = workload::config_departments();
    std::fs::write(
        &path,
        format!(
            r#"[mailbox]
kind = "maildir"
path = "{dir}/inbox"

[smtp]
kind = "maildir"
path = "{dir}/outbox"
from = "Customer Service <support@example.com>"

[store]
path = "{dir}/unused.db"

[intake]
rules = "{repo}/rules"
templates = "{repo}/templates"
triage_department = "customer-service"
internal_domains = ["example.com"]

[calendar]
timezone = "Asia/Shanghai"
holidays = ["{repo}/calendars/cn-2026.toml"]

[sla]
policies = "{repo}/rules/sla.toml"
escalation_contacts = ["general-manager@example.com"]
{departments}"#,
            dir = dir.display(),
            repo = repo.display()
        ),
    )?;
    let (config, _) = Config::load(&path)?;
    Intake::new(config)
}

/// Writes `n` open deadlines (four per case) with a reminder and a breach timer
/// each, due between one hour and 30 days from NOW, and the pending weekly digest.
fn build(store: &Path, n: usize) -> Result<()> {
    if store.exists() {
        std::fs::remove_file(store)?;
    }
    let db = Db::open(store)?;
    let intake = intake(store.parent().context("store folder")?)?;
    // The store as the daemon leaves it after start: policies fingerprinted, digest
    // timer written.
    db.blocking(|c| {
        switchboard::deadlines::on_start(
            c,
            &intake.config,
            intake.templates(),
            intake.policies(),
            at(NOW),
        )
    })?;
    db.blocking(|c| {
        c.pragma_update(None, "synchronous", "OFF")?;
        let tx = c.transaction()?;
        {
            let mut case = tx.prepare(
                "INSERT INTO cases (number, category, priority, department, status, sender,
                                    subject, language, rules, opened_at, updated_at, policy)
                 VALUES (?1, 'complaint', 'normal', 'logistics', 'new', ?2, 'Late delivery',
                         'en', '[]', ?3, ?3, 'complaint-normal')",
            )?;
            let mut deadline = tx.prepare(
                "INSERT INTO deadlines (case_id, milestone, label, department, started_at, due_at)
                 VALUES (?1, ?2, ?2, 'logistics', ?3, ?4)",
            )?;
            let mut timer = tx.prepare(
                "INSERT INTO timers (kind, case_id, deadline_id, fire_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            for i in 0..n.div_ceil(4) {
                case.execute(params![
                    format!("SB-2026-{i:07}"),
                    format!("c{i}@client.example"),
                    NOW - 600
                ])?;
                let case_id = tx.last_insert_rowid();
                for m in ["analysis", "contact", "result", "callback"] {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let due = NOW + 3600 + (x % (30 * 86_400)) as i64;
                    deadline.execute(params![case_id, m, NOW - 600, due])?;
                    let d = tx.last_insert_rowid();
                    timer.execute(params!["reminder", case_id, d, due - 1800])?;
                    timer.execute(params!["breach", case_id, d, due])?;
                }
            }
        }
        tx.commit()?;
        c.pragma_update(None, "synchronous", "FULL")?;
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
        Ok(())
    })?;
    Ok(())
}

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

/// Opens the store as the daemon does and times WAKES wake-ups with nothing due,
/// then WAKES with DUE_PER_WAKE reminders made due just before (not timed).
fn wake(store: &Path) -> Result<()> {
    let db = Db::open(store)?;
    let intake = intake(store.parent().context("store folder")?)?;
    let now = at(NOW);
    let mut idle = Vec::new();
    let mut due = Vec::new();
    for round in 0..2 * WAKES {
        let with_due = round >= WAKES;
        if with_due {
            db.blocking(|c| make_due(c, round))?;
        }
        let started = Instant::now();
        let (fired, next) = db.blocking(|c| {
            let fired = switchboard::deadlines::fire_due(
                c,
                &intake.config,
                intake.templates(),
                intake.policies(),
                now,
            )?;
            Ok((fired, switchboard::store::deadlines::next_due(c)?))
        })?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let expected = if with_due { DUE_PER_WAKE } else { 0 };
        if fired != expected || next.is_none() {
            bail!("wake-up {round}: fired {fired}, expected {expected}; next {next:?}");
        }
        if with_due {
            due.push(ms);
        } else {
            idle.push(ms);
        }
    }
    let hwm = std::fs::read_to_string("/proc/self/status")?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    println!(
        "{:.3} {:.3} {:.3} {:.3} {hwm}",
        median(&mut idle),
        max(&idle),
        median(&mut due),
        max(&due)
    );
    Ok(())
}

/// Moves DUE_PER_WAKE open reminders of different cases to one second ago.
fn make_due(c: &mut Connection, round: usize) -> Result<()> {
    let changed = c.execute(
        "UPDATE timers SET fire_at = ?1 WHERE id IN (
             SELECT id FROM timers WHERE kind = 'reminder' AND fired_at IS NULL
             AND cancelled_at IS NULL AND id % 97 = ?2 LIMIT ?3)",
        params![NOW - 1, round as i64 % 97, DUE_PER_WAKE as i64],
    )?;
    if changed != DUE_PER_WAKE {
        bail!("made {changed} timers due");
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::MIN, f64::max)
}
