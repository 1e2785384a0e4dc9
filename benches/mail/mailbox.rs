//! The shared mailbox under test: the corpus written once as Maildir files, then
//! hard-linked into a fresh INBOX before every measured run, as if a local delivery
//! agent had just put it there (Dovecot never changes a Maildir file in place, so
//! the pristine copy survives every run). A short IMAP session then SELECTs the
//! folder, so that Dovecot's own first scan of the new files is not charged to the
//! first tool that reads them.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::corpus;
use crate::mailstack::MailStack;

pub const SUPPORT: &str = "support@example.com";
/// Debian's `mail` user and group, which Dovecot handles mail as (see the harness).
const MAIL_ID: u32 = 8;

/// A generated backlog on disk: one file per message, named as Dovecot names what it
/// delivers (with `S=` and `W=` sizes, so RFC822.SIZE needs no read of the file).
pub struct Corpus {
    pub dir: PathBuf,
    pub files: Vec<String>,
    pub bytes: u64,
    pub with_attachment: usize,
    pub gbk: usize,
}

impl Corpus {
    pub fn generate(dir: &Path, seed: u64, count: usize, opts: &corpus::Options) -> Result<Corpus> {
        std::fs::create_dir_all(dir)?;
        let mut files = Vec::with_capacity(count);
        let mut bytes = 0u64;
        let mut with_attachment = 0;
        let mut gbk = 0;
        for i in 0..count {
            let m = corpus::message(seed, i, opts);
            let size = m.raw.len();
            // Sorted by name = delivery order: the timestamp part grows with i.
            let name = format!(
                "{}.M{i:06}P1.bench,S={size},W={size}",
                1_790_000_000 + i as u64
            );
            let path = dir.join(&name);
            std::fs::write(&path, &m.raw).with_context(|| format!("writing {}", path.display()))?;
            std::os::unix::fs::chown(&path, Some(MAIL_ID), Some(MAIL_ID))?;
            bytes += size as u64;
            with_attachment += usize::from(m.attachment);
            let head = &m.raw[..m.raw.len().min(64 * 1024)];
            gbk += usize::from(contains(head, b"charset=\"GBK\""));
            files.push(name);
        }
        Ok(Corpus {
            dir: dir.to_path_buf(),
            files,
            bytes,
            with_attachment,
            gbk,
        })
    }

    /// Bytes of the first `n` messages.
    pub fn bytes_of(&self, n: usize) -> u64 {
        self.files
            .iter()
            .take(n)
            .map(|f| {
                f.rsplit_once("S=")
                    .and_then(|(_, s)| s.split(',').next())
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum()
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Empties `user`'s mailbox (every folder, Dovecot's index with it), puts the first
/// `n` corpus messages into INBOX/new, and lets Dovecot scan them.
pub fn fill(stack: &MailStack, user: &str, corpus: &Corpus, n: usize) -> Result<()> {
    let maildir = stack.maildir_path(user, "INBOX")?;
    reset(stack, user)?;
    for sub in ["cur", "new", "tmp"] {
        mkdir_mail(&maildir.join(sub))?;
    }
    let new = maildir.join("new");
    for name in corpus.files.iter().take(n) {
        std::fs::hard_link(corpus.dir.join(name), new.join(name))
            .with_context(|| format!("linking {name}"))?;
    }
    let count = select(stack.imap_port, user, "INBOX")?;
    if count != n {
        bail!("INBOX holds {count} messages after filling, expected {n}");
    }
    Ok(())
}

/// Removes every folder of `user` (the next login starts from nothing).
pub fn reset(stack: &MailStack, user: &str) -> Result<()> {
    let maildir = stack.maildir_path(user, "INBOX")?;
    if maildir.exists() {
        std::fs::remove_dir_all(&maildir)
            .with_context(|| format!("removing {}", maildir.display()))?;
    }
    mkdir_mail(&maildir)
}

/// Removes every mailbox but `keep`'s: what Postfix delivered in a sending run.
pub fn clear_others(stack: &MailStack, keep: &str) -> Result<()> {
    let mail = stack.dir.join("mail");
    let keep_dir = stack.maildir_path(keep, "INBOX")?;
    let keep_domain = keep_dir.parent().and_then(Path::parent);
    for domain in std::fs::read_dir(&mail)? {
        let domain = domain?.path();
        if Some(domain.as_path()) == keep_domain {
            for user in std::fs::read_dir(&domain)? {
                let user = user?.path();
                if Some(user.as_path()) != keep_dir.parent() {
                    std::fs::remove_dir_all(&user)?;
                }
            }
        } else {
            std::fs::remove_dir_all(&domain)?;
        }
    }
    Ok(())
}

/// Makes a folder (and its parents under the stack's mail folder) owned by `mail`.
fn mkdir_mail(dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut cur = dir.to_path_buf();
    while !cur.exists() {
        missing.push(cur.clone());
        if !cur.pop() {
            break;
        }
    }
    for d in missing.iter().rev() {
        std::fs::create_dir(d).with_context(|| format!("creating {}", d.display()))?;
        std::os::unix::fs::chown(d, Some(MAIL_ID), Some(MAIL_ID))?;
    }
    Ok(())
}

/// A blocking IMAP session of the simplest kind: enough to SELECT a folder and read
/// its message count, and to APPEND.
pub struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

impl Imap {
    pub fn login(port: u16, user: &str) -> Result<Imap> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(300)))?;
        stream.set_nodelay(true)?;
        let mut imap = Imap {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            tag: 0,
        };
        let mut greeting = String::new();
        imap.reader.read_line(&mut greeting)?;
        if !greeting.starts_with("* OK") {
            bail!("IMAP greeting: {greeting}");
        }
        imap.command(&format!("LOGIN \"{user}\" \"{}\"", MailStack::PASSWORD))?;
        Ok(imap)
    }

