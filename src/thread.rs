//! Finding the case a message belongs to: by the case tag in its subject
//! (`[SB-2026-000123]`), else by In-Reply-To/References pointing at a message of a case.
//! The tag wins because people forward and re-send case mail in new threads; the
//! Message-ID chain catches replies from clients that rewrite the subject.

use anyhow::Result;
use regex::Regex;
use rusqlite::Connection;

use crate::message::Message;
use crate::reply::token;
use crate::store::cases;

pub struct CaseTags {
    pattern: Regex,
}

impl CaseTags {
    /// `prefix` is validated as capital letters by the config.
    pub fn new(prefix: &str) -> Result<CaseTags> {
        let pattern = Regex::new(&format!(
            r"\[({}-\d{{4}}-\d{{6,}})\]",
            regex::escape(prefix)
        ))?;
        Ok(CaseTags { pattern })
    }

    /// Case numbers tagged in a subject, in order.
    pub fn numbers<'a>(&self, subject: &'a str) -> impl Iterator<Item = &'a str> + use<'a, '_> {
        self.pattern
            .captures_iter(subject)
            .filter_map(|c| c.get(1))
            .map(|m| m.as_str())
    }

    pub fn tag(number: &str) -> String {
        format!("[{number}]")
    }
}

/// The case this message continues, if any. `delimiter`: the server's subaddress
/// delimiter, when routed mail carries its reply token in a plus address — a reply
/// sent to it finds its case even from a client that drops the subject tag and the
/// References.
pub fn find_case(
    conn: &Connection,
    tags: &CaseTags,
    msg: &Message,
    delimiter: Option<char>,
) -> Result<Option<i64>> {
    for number in tags.numbers(&msg.subject) {
        if let Some(id) = cases::id_by_number(conn, number)? {
            return Ok(Some(id));
        }
    }
    // In-Reply-To names the direct parent; References lists the thread oldest first,
    // so the nearest ancestor is at its end.
    let mut ids: Vec<String> = msg.in_reply_to.clone();
    ids.extend(msg.references.iter().rev().cloned());
    if let Some(id) = cases::id_by_message_ids(conn, &ids)? {
        return Ok(Some(id));
    }
    if let Some(delimiter) = delimiter {
        for (number, _, _) in subaddress_tokens(msg, delimiter) {
            if let Some(id) = cases::id_by_number(conn, &number)? {
                return Ok(Some(id));
            }
        }
    }
    Ok(None)
}

/// (case, department, token) from the plus addresses a message was sent to: To, Cc,
/// and the receiving server's Delivered-To / X-Original-To. Unverified.
pub fn subaddress_tokens(msg: &Message, delimiter: char) -> Vec<(String, String, String)> {
    let delivered = ["Delivered-To", "X-Original-To"]
        .iter()
        .filter_map(|h| msg.header(h).map(str::to_lowercase));
    msg.to
        .iter()
        .chain(msg.cc.iter())
        .map(|a| a.email.clone())
        .chain(delivered)
        .filter_map(|a| token::parse_subaddress(&a, delimiter))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_tags() {
        let tags = CaseTags::new("SB").unwrap();
        let found: Vec<_> = tags
            .numbers("Re: [SB-2026-000123] 延迟 [SB-2026-1] [XX-2026-000001]")
            .collect();
        assert_eq!(found, vec!["SB-2026-000123"]);
        assert_eq!(CaseTags::tag("SB-2026-000123"), "[SB-2026-000123]");
    }
}
