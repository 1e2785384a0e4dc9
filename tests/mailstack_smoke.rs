//! Proves the test mail system (tests/harness/mailstack.rs) works: SMTP in,
//! LMTP delivery, Maildir reads, IMAP logins, stop/start of either server,
//! several stacks side by side, and TLS (IMAPS, SMTPS, STARTTLS) verified
//! against the stack's private CA. These fail, never skip, when Dovecot or
//! Postfix is missing (see scripts/install-test-deps.sh).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/mailstack.rs"]
mod mailstack;

use anyhow::{Context, Result, bail};
use mailstack::MailStack;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// A guard against a hang, not an expectation of speed.
const WAIT: Duration = Duration::from_secs(60);

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Customer <customer@client.com>\r\nTo: support@example.com\r\nSubject: {subject}\r\nMessage-ID: <{subject}@client.com>\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A raw IMAP conversation: tagged commands, returns every response line.
struct RawImap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    n: u32,
}

impl RawImap {
    fn connect(port: u16) -> Result<RawImap> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut imap = RawImap {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            n: 0,
        };
        let greeting = imap.line()?;
        if !greeting.starts_with("* OK") {
            bail!("greeting {greeting:?}");
        }
        Ok(imap)
    }

    fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            bail!("connection closed");
        }
        Ok(line.trim_end().to_owned())
    }

    fn run(&mut self, cmd: &str) -> Result<Vec<String>> {
        self.n += 1;
        let tag = format!("a{}", self.n);
        self.writer
            .write_all(format!("{tag} {cmd}\r\n").as_bytes())?;
        let mut lines = Vec::new();
        loop {
            let line = self.line()?;
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return Ok(lines);
            }
        }
    }
}

fn tagged_ok(lines: &[String]) -> bool {
    lines
        .last()
        .is_some_and(|l| l.split_whitespace().nth(1) == Some("OK"))
}

/// The `* N EXISTS` count after SELECT, over a fresh raw IMAP login.
fn imap_exists(stack: &MailStack, user: &str, folder: &str) -> Result<u32> {
    let mut imap = RawImap::connect(stack.imap_port)?;
    let login = imap.run(&format!("LOGIN {user} {}", MailStack::PASSWORD))?;
    if !tagged_ok(&login) {
        bail!("LOGIN failed: {login:?}");
    }
    let select = imap.run(&format!("SELECT \"{folder}\""))?;
    if !tagged_ok(&select) {
        bail!("SELECT failed: {select:?}");
    }
    let exists = select
        .iter()
        .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
        .context("no EXISTS in SELECT response")?;
    imap.run("LOGOUT")?;
    Ok(exists)
}

