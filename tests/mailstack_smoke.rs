//! Proves the test mail system (tests/harness/mailstack.rs) works: SMTP in,
//! LMTP delivery, Maildir reads, IMAP logins, stop/start of either server,
//! and several stacks side by side. These fail, never skip, when Dovecot or
//! Postfix is missing (see scripts/install-test-deps.sh).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/mailstack.rs"]
mod mailstack;

use anyhow::{Context, Result, bail};
use mailstack::MailStack;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

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

    // A wrong password is refused, and costs no delay for later logins.
    let mut bad = RawImap::connect(stack.imap_port)?;
    let refused = bad.run("LOGIN support@example.com wrong")?;
    assert!(!tagged_ok(&refused), "{refused:?}");
    let started = Instant::now();
    assert_eq!(imap_exists(&stack, "support@example.com", "INBOX")?, 1);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "login took {:?}",
        started.elapsed()
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
    std::thread::sleep(Duration::from_millis(300));
    assert!(stack.messages("support@example.com", "INBOX")?.is_empty());

    let started = Instant::now();
    stack.start_dovecot()?;
    eprintln!("start_dovecot took {:?}", started.elapsed());
    let got = stack.wait_for_messages("support@example.com", "INBOX", 1, Duration::from_secs(5))?;
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
    let got = stack.wait_for_messages("support@example.com", "INBOX", 2, Duration::from_secs(5))?;
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
            std::thread::sleep(Duration::from_millis(300));
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
