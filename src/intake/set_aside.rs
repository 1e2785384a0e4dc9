//! Mail that is not a case: set aside, not answered.
//!
//! A support address receives more junk than complaints: tried on 8,869 public
//! messages (issue 20), the shipped rules opened 5,259 triage cases and acknowledged
//! 1,130 messages the rules themselves judged not a case. An acknowledgement to spam
//! is backscatter: it mails forged senders on the company's behalf. So a message that
//! a `set_aside = true` rule wins, or that the receiving server marked as spam, opens
//! no case, starts no clock, is neither acknowledged nor routed: its ledger row says
//! `set_aside` with the reason, and it moves to `[mailbox] set_aside_folder`.
//!
//! A verdict only ever moves mail towards "not a case": every occurrence of a verdict
//! header is read, and any one saying spam is enough, so a sender's forged
//! `X-Spam-Flag: NO` beside the server's `YES` changes nothing, and a header saying
//! "not spam" never overrides the rules.

use anyhow::Result;

use super::{Intake, Report, Step};
use crate::config::{Reading, Verdict};
use crate::message::Message;
use crate::rules::Classification;
use crate::store::Outcome;

impl Intake {
    /// Why this message is not a case, if it is not: a spam verdict of the receiving
    /// server, else the set-aside rule that won.
    pub fn set_aside_reason(&self, msg: &Message, class: &Classification) -> Option<String> {
        if let Some(why) = server_verdict(msg, &self.config.spam.verdicts) {
            return Some(why);
        }
        if class.set_aside {
            let rule = class.rules.first().map(String::as_str).unwrap_or("?");
            return Some(format!("rule \"{rule}\""));
        }
        None
    }

    /// Keeps the message as set aside: its ledger row and nothing else.
    pub(super) fn set_aside(
        &self,
        step: &Step<'_>,
        msg: &Message,
        mut report: Report,
        reason: String,
    ) -> Result<Report> {
        step.record(msg, Outcome::SetAside, None, Some(&reason))?;
        report.outcome = Outcome::SetAside.as_str();
        report.reason = Some(reason);
        Ok(report)
    }
}

/// The first spam verdict among the message's headers, as `server verdict NAME (value)`.
pub fn server_verdict(msg: &Message, verdicts: &[Verdict]) -> Option<String> {
    for v in verdicts {
        for (name, value) in &msg.headers {
            if name.eq_ignore_ascii_case(&v.header) && says_spam(&v.reading, value) {
                let value: String = value.split_whitespace().collect::<Vec<_>>().join(" ");
                let value: String = value.chars().take(120).collect();
                return Some(format!("server verdict {} ({value})", v.header));
            }
        }
    }
    None
}

fn says_spam(reading: &Reading, value: &str) -> bool {
    let value = value.trim();
    let lower = value.to_ascii_lowercase();
    match reading {
        Reading::Yes => lower == "yes",
        Reading::StartsYes => lower.starts_with("yes"),
        // Rspamd's actions (https://rspamd.com/doc/faq.html, "actions"): only those
        // that mean "this is spam"; `greylist` and `soft reject` are delivery advice.
        Reading::RspamdAction => matches!(
            lower.as_str(),
            "reject" | "add header" | "add_header" | "rewrite subject" | "rewrite_subject"
        ),
        // "default: True [15.20 / 15.00]; SYMBOL(1.0)…": True is Rspamd's is-spam.
        Reading::SpamdResult => lower
            .strip_prefix("default:")
            .is_some_and(|rest| rest.trim_start().starts_with("true")),
        // Microsoft 365: SCL 5 and 6 are spam, 9 high-confidence spam; -1 is a bypass
        // (https://learn.microsoft.com/defender-office-365/anti-spam-spam-confidence-level-scl-about).
        Reading::Scl => lower.parse::<i32>().is_ok_and(|scl| scl >= 5),
        Reading::SclField => lower.split(';').any(|field| {
            field
                .trim()
                .strip_prefix("scl:")
                .and_then(|n| n.trim().parse::<i32>().ok())
                .is_some_and(|scl| scl >= 5)
        }),
        Reading::Prefix(p) => lower.starts_with(p.as_str()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Spam;

    fn verdict(headers: &str) -> Option<String> {
        let raw = format!(
            "{headers}From: a@example.net\r\nTo: support@example.com\r\nSubject: hello\r\n\r\nbody\r\n"
        );
        let msg = Message::parse(raw.as_bytes()).unwrap();
        server_verdict(&msg, &Spam::default().verdicts)
    }

    #[test]
    fn each_known_verdict_header_says_spam() {
        for h in [
            "X-Spam-Flag: YES\r\n",
            "X-Spam: Yes\r\n",
            "X-Spam-Status: Yes, score=12.1 required=5.0 tests=GTUBE\r\n",
            "X-Rspamd-Action: add header\r\n",
            "X-Rspamd-Action: reject\r\n",
            "X-Spamd-Result: default: True [16.20 / 15.00];\r\n GTUBE(0.00)\r\n",
            "X-MS-Exchange-Organization-SCL: 5\r\n",
            "X-Forefront-Antispam-Report: CIP:192.0.2.1;CTRY:;LANG:en;SCL:6;SRV:;IPV:NLI;\r\n",
        ] {
            let why = verdict(h);
            assert!(why.is_some(), "{h:?} is a spam verdict");
            assert!(why.unwrap().starts_with("server verdict X-"));
        }
    }

    #[test]
    fn ham_verdicts_and_forged_no_change_nothing() {
        for h in [
            "",
            "X-Spam-Flag: NO\r\n",
            "X-Spam-Status: No, score=0.1 required=5.0\r\n",
            "X-Rspamd-Action: no action\r\n",
            "X-Rspamd-Action: greylist\r\n",
            "X-Spamd-Result: default: False [1.20 / 15.00];\r\n",
            "X-MS-Exchange-Organization-SCL: -1\r\n",
            "X-MS-Exchange-Organization-SCL: 1\r\n",
            "X-Forefront-Antispam-Report: CIP:192.0.2.1;SCL:1;SRV:;\r\n",
        ] {
            assert_eq!(verdict(h), None, "{h:?}");
        }
        // The server's YES above a forged NO, or below it: spam either way.
        assert!(verdict("X-Spam-Flag: YES\r\nX-Spam-Flag: NO\r\n").is_some());
        assert!(verdict("X-Spam-Flag: NO\r\nX-Spam-Flag: YES\r\n").is_some());
    }
}
