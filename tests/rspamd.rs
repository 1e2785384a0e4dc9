//! Rspamd asked about mail that carries no verdict, against a real Rspamd (Debian's
//! `rspamd`, stock configuration, on private loopback ports) and a real Dovecot and
//! Postfix: a message with the GTUBE test string is set aside with Rspamd's reason
//! even though it carries a forged `X-Spam-Flag: NO`; with Rspamd stopped, mail is
//! taken in normally and the log says once why no verdict was asked. Needs
//! `scripts/install-test-deps.sh`; fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;
#[path = "harness/rspamd.rs"]
mod rspamd;

use fixture::{Fixture, SUPPORT, mail};
use serde_json::Value;

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn complaint(n: usize) -> Vec<u8> {
    mail(
        &format!("Customer {n} <customer{n}@client.com>"),
        "Complaint: the units you shipped are defective",
        &format!("complaint{n}@client.com"),
        "",
        "I want to complain: half of the controllers in batch B-2291 are faulty.",
    )
}

#[test]
fn gtube_is_set_aside_by_rspamd_and_a_stopped_rspamd_stops_nothing() {
    let f = Fixture::start().unwrap();
    let mut rspamd =
        rspamd::Rspamd::start(&f.stack.dir.join("rspamd"), mailstack::pick_port).unwrap();
    // The timeout is a bound against a hang: Rspamd's first answer after its start
    // initialises its modules.
    let url = rspamd.url();
    f.edit_config(|c| format!("{c}\n[spam]\nrspamd = \"{url}\"\nrspamd_timeout = \"60s\"\n"))
        .unwrap();
    f.deliver(&mail(
        "Buyer <buyer@spam-sender.example>",
        "Complaint: the parcel arrived broken",
        "gtube@spam-sender.example",
        "X-Spam-Flag: NO\r\n",
        &format!("I want to complain, the goods arrived damaged.\r\n\r\n{GTUBE}"),
    ))
    .unwrap();
    f.run_at("2026-12-02T10:00:00+08:00").unwrap();
    let rows = f.ledger().unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["outcome"], "set_aside", "{}", rows[0]);
    let reason = rows[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("Rspamd reject (score "), "{reason}");
    assert!(reason.contains("GTUBE"), "{reason}");
    assert_eq!(f.count("SELECT count(*) FROM outbox").unwrap(), 0);
    assert_eq!(f.count("SELECT count(*) FROM cases").unwrap(), 0);
    assert_eq!(
        f.stack
            .messages(SUPPORT, "Switchboard/Not a case")
            .unwrap()
            .len(),
        1
    );

    // Rspamd stopped: three complaints are cases as if there were no Rspamd, and
    // the log says once why no verdict was asked.
    rspamd.stop();
    for n in 0..3 {
        f.deliver(&complaint(n)).unwrap();
    }
    let out = f.run_at("2026-12-02T10:05:00+08:00").unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        log.matches("Rspamd asked for no verdict").count(),
        1,
        "{log}"
    );
    assert!(log.contains(&url), "{log}");
    let rows = f.ledger().unwrap();
    let cases: Vec<&Value> = rows.iter().filter(|r| r["outcome"] == "case").collect();
    assert_eq!(cases.len(), 3, "{rows:#?}");
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE kind = 'ack'")
            .unwrap(),
        3
    );
}
