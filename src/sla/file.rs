//! Reading `sla.toml`: serde for the shape (it reports `file:line`), then a second
//! pass for meaning — known events, durations that parse, no two milestones with one
//! name — with every problem reported at once.

use std::path::Path;

use serde::Deserialize;

use super::{Event, Milestone, Policies, Policy, Survey};
use crate::calendar::{ClockKind, Span};
use crate::case::{Category, Priority};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    reopen_within: Option<String>,
    #[serde(default)]
    survey: Option<RawSurvey>,
    #[serde(default)]
    policy: Vec<RawPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSurvey {
    send_after: Option<String>,
    clock: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    category: String,
    #[serde(default)]
    priority: Vec<String>,
    #[serde(default)]
    clock: Option<String>,
    #[serde(default)]
    milestone: Vec<RawMilestone>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMilestone {
    name: String,
    #[serde(default)]
    label: Option<String>,
    starts: OneOrMany,
    met_by: OneOrMany,
    within: String,
    #[serde(default)]
    clock: Option<String>,
    #[serde(default)]
    remind_at: Option<u32>,
    #[serde(default = "yes")]
    escalate: bool,
    #[serde(default)]
    level2_after: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// Reads and validates the policy file; `Err` lists every problem as `file: where: what`.
pub fn load(path: &Path) -> Result<Policies, Vec<String>> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{shown}: cannot read the SLA policy file: {e}")])?;
    parse(&shown, &text)
}

pub fn parse(shown: &str, text: &str) -> Result<Policies, Vec<String>> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .and_then(|s| text.get(..s.start))
            .map(|t| t.matches('\n').count() + 1)
            .unwrap_or(0);
        vec![format!("{shown}:{line}: {}", e.message())]
    })?;
    let mut check = Checker {
        shown,
        problems: Vec::new(),
    };
    let reopen_within = check.span(
        "reopen_within",
        raw.reopen_within.as_deref(),
        Span::Days(14),
    );
    let survey = raw.survey.as_ref();
    let survey = Survey {
        send_after: check.span(
            "survey.send_after",
            survey.and_then(|s| s.send_after.as_deref()),
            Span::Minutes(120),
        ),
        send_clock: check.clock(
            "survey.clock",
            survey.and_then(|s| s.clock.as_deref()),
            ClockKind::Business,
        ),
    };
    let mut policies = Vec::new();
    for (i, p) in raw.policy.iter().enumerate() {
        let at = format!("policy {} (\"{}\")", i + 1, p.name);
        if policies.iter().any(|o: &Policy| o.name == p.name) {
            check.problem(&at, "another policy has this name".into());
        }
        let category = Category::parse(&p.category);
        if category.is_none() {
            check.problem(
                &format!("{at}: category"),
                format!(
                    "expected one of complaint, supplier_dispute, collaboration_request, unclassified; found \"{}\"",
                    p.category
                ),
            );
        }
        let mut priorities = Vec::new();
        for name in &p.priority {
            match Priority::parse(name) {
                Some(x) => priorities.push(x),
                None => check.problem(
                    &format!("{at}: priority"),
                    format!("expected urgent, important or normal; found \"{name}\""),
                ),
            }
        }
        let clock = check.clock(
            &format!("{at}: clock"),
            p.clock.as_deref(),
            ClockKind::Business,
        );
        let mut milestones: Vec<Milestone> = Vec::new();
        for m in &p.milestone {
            let at = format!("{at}: milestone \"{}\"", m.name);
            if milestones.iter().any(|o| o.name == m.name) {
                check.problem(&at, "another milestone of this policy has this name".into());
            }
            if m.remind_at.is_some_and(|r| r == 0 || r >= 100) {
                check.problem(
                    &format!("{at}: remind_at"),
                    "expected a percentage between 1 and 99".into(),
                );
            }
            let within = check.span(&format!("{at}: within"), Some(&m.within), Span::Minutes(0));
            let level2_after = m
                .level2_after
                .as_deref()
                .map(|t| check.span(&format!("{at}: level2_after"), Some(t), Span::Minutes(0)));
            milestones.push(Milestone {
                name: m.name.clone(),
                label: m.label.clone().unwrap_or_else(|| m.name.clone()),
                starts: check.events(&format!("{at}: starts"), &m.starts),
                met_by: check.events(&format!("{at}: met_by"), &m.met_by),
                within,
                clock: check.clock(&format!("{at}: clock"), m.clock.as_deref(), clock),
                remind_at: m.remind_at,
                escalate: m.escalate,
                level2_after,
            });
        }
        if let Some(category) = category {
            policies.push(Policy {
                name: p.name.clone(),
                category,
                priorities,
                clock,
                milestones,
            });
        }
    }
    if !check.problems.is_empty() {
        return Err(check.problems);
    }
    Ok(Policies {
        policies,
        survey,
        reopen_within,
        fingerprint: crate::digest::sha256_prefix(text, 8),
    })
}

