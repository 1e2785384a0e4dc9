//! What people send arrives whole (issue 16), against the real Dovecot and Postfix: a
//! department's attachments reach the customer byte for byte with their names, an
//! HTML-only Outlook reply is read for its commands and relayed with its formatting
//! and without its scripts, a reply over the relay limit goes as text with word to
//! the department, and a customer's photos reach the department as attachments.
//! Needs `scripts/install-test-deps.sh`; fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/chromium.rs"]
mod chromium;
#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use std::time::Duration;

use fixture::{Fixture, SUPPORT, base64, encode_word, mail};
use mail_parser::{MessageParser, MimeHeaders};
use switchboard::message::Message;

const WAIT: Duration = Duration::from_secs(20);
const CUSTOMER: &str = "liming@keji-tech.cn";
const LOGISTICS: &str = "logistics@example.com";

/// A late-delivery complaint (to logistics, with the shipped rules).
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

/// Bytes that look like a file of this kind and differ from every other test file.
fn file(magic: &[u8], len: usize, seed: u32) -> Vec<u8> {
    let mut v = magic.to_vec();
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.push((x >> 24) as u8);
    }
    v
}

/// base64 in lines of 76, as mail clients write it.
fn b64_lines(bytes: &[u8]) -> String {
    base64(bytes)
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect()
}

/// A MIME part with a base64 body.
fn part(headers: &str, bytes: &[u8]) -> String {
    format!(
        "{headers}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        b64_lines(bytes)
    )
}

/// A reply to `to` from `from`: the headers that make it a reply, and a multipart
/// body of `parts` under `boundary` (content type `kind`).
fn reply_with(to: &Message, from: &str, id: &str, kind: &str, body: &str) -> Vec<u8> {
    let parent = to.message_id.clone().unwrap();
    let mut refs = to.references.clone();
    refs.push(parent.clone());
    let refs: Vec<String> = refs.iter().map(|r| format!("<{r}>")).collect();
    format!(
        "From: {from}\r\nTo: {SUPPORT}\r\nSubject: {}\r\nDate: Mon, 30 Nov 2026 11:00:00 +0800\r\nMessage-ID: <{id}>\r\nIn-Reply-To: <{parent}>\r\nReferences: {}\r\nMIME-Version: 1.0\r\nContent-Type: {kind}\r\n\r\n{body}",
        encode_word(&format!("Re: {}", to.subject)),
        refs.join(" ")
    )
    .into_bytes()
}

/// The customer's complaint taken in: returns the case record the department got.
fn opened(f: &Fixture) -> Message {
    f.deliver(&complaint("c1@keji-tech.cn")).unwrap();
    f.run_at("2026-11-30T10:00:00+08:00").unwrap();
    f.stack
        .wait_for_messages(CUSTOMER, "INBOX", 1, WAIT)
        .unwrap();
    let routed = f
        .stack
        .wait_for_messages(LOGISTICS, "INBOX", 1, WAIT)
        .unwrap();
    parse(&routed[0])
}

/// (file name, content type, bytes) of every attachment of a raw mail.
fn attachments_of(raw: &[u8]) -> Vec<(String, String, Vec<u8>)> {
    let m = MessageParser::default().parse(raw).unwrap();
    m.attachments()
        .map(|a| {
            let ct = a
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
                .unwrap_or_default();
            (
                a.attachment_name().unwrap_or("").to_string(),
                ct,
                a.contents().to_vec(),
            )
        })
        .collect()
}

fn html_of(raw: &[u8]) -> String {
    let m = MessageParser::default().parse(raw).unwrap();
    m.body_html(0).map(|h| h.into_owned()).unwrap_or_default()
}

/// The content types of a mail's parts, in order (multiparts included).
fn shape(raw: &[u8]) -> Vec<String> {
    let m = MessageParser::default().parse(raw).unwrap();
    m.parts
        .iter()
        .map(|p| {
            p.content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
                .unwrap_or_else(|| "text/plain".into())
        })
        .collect()
}

