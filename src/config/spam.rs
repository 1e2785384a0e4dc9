//! The `[spam]` table: which verdicts of the receiving mail server set mail aside, and
//! when the triage department gets its daily list of what was set aside.
//!
//! Each entry of `verdicts` is a header name whose meaning is known (below), or
//! `"Header: value"` for any other filter: the header present with a value that
//! starts with `value` (case-insensitive) is a spam verdict.

use super::fields::{Fields, Report};

/// How one header says "spam".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// The value is `YES` (SpamAssassin's `X-Spam-Flag`, Rspamd's `X-Spam`).
    Yes,
    /// The value starts with `Yes` (`X-Spam-Status: Yes, score=…`: SpamAssassin, and
    /// Rspamd's milter_headers `x-spam-status` routine).
    StartsYes,
    /// Rspamd's action (`X-Rspamd-Action`): `reject`, `add header` or `rewrite subject`.
    RspamdAction,
    /// Rspamd's `X-Spamd-Result: default: True [score / required]`.
    SpamdResult,
    /// Microsoft 365's spam confidence level, the whole value (`X-MS-Exchange-Organization-SCL: 5`).
    Scl,
    /// Microsoft 365's `X-Forefront-Antispam-Report: …;SCL:5;…`.
    SclField,
    /// Any other header: its value starts with this (lower-case).
    Prefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub header: String,
    pub reading: Reading,
}

/// The headers whose meaning Switchboard knows, honoured by default.
const KNOWN: &[(&str, Reading)] = &[
    ("X-Spam-Flag", Reading::Yes),
    ("X-Spam", Reading::Yes),
    ("X-Spam-Status", Reading::StartsYes),
    ("X-Rspamd-Action", Reading::RspamdAction),
    ("X-Spamd-Result", Reading::SpamdResult),
    ("X-MS-Exchange-Organization-SCL", Reading::Scl),
    ("X-Forefront-Antispam-Report", Reading::SclField),
];

#[derive(Debug, Clone)]
pub struct Spam {
    pub verdicts: Vec<Verdict>,
    /// The local time of the daily set-aside list to the triage department, on each
    /// working day; `None` is off.
    pub list_at: Option<chrono::NaiveTime>,
    /// Rspamd to ask about mail that would otherwise be a case.
    pub rspamd: Option<Rspamd>,
}

#[derive(Debug, Clone)]
pub struct Rspamd {
    /// As written, for the log.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub timeout: std::time::Duration,
    /// Rspamd's actions that set mail aside.
    pub actions: Vec<String>,
    /// Rspamd's actions that set aside mail no rule claims (it would otherwise go
    /// to the triage department as unclassified): by default `actions` and
    /// `greylist` too. Rspamd's `greylist` (a score of 4 to 6 in its stock
    /// configuration) is too weak a verdict to overrule a rule that found a
    /// complaint, a dispute or a request, but mail that nothing claims as a case
    /// and that Rspamd doubts is junk far more often than a person's question:
    /// measured on the SpamAssassin corpus and tests/classify/ (README, "Not a case").
    pub unclaimed_actions: Vec<String>,
    /// Rspamd's symbols not to reckon with (sent as `symbols_disabled` in the
    /// request's `Settings`): see [`IGNORED_SYMBOLS`].
    pub ignored_symbols: Vec<String>,
}

/// What Rspamd cannot judge when it is asked after delivery, as Switchboard asks it,
/// rather than by the receiving server during the SMTP dialogue: the client's
/// hostname (the receiving server saw the client; Rspamd asked by us sees no
/// connection, and scores every message HFILTER_HOSTNAME_UNKNOWN, 2.5) and the Date
/// header against the moment it is asked (a backlog or a mail taken in days after
/// it arrived is DATE_IN_PAST; a sender's clock a few hours ahead of Rspamd's is
/// DATE_IN_FUTURE, 4.0). Measured here on the 207 complaints, disputes and requests
/// of tests/classify/ (stock Rspamd 3.4, no network): reckoning with these, 79 of them
/// scored `add header` (6.4–8.5 against a threshold of 6), each for these symbols;
/// without them, none (README, "Connecting Rspamd").
pub const IGNORED_SYMBOLS: &[&str] =
    &["HFILTER_HOSTNAME_UNKNOWN", "DATE_IN_PAST", "DATE_IN_FUTURE"];

const RSPAMD_ACTIONS: &[&str] = &["reject", "add header", "rewrite subject", "greylist"];

impl Default for Spam {
    fn default() -> Spam {
        Spam {
            verdicts: KNOWN
                .iter()
                .map(|(h, r)| Verdict {
                    header: (*h).to_string(),
                    reading: r.clone(),
                })
                .collect(),
            list_at: chrono::NaiveTime::from_hms_opt(9, 30, 0),
            rspamd: None,
        }
    }
}

