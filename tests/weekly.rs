//! The weekly service-level report by mail, against the real Dovecot and Postfix,
//! with `--now` moving a fresh process through two weeks: once per week per
//! recipient across restarts, a manager's only about their departments, and the
//! same figures as `switchboard report` for that week. Needs
//! `scripts/install-test-deps.sh`; fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/chromium.rs"]
mod chromium;
#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::path::Path;
use std::time::Duration;

use fixture::{Fixture, GENERAL_MANAGER, mail};
use mail_parser::MimeHeaders;
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

    // Text and HTML, the bars drawn as table cells, and the week's table attached:
    // byte for byte what `report --csv` prints for all departments (the general
    // manager's scope), after the byte order mark that Excel needs.
    let raw = gm
        .iter()
        .find(|m| String::from_utf8_lossy(m).contains("weekly_report"))
        .unwrap();
    let parsed = mail_parser::MessageParser::default().parse(raw).unwrap();
    let html = parsed.body_html(0).expect("an HTML part").to_string();
    assert!(parsed.body_text(0).unwrap().contains("物流部 Logistics"));
    // Every analysis of the week was missed: 0% met, the bar all red.
    assert!(
        html.contains(r#"<td width="100%" height="12" style="width:100%;height:12px;background-color:#d64545;"#),
        "{html}"
    );
    assert!(html.contains("<b>0%</b>"), "{html}");
    assert!(
        !html.contains("<img") && !html.contains("<svg") && !html.contains("<script"),
        "{html}"
    );
    // As a phone's mail client draws it: kept in target/mail-screenshots/.
    let shots = chromium::artifacts("mail-screenshots");
    let page = shots.join("weekly-report.html");
    std::fs::write(&page, &html).unwrap();
    let url = format!("file://{}", page.display());
    let profile = f.dir.join("chromium-profile");
    let dom = chromium::chromium(&profile, &["--dump-dom".into()], &url);
    assert!(
        dom.contains("服务水平周报") && dom.contains("质量部 Quality"),
        "{dom}"
    );
    let shot = shots.join("weekly-report-phone.png");
    let _ = std::fs::remove_file(&shot);
    chromium::chromium(
        &profile,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=390,1300".to_string(),
        ],
        &url,
    );
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "no screenshot"
    );
    let text_first = String::from_utf8_lossy(raw);
    let (text_at, html_at) = (
        text_first.find("Content-Type: text/plain").unwrap(),
        text_first.find("Content-Type: text/html").unwrap(),
    );
    assert!(text_at < html_at, "text/plain comes first");
    let attachment = parsed.attachment(0).expect("the CSV attached");
    assert_eq!(
        attachment.attachment_name(),
        Some("sla-report-2026-11-23-2026-11-29.csv")
    );
    let all = f
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
    let attached = attachment.contents();
    assert_eq!(attached.get(..3), Some(&b"\xef\xbb\xbf"[..]));
    assert_eq!(
        String::from_utf8_lossy(&attached[3..]),
        String::from_utf8_lossy(&all.stdout)
    );

    // The next Monday, the next week's report; and only one.
    f.run_at("2026-12-07T09:30:00+08:00").unwrap();
    f.run_at("2026-12-07T11:00:00+08:00").unwrap();
    assert_eq!(reports_to(&f, "logistics-head@example.com"), 2);
    assert_eq!(reports_to(&f, GENERAL_MANAGER), 2);
}
