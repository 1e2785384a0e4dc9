//! The weekly service-level report by mail, against the real Dovecot and Postfix,
//! with `--now` moving a fresh process through two weeks: once per week per
//! recipient across restarts, a manager's only about their departments, and the
//! same figures as `switchboard report` for that week. Needs
//! `scripts/install-test-deps.sh`; fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::path::Path;
use std::time::Duration;

use fixture::{Fixture, GENERAL_MANAGER, mail};
use switchboard::message::Message;

const WAIT: Duration = Duration::from_secs(30);

fn reports_to(f: &Fixture, who: &str) -> i64 {
    f.count(&format!(
        "SELECT count(*) FROM outbox WHERE kind = 'weekly_report' AND recipients = '{who}'"
    ))
    .unwrap()
}

#[test]
fn weekly_report_once_a_week_scoped_and_as_the_report_says() {
    let f = Fixture::start().unwrap();
    f.edit_config(|c| {
        c.replace(
            &format!("escalation_contacts = [\"{GENERAL_MANAGER}\"]"),
            &format!("escalation_contacts = [\"{GENERAL_MANAGER}\"]\nreport = \"mon 09:00\""),
        )
    })
    .unwrap();
    f.deliver(&mail(
        "李明 <liming@keji-tech.cn>",
        "投诉：设备交付延迟",
        "weekly-late@keji-tech.cn",
        "",
        "你们好，我司采购的20台设备比合同约定晚了两天交付，请尽快说明原因并给出处理方案。",
    ))
    .unwrap();
    let crash = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/classify/c04-zh-product-crash.eml"),
    )
    .unwrap();
    f.deliver(&crash).unwrap();
    // Tuesday 24 November: both taken in; nobody answers, so the analyses are missed.
    f.run_at("2026-11-24T10:00:00+08:00").unwrap();
    assert_eq!(f.cases().unwrap().len(), 2);
    f.run_at("2026-11-27T10:00:00+08:00").unwrap();
    assert_eq!(reports_to(&f, "logistics-head@example.com"), 0);

    // Monday 30 November, 09:05: the report for 23–29 November.
    f.run_at("2026-11-30T09:05:00+08:00").unwrap();
    assert_eq!(reports_to(&f, "logistics-head@example.com"), 1);
    assert_eq!(reports_to(&f, GENERAL_MANAGER), 1);
    // A restart the same morning sends nothing again.
    f.run_at("2026-11-30T10:30:00+08:00").unwrap();
    assert_eq!(reports_to(&f, "logistics-head@example.com"), 1);
    assert_eq!(reports_to(&f, GENERAL_MANAGER), 1);

    let head = f
        .stack
        .wait_for_messages("logistics-head@example.com", "INBOX", 1, WAIT)
        .unwrap();
    let head: Vec<Message> = head.iter().map(|m| Message::parse(m).unwrap()).collect();
    let report = head
        .iter()
        .find(|m| {
            m.subject
                .contains("Weekly service-level report 2026-11-23 – 2026-11-29")
        })
        .unwrap_or_else(|| panic!("{:?}", head.iter().map(|m| &m.subject).collect::<Vec<_>>()));
    assert!(report.body.contains("物流部 Logistics"), "{}", report.body);
    assert!(
        !report.body.contains("质量部"),
        "a quality figure for logistics: {}",
        report.body
    );

    // The same figures as the command, for the same week at the same moment.
    let out = f
        .command()
        .args([
            "report",
            "--from",
            "2026-11-23",
            "--to",
            "2026-11-29",
            "--csv",
        ])
        .args(["--now", "2026-11-30T09:05:00+08:00", "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    let logistics: Vec<&str> = csv
        .lines()
        .find(|l| l.starts_with("logistics,"))
        .unwrap_or_else(|| panic!("{csv}"))
        .split(',')
        .collect();
    let expected = format!(
        "{}\n   按时 met {} (0) · 超时 missed {} (0) · 进行中 pending {} (0)",
        logistics[1], logistics[2], logistics[3], logistics[4]
    );
    let body = report.body.replace("\r\n", "\n");
    assert!(body.contains(&expected), "{expected:?} not in\n{body}");
    assert!(
        report.body.contains("超时的时限 Missed deadlines: 1"),
        "{}",
        report.body
    );

    let gm = f
        .stack
        .wait_for_messages(GENERAL_MANAGER, "INBOX", 1, WAIT)
        .unwrap();
    let gm_report = gm
        .iter()
        .map(|m| Message::parse(m).unwrap())
        .find(|m| m.subject.contains("Weekly service-level report"))
        .unwrap();
    assert!(
        gm_report.body.contains("物流部 Logistics") && gm_report.body.contains("质量部 Quality"),
        "{}",
        gm_report.body
    );
    assert!(
        gm_report.body.contains("超时的时限 Missed deadlines: 2"),
        "{}",
        gm_report.body
    );

    // The next Monday, the next week's report; and only one.
    f.run_at("2026-12-07T09:30:00+08:00").unwrap();
    f.run_at("2026-12-07T11:00:00+08:00").unwrap();
    assert_eq!(reports_to(&f, "logistics-head@example.com"), 2);
    assert_eq!(reports_to(&f, GENERAL_MANAGER), 2);
}
