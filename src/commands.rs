//! What each subcommand does, over the library. Output for people goes to stdout;
//! logs go to stderr.

pub mod corrections;
pub mod learn;
pub mod login;
pub mod messages;
pub mod quarantine;
pub mod replay;
pub mod report;
pub mod timeline;

pub use messages::messages;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::config::{Config, MailboxKind, Transport};
use crate::daemon::{self, Daemon};
use crate::intake::{Intake, Report};
use crate::message::Message;
use crate::store::{Db, cases as store_cases};

pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours for a person at a terminal only: in the journal or a log file the
    // escape codes would be text around every field.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

fn load(config: &Path) -> Result<Intake> {
    let (config, warnings) = Config::load(config)?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Intake::new(config)
}

pub fn run(config: &Path, once: bool, now: Option<&str>) -> Result<ExitCode> {
    let clock = clock(now)?;
    let intake = load(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let daemon = Daemon::new(intake, clock)?;
        if once {
            let mut out = std::io::stdout();
            let summary = daemon
                .run_once(&mut |r: &Report| {
                    daemon::log_report(r);
                    let _ = writeln!(out, "{}", describe(r));
                })
                .await?;
            println!(
                "Done: {} message(s) taken in, {} timer(s) fired, {} mail(s) sent, {} waiting in the outbox, {} failed.",
                summary.taken_in, summary.timers, summary.sent, summary.waiting, summary.failed
            );
            Ok(ExitCode::SUCCESS)
        } else {
            daemon.run().await?;
            Ok(ExitCode::SUCCESS)
        }
    })
}

/// The system clock, or the time `--now` gives.
pub fn clock(now: Option<&str>) -> Result<Clock> {
    Ok(match now {
        None => Clock::System,
        Some(t) => Clock::Fixed(
            DateTime::parse_from_rfc3339(t)
                .with_context(|| format!("--now: expected an RFC 3339 time such as 2026-11-27T09:30:00+08:00, found \"{t}\""))?
                .with_timezone(&Utc),
        ),
    })
}

/// One line per message for `run --once`.
fn describe(r: &Report) -> String {
    let who = r.sender.as_deref().unwrap_or("?");
    let subject = r.subject.as_deref().unwrap_or("");
    let uid = r.uid.map(|u| format!("UID {u}: ")).unwrap_or_default();
    match r.outcome {
        "case" => format!(
            "{uid}{} opened: {} / {} → {} ({}), from {who} \"{subject}\"{}",
            r.case.as_deref().unwrap_or("?"),
            r.category.as_deref().unwrap_or("?"),
            r.priority.as_deref().unwrap_or("?"),
            r.department.as_deref().unwrap_or("?"),
            if r.acknowledged {
                "acknowledged"
            } else {
                "not acknowledged"
            },
            r.reason
                .as_deref()
                .map(|w| format!(" — {w}"))
                .unwrap_or_default(),
        ),
        "follow_up" => format!(
            "{uid}follow-up joined {} from {who} \"{subject}\"{}",
            r.case.as_deref().unwrap_or("?"),
            r.reason
                .as_deref()
                .map(|w| format!(" — {w}"))
                .unwrap_or(" — passed on to the department".into()),
        ),
        other => match &r.sender {
            Some(who) => format!(
                "{uid}{other}: from {who} \"{subject}\" — {}",
                r.reason.as_deref().unwrap_or("")
            ),
            None => format!("{uid}{other}: {}", r.reason.as_deref().unwrap_or("")),
        },
    }
}

