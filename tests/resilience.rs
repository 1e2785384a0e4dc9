//! The IMAP side on a bad day, against the real Dovecot: the server restarted in the
//! middle of a backlog, messages deleted by a person while Switchboard works, and a
//! folder of 50,000 messages read in bounded memory. The daemon must reconnect by
//! itself, lose nothing, take nothing twice, and never spin.
//! Needs `scripts/install-test-deps.sh`; fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use fixture::{Fixture, SUPPORT, mail};

fn complaint(i: usize) -> Vec<u8> {
    mail(
        &format!("c{i:05}@client{}.example", i % 5),
        &format!("Complaint {i}: the order is late"),
        &format!("res-{i}@client.example"),
        "",
        "My order is late.",
    )
}

fn daemon(f: &Fixture) -> Child {
    f.command()
        .args(["run", "--config"])
        .arg(&f.config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Stops the daemon with SIGTERM and returns its log.
fn stop(mut child: Child) -> String {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut stuck = false;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            stuck = true;
            let _ = child.kill();
            let _ = child.wait();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(!stuck, "no exit within 15 s of SIGTERM; the log:\n{log}");
    log
}

/// Waits until `done`; on timeout, stops the daemon and fails with its log.
fn wait_for(
    child: &mut Option<Child>,
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            let log = child.take().map(stop).unwrap_or_default();
            panic!("timed out waiting for {what}; the daemon's log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn dovecot_restarted_mid_backlog_the_daemon_reconnects_and_loses_nothing() {
    const N: usize = 600;
    let f = Fixture::start().unwrap();
    f.deliver_bulk(&(0..N).map(complaint).collect::<Vec<_>>())
        .unwrap();
    let mut child = Some(daemon(&f));
    wait_for(
        &mut child,
        "the first batches",
        Duration::from_secs(120),
        || f.count("SELECT count(*) FROM messages").unwrap_or(0) >= 50,
    );
    f.stack.stop_dovecot().unwrap();
    let at_stop = f.count("SELECT count(*) FROM messages").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    f.stack.start_dovecot().unwrap();
    wait_for(
        &mut child,
        "the whole backlog",
        Duration::from_secs(300),
        || f.count("SELECT count(*) FROM messages").unwrap_or(0) >= N as i64,
    );
    let log = stop(child.unwrap());
    assert!(
        at_stop < N as i64,
        "the restart came after the backlog was done"
    );
    assert_eq!(f.count("SELECT count(*) FROM messages").unwrap(), N as i64);
    assert_eq!(f.count("SELECT count(*) FROM cases").unwrap(), N as i64);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE kind = 'ack'")
            .unwrap(),
        N as i64,
        "one acknowledgement each"
    );
    assert!(
        log.contains("Mailbox check failed"),
        "the failure is in the log:\n{log}"
    );
    // Backoff, not a busy loop: a 3-second outage is a handful of attempts.
    let failures = log.matches("Mailbox check failed").count();
    assert!(failures <= 10, "{failures} failed checks in 3 s:\n{log}");
}

#[test]
fn messages_deleted_by_a_person_while_switchboard_works_are_not_a_problem() {
    const N: usize = 400;
    let f = Fixture::start().unwrap();
    f.deliver_bulk(&(0..N).map(complaint).collect::<Vec<_>>())
        .unwrap();
    let mut child = Some(daemon(&f));
    wait_for(
        &mut child,
        "the first batch",
        Duration::from_secs(120),
        || f.count("SELECT count(*) FROM messages").unwrap_or(0) >= 25,
    );
    // A colleague cleans up the shared mailbox by hand: every third message still in
    // the INBOX goes, as a mail client's delete + expunge leaves it (file removed).
    let inbox = f.stack.maildir_path(SUPPORT, "INBOX").unwrap();
    let mut deleted = 0;
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(inbox.join(sub)) else {
            continue;
        };
        for (i, e) in entries.flatten().enumerate() {
            if i % 3 == 0 && std::fs::remove_file(e.path()).is_ok() {
                deleted += 1;
            }
        }
    }
    assert!(deleted > 0);
    // Then everything left is taken in and moved out of the INBOX.
    wait_for(
        &mut child,
        "the INBOX to empty",
        Duration::from_secs(300),
        || f.stack.messages(SUPPORT, "INBOX").unwrap().is_empty(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let log = stop(child.unwrap());
    let taken = f.count("SELECT count(*) FROM messages").unwrap();
    assert!(
        taken >= (N - deleted) as i64 && taken <= N as i64,
        "{taken} taken in, {deleted} of {N} deleted:\n{log}"
    );
    assert_eq!(
        f.count("SELECT count(DISTINCT dedup_key) FROM messages")
            .unwrap(),
        taken,
        "nothing taken twice"
    );
    assert_eq!(f.count("SELECT count(*) FROM cases").unwrap(), taken);
    let processed = f
        .stack
        .messages(SUPPORT, "Switchboard/Processed")
        .unwrap()
        .len();
    assert_eq!(processed as i64, taken, "what was taken in was moved");
}

/// Peak resident memory of a running process, from /proc (kB).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn a_folder_of_fifty_thousand_messages_is_read_in_bounded_ranges_and_memory() {
    const N: usize = 50_000;
    let f = Fixture::start().unwrap();
    f.edit_config(|c| c.replace("batch_size = 25", "batch_size = 500"))
        .unwrap();
    // Out-of-office replies: each is read, parsed, recorded and moved, but causes no
    // mail, so the test measures the mailbox side and not Postfix.
    let backlog: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            mail(
                &format!("away{i}@client.example"),
                "Out of office",
                &format!("big-{i}@client.example"),
                "Auto-Submitted: auto-replied\r\n",
                "I am away until Monday.",
            )
        })
        .collect();
    f.deliver_bulk(&backlog).unwrap();
    let mut child = f
        .command()
        .args(["run", "--once", "--config"])
        .arg(&f.config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(1200);
    let status = loop {
        if let Some(kb) = peak_rss_kb(pid) {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "50,000 messages took over 20 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    assert_eq!(f.count("SELECT count(*) FROM messages").unwrap(), N as i64);
    assert_eq!(
        f.count("SELECT count(*) FROM messages WHERE outcome = 'ignored'")
            .unwrap(),
        N as i64
    );
    eprintln!("50,000 messages: peak RSS {} MB", peak / 1024);
    // Bounded: batches of at most batch_size messages and 32 MB, whatever the folder.
    assert!(peak < 200 * 1024, "peak RSS {} MB", peak / 1024);
    assert!(f.stack.messages(SUPPORT, "INBOX").unwrap().is_empty());
}
