//! The command line on the demo setup (a Maildir in, a Maildir out): no servers needed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn switchboard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("SWITCHBOARD_LOG", "warn")
        .output()
        .unwrap()
}

/// A copy of the demo in a fresh folder: its config, with the sample inbox beside it.
fn demo_copy(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state")).unwrap();
    copy_dir(
        &repo().join("examples/demo/inbox"),
        &dir.join("state/inbox"),
    );
    let config = std::fs::read_to_string(repo().join("examples/demo/switchboard.toml"))
        .unwrap()
        .replace(
            "\"../../rules\"",
            &format!("\"{}\"", repo().join("rules").display()),
        )
        .replace(
            "\"../../templates\"",
            &format!("\"{}\"", repo().join("templates").display()),
        )
        .replace(
            "\"../../calendars/",
            &format!("\"{}/", repo().join("calendars").display()),
        );
    std::fs::write(dir.join("switchboard.toml"), config).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_demo_takes_in_every_sample_message() {
    let dir = demo_copy("demo");
    let config = dir.join("switchboard.toml");
    let config = config.to_str().unwrap();
    let out = switchboard(&["run", "--once", "--config", config]);
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout(&out);
    let samples = std::fs::read_dir(repo().join("examples/demo/inbox/new"))
        .unwrap()
        .count();
    assert!(samples >= 8, "the demo mailbox holds the samples");
    // One line per message, and the summary.
    assert_eq!(report.lines().count(), samples + 1, "{report}");
    assert!(
        report.contains("quarantined"),
        "the garbage sample is quarantined: {report}"
    );
    assert!(
        report.contains("ignored"),
        "the auto-reply is ignored: {report}"
    );
    assert!(
        report.contains("follow-up joined"),
        "the reply joins its case: {report}"
    );

    let cases = switchboard(&["cases", "--json", "--config", config]);
    let cases: Vec<serde_json::Value> = stdout(&cases)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_sender = |s: &str| {
        cases
            .iter()
            .find(|c| c["sender"] == s)
            .unwrap_or_else(|| panic!("no case from {s}"))
    };
    // The GBK-encoded sample is decoded.
    assert_eq!(
        by_sender("wangli@shop88.cn")["subject"],
        "发票金额不对，重复收费，请退还多收款项"
    );
    let ids = by_sender("liming@keji-tech.cn")["message_ids"]
        .as_array()
        .unwrap()
        .clone();
    for id in [
        "20261126091200.4711@keji-tech.cn",
        "20261126161000.4712@keji-tech.cn",
    ] {
        assert!(
            ids.iter().any(|v| v == id),
            "{id} (the complaint and its follow-up) in {ids:?}"
        );
    }

    // Every message left the inbox; outgoing mail is in the outbox Maildir.
    assert_eq!(
        std::fs::read_dir(dir.join("state/inbox/new"))
            .unwrap()
            .count(),
        0
    );
    let sent = std::fs::read_dir(dir.join("state/outbox/new"))
        .unwrap()
        .count();
    assert!(
        sent >= cases.len(),
        "every case was routed: {sent} files for {} cases",
        cases.len()
    );

    // Running again takes in nothing new and sends nothing twice.
    let again = switchboard(&["run", "--once", "--config", config]);
    assert!(
        stdout(&again).contains("0 message(s) taken in, 0 timer(s) fired, 0 mail(s) sent"),
        "{}",
        stdout(&again)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_accepts_the_demo_and_lists_every_problem_of_a_broken_config() {
    let dir = demo_copy("check");
    let config = dir.join("switchboard.toml");
    let ok = switchboard(&["check", "--config", config.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", stdout(&ok));
    // Warnings (such as next year's holiday file, from October on) may come first.
    let out = stdout(&ok);
    assert!(out.lines().last().unwrap_or("").starts_with("OK"), "{out}");
    assert!(
        out.lines()
            .all(|l| l.starts_with("OK") || l.starts_with("warning: ")),
        "{out}"
    );

    let broken = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            "kind = \"maildir\"\npath = \"state/inbox\"",
            "kind = \"imap\"\nhost = \"mail.example.com\"\ntls = \"none\"",
        )
        .replace(
            "max_acks_per_sender_per_hour = 5",
            "max_acks_per_sender_per_hour = \"five\"",
        );
    std::fs::write(&config, broken).unwrap();
    let bad = switchboard(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    let text = stdout(&bad);
    let file = config.display().to_string();
    assert!(text.contains(&format!("{file}: mailbox.tls:")), "{text}");
    assert!(
        text.contains(&format!("{file}: mailbox.username: is required")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{file}: intake.max_acks_per_sender_per_hour: expected a number"
        )),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_refuses_a_broken_rule_file_with_its_line() {
    let dir = demo_copy("rules");
    let rules = dir.join("rules");
    copy_dir(&repo().join("rules"), &rules);
    std::fs::write(rules.join("zz-broken.toml"), "[[rule]]\nname = \"broken\"\ncategory = \"complaint\"\ndepartment = \"nowhere\"\n\n[[rule.match]]\nany = [\"/([unclosed/\"]\n").unwrap();
    let config = dir.join("switchboard.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("\"{}\"", repo().join("rules").display()),
        "\"rules\"",
    );
    std::fs::write(&config, text).unwrap();
    let out = switchboard(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("zz-broken.toml:"), "names the file: {text}");
    assert!(
        text.contains("nowhere"),
        "names the unknown department: {text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn classify_prints_one_json_object_per_message() {
    let dir = demo_copy("classify");
    let config = dir.join("switchboard.toml");
    let inbox = repo().join("examples/demo/inbox/new");
    let complaint = inbox.join("1764201600.M1.demo");
    let auto_reply = inbox.join("1764201900.M6.demo");
    let out = switchboard(&[
        "classify",
        "--config",
        config.to_str().unwrap(),
        complaint.to_str().unwrap(),
        auto_reply.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for key in [
        "file",
        "category",
        "priority",
        "department",
        "rules",
        "language",
        "acknowledge",
    ] {
        assert!(lines[0].get(key).is_some(), "missing {key}: {}", lines[0]);
    }
    assert_eq!(lines[0]["category"], "complaint");
    assert_eq!(lines[0]["department"], "logistics");
    assert_eq!(lines[0]["priority"], "urgent", "紧急 in the text");
    assert_eq!(lines[0]["language"], "zh");
    assert_eq!(lines[0]["acknowledge"], true);
    assert_eq!(lines[1]["acknowledge"], false, "never answer an auto-reply");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn classify_explain_lists_the_matching_rules_words_and_runner_up() {
    let dir = demo_copy("classify-explain");
    let config = dir.join("switchboard.toml");
    let complaint = repo().join("tests/classify/v15-r30-zh-refund-tuikuan.eml");
    let out = switchboard(&[
        "classify",
        "--config",
        config.to_str().unwrap(),
        "--explain",
        complaint.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let explain = &line["explain"];
    assert_eq!(explain["sender"], "unknown", "{line}");
    let rules = explain["rules"].as_array().unwrap();
    // The winner first, as `rules` names it, then the runner-up with a lower weight.
    assert_eq!(rules[0]["rule"], line["rules"][0], "{line}");
    assert!(rules.len() >= 2, "a runner-up: {line}");
    assert!(
        rules[0]["weight"].as_i64() > rules[1]["weight"].as_i64(),
        "{line}"
    );
    let words: Vec<&str> = rules[0]["words"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .collect();
    // The word itself, or a pattern built on it (退款…什么时候).
    assert!(
        words
            .iter()
            .any(|w| (w.starts_with("body: ") || w.starts_with("subject: ")) && w.contains("退款")),
        "{line}"
    );
    // The learned model's view: its best class, the runner-up, and how far the best
    // leads the class the rules decided — nothing, when that is the best.
    let learned = &explain["learned"];
    let decided = format!(
        "{}/{}",
        line["category"].as_str().unwrap(),
        line["department"].as_str().unwrap()
    );
    assert_eq!(learned["best"], decided.as_str(), "{line}");
    assert_eq!(learned["lead_over_rules"], 0.0, "{line}");
    assert!(learned["margin"].as_f64().unwrap() > 0.0, "{line}");
    assert!(learned["runner_up"].is_string(), "{line}");
    // Without the flag, no explanation.
    let out = switchboard(&[
        "classify",
        "--config",
        config.to_str().unwrap(),
        complaint.to_str().unwrap(),
    ]);
    assert!(stdout(&out).find("\"explain\"").is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// systemd's own judgement of the unit's sandbox: an exposure of at most 1.5 on its
/// 0–10 scale (10 is an unprotected service). systemd-analyze comes with systemd.
#[test]
fn the_service_unit_scores_well_in_systemd_analyze_security() {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=15"])
        .arg(repo().join("systemd/switchboard.service"))
        .output()
        .expect("systemd-analyze (package systemd) is needed for this test");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exposure above 1.5:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("Overall exposure level"), "{report}");
}

/// `[intake] parties`: check reads the file with the rules, refuses a broken one with
/// file and line, counts a good one; and a listed supplier's mail that reads like a
/// customer's complaint is classified as a supplier dispute.
#[test]
fn a_parties_file_is_checked_and_decides_the_senders_side() {
    let dir = demo_copy("parties");
    let config = dir.join("switchboard.toml");
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "[intake]\n",
        "[intake]\nparties = \"parties.csv\"\n",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let parties = dir.join("parties.csv");
    std::fs::write(
        &parties,
        "address,role,name,tier\nhuatai-chem.com,suplier,Huatai,\n",
    )
    .unwrap();
    let out = switchboard(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let want = format!(
        "{}:2: column 2 (role): expected customer, supplier or partner, found \"suplier\"",
        parties.display()
    );
    assert!(stdout(&out).contains(&want), "{}", stdout(&out));

    std::fs::write(
        &parties,
        "address,role,name,tier\nhuatai-chem.com,supplier,Huatai,\n",
    )
    .unwrap();
    let out = switchboard(&["check", "--config", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("parties.csv (1 entries)"),
        "{}",
        stdout(&out)
    );

    let mail = dir.join("vendor.eml");
    std::fs::write(
        &mail,
        "From: ar@huatai-chem.com\r\nTo: support@example.com\r\nSubject: hello\r\nMessage-ID: <p1@huatai-chem.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n贵司迟迟不回复我们的邮件，非常不满，请给个说法。\r\n",
    )
    .unwrap();
    let out = switchboard(&[
        "classify",
        "--config",
        config.to_str().unwrap(),
        mail.to_str().unwrap(),
    ]);
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["category"], "supplier_dispute", "{line}");
    assert_eq!(line["department"], "procurement");
    assert_eq!(line["rules"][0], "sender-supplier");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn learn_names_the_labels_file_and_key_it_cannot_use() {
    let dir = demo_copy("learn-labels");
    let config = dir.join("switchboard.toml");
    let labelled = dir.join("labelled");
    std::fs::create_dir_all(&labelled).unwrap();
    std::fs::copy(
        repo().join("tests/classify/c01-zh-late-delivery-project.eml"),
        labelled.join("a.eml"),
    )
    .unwrap();
    let labels = labelled.join("expected.toml");
    let learn = |extra: &[&str]| {
        let mut args = vec!["learn", "--config", config.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(labelled.to_str().unwrap());
        switchboard(&args)
    };
    for (label, says) in [
        (
            "[\"a.eml\"]\ncategory = \"complaint\"\ndepartment = \"logistic\"\n",
            "[\"a.eml\"] department = \"logistic\": expected the id of a department in the config",
        ),
        (
            "[\"a.eml\"]\ncategory = \"complain\"\ndepartment = \"logistics\"\n",
            "[\"a.eml\"] category = \"complain\": expected complaint, supplier_dispute",
        ),
        (
            "[\"b.eml\"]\ncategory = \"complaint\"\ndepartment = \"logistics\"\n",
            "b.eml",
        ),
    ] {
        std::fs::write(&labels, label).unwrap();
        let out = learn(&["--out", dir.join("m.tsv").to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{label}");
        assert!(err.contains(says), "{err}");
        assert!(
            !dir.join("m.tsv").exists(),
            "nothing is written on a problem"
        );
    }
    // One folder of one class teaches nothing to choose between, and cannot be held out.
    std::fs::write(
        &labels,
        "[\"a.eml\"]\ncategory = \"complaint\"\ndepartment = \"logistics\"\n",
    )
    .unwrap();
    let out = learn(&["--out", dir.join("m.tsv").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fewer than two classes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = learn(&["--cross-validate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least two"));
    std::fs::remove_dir_all(&dir).unwrap();
}
