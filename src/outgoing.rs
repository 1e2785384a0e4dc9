//! Every mail Switchboard sends is queued here: rendered from a template, built into
//! bytes, given a Message-ID derived from its cause, and written to the outbox in
//! the caller's transaction (DESIGN.md, invariant 1). Because the Message-ID comes
//! from the cause, the same cause — a message seen twice, a timer fired again after
//! a crash — cannot queue the same mail twice (invariant 2).
//!
//! Mail to a department carries a reply token: in its Message-ID (which the reply's
//! In-Reply-To and References repeat) and, where the server supports subaddressing,
//! in its Reply-To. A department's reply is recognised by that token and by its
//! sender, never by a From header alone (invariant 6).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use rusqlite::Connection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::compose::{self, AutoSubmitted, Draft};
use crate::config::{Config, Department};
use crate::reply::token;
use crate::store::outbox::{self, NewOutgoing};
use crate::store::{self, CaseRow};
use crate::templates::Templates;
use crate::thread::CaseTags;

/// What one mail needs beyond the shared setup.
pub struct Letter<'a> {
    /// `ack`, `route`, `relay`, `reminder`… — stored in the outbox, part of the ID.
    pub kind: &'a str,
    /// `None` only for mail about many cases (the digest).
    pub case: Option<&'a CaseRow>,
    pub to: Mailbox,
    pub template: &'a str,
    pub context: &'a Value,
    pub auto: AutoSubmitted,
    /// Identifies what caused this mail (an incoming message, a timer); with the kind
    /// and the recipient it makes the Message-ID.
    pub cause: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    /// Attached as message/rfc822.
    pub original: Option<&'a [u8]>,
    /// Mail to this department carries its reply token.
    pub department: Option<&'a str>,
}

/// The shared setup for queueing mail within one transaction.
pub struct Mailer<'a> {
    pub conn: &'a Connection,
    pub config: &'a Config,
    pub templates: &'a Templates,
    /// The key reply tokens are made with (kept in the store, see `reply_key`).
    pub token_key: &'a [u8],
    pub now: DateTime<Utc>,
}

impl Mailer<'_> {
    /// Queues one mail. `Ok(false)`: this exact mail was queued before.
    pub fn queue(&self, l: &Letter<'_>) -> Result<bool> {
        let rendered = self.templates.render(l.template, l.context)?;
        let number = l.case.map(|c| c.case.as_str()).unwrap_or("");
        let subject = if number.is_empty() {
            rendered.subject
        } else {
            compose::ensure_tag(&rendered.subject, &CaseTags::tag(number))
        };
        let recipient = l.to.email.to_string().to_lowercase();
        let unique = {
            let digest = Sha256::digest(format!("{}\n{}\n{recipient}", l.kind, l.cause));
            digest
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let domain = self.config.smtp.from.email.domain();
        let shared = Mailbox::new(
            self.config.smtp.from.name.clone(),
            self.config.smtp.from.email.clone(),
        );
        let (message_id, reply_to) = match (l.case, l.department) {
            (Some(case), Some(department)) => {
                let tok = token::token(self.token_key, &case.case, department);
                let id = token::route_message_id(&case.case, department, &tok, &unique, domain)
                    .trim_matches(['<', '>'])
                    .to_string();
                let reply_to = match self.config.replies.subaddress_delimiter {
                    Some(delim) => {
                        let local = token::subaddress(
                            self.config.smtp.from.email.user(),
                            delim,
                            &case.case,
                            department,
                            &tok,
                        );
                        format!("{local}@{domain}")
                            .parse()
                            .map(|a| Mailbox::new(self.config.smtp.from.name.clone(), a))
                            .unwrap_or(shared)
                    }
                    None => shared,
                };
                (id, reply_to)
            }
            _ => {
                let what = if number.is_empty() { "all" } else { number };
                (format!("{}.{what}.{unique}@{domain}", l.kind), shared)
            }
        };
        let content = compose::build(&Draft {
            from: &self.config.smtp.from,
            to: l.to.clone(),
            reply_to: Some(reply_to),
            subject: &subject,
            body: &rendered.body,
            message_id: &message_id,
            in_reply_to: l.in_reply_to,
            references: l.references,
            auto_submitted: l.auto,
            case_number: number,
            date: self.now.into(),
            original: l.original,
        })
        .with_context(|| format!("Cannot compose the {} mail of case {number}", l.kind))?;
        // Our own Message-IDs belong to the case too: a reply that keeps only
        // In-Reply-To (a client that drops References and edits the subject) still
        // finds its case.
        if let Some(case) = l.case {
            store::cases::add_message_id(self.conn, &message_id, case.id)?;
        }
        outbox::insert(
            self.conn,
            &NewOutgoing {
                case_id: l.case.map(|c| c.id),
                kind: l.kind,
                message_id: &message_id,
                envelope_from: self.config.smtp.from.email.as_ref(),
                recipients: &[recipient],
                content: &content,
                at: self.now.timestamp(),
            },
        )
    }
}