    /// Sends a command, returns the untagged lines; fails unless the result is OK.
    pub fn command(&mut self, command: &str) -> Result<Vec<String>> {
        self.tag += 1;
        let tag = format!("b{}", self.tag);
        write!(self.writer, "{tag} {command}\r\n")?;
        self.finish(&tag, command)
    }

    fn finish(&mut self, tag: &str, command: &str) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("IMAP connection closed during {command}");
            }
            if let Some(rest) = line.strip_prefix(tag) {
                if rest.trim_start().starts_with("OK") {
                    return Ok(lines);
                }
                bail!("IMAP {command}: {line}");
            }
            lines.push(line);
        }
    }

    pub fn append(&mut self, folder: &str, raw: &[u8]) -> Result<()> {
        self.tag += 1;
        let tag = format!("b{}", self.tag);
        write!(self.writer, "{tag} APPEND {folder} {{{}+}}\r\n", raw.len())?;
        self.writer.write_all(raw)?;
        self.writer.write_all(b"\r\n")?;
        self.finish(&tag, "APPEND").map(|_| ())
    }

    pub fn logout(mut self) {
        let _ = self.command("LOGOUT");
    }
}

/// SELECTs a folder and returns how many messages it holds.
pub fn select(port: u16, user: &str, folder: &str) -> Result<usize> {
    let mut imap = Imap::login(port, user)?;
    let lines = imap.command(&format!("SELECT \"{folder}\""))?;
    imap.logout();
    lines
        .iter()
        .find_map(|l| {
            l.strip_prefix("* ")
                .and_then(|r| r.trim_end().strip_suffix(" EXISTS"))
                .and_then(|n| n.parse().ok())
        })
        .context("SELECT gave no EXISTS")
}

/// How many messages a folder holds, 0 when it does not exist.
pub fn count(port: u16, user: &str, folder: &str) -> Result<usize> {
    let mut imap = Imap::login(port, user)?;
    let lines = imap.command(&format!("STATUS \"{folder}\" (MESSAGES)"));
    imap.logout();
    let Ok(lines) = lines else {
        return Ok(0);
    };
    Ok(lines
        .iter()
        .find_map(|l| {
            l.split("MESSAGES ")
                .nth(1)
                .and_then(|r| r.trim_end().trim_end_matches(')').parse().ok())
        })
        .unwrap_or(0))
}

/// Holds Postfix's delivery to Dovecot (`defer_transports = lmtp`), or releases it
/// and asks for the held mail to go. While a sender is measured, Postfix accepts and
/// queues but does not deliver: delivery over LMTP took about 60% of both cores while
/// mail came in, and which process the scheduler gave them to decided the rate more
/// than the sender did (three runs of the same build: 446–520 msg/s).
pub fn hold_delivery(stack: &MailStack, hold: bool) -> Result<()> {
    let pfc = stack.dir.join("pfc");
    let pfc = pfc.to_str().context("the Postfix config path")?;
    let setting = if hold {
        "defer_transports=lmtp"
    } else {
        "defer_transports="
    };
    postfix_tool("/usr/sbin/postconf", &["-c", pfc, "-e", setting])?;
    postfix_tool("/usr/sbin/postfix", &["-c", pfc, "reload"])?;
    if !hold {
        postfix_tool("/usr/sbin/postfix", &["-c", pfc, "flush"])?;
    }
    // The queue manager restarts with the new setting; a moment for it to do so.
    std::thread::sleep(Duration::from_secs(1));
    Ok(())
}

fn postfix_tool(program: &str, args: &[&str]) -> Result<()> {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Waits until Postfix's queue is empty (everything handed to Dovecot), so that one
/// measurement does not pay for the delivery work of the one before.
pub fn wait_postfix_idle(stack: &MailStack, timeout: Duration) -> Result<()> {
    let queue = stack.dir.join("pf/queue");
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut files = 0usize;
        for q in ["maildrop", "incoming", "active", "deferred"] {
            files += count_files(&queue.join(q));
        }
        if files == 0 {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("Postfix still has {files} queue file(s) after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { count_files(&p) } else { 1 }
        })
        .sum()
}
