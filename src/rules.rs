//! Classification: which kind of matter a message is, which department it goes to,
//! and how urgent it is, decided by rule files (`rules/*.toml`) the company edits.
//!
//! The files are written by department heads, not programmers, so the format is
//! words in lists (see `rules/README.md`); the loader is strict and reports every
//! problem as `file:line: reason` (`file`), words become literals or regexes
//! (`pattern`), the words of every field are found in one pass over each field of a
//! message (`scan`), and rules are boolean logic over the hits (`compile`).
//! `department = "named"` is resolved per message (`department`).
//!
//! Deciding, in order: the matching rule with the highest weight gives category,
//! department and priority (ties: the earlier file by name, then the earlier rule in
//! the file); no match leaves the mail unclassified for the triage department. Then
//! every matching priority rule raises the priority to at least its level, and a VIP
//! sender raises it one step more. A winning rule of category `unclassified` says
//! "this is not a case" (newsletters, adverts): nothing raises its priority.
//! Between the winner and the priority rules, the model learned from labelled mail
//! (`learned`, `learned.tsv` beside the rule files) may overrule category and
//! department where it is sure (`RuleSet::overrule` says when it may not).

mod compile;
mod department;
mod explain;
mod file;
mod hash;
pub mod learned;
mod parties;
mod pattern;
mod scan;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests_learned;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests_routing;

use std::path::Path;

use crate::case::{Category, Priority};
use crate::message::Message;
use compile::{Builder, Matcher, Programs};
pub use explain::{Explanation, LearnedMatch, PriorityMatch, RuleMatch};
use file::{Role, Source, Target};
pub use parties::{NO_PARTIES, Parties, Party, PartyRole};

/// A department as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentRef {
    pub id: String,
    /// Lower-case.
    pub address: String,
    /// The names the department goes by in mail, e.g. `["物流部", "Logistics", "物流"]`.
    pub names: Vec<String>,
}

/// What classification needs to know about the company.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub departments: &'a [DepartmentRef],
    /// Mail from these domains (and their subdomains) is internal.
    pub internal_domains: &'a [String],
    /// Domains (matching subdomains too) or addresses.
    pub vip_customers: &'a [String],
    /// `[intake] suppliers`: domains (matching subdomains too) or addresses.
    pub suppliers: &'a [String],
    /// `[intake] parties`: the parties file, after the two lists above.
    pub parties: &'a Parties,
    /// The role the sender's earlier cases ended with after the departments'
    /// corrections (`store::corrections`): the last word on who they are, when
    /// neither the lists nor the parties file know them.
    pub history: Option<PartyRole>,
    pub triage_department: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub category: Category,
    pub priority: Priority,
    pub department: String,
    /// The rules that decided it: the winner first, then the priority rules that
    /// raised the priority above the winner's, then `vip-customer` if that raised it.
    pub rules: Vec<String>,
    /// The winner is a `set_aside = true` rule: the mail is not a case.
    pub set_aside: bool,
    /// Every department the message asks ([`RuleSet::departments_asked`]), when the
    /// winner's `department = "named"` had them looked for: routing a collaboration
    /// request to all of them need not look again.
    pub asked: Option<Vec<String>>,
}

/// Every department a message asks (a collaboration request asks several), the one
/// `department = "named"` picks first; never the sender's own.
/// (The config's department names only; [`RuleSet::departments_asked`] adds the
/// rules' `[departments]` vocabulary.)
pub fn departments_asked(msg: &Message, ctx: &Context<'_>) -> Vec<String> {
    department::asked(msg, ctx, &department::Extra::default())
}

#[derive(Debug)]
struct RuleMeta {
    name: String,
    category: Category,
    target: Target,
    priority: Priority,
    weight: i64,
    set_aside: bool,
}

#[derive(Debug)]
struct RaiseMeta {
    name: String,
    priority: Priority,
    /// Only mail classified as one of these; empty for any.
    categories: Vec<Category>,
}

/// A loaded, checked and compiled set of rules.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<RuleMeta>,
    raises: Vec<RaiseMeta>,
    matcher: Matcher,
    rule_programs: Programs,
    raise_programs: Programs,
    /// `[departments]`: per department id, the names it goes by (lower-case).
    vocabulary: department::Extra,
    /// Each atom's field and word, for `explain`.
    words: Vec<(file::Field, String)>,
    /// `learned.tsv` beside the rules, when there is one ([`learned`]).
    learned: Option<learned::Model>,
}

/// The model file `load_dir` reads beside the rule files, when it is there.
pub const LEARNED_FILE: &str = "learned.tsv";

