//! A private, real mail system for integration tests: Dovecot 2.3 (IMAP and
//! LMTP) and Postfix 3.7 (SMTP), both on loopback ports only, started from a
//! fresh folder `/tmp/sbms-<pid>-<n>` and torn down (processes killed, folder
//! removed) when the [`MailStack`] is dropped.
//!
//! Include it from a test file with
//! `#[path = "harness/mailstack.rs"] mod mailstack;`.
//!
//! Needs root and the Debian packages `dovecot-imapd dovecot-lmtpd postfix`:
//! run `scripts/install-test-deps.sh` (as root). [`MailStack::start`] fails
//! with an error saying so when they are missing; it never skips.
//!
//! # What the stack accepts
//! - Every address at every domain is a mailbox: Postfix treats every domain
//!   as a virtual mailbox domain, accepts every recipient and hands all mail
//!   to Dovecot over LMTP (`lmtp:inet:127.0.0.1:<lmtp_port>`). Nothing can be
//!   relayed off the machine: the local, relay and default transports are
//!   `error:`.
//! - But two: Postfix refuses every recipient at [`REFUSED_DOMAIN`] with
//!   `550 5.1.1` and at [`DEFERRED_DOMAIN`] with `450 4.2.0`, at RCPT time
//!   (`check_recipient_access inline:{…}`), for tests of SMTP failures.
//! - Every user logs into IMAP with the password [`MailStack::PASSWORD`].
//!   User names are full addresses (`support@example.com`), case-insensitive
//!   (Dovecot lowercases them).
//! - Subaddresses (`support+token@example.com`) are delivered to the INBOX of
//!   `support@example.com` (`recipient_delimiter = +` in both servers).
//! - `smtputf8_enable = no`. Postfix does not rewrite the headers of mail
//!   submitted here (`local_header_rewrite_clients` is empty), but Postfix
//!   and Dovecot prepend `Return-Path`, `Delivered-To` and `Received` headers
//!   as real servers do: a delivered message *ends with* what was sent (with
//!   CRLF line endings).
//!
//! # Mailbox layout
//! Maildir with `LAYOUT=fs` and hierarchy separator `/`, one home per user:
//! `<dir>/mail/<domain>/<localpart>/Maildir` (lowercase). INBOX is that
//! Maildir itself; a folder `Switchboard/Processed` is
//! `…/Maildir/Switchboard/Processed`, with dots allowed in folder names.
//! (The one thing this layout cannot hold is a top-level folder named `cur`,
//! `new` or `tmp`.) Folder names given to these helpers must be ASCII: write
//! a Unicode folder in modified UTF-7 (`&W6JnDQ-/&XfJZBHQG-`). [`DovecotOptions`]
//! changes the separator, the capabilities and other settings.
//! Dovecot stores messages with CRLF line endings (`mail_save_crlf = yes`),
//! so the files read by [`MailStack::messages`] hold exactly the bytes an
//! IMAP `FETCH BODY[]` returns.
//!
//! # Processes
//! Dovecot runs in the foreground (`dovecot -F`) as a child in its own
//! process group; Postfix's master daemonizes (`postfix start`) into its own
//! session. Stopping sends SIGTERM to the master and waits until it and its
//! whole process group are gone and the ports refuse connections (Postfix
//! stops in ~20 ms; Dovecot's master always lingers ~1 s for its log
//! process). Drop stops Postfix the same way but SIGKILLs Dovecot's process
//! group at once, since its folder is removed anyway: ~20 ms in all. Folders
//! left behind by a test process that died without running Drop are cleaned
//! up (their processes killed) by the next `start`. Set `MAILSTACK_KEEP=1` to
//! keep the folder (configs, logs, Maildirs) after Drop for inspection.
//!
//! # TLS
//! [`MailStack::start_tls`] starts the same stack and also makes a fresh
//! private CA and a server certificate signed by it (EC P-256, SANs
//! `DNS:localhost` and `IP:127.0.0.1`, valid a week) in the stack's folder.
//! Trust the CA at [`MailStack::ca_pem`]: rustls refuses a self-signed
//! server certificate used as its own trust anchor, hence the CA. Then
//! Dovecot also serves IMAPS (implicit TLS) on [`MailStack::imaps_port`] and
//! offers STARTTLS on `imap_port`; Postfix offers STARTTLS on `smtp_port` and
//! serves SMTPS (implicit TLS, "wrapper mode") on [`MailStack::smtps_port`].
//! Plaintext logins and mail stay allowed on the plain ports
//! (`disable_plaintext_auth = no`, `ssl = yes` rather than `required`,
//! `smtpd_tls_security_level = may`). Making the certificates costs two
//! `openssl` runs, ~20 ms. [`MailStack::start`] has no TLS at all (`ssl = no`).
//!
//! # OAuth2
//! With [`DovecotOptions::oauth2_introspection`] set (an RFC 7662 introspection URL
//! with the introspecting client's credentials in it, tests/harness/oidc.rs), Dovecot
//! also takes `AUTHENTICATE XOAUTH2` and `OAUTHBEARER`, validating each token with
//! `passdb { driver = oauth2 }` (part of dovecot-core in Debian 12's 2.3.19; there is
//! no separate package) against that server; the password keeps working for PLAIN
//! and LOGIN. Postfix then also listens on [`MailStack::submission_port`], where AUTH
//! is required and checked by Dovecot over its SASL socket (`smtpd_sasl_type =
//! dovecot`), so EHLO lists `AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER`.
//!
//! Dovecot's mailbox list index is off: with it, a first LMTP delivery
//! racing an IMAP CREATE on a fresh mailbox makes Dovecot 2.3 panic
//! (EDEADLK on `dovecot.list.index.log`).
#![allow(dead_code)]

use anyhow::{Context, Result, anyhow, bail};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
const TMP_ROOT: &str = "/tmp";
const DIR_PREFIX: &str = "sbms-";
const INSTALL_HINT: &str = "run `scripts/install-test-deps.sh` as root to install dovecot-imapd, dovecot-lmtpd and postfix";
const START_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(10);

/// Postfix refuses every recipient at this domain for good: `550 5.1.1` at RCPT.
pub const REFUSED_DOMAIN: &str = "refused.example";
/// Postfix refuses every recipient at this domain for now: `450 4.2.0` at RCPT.
pub const DEFERRED_DOMAIN: &str = "deferred.example";

