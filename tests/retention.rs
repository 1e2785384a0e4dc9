//! Retention against the real Dovecot: cases taken in over IMAP, closed, and three
//! years on (`--now`) exported, verified and purged; a held case kept; a SIGKILL in
//! the middle of the purge loses neither a case nor its bag; `--dry-run` changes
//! nothing. Needs `scripts/install-test-deps.sh`; fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use fixture::{Fixture, GENERAL_MANAGER};

const CASES: usize = 40;
/// Three years and a day after the cases were closed (2026-12-02).
const LATER: &str = "2029-12-03T10:00:00+08:00";

fn ok(out: Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

fn store_bytes(f: &Fixture) -> Vec<Vec<u8>> {
    // Not the -shm file: it is the WAL's shared-memory index, where every reader
    // records the snapshot it reads (sqlite.org/walformat.html, "read marks").
    ["", "-wal"]
        .iter()
        .map(|s| std::fs::read(format!("{}{s}", f.db_path().display())).unwrap_or_default())
        .collect()
}

fn numbers(f: &Fixture) -> BTreeSet<String> {
    f.cases()
        .unwrap()
        .iter()
        .map(|c| c["case"].as_str().unwrap().to_string())
        .collect()
}

fn valid_bag(f: &Fixture, bag: &Path) -> bool {
    bag.is_dir()
        && f.command()
            .args(["archive", "verify"])
            .arg(bag)
            .output()
            .unwrap()
            .status
            .success()
}

#[test]
fn three_years_on_closed_cases_are_archived_then_purged_and_a_held_one_is_kept() {
    let f = Fixture::start().unwrap();
    f.edit_config(|c| {
        format!(
            "{c}\n[retention]\nclosed_cases = \"3y\"\nignored = \"30d\"\narchive_to = \"archive\"\n"
        )
    })
    .unwrap();
    let archive = f.dir.join("archive");
    let mut mail: Vec<Vec<u8>> = (0..CASES)
        .map(|i| {
            fixture::mail(
                &format!("Customer {i} <customer{i}@client{i}.cn>"),
                &format!("投诉：订单 {i} 延迟交付"),
                &format!("retention-{i}@client.cn"),
                "",
                &"货物至今未到，请尽快处理。".repeat(200),
            )
        })
        .collect();
    // An auto-reply that belongs to no case: kept as ignored, purged after 30 days.
    mail.push(fixture::mail(
        "Robot <noreply@elsewhere.cn>",
        "Automatic reply: out of office",
        "ooo-1@elsewhere.cn",
        "Auto-Submitted: auto-replied\r\n",
        "I am away.",
    ));
    f.deliver_bulk(&mail).unwrap();
    f.run_once().unwrap();
    let all = numbers(&f);
    assert_eq!(all.len(), CASES);
    let ignored = f
        .count("SELECT count(*) FROM messages WHERE outcome = 'ignored' AND case_id IS NULL")
        .unwrap();
    assert!(ignored >= 1, "the auto-reply was not kept as ignored");

    // The cases are closed (setting up the state; closing by reply is tested elsewhere).
    let conn = rusqlite::Connection::open(f.db_path()).unwrap();
    conn.execute_batch(
        "UPDATE cases SET status = 'closed';
         INSERT INTO events (case_id, at, kind, detail)
             SELECT id, unixepoch('2026-12-02T12:00:00Z'), 'closed', 'closed for the test' FROM cases;",
    )
    .unwrap();
    drop(conn);

    let held = all.iter().next().unwrap().clone();
    let said = ok(f
        .command()
        .args(["cases", "hold", &held, "--config"])
        .arg(&f.config)
        .output()
        .unwrap());
    assert!(said.contains("under legal hold"), "{said}");
    let timeline = f.show(&held, LATER).unwrap();
    assert!(
        timeline["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "hold"),
        "{timeline:#}"
    );

    // --dry-run: lists what would go and why, changes nothing.
    let before = store_bytes(&f);
    let dry = ok(f
        .command()
        .args(["retention", "--dry-run", "--now", LATER, "--config"])
        .arg(&f.config)
        .output()
        .unwrap());
    assert!(store_bytes(&f) == before, "--dry-run changed the store");
    assert!(!archive.exists(), "--dry-run wrote an archive");
    assert!(
        dry.contains(&format!("{} case(s) would be purged, 1 held.", CASES - 1)),
        "{dry}"
    );
    assert!(
        dry.contains(&format!("case {held}: past retention but under legal hold")),
        "{dry}"
    );
    assert!(
        dry.contains("kept 3y (retention.closed_cases), archived to"),
        "{dry}"
    );

    // archive export --closed-before: every case closed before that day, none after.
    let exports = f.dir.join("exports");
    let none = ok(f
        .command()
        .args([
            "archive",
            "export",
            "--closed-before",
            "2026-12-01",
            "--out",
        ])
        .arg(&exports)
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap());
    assert!(none.contains("0 case(s) exported"), "{none}");
    let every = ok(f
        .command()
        .args([
            "archive",
            "export",
            "--closed-before",
            "2026-12-03",
            "--out",
        ])
        .arg(&exports)
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap());
    assert!(
        every.contains(&format!("{CASES} case(s) exported")),
        "{every}"
    );
    for number in &all {
        assert!(valid_bag(&f, &exports.join(number)), "{number}");
    }

    // The purge, killed as soon as a second bag is in place: the first case is then
    // purged (bags are written one case at a time, each after the last commit) and
    // the second is between its bag and its delete.
    let mut child = f
        .command()
        .args(["retention", "--now", LATER, "--config"])
        .arg(&f.config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let finished_bag = || {
        std::fs::read_dir(&archive).is_ok_and(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| !e.file_name().to_string_lossy().ends_with(".partial"))
            })
            .count()
                >= 2
        })
    };
    while !finished_bag() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "retention ended before any bag was seen"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no bag appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();

    let left = numbers(&f);
    assert!(left.contains(&held));
    let mut purged = 0;
    for number in &all {
        if !left.contains(number) {
            purged += 1;
            assert!(
                valid_bag(&f, &archive.join(number)),
                "{number} is gone from the store without a valid bag"
            );
        }
    }
    eprintln!(
        "SIGKILL {} the purge: {purged} case(s) purged, {} left",
        if running { "during" } else { "just after" },
        left.len()
    );

    // Run again: it finishes, reusing the bags left behind.
    let done = ok(f
        .command()
        .args(["retention", "--now", LATER, "--config"])
        .arg(&f.config)
        .output()
        .unwrap());
    assert!(
        done.contains("0 case(s) kept after a failed archive"),
        "{done}"
    );
    assert_eq!(numbers(&f), BTreeSet::from([held.clone()]));
    assert_eq!(
        f.count("SELECT count(*) FROM messages WHERE outcome = 'ignored'")
            .unwrap(),
        0
    );
    ok(f.command()
        .args(["archive", "verify"])
        .arg(&archive)
        .output()
        .unwrap());
    for number in all.iter().filter(|n| **n != held) {
        assert!(valid_bag(&f, &archive.join(number)), "{number}");
        let json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(archive.join(number).join("data/case.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["case"]["case"], number.as_str());
    }
    assert!(!archive.join(&held).exists());

    // Every purge is an audit row, once, even across the kill.
    let audit = ok(f
        .command()
        .args(["audit", "--json", "--config"])
        .arg(&f.config)
        .output()
        .unwrap());
    let rows: Vec<serde_json::Value> = audit
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let purges: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["action"] == "retention.purge_case")
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        rows.iter()
            .filter(|r| r["action"] == "retention.purge_case")
            .count(),
        CASES - 1
    );
    assert_eq!(purges.len(), CASES - 1);
    assert!(
        rows.iter()
            .any(|r| r["action"] == "hold.set" && r["subject"] == held.as_str())
    );
    assert!(!audit.contains("client"), "an address in the audit trail");

    // The hold lifted, the daemon's nightly timer purges the case.
    ok(f.command()
        .args(["cases", "hold", &held, "--off", "--config"])
        .arg(&f.config)
        .output()
        .unwrap());
    f.run_at(LATER).unwrap();
    assert!(numbers(&f).is_empty());
    assert!(valid_bag(&f, &archive.join(&held)));
    // A new store vacuums incrementally, and the run gave the freed pages back.
    assert_eq!(f.count("SELECT * FROM pragma_auto_vacuum").unwrap(), 2);
    assert_eq!(f.count("SELECT * FROM pragma_freelist_count").unwrap(), 0);
}

