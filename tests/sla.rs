//! The handbook's clocks and the department loop, against the real Dovecot and Postfix,
//! with `--now` moving the daemon through days in seconds. Each `run_at` is a fresh
//! process: a restart between every step, so these tests also show that the clock
//! loses and repeats nothing across restarts. Needs `scripts/install-test-deps.sh`;
//! fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::time::Duration;

use fixture::{Fixture, GENERAL_MANAGER, mail};
use serde_json::Value;
use switchboard::message::Message;

const WAIT: Duration = Duration::from_secs(20);

const CUSTOMER: &str = "liming@keji-tech.cn";

/// A late-delivery complaint (important, to logistics, with the shipped rules).
fn complaint(id: &str) -> Vec<u8> {
    mail(
        &format!("李明 <{CUSTOMER}>"),
        "投诉：设备交付延迟",
        id,
        "",
        "你们好，我司采购的20台设备比合同约定晚了两天交付，请尽快说明原因并给出处理方案。",
    )
}

fn parse(raw: &[u8]) -> Message {
    Message::parse(raw).expect("our own mail parses")
}

/// Waits for `count` messages for `user` and returns them parsed.
fn inbox(f: &Fixture, user: &str, count: usize) -> Vec<Message> {
    f.stack
        .wait_for_messages(user, "INBOX", count, WAIT)
        .unwrap()
        .iter()
        .map(|m| parse(m))
        .collect()
}

/// The messages `user` has now, parsed, without waiting.
fn now_in(f: &Fixture, user: &str) -> Vec<Message> {
    f.stack
        .messages(user, "INBOX")
        .unwrap()
        .iter()
        .map(|m| parse(m))
        .collect()
}

/// A reply to one of our mails, as a mail client writes it: Re: subject, In-Reply-To
/// and References naming it, the original quoted below.
fn reply(to: &Message, from: &str, id: &str, body: &str) -> Vec<u8> {
    let parent = to.message_id.clone().unwrap();
    let mut refs = to.references.clone();
    refs.push(parent.clone());
    let refs: Vec<String> = refs.iter().map(|r| format!("<{r}>")).collect();
    mail(
        from,
        &format!("Re: {}", to.subject),
        id,
        &format!(
            "In-Reply-To: <{parent}>\r\nReferences: {}\r\n",
            refs.join(" ")
        ),
        &format!(
            "{body}\r\n\r\nOn Mon, 30 Nov 2026, Switchboard wrote:\r\n> {}\r\n",
            to.subject
        ),
    )
}

fn the_case(f: &Fixture) -> String {
    let cases = f.cases().unwrap();
    assert_eq!(cases.len(), 1, "{cases:?}");
    cases[0]["case"].as_str().unwrap().to_string()
}

fn deadline<'a>(show: &'a Value, milestone: &str) -> &'a Value {
    show["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|d| d["milestone"] == milestone)
        .unwrap_or_else(|| panic!("no {milestone} deadline in {:#}", show["deadlines"]))
}

/// Unix seconds of an RFC 3339 time.
fn at(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp()
}

fn timers<'a>(show: &'a Value, kind: &str) -> Vec<&'a Value> {
    show["timers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == kind)
        .collect()
}