fn refuses(port: u16) -> bool {
    matches!(
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

#[test]
fn smtp_delivers_into_inbox() -> Result<()> {
    let stack = MailStack::start()?;
    let sent = message("hello", "First message.\r\n.A line starting with a dot.");
    stack.send("customer@client.com", &["support@example.com"], &sent)?;
    let got = stack.wait_for_messages("support@example.com", "INBOX", 1, WAIT)?;
    assert_eq!(got.len(), 1);
    assert!(
        got[0].ends_with(&sent),
        "delivered:\n{}",
        String::from_utf8_lossy(&got[0])
    );
    let head = String::from_utf8_lossy(&got[0]);
    assert!(
        head.starts_with("Return-Path: <customer@client.com>\r\n"),
        "{head}"
    );

    // Subaddress and case: delivered to the same INBOX, after the first.
    let second = String::from_utf8(message("second", "Via a subaddress, LF line endings."))?
        .replace("\r\n", "\n");
    stack.send(
        "customer@client.com",
        &["Support+case-17@Example.COM"],
        second.as_bytes(),
    )?;
    let got = stack.wait_for_messages("SUPPORT@example.com", "inbox", 2, WAIT)?;
    assert_eq!(got.len(), 2);
    assert!(got[0].ends_with(&sent));
    assert!(got[1].ends_with(&message("second", "Via a subaddress, LF line endings.")));
    assert_eq!(imap_exists(&stack, "support@example.com", "INBOX")?, 2);

    // One message to several recipients at several domains.
    stack.send(
        "customer@client.com",
        &["a@one.test", "b@two.example.org"],
        &message("multi", "x"),
    )?;
    stack.wait_for_messages("a@one.test", "INBOX", 1, WAIT)?;
    stack.wait_for_messages("b@two.example.org", "INBOX", 1, WAIT)?;
    assert!(stack.messages("nobody@example.com", "INBOX")?.is_empty());
    Ok(())
}

#[test]
fn append_to_folder_and_read_back() -> Result<()> {
    let stack = MailStack::start()?;
    let user = "support@example.com";
    assert!(stack.messages(user, "Switchboard/Processed")?.is_empty());
    let first = message("processed-1", "one");
    let second = message("processed-2", "two");
    stack.append(user, "Switchboard/Processed", &first)?;
    stack.append(user, "Switchboard/Processed", &second)?;
    assert_eq!(
        stack.messages(user, "Switchboard/Processed")?,
        vec![first.clone(), second]
    );
    assert!(stack.messages(user, "INBOX")?.is_empty());
    assert_eq!(imap_exists(&stack, user, "Switchboard/Processed")?, 2);
    assert!(
        stack
            .maildir_path(user, "Switchboard/Processed")?
            .ends_with("example.com/support/Maildir/Switchboard/Processed")
    );

    // INBOX, and a folder with a dot in its name.
    stack.append(user, "INBOX", &first)?;
    stack.append(user, "Archive.2025", &first)?;
    assert_eq!(stack.messages(user, "INBOX")?, vec![first.clone()]);
    assert_eq!(stack.messages(user, "Archive.2025")?, vec![first]);
    assert_eq!(imap_exists(&stack, user, "INBOX")?, 1);
    Ok(())
}

#[test]
fn imap_raw_login_and_select() -> Result<()> {
    let stack = MailStack::start()?;
    stack.send(
        "customer@client.com",
        &["support@example.com"],
        &message("imap", "over IMAP"),
    )?;
    stack.wait_for_messages("support@example.com", "INBOX", 1, WAIT)?;

    let mut imap = RawImap::connect(stack.imap_port)?;
    let login = imap.run(&format!(
        "LOGIN support@example.com {}",
        MailStack::PASSWORD
    ))?;
    assert!(tagged_ok(&login), "{login:?}");
    let select = imap.run("SELECT INBOX")?;
    assert!(tagged_ok(&select), "{select:?}");
    assert!(select.iter().any(|l| l == "* 1 EXISTS"), "{select:?}");
    let fetch = imap.run("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")?;
    assert!(fetch.iter().any(|l| l == "Subject: imap"), "{fetch:?}");
    let list = imap.run("LIST \"\" \"*\"")?;
    assert!(
        list.iter().any(|l| l.contains("\"/\" INBOX")),
        "separator is /: {list:?}"
    );
    imap.run("LOGOUT")?;

    // A wrong password is refused, and costs no delay for later logins: Dovecot's
    // failure delay is off in the running configuration (a delay cannot be asserted
    // by timing a login without depending on the machine's speed).
    let mut bad = RawImap::connect(stack.imap_port)?;
    let refused = bad.run("LOGIN support@example.com wrong")?;
    assert!(!tagged_ok(&refused), "{refused:?}");
    assert_eq!(imap_exists(&stack, "support@example.com", "INBOX")?, 1);
    let delay = Command::new("doveconf")
        .arg("-c")
        .arg(stack.dir.join("dovecot.conf"))
        .args(["-h", "auth_failure_delay"])
        .output()?;
    assert_eq!(
        String::from_utf8_lossy(&delay.stdout).trim(),
        "0",
        "{}",
        String::from_utf8_lossy(&delay.stderr)
    );

    // Many parallel connections by one user from one IP are fine.
    let many: Vec<RawImap> = (0..15)
        .map(|_| {
            let mut c = RawImap::connect(stack.imap_port)?;
            let login = c.run(&format!(
                "LOGIN support@example.com {}",
                MailStack::PASSWORD
            ))?;
            if !tagged_ok(&login) {
                bail!("LOGIN failed: {login:?}");
            }
            Ok(c)
        })
        .collect::<Result<_>>()?;
    assert_eq!(many.len(), 15);
    Ok(())
}

#[test]
fn postfix_stop_refuses_then_restart_delivers() -> Result<()> {
    let stack = MailStack::start()?;
    let started = Instant::now();
    stack.stop_postfix()?;
    eprintln!("stop_postfix took {:?}", started.elapsed());
    assert!(
        refuses(stack.smtp_port),
        "SMTP port still open after stop_postfix"
    );
    assert!(
        stack
            .send(
                "customer@client.com",
                &["support@example.com"],
                &message("lost", "x")
            )
            .is_err()
    );
    stack.stop_postfix()?; // idempotent

    let started = Instant::now();
    stack.start_postfix()?;
    eprintln!("start_postfix took {:?}", started.elapsed());
    let sent = message("after-restart", "Postfix is back.");
    stack.send("customer@client.com", &["support@example.com"], &sent)?;
    let got = stack.wait_for_messages("support@example.com", "INBOX", 1, WAIT)?;
    assert_eq!(got.len(), 1);
    assert!(got[0].ends_with(&sent));
    Ok(())
}

#[test]
fn dovecot_stop_queues_then_restart_delivers() -> Result<()> {
    let stack = MailStack::start()?;
    let started = Instant::now();
    stack.stop_dovecot()?;
    eprintln!("stop_dovecot took {:?}", started.elapsed());
    assert!(
        refuses(stack.imap_port),
        "IMAP port still open after stop_dovecot"
    );
    assert!(
        refuses(stack.lmtp_port),
        "LMTP port still open after stop_dovecot"
    );

    // Postfix accepts and queues while Dovecot is down.
    let sent = message("queued", "Waited for Dovecot.");
    stack.send("customer@client.com", &["support@example.com"], &sent)?;
    // Postfix tried and deferred it (its log says so): it did not reach the INBOX.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stack.postfix_log().contains("status=deferred") {
        assert!(Instant::now() < deadline, "{}", stack.logs_tail(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(stack.messages("support@example.com", "INBOX")?.is_empty());

    let started = Instant::now();
    stack.start_dovecot()?;
    eprintln!("start_dovecot took {:?}", started.elapsed());
    let got = stack.wait_for_messages("support@example.com", "INBOX", 1, WAIT)?;
    eprintln!(
        "queued mail delivered {:?} after start_dovecot began",
        started.elapsed()
    );
    assert!(got[0].ends_with(&sent));
    assert_eq!(imap_exists(&stack, "support@example.com", "INBOX")?, 1);

    // Postfix restarted with mail in its queue for a stopped Dovecot.
    stack.stop_dovecot()?;
    let later = message("queued-2", "Across a Postfix restart.");
    stack.send("customer@client.com", &["support@example.com"], &later)?;
    stack.stop_postfix()?;
    stack.start_postfix()?;
    stack.start_dovecot()?;
    let got = stack.wait_for_messages("support@example.com", "INBOX", 2, WAIT)?;
    assert!(got[1].ends_with(&later));
    Ok(())
}

#[test]
fn two_stacks_in_parallel_do_not_interfere() -> Result<()> {
    let run = |tag: &'static str| {
        std::thread::spawn(move || -> Result<(u16, u16, std::path::PathBuf)> {
            let stack = MailStack::start()?;
            let sent = message(tag, tag);
            stack.send("customer@client.com", &["support@example.com"], &sent)?;
            stack.append("support@example.com", "Switchboard/Processed", &sent)?;
            let got = stack.wait_for_messages("support@example.com", "INBOX", 1, WAIT)?;
            stack.wait_until_delivered(WAIT)?;
            let got_again = stack.messages("support@example.com", "INBOX")?;
            if got.len() != 1 || got_again.len() != 1 || !got[0].ends_with(&sent) {
                bail!(
                    "stack {tag} saw {} / {} messages",
                    got.len(),
                    got_again.len()
                );
            }
            assert_eq!(
                imap_exists(&stack, "support@example.com", "Switchboard/Processed")?,
                1
            );
            Ok((stack.imap_port, stack.smtp_port, stack.dir.clone()))
        })
    };
    let a = run("stack-a");
    let b = run("stack-b");
    let (a, b) = (a.join().unwrap()?, b.join().unwrap()?);
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
    assert_ne!(a.2, b.2);
    Ok(())
}

#[test]
fn drop_stops_servers_and_removes_folder() -> Result<()> {
    let started = Instant::now();
    let stack = MailStack::start()?;
    eprintln!("start took {:?}", started.elapsed());
    let (dir, imap, smtp, lmtp) = (
        stack.dir.clone(),
        stack.imap_port,
        stack.smtp_port,
        stack.lmtp_port,
    );
    assert!(
        dir.as_os_str().len() < 40,
        "short folder path: {}",
        dir.display()
    );
    stack.send(
        "customer@client.com",
        &["support@example.com"],
        &message("drop", "x"),
    )?;
    stack.wait_for_messages("support@example.com", "INBOX", 1, WAIT)?;
    let started = Instant::now();
    drop(stack);
    eprintln!("drop took {:?}", started.elapsed());
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(
        refuses(imap) && refuses(smtp) && refuses(lmtp),
        "ports still open after drop"
    );
    Ok(())
}

/// Delivery into a fresh mailbox racing with folder creation over IMAP (what
/// Switchboard does on its first run) must not trip Dovecot's index locks.
#[test]
fn delivery_races_folder_creation_on_fresh_mailboxes() -> Result<()> {
    let stack = MailStack::start()?;
    let users: Vec<String> = (0..12).map(|i| format!("fresh{i}@race.test")).collect();
    std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for user in &users {
            let stack = &stack;
            handles.push(
                s.spawn(move || stack.send("customer@client.com", &[user], &message("race", "x"))),
            );
            handles.push(s.spawn(move || {
                stack.append(user, "Switchboard/Processed", &message("filed", "y"))
            }));
        }
        for h in handles {
            h.join().unwrap()?;
        }
        Ok(())
    })?;
    for user in &users {
        stack.wait_for_messages(user, "INBOX", 1, WAIT)?;
        assert_eq!(stack.messages(user, "Switchboard/Processed")?.len(), 1);
    }
    assert!(
        !stack.dovecot_log().contains("Panic"),
        "{}",
        stack.dovecot_log()
    );
    Ok(())
}

/// `openssl s_client` to 127.0.0.1:`port` trusting only `ca`, with
/// `-verify_return_error` and `extra` options; `input` goes to its stdin and
/// it runs until the server closes (`-ign_eof`), 10 s at most. Returns its
/// output, or an error with that output when it fails.
fn s_client(port: u16, ca: Option<&Path>, extra: &[&str], input: &str) -> Result<String> {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "1", "10", "openssl", "s_client", "-ign_eof"])
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .args(["-verify_return_error", "-no-CApath", "-no-CAstore"]);
    match ca {
        Some(ca) => cmd.arg("-CAfile").arg(ca),
        None => cmd.arg("-no-CAfile"),
    };
    let mut child = cmd
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running openssl s_client")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(input.as_bytes())?;
    drop(stdin);
    let out = child.wait_with_output()?;
    let text = format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!(
            "s_client to port {port} {extra:?} failed ({}):\n{text}",
            out.status
        );
    }
    Ok(text)
}