pub fn check(config: &Path) -> Result<ExitCode> {
    let (config, warnings) = match Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            println!("{e:#}");
            return Ok(ExitCode::FAILURE);
        }
    };
    for w in &warnings {
        println!("warning: {w}");
    }
    let mut problems = Vec::new();
    let imap = match &config.mailbox.kind {
        MailboxKind::Imap(server) => Some(server),
        MailboxKind::Maildir(_) => None,
    };
    let smtp = match &config.smtp.transport {
        Transport::Smtp(server) => Some(server),
        Transport::Maildir(_) => None,
    };
    for (table, server) in [("mailbox", imap), ("smtp", smtp)] {
        let Some(server) = server else { continue };
        if let Some(ca_file) = &server.ca_file
            && let Err(e) = crate::tls::load_ca(ca_file)
        {
            problems.push(format!("{}: {table}.ca_file: {e:#}", config.file.display()));
        }
        let Some(source) = &server.password else {
            continue;
        };
        // Loading proves the file or variable is there; the value is never printed.
        if let Err(e) = source.load() {
            problems.push(format!("{}: {table}: {e:#}", config.file.display()));
        }
        if let Some(warning) = source.permission_warning() {
            println!("warning: {}: {table}: {warning}", config.file.display());
        }
    }
    // The OAuth2 client secret and the stored grant (whether, and when refreshed).
    let mut grant_line = None;
    if let Some(oauth2) = &config.oauth2 {
        if let Some(source) = &oauth2.client_secret {
            if let Err(e) = source.load() {
                problems.push(format!("{}: oauth2: {e:#}", config.file.display()));
            }
            if let Some(warning) = source.permission_warning() {
                println!("warning: {}: oauth2: {warning}", config.file.display());
            }
        }
        // A missing or refused grant is a warning: systemd runs `check` before each
        // start, and the daemon must start without one (the clock, and the outbox
        // when SMTP is separate, keep working; it picks up the next login itself).
        match login::grant_status(&config, oauth2) {
            Ok(line) => grant_line = Some(line),
            Err(problem) => println!("warning: {problem}"),
        }
    }
    // The web view's users file and metrics token, as the daemon will read them.
    problems.extend(crate::web::check(&config));
    // Well before it matters: a calendar without next year's holidays counts them as
    // working days, and nobody notices until a deadline falls on one.
    let today = Utc::now().with_timezone(&config.calendar.tz()).date_naive();
    for w in config.calendar.coverage_warnings(today) {
        println!("warning: {}: {w}", config.file.display());
    }
    let holidays = holidays_in_force(&config.calendar);
    let rules_dir = config.intake.rules.clone();
    let policies = config.sla.policies.clone();
    let parties_file = config.intake.parties.clone();
    match Intake::new(config) {
        Ok(intake) => {
            if let Err(e) = crate::intake::sample_render(&intake) {
                problems.push(format!("{e:#}"));
            }
            if problems.is_empty() {
                let sla = match &policies {
                    Some(p) => format!(
                        "{} SLA policies from {}",
                        intake.policies().policies.len(),
                        p.display()
                    ),
                    None => "no SLA policies (no clocks: see [sla] policies)".to_string(),
                };
                if let Some(line) = &grant_line {
                    println!("{line}");
                }
                let parties = match &parties_file {
                    Some(p) => format!(
                        ", parties file {} ({} entries)",
                        p.display(),
                        intake.parties().len()
                    ),
                    None => String::new(),
                };
                let learned = match intake.rules().learned() {
                    Some(m) => format!(
                        " and a learned model of {} words over {} classes ({})",
                        m.len(),
                        m.classes().count(),
                        crate::rules::LEARNED_FILE
                    ),
                    None => " (no learned model)".to_string(),
                };
                println!(
                    "OK: config, {} rules{learned} from {}{parties}, {sla}, templates ({} with HTML), {holidays}.",
                    intake.rules().len(),
                    rules_dir.display(),
                    intake.templates().html_count()
                );
                return Ok(ExitCode::SUCCESS);
            }
        }
        Err(e) => problems.push(format!("{e:#}")),
    }
    for p in &problems {
        println!("{p}");
    }
    Ok(ExitCode::FAILURE)
}

pub fn classify(config: &Path, files: &[PathBuf], explain: bool) -> Result<ExitCode> {
    let intake = load(config)?;
    let mut code = ExitCode::SUCCESS;
    for file in files {
        let raw = std::fs::read(file).with_context(|| format!("Cannot read {}", file.display()))?;
        let line = match Message::parse(&raw) {
            Ok(msg) => {
                let class = intake.classify(&msg);
                let set_aside = intake.set_aside_reason(&msg, &class);
                let mut line = serde_json::json!({
                    "file": file.display().to_string(),
                    "category": class.category.as_str(),
                    "priority": class.priority.as_str(),
                    "department": class.department,
                    "rules": class.rules,
                    "language": msg.language().code(),
                    "acknowledge": set_aside.is_none() && intake.no_ack_reason(&msg).is_none() && crate::intake::screen::automatic(&msg).is_none(),
                    "set_aside": set_aside,
                });
                if explain && let Some(obj) = line.as_object_mut() {
                    obj.insert("explain".into(), serde_json::json!(intake.explain(&msg)));
                }
                line
            }
            Err(reason) => {
                code = ExitCode::FAILURE;
                serde_json::json!({ "file": file.display().to_string(), "error": reason })
            }
        };
        println!("{line}");
    }
    Ok(code)
}

