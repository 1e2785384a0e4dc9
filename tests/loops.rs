//! Loops and floods against the real Dovecot and Postfix: a flood from one address, a
//! bounce of our acknowledgement, another auto-responder (another Switchboard, an
//! out-of-office) answering ours. Needs `scripts/install-test-deps.sh`; fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::time::Duration;

use fixture::{ADMIN, Fixture, SUPPORT, mail};
use switchboard::message::Message;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_thousand_messages_from_one_address_get_the_limit_of_acknowledgements_and_one_alert() {
    let f = Fixture::start().unwrap();
    let flood: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            mail(
                "Bot <bot@flood.example>",
                &format!("Where is my order {i}? It is late"),
                &format!("flood-{i}@flood.example"),
                "",
                "My order is late again. Complaint.",
            )
        })
        .collect();
    f.deliver_bulk(&flood).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    assert_eq!(f.count("SELECT count(*) FROM messages").unwrap(), 1000);
    f.stack
        .wait_for_messages("bot@flood.example", "INBOX", 5, WAIT)
        .unwrap();
    let alerts = f.stack.wait_for_messages(ADMIN, "INBOX", 1, WAIT).unwrap();
    f.settle().unwrap(); // anything extra has arrived
    assert_eq!(
        f.mailbox("bot@flood.example").unwrap().len(),
        5,
        "max_acks_per_sender_per_hour = 5"
    );
    let alerts_after = f.mailbox(ADMIN).unwrap();
    assert_eq!(alerts.len().max(alerts_after.len()), 1, "one alert");
    let alert = Message::parse(&alerts_after[0]).unwrap();
    assert!(
        alert.subject.contains("bot@flood.example"),
        "{}",
        alert.subject
    );

    // Still flooding a minute later: no second alert that day.
    let more: Vec<Vec<u8>> = (1000..1010)
        .map(|i| {
            mail(
                "bot@flood.example",
                "again",
                &format!("flood-{i}@flood.example"),
                "",
                "late",
            )
        })
        .collect();
    for m in &more {
        f.deliver(m).unwrap();
    }
    f.run_at("2026-11-30T10:01:00+08:00").unwrap();
    f.settle().unwrap(); // anything extra has arrived
    assert_eq!(f.mailbox(ADMIN).unwrap().len(), 1);
}

#[test]
fn a_bounced_acknowledgement_pauses_automatic_mail_to_that_address_and_opens_nothing() {
    let f = Fixture::start().unwrap();
    let who = "gone@client.example";
    f.deliver(&mail(
        who,
        "Complaint: late delivery",
        "b1@client.example",
        "",
        "My order is late.",
    ))
    .unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let ack = f.stack.wait_for_messages(who, "INBOX", 1, WAIT).unwrap();
    let ack = Message::parse(&ack[0]).unwrap();
    let ack_id = ack.message_id.unwrap();

    // The customer's server later reports the acknowledgement undeliverable (RFC 3464).
    let report = format!(
        "From: Mail Delivery System <MAILER-DAEMON@client.example>\r\nTo: {SUPPORT}\r\nReturn-Path: <>\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@client.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe mailbox is full.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.client.example\r\n\r\nFinal-Recipient: rfc822; {who}\r\nAction: failed\r\nStatus: 5.2.2\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {SUPPORT}\r\nTo: {who}\r\nMessage-ID: <{ack_id}>\r\n--b--\r\n"
    );
    f.deliver(report.as_bytes()).unwrap();
    f.run_at("2026-11-30T10:05:00+08:00").unwrap();
    assert_eq!(f.cases().unwrap().len(), 1, "the report opens nothing");
    let reason: String = {
        let conn = rusqlite::Connection::open(f.db_path()).unwrap();
        conn.query_row(
            "SELECT reason FROM messages WHERE message_id = 'dsn-1@client.example'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(reason.contains("bounced"), "{reason}");

    // A new complaint from that address opens a case, but gets no acknowledgement.
    f.deliver(&mail(
        who,
        "Complaint: still late",
        "b2@client.example",
        "",
        "Still late.",
    ))
    .unwrap();
    f.run_at("2026-11-30T11:00:00+08:00").unwrap();
    assert_eq!(f.cases().unwrap().len(), 2);
    f.settle().unwrap(); // anything extra has arrived
    assert_eq!(
        f.mailbox(who).unwrap().len(),
        1,
        "only the first acknowledgement"
    );
    // A week later the pause is over.
    f.deliver(&mail(
        who,
        "Complaint: broken part",
        "b3@client.example",
        "",
        "Broken on arrival.",
    ))
    .unwrap();
    f.run_at("2026-12-08T10:00:00+08:00").unwrap();
    f.stack.wait_for_messages(who, "INBOX", 2, WAIT).unwrap();
}

#[test]
fn another_auto_responder_answering_ours_gets_nothing_back() {
    let f = Fixture::start().unwrap();
    // Another helpdesk (another Switchboard) acknowledges mail it got from us, and an
    // out-of-office answers too: RFC 3834 says neither is to be answered.
    f.deliver(&mail(
        "Partner Helpdesk <support@partner.example>",
        "Received: your message [PD-2026-000007]",
        "pd-ack@partner.example",
        "Auto-Submitted: auto-replied\r\nX-Switchboard-Case: PD-2026-000007\r\n",
        "Thank you, your message has been received.",
    ))
    .unwrap();
    f.deliver(&mail(
        "Customer <ooo@client.example>",
        "Out of office: Complaint",
        "ooo-1@client.example",
        "Auto-Submitted: auto-replied\r\n",
        "I am out of the office until Monday.",
    ))
    .unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    for _ in 0..3 {
        f.run_at("2026-11-30T10:01:00+08:00").unwrap();
    }
    f.settle().unwrap(); // anything extra has arrived
    assert!(f.cases().unwrap().is_empty(), "no case");
    assert!(
        f.mailbox("support@partner.example").unwrap().is_empty(),
        "no ping-pong"
    );
    assert!(f.mailbox("ooo@client.example").unwrap().is_empty());
    assert_eq!(
        f.count("SELECT count(*) FROM messages WHERE outcome = 'ignored' AND reason <> ''")
            .unwrap(),
        2
    );
    assert_eq!(f.count("SELECT count(*) FROM outbox").unwrap(), 0);
}
