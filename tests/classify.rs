//! The shipped rules (`rules/`) against a corpus of real-looking mail.
//!
//! Every `tests/classify/*.eml` has an entry in `tests/classify/expected.toml` giving
//! the category, department and priority it must get; every mismatch is reported at
//! once, with the rules that decided it. Run with `--nocapture` to see the accuracy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use switchboard::message::Message;
use switchboard::rules::{Classification, Context, DepartmentRef, RuleSet};

const DEPARTMENTS: &[(&str, &str, &str)] = &[
    ("customer-service", "客服部", "Customer Service"),
    ("logistics", "物流部", "Logistics"),
    ("production", "生产部", "Production"),
    ("quality", "质量部", "Quality"),
    ("procurement", "采购部", "Procurement"),
    ("sales", "销售部", "Sales"),
    ("marketing", "市场部", "Marketing"),
    ("design", "设计部", "Design"),
    ("rnd", "研发部", "R&D"),
    ("finance", "财务部", "Finance"),
    ("admin", "行政部", "Admin"),
    ("legal", "法务部", "Legal"),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    category: String,
    department: String,
    priority: String,
    /// What the message is, for the reader of the file.
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ids() -> Vec<&'static str> {
    DEPARTMENTS.iter().map(|(id, _, _)| *id).collect()
}

fn shipped_rules() -> RuleSet {
    match RuleSet::load_dir(&root().join("rules"), &ids()) {
        Ok(r) => r,
        Err(e) => panic!("the shipped rules do not load:\n{}", e.join("\n")),
    }
}

fn departments() -> Vec<DepartmentRef> {
    DEPARTMENTS
        .iter()
        .map(|(id, zh, en)| DepartmentRef {
            id: (*id).to_string(),
            address: format!("{id}@example.com"),
            names: vec![(*zh).to_string(), (*en).to_string()],
        })
        .collect()
}

fn classify_all(rules: &RuleSet, dir: &Path) -> Vec<(String, Classification)> {
    let deps = departments();
    let internal = vec!["example.com".to_string()];
    let vip = vec!["bigclient.com".to_string()];
    let ctx = Context {
        departments: &deps,
        internal_domains: &internal,
        vip_customers: &vip,
        triage_department: "customer-service",
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let raw = std::fs::read(path).unwrap();
            let msg = Message::parse(&raw)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, rules.classify(&msg, &ctx))
        })
        .collect()
}

#[test]
fn corpus_gets_the_expected_classification() {
    let dir = root().join("tests/classify");
    let expected: BTreeMap<String, Expected> =
        toml::from_str(&std::fs::read_to_string(dir.join("expected.toml")).unwrap()).unwrap();
    let rules = shipped_rules();
    let results = classify_all(&rules, &dir);
    assert!(
        results.len() >= 30,
        "the corpus is nearly empty: {} files",
        results.len()
    );

    let mut problems = Vec::new();
    let (mut right_category, mut right_department, mut right_priority, mut all_right) =
        (0, 0, 0, 0);
    for (name, c) in &results {
        let Some(want) = expected.get(name) else {
            problems.push(format!("{name}: no entry in expected.toml"));
            continue;
        };
        let got = [
            c.category.as_str(),
            c.department.as_str(),
            c.priority.as_str(),
        ];
        let wanted = [
            want.category.as_str(),
            want.department.as_str(),
            want.priority.as_str(),
        ];
        right_category += usize::from(got[0] == wanted[0]);
        right_department += usize::from(got[1] == wanted[1]);
        right_priority += usize::from(got[2] == wanted[2]);
        if got == wanted {
            all_right += 1;
        } else {
            problems.push(format!(
                "{name}: expected {} / {} / {}, got {} / {} / {} (rules: {:?})",
                wanted[0], wanted[1], wanted[2], got[0], got[1], got[2], c.rules
            ));
        }
    }
    for name in expected.keys() {
        if !results.iter().any(|(n, _)| n == name) {
            problems.push(format!(
                "{name}: in expected.toml but there is no such file"
            ));
        }
    }
    let n = results.len();
    println!(
        "{n} messages: category {right_category}/{n}, department {right_department}/{n}, \
         priority {right_priority}/{n}, all three {all_right}/{n}"
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_shipped_rule_file_is_valid_toml_and_the_set_loads() {
    let dir = root().join("rules");
    let mut toml_files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".toml") {
            toml_files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(e) = text.parse::<toml::Table>() {
                panic!("{name} is not valid TOML: {e}");
            }
        } else {
            assert_eq!(name, "README.md", "unexpected file in rules/");
        }
    }
    assert!(toml_files >= 3, "only {toml_files} rule files");
    let rules = shipped_rules();
    assert!(rules.len() >= 20, "only {} rules", rules.len());
}