fn assert_verified(out: &str) {
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(out.contains("Verification: OK"), "{out}");
}

fn has_line(out: &str, prefix: &str) -> bool {
    out.lines().any(|l| l.starts_with(prefix))
}

#[test]
fn tls_stack_serves_imaps_smtps_and_starttls() -> Result<()> {
    let started = Instant::now();
    let stack = MailStack::start_tls()?;
    eprintln!("start_tls took {:?}", started.elapsed());
    let ca = stack.ca_pem().context("ca_pem")?;
    let imaps = stack.imaps_port().context("imaps_port")?;
    let smtps = stack.smtps_port().context("smtps_port")?;
    assert!(
        ca.starts_with(&stack.dir) && ca.is_file(),
        "{}",
        ca.display()
    );
    let ports = [
        imaps,
        smtps,
        stack.imap_port,
        stack.smtp_port,
        stack.lmtp_port,
    ];
    assert_eq!(ports.iter().collect::<BTreeSet<_>>().len(), 5, "{ports:?}");
    let user = "support@example.com";
    let pw = MailStack::PASSWORD;
    let by_name = ["-verify_hostname", "localhost"];
    let by_ip = ["-verify_ip", "127.0.0.1"];

    // IMAPS: greeting, login and logout inside TLS.
    let out = s_client(
        imaps,
        Some(&ca),
        &by_name,
        &format!("a LOGIN {user} {pw}\r\nb LOGOUT\r\n"),
    )?;
    assert_verified(&out);
    assert!(has_line(&out, "* OK"), "{out}");
    assert!(has_line(&out, "a OK"), "{out}");
    assert!(has_line(&out, "* BYE"), "{out}");
    let out = s_client(imaps, Some(&ca), &by_ip, "b LOGOUT\r\n")?;
    assert_verified(&out);
    assert!(has_line(&out, "* OK"), "{out}");

    // SMTPS: greeting, and a message submitted inside TLS gets delivered.
    let sent = message("over-smtps", "Sent in wrapper mode.");
    let data = String::from_utf8(sent.clone())?;
    let out = s_client(
        smtps,
        Some(&ca),
        &by_ip,
        &format!(
            "EHLO tester\r\nMAIL FROM:<customer@client.com>\r\nRCPT TO:<{user}>\r\nDATA\r\n{data}.\r\nQUIT\r\n"
        ),
    )?;
    assert_verified(&out);
    assert!(has_line(&out, "220 "), "{out}");
    assert!(has_line(&out, "250 2.0.0 Ok: queued"), "{out}");
    assert!(has_line(&out, "221 "), "{out}");
    let got = stack.wait_for_messages(user, "INBOX", 1, WAIT)?;
    assert!(got[0].ends_with(&sent));
    let out = s_client(smtps, Some(&ca), &by_name, "QUIT\r\n")?;
    assert_verified(&out);
    assert!(has_line(&out, "220 "), "{out}");

    // STARTTLS on the plain ports (s_client reads the greeting itself).
    let out = s_client(
        stack.smtp_port,
        Some(&ca),
        &["-starttls", "smtp", "-verify_hostname", "localhost"],
        "EHLO tester\r\nQUIT\r\n",
    )?;
    assert_verified(&out);
    assert!(has_line(&out, "250 "), "{out}");
    assert!(has_line(&out, "221 "), "{out}");
    let out = s_client(
        stack.imap_port,
        Some(&ca),
        &["-starttls", "imap", "-verify_ip", "127.0.0.1"],
        &format!("a LOGIN {user} {pw}\r\nb SELECT INBOX\r\nc LOGOUT\r\n"),
    )?;
    assert_verified(&out);
    assert!(has_line(&out, "a OK"), "{out}");
    assert!(has_line(&out, "* 1 EXISTS"), "{out}");
    assert!(has_line(&out, "* BYE"), "{out}");

    // The checks bite: no trusted CA, or the wrong name, fails.
    assert!(s_client(imaps, None, &by_name, "b LOGOUT\r\n").is_err());
    assert!(
        s_client(
            smtps,
            Some(&ca),
            &["-verify_hostname", "mail.example.com"],
            ""
        )
        .is_err()
    );

    // Plaintext still works on the plain ports.
    let mut imap = RawImap::connect(stack.imap_port)?;
    let caps = imap.run("CAPABILITY")?;
    assert!(caps.iter().any(|l| l.contains("STARTTLS")), "{caps:?}");
    assert!(tagged_ok(&imap.run(&format!("LOGIN {user} {pw}"))?));
    imap.run("LOGOUT")?;
    let plain = message("plain", "Plaintext SMTP next to TLS.");
    stack.send("customer@client.com", &[user], &plain)?;
    let got = stack.wait_for_messages(user, "INBOX", 2, WAIT)?;
    assert!(got[1].ends_with(&plain));
    stack.append(user, "Switchboard/Processed", &plain)?;
    assert_eq!(imap_exists(&stack, user, "INBOX")?, 2);

    // Stop/start keep TLS; drop closes every port and removes the folder.
    stack.stop_postfix()?;
    stack.stop_dovecot()?;
    assert!(refuses(imaps) && refuses(smtps));
    stack.start_dovecot()?;
    stack.start_postfix()?;
    assert!(has_line(
        &s_client(imaps, Some(&ca), &by_name, "b LOGOUT\r\n")?,
        "* OK"
    ));
    assert!(has_line(
        &s_client(smtps, Some(&ca), &by_name, "QUIT\r\n")?,
        "220 "
    ));
    let dir = stack.dir.clone();
    let started = Instant::now();
    drop(stack);
    eprintln!("drop took {:?}", started.elapsed());
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(
        ports.iter().all(|p| refuses(*p)),
        "ports still open after drop"
    );
    Ok(())
}

