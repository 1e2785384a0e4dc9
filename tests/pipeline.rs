//! The whole spine against a real Dovecot and a real Postfix on loopback: mail in over
//! IMAP, cases in SQLite, routed and acknowledged mail out over SMTP, read back from
//! the recipients' mailboxes. Needs `scripts/install-test-deps.sh`; fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::time::Duration;

use fixture::{Fixture, mail, subjects};
use switchboard::message::Message;

const WAIT: Duration = Duration::from_secs(20);

fn case_with_sender<'a>(cases: &'a [serde_json::Value], sender: &str) -> &'a serde_json::Value {
    cases
        .iter()
        .find(|c| c["sender"] == sender)
        .unwrap_or_else(|| panic!("no case from {sender} in {cases:#?}"))
}

#[test]
fn three_kinds_of_mail_are_routed_and_acknowledged() {
    let f = Fixture::start().unwrap();
    f.deliver(&mail(
        "李明 <liming@keji-tech.cn>",
        "投诉：100台设备延迟3天交付，影响项目上线",
        "complaint-1@keji-tech.cn",
        "",
        "你好，我司采购的100台设备原定11月23日到货，至今已延迟3天仍未送达，严重影响项目上线。请尽快处理并告知到货时间。",
    ))
    .unwrap();
    f.deliver(&mail(
        "张经理 <zhang@huayuan-materials.com>",
        "关于采购订单PO-7731的价格争议",
        "dispute-1@huayuan-materials.com",
        "",
        "贵司采购部：我司按贵司采购订单 PO-7731 供货，贵司付款时按旧报价结算，每吨少付300元。该批次报价已经双方确认调整，请按新报价补齐差额。",
    ))
    .unwrap();
    f.deliver(&mail(
        "陈静 <chenjing@example.com>",
        "跨部门协作申请：季度新品推广项目",
        "collab-1@example.com",
        "Cc: design@example.com\r\n",
        "市场部发起季度新品推广项目，需设计部完成宣传海报，第10天提交初稿。请设计部确认职责与时间节点。",
    ))
    .unwrap();
    f.run_once().unwrap();

    let cases = f.cases().unwrap();
    assert_eq!(cases.len(), 3, "{cases:#?}");
    let expectations = [
        ("liming@keji-tech.cn", "complaint", "logistics"),
        (
            "zhang@huayuan-materials.com",
            "supplier_dispute",
            "procurement",
        ),
        ("chenjing@example.com", "collaboration_request", "design"),
    ];
    for (sender, category, department) in expectations {
        let case = case_with_sender(&cases, sender);
        assert_eq!(case["category"], category, "{case:#}");
        assert_eq!(case["department"], department, "{case:#}");
        let number = case["case"].as_str().unwrap();
        let tag = format!("[{number}]");

        let routed = f
            .stack
            .wait_for_messages(&format!("{department}@example.com"), "INBOX", 1, WAIT)
            .unwrap();
        assert_eq!(routed.len(), 1, "the department got one case record");
        let record = Message::parse(&routed[0]).unwrap();
        assert!(
            record.subject.contains(&tag),
            "route subject {:?} lacks {tag}",
            record.subject
        );
        assert_eq!(
            record.reply_address().email,
            fixture::SUPPORT,
            "answers come back to the shared mailbox"
        );
        // The original is attached byte for byte as the ledger keeps it (the outbox
        // keeps only its place; the sender puts it in).
        let ledger: Vec<u8> = rusqlite::Connection::open(f.db_path())
            .unwrap()
            .query_row(
                "SELECT raw FROM messages WHERE sender = ?1",
                [sender],
                |r| r.get(0),
            )
            .unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(&routed[0])
            .unwrap();
        let attached = parsed
            .attachment(0)
            .and_then(|a| a.message())
            .expect("the original is attached as message/rfc822");
        assert_eq!(
            String::from_utf8_lossy(attached.raw_message()),
            String::from_utf8_lossy(&ledger)
        );

        let acks = f.stack.wait_for_messages(sender, "INBOX", 1, WAIT).unwrap();
        assert_eq!(acks.len(), 1);
        let ack = Message::parse(&acks[0]).unwrap();
        assert!(
            ack.subject.contains(&tag),
            "ack subject {:?} lacks {tag}",
            ack.subject
        );
        assert!(
            ack.body.contains(number),
            "the acknowledgement names the case number"
        );
        assert_eq!(ack.header("Auto-Submitted"), Some("auto-replied"));
    }
    // Chinese mail is answered in Chinese.
    let ack = Message::parse(&f.mailbox("liming@keji-tech.cn").unwrap()[0]).unwrap();
    assert!(ack.body.contains("您的来信已收到"), "{}", ack.body);
    // Everything taken in left the inbox for the processed folder.
    assert_eq!(
        f.stack.messages(fixture::SUPPORT, "INBOX").unwrap().len(),
        0
    );
    assert_eq!(
        f.stack
            .messages(fixture::SUPPORT, "Switchboard/Processed")
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn a_reply_with_the_tag_joins_its_case() {
    let f = Fixture::start().unwrap();
    f.deliver(&mail(
        "Sarah Jones <sarah@client.com>",
        "Complaint: the units you shipped are defective",
        "first@client.com",
        "",
        "Half of the controllers in batch B-2291 are faulty and keep rebooting. This is unacceptable.",
    ))
    .unwrap();
    f.run_once().unwrap();
    let cases = f.cases().unwrap();
    assert_eq!(cases.len(), 1);
    let number = cases[0]["case"].as_str().unwrap().to_string();
    let department = cases[0]["department"].as_str().unwrap().to_string();

    // A reply that keeps only the tag (a new thread, no In-Reply-To).
    f.deliver(&mail(
        "Sarah Jones <sarah@client.com>",
        &format!("Re: [{number}] more details"),
        "second@client.com",
        "",
        "Here are the serial numbers of the faulty units: 1001, 1002, 1007.",
    ))
    .unwrap();
    // A reply that keeps only In-Reply-To (the subject rewritten).
    f.deliver(&mail(
        "Sarah Jones <sarah@client.com>",
        "photos",
        "third@client.com",
        "In-Reply-To: <first@client.com>\r\nReferences: <first@client.com>\r\n",
        "Photos attached.",
    ))
    .unwrap();
    // A reply to our acknowledgement whose client kept only In-Reply-To.
    let ack = f
        .stack
        .wait_for_messages("sarah@client.com", "INBOX", 1, WAIT)
        .unwrap();
    let ack_id = Message::parse(&ack[0]).unwrap().message_id.unwrap();
    f.deliver(&mail(
        "Sarah Jones <sarah@client.com>",
        "one more thing",
        "fourth@client.com",
        &format!("In-Reply-To: <{ack_id}>\r\n"),
        "Batch B-2292 is affected too.",
    ))
    .unwrap();
    f.run_once().unwrap();

    let cases = f.cases().unwrap();
    assert_eq!(cases.len(), 1, "replies open no new case: {cases:#?}");
    let ids: Vec<&str> = cases[0]["message_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for id in [
        "first@client.com",
        "second@client.com",
        "third@client.com",
        "fourth@client.com",
    ] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    // The department sees the follow-ups; the customer gets no second acknowledgement.
    let dept = f
        .stack
        .wait_for_messages(&format!("{department}@example.com"), "INBOX", 4, WAIT)
        .unwrap();
    assert_eq!(dept.len(), 4, "{:?}", subjects(&dept));
    assert!(subjects(&dept).iter().all(|s| s.contains(&number)));
    f.settle().unwrap();
    assert_eq!(f.mailbox("sarah@client.com").unwrap().len(), 1);
}

#[test]
fn auto_replies_and_bounces_get_no_acknowledgement() {
    let f = Fixture::start().unwrap();
    f.deliver(&mail(
        "Away <away@client.com>",
        "Automatic reply: order question",
        "ooo@client.com",
        "Auto-Submitted: auto-replied\r\n",
        "I am out of the office until Monday.",
    ))
    .unwrap();
    let bounce = "Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.client.com>\r\nTo: support@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-1@mx.client.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.client.com\r\n\r\nFinal-Recipient: rfc822; nobody@client.com\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n";
    f.deliver(bounce.as_bytes()).unwrap();
    // A human who sets Auto-Submitted: no is answered (RFC 3834).
    f.deliver(&mail(
        "Human <human@client.com>",
        "Complaint: wrong invoice amount",
        "human@client.com",
        "Auto-Submitted: no\r\n",
        "Your invoice charges us twice for shipping. Please refund the difference.",
    ))
    .unwrap();
    let out = f.run_once().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);

    assert_eq!(
        f.stack
            .wait_for_messages("human@client.com", "INBOX", 1, WAIT)
            .unwrap()
            .len(),
        1
    );
    f.settle().unwrap();
    assert_eq!(f.mailbox("away@client.com").unwrap().len(), 0, "{stdout}");
    assert_eq!(
        f.mailbox("mailer-daemon@mx.client.com").unwrap().len(),
        0,
        "{stdout}"
    );
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE kind = 'ack'")
            .unwrap(),
        1
    );
    assert_eq!(
        f.count("SELECT count(*) FROM messages WHERE outcome = 'ignored'")
            .unwrap(),
        2,
        "{stdout}"
    );
}