fn open_store(config: &Path) -> Result<(Config, Db)> {
    let (config, _) = Config::load(config)?;
    if !config.store_path.exists() {
        bail!(
            "No store at {} yet: run the daemon first",
            config.store_path.display()
        );
    }
    let db = Db::open(&config.store_path)?;
    Ok((config, db))
}

pub fn outbox(config: &Path) -> Result<ExitCode> {
    let (_, db) = open_store(config)?;
    let rows = db.blocking(|c| crate::store::outbox::list(c, None))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<6} {:<10} {:<8} {:<36} SUBJECT",
        "ID", "KIND", "STATUS", "TO"
    )?;
    for r in &rows {
        let subject = Message::parse(&r.content)
            .map(|m| m.subject)
            .unwrap_or_default();
        writeln!(
            out,
            "{:<6} {:<10} {:<8} {:<36} {}",
            r.id, r.kind, r.status, r.recipients, subject
        )?;
        if let Some(e) = &r.last_error {
            writeln!(out, "       last error: {e}")?;
        }
    }
    let stats = db.blocking(|c| crate::store::outbox::stats(c))?;
    writeln!(
        out,
        "{} sent, {} waiting, {} failed",
        stats.sent, stats.pending, stats.failed
    )?;
    Ok(ExitCode::SUCCESS)
}

pub fn cases(config: &Path, json: bool) -> Result<ExitCode> {
    let (config, db) = open_store(config)?;
    let cases = db.blocking(|c| store_cases::list(c))?;
    let tz = config.calendar.tz();
    let mut out = std::io::stdout().lock();
    if json {
        for case in &cases {
            writeln!(out, "{}", serde_json::to_string(case)?)?;
        }
    } else {
        writeln!(
            out,
            "{:<16} {:<7} {:<22} {:<10} {:<17} {:<16} {:<30} SUBJECT",
            "CASE", "STATUS", "CATEGORY", "PRIORITY", "DEPARTMENT", "OPENED", "SENDER"
        )?;
        for c in &cases {
            let opened = DateTime::from_timestamp(c.opened_at, 0)
                .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default();
            writeln!(
                out,
                "{:<16} {:<7} {:<22} {:<10} {:<17} {:<16} {:<30} {}",
                c.case, c.status, c.category, c.priority, c.department, opened, c.sender, c.subject
            )?;
        }
        writeln!(out, "{} case(s)", cases.len())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show_case(config: &Path, number: &str, json: bool, now: Option<&str>) -> Result<ExitCode> {
    let now = clock(now)?.unix();
    let (config, db) = open_store(config)?;
    let timeline = timeline::load(&db, number, now)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&timeline)?)?;
    } else {
        timeline::print(&config, &timeline, &mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn report(
    config: &Path,
    from: &str,
    to: &str,
    csv: bool,
    now: Option<&str>,
) -> Result<ExitCode> {
    let now = clock(now)?.unix();
    let (config, db) = open_store(config)?;
    let (start, end) = report::period(config.calendar.tz(), from, to, "--")?;
    let lines = db.blocking(|c| report::figures(c, start, end, now, |_| true))?;
    report::print(&lines, csv, &mut std::io::stdout().lock())?;
    if !csv {
        let set_aside =
            db.blocking(|c| crate::store::messages::set_aside_by_reason(c, start, end))?;
        report::print_set_aside(&set_aside, &mut std::io::stdout().lock())?;
        let restricted = db.blocking(|c| crate::store::cases::restricted_count(c))?;
        if restricted > 0 {
            println!(
                "\n{restricted} restricted case(s) are not counted: kept for storage only (privacy erase; PIPL Art. 47)."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Which holiday schedules are in force and from where, for `check`: an
/// administrator must see at a glance whether the Spring Festival is a holiday.
fn holidays_in_force(calendar: &crate::calendar::Calendar) -> String {
    let schedules = calendar.schedules();
    if schedules.is_empty() {
        return "no public holidays (calendar.holidays lists none)".to_string();
    }
    let each: Vec<String> = schedules
        .iter()
        .map(|s| {
            let origin = if crate::calendar::shipped::is_built_in(&s.path) {
                "built in".to_string()
            } else {
                s.path.display().to_string()
            };
            format!("{} from {origin}", s.year)
        })
        .collect();
    format!("public holidays {}", each.join(", "))
}