/// Ports handed out by this process and not yet released, so that parallel
/// stacks in one test binary never pick the same port.
static USED_PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
static DIR_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running private Dovecot + Postfix pair. See the module documentation.
pub struct MailStack {
    /// The folder holding configs, queues, logs and mail (`/tmp/sbms-…`).
    pub dir: PathBuf,
    /// Dovecot IMAP on 127.0.0.1: plaintext, plus STARTTLS with
    /// [`MailStack::start_tls`].
    pub imap_port: u16,
    /// Postfix SMTP (no AUTH) on 127.0.0.1: plaintext, plus STARTTLS with
    /// [`MailStack::start_tls`].
    pub smtp_port: u16,
    /// Dovecot LMTP on 127.0.0.1 (Postfix delivers here).
    pub lmtp_port: u16,
    /// Postfix SMTP with AUTH required (checked by Dovecot), in the OAuth2 mode only.
    pub submission_port: Option<u16>,
    bins: Binaries,
    dovecot: Mutex<Option<Child>>,
    /// Pid of Postfix's master daemon, which is also its process group.
    postfix_master: Mutex<Option<i32>>,
    postfix_started_once: AtomicBool,
    /// Set by [`MailStack::start_tls`].
    tls: Option<Tls>,
    /// Set by [`MailStack::start_with_dovecot`].
    dovecot_options: DovecotOptions,
}

/// Changes to Dovecot's config, so that tests can meet the habits of other
/// servers: another hierarchy separator, fewer capabilities, the ID log.
#[derive(Clone, Debug, Default)]
pub struct DovecotOptions {
    /// The inbox namespace's hierarchy separator; `/` when `None`.
    pub separator: Option<char>,
    /// Settings appended to dovecot.conf, e.g. `imap_id_log = *` or an
    /// `imap_capability = …` that leaves out IDLE, MOVE or ID.
    pub extra: String,
    /// The OAuth2 mode (see the module documentation): the introspection URL that
    /// Dovecot posts each token to, with `client:secret@` in it.
    pub oauth2_introspection: Option<String>,
    /// The introspection answer's field that must equal the login name: `sub` when
    /// `None` (a person's token); `client_id` for client-credentials tokens.
    pub oauth2_username_attribute: Option<String>,
}

/// What [`MailStack::start_tls`] adds.
#[derive(Clone, Debug)]
struct Tls {
    ca_pem: PathBuf,
    imaps_port: u16,
    smtps_port: u16,
}

impl MailStack {
    /// The password of every IMAP user.
    pub const PASSWORD: &'static str = "mailstack-secret";

    /// Starts Dovecot and Postfix in a new folder on free loopback ports and
    /// waits until IMAP, LMTP and SMTP answer.
    pub fn start() -> Result<MailStack> {
        Self::start_with(false, DovecotOptions::default())
    }

    /// Like [`MailStack::start`], with Dovecot's config changed by `options`.
    pub fn start_with_dovecot(options: DovecotOptions) -> Result<MailStack> {
        Self::start_with(false, options)
    }

    /// Like [`MailStack::start`], and also: a fresh private CA (in the
    /// stack's folder) and a server certificate signed by it (SAN
    /// `DNS:localhost`, `IP:127.0.0.1`); Dovecot additionally serves IMAPS
    /// (implicit TLS) on [`MailStack::imaps_port`] and allows STARTTLS on the
    /// plain IMAP port; Postfix offers STARTTLS on `smtp_port` and serves
    /// SMTPS (implicit TLS, "wrapper mode") on [`MailStack::smtps_port`].
    /// Plaintext keeps working on the plain ports. Needs `openssl` (the CLI).
    pub fn start_tls() -> Result<MailStack> {
        Self::start_with(true, DovecotOptions::default())
    }