#[test]
fn a_reply_s_pdf_jpeg_and_chinese_named_sheet_reach_the_customer_byte_for_byte() {
    let f = Fixture::start().unwrap();
    let routed = opened(&f);
    let pdf = file(b"%PDF-1.7\n", 180_000, 1);
    let jpeg = file(&[0xff, 0xd8, 0xff, 0xe0], 90_000, 2);
    let xlsx = file(b"PK\x03\x04", 40_000, 3);
    let logo = file(b"\x89PNG\r\n\x1a\n", 3_000, 4);
    let signature = file(b"\x89PNG\r\n\x1a\n", 2_000, 5);
    let text = "李先生您好：\r\n\r\n延迟原因已查明，分析报告、现场照片和整改报告见附件。\r\n\r\n王伟 物流部\r\n\r\n-----原始邮件-----\r\n发件人: 客户服务部\r\n发送时间: 2026年11月30日 10:00\r\n主题: 新案件 quoted history line\r\n";
    let html = "<html><body><p>李先生您好：</p><p>延迟原因已查明，<b>分析报告</b>、现场照片和整改报告见附件。</p>\
        <p>王伟 物流部 <img src=\"cid:sig@wangwei\"></p>\
        <div style=\"border:none;border-top:solid #E1E1E1 1.0pt\"><p><b>发件人:</b> 客户服务部<br><b>发送时间:</b> 2026年11月30日 10:00</p></div>\
        <p>新案件 quoted history line <img src=\"cid:logo@switchboard\"></p></body></html>";
    let body = format!(
        "--mixed\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n\
         --rel\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
         --alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n\
         --alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n\
         --alt--\r\n\r\n\
         --rel\r\n{}--rel\r\n{}--rel--\r\n\r\n\
         --mixed\r\n{}--mixed\r\n{}--mixed\r\n{}--mixed--\r\n",
        part(
            "Content-Type: image/png; name=\"image001.png\"\r\nContent-ID: <sig@wangwei>\r\nContent-Disposition: inline; filename=\"image001.png\"",
            &signature
        ),
        part(
            "Content-Type: image/png; name=\"logo.png\"\r\nContent-ID: <logo@switchboard>\r\nContent-Disposition: inline; filename=\"logo.png\"",
            &logo
        ),
        part(
            "Content-Type: application/pdf; name=\"analysis.pdf\"\r\nContent-Disposition: attachment; filename=\"analysis.pdf\"",
            &pdf
        ),
        part(
            "Content-Type: image/jpeg; name=\"=?UTF-8?B?546w5Zy6LmpwZw==?=\"\r\nContent-Disposition: attachment; filename=\"=?UTF-8?B?546w5Zy6LmpwZw==?=\"",
            &jpeg
        ),
        part(
            "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\nContent-Disposition: attachment;\r\n filename*=UTF-8''%E6%95%B4%E6%94%B9%E6%8A%A5%E5%91%8A.xlsx",
            &xlsx
        ),
    );
    f.deliver(&reply_with(
        &routed,
        "logistics-staff@example.com",
        "r1@example.com",
        "multipart/mixed; boundary=\"mixed\"",
        &body,
    ))
    .unwrap();
    f.run_at("2026-11-30T11:00:00+08:00").unwrap();
    let to_customer = f
        .stack
        .wait_for_messages(CUSTOMER, "INBOX", 2, WAIT)
        .unwrap();
    let relay = &to_customer[1];
    let got = attachments_of(relay);
    let names: Vec<&str> = got.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        names,
        ["image001.png", "analysis.pdf", "现场.jpg", "整改报告.xlsx"],
        "{}",
        String::from_utf8_lossy(&relay[..relay.len().min(6000)])
    );
    assert_eq!(got[1].1, "application/pdf");
    assert!(got[1].2 == pdf, "the PDF byte for byte");
    assert_eq!(got[2].1, "image/jpeg");
    assert!(got[2].2 == jpeg, "the JPEG byte for byte");
    assert_eq!(
        got[3].1,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(got[3].2 == xlsx, "the sheet byte for byte");
    assert!(
        got[0].2 == signature,
        "the signature the reply itself shows, inline"
    );
    assert!(
        !got.iter().any(|a| a.2 == logo),
        "an image only the quoted history shows is not sent again"
    );
    let text = parse(relay).body;
    assert!(text.contains("延迟原因已查明"), "{text}");
    assert!(!text.contains("quoted history line"), "{text}");
    let html = html_of(relay);
    assert!(html.contains("<b>分析报告</b>"), "{html}");
    assert!(!html.contains("quoted history line"), "{html}");
    assert!(!html.contains("logo@switchboard"), "{html}");
    // Text first, then HTML, its image beside it, then the attachments.
    let s = shape(relay);
    assert_eq!(
        &s[..5],
        [
            "multipart/mixed",
            "multipart/related",
            "multipart/alternative",
            "text/plain",
            "text/html"
        ],
        "{s:?}"
    );
    // The outbox keeps where the attachments go, not their bytes.
    let stored = f
        .count("SELECT max(length(content)) FROM outbox WHERE kind = 'relay'")
        .unwrap();
    assert!(stored < 40_000, "the relay's row holds {stored} bytes");
}

