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
        #[arg(required = true)]
        messages: Vec<PathBuf>,
    },
    /// List cases.
    Cases {
        #[arg(long, short)]
        config: PathBuf,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List outgoing mail: what was sent, what waits, what failed.
    Outbox {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    commands::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config, once, now } => commands::run(&config, once, now.as_deref()),
        Command::Check { config } => commands::check(&config),
        Command::Classify { config, messages } => commands::classify(&config, &messages),
        Command::Cases { config, json } => commands::cases(&config, json),
        Command::Outbox { config } => commands::outbox(&config),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            ExitCode::from(2)
        }
    }
}
