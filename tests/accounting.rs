//! The message ledger as the administrator reads it (`switchboard messages`) and the
//! quarantine released after a fix (`switchboard quarantine release`), against a real
//! Dovecot and Postfix. Needs `scripts/install-test-deps.sh`; fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use fixture::{Fixture, SUPPORT, mail};
use serde_json::Value;
use switchboard::message::Message;

const WAIT: Duration = Duration::from_secs(20);

fn cli(f: &Fixture, args: &[&str]) -> Output {
    f.command()
        .args(args)
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The templates in a folder of the fixture's own, so that a test can break and mend
/// them; the config points at it.
fn own_templates(f: &Fixture) -> std::path::PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = f.dir.join("templates");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(repo.join("templates")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let from = format!("\"{}\"", repo.join("templates").display());
    let to = format!("\"{}\"", dir.display());
    f.edit_config(|c| c.replace(&from, &to)).unwrap();
    dir
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn every_message_is_listed_with_its_outcome_case_and_reason() {
    let f = Fixture::start().unwrap();
    f.deliver(&mail(
        "Sarah Jones <sarah@client.com>",
        "Complaint: the units you shipped are defective",
        "first@client.com",
        "",
        "Half of the controllers in batch B-2291 are faulty and keep rebooting.",
    ))
    .unwrap();
    f.run_once().unwrap();
    let number = f.cases().unwrap()[0]["case"].as_str().unwrap().to_string();
    f.deliver(&mail(
        "Sarah Jones <sarah@client.com>",
        &format!("Re: [{number}] serial numbers"),
        "second@client.com",
        "",
        "The faulty units are 1001, 1002 and 1007.",
    ))
    .unwrap();
    f.deliver(&mail(
        "Bob <bob@client.com>",
        "Automatic reply: away until Monday",
        "ooo@client.com",
        "Auto-Submitted: auto-replied\r\n",
        "I am out of the office.",
    ))
    .unwrap();
    // No sender anywhere: nothing a person could answer.
    f.deliver(b"Subject: \x01\x02 garbage\r\n\r\n\xff\xfe binary noise\r\n")
        .unwrap();
    f.run_once().unwrap();

    let rows = f.ledger().unwrap();
    assert_eq!(rows.len(), 4, "{rows:#?}");
    let outcomes: Vec<&str> = rows
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["case", "follow_up", "ignored", "quarantined"]);
    for r in &rows {
        assert!(
            r["uid"].as_u64().is_some(),
            "an IMAP message has its UID: {r}"
        );
        assert!(r["id"].as_i64().is_some(), "{r}");
    }
    assert_eq!(rows[0]["message_id"], "first@client.com");
    assert_eq!(rows[0]["case"], number.as_str());
    assert_eq!(rows[1]["case"], number.as_str());
    assert!(rows[2]["case"].is_null());
    assert!(
        rows[2]["reason"]
            .as_str()
            .unwrap()
            .contains("auto-submitted"),
        "{}",
        rows[2]
    );
    assert!(
        rows[3]["reason"].as_str().unwrap().contains("no sender"),
        "{}",
        rows[3]
    );
    // The table says the same, with the reasons and the counts.
    let out = cli(&f, &["messages"]);
    let table = text(&out);
    assert!(out.status.success(), "{table}");
    assert!(table.contains("reason: unreadable: no sender"), "{table}");
    assert!(
        table.contains(
            "4 message(s): 1 case, 1 follow-up, 1 ignored, 1 quarantined, 0 set aside, 0 duplicate"
        ),
        "{table}"
    );
    // The quarantine lists only the quarantined one.
    let out = cli(&f, &["quarantine", "list", "--json"]);
    let listed: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], rows[3]["id"]);
    // Nothing but the quarantined can be released.
    let id = rows[0]["id"].to_string();
    let out = cli(&f, &["quarantine", "release", &id]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not in the quarantine"),
        "{}",
        text(&out)
    );
}

