//! The mail an incoming message causes — routing, acknowledgement, follow-ups, the
//! department's answer relayed to the customer, command errors — queued through the
//! shared [`Mailer`] in the same transaction as the change.

use std::borrow::Cow;

use anyhow::{Context, Result, bail};
use chrono::{Datelike, Utc};
use lettre::message::Mailbox;
use serde_json::{Value, json};

use crate::compose::{AutoSubmitted, Part};
use crate::config::{Config, Department};
use crate::message::Message;
use crate::message::attachments::{self, Carried};
use crate::message::html;
use crate::outgoing::{self, Letter, Mailer, Original, Parts, local_time, set};
use crate::store::{self, CaseRow};
use crate::templates::Templates;

/// What every outgoing message of one case change shares.
pub struct Change<'a> {
    pub mailer: Mailer<'a>,
    pub case: &'a CaseRow,
    pub msg: &'a Message,
    pub raw: &'a [u8],
    /// Identifies the incoming message: the cause of every mail queued here.
    pub dedup_key: &'a str,
}

/// Who the mail is for, which decides how it is threaded.
enum Audience<'a> {
    /// A department: carries its reply token, answers the incoming message.
    Department(&'a str),
    /// Whoever wrote the incoming message.
    Writer,
    /// The customer of the case, in the customer's thread (not the department's).
    Customer,
}

