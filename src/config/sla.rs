//! The `[sla]` and `[replies]` tables: where the policies are, who hears of level-2
//! escalations, when the weekly digest goes out, and how department replies are
//! recognised.

use std::path::{Path, PathBuf};

use chrono::{NaiveTime, Weekday};

use super::fields::{Fields, Report};

#[derive(Debug, Clone)]
pub struct Sla {
    /// The policy file; `None` when the config names none and `rules/sla.toml` is absent.
    pub policies: Option<PathBuf>,
    /// Level 2 of every escalation ladder.
    pub escalation_contacts: Vec<String>,
    /// The collaboration progress digest: weekday and local time; `None` is off.
    pub digest: Option<(Weekday, NaiveTime)>,
    /// Whose managers hear of a 一般/不满意 survey answer.
    pub survey_department: String,
    /// The weekly service-level report to managers and escalation contacts: weekday
    /// and local time; `None` (the default) is off.
    pub report: Option<(Weekday, NaiveTime)>,
}

#[derive(Debug, Clone)]
pub struct Replies {
    /// The most a relayed reply (or a passed-on follow-up) carries in attachments,
    /// decoded: over it the mail goes with its text alone and the department is told
    /// what was not sent (default 20 MB, what most providers take in one mail).
    pub max_relay_bytes: u64,
    /// `+` when the mail server delivers `support+anything@` to `support@` (Postfix
    /// `recipient_delimiter`): routed mail then carries its reply token in Reply-To too.
    pub subaddress_delimiter: Option<char>,
    /// Commands count only when the receiving server's Authentication-Results, from
    /// `authserv_id`, show DMARC, DKIM or SPF passing for the sender's domain.
    pub require_authenticated: bool,
    pub authserv_id: Option<String>,
}

impl Default for Replies {
    fn default() -> Replies {
        Replies {
            max_relay_bytes: 20 * 1024 * 1024,
            subaddress_delimiter: None,
            require_authenticated: false,
            authserv_id: None,
        }
    }
}

pub fn read_sla(t: Option<Fields<'_>>, rules_dir: &Path, triage: &str, report: &mut Report) -> Sla {
    let default_policies = rules_dir.join("sla.toml");
    let mut sla = Sla {
        policies: default_policies.is_file().then_some(default_policies),
        escalation_contacts: Vec::new(),
        digest: Some((
            Weekday::Fri,
            NaiveTime::from_hms_opt(15, 0, 0).unwrap_or_default(),
        )),
        survey_department: triage.to_string(),
        report: None,
    };
    let Some(mut t) = t else {
        return sla;
    };
    if let Some(p) = t.path(report, "policies") {
        if !p.is_file() {
            t.error(
                report,
                "policies",
                format!(
                    "expected an SLA policy file, {} does not exist",
                    p.display()
                ),
            );
        }
        sla.policies = Some(p);
    }
    sla.escalation_contacts = super::addresses(&mut t, report, "escalation_contacts");
    if let Some(d) = t.string(report, "digest") {
        match parse_weekly(&d) {
            Some(w) => sla.digest = w,
            None => t.error(
                report,
                "digest",
                format!(
                    "expected a weekday and a time such as \"fri 15:00\", or \"off\"; found \"{d}\""
                ),
            ),
        }
    }
    if let Some(r) = t.string(report, "report") {
        match parse_weekly(&r) {
            Some(w) => sla.report = w,
            None => t.error(
                report,
                "report",
                format!(
                    "expected a weekday and a time such as \"mon 09:00\", or \"off\"; found \"{r}\""
                ),
            ),
        }
    }
    if let Some(d) = t.string(report, "survey_department") {
        sla.survey_department = d;
    }
    t.finish(report);
    sla
}

/// "fri 15:00" → Some(Some(..)); "off" → Some(None).
fn parse_weekly(text: &str) -> Option<Option<(Weekday, NaiveTime)>> {
    let text = text.trim().to_lowercase();
    if text == "off" || text == "never" {
        return Some(None);
    }
    let (day, time) = text.split_once(char::is_whitespace)?;
    let day: Weekday = day.parse().ok()?;
    let time = NaiveTime::parse_from_str(time.trim(), "%H:%M").ok()?;
    Some(Some((day, time)))
}

pub fn read_replies(t: Option<Fields<'_>>, report: &mut Report) -> Replies {
    let mut replies = Replies::default();
    let Some(mut t) = t else {
        return replies;
    };
    if let Some(d) = t.string(report, "subaddress_delimiter") {
        let mut chars = d.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if matches!(c, '+' | '-' | '_' | '=') => {
                replies.subaddress_delimiter = Some(c)
            }
            _ => t.error(
                report,
                "subaddress_delimiter",
                format!("expected one character such as \"+\" (Postfix recipient_delimiter), found \"{d}\""),
            ),
        }
    }
    if t.has("require_authenticated") {
        replies.require_authenticated = t.boolean(report, "require_authenticated").unwrap_or(false);
    }
    replies.authserv_id = t.string(report, "authserv_id").map(|s| s.to_lowercase());
    if let Some(v) = t.integer(report, "max_relay_bytes", 0, i64::MAX) {
        replies.max_relay_bytes = v as u64;
    }
    if replies.require_authenticated && replies.authserv_id.is_none() {
        t.error(
            report,
            "authserv_id",
            "require_authenticated = true needs the authserv-id your receiving server writes in Authentication-Results, such as \"mx.example.com\"",
        );
    }
    t.finish(report);
    replies
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_weekly;
    use chrono::{NaiveTime, Weekday};

    #[test]
    fn weekly_times() {
        assert_eq!(
            parse_weekly("Fri 15:00"),
            Some(Some((
                Weekday::Fri,
                NaiveTime::from_hms_opt(15, 0, 0).unwrap()
            )))
        );
        assert_eq!(parse_weekly("off"), Some(None));
        assert_eq!(parse_weekly("friday"), None);
        assert_eq!(parse_weekly("fri 25:00"), None);
    }
}
