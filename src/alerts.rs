//! Telling the administrator when something needs a person: a mailbox that has not
//! been read for too long, mail a server refused for good, a sender flooding the
//! shared address. Each alert is a row and goes out through the outbox like all our
//! mail; a key makes sure the same condition raises one alert, not one per minute.

use anyhow::Result;
use serde_json::json;

use crate::outgoing::{self, Letter, Mailer};
use crate::store::alerts as rows;

/// When the same key may raise again.
#[derive(Debug, Clone, Copy)]
pub enum Repeat {
    /// Only after [`clear`]: the condition ended and came back.
    AfterClear,
    /// After this many seconds.
    After(i64),
}

impl Repeat {
    /// When the same alert may come again, in Chinese and in English, for the mail.
    fn describe(self) -> (String, String) {
        match self {
            Repeat::AfterClear => (
                "在恢复之前不会重复提醒".to_string(),
                "not alerted again until it has recovered".to_string(),
            ),
            Repeat::After(secs) if secs % 3600 == 0 => (
                format!("{} 小时内不会重复提醒", secs / 3600),
                format!(
                    "not alerted again within {} hour{}",
                    secs / 3600,
                    if secs == 3600 { "" } else { "s" }
                ),
            ),
            Repeat::After(secs) => (
                // Whole minutes, rounded up.
                format!("{} 分钟内不会重复提醒", (secs + 59) / 60),
                format!("not alerted again within {} minutes", (secs + 59) / 60),
            ),
        }
    }
}

/// Raises an alert unless one with this key is still standing. Returns whether it did.
pub fn raise(
    mailer: &Mailer<'_>,
    key: &str,
    title: &str,
    detail: &str,
    repeat: Repeat,
) -> Result<bool> {
    let conn = mailer.conn;
    let now = mailer.now.timestamp();
    if standing(conn, key, repeat, now)? {
        return Ok(false);
    }
    let id = rows::insert(conn, key, now, title, detail)?;
    tracing::warn!(alert = key, "Alert: {title}: {detail}");
    let config = mailer.config;
    let (repeat_zh, repeat_en) = repeat.describe();
    let ctx = json!({
        "alert": {
            "title": title,
            "detail": detail,
            "key": key,
            "raised_at": outgoing::local_time(config, now),
            "repeat_zh": repeat_zh,
            "repeat_en": repeat_en,
        },
        "company": outgoing::company_context(config),
    });
    for admin in &config.alerts.to {
        mailer.queue(Letter::notice(
            "alert",
            None,
            outgoing::mailbox("", admin)?,
            "alert.txt",
            &ctx,
            &format!("alert:{id}"),
            None,
        ))?;
    }
    if config.alerts.to.is_empty() {
        tracing::warn!(
            alert = key,
            "No [alerts] to: the alert is in the log and the store only"
        );
    }
    Ok(true)
}

/// The key of the alert that names outgoing mail which failed for good.
pub const FAILED_MAIL: &str = "mail-failed";

/// At most one failed-mail alert an hour: a thousand refused acknowledgements make one
/// mail to the administrator, not a thousand. Failures in between wait for the next.
pub const FAILED_MAIL_EVERY: i64 = 3600;

/// Failures named one by one in an alert; the rest are counted.
const FAILED_MAIL_LISTED: u32 = 20;

/// A server's reason is cut to this many characters in the alert (the whole of it is
/// in `switchboard outbox`).
const REASON_CHARS: usize = 300;

/// What [`report_failed_mail`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// No failure the administrator has not been told about.
    Nothing,
    /// One alert raised, naming this many failures.
    Alerted(usize),
    /// Failures wait: the last such alert is less than an hour old; the next may be
    /// raised at this time (Unix seconds).
    Waiting(i64),
}

