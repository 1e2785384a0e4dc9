//! `/metrics` in OpenMetrics text (the `prometheus-client` crate, a registry built
//! for each scrape: no global state). Every figure is read from the store at scrape
//! time, so the counters survive restarts and never disagree with the pages: the
//! messages taken in are the ledger's rows, the send failures the outbox's attempts.
//! Labels carry only bounded words (outcomes, reasons' kinds, department and
//! milestone ids), never an address or a case number.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use anyhow::Result;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rusqlite::Connection;

use super::auth::Viewer;
use super::users::Role;
use super::{Peer, View};
use crate::clock::Clock;
use crate::store::{Db, deadlines, outbox};

/// The meta row that holds when the mailbox was last read without an error.
const MAILBOX_OK: &str = "mailbox_last_success";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Deadline {
    department: String,
    milestone: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Version {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Milestone {
    department: String,
    milestone: String,
}

pub async fn metrics(State(view): State<Arc<View>>, headers: HeaderMap, peer: Peer) -> Response {
    match view.auth.check(&headers, (peer.0).0.ip()).await {
        Ok(Viewer::Metrics) => {}
        Ok(Viewer::User(u)) if u.role == Role::Admin => {}
        Ok(Viewer::User(_)) => {
            return (
                StatusCode::FORBIDDEN,
                "For an admin or the metrics token.\n",
            )
                .into_response();
        }
        Err(r) => return super::refused(r),
    }
    let now = view.clock.unix();
    // Prometheus asks for OpenMetrics in its Accept header; anything else (curl,
    // promtool, older scrapers) gets the classic text format 0.0.4.
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    match view.db.call(move |c| render(c, now)).await {
        Ok(text) => {
            let (body, kind) = if openmetrics {
                (
                    text,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )
            } else {
                (classic(&text), "text/plain; version=0.0.4; charset=utf-8")
            };
            let mut r = body.into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            r
        }
        Err(e) => {
            tracing::error!("Cannot gather the metrics: {e:#}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What a quarantine reason is about, in one bounded word (the reasons themselves
/// are sentences from `intake`).
fn reason_kind(reason: &str) -> &'static str {
    if reason.starts_with("too large") {
        "too_large"
    } else if reason.starts_with("over a limit") {
        "over_limit"
    } else if reason.starts_with("unreadable") {
        "unreadable"
    } else if reason.starts_with("could not be processed") {
        "processing_error"
    } else {
        "other"
    }
}

fn counter_family<L>(registry: &mut Registry, name: &str, help: &str) -> Family<L, Counter>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let f = Family::<L, Counter>::default();
    registry.register(name, help, f.clone());
    f
}

fn gauge_family<L>(registry: &mut Registry, name: &str, help: &str) -> Family<L, Gauge>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let f = Family::<L, Gauge>::default();
    registry.register(name, help, f.clone());
    f
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub fn render(c: &Connection, now: i64) -> Result<String> {
    let mut registry = Registry::default();

    let ingested = counter_family::<Outcome>(
        &mut registry,
        "switchboard_messages_ingested",
        "Messages taken in from the mailbox, by what became of them",
    );
    for o in ["case", "follow_up", "ignored", "quarantined"] {
        ingested
            .get_or_create(&Outcome { outcome: o.into() })
            .inc_by(0);
    }
    let quarantined = counter_family::<Reason>(
        &mut registry,
        "switchboard_messages_quarantined",
        "Messages kept in quarantine, by the kind of reason",
    );
    for r in [
        "too_large",
        "over_limit",
        "unreadable",
        "processing_error",
        "other",
    ] {
        quarantined
            .get_or_create(&Reason { reason: r.into() })
            .inc_by(0);
    }
    {
        let mut stmt = c.prepare("SELECT outcome, count(*) FROM messages GROUP BY outcome")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (outcome, n) = row?;
            ingested
                .get_or_create(&Outcome { outcome })
                .inc_by(count(n));
        }
        let mut stmt = c.prepare(
            "SELECT coalesce(reason, ''), count(*) FROM messages WHERE outcome = 'quarantined' GROUP BY 1",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (reason, n) = row?;
            quarantined
                .get_or_create(&Reason {
                    reason: reason_kind(&reason).into(),
                })
                .inc_by(count(n));
        }
    }

    let stats = outbox::stats(c)?;
    let states = gauge_family::<StateLabel>(
        &mut registry,
        "switchboard_outbox_messages",
        "Outgoing mail in the outbox, by state",
    );
    for (s, n) in [
        ("waiting", stats.pending),
        ("sent", stats.sent),
        ("failed", stats.failed),
    ] {
        states.get_or_create(&StateLabel { state: s.into() }).set(n);
    }
    let oldest = Gauge::<i64, AtomicI64>::default();
    registry.register(
        "switchboard_outbox_oldest_message_age_seconds",
        "Seconds the oldest waiting outgoing mail has waited (0 when none waits)",
        oldest.clone(),
    );
    oldest.set(oldest_waiting(c)?.map_or(0, |t| (now - t).max(0)));

    let failures = counter_family::<Kind>(
        &mut registry,
        "switchboard_smtp_send_failures",
        "Sending attempts that failed: transient (retried) or permanent (given up)",
    );
    // Every attempt ends sent, failed for good, or failed for now and retried.
    let attempts: i64 = c.query_row("SELECT coalesce(sum(attempts), 0) FROM outbox", [], |r| {
        r.get(0)
    })?;
    failures
        .get_or_create(&Kind {
            kind: "transient".into(),
        })
        .inc_by(count(attempts - stats.sent - stats.failed));
    failures
        .get_or_create(&Kind {
            kind: "permanent".into(),
        })
        .inc_by(count(stats.failed));

    let decided = counter_family::<Deadline>(
        &mut registry,
        "switchboard_sla_deadlines",
        "Deadlines decided: met in time, or missed (late or still open past due)",
    );
    let pending = gauge_family::<Milestone>(
        &mut registry,
        "switchboard_sla_pending",
        "Deadlines open and not yet due",
    );
    {
        // The same judgement as `DeadlineRow::state`, grouped in SQL: a store may
        // hold a million deadlines.
        // Restricted cases are left out, as from the report (store::cases::list).
        let mut stmt = c.prepare(&format!(
            "SELECT department, milestone,
                    sum(met_at IS NOT NULL AND met_at <= due_at),
                    sum((met_at IS NOT NULL AND met_at > due_at)
                        OR (met_at IS NULL AND (breached_at IS NOT NULL OR ?1 > due_at))),
                    sum(met_at IS NULL AND breached_at IS NULL AND ?1 <= due_at)
             FROM deadlines WHERE cancelled_at IS NULL AND {}
             GROUP BY department, milestone",
            crate::store::deadlines::OF_UNRESTRICTED_CASES
        ))?;
        let rows = stmt.query_map([now], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        for row in rows {
            let (department, milestone, met, missed, open) = row?;
            for (outcome, n) in [("met", met), ("missed", missed)] {
                decided
                    .get_or_create(&Deadline {
                        department: department.clone(),
                        milestone: milestone.clone(),
                        outcome: outcome.into(),
                    })
                    .inc_by(count(n));
            }
            pending
                .get_or_create(&Milestone {
                    department,
                    milestone,
                })
                .set(open);
        }
    }

    let last_ok = Gauge::<i64, AtomicI64>::default();
    registry.register(
        "switchboard_mailbox_last_success_timestamp_seconds",
        "When the mailbox was last read without an error, Unix seconds (0: never)",
        last_ok.clone(),
    );
    last_ok.set(mailbox_last_success(c)?.unwrap_or(0));

    // A gauge of 1, not an OpenMetrics info: Prometheus's own text parser (and so
    // `promtool check metrics`, 2.42 in Debian 12) knows no "info" type, and this is
    // how Prometheus itself exports prometheus_build_info.
    let build = gauge_family::<Version>(
        &mut registry,
        "switchboard_build_info",
        "The running version",
    );
    build
        .get_or_create(&Version {
            version: env!("CARGO_PKG_VERSION").into(),
        })
        .set(1);

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

/// OpenMetrics text as the classic Prometheus text format (0.0.4): there a
/// counter's HELP and TYPE name the sample itself, `_total` included, and there is
/// no `# EOF` or `# UNIT`. Everything else is the same text.
pub fn classic(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// When the oldest mail still waiting was written.
pub fn oldest_waiting(c: &Connection) -> Result<Option<i64>> {
    Ok(c.query_row(
        "SELECT min(created_at) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}

pub fn mailbox_last_success(c: &Connection) -> Result<Option<i64>> {
    Ok(deadlines::meta_get(c, MAILBOX_OK)?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse().ok()))
}

/// Notes a successful read of the mailbox in the store, at most every 30 s (each is
/// a commit): for `/metrics` and the health page, across restarts.
#[derive(Default)]
pub struct MailboxBeat {
    last: Option<i64>,
}

impl MailboxBeat {
    pub async fn note(&mut self, db: &Db, clock: &Clock) {
        let now = clock.unix();
        if self.last.is_some_and(|l| (now - l).abs() < 30) {
            return;
        }
        self.last = Some(now);
        let written = db
            .call(move |c| deadlines::meta_set(c, MAILBOX_OK, now.to_string().as_bytes()))
            .await;
        if let Err(e) = written {
            tracing::warn!("Cannot note the mailbox's last successful read: {e:#}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_store_has_every_family_and_an_eof() {
        let c = crate::store::memory().unwrap();
        let text = render(&c, 0).unwrap();
        for name in [
            "switchboard_messages_ingested_total{outcome=\"case\"} 0",
            "switchboard_messages_quarantined_total{reason=\"too_large\"} 0",
            "switchboard_outbox_messages{state=\"waiting\"} 0",
            "switchboard_outbox_oldest_message_age_seconds",
            "switchboard_smtp_send_failures_total{kind=\"permanent\"} 0",
            "switchboard_mailbox_last_success_timestamp_seconds 0",
            "switchboard_build_info{version=",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        let old = classic(&text);
        assert!(
            old.contains("# TYPE switchboard_messages_ingested_total counter\n"),
            "{old}"
        );
        assert!(!old.contains("# EOF"), "{old}");
        assert_eq!(reason_kind("too large: 3 bytes"), "too_large");
    }
}