#[test]
fn a_flood_from_one_sender_gets_at_most_the_limit_of_acknowledgements() {
    let f = Fixture::start().unwrap();
    for i in 0..20 {
        f.deliver(&mail(
            "Angry <angry@client.com>",
            &format!("Complaint number {i}: still no delivery"),
            &format!("flood-{i}@client.com"),
            "",
            "Where is my order? It is late again.",
        ))
        .unwrap();
    }
    f.run_once().unwrap();
    assert_eq!(
        f.cases().unwrap().len(),
        20,
        "every message is still a case"
    );
    let acks = f
        .stack
        .wait_for_messages("angry@client.com", "INBOX", 5, WAIT)
        .unwrap();
    f.settle().unwrap();
    let acks_after = f.mailbox("angry@client.com").unwrap();
    assert_eq!(
        acks.len().max(acks_after.len()),
        5,
        "max_acks_per_sender_per_hour = 5"
    );
}

#[test]
fn a_gbk_encoded_chinese_complaint_is_decoded_and_classified() {
    let f = Fixture::start().unwrap();
    // Labelled gb2312, as many Chinese clients do, with GBK bytes.
    let mut raw = format!(
        "From: =?GB2312?B?{}?= <wangli@shop88.cn>\r\nTo: support@example.com\r\nSubject: =?GB2312?B?{}",
        fixture::base64(&gbk("王丽")),
        fixture::base64(&gbk("投诉：货物延迟交付"))
    )
    .into_bytes();
    raw.extend(b"?=\r\nMessage-ID: <gbk-1@shop88.cn>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
    raw.extend(gbk(
        "我们订购的货物已经延迟一周还没有送到，物流一直没有更新。请尽快处理。\r\n",
    ));
    f.deliver(&raw).unwrap();
    f.run_once().unwrap();
    let cases = f.cases().unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["subject"], "投诉：货物延迟交付");
    assert_eq!(cases[0]["category"], "complaint");
    assert_eq!(cases[0]["department"], "logistics");
    let ack = f
        .stack
        .wait_for_messages("wangli@shop88.cn", "INBOX", 1, WAIT)
        .unwrap();
    let ack = Message::parse(&ack[0]).unwrap();
    assert!(
        ack.body.contains("投诉"),
        "answered in Chinese: {}",
        ack.body
    );
}