#[test]
fn an_html_only_outlook_reply_is_commanded_relayed_formatted_and_sanitised() {
    let f = Fixture::start().unwrap();
    let routed = opened(&f);
    let html = "<html xmlns:o=\"urn:schemas-microsoft-com:office:office\"><head><style>p.MsoNormal{margin:0}</style>\
        <script>alert('head')</script></head><body lang=ZH-CN>\
        <div class=WordSection1><p class=MsoNormal>Status: contacted<o:p></o:p></p>\
        <p class=MsoNormal>优先级：紧急<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>\
        <p class=MsoNormal>李先生您好：<o:p></o:p></p>\
        <p class=MsoNormal><span style=\"color:#C00000;font-weight:bold\">明日17点前送达</span>，步骤如下：<o:p></o:p></p>\
        <ol><li>仓库调拨</li><li>专车配送</li></ol>\
        <table border=1><tr><td>设备</td><td>20台</td></tr></table>\
        <p class=MsoNormal onclick=\"steal()\">追踪 <img src=\"http://tracker.example/pixel.gif\" width=1 height=1><script>alert(1)</script>\
        <form action=\"http://evil.example/\"><input name=password></form><o:p></o:p></p>\
        <div id=\"appendonsend\"></div><hr style=\"display:inline-block;width:98%\">\
        <div id=\"divRplyFwdMsg\" dir=\"ltr\"><font face=\"Calibri\"><b>From:</b> Switchboard<br><b>Sent:</b> Monday<br><b>Subject:</b> case</font></div>\
        <div>old quoted text</div></div></body></html>";
    f.deliver(&reply_with(
        &routed,
        "logistics-staff@example.com",
        "r2@example.com",
        "text/html; charset=utf-8",
        &format!("{html}\r\n"),
    ))
    .unwrap();
    f.run_at("2026-11-30T11:00:00+08:00").unwrap();
    let case = f.cases().unwrap()[0]["case"].as_str().unwrap().to_string();
    let show = f.show(&case, "2026-11-30T11:00:00+08:00").unwrap();
    assert_eq!(show["case"]["status"], "contacted", "{:#}", show["case"]);
    assert_eq!(show["case"]["priority"], "urgent", "{:#}", show["case"]);
    let to_customer = f
        .stack
        .wait_for_messages(CUSTOMER, "INBOX", 2, WAIT)
        .unwrap();
    let relay = &to_customer[1];
    let text = parse(relay).body.replace("\r\n", "\n");
    assert!(text.contains("李先生您好："), "{text}");
    assert!(text.contains("明日17点前送达，步骤如下："), "{text}");
    assert!(
        text.contains("1. 仓库调拨\n2. 专车配送"),
        "lists keep their lines: {text}"
    );
    assert!(text.contains("设备 | 20台"), "cells stay apart: {text}");
    assert!(!text.contains("Status"), "{text}");
    assert!(!text.contains("old quoted text"), "{text}");
    let html = html_of(relay);
    assert!(html.contains("明日17点前送达"), "{html}");
    assert!(html.contains("color:#C00000"), "formatting kept: {html}");
    assert!(html.contains("<ol>"), "{html}");
    for gone in [
        "<script",
        "alert(",
        "tracker.example",
        "onclick",
        "<form",
        "<input",
        "old quoted text",
        "Status: contacted",
        "优先级",
    ] {
        assert!(!html.contains(gone), "{gone} in {html}");
    }
}

