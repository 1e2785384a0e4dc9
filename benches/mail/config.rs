//! Switchboard configs for the benchmark: the shipped rules, templates, SLA policies
//! and calendar, the twelve departments of the rules' test workload, and the stack's ports.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::mailbox::SUPPORT;
use crate::mailstack::MailStack;

pub enum In {
    /// The stack's IMAP INBOX of support@example.com.
    Imap { poll: &'static str },
    /// An empty Maildir: nothing to take in.
    Maildir(PathBuf),
}

pub enum Out {
    /// The stack's Postfix.
    Postfix,
    /// A loopback port nobody listens on: mail stays in the outbox.
    Nowhere(u16),
    /// Files in a Maildir.
    Maildir(PathBuf),
}

pub struct Setup<'a> {
    pub stack: &'a MailStack,
    pub dir: &'a Path,
    pub store: &'a Path,
    pub input: In,
    pub output: Out,
    /// A rules folder other than the shipped one.
    pub rules: Option<&'a Path>,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `dir/<name>.toml` and returns its path.
pub fn write(setup: &Setup<'_>, name: &str) -> Result<PathBuf> {
    let repo = repo();
    std::fs::create_dir_all(setup.dir)?;
    let secret = setup.dir.join("imap.secret");
    std::fs::write(&secret, format!("{}\n", MailStack::PASSWORD))?;
    let mailbox = match &setup.input {
        In::Imap { poll } => format!(
            "kind = \"imap\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"{SUPPORT}\"\npassword_file = \"{}\"\nfolder = \"INBOX\"\nprocessed_folder = \"Switchboard/Processed\"\nquarantine_folder = \"Switchboard/Quarantine\"\npoll_interval = \"{poll}\"\n",
            setup.stack.imap_port,
            secret.display()
        ),
        In::Maildir(path) => format!(
            "kind = \"maildir\"\npath = \"{}\"\nprocessed_folder = \"Switchboard/Processed\"\nquarantine_folder = \"Switchboard/Quarantine\"\n",
            path.display()
        ),
    };
    let from = format!("from = \"客户服务部 Customer Service <{SUPPORT}>\"");
    let smtp = match &setup.output {
        Out::Postfix => format!(
            "kind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n{from}\n",
            setup.stack.smtp_port
        ),
        Out::Nowhere(port) => {
            format!(
                "kind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n{from}\n"
            )
        }
        Out::Maildir(path) => format!(
            "kind = \"maildir\"\npath = \"{}\"\n{from}\n",
            path.display()
        ),
    };
    let departments = crate::workload::config_departments();
    let rules = setup
        .rules
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo.join("rules"));
    let text = format!(
        r#"# Written by benches/mail (the benchmark); see benches/run.sh.
[mailbox]
{mailbox}
[smtp]
{smtp}
[store]
path = "{store}"

[intake]
rules = "{rules}"
templates = "{templates}"
triage_department = "customer-service"
internal_domains = ["example.com"]
vip_customers = ["bigclient.com"]
max_acks_per_sender_per_hour = 5

[calendar]
timezone = "Asia/Shanghai"
holidays = ["{cal25}", "{cal26}"]

[sla]
policies = "{sla}"
escalation_contacts = ["general-manager@example.com"]
{departments}"#,
        store = setup.store.display(),
        rules = rules.display(),
        templates = repo.join("templates").display(),
        cal25 = repo.join("calendars/cn-2025.toml").display(),
        cal26 = repo.join("calendars/cn-2026.toml").display(),
        sla = repo.join("rules/sla.toml").display(),
    );
    let path = setup.dir.join(format!("{name}.toml"));
    std::fs::write(&path, text)?;
    Ok(path)
}

/// A loopback port that refuses connections (bound, then released).
pub fn dead_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
