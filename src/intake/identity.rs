//! What makes two sightings the same message, for "seen before".

use super::Incoming;

/// The identity of a message for "seen before": its Message-ID with its sender when
/// it has one (a copy or a resend is the same message; a careless mailer that gives
/// every message `<1@localhost>` still does not make two senders' mail one), else a
/// hash of its bytes.
pub fn dedup_key(inc: &Incoming) -> String {
    if let Some((id, from)) = header_identity(&inc.raw) {
        return format!("mid:{id} from:{from}");
    }
    format!("sha256:{}", crate::digest::sha256_hex(&inc.raw))
}

fn header_identity(raw: &[u8]) -> Option<(String, String)> {
    let parsed = mail_parser::MessageParser::new().parse_headers(raw)?;
    let id = parsed
        .message_id()
        .map(str::trim)
        .filter(|id| !id.is_empty())?;
    let from = parsed
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address.as_deref())
        .unwrap_or("")
        .trim()
        .to_lowercase();
    Some((id.to_string(), from))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_same_message_id_from_two_senders_is_two_messages() {
        let key = |raw: &[u8]| {
            super::dedup_key(&super::Incoming {
                uid: None,
                raw: raw.to_vec(),
                too_large: None,
            })
        };
        let a = key(b"From: a@x.com\r\nMessage-ID: <1@localhost>\r\nSubject: one\r\n\r\nA");
        let a_copy = key(b"Received: by mx\r\nFrom: A@x.com\r\nMessage-ID: <1@localhost>\r\nSubject: one\r\n\r\nA");
        let b = key(b"From: b@y.com\r\nMessage-ID: <1@localhost>\r\nSubject: two\r\n\r\nB");
        assert_eq!(a, a_copy);
        assert_ne!(a, b);
        assert!(key(b"From: a@x.com\r\n\r\nno id").starts_with("sha256:"));
    }
}
