//! Bounces of our own mail. A delivery report (RFC 3464) carries the headers of the
//! message it is about; when that is one of ours, the address it went to gets no more
//! automatic mail for `[alerts] bounce_pause` — a dead or full mailbox should not
//! receive acknowledgement after acknowledgement — and the report opens nothing.

use std::sync::LazyLock;

use anyhow::Result;
use regex::bytes::Regex;
use rusqlite::Connection;

use crate::store::alerts;

/// Reports put the original's headers near the top; no need to read a whole attachment.
const SCAN_BYTES: usize = 256 * 1024;

static MESSAGE_ID: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?mi)^(?:Original-)?Message-ID[ \t]*:[ \t]*(?:\r?\n[ \t]+)?<([^>\s]{1,250})>").ok()
});

/// (kind, recipient) of our message this report is about, if it is about one.
pub fn our_bounced_mail(
    conn: &Connection,
    raw: &[u8],
    own_id: Option<&str>,
) -> Result<Option<(String, String)>> {
    let Some(re) = MESSAGE_ID.as_ref() else {
        return Ok(None);
    };
    let head = raw.get(..raw.len().min(SCAN_BYTES)).unwrap_or(raw);
    for cap in re.captures_iter(head) {
        let Some(id) = cap
            .get(1)
            .and_then(|m| std::str::from_utf8(m.as_bytes()).ok())
        else {
            continue;
        };
        if Some(id) == own_id {
            continue;
        }
        if let Some(found) = alerts::outgoing_by_message_id(conn, id)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_original_in_a_postfix_report() {
        let conn = crate::store::memory().unwrap();
        conn.execute(
            "INSERT INTO outbox (kind, message_id, envelope_from, recipients, content, created_at, next_attempt_at)
             VALUES ('ack', 'ack.SB-2026-000001.abc@example.com', 'support@example.com', 'gone@client.example', x'00', 0, 0)",
            [],
        )
        .unwrap();
        let report = b"From: MAILER-DAEMON@mx.example.com\r\nMessage-ID: <20261127.1@mx.example.com>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nundeliverable\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; gone@client.example\r\nAction: failed\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@example.com\r\nMessage-ID:\r\n <ack.SB-2026-000001.abc@example.com>\r\n--b--\r\n";
        let found = our_bounced_mail(&conn, report, Some("20261127.1@mx.example.com")).unwrap();
        assert_eq!(found, Some(("ack".into(), "gone@client.example".into())));
        assert_eq!(
            our_bounced_mail(&conn, b"Subject: hi\r\n\r\nx", None).unwrap(),
            None
        );
    }
}