impl Change<'_> {
    pub fn context(&self, department: &Department) -> Value {
        context(
            self.mailer.config,
            self.case,
            self.msg,
            department,
            self.mailer.now,
        )
    }

    /// `template` names the kind of mail too: `ack.zh.txt` is an `ack`.
    fn send(
        &self,
        to: Mailbox,
        template: &str,
        ctx: Value,
        audience: Audience<'_>,
        auto: AutoSubmitted,
        attach: bool,
    ) -> Result<bool> {
        self.send_with(to, template, ctx, audience, auto, attach, &[])
    }

    /// [`Change::send`] with parts of the incoming message.
    #[allow(clippy::too_many_arguments)]
    fn send_with(
        &self,
        to: Mailbox,
        template: &str,
        ctx: Value,
        audience: Audience<'_>,
        auto: AutoSubmitted,
        attach: bool,
        parts: &[Part],
    ) -> Result<bool> {
        let kind = template.split('.').next().unwrap_or(template);
        let mut references: Vec<String> = Vec::new();
        let (in_reply_to, department) = match audience {
            Audience::Customer => {
                let first = self.case.message_ids.first().map(String::as_str);
                references.extend(first.map(str::to_string));
                (first, None)
            }
            Audience::Writer | Audience::Department(_) => {
                references.extend(self.msg.references.iter().cloned());
                references.extend(self.msg.message_id.clone());
                let department = match audience {
                    Audience::Department(d) => Some(d),
                    _ => None,
                };
                (self.msg.message_id.as_deref(), department)
            }
        };
        self.mailer.queue(Letter {
            kind,
            case: Some(self.case),
            to,
            template,
            context: Cow::Owned(ctx),
            auto,
            cause: self.dedup_key,
            in_reply_to,
            references: &references,
            original: attach.then_some(Original {
                raw: self.raw,
                ledger_key: self.dedup_key,
            }),
            parts: (!parts.is_empty()).then_some(Parts {
                parts,
                ledger_key: self.dedup_key,
            }),
            department,
        })
    }

    /// The parts of the incoming message worth passing on, and its HTML cut to the
    /// writer's own words and sanitised. An image whose Content-ID only the quoted
    /// history shows (a signature in the quote, a logo of an earlier mail) is not
    /// passed on; one the kept HTML shows goes inline when `inline`, with a
    /// Content-ID of ours (eight hex digits of the message's key in it, so that one
    /// mail's parts differ from another's); everything else is an attachment.
    fn carried(&self, inline: bool) -> (Vec<Part>, Option<String>) {
        let Carried { found, html } = attachments::read(self.raw);
        let trimmed = html.as_deref().map(html::trim);
        let domain = self.mailer.config.smtp.from.email.domain().to_string();
        let mut cids = std::collections::HashMap::new();
        let mut parts = Vec::new();
        for (n, f) in found.into_iter().enumerate() {
            let mut part = f.part;
            if let (Some(cid), Some(t)) = (&f.cid, &trimmed) {
                let kept = t.kept_cids.contains(cid);
                if !kept && (t.all_cids.contains(cid) || !f.attachment) {
                    continue;
                }
                if kept && inline {
                    let ours = format!(
                        "part{}.{}@{domain}",
                        n + 1,
                        crate::digest::sha256_prefix(self.dedup_key, 4)
                    );
                    cids.insert(cid.clone(), ours.clone());
                    part.content_id = Some(ours);
                }
            }
            parts.push(part);
        }
        let html = trimmed
            .map(|t| html::sanitise(&t.html, &cids))
            .filter(|h| !html::to_text(h).trim().is_empty() || !cids.is_empty());
        (parts, html)
    }

    /// The case record to the department, with the original attached.
    pub fn route(&self, department: &Department) -> Result<bool> {
        let to = outgoing::mailbox(&department.name, &department.address)?;
        self.send(
            to,
            "route.txt",
            self.context(department),
            Audience::Department(&department.id),
            AutoSubmitted::AutoGenerated,
            true,
        )
    }

    /// A later message of an open case, passed on to the department that has it,
    /// with its attachments as attachments of this mail (a photo opens with one
    /// click) and the original still as message/rfc822. Over `max_relay_bytes`
    /// the original alone carries them.
    pub fn follow_up(&self, department: &Department) -> Result<bool> {
        let to = outgoing::mailbox(&department.name, &department.address)?;
        let (mut parts, _) = self.carried(false);
        if total(&parts) > self.mailer.config.replies.max_relay_bytes {
            parts.clear();
        }
        let mut ctx = self.context(department);
        set(&mut ctx, "attached", listing(&parts));
        self.send_with(
            to,
            "follow_up.txt",
            ctx,
            Audience::Department(&department.id),
            AutoSubmitted::AutoGenerated,
            true,
            &parts,
        )
    }

    /// The templated answer to the sender, in the sender's language.
    pub fn acknowledge(
        &self,
        department: &Department,
        to: &crate::message::Address,
        language: &str,
        late: Option<&Value>,
    ) -> Result<bool> {
        let to = outgoing::mailbox(to.name.as_deref().unwrap_or(""), &to.email)?;
        let mut ctx = self.context(department);
        // A set-aside message opened as a case: the answer says it is late, and why.
        set(&mut ctx, "late", late.cloned().unwrap_or(Value::Null));
        self.send(
            to,
            &format!("ack.{language}.txt"),
            ctx,
            Audience::Writer,
            AutoSubmitted::AutoReplied,
            false,
        )
    }

    /// The department's words to the customer, from the shared address, with the
    /// reply's attachments and the images its own words show; its HTML, cut to
    /// those words and sanitised, is `reply.html` for relay.html. Over
    /// `[replies] max_relay_bytes` the customer gets the words alone and the writer
    /// is told what was not sent and why (relay_limit.txt), in the same
    /// transaction.
    pub fn relay(&self, department: &Department, text: &str) -> Result<bool> {
        let to = outgoing::mailbox(
            self.case.sender_name.as_deref().unwrap_or(""),
            &self.case.sender,
        )?;
        let inline = self.mailer.templates.has_html("relay.txt");
        let (mut parts, html) = self.carried(inline);
        let limit = self.mailer.config.replies.max_relay_bytes;
        let size = total(&parts);
        let mut ctx = self.context(department);
        if size > limit {
            let withheld = parts.clone();
            parts.clear();
            let writer = outgoing::mailbox(
                self.msg.from.name.as_deref().unwrap_or(""),
                &self.msg.from.email,
            )?;
            let mut notice = ctx.clone();
            set(
                &mut notice,
                "withheld",
                json!({ "attachments": listing(&withheld), "total": megabytes(size),
                        "limit": megabytes(limit) }),
            );
            set(&mut notice, "reply", reply_context(text, None));
            self.send(
                writer,
                "relay_limit.txt",
                notice,
                Audience::Writer,
                AutoSubmitted::AutoReplied,
                false,
            )?;
        }
        // Without the attachments, the inline images go too: the HTML would show
        // holes. The text says the same either way.
        let html = html.filter(|_| !parts.is_empty() || size <= limit);
        set(&mut ctx, "reply", reply_context(text, html.as_deref()));
        set(
            &mut ctx,
            "attached",
            listing(
                &parts
                    .iter()
                    .filter(|p| p.content_id.is_none())
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
        );
        // Written by a person: not Auto-Submitted (RFC 3834 §5 — it is their answer).
        self.send_with(
            to,
            "relay.txt",
            ctx,
            Audience::Customer,
            AutoSubmitted::No,
            false,
            &parts,
        )
    }

    /// A reply whose commands were not understood or not allowed: nothing changed, and
    /// the writer is told why and what is valid.
    pub fn command_error(&self, department: &Department, errors: &[String]) -> Result<bool> {
        let to = outgoing::mailbox(
            self.msg.from.name.as_deref().unwrap_or(""),
            &self.msg.from.email,
        )?;
        let mut ctx = self.context(department);
        set(&mut ctx, "reply", json!({ "text": "", "errors": errors }));
        self.send(
            to,
            "command_error.txt",
            ctx,
            Audience::Writer,
            AutoSubmitted::AutoReplied,
            false,
        )
    }

    /// A customer's 一般/不满意 survey answer, to the customer-service managers.
    pub fn survey_escalation(
        &self,
        department: &Department,
        to: &[String],
        answer: &str,
    ) -> Result<()> {
        let mut ctx = self.context(department);
        set(
            &mut ctx,
            "escalation",
            json!({ "level": 1, "reason": format!("满意度回访 satisfaction: {answer}") }),
        );
        set(
            &mut ctx,
            "deadline",
            json!({ "label": "满意度回访 satisfaction callback", "milestone": "satisfaction",
            "started_at": "", "due_at": "", "state": "answered", "delay_reason": "", "delay_late": false }),
        );
        for address in to {
            self.send(
                outgoing::mailbox("", address)?,
                "escalation.txt",
                ctx.clone(),
                Audience::Department(&department.id),
                AutoSubmitted::AutoGenerated,
                false,
            )?;
        }
        Ok(())
    }
}