/// The key reply tokens are made with: 32 random bytes made on first use and kept in
/// the store, so that tokens survive a restart and nobody has to configure a secret.
pub fn reply_key(conn: &Connection) -> Result<Vec<u8>> {
    if let Some(key) = store::deadlines::meta_get(conn, "reply_token_key")? {
        return Ok(key);
    }
    let mut key = vec![0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .context("Cannot read /dev/urandom for the reply-token key")?;
    store::deadlines::meta_set(conn, "reply_token_key", &key)?;
    Ok(key)
}

/// "2026-11-27 09:30" in the company's time zone.
pub fn local_time(config: &Config, t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|t| {
            t.with_timezone(&config.calendar.tz())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// What every template may say about a case. Documented in README.md, "Templates".
pub fn case_context(config: &Config, case: &CaseRow) -> Value {
    let category = crate::case::Category::parse(&case.category);
    let priority = crate::case::Priority::parse(&case.priority);
    let status = crate::case::Status::parse(&case.status);
    json!({
        "number": case.case,
        "tag": CaseTags::tag(&case.case),
        "category": case.category,
        "category_zh": category.map(|c| c.label_zh()).unwrap_or(""),
        "category_en": category.map(|c| c.label_en()).unwrap_or(""),
        "priority": case.priority,
        "priority_zh": priority.map(|p| p.label_zh()).unwrap_or(""),
        "status": case.status,
        "status_zh": status.map(|s| s.label_zh()).unwrap_or(""),
        "subject": case.subject,
        "opened_at": local_time(config, case.opened_at),
        "rules": case.rules,
        "language": case.language,
        "sender": case.sender,
        "sender_name": case.sender_name.clone().unwrap_or_default(),
        "parent": case.parent.clone().unwrap_or_default(),
    })
}

pub fn department_context(department: &Department) -> Value {
    json!({ "id": department.id, "name": department.name, "address": department.address })
}

pub fn company_context(config: &Config) -> Value {
    json!({
        "name": config.smtp.from.name.clone().unwrap_or_default(),
        "address": config.smtp.from.email.to_string(),
    })
}

/// Adds or replaces one key of a template context (an object by construction).
pub fn set(ctx: &mut Value, key: &str, value: Value) {
    if let Some(map) = ctx.as_object_mut() {
        map.insert(key.to_string(), value);
    }
}

/// A mailbox we can send to, or an error that names the address.
pub fn mailbox(name: &str, email: &str) -> Result<Mailbox> {
    let address: lettre::Address = email
        .parse()
        .with_context(|| format!("\"{email}\" is not an address we can send to"))?;
    let name = name.trim();
    Ok(Mailbox::new(
        (!name.is_empty()).then(|| name.to_string()),
        address,
    ))
}
