//! The daemon waiting for mail in IMAP IDLE, against a real Dovecot: new mail is
//! taken in as soon as the server reports it, not at the next poll, and SIGTERM ends
//! the wait at once. Needs `scripts/install-test-deps.sh`; fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fixture::{Fixture, mail};

/// Far longer than any wait below: a message taken in within the test's limits was
/// not found by polling.
const POLL: &str = "10m";
const WAIT: Duration = Duration::from_secs(20);

/// Starts `switchboard run` with a ten-minute poll interval; the receiver gets every
/// log line.
fn daemon(f: &Fixture) -> (Child, mpsc::Receiver<String>) {
    f.edit_config(|c| {
        c.replace(
            "poll_interval = \"1s\"",
            &format!("poll_interval = \"{POLL}\""),
        )
    })
    .unwrap();
    let mut child = f
        .command()
        .args(["run", "--config"])
        .arg(&f.config)
        .env("SWITCHBOARD_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for a log line containing `text`; returns every line seen up to it.
fn wait_for_line(rx: &mpsc::Receiver<String>, text: &str) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = line.contains(text);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!(
        "no log line with {text:?} within {WAIT:?}:\n{}",
        seen.join("\n")
    );
}

fn stop(mut child: Child) -> std::process::ExitStatus {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn idle_takes_new_mail_in_without_waiting_for_the_poll_interval() {
    let f = Fixture::start().unwrap();
    let (child, rx) = daemon(&f);
    let opened = wait_for_line(&rx, "IMAP session opened");
    assert!(
        opened.last().unwrap().contains("idle=true"),
        "Dovecot offers IDLE: {opened:?}"
    );
    wait_for_line(&rx, "IMAP IDLE started");
    for i in 0..3 {
        let who = format!("idle{i}@client.com");
        f.deliver(&mail(
            &who,
            "Complaint: my order is late",
            &format!("idle-{i}@client.com"),
            "",
            "Still waiting for the delivery.",
        ))
        .unwrap();
        // With a ten-minute poll interval, only IDLE can bring this in within WAIT.
        let acks = f.stack.wait_for_messages(&who, "INBOX", 1, WAIT).unwrap();
        assert_eq!(acks.len(), 1, "{who} got one acknowledgement");
    }
    let exit = stop(child);
    assert!(exit.success(), "exit {exit}");
    assert_eq!(f.cases().unwrap().len(), 3);
    assert_eq!(
        f.stack.messages(fixture::SUPPORT, "INBOX").unwrap().len(),
        0,
        "everything taken in was moved out of the inbox"
    );
}

#[test]
fn mail_that_arrives_during_a_pass_is_not_left_for_the_next_poll() {
    let f = Fixture::start().unwrap();
    // A backlog keeps the first pass busy while more mail arrives.
    let backlog: Vec<Vec<u8>> = (0..300)
        .map(|i| {
            mail(
                &format!("Customer {i} <b{i:03}@client.com>"),
                &format!("Complaint {i}: order arrived damaged"),
                &format!("busy-{i}@client.com"),
                "",
                "The goods arrived damaged. Please replace them.",
            )
        })
        .collect();
    f.deliver_bulk(&backlog).unwrap();
    let (child, rx) = daemon(&f);
    wait_for_line(&rx, "Message taken in");
    for i in 0..5 {
        f.deliver(&mail(
            &format!("late{i}@client.com"),
            "Complaint: wrong colour",
            &format!("during-{i}@client.com"),
            "",
            "You sent the wrong colour.",
        ))
        .unwrap();
    }
    for i in 0..5 {
        let who = format!("late{i}@client.com");
        let acks = f.stack.wait_for_messages(&who, "INBOX", 1, WAIT).unwrap();
        assert_eq!(acks.len(), 1);
    }
    let exit = stop(child);
    assert!(exit.success(), "exit {exit}");
    assert_eq!(
        f.count("SELECT count(*) FROM cases").unwrap(),
        305,
        "every message opened one case"
    );
}

#[test]
fn sigterm_ends_the_idle_wait_at_once() {
    let f = Fixture::start().unwrap();
    let (child, rx) = daemon(&f);
    wait_for_line(&rx, "IMAP IDLE started");
    let started = Instant::now();
    let exit = stop(child);
    assert!(exit.success(), "exit {exit}");
    // IDLE is renewed every five minutes: a stop within one minute is a cancelled
    // wait, not one waited out, however slow the machine.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "stopping took {:?}",
        started.elapsed()
    );
    let rest: Vec<String> = rx.iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("Stopped")),
        "the daemon said it stopped: {rest:?}"
    );
}