/// Everything a template may use. Documented in README.md, "Templates".
pub fn context(
    config: &Config,
    case: &CaseRow,
    msg: &Message,
    department: &Department,
    now: chrono::DateTime<Utc>,
) -> Value {
    // A slice, not a string built char by char (1.6% of a text-only intake); a body
    // of at most as many bytes as the excerpt has characters is whole.
    let excerpt_end = if msg.body.len() <= EXCERPT_CHARS {
        msg.body.len()
    } else {
        msg.body
            .char_indices()
            .nth(EXCERPT_CHARS)
            .map_or(msg.body.len(), |(at, _)| at)
    };
    let body_excerpt = msg.body.get(..excerpt_end).unwrap_or_default();
    let mut ctx = json!({
        "sender": {
            "name": msg.from.name.clone().unwrap_or_default(),
            "email": msg.from.email,
            "display": display(&msg.from.name, &msg.from.email),
        },
        "message": {
            "subject": msg.subject,
            "body": body_excerpt,
            "received_at": local_time(config, now.timestamp()),
            "attachments": msg.attachment_count,
            "message_id": msg.message_id.clone().unwrap_or_default(),
        },
    });
    // Moved in, not written inside `json!`: the macro serialises a `Value` it is
    // given into a new one and drops the first, which was two fifths of this
    // function, on the store's thread, twice a case.
    set(&mut ctx, "case", outgoing::case_context(config, case));
    set(
        &mut ctx,
        "department",
        outgoing::department_context(department),
    );
    set(&mut ctx, "company", outgoing::company_context(config));
    ctx
}

