//! The IMAP side on a bad day, against the real Dovecot: the server restarted in the
//! middle of a backlog, messages deleted by a person while Switchboard works, and a
//! folder of 50,000 messages read in bounded memory. The daemon must reconnect by
//! itself, lose nothing, take nothing twice, and never spin.
//! Needs `scripts/install-test-deps.sh`; fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fixture::{Daemon, Fixture, SUPPORT, mail};

fn complaint(i: usize) -> Vec<u8> {
    mail(
        &format!("c{i:05}@client{}.example", i % 5),
        &format!("Complaint {i}: the order is late"),
        &format!("res-{i}@client.example"),
        "",
        "My order is late.",
    )
}

fn daemon(f: &Fixture) -> Daemon {
    f.spawn_daemon(|_| {}).unwrap()
}

fn wait_for(
    child: &mut Option<Daemon>,
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            let log = child.take().map(Daemon::stop).unwrap_or_default();
            panic!("timed out waiting for {what}; the daemon's log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn dovecot_restarted_mid_backlog_the_daemon_reconnects_and_loses_nothing() {
    // A backlog, Dovecot stopped while the daemon works through it, and more mail
    // arriving while the server is down (written into the Maildir as the delivery
    // agent would): the daemon must notice, back off, reconnect and take in both.
    const FIRST: usize = 1000;
    const WHILE_DOWN: usize = 200;
    const N: usize = FIRST + WHILE_DOWN;
    let f = Fixture::start().unwrap();
    f.deliver_bulk(&(0..FIRST).map(complaint).collect::<Vec<_>>())
        .unwrap();
    let mut child = Some(daemon(&f));
    wait_for(
        &mut child,
        "the first batches",
        Duration::from_secs(120),
        || f.count("SELECT count(*) FROM messages").unwrap_or(0) >= 50,
    );
    f.stack.stop_dovecot().unwrap();
    f.deliver_bulk(&(FIRST..N).map(complaint).collect::<Vec<_>>())
        .unwrap();
    // Down until the daemon has noticed and retried: two failed checks in its log.
    let failed = |child: &Option<Daemon>| {
        child
            .as_ref()
            .map_or(0, |d| d.log().matches("Mailbox check failed").count())
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while failed(&child) < 2 {
        assert!(Instant::now() < deadline, "no failed mailbox check logged");
        std::thread::sleep(Duration::from_millis(20));
    }
    f.stack.start_dovecot().unwrap();
    wait_for(
        &mut child,
        "the whole backlog",
        Duration::from_secs(300),
        || f.count("SELECT count(*) FROM messages").unwrap_or(0) >= N as i64,
    );
    let log = child.unwrap().stop();
    assert_eq!(f.count("SELECT count(*) FROM messages").unwrap(), N as i64);
    assert_eq!(f.count("SELECT count(*) FROM cases").unwrap(), N as i64);
    assert_eq!(
        f.count("SELECT count(*) FROM outbox WHERE kind = 'ack'")
            .unwrap(),
        N as i64,
        "one acknowledgement each"
    );
    assert!(
        log.contains("Mailbox check failed"),
        "the failure is in the log:\n{log}"
    );
    // Backoff, not a busy loop: an outage of two retries (2 s, then 4 s) is a handful
    // of attempts; a loop without backoff would have logged hundreds meanwhile.
    let failures = log.matches("Mailbox check failed").count();
    assert!(
        failures <= 10,
        "{failures} failed checks in two retries:\n{log}"
    );
}

#[test]
fn messages_deleted_by_a_person_while_switchboard_works_are_not_a_problem() {
    const N: usize = 400;
    let f = Fixture::start().unwrap();
    f.deliver_bulk(&(0..N).map(complaint).collect::<Vec<_>>())
        .unwrap();
    let mut child = Some(daemon(&f));
    wait_for(
        &mut child,
        "the first batch",
        Duration::from_secs(120),
        || f.count("SELECT count(*) FROM messages").unwrap_or(0) >= 25,
    );
    // A colleague cleans up the shared mailbox by hand: every third message still in
    // the INBOX goes, as a mail client's delete + expunge leaves it (file removed).
    let inbox = f.stack.maildir_path(SUPPORT, "INBOX").unwrap();
    let mut deleted = BTreeSet::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(inbox.join(sub)) else {
            continue;
        };
        for (i, e) in entries.flatten().enumerate() {
            if i % 3 == 0
                && let Ok(raw) = std::fs::read(e.path())
                && std::fs::remove_file(e.path()).is_ok()
            {
                deleted.insert(message_id(&raw));
            }
        }
    }
    assert!(!deleted.is_empty());
    // Then everything left is taken in and moved out of the INBOX.
    wait_for(
        &mut child,
        "the INBOX to empty",
        Duration::from_secs(300),
        || f.stack.messages(SUPPORT, "INBOX").unwrap().is_empty(),
    );
    f.settle().unwrap();
    let log = child.unwrap().stop();
    let processed: BTreeSet<String> = f
        .stack
        .messages(SUPPORT, "Switchboard/Processed")
        .unwrap()
        .iter()
        .map(|raw| message_id(raw))
        .collect();
    let kept: BTreeSet<String> = (0..N)
        .map(|i| format!("res-{i}@client.example"))
        .filter(|id| !deleted.contains(id))
        .collect();
    // Every message the person left is taken in and moved. A deleted one may be
    // taken in too when the deletion came after its fetch, and may even be in the
    // folder when it came in the middle of the server's move (a link, then expunge).
    let missing: Vec<&String> = kept.difference(&processed).collect();
    assert!(missing.is_empty(), "left in place, not moved: {missing:?}");
    assert!(
        processed.difference(&kept).all(|id| deleted.contains(id)),
        "only the backlog is in the folder"
    );
    let taken = f.count("SELECT count(*) FROM messages").unwrap();
    assert!(
        taken >= kept.len() as i64 && taken <= N as i64,
        "{taken} taken in, {} of {N} deleted:\n{log}",
        deleted.len()
    );
    let list = processed
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        f.count(&format!(
            "SELECT count(*) FROM messages WHERE message_id IN ({list})"
        ))
        .unwrap(),
        processed.len() as i64,
        "every moved message is in the store"
    );
    assert_eq!(
        f.count("SELECT count(DISTINCT dedup_key) FROM messages")
            .unwrap(),
        taken,
        "nothing taken twice"
    );
    assert_eq!(
        f.count("SELECT count(*) FROM cases").unwrap(),
        taken,
        "each message taken in is a case: none of the deleted ones was taken for a broken one"
    );
}

