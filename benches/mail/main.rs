//! The end-to-end benchmark (issue 5) against a private Dovecot and Postfix on
//! loopback, started by the same harness as the integration tests. Run it through
//! `benches/run.sh`, which builds in release mode, keeps every file of the run on
//! tmpfs, and adds the classification and clock benchmarks; it prints one markdown
//! table whose references are measured in the same run, on the same mailbox.
//!
//! ```text
//! mail [--messages N] [--runs R] [--scale 1000,10000] [--latency N] [--send N]
//!      [--only intake,scale,send,backlog,latency,startup] [--seed S] [--no-imapfilter]
//!      [--no-backlog-outbox]
//! ```
//! Timings live here, never in the test suite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../../tests/harness/mailstack.rs"]
mod mailstack;
#[allow(dead_code)]
#[path = "../../tests/classify/workload.rs"]
mod workload;

mod config;
mod corpus;
mod intake;
mod latency;
mod mailbox;
mod process;
mod sending;
mod startup;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use mailstack::MailStack;

pub struct Args {
    pub messages: usize,
    pub runs: usize,
    pub scale: Vec<usize>,
    pub latency: usize,
    pub send: usize,
    pub only: Vec<String>,
    pub seed: u64,
    pub backlog_outbox: bool,
    pub imapfilter: bool,
}

impl Args {
    fn parse() -> Result<Args> {
        let mut args = Args {
            messages: 10_000,
            runs: 3,
            scale: vec![1_000, 10_000],
            latency: 200,
            send: 10_000,
            only: Vec::new(),
            seed: 5,
            backlog_outbox: true,
            imapfilter: true,
        };
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let mut value = || it.next().with_context(|| format!("{a} needs a value"));
            match a.as_str() {
                "--messages" => args.messages = value()?.parse()?,
                "--runs" => args.runs = value()?.parse()?,
                "--scale" => {
                    args.scale = value()?
                        .split(',')
                        .map(|s| s.trim().replace('_', "").parse())
                        .collect::<Result<_, _>>()?
                }
                "--latency" => args.latency = value()?.parse()?,
                "--send" => args.send = value()?.parse()?,
                "--only" => args.only = value()?.split(',').map(str::to_string).collect(),
                "--seed" => args.seed = value()?.parse()?,
                "--no-backlog-outbox" => args.backlog_outbox = false,
                "--no-imapfilter" => args.imapfilter = false,
                // What `cargo bench` passes to every bench binary.
                "--bench" => {}
                other => bail!("unknown argument {other}"),
            }
        }
        if args.runs == 0 || args.messages == 0 {
            bail!("--runs and --messages must be at least 1");
        }
        Ok(args)
    }

    pub fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

/// One line of the results table.
pub struct Row {
    pub item: String,
    pub ours: String,
    pub reference: String,
    pub ratio: String,
    pub target: String,
}

impl Row {
    pub fn new(item: impl Into<String>, ours: impl Into<String>) -> Row {
        Row {
            item: item.into(),
            ours: ours.into(),
            reference: String::new(),
            ratio: String::new(),
            target: String::new(),
        }
    }
    pub fn reference(mut self, r: impl Into<String>) -> Row {
        self.reference = r.into();
        self
    }
    pub fn ratio(mut self, r: impl Into<String>) -> Row {
        self.ratio = r.into();
        self
    }
    pub fn target(mut self, t: impl Into<String>) -> Row {
        self.target = t.into();
        self
    }
}

/// What every section shares.
pub struct Bench {
    pub stack: MailStack,
    pub work: PathBuf,
    pub switchboard: PathBuf,
    pub args: Args,
}

impl Bench {
    pub fn logs(&self) -> PathBuf {
        self.work.join("logs")
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("benchmark failed: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = Args::parse()?;
    let stack = MailStack::start()?;
    let work = stack.dir.join("bench");
    std::fs::create_dir_all(&work)?;
    // A copy: a build in the same target folder during the run cannot change what
    // is measured. SWITCHBOARD_BIN measures another build (an older commit, say).
    let built = std::env::var_os("SWITCHBOARD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_switchboard")));
    let switchboard = work.join("switchboard");
    std::fs::copy(&built, &switchboard).with_context(|| format!("copying {}", built.display()))?;
    let bench = Bench {
        stack,
        work,
        switchboard,
        args,
    };
    note(&format!(
        "switchboard {}; mail stack in {} (IMAP {}, SMTP {}); files on {}",
        built.display(),
        bench.stack.dir.display(),
        bench.stack.imap_port,
        bench.stack.smtp_port,
        filesystem_of(&bench.stack.dir)
    ));
    // Rows are printed as each section ends: a failure late in the run keeps the rest.
    let mut rows = Rows;

