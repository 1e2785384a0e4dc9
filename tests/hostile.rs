//! Hostile and broken input: charsets (data files under tests/hostile/charsets), the
//! fuzzer's crash inputs (tests/hostile/fuzz, replayed through the whole intake), the
//! size and shape limits, and header injection into our own mail. Where the path goes
//! through IMAP and SMTP it runs against a real Dovecot and Postfix; needs
//! `scripts/install-test-deps.sh` and fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fixture::{Fixture, SUPPORT, base64, mail};
use serde_json::Value;
use switchboard::config::Config;
use switchboard::intake::{Incoming, Intake, Source};
use switchboard::message::{Message, limits};
use switchboard::store::Db;

const WAIT: Duration = Duration::from_secs(20);

fn hostile() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

// ---------------------------------------------------------------- charsets

#[derive(serde::Deserialize)]
struct Expected {
    subject: Option<String>,
    name: Option<String>,
    body: String,
}

#[test]
fn every_charset_sample_decodes_as_expected() {
    let dir = hostile().join("charsets");
    let expected: BTreeMap<String, Expected> =
        toml::from_str(&std::fs::read_to_string(dir.join("expected.toml")).unwrap()).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 16,
        "the charset samples are missing: {files:?}"
    );
    assert_eq!(
        files,
        expected.keys().cloned().collect::<Vec<_>>(),
        "every sample has an expectation and every expectation a sample"
    );
    let mut failures = Vec::new();
    for file in &files {
        let want = &expected[file];
        let raw = std::fs::read(dir.join(file)).unwrap();
        let msg = match Message::parse(&raw) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{file}: not parsed: {e}"));
                continue;
            }
        };
        if let Some(s) = &want.subject
            && &msg.subject != s
        {
            failures.push(format!("{file}: subject {:?}, expected {s:?}", msg.subject));
        }
        if let Some(n) = &want.name
            && msg.from.name.as_ref() != Some(n)
        {
            failures.push(format!("{file}: name {:?}, expected {n:?}", msg.from.name));
        }
        if !msg.body.contains(&want.body) {
            failures.push(format!("{file}: body {:?} lacks {:?}", msg.body, want.body));
        }
        if msg.body.contains('\u{FFFD}') || msg.subject.contains('\u{FFFD}') {
            failures.push(format!("{file}: replacement characters left"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------- the library on a demo-style setup

/// Intake on the demo's config (Maildir in and out) with an in-memory store.
fn library() -> (Intake, Db) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("sb-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(repo.join("examples/demo/switchboard.toml"))
        .unwrap()
        .replace("\"../../", &format!("\"{}/", repo.display()));
    let file = dir.join(format!(
        "switchboard-{:?}.toml",
        std::thread::current().id()
    ));
    std::fs::write(&file, text).unwrap();
    let (config, _) = Config::load(&file).unwrap();
    (
        Intake::new(config).unwrap(),
        Db::open(Path::new(":memory:")).unwrap(),
    )
}

fn take_in(intake: &Intake, db: &Db, raw: &[u8]) -> switchboard::intake::Report {
    let src = Source {
        mailbox: "INBOX".into(),
        uidvalidity: Some(1),
    };
    let inc = Incoming {
        uid: Some(1),
        raw: raw.to_vec(),
        too_large: None,
    };
    let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
    let mut reports = db
        .blocking(|c| intake.take_in_batch(c, &src, std::slice::from_ref(&inc), Some(1), now))
        .unwrap();
    reports.pop().unwrap()
}

/// Every input the fuzzer crashed on, through the whole intake: each ends as a ledger
/// outcome, none panics.
#[test]
fn fuzz_crash_inputs_stay_fixed() {
    let dir = hostile().join("fuzz");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    assert!(!files.is_empty(), "the fuzz regression corpus is missing");
    let (intake, db) = library();
    for file in &files {
        let raw = std::fs::read(file).unwrap();
        let report = take_in(&intake, &db, &raw);
        assert!(
            matches!(
                report.outcome,
                "case" | "follow_up" | "ignored" | "set_aside" | "quarantined" | "duplicate"
            ),
            "{}: {report:?}",
            file.display()
        );
    }
}

/// Real-world corpus messages intake once failed on (tests/hostile/corpus): each ends
/// as a ledger outcome, and none is quarantined because intake failed on it.
#[test]
fn corpus_regressions_are_taken_in() {
    let dir = hostile().join("corpus");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert!(!files.is_empty(), "the corpus regressions are missing");
    let (intake, db) = library();
    for file in &files {
        let raw = std::fs::read(file).unwrap();
        let report = take_in(&intake, &db, &raw);
        let failed = report
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("could not be processed"));
        assert!(
            matches!(
                report.outcome,
                "case" | "follow_up" | "ignored" | "set_aside" | "quarantined"
            ) && !failed,
            "{}: {report:?}",
            file.display()
        );
    }
}

// ---------------------------------------------------------------- limits

/// A header block of `size` bytes (many X-Padding lines) and a short body.
fn big_header(size: usize, message_id: &str) -> Vec<u8> {
    let mut raw = format!(
        "From: Padding <padding@client.com>\r\nTo: {SUPPORT}\r\nSubject: huge header\r\nMessage-ID: <{message_id}>\r\n"
    )
    .into_bytes();
    while raw.len() < size {
        raw.extend_from_slice(b"X-Padding: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
    }
    raw.extend_from_slice(b"\r\nThe order is late.\r\n");
    raw
}

/// multipart/mixed inside multipart/mixed, `depth` times.
fn deep_mime(depth: usize, message_id: &str) -> Vec<u8> {
    let mut raw = format!(
        "From: Deep <deep@client.com>\r\nTo: {SUPPORT}\r\nSubject: deep\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n"
    )
    .into_bytes();
    for i in 0..depth {
        raw.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"level{i}\"\r\n\r\n--level{i}\r\n")
                .as_bytes(),
        );
    }
    raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\nThe order is late.\r\n");
    for i in (0..depth).rev() {
        raw.extend_from_slice(format!("--level{i}--\r\n").as_bytes());
    }
    raw
}

/// One multipart/mixed with `parts` small text parts.
fn many_parts(parts: usize, message_id: &str) -> Vec<u8> {
    let mut raw = format!(
        "From: Parts <parts@client.com>\r\nTo: {SUPPORT}\r\nSubject: many parts\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n\r\n"
    )
    .into_bytes();
    for i in 0..parts {
        raw.extend_from_slice(
            format!("--p\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n").as_bytes(),
        );
    }
    raw.extend_from_slice(b"--p--\r\n");
    raw
}

#[test]
fn limits_are_checked_without_the_servers() {
    let cases = [
        (big_header(1_000_000, "h@x"), "the header block"),
        (deep_mime(100, "d@x"), "nested"),
        (many_parts(10_000, "p@x"), "MIME parts"),
    ];
    for (raw, what) in cases {
        let start = Instant::now();
        let err = Message::parse(&raw).unwrap_err();
        let took = start.elapsed();
        assert!(
            err.starts_with("over a limit") && err.contains(what),
            "{err}"
        );
        // How long it took is for the eye (benches/ measure); no bound on it here.
        eprintln!("{what}: refused in {took:?}");
    }
    // Just under each limit is a message like any other.
    assert!(Message::parse(&big_header(limits::HEADER_BLOCK_BYTES - 200, "h2@x")).is_ok());
    assert!(Message::parse(&deep_mime(limits::MIME_DEPTH - 1, "d2@x")).is_ok());
    assert!(Message::parse(&many_parts(limits::MIME_PARTS - 1, "p2@x")).is_ok());
}

fn row<'a>(rows: &'a [Value], message_id: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["message_id"] == message_id)
        .unwrap_or_else(|| panic!("no ledger row for {message_id}: {rows:#?}"))
}

