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

fn ledger(f: &Fixture) -> Vec<Value> {
    String::from_utf8(cli(f, &["messages", "--json"]).stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
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

    let rows = ledger(&f);
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
