//! The `switchboard` command: thin over the library's modules.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard::commands;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "A shared mailbox in, tracked cases out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: take in mail, open and route cases, acknowledge, send.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// Process what is waiting (intake, outbox) and exit.
        #[arg(long)]
        once: bool,
        /// Fix the clock at this RFC 3339 time (for tests and replays).
        #[arg(long)]
        now: Option<String>,
    },
    /// Validate the config, the rules and the templates; list every problem.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Show how messages would be classified, one JSON object per message.
    Classify {
        #[arg(long, short)]
        config: PathBuf,
        /// Also list every rule that matched, the words it found in each field and its
        /// weight, best first (the runner-up second).
        #[arg(long)]
        explain: bool,
        #[arg(required = true)]
        messages: Vec<PathBuf>,
    },
    /// List cases, or show one case's timeline.
    Cases {
        /// Required; may come before or after `show`.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// JSON instead of a table: one object per case, or the whole timeline.
        #[arg(long, global = true)]
        json: bool,
        /// Judge deadlines as of this RFC 3339 time instead of now.
        #[arg(long, global = true)]
        now: Option<String>,
        #[command(subcommand)]
        action: Option<CasesAction>,
    },
    /// Per department and milestone: met, missed, pending, median and 90th-percentile time.
    Report {
        #[arg(long, short)]
        config: PathBuf,
        /// First day, YYYY-MM-DD (company time zone).
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD, included.
        #[arg(long)]
        to: String,
        /// Comma-separated values instead of a table.
        #[arg(long)]
        csv: bool,
        /// Judge open deadlines as of this RFC 3339 time instead of now.
        #[arg(long)]
        now: Option<String>,
    },
    /// List outgoing mail: what was sent, what waits, what failed.
    Outbox {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Every message ever taken in: its outcome, its case, and why it was ignored or
    /// quarantined.
    Messages {
        #[arg(long, short)]
        config: PathBuf,
        /// One JSON object per message instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Messages that could not be taken in: list them, or take one in again after a fix.
    Quarantine {
        /// Required; may come before or after the action.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: QuarantineAction,
    },
}

#[derive(Subcommand)]
enum QuarantineAction {
    /// The quarantined messages with their reasons.
    List,
    /// Run intake again on a quarantined message's stored bytes (after changing the
    /// rules, the templates or a limit). Exit status 1 if it is still quarantined.
    Release {
        /// The message's ID, as `list` or `switchboard messages` show it.
        id: i64,
        /// Take it in as at this RFC 3339 time instead of now.
        #[arg(long)]
        now: Option<String>,
    },
}

#[derive(Subcommand)]
enum CasesAction {
    /// One case: messages, mail sent, events, deadlines met / missed / pending,
    /// reminders and escalations and to whom.
    Show {
        /// The case number, such as SB-2026-000042.
        case: String,
    },
}

fn with_config(
    config: Option<PathBuf>,
    f: impl FnOnce(&std::path::Path) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    match config {
        Some(c) => f(&c),
        None => anyhow::bail!("--config FILE is required"),
    }
}

fn main() -> ExitCode {
    commands::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config, once, now } => commands::run(&config, once, now.as_deref()),
        Command::Check { config } => commands::check(&config),
        Command::Classify {
            config,
            explain,
            messages,
        } => commands::classify(&config, &messages, explain),
        Command::Cases {
            config,
            json,
            action: None,
            ..
        } => with_config(config, |c| commands::cases(c, json)),
        Command::Cases {
            config,
            json,
            now,
            action: Some(CasesAction::Show { case }),
        } => with_config(config, |c| {
            commands::show_case(c, &case, json, now.as_deref())
        }),
        Command::Report {
            config,
            from,
            to,
            csv,
            now,
        } => commands::report(&config, &from, &to, csv, now.as_deref()),
        Command::Outbox { config } => commands::outbox(&config),
        Command::Messages { config, json } => commands::messages(&config, json),
        Command::Quarantine {
            config,
            json,
            action,
        } => with_config(config, |c| match &action {
            QuarantineAction::List => commands::quarantine::list(c, json),
            QuarantineAction::Release { id, now } => {
                commands::quarantine::release(c, *id, json, now.as_deref())
            }
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            ExitCode::from(2)
        }
    }
}