#[test]
fn garbage_is_quarantined_and_the_next_message_goes_through() {
    let f = Fixture::start().unwrap();
    let garbage: Vec<u8> = (0..2048u32)
        .map(|i| (i * 7 % 251) as u8)
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    f.deliver(&garbage).unwrap();
    f.deliver(&mail(
        "Good <good@client.com>",
        "Complaint: broken screen",
        "good-1@client.com",
        "",
        "The screen of the device arrived broken.",
    ))
    .unwrap();
    let out = f.run_once().unwrap();
    assert_eq!(
        f.cases().unwrap().len(),
        1,
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        f.stack
            .wait_for_messages("good@client.com", "INBOX", 1, WAIT)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(f.count("SELECT count(*) FROM messages WHERE outcome = 'quarantined' AND reason LIKE 'unreadable%'").unwrap(), 1);
    assert_eq!(
        f.stack
            .messages(fixture::SUPPORT, "Switchboard/Quarantine")
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        f.stack.messages(fixture::SUPPORT, "INBOX").unwrap().len(),
        0
    );
}

#[test]
fn an_oversized_message_is_quarantined_without_being_downloaded() {
    let f = Fixture::start().unwrap();
    // max_message_bytes is 1 MiB in the fixture.
    let big = "x".repeat(76) + "\r\n";
    let body = big.repeat(2 * 1024 * 1024 / big.len());
    f.deliver(&mail(
        "Big <big@client.com>",
        "Complaint: see the attached logs",
        "big-1@client.com",
        "",
        &body,
    ))
    .unwrap();
    f.deliver(&mail(
        "Small <small@client.com>",
        "Complaint: late order",
        "small-1@client.com",
        "",
        "My order is late.",
    ))
    .unwrap();
    f.run_once().unwrap();
    assert_eq!(f.cases().unwrap().len(), 1);
    assert_eq!(
        f.count("SELECT count(*) FROM messages WHERE outcome = 'quarantined' AND reason LIKE 'too large%' AND length(raw) < 4096")
            .unwrap(),
        1,
        "the header alone is kept"
    );
    assert_eq!(
        f.stack
            .messages(fixture::SUPPORT, "Switchboard/Quarantine")
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        f.stack
            .wait_for_messages("small@client.com", "INBOX", 1, WAIT)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn the_same_message_seen_again_opens_nothing_even_after_uidvalidity_changes() {
    let f = Fixture::start().unwrap();
    // Read a folder that can be deleted and recreated (INBOX cannot).
    f.edit_config(|c| c.replace("folder = \"INBOX\"", "folder = \"Support\""))
        .unwrap();
    let first = mail(
        "Again <again@client.com>",
        "Complaint: wrong colour delivered",
        "again-1@client.com",
        "",
        "You sent the blue model instead of the red one.",
    );
    f.stack.append(fixture::SUPPORT, "Support", &first).unwrap();
    f.run_once().unwrap();
    assert_eq!(f.cases().unwrap().len(), 1);

    // A copy of the same message (say, delivered twice by a forwarding rule).
    f.stack.append(fixture::SUPPORT, "Support", &first).unwrap();
    f.run_once().unwrap();
    // The folder deleted and recreated with the same message and a new one: a new
    // UIDVALIDITY, UIDs start over.
    let folder = f.stack.maildir_path(fixture::SUPPORT, "Support").unwrap();
    std::fs::remove_dir_all(&folder).unwrap();
    f.stack.append(fixture::SUPPORT, "Support", &first).unwrap();
    f.stack
        .append(
            fixture::SUPPORT,
            "Support",
            &mail(
                "New <new@client.com>",
                "Complaint: broken handle",
                "again-2@client.com",
                "",
                "The handle broke.",
            ),
        )
        .unwrap();
    let out = f.run_once().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("UIDVALIDITY changed"));

    assert_eq!(
        f.cases().unwrap().len(),
        2,
        "only the new message opened a case"
    );
    assert_eq!(
        f.stack
            .wait_for_messages("new@client.com", "INBOX", 1, WAIT)
            .unwrap()
            .len(),
        1
    );
    f.settle().unwrap();
    assert_eq!(
        f.mailbox("again@client.com").unwrap().len(),
        1,
        "one acknowledgement only"
    );
}

#[test]
fn with_postfix_stopped_mail_waits_in_the_outbox_and_goes_out_when_it_is_back() {
    let f = Fixture::start().unwrap();
    f.stack.stop_postfix().unwrap();
    f.deliver(&mail(
        "Patient <patient@client.com>",
        "Complaint: invoice charged twice",
        "patient-1@client.com",
        "",
        "We were billed twice for the same order. Please refund.",
    ))
    .unwrap();
    let out = f.run_once().unwrap();
    assert_eq!(f.cases().unwrap().len(), 1);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")
            .unwrap(),
        2,
        "route and acknowledgement wait: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    f.stack.start_postfix().unwrap();
    f.run_once().unwrap();
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL")
            .unwrap(),
        2
    );
    assert_eq!(
        f.stack
            .wait_for_messages("patient@client.com", "INBOX", 1, WAIT)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn killing_the_daemon_mid_batch_loses_and_duplicates_nothing() {
    const N: usize = 600;
    let f = Fixture::start().unwrap();
    let backlog: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            mail(
                &format!("Customer {i} <c{i:04}@client{}.com>", i % 7),
                &format!("Complaint {i}: order arrived damaged"),
                &format!("kill-{i}@client.com"),
                "",
                "The goods arrived damaged. Please replace them.",
            )
        })
        .collect();
    f.deliver_bulk(&backlog).unwrap();
    let mut child = f.spawn_once().unwrap();
    // Kill it once a part of the backlog is committed and the rest is not.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let cases = f.count("SELECT count(*) FROM cases").unwrap_or(0);
        if cases >= 100 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "intake never got going"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the daemon finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = f.count("SELECT count(*) FROM cases").unwrap();
    assert!(
        at_kill < N as i64,
        "the kill came after intake finished ({at_kill} cases)"
    );

    f.run_once().unwrap();
    assert_eq!(f.count("SELECT count(*) FROM cases").unwrap(), N as i64);
    assert_eq!(
        f.count("SELECT count(DISTINCT message_id) FROM messages")
            .unwrap(),
        N as i64
    );
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE kind = 'ack'")
            .unwrap(),
        N as i64
    );
    for i in 0..N {
        let who = format!("c{i:04}@client{}.com", i % 7);
        let acks = f.stack.wait_for_messages(&who, "INBOX", 1, WAIT).unwrap();
        assert_eq!(acks.len(), 1, "{who} got {} acknowledgements", acks.len());
    }
}

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

