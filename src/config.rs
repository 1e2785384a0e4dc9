//! The configuration file: read whole, validated whole.
//!
//! Every problem is reported at once as `file: key: what was expected`; keys nobody
//! reads are warned about (usually a typo). Relative paths resolve against the
//! config file's folder. Passwords are never in the TOML: only `password_file` or
//! `password_env` naming where they are.

mod alerts;
pub(crate) mod fields;
mod oauth2;
mod retention;
mod sla;
mod spam;
mod web;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};

pub use alerts::Alerts;
use fields::Fields;
pub use fields::{Report, parse_duration};
pub use oauth2::{Auth, Flow, OAuth2, Provider};
pub use retention::{Period, Retention};
pub use sla::{Replies, Sla};
pub use spam::{Reading, Rspamd, Spam, Verdict};
pub use web::Web;

use crate::calendar::Calendar;
use crate::secret::SecretSource;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS before login.
    Starttls,
    /// Plaintext: only to a loopback address.
    None,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub username: Option<String>,
    pub password: Option<SecretSource>,
    /// A password, or an access token from `[oauth2]` (the username is then the
    /// mailbox the token is for).
    pub auth: Auth,
    /// A PEM file of CA certificates trusted besides the Mozilla roots.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub enum MailboxKind {
    Imap(Server),
    /// A local Maildir (the demo): `new/` and `cur/` are read; folders are Maildir++ subfolders.
    Maildir(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Mailbox {
    pub kind: MailboxKind,
    pub folder: String,
    pub processed_folder: Option<String>,
    pub quarantine_folder: Option<String>,
    /// Where mail that is not a case goes (`intake::set_aside`); `None`: processed_folder.
    pub set_aside_folder: Option<String>,
    pub poll_interval: Duration,
    /// How many messages one fetch asks for; bounds memory together with max_message_bytes.
    pub batch_size: u32,
    /// The `support-email` Switchboard gives in the IMAP ID command (RFC 2971);
    /// `[alerts] to`'s first address when not set.
    pub support_email: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Transport {
    Smtp(Server),
    /// Each outgoing message is written as a file into this Maildir (the demo).
    Maildir(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Smtp {
    pub transport: Transport,
    /// The shared address everything is sent from and answered to.
    pub from: lettre::message::Mailbox,
}

#[derive(Debug, Clone)]
pub struct Intake {
    pub rules: PathBuf,
    pub templates: PathBuf,
    pub triage_department: String,
    pub internal_domains: Vec<String>,
    pub vip_customers: Vec<String>,
    /// Domains (and their subdomains) or addresses of the company's suppliers.
    pub suppliers: Vec<String>,
    /// `parties = "parties.csv"`: customers, suppliers and partners exported from the
    /// ERP or CRM (`rules::Parties`), read with the rules and again on SIGHUP.
    pub parties: Option<PathBuf>,
    pub max_message_bytes: u64,
    pub max_acks_per_sender_per_hour: u32,
    /// The letters of the case tag, `[SB-2026-000123]`.
    pub case_prefix: String,
    /// Whether mail no rule claims (a triage case) is acknowledged.
    pub acknowledge_unclassified: bool,
}

#[derive(Debug, Clone)]
pub struct Department {
    pub id: String,
    pub name: String,
    pub address: String,
    pub managers: Vec<String>,
    /// Other names the department goes by in mail (物流, shipping…), for collaboration requests.
    pub aliases: Vec<String>,
    /// People who answer for the department from their own addresses; with the
    /// department address and the managers, the senders whose replies may command.
    pub members: Vec<String>,
}

impl Department {
    /// May mail from this address change the department's cases?
    pub fn may_command(&self, address: &str) -> bool {
        self.address == address
            || self.members.iter().any(|m| m == address)
            || self.managers.iter().any(|m| m == address)
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub mailbox: Mailbox,
    pub smtp: Smtp,
    pub store_path: PathBuf,
    pub intake: Intake,
    pub calendar: Calendar,
    pub departments: Vec<Department>,
    pub sla: Sla,
    pub replies: Replies,
    pub alerts: Alerts,
    pub retention: Retention,
    pub spam: Spam,
    /// The read-only web view and `/metrics`; `None` when `[web]` is absent.
    pub web: Option<Web>,
    /// Where access tokens come from when `[mailbox]` or `[smtp]` has `auth = "oauth2"`.
    pub oauth2: Option<OAuth2>,
}

impl Config {
    /// The mailbox logs in with the `[oauth2]` grant.
    pub fn mailbox_uses_oauth2(&self) -> bool {
        matches!(&self.mailbox.kind, MailboxKind::Imap(s) if s.auth == Auth::OAuth2)
    }

    /// The SMTP server is logged in to with the `[oauth2]` grant.
    pub fn smtp_uses_oauth2(&self) -> bool {
        matches!(&self.smtp.transport, Transport::Smtp(s) if s.auth == Auth::OAuth2)
    }

    /// Reads and validates the file. `Err` lists every problem, one per line.
    pub fn load(path: &Path) -> Result<(Config, Vec<String>)> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read the config file: {e}", path.display()))?;
        let (config, report) = Config::parse(path, &text);
        match config {
            Some(config) if report.errors.is_empty() => Ok((config, report.warnings)),
            _ => bail!("{}", report.errors.join("\n")),
        }
    }

    pub fn parse(path: &Path, text: &str) -> (Option<Config>, Report) {
        let mut report = Report::default();
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
                report
                    .errors
                    .push(format!("{}:{line}: {}", path.display(), e.message()));
                return (None, report);
            }
        };
        let mut root = Fields::new(path, "", table);
        let config = read_config(path, &mut root, &mut report);
        root.finish(&mut report);
        (config, report)
    }

    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    /// Every address that is ours: mail from them is never acknowledged.
    pub fn own_addresses(&self) -> Vec<String> {
        let mut own = vec![self.smtp.from.email.to_string().to_lowercase()];
        if let MailboxKind::Imap(server) = &self.mailbox.kind
            && let Some(user) = &server.username
            && user.contains('@')
        {
            own.push(user.to_lowercase());
        }
        for d in &self.departments {
            own.push(d.address.clone());
            own.extend(d.managers.iter().cloned());
            own.extend(d.members.iter().cloned());
        }
        own
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map(|t| t.matches('\n').count() + 1)
        .unwrap_or(0)
}

/// Reads a table that must be there with `read`, then warns about its unknown keys.
fn required_table<T>(
    root: &mut Fields<'_>,
    report: &mut Report,
    name: &str,
    read: impl FnOnce(&mut Fields<'_>, &mut Report) -> Option<T>,
) -> Option<T> {
    let present = root.has(name);
    let Some(mut table) = root.table(report, name) else {
        if !present {
            root.error(report, name, format!("the [{name}] table is required"));
        }
        return None;
    };
    let value = read(&mut table, report);
    table.finish(report);
    value
}

fn read_config(path: &Path, root: &mut Fields<'_>, report: &mut Report) -> Option<Config> {
    let mailbox = required_table(root, report, "mailbox", read_mailbox);
    let smtp = required_table(root, report, "smtp", read_smtp);
    let store_path = required_table(root, report, "store", |t, report| {
        t.required_path(
            report,
            "path",
            "the SQLite file, such as /var/lib/switchboard/switchboard.db",
        )
    });
    let mut intake_table = root
        .table(report, "intake")
        .unwrap_or_else(|| Fields::new(path, "intake", toml::Table::new()));
    let intake = read_intake(&mut intake_table, report);
    intake_table.finish(report);

    let calendar = match root.table(report, "calendar") {
        Some(mut table) => {
            let calendar = crate::calendar::read_config(&mut table, report);
            table.finish(report);
            calendar
        }
        // The defaults of every key, the built-in holiday schedules among them.
        None => crate::calendar::read_config(
            &mut Fields::new(path, "calendar", toml::Table::new()),
            report,
        ),
    };

    let sla_table = root.table(report, "sla");
    let sla = intake
        .as_ref()
        .map(|i| sla::read_sla(sla_table, &i.rules, &i.triage_department, report));
    let replies = sla::read_replies(root.table(report, "replies"), report);
    let alerts = alerts::read_alerts(root.table(report, "alerts"), report);
    let retention = retention::read_retention(root.table(report, "retention"), report);
    let spam = spam::read_spam(root.table(report, "spam"), report);
    let web = web::read_web(root.table(report, "web"), path, report);
    let oauth2 = read_oauth2_table(path, root, report, mailbox.as_ref(), smtp.as_ref());

    let mut departments = Vec::new();
    for mut d in root.array_of_tables(report, "department") {
        if let Some(dep) = read_department(&mut d, report) {
            if departments.iter().any(|o: &Department| o.id == dep.id) {
                d.error(
                    report,
                    "id",
                    format!("department \"{}\" is defined twice", dep.id),
                );
            }
            departments.push(dep);
        }
        d.finish(report);
    }
    if departments.is_empty() {
        root.error(
            report,
            "department",
            "at least one [[department]] is required",
        );
    }
    if let Some(intake) = &intake
        && !departments.is_empty()
        && !departments.iter().any(|d| d.id == intake.triage_department)
    {
        report.errors.push(format!(
            "{}: intake.triage_department: expected the id of a [[department]], found \"{}\"",
            path.display(),
            intake.triage_department
        ));
    }
    if let Some(sla) = &sla
        && !departments.is_empty()
        && !departments.iter().any(|d| d.id == sla.survey_department)
    {
        report.errors.push(format!(
            "{}: sla.survey_department: expected the id of a [[department]], found \"{}\"",
            path.display(),
            sla.survey_department
        ));
    }
    Some(Config {
        file: path.to_path_buf(),
        mailbox: mailbox?,
        smtp: smtp?,
        store_path: store_path?,
        intake: intake?,
        calendar: calendar?,
        departments,
        sla: sla?,
        replies,
        alerts,
        retention,
        spam,
        web,
        oauth2,
    })
}

/// `[oauth2]`, required when a server has `auth = "oauth2"` and warned about when
/// nothing uses it.
fn read_oauth2_table(
    path: &Path,
    root: &mut Fields<'_>,
    report: &mut Report,
    mailbox: Option<&Mailbox>,
    smtp: Option<&Smtp>,
) -> Option<OAuth2> {
    let imap = mailbox.and_then(|m| match &m.kind {
        MailboxKind::Imap(s) => Some(s.auth),
        MailboxKind::Maildir(_) => None,
    });
    let submission = smtp.and_then(|s| match &s.transport {
        Transport::Smtp(s) => Some(s.auth),
        Transport::Maildir(_) => None,
    });
    let used = [imap, submission].contains(&Some(Auth::OAuth2));
    let present = root.has("oauth2");
    let table = root.table(report, "oauth2");
    let oauth2 = table.and_then(|mut t| {
        let o = oauth2::read_oauth2(&mut t, report);
        t.finish(report);
        o
    });
    if used && !present {
        root.error(
            report,
            "oauth2",
            "auth = \"oauth2\" needs an [oauth2] table (provider, client_id …)",
        );
    }
    if present && !used {
        report.warnings.push(format!(
            "{}: oauth2: no server has auth = \"oauth2\"; the table is not used",
            path.display()
        ));
    }
    oauth2
}

fn read_server(
    t: &mut Fields<'_>,
    report: &mut Report,
    default_port: u16,
    default_tls: Tls,
) -> Option<Server> {
    let host = t.required_string(report, "host");
    let port = t
        .integer(report, "port", 1, 65535)
        .map(|p| p as u16)
        .unwrap_or(default_port);
    let tls = match t
        .choice(report, "tls", &["implicit", "starttls", "none"])
        .as_deref()
    {
        Some("implicit") => Tls::Implicit,
        Some("starttls") => Tls::Starttls,
        Some("none") => Tls::None,
        _ => default_tls,
    };
    if let Some(host) = &host
        && tls == Tls::None
        && !is_loopback(host)
    {
        t.error(report, "tls", format!("\"none\" sends the password in clear text and is refused for {host}; it is allowed only for a loopback address such as 127.0.0.1"));
    }
    let ca_file = t.path(report, "ca_file");
    if ca_file.is_some() && tls == Tls::None {
        t.error(
            report,
            "ca_file",
            "is used only with tls = \"implicit\" or \"starttls\"",
        );
    }
    let username = t.string(report, "username");
    let auth = oauth2::read_auth(t, report);
    let password_file = t.path(report, "password_file");
    let password_env = t.string(report, "password_env");
    if t.has("password") {
        t.error(report, "password", "a password is never written in the config; use password_file = \"/path\" or password_env = \"VARIABLE\"");
        t.string(report, "password");
    }
    let password = match (password_file, password_env) {
        (Some(_), Some(_)) => {
            t.error(
                report,
                "password_file",
                "give either password_file or password_env, not both",
            );
            None
        }
        (Some(f), None) => Some(SecretSource::File(f)),
        (None, Some(e)) => Some(SecretSource::Env(e)),
        (None, None) => None,
    };
    if auth == Auth::OAuth2 {
        if password.is_some() {
            t.error(
                report,
                "password_file",
                "is not used with auth = \"oauth2\" (the access token comes from [oauth2]); remove it",
            );
        }
        if username.is_none() {
            t.error(
                report,
                "username",
                "auth = \"oauth2\" needs the mailbox's address, such as \"support@contoso.com\"",
            );
        }
    } else if username.is_some() && password.is_none() {
        t.error(
            report,
            "password_file",
            "a username needs password_file or password_env",
        );
    }
    Some(Server {
        host: host?,
        port,
        tls,
        username,
        password,
        auth,
        ca_file,
    })
}

pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn read_mailbox(t: &mut Fields<'_>, report: &mut Report) -> Option<Mailbox> {
    let kind = match t.choice(report, "kind", &["imap", "maildir"]).as_deref() {
        Some("maildir") => t
            .required_path(
                report,
                "path",
                "kind = \"maildir\" needs path = \"…\" (the Maildir folder)",
            )
            .map(MailboxKind::Maildir),
        _ => {
            let server = read_server(t, report, 993, Tls::Implicit);
            if let Some(s) = &server
                && s.username.is_none()
            {
                t.error(report, "username", "is required for kind = \"imap\"");
            }
            server.map(MailboxKind::Imap)
        }
    };
    let folder = t
        .string(report, "folder")
        .unwrap_or_else(|| "INBOX".to_string());
    let processed_folder = t
        .string(report, "processed_folder")
        .filter(|f| !f.is_empty());
    let quarantine_folder = t
        .string(report, "quarantine_folder")
        .filter(|f| !f.is_empty());
    // Set-aside mail leaves the inbox by default: the triage desk reads its list.
    let set_aside_folder = t
        .string(report, "set_aside_folder")
        .unwrap_or_else(|| "Switchboard/Not a case".to_string());
    let set_aside_folder = Some(set_aside_folder).filter(|f| !f.is_empty());
    let poll_interval = t
        .duration(report, "poll_interval")
        .unwrap_or(Duration::from_secs(30));
    let batch_size = t
        .integer(report, "batch_size", 1, 10_000)
        .map(|b| b as u32)
        .unwrap_or(200);
    // Levels are separated by '/' whatever the server uses (src/mailbox/folder.rs):
    // an empty level could not be sent to any server.
    for (key, name) in [
        ("folder", Some(&folder)),
        ("processed_folder", processed_folder.as_ref()),
        ("quarantine_folder", quarantine_folder.as_ref()),
    ] {
        if let Some(name) = name
            && name.split('/').any(str::is_empty)
        {
            t.error(report, key, format!("expected levels separated by single '/', such as \"客服/已处理\", found \"{name}\""));
        }
    }
    let support_email = t.string(report, "support_email");
    if let Some(a) = &support_email
        && !looks_like_address(a)
    {
        t.error(
            report,
            "support_email",
            format!("expected an email address such as \"it-admin@example.com\", found \"{a}\""),
        );
    }
    Some(Mailbox {
        kind: kind?,
        folder,
        processed_folder,
        quarantine_folder,
        set_aside_folder,
        poll_interval,
        batch_size,
        support_email,
    })
}

fn read_smtp(t: &mut Fields<'_>, report: &mut Report) -> Option<Smtp> {
    let transport = match t.choice(report, "kind", &["smtp", "maildir"]).as_deref() {
        Some("maildir") => t
            .required_path(
                report,
                "path",
                "kind = \"maildir\" needs path = \"…\" (where outgoing mail is written)",
            )
            .map(Transport::Maildir),
        _ => read_server(t, report, 587, Tls::Starttls).map(Transport::Smtp),
    };
    let from = match t.required_string(report, "from") {
        Some(f) => match f.parse::<lettre::message::Mailbox>() {
            Ok(m) => Some(m),
            Err(e) => {
                t.error(report, "from", format!("expected an address such as \"Customer Service <support@example.com>\" ({e})"));
                None
            }
        },
        None => None,
    };
    Some(Smtp {
        transport: transport?,
        from: from?,
    })
}

fn read_intake(t: &mut Fields<'_>, report: &mut Report) -> Option<Intake> {
    let rules = t.path_or(report, "rules", "rules");
    let templates = t.path_or(report, "templates", "templates");
    let triage_department = t
        .string(report, "triage_department")
        .unwrap_or_else(|| "customer-service".to_string());
    let lower = |v: Vec<String>| {
        v.into_iter()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
    };
    let internal_domains = lower(t.strings(report, "internal_domains"));
    let vip_customers = lower(t.strings(report, "vip_customers"));
    let suppliers = lower(t.strings(report, "suppliers"));
    let parties = t.path(report, "parties");
    let max_message_bytes = t
        .integer(report, "max_message_bytes", 1024, i64::MAX)
        .map(|v| v as u64)
        .unwrap_or(25 * 1024 * 1024);
    let max_acks = t
        .integer(report, "max_acks_per_sender_per_hour", 0, 1_000_000)
        .map(|v| v as u32)
        .unwrap_or(5);
    let case_prefix = t
        .string(report, "case_prefix")
        .unwrap_or_else(|| "SB".to_string());
    if case_prefix.is_empty() || !case_prefix.chars().all(|c| c.is_ascii_uppercase()) {
        t.error(
            report,
            "case_prefix",
            format!("expected capital letters A-Z such as \"SB\", found \"{case_prefix}\""),
        );
    }
    Some(Intake {
        rules,
        templates,
        triage_department,
        internal_domains,
        vip_customers,
        suppliers,
        parties,
        max_message_bytes,
        max_acks_per_sender_per_hour: max_acks,
        case_prefix,
        acknowledge_unclassified: t
            .boolean(report, "acknowledge_unclassified")
            .unwrap_or(true),
    })
}

fn read_department(t: &mut Fields<'_>, report: &mut Report) -> Option<Department> {
    let id = t.required_string(report, "id");
    if let Some(id) = &id
        && (id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        t.error(report, "id", format!("expected lower-case letters, digits and '-' such as \"customer-service\", found \"{id}\""));
    }
    let name = t.string(report, "name");
    let address = t
        .required_string(report, "address")
        .map(|a| a.trim().to_lowercase());
    if let Some(a) = &address
        && !looks_like_address(a)
    {
        t.error(
            report,
            "address",
            format!("expected an email address such as \"logistics@example.com\", found \"{a}\""),
        );
    }
    let managers = addresses(t, report, "managers");
    let members = addresses(t, report, "members");
    let aliases = t.strings(report, "aliases");
    let id = id?;
    Some(Department {
        name: name.unwrap_or_else(|| id.clone()),
        id,
        address: address?,
        managers,
        aliases,
        members,
    })
}

/// A list of addresses, lower-cased, each checked.
pub(crate) fn addresses(t: &mut Fields<'_>, report: &mut Report, key: &str) -> Vec<String> {
    let list: Vec<String> = t
        .strings(report, key)
        .into_iter()
        .map(|m| m.trim().to_lowercase())
        .collect();
    for (i, m) in list.iter().enumerate() {
        if !looks_like_address(m) {
            t.error(
                report,
                &format!("{key}[{i}]"),
                format!("expected an email address, found \"{m}\""),
            );
        }
    }
    list
}

fn looks_like_address(a: &str) -> bool {
    a.parse::<lettre::Address>().is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[mailbox]
kind = "imap"
host = "127.0.0.1"
port = 1993
tls = "none"
username = "support@example.com"
password_env = "SB_TEST_PW"
processed_folder = "Switchboard/Processed"
poll_interval = "10s"

[smtp]
host = "127.0.0.1"
tls = "none"
from = "Customer Service <support@example.com>"

[store]
path = "state/sb.db"

[intake]
triage_department = "customer-service"
internal_domains = ["Example.com"]

[[department]]
id = "customer-service"
name = "客服部 Customer Service"
address = "cs@example.com"
"#;

    #[test]
    fn reads_a_good_file() {
        let (config, report) = Config::parse(Path::new("/etc/sb/switchboard.toml"), GOOD);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let config = config.unwrap();
        assert_eq!(config.store_path, Path::new("/etc/sb/state/sb.db"));
        assert_eq!(config.intake.internal_domains, vec!["example.com"]);
        assert_eq!(config.mailbox.poll_interval, Duration::from_secs(10));
        assert_eq!(config.intake.rules, Path::new("/etc/sb/rules"));
        assert!(matches!(
            config.smtp.transport,
            Transport::Smtp(Server { port: 587, .. })
        ));
    }

    /// A config without `[calendar]` gets the built-in mainland schedules: a complaint
    /// on the Friday before the 2026 Spring Festival is due on the make-up Saturday,
    /// and the holiday itself is no working day. `holidays = []` means none.
    #[test]
    fn a_config_without_a_calendar_keeps_chinas_holidays_and_make_up_days() {
        use crate::calendar::{ClockKind, Span};
        use chrono::{NaiveDate, TimeZone};
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        let shanghai = chrono_tz::Asia::Shanghai;
        let friday_5pm = shanghai
            .with_ymd_and_hms(2026, 2, 13, 17, 0, 0)
            .unwrap()
            .to_utc();
        let due = |config: &Config| {
            config
                .calendar
                .add(friday_5pm, Span::Minutes(120), ClockKind::Business)
                .with_timezone(&shanghai)
                .to_rfc3339()
        };

        let (config, report) = Config::parse(Path::new("/etc/sb/switchboard.toml"), GOOD);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let config = config.unwrap();
        assert!(
            config.calendar.is_working_day(day(2, 14)),
            "make-up Saturday"
        );
        assert!(
            config.calendar.is_working_day(day(2, 28)),
            "make-up Saturday"
        );
        for d in 15..=23 {
            assert!(
                !config.calendar.is_working_day(day(2, d)),
                "Spring Festival 2-{d}"
            );
        }
        assert!(!config.calendar.is_working_day(day(10, 1)), "National Day");
        assert_eq!(due(&config), "2026-02-14T10:00:00+08:00");
        let years: Vec<i32> = config.calendar.years_covered().collect();
        assert_eq!(years, [2025, 2026]);
        assert!(
            config
                .calendar
                .schedules()
                .iter()
                .all(|s| crate::calendar::shipped::is_built_in(&s.path))
        );

        // An empty table is the same as none; `holidays = []` says "no holidays".
        let with = |calendar: &str| {
            let text = format!("{GOOD}\n[calendar]\n{calendar}\n");
            let (config, report) = Config::parse(Path::new("/etc/sb/switchboard.toml"), &text);
            assert!(report.errors.is_empty(), "{:?}", report.errors);
            config.unwrap()
        };
        assert_eq!(due(&with("")), "2026-02-14T10:00:00+08:00");
        let none = with("holidays = []");
        assert!(none.calendar.schedules().is_empty());
        assert!(!none.calendar.is_working_day(day(2, 14)));
        assert_eq!(due(&none), "2026-02-16T10:00:00+08:00");
        // Another time zone gets no mainland holidays.
        let berlin = with("timezone = \"Europe/Berlin\"");
        assert!(berlin.calendar.schedules().is_empty());
        // A list replaces the built-in schedules.
        let listed = with(&format!(
            "holidays = [\"{}/calendars/cn-2025.toml\"]",
            env!("CARGO_MANIFEST_DIR")
        ));
        let years: Vec<i32> = listed.calendar.years_covered().collect();
        assert_eq!(years, [2025]);
    }

    #[test]
    fn rspamd_ignores_what_it_cannot_judge_after_delivery_unless_told_otherwise() {
        let path = Path::new("/etc/sb/switchboard.toml");
        let with = |spam: &str| Config::parse(path, &format!("{GOOD}\n[spam]\n{spam}"));
        let (config, report) = with("rspamd = \"http://127.0.0.1:11333\"");
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let rspamd = config.unwrap().spam.rspamd.unwrap();
        assert_eq!(rspamd.ignored_symbols, spam::IGNORED_SYMBOLS);
        let (config, _) = with("rspamd = \"http://127.0.0.1:11333\"\nrspamd_ignore_symbols = []");
        assert!(
            config
                .unwrap()
                .spam
                .rspamd
                .unwrap()
                .ignored_symbols
                .is_empty()
        );
        // A name goes into a request header: nothing but a symbol's name.
        let (_, report) =
            with("rspamd = \"http://127.0.0.1:11333\"\nrspamd_ignore_symbols = [\"X\\\"]; }\"]");
        assert!(
            report
                .errors
                .iter()
                .any(|e| e.contains("spam.rspamd_ignore_symbols[0]")
                    && e.contains("capital letters")),
            "{:?}",
            report.errors
        );
    }

    #[test]
    fn rspamd_doubt_sets_aside_only_what_no_rule_claims_unless_told_otherwise() {
        let path = Path::new("/etc/sb/switchboard.toml");
        let with = |spam: &str| {
            Config::parse(
                path,
                &format!("{GOOD}\n[spam]\nrspamd = \"http://127.0.0.1:11333\"\n{spam}"),
            )
        };
        let (config, report) = with("");
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let rspamd = config.unwrap().spam.rspamd.unwrap();
        assert_eq!(rspamd.actions, ["reject", "add header"]);
        assert_eq!(
            rspamd.unclaimed_actions,
            ["reject", "add header", "greylist"]
        );
        // The stricter list follows the administrator's own, greylist added once.
        let (config, _) = with("rspamd_actions = [\"reject\", \"greylist\"]");
        let rspamd = config.unwrap().spam.rspamd.unwrap();
        assert_eq!(rspamd.unclaimed_actions, ["reject", "greylist"]);
        let (config, _) = with("rspamd_unclaimed_actions = [\"reject\"]");
        let rspamd = config.unwrap().spam.rspamd.unwrap();
        assert_eq!(rspamd.unclaimed_actions, ["reject"]);
        let (_, report) = with("rspamd_unclaimed_actions = [\"reject\", \"greylisted\"]");
        assert!(
            report.errors.iter().any(|e| e.contains("switchboard.toml")
                && e.contains("spam.rspamd_unclaimed_actions[1]")
                && e.contains("greylisted")),
            "{:?}",
            report.errors
        );
    }

    #[test]
    fn reports_every_problem_with_file_and_key() {
        let bad = GOOD
            .replace(
                "host = \"127.0.0.1\"\nport = 1993",
                "host = \"imap.example.com\"\nport = 99999",
            )
            .replace("password_env = \"SB_TEST_PW\"", "password = \"hunter2\"")
            .replace(
                "poll_interval = \"10s\"",
                "poll_interval = \"often\"\npoll_intervall = \"1s\"",
            );
        let (_, report) = Config::parse(Path::new("sb.toml"), &bad);
        let all = report.errors.join("\n");
        assert!(
            all.contains("sb.toml: mailbox.port: expected a number from 1 to 65535"),
            "{all}"
        );
        assert!(all.contains("sb.toml: mailbox.tls: \"none\""), "{all}");
        assert!(
            all.contains("sb.toml: mailbox.password: a password is never written"),
            "{all}"
        );
        assert!(
            all.contains("sb.toml: mailbox.poll_interval: expected a duration"),
            "{all}"
        );
        assert!(
            !all.contains("hunter2"),
            "the password leaked into an error: {all}"
        );
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("mailbox.poll_intervall: unknown key")),
            "{:?}",
            report.warnings
        );
    }

    #[test]
    fn oauth2_servers_need_the_table_a_username_and_no_password() {
        let oauth2 = GOOD.replace(
            "password_env = \"SB_TEST_PW\"",
            "auth = \"oauth2\"\npassword_env = \"SB_TEST_PW\"",
        );
        let (_, report) = Config::parse(Path::new("sb.toml"), &oauth2);
        let all = report.errors.join("\n");
        assert!(
            all.contains("sb.toml: oauth2: auth = \"oauth2\" needs an [oauth2] table"),
            "{all}"
        );
        assert!(
            all.contains("sb.toml: mailbox.password_file: is not used with auth = \"oauth2\""),
            "{all}"
        );

        let table = "\n[oauth2]\nprovider = \"microsoft\"\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"x\"\n";
        let good = GOOD
            .replace("password_env = \"SB_TEST_PW\"", "auth = \"oauth2\"")
            .replace(
                "tls = \"none\"\nfrom",
                "tls = \"none\"\nusername = \"support@example.com\"\nauth = \"oauth2\"\nfrom",
            )
            + table;
        let (config, report) = Config::parse(Path::new("sb.toml"), &good);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let config = config.unwrap();
        assert!(
            matches!(&config.mailbox.kind, MailboxKind::Imap(s) if s.auth == Auth::OAuth2 && s.password.is_none())
        );
        assert!(matches!(&config.smtp.transport, Transport::Smtp(s) if s.auth == Auth::OAuth2));
        assert_eq!(config.oauth2.unwrap().provider, Provider::Microsoft);

        let no_user = good.replace("username = \"support@example.com\"\nauth", "auth");
        let (_, report) = Config::parse(Path::new("sb.toml"), &no_user);
        assert!(report.errors.iter().any(|e| e.contains("smtp.username: auth = \"oauth2\" needs the mailbox's address")), "{:?}", report.errors);

        // A table nobody uses is warned about.
        let (_, report) = Config::parse(Path::new("sb.toml"), &format!("{GOOD}{table}"));
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("oauth2: no server has auth = \"oauth2\"")),
            "{:?}",
            report.warnings
        );
    }

    #[test]
    fn triage_department_must_exist() {
        let bad = GOOD.replace(
            "triage_department = \"customer-service\"",
            "triage_department = \"helpdesk\"",
        );
        let (_, report) = Config::parse(Path::new("sb.toml"), &bad);
        assert!(
            report
                .errors
                .iter()
                .any(|e| e.contains("intake.triage_department")),
            "{:?}",
            report.errors
        );
    }

    #[test]
    fn the_shipped_examples_are_valid() {
        for file in [
            "examples/switchboard.toml",
            "examples/demo/switchboard.toml",
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            // The production example's files are installed from the repository's
            // calendars/ and rules/.
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace(
                    "/etc/switchboard/calendars/",
                    concat!(env!("CARGO_MANIFEST_DIR"), "/calendars/"),
                )
                .replace(
                    "/etc/switchboard/rules/",
                    concat!(env!("CARGO_MANIFEST_DIR"), "/rules/"),
                );
            let (config, report) = Config::parse(&path, &text);
            assert!(
                report.errors.is_empty() && report.warnings.is_empty(),
                "{file}: {report:?}"
            );
            assert_eq!(config.unwrap().departments.len(), 12, "{file}");
        }
    }

    #[test]
    fn toml_syntax_errors_name_the_line() {
        let (_, report) = Config::parse(Path::new("sb.toml"), "[mailbox]\nkind = \n");
        assert!(
            report.errors[0].starts_with("sb.toml:2:"),
            "{:?}",
            report.errors
        );
    }
}