pub fn read_spam(t: Option<Fields<'_>>, report: &mut Report) -> Spam {
    let mut spam = Spam::default();
    let Some(mut t) = t else {
        return spam;
    };
    if t.has("verdicts") {
        let list = t.strings(report, "verdicts");
        spam.verdicts.clear();
        for (i, entry) in list.iter().enumerate() {
            match parse_verdict(entry) {
                Some(v) => spam.verdicts.push(v),
                None => t.error(
                    report,
                    &format!("verdicts[{i}]"),
                    format!(
                        "expected one of {} or \"Header: value\" (that header with a value starting so is a spam verdict), found \"{entry}\"",
                        KNOWN.iter().map(|(h, _)| *h).collect::<Vec<_>>().join(", ")
                    ),
                ),
            }
        }
    }
    if let Some(at) = t.string(report, "list_at") {
        match at.trim() {
            "off" => spam.list_at = None,
            text => match chrono::NaiveTime::parse_from_str(text, "%H:%M") {
                Ok(time) => spam.list_at = Some(time),
                Err(_) => t.error(
                    report,
                    "list_at",
                    format!("expected a local time such as \"09:30\", or \"off\"; found \"{at}\""),
                ),
            },
        }
    }
    let url = t.string(report, "rspamd");
    let timeout = t
        .duration(report, "rspamd_timeout")
        .unwrap_or(std::time::Duration::from_secs(2));
    let actions = read_actions(&mut t, report, "rspamd_actions")
        .unwrap_or_else(|| vec!["reject".to_string(), "add header".to_string()]);
    let unclaimed_actions = read_actions(&mut t, report, "rspamd_unclaimed_actions")
        .unwrap_or_else(|| {
            let mut all = actions.clone();
            if !all.iter().any(|a| a == "greylist") {
                all.push("greylist".to_string());
            }
            all
        });
    let ignored_symbols = if t.has("rspamd_ignore_symbols") {
        let list = t.strings(report, "rspamd_ignore_symbols");
        for (i, name) in list.iter().enumerate() {
            // They go into a request header: a symbol's name and nothing else.
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                t.error(
                    report,
                    &format!("rspamd_ignore_symbols[{i}]"),
                    format!("expected the name of an Rspamd symbol such as \"DATE_IN_PAST\" (capital letters, digits, _), found \"{name}\""),
                );
            }
        }
        list
    } else {
        IGNORED_SYMBOLS.iter().map(|s| (*s).to_string()).collect()
    };
    if let Some(url) = url {
        match parse_http_url(&url) {
            Some((host, port)) => {
                spam.rspamd = Some(Rspamd {
                    url,
                    host,
                    port,
                    timeout,
                    actions,
                    unclaimed_actions,
                    ignored_symbols,
                })
            }
            None => t.error(
                report,
                "rspamd",
                format!("expected the address of Rspamd's normal worker such as \"http://127.0.0.1:11333\" (plain HTTP), found \"{url}\""),
            ),
        }
    }
    t.finish(report);
    spam
}

/// A list of Rspamd's actions under `key`, each checked; `None` if the key is absent.
fn read_actions(t: &mut Fields<'_>, report: &mut Report, key: &str) -> Option<Vec<String>> {
    if !t.has(key) {
        return None;
    }
    let list = t.strings(report, key);
    for (i, a) in list.iter().enumerate() {
        if !RSPAMD_ACTIONS.contains(&a.as_str()) {
            t.error(
                report,
                &format!("{key}[{i}]"),
                format!(
                    "expected one of {}, found \"{a}\"",
                    RSPAMD_ACTIONS.join(", ")
                ),
            );
        }
    }
    Some(list)
}

/// "http://host:port" (a trailing "/" allowed) → (host, port); port 11333 if none.
fn parse_http_url(url: &str) -> Option<(String, u16)> {
    let rest = url.trim().strip_prefix("http://")?.trim_end_matches('/');
    if rest.is_empty() || rest.contains(['/', '@', '?', '#']) {
        return None;
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !host.ends_with(']') || host.starts_with('[') => {
            Some((
                host.trim_matches(['[', ']']).to_string(),
                port.parse().ok()?,
            ))
        }
        _ => Some((rest.to_string(), 11333)),
    }
}

fn parse_verdict(entry: &str) -> Option<Verdict> {
    let entry = entry.trim();
    if let Some((header, value)) = entry.split_once(':') {
        let (header, value) = (header.trim(), value.trim());
        let name_ok =
            !header.is_empty() && header.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        return (name_ok && !value.is_empty()).then(|| Verdict {
            header: header.to_string(),
            reading: Reading::Prefix(value.to_lowercase()),
        });
    }
    KNOWN
        .iter()
        .find(|(h, _)| h.eq_ignore_ascii_case(entry))
        .map(|(h, r)| Verdict {
            header: (*h).to_string(),
            reading: r.clone(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn known_names_and_custom_prefixes() {
        assert_eq!(parse_verdict("x-spam-flag").unwrap().reading, Reading::Yes);
        let custom = parse_verdict("X-Barracuda-Spam-Status: Yes").unwrap();
        assert_eq!(custom.header, "X-Barracuda-Spam-Status");
        assert_eq!(custom.reading, Reading::Prefix("yes".into()));
        assert!(parse_verdict("X-Unknown-Filter").is_none());
        assert!(parse_verdict("X-Empty:").is_none());
    }

    #[test]
    fn rspamd_urls() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:11333/"),
            Some(("127.0.0.1".into(), 11333))
        );
        assert_eq!(
            parse_http_url("http://spam.lan"),
            Some(("spam.lan".into(), 11333))
        );
        assert_eq!(
            parse_http_url("http://[::1]:21333"),
            Some(("::1".into(), 21333))
        );
        assert_eq!(parse_http_url("https://127.0.0.1:11333"), None);
        assert_eq!(parse_http_url("http://127.0.0.1:11333/checkv2"), None);
        assert_eq!(parse_http_url("http://127.0.0.1:x"), None);
    }
}
