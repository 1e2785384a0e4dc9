//! `switchboard replay --config F --from DATE --to DATE [--rules DIR] [--json]`: the
//! mail of those days classified again, with the rules in force or a candidate
//! rules folder, beside what the rules decided when it came in and what the case is
//! now that the departments have corrected it. How an administrator tries a rule
//! change on last month's mail before making it.
//!
//! Nothing is sent and nothing in the store changes: the store is opened read-only
//! (SQLite refuses any write on the connection), no outbox, no clock. Only mail the
//! rules decided on is replayed — what opened a case or was set aside; follow-ups
//! joined a case by its thread, not by the rules.
//!
//! Per message: before (as decided at intake: the case's category, department and
//! priority before any correction or `Priority:` command, and the rules it recorded),
//! after (the rules given now), and now (the case as it stands). The summary counts
//! what changes, and how many of before and after agree with now on category and
//! department: the accuracy against the departments' own judgement.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::DateTime;
use serde::Serialize;

use crate::config::Config;
use crate::intake::Intake;
use crate::message::Message;
use crate::store::{Db, cases, corrections, messages};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub category: String,
    pub department: String,
    pub priority: String,
    pub set_aside: bool,
    pub rules: Vec<String>,
}

/// Where the message stands now: its case after corrections, or set aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standing {
    pub category: String,
    pub department: String,
    pub set_aside: bool,
}

#[derive(Debug, Serialize)]
pub struct Replayed {
    pub message: i64,
    pub received_at: i64,
    pub case: Option<String>,
    pub before: Verdict,
    pub after: Verdict,
    pub now: Standing,
    /// Category, department, priority or set-aside differ between before and after.
    pub changed: bool,
    pub right_before: bool,
    pub right_after: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub messages: usize,
    pub changed: usize,
    pub category_changed: usize,
    pub department_changed: usize,
    pub priority_changed: usize,
    /// Agree with the case as it stands on category and department (or both set aside).
    pub right_before: usize,
    pub right_after: usize,
    /// Could not be read again (erased on request, or no longer parses).
    pub skipped: usize,
}

#[derive(Debug, Serialize)]
pub struct Replay {
    pub from: String,
    pub to: String,
    pub rules: String,
    pub messages: Vec<Replayed>,
    pub summary: Summary,
}

fn agrees(v: &Verdict, now: &Standing) -> bool {
    if now.set_aside || v.set_aside {
        return now.set_aside == v.set_aside;
    }
    v.category == now.category && v.department == now.department
}

/// Classifies again the mail of `[start, end)` in `db` with `intake`'s rules.
pub fn replay(db: &Db, intake: &Intake, start: i64, end: i64) -> Result<(Vec<Replayed>, Summary)> {
    let triage = intake.config.intake.triage_department.clone();
    let mut out = Vec::new();
    let mut summary = Summary::default();
    db.blocking(|conn| {
        messages::for_each_decided(conn, start, end, |m| {
            let Ok(msg) = Message::parse(&m.raw) else {
                summary.skipped += 1;
                return Ok(());
            };
            if m.raw.is_empty() {
                summary.skipped += 1;
                return Ok(());
            }
            let (case, before, now) = match m.case_id {
                Some(id) if m.outcome == "case" => {
                    let Some(row) = cases::get(conn, id)? else {
                        summary.skipped += 1;
                        return Ok(());
                    };
                    let (category, department) = corrections::original(conn, id)?;
                    // "important → urgent": the first Priority: command found the rules' own.
                    let priority = cases::first_event_detail(conn, id, "priority")?
                        .and_then(|d| d.split(" → ").next().map(str::to_string));
                    let before = Verdict {
                        category: category.unwrap_or_else(|| row.category.clone()),
                        department: department.unwrap_or_else(|| row.department.clone()),
                        priority: priority.unwrap_or_else(|| row.priority.clone()),
                        set_aside: false,
                        rules: row.rules.clone(),
                    };
                    let now = Standing {
                        category: row.category.clone(),
                        department: row.department.clone(),
                        set_aside: false,
                    };
                    (Some(row.case), before, now)
                }
                _ => (
                    None,
                    Verdict {
                        category: "unclassified".into(),
                        department: triage.clone(),
                        priority: "normal".into(),
                        set_aside: true,
                        rules: m.reason.clone().into_iter().collect(),
                    },
                    Standing {
                        category: "unclassified".into(),
                        department: triage.clone(),
                        set_aside: true,
                    },
                ),
            };
            let class = intake.classify(&msg);
            let set_aside = intake.set_aside_reason(&msg, &class);
            let after = Verdict {
                category: class.category.as_str().to_string(),
                department: class.department.clone(),
                priority: class.priority.as_str().to_string(),
                set_aside: set_aside.is_some(),
                rules: match set_aside {
                    Some(why) if class.rules.is_empty() => vec![why],
                    _ => class.rules.clone(),
                },
            };
            let category_changed = before.category != after.category;
            let department_changed = before.department != after.department;
            let priority_changed = before.priority != after.priority;
            let changed = category_changed
                || department_changed
                || priority_changed
                || before.set_aside != after.set_aside;
            let (right_before, right_after) = (agrees(&before, &now), agrees(&after, &now));
            summary.messages += 1;
            summary.changed += usize::from(changed);
            summary.category_changed += usize::from(category_changed);
            summary.department_changed += usize::from(department_changed);
            summary.priority_changed += usize::from(priority_changed);
            summary.right_before += usize::from(right_before);
            summary.right_after += usize::from(right_after);
            out.push(Replayed {
                message: m.id,
                received_at: m.received_at,
                case,
                before,
                after,
                now,
                changed,
                right_before,
                right_after,
            });
            Ok(())
        })
    })?;
    Ok((out, summary))
}