    if bench.args.wants("intake") || bench.args.wants("send") || bench.args.wants("backlog") {
        let n = bench.args.messages;
        let corpus = generate(&bench, "full", n, &corpus::Options::default())?;
        rows.push(Row::new(
            format!(
                "backlog: {n} messages, {:.0} MB, {} with an attachment (100 KB–5 MB, log-uniform), {} GBK",
                corpus.bytes as f64 / 1e6,
                corpus.with_attachment,
                corpus.gbk
            ),
            "",
        ));
        let mut store = None;
        if bench.args.wants("intake") {
            let result =
                intake::compare(&bench, &corpus, n, bench.args.runs, bench.args.imapfilter)?;
            rows.extend(result.rows("1", "full mix"));
            store = result.last_store;
            rows.push(intake::pinned_threshold(&bench, &corpus, n)?);
        }
        let backlog = bench.args.only.iter().any(|s| s == "backlog")
            || (bench.args.wants("send") && bench.args.backlog_outbox);
        if bench.args.wants("send") || backlog {
            let store = match store {
                Some(s) => s,
                None => intake::one_store(&bench, &corpus, n)?,
            };
            if bench.args.wants("send") {
                rows.extend(sending::compare(&bench, &store)?);
            }
            if backlog {
                rows.extend(sending::backlog_outbox(&bench, &store)?);
            }
        }
        std::fs::remove_dir_all(bench.work.join("intake")).ok();
        std::fs::remove_dir_all(&corpus.dir).ok();
    }
    if bench.args.wants("latency") {
        rows.extend(latency::measure(&bench)?);
    }
    if bench.args.wants("scale") {
        let largest = bench.args.scale.iter().copied().max().unwrap_or(0);
        let text_only = corpus::Options {
            attachment_share: 0.0,
            ..corpus::Options::default()
        };
        let corpus = generate(&bench, "text", largest, &text_only)?;
        for &n in &bench.args.scale {
            let runs = if n >= 100_000 { 1 } else { bench.args.runs };
            // imapfilter on the 10,000-message text mailbox too (issue 19): the
            // simple tool an administrator would script, on ordinary mail.
            let with_imapfilter = bench.args.imapfilter && n == 10_000;
            let result = intake::compare(&bench, &corpus, n, runs, with_imapfilter)?;
            rows.extend(result.rows("6", "text only"));
            std::fs::remove_dir_all(bench.work.join("intake")).ok();
        }
    }
    if bench.args.wants("startup") {
        rows.extend(startup::measure(&bench)?);
    }
    Ok(())
}

/// Prints rows of the table as they come.
struct Rows;

impl Rows {
    fn push(&mut self, row: Row) {
        self.extend([row]);
    }

    fn extend(&mut self, rows: impl IntoIterator<Item = Row>) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for row in rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                row.item, row.ours, row.reference, row.ratio, row.target
            );
        }
        let _ = out.flush();
    }
}

fn generate(
    bench: &Bench,
    name: &str,
    n: usize,
    opts: &corpus::Options,
) -> Result<mailbox::Corpus> {
    let started = std::time::Instant::now();
    let dir = bench.work.join(format!("corpus-{name}"));
    let c = mailbox::Corpus::generate(&dir, bench.args.seed, n, opts)?;
    note(&format!(
        "corpus {name}: {n} messages, {:.0} MB, generated in {:.1} s",
        c.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    ));
    Ok(c)
}

/// Progress for the person waiting, on stderr.
pub fn note(text: &str) {
    eprintln!("[bench] {text}");
}

fn filesystem_of(path: &Path) -> String {
    std::process::Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(path)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "?".into())
}
