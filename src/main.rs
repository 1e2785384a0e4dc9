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
    /// Approve Switchboard's access to an OAuth2 mailbox (Microsoft 365, Gmail): the
    /// device flow prints a web address and a code to enter on any device, waits,
    /// and stores the grant; a running daemon picks it up without a restart.
    Login {
        #[arg(long, short)]
        config: PathBuf,
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
    /// Every Department: and Category: correction the departments made, what each
    /// sender taught, and the rules corrected most. Reads the store only.
    Corrections {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Classify the stored mail of those days again, with the rules in force or a
    /// candidate folder, and show what would change. Nothing is sent or stored.
    Replay {
        #[arg(long, short)]
        config: PathBuf,
        /// First day, YYYY-MM-DD (company time zone).
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD, included.
        #[arg(long)]
        to: String,
        /// A candidate rules folder (default: the config's [intake] rules).
        #[arg(long)]
        rules: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Learn the model that backs the rules (`learned.tsv` in the rules folder) from
    /// labelled folders (`*.eml` and `expected.toml`) and, with --store, from the
    /// cases as the departments left them; --cross-validate scores it instead.
    Learn {
        #[arg(long, short)]
        config: PathBuf,
        /// Folders of labelled mail.
        dirs: Vec<PathBuf>,
        /// Also learn from the store's cases, as they stand after corrections.
        #[arg(long)]
        store: bool,
        /// Where to write the model (default: learned.tsv in the config's rules folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write nothing: hold out each folder in turn, learn from the rest, and score
        /// the held-out one with the rules alone and with the model.
        #[arg(long)]
        cross_validate: bool,
        /// Smoothing for words never seen with a class.
        #[arg(long, default_value_t = switchboard::rules::learned::DEFAULT_ALPHA)]
        alpha: f64,
        /// How far ahead of the runner-up (ln-likelihood) the model must be to
        /// overrule the rules.
        #[arg(long, default_value_t = switchboard::rules::learned::DEFAULT_MARGIN)]
        margin: f64,
        /// Leave out words found in fewer labelled messages than this.
        #[arg(long, default_value_t = switchboard::rules::learned::DEFAULT_MIN_MESSAGES)]
        min_messages: u32,
    },
    /// List outgoing mail: what was sent, what waits, what failed.
    Outbox {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Every message ever taken in: its outcome, its case, and why it was ignored,
    /// quarantined or set aside; `open ID` takes a set-aside one in as a case.
    Messages {
        /// Required; may come before or after `open`.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// One JSON object per message instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: Option<MessagesAction>,
    },
    /// Who may open the web view: add a user to the `[web] users` file, or change one.
    WebUser {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: WebUserAction,
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
    /// Cases as BagIt bags (RFC 8493): export them, or verify bags exported before.
    Archive {
        #[command(subcommand)]
        action: ArchiveAction,
    },
    /// Purge what [retention] says has been kept long enough (archiving cases first
    /// where archive_to is set); --dry-run lists it and changes nothing.
    Retention {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        dry_run: bool,
        /// Judge ages as of this RFC 3339 time instead of now.
        #[arg(long)]
        now: Option<String>,
    },
    /// A person's data (PIPL Art. 45, GDPR Art. 15).
    Privacy {
        #[command(subcommand)]
        action: PrivacyAction,
    },
    /// The audit trail: every retention run, purge and legal hold.
    Audit {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// A consistent copy of the store, taken while the daemon runs, then checked.
    Backup {
        #[arg(long, short)]
        config: PathBuf,
        /// The copy to write (replaced only once the new copy has passed its check).
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(Subcommand)]
enum PrivacyAction {
    /// Every message from or to ADDRESS, their cases and the mail sent to them, as one
    /// BagIt bag in OUT; an audit row names them by a hash of the address.
    Export {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        address: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        now: Option<String>,
    },
    /// Empty X's messages and the mail sent to them, put a pseudonym in place of their
    /// address; held or in-retention cases are restricted instead (PIPL Art. 47,
    /// GDPR Art. 17).
    Erase {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        address: String,
        /// List what would be erased and restricted; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        now: Option<String>,
    },
}

#[derive(Subcommand)]
enum ArchiveAction {
    /// One bag per case, in OUT/<case>; the store is opened read-only.
    Export {
        #[arg(long, short)]
        config: PathBuf,
        /// One case, such as SB-2026-000042.
        #[arg(
            long,
            required_unless_present = "closed_before",
            conflicts_with = "closed_before"
        )]
        case: Option<String>,
        /// Every case closed before this day, YYYY-MM-DD (company time zone).
        #[arg(long)]
        closed_before: Option<String>,
        #[arg(long)]
        out: PathBuf,
        /// Pack each bag as OUT/<case>.tar after checking it.
        #[arg(long)]
        tar: bool,
        /// The Bagging-Date and the time deadlines are judged at (RFC 3339).
        #[arg(long)]
        now: Option<String>,
    },
    /// Re-hash a bag, or every bag in a folder; exit status 1 on any difference.
    Verify { dir: PathBuf },
}

#[derive(Subcommand)]
enum MessagesAction {
    /// Take a set-aside message in as a case after all: classified, routed and
    /// acknowledged (saying it is late, and why), its clocks starting now.
    Open {
        /// The message's ID, as `switchboard messages` shows it.
        id: i64,
        /// Open it as at this RFC 3339 time instead of now.
        #[arg(long)]
        now: Option<String>,
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
enum WebUserAction {
    /// Add NAME (or set a new password, role and departments for NAME); asks for the
    /// password twice, from the terminal or from two lines of standard input.
    Add {
        name: String,
        /// `manager` (sees only --department) or `admin` (sees all, and /health, /metrics).
        #[arg(long, default_value = "manager")]
        role: String,
        /// A department id the manager sees; repeat for several.
        #[arg(long = "department")]
        departments: Vec<String>,
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
    /// Put a case under legal hold (retention never purges it), or lift the hold.
    Hold {
        case: String,
        /// Lift the hold.
        #[arg(long)]
        off: bool,
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

fn archive(action: ArchiveAction) -> anyhow::Result<ExitCode> {
    use switchboard::records::commands::{self as records, Selection};
    match action {
        ArchiveAction::Export {
            config,
            case,
            closed_before,
            out,
            tar,
            now,
        } => {
            let selection = match (case, closed_before) {
                (Some(c), _) => Selection::Case(c),
                (None, Some(d)) => Selection::ClosedBefore(d),
                (None, None) => anyhow::bail!("--case or --closed-before is required"),
            };
            let clock = commands::clock(now.as_deref())?;
            records::archive_export(&config, &selection, &out, tar, &clock)
        }
        ArchiveAction::Verify { dir } => records::archive_verify(&dir),
    }
}

fn main() -> ExitCode {
    commands::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config, once, now } => commands::run(&config, once, now.as_deref()),
        Command::Check { config } => commands::check(&config),
        Command::Login { config } => commands::login::login(&config),
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
        Command::Cases {
            config,
            now,
            action: Some(CasesAction::Hold { case, off }),
            ..
        } => with_config(config, |c| {
            switchboard::records::commands::hold(c, &case, off, &commands::clock(now.as_deref())?)
        }),
        Command::Retention {
            config,
            dry_run,
            now,
        } => commands::clock(now.as_deref())
            .and_then(|clock| switchboard::records::commands::retention(&config, dry_run, &clock)),
        Command::Privacy {
            action:
                PrivacyAction::Export {
                    config,
                    address,
                    out,
                    now,
                },
        } => commands::clock(now.as_deref()).and_then(|clock| {
            switchboard::records::commands::privacy_export(&config, &address, &out, &clock)
        }),
        Command::Privacy {
            action:
                PrivacyAction::Erase {
                    config,
                    address,
                    dry_run,
                    now,
                },
        } => commands::clock(now.as_deref()).and_then(|clock| {
            switchboard::records::commands::privacy_erase(&config, &address, dry_run, &clock)
        }),
        Command::Audit { config, json } => switchboard::records::commands::audit(&config, json),
        Command::Report {
            config,
            from,
            to,
            csv,
            now,
        } => commands::report(&config, &from, &to, csv, now.as_deref()),
        Command::Corrections { config, json } => commands::corrections::run(&config, json),
        Command::Replay {
            config,
            from,
            to,
            rules,
            json,
        } => commands::replay::run(&config, &from, &to, rules.as_ref(), json),
        Command::Learn {
            config,
            dirs,
            store,
            out,
            cross_validate,
            alpha,
            margin,
            min_messages,
        } => commands::learn::run(
            &config,
            &dirs,
            &commands::learn::Options {
                out,
                store,
                cross_validate,
                settings: switchboard::rules::learned::Settings {
                    alpha,
                    margin,
                    min_messages,
                },
            },
        ),
        Command::Outbox { config } => commands::outbox(&config),
        Command::Messages {
            config,
            json,
            action,
        } => with_config(config, |c| match &action {
            None => commands::messages(c, json),
            Some(MessagesAction::Open { id, now }) => {
                commands::messages::open(c, *id, json, now.as_deref())
            }
        }),
        Command::WebUser {
            config,
            action:
                WebUserAction::Add {
                    name,
                    role,
                    departments,
                },
        } => with_config(config, |c| {
            switchboard::web::useradd::add(c, &name, &role, &departments)
        }),
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
        Command::Archive { action } => archive(action),
        Command::Backup { config, to } => switchboard::records::commands::backup(&config, &to),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            ExitCode::from(2)
        }
    }
}
