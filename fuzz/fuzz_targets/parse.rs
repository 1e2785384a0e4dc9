//! Any bytes through parse → screen → classify → thread, without the store: the
//! fast target (thousands of inputs a second) for the parser and the rules.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use switchboard::config::Config;
use switchboard::intake::{self, Incoming, Intake};
use switchboard::message::Message;
use switchboard::thread::{self, CaseTags};

fn world() -> &'static (Intake, CaseTags) {
    static WORLD: OnceLock<(Intake, CaseTags)> = OnceLock::new();
    WORLD.get_or_init(|| {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = std::env::temp_dir().join(format!("sb-fuzz-parse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = std::fs::read_to_string(repo.join("examples/demo/switchboard.toml"))
            .unwrap()
            .replace("\"../../", &format!("\"{}/", repo.display()));
        let file = dir.join("switchboard.toml");
        std::fs::write(&file, text).unwrap();
        let (config, _) = Config::load(&file).unwrap();
        (Intake::new(config).unwrap(), CaseTags::new("SB").unwrap())
    })
}

fuzz_target!(|data: &[u8]| {
    let (intake, tags) = world();
    if let Ok(msg) = Message::parse(data) {
        let _ = intake.classify(&msg);
        let _ = intake.no_ack_reason(&msg);
        let _ = intake::screen::automatic(&msg);
        let _ = intake::screen::bulk(&msg);
        let _ = msg.language();
        let _ = tags.numbers(&msg.subject).count();
        let _ = thread::subaddress_tokens(&msg, '+');
        // What the view promises: nothing that could break a header of ours.
        for text in [Some(msg.subject.as_str()), msg.from.name.as_deref()]
            .into_iter()
            .flatten()
        {
            assert!(!text.chars().any(char::is_control), "{text:?}");
        }
        for id in msg
            .message_id
            .iter()
            .chain(&msg.in_reply_to)
            .chain(&msg.references)
        {
            assert!(
                !id.chars().any(|c| c.is_control() || c.is_whitespace()),
                "{id:?}"
            );
        }
    }
    let _ = intake::dedup_key(&Incoming {
        uid: None,
        raw: data.to_vec(),
        too_large: None,
    });
});
