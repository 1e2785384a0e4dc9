//! A real-world corpus through the real intake: test mail of other mail software
//! (mailing lists, spam, bounces, malformed MIME, many charsets), fetched by
//! `scripts/fetch-corpus.sh` into a cache folder outside git. Every message must end
//! as a case, a follow-up, or an ignored, quarantined or set-aside message with its
//! reason — one ledger row each — and none may panic. Nothing set aside (by a rule
//! or a spam verdict) may cause a case or any outgoing mail. The corpus missing is a failure, never a
//! silent pass.
//!
//! The corpus is about parsing, not the servers: intake runs on the demo's setup
//! (Maildir in and out) with the store in memory, one transaction per message as the
//! daemon would take a batch of one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use switchboard::config::Config;
use switchboard::intake::{Incoming, Intake, Source};
use switchboard::message::skeleton::Skeleton;
use switchboard::message::{Bodies, Message};
use switchboard::store::Db;

fn corpus_root() -> PathBuf {
    match std::env::var_os("SWITCHBOARD_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/switchboard-corpus"),
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The first charset the message declares (a Content-Type parameter or an RFC 2047
/// word, whichever comes first), lower-cased; "none" when it declares none. For the
/// summary only: what the parser makes of it is the test.
fn declared_charset(raw: &[u8]) -> String {
    let lower = raw.to_ascii_lowercase();
    let param = lower
        .windows(8)
        .position(|w| w == b"charset=")
        .map(|i| (i, i + 8));
    let word = lower
        .windows(2)
        .position(|w| w == b"=?")
        .filter(|&i| lower[i + 2..].iter().take(40).any(|&b| b == b'?'))
        .map(|i| (i, i + 2));
    let Some((_, start)) = [param, word].into_iter().flatten().min() else {
        return "none".into();
    };
    // In a quoted-printable part `charset="x"` reads `charset=3D"x"`.
    let rest = &lower[start..];
    let rest = rest.strip_prefix(b"3d").unwrap_or(rest);
    let name: String = rest
        .iter()
        .skip_while(|&&b| b == b'"')
        .take_while(|&&b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        .map(|&b| b as char)
        .collect();
    if name.is_empty() { "none".into() } else { name }
}

fn intake() -> Intake {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("sb-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(repo.join("examples/demo/switchboard.toml"))
        .unwrap()
        .replace("\"../../", &format!("\"{}/", repo.display()));
    let file = dir.join("switchboard.toml");
    std::fs::write(&file, text).unwrap();
    let (config, _) = Config::load(&file).unwrap();
    Intake::new(config).unwrap()
}

/// Every message of the corpus; fails when the corpus is missing or cut short.
fn corpus_files() -> (PathBuf, Vec<PathBuf>) {
    let root = corpus_root().join("messages");
    assert!(
        root.is_dir(),
        "the real-world corpus is missing at {}: run scripts/fetch-corpus.sh (scripts/test.sh does)",
        root.display()
    );
    let files = files(&root);
    assert!(
        files.len() >= 3000,
        "the corpus at {} holds only {} messages: run scripts/fetch-corpus.sh again",
        root.display(),
        files.len()
    );
    (root, files)
}

/// Parsing without the attachments' bodies (large mail is parsed that way) must give
/// every message the same view as parsing it whole: subject, addresses, body text,
/// attachment count, or the same reason to refuse it.
#[test]
fn every_real_world_message_reads_the_same_without_its_attachments_bodies() {
    let (_, files) = corpus_files();
    let view = |r: Result<Message, String>| match r {
        Ok(m) => format!("{m:?}"),
        Err(e) => format!("Err({e})"),
    };
    let (mut cut, mut confirmed) = (0, 0);
    let mut differ = Vec::new();
    for file in &files {
        let raw = std::fs::read(file).unwrap();
        let Some(skeleton) = Skeleton::of(&raw) else {
            continue;
        };
        cut += 1;
        if mail_parser::MessageParser::default()
            .parse(&skeleton.bytes)
            .is_some_and(|p| skeleton.confirms(&p))
        {
            confirmed += 1;
        }
        let whole = view(Message::parse_reading(&raw, Bodies::All));
        let text_only = view(Message::parse_reading(&raw, Bodies::TextOnly));
        if whole != text_only {
            differ.push(format!(
                "{}:\n  whole:     {whole}\n  text only: {text_only}",
                file.display()
            ));
        }
    }
    eprintln!(
        "{} messages; {cut} with attachment bodies to leave out, {confirmed} of them read the same way by mail-parser",
        files.len()
    );
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    // The comparison means something only if the corpus exercises it.
    assert!(
        cut >= 50,
        "only {cut} corpus messages had a body to leave out"
    );
    assert!(confirmed * 10 >= cut * 9, "{confirmed} of {cut} confirmed");
}

#[test]
fn every_real_world_message_ends_with_an_outcome_and_none_panics() {
    let (root, files) = corpus_files();
    let intake = intake();
    let db = Db::open(Path::new(":memory:")).unwrap();
    let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
    // As an IMAP folder: each file has a UID, so the listing can be checked to
    // account for every one of them.
    let src = Source {
        mailbox: "corpus".into(),
        uidvalidity: Some(1),
    };
    // Silence the per-message error logs of quarantined mail; panics still print.
    let mut panics = Vec::new();
    let mut bad = Vec::new();
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut by_source: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_charset: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
    let mut internal = Vec::new();
    let mut set_aside_mail = Vec::new();
    let mut slowest = (Duration::ZERO, PathBuf::new());
    let started = Instant::now();
    for (uid, file) in (1u32..).zip(&files) {
        let raw = std::fs::read(file).unwrap();
        let source = file
            .strip_prefix(&root)
            .unwrap()
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let charset = declared_charset(&raw);
        let inc = Incoming {
            uid: Some(uid),
            raw,
            too_large: None,
        };
        let outbox = || -> i64 {
            db.blocking(|c| Ok(c.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?))
                .unwrap()
        };
        let queued_before = outbox();
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            db.blocking(|c| intake.take_in_batch(c, &src, std::slice::from_ref(&inc), None, now))
        }));
        let took = start.elapsed();
        if took > slowest.0 {
            slowest = (took, file.clone());
        }
        let report = match result {
            Err(_) => {
                panics.push(file.display().to_string());
                continue;
            }
            Ok(Err(e)) => {
                bad.push(format!("{}: intake failed: {e:#}", file.display()));
                continue;
            }
            Ok(Ok(mut r)) => r.pop().unwrap(),
        };
        let ok = match report.outcome {
            "case" | "follow_up" => report.case.is_some(),
            "ignored" | "quarantined" => report.reason.as_deref().is_some_and(|r| !r.is_empty()),
            // Not a case: no case, no acknowledgement, no mail of any kind.
            "set_aside" => {
                let queued = outbox() - queued_before;
                if queued != 0 {
                    set_aside_mail.push(format!("{}: {queued} mail(s) queued", file.display()));
                }
                report.case.is_none()
                    && !report.acknowledged
                    && report.reason.as_deref().is_some_and(|r| !r.is_empty())
            }
            // The same message in two packages' test data, or a Message-ID reused:
            // seen before, listed with the ledger row it is taken for.
            "duplicate" => report
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("ledger row")),
            _ => false,
        };
        if !ok {
            bad.push(format!("{}: {report:?}", file.display()));
        }
        if let ("quarantined", Some(reason)) = (report.outcome, &report.reason) {
            if reason.starts_with("could not be processed") {
                internal.push(format!("{}: {reason}", file.display()));
            }
            // The reason without its details: how many for each kind.
            let kind: String = reason
                .chars()
                .take_while(|&c| c != '(' && c != ':')
                .collect();
            let detail: String = reason.chars().skip(kind.len()).take(60).collect();
            *reasons.entry(format!("{kind}{detail}")).or_default() += 1;
        }
        *outcomes.entry(report.outcome).or_default() += 1;
        *by_source
            .entry(source)
            .or_default()
            .entry(report.outcome)
            .or_default() += 1;
        *by_charset
            .entry(charset)
            .or_default()
            .entry(report.outcome)
            .or_default() += 1;
    }
    let elapsed = started.elapsed();
    let rows: i64 = db
        .blocking(|c| Ok(c.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?))
        .unwrap();
    // One line for each declared charset.
    let charsets: String = by_charset
        .iter()
        .map(|(charset, counts)| format!("\n    {charset}: {counts:?}"))
        .collect();
    let summary = format!(
        "{} messages in {elapsed:.1?} (slowest {:.1?}: {}); outcomes {outcomes:?}; quarantined for {reasons:#?}; by source {by_source:#?}; by declared charset:{charsets}",
        files.len(),
        slowest.0,
        slowest.1.display()
    );
    eprintln!("{summary}");
    assert!(panics.is_empty(), "panicked on:\n{}", panics.join("\n"));
    assert!(bad.is_empty(), "{}\n{summary}", bad.join("\n"));
    assert!(
        set_aside_mail.is_empty(),
        "set-aside mail caused outgoing mail:\n{}",
        set_aside_mail.join("\n")
    );
    // The corpus is mostly lists, newsletters and spam: set-aside must happen.
    assert!(
        outcomes.get("set_aside").copied().unwrap_or(0) >= 1000,
        "too little of the corpus set aside\n{summary}"
    );
    let set_aside_with_case: i64 = db
        .blocking(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM messages WHERE outcome = 'set_aside' AND case_id IS NOT NULL",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(set_aside_with_case, 0);
    // Quarantined because of the message itself, never because intake failed on it.
    assert!(
        internal.is_empty(),
        "intake failed on real mail:\n{}\n{summary}",
        internal.join("\n")
    );
    let duplicates = outcomes.get("duplicate").copied().unwrap_or(0);
    assert_eq!(
        rows as usize + duplicates,
        files.len(),
        "one ledger row per message (and none for a message seen before)\n{summary}"
    );
    // What `switchboard messages` lists accounts for every UID taken in, each once:
    // a message seen before is listed as a duplicate of its ledger row.
    let listed = db
        .blocking(|c| {
            let mut rows = switchboard::store::messages::list(c, None)?;
            rows.extend(switchboard::store::duplicates::list(c)?);
            Ok(rows)
        })
        .unwrap();
    let uids: std::collections::BTreeSet<u32> = listed.iter().filter_map(|r| r.uid).collect();
    assert_eq!(listed.len(), files.len(), "{summary}");
    assert_eq!(uids.len(), files.len(), "every UID once");
    assert!(
        listed
            .iter()
            .filter(|r| r.outcome == "duplicate")
            .all(|r| r.duplicate_of.is_some() && r.reason.is_some()),
        "a duplicate names its ledger row"
    );
    // The slowest message is reported, not bounded: a bound in seconds would fail
    // on a slow machine and prove nothing on a fast one.
    eprintln!("slowest message: {:?} ({})", slowest.0, slowest.1.display());
}