/// The Message-ID of a raw message, without its angle brackets.
fn message_id(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let line = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
        .expect("a Message-ID header");
    line["message-id:".len()..]
        .trim()
        .trim_matches(['<', '>'])
        .to_string()
}

#[test]
fn a_folder_of_fifty_thousand_messages_is_read_in_bounded_ranges_and_memory() {
    const N: usize = 50_000;
    let f = Fixture::start().unwrap();
    f.edit_config(|c| c.replace("batch_size = 25", "batch_size = 500"))
        .unwrap();
    // Out-of-office replies: each is read, parsed, recorded and moved, but causes no
    // mail, so the test measures the mailbox side and not Postfix.
    let backlog: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            mail(
                &format!("away{i}@client.example"),
                "Out of office",
                &format!("big-{i}@client.example"),
                "Auto-Submitted: auto-replied\r\n",
                "I am away until Monday.",
            )
        })
        .collect();
    f.deliver_bulk(&backlog).unwrap();
    let (peak, _) = f
        .run_once_measuring(Duration::from_secs(1200))
        .expect("50,000 messages taken in within 20 minutes");
    assert_eq!(f.count("SELECT count(*) FROM messages").unwrap(), N as i64);
    assert_eq!(
        f.count("SELECT count(*) FROM messages WHERE outcome = 'ignored'")
            .unwrap(),
        N as i64
    );
    let mib = peak >> 20;
    eprintln!("50,000 messages: peak RSS {mib} MiB");
    // Bounded: batches of at most batch_size messages and BATCH_BYTES (6 MB), whatever
    // the folder.
    assert!(mib < 200, "peak RSS {mib} MiB");
    assert!(f.stack.messages(SUPPORT, "INBOX").unwrap().is_empty());
}

