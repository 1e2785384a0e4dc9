//! A Switchboard configured against a private [`MailStack`]: writes the config into a
//! temporary folder, runs the real binary, and reads back the store and mailboxes.
//!
//! Include after the mail stack:
//! `#[path = "harness/mailstack.rs"] mod mailstack;`
//! `#[path = "harness/fixture.rs"] mod fixture;`
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::mailstack::MailStack;

pub const SUPPORT: &str = "support@example.com";

/// Level 2 of every escalation ladder in the fixture's config.
pub const GENERAL_MANAGER: &str = "general-manager@example.com";

/// Where the fixture's alerts go.
pub const ADMIN: &str = "it-admin@example.com";

/// Department ids as the shipped rules use them; each at `<id>@example.com`.
pub const DEPARTMENTS: &[(&str, &str)] = &[
    ("customer-service", "客服部 Customer Service"),
    ("logistics", "物流部 Logistics"),
    ("production", "生产部 Production"),
    ("quality", "质量部 Quality"),
    ("procurement", "采购部 Procurement"),
    ("sales", "销售部 Sales"),
    ("marketing", "市场部 Marketing"),
    ("design", "设计部 Design"),
    ("rnd", "研发部 R&D"),
    ("finance", "财务部 Finance"),
    ("admin", "行政部 Administration"),
    ("legal", "法务部 Legal"),
];

pub struct Fixture {
    pub stack: MailStack,
    pub dir: PathBuf,
    pub config: PathBuf,
}

impl Fixture {
    pub fn start() -> Result<Fixture> {
        Fixture::on(MailStack::start()?)
    }

