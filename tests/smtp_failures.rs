//! SMTP failures against the real Postfix, which refuses every recipient at
//! `refused.example` with `550 5.1.1` and at `deferred.example` with `450 4.2.0` (see
//! the harness): a permanent refusal ends the mail as failed with Postfix's reason,
//! is never retried, and is named to the administrator in one alert an hour; a
//! temporary one is retried and alerts nobody. Needs `scripts/install-test-deps.sh`;
//! fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::time::Duration;

use fixture::{ADMIN, Fixture, mail};
use mailstack::{DEFERRED_DOMAIN, REFUSED_DOMAIN};
use switchboard::message::Message;

const WAIT: Duration = Duration::from_secs(30);

/// Waits until Postfix has delivered all it accepted, so that counting what arrived
/// counts everything sent. (Not `Fixture::settle`: these tests keep mail in the
/// outbox on purpose, waiting for a retry or failed for good; Postfix refuses that
/// mail at RCPT, so it never sits in Postfix's queue.)
fn settle(f: &Fixture) {
    f.stack.wait_until_delivered(WAIT).unwrap();
}

/// A complaint from `who`, which opens a case and is acknowledged to `who`.
fn complaint(who: &str, n: usize) -> Vec<u8> {
    mail(
        who,
        &format!("Complaint {n}: my order is late"),
        &format!("c{n}@{}", who.rsplit('@').next().unwrap()),
        "",
        "My order is late. This is a complaint.",
    )
}

