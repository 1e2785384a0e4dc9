//! Taking a message in: record it, thread it, classify it, open or update its case,
//! and queue the mail that follows — all in the caller's transaction, so that the
//! message, the case change, the outgoing mail and the mailbox checkpoint are
//! committed together or not at all (DESIGN.md, invariant 1).
//!
//! Each message runs inside a savepoint: if anything about one message fails (a
//! template that cannot render, an address we cannot send to), that message alone is
//! quarantined with the reason and the batch goes on (invariant 4).

mod bounce;
mod contact;
mod correction;
mod customer;
mod department;
mod follow_up;
mod identity;
mod open_case;
mod outgoing;
mod prepare;
mod release;
mod rspamd;
pub mod screen;
mod set_aside;

pub use identity::dedup_key;
pub use prepare::Prepared;
use prepare::PreparedDates;
pub use release::Released;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use crate::config::Config;
use crate::deadlines::Clockwork;
use crate::message::Message;
use crate::outgoing::Mailer;
use crate::outgoing::composer::{self, Composer, NotComposed};
use crate::rules::{self, Classification, RuleSet};
use crate::sla::Policies;
use crate::store::{self, Outcome, duplicates, mailbox_state, messages};
use crate::templates::Templates;
use crate::thread::{self, CaseTags};

/// A message as a mailbox hands it over.
pub struct Incoming {
    /// The IMAP UID; `None` for a Maildir file.
    pub uid: Option<u32>,
    /// The whole message, or only its header when it is over the size limit.
    pub raw: Vec<u8>,
    /// Set when the message is larger than `max_message_bytes`: its real size.
    pub too_large: Option<u64>,
}

/// Where a batch came from, for the ledger and the checkpoint.
pub struct Source {
    pub mailbox: String,
    pub uidvalidity: Option<u32>,
}

/// What became of one message: logged, and printed by `run --once`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub uid: Option<u32>,
    /// `case`, `follow_up`, `ignored`, `quarantined`, or `duplicate` (seen before).
    pub outcome: &'static str,
    pub case: Option<String>,
    pub category: Option<String>,
    pub priority: Option<String>,
    pub department: Option<String>,
    pub acknowledged: bool,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub reason: Option<String>,
}

impl Report {
    fn new(uid: Option<u32>, outcome: &'static str) -> Report {
        Report {
            uid,
            outcome,
            case: None,
            category: None,
            priority: None,
            department: None,
            acknowledged: false,
            sender: None,
            subject: None,
            reason: None,
        }
    }

    /// Where the message goes on the server once this is committed.
    pub fn target<'c>(&self, config: &'c Config) -> Option<&'c str> {
        if self.outcome == Outcome::Quarantined.as_str() {
            config.mailbox.quarantine_folder.as_deref()
        } else if self.outcome == Outcome::SetAside.as_str() {
            config
                .mailbox
                .set_aside_folder
                .as_deref()
                .or(config.mailbox.processed_folder.as_deref())
        } else {
            config.mailbox.processed_folder.as_deref()
        }
    }
}

/// One message being taken in: where it came from, and the savepoint it is in.
struct Step<'a> {
    conn: &'a Connection,
    src: &'a Source,
    inc: &'a Incoming,
    dedup_key: &'a str,
    /// The rules' verdict, worked out beforehand (see [`Prepared`]).
    class: Option<&'a Classification>,
    /// A request's dates, read beforehand (see [`PreparedDates`]).
    dates: Option<&'a PreparedDates>,
    now: DateTime<Utc>,
    token_key: &'a [u8],
    /// Where its mail is composed, when not in place.
    composer: Option<&'a Composer<'a>>,
    /// Set when a set-aside message is opened as a case after all: why it is late.
    late: Option<&'a serde_json::Value>,
    /// Rspamd's reason to set it aside (see [`Prepared`]).
    rspamd: Option<&'a str>,
}