/// A copy of a message (a second UID with the same bytes) and a resend under the same
/// Message-ID and sender with other bytes open nothing and send nothing, and are
/// listed, each with its UID, the ledger row it duplicates, its case and why.
#[test]
fn every_uid_seen_before_is_listed_as_a_duplicate_of_its_ledger_row() {
    let f = Fixture::start().unwrap();
    let complaint = mail(
        "Sarah Jones <sarah@client.com>",
        "Complaint: the units you shipped are defective",
        "dup@client.com",
        "",
        "Half of the controllers in batch B-2291 are faulty.",
    );
    f.deliver(&complaint).unwrap();
    f.run_once().unwrap();
    let number = f.cases().unwrap()[0]["case"].as_str().unwrap().to_string();
    f.deliver(&complaint).unwrap();
    f.deliver(&mail(
        "Sarah Jones <sarah@client.com>",
        "Complaint: the units you shipped are defective",
        "dup@client.com",
        "",
        "Sent again, with other words.",
    ))
    .unwrap();
    f.run_once().unwrap();
    // Taken in again after a restart, nothing is listed twice.
    f.run_once().unwrap();

    let rows = f.ledger().unwrap();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let outcomes: Vec<&str> = rows
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["case", "duplicate", "duplicate"]);
    let uids: std::collections::BTreeSet<u64> =
        rows.iter().map(|r| r["uid"].as_u64().unwrap()).collect();
    assert_eq!(uids.len(), 3, "each UID once: {rows:#?}");
    for r in &rows[1..] {
        assert_eq!(r["duplicate_of"], rows[0]["id"], "{r}");
        assert_eq!(r["case"], number.as_str(), "{r}");
        assert_eq!(r["message_id"], "dup@client.com", "{r}");
    }
    let reasons: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("same bytes")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("other bytes")),
        "{reasons:?}"
    );
    // The other bytes are kept; a copy's are not stored twice.
    assert_eq!(
        f.count("SELECT count(*) FROM duplicates WHERE raw IS NOT NULL")
            .unwrap(),
        1
    );
    assert_eq!(f.cases().unwrap().len(), 1);
    f.settle().unwrap();
    assert_eq!(
        f.mailbox("sarah@client.com").unwrap().len(),
        1,
        "one acknowledgement"
    );
    let table = text(&cli(&f, &["messages"]));
    assert!(
        table.contains(
            "3 message(s): 1 case, 0 follow-up, 0 ignored, 0 quarantined, 0 set aside, 2 duplicate"
        ),
        "{table}"
    );
}

