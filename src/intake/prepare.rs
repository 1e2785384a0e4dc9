//! The store-free part of taking a message in: its identity, the parse, the rules'
//! verdict, a request's dates and Rspamd's answer, worked out for a batch on another
//! thread while the batch before it commits.

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};

use super::{Incoming, Intake, dedup_key};
use crate::case::Category;
use crate::message::Message;
use crate::reply::milestones;
use crate::rules::Classification;

/// A message with what can be worked out without the store: its identity, the parse
/// and the rules' verdict. The mailbox has a batch prepared ([`Intake::prepare_batch`])
/// on another thread while the batch before it commits, so that this work — a quarter
/// of intake's — runs beside the store's instead of before it.
pub struct Prepared {
    pub(super) incoming: Incoming,
    pub(super) dedup_key: String,
    /// For a message over the size limit, the parse of the header that was fetched.
    pub(super) parsed: Result<Message, String>,
    /// Used only if the message opens a new case.
    pub(super) class: Option<Classification>,
    /// A collaboration request's milestone dates, read for the day it was prepared on.
    pub(super) dates: Option<PreparedDates>,
    /// Rspamd's reason to set it aside, asked before the transaction.
    pub(super) rspamd: Option<String>,
}

/// The dates a request's lines name, resolved against `day` (today in the company's
/// calendar when it was prepared): reading them takes a collaboration request's
/// patterns over every line, work for the preparing thread rather than the store's,
/// which uses them only while its own day is the same.
pub(super) struct PreparedDates {
    pub(super) day: NaiveDate,
    pub(super) found: Vec<(NaiveDate, String)>,
}

impl Intake {
    /// The store-free part of taking a message in (see [`Prepared`]); `now`: the
    /// clock's time as it is prepared.
    pub fn prepare(&self, incoming: Incoming, now: DateTime<Utc>) -> Prepared {
        let dedup_key = dedup_key(&incoming);
        let parsed = Message::parse(&incoming.raw);
        let class = match &parsed {
            Ok(msg) if incoming.too_large.is_none() => Some(self.classify(msg)),
            _ => None,
        };
        let dates = match (&parsed, &class) {
            (Ok(msg), Some(c)) if c.category == Category::CollaborationRequest => {
                let day = self.today(now);
                Some(PreparedDates {
                    day,
                    found: milestones::extract_dates(&msg.body, day),
                })
            }
            _ => None,
        };
        Prepared {
            incoming,
            dedup_key,
            parsed,
            class,
            dates,
            rspamd: None,
        }
    }

    /// The day `now` falls on in the company's calendar.
    pub(super) fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.config.calendar.tz()).date_naive()
    }

    /// [`Intake::prepare`] for a batch, on the blocking pool.
    pub async fn prepare_batch(
        self: &std::sync::Arc<Self>,
        batch: Vec<Incoming>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Prepared>> {
        let intake = self.clone();
        let mut prepared: Vec<Prepared> = tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .map(|inc| intake.prepare(inc, now))
                .collect()
        })
        .await
        .context("Preparing a batch failed")?;
        self.ask_rspamd(&mut prepared).await;
        Ok(prepared)
    }
}