pub fn run(
    config: &Path,
    from: &str,
    to: &str,
    rules: Option<&PathBuf>,
    json: bool,
) -> Result<ExitCode> {
    let (mut config, _) = Config::load(config)?;
    if let Some(dir) = rules {
        config.intake.rules = dir.clone();
    }
    let rules_dir = config.intake.rules.display().to_string();
    let tz = config.calendar.tz();
    let (start, end) = super::report::period(tz, from, to, "--")?;
    if !config.store_path.exists() {
        bail!(
            "No store at {} yet: run the daemon first",
            config.store_path.display()
        );
    }
    let store = config.store_path.clone();
    let intake =
        Intake::new(config).with_context(|| format!("The rules in {rules_dir} do not load"))?;
    let db = Db::open_read_only(&store)?;
    let (messages, summary) = replay(&db, &intake, start, end)
        .context("Cannot read the stored mail (a store from before corrections: run the daemon once to update it)")?;
    let report = Replay {
        from: from.to_string(),
        to: to.to_string(),
        rules: rules_dir,
        messages,
        summary,
    };
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let show = |v: &Verdict| {
        if v.set_aside {
            "set aside".to_string()
        } else {
            format!("{} / {} / {}", v.category, v.department, v.priority)
        }
    };
    writeln!(
        out,
        "  {:<16} {:<16} {:<48} {:<48} RULES NOW",
        "RECEIVED", "CASE", "BEFORE", "AFTER"
    )?;
    for r in &report.messages {
        let at = DateTime::from_timestamp(r.received_at, 0)
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let mark = if r.changed { '*' } else { ' ' };
        writeln!(
            out,
            "{mark} {:<16} {:<16} {:<48} {:<48} {}",
            at,
            r.case.as_deref().unwrap_or("-"),
            show(&r.before),
            show(&r.after),
            r.after.rules.first().map_or("(none)", String::as_str)
        )?;
    }
    let s = &report.summary;
    let pct = |n: usize| {
        if s.messages == 0 {
            0.0
        } else {
            n as f64 * 100.0 / s.messages as f64
        }
    };
    writeln!(
        out,
        "\n{} message(s) from {} to {} with the rules in {}: {} would change \
         (category {}, department {}, priority {}); {} skipped.",
        s.messages,
        report.from,
        report.to,
        report.rules,
        s.changed,
        s.category_changed,
        s.department_changed,
        s.priority_changed,
        s.skipped
    )?;
    writeln!(
        out,
        "Right against the cases as corrected (category and department): before {}/{} ({:.1}%), after {}/{} ({:.1}%).",
        s.right_before,
        s.messages,
        pct(s.right_before),
        s.right_after,
        s.messages,
        pct(s.right_after)
    )?;
    Ok(ExitCode::SUCCESS)
}