/// How much of the incoming body a template gets, in characters.
const EXCERPT_CHARS: usize = 4000;

/// `reply` in a template's context: the text, its lines (for HTML paragraphs), the
/// sanitised HTML ("" without one), no errors.
fn reply_context(text: &str, html: Option<&str>) -> Value {
    json!({ "text": text, "lines": text.lines().collect::<Vec<_>>(),
            "html": html.unwrap_or(""), "errors": [] })
}

/// The decoded size of all the parts.
fn total(parts: &[Part]) -> u64 {
    parts.iter().map(|p| p.size as u64).sum()
}

/// `[{name, size}]` for templates, the size as people write it.
fn listing(parts: &[Part]) -> Value {
    Value::Array(
        parts
            .iter()
            .map(|p| json!({ "name": p.name, "size": megabytes(p.size as u64) }))
            .collect(),
    )
}

/// "2.5 MB", "120 KB".
fn megabytes(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

fn display(name: &Option<String>, email: &str) -> String {
    match name {
        Some(n) => format!("{n} <{email}>"),
        None => email.to_string(),
    }
}

/// Renders every template (and its HTML sibling) with a sample case, so that `check`
/// finds a template that names a variable that does not exist before any customer
/// would.
pub fn sample_render(config: &Config, templates: &Templates) -> Result<()> {
    sample_renders(config, templates, "货物延迟 / late delivery").map(|_| ())
}

/// [`sample_render`] with the sample message's subject, returning each rendering.
pub fn sample_renders(
    config: &Config,
    templates: &Templates,
    subject: &str,
) -> Result<Vec<(&'static str, crate::templates::Rendered)>> {
    let department = config.departments.first().context("no department")?;
    let subject = crate::message::clean_text(subject, 200).replace(['\r', '\n'], " ");
    let raw = format!(
        "From: 张三 <zhang@client.example>\r\nSubject: {subject}\r\nMessage-ID: <sample@client.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n我们的订单还没到。\r\n{subject}\r\n"
    );
    let msg = Message::parse(raw.as_bytes()).map_err(|e| anyhow::anyhow!(e))?;
    let now = Utc::now();
    let case = store::CaseRow {
        id: 0,
        case: format!("{}-{}-000001", config.intake.case_prefix, now.year()),
        category: "complaint".into(),
        priority: "urgent".into(),
        department: department.id.clone(),
        status: "new".into(),
        sender: msg.from.email.clone(),
        sender_name: msg.from.name.clone(),
        subject: msg.subject.clone(),
        language: "zh".into(),
        rules: vec!["sample".into()],
        opened_at: now.timestamp(),
        updated_at: now.timestamp(),
        message_ids: vec![],
        parent: None,
        resolved_at: None,
        satisfaction: None,
        involved: vec![],
    };
    let mut ctx = context(config, &case, &msg, department, now);
    let deadline = json!({ "label": "初步分析 initial analysis", "milestone": "analysis",
        "started_at": "2026-11-27 09:00", "due_at": "2026-11-27 11:00", "state": "missed",
        "delay_reason": "素材未到位", "delay_late": true });
    set(
        &mut ctx,
        "reply",
        json!({ "text": "您好，原因已查明。\n整改报告见附件。", "lines": ["您好，原因已查明。", "整改报告见附件。"],
                "html": "<p>您好，<b>原因已查明</b>。</p>", "errors": ["Status: expected one of …"] }),
    );
    set(
        &mut ctx,
        "attached",
        json!([{ "name": "整改报告.xlsx", "size": "24 KB" }, { "name": "photo.jpg", "size": "1.2 MB" }]),
    );
    set(
        &mut ctx,
        "withheld",
        json!({ "attachments": [{ "name": "video.mp4", "size": "48.0 MB" }], "total": "48.0 MB", "limit": "20.0 MB" }),
    );
    set(&mut ctx, "deadline", deadline.clone());
    set(
        &mut ctx,
        "escalation",
        json!({ "level": 1, "reason": "初步分析 initial analysis missed" }),
    );
    let digest = json!({ "date": "2026-11-27 15:00", "count": 1, "requests": [{
        "case": ctx.get("case").cloned().unwrap_or_default(),
        "department": ctx.get("department").cloned().unwrap_or_default(),
        "departments": ["设计部 Design", "销售部 Sales"],
        "milestones": [deadline.clone()],
        "overdue": [deadline],
    }]});
    set(&mut ctx, "digest", digest);
    set(
        &mut ctx,
        "alert",
        json!({ "title": "Mailbox not read for 20 minutes", "detail": "IMAP: connection refused",
                "key": "mailbox", "raised_at": "2026-11-27 09:30",
                "repeat_zh": "在恢复之前不会重复提醒",
                "repeat_en": "not alerted again until it has recovered" }),
    );
    set(
        &mut ctx,
        "list",
        json!({ "date": "2026-11-27 09:30", "count": 1, "folder": "Switchboard/Not a case",
                "items": [{ "number": 1, "id": 42, "received_at": "2026-11-26 22:10",
                            "sender": "deals@shop.example", "subject": "Weekly picks",
                            "reason": "rule \"Newsletter or marketing footer\"" }] }),
    );
    set(
        &mut ctx,
        "late",
        json!({ "received_at": "2026-11-26 22:10", "reason": "set aside as not a case: rule \"Spam\"" }),
    );
    set(
        &mut ctx,
        "report",
        json!({ "from": "2026-11-23", "to": "2026-11-29", "prev_from": "2026-11-16", "prev_to": "2026-11-22",
            "departments": ["物流部 Logistics"],
            "lines": [{ "department": "物流部 Logistics", "milestone": "初步分析 initial analysis",
                "week": { "met": 3, "missed": 1, "pending": 0, "pct": 75, "median": 40, "p90": 110 },
                "before": { "met": 2, "missed": 0, "pending": 0, "pct": 100, "median": null, "p90": null } }],
            "missed": [{ "case": "SB-2026-000001", "subject": subject, "department": "物流部 Logistics",
                "milestone": "初步分析 initial analysis", "due": "2026-11-24 11:00", "state": "missed" }],
            "satisfaction": [{ "answer": "satisfied", "count": 2 }] }),
    );
    let mut problems = Vec::new();
    let mut rendered = Vec::new();
    for name in crate::templates::REQUIRED {
        match templates.render(name, &ctx) {
            Ok(r) => rendered.push((*name, r)),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    if problems.is_empty() {
        Ok(rendered)
    } else {
        bail!("{}", problems.join("\n"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use std::path::Path;

    use crate::compose::{AutoSubmitted, Draft, build};
    use crate::config::Config;
    use crate::templates::{REQUIRED, Templates, html_sibling};

    /// The context has every part a template may use, and the body up to its excerpt:
    /// whole when it is short, cut at a character (not a byte) when it is long.
    #[test]
    fn the_context_has_every_part_and_the_body_up_to_its_excerpt() {
        use chrono::Utc;

        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (config, _) = Config::load(&repo.join("examples/demo/switchboard.toml")).unwrap();
        let department = config.departments.first().unwrap();
        let case = crate::store::CaseRow {
            id: 1,
            case: "SB-2026-000001".into(),
            category: "complaint".into(),
            priority: "normal".into(),
            department: department.id.clone(),
            status: "new".into(),
            sender: "zhang@client.example".into(),
            sender_name: None,
            subject: "货没到".into(),
            language: "zh".into(),
            rules: vec![],
            opened_at: 0,
            updated_at: 0,
            message_ids: vec![],
            parent: None,
            resolved_at: None,
            satisfaction: None,
            involved: vec![],
        };
        let excerpt = |body: &str| {
            let raw = format!(
                "From: zhang@client.example\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
            );
            let msg = crate::message::Message::parse(raw.as_bytes()).unwrap();
            let ctx = super::context(&config, &case, &msg, department, Utc::now());
            assert_eq!(ctx["case"]["number"], "SB-2026-000001");
            assert_eq!(ctx["department"]["id"], department.id.as_str());
            assert_eq!(
                ctx["company"]["address"],
                config.smtp.from.email.to_string()
            );
            assert_eq!(ctx["sender"]["email"], "zhang@client.example");
            ctx["message"]["body"].as_str().unwrap().to_string()
        };
        let short = "a".repeat(super::EXCERPT_CHARS - 1);
        assert_eq!(excerpt(&short).trim_end(), short);
        // 5,000 characters of three bytes each: 4,000 of them, all whole.
        let long = "货".repeat(5000);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), super::EXCERPT_CHARS);
        assert!(cut.chars().all(|c| c == '货'));
    }

    /// Every shipped HTML template renders, escapes what came from mail, and makes
    /// multipart/alternative with the text first.
    #[test]
    fn every_shipped_html_template_escapes_and_goes_after_its_text() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (config, _) = Config::load(&repo.join("examples/demo/switchboard.toml")).unwrap();
        let templates = Templates::load(&repo.join("templates")).unwrap();
        let hostile = "<script>alert(\"x\")</script> \"quoted\" & 'single' <b>bold</b>";
        let rendered = super::sample_renders(&config, &templates, hostile).unwrap();
        let shipped: Vec<&str> = REQUIRED
            .iter()
            .copied()
            .filter(|n| repo.join("templates").join(html_sibling(n)).is_file())
            .collect();
        for kind in [
            "ack.zh",
            "ack.en",
            "route",
            "relay",
            "escalation",
            "digest",
            "weekly_report",
        ] {
            assert!(
                shipped.contains(&format!("{kind}.txt").as_str()),
                "{kind}.html is shipped"
            );
        }
        let from = crate::outgoing::mailbox("客服部", "support@example.com").unwrap();
        for (name, r) in rendered {
            let Some(html) = r.html.as_deref() else {
                assert!(!shipped.contains(&name), "{name}");
                continue;
            };
            assert!(!html.contains("<script"), "{name}: {html}");
            assert!(!html.contains("<b>bold"), "{name}");
            assert!(
                !html.contains("src=\"http") && !html.contains("<img"),
                "{name}: no images"
            );
            assert!(html.contains("<table"), "{name}: a table layout");
            if html.contains("案件编号") || name.starts_with("ack") || name == "route.txt" {
                assert!(
                    html.contains("font-size:24px"),
                    "{name}: the number stands out"
                );
            }
            // The sample subject is in every one of them, escaped.
            assert!(
                html.contains("&lt;script&gt;"),
                "{name}: the subject, escaped:\n{html}"
            );
            let mail = build(&Draft {
                from: &from,
                to: crate::outgoing::mailbox("张三", "zhang@client.example").unwrap(),
                reply_to: None,
                subject: &r.subject,
                body: &r.body,
                html: Some(html),
                parts: &[],
                message_id: "x.1@example.com",
                in_reply_to: None,
                references: &[],
                auto_submitted: AutoSubmitted::AutoReplied,
                case_number: "SB-2026-000001",
                date: std::time::SystemTime::UNIX_EPOCH,
                original: None,
            })
            .unwrap();
            let parsed = mail_parser::MessageParser::default()
                .parse(&mail.bytes)
                .unwrap();
            let root = parsed.root_part();
            use mail_parser::MimeHeaders;
            assert_eq!(
                root.content_type().unwrap().subtype(),
                Some("alternative"),
                "{name}"
            );
            let types: Vec<String> = parsed.parts[1..]
                .iter()
                .map(|p| {
                    p.content_type()
                        .and_then(|c| c.subtype())
                        .unwrap_or("")
                        .to_string()
                })
                .collect();
            assert_eq!(types, ["plain", "html"], "{name}");
        }
    }
}