#[test]
fn a_complaint_walks_every_milestone_to_a_satisfied_survey() {
    let f = Fixture::start().unwrap();
    // Monday 30 November 2026, 10:00 in Shanghai.
    f.deliver(&complaint("walk@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let case = the_case(&f);
    let show = f.show(&case, "2026-11-30T10:00:00+08:00").unwrap();
    assert_eq!(show["case"]["department"], "logistics");
    assert_eq!(
        deadline(&show, "analysis")["due_at"],
        at("2026-11-30T12:00:00+08:00"),
        "2 working hours"
    );
    let routed = inbox(&f, "logistics@example.com", 1).remove(0);
    inbox(&f, CUSTOMER, 1); // the acknowledgement

    // 10:40 the department has its analysis (internal), 11:00 it answers the customer.
    f.deliver(&reply(
        &routed,
        "logistics-staff@example.com",
        "a1@example.com",
        "Status: analysed\r\nInternal: yes\r\n\r\n原因：仓库缺货，已安排加急调拨。",
    ))
    .unwrap();
    f.run_at("2026-11-30T10:40:00+08:00").unwrap();
    f.deliver(&reply(
        &routed,
        "logistics-staff@example.com",
        "a2@example.com",
        "李先生您好：延迟是因为仓库缺货，我们已加急调拨，明日17点前送达。",
    ))
    .unwrap();
    f.run_at("2026-11-30T11:00:00+08:00").unwrap();
    let to_customer = inbox(&f, CUSTOMER, 2);
    let relay = &to_customer[1];
    assert!(relay.subject.contains(&case), "{}", relay.subject);
    assert!(relay.body.contains("明日17点前送达"), "{}", relay.body);
    assert!(
        !relay.body.contains("Switchboard wrote"),
        "quoted history is trimmed: {}",
        relay.body
    );
    assert!(
        !to_customer
            .iter()
            .any(|m| m.body.contains("仓库缺货，已安排加急调拨")),
        "the internal note never reaches the customer"
    );

    // 15:00 resolved, with the result for the customer.
    f.deliver(&reply(
        &routed,
        "logistics@example.com",
        "a3@example.com",
        "Status: resolved\r\n\r\n设备已于今日14:30送达，物流单号 SF1234567。",
    ))
    .unwrap();
    f.run_at("2026-11-30T15:00:00+08:00").unwrap();
    inbox(&f, CUSTOMER, 3);
    // The survey goes 2 working hours after the result: 17:00.
    f.run_at("2026-11-30T16:59:00+08:00").unwrap();
    assert_eq!(now_in(&f, CUSTOMER).len(), 3, "no survey before its time");
    f.run_at("2026-11-30T17:00:00+08:00").unwrap();
    let survey = inbox(&f, CUSTOMER, 4).remove(3);
    assert!(survey.body.contains("非常满意"), "{}", survey.body);

    // Next morning the customer answers.
    f.deliver(&reply(
        &survey,
        CUSTOMER,
        "s1@keji-tech.cn",
        "1 非常满意，谢谢！",
    ))
    .unwrap();
    f.run_at("2026-12-01T09:30:00+08:00").unwrap();

    let show = f.show(&case, "2026-12-01T09:30:00+08:00").unwrap();
    assert_eq!(show["case"]["status"], "closed");
    assert_eq!(show["case"]["satisfaction"], "very_satisfied");
    for milestone in ["analysis", "contact", "result", "satisfaction"] {
        assert_eq!(
            deadline(&show, milestone)["state"],
            "met",
            "{milestone}: {:#}",
            show["deadlines"]
        );
    }
    assert!(
        now_in(&f, "logistics-head@example.com").is_empty(),
        "nothing was late: no escalation"
    );
    assert!(now_in(&f, GENERAL_MANAGER).is_empty());
}

#[test]
fn a_missed_analysis_escalates_once_to_the_manager_then_to_level_two() {
    let f = Fixture::start().unwrap();
    f.deliver(&complaint("late@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let case = the_case(&f);
    inbox(&f, "logistics@example.com", 1);

    // 75% of 2 working hours: the department is reminded at 11:30.
    f.run_at("2026-11-30T11:30:00+08:00").unwrap();
    let dept = inbox(&f, "logistics@example.com", 2);
    assert!(dept[1].subject.contains("Reminder"), "{}", dept[1].subject);

    // 12:00 the deadline passes: the manager hears of it, once, however often the
    // daemon restarts.
    for _ in 0..3 {
        f.run_at("2026-11-30T12:00:00+08:00").unwrap();
    }
    f.run_at("2026-11-30T13:00:00+08:00").unwrap();
    let head = inbox(&f, "logistics-head@example.com", 1);
    assert!(head[0].subject.contains("L1"), "{}", head[0].subject);
    assert!(head[0].subject.contains(&case));

    // Level 2 two working hours later: 12:00 → lunch → 15:30.
    f.run_at("2026-11-30T15:29:00+08:00").unwrap();
    assert!(
        now_in(&f, GENERAL_MANAGER).is_empty(),
        "not before its time"
    );
    f.run_at("2026-11-30T15:30:00+08:00").unwrap();
    f.run_at("2026-11-30T16:00:00+08:00").unwrap();
    let gm = inbox(&f, GENERAL_MANAGER, 1);
    assert!(gm[0].subject.contains("L2"), "{}", gm[0].subject);

    f.settle().unwrap();
    assert_eq!(
        now_in(&f, "logistics-head@example.com").len(),
        1,
        "level 1 once"
    );
    assert_eq!(now_in(&f, GENERAL_MANAGER).len(), 1, "level 2 once");
    assert_eq!(
        now_in(&f, "logistics@example.com").len(),
        2,
        "route + one reminder"
    );

    let show = f.show(&case, "2026-11-30T16:00:00+08:00").unwrap();
    assert_eq!(deadline(&show, "analysis")["state"], "missed");
    let out = f
        .command()
        .args([
            "report",
            "--from",
            "2026-11-30",
            "--to",
            "2026-11-30",
            "--csv",
        ])
        .args(["--now", "2026-11-30T16:00:00+08:00", "--config"])
        .arg(&f.config)
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        csv.contains("logistics,初步分析 initial analysis,0,1,0,,"),
        "{csv}"
    );
}

#[test]
fn deadlines_cross_weekends_holidays_and_make_up_working_days() {
    let f = Fixture::start().unwrap();
    // Wednesday 30 September 2026, 17:00: the National Day holiday (1–7 October)
    // follows, Sunday 11 October is a weekend day, Saturday 10 October a make-up
    // working day.
    f.deliver(&mail(
        "张经理 <zhang@huayuan-materials.com>",
        "关于采购订单PO-7731的价格争议",
        "po7731@huayuan-materials.com",
        "",
        "贵司采购部：订单PO-7731的结算单价与合同不一致，少付货款12,000元，请核对并答复。",
    ))
    .unwrap();
    f.run_at("2026-09-30T17:00:00+08:00").unwrap();
    let case = the_case(&f);
    let show = f.show(&case, "2026-09-30T17:00:00+08:00").unwrap();
    assert_eq!(show["case"]["category"], "supplier_dispute");
    // 1 working day: Thursday 8 October, same time.
    assert_eq!(
        deadline(&show, "first-answer")["due_at"],
        at("2026-10-08T17:00:00+08:00")
    );
    // 5 working days: 8, 9, 10 (make-up Saturday), 12, 13 October.
    assert_eq!(
        deadline(&show, "resolution")["due_at"],
        at("2026-10-13T17:00:00+08:00")
    );
    // Nothing fires during the holiday.
    f.run_at("2026-10-05T12:00:00+08:00").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        now_in(&f, "procurement@example.com").len(),
        1,
        "only the routed case"
    );
}

#[test]
fn a_reminder_that_would_fall_at_night_waits_for_working_hours() {
    let f = Fixture::start().unwrap();
    f.deliver(&complaint("night@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T09:30:00+08:00").unwrap();
    let case = the_case(&f);
    let routed = inbox(&f, "logistics@example.com", 1).remove(0);
    // Resolved at 09:40 without a word to the customer: the result is due in 24 hours
    // (Tuesday 09:40); 75% of that is 03:40 at night, so the reminder waits for 09:00.
    f.deliver(&reply(
        &routed,
        "logistics@example.com",
        "n1@example.com",
        "Status: resolved\r\nInternal: yes\r\n\r\n已补发。",
    ))
    .unwrap();
    f.run_at("2026-11-30T09:40:00+08:00").unwrap();
    let show = f.show(&case, "2026-11-30T09:40:00+08:00").unwrap();
    let result = deadline(&show, "result");
    assert_eq!(result["due_at"], at("2026-12-01T09:40:00+08:00"));
    let reminder = timers(&show, "reminder")
        .into_iter()
        .find(|t| t["deadline_id"] == result["id"])
        .expect("a reminder for the result");
    assert_eq!(reminder["fire_at"], at("2026-12-01T09:00:00+08:00"));

    f.run_at("2026-12-01T04:00:00+08:00").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        now_in(&f, "logistics@example.com").len(),
        1,
        "nothing at night"
    );
    f.run_at("2026-12-01T09:00:00+08:00").unwrap();
    let dept = inbox(&f, "logistics@example.com", 2);
    assert!(dept[1].subject.contains("Reminder"), "{}", dept[1].subject);
}

#[test]
fn a_forged_from_or_a_bad_token_changes_nothing() {
    let f = Fixture::start().unwrap();
    f.deliver(&complaint("forge@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let case = the_case(&f);
    let routed = inbox(&f, "logistics@example.com", 1).remove(0);
    inbox(&f, CUSTOMER, 1);

    // The customer (or anyone) writes as the department, with the tag but no token.
    f.deliver(&mail(
        "logistics@example.com",
        &format!("Re: [{case}] 投诉"),
        "forged1@evil.example",
        "",
        "Status: closed\r\n\r\n此案已结。",
    ))
    .unwrap();
    // A real reply whose token was tampered with.
    let tampered = String::from_utf8(reply(
        &routed,
        "logistics@example.com",
        "forged2@evil.example",
        "Status: closed\r\n\r\n此案已结。",
    ))
    .unwrap();
    let token = routed
        .message_id
        .as_ref()
        .unwrap()
        .split('.')
        .nth(4)
        .unwrap()
        .to_string();
    let bad: String = token.chars().rev().collect();
    f.deliver(tampered.replace(&token, &bad).as_bytes())
        .unwrap();
    // A valid token, but not from the department.
    f.deliver(&reply(
        &routed,
        "mallory@evil.example",
        "forged3@evil.example",
        "Status: closed\r\n\r\n此案已结。",
    ))
    .unwrap();
    f.run_at("2026-11-30T10:30:00+08:00").unwrap();

    let show = f.show(&case, "2026-11-30T10:30:00+08:00").unwrap();
    assert_eq!(show["case"]["status"], "new", "nothing changed");
    let refused = show["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "refused")
        .count();
    assert_eq!(refused, 3, "{:#}", show["events"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        now_in(&f, CUSTOMER).len(),
        1,
        "the customer got only the acknowledgement, nothing relayed"
    );
    // The outsider holding a token is told why; the department learns of the mail sent
    // in its name.
    let outsider = inbox(&f, "mallory@evil.example", 1);
    assert!(
        outsider[0].subject.contains("Not applied"),
        "{}",
        outsider[0].subject
    );
    assert!(!inbox(&f, "logistics@example.com", 2).is_empty());
}

#[test]
fn a_bad_command_is_answered_with_what_is_valid_and_changes_nothing() {
    let f = Fixture::start().unwrap();
    f.deliver(&complaint("badcmd@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let case = the_case(&f);
    let routed = inbox(&f, "logistics@example.com", 1).remove(0);
    f.deliver(&reply(
        &routed,
        "logistics-staff@example.com",
        "bad@example.com",
        "Status: done\r\n\r\n已处理。",
    ))
    .unwrap();
    f.run_at("2026-11-30T10:10:00+08:00").unwrap();
    let answer = inbox(&f, "logistics-staff@example.com", 1).remove(0);
    assert!(
        answer
            .body
            .contains("Status: analysed | contacted | resolved | closed"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("done"), "{}", answer.body);
    let show = f.show(&case, "2026-11-30T10:10:00+08:00").unwrap();
    assert_eq!(show["case"]["status"], "new");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(now_in(&f, CUSTOMER).len(), 1, "nothing relayed");
}

#[test]
fn reassignment_sends_the_case_record_and_moves_the_clock() {
    let f = Fixture::start().unwrap();
    f.deliver(&complaint("move@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let case = the_case(&f);
    let routed = inbox(&f, "logistics@example.com", 1).remove(0);
    f.deliver(&reply(
        &routed,
        "logistics-head@example.com",
        "move1@example.com",
        "Department: quality\r\nInternal: yes\r\n\r\n这是质量问题，转质量部。",
    ))
    .unwrap();
    f.run_at("2026-11-30T10:20:00+08:00").unwrap();
    let quality = inbox(&f, "quality@example.com", 1);
    assert!(quality[0].subject.contains(&case));
    let show = f.show(&case, "2026-11-30T10:20:00+08:00").unwrap();
    assert_eq!(show["case"]["department"], "quality");
    assert_eq!(deadline(&show, "analysis")["department"], "quality");
    assert_eq!(
        deadline(&show, "analysis")["due_at"],
        at("2026-11-30T12:00:00+08:00"),
        "the customer's clock does not restart"
    );

    // The old department can no longer command; the new one can.
    f.deliver(&reply(
        &routed,
        "logistics@example.com",
        "move2@example.com",
        "Status: resolved\r\n\r\n已解决。",
    ))
    .unwrap();
    f.deliver(&reply(
        &quality[0],
        "quality-staff@example.com",
        "move3@example.com",
        "Status: analysed\r\nInternal: yes\r\n\r\n批次问题。",
    ))
    .unwrap();
    f.run_at("2026-11-30T11:00:00+08:00").unwrap();
    let show = f.show(&case, "2026-11-30T11:00:00+08:00").unwrap();
    assert_eq!(show["case"]["status"], "analysed");
    // The contact milestone (started by the analysis at 11:00) reminds at 11:45 —
    // the department that has the case now.
    f.run_at("2026-11-30T11:45:00+08:00").unwrap();
    let q = inbox(&f, "quality@example.com", 2);
    assert!(q[1].subject.contains("Reminder"), "{}", q[1].subject);
}

#[test]
fn a_customer_follow_up_reopens_a_resolved_case_and_much_later_opens_a_linked_one() {
    let f = Fixture::start().unwrap();
    f.deliver(&complaint("reopen@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let case = the_case(&f);
    let routed = inbox(&f, "logistics@example.com", 1).remove(0);
    f.deliver(&reply(
        &routed,
        "logistics@example.com",
        "r1@example.com",
        "Status: resolved\r\n\r\n已重新发货，单号 SF777。",
    ))
    .unwrap();
    f.run_at("2026-11-30T11:00:00+08:00").unwrap();
    let relayed = inbox(&f, CUSTOMER, 2).remove(1);

    // Two days later: "still not here" reopens it and goes to the department.
    f.deliver(&reply(
        &relayed,
        CUSTOMER,
        "r2@keji-tech.cn",
        "还是没有收到货！",
    ))
    .unwrap();
    f.run_at("2026-12-02T10:00:00+08:00").unwrap();
    let show = f.show(&case, "2026-12-02T10:00:00+08:00").unwrap();
    assert_eq!(show["case"]["status"], "new", "reopened");
    assert_eq!(
        deadline(&show, "analysis")["state"],
        "pending",
        "the clock runs again"
    );
    assert_eq!(
        deadline(&show, "analysis")["due_at"],
        at("2026-12-02T12:00:00+08:00")
    );
    let dept = inbox(&f, "logistics@example.com", 2);
    assert!(dept[1].body.contains("还是没有收到货"), "{}", dept[1].body);

    // Resolved again, closed; a month later the customer writes on the old thread.
    f.deliver(&reply(
        &routed,
        "logistics@example.com",
        "r3@example.com",
        "Status: closed\r\n\r\n已签收，谢谢。",
    ))
    .unwrap();
    f.run_at("2026-12-02T11:00:00+08:00").unwrap();
    f.deliver(&reply(
        &relayed,
        CUSTOMER,
        "r4@keji-tech.cn",
        "同一批设备又坏了一台。",
    ))
    .unwrap();
    f.run_at("2027-01-05T10:00:00+08:00").unwrap();
    let cases = f.cases().unwrap();
    assert_eq!(cases.len(), 2, "{cases:?}");
    assert_eq!(cases[1]["parent"], case.as_str());
    assert_eq!(cases[1]["department"], "logistics");
}

#[test]
fn a_dissatisfied_answer_goes_to_the_customer_service_managers() {
    let f = Fixture::start().unwrap();
    f.deliver(&complaint("unhappy@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let case = the_case(&f);
    let routed = inbox(&f, "logistics@example.com", 1).remove(0);
    f.deliver(&reply(
        &routed,
        "logistics@example.com",
        "u1@example.com",
        "Status: resolved\r\n\r\n已更换设备。",
    ))
    .unwrap();
    f.run_at("2026-11-30T10:30:00+08:00").unwrap();
    f.run_at("2026-11-30T14:00:00+08:00").unwrap();
    let survey = inbox(&f, CUSTOMER, 3).remove(2);
    assert!(survey.subject.contains("满意度"), "{}", survey.subject);
    f.deliver(&reply(
        &survey,
        CUSTOMER,
        "u2@keji-tech.cn",
        "不满意，拖了太久。",
    ))
    .unwrap();
    f.run_at("2026-11-30T15:00:00+08:00").unwrap();
    let cs = inbox(&f, "customer-service-head@example.com", 1);
    assert!(cs[0].subject.contains(&case), "{}", cs[0].subject);
    assert!(cs[0].body.contains("不满意"), "{}", cs[0].body);
    let show = f.show(&case, "2026-11-30T15:00:00+08:00").unwrap();
    assert_eq!(show["case"]["satisfaction"], "dissatisfied");
    assert_eq!(show["case"]["status"], "closed");
}

#[test]
fn an_unanswered_survey_is_recorded_after_three_working_days() {
    let f = Fixture::start().unwrap();
    f.deliver(&complaint("silent@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let case = the_case(&f);
    let routed = inbox(&f, "logistics@example.com", 1).remove(0);
    f.deliver(&reply(
        &routed,
        "logistics@example.com",
        "q1@example.com",
        "Status: resolved\r\n\r\n已处理完毕。",
    ))
    .unwrap();
    f.run_at("2026-11-30T10:30:00+08:00").unwrap();
    f.run_at("2026-12-03T10:29:00+08:00").unwrap();
    let show = f.show(&case, "2026-12-03T10:29:00+08:00").unwrap();
    assert_eq!(show["case"]["status"], "resolved");
    f.run_at("2026-12-03T10:30:00+08:00").unwrap();
    let show = f.show(&case, "2026-12-03T10:30:00+08:00").unwrap();
    assert_eq!(show["case"]["satisfaction"], "no_answer");
    assert_eq!(show["case"]["status"], "closed");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        now_in(&f, "logistics-head@example.com").is_empty(),
        "an unanswered survey is recorded, not escalated"
    );
}

#[test]
fn the_friday_digest_lists_collaboration_milestones_and_late_delay_notices() {
    let f = Fixture::start().unwrap();
    // Monday 30 November: marketing asks design for a poster by 3 December.
    f.deliver(&mail(
        "市场部 陈静 <chenjing@example.com>",
        "跨部门协作申请：季度新品推广项目",
        "collab@example.com",
        "Cc: design@example.com, sales@example.com\r\n",
        "各位好，\r\n\r\n市场部发起“季度新品推广项目”，请设计部和销售部协作：\r\n1. 宣传海报初稿 2026-12-03 提交（设计部）\r\n2. 渠道清单 2026-12-15 提交（销售部）\r\n\r\n请各部门确认职责与时间节点。\r\n\r\n陈静 市场部",
    ))
    .unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let case = the_case(&f);
    let show = f.show(&case, "2026-11-30T10:00:00+08:00").unwrap();
    assert_eq!(show["case"]["category"], "collaboration_request");
    assert_eq!(show["case"]["department"], "design");
    assert_eq!(show["case"]["involved"], serde_json::json!(["sales"]));
    let routed = inbox(&f, "design@example.com", 1).remove(0);
    inbox(&f, "sales@example.com", 1); // sales gets the case record too
    // Tuesday: design confirms, and says the poster will be late — less than 3 days
    // before it is due.
    f.deliver(&reply(
        &routed,
        "design-staff@example.com",
        "d1@example.com",
        "Delay: 素材未到位，海报初稿改至12月8日\r\n\r\n设计部已确认职责，海报初稿需延期。",
    ))
    .unwrap();
    f.run_at("2026-12-01T11:00:00+08:00").unwrap();
    let show = f.show(&case, "2026-12-01T11:00:00+08:00").unwrap();
    let duties: Vec<&Value> = show["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["milestone"] == "duties-confirmed")
        .collect();
    assert_eq!(duties.len(), 2, "one per department: {duties:#?}");
    let state_of =
        |dept: &str| duties.iter().find(|d| d["department"] == dept).unwrap()["state"].clone();
    assert_eq!(state_of("design"), "met");
    assert_eq!(state_of("sales"), "pending", "sales has not confirmed");
    let poster = deadline(&show, "date-1");
    assert_eq!(poster["delay_late"], true, "{poster:#}");
    assert_eq!(poster["department"], "design");
    assert_eq!(
        deadline(&show, "date-2")["department"],
        "sales",
        "the line names sales"
    );

    // Friday 4 December 15:00: the digest, to the initiator and the design head.
    f.run_at("2026-12-04T14:59:00+08:00").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !now_in(&f, "chenjing@example.com")
            .iter()
            .any(|m| m.subject.contains("digest")),
        "not before Friday 15:00"
    );
    f.run_at("2026-12-04T15:00:00+08:00").unwrap();
    f.run_at("2026-12-04T15:05:00+08:00").unwrap();
    // The initiator has the acknowledgement and the relayed answer before it.
    // Sales never confirmed: its head heard of it at the breach (Wednesday 10:00)
    // before the digest.
    for (who, count) in [
        ("chenjing@example.com", 3),
        ("design-head@example.com", 1),
        ("sales-head@example.com", 2),
    ] {
        let digests: Vec<Message> = inbox(&f, who, count)
            .into_iter()
            .filter(|m| m.subject.contains("digest"))
            .collect();
        assert_eq!(digests.len(), 1, "{who}: one digest");
        let body = &digests[0].body;
        assert!(body.contains(&case), "{body}");
        assert!(body.contains("宣传海报初稿"), "{body}");
        assert!(body.contains("素材未到位"), "{body}");
        assert!(body.contains("late notice"), "{body}");
    }
}

#[test]
fn a_changed_policy_file_recomputes_open_deadlines_and_says_so() {
    let f = Fixture::start().unwrap();
    let rules = f.own_rules().unwrap();
    f.deliver(&complaint("policy@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let case = the_case(&f);

    let sla = std::fs::read_to_string(rules.join("sla.toml")).unwrap();
    let first = sla.find("within = \"2 hours\"").unwrap();
    let second = first + 1 + sla[first + 1..].find("within = \"2 hours\"").unwrap();
    let mut changed = sla.clone();
    changed.replace_range(
        second..second + "within = \"2 hours\"".len(),
        "within = \"4 hours\"",
    );
    std::fs::write(rules.join("sla.toml"), changed).unwrap();

    let out = f.run_at("2026-11-30T10:30:00+08:00").unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("recomputed"), "{log}");
    let show = f.show(&case, "2026-11-30T10:30:00+08:00").unwrap();
    // 4 working hours from 10:00: 12:00, lunch, 15:30.
    assert_eq!(
        deadline(&show, "analysis")["due_at"],
        at("2026-11-30T15:30:00+08:00")
    );
    let again = f.run_at("2026-11-30T10:31:00+08:00").unwrap();
    assert!(
        !String::from_utf8_lossy(&again.stderr).contains("recomputed"),
        "only once"
    );
}

#[test]
fn a_reply_to_the_plus_address_is_recognised_without_tag_or_references() {
    let f = Fixture::start().unwrap();
    f.edit_config(|c| c + "\n[replies]\nsubaddress_delimiter = \"+\"\n")
        .unwrap();
    f.deliver(&complaint("plus@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let case = the_case(&f);
    let routed = inbox(&f, "logistics@example.com", 1).remove(0);
    let reply_to = routed
        .reply_to
        .clone()
        .expect("routed mail has a Reply-To")
        .email;
    assert!(reply_to.starts_with("support+sb."), "{reply_to}");
    // A client that writes a new mail to that address: no tag, no References. It goes
    // through Postfix, which delivers the plus address to the shared mailbox.
    let raw = format!(
        "From: logistics-staff@example.com\r\nTo: {reply_to}\r\nSubject: analysis done\r\nMessage-ID: <plus1@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nStatus: analysed\r\nInternal: yes\r\n\r\n已分析。\r\n"
    );
    f.stack
        .send("logistics-staff@example.com", &[&reply_to], raw.as_bytes())
        .unwrap();
    f.stack
        .wait_for_messages(fixture::SUPPORT, "INBOX", 1, WAIT)
        .unwrap();
    f.run_at("2026-11-30T10:30:00+08:00").unwrap();
    let show = f.show(&case, "2026-11-30T10:30:00+08:00").unwrap();
    assert_eq!(show["case"]["status"], "analysed", "{:#}", show["events"]);
    assert_eq!(deadline(&show, "analysis")["state"], "met");
}

#[test]
fn with_require_authenticated_a_reply_needs_our_servers_pass() {
    let f = Fixture::start().unwrap();
    f.edit_config(|c| {
        c + "\n[replies]\nrequire_authenticated = true\nauthserv_id = \"mx.example.com\"\n"
    })
    .unwrap();
    f.deliver(&complaint("auth@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    let case = the_case(&f);
    let routed = inbox(&f, "logistics@example.com", 1).remove(0);
    let body = "Status: analysed\r\nInternal: yes\r\n\r\n已分析。";
    // Another server's word counts for nothing.
    let elsewhere = String::from_utf8(reply(
        &routed,
        "logistics@example.com",
        "au1@example.com",
        body,
    ))
    .unwrap()
    .replacen(
        "MIME-Version",
        "Authentication-Results: mx.evil.example; dkim=pass header.d=example.com\r\nMIME-Version",
        1,
    );
    f.deliver(elsewhere.as_bytes()).unwrap();
    f.run_at("2026-11-30T10:10:00+08:00").unwrap();
    let show = f.show(&case, "2026-11-30T10:10:00+08:00").unwrap();
    assert_eq!(show["case"]["status"], "new");
    // Our receiving server vouches for it.
    let ours = String::from_utf8(reply(&routed, "logistics@example.com", "au2@example.com", body))
        .unwrap()
        .replacen(
            "MIME-Version",
            "Authentication-Results: mx.example.com; dkim=pass header.d=example.com; spf=pass smtp.mailfrom=example.com\r\nMIME-Version",
            1,
        );
    f.deliver(ours.as_bytes()).unwrap();
    f.run_at("2026-11-30T10:20:00+08:00").unwrap();
    let show = f.show(&case, "2026-11-30T10:20:00+08:00").unwrap();
    assert_eq!(show["case"]["status"], "analysed", "{:#}", show["events"]);
}