#[test]
fn a_reply_over_the_relay_limit_goes_as_text_and_the_department_is_told() {
    let f = Fixture::start().unwrap();
    f.edit_config(|c| format!("{c}\n[replies]\nmax_relay_bytes = 100000\n"))
        .unwrap();
    let routed = opened(&f);
    let pdf = file(b"%PDF-1.7\n", 300_000, 9);
    let body = format!(
        "--m\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n李先生您好：报告见附件。\r\n--m\r\n{}--m--\r\n",
        part(
            "Content-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"",
            &pdf
        )
    );
    f.deliver(&reply_with(
        &routed,
        "logistics-staff@example.com",
        "r3@example.com",
        "multipart/mixed; boundary=\"m\"",
        &body,
    ))
    .unwrap();
    f.run_at("2026-11-30T11:00:00+08:00").unwrap();
    let to_customer = f
        .stack
        .wait_for_messages(CUSTOMER, "INBOX", 2, WAIT)
        .unwrap();
    let relay = &to_customer[1];
    assert!(
        attachments_of(relay).is_empty(),
        "no attachment over the limit"
    );
    assert!(parse(relay).body.contains("报告见附件"));
    let told = f
        .stack
        .wait_for_messages("logistics-staff@example.com", "INBOX", 1, WAIT)
        .unwrap();
    let notice = parse(&told[0]);
    assert!(
        notice.subject.contains("Attachments not relayed"),
        "{}",
        notice.subject
    );
    assert!(notice.body.contains("report.pdf"), "{}", notice.body);
    // 300,000 bytes over a limit of 100,000.
    assert!(
        notice.body.contains("report.pdf（293 KB）"),
        "{}",
        notice.body
    );
    assert!(notice.body.contains("98 KB"), "{}", notice.body);
    assert!(
        notice.body.contains("Attachments not relayed")
            || notice.body.contains("without its attachments"),
        "{}",
        notice.body
    );
}

#[test]
fn a_customer_follow_up_with_two_photos_reaches_the_department_with_both() {
    let f = Fixture::start().unwrap();
    let _routed = opened(&f);
    let ack = parse(&f.stack.messages(CUSTOMER, "INBOX").unwrap()[0]);
    let one = file(&[0xff, 0xd8, 0xff, 0xe1], 120_000, 11);
    let two = file(&[0xff, 0xd8, 0xff, 0xe1], 80_000, 12);
    let body = format!(
        "--m\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n补充两张到货时的照片，外箱破损。\r\n--m\r\n{}--m\r\n{}--m--\r\n",
        part(
            "Content-Type: image/jpeg; name=\"IMG_0001.jpg\"\r\nContent-Disposition: attachment; filename=\"IMG_0001.jpg\"",
            &one
        ),
        part(
            "Content-Type: image/jpeg; name=\"=?UTF-8?B?56ys5LqM5byg?=.jpg\"\r\nContent-Disposition: attachment; filename=\"=?UTF-8?B?56ys5LqM5byg?=.jpg\"",
            &two
        ),
    );
    f.deliver(&reply_with(
        &ack,
        &format!("李明 <{CUSTOMER}>"),
        "f1@keji-tech.cn",
        "multipart/mixed; boundary=\"m\"",
        &body,
    ))
    .unwrap();
    f.run_at("2026-11-30T10:30:00+08:00").unwrap();
    let to_department = f
        .stack
        .wait_for_messages(LOGISTICS, "INBOX", 2, WAIT)
        .unwrap();
    let follow_up = &to_department[1];
    let got = attachments_of(follow_up);
    let names: Vec<&str> = got.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        names,
        ["IMG_0001.jpg", "第二张.jpg", "original.eml"],
        "{names:?}"
    );
    assert!(
        got[0].2 == one && got[1].2 == two,
        "both photos byte for byte"
    );
    assert_eq!(got[0].1, "image/jpeg");
    assert_eq!(got[2].1, "message/rfc822");
}