impl RuleSet {
    /// Reads every `*.toml` file in `dir` in name order. Any problem in any file
    /// refuses the whole set; the `Err` lists every problem as `file:line: reason`.
    pub fn load_dir(dir: &Path, department_ids: &[&str]) -> Result<RuleSet, Vec<String>> {
        let shown = dir.display();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| vec![format!("{shown}: cannot read the rules directory: {e}")])?;
        let mut paths = Vec::new();
        let mut problems = Vec::new();
        for entry in entries {
            match entry {
                Ok(e) => {
                    let path = e.path();
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    // Editors leave `.name.toml.swp`-like files; a hidden file is never a rule
                    // file, and `sla.toml` beside the rules holds the service levels.
                    if name.ends_with(".toml")
                        && !name.starts_with('.')
                        && name != "sla.toml"
                        && path.is_file()
                    {
                        paths.push(path);
                    }
                }
                Err(e) => problems.push(format!("{shown}: cannot list the rules directory: {e}")),
            }
        }
        paths.sort();
        if paths.is_empty() && problems.is_empty() {
            problems.push(format!(
                "{shown}: no rules: the directory has no *.toml files"
            ));
        }
        let mut sources = Vec::with_capacity(paths.len());
        for path in paths {
            let name = path.display().to_string();
            match std::fs::read(&path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => sources.push(Source { name, text }),
                    Err(_) => problems.push(format!(
                        "{name}:1: not UTF-8 text: save the file as UTF-8 (Unicode)"
                    )),
                },
                Err(e) => problems.push(format!("{name}: cannot read: {e}")),
            }
        }
        let learned_path = dir.join(LEARNED_FILE);
        let learned = match std::fs::read_to_string(&learned_path) {
            Ok(text) => match learned::Model::parse(&learned_path.display().to_string(), &text) {
                Ok(model) => Some(model),
                Err(e) => {
                    problems.push(e);
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                problems.push(format!("{}: cannot read: {e}", learned_path.display()));
                None
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut set = Self::build(&sources, department_ids).map_err(|errs| {
            errs.into_iter()
                .map(|e| {
                    if e.starts_with("no rules") || e.starts_with("no [[rule]]") {
                        format!("{shown}: {e}")
                    } else {
                        e
                    }
                })
                .collect::<Vec<_>>()
        })?;
        set.learned = learned;
        Ok(set)
    }

    /// Puts this learned model (or none) beside the rules.
    pub fn set_learned(&mut self, model: Option<learned::Model>) {
        self.learned = model;
    }

    pub fn learned(&self) -> Option<&learned::Model> {
        self.learned.as_ref()
    }

    /// Like `load_dir`, from `(file name, text)` pairs given in order.
    pub fn from_sources(
        sources: &[(&str, &str)],
        department_ids: &[&str],
    ) -> Result<RuleSet, Vec<String>> {
        let sources: Vec<Source> = sources
            .iter()
            .map(|(name, text)| Source {
                name: (*name).to_string(),
                text: (*text).to_string(),
            })
            .collect();
        Self::build(&sources, department_ids)
    }

    fn build(sources: &[Source], department_ids: &[&str]) -> Result<RuleSet, Vec<String>> {
        let defs = file::parse(sources, department_ids)?;
        let mut builder = Builder::default();
        let rule_group = builder.group();
        let raise_group = builder.group();
        let mut rules = Vec::with_capacity(defs.rules.len());
        for r in defs.rules {
            builder.add(&rule_group, r.sender, &r.blocks);
            rules.push(RuleMeta {
                name: r.name,
                category: r.category,
                target: r.target,
                priority: r.priority,
                weight: r.weight,
                set_aside: r.set_aside,
            });
        }
        let mut raises = Vec::with_capacity(defs.raises.len());
        for r in defs.raises {
            builder.add(&raise_group, r.sender, &r.blocks);
            raises.push(RaiseMeta {
                name: r.name,
                priority: r.priority,
                categories: r.categories,
            });
        }
        let vocabulary = department::Extra::new(defs.vocabulary.names).map_err(|e| vec![e])?;
        let compiled = builder.finish().map_err(|e| vec![e])?;
        let words = compiled.words;
        let mut groups = compiled.groups.into_iter();
        let (Some(rule_programs), Some(raise_programs)) = (groups.next(), groups.next()) else {
            return Err(vec!["internal error: rule groups missing".into()]);
        };
        Ok(RuleSet {
            rules,
            raises,
            matcher: compiled.matcher,
            rule_programs,
            raise_programs,
            vocabulary,
            words,
            learned: None,
        })
    }

    /// Every department a message asks, as [`departments_asked`], with the names of
    /// the rules' `[departments]` vocabulary as well as the config's.
    pub fn departments_asked(&self, msg: &Message, ctx: &Context<'_>) -> Vec<String> {
        department::asked(msg, ctx, &self.vocabulary)
    }

    /// The number of rules, classification and priority rules together.
    pub fn len(&self) -> usize {
        self.rules.len() + self.raises.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn classify(&self, msg: &Message, ctx: &Context<'_>) -> Classification {
        let hits = self.matcher.scan(msg);
        let who = role(&msg.from.email, ctx);
        let (mut c, raise) = self.decide(msg, ctx, &hits, who);
        let overruled = self.overrule(&mut c, msg, ctx, who);
        if raise || overruled {
            self.raise(&mut c, msg, ctx, &hits, who);
        }
        c
    }

    /// What the rules say, before priority rules; and whether priority rules apply
    /// (not to a winner that says "not a case").
    fn decide(
        &self,
        msg: &Message,
        ctx: &Context<'_>,
        hits: &compile::Hits,
        who: Role,
    ) -> (Classification, bool) {
        // Highest weight wins; `matching` yields ascending indices, so keeping the
        // first of equal weights keeps the earlier file and the earlier rule. A sender
        // known to be a customer or a supplier decides between complaint and supplier
        // dispute before the words do: the other side's rules are set aside, and if
        // one of them would have won alone, the mail takes the sender's side (`by_role`).
        let excluded = match who {
            Role::Customer => Some(Category::SupplierDispute),
            Role::Supplier => Some(Category::Complaint),
            Role::Internal | Role::Unknown => None,
        };
        let mut winner: Option<&RuleMeta> = None;
        let mut other_side: Option<&RuleMeta> = None;
        for i in self.rule_programs.matching(hits, who) {
            let Some(rule) = self.rules.get(i) else {
                continue;
            };
            let slot = if Some(rule.category) == excluded {
                &mut other_side
            } else {
                &mut winner
            };
            if slot.is_none_or(|w| rule.weight > w.weight) {
                *slot = Some(rule);
            }
        }

        let Some(rule) = winner else {
            let c = match other_side {
                Some(rule) => self.by_role(rule, who, ctx),
                None => Classification {
                    category: Category::Unclassified,
                    priority: Priority::Normal,
                    department: ctx.triage_department.to_string(),
                    rules: Vec::new(),
                    set_aside: false,
                    asked: None,
                },
            };
            return (c, true);
        };
        let mut asked = None;
        let department = match &rule.target {
            Target::Department(id) => id.clone(),
            Target::Named { fallback } => {
                let all = self.departments_asked(msg, ctx);
                let first = all.first().cloned();
                asked = Some(all);
                first.unwrap_or_else(|| fallback.clone())
            }
            Target::Triage => ctx.triage_department.to_string(),
        };
        let c = Classification {
            category: rule.category,
            priority: rule.priority,
            department,
            rules: vec![rule.name.clone()],
            set_aside: rule.set_aside,
            asked,
        };
        (c, rule.category != Category::Unclassified)
    }

    /// The learned model overrules the rules when it is sure by more than its margin
    /// over the rules' own class — but not on mail the rules set aside, not on a
    /// collaboration request the rules found, not against the sender's known side,
    /// not to make an outsider's mail a collaboration request, and not to a
    /// department the company does not have.
    fn overrule(
        &self,
        c: &mut Classification,
        msg: &Message,
        ctx: &Context<'_>,
        who: Role,
    ) -> bool {
        let Some(model) = &self.learned else {
            return false;
        };
        // Mail a rule set aside stays aside; a collaboration request the rules found is
        // theirs, that it is one and the departments it asks (the model's doubts
        // there were mostly a colleague's request read as a forwarded complaint or an
        // announcement: on g-p with the rules as first seen, leaving them alone took
        // both right from 600 to 611 of 660).
        if c.set_aside || c.category == Category::CollaborationRequest {
            return false;
        }
        let ours = (c.category, c.department.as_str());
        let Some(verdict) = model.judge(msg, who == Role::Internal, ours) else {
            return false;
        };
        let category = verdict.label.category;
        let department = if category == Category::Unclassified {
            ctx.triage_department
        } else {
            verdict.label.department.as_str()
        };
        let same = category == c.category && department == c.department;
        // The sender's known side; and colleagues file collaboration requests
        // (内部沟通), so no outsider's mail is made one.
        let other_side = matches!(
            (who, category),
            (Role::Customer, Category::SupplierDispute) | (Role::Supplier, Category::Complaint)
        ) || (category == Category::CollaborationRequest && who != Role::Internal);
        if verdict.lead <= model.margin
            || same
            || other_side
            || !ctx.departments.iter().any(|d| d.id == department)
        {
            return false;
        }
        c.rules.insert(0, file::LEARNED_RULE_NAME.to_string());
        c.category = category;
        c.department = department.to_string();
        c.asked = None;
        true
    }

    /// The words said "complaint" of a listed supplier's mail, or "supplier dispute"
    /// of a listed customer's: the sender's side wins, on the same topic where the
    /// departments share one (quality), else the side's usual department.
    fn by_role(&self, rule: &RuleMeta, who: Role, ctx: &Context<'_>) -> Classification {
        let quality = matches!(&rule.target, Target::Department(d) if d == "quality");
        let (category, department, name) = match who {
            Role::Supplier => (
                Category::SupplierDispute,
                if quality { "quality" } else { "procurement" },
                file::SUPPLIER_RULE_NAME,
            ),
            _ => (
                Category::Complaint,
                if quality {
                    "quality"
                } else {
                    ctx.triage_department
                },
                file::CUSTOMER_RULE_NAME,
            ),
        };
        let known = ctx.departments.iter().any(|d| d.id == department);
        Classification {
            category,
            priority: rule.priority,
            department: if known {
                department.to_string()
            } else {
                ctx.triage_department.to_string()
            },
            rules: vec![name.to_string(), rule.name.clone()],
            set_aside: false,
            asked: None,
        }
    }

    /// Priority rules, then the VIP step.
    fn raise(
        &self,
        c: &mut Classification,
        msg: &Message,
        ctx: &Context<'_>,
        hits: &compile::Hits,
        who: Role,
    ) {
        let base = c.priority;
        for i in self.raise_programs.matching(hits, who) {
            if let Some(r) = self.raises.get(i)
                && r.priority > base
                && (r.categories.is_empty() || r.categories.contains(&c.category))
            {
                c.priority = c.priority.max(r.priority);
                c.rules.push(r.name.clone());
            }
        }
        let vip = is_vip(&msg.from.email, ctx.vip_customers)
            || ctx.parties.lookup(&msg.from.email).is_some_and(|p| p.vip);
        if vip && c.priority != Priority::Urgent {
            c.priority = c.priority.raised();
            c.rules.push(file::VIP_RULE_NAME.to_string());
        }
    }
}

/// Whether the address's domain is `domain` or a subdomain of it.
fn in_domain(email: &str, domain: &str) -> bool {
    let have = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let want = domain.trim().trim_start_matches('@');
    if have.is_empty() || want.is_empty() {
        return false;
    }
    have.eq_ignore_ascii_case(want)
        || (have.len() > want.len()
            && have
                .get(have.len() - want.len() - 1..)
                .and_then(|tail| tail.strip_prefix('.'))
                .is_some_and(|tail| tail.eq_ignore_ascii_case(want)))
}

/// Who the sender is: a colleague, a listed supplier, a listed (VIP) customer, then
/// what the parties file says, then what their corrected history says; else unknown.
/// A domain on both lists is taken as a supplier's, since `suppliers` is the
/// narrower, deliberate list. A partner is neither side: the words decide.
fn role(email: &str, ctx: &Context<'_>) -> Role {
    if is_internal(email, ctx.internal_domains) {
        return Role::Internal;
    } else if is_vip(email, ctx.suppliers) {
        return Role::Supplier;
    } else if is_vip(email, ctx.vip_customers) {
        return Role::Customer;
    }
    let side = |r: PartyRole| match r {
        PartyRole::Customer => Role::Customer,
        PartyRole::Supplier => Role::Supplier,
        PartyRole::Partner => Role::Unknown,
    };
    match (ctx.parties.lookup(email), ctx.history) {
        (Some(p), _) => side(p.role),
        (None, Some(r)) => side(r),
        (None, None) => Role::Unknown,
    }
}

/// Whether `email` is a colleague's: its domain is one of `internal_domains` or a
/// subdomain of one.
pub fn is_internal(email: &str, internal_domains: &[String]) -> bool {
    internal_domains.iter().any(|d| in_domain(email, d))
}

/// Whether `email` is on a list like `vip_customers` or `suppliers`: an entry with an
/// `@` after its first character is an address; anything else (`bigclient.com`,
/// `@bigclient.com`) a domain, matching its subdomains too.
fn is_vip(email: &str, vips: &[String]) -> bool {
    vips.iter().any(|v| {
        let v = v.trim();
        if v.get(1..).is_some_and(|rest| rest.contains('@')) {
            v.eq_ignore_ascii_case(email)
        } else {
            in_domain(email, v)
        }
    })
}
