//! `switchboard corrections [--json]`: every `Department:` and `Category:` correction
//! the departments made, what each sender has taught (a sender corrected twice the
//! same way is routed that way), and the rules that were corrected most: the list
//! an administrator reads before changing the rules (then tries the change with
//! `switchboard replay`). Reads the store only.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::DateTime;
use serde::Serialize;

use crate::config::Config;
use crate::store::Db;
use crate::store::corrections::{self, CorrectionRow, Learned};

#[derive(Debug, Serialize)]
pub struct Taught {
    pub sender: String,
    #[serde(flatten)]
    pub learned: Learned,
}

/// How often the departments moved a case away from what one rule decided.
#[derive(Debug, Serialize)]
pub struct ByRule {
    pub rule: String,
    pub corrections: usize,
    /// `field: from → to` and how often, most frequent first.
    pub changes: Vec<(String, usize)>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub corrections: Vec<CorrectionRow>,
    pub taught: Vec<Taught>,
    pub by_rule: Vec<ByRule>,
}

pub fn summary(conn: &rusqlite::Connection) -> Result<Summary> {
    let rows = corrections::list(conn)?;
    let mut senders: Vec<&str> = rows.iter().map(|r| r.sender.as_str()).collect();
    senders.sort_unstable();
    senders.dedup();
    let mut taught = Vec::new();
    for sender in senders {
        if let Some(learned) = corrections::learned(conn, sender)? {
            taught.push(Taught {
                sender: sender.to_string(),
                learned,
            });
        }
    }
    let mut rules: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for r in &rows {
        let rule = if r.rule.is_empty() {
            "(no rule: unclassified)"
        } else {
            r.rule.as_str()
        };
        *rules
            .entry(rule)
            .or_default()
            .entry(format!("{}: {} → {}", r.field, r.from, r.to))
            .or_default() += 1;
    }
    let mut by_rule: Vec<ByRule> = rules
        .into_iter()
        .map(|(rule, changes)| {
            let mut changes: Vec<(String, usize)> = changes.into_iter().collect();
            changes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            ByRule {
                rule: rule.to_string(),
                corrections: changes.iter().map(|c| c.1).sum(),
                changes,
            }
        })
        .collect();
    by_rule.sort_by(|a, b| {
        b.corrections
            .cmp(&a.corrections)
            .then_with(|| a.rule.cmp(&b.rule))
    });
    Ok(Summary {
        corrections: rows,
        taught,
        by_rule,
    })
}

pub fn run(config: &Path, json: bool) -> Result<ExitCode> {
    let (config, _) = Config::load(config)?;
    if !config.store_path.exists() {
        bail!(
            "No store at {} yet: run the daemon first",
            config.store_path.display()
        );
    }
    let db = Db::open_read_only(&config.store_path)?;
    let summary = db
        .blocking(|c| summary(c))
        .context("Cannot read the corrections (a store from before them has none: run the daemon once to update it)")?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let tz = config.calendar.tz();
    writeln!(
        out,
        "{:<16} {:<16} {:<30} {:<11} {:<40} {:<30} RULE",
        "AT", "CASE", "SENDER", "FIELD", "FROM → TO", "BY"
    )?;
    for r in &summary.corrections {
        let at = DateTime::from_timestamp(r.at, 0)
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        writeln!(
            out,
            "{:<16} {:<16} {:<30} {:<11} {:<40} {:<30} {}",
            at,
            r.case,
            r.sender,
            r.field,
            format!("{} → {}", r.from, r.to),
            format!("{} ({})", r.by, r.by_department),
            r.rule
        )?;
    }
    writeln!(out, "{} correction(s)", summary.corrections.len())?;
    if !summary.taught.is_empty() {
        writeln!(
            out,
            "\nTaught (the next case of these senders is routed so):"
        )?;
        for t in &summary.taught {
            writeln!(
                out,
                "  {} → {} / {} ({})",
                t.sender,
                t.learned.category,
                t.learned.department,
                t.learned.cases.join(", ")
            )?;
        }
    }
    if !summary.by_rule.is_empty() {
        writeln!(out, "\nCorrected most (the rules to look at first):")?;
        for r in &summary.by_rule {
            let changes: Vec<String> = r
                .changes
                .iter()
                .map(|(what, n)| format!("{what} ×{n}"))
                .collect();
            writeln!(
                out,
                "  {:>3}  {}: {}",
                r.corrections,
                r.rule,
                changes.join("; ")
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
