//! Corrections that teach, end to end with the real Dovecot and Postfix: a
//! department's `Category:` reply re-files a case and the sender's next case takes
//! that side; a sender whose cases were reassigned twice the same way is routed that
//! way the third time, and the case says why; `switchboard corrections` lists it all.
//! Then `switchboard replay` with a candidate rules folder over the same store, and
//! `switchboard learn --store` from it, which must leave the store file byte for
//! byte as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::time::Duration;

use fixture::{Fixture, mail};
use serde_json::Value;
use switchboard::message::Message;

const WAIT: Duration = Duration::from_secs(20);

/// Writes like a customer (不满意，给个说法), is a supplier.
const VENDOR: &str = "ar@huatai-chem.com";
/// A customer whose every grievance is the sales department's.
const DEALER: &str = "zhang@hengfa-trade.com";

fn inbox(f: &Fixture, user: &str, count: usize) -> Vec<Message> {
    f.stack
        .wait_for_messages(user, "INBOX", count, WAIT)
        .unwrap()
        .iter()
        .map(|m| Message::parse(m).expect("our own mail parses"))
        .collect()
}

fn reply(to: &Message, from: &str, id: &str, body: &str) -> Vec<u8> {
    let parent = to.message_id.clone().unwrap();
    mail(
        from,
        &format!("Re: {}", to.subject),
        id,
        &format!("In-Reply-To: <{parent}>\r\nReferences: <{parent}>\r\n"),
        body,
    )
}

fn case_of<'a>(cases: &'a [Value], sender: &str, nth: usize) -> &'a Value {
    cases
        .iter()
        .filter(|c| c["sender"] == sender)
        .nth(nth)
        .unwrap_or_else(|| panic!("no case {nth} of {sender} in {cases:#?}"))
}

