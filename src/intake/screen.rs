//! Telling machines from people, so that Switchboard never answers a machine.
//!
//! Two questions: is this mail automatic (an auto-reply or a bounce: it opens no case
//! and gets no answer), and may we acknowledge this sender (list and bulk mail, our
//! own addresses and senders over the hourly limit get none).

use crate::message::Message;

/// Why this message was written by a machine in answer to something, if it was.
pub fn automatic(msg: &Message) -> Option<String> {
    // RFC 3834 §5: anything but "no" marks automatic mail.
    if let Some(v) = msg.header("Auto-Submitted") {
        let v = v.trim().to_ascii_lowercase();
        if !v.is_empty() && !v.starts_with("no") {
            return Some(format!("auto-submitted ({v})"));
        }
    }
    // RFC 6522: delivery status notifications and read receipts.
    if msg.is_multipart_report {
        return Some("delivery or read report (multipart/report)".into());
    }
    // RFC 5321 §4.5.5: bounces are sent with the null reverse path.
    if msg.return_path.as_deref() == Some("") {
        return Some("bounce (empty Return-Path)".into());
    }
    let from_local = msg.from.local_part();
    if from_local.eq_ignore_ascii_case("mailer-daemon")
        || from_local.eq_ignore_ascii_case("postmaster")
    {
        return Some(format!("bounce (from {})", msg.from.email));
    }
    if let Some(rp) = &msg.return_path {
        let local = rp.split('@').next().unwrap_or("");
        if local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster") {
            return Some(format!("bounce (Return-Path {rp})"));
        }
    }
    // Vendor markers of vacation responders (Exchange, Yahoo, various Chinese webmail).
    for name in ["X-Autoreply", "X-Autorespond", "X-Autoresponder"] {
        if msg.header(name).is_some() {
            return Some(format!("auto-reply ({name})"));
        }
    }
    if msg
        .header("X-Auto-Response-Suppress")
        .is_some_and(|v| v.to_ascii_lowercase().contains("oof") || v.eq_ignore_ascii_case("all"))
        && subject_is_auto_reply(&msg.subject)
    {
        return Some("auto-reply (X-Auto-Response-Suppress)".into());
    }
    if subject_is_auto_reply(&msg.subject) {
        return Some(format!("auto-reply (subject \"{}\")", msg.subject));
    }
    None
}

/// Subjects that vacation responders put first, in the languages our senders use.
fn subject_is_auto_reply(subject: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "auto:",
        "automatic reply",
        "auto reply",
        "autoreply",
        "auto-reply",
        "out of office",
        "out of the office",
        "自动回复",
        "自動回覆",
        "自动答复",
        "自動回复",
        "休假自动回复",
        "delivery status notification",
        "undeliverable:",
        "undelivered mail returned to sender",
        "mail delivery failed",
        "退信",
        "系统退信",
    ];
    let s = subject.trim().to_lowercase();
    PREFIXES.iter().any(|p| s.starts_with(p))
}

/// Why this message is list or bulk mail, if it is: a case is fine, an answer is not.
pub fn bulk(msg: &Message) -> Option<String> {
    if let Some(id) = msg.header("List-Id") {
        return Some(format!("mailing list ({})", id.trim()));
    }
    if msg.header("List-Unsubscribe").is_some() {
        return Some("bulk mail (List-Unsubscribe)".into());
    }
    if let Some(p) = msg.header("Precedence") {
        let p = p.trim().to_ascii_lowercase();
        if matches!(p.as_str(), "bulk" | "list" | "junk") {
            return Some(format!("bulk mail (Precedence: {p})"));
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(headers: &str) -> Message {
        Message::parse(format!("From: a@client.com\r\n{headers}\r\n\r\nbody\r\n").as_bytes())
            .unwrap()
    }

    #[test]
    fn auto_submitted_no_is_human() {
        assert_eq!(automatic(&parse("Auto-Submitted: no\r\nSubject: hi")), None);
        assert!(automatic(&parse("Auto-Submitted: auto-replied\r\nSubject: hi")).is_some());
    }

    #[test]
    fn bounces_and_out_of_office() {
        assert!(automatic(&parse("Return-Path: <>\r\nSubject: x")).is_some());
        assert!(automatic(&parse("Subject: 自动回复：您的来信")).is_some());
        assert!(automatic(&parse("Subject: Automatic reply: order 123")).is_some());
        assert!(automatic(&parse("Subject: Re: order 123")).is_none());
        let dsn =
            Message::parse(b"From: MAILER-DAEMON@mx.example.com\r\nSubject: failure\r\n\r\nx")
                .unwrap();
        assert!(automatic(&dsn).is_some());
    }

    #[test]
    fn lists_are_bulk() {
        assert!(bulk(&parse("List-Id: <news.client.com>\r\nSubject: x")).is_some());
        assert!(bulk(&parse("Precedence: bulk\r\nSubject: x")).is_some());
        assert!(bulk(&parse("Precedence: first-class\r\nSubject: x")).is_none());
    }
}
