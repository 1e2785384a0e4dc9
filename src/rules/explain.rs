//! Why a message was classified as it was (`switchboard classify --explain`): every
//! rule that matched, with the words that matched in each field, best first, so the
//! person tuning the rules sees the winner and the runner-up with their weights.

use serde::Serialize;

use super::file::{Field, Role};
use super::{Context, RuleSet, role};
use crate::message::Message;

/// One matching rule: its name, category, weight, and the words it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleMatch {
    pub rule: String,
    pub category: String,
    pub weight: i64,
    /// `field: word`, e.g. `body: 退款`, `subject: refund*`.
    pub words: Vec<String>,
    /// Set aside because the sender is a listed supplier or customer of the other side.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub set_aside: bool,
}

/// One matching priority rule: the level it raises to and the words it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriorityMatch {
    pub rule: String,
    pub priority: String,
    pub words: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// `internal`, `customer`, `supplier` or `unknown`.
    pub sender: &'static str,
    /// Every matching classification rule, highest weight first (ties: the order
    /// that decides them). The first that is not set aside won.
    pub rules: Vec<RuleMatch>,
    /// The priority rules that matched, with their words.
    pub priority_rules: Vec<PriorityMatch>,
    /// What the learned model makes of it, when the rules have one beside them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learned: Option<LearnedMatch>,
}

/// The learned model's best class, the runner-up, and the words that weighed most.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearnedMatch {
    /// `category/department`.
    pub best: String,
    pub runner_up: Option<String>,
    /// How far ahead of the runner-up, in ln-likelihood.
    pub margin: f64,
    /// How far ahead of the class the rules decided (the margin when the model has
    /// no such class).
    pub lead_over_rules: f64,
    /// The lead above which the model overrules the rules.
    pub overrules_above: f64,
    pub words: Vec<String>,
}

impl RuleSet {
    pub fn explain(&self, msg: &Message, ctx: &Context<'_>) -> Explanation {
        let hits = self.matcher.scan(msg);
        let who = role(&msg.from.email, ctx);
        let excluded = match who {
            Role::Customer => Some(crate::case::Category::SupplierDispute),
            Role::Supplier => Some(crate::case::Category::Complaint),
            Role::Internal | Role::Unknown => None,
        };
        let mut rules: Vec<(usize, RuleMatch)> = self
            .rule_programs
            .matching(&hits, who)
            .filter_map(|i| {
                let r = self.rules.get(i)?;
                Some((
                    i,
                    RuleMatch {
                        rule: r.name.clone(),
                        category: r.category.as_str().to_string(),
                        weight: r.weight,
                        words: self.words_of(self.rule_programs.hit_atoms(i, &hits)),
                        set_aside: Some(r.category) == excluded,
                    },
                ))
            })
            .collect();
        rules.sort_by_key(|(i, m)| (std::cmp::Reverse(m.weight), *i));
        let priority_rules = self
            .raise_programs
            .matching(&hits, who)
            .filter_map(|i| {
                let r = self.raises.get(i)?;
                Some(PriorityMatch {
                    rule: r.name.clone(),
                    priority: r.priority.as_str().to_string(),
                    words: self.words_of(self.raise_programs.hit_atoms(i, &hits)),
                })
            })
            .collect();
        Explanation {
            sender: match who {
                Role::Internal => "internal",
                Role::Customer => "customer",
                Role::Supplier => "supplier",
                Role::Unknown => "unknown",
            },
            rules: rules.into_iter().map(|(_, m)| m).collect(),
            priority_rules,
            learned: self.learned.as_ref().and_then(|model| {
                let (decided, _) = self.decide(msg, ctx, &hits, who);
                let rules = (decided.category, decided.department.as_str());
                let r = model.reasons(msg, who == Role::Internal, rules, 8)?;
                let shown =
                    |l: &super::learned::Label| format!("{}/{}", l.category.as_str(), l.department);
                Some(LearnedMatch {
                    best: shown(&r.verdict.label),
                    runner_up: r.verdict.runner_up.as_ref().map(shown),
                    margin: (r.verdict.margin * 10.0).round() / 10.0,
                    lead_over_rules: (r.verdict.lead * 10.0).round() / 10.0,
                    overrules_above: model.margin,
                    words: r.words,
                })
            }),
        }
    }

    fn words_of(&self, atoms: Vec<u32>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in atoms {
            if let Some((field, word)) = self.words.get(a as usize) {
                let shown = format!("{}: {word}", field_name(field));
                if !out.contains(&shown) {
                    out.push(shown);
                }
            }
        }
        out
    }
}

fn field_name(field: &Field) -> String {
    match field {
        Field::Subject => "subject".into(),
        Field::Body => "body".into(),
        Field::From => "from".into(),
        Field::To => "to".into(),
        Field::Header(name) => format!("header:{name}"),
    }
}