struct Checker<'a> {
    shown: &'a str,
    problems: Vec<String>,
}

impl Checker<'_> {
    fn problem(&mut self, at: &str, what: String) {
        self.problems.push(format!("{}: {at}: {what}", self.shown));
    }

    fn span(&mut self, at: &str, text: Option<&str>, default: Span) -> Span {
        match text.map(str::parse::<Span>) {
            None => default,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                self.problem(
                    at,
                    format!("expected a duration such as \"2 hours\" or \"3 working days\": {e}"),
                );
                default
            }
        }
    }

    fn clock(&mut self, at: &str, text: Option<&str>, default: ClockKind) -> ClockKind {
        match text {
            None => default,
            Some(t) => ClockKind::parse(t).unwrap_or_else(|| {
                self.problem(
                    at,
                    format!("expected \"business\" or \"calendar\", found \"{t}\""),
                );
                default
            }),
        }
    }

    fn events(&mut self, at: &str, names: &OneOrMany) -> Vec<Event> {
        let mut events = Vec::new();
        for name in names.items() {
            match Event::parse(name) {
                Some(e) => events.push(e),
                None => {
                    let known: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
                    self.problem(
                        at,
                        format!("expected one of {}; found \"{name}\"", known.join(", ")),
                    );
                }
            }
        }
        if names.items().is_empty() {
            self.problem(at, "expected at least one event".into());
        }
        events
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policies_load() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/sla.toml");
        let p = load(&path).unwrap();
        let urgent = p.for_case("complaint", "urgent").unwrap();
        assert!(urgent.around_the_clock());
        let normal = p.for_case("complaint", "normal").unwrap();
        assert!(!normal.around_the_clock());
        let analysis = normal.milestone("analysis").unwrap();
        assert_eq!(analysis.within, Span::Minutes(120));
        assert_eq!(analysis.starts, vec![Event::Received, Event::Reopened]);
        assert!(p.for_case("supplier_dispute", "normal").is_some());
        assert!(p.for_case("collaboration_request", "important").is_some());
        assert!(p.for_case("unclassified", "normal").is_none());
    }

    #[test]
    fn every_problem_is_named_with_where() {
        let text = r#"
[[policy]]
name = "x"
category = "complaints"
clock = "wallclock"
  [[policy.milestone]]
  name = "a"
  starts = "recieved"
  met_by = ["analysed"]
  within = "2 fortnights"
  remind_at = 100
"#;
        let errors = parse("sla.toml", text).unwrap_err();
        let all = errors.join("\n");
        assert!(all.contains("category"), "{all}");
        assert!(all.contains("\"wallclock\""), "{all}");
        assert!(all.contains("\"recieved\""), "{all}");
        assert!(all.contains("within"), "{all}");
        assert!(all.contains("remind_at"), "{all}");
        assert!(errors.iter().all(|e| e.starts_with("sla.toml: ")), "{all}");
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let errors = parse(
            "sla.toml",
            "[[policy]]\nname = \"x\"\ncategory = \"complaint\"\ncolour = 1\n",
        )
        .unwrap_err();
        assert!(errors[0].starts_with("sla.toml:4:"), "{errors:?}");
    }
}
