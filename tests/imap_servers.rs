//! Switchboard against IMAP servers that are not our default Dovecot: Chinese folder
//! names in modified UTF-7 with either hierarchy separator, the IMAP ID command
//! (RFC 2971) only where CAPABILITY lists it, polling without IDLE and COPY +
//! \Deleted + UID EXPUNGE without MOVE. Each is a real Dovecot 2.3 whose config
//! gives it that habit (`DovecotOptions`). Needs `scripts/install-test-deps.sh`;
//! fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::time::Duration;

use fixture::{Fixture, SUPPORT, mail};
use mailstack::{DovecotOptions, MailStack};

const WAIT: Duration = Duration::from_secs(20);

/// `客服/已处理` and `客服/隔离` in modified UTF-7, computed independently of
/// Switchboard's encoder (Python's UTF-7 codec with RFC 3501's changes).
const PROCESSED_WIRE: [&str; 2] = ["&W6JnDQ-", "&XfJZBHQG-"];
const QUARANTINE_WIRE: [&str; 2] = ["&W6JnDQ-", "&lpR5uw-"];

/// Dovecot 2.3.19's capabilities after login, cut to what Switchboard could use;
/// each test leaves one out.
const CAPABILITIES: &[&str] = &[
    "IMAP4rev1",
    "SASL-IR",
    "LITERAL+",
    "ENABLE",
    "UNSELECT",
    "CHILDREN",
    "NAMESPACE",
    "UIDPLUS",
    "IDLE",
    "MOVE",
    "ID",
];

fn capabilities_without(left_out: &str) -> String {
    let caps: Vec<&str> = CAPABILITIES
        .iter()
        .copied()
        .filter(|c| *c != left_out)
        .collect();
    format!("imap_capability = {}\n", caps.join(" "))
}

/// The number in `* STATUS "…" (MESSAGES n)`.
fn messages_in(stack: &MailStack, wire: &str) -> usize {
    let lines = stack
        .imap_lines(SUPPORT, &[&format!("STATUS \"{wire}\" (MESSAGES)")])
        .unwrap();
    let status = lines
        .iter()
        .find(|l| l.starts_with("* STATUS"))
        .unwrap_or_else(|| panic!("no STATUS line: {lines:?}"));
    status
        .rsplit_once("MESSAGES ")
        .and_then(|(_, n)| n.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no count in {status:?}"))
}

fn complaint(i: usize) -> Vec<u8> {
    mail(
        &format!("Customer {i} <c{i}@client.com>"),
        "投诉：订单延误 Complaint: my order is late",
        &format!("utf7-{i}@client.com"),
        "",
        "订单还没有到。The order has not arrived.",
    )
}

/// Chinese processed and quarantine folders, on a server that separates levels with
/// `separator`: Switchboard creates them, moves mail into them, and on the next run
/// finds them again by decoding LIST (no second CREATE).
fn chinese_folders(separator: char) {
    let stack = MailStack::start_with_dovecot(DovecotOptions {
        separator: Some(separator),
        ..DovecotOptions::default()
    })
    .unwrap();
    let f = Fixture::on(stack).unwrap();
    f.edit_config(|c| {
        c.replace("Switchboard/Processed", "客服/已处理")
            .replace("Switchboard/Quarantine", "客服/隔离")
            .replace("max_message_bytes = 1048576", "max_message_bytes = 4096")
    })
    .unwrap();
    f.deliver(&complaint(1)).unwrap();
    // Over max_message_bytes: quarantined.
    f.deliver(&mail(
        "Big <big@client.com>",
        "Complaint: logs attached",
        "utf7-big@client.com",
        "",
        &"x".repeat(76).repeat(100),
    ))
    .unwrap();
    let first = f.run_once().unwrap();
    let log = String::from_utf8_lossy(&first.stderr).to_string();
    assert_eq!(log.matches("IMAP folder created").count(), 2, "{log}");

    let sep = separator.to_string();
    let processed = PROCESSED_WIRE.join(&sep);
    let quarantine = QUARANTINE_WIRE.join(&sep);
    let listed = f
        .stack
        .imap_lines(SUPPORT, &["LIST \"\" \"*\""])
        .unwrap()
        .join("\n");
    for wire in [&processed, &quarantine] {
        assert!(
            listed.contains(&format!("\"{sep}\" {wire}"))
                || listed.contains(&format!("\"{sep}\" \"{wire}\"")),
            "{wire} is listed:\n{listed}"
        );
    }
    assert_eq!(messages_in(&f.stack, &processed), 1, "{log}");
    assert_eq!(messages_in(&f.stack, &quarantine), 1, "{log}");
    assert_eq!(messages_in(&f.stack, "INBOX"), 0);

    // The next run finds both folders in LIST, moves into them again, creates nothing.
    f.deliver(&complaint(2)).unwrap();
    let second = f.run_once().unwrap();
    let log = String::from_utf8_lossy(&second.stderr).to_string();
    assert!(!log.contains("IMAP folder created"), "{log}");
    assert_eq!(messages_in(&f.stack, &processed), 2, "{log}");
    assert_eq!(f.cases().unwrap().len(), 2);
}

#[test]
fn chinese_folders_on_a_server_that_separates_with_a_slash() {
    chinese_folders('/');
}

#[test]
fn chinese_folders_on_a_server_that_separates_with_a_dot() {
    chinese_folders('.');
}