/// The HTML acknowledgement and case record as Chromium draws them, at a phone's
/// width and a desktop client's: screenshots kept in target/mail-screenshots/.
#[test]
fn the_html_acknowledgement_and_case_record_render_in_a_browser() {
    let f = Fixture::start().unwrap();
    let routed_raw = {
        opened(&f);
        f.stack.messages(LOGISTICS, "INBOX").unwrap().remove(0)
    };
    let ack_raw = f.stack.messages(CUSTOMER, "INBOX").unwrap().remove(0);
    let case = f.cases().unwrap()[0]["case"].as_str().unwrap().to_string();
    let shots = chromium::artifacts("mail-screenshots");
    let profile = f.dir.join("chromium-profile");
    for (name, raw, expect) in [
        ("ack", &ack_raw, "您的来信已收到"),
        ("case-record", &routed_raw, "问题描述 Description"),
    ] {
        // Text first, HTML second.
        let s = shape(raw);
        let text_at = s.iter().position(|t| t == "text/plain").unwrap();
        let html_at = s.iter().position(|t| t == "text/html").unwrap();
        assert!(text_at < html_at, "{name}: {s:?}");
        let html = html_of(raw);
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{name}"
        );
        let page = shots.join(format!("{name}.html"));
        std::fs::write(&page, &html).unwrap();
        let url = format!("file://{}", page.display());
        let dom = chromium::chromium(&profile, &["--dump-dom".into()], &url);
        assert!(dom.contains(&case), "{name}: the case number in\n{dom}");
        assert!(dom.contains(expect), "{name}: {expect:?} in\n{dom}");
        for (size, width, height) in [("phone", 390, 1100), ("desktop", 1000, 900)] {
            let shot = shots.join(format!("{name}-{size}.png"));
            let _ = std::fs::remove_file(&shot);
            chromium::chromium(
                &profile,
                &[
                    format!("--screenshot={}", shot.display()),
                    format!("--window-size={width},{height}"),
                ],
                &url,
            );
            let png = std::fs::read(&shot).unwrap_or_default();
            assert!(
                png.starts_with(b"\x89PNG") && png.len() > 10_000,
                "{name}: no screenshot at {}",
                shot.display()
            );
        }
    }
}

/// An 18 MB attachment (under the default limit) is relayed whole, and the daemon
/// that takes the reply in and sends the relay stays under the benchmark's 100 MB
/// peak resident memory. (Measured on 2 December 2026: 88 MB for this 24 MB reply,
/// the same as routing a 24 MB complaint with its original attached, which was
/// 88 MB too: the relay's parts cost nothing beyond the ledger's one copy.)
#[test]
fn an_18_mb_attachment_is_relayed_whole_in_bounded_memory() {
    let f = Fixture::start().unwrap();
    f.edit_config(|c| {
        c.replace(
            "max_message_bytes = 1048576",
            "max_message_bytes = 41943040",
        )
    })
    .unwrap();
    let routed = opened(&f);
    let big = file(b"%PDF-1.7\n", 18 * 1024 * 1024, 21);
    let body = format!(
        "--m\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n图纸见附件。\r\n--m\r\n{}--m--\r\n",
        part(
            "Content-Type: application/pdf; name=\"drawings.pdf\"\r\nContent-Disposition: attachment; filename=\"drawings.pdf\"",
            &big
        )
    );
    let reply = reply_with(
        &routed,
        "logistics-staff@example.com",
        "r9@example.com",
        "multipart/mixed; boundary=\"m\"",
        &body,
    );
    drop(body);
    f.deliver(&reply).unwrap();
    let size = reply.len();
    drop(reply);
    let (peak, took) = f.run_once_measuring(Duration::from_secs(600)).unwrap();
    eprintln!(
        "a {} MB reply relayed: peak resident memory {} MB, {took:.1?}",
        size / 1024 / 1024,
        peak / 1024 / 1024
    );
    let to_customer = f
        .stack
        .wait_for_messages(CUSTOMER, "INBOX", 2, WAIT)
        .unwrap();
    let got = attachments_of(&to_customer[1]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "drawings.pdf");
    assert!(got[0].2 == big, "the 18 MB file byte for byte");
    assert!(
        peak < 100 * 1024 * 1024,
        "peak resident memory {} MB for a {} MB reply",
        peak / 1024 / 1024,
        size / 1024 / 1024
    );
}