#[test]
fn header_block_depth_and_parts_over_the_limits_are_quarantined_over_imap() {
    let f = Fixture::start().unwrap();
    f.deliver(&big_header(1_000_000, "header@client.com"))
        .unwrap();
    f.deliver(&deep_mime(100, "deep@client.com")).unwrap();
    f.deliver(&many_parts(10_000, "parts@client.com")).unwrap();
    f.deliver(&mail(
        "Sarah Jones <sarah@client.com>",
        "Complaint: the units are defective",
        "normal@client.com",
        "",
        "Half of the controllers are faulty.",
    ))
    .unwrap();
    let out = f.run_once().unwrap();
    // One line for each message: a warning for each quarantined one, with its reason;
    // plain text, since stderr is no terminal here (as in the journal).
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains('\x1b'), "{log}");
    let lines = |what: &str| log.lines().filter(|l| l.contains(what)).collect::<Vec<_>>();
    let quarantined = lines("Message quarantined");
    assert_eq!(quarantined.len(), 3, "{log}");
    assert!(
        quarantined
            .iter()
            .all(|l| l.contains(" WARN ") && l.contains("reason=\"over a limit")),
        "{log}"
    );
    assert_eq!(lines("Message taken in").len(), 1, "{log}");

    let rows = f.ledger().unwrap();
    assert_eq!(rows.len(), 4, "{rows:#?}");
    for (id, what) in [
        ("header@client.com", "the header block is larger than"),
        ("deep@client.com", "nested 101 deep"),
        ("parts@client.com", "10001 MIME parts"),
    ] {
        let r = row(&rows, id);
        assert_eq!(r["outcome"], "quarantined", "{r:#}");
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("over a limit") && reason.contains(what),
            "{reason}"
        );
    }
    assert_eq!(row(&rows, "normal@client.com")["outcome"], "case");
    // On the server: the three wait in the quarantine folder, the fourth is processed.
    let quarantined = f.stack.messages(SUPPORT, "Switchboard/Quarantine").unwrap();
    assert_eq!(quarantined.len(), 3);
    assert!(f.stack.messages(SUPPORT, "INBOX").unwrap().is_empty());
}

