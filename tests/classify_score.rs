//! Scores the shipped rules on a folder of labelled mail (`*.eml` and an
//! `expected.toml` in the format of `tests/classify/`), the way the issue measures
//! unseen batches: category and department, once with the departments' display
//! names as in `switchboard.example.toml` (`name = "销售部 Sales"`) and once with
//! names that are only the ids (`name = "sales"`). Prints the figures and every miss;
//! asserts nothing about the level, so it only runs on request:
//! `SWITCHBOARD_BATCH=DIR [SWITCHBOARD_RULES=DIR] cargo test --test classify_score -- --ignored --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[allow(dead_code)]
#[path = "classify/workload.rs"]
mod workload;

use std::collections::BTreeMap;

use switchboard::rules::RuleSet;
use workload::{World, ids, root};

#[test]
#[ignore]
fn score_a_batch() {
    let dir = std::path::PathBuf::from(
        std::env::var("SWITCHBOARD_BATCH").expect("set SWITCHBOARD_BATCH to a folder"),
    );
    let expected: BTreeMap<String, workload::Labels> =
        toml::from_str(&std::fs::read_to_string(dir.join("expected.toml")).unwrap()).unwrap();
    // SWITCHBOARD_RULES: a candidate rules folder (default: the shipped rules/).
    let rules_dir = std::env::var("SWITCHBOARD_RULES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root().join("rules"));
    let rules = RuleSet::load_dir(&rules_dir, &ids()).unwrap();
    let messages = workload::corpus(&dir);
    let display = World::new();
    let bare = World::with_id_names();
    for (label, world) in [("names \"销售部 Sales\"", &display), ("names = ids", &bare)] {
        let s = workload::score(&rules, &messages, &expected, world);
        let n = messages.len();
        println!(
            "{label}: {n} messages: category {}/{n}, department {}/{n}, both {}/{n}",
            s.category, s.department, s.both
        );
        println!("{}", s.misses.join("\n"));
    }
}