    /// Switchboard on a given stack, over plaintext loopback; `edit_config` changes that.
    pub fn on(stack: MailStack) -> Result<Fixture> {
        let dir = stack.dir.join("switchboard");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("imap.secret"),
            format!("{}\n", MailStack::PASSWORD),
        )?;
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut departments = String::new();
        for (id, name) in DEPARTMENTS {
            departments.push_str(&format!(
                "\n[[department]]\nid = \"{id}\"\nname = \"{name}\"\naddress = \"{id}@example.com\"\nmanagers = [\"{id}-head@example.com\"]\nmembers = [\"{id}-staff@example.com\"]\n"
            ));
        }
        let config = format!(
            r#"
[mailbox]
kind = "imap"
host = "127.0.0.1"
port = {imap}
tls = "none"
username = "{SUPPORT}"
password_file = "imap.secret"
folder = "INBOX"
processed_folder = "Switchboard/Processed"
quarantine_folder = "Switchboard/Quarantine"
poll_interval = "1s"
batch_size = 25

[smtp]
kind = "smtp"
host = "127.0.0.1"
port = {smtp}
tls = "none"
from = "客户服务部 Customer Service <{SUPPORT}>"

[store]
path = "state/switchboard.db"

[intake]
rules = "{rules}"
templates = "{templates}"
triage_department = "customer-service"
internal_domains = ["example.com"]
vip_customers = ["bigclient.com"]
max_message_bytes = 1048576
max_acks_per_sender_per_hour = 5

[calendar]
timezone = "Asia/Shanghai"
holidays = ["{calendar}"]

[sla]
escalation_contacts = ["{GENERAL_MANAGER}"]

[alerts]
to = ["{ADMIN}"]
{departments}"#,
            imap = stack.imap_port,
            smtp = stack.smtp_port,
            rules = repo.join("rules").display(),
            templates = repo.join("templates").display(),
            calendar = repo.join("calendars/cn-2026.toml").display(),
        );
        let config_path = dir.join("switchboard.toml");
        std::fs::write(&config_path, config)?;
        Ok(Fixture {
            stack,
            dir,
            config: config_path,
        })
    }

    /// Rewrites the config file, e.g. to read another folder.
    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) -> Result<()> {
        let text = std::fs::read_to_string(&self.config)?;
        std::fs::write(&self.config, edit(text))?;
        Ok(())
    }

    /// Gives this fixture its own copy of the shipped rules, to edit, and points the
    /// config at it; returns the folder.
    pub fn own_rules(&self) -> Result<PathBuf> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let rules = self.dir.join("rules");
        std::fs::create_dir_all(&rules)?;
        for entry in std::fs::read_dir(&repo)? {
            let entry = entry?;
            std::fs::copy(entry.path(), rules.join(entry.file_name()))?;
        }
        self.edit_config(|c| {
            c.replace(
                &format!("rules = \"{}\"", repo.display()),
                "rules = \"rules\"",
            )
        })?;
        Ok(rules)
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.env("SWITCHBOARD_LOG", "info");
        cmd
    }

    /// `switchboard run` in the background; `configure` may add environment variables.
    pub fn spawn_daemon(&self, configure: impl FnOnce(&mut Command)) -> Result<Daemon> {
        let n = std::fs::read_dir(&self.dir)?.count();
        let log = self.dir.join(format!("daemon-{n}.log"));
        let mut cmd = self.command();
        cmd.args(["run", "--config"])
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        configure(&mut cmd);
        let child = cmd.spawn().context("Cannot start switchboard run")?;
        Ok(Daemon { child, log })
    }

    /// `switchboard run --once` in the background, its output discarded: for tests
    /// that kill it or watch it while it works.
    pub fn spawn_once(&self) -> Result<Child> {
        self.command()
            .args(["run", "--once", "--config"])
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("Cannot start switchboard run --once")
    }

    /// `switchboard run --once`, which must succeed within `limit`, with its peak
    /// resident memory (VmHWM, sampled from /proc while it runs) in bytes and the
    /// time it took.
    pub fn run_once_measuring(&self, limit: Duration) -> Result<(u64, Duration)> {
        let start = Instant::now();
        let mut child = self.spawn_once()?;
        let status_file = format!("/proc/{}/status", child.id());
        let mut peak_kb = 0u64;
        loop {
            if let Ok(status) = std::fs::read_to_string(&status_file)
                && let Some(kb) = status
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!("run --once failed: {status}");
                }
                return Ok((peak_kb * 1024, start.elapsed()));
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                bail!("run --once took over {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `switchboard run --once`, which must succeed.
    pub fn run_once(&self) -> Result<Output> {
        let out = self
            .command()
            .args(["run", "--once", "--config"])
            .arg(&self.config)
            .output()?;
        if !out.status.success() {
            bail!(
                "run --once failed with {}:\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }

    /// `switchboard run --once --now TIME`: the daemon at that moment (RFC 3339).
    pub fn run_at(&self, now: &str) -> Result<Output> {
        let out = self
            .command()
            .args(["run", "--once", "--now", now, "--config"])
            .arg(&self.config)
            .output()?;
        if !out.status.success() {
            bail!(
                "run --once --now {now} failed with {}:\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }

    /// `switchboard cases show CASE --json`, judged at `now`.
    pub fn show(&self, case: &str, now: &str) -> Result<serde_json::Value> {
        let out = self
            .command()
            .args(["cases", "show", case, "--json", "--now", now, "--config"])
            .arg(&self.config)
            .output()?;
        if !out.status.success() {
            bail!(
                "cases show failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        serde_json::from_slice(&out.stdout).context("cases show --json printed no JSON")
    }

    /// Every case, as `switchboard cases --json` prints it.
    pub fn cases(&self) -> Result<Vec<serde_json::Value>> {
        let out = self
            .command()
            .args(["cases", "--json", "--config"])
            .arg(&self.config)
            .output()?;
        if !out.status.success() {
            bail!("cases failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        String::from_utf8(out.stdout)?
            .lines()
            .map(|l| {
                serde_json::from_str(l).context("cases --json printed a line that is not JSON")
            })
            .collect()
    }

    /// Every message taken in (and every duplicate), as `switchboard messages --json`
    /// prints them: the accounting that tests check "nothing lost" with.
    pub fn ledger(&self) -> Result<Vec<serde_json::Value>> {
        let out = self
            .command()
            .args(["messages", "--json", "--config"])
            .arg(&self.config)
            .output()?;
        if !out.status.success() {
            bail!("messages failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        String::from_utf8(out.stdout)?
            .lines()
            .map(|l| {
                serde_json::from_str(l).context("messages --json printed a line that is not JSON")
            })
            .collect()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.join("state/switchboard.db")
    }

    /// Count rows with a read-only connection to the daemon's store.
    pub fn count(&self, sql: &str) -> Result<i64> {
        let conn = rusqlite::Connection::open_with_flags(
            self.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn.query_row(sql, [], |r| r.get(0))?)
    }

    /// Puts a message into the shared mailbox.
    pub fn deliver(&self, raw: &[u8]) -> Result<()> {
        self.stack.append(SUPPORT, "INBOX", raw)
    }

    /// Puts many messages into the shared mailbox at once: the first by IMAP APPEND
    /// (which creates the Maildir), the rest as files in its `new/`, as a local
    /// delivery agent would — one APPEND each would take a minute for a backlog.
    pub fn deliver_bulk(&self, raws: &[Vec<u8>]) -> Result<()> {
        let new = self.stack.maildir_path(SUPPORT, "INBOX")?.join("new");
        let rest = if new.is_dir() {
            raws
        } else {
            // The first through Dovecot, which creates the Maildir.
            let Some((first, rest)) = raws.split_first() else {
                return Ok(());
            };
            self.deliver(first)?;
            rest
        };
        let tmp = new.with_file_name("tmp");
        // Unique across calls, as a delivery agent's names are.
        static DELIVERED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        for raw in rest {
            let i = DELIVERED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("{}.bulk{i:06}.switchboard-test", 1_700_000_000 + i);
            std::fs::write(tmp.join(&name), raw)?;
            // Dovecot handles mail as the `mail` user (uid/gid 8), see the harness.
            std::os::unix::fs::chown(tmp.join(&name), Some(8), Some(8))?;
            std::fs::rename(tmp.join(&name), new.join(&name))?;
        }
        Ok(())
    }

    pub fn mailbox(&self, user: &str) -> Result<Vec<Vec<u8>>> {
        self.stack.messages(user, "INBOX")
    }

    /// Waits until nothing more is on its way: the outbox holds no mail still to be
    /// sent, and Postfix has delivered everything it accepted. A test that asserts
    /// that something did *not* arrive (a second acknowledgement) calls this first,
    /// instead of sleeping for a time that a slow machine may exceed.
    /// With a daemon running, the outbox is watched until it has drained.
    pub fn settle(&self) -> Result<()> {
        let limit = std::time::Duration::from_secs(120);
        let deadline = std::time::Instant::now() + limit;
        loop {
            let waiting = self
                .count("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")?;
            if waiting == 0 {
                break;
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "{waiting} outgoing mail(s) still waiting in the outbox after {limit:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.stack.wait_until_delivered(limit)
    }
}

/// A plain UTF-8 message with the given headers (From, Subject, Message-ID …) and body.
pub fn mail(
    from: &str,
    subject: &str,
    message_id: &str,
    extra_headers: &str,
    body: &str,
) -> Vec<u8> {
    let subject = encode_word(subject);
    format!(
        "From: {from}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nDate: Thu, 26 Nov 2026 09:12:00 +0800\r\nMessage-ID: <{message_id}>\r\n{extra_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// RFC 2047 B-encoding for non-ASCII subjects.
pub fn encode_word(text: &str) -> String {
    if text.is_ascii() {
        text.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", base64(text.as_bytes()))
    }
}

pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// The decoded subjects of raw messages.
pub fn subjects(messages: &[Vec<u8>]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| switchboard::message::Message::parse(m).ok())
        .map(|m| m.subject)
        .collect()
}

/// A `switchboard run` started by [`Fixture::spawn_daemon`]. Its log goes to a file,
/// never to a pipe: a pipe that nobody reads fills at 64 KB, and the daemon's next
/// log line then blocks the thread that writes it — which once looked exactly like a
/// daemon that stalls and ignores SIGTERM after a few hundred messages.
pub struct Daemon {
    pub child: Child,
    log: PathBuf,
}

impl Daemon {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and returns the log once the daemon has exited; panics, with the
    /// log, when it has not exited within 10 s, or exited with an error.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        let log = self.log();
        match status {
            Some(s) if s.success() => log,
            Some(s) => panic!("switchboard run exited with {s} after SIGTERM; the log:\n{log}"),
            None => panic!("no exit within 10 s of SIGTERM; the log:\n{log}"),
        }
    }

    /// Ends the daemon with SIGKILL, as a crash would.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }
}