#[test]
fn the_daemon_keeps_taking_mail_in_and_stops_cleanly_on_sigterm() {
    let f = Fixture::start().unwrap();
    let daemon = f.spawn_daemon(|_| {}).unwrap();
    for i in 0..2 {
        let who = format!("late{i}@client.com");
        f.deliver(&mail(
            &who,
            "Complaint: my order is late",
            &format!("daemon-{i}@client.com"),
            "",
            "Still waiting for the delivery.",
        ))
        .unwrap();
        // poll_interval is 1s in the fixture; the acknowledgement follows within seconds.
        assert_eq!(
            f.stack
                .wait_for_messages(&who, "INBOX", 1, WAIT)
                .unwrap()
                .len(),
            1
        );
    }
    // Exits 0 within 10 s of SIGTERM, or this panics with the log.
    let log = daemon.stop();
    assert!(
        !log.contains(MAILSTACK_PASSWORD),
        "the password appeared in the log"
    );
    assert_eq!(f.cases().unwrap().len(), 2);
}

const MAILSTACK_PASSWORD: &str = mailstack::MailStack::PASSWORD;

/// Switchboard on a TLS-enabled stack, with the given IMAP and SMTP modes and, if
/// `trust_ca`, the stack's private CA in `ca_file`.
fn tls_fixture(imap_tls: &str, smtp_tls: &str, trust_ca: bool) -> Fixture {
    let f = Fixture::on(mailstack::MailStack::start_tls().unwrap()).unwrap();
    let imap_port = match imap_tls {
        "implicit" => f.stack.imaps_port().unwrap(),
        _ => f.stack.imap_port,
    };
    let smtp_port = match smtp_tls {
        "implicit" => f.stack.smtps_port().unwrap(),
        _ => f.stack.smtp_port,
    };
    let ca = f.stack.ca_pem().unwrap();
    let ca_line = if trust_ca {
        format!("ca_file = \"{}\"\n", ca.display())
    } else {
        String::new()
    };
    let (plain_imap, plain_smtp) = (f.stack.imap_port, f.stack.smtp_port);
    f.edit_config(|c| {
        c.replace(
            &format!("port = {plain_imap}\ntls = \"none\"\n"),
            &format!("port = {imap_port}\ntls = \"{imap_tls}\"\n{ca_line}"),
        )
        .replace(
            &format!("port = {plain_smtp}\ntls = \"none\"\n"),
            &format!("port = {smtp_port}\ntls = \"{smtp_tls}\"\n{ca_line}"),
        )
    })
    .unwrap();
    f
}

