//! Any bytes through parse → screen → classify → thread, then the whole intake
//! transaction (record, case, routed and acknowledged mail composed) on an in-memory
//! store. Every input must end as a ledger row, never as a panic.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use switchboard::config::Config;
use switchboard::intake::{self, Incoming, Intake, Source};
use switchboard::message::Message;
use switchboard::store::Db;
use switchboard::thread::{self, CaseTags};

struct World {
    intake: Intake,
    tags: CaseTags,
    db: Mutex<(Db, usize)>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = std::env::temp_dir().join(format!("sb-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = std::fs::read_to_string(repo.join("examples/demo/switchboard.toml"))
            .unwrap()
            .replace("\"../../", &format!("\"{}/", repo.display()));
        let file = dir.join("switchboard.toml");
        std::fs::write(&file, text).unwrap();
        let (config, _) = Config::load(&file).unwrap();
        World {
            intake: Intake::new(config).unwrap(),
            tags: CaseTags::new("SB").unwrap(),
            db: Mutex::new((memory(), 0)),
        }
    })
}

fn memory() -> Db {
    Db::open(std::path::Path::new(":memory:")).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    if let Ok(msg) = Message::parse(data) {
        let _ = w.intake.classify(&msg);
        let _ = w.intake.no_ack_reason(&msg);
        let _ = msg.language();
        let _ = w.tags.numbers(&msg.subject).count();
        let _ = thread::subaddress_tokens(&msg, '+');
    }
    let inc = Incoming {
        uid: Some(1),
        raw: data.to_vec(),
        too_large: None,
    };
    let _ = intake::dedup_key(&inc);
    let mut guard = w.db.lock().unwrap();
    // A fresh store now and then keeps memory flat over millions of inputs.
    if guard.1 >= 500 {
        *guard = (memory(), 0);
    }
    guard.1 += 1;
    let src = Source {
        mailbox: "INBOX".into(),
        uidvalidity: Some(1),
    };
    let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
    let reports = guard
        .0
        .blocking(|c| {
            w.intake
                .take_in_batch(c, &src, std::slice::from_ref(&inc), Some(1), now)
        })
        .unwrap();
    assert_eq!(reports.len(), 1);
    let outcome = reports[0].outcome;
    assert!(
        matches!(
            outcome,
            "case" | "follow_up" | "ignored" | "quarantined" | "duplicate"
        ),
        "{outcome}"
    );
    if matches!(outcome, "ignored" | "quarantined") {
        assert!(reports[0].reason.is_some());
    }
});
