//! Every header Switchboard writes parses strictly: arbitrary display names and
//! subjects (specials, quotes, backslashes, control characters, Chinese, emoji, long
//! runs) go through the same compose code as every outgoing mail, and each result is
//! read back by two strict parsers — mail-parser here, and Python's `email` package
//! under `policy.strict` (tests/headers/strict.py), which reports every defect of the
//! message and of each header. Names and subjects must come back as written (after
//! the cleaning every name gets: control characters become spaces, runs of spaces
//! one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::Command;
use std::time::SystemTime;

use mail_parser::MimeHeaders;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use switchboard::compose::{AutoSubmitted, Draft, Part, PartBody, build};
use switchboard::message::attachments::clean_file_name;
use switchboard::message::clean_text;
use switchboard::outgoing::mailbox;

/// Names and subjects as mail brings them: mostly specials and odd characters.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(".".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just(",".to_string()),
        Just(";".to_string()),
        Just(":".to_string()),
        Just("<".to_string()),
        Just(">".to_string()),
        Just("@".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("=?utf-8?q?x?=".to_string()),
        Just("客户服务部".to_string()),
        Just("Müller".to_string()),
        Just("🙂".to_string()),
        "[a-zA-Z0-9]{1,12}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 1..40).prop_map(|v| v.concat())
}

#[test]
fn every_written_header_parses_strictly_with_two_parsers() {
    let dir = std::env::temp_dir().join(format!("sb-headers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The same cases on every run: a failure can be reproduced.
    let mut runner = TestRunner::deterministic();
    let from = mailbox("客服部 Customer Service", "support@example.com").unwrap();
    let mut written = 0usize;
    // The fixed cases that have gone wrong before, then the random ones.
    let mut cases: Vec<(String, String)> = vec![
        (".".into(), "Re: [SB-2026-000001] 已收到".into()),
        ("..".into(), "a.b".into()),
        ("John.Smith".into(), "x".into()),
        ("\"quoted\"".into(), "\"quoted\"".into()),
        ("back\\slash".into(), "back\\slash".into()),
        ("王.小明".into(), "王.小明 <w@x>".into()),
    ];
    for _ in 0..400 {
        let name = text().new_tree(&mut runner).unwrap().current();
        let subject = text().new_tree(&mut runner).unwrap().current();
        cases.push((name, subject));
    }
    for (i, (name, subject)) in cases.iter().enumerate() {
        let to = mailbox(name, "customer@client.example").unwrap();
        let reply_to = mailbox(name, "support+sb.token@example.com").unwrap();
        let subject = clean_text(subject, 200);
        // The name as a file name too, cleaned as every attachment's is; every
        // other mail is multipart/alternative with it attached.
        let file = clean_file_name(Some(name), 1, "application/pdf");
        let parts = [Part {
            name: file.clone(),
            content_type: "application/pdf".into(),
            content_id: None,
            body: PartBody::Bytes(b"%PDF-1.4 x".to_vec()),
            size: 10,
        }];
        let rich = i % 2 == 0;
        let composed = build(&Draft {
            from: &from,
            to,
            reply_to: Some(reply_to),
            subject: &subject,
            body: "正文 body\n",
            message_id: &format!("ack.{i}@example.com"),
            in_reply_to: None,
            references: &[],
            auto_submitted: AutoSubmitted::AutoReplied,
            case_number: "SB-2026-000001",
            date: SystemTime::UNIX_EPOCH,
            original: None,
            html: rich.then_some("<p>正文 body</p>"),
            parts: if rich { &parts } else { &[] },
        })
        .unwrap();
        let raw = composed.bytes;
        if rich {
            let parsed = mail_parser::MessageParser::new().parse(&raw).unwrap();
            let a = parsed.attachment(0).unwrap();
            assert_eq!(
                a.attachment_name(),
                Some(file.as_str()),
                "{}",
                String::from_utf8_lossy(&raw)
            );
            assert_eq!(a.contents(), b"%PDF-1.4 x");
        }
        let expected_name = clean_text(name, 200);

        // mail-parser reads them back as written — but for text that itself looks
        // like an encoded word ("=?utf-8?q?x?="), which mail-parser 0.11 decodes a
        // second time after decoding ours (RFC 2047 §6.1 decodes once); Python below
        // checks those too.
        let parsed = mail_parser::MessageParser::new().parse(&raw).unwrap();
        let to = parsed.to().and_then(|a| a.first()).unwrap();
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(to.address.as_deref(), Some("customer@client.example"));
        if !expected_name.contains("=?") {
            assert_eq!(
                words(to.name.as_deref().unwrap_or("")),
                words(&expected_name),
                "{}",
                String::from_utf8_lossy(&raw)
            );
        }
        if !subject.contains("=?") {
            assert_eq!(
                words(parsed.subject().unwrap_or("")),
                words(&subject),
                "{}",
                String::from_utf8_lossy(&raw)
            );
        }
        // No header line is longer than RFC 5322 §2.1.1's 998 octets.
        let head = raw.split(|&b| b == b'\n').take_while(|l| l != b"\r");
        assert!(
            head.clone().all(|l| l.len() <= 999),
            "{}",
            String::from_utf8_lossy(&raw)
        );

        std::fs::write(dir.join(format!("{i:04}.eml")), &raw).unwrap();
        let expected = serde_json::json!({
            "From": {"name": "客服部 Customer Service", "address": "support@example.com"},
            "To": {"name": expected_name, "address": "customer@client.example"},
            "Reply-To": {"name": expected_name, "address": "support+sb.token@example.com"},
            "Subject": subject,
            "Attachment": if rich { serde_json::Value::from(file) } else { serde_json::Value::Null },
        });
        std::fs::write(dir.join(format!("{i:04}.json")), expected.to_string()).unwrap();
        written += 1;
    }
    assert!(written > 400);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/headers/strict.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&dir)
        .output()
        .expect("python3 is needed for the strict header check");
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}", report.lines().last().unwrap_or(""));
    assert!(
        out.status.success(),
        "Python's strict parser found problems:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains(&format!("{written} checked, 0 problem(s)")),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