#[test]
fn a_broken_rules_dir_is_refused_with_file_and_line() {
    let dir = std::env::temp_dir().join(format!("switchboard-broken-rules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = root().join("rules");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        dir.join("60-broken.toml"),
        "# a rule file with mistakes\n\n[[rule]]\nname = \"客户投诉：其他 / Complaint: other\"\ncategory = \"complain\"\ndepartment = \"logistcs\"\nweight = 5\n  [[rule.match]]\n  in = [\"subject\"]\n  any = [\"/[unclosed/\"]\n  nope = [\"x\"]\n",
    )
    .unwrap();
    let errors = RuleSet::load_dir(&dir, &ids()).expect_err("a broken rule file must be refused");
    std::fs::remove_dir_all(&dir).unwrap();

    let file = dir.join("60-broken.toml").display().to_string();
    let expect = [
        (3, "duplicate rule name"),
        (5, "unknown category \"complain\""),
        (
            6,
            "unknown department \"logistcs\" (did you mean \"logistics\"?)",
        ),
        (10, "bad regular expression /[unclosed/"),
        (11, "unknown key `nope`"),
    ];
    for (line, what) in expect {
        let at = format!("{file}:{line}: ");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&at) && e.contains(what)),
            "missing `{at}{what}` in:\n{}",
            errors.join("\n")
        );
    }
    assert_eq!(errors.len(), expect.len(), "{}", errors.join("\n"));
}

/// Messages per second over the corpus, with the shipped rules and with 1,000 more
/// generated rules (the target is ≥ 20,000/s per core, and at most 5× slower with
/// 1,000 rules). Timing is meaningless in a debug build, so this only runs on request:
/// `cargo test --release --test classify -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let dir = root().join("tests/classify");
    let deps = departments();
    let internal = vec!["example.com".to_string()];
    let vip = vec!["bigclient.com".to_string()];
    let ctx = Context {
        departments: &deps,
        internal_domains: &internal,
        vip_customers: &vip,
        triage_department: "customer-service",
    };
    let mut messages = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "eml") {
            messages.push(Message::parse(&std::fs::read(&path).unwrap()).unwrap());
        }
    }

    let mut sources: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(root().join("rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            sources.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    sources.sort();
    let mut extra = String::new();
    for i in 0..1000 {
        extra.push_str(&format!(
            "[[rule]]\nname = \"generated {i}\"\ncategory = \"complaint\"\ndepartment = \"quality\"\n\
             weight = {}\nsender = \"external\"\n  [[rule.match]]\n  any = [\"型号{i}故障\", \"model-{i} failure\", \"part{i}*\", \"/SN{i}-\\\\d{{4}}/\"]\n\
             \x20 [[rule.match]]\n  in = [\"subject\", \"body\", \"from\"]\n  any = [\"客户{i}\", \"customer{i}\", \"list:complaint\"]\n  none = [\"测试{i}\", \"test{i}\"]\n\n",
            i % 50
        ));
    }
    let ids = ids();
    let run = |label: &str, sources: &[(String, String)]| -> f64 {
        let refs: Vec<(&str, &str)> = sources
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let started = std::time::Instant::now();
        let rules = RuleSet::from_sources(&refs, &ids).unwrap();
        let load = started.elapsed();
        for m in &messages {
            rules.classify(m, &ctx); // warm the lazy DFA caches
        }
        let rounds = 200;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            for m in &messages {
                std::hint::black_box(rules.classify(std::hint::black_box(m), &ctx));
            }
        }
        let rate = (rounds * messages.len()) as f64 / started.elapsed().as_secs_f64();
        println!(
            "{label}: {} rules, loaded in {load:.2?}, {rate:.0} messages/s",
            rules.len()
        );
        rate
    };
    let base = run("shipped rules", &sources);
    sources.push(("99-generated.toml".into(), extra));
    let big = run("shipped + 1000 rules", &sources);
    println!("slowdown with 1000 more rules: {:.2}x", base / big);
}