/// Tells the administrator, in one alert, about every outgoing mail that failed for
/// good (a 5xx, or given up after its retries) since the last such alert, and marks
/// them reported in the same transaction: a crash neither loses the report nor makes
/// it twice. At most one an hour; failed alerts themselves are never reported.
pub fn report_failed_mail(mailer: &Mailer<'_>) -> Result<Reported> {
    let conn = mailer.conn;
    let now = mailer.now.timestamp();
    let (listed, total) = crate::store::outbox::unreported_failures(conn, FAILED_MAIL_LISTED)?;
    if total == 0 {
        return Ok(Reported::Nothing);
    }
    if let Some(last) = rows::last_raised(conn, FAILED_MAIL)?
        && now - last < FAILED_MAIL_EVERY
    {
        return Ok(Reported::Waiting(last + FAILED_MAIL_EVERY));
    }
    let config = mailer.config;
    let (title, intro) = if total == 1 {
        (
            "An outgoing mail failed for good".to_string(),
            "This mail was refused for good by the mail server (or given up after its retries) and will not be sent again:".to_string(),
        )
    } else {
        (
            format!("{total} outgoing mails failed for good"),
            format!(
                "These {total} mails were refused for good by the mail server (or given up after their retries) and will not be sent again:"
            ),
        )
    };
    let mut detail = intro;
    detail.push('\n');
    for f in &listed {
        detail.push_str(&format!(
            "\n- {} to {}, {}",
            f.kind,
            f.recipients,
            outgoing::local_time(config, f.failed_at)
        ));
        if let Some((number, subject)) = &f.case {
            detail.push_str(&format!(", case {number} \"{subject}\""));
        }
        let reason = f.error.as_deref().unwrap_or("no reason recorded");
        let mut reason: String = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some((cut, _)) = reason.char_indices().nth(REASON_CHARS) {
            reason.truncate(cut);
            reason.push('…');
        }
        detail.push_str(&format!("\n  {reason}"));
    }
    let more = total - listed.len() as i64;
    if more > 0 {
        detail.push_str(&format!("\n\n… and {more} more."));
    }
    detail.push_str(
        "\n\nEach is listed in `switchboard outbox` with the server's whole answer. Check the addresses (a customer's typo, a closed mailbox) or our server's settings if many fail alike. Mail that fails from now on is named in the next alert, at most one an hour.",
    );
    raise(
        mailer,
        FAILED_MAIL,
        &title,
        &detail,
        Repeat::After(FAILED_MAIL_EVERY),
    )?;
    let reported = crate::store::outbox::mark_reported(conn, now)?;
    Ok(Reported::Alerted(reported))
}

/// Whether an alert with this key would be held back now (so the caller can skip
/// working out its text).
pub fn standing(conn: &rusqlite::Connection, key: &str, repeat: Repeat, now: i64) -> Result<bool> {
    Ok(match repeat {
        Repeat::AfterClear => rows::open(conn, key)?,
        Repeat::After(secs) => rows::last_raised(conn, key)?.is_some_and(|t| now - t < secs),
    })
}