#[test]
fn a_release_after_a_fix_opens_the_case_in_the_same_ledger_row() {
    let f = Fixture::start().unwrap();
    let templates = own_templates(&f);
    // A template that names a variable that does not exist: every case fails to
    // queue its acknowledgement, and the message is quarantined whole.
    edit(
        &templates.join("ack.en.txt"),
        "Thank you for your message.",
        "Thank you for your {{ message.no_such_thing }}.",
    );
    f.deliver(&mail(
        "Sarah Jones <sarah@client.com>",
        "Complaint: the units you shipped are defective",
        "broken-ack@client.com",
        "",
        "Half of the controllers in batch B-2291 are faulty and keep rebooting.",
    ))
    .unwrap();
    f.run_once().unwrap();
    let before = f.ledger().unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["outcome"], "quarantined", "{:#}", before[0]);
    let reason = before[0]["reason"].as_str().unwrap();
    assert!(reason.contains("ack.en.txt: line 5"), "{reason}");
    assert_eq!(before[0]["message_id"], "broken-ack@client.com");
    assert_eq!(before[0]["sender"], "sarah@client.com");
    assert!(
        f.cases().unwrap().is_empty(),
        "the failed case was rolled back"
    );
    let id = before[0]["id"].to_string();

    // A second mistake: the release fails again, and says why now.
    edit(
        &templates.join("ack.en.txt"),
        "{{ message.no_such_thing }}",
        "message",
    );
    edit(
        &templates.join("ack.en.txt"),
        "Subject: Received:",
        "Subject: {{ message.still_wrong }}",
    );
    let out = cli(&f, &["quarantine", "release", &id, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let rows = f.ledger().unwrap();
    assert_eq!(rows.len(), 1, "one row per message: {rows:#?}");
    assert_eq!(rows[0]["id"], before[0]["id"]);
    assert_eq!(rows[0]["outcome"], "quarantined");
    let reason = rows[0]["reason"].as_str().unwrap();
    assert!(reason.contains("ack.en.txt: line 1"), "{reason}");

    // Fixed: the release opens the case, routes it and acknowledges it.
    edit(
        &templates.join("ack.en.txt"),
        "Subject: {{ message.still_wrong }}",
        "Subject: Received:",
    );
    let out = cli(&f, &["quarantine", "release", &id, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "case", "{report:#}");
    let rows = f.ledger().unwrap();
    assert_eq!(rows.len(), 1, "one row per message: {rows:#?}");
    assert_eq!(rows[0]["id"], before[0]["id"], "the same ledger row");
    assert_eq!(rows[0]["received_at"], before[0]["received_at"]);
    assert_eq!(rows[0]["uid"], before[0]["uid"]);
    assert_eq!(rows[0]["outcome"], "case");
    assert!(rows[0]["reason"].is_null(), "{:#}", rows[0]);
    let cases = f.cases().unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(rows[0]["case"], cases[0]["case"]);

    // The daemon sends what the release queued, once.
    f.run_once().unwrap();
    let acks = f
        .stack
        .wait_for_messages("sarah@client.com", "INBOX", 1, WAIT)
        .unwrap();
    let ack = Message::parse(&acks[0]).unwrap();
    assert!(ack.subject.contains(cases[0]["case"].as_str().unwrap()));
    let department = cases[0]["department"].as_str().unwrap();
    f.stack
        .wait_for_messages(&format!("{department}@example.com"), "INBOX", 1, WAIT)
        .unwrap();
    // A second release finds nothing to do, and a second run sends nothing more.
    let out = cli(&f, &["quarantine", "release", &id]);
    assert!(!out.status.success());
    f.run_once().unwrap();
    f.settle().unwrap();
    assert_eq!(f.mailbox("sarah@client.com").unwrap().len(), 1);
    assert_eq!(f.ledger().unwrap().len(), 1);
}

#[test]
fn a_message_kept_as_header_only_is_taken_in_whole_once_the_limit_allows() {
    let f = Fixture::start().unwrap();
    // 2 MB: over the fixture's 1 MiB limit, so the mailbox fetched only its header.
    let mut raw = mail(
        "Sarah Jones <sarah@client.com>",
        "Complaint: photos of the broken units",
        "big@client.com",
        "",
        "The photos of the broken units are below.",
    );
    raw.truncate(raw.len() - 2);
    for _ in 0..20_000 {
        raw.extend_from_slice(b"PHOTO DATA PHOTO DATA PHOTO DATA PHOTO DATA PHOTO DATA PHOTO DATA PHOTO DATA PHOTO DATA PHOTO DATA\r\n");
    }
    f.deliver(&raw).unwrap();
    f.run_once().unwrap();
    let rows = f.ledger().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "quarantined");
    assert!(
        rows[0]["reason"].as_str().unwrap().starts_with("too large"),
        "{:#}",
        rows[0]
    );
    let quarantined = f.stack.messages(SUPPORT, "Switchboard/Quarantine").unwrap();
    assert_eq!(
        quarantined.len(),
        1,
        "the whole message waits on the server"
    );
    let id = rows[0]["id"].to_string();

    // Released with the old limit: still too large, still quarantined.
    let out = cli(&f, &["quarantine", "release", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(f.ledger().unwrap()[0]["outcome"], "quarantined");

    // The limit raised: the header alone cannot become the case, so the release
    // clears the way for the whole message, which the administrator puts back.
    f.edit_config(|c| c.replace("max_message_bytes = 1048576", "max_message_bytes = 4194304"))
        .unwrap();
    let out = cli(&f, &["quarantine", "release", &id]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("move it from Switchboard/Quarantine back to INBOX"),
        "{}",
        text(&out)
    );
    f.deliver(&quarantined[0]).unwrap();
    f.run_once().unwrap();
    let rows = f.ledger().unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["outcome"], "case", "{:#}", rows[0]);
    assert_eq!(rows[0]["message_id"], "big@client.com");
}
