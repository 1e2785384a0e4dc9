//! Records against the real Dovecot and Postfix: a case taken in over IMAP archived as
//! a BagIt bag that the Library of Congress' validator accepts, and a backup taken
//! while the daemon takes a backlog in. Needs `scripts/install-test-deps.sh` (Dovecot,
//! Postfix, PyPI `bagit`); fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fixture::{Fixture, base64, encode_word};

const WAIT: Duration = Duration::from_secs(60);

/// The Library of Congress' validator, `bagit.py --validate BAG`: its exit status and
/// what it said.
fn bagit_py(bag: &Path) -> (bool, String) {
    let out = Command::new("bagit.py")
        .arg("--validate")
        .arg(bag)
        .output()
        .expect("bagit.py is missing: run scripts/install-test-deps.sh (PyPI bagit)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn lf(bytes: &[u8]) -> Vec<u8> {
    bytes
        .windows(2)
        .filter(|w| w != b"\r\n")
        .map(|w| w[0])
        .chain(bytes.last().copied())
        .collect()
}

/// A complaint with a 600 KB attachment: the export streams it in many chunks.
fn complaint_with_attachment() -> Vec<u8> {
    let attachment: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut encoded = String::new();
    for line in base64(&attachment).as_bytes().chunks(76) {
        encoded.push_str(std::str::from_utf8(line).unwrap());
        encoded.push_str("\r\n");
    }
    format!(
        "From: 李明 <liming@keji-tech.cn>\r\nTo: {}\r\nSubject: {}\r\nDate: Thu, 26 Nov 2026 09:12:00 +0800\r\nMessage-ID: <archive-1@keji-tech.cn>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n你好，我司采购的100台设备原定11月23日到货，至今已延迟3天仍未送达，严重影响项目上线。照片见附件。\r\n--b1\r\nContent-Type: image/jpeg; name=\"photo.jpg\"\r\nContent-Disposition: attachment; filename=\"photo.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}--b1--\r\n",
        fixture::SUPPORT,
        encode_word("投诉：100台设备延迟3天交付，影响项目上线"),
    )
    .into_bytes()
}

fn store_bytes(f: &Fixture) -> Vec<Vec<u8>> {
    let db = f.db_path();
    // Not the -shm file: it is the WAL's shared-memory index, where every reader
    // records the snapshot it reads (sqlite.org/walformat.html, "read marks").
    ["", "-wal"]
        .iter()
        .map(|s| std::fs::read(format!("{}{s}", db.display())).unwrap_or_default())
        .collect()
}

#[test]
fn a_case_from_dovecot_archives_as_a_bag_that_bagit_py_and_verify_accept() {
    let f = Fixture::start().unwrap();
    f.deliver(&complaint_with_attachment()).unwrap();
    f.run_once().unwrap();
    let cases = f.cases().unwrap();
    assert_eq!(cases.len(), 1, "{cases:#?}");
    let number = cases[0]["case"].as_str().unwrap().to_string();
    let department = cases[0]["department"].as_str().unwrap().to_string();
    // The case record and the acknowledgement have reached their mailboxes.
    let routed = f
        .stack
        .wait_for_messages(&format!("{department}@example.com"), "INBOX", 1, WAIT)
        .unwrap();

    let before = store_bytes(&f);
    let out = f.dir.join("archive");
    let export = f
        .command()
        .args(["archive", "export", "--case", &number, "--out"])
        .arg(&out)
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}{}",
        String::from_utf8_lossy(&export.stdout),
        String::from_utf8_lossy(&export.stderr)
    );
    assert!(store_bytes(&f) == before, "the export changed the store");
    let bag = out.join(&number);

    let (valid, said) = bagit_py(&bag);
    assert!(valid, "bagit.py refused the bag: {said}");
    let verify = |dir: &Path| {
        f.command()
            .args(["archive", "verify"])
            .arg(dir)
            .output()
            .unwrap()
    };
    let ok = verify(&bag);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    // The messages are the ledger's bytes, exactly.
    let conn = rusqlite::Connection::open_with_flags(
        f.db_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let raws: Vec<Vec<u8>> = conn
        .prepare("SELECT m.raw FROM messages m JOIN cases c ON c.id = m.case_id WHERE c.number = ?1 ORDER BY m.id")
        .unwrap()
        .query_map([&number], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(raws.len(), 1);
    let archived = std::fs::read(bag.join("data/messages/001.eml")).unwrap();
    assert!(
        archived == raws[0],
        "data/messages/001.eml differs from the ledger"
    );
    assert!(archived.len() > 600_000);

    // The sent mail: every mail of the case the outbox marked sent, and the case
    // record is what the department received (Postfix and Dovecot put their trace
    // headers in front; Dovecot's Maildir keeps LF line ends).
    let sent: i64 = conn
        .query_row(
            "SELECT count(*) FROM outbox o JOIN cases c ON c.id = o.case_id WHERE c.number = ?1 AND o.sent_at IS NOT NULL",
            [&number],
            |r| r.get(0),
        )
        .unwrap();
    assert!(sent >= 2, "a case record and an acknowledgement were sent");
    let sent_files: Vec<Vec<u8>> = (1..=sent)
        .map(|n| std::fs::read(bag.join(format!("data/sent/{n:03}.eml"))).unwrap())
        .collect();
    assert!(!bag.join(format!("data/sent/{:03}.eml", sent + 1)).exists());
    // SMTP's end of data adds a line end where the mail has none at its very end.
    let trimmed = |b: Vec<u8>| -> Vec<u8> {
        let end = b.iter().rposition(|c| *c != b'\n').map_or(0, |i| i + 1);
        b[..end].to_vec()
    };
    let delivered = trimmed(lf(&routed[0]));
    assert!(
        sent_files
            .iter()
            .any(|s| delivered.ends_with(&trimmed(lf(s)))),
        "no archived sent mail is the case record the department received"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/case.json")).unwrap()).unwrap();
    assert_eq!(json["case"]["case"], number.as_str());
    assert!(!json["events"].as_array().unwrap().is_empty());
    let text = std::fs::read_to_string(bag.join("data/case.txt")).unwrap();
    assert!(text.starts_with(&number), "{text}");
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    assert!(
        info.contains(&format!("External-Identifier: {number}\n")),
        "{info}"
    );

    // One byte flipped deep inside the attachment: both validators refuse the bag.
    let msg = bag.join("data/messages/001.eml");
    let mut bytes = std::fs::read(&msg).unwrap();
    let at = bytes.len() - 1000;
    bytes[at] ^= 0x01;
    std::fs::write(&msg, &bytes).unwrap();
    let (valid, said) = bagit_py(&bag);
    assert!(!valid, "bagit.py accepted a changed bag: {said}");
    let bad = verify(&out);
    assert_eq!(bad.status.code(), Some(1));
    let report = String::from_utf8_lossy(&bad.stdout);
    assert!(
        report.contains("data/messages/001.eml: its checksum differs"),
        "{report}"
    );

    // --tar: the same bag in one file, which tar unpacks into a valid bag.
    let tarred = f.dir.join("tarred");
    let export = f
        .command()
        .args(["archive", "export", "--tar", "--case", &number, "--out"])
        .arg(&tarred)
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let unpacked = f.dir.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = Command::new("tar")
        .arg("-xf")
        .arg(tarred.join(format!("{number}.tar")))
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(tar.success());
    let (valid, said) = bagit_py(&unpacked.join(&number));
    assert!(valid, "bagit.py refused the unpacked bag: {said}");
}

fn numbers(path: &Path) -> BTreeSet<String> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.prepare("SELECT number FROM cases")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_backup_taken_during_intake_holds_every_case_committed_before_it() {
    let f = Fixture::start().unwrap();
    let backlog: Vec<Vec<u8>> = (0..1500)
        .map(|i| {
            fixture::mail(
                &format!("Customer {i} <customer{i}@client{i}.cn>"),
                &format!("投诉：订单 {i} 延迟交付"),
                &format!("backlog-{i}@client.cn"),
                "",
                "货物至今未到，请尽快处理。",
            )
        })
        .collect();
    f.deliver_bulk(&backlog).unwrap();
    let daemon = f.spawn_daemon(|_| {}).unwrap();

    // Intake is under way: some cases are committed.
    let start = Instant::now();
    while f.count("SELECT count(*) FROM cases").unwrap_or(0) < 20 {
        assert!(
            start.elapsed() < WAIT,
            "no intake progress:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let committed = numbers(&f.db_path());
    let to = f.dir.join("backups/switchboard.db");
    let out = f
        .command()
        .args(["backup", "--to"])
        .arg(&to)
        .arg("--config")
        .arg(&f.config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("integrity ok"), "{said}");

    let copy =
        rusqlite::Connection::open_with_flags(&to, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let backed_up = numbers(&to);
    let missing: Vec<_> = committed.difference(&backed_up).collect();
    assert!(
        missing.is_empty(),
        "the backup lacks committed cases {missing:?}"
    );

    // The daemon went on: wait for the whole backlog, then stop it cleanly.
    while f.count("SELECT count(*) FROM messages").unwrap_or(0) < backlog.len() as i64 {
        assert!(
            start.elapsed() < 4 * WAIT,
            "intake stalled:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.stop();
    let all = numbers(&f.db_path());
    assert!(backed_up.is_subset(&all));
    eprintln!(
        "backup held {} case(s): {} committed before it began, {} at the end",
        backed_up.len(),
        committed.len(),
        all.len()
    );
}

#[test]
fn a_persons_data_exports_as_one_bag_and_the_audit_names_them_by_hash() {
    let f = Fixture::start().unwrap();
    f.deliver(&fixture::mail(
        "李明 <liming@keji-tech.cn>",
        "投诉：设备交付延迟",
        "privacy-1@keji-tech.cn",
        "Cc: Wang Fang <wangfang@keji-tech.cn>\r\n",
        "你们好，我司采购的20台设备比合同约定晚了两天交付，请尽快说明原因并给出处理方案。",
    ))
    .unwrap();
    f.deliver(&fixture::mail(
        "Someone Else <other@elsewhere.cn>",
        "投诉：发票错误",
        "privacy-2@elsewhere.cn",
        "",
        "发票金额有误，请重新开具。",
    ))
    .unwrap();
    f.run_once().unwrap();
    assert_eq!(f.cases().unwrap().len(), 2);
    // The acknowledgement has gone out.
    let start = Instant::now();
    while f
        .count("SELECT count(*) FROM outbox WHERE recipients = 'liming@keji-tech.cn' AND sent_at IS NOT NULL")
        .unwrap()
        == 0
    {
        assert!(start.elapsed() < WAIT, "no acknowledgement sent");
        f.run_once().unwrap();
    }

    let export = |address: &str, out: &Path| {
        let out = f
            .command()
            .args(["privacy", "export", "--address", address, "--out"])
            .arg(out)
            .arg("--config")
            .arg(&f.config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let bag_in = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("person-")
            })
            .unwrap()
    };
    let out = f.dir.join("privacy-liming");
    export("LiMing@keji-tech.cn", &out);
    let bag = bag_in(&out);
    let (valid, said) = bagit_py(&bag);
    assert!(valid, "bagit.py refused the bag: {said}");
    let person: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/person.json")).unwrap()).unwrap();
    assert_eq!(person["cases"].as_array().unwrap().len(), 1, "{person:#}");
    let messages = person["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{person:#}");
    assert_eq!(messages[0]["roles"], serde_json::json!(["from"]));
    assert!(!person["sent"].as_array().unwrap().is_empty(), "{person:#}");
    let case = person["cases"][0].as_str().unwrap();
    assert!(bag.join(format!("data/cases/{case}.json")).is_file());

    // Someone only in Cc gets that message and its case, nothing of the other case.
    let out = f.dir.join("privacy-wang");
    export("wangfang@keji-tech.cn", &out);
    let person: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bag_in(&out).join("data/person.json")).unwrap())
            .unwrap();
    assert_eq!(person["messages"][0]["roles"], serde_json::json!(["cc"]));
    assert_eq!(person["cases"], serde_json::json!([case]));
    assert!(person["sent"].as_array().unwrap().is_empty());

    let audit = f
        .command()
        .args(["audit", "--json", "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    let audit = String::from_utf8(audit.stdout).unwrap();
    assert_eq!(audit.matches("\"privacy.export\"").count(), 2, "{audit}");
    assert!(audit.contains("sha256:"), "{audit}");
    assert!(
        !audit.contains("keji-tech"),
        "an address in the audit trail: {audit}"
    );
}

fn contains_ignoring_case(haystack: &[u8], needle: &str) -> bool {
    let lower = haystack.to_ascii_lowercase();
    lower.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn an_erased_address_is_nowhere_in_the_store_files_and_a_held_case_is_restricted() {
    const ERASED: &str = "liming@keji-tech.cn";
    const OTHER: &str = "other@elsewhere.cn";
    const HELD: &str = "zhao@held-client.cn";
    let f = Fixture::start().unwrap();
    for (from, id) in [
        (format!("李明 <{ERASED}>"), "erase-1@keji-tech.cn"),
        (format!("Other <{OTHER}>"), "erase-2@elsewhere.cn"),
        (format!("赵 <{HELD}>"), "erase-3@held-client.cn"),
    ] {
        f.deliver(&fixture::mail(
            &from,
            "投诉：设备交付延迟",
            id,
            "",
            "你们好，我司采购的20台设备比合同约定晚了两天交付，请尽快说明原因并给出处理方案。",
        ))
        .unwrap();
    }
    f.run_once().unwrap();
    let start = Instant::now();
    while f
        .count(&format!(
            "SELECT count(*) FROM outbox WHERE recipients = '{ERASED}' AND sent_at IS NOT NULL"
        ))
        .unwrap()
        == 0
    {
        assert!(start.elapsed() < WAIT, "no acknowledgement sent");
        f.run_once().unwrap();
    }
    let cases = f.cases().unwrap();
    assert_eq!(cases.len(), 3);
    let number_of = |sender: &str| {
        cases.iter().find(|c| c["sender"] == sender).unwrap()["case"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (erased_case, held_case) = (number_of(ERASED), number_of(HELD));
    let run = |args: &[&str]| {
        let out = f
            .command()
            .args(args)
            .arg("--config")
            .arg(&f.config)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    run(&["cases", "hold", &held_case]);
    const NOW: &str = "2026-12-10T10:00:00+08:00";
    let timeline_sizes = || -> Vec<(usize, usize, usize)> {
        [&erased_case]
            .iter()
            .map(|c| {
                let t = f.show(c, NOW).unwrap();
                (
                    t["events"].as_array().unwrap().len(),
                    t["messages"].as_array().unwrap().len(),
                    t["outgoing"].as_array().unwrap().len(),
                )
            })
            .collect()
    };
    let report = || {
        run(&[
            "report",
            "--from",
            "2026-11-01",
            "--to",
            "2026-12-31",
            "--csv",
            "--now",
            NOW,
        ])
    };
    let (sizes, figures) = (timeline_sizes(), report());

    // --dry-run says what would happen and changes nothing.
    let before = store_bytes(&f);
    let dry = run(&[
        "privacy",
        "erase",
        "--address",
        ERASED,
        "--dry-run",
        "--now",
        NOW,
    ]);
    assert!(dry.contains("would be"), "{dry}");
    assert!(store_bytes(&f) == before, "--dry-run changed the store");

    let done = run(&["privacy", "erase", "--address", ERASED, "--now", NOW]);
    assert!(done.contains("Erased:"), "{done}");
    assert_eq!(timeline_sizes(), sizes, "the timelines changed in size");
    assert_eq!(report(), figures, "the report's figures changed");
    let restricted = run(&["privacy", "erase", "--address", HELD, "--now", NOW]);
    assert!(
        restricted.contains(&format!(
            "case {held_case}: RESTRICTED, not erased: under legal hold"
        )),
        "{restricted}"
    );

    // Nowhere in the database file, its WAL or its shared-memory index; the other
    // customer (not erased) still is, so the search can find what is there.
    let db = f.db_path();
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        all.extend(std::fs::read(format!("{}{suffix}", db.display())).unwrap_or_default());
    }
    assert!(
        !contains_ignoring_case(&all, ERASED),
        "the erased address is still in the store's files"
    );
    assert!(contains_ignoring_case(&all, OTHER));
    assert!(
        contains_ignoring_case(&all, HELD),
        "the restricted case was kept"
    );

    // A restricted case is kept for storage only: not listed, not shown, not
    // counted, nothing more sent on it — but still in the store, and the report says
    // how many it leaves out.
    assert_eq!(f.cases().unwrap().len(), 2);
    assert!(
        f.cases()
            .unwrap()
            .iter()
            .all(|c| c["case"] != held_case.as_str())
    );
    assert_eq!(
        f.count(&format!(
            "SELECT count(*) FROM cases WHERE number = '{held_case}' AND restricted_at IS NOT NULL"
        ))
        .unwrap(),
        1
    );
    let refused = f
        .command()
        .args(["cases", "show", &held_case, "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("restricted"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(
        f.count(&format!(
            "SELECT count(*) FROM timers t JOIN cases c ON c.id = t.case_id
             WHERE c.number = '{held_case}' AND t.fired_at IS NULL AND t.cancelled_at IS NULL"
        ))
        .unwrap(),
        0,
        "a timer still pending on the restricted case"
    );
    let counted = report();
    assert_ne!(counted, figures, "the restricted case is still counted");
    let text = run(&[
        "report",
        "--from",
        "2026-11-01",
        "--to",
        "2026-12-31",
        "--now",
        NOW,
    ]);
    assert!(
        text.contains("1 restricted case(s) are not counted"),
        "{text}"
    );
    // Mail on it is kept, and nothing is done with it: no acknowledgement, no relay.
    let outbox = f.count("SELECT count(*) FROM outbox").unwrap();
    f.deliver(&fixture::mail(
        &format!("赵 <{HELD}>"),
        &format!("Re: 投诉：设备交付延迟 [{held_case}]"),
        "erase-4@held-client.cn",
        "",
        "请问处理进展如何？",
    ))
    .unwrap();
    f.run_once().unwrap();
    let ledger = f.ledger().unwrap();
    let row = ledger
        .iter()
        .find(|m| m["message_id"] == "erase-4@held-client.cn")
        .expect("the follow-up is in the ledger");
    assert!(
        row["reason"].as_str().unwrap_or("").contains("restricted"),
        "{row}"
    );
    assert_eq!(f.count("SELECT count(*) FROM outbox").unwrap(), outbox);
    let shown = f.show(&erased_case, NOW).unwrap();
    assert!(
        shown["case"]["sender"]
            .as_str()
            .unwrap()
            .ends_with("@erased.invalid")
    );

    let audit = run(&["audit", "--json"]);
    assert_eq!(audit.matches("\"privacy.erase\"").count(), 2, "{audit}");
    assert!(
        !audit.contains("keji-tech") && !audit.contains("held-client"),
        "{audit}"
    );
}
