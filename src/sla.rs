//! Service-level policies: which milestones a case has to meet, by when, on which
//! clock, and who hears about it when one slips. The administrator edits them in a
//! file (`rules/sla.toml`); this module reads and validates it (`file`) and answers
//! "which policy does this case follow" — the clock itself lives in `deadlines`.
//!
//! A milestone is started by a case event and met by another one. The events are a
//! fixed vocabulary ([`Event`]), so a typo in the file is an error, not a deadline
//! that never starts.

mod file;

use crate::calendar::{ClockKind, Span};
use crate::case::{Category, Priority};

pub use file::load;

/// What can happen to a case; milestones start and end on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The case was opened.
    Received,
    /// A customer's follow-up reopened a resolved case.
    Reopened,
    /// The department answered on the case (any verified reply).
    DepartmentReplied,
    /// `Status: analysed` — the initial analysis is done.
    Analysed,
    /// The customer was contacted: the first relayed answer, or `Status: contacted`.
    Contacted,
    /// `Status: resolved`.
    Resolved,
    /// The result went to the customer: the first relayed answer after resolution.
    FeedbackSent,
    /// The satisfaction survey went out.
    SurveySent,
    /// The customer answered the survey.
    SurveyAnswered,
    /// `Status: closed`, or the survey ended.
    Closed,
}

impl Event {
    pub const ALL: [Event; 10] = [
        Event::Received,
        Event::Reopened,
        Event::DepartmentReplied,
        Event::Analysed,
        Event::Contacted,
        Event::Resolved,
        Event::FeedbackSent,
        Event::SurveySent,
        Event::SurveyAnswered,
        Event::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Received => "received",
            Event::Reopened => "reopened",
            Event::DepartmentReplied => "department_replied",
            Event::Analysed => "analysed",
            Event::Contacted => "contacted",
            Event::Resolved => "resolved",
            Event::FeedbackSent => "feedback_sent",
            Event::SurveySent => "survey_sent",
            Event::SurveyAnswered => "survey_answered",
            Event::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct Milestone {
    /// Stable name, stored with each deadline: `analysis`, `contact`…
    pub name: String,
    /// What people read: "初步分析 initial analysis".
    pub label: String,
    pub starts: Vec<Event>,
    pub met_by: Vec<Event>,
    pub within: Span,
    pub clock: ClockKind,
    /// Remind the department when this share of the time has gone.
    pub remind_at: Option<u32>,
    /// Escalate to the department's managers at breach (level 1), and to the
    /// escalation contacts this long after (level 2). `false`: a breach is recorded
    /// only (an unanswered survey is not anyone's failure to chase).
    pub escalate: bool,
    pub level2_after: Option<Span>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub category: Category,
    /// Empty: every priority.
    pub priorities: Vec<Priority>,
    /// `calendar`: a 24×7 policy; its reminders and escalations go out at any hour.
    /// `business`: they wait for working hours.
    pub clock: ClockKind,
    pub milestones: Vec<Milestone>,
}

impl Policy {
    pub fn around_the_clock(&self) -> bool {
        self.clock == ClockKind::Calendar
    }

    pub fn milestone(&self, name: &str) -> Option<&Milestone> {
        self.milestones.iter().find(|m| m.name == name)
    }
}

/// When the satisfaction survey goes out and how long it waits for an answer.
#[derive(Debug, Clone)]
pub struct Survey {
    /// After the result reached the customer.
    pub send_after: Span,
    pub send_clock: ClockKind,
}

#[derive(Debug, Clone)]
pub struct Policies {
    pub policies: Vec<Policy>,
    pub survey: Survey,
    /// A customer's mail this long after resolution reopens the case; later it opens
    /// a new case linked to the old one.
    pub reopen_within: Span,
    /// A hash of the file: a change means open deadlines are recomputed.
    pub fingerprint: String,
}

impl Policies {
    /// The first policy for this category and priority, in file order.
    pub fn for_case(&self, category: &str, priority: &str) -> Option<&Policy> {
        let category = Category::parse(category)?;
        let priority = Priority::parse(priority);
        self.policies.iter().find(|p| {
            p.category == category
                && (p.priorities.is_empty() || priority.is_some_and(|x| p.priorities.contains(&x)))
        })
    }

    /// No clocks at all: for a config without `[sla]` policies.
    pub fn none() -> Policies {
        Policies {
            policies: Vec::new(),
            survey: Survey {
                send_after: Span::Minutes(120),
                send_clock: ClockKind::Business,
            },
            reopen_within: Span::Days(14),
            fingerprint: String::new(),
        }
    }
}
