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

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::json;

use super::{Incoming, Intake, Report, Source, Step};
use crate::config::{Reading, Verdict};
use crate::message::Message;
use crate::rules::Classification;
use crate::store::{Outcome, messages, set_aside as listed};

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

impl Intake {
    /// `switchboard messages open ID`: takes set-aside ledger row `id` in as a case
    /// after all, in one transaction.
    pub fn open_set_aside(
        &self,
        conn: &mut Connection,
        id: i64,
        now: DateTime<Utc>,
        by: &str,
    ) -> Result<Report> {
        let tx = conn.transaction()?;
        let key = crate::outgoing::reply_key(&tx)?;
        let report = self.open_in(&tx, id, now, &key, by)?;
        tx.commit()
            .with_context(|| format!("Cannot open message {id} as a case"))?;
        Ok(report)
    }

    /// Opens set-aside row `id` as a case: classified, routed and acknowledged (the
    /// acknowledgement says it is late, and why), its clocks starting at `now`. The
    /// ledger row keeps its id and time, as a quarantine release does; the message
    /// stays where it is on the server (the set-aside folder).
    fn open_in(
        &self,
        conn: &Connection,
        id: i64,
        now: DateTime<Utc>,
        token_key: &[u8],
        by: &str,
    ) -> Result<Report> {
        let row = messages::get(conn, id)?.with_context(|| {
            format!("No message {id} in the ledger (see `switchboard messages`)")
        })?;
        if row.outcome != Outcome::SetAside.as_str() {
            bail!(
                "Message {id} is not set aside: it was taken in as {}",
                row.outcome
            );
        }
        let msg = Message::parse(&row.raw)
            .map_err(|e| anyhow::anyhow!("Message {id} cannot be read again: {e}"))?;
        let class = self.classify(&msg);
        let was = row.reason.clone().unwrap_or_default();
        let late = json!({
            "received_at": crate::outgoing::local_time(&self.config, row.received_at),
            "reason": format!("set aside as not a case: {was}"),
        });
        messages::delete(conn, id)?;
        let src = Source {
            mailbox: row.mailbox.clone(),
            uidvalidity: row.uidvalidity,
        };
        let inc = Incoming {
            uid: row.uid,
            raw: row.raw,
            too_large: None,
        };
        let step = Step {
            conn,
            src: &src,
            inc: &inc,
            dedup_key: &row.dedup_key,
            class: Some(&class),
            dates: None,
            now,
            token_key,
            composer: None,
            late: Some(&late),
            rspamd: None,
        };
        let mut report = Report::new(inc.uid, "");
        report.sender = Some(msg.from.email.clone());
        report.subject = Some(msg.subject.clone());
        let report = self.open_case(&step, &msg, report, None)?;
        let new_id = messages::id_by_key(conn, &row.dedup_key)?
            .context("The opened message has no ledger row")?;
        messages::take_place_of(conn, new_id, id, row.received_at)?;
        let why = format!("opened as a case by {by}; it had been set aside: {was}");
        messages::set_reason(conn, id, &why)?;
        if let Some(number) = &report.case
            && let Some(case_id) = crate::store::cases::id_by_number(conn, number)?
        {
            crate::store::cases::add_event(conn, case_id, now.timestamp(), "opened_late", &why)?;
        }
        tracing::info!(
            message = id,
            case = report.case.as_deref().unwrap_or("-"),
            "Set-aside message opened as a case by {by}"
        );
        Ok(report)
    }

    /// A reply to one of our set-aside lists, if this is one: `Open: N` lines from the
    /// triage department open those messages; from anyone else nothing changes. The
    /// reply itself is kept as ignored, with what it did as the reason.
    pub(super) fn list_reply(
        &self,
        step: &Step<'_>,
        msg: &Message,
        mut report: Report,
    ) -> Result<Option<Report>> {
        let conn = step.conn;
        let mut list = None;
        for id in msg.in_reply_to.iter().chain(msg.references.iter()) {
            let id = id.trim_matches(['<', '>']);
            if listed::is_list(conn, id)? {
                list = Some(id.to_string());
                break;
            }
        }
        let Some(list) = list else {
            return Ok(None);
        };
        let sender = msg.from.email.as_str();
        let triage = self
            .config
            .department(&self.config.intake.triage_department)
            .context("The triage department is missing from the config")?;
        let refused = if !triage.may_command(sender) {
            Some(format!(
                "{sender} does not speak for the triage department {}",
                triage.id
            ))
        } else {
            self.authenticated(msg)
                .err()
                .map(|why| format!("not authenticated: {why}"))
        };
        let why = match refused {
            Some(reason) => {
                tracing::warn!(sender = %sender, "Reply to a set-aside list refused: {reason}");
                format!("refused as a reply to a set-aside list: {reason}")
            }
            None => {
                let text = crate::reply::quote::trim_quoted(&msg.body);
                let mut done = Vec::new();
                for n in open_numbers(&text) {
                    match listed::listed(conn, &list, n)? {
                        None => done.push(format!("{n}: no such line in that list")),
                        Some(id) => {
                            match self.open_in(conn, id, step.now, step.token_key, sender) {
                                Ok(r) => done.push(format!(
                                    "{n}: opened as {}",
                                    r.case.as_deref().unwrap_or("?")
                                )),
                                Err(e) => done.push(format!("{n}: {e:#}")),
                            }
                        }
                    }
                }
                if done.is_empty() {
                    "a reply to a set-aside list without an `Open: N` line: nothing opened"
                        .to_string()
                } else {
                    format!(
                        "a reply to a set-aside list from {sender}: {}",
                        done.join("; ")
                    )
                }
            }
        };
        step.record(msg, Outcome::Ignored, None, Some(&why))?;
        report.outcome = Outcome::Ignored.as_str();
        report.reason = Some(why);
        Ok(Some(report))
    }
}

/// The numbers of `Open: 2, 5` lines (also `打开：` and `立案：`) at the top of a reply.
fn open_numbers(text: &str) -> Vec<i64> {
    let mut numbers = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(20)
    {
        let Some((key, rest)) = line.split_once([':', '：']) else {
            continue;
        };
        let key = key.trim().to_lowercase();
        if !["open", "打开", "立案", "打開"].contains(&key.as_str()) {
            continue;
        }
        for part in rest.split([',', '，', ' ', '、', ';']) {
            if let Ok(n) = part.trim().trim_start_matches('#').parse::<i64>()
                && !numbers.contains(&n)
            {
                numbers.push(n);
            }
        }
    }
    numbers
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

    #[test]
    fn open_lines_are_read_in_both_languages() {
        assert_eq!(open_numbers("Open: 2\n\nthanks"), vec![2]);
        assert_eq!(open_numbers("open：2, 5、#7\nOpen: 5"), vec![2, 5, 7]);
        assert_eq!(open_numbers("立案：3"), vec![3]);
        assert!(open_numbers("Opening hours: 9").is_empty());
    }
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