#[test]
fn a_mailbox_that_cannot_be_read_alerts_once_until_it_recovers() {
    let f = Fixture::start().unwrap();
    f.edit_config(|c| {
        c.replace(
            &format!("to = [\"{}\"]", fixture::ADMIN),
            &format!("to = [\"{}\"]\nmailbox_silence = \"2s\"", fixture::ADMIN),
        )
    })
    .unwrap();
    let mut child = Some(daemon(&f));
    let alerts_sent = |f: &Fixture| {
        f.count("SELECT count(*) FROM outbox WHERE kind = 'alert' AND sent_at IS NOT NULL")
            .unwrap_or(0)
    };
    let alerts_queued = |f: &Fixture| f.count("SELECT count(*) FROM alerts").unwrap_or(0);
    let failed = |child: &Option<Daemon>| {
        child
            .as_ref()
            .map_or(0, |d| d.log().matches("Mailbox check failed").count())
    };
    for round in 1..=2 {
        f.stack.stop_dovecot().unwrap();
        wait_for(&mut child, "the alert", Duration::from_secs(60), || {
            alerts_sent(&f) >= round
        });
        // Still down for two more failed checks, each past the silence window: the
        // second of them is logged after the first one's alert decision was made.
        let seen = failed(&child);
        let deadline = Instant::now() + Duration::from_secs(120);
        while failed(&child) < seen + 2 {
            assert!(Instant::now() < deadline, "no further mailbox check logged");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(alerts_queued(&f), round, "one alert per outage");
        f.stack.start_dovecot().unwrap();
        wait_for(&mut child, "the recovery", Duration::from_secs(60), || {
            f.count("SELECT count(*) FROM alerts WHERE cleared_at IS NOT NULL")
                .unwrap_or(0)
                >= round
        });
    }
    let log = child.unwrap().stop();
    assert!(log.contains("Recovered"), "{log}");
    let alerts = f
        .stack
        .wait_for_messages(fixture::ADMIN, "INBOX", 2, Duration::from_secs(60))
        .unwrap();
    assert_eq!(alerts.len(), 2);
}

/// Sends SIGHUP. It is handled asynchronously: waits for the daemon to say it has
/// reloaded (or refused) before the test sends the mail the new files are meant for.
fn hup(child: &mut Option<Daemon>) {
    let reloads = |d: &Daemon| d.log().matches("Reload").count();
    let daemon = child.as_ref().unwrap();
    let before = reloads(daemon);
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &daemon.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while reloads(daemon) == before {
        if Instant::now() >= deadline {
            let log = child.take().unwrap().stop();
            panic!("no reload logged within 60 s of SIGHUP; the daemon's log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_rereads_the_parties_file_and_a_broken_one_keeps_the_old() {
    let f = Fixture::start().unwrap();
    let parties = f.dir.join("parties.csv");
    std::fs::write(&parties, "address,role,name,tier\n").unwrap();
    f.edit_config(|c| c.replacen("[intake]\n", "[intake]\nparties = \"parties.csv\"\n", 1))
        .unwrap();
    let mut child = Some(daemon(&f));
    // Reads like a customer's grievance; the vendor is a supplier.
    let grievance = |i: usize| {
        mail(
            "ar@huatai-chem.com",
            &format!("来信 {i}"),
            &format!("g{i}@huatai-chem.com"),
            "",
            "贵司迟迟不回复我们的邮件，非常不满，请给个说法。",
        )
    };
    let f = &f;
    let cases = |n: i64| move || f.count("SELECT count(*) FROM cases").unwrap_or(0) >= n;
    f.deliver(&grievance(0)).unwrap();
    wait_for(
        &mut child,
        "the first case",
        Duration::from_secs(120),
        cases(1),
    );
    std::fs::write(
        &parties,
        "address,role,name,tier\nhuatai-chem.com,suplier,,\n",
    )
    .unwrap();
    hup(&mut child);
    f.deliver(&grievance(1)).unwrap();
    wait_for(
        &mut child,
        "the second case",
        Duration::from_secs(60),
        cases(2),
    );
    std::fs::write(
        &parties,
        "address,role,name,tier\nhuatai-chem.com,supplier,,\n",
    )
    .unwrap();
    hup(&mut child);
    f.deliver(&grievance(2)).unwrap();
    wait_for(
        &mut child,
        "the third case",
        Duration::from_secs(60),
        cases(3),
    );
    let log = child.unwrap().stop();
    assert!(log.contains("parties.csv:2: column 2 (role)"), "{log}");
    let categories: Vec<String> = f
        .cases()
        .unwrap()
        .iter()
        .map(|c| c["category"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        categories,
        ["complaint", "complaint", "supplier_dispute"],
        "the broken file changed nothing, the fixed one is in use"
    );
}

#[test]
fn sighup_reloads_the_rules_and_a_broken_file_keeps_the_old_ones() {
    let f = Fixture::start().unwrap();
    let rules = f.own_rules().unwrap();
    let mut child = Some(daemon(&f));
    let zzqx = |i: usize| {
        mail(
            &format!("z{i}@client.example"),
            "zzqx",
            &format!("zzqx-{i}@client.example"),
            "",
            "zzqx zzqx",
        )
    };

    // Signal handlers are in place before the daemon takes in its first message.
    f.deliver(&zzqx(0)).unwrap();
    wait_for(
        &mut child,
        "the first case",
        Duration::from_secs(120),
        || f.count("SELECT count(*) FROM cases").unwrap_or(0) >= 1,
    );
    std::fs::write(rules.join("99-test.toml"), "[[rule]]\nname = ").unwrap();
    hup(&mut child);
    f.deliver(&zzqx(1)).unwrap();
    wait_for(
        &mut child,
        "the second case",
        Duration::from_secs(60),
        || f.count("SELECT count(*) FROM cases").unwrap_or(0) >= 2,
    );
    std::fs::write(
        rules.join("99-test.toml"),
        "[[rule]]\nname = \"Test: zzqx\"\ncategory = \"complaint\"\ndepartment = \"legal\"\nweight = 100\n  [[rule.match]]\n  any = [\"zzqx\"]\n",
    )
    .unwrap();
    hup(&mut child);
    f.deliver(&zzqx(2)).unwrap();
    wait_for(
        &mut child,
        "the third case",
        Duration::from_secs(60),
        || f.count("SELECT count(*) FROM cases").unwrap_or(0) >= 3,
    );
    let log = child.unwrap().stop();
    assert!(log.contains("Reload on SIGHUP refused"), "{log}");
    assert!(
        log.contains("99-test.toml"),
        "the log names the broken file: {log}"
    );
    assert!(log.contains("Reloaded on SIGHUP"), "{log}");
    let cases = f.cases().unwrap();
    assert_ne!(
        cases[1]["department"], "legal",
        "the broken file changed nothing"
    );
    assert_eq!(cases[2]["department"], "legal", "the fixed file is in use");
}

#[test]
fn under_systemd_it_says_ready_pings_the_watchdog_and_says_stopping() {
    let f = Fixture::start().unwrap();
    let socket_path = f.dir.join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let child = f
        .spawn_daemon(|cmd| {
            cmd.env("NOTIFY_SOCKET", &socket_path)
                .env("WATCHDOG_USEC", "1000000");
        })
        .unwrap();
    let mut buf = [0u8; 256];
    let mut next = || {
        let n = socket.recv(&mut buf).expect("a notification within 30 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next(), "READY=1");
    assert_eq!(next(), "WATCHDOG=1");
    assert_eq!(next(), "WATCHDOG=1", "pings keep coming (every 0.5 s)");
    let log = child.stop();
    let mut rest = Vec::new();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    while let Ok(n) = socket.recv(&mut buf) {
        rest.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(rest.iter().any(|m| m == "STOPPING=1"), "{rest:?}\n{log}");
}