/// A reply to one of our mails, as a mail client writes it (In-Reply-To and
/// References name it, which carries the reply token).
fn reply(to: &switchboard::message::Message, from: &str, id: &str, body: &str) -> Vec<u8> {
    let parent = to.message_id.clone().unwrap();
    let mut refs = to.references.clone();
    refs.push(parent.clone());
    let refs: Vec<String> = refs.iter().map(|r| format!("<{r}>")).collect();
    fixture::mail(
        from,
        &format!("Re: {}", to.subject),
        id,
        &format!(
            "In-Reply-To: <{parent}>\r\nReferences: {}\r\n",
            refs.join(" ")
        ),
        body,
    )
}

fn held_at(f: &Fixture) -> i64 {
    f.count("SELECT count(*) FROM cases WHERE held_at IS NOT NULL")
        .unwrap()
}

#[test]
fn a_manager_sets_and_lifts_a_hold_by_reply_and_a_member_may_not() {
    let f = Fixture::start().unwrap();
    f.deliver(&fixture::mail(
        "李明 <liming@keji-tech.cn>",
        "投诉：设备交付延迟",
        "hold-1@keji-tech.cn",
        "",
        "你们好，我司采购的20台设备比合同约定晚了两天交付，请尽快说明原因并给出处理方案。",
    ))
    .unwrap();
    f.run_once().unwrap();
    let case = numbers(&f).into_iter().next().unwrap();
    let department = f.cases().unwrap()[0]["department"]
        .as_str()
        .unwrap()
        .to_string();
    let routed = f
        .stack
        .wait_for_messages(
            &format!("{department}@example.com"),
            "INBOX",
            1,
            Duration::from_secs(20),
        )
        .unwrap();
    let record = switchboard::message::Message::parse(&routed[0]).unwrap();

    // A member may answer the case, not hold it: nothing changes.
    f.deliver(&reply(
        &record,
        &format!("{department}-staff@example.com"),
        "hold-2@example.com",
        "Hold: yes",
    ))
    .unwrap();
    f.run_once().unwrap();
    assert_eq!(held_at(&f), 0);
    let show = f.show(&case, "2026-12-03T10:00:00+08:00").unwrap();
    let events = show["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["kind"] == "command_error"
            && e["detail"].as_str().unwrap().contains("only the managers")),
        "{events:#?}"
    );

    // The department's manager may.
    let manager = format!("{department}-head@example.com");
    f.deliver(&reply(&record, &manager, "hold-3@example.com", "保全：是"))
        .unwrap();
    f.run_once().unwrap();
    assert_eq!(held_at(&f), 1);
    let show = f.show(&case, "2026-12-03T10:00:00+08:00").unwrap();
    let hold = show["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "hold")
        .expect("the hold is on the timeline");
    assert!(
        hold["detail"].as_str().unwrap().contains(&manager),
        "{hold}"
    );

    f.deliver(&reply(&record, &manager, "hold-4@example.com", "Hold: no"))
        .unwrap();
    f.run_once().unwrap();
    assert_eq!(held_at(&f), 0);
    let show = f.show(&case, "2026-12-03T10:00:00+08:00").unwrap();
    assert!(
        show["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "hold_lifted")
    );
}

#[test]
fn the_escalation_contact_holds_a_case_by_answering_the_escalation_and_may_do_nothing_else() {
    let f = Fixture::start().unwrap();
    f.deliver(&fixture::mail(
        "李明 <liming@keji-tech.cn>",
        "投诉：设备交付延迟",
        "gm-hold-1@keji-tech.cn",
        "",
        "你们好，我司采购的20台设备比合同约定晚了两天交付，请尽快说明原因并给出处理方案。",
    ))
    .unwrap();
    // Nobody answers: the analysis is missed at 12:00, level 1 goes to the
    // department's manager, level 2 to the general manager two working hours later.
    for now in ["10:00", "12:00", "13:00", "15:30", "16:00"] {
        f.run_at(&format!("2026-11-30T{now}:00+08:00")).unwrap();
    }
    let case = numbers(&f).into_iter().next().unwrap();
    let escalation = f
        .stack
        .wait_for_messages(GENERAL_MANAGER, "INBOX", 1, Duration::from_secs(20))
        .unwrap();
    let escalation = switchboard::message::Message::parse(&escalation[0]).unwrap();
    assert!(escalation.subject.contains(&case), "{}", escalation.subject);

    // Anything but a hold is refused and answered; nothing changes.
    f.deliver(&reply(
        &escalation,
        GENERAL_MANAGER,
        "gm-hold-2@example.com",
        "Status: closed\n\n我来处理。",
    ))
    .unwrap();
    f.run_at("2026-11-30T16:10:00+08:00").unwrap();
    let answer = f
        .stack
        .wait_for_messages(GENERAL_MANAGER, "INBOX", 2, Duration::from_secs(20))
        .unwrap();
    let answer = switchboard::message::Message::parse(&answer[1]).unwrap();
    assert!(
        answer.body.contains("escalation contact"),
        "{}",
        answer.body
    );
    assert_eq!(held_at(&f), 0);
    assert_ne!(f.cases().unwrap()[0]["status"], "closed");

    // The hold is theirs to give, and it is on the timeline with their name.
    f.deliver(&reply(
        &escalation,
        GENERAL_MANAGER,
        "gm-hold-3@example.com",
        "Hold: yes\n\n客户已表示将走法律程序，请保留全部往来邮件。",
    ))
    .unwrap();
    f.run_at("2026-11-30T16:20:00+08:00").unwrap();
    assert_eq!(held_at(&f), 1);
    let show = f.show(&case, "2026-11-30T16:30:00+08:00").unwrap();
    let hold = show["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "hold")
        .expect("the hold is on the timeline");
    assert!(
        hold["detail"].as_str().unwrap().contains(GENERAL_MANAGER),
        "{hold}"
    );
    // Their words were for us: the customer received the acknowledgement only.
    f.settle().unwrap();
    let customer = f.mailbox("liming@keji-tech.cn").unwrap();
    assert_eq!(customer.len(), 1, "{:?}", fixture::subjects(&customer));
}
