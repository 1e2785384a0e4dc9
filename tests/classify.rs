//! The shipped rules (`rules/`) against a corpus of real-looking mail.
//!
//! Every `tests/classify/*.eml` has an entry in `tests/classify/expected.toml` giving
//! the category, department and priority it must get; every mismatch is reported at
//! once, with the rules that decided it. Run with `--nocapture` to see the accuracy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[allow(dead_code)] // shared with the benchmarks, which use more of it
#[path = "classify/workload.rs"]
mod workload;

use std::collections::BTreeMap;

use serde::Deserialize;
use switchboard::rules::{Classification, RuleSet};
use workload::{World, ids, root};

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

fn shipped_rules() -> RuleSet {
    match RuleSet::load_dir(&root().join("rules"), &ids()) {
        Ok(r) => r,
        Err(e) => panic!("the shipped rules do not load:\n{}", e.join("\n")),
    }
}

fn classify_all(rules: &RuleSet, dir: &std::path::Path) -> Vec<(String, Classification)> {
    let world = World::new();
    let ctx = world.context();
    workload::corpus(dir)
        .into_iter()
        .map(|(name, msg)| {
            let c = rules.classify(&msg, &ctx);
            (name, c)
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
            assert!(
                name == "README.md" || name == switchboard::rules::LEARNED_FILE,
                "unexpected file in rules/: {name}"
            );
        }
    }
    assert!(toml_files >= 3, "only {toml_files} rule files");
    let rules = shipped_rules();
    assert!(rules.len() >= 20, "only {} rules", rules.len());
    let learned = rules
        .learned()
        .expect("the shipped rules come with learned.tsv");
    assert!(
        learned.classes().count() >= 20,
        "the model knows too few classes"
    );
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
/// generated rules (`workload::generated_rules`; the target is ≥ 20,000/s per core,
/// and at most 5× slower with 1,000 rules). Timing is meaningless in a debug build,
/// so this only runs on request:
/// `cargo test --release --test classify -- --ignored throughput --nocapture`
/// (`cargo bench --bench classify` measures the same, longer).
#[test]
#[ignore]
fn throughput() {
    let world = World::new();
    let ctx = world.context();
    let messages: Vec<_> = workload::corpus(&root().join("tests/classify"))
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert!(!messages.is_empty(), "the corpus is empty");
    let ids = ids();
    let run = |label: &str, sources: &[(String, String)]| -> f64 {
        let refs = workload::as_refs(sources);
        let started = std::time::Instant::now();
        let rules = RuleSet::from_sources(&refs, &ids).unwrap();
        let load = started.elapsed();
        for m in &messages {
            rules.classify(m, &ctx); // warm the lazy DFA caches
        }
        let started = std::time::Instant::now();
        let mut done = 0;
        while started.elapsed() < std::time::Duration::from_secs(1) {
            for m in &messages {
                std::hint::black_box(rules.classify(std::hint::black_box(m), &ctx));
            }
            done += messages.len();
        }
        let rate = done as f64 / started.elapsed().as_secs_f64();
        println!(
            "{label}: {} rules, loaded in {load:.2?}, {rate:.0} messages/s",
            rules.len()
        );
        rate
    };
    let mut sources = workload::shipped_sources();
    let base = run("shipped rules", &sources);
    sources.push(("99-generated.toml".into(), workload::generated_rules(1000)));
    let big = run("shipped + 1000 rules", &sources);
    println!("slowdown with 1000 more rules: {:.2}x", base / big);
}

/// The rules the throughput figures are measured with: 1,000 rules that load,
/// each with words of its own, with a mix of what rules use.
#[test]
fn generated_rules_load_and_are_distinct() {
    let generated = workload::generated_rules(1000);
    let mut sources = workload::shipped_sources();
    sources.push(("99-generated.toml".into(), generated.clone()));
    let rules = match RuleSet::from_sources(&workload::as_refs(&sources), &ids()) {
        Ok(r) => r,
        Err(e) => panic!("the generated rules do not load:\n{}", e.join("\n")),
    };
    assert!(
        rules.len() >= shipped_rules().len() + 1000,
        "{} rules",
        rules.len()
    );

    let table: toml::Table = toml::from_str(&generated).unwrap();
    let generated_rules = table["rule"].as_array().unwrap();
    assert_eq!(generated_rules.len(), 1000);
    // Every word of each rule, the blocks under `match` and the shorthand together.
    let words = |rule: &toml::Value, key: &str| -> Vec<String> {
        let rule = rule.as_table().unwrap();
        let blocks = rule
            .get("match")
            .and_then(|m| m.as_array())
            .cloned()
            .unwrap_or_else(|| vec![toml::Value::Table(rule.clone())]);
        blocks
            .iter()
            .filter_map(|b| b.get(key).and_then(|w| w.as_array()))
            .flatten()
            .filter_map(|w| w.as_str().map(str::to_string))
            .collect()
    };
    let mut users: BTreeMap<String, usize> = BTreeMap::new();
    for rule in generated_rules {
        let mut own: Vec<String> = ["any", "all", "none"]
            .iter()
            .flat_map(|k| words(rule, k))
            .collect();
        own.sort();
        own.dedup();
        for w in own {
            *users.entry(w).or_default() += 1;
        }
    }
    let count =
        |what: &dyn Fn(&toml::Value) -> bool| generated_rules.iter().filter(|r| what(r)).count();
    let own_words = count(&|r| {
        ["any", "all"]
            .iter()
            .flat_map(|k| words(r, k))
            .any(|w| users[&w] == 1)
    });
    let with_all = count(&|r| !words(r, "all").is_empty());
    let with_none = count(&|r| !words(r, "none").is_empty());
    let with_regex = count(&|r| words(r, "any").iter().any(|w| w.starts_with('/')));
    let with_list = count(&|r| words(r, "any").iter().any(|w| w.starts_with("list:")));
    let internal = count(&|r| r.get("sender").and_then(|s| s.as_str()) == Some("internal"));
    println!(
        "1000 generated rules: {own_words} with words of their own, {with_all} with `all`, \
         {with_none} with `none`, {with_regex} with regexes, {with_list} with a shipped list, \
         {internal} for internal mail; {} distinct words",
        users.len()
    );
    assert_eq!(own_words, 1000, "every rule has a word no other rule has");
    for (what, n) in [
        ("all", with_all),
        ("none", with_none),
        ("regexes", with_regex),
        ("a shipped list", with_list),
        ("internal", internal),
    ] {
        assert!(n >= 100, "only {n} rules with {what}");
    }
}

/// Recall: setting junk aside must not cost a real case. Every complaint, supplier
/// dispute and collaboration request of the corpus, taken in through the real intake
/// (the demo's config, a store in memory), opens a case and is acknowledged.
#[test]
fn every_case_of_the_corpus_is_still_a_case_and_acknowledged() {
    use switchboard::config::Config;
    use switchboard::intake::{Incoming, Intake, Source};

    let repo = root();
    let dir = repo.join("tests/classify");
    let expected: BTreeMap<String, Expected> =
        toml::from_str(&std::fs::read_to_string(dir.join("expected.toml")).unwrap()).unwrap();
    let work = std::env::temp_dir().join(format!("sb-recall-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let text = std::fs::read_to_string(repo.join("examples/demo/switchboard.toml"))
        .unwrap()
        .replace("\"../../", &format!("\"{}/", repo.display()));
    let file = work.join("switchboard.toml");
    std::fs::write(&file, text).unwrap();
    let (config, _) = Config::load(&file).unwrap();
    let intake = Intake::new(config).unwrap();
    let db = switchboard::store::Db::open(std::path::Path::new(":memory:")).unwrap();
    let src = Source {
        mailbox: "recall".into(),
        uidvalidity: None,
    };

    let mut problems = Vec::new();
    let mut checked = 0;
    for (i, (name, want)) in expected.iter().enumerate() {
        if !["complaint", "supplier_dispute", "collaboration_request"]
            .contains(&want.category.as_str())
        {
            continue;
        }
        checked += 1;
        let raw = std::fs::read(dir.join(name)).unwrap();
        // Two hours apart: the hourly acknowledgement limit is not what is tested.
        let now = chrono::DateTime::from_timestamp(1_795_000_000 + i as i64 * 7200, 0).unwrap();
        let inc = Incoming {
            uid: None,
            raw,
            too_large: None,
        };
        let report = db
            .blocking(|c| intake.take_in_batch(c, &src, std::slice::from_ref(&inc), None, now))
            .unwrap()
            .pop()
            .unwrap();
        if report.outcome != "case" || !report.acknowledged {
            problems.push(format!(
                "{name} ({}): {} acknowledged={} — {}",
                want.category,
                report.outcome,
                report.acknowledged,
                report.reason.as_deref().unwrap_or("")
            ));
        }
    }
    std::fs::remove_dir_all(&work).ok();
    assert!(checked >= 50, "only {checked} cases in the corpus");
    println!(
        "{checked} complaints, disputes and requests: {} missed",
        problems.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The same corpus when the config names departments only by their ids
/// (`name = "sales"`): the rules' `[departments]` vocabulary must find the department
/// a mail names by itself, so category and department are the same as with display
/// names.
#[test]
fn corpus_routes_alike_when_department_names_are_the_ids() {
    let dir = root().join("tests/classify");
    let rules = shipped_rules();
    let display = World::new();
    let bare = World::with_id_names();
    let (display_ctx, bare_ctx) = (display.context(), bare.context());
    let mut differ = Vec::new();
    for (name, msg) in workload::corpus(&dir) {
        let (a, b) = (
            rules.classify(&msg, &display_ctx),
            rules.classify(&msg, &bare_ctx),
        );
        if (a.category, &a.department) != (b.category, &b.department) {
            differ.push(format!(
                "{name}: {} / {} with display names, {} / {} with ids",
                a.category.as_str(),
                a.department,
                b.category.as_str(),
                b.department
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// What `tests/unseen/floors.toml` says a tuned batch must still score.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Floor {
    category: usize,
    department: usize,
}

#[test]
fn tuned_batches_keep_what_their_rounds_reached() {
    let unseen = root().join("tests/unseen");
    let floors: BTreeMap<String, Floor> =
        toml::from_str(&std::fs::read_to_string(unseen.join("floors.toml")).unwrap()).unwrap();
    assert!(!floors.is_empty(), "floors.toml names no batch");
    let rules = shipped_rules();
    let mut problems = Vec::new();
    for (batch, floor) in &floors {
        let dir = unseen.join(batch);
        let labels: BTreeMap<String, workload::Labels> =
            toml::from_str(&std::fs::read_to_string(dir.join("expected.toml")).unwrap()).unwrap();
        let messages = workload::corpus(&dir);
        assert_eq!(
            messages.len(),
            labels.len(),
            "{batch}: every message labelled, every label a message"
        );
        for (names, world) in [
            ("display names", World::new()),
            ("ids as names", World::with_id_names()),
        ] {
            let s = workload::score(&rules, &messages, &labels, &world);
            if s.category < floor.category || s.department < floor.department {
                problems.push(format!(
                    "{batch} with {names}: category {}, department {} of {} (floor {}, {}); \
                     misses:\n{}",
                    s.category,
                    s.department,
                    messages.len(),
                    floor.category,
                    floor.department,
                    s.misses.join("\n")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The labelled folders `rules/learned.tsv` is learned from: every folder of
/// `tests/classify/` and `tests/unseen/` (README: "Rules and templates").
fn labelled_folders() -> Vec<std::path::PathBuf> {
    let mut dirs = vec![root().join("tests/classify")];
    let mut unseen: Vec<_> = std::fs::read_dir(root().join("tests/unseen"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.toml").is_file())
        .collect();
    unseen.sort();
    dirs.extend(unseen);
    dirs
}

#[test]
fn the_shipped_model_is_what_learn_makes_of_the_labelled_mail() {
    let out = std::env::temp_dir().join(format!("sb-learned-{}.tsv", std::process::id()));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("learn")
        .arg("--config")
        .arg(root().join("examples/demo/switchboard.toml"))
        .arg("--out")
        .arg(&out)
        .args(labelled_folders())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "learn failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let made = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    let shipped = std::fs::read(root().join("rules/learned.tsv")).unwrap();
    assert!(
        made == shipped,
        "rules/learned.tsv is not what the labelled mail gives: run \
         `switchboard learn --config examples/demo/switchboard.toml tests/classify tests/unseen/*/`"
    );
}

#[test]
fn a_broken_model_beside_the_rules_refuses_the_set_with_its_line() {
    let dir = std::env::temp_dir().join(format!("switchboard-broken-model-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(root().join("rules")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let model = dir.join("learned.tsv");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, text.replacen("margin\t", "margin\tabout ", 1)).unwrap();
    let errors = RuleSet::load_dir(&dir, &ids()).expect_err("a broken model must be refused");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        errors,
        [format!(
            "{}:5: margin must be a number ≥ 0",
            model.display()
        )]
    );
}

/// A thank-you for a fix that also threatens a lawyer, or chases money overdue, is no
/// thank-you note: it stays a case, while the plain thanks beside it is set aside.
#[test]
fn thanks_that_threaten_or_chase_money_are_not_set_aside_as_thank_you_notes() {
    let rules = shipped_rules();
    let world = World::new();
    let ctx = world.context();
    let mail = |subject: &str, body: &str| {
        let raw = format!(
            "From: Paul Smith <paul@client.example>\r\nTo: support@example.com\r\n\
             Subject: {subject}\r\nMessage-ID: <t@client.example>\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        );
        switchboard::message::Message::parse(raw.as_bytes()).unwrap()
    };
    let thanks = "Thank you for the quick replacement; the new unit works perfectly.";
    let plain = rules.classify(&mail("Replacement", thanks), &ctx);
    assert!(plain.set_aside, "the plain thanks: {plain:?}");
    for (subject, body) in [
        (
            "Broken screen on arrival",
            format!(
                "{thanks}\r\nThe other two screens were cracked; if this is not resolved this week we will take legal action."
            ),
        ),
        (
            "Invoice 2291",
            format!(
                "{thanks}\r\nOur invoice 2291 is now three weeks overdue, please arrange payment."
            ),
        ),
        (
            "屏幕问题",
            "谢谢你们及时换货，新机器使用正常。另一台的屏幕裂了，本周不解决我们只能请律师处理。"
                .to_string(),
        ),
    ] {
        let c = rules.classify(&mail(subject, &body), &ctx);
        assert!(
            !c.set_aside && c.category != switchboard::case::Category::Unclassified,
            "{subject}: {c:?}"
        );
    }
}