impl Step<'_> {
    /// Writes the ledger row of the message.
    fn record(
        &self,
        msg: &Message,
        outcome: Outcome,
        case_id: Option<i64>,
        reason: Option<&str>,
    ) -> Result<i64> {
        messages::insert(
            self.conn,
            &messages::MessageRecord {
                dedup_key: self.dedup_key,
                message_id: msg.message_id.as_deref(),
                mailbox: &self.src.mailbox,
                uidvalidity: self.src.uidvalidity,
                uid: self.inc.uid,
                received_at: self.now.timestamp(),
                sender: Some(&msg.from.email),
                subject: Some(&msg.subject),
                outcome,
                case_id,
                reason,
                raw: &self.inc.raw,
            },
        )
    }
}

pub struct Intake {
    pub config: Config,
    rules: RuleSet,
    templates: Arc<Templates>,
    /// Composes the mail of a batch beside the store (see `outgoing::composer`).
    composing: composer::Thread,
    policies: Policies,
    tags: CaseTags,
    departments: Vec<rules::DepartmentRef>,
    parties: rules::Parties,
    own_addresses: Vec<String>,
    rspamd: Option<rspamd::Client>,
}

impl Intake {
    /// Loads rules and templates; `Err` lists every problem found in either.
    pub fn new(config: Config) -> Result<Intake> {
        let ids: Vec<&str> = config.departments.iter().map(|d| d.id.as_str()).collect();
        let rules = RuleSet::load_dir(&config.intake.rules, &ids);
        let templates = Templates::load(&config.intake.templates);
        let policies = match &config.sla.policies {
            Some(path) => crate::sla::load(path),
            None => Ok(Policies::none()),
        };
        let parties = match &config.intake.parties {
            Some(path) => rules::Parties::load(path),
            None => Ok(rules::Parties::default()),
        };
        let (rules, templates, policies, parties) = match (rules, templates, policies, parties) {
            (Ok(r), Ok(t), Ok(p), Ok(parties)) => (r, Arc::new(t), p, parties),
            (rules, templates, policies, parties) => {
                let mut problems = rules.err().unwrap_or_default();
                problems.extend(parties.err().unwrap_or_default());
                if let Err(e) = templates {
                    problems.push(format!("{e:#}"));
                }
                problems.extend(policies.err().unwrap_or_default());
                bail!("{}", problems.join("\n"));
            }
        };
        let departments = config
            .departments
            .iter()
            .map(|d| {
                let mut names = name_parts(&d.name);
                names.extend(d.aliases.iter().cloned());
                rules::DepartmentRef {
                    id: d.id.clone(),
                    address: d.address.clone(),
                    names,
                }
            })
            .collect();
        let tags = CaseTags::new(&config.intake.case_prefix)?;
        let own_addresses = config.own_addresses();
        let composing = composer::Thread::start(templates.clone(), config.smtp.from.clone())
            .context("Cannot start the composing thread")?;
        let rspamd = config.spam.rspamd.clone().map(rspamd::Client::new);
        Ok(Intake {
            rspamd,
            config,
            rules,
            templates,
            composing,
            policies,
            tags,
            departments,
            parties,
            own_addresses,
        })
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Puts another learned model (or none) beside the rules (`learn --cross-validate`).
    pub fn set_learned(&mut self, model: Option<rules::learned::Model>) {
        self.rules.set_learned(model);
    }

    pub fn parties(&self) -> &rules::Parties {
        &self.parties
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    pub fn classify(&self, msg: &Message) -> Classification {
        self.rules.classify(msg, &self.rules_context())
    }

    pub fn explain(&self, msg: &Message) -> rules::Explanation {
        self.rules.explain(msg, &self.rules_context())
    }

    fn rules_context(&self) -> rules::Context<'_> {
        rules::Context {
            departments: &self.departments,
            internal_domains: &self.config.intake.internal_domains,
            vip_customers: &self.config.intake.vip_customers,
            suppliers: &self.config.intake.suppliers,
            parties: &self.parties,
            history: None,
            triage_department: &self.config.intake.triage_department,
        }
    }

    /// Why this message gets no acknowledgement, leaving aside the hourly limit.
    pub fn no_ack_reason(&self, msg: &Message) -> Option<String> {
        if let Some(why) = screen::automatic(msg).or_else(|| screen::bulk(msg)) {
            return Some(why);
        }
        let reply = msg.reply_address();
        for addr in [&msg.from.email, &reply.email] {
            if self.own_addresses.iter().any(|own| own == addr) {
                return Some(format!("{addr} is one of our own addresses"));
            }
        }
        // An address our SMTP library cannot write (found in real list and test mail:
        // "bob@externbobby@extern", a bare "moderator"): the case opens all the same.
        if reply.email.parse::<lettre::Address>().is_err() {
            return Some(format!("{} is not an address we can answer", reply.email));
        }
        None
    }

    /// [`Intake::take_in_prepared`] on the store's blocking pool.
    pub async fn commit_batch(
        self: &std::sync::Arc<Self>,
        db: &store::Db,
        src: Source,
        batch: Vec<Prepared>,
        last_uid: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Report>> {
        let intake = self.clone();
        db.call(move |c| {
            let reports = intake.take_in_prepared(c, &src, &batch, last_uid, now);
            drop(batch);
            reports
        })
        .await
    }

    /// Prepares and takes in one batch on the calling thread: for tools and tests.
    pub fn take_in_batch(
        &self,
        conn: &mut Connection,
        src: &Source,
        batch: &[Incoming],
        last_uid: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Report>> {
        let prepared: Vec<Prepared> = batch
            .iter()
            .map(|inc| {
                self.prepare(
                    Incoming {
                        uid: inc.uid,
                        raw: inc.raw.clone(),
                        too_large: inc.too_large,
                    },
                    now,
                )
            })
            .collect();
        self.take_in_prepared(conn, src, &prepared, last_uid, now)
    }

    /// Takes in one batch in one transaction and, for an IMAP folder, moves its
    /// checkpoint to `last_uid` and plans the moves to the processed and quarantine
    /// folders in that same transaction. The batch's mail is composed beside the
    /// store's thread; if one of them cannot be, the batch is rolled back and taken in
    /// again composing in place, so that the error quarantines its own message alone.
    pub fn take_in_prepared(
        &self,
        conn: &mut Connection,
        src: &Source,
        batch: &[Prepared],
        last_uid: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Report>> {
        let composer = Composer::new(&self.composing);
        match self.take_in_transaction(conn, src, batch, last_uid, now, Some(&composer)) {
            Err(e) if e.is::<NotComposed>() => {
                tracing::debug!("{e:#}; the batch is taken in again, composing in place");
                self.take_in_transaction(conn, src, batch, last_uid, now, None)
            }
            taken => taken,
        }
    }

    /// The batch in one transaction, each message in turn with the moves it asks
    /// for. With a composer, the rows waiting for their bytes get them between
    /// messages and before the commit; without one, mail is composed in place.
    fn take_in_transaction(
        &self,
        conn: &mut Connection,
        src: &Source,
        batch: &[Prepared],
        last_uid: Option<u32>,
        now: DateTime<Utc>,
        composer: Option<&Composer<'_>>,
    ) -> Result<Vec<Report>> {
        let mut tx = conn.transaction()?;
        let token_key = crate::outgoing::reply_key(&tx)?;
        let mut reports = Vec::with_capacity(batch.len());
        for p in batch {
            let report = self.take_in_one(&mut tx, src, p, &token_key, now, composer)?;
            if let (Some(uidvalidity), Some(uid), Some(target)) =
                (src.uidvalidity, p.incoming.uid, report.target(&self.config))
            {
                mailbox_state::plan_move(&tx, &src.mailbox, uidvalidity, uid, target)?;
            }
            reports.push(report);
            if let Some(c) = composer {
                c.fill_ready(&mut |f| fill(&tx, f))?;
            }
        }
        if let Some(c) = composer {
            c.fill_rest(&mut |f| fill(&tx, f))?;
        }
        if let (Some(uidvalidity), Some(last_uid)) = (src.uidvalidity, last_uid) {
            mailbox_state::set_checkpoint(
                &tx,
                &src.mailbox,
                store::Checkpoint {
                    uidvalidity,
                    last_uid,
                },
            )?;
        }
        tx.commit().context("Cannot commit the intake batch")?;
        Ok(reports)
    }

    /// One message in its own savepoint: taken in, or quarantined with the error
    /// that stopped it. The one path for mail from the mailbox and for a release
    /// from the quarantine.
    fn take_in_one(
        &self,
        tx: &mut rusqlite::Transaction<'_>,
        src: &Source,
        p: &Prepared,
        token_key: &[u8],
        now: DateTime<Utc>,
        composer: Option<&Composer<'_>>,
    ) -> Result<Report> {
        let (inc, key) = (&p.incoming, &p.dedup_key);
        let sp = tx.savepoint()?;
        let mark = composer.map(Composer::mark);
        let step = Step {
            conn: &sp,
            src,
            inc,
            dedup_key: key,
            class: p.class.as_ref(),
            dates: p.dates.as_ref(),
            now,
            token_key,
            composer,
            late: None,
            rspamd: p.rspamd.as_deref(),
        };
        match self.take_in(&step, &p.parsed) {
            Ok(r) => {
                sp.commit()?;
                Ok(r)
            }
            Err(e) => {
                drop(sp); // rolls back this message's partial work
                if let (Some(c), Some(mark)) = (composer, mark) {
                    c.forget_since(mark); // and the rows that waited for their bytes
                }
                // Logged with the batch's reports once it is committed, not here: a
                // batch taken in again after a rollback would say it twice.
                let reason = format!("could not be processed: {e:#}");
                // Who sent it and its Message-ID still belong in the ledger.
                quarantine(tx, src, inc, key, p.parsed.as_ref().ok(), &reason, now)
            }
        }
    }

    /// `parsed`: the message as parsed beforehand.
    fn take_in(&self, step: &Step<'_>, parsed: &Result<Message, String>) -> Result<Report> {
        let conn = step.conn;
        let inc = step.inc;
        if let Some(original) = duplicates::original(conn, step.dedup_key)? {
            let seen = duplicates::Sighting {
                mailbox: &step.src.mailbox,
                uidvalidity: step.src.uidvalidity,
                uid: inc.uid,
                raw: &inc.raw,
                seen_at: step.now.timestamp(),
            };
            let mut r = Report::new(inc.uid, "duplicate");
            r.reason = Some(duplicates::record(conn, &original, &seen)?);
            r.case = original.case;
            return Ok(r);
        }
        if let Some(size) = inc.too_large {
            let reason = format!(
                "too large: {size} bytes, the limit is {} (intake.max_message_bytes); only the header is kept here, the message stays in the quarantine folder",
                self.config.intake.max_message_bytes
            );
            return quarantine(
                conn,
                step.src,
                inc,
                step.dedup_key,
                parsed.as_ref().ok(),
                &reason,
                step.now,
            );
        }
        let msg = match parsed {
            Ok(m) => m,
            Err(reason) => {
                let reason = reason.clone();
                let reason = if reason.starts_with("over a limit") {
                    reason
                } else {
                    format!("unreadable: {reason}")
                };
                // The header alone may still say whose it is.
                let msg = Message::parse_header(&inc.raw).ok();
                return quarantine(
                    conn,
                    step.src,
                    inc,
                    step.dedup_key,
                    msg.as_ref(),
                    &reason,
                    step.now,
                );
            }
        };
        let mut report = Report::new(inc.uid, "");
        report.sender = Some(msg.from.email.clone());
        report.subject = Some(msg.subject.clone());

        if let Some(case_id) = thread::find_case(
            conn,
            &self.tags,
            msg,
            self.config.replies.subaddress_delimiter,
        )? {
            return self.follow_up(step, case_id, msg, report);
        }
        if let Some(done) = self.list_reply(step, msg, report.clone())? {
            return Ok(done);
        }
        // Machines answering something, and our own mail come back, belong to no case.
        let ignore = screen::automatic(msg).or_else(|| {
            (self.own_addresses.contains(&msg.from.email)
                && msg.header("X-Switchboard-Case").is_some())
            .then(|| "our own mail, come back to the shared mailbox".to_string())
        });
        if let Some(mut why) = ignore {
            if let Some((kind, to)) =
                bounce::our_bounced_mail(conn, &inc.raw, msg.message_id.as_deref())?
            {
                let pause = self.config.alerts.bounce_pause.as_secs() as i64;
                let until = step.now.timestamp() + pause;
                let reason = format!("our {kind} mail to {to} bounced");
                store::alerts::suppress(conn, &to, until, &reason)?;
                why = format!(
                    "{why}: {reason}; no automatic mail to {to} until {}",
                    crate::outgoing::local_time(&self.config, until)
                );
                tracing::warn!(address = %to, "Automatic mail paused: {reason}");
            }
            step.record(msg, Outcome::Ignored, None, Some(&why))?;
            report.outcome = Outcome::Ignored.as_str();
            report.reason = Some(why);
            return Ok(report);
        }
        let reason = match step.class {
            Some(class) => self.set_aside_reason(msg, class),
            None => self.set_aside_reason(msg, &self.classify(msg)),
        }
        .or_else(|| step.rspamd.map(str::to_string));
        if let Some(reason) = reason {
            return self.set_aside(step, msg, report, reason);
        }
        self.open_case(step, msg, report, None)
    }

    fn change<'a>(
        &'a self,
        step: &'a Step<'a>,
        case: &'a store::CaseRow,
        msg: &'a Message,
    ) -> outgoing::Change<'a> {
        outgoing::Change {
            mailer: self.mailer(step),
            case,
            msg,
            raw: &step.inc.raw,
            dedup_key: step.dedup_key,
        }
    }

    fn mailer<'a>(&'a self, step: &Step<'a>) -> Mailer<'a> {
        Mailer {
            conn: step.conn,
            config: &self.config,
            templates: &self.templates,
            token_key: step.token_key,
            now: step.now,
            composer: step.composer,
        }
    }

    fn clockwork<'a>(&'a self, step: &Step<'a>) -> Clockwork<'a> {
        Clockwork {
            mailer: self.mailer(step),
            policies: &self.policies,
        }
    }
}

/// "客服部 Customer Service" → ["客服部", "Customer Service"]: a bilingual display name
/// is the names a mail may call the department by, but "Customer" alone is not one.
fn name_parts(display: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut last_ascii = false;
    for word in display.split_whitespace() {
        let ascii = word.is_ascii();
        match parts.last_mut() {
            Some(last) if ascii && last_ascii => {
                last.push(' ');
                last.push_str(word);
            }
            _ => parts.push(word.to_string()),
        }
        last_ascii = ascii;
    }
    parts
}

/// Writes the bytes composed beside the store into their outbox row.
fn fill(conn: &Connection, f: composer::Filled) -> Result<()> {
    let original = f.filling.ledger_key.as_deref().zip(f.composed.original_at);
    let splices = f
        .filling
        .ledger_key
        .as_deref()
        .filter(|_| !f.composed.splices.is_empty())
        .map(|k| (k, f.composed.splices.as_slice()));
    store::outbox::fill(conn, f.filling.row, &f.composed.bytes, original, splices)
}

fn quarantine(
    conn: &Connection,
    src: &Source,
    inc: &Incoming,
    key: &str,
    msg: Option<&Message>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Report> {
    messages::insert(
        conn,
        &messages::MessageRecord {
            dedup_key: key,
            message_id: msg.and_then(|m| m.message_id.as_deref()),
            mailbox: &src.mailbox,
            uidvalidity: src.uidvalidity,
            uid: inc.uid,
            received_at: now.timestamp(),
            sender: msg.map(|m| m.from.email.as_str()),
            subject: msg.map(|m| m.subject.as_str()),
            outcome: Outcome::Quarantined,
            case_id: None,
            reason: Some(reason),
            raw: &inc.raw,
        },
    )?;
    let mut r = Report::new(inc.uid, Outcome::Quarantined.as_str());
    r.sender = msg.map(|m| m.from.email.clone());
    r.subject = msg.map(|m| m.subject.clone());
    r.reason = Some(reason.to_string());
    Ok(r)
}

/// Renders every template with a sample case, so that `check` finds a template that
/// names a variable that does not exist before any customer would.
pub fn sample_render(intake: &Intake) -> Result<()> {
    outgoing::sample_render(&intake.config, &intake.templates)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use rusqlite::Connection;

    use super::{Composer, Incoming, Intake, Prepared, Report, Source, name_parts};
    use crate::config::Config;

    fn repo() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// The demo's setup; `templates` replaces its templates folder.
    fn demo_intake(templates: Option<PathBuf>) -> Intake {
        let (mut config, _warnings) =
            Config::load(&repo().join("examples/demo/switchboard.toml")).unwrap();
        if let Some(dir) = templates {
            config.intake.templates = dir;
        }
        Intake::new(config).unwrap()
    }

    /// The demo's inbox, a case with an original too large to be composed beside the
    /// store, and the first message again (a duplicate).
    fn batch(intake: &Intake) -> Vec<Prepared> {
        let dir = repo().join("examples/demo/inbox/new");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut raws: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        let attachment = "QUJDRA==".repeat(12_000); // 96 KB of base64
        raws.push(
            format!(
                "From: Wang Fang <wang@supplier.cn>\r\nTo: support@example.com\r\n\
                 Subject: Complaint: invoice dispute for order 7781\r\n\
                 Message-ID: <big-7781@supplier.cn>\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
                 --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
                 The invoice does not match the delivery note.\r\n\
                 --b\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{attachment}\r\n--b--\r\n"
            )
            .into_bytes(),
        );
        raws.push(raws[0].clone());
        raws.into_iter()
            .enumerate()
            .map(|(i, raw)| {
                intake.prepare(
                    Incoming {
                        uid: Some(i as u32 + 1),
                        raw,
                        too_large: None,
                    },
                    now(),
                )
            })
            .collect()
    }

    /// The fixed time these tests prepare and take in at.
    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap()
    }

    /// A store with a fixed reply-token key, so that two stores make the same tokens.
    fn store() -> Connection {
        let conn = crate::store::memory().unwrap();
        crate::store::deadlines::meta_set(&conn, "reply_token_key", &[7; 32]).unwrap();
        conn
    }

    /// How a test takes a batch in.
    #[derive(Clone, Copy)]
    enum Composing {
        /// As intake does: beside the store, and in place if that fails.
        AsIntake,
        /// Beside the store only.
        Beside,
        InPlace,
    }

    /// Takes the batch in, composing as asked, and returns what the store holds.
    fn taken_in(
        intake: &Intake,
        batch: &[Prepared],
        composing: Composing,
    ) -> (Vec<Report>, Vec<String>) {
        let mut conn = store();
        let src = Source {
            mailbox: "INBOX".into(),
            uidvalidity: Some(1),
        };
        let now = now();
        let last = Some(batch.len() as u32);
        let composer = Composer::new(&intake.composing);
        let reports = match composing {
            Composing::AsIntake => intake.take_in_prepared(&mut conn, &src, batch, last, now),
            Composing::Beside => {
                intake.take_in_transaction(&mut conn, &src, batch, last, now, Some(&composer))
            }
            Composing::InPlace => {
                intake.take_in_transaction(&mut conn, &src, batch, last, now, None)
            }
        }
        .unwrap();
        let mut rows = Vec::new();
        let mut ledger = conn
            .prepare(
                "SELECT dedup_key, outcome, coalesce(reason, ''), case_id FROM messages
                 ORDER BY id",
            )
            .unwrap();
        let ledger = ledger
            .query_map([], |r| {
                Ok(format!(
                    "ledger {} {} {} {:?}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?
                ))
            })
            .unwrap();
        rows.extend(ledger.map(Result::unwrap));
        let mut outbox = conn
            .prepare(
                "SELECT id, case_id, kind, message_id, recipients, content, original_key,
                        original_at FROM outbox ORDER BY id",
            )
            .unwrap();
        let outbox = outbox
            .query_map([], |r| {
                Ok(format!(
                    "outbox {} {:?} {} {} {} {:?} {:?}\n{}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                    String::from_utf8_lossy(&r.get::<_, Vec<u8>>(5)?)
                ))
            })
            .unwrap();
        rows.extend(outbox.map(Result::unwrap).map(|row| same_boundaries(&row)));
        (reports, rows)
    }

    /// lettre draws each multipart boundary at random: named alike, two composings of
    /// the same mail compare equal.
    fn same_boundaries(row: &str) -> String {
        let mut row = row.to_string();
        while let Some(at) = row.find("boundary=\"") {
            let start = at + "boundary=\"".len();
            let end = start + row[start..].find('"').unwrap();
            let boundary = row[start..end].to_string();
            row = row.replace(&format!("boundary=\"{boundary}\""), "BOUNDARY=\"b\"");
            row = row.replace(&format!("--{boundary}"), "--b");
        }
        row
    }

    /// Like assert_eq, but names the first row that differs, shortened.
    fn assert_same(left: &[String], right: &[String]) {
        let short = |s: &String| s.chars().take(1500).collect::<String>();
        for (l, r) in left.iter().zip(right) {
            assert!(l == r, "differs:\n{}\n---\n{}", short(l), short(r));
        }
        assert_eq!(left.len(), right.len());
    }

    #[test]
    fn mail_composed_beside_the_store_is_what_composing_in_place_writes() {
        let intake = demo_intake(None);
        let batch = batch(&intake);
        let (reports, beside) = taken_in(&intake, &batch, Composing::Beside);
        let (_, in_place) = taken_in(&intake, &batch, Composing::InPlace);
        assert_same(&beside, &in_place);
        let mail: Vec<&String> = beside.iter().filter(|r| r.starts_with("outbox")).collect();
        assert!(mail.len() >= 12, "{} mails", mail.len());
        // Every row has its bytes, the large original's case record too: composed in
        // place, with its original in base64 (one line of 96 KB cannot go as it is).
        assert!(mail.iter().all(|m| m.contains("\nMessage-ID: <")));
        assert!(
            mail.iter()
                .any(|m| m.contains("big-7781@supplier.cn") && m.len() > 96_000)
        );
        assert_eq!(reports.last().unwrap().outcome, "duplicate");
    }

    /// Copies the shipped templates and breaks `ack.en.txt` for one subject.
    fn templates_broken_for(subject_word: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sb-intake-templates-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(repo().join("templates")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
        let ack = dir.join("ack.en.txt");
        let text = std::fs::read_to_string(&ack).unwrap();
        let broken = format!(
            "{{% if \"{subject_word}\" in case.subject %}}{{{{ no_such_thing }}}}{{% endif %}}"
        );
        std::fs::write(&ack, text.replacen("\n\n", &format!("\n\n{broken}"), 1)).unwrap();
        dir
    }

    /// A request's dates are read beside the store, for the day the batch was prepared
    /// on; taken in on another day (a batch prepared just before midnight), they are
    /// read again for that day: "11月30日" is the next 30 November from the day the
    /// case opens.
    #[test]
    fn a_requests_dates_read_beforehand_are_read_again_when_the_day_has_changed() {
        let intake = demo_intake(None);
        let raw = "From: =?utf-8?b?6ZmI6Z2Z?= <chenjing@example.com>\r\n\
                   To: support@example.com\r\nCc: design@example.com\r\n\
                   Subject: =?utf-8?b?6Leo6YOo6Zeo5Y2P5L2c55Sz6K+3?=\r\n\
                   Message-ID: <collab-1@example.com>\r\nMIME-Version: 1.0\r\n\
                   Content-Type: text/plain; charset=utf-8\r\n\r\n\
                   各位好，\r\n\r\n市场部发起季度新品推广项目，请设计部协作：\r\n\
                   1. 宣传海报初稿 11月30日 提交（设计部）\r\n\r\n\
                   请确认职责与时间节点。\r\n\r\n陈静 市场部\r\n";
        let at = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let due = |prepared_at: &str, taken_at: &str| {
            let prepared = intake.prepare(
                Incoming {
                    uid: Some(1),
                    raw: raw.as_bytes().to_vec(),
                    too_large: None,
                },
                at(prepared_at),
            );
            assert_eq!(
                prepared.class.as_ref().unwrap().category,
                crate::case::Category::CollaborationRequest
            );
            let mut conn = store();
            let src = Source {
                mailbox: "INBOX".into(),
                uidvalidity: Some(1),
            };
            let reports = intake
                .take_in_prepared(&mut conn, &src, &[prepared], Some(1), at(taken_at))
                .unwrap();
            let number = reports[0].case.clone().unwrap();
            let id = crate::store::cases::id_by_number(&conn, &number)
                .unwrap()
                .unwrap();
            let dated = crate::store::deadlines::open_for_case(&conn, id)
                .unwrap()
                .into_iter()
                .find(|d| d.milestone == "date-1")
                .unwrap();
            intake.today(chrono::DateTime::from_timestamp(dated.due_at, 0).unwrap())
        };
        let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            due("2026-11-30T10:00:00+08:00", "2026-11-30T10:00:01+08:00"),
            date(2026, 11, 30)
        );
        assert_eq!(
            due("2026-11-30T23:59:59+08:00", "2026-12-01T00:00:01+08:00"),
            date(2027, 11, 30)
        );
    }

    #[test]
    fn a_mail_that_cannot_be_composed_quarantines_its_own_message_alone() {
        let intake = demo_intake(Some(templates_broken_for("invoice dispute")));
        let batch = batch(&intake);
        let (reports, rows) = taken_in(&intake, &batch, Composing::AsIntake);
        let quarantined: Vec<&Report> = reports
            .iter()
            .filter(|r| {
                r.reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("could not be processed"))
            })
            .collect();
        assert_eq!(quarantined.len(), 1, "{quarantined:#?}");
        let reason = quarantined[0].reason.as_deref().unwrap();
        assert!(reason.contains("ack.en.txt"), "{reason}");
        assert!(
            quarantined[0]
                .subject
                .as_deref()
                .unwrap()
                .contains("invoice dispute"),
            "{quarantined:#?}"
        );
        // The rest went in, each with its mail whole: as composing in place gives.
        assert!(reports.iter().filter(|r| r.outcome == "case").count() >= 5);
        assert!(
            rows.iter()
                .all(|r| !r.starts_with("outbox") || r.contains("\nMessage-ID: <"))
        );
        assert_same(&rows, &taken_in(&intake, &batch, Composing::InPlace).1);
    }

    #[test]
    fn bilingual_names_split_by_language() {
        assert_eq!(
            name_parts("客服部 Customer Service"),
            vec!["客服部", "Customer Service"]
        );
        assert_eq!(name_parts("研发部 R&D"), vec!["研发部", "R&D"]);
        assert_eq!(name_parts("Legal"), vec!["Legal"]);
    }
}