fn corrections(f: &Fixture) -> Value {
    let out = f
        .command()
        .args(["corrections", "--json", "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The triage department (customer service) gets every "Complaint: other"; it
/// answers each with `commands`, and the routed mail of the nth case is the nth in
/// its inbox.
fn triage_answers(f: &Fixture, nth: usize, id: &str, commands: &str, now: &str) {
    let routed = inbox(f, "customer-service@example.com", nth + 1).remove(nth);
    f.deliver(&reply(
        &routed,
        "customer-service-staff@example.com",
        id,
        &format!("{commands}\r\nInternal: yes\r\n\r\n已改正。"),
    ))
    .unwrap();
    f.run_at(now).unwrap();
}

#[test]
fn a_category_reply_teaches_the_side_and_two_reassignments_teach_the_route() {
    let f = Fixture::start().unwrap();
    let grievance = |from: &str, subject: &str, id: &str| {
        mail(
            from,
            subject,
            id,
            "",
            "我们对贵司这次的安排很不满意，请给个说法。",
        )
    };

    // 1. The vendor's mail reads as a customer's complaint; customer service re-files it.
    f.deliver(&grievance(VENDOR, "关于上月的安排", "v1@huatai-chem.com"))
        .unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let cases = f.cases().unwrap();
    assert_eq!(case_of(&cases, VENDOR, 0)["category"], "complaint");
    triage_answers(
        &f,
        0,
        "fix-v1@example.com",
        "Category: supplier_dispute\r\nDepartment: procurement",
        "2026-11-30T10:10:00+08:00",
    );
    let cases = f.cases().unwrap();
    let first = case_of(&cases, VENDOR, 0);
    assert_eq!(first["category"], "supplier_dispute");
    assert_eq!(first["department"], "procurement");
    inbox(&f, "procurement@example.com", 1);

    // Its next mail, on another matter, is taken for what its corrected case was.
    f.deliver(&grievance(VENDOR, "还是没有回复", "v2@huatai-chem.com"))
        .unwrap();
    f.run_at("2026-11-30T10:20:00+08:00").unwrap();
    let cases = f.cases().unwrap();
    let second = case_of(&cases, VENDOR, 1);
    assert_eq!(second["category"], "supplier_dispute", "{second:#}");
    assert_eq!(second["department"], "procurement");

    // 2. The dealer's grievances are all sales matters: reassigned twice…
    for (n, (subject, at, fixed)) in [
        (
            "返点问题",
            "2026-11-30T10:30:00+08:00",
            "2026-11-30T10:40:00+08:00",
        ),
        (
            "报价问题",
            "2026-11-30T10:50:00+08:00",
            "2026-11-30T11:00:00+08:00",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        f.deliver(&grievance(
            DEALER,
            subject,
            &format!("d{n}@hengfa-trade.com"),
        ))
        .unwrap();
        f.run_at(at).unwrap();
        let cases = f.cases().unwrap();
        assert_eq!(
            case_of(&cases, DEALER, n)["department"],
            "customer-service",
            "the rules alone cannot know (case {n})"
        );
        // Customer service's inbox: the vendor's first case, then the dealer's.
        triage_answers(
            &f,
            1 + n,
            &format!("fix-d{n}@example.com"),
            "Department: sales",
            fixed,
        );
        assert_eq!(
            case_of(&f.cases().unwrap(), DEALER, n)["department"],
            "sales"
        );
    }
    // …so the third goes to sales straight away, and says why.
    f.deliver(&grievance(DEALER, "又是这样", "d3@hengfa-trade.com"))
        .unwrap();
    f.run_at("2026-11-30T11:10:00+08:00").unwrap();
    let cases = f.cases().unwrap();
    let third = case_of(&cases, DEALER, 2);
    assert_eq!(third["department"], "sales", "{third:#}");
    assert_eq!(third["category"], "complaint");
    let why = third["rules"][0].as_str().unwrap();
    assert!(
        why.starts_with("learned: 2 cases of this sender corrected to complaint / sales"),
        "{why}"
    );
    assert!(why.contains(case_of(&cases, DEALER, 0)["case"].as_str().unwrap()));
    inbox(&f, "sales@example.com", 3);

    // The administrator's list: four corrections, one lesson, one rule to look at.
    let list = corrections(&f);
    let rows = list["corrections"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{list:#}");
    assert_eq!(rows[0]["field"], "category");
    assert_eq!(rows[0]["from"], "complaint");
    assert_eq!(rows[0]["to"], "supplier_dispute");
    assert_eq!(rows[0]["by"], "customer-service-staff@example.com");
    assert_eq!(rows[0]["rule"], "客户投诉：其他 / Complaint: other");
    let taught = list["taught"].as_array().unwrap();
    assert_eq!(
        taught.len(),
        1,
        "one case of the vendor's was corrected: {list:#}"
    );
    assert_eq!(taught[0]["sender"], DEALER);
    assert_eq!(taught[0]["department"], "sales");
    assert_eq!(
        list["by_rule"][0]["rule"],
        "客户投诉：其他 / Complaint: other"
    );
    assert_eq!(list["by_rule"][0]["corrections"], 4);

    // Each case's own corrections are on its timeline (and so in its archive's
    // case.json), and in the text `cases show` prints.
    let first = rows[0]["case"].as_str().unwrap();
    let shown = f.show(first, "2026-11-30T11:20:00+08:00").unwrap();
    let own = shown["corrections"].as_array().unwrap();
    // Category: and the Department: it came with.
    assert_eq!(own.len(), 2, "{shown:#}");
    assert_eq!(own[0]["to"], "supplier_dispute");
    assert_eq!(own[1]["to"], "procurement");
    let text = f
        .command()
        .args([
            "cases",
            "show",
            first,
            "--now",
            "2026-11-30T11:20:00+08:00",
            "--config",
        ])
        .arg(&f.config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Corrections\n") && text.contains("category: complaint → supplier_dispute"),
        "{text}"
    );
}

#[test]
fn replay_shows_what_a_candidate_rule_would_change_and_leaves_the_store_untouched() {
    let f = Fixture::start().unwrap();
    let late = mail(
        "李明 <liming@keji-tech.cn>",
        "投诉：设备交付延迟",
        "late@keji-tech.cn",
        "",
        "你们好，我司采购的20台设备比合同约定晚了两天交付，请尽快说明原因并给出处理方案。",
    );
    let grievance = mail(
        &format!("张三 <{DEALER}>"),
        "返点问题",
        "rebate@hengfa-trade.com",
        "",
        "我们对贵司这次的返点安排很不满意，请给个说法。",
    );
    f.deliver(&late).unwrap();
    f.deliver(&grievance).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    // Customer service puts the rebate grievance with sales, where it belongs.
    let routed = inbox(&f, "customer-service@example.com", 1).remove(0);
    f.deliver(&reply(
        &routed,
        "customer-service-staff@example.com",
        "fix@example.com",
        "Department: sales\r\nInternal: yes\r\n\r\n返点归销售部。",
    ))
    .unwrap();
    f.run_at("2026-11-30T10:10:00+08:00").unwrap();

    // The candidate: the shipped rules and one more, for rebates.
    let candidate = f.dir.join("candidate-rules");
    std::fs::create_dir_all(&candidate).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), candidate.join(entry.file_name())).unwrap();
    }
    std::fs::write(
        candidate.join("15-rebates.toml"),
        "[[rule]]\nname = \"客户投诉：返点 / Complaint: rebate\"\ncategory = \"complaint\"\ndepartment = \"sales\"\nweight = 30\nsender = \"external\"\nany = [\"返点\", \"rebate*\"]\n",
    )
    .unwrap();

    let db = f.db_path();
    let files = |suffix: &str| std::fs::read(format!("{}{suffix}", db.display())).ok();
    let before = (files(""), files("-wal"));
    let replay = |rules: Option<&std::path::Path>| -> Value {
        let mut cmd = f.command();
        cmd.args([
            "replay",
            "--from",
            "2026-11-30",
            "--to",
            "2026-11-30",
            "--json",
            "--config",
        ])
        .arg(&f.config);
        if let Some(dir) = rules {
            cmd.arg("--rules").arg(dir);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };

    // With the rules in force nothing changes, and the correction shows as a miss.
    let now = replay(None);
    assert_eq!(now["summary"]["messages"], 2, "{now:#}");
    assert_eq!(now["summary"]["changed"], 0, "{now:#}");
    assert_eq!(now["summary"]["right_before"], 1);
    assert_eq!(now["summary"]["right_after"], 1);

    // With the candidate the rebate grievance moves to sales: right now.
    let tried = replay(Some(&candidate));
    assert_eq!(tried["summary"]["changed"], 1, "{tried:#}");
    assert_eq!(tried["summary"]["department_changed"], 1);
    assert_eq!(tried["summary"]["right_after"], 2);
    let moved = tried["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["changed"] == true)
        .unwrap();
    assert_eq!(moved["before"]["department"], "customer-service");
    assert_eq!(
        moved["before"]["rules"][0],
        "客户投诉：其他 / Complaint: other"
    );
    assert_eq!(moved["after"]["department"], "sales");
    assert_eq!(
        moved["after"]["rules"][0],
        "客户投诉：返点 / Complaint: rebate"
    );
    assert_eq!(moved["now"]["department"], "sales");

    // A candidate that does not load is refused with its file and line.
    std::fs::write(candidate.join("16-broken.toml"), "[[rule]]\nname = 3\n").unwrap();
    let out = f
        .command()
        .args([
            "replay",
            "--from",
            "2026-11-30",
            "--to",
            "2026-11-30",
            "--config",
        ])
        .arg(&f.config)
        .arg("--rules")
        .arg(&candidate)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("16-broken.toml:2"), "{err}");

    // Learning from the store takes the cases as the departments left them: the
    // rebate grievance is complaint / sales, not the customer service the rules said.
    let model = f.dir.join("learned.tsv");
    let out = f
        .command()
        .args(["learn", "--store", "--min-messages", "1", "--config"])
        .arg(&f.config)
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Learned from 2 message(s) in 1 place(s)"),
        "{said}"
    );
    let text = std::fs::read_to_string(&model).unwrap();
    let classes: Vec<&str> = text.lines().filter(|l| l.starts_with("class\t")).collect();
    assert_eq!(classes.len(), 2, "{text}");
    assert!(
        classes[0].starts_with("class\tcomplaint\tlogistics\t1\t"),
        "{text}"
    );
    assert!(
        classes[1].starts_with("class\tcomplaint\tsales\t1\t"),
        "{text}"
    );

    // Read-only: the store and its log are byte for byte what they were (replay and
    // learn alike).
    assert_eq!(
        (files(""), files("-wal")),
        before,
        "replay changed the store"
    );
}