/// The condition behind `key` is over; logs the recovery if an alert was standing.
pub fn clear(conn: &rusqlite::Connection, key: &str, now: i64) -> Result<()> {
    if rows::clear(conn, key, now)? > 0 {
        tracing::info!(alert = key, "Recovered: the alert is cleared");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::config::Config;
    use crate::store::outbox::{self, NewOutgoing};
    use crate::templates::Templates;

    const CONFIG: &str = r#"
[mailbox]
kind = "imap"
host = "127.0.0.1"
tls = "none"
username = "support@example.com"
password_env = "SB_TEST_PW"
processed_folder = "Switchboard/Processed"

[smtp]
host = "127.0.0.1"
tls = "none"
from = "Customer Service <support@example.com>"

[store]
path = "state/sb.db"

[intake]
triage_department = "customer-service"

[alerts]
to = ["admin@example.com"]

[[department]]
id = "customer-service"
name = "Customer Service"
address = "cs@example.com"
"#;

    /// Queues a mail of `kind` to `to` and ends it as failed at `at`.
    fn failed(conn: &rusqlite::Connection, kind: &str, to: &str, at: i64) {
        let recipients = [to.to_string()];
        outbox::insert(
            conn,
            &NewOutgoing {
                case_id: None,
                kind,
                message_id: &format!("{kind}-{to}-{at}@example.com"),
                envelope_from: "support@example.com",
                recipients: &recipients,
                content: b"Subject: x\r\n\r\nx\r\n",
                original: None,
                splices: None,
                at,
            },
        )
        .unwrap();
        let id = conn.last_insert_rowid();
        outbox::mark_failed(conn, id, at, &format!("550 5.1.1 <{to}>: refused")).unwrap();
    }

    fn alert_mails(conn: &rusqlite::Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare(
                "SELECT content FROM outbox WHERE kind = 'alert' AND failed_at IS NULL ORDER BY id",
            )
            .unwrap();
        stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|c| {
                let raw = c.unwrap();
                let m = crate::message::Message::parse(&raw).unwrap();
                format!("{}\n{}", m.subject, m.body)
            })
            .collect()
    }

    #[test]
    fn failed_mail_is_reported_in_one_alert_an_hour_each_failure_once() {
        let (config, report) = Config::parse(Path::new("/etc/sb/sb.toml"), CONFIG);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let config = config.unwrap();
        let templates =
            Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")).unwrap();
        let conn = crate::store::memory().unwrap();
        let t0 = 1_764_468_000; // 2025-11-30 02:00 UTC
        let at = |t: i64| -> DateTime<Utc> { DateTime::from_timestamp(t, 0).unwrap() };
        let report = |t: i64| {
            report_failed_mail(&Mailer {
                conn: &conn,
                config: &config,
                templates: &templates,
                token_key: b"k",
                now: at(t),
                composer: None,
            })
            .unwrap()
        };

        assert_eq!(report(t0), Reported::Nothing);
        for i in 0..25 {
            failed(&conn, "ack", &format!("c{i:02}@refused.example"), t0 + i);
        }
        // A failed alert is never reported: that would be a loop.
        failed(&conn, "alert", "admin@refused.example", t0);
        assert_eq!(report(t0 + 60), Reported::Alerted(25));
        let mails = alert_mails(&conn);
        assert_eq!(mails.len(), 1, "one alert for 25 failures");
        assert!(
            mails[0].contains("25 outgoing mails failed"),
            "{}",
            mails[0]
        );
        assert!(mails[0].contains("c00@refused.example"), "{}", mails[0]);
        assert!(mails[0].contains("c19@refused.example"), "{}", mails[0]);
        assert!(!mails[0].contains("c20@refused.example"), "{}", mails[0]);
        assert!(mails[0].contains("and 5 more"), "{}", mails[0]);
        assert!(mails[0].contains("550 5.1.1"), "{}", mails[0]);
        assert!(
            mails[0].contains("not alerted again within 1 hour;"),
            "the mail says when the same alert may come again: {}",
            mails[0]
        );
        assert!(!mails[0].contains("admin@refused.example"), "{}", mails[0]);

        // Reported once: nothing new, nothing to say.
        assert_eq!(report(t0 + 120), Reported::Nothing);
        // A new failure within the hour waits for the hour to pass.
        failed(&conn, "route", "late@refused.example", t0 + 600);
        assert_eq!(report(t0 + 600), Reported::Waiting(t0 + 60 + 3600));
        assert_eq!(alert_mails(&conn).len(), 1);
        assert_eq!(report(t0 + 60 + 3600), Reported::Alerted(1));
        let mails = alert_mails(&conn);
        assert_eq!(mails.len(), 2);
        assert!(mails[1].contains("An outgoing mail failed"), "{}", mails[1]);
        assert!(
            mails[1].contains("route to late@refused.example"),
            "{}",
            mails[1]
        );
        assert!(!mails[1].contains("c00@refused.example"), "{}", mails[1]);
    }
}
