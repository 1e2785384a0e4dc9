//! Mail that is not a case, against a real Dovecot and Postfix: each spam verdict of
//! a receiving server and the shipped not-a-case rules set a message aside — no case,
//! no acknowledgement, no routed mail — with its reason in `switchboard messages` and
//! the message in the set-aside folder; a forged `X-Spam-Flag: NO` changes nothing;
//! mail no rule claims stays a triage case and is acknowledged (unless
//! `acknowledge_unclassified = false`). Needs `scripts/install-test-deps.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::process::Output;

use fixture::{Fixture, SUPPORT, mail};
use serde_json::Value;

const SET_ASIDE_FOLDER: &str = "Switchboard/Not a case";
const NOW: &str = "2026-12-02T10:00:00+08:00";

fn cli(f: &Fixture, args: &[&str]) -> Output {
    let out = f
        .command()
        .args(args)
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A real complaint in every word: without the verdict it would open a case.
fn complaint_with(n: usize, headers: &str) -> Vec<u8> {
    mail(
        &format!("Buyer {n} <buyer{n}@spam-sender.example>"),
        "Complaint: the parcel arrived broken",
        &format!("verdict{n}@spam-sender.example"),
        headers,
        "I want to complain: the goods arrived damaged and the box was crushed. Please refund.",
    )
}

const VERDICTS: &[(&str, &str)] = &[
    ("X-Spam-Flag", "X-Spam-Flag: YES\r\n"),
    ("X-Spam", "X-Spam: Yes\r\n"),
    (
        "X-Spam-Status",
        "X-Spam-Status: Yes, score=9.1 required=5.0 tests=BAYES_99\r\n",
    ),
    ("X-Rspamd-Action", "X-Rspamd-Action: add header\r\n"),
    (
        "X-Spamd-Result",
        "X-Spamd-Result: default: True [16.10 / 15.00];\r\n\tGTUBE(0.00)[]\r\n",
    ),
    (
        "X-MS-Exchange-Organization-SCL",
        "X-MS-Exchange-Organization-SCL: 6\r\n",
    ),
    (
        "X-Forefront-Antispam-Report",
        "X-Forefront-Antispam-Report: CIP:192.0.2.7;CTRY:;LANG:en;SCL:5;SRV:;IPV:NLI;SFV:SPM;\r\n",
    ),
    // The server's verdict above a sender's forged "no": spam all the same.
    ("X-Spam-Flag", "X-Spam-Flag: YES\r\nX-Spam-Flag: NO\r\n"),
];

#[test]
fn verdicts_and_not_a_case_rules_set_mail_aside_and_nothing_is_sent() {
    let f = Fixture::start().unwrap();
    for (n, (_, headers)) in VERDICTS.iter().enumerate() {
        f.deliver(&complaint_with(n, headers)).unwrap();
    }
    // A newsletter without any list header: the shipped marketing-footer rule.
    f.deliver(&mail(
        "Deals Weekly <deals@shop-news.example>",
        "Your weekly picks",
        "newsletter@shop-news.example",
        "",
        "Ten new gadgets for your home.\r\n\r\nYou are receiving this email because you signed up. Unsubscribe here.",
    ))
    .unwrap();
    // Forged "no" on a real complaint: a verdict only ever moves mail towards spam,
    // and a "no" is not one; this is a case.
    f.deliver(&mail(
        "Sarah Jones <sarah@client.com>",
        "Complaint: the units you shipped are defective",
        "real-complaint@client.com",
        "X-Spam-Flag: NO\r\nX-Spam-Status: No, score=-1.0\r\n",
        "I want to complain: half of the controllers in batch B-2291 are faulty.",
    ))
    .unwrap();
    // Nobody's rule claims this: a triage case, acknowledged.
    f.deliver(&mail(
        "Li Wei <li.wei@customer.example>",
        "A question",
        "question@customer.example",
        "",
        "Hello, could someone call me back tomorrow morning?",
    ))
    .unwrap();
    let out = f.run_at(NOW).unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);

    let rows = f.ledger().unwrap();
    assert_eq!(rows.len(), VERDICTS.len() + 3, "{rows:#?}");
    for (n, (header, _)) in VERDICTS.iter().enumerate() {
        let row = &rows[n];
        assert_eq!(row["outcome"], "set_aside", "{row}");
        assert_eq!(row["case"], Value::Null, "{row}");
        let reason = row["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("server verdict {header} (")),
            "{header}: {reason}"
        );
    }
    let newsletter = &rows[VERDICTS.len()];
    assert_eq!(newsletter["outcome"], "set_aside", "{newsletter}");
    assert!(
        newsletter["reason"]
            .as_str()
            .unwrap()
            .contains("Newsletter or marketing footer"),
        "{newsletter}"
    );
    assert_eq!(rows[VERDICTS.len() + 1]["outcome"], "case");
    assert_eq!(rows[VERDICTS.len() + 2]["outcome"], "case");
    assert!(
        printed.contains("set_aside: from buyer0@spam-sender.example"),
        "{printed}"
    );

    // Two cases: each routed once and acknowledged once. Nothing else, to nobody else.
    assert_eq!(f.count("SELECT count(*) FROM cases").unwrap(), 2);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE kind = 'ack'")
            .unwrap(),
        2
    );
    assert_eq!(
        f.count(
            "SELECT count(*) FROM outbox WHERE recipients LIKE '%spam-sender%' OR recipients LIKE '%shop-news%'"
        )
        .unwrap(),
        0
    );
    assert_eq!(f.count("SELECT count(*) FROM deadlines d JOIN cases c ON c.id = d.case_id WHERE c.sender LIKE '%spam-sender%'").unwrap(), 0);

    // On the real Dovecot: the set-aside mail in its folder, the cases processed.
    let aside = f.stack.messages(SUPPORT, SET_ASIDE_FOLDER).unwrap();
    assert_eq!(aside.len(), VERDICTS.len() + 1);
    assert_eq!(
        f.stack
            .messages(SUPPORT, "Switchboard/Processed")
            .unwrap()
            .len(),
        2
    );
    assert!(f.mailbox(SUPPORT).unwrap().is_empty());

    // The administrator's views: the ledger and the report say why.
    let table = String::from_utf8(cli(&f, &["messages"]).stdout).unwrap();
    assert!(table.contains("set_aside"), "{table}");
    assert!(
        table.contains("reason: server verdict X-Spam-Flag (YES)"),
        "{table}"
    );
    assert!(
        table.contains(&format!("{} set aside", VERDICTS.len() + 1)),
        "{table}"
    );
    let report = String::from_utf8(
        cli(
            &f,
            &[
                "report",
                "--from",
                "2026-12-02",
                "--to",
                "2026-12-02",
                "--now",
                NOW,
            ],
        )
        .stdout,
    )
    .unwrap();
    assert!(
        report.contains(&format!(
            "SET ASIDE (not cases, received in this period): {}",
            VERDICTS.len() + 1
        )),
        "{report}"
    );
    assert!(
        report.contains("      2  server verdict X-Spam-Flag\n"),
        "{report}"
    );
    assert!(
        report.contains("      1  rule \"订阅/营销邮件正文 / Newsletter or marketing footer\""),
        "{report}"
    );

    // `switchboard messages open ID`: the newsletter becomes a case after all, its
    // acknowledgement saying it is late; a message that is not set aside cannot be.
    let id = newsletter["id"].as_i64().unwrap().to_string();
    let out = cli(
        &f,
        &[
            "messages",
            "open",
            &id,
            "--now",
            "2026-12-02T11:00:00+08:00",
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("opened"), "{said}");
    let row = f
        .ledger()
        .unwrap()
        .into_iter()
        .find(|r| r["id"].as_i64() == newsletter["id"].as_i64())
        .unwrap();
    assert_eq!(row["outcome"], "case", "{row}");
    assert!(
        row["reason"]
            .as_str()
            .unwrap()
            .contains("opened as a case by"),
        "{row}"
    );
    assert_eq!(f.count("SELECT count(*) FROM cases").unwrap(), 3);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE kind = 'ack' AND recipients LIKE '%deals@shop-news.example%'")
            .unwrap(),
        1
    );
    let case_id = rows[VERDICTS.len() + 1]["id"].as_i64().unwrap().to_string();
    let refused = f
        .command()
        .args(["messages", "open", &case_id, "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is not set aside"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn unclaimed_mail_is_not_acknowledged_when_so_configured() {
    let f = Fixture::start().unwrap();
    f.edit_config(|c| {
        c.replace(
            "max_acks_per_sender_per_hour = 5\n",
            "max_acks_per_sender_per_hour = 5\nacknowledge_unclassified = false\n",
        )
    })
    .unwrap();
    f.deliver(&mail(
        "Li Wei <li.wei@customer.example>",
        "A question",
        "question@customer.example",
        "",
        "Hello, could someone call me back tomorrow morning?",
    ))
    .unwrap();
    f.deliver(&mail(
        "Sarah Jones <sarah@client.com>",
        "Complaint: the units you shipped are defective",
        "real-complaint@client.com",
        "",
        "I want to complain: half of the controllers in batch B-2291 are faulty.",
    ))
    .unwrap();
    f.run_at(NOW).unwrap();
    let cases = f.cases().unwrap();
    assert_eq!(cases.len(), 2, "{cases:#?}");
    // The complaint is still acknowledged; the triage case is not.
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE kind = 'ack'")
            .unwrap(),
        1
    );
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE kind = 'ack' AND recipients LIKE '%sarah@client.com%'")
            .unwrap(),
        1
    );
    assert_eq!(
        f.count("SELECT count(*) FROM events WHERE kind = 'not_acknowledged' AND detail LIKE '%acknowledge_unclassified%'")
            .unwrap(),
        1
    );
}

fn at(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp()
}

fn lists(f: &Fixture) -> i64 {
    f.count("SELECT count(*) FROM outbox WHERE kind = 'set_aside_list'")
        .unwrap()
}

#[test]
fn the_daily_list_goes_once_per_working_day_and_open_takes_a_message_in() {
    let f = Fixture::start().unwrap();
    let triage = "customer-service@example.com";
    // Wednesday 10:00: three messages set aside, one real complaint.
    f.deliver(&complaint_with(0, "X-Spam-Flag: YES\r\n"))
        .unwrap();
    f.deliver(&complaint_with(1, "X-Spam: Yes\r\n")).unwrap();
    f.deliver(&mail(
        "Deals Weekly <deals@shop-news.example>",
        "Your weekly picks",
        "newsletter@shop-news.example",
        "",
        "Ten new gadgets.\r\n\r\nYou are receiving this email because you signed up. Unsubscribe here.",
    ))
    .unwrap();
    f.deliver(&mail(
        "Sarah Jones <sarah@client.com>",
        "Complaint: the units you shipped are defective",
        "real-complaint@client.com",
        "",
        "I want to complain: half of the controllers in batch B-2291 are faulty.",
    ))
    .unwrap();
    f.run_at("2026-12-02T10:00:00+08:00").unwrap();
    assert_eq!(lists(&f), 0, "the first list is the next working day's");

    // Thursday 09:31, and a restart at 09:40: one list.
    f.run_at("2026-12-03T09:31:00+08:00").unwrap();
    f.run_at("2026-12-03T09:40:00+08:00").unwrap();
    assert_eq!(lists(&f), 1);
    let got = f
        .stack
        .wait_for_messages(triage, "INBOX", 1, std::time::Duration::from_secs(20))
        .unwrap();
    let list = switchboard::message::Message::parse(&got[0]).unwrap();
    let list_id = list.message_id.clone().unwrap();
    let body = &list.body;
    let first = body.find("1. ").unwrap();
    let second = body.find("2. ").unwrap();
    let third = body.find("3. ").unwrap();
    assert!(first < second && second < third, "{body}");
    assert!(!body.contains("4. "), "{body}");
    assert!(
        body[first..second].contains("buyer0@spam-sender.example"),
        "{body}"
    );
    assert!(
        body[second..third].contains("buyer1@spam-sender.example"),
        "{body}"
    );
    assert!(body[third..].contains("deals@shop-news.example"), "{body}");
    assert!(body.contains("server verdict X-Spam-Flag (YES)"), "{body}");
    assert!(body.contains("Newsletter or marketing footer"), "{body}");
    assert!(
        !body.contains("sarah@client.com"),
        "a case is not in the list: {body}"
    );

    // Thursday noon: one more set aside; no second list that day.
    f.deliver(&complaint_with(2, "X-Rspamd-Action: reject\r\n"))
        .unwrap();
    f.run_at("2026-12-03T12:00:00+08:00").unwrap();
    assert_eq!(lists(&f), 1);

    // `Open: 2` from someone outside the triage department changes nothing; from
    // a member of it, the second message becomes a case, acknowledged as late.
    let reply = |from: &str, id: &str| {
        mail(
            from,
            "Re: 非案件邮件清单 Set-aside mail",
            id,
            &format!("In-Reply-To: <{list_id}>\r\nReferences: <{list_id}>\r\n"),
            "Open: 2\r\n\r\n> 2. buyer1@spam-sender.example",
        )
    };
    f.deliver(&reply(
        "Mallory <mallory@client.com>",
        "forged-open@client.com",
    ))
    .unwrap();
    f.deliver(&reply(
        "logistics-staff@example.com",
        "wrong-department@example.com",
    ))
    .unwrap();
    f.run_at("2026-12-03T13:00:00+08:00").unwrap();
    assert_eq!(f.count("SELECT count(*) FROM cases").unwrap(), 1);
    f.deliver(&reply(
        "Zhao <customer-service-staff@example.com>",
        "open-2@example.com",
    ))
    .unwrap();
    f.run_at("2026-12-03T14:00:00+08:00").unwrap();

    let rows = f.ledger().unwrap();
    let by_mid = |id: &str| {
        rows.iter()
            .find(|r| r["message_id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {rows:#?}"))
            .clone()
    };
    let refused = by_mid("forged-open@client.com");
    assert_eq!(refused["outcome"], "ignored");
    assert!(
        refused["reason"].as_str().unwrap().contains("refused"),
        "{refused}"
    );
    assert!(
        by_mid("wrong-department@example.com")["reason"]
            .as_str()
            .unwrap()
            .contains("refused")
    );
    assert_eq!(
        by_mid("verdict0@spam-sender.example")["outcome"],
        "set_aside"
    );
    let opened = by_mid("verdict1@spam-sender.example");
    assert_eq!(opened["outcome"], "case", "{opened}");
    assert!(
        opened["reason"]
            .as_str()
            .unwrap()
            .contains("opened as a case by customer-service-staff@example.com"),
        "{opened}"
    );
    let done = by_mid("open-2@example.com");
    assert!(
        done["reason"]
            .as_str()
            .unwrap()
            .contains("2: opened as SB-"),
        "{done}"
    );
    assert_eq!(f.count("SELECT count(*) FROM cases").unwrap(), 2);
    // Its clocks run from the moment it was opened, not from when it came.
    assert_eq!(
        f.count(
            "SELECT min(d.started_at) FROM deadlines d JOIN cases c ON c.id = d.case_id
             WHERE c.sender = 'buyer1@spam-sender.example'"
        )
        .unwrap(),
        at("2026-12-03T14:00:00+08:00")
    );
    let ack = f
        .stack
        .wait_for_messages(
            "buyer1@spam-sender.example",
            "INBOX",
            1,
            std::time::Duration::from_secs(20),
        )
        .unwrap();
    let ack = switchboard::message::Message::parse(&ack[0]).unwrap();
    assert!(ack.body.contains("this answer comes late"), "{}", ack.body);
    assert!(ack.body.contains("2026-12-02 10:00"), "{}", ack.body);
    // Nobody else who was set aside heard anything.
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE recipients LIKE '%buyer0@%' OR recipients LIKE '%buyer2@%' OR recipients LIKE '%shop-news%'")
            .unwrap(),
        0
    );

    // Friday: a second list with only what came since; Saturday: none.
    f.run_at("2026-12-04T09:31:00+08:00").unwrap();
    assert_eq!(lists(&f), 2);
    let got = f
        .stack
        .wait_for_messages(triage, "INBOX", 2, std::time::Duration::from_secs(20))
        .unwrap();
    let friday = got
        .iter()
        .map(|m| switchboard::message::Message::parse(m).unwrap())
        .find(|m| m.message_id.as_deref() != Some(list_id.as_str()))
        .unwrap();
    assert!(friday.body.contains("1. "), "{}", friday.body);
    assert!(!friday.body.contains("2. "), "{}", friday.body);
    assert!(
        friday.body.contains("buyer2@spam-sender.example"),
        "{}",
        friday.body
    );
    f.run_at("2026-12-05T09:31:00+08:00").unwrap();
    assert_eq!(lists(&f), 2);
}