#[test]
fn a_50_mb_attachment_is_quarantined_from_its_header_in_bounded_memory() {
    let f = Fixture::start().unwrap();
    // The daemon's own peak on an empty mailbox (rules, model, templates, the
    // connection): what the big message is measured against.
    let (baseline, _) = f.run_once_measuring(Duration::from_secs(600)).unwrap();
    let mut raw = format!(
        "From: Big Sender <big@client.com>\r\nTo: {SUPPORT}\r\nSubject: the video of the broken unit\r\nMessage-ID: <video@client.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"v\"\r\n\r\n--v\r\nContent-Type: text/plain\r\n\r\nThe video is attached.\r\n--v\r\nContent-Type: video/mp4; name=\"unit.mp4\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    let line = base64(&[0x5a; 57]) + "\r\n";
    while raw.len() < 50 * 1024 * 1024 {
        raw.extend_from_slice(line.as_bytes());
    }
    raw.extend_from_slice(b"--v--\r\n");
    f.deliver(&raw).unwrap();
    let size = raw.len();
    drop(raw);

    let (peak, took) = f.run_once_measuring(Duration::from_secs(600)).unwrap();
    eprintln!(
        "a {} MB message: peak resident memory {} MB (on an empty mailbox {} MB), {took:.1?}",
        size / 1024 / 1024,
        peak / 1024 / 1024,
        baseline / 1024 / 1024
    );
    let rows = f.ledger().unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["outcome"], "quarantined", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("too large: {size} bytes")),
        "{reason}"
    );
    // Who sent it is known from the header alone.
    assert_eq!(r["sender"], "big@client.com");
    assert_eq!(r["subject"], "the video of the broken unit");
    // The daemon never held the message: it used less than half the message's 50 MB
    // above its own peak on an empty mailbox. (An absolute bound, 48 MB in all, was
    // met by a hair and then not: the baseline, 35-48 MB with the HTML and OAuth2
    // crates and the learned model, is most of what the daemon uses.)
    assert!(
        peak < baseline + (size as u64) / 2,
        "peak resident memory {} MB for a {} MB message, {} MB on an empty mailbox",
        peak / 1024 / 1024,
        size / 1024 / 1024,
        baseline / 1024 / 1024
    );
    let kept: i64 = f
        .count("SELECT length(raw) FROM messages WHERE message_id = 'video@client.com'")
        .unwrap();
    assert!(
        kept < 2048,
        "only the header is in the ledger: {kept} bytes"
    );
    assert_eq!(
        f.stack
            .messages(SUPPORT, "Switchboard/Quarantine")
            .unwrap()
            .len(),
        1,
        "the whole message waits in the quarantine folder"
    );
}

// ---------------------------------------------------------------- header injection

/// RFC 2047 B-word in UTF-8, whatever the bytes.
fn word(text: &str) -> String {
    format!("=?UTF-8?B?{}?=", base64(text.as_bytes()))
}