/// (attempts, failed, last_error) of the acknowledgement to `who`.
fn ack(f: &Fixture, who: &str) -> (i64, bool, String) {
    let conn = rusqlite::Connection::open(f.db_path()).unwrap();
    conn.query_row(
        "SELECT attempts, failed_at IS NOT NULL, coalesce(last_error, '') FROM outbox
         WHERE kind = 'ack' AND recipients = ?1",
        [who],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

/// Subject and body of every alert in the administrator's mailbox.
fn alerts(f: &Fixture) -> Vec<String> {
    f.mailbox(ADMIN)
        .unwrap()
        .iter()
        .map(|raw| {
            let m = Message::parse(raw).unwrap();
            format!("{}\n{}", m.subject, m.body)
        })
        .collect()
}

#[test]
fn refused_acknowledgements_end_failed_are_never_retried_and_alert_the_administrator_once() {
    let f = Fixture::start().unwrap();
    let refused: Vec<String> = (0..3)
        .map(|i| format!("customer{i}@{REFUSED_DOMAIN}"))
        .collect();
    for (i, who) in refused.iter().enumerate() {
        f.deliver(&complaint(who, i)).unwrap();
    }
    f.deliver(&complaint("fine@client.example", 9)).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();

    for who in &refused {
        let (attempts, failed, error) = ack(&f, who);
        assert!(failed, "the acknowledgement to {who} ends failed: {error}");
        assert_eq!(attempts, 1);
        assert!(
            error.contains("(550)")
                && error.contains(&format!(
                    "5.1.1 <{who}>: Recipient address rejected: No such mailbox here"
                )),
            "Postfix's reason is kept: {error}"
        );
        assert_eq!(
            error.matches("No such mailbox").count(),
            1,
            "said once: {error}"
        );
    }
    // The rest of the mail is not held up by the refusals.
    f.stack
        .wait_for_messages("fine@client.example", "INBOX", 1, WAIT)
        .unwrap();
    f.stack.wait_for_messages(ADMIN, "INBOX", 1, WAIT).unwrap();

    // Later runs retry nothing and alert no more.
    f.run_at("2026-11-30T10:05:00+08:00").unwrap();
    f.run_at("2026-11-30T10:20:00+08:00").unwrap();
    settle(&f);
    for who in &refused {
        assert_eq!(ack(&f, who).0, 1, "{who}: one attempt, never retried");
    }
    let mail = alerts(&f);
    assert_eq!(mail.len(), 1, "exactly one alert: {mail:#?}");
    assert!(
        mail[0].contains("3 outgoing mails failed for good"),
        "{}",
        mail[0]
    );
    for who in &refused {
        assert!(mail[0].contains(&format!("ack to {who}")), "{}", mail[0]);
    }
    assert!(
        mail[0].contains("(550): 5.1.1 <customer0@refused.example>: Recipient address rejected"),
        "{}",
        mail[0]
    );
    assert!(!mail[0].contains("fine@client.example"), "{}", mail[0]);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL AND reported_at IS NULL")
            .unwrap(),
        0,
        "every failure is marked reported"
    );

    // A new refusal within the hour of the last alert waits for the hour to pass…
    let late = format!("late@{REFUSED_DOMAIN}");
    f.deliver(&complaint(&late, 3)).unwrap();
    f.run_at("2026-11-30T10:30:00+08:00").unwrap();
    assert!(ack(&f, &late).1, "failed");
    settle(&f);
    assert_eq!(alerts(&f).len(), 1, "held back within the hour");
    f.run_at("2026-11-30T10:45:00+08:00").unwrap();
    settle(&f);
    assert_eq!(alerts(&f).len(), 1, "still held back");
    // …and is then named alone in the next alert.
    f.run_at("2026-11-30T11:01:00+08:00").unwrap();
    let mail = f.stack.wait_for_messages(ADMIN, "INBOX", 2, WAIT).unwrap();
    settle(&f);
    assert_eq!(f.mailbox(ADMIN).unwrap().len(), 2);
    let second = Message::parse(&mail[1]).unwrap();
    assert!(
        second.subject.contains("An outgoing mail failed for good"),
        "{}",
        second.subject
    );
    assert!(
        second.body.contains(&format!("ack to {late}")),
        "{}",
        second.body
    );
    for who in &refused {
        assert!(!second.body.contains(who.as_str()), "{}", second.body);
    }

    // Hours later: still nothing retried, nothing told twice.
    f.run_at("2026-11-30T15:00:00+08:00").unwrap();
    settle(&f);
    assert_eq!(f.mailbox(ADMIN).unwrap().len(), 2);
    for who in refused.iter().chain([&late]) {
        assert_eq!(ack(&f, who).0, 1, "{who}: one attempt, never retried");
    }
}

#[test]
fn a_temporary_refusal_is_retried_and_alerts_nobody() {
    let f = Fixture::start().unwrap();
    let who = format!("busy@{DEFERRED_DOMAIN}");
    f.deliver(&complaint(&who, 0)).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let (attempts, failed, error) = ack(&f, &who);
    assert_eq!(attempts, 1);
    assert!(!failed, "a 4xx is not the end: {error}");
    assert!(
        error.contains("450") && error.contains("4.2.0"),
        "Postfix's reason is kept: {error}"
    );
    // Due again after the backoff (1 minute and up to a fifth more).
    f.run_at("2026-11-30T10:05:00+08:00").unwrap();
    let (attempts, failed, _) = ack(&f, &who);
    assert_eq!(attempts, 2, "retried");
    assert!(!failed);
    settle(&f);
    assert!(alerts(&f).is_empty(), "no alert for a temporary failure");
    assert_eq!(f.count("SELECT count(*) FROM alerts").unwrap(), 0);
}

#[test]
fn the_daemon_alerts_after_the_pass_that_failed_and_at_start_for_failures_not_yet_told() {
    let f = Fixture::start().unwrap();
    let at = |now: &'static str| {
        move |cmd: &mut std::process::Command| {
            cmd.args(["--now", now]);
        }
    };
    let first = [format!("a@{REFUSED_DOMAIN}"), format!("b@{REFUSED_DOMAIN}")];
    for (i, who) in first.iter().enumerate() {
        f.deliver(&complaint(who, i)).unwrap();
    }
    let daemon = f.spawn_daemon(at("2026-11-30T10:00:00+08:00")).unwrap();
    let mail = f.stack.wait_for_messages(ADMIN, "INBOX", 1, WAIT);
    let log = daemon.stop();
    let mail = mail.unwrap_or_else(|e| panic!("{e:#}\nthe log:\n{log}"));
    let alert = Message::parse(&mail[0]).unwrap();
    assert!(
        alert.subject.contains("2 outgoing mails"),
        "{}",
        alert.subject
    );
    for who in &first {
        assert!(alert.body.contains(who.as_str()), "{}", alert.body);
        assert!(
            log.contains("Mail refused for good") && log.contains(who.as_str()),
            "each failure is in the log: {log}"
        );
    }

    // Within the hour: the new failure is kept for later, over a restart.
    let later = format!("c@{REFUSED_DOMAIN}");
    f.deliver(&complaint(&later, 2)).unwrap();
    let daemon = f.spawn_daemon(at("2026-11-30T10:30:00+08:00")).unwrap();
    let waited = (|| {
        for _ in 0..300 {
            if f.count("SELECT count(*) FROM outbox WHERE kind = 'ack' AND failed_at IS NOT NULL")
                .unwrap()
                == 3
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    })();
    settle(&f);
    let log = daemon.stop();
    assert!(
        waited,
        "the third acknowledgement did not fail; the log:\n{log}"
    );
    assert_eq!(f.mailbox(ADMIN).unwrap().len(), 1, "held back: {log}");
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL AND reported_at IS NULL")
            .unwrap(),
        1
    );

    // Started again after the hour, with nothing new failing: told at start.
    let daemon = f.spawn_daemon(at("2026-11-30T11:30:00+08:00")).unwrap();
    let mail = f.stack.wait_for_messages(ADMIN, "INBOX", 2, WAIT);
    settle(&f);
    let log = daemon.stop();
    let mail = mail.unwrap_or_else(|e| panic!("{e:#}\nthe log:\n{log}"));
    assert_eq!(f.mailbox(ADMIN).unwrap().len(), 2);
    let second = Message::parse(&mail[1]).unwrap();
    assert!(second.body.contains(later.as_str()), "{}", second.body);
    for who in &first {
        assert!(!second.body.contains(who.as_str()), "{}", second.body);
    }
}