#[test]
fn tls_both_ways_with_a_private_ca() {
    for (imap_tls, smtp_tls) in [("implicit", "starttls"), ("starttls", "implicit")] {
        let f = tls_fixture(imap_tls, smtp_tls, true);
        f.deliver(&mail(
            "Secure <secure@client.com>",
            "Complaint: the parcel never arrived",
            "tls-1@client.com",
            "",
            "The parcel never arrived.",
        ))
        .unwrap();
        f.run_once().unwrap();
        assert_eq!(f.cases().unwrap().len(), 1, "IMAP over {imap_tls} TLS");
        let acks = f
            .stack
            .wait_for_messages("secure@client.com", "INBOX", 1, WAIT)
            .unwrap();
        assert_eq!(acks.len(), 1, "SMTP over {smtp_tls} TLS");
    }
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let f = tls_fixture("implicit", "starttls", false);
    f.deliver(&mail(
        "A <a@client.com>",
        "Complaint: late",
        "tls-2@client.com",
        "",
        "Late.",
    ))
    .unwrap();
    let out = f
        .command()
        .args(["run", "--once", "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a certificate from an unknown CA was accepted"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TLS handshake"), "{stderr}");
    assert!(
        !stderr.contains(MAILSTACK_PASSWORD),
        "the password appeared in the error"
    );
    assert_eq!(
        f.stack.messages(fixture::SUPPORT, "INBOX").unwrap().len(),
        1,
        "the message waits"
    );
}