/// The header block of a delivered message, unfolded into lines.
fn header_lines(raw: &[u8]) -> Vec<String> {
    let end = limits::header_end(raw);
    let text = String::from_utf8_lossy(&raw[..end]).replace("\r\n", "\n");
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = lines.last_mut() {
                last.push_str(line);
            }
        } else if !line.is_empty() {
            lines.push(line.to_string());
        }
    }
    lines
}

#[test]
fn crafted_subjects_and_names_inject_no_header_into_our_mail() {
    let f = Fixture::start().unwrap();
    let long_subject = format!("Complaint: defective units {}", "very ".repeat(2000));
    let long_name = "N".repeat(10_000);
    let crafted: Vec<(&str, String, String)> = vec![
        (
            "crlf@client.com",
            format!(
                "{} <crlf@client.com>",
                word("Eve\r\nX-Injected: from-name\r\nBcc: victim@evil.example")
            ),
            word("Complaint: defective units\r\nX-Injected: subject\r\nBcc: victim@evil.example"),
        ),
        (
            "nul@client.com",
            "=?UTF-8?Q?Eve=00Nul=0AX-Injected:=20nul?= <nul@client.com>".into(),
            "=?UTF-8?Q?Complaint:=20defective=00units=0D=0AX-Injected:=20nul?=".into(),
        ),
        (
            "long@client.com",
            format!("{} <long@client.com>", word(&long_name)),
            word(&long_subject),
        ),
        (
            "crlf2@client.com",
            "\"Eve\r\n X-Injected: folded\" <crlf2@client.com>".into(),
            "Complaint: defective units\rX-Injected: bare-cr".into(),
        ),
    ];
    for (address, from, subject) in &crafted {
        f.deliver(
            format!(
                "From: {from}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: <{address}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHalf of the controllers in batch B-2291 are faulty and keep rebooting.\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    }
    f.run_once().unwrap();
    let rows = f.ledger().unwrap();
    assert_eq!(rows.len(), crafted.len());
    for r in &rows {
        assert_eq!(
            r["outcome"], "case",
            "a crafted header is still a case: {r:#}"
        );
    }
    let cases = f.cases().unwrap();
    for (address, _, _) in &crafted {
        let case = cases
            .iter()
            .find(|c| c["sender"] == *address)
            .unwrap_or_else(|| panic!("no case for {address}: {cases:#?}"));
        let department = case["department"].as_str().unwrap();
        let acks = f
            .stack
            .wait_for_messages(address, "INBOX", 1, WAIT)
            .unwrap();
        assert_eq!(acks.len(), 1, "{address} is acknowledged once");
        let routed = f
            .stack
            .wait_for_messages(&format!("{department}@example.com"), "INBOX", 1, WAIT)
            .unwrap();
        for raw in acks.iter().chain(routed.iter()) {
            let lines = header_lines(raw);
            for line in &lines {
                let lower = line.to_ascii_lowercase();
                assert!(
                    !lower.starts_with("x-injected") && !lower.starts_with("bcc"),
                    "{address}: injected header {line:?} in\n{}",
                    lines.join("\n")
                );
            }
            let end = limits::header_end(raw);
            assert!(!raw[..end].contains(&0), "{address}: NUL in a header");
            for physical in raw[..end].split(|&b| b == b'\n') {
                assert!(
                    physical.len() <= 998,
                    "{address}: a header line of {} bytes",
                    physical.len()
                );
            }
            let parsed = Message::parse(raw).unwrap();
            assert!(!parsed.subject.contains('\n') && !parsed.subject.contains('\r'));
        }
        let ack = Message::parse(&acks[0]).unwrap();
        assert!(
            ack.subject.contains(case["case"].as_str().unwrap()),
            "{}",
            ack.subject
        );
    }
    // Whoever the Bcc named got nothing.
    assert!(
        f.mailbox("victim@evil.example")
            .unwrap_or_default()
            .is_empty()
    );
    let long = cases
        .iter()
        .find(|c| c["sender"] == "long@client.com")
        .unwrap();
    let subject = long["subject"].as_str().unwrap();
    assert!(
        subject.chars().count() <= 1003 && subject.contains(" … ") && subject.ends_with("very"),
        "{subject}"
    );
}