#[test]
fn plain_stack_has_no_tls() -> Result<()> {
    let stack = MailStack::start()?;
    assert_eq!(stack.ca_pem(), None);
    assert_eq!(stack.imaps_port(), None);
    assert_eq!(stack.smtps_port(), None);
    let mut imap = RawImap::connect(stack.imap_port)?;
    let caps = imap.run("CAPABILITY")?;
    assert!(!caps.iter().any(|l| l.contains("STARTTLS")), "{caps:?}");
    imap.run("LOGOUT")?;
    assert!(!stack.dir.join("tls").exists());
    Ok(())
}

/// rustls (what Switchboard uses) accepts the stack's certificate when it
/// trusts the CA, by name and by IP address.
#[test]
fn rustls_trusts_the_stack_ca() -> Result<()> {
    use std::sync::Arc;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

    let stack = MailStack::start_tls()?;
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(
        stack.ca_pem().context("ca_pem")?,
    )?)?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let ports = [
        (stack.imaps_port().context("imaps_port")?, "* OK"),
        (stack.smtps_port().context("smtps_port")?, "220 "),
    ];
    for (port, greeting) in ports {
        for name in ["localhost", "127.0.0.1"] {
            let conn =
                ClientConnection::new(config.clone(), ServerName::try_from(name)?.to_owned())?;
            let tcp = TcpStream::connect(("127.0.0.1", port))?;
            tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut line = String::new();
            BufReader::new(StreamOwned::new(conn, tcp)).read_line(&mut line)?;
            assert!(
                line.starts_with(greeting),
                "port {port} as {name}: {line:?}"
            );
        }
    }
    Ok(())
}