    /// The CA certificate (PEM) that signed the servers' certificate: what a
    /// client must trust. `None` for a stack made by [`MailStack::start`].
    pub fn ca_pem(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|t| t.ca_pem.clone())
    }

    /// Dovecot IMAPS (implicit TLS) on 127.0.0.1; `None` without TLS.
    pub fn imaps_port(&self) -> Option<u16> {
        self.tls.as_ref().map(|t| t.imaps_port)
    }

    /// Postfix SMTPS (implicit TLS, no AUTH) on 127.0.0.1; `None` without
    /// TLS.
    pub fn smtps_port(&self) -> Option<u16> {
        self.tls.as_ref().map(|t| t.smtps_port)
    }

    fn start_with(tls: bool, options: DovecotOptions) -> Result<MailStack> {
        let bins = Binaries::find()?;
        sweep_stale_dirs();
        let mut errors = Vec::new();
        for _attempt in 0..3 {
            match Self::start_once(bins.clone(), tls, options.clone()) {
                Ok(stack) => return Ok(stack),
                // A port taken by someone else between choosing and binding
                // it is the usual reason; try again with fresh ports.
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        bail!(
            "MailStack::{} failed 3 times:\n{}",
            if tls { "start_tls" } else { "start" },
            errors.join("\n---\n")
        )
    }

    fn start_once(bins: Binaries, tls: bool, dovecot_options: DovecotOptions) -> Result<MailStack> {
        let dir = create_stack_dir()?;
        let oauth2 = dovecot_options.oauth2_introspection.is_some();
        let ports = (|| -> Result<[u16; 6]> {
            // IMAPS and SMTPS only with TLS, the submission port only for OAuth2.
            let mut ports = [0; 6];
            for (i, port) in ports.iter_mut().enumerate() {
                if i < 3 || (i < 5 && tls) || (i == 5 && oauth2) {
                    *port = pick_port()?;
                }
            }
            Ok(ports)
        })();
        let [
            imap_port,
            smtp_port,
            lmtp_port,
            imaps_port,
            smtps_port,
            submission_port,
        ] = match ports {
            Ok(p) => p,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let tls = tls.then(|| Tls {
            ca_pem: dir.join("tls/ca.pem"),
            imaps_port,
            smtps_port,
        });
        // From here on, Drop cleans up whatever fails.
        let stack = MailStack {
            dir,
            imap_port,
            smtp_port,
            lmtp_port,
            submission_port: oauth2.then_some(submission_port),
            bins,
            dovecot: Mutex::new(None),
            postfix_master: Mutex::new(None),
            postfix_started_once: AtomicBool::new(false),
            tls,
            dovecot_options,
        };
        if stack.tls.is_some() {
            stack.make_certificates()?;
        }
        stack.write_configs()?;
        stack.start_dovecot()?;
        stack.start_postfix()?;
        Ok(stack)
    }

    /// Puts `raw` into `user`'s `folder` by IMAP APPEND (creating the folder
    /// when needed), so Dovecot has given it a UID when this returns.
    pub fn append(&self, user: &str, folder: &str, raw: &[u8]) -> Result<()> {
        self.append_inner(user, folder, raw).with_context(|| {
            format!(
                "MailStack::append to {user} {folder:?}\n{}",
                self.logs_tail(20)
            )
        })
    }

    fn append_inner(&self, user: &str, folder: &str, raw: &[u8]) -> Result<()> {
        let mut imap = Imap::connect(self.imap_port)?;
        imap.login(user, Self::PASSWORD)?;
        if !folder.eq_ignore_ascii_case("INBOX") {
            let (status, text) = imap.command(&format!("CREATE {}", imap_quote(folder)?))?;
            if status != "OK" && !text.contains("ALREADYEXISTS") {
                bail!("IMAP CREATE {folder:?} for {user}: {text}");
            }
        }
        imap.append(folder, raw)?;
        let _ = imap.command("LOGOUT");
        Ok(())
    }

    /// Raw bytes of every message now in `user`'s `folder` ("INBOX" or e.g.
    /// "Switchboard/Processed"), read from the Maildir files, in UID order
    /// (messages Dovecot has not numbered yet come last, oldest first).
    /// Empty when the user or folder does not exist yet.
    pub fn messages(&self, user: &str, folder: &str) -> Result<Vec<Vec<u8>>> {
        let maildir = self.maildir_path(user, folder)?;
        let mut last_err = None;
        // Dovecot renames files (new/ to cur/, flag changes) while we read:
        // a vanished file means the listing is stale, so list again.
        for _ in 0..20 {
            match read_maildir(&maildir) {
                Ok(messages) => return Ok(messages),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    last_err = Some(e);
                    sleep(POLL);
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("reading {}", maildir.display()));
                }
            }
        }
        Err(anyhow!(
            "Maildir {} kept changing while being read: {last_err:?}",
            maildir.display()
        ))
    }

    /// Polls [`Self::messages`] until there are at least `count` messages;
    /// on timeout, the error lists what was there and the mail logs.
    pub fn wait_for_messages(
        &self,
        user: &str,
        folder: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages(user, folder)?;
            if messages.len() >= count {
                return Ok(messages);
            }
            if Instant::now() >= deadline {
                let mut seen = String::new();
                for (i, m) in messages.iter().enumerate() {
                    let _ = writeln!(seen, "  #{}: {}", i + 1, summary(m));
                }
                bail!(
                    "timed out after {timeout:?} waiting for {count} message(s) in {user} {folder:?} ({}); saw {}:\n{seen}{}",
                    self.maildir_path(user, folder)?.display(),
                    messages.len(),
                    self.logs_tail(20)
                );
            }
            sleep(Duration::from_millis(25));
        }
    }

    /// Waits until Postfix holds no mail (maildrop, incoming, active, deferred
    /// and hold queues empty): everything it accepted is then in a Maildir, since
    /// Postfix removes a queue file only after LMTP answered for every recipient.
    /// This is how a test knows that nothing more is on its way, instead of
    /// sleeping "long enough". `timeout` only guards against a stuck queue.
    pub fn wait_until_delivered(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let queue = self.dir.join("pf/queue");
        for round in 0u32.. {
            let mut held = 0usize;
            for name in ["maildrop", "incoming", "active", "deferred", "hold"] {
                held += count_files(&queue.join(name))?;
            }
            if held == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "Postfix still holds {held} message(s) after {timeout:?}\n{}",
                    self.logs_tail(20)
                );
            }
            // Deferred mail (Dovecot was down) waits for a queue run; ask for
            // one now and then rather than spawning postfix every poll.
            if round % 40 == 0 {
                self.flush_postfix_queue();
            }
            sleep(Duration::from_millis(25));
        }
        Ok(())
    }

    /// Submits one message to the stack's Postfix over SMTP. `raw` may use
    /// LF or CRLF line endings; it is sent with CRLF and dot-stuffed.
    pub fn send(&self, envelope_from: &str, rcpt: &[&str], raw: &[u8]) -> Result<()> {
        self.send_inner(envelope_from, rcpt, raw).with_context(|| {
            format!(
                "MailStack::send from {envelope_from} to {rcpt:?}\n{}",
                self.logs_tail(20)
            )
        })
    }

    fn send_inner(&self, envelope_from: &str, rcpt: &[&str], raw: &[u8]) -> Result<()> {
        if rcpt.is_empty() {
            bail!("send: no recipients");
        }
        let mut smtp = Smtp::connect(self.smtp_port)?;
        smtp.expect(220, "greeting")?;
        smtp.command("EHLO mailstack-client", 250)?;
        smtp.command(&format!("MAIL FROM:<{envelope_from}>"), 250)?;
        for r in rcpt {
            smtp.command(&format!("RCPT TO:<{r}>"), 250)?;
        }
        smtp.command("DATA", 354)?;
        smtp.write_all(&smtp_data(raw))?;
        smtp.expect(250, "end of DATA")?;
        let _ = smtp.command("QUIT", 221);
        Ok(())
    }

    /// Stops Postfix; its SMTP port refuses connections when this returns.
    /// Queued mail stays queued. Does nothing if already stopped.
    pub fn stop_postfix(&self) -> Result<()> {
        let mut master = lock(&self.postfix_master);
        if let Some(pid) = *master {
            terminate_group(pid, STOP_TIMEOUT, || pid_alive(pid)).context("stopping Postfix")?;
            *master = None;
        }
        drop(master);
        wait_refused(self.smtp_port, STOP_TIMEOUT).context("Postfix SMTP port after stop")?;
        match self.smtps_port() {
            Some(port) => wait_refused(port, STOP_TIMEOUT).context("Postfix SMTPS port after stop"),
            None => Ok(()),
        }
    }

    /// Starts Postfix again on the same port (or for the first time) and
    /// asks it to deliver queued mail at once.
    pub fn start_postfix(&self) -> Result<()> {
        let mut master = lock(&self.postfix_master);
        if master.is_some() {
            return Ok(());
        }
        let queue = self.dir.join("pf/queue");
        // The queue folders are made by write_configs; `quick-start` makes
        // postfix-script skip its integrity checks, which cost ~0.4 s.
        fs::write(queue.join("quick-start"), b"")?;
        let out = Command::new(&self.bins.postfix)
            .arg("-c")
            .arg(self.dir.join("pfc"))
            .arg("start")
            .stdin(Stdio::null())
            .output()
            .context("running postfix start")?;
        if !out.status.success() {
            bail!(
                "`postfix start` failed ({}): {}{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.logs_tail(30)
            );
        }
        let pid_file = queue.join("pid/master.pid");
        let pid: i32 = fs::read_to_string(&pid_file)
            .with_context(|| format!("reading {}", pid_file.display()))?
            .trim()
            .parse()
            .with_context(|| format!("parsing {}", pid_file.display()))?;
        *master = Some(pid);
        drop(master);
        let deadline = Instant::now() + START_TIMEOUT;
        for port in std::iter::once(self.smtp_port).chain(self.submission_port) {
            while greeting(port, b"220").is_err() {
                if !pid_alive(pid) || Instant::now() >= deadline {
                    bail!(
                        "Postfix did not answer on port {port}\n{}",
                        self.logs_tail(30)
                    );
                }
                sleep(POLL);
            }
        }
        if self.postfix_started_once.swap(true, Ordering::Relaxed) {
            self.flush_postfix_queue();
        }
        Ok(())
    }

    /// Stops Dovecot (IMAP and LMTP); both ports refuse connections when this
    /// returns. Postfix keeps mail for it queued. Does nothing if stopped.
    pub fn stop_dovecot(&self) -> Result<()> {
        let mut guard = lock(&self.dovecot);
        if let Some(mut child) = guard.take() {
            let pid = i32::try_from(child.id()).context("pid out of range")?;
            let result =
                terminate_group(pid, STOP_TIMEOUT, || matches!(child.try_wait(), Ok(None)));
            let _ = child.wait();
            result.context("stopping Dovecot")?;
        }
        drop(guard);
        wait_refused(self.imap_port, STOP_TIMEOUT).context("Dovecot IMAP port after stop")?;
        wait_refused(self.lmtp_port, STOP_TIMEOUT).context("Dovecot LMTP port after stop")?;
        match self.imaps_port() {
            Some(port) => wait_refused(port, STOP_TIMEOUT).context("Dovecot IMAPS port after stop"),
            None => Ok(()),
        }
    }

    /// Starts Dovecot again on the same ports (or for the first time); if
    /// Postfix runs, it is asked to deliver what it queued meanwhile.
    pub fn start_dovecot(&self) -> Result<()> {
        let mut guard = lock(&self.dovecot);
        if guard.is_some() {
            return Ok(());
        }
        let out = fs::File::create(self.dir.join("dovecot.stderr"))?;
        let child = Command::new(&self.bins.dovecot)
            .arg("-F")
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .context("spawning dovecot")?;
        *guard = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = guard.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                *guard = None;
                bail!("dovecot exited at start ({status})\n{}", self.logs_tail(30));
            }
            if greeting(self.imap_port, b"* OK").is_ok() && greeting(self.lmtp_port, b"220").is_ok()
            {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "Dovecot did not answer on ports {}/{}\n{}",
                    self.imap_port,
                    self.lmtp_port,
                    self.logs_tail(30)
                );
            }
            sleep(POLL);
        }
        drop(guard);
        if lock(&self.postfix_master).is_some() {
            self.flush_postfix_queue();
        }
        Ok(())
    }

    /// The Maildir folder holding `user`'s `folder` (which need not exist).
    pub fn maildir_path(&self, user: &str, folder: &str) -> Result<PathBuf> {
        let user = user.to_lowercase();
        let (local, domain) = user.rsplit_once('@').unwrap_or((user.as_str(), ""));
        for part in [local, domain] {
            if part.contains('/') || part == "." || part == ".." {
                bail!("unsupported user name {user:?}");
            }
        }
        if local.is_empty() {
            bail!("empty user name");
        }
        let mut path = self.dir.join("mail");
        if !domain.is_empty() {
            path.push(domain);
        }
        path.push(local);
        path.push("Maildir");
        if !folder.eq_ignore_ascii_case("INBOX") {
            for part in folder.split('/') {
                if part.is_empty() || part == "." || part == ".." {
                    bail!("unsupported folder name {folder:?}");
                }
                path.push(part);
            }
        }
        Ok(path)
    }

    /// Logs `user` in over IMAP and runs `commands` (raw, with names already
    /// in modified UTF-7); returns every line the server answered, untagged
    /// and tagged. Fails when a command is not answered OK.
    pub fn imap_lines(&self, user: &str, commands: &[&str]) -> Result<Vec<String>> {
        let mut imap = Imap::connect(self.imap_port)?;
        imap.login(user, Self::PASSWORD)?;
        let mut lines = Vec::new();
        for cmd in commands {
            let tag = imap.next_tag();
            imap.writer
                .write_all(format!("{tag} {cmd}\r\n").as_bytes())?;
            loop {
                let line = imap.line()?;
                let done = line.starts_with(&format!("{tag} "));
                lines.push(line.clone());
                if done {
                    if !line.starts_with(&format!("{tag} OK")) {
                        bail!("IMAP {cmd:?} as {user}: {line}");
                    }
                    break;
                }
            }
        }
        let _ = imap.command("LOGOUT");
        Ok(lines)
    }

    /// Dovecot's log (logins, LMTP deliveries, errors).
    pub fn dovecot_log(&self) -> String {
        let mut log = fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default();
        log.push_str(&fs::read_to_string(self.dir.join("dovecot.stderr")).unwrap_or_default());
        log
    }

    /// Postfix's log (SMTP sessions, queue, LMTP deliveries).
    pub fn postfix_log(&self) -> String {
        fs::read_to_string(self.dir.join("postfix.log")).unwrap_or_default()
    }

    /// The last `lines` lines of both logs, for error messages.
    pub fn logs_tail(&self, lines: usize) -> String {
        let tail = |text: String| {
            let all: Vec<&str> = text.lines().collect();
            all.iter()
                .skip(all.len().saturating_sub(lines))
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        };
        format!(
            "--- dovecot log ({}) ---\n{}\n--- postfix log ---\n{}",
            self.dir.display(),
            tail(self.dovecot_log()),
            tail(self.postfix_log())
        )
    }

    fn flush_postfix_queue(&self) {
        // Best effort: qmgr also rescans the queue every second by itself.
        let _ = Command::new(&self.bins.postfix)
            .arg("-c")
            .arg(self.dir.join("pfc"))
            .arg("flush")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Writes `tls/ca.pem` (a fresh CA, its key `ca.key`) and
    /// `tls/server.pem` + `server.key` (signed by that CA, for `localhost`
    /// and 127.0.0.1) with two `openssl` runs. The keys stay root-only (0600):
    /// Dovecot's config process and Postfix's smtpd read them as root.
    fn make_certificates(&self) -> Result<()> {
        let tls = self.dir.join("tls");
        fs::create_dir(&tls)?;
        fs::set_permissions(&tls, fs::Permissions::from_mode(0o755))?;
        fs::write(
            tls.join("openssl.cnf"),
            "# Generated by tests/harness/mailstack.rs
[req]
distinguished_name = dn
prompt = no
[dn]
CN = mailstack
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
",
        )?;
        let instance = self
            .dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("sbms");
        let ca_subject = format!("/O=switchboard tests/CN=mailstack CA {instance}");
        // `req -x509 -CA` (OpenSSL 3) makes and signs the server certificate
        // in one run, with no CSR file or serial file.
        let runs: [&[&str]; 2] = [
            &[
                "-extensions",
                "ca_ext",
                "-subj",
                &ca_subject,
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
            &[
                "-extensions",
                "server_ext",
                "-subj",
                "/O=switchboard tests/CN=localhost",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-keyout",
                "server.key",
                "-out",
                "server.pem",
            ],
        ];
        for args in runs {
            let out = Command::new("openssl")
                .current_dir(&tls)
                .args(["req", "-x509", "-config", "openssl.cnf", "-days", "7"])
                .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
                .arg("-noenc")
                .args(args)
                .stdin(Stdio::null())
                .output()
                .context("running openssl (needed by MailStack::start_tls)")?;
            if !out.status.success() {
                bail!(
                    "openssl req {args:?} failed ({}): {}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(())
    }

    fn write_configs(&self) -> Result<()> {
        let users = Users::read()?;
        let d = &self.dir;
        let ds = d.display();
        for sub in ["run", "state", "pfc", "pf", "pf/queue"] {
            fs::create_dir(d.join(sub))?;
        }
        let mail = d.join("mail");
        fs::create_dir(&mail)?;
        std::os::unix::fs::chown(&mail, Some(users.mail.0), Some(users.mail.1))?;
        // Postfix's folders as `postfix check` would make them
        // (/etc/postfix/postfix-files), so that it can start without checks.
        let (postfix_uid, postdrop_gid) = (users.postfix.0, users.postdrop);
        let queue_dirs = [
            ("pf/data", Some(postfix_uid), None, 0o700),
            ("pf/queue/pid", None, None, 0o755),
            (
                "pf/queue/maildrop",
                Some(postfix_uid),
                Some(postdrop_gid),
                0o730,
            ),
            (
                "pf/queue/public",
                Some(postfix_uid),
                Some(postdrop_gid),
                0o710,
            ),
        ]
        .into_iter()
        .chain(
            [
                "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
                "private", "saved", "trace",
            ]
            .map(|q| (q, Some(postfix_uid), None, 0o700)),
        );
        for (sub, uid, gid, mode) in queue_dirs {
            let path = if sub.starts_with("pf/") {
                d.join(sub)
            } else {
                d.join("pf/queue").join(sub)
            };
            fs::create_dir(&path)?;
            std::os::unix::fs::chown(&path, uid, gid)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        }
        let instance = d.file_name().and_then(|n| n.to_str()).unwrap_or("sbms");
        let (imap, lmtp, smtp, pw) = (
            self.imap_port,
            self.lmtp_port,
            self.smtp_port,
            Self::PASSWORD,
        );
        let (mail_uid, mail_gid) = users.mail;
        let separator = self.dovecot_options.separator.unwrap_or('/');
        let dovecot_extra = &self.dovecot_options.extra;
        let (dovecot_ssl, imaps_listener, postfix_tls, smtps_services) = match &self.tls {
            None => (
                "ssl = no".to_owned(),
                "port = 0".to_owned(),
                String::new(),
                String::new(),
            ),
            Some(tls) => (
                format!(
                    "ssl = yes\nssl_cert = <{ds}/tls/server.pem\nssl_key = <{ds}/tls/server.key"
                ),
                format!(
                    "address = 127.0.0.1\n    port = {}\n    ssl = yes",
                    tls.imaps_port
                ),
                format!(
                    "smtpd_tls_cert_file = {ds}/tls/server.pem
smtpd_tls_key_file = {ds}/tls/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
"
                ),
                format!(
                    "127.0.0.1:{} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
tlsmgr    unix  - - n 1000? 1 tlsmgr
",
                    tls.smtps_port
                ),
            ),
        };

        // The OAuth2 mode: tokens checked by introspection, PLAIN and LOGIN by the
        // password as always; Postfix's submission port asks Dovecot.
        let (auth_mechanisms, oauth2_passdb, static_mechanisms, auth_socket, submission) = match (
            &self.dovecot_options.oauth2_introspection,
            self.submission_port,
        ) {
            (Some(url), Some(port)) => {
                let username_attribute = self
                    .dovecot_options
                    .oauth2_username_attribute
                    .as_deref()
                    .unwrap_or("sub");
                write_backdated(
                    &d.join("dovecot-oauth2.conf.ext"),
                    &format!(
                        "introspection_mode = post\nintrospection_url = {url}\nusername_attribute = {username_attribute}\nactive_attribute = active\nactive_value = true\n"
                    ),
                )?;
                (
                    "plain login xoauth2 oauthbearer",
                    format!(
                        "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {ds}/dovecot-oauth2.conf.ext\n}}"
                    ),
                    "  mechanisms = plain login\n",
                    format!(
                        "service auth {{\n  unix_listener {ds}/pf/queue/private/auth {{\n    mode = 0666\n  }}\n}}"
                    ),
                    format!(
                        "127.0.0.1:{port} inet n - n - - smtpd -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=dovecot -o smtpd_sasl_path=private/auth -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n"
                    ),
                )
            }
            _ => (
                "plain login",
                String::new(),
                "",
                String::new(),
                String::new(),
            ),
        };
        let dovecot = format!(
            r#"# Generated by tests/harness/mailstack.rs
instance_name = {instance}
base_dir = {ds}/run
state_dir = {ds}/state
log_path = {ds}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
{dovecot_ssl}
disable_plaintext_auth = no
auth_mechanisms = {auth_mechanisms}
auth_failure_delay = 0
auth_username_format = %Lu
mail_location = maildir:~/Maildir:LAYOUT=fs
mail_uid = {mail_uid}
mail_gid = {mail_gid}
first_valid_uid = {mail_uid}
last_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
last_valid_gid = {mail_gid}
mail_fsync = never
mail_save_crlf = yes
# With the list index, LMTP creating a fresh INBOX while an IMAP client
# creates a folder deadlocks on fcntl locks and Dovecot 2.3 panics
# (EDEADLK on dovecot.list.index.log). Tests do exactly that.
mailbox_list_index = no
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
namespace inbox {{
  inbox = yes
  separator = {separator}
}}
{oauth2_passdb}
passdb {{
  driver = static
{static_mechanisms}  args = password={pw}
}}
{auth_socket}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={ds}/mail/%Ld/%Ln allow_all_users=yes
}}
protocol imap {{
  mail_max_userip_connections = 10000
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    {imaps_listener}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{dovecot_extra}
"#
        );
        write_backdated(&d.join("dovecot.conf"), &dovecot)?;

        let main_cf = format!(
            r#"# Generated by tests/harness/mailstack.rs
compatibility_level = 3.6
queue_directory = {ds}/pf/queue
data_directory = {ds}/pf/data
meta_directory = /etc/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-{instance}
maillog_file = {ds}/postfix.log
maillog_file_prefixes = {ds}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mailstack.test
mydomain = mailstack.test
myorigin = $myhostname
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
virtual_alias_maps =
# Every domain is a virtual mailbox domain and every recipient exists: all
# mail goes to Dovecot over LMTP, nothing is ever relayed.
virtual_mailbox_domains = static:all
virtual_mailbox_maps = static:all
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
local_transport = error:local delivery is disabled
default_transport = error:relaying is disabled
relay_transport = error:relaying is disabled
recipient_delimiter = +
smtputf8_enable = no
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject
# Two domains the tests use to see SMTP refusals at RCPT time: a permanent one
# (5xx) and a temporary one (4xx).
smtpd_recipient_restrictions = check_recipient_access inline:{{ {{ {REFUSED_DOMAIN} = 550 5.1.1 No such mailbox here (mailstack test policy) }}, {{ {DEFERRED_DOMAIN} = 450 4.2.0 Mailbox busy (mailstack test policy) }} }}
smtpd_error_sleep_time = 0
local_header_rewrite_clients =
in_flow_delay = 0
message_size_limit = 52428800
biff = no
append_dot_mydomain = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
transport_retry_time = 1s
delay_warning_time = 0
lmtp_connect_timeout = 2s
{postfix_tls}"#
        );
        write_backdated(&d.join("pfc/main.cf"), &main_cf)?;

        let master_cf = format!(
            "# Generated by tests/harness/mailstack.rs; no chroot anywhere.
127.0.0.1:{smtp} inet n - n - - smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
lmtp      unix  - - n -     - lmtp
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
{smtps_services}{submission}"
        );
        write_backdated(&d.join("pfc/master.cf"), &master_cf)?;
        Ok(())
    }
}

impl Drop for MailStack {
    fn drop(&mut self) {
        // Postfix's master exits at once on SIGTERM, taking its children
        // along. Dovecot's master lingers a second for its log process, and
        // everything it kept goes away with the folder: SIGKILL it at once.
        let postfix = lock(&self.postfix_master).take();
        if let Some(pid) = postfix {
            let _ = signal(&pid.to_string(), "TERM");
        }
        let dovecot = lock(&self.dovecot).take();
        let mut groups = Vec::new();
        if let Some(mut child) = dovecot {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = signal(&format!("-{pid}"), "KILL");
                groups.push(pid);
            }
            let _ = child.wait();
        }
        if let Some(pid) = postfix {
            let deadline = Instant::now() + Duration::from_secs(1);
            while Instant::now() < deadline && !group_members(pid).is_empty() {
                sleep(POLL);
            }
            if !group_members(pid).is_empty() {
                let _ = signal(&format!("-{pid}"), "KILL");
            }
            groups.push(pid);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline && groups.iter().any(|g| !group_members(*g).is_empty()) {
            sleep(POLL);
        }
        if std::env::var_os("MAILSTACK_KEEP").is_some() {
            eprintln!(
                "MAILSTACK_KEEP: keeping {} (the next start removes it)",
                self.dir.display()
            );
            // Make sure the sweep does not wait for this (live) process.
            let _ = fs::write(self.dir.join("owner"), "0 0\n");
        } else {
            for _ in 0..20 {
                match fs::remove_dir_all(&self.dir) {
                    Err(e) if e.kind() != ErrorKind::NotFound => sleep(POLL),
                    _ => break,
                }
            }
        }
        let mut used = lock(&USED_PORTS);
        for p in [self.imap_port, self.smtp_port, self.lmtp_port] {
            used.remove(&p);
        }
        if let Some(tls) = &self.tls {
            used.remove(&tls.imaps_port);
            used.remove(&tls.smtps_port);
        }
    }
}

// ---------------------------------------------------------------------------
// Binaries, users, folders, ports

#[derive(Clone, Debug)]
struct Binaries {
    dovecot: PathBuf,
    postfix: PathBuf,
}

impl Binaries {
    fn find() -> Result<Binaries> {
        let find = |name: &str| -> Option<PathBuf> {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .chain(
                    ["/usr/sbin", "/usr/local/sbin", "/sbin"]
                        .into_iter()
                        .map(PathBuf::from),
                )
                .map(|d| d.join(name))
                .find(|p| is_executable(p))
        };
        let mut missing = Vec::new();
        let dovecot = find("dovecot");
        let postfix = find("postfix");
        if dovecot.is_none() {
            missing.push("dovecot".to_owned());
        }
        if postfix.is_none() {
            missing.push("postfix".to_owned());
        }
        for helper in [
            "/usr/lib/dovecot/imap",
            "/usr/lib/dovecot/lmtp",
            "/usr/lib/postfix/sbin/master",
        ] {
            if !is_executable(Path::new(helper)) {
                missing.push(helper.to_owned());
            }
        }
        if let Err(e) = Users::read() {
            missing.push(format!("{e:#}"));
        }
        match (dovecot, postfix) {
            (Some(dovecot), Some(postfix)) if missing.is_empty() => {
                let uid =
                    fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m));
                if !matches!(uid, Ok(0)) {
                    bail!(
                        "MailStack must run as root (Dovecot and Postfix switch users); running as uid {uid:?}"
                    );
                }
                Ok(Binaries { dovecot, postfix })
            }
            _ => bail!(
                "MailStack cannot start: missing {}. The integration tests need a real Dovecot and Postfix: {INSTALL_HINT}",
                missing.join(", ")
            ),
        }
    }
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

struct Users {
    mail: (u32, u32),
    postfix: (u32, u32),
    postdrop: u32,
}

impl Users {
    fn read() -> Result<Users> {
        let passwd = fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
        let mut found: HashMap<&str, (u32, u32)> = HashMap::new();
        for line in passwd.lines() {
            let mut f = line.split(':');
            if let (Some(name), Some(_), Some(uid), Some(gid)) =
                (f.next(), f.next(), f.next(), f.next())
                && let (Ok(uid), Ok(gid)) = (uid.parse(), gid.parse())
            {
                found.insert(name, (uid, gid));
            }
        }
        let get = |name: &str| {
            found
                .get(name)
                .copied()
                .ok_or_else(|| anyhow!("system user `{name}` (created by the packages)"))
        };
        get("dovenull")?;
        get("dovecot")?;
        let group = fs::read_to_string("/etc/group").context("reading /etc/group")?;
        let postdrop = group
            .lines()
            .find_map(|l| l.strip_prefix("postdrop:")?.split(':').nth(1)?.parse().ok())
            .ok_or_else(|| anyhow!("system group `postdrop` (created by the postfix package)"))?;
        Ok(Users {
            mail: get("mail")?,
            postfix: get("postfix")?,
            postdrop,
        })
    }
}

fn write_backdated(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    // Postfix pauses ~2 s at start when its config is younger than ~2 s.
    let past = SystemTime::now() - Duration::from_secs(120);
    fs::File::options()
        .write(true)
        .open(path)?
        .set_modified(past)?;
    Ok(())
}

/// Creates `/tmp/sbms-<pid>-<n>`, traversable by the mail, postfix and
/// dovenull users, and records its owner so a later run can clean it up.
fn create_stack_dir() -> Result<PathBuf> {
    let pid = std::process::id();
    for _ in 0..1000 {
        let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = Path::new(TMP_ROOT).join(format!("{DIR_PREFIX}{pid}-{n}"));
        match fs::create_dir(&dir) {
            Ok(()) => {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
                let start = proc_stat(i32::try_from(pid)?)
                    .map(|s| s.start_time)
                    .unwrap_or_default();
                fs::write(dir.join("owner"), format!("{pid} {start}\n"))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!("could not create a fresh folder under {TMP_ROOT}")
}

/// Removes folders of stacks whose test process died without dropping
/// them, killing their Dovecot and Postfix first. Best effort.
fn sweep_stale_dirs() {
    let Ok(entries) = fs::read_dir(TMP_ROOT) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(Ok(owner)) = rest.split('-').next().map(str::parse::<i32>) else {
            continue;
        };
        let dir = entry.path();
        let recorded = fs::read_to_string(dir.join("owner")).ok();
        let owner_alive = match proc_stat(owner) {
            Some(stat) if stat.state != 'Z' => match &recorded {
                // Same pid, but is it the same process?
                Some(text) => {
                    text.split_whitespace().nth(1) == Some(stat.start_time.to_string().as_str())
                }
                // Still being set up by a live process.
                None => true,
            },
            _ => false,
        };
        if owner_alive || owner == i32::try_from(std::process::id()).unwrap_or(-1) {
            continue;
        }
        let mut groups = Vec::new();
        if let Ok(pid) = fs::read_to_string(dir.join("pf/queue/pid/master.pid")) {
            groups.extend(pid.trim().parse::<i32>().ok());
        }
        if let Ok(pid) = fs::read_to_string(dir.join("run/master.pid")) {
            groups.extend(pid.trim().parse::<i32>().ok());
        }
        for g in groups {
            for pid in group_members(g) {
                // A group id cannot be reused while it has members, but check
                // that these really are mail daemons before killing.
                let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
                if exe.starts_with("/usr/lib/dovecot")
                    || exe.starts_with("/usr/lib/postfix")
                    || exe.starts_with("/usr/sbin/dovecot")
                {
                    let _ = signal(&pid.to_string(), "KILL");
                }
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

/// A free loopback port below the kernel's ephemeral range (so outgoing
/// connections never occupy it), not handed out to another stack of this
/// process.
pub fn pick_port() -> Result<u16> {
    let low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            t.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok())
        })
        .unwrap_or(32768);
    let (from, to) = if low > 12000 { (10000u16, low) } else { (0, 0) };
    let mut used = lock(&USED_PORTS);
    for _ in 0..500 {
        let port = if to > from {
            let span = u64::from(to - from);
            from + u16::try_from(random() % span)?
        } else {
            // Unusual port range: let the kernel choose.
            TcpListener::bind((LOOPBACK, 0))?.local_addr()?.port()
        };
        if used.contains(&port) {
            continue;
        }
        if TcpListener::bind((LOOPBACK, port)).is_ok() {
            used.insert(port);
            return Ok(port);
        }
    }
    bail!("no free loopback port found")
}

fn random() -> u64 {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// Processes

struct ProcStat {
    state: char,
    pgrp: i32,
    start_time: u64,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = text.rsplit_once(')')?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Alive and not a zombie (this machine's init reaps orphans slowly).
fn pid_alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

/// Live (non-zombie) processes in process group `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            proc_stat(*pid).is_some_and(|s| s.pgrp == pgid && s.state != 'Z' && s.state != 'X')
        })
        .collect()
}

/// `kill -s SIG -- TARGET` (TARGET `-N` is process group N).
fn signal(target: &str, sig: &str) -> Result<()> {
    let status = Command::new("kill")
        .args(["-s", sig, "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill -s {sig} {target}: {status}");
    }
    Ok(())
}

/// SIGTERM to a master daemon `pid` (leader of its process group), then waits
/// until `alive()` is false and the group is empty; SIGKILL after `timeout`.
fn terminate_group(pid: i32, timeout: Duration, mut alive: impl FnMut() -> bool) -> Result<()> {
    let _ = signal(&pid.to_string(), "TERM");
    let deadline = Instant::now() + timeout;
    while alive() || !group_members(pid).is_empty() {
        if Instant::now() >= deadline {
            let _ = signal(&format!("-{pid}"), "KILL");
            let hard = Instant::now() + Duration::from_secs(5);
            while alive() || !group_members(pid).is_empty() {
                if Instant::now() >= hard {
                    bail!("process group {pid} survives SIGKILL");
                }
                sleep(POLL);
            }
            return Ok(());
        }
        sleep(POLL);
    }
    Ok(())
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((LOOPBACK, port))
}

/// Connects and checks the first line starts with `prefix`.
fn greeting(port: u16, prefix: &[u8]) -> Result<()> {
    let stream = TcpStream::connect_timeout(&addr(port), Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut line = Vec::new();
    BufReader::new(stream).read_until(b'\n', &mut line)?;
    if !line.starts_with(prefix) {
        bail!("unexpected greeting {:?}", String::from_utf8_lossy(&line));
    }
    Ok(())
}

fn wait_refused(port: u16, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match TcpStream::connect_timeout(&addr(port), Duration::from_millis(500)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Ok(()),
            _ if Instant::now() >= deadline => bail!("port {port} still accepts connections"),
            _ => sleep(POLL),
        }
    }
}

// ---------------------------------------------------------------------------
// Maildir reading

fn read_maildir(maildir: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut uids: HashMap<String, u32> = HashMap::new();
    match fs::read_to_string(maildir.join("dovecot-uidlist")) {
        Ok(text) => {
            for line in text.lines().skip(1) {
                if let Some((head, base)) = line.split_once(" :")
                    && let Some(Ok(uid)) = head.split_whitespace().next().map(str::parse::<u32>)
                {
                    uids.insert(base.to_owned(), uid);
                }
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        let entries = match fs::read_dir(maildir.join(sub)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let base = name.split(':').next().unwrap_or_default().to_owned();
            let uid = uids.get(&base).copied().unwrap_or(u32::MAX);
            files.push((uid, maildir_time(&base), base, entry.path()));
        }
    }
    files.sort();
    let mut messages = Vec::with_capacity(files.len());
    for (_, _, _, path) in files {
        messages.push(fs::read(path)?);
    }
    Ok(messages)
}

/// (seconds, microseconds) from a Maildir name like `1700000000.M123P45.host`.
fn maildir_time(base: &str) -> (u64, u64) {
    let mut parts = base.split('.');
    let secs = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    let usecs = parts
        .next()
        .and_then(|p| p.strip_prefix('M'))
        .map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    (secs, usecs)
}

/// A one-line description of a message for error output.
fn summary(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let subject = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .find(|l| {
            l.len() >= 8
                && l.get(..8)
                    .is_some_and(|h| h.eq_ignore_ascii_case("subject:"))
        })
        .unwrap_or("(no Subject)");
    format!("{} bytes, {}", raw.len(), subject.trim())
}

// ---------------------------------------------------------------------------
// Minimal SMTP client

struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Smtp {
    fn connect(port: u16) -> Result<Smtp> {
        let stream = TcpStream::connect_timeout(&addr(port), Duration::from_secs(5))
            .with_context(|| format!("connecting to SMTP 127.0.0.1:{port}"))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Smtp {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Reads one (possibly multi-line) reply and checks its code.
    fn expect(&mut self, code: u16, what: &str) -> Result<()> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("SMTP server closed the connection ({what}); got so far: {text:?}");
            }
            text.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                let got: Option<u16> = line.get(..3).and_then(|c| c.parse().ok());
                if got != Some(code) {
                    bail!("SMTP {what}: expected {code}, got {:?}", text.trim_end());
                }
                return Ok(());
            }
        }
    }

    fn command(&mut self, cmd: &str, code: u16) -> Result<()> {
        self.write_all(format!("{cmd}\r\n").as_bytes())?;
        self.expect(code, cmd)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()?;
        Ok(())
    }
}

/// The DATA payload: CRLF line endings, dot-stuffed, with the final `.`.
fn smtp_data(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 50 + 5);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !raw.is_empty() && !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

// ---------------------------------------------------------------------------
// Minimal IMAP client (enough for LOGIN, CREATE, APPEND)

struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

impl Imap {
    fn connect(port: u16) -> Result<Imap> {
        let stream = TcpStream::connect_timeout(&addr(port), Duration::from_secs(5))
            .with_context(|| format!("connecting to IMAP 127.0.0.1:{port}"))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut imap = Imap {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            tag: 0,
        };
        let greeting = imap.line()?;
        if !greeting.starts_with("* OK") {
            bail!("unexpected IMAP greeting {greeting:?}");
        }
        Ok(imap)
    }

    fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            bail!("IMAP server closed the connection");
        }
        Ok(line.trim_end().to_owned())
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("h{}", self.tag)
    }

    /// Reads up to the tagged reply; returns its status and the whole line.
    fn tagged(&mut self, tag: &str) -> Result<(String, String)> {
        loop {
            let line = self.line()?;
            if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
                let status = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                return Ok((status, line));
            }
        }
    }

    fn command(&mut self, cmd: &str) -> Result<(String, String)> {
        let tag = self.next_tag();
        self.writer
            .write_all(format!("{tag} {cmd}\r\n").as_bytes())?;
        self.tagged(&tag)
    }

    fn login(&mut self, user: &str, password: &str) -> Result<()> {
        let (status, line) = self.command(&format!(
            "LOGIN {} {}",
            imap_quote(user)?,
            imap_quote(password)?
        ))?;
        if status != "OK" {
            bail!("IMAP LOGIN {user}: {line}");
        }
        Ok(())
    }

    fn append(&mut self, folder: &str, raw: &[u8]) -> Result<()> {
        let tag = self.next_tag();
        self.writer.write_all(
            format!("{tag} APPEND {} {{{}}}\r\n", imap_quote(folder)?, raw.len()).as_bytes(),
        )?;
        let cont = self.line()?;
        if !cont.starts_with('+') {
            bail!("IMAP APPEND refused: {cont}");
        }
        self.writer.write_all(raw)?;
        self.writer.write_all(b"\r\n")?;
        let (status, line) = self.tagged(&tag)?;
        if status != "OK" {
            bail!("IMAP APPEND: {line}");
        }
        Ok(())
    }
}

/// An IMAP quoted string (ASCII only: no modified UTF-7 here).
fn imap_quote(s: &str) -> Result<String> {
    if !s.is_ascii() || s.contains(['\r', '\n', '\0']) {
        bail!("cannot send {s:?} as an IMAP quoted string");
    }
    Ok(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// Regular files under `dir`, at any depth (Postfix hashes deferred mail into
/// subfolders). A folder that does not exist holds nothing.
fn count_files(dir: &Path) -> Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut n = 0;
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            n += count_files(&entry.path())?;
        } else if kind.is_file() {
            n += 1;
        }
    }
    Ok(n)
}
