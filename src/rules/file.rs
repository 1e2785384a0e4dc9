//! Reading rule files: TOML text → checked rule definitions, or every problem at once.
//!
//! The files are edited by department heads and office staff, so this stage is
//! strict and talkative: an unknown key is an error (with the nearest known key as a
//! hint, since a misspelt `nonee` that was silently ignored would change what a rule
//! matches), and every problem is reported as `file:line: reason`, the line being the
//! key or value at fault, or the `[[rule]]` header for a problem of the whole rule.
//! The TOML is walked as a spanned tree (`toml::de::DeTable`) rather than through
//! serde so that one pass can collect every problem instead of stopping at the first.

use std::collections::HashMap;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::pattern::{self, Pattern};
use crate::case::{Category, Priority};

mod departments;
pub(crate) use departments::Vocabulary;

/// One rule file's name (as shown in messages) and text.
pub(crate) struct Source {
    pub name: String,
    pub text: String,
}

/// A part of the message that words are looked for in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Field {
    Subject,
    Body,
    /// The sender's display name and address.
    From,
    /// The To and Cc recipients' display names and addresses.
    To,
    /// Every header of this (lower-cased) name.
    Header(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sender {
    Any,
    Internal,
    External,
    /// A known customer: `vip_customers`.
    Customer,
    /// A known supplier: `suppliers`.
    Supplier,
}

/// Who a message's sender is, as far as the config knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Internal,
    Customer,
    Supplier,
    /// Outside the company, neither listed as customer nor as supplier.
    Unknown,
}

impl Sender {
    pub(crate) fn admits(self, who: Role) -> bool {
        match self {
            Sender::Any => true,
            Sender::Internal => who == Role::Internal,
            Sender::External => who != Role::Internal,
            Sender::Customer => who == Role::Customer,
            Sender::Supplier => who == Role::Supplier,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Department(String),
    /// The department the mail names, else `fallback`.
    Named {
        fallback: String,
    },
    /// The context's triage department (rules of category `unclassified`).
    Triage,
}

/// One `[[rule.match]]` block; the words are already patterns.
#[derive(Debug, Clone)]
pub(crate) struct BlockDef {
    pub fields: Vec<Field>,
    pub any: Vec<Pattern>,
    pub all: Vec<Pattern>,
    pub none: Vec<Pattern>,
}

#[derive(Debug, Clone)]
pub(crate) struct RuleDef {
    pub name: String,
    pub category: Category,
    pub target: Target,
    pub priority: Priority,
    pub weight: i64,
    /// `set_aside = true`: mail this rule wins is not a case (see `intake::set_aside`).
    pub set_aside: bool,
    pub sender: Sender,
    pub blocks: Vec<BlockDef>,
}

/// A `[[priority_rule]]`: raises the priority to at least `priority`.
#[derive(Debug, Clone)]
pub(crate) struct RaiseDef {
    pub name: String,
    pub priority: Priority,
    /// Only mail classified as one of these; empty for any.
    pub categories: Vec<Category>,
    pub sender: Sender,
    pub blocks: Vec<BlockDef>,
}

#[derive(Debug, Default)]
pub(crate) struct Defs {
    pub rules: Vec<RuleDef>,
    pub raises: Vec<RaiseDef>,
    /// `[departments]`: the names each department goes by in mail.
    pub vocabulary: Vocabulary,
}

/// The name `Classification::rules` uses for the VIP step; no rule may take it.
pub(crate) const VIP_RULE_NAME: &str = "vip-customer";
/// The names a classification records when the sender's listed role decided it.
pub(crate) const SUPPLIER_RULE_NAME: &str = "sender-supplier";
pub(crate) const CUSTOMER_RULE_NAME: &str = "sender-customer";
/// The name a classification records first when the learned model overruled the rules
/// (a sender's lesson, `store::corrections`, records "learned: …").
pub(crate) const LEARNED_RULE_NAME: &str = "learned-model";
const DEFAULT_WEIGHT: i64 = 10;
const DEFAULT_FALLBACK: &str = "admin";
const LIST_PREFIX: &str = "list:";

const TOP_KEYS: &[&str] = &["rule", "priority_rule", "lists", "departments"];
const RULE_KEYS: &[&str] = &[
    "name",
    "category",
    "department",
    "fallback",
    "priority",
    "weight",
    "set_aside",
    "sender",
    "match",
    "in",
    "any",
    "all",
    "none",
];
const RAISE_KEYS: &[&str] = &[
    "name", "priority", "category", "sender", "match", "in", "any", "all", "none",
];
const BLOCK_KEYS: &[&str] = &["in", "any", "all", "none"];

/// Parses and checks every source; a single problem anywhere refuses them all.
pub(crate) fn parse(sources: &[Source], department_ids: &[&str]) -> Result<Defs, Vec<String>> {
    // (index of the file, problem): reported in file order, each file in line order.
    let mut problems: Vec<(usize, String)> = Vec::new();
    let mut trees = Vec::new();
    let mut unreadable = false;
    for (index, src) in sources.iter().enumerate() {
        let (tree, errors) = DeTable::parse_recoverable(&src.text);
        let mut file = FileReport::new(src, false);
        if errors.is_empty() {
            trees.push((index, src, tree));
        } else {
            unreadable = true;
            // A file that is not valid TOML is not looked at further: its recovered
            // tree would only add confusing follow-on problems.
            for e in errors {
                let at = e.span().map(|s| s.start).unwrap_or(0);
                let msg = e.message().trim().to_string();
                file.problem(at, format!("not valid TOML: {msg}"));
            }
        }
        problems.extend(file.finish().into_iter().map(|p| (index, p)));
    }

    // Word lists first: any file may use a list defined in any other.
    let mut lists: HashMap<String, Vec<Pattern>> = HashMap::new();
    let mut list_origin: HashMap<String, String> = HashMap::new();
    let mut reports: Vec<FileReport<'_>> = Vec::new();
    let mut vocabulary = Vocabulary::default();
    for (_, src, tree) in &trees {
        let mut file = FileReport::new(src, unreadable);
        for (key, value) in tree.get_ref().iter() {
            if !TOP_KEYS.contains(&key.get_ref().as_ref()) {
                let msg = unknown_key(key.get_ref(), TOP_KEYS, "at the top of a rule file");
                file.problem(key.span().start, msg);
            }
            if key.get_ref() == "lists" {
                file.lists(value, &mut lists, &mut list_origin);
            }
            if key.get_ref() == "departments" {
                file.departments(value, department_ids, &mut vocabulary);
            }
        }
        reports.push(file);
    }

    let mut defs = Defs {
        vocabulary,
        ..Defs::default()
    };
    let mut names: HashMap<String, (String, usize)> = HashMap::new();
    for ((index, _, tree), mut file) in trees.iter().zip(reports) {
        let table = tree.get_ref();
        if let Some(rules) = table.get("rule") {
            for item in file.tables(rules, "rule") {
                file.unique_name(item, &mut names);
                if let Some(rule) = file.rule(item, department_ids, &lists) {
                    defs.rules.push(rule);
                }
            }
        }
        if let Some(raises) = table.get("priority_rule") {
            for item in file.tables(raises, "priority_rule") {
                file.unique_name(item, &mut names);
                if let Some(raise) = file.raise(item, &lists) {
                    defs.raises.push(raise);
                }
            }
        }
        problems.extend(file.finish().into_iter().map(|p| (*index, p)));
    }

    if problems.is_empty() && defs.rules.is_empty() && defs.raises.is_empty() {
        return Err(vec![
            "no rules: no file defines a [[rule]] or [[priority_rule]]".into(),
        ]);
    } else if problems.is_empty() && defs.rules.is_empty() {
        return Err(vec![
            "no [[rule]]: priority rules alone cannot classify anything; add at least one [[rule]]"
                .into(),
        ]);
    }
    if problems.is_empty() {
        Ok(defs)
    } else {
        problems.sort_by_key(|(index, _)| *index);
        Err(problems.into_iter().map(|(_, p)| p).collect())
    }
}

/// The problems found in one file, reported in line order.
struct FileReport<'a> {
    name: &'a str,
    /// Where each line but the first starts, for `line` (a file of a thousand rules
    /// would otherwise be counted through once per rule).
    line_starts: Vec<usize>,
    problems: Vec<(usize, String)>,
    /// Some file could not be read as TOML, so its word lists are missing: an unknown
    /// list is then not reported (it is most likely defined there).
    lists_incomplete: bool,
}

/// What is shared by `[[rule]]` and `[[priority_rule]]`.
struct Common {
    name: Option<String>,
    priority: Option<Priority>,
    sender: Sender,
    blocks: Vec<BlockDef>,
}

impl<'a> FileReport<'a> {
    fn new(src: &'a Source, lists_incomplete: bool) -> FileReport<'a> {
        FileReport {
            name: &src.name,
            line_starts: src
                .text
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1)
                .collect(),
            problems: Vec::new(),
            lists_incomplete,
        }
    }

    fn problem(&mut self, at: usize, msg: String) {
        let line = self.line(at);
        self.problems.push((line, msg));
    }

    /// The 1-based line of byte offset `at`.
    fn line(&self, at: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= at) + 1
    }

    fn finish(mut self) -> Vec<String> {
        self.problems.sort_by_key(|(line, _)| *line);
        self.problems
            .into_iter()
            .map(|(line, msg)| format!("{}:{line}: {msg}", self.name))
            .collect()
    }

    /// Notes the rule's name, complaining if an earlier rule (of either kind, in any
    /// file) has it. Looked at even when the rest of the rule is broken, so that a
    /// duplicate is reported in the same round as the other problems.
    fn unique_name(
        &mut self,
        item: &Spanned<DeValue<'_>>,
        seen: &mut HashMap<String, (String, usize)>,
    ) {
        let Some(name) = item
            .get_ref()
            .as_table()
            .and_then(|t| t.get("name"))
            .and_then(|v| v.get_ref().as_str())
            .map(str::trim)
            .filter(|n| !n.is_empty())
        else {
            return;
        };
        let at = item.span().start;
        let line = self.line(at);
        if [
            VIP_RULE_NAME,
            SUPPLIER_RULE_NAME,
            CUSTOMER_RULE_NAME,
            LEARNED_RULE_NAME,
        ]
        .contains(&name)
        {
            self.problem(
                at,
                format!("the name \"{name}\" is reserved for what Switchboard records itself"),
            );
        } else if let Some((file, first)) = seen.get(name) {
            self.problem(
                at,
                format!("duplicate rule name \"{name}\": already used at {file}:{first}"),
            );
        } else {
            seen.insert(name.to_string(), (self.name.to_string(), line));
        }
    }

    /// The tables of an array of tables (`[[rule]]`); anything else is a problem.
    fn tables<'v, 'i>(
        &mut self,
        value: &'v Spanned<DeValue<'i>>,
        what: &str,
    ) -> Vec<&'v Spanned<DeValue<'i>>> {
        let mut out = Vec::new();
        match value.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    if item.get_ref().is_table() {
                        out.push(item);
                    } else {
                        self.problem(
                            item.span().start,
                            format!("each `{what}` must be a table written [[{what}]]"),
                        );
                    }
                }
            }
            DeValue::Table(_) => out.push(value),
            other => self.problem(
                value.span().start,
                format!(
                    "`{what}` must be written as [[{what}]] blocks, found {}",
                    other.type_str()
                ),
            ),
        }
        out
    }

    fn lists(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        lists: &mut HashMap<String, Vec<Pattern>>,
        origin: &mut HashMap<String, String>,
    ) {
        let DeValue::Table(table) = value.get_ref() else {
            self.problem(
                value.span().start,
                "`lists` must be a table: [lists] followed by lines like name = [\"word\", …]"
                    .into(),
            );
            return;
        };
        for (key, words) in table.iter() {
            let name = key.get_ref().trim().to_string();
            let at = key.span().start;
            if let Some(first) = origin.get(&name) {
                self.problem(
                    at,
                    format!("duplicate word list \"{name}\": already defined at {first}"),
                );
                continue;
            }
            origin.insert(name.clone(), format!("{}:{}", self.name, self.line(at)));
            let words = self.words(words, &name, &HashMap::new(), false);
            lists.insert(name, words);
        }
    }

    fn rule(
        &mut self,
        item: &Spanned<DeValue<'_>>,
        department_ids: &[&str],
        lists: &HashMap<String, Vec<Pattern>>,
    ) -> Option<RuleDef> {
        let at = item.span().start;
        let table = item.get_ref().as_table()?;
        let common = self.common(table, at, RULE_KEYS, "[[rule]]", lists);

        let category = match table.get("category") {
            None => {
                self.problem(
                    at,
                    "rule has no `category`: complaint, supplier_dispute, collaboration_request or unclassified"
                        .into(),
                );
                None
            }
            Some(v) => self.string(v, "category").and_then(|s| {
                let found = parse_category(&s);
                if found.is_none() {
                    self.problem(
                        v.span().start,
                        format!(
                            "unknown category \"{s}\": expected complaint, supplier_dispute, \
                             collaboration_request or unclassified"
                        ),
                    );
                }
                found
            }),
        };

        let known = |id: &str| department_ids.contains(&id);
        let fallback = table.get("fallback").and_then(|v| {
            let s = self.string(v, "fallback")?;
            if known(&s) {
                Some(s)
            } else {
                self.problem(v.span().start, unknown_department(&s, department_ids));
                None
            }
        });
        let target = match table.get("department") {
            None if category == Some(Category::Unclassified) => Some(Target::Triage),
            None => {
                self.problem(
                    at,
                    "rule has no `department`: the id of a department, or \"named\"".into(),
                );
                None
            }
            Some(v) => match self.string(v, "department") {
                Some(s) if s == "named" => match fallback {
                    Some(f) => Some(Target::Named { fallback: f }),
                    None if table.contains_key("fallback") => None,
                    None if known(DEFAULT_FALLBACK) => Some(Target::Named {
                        fallback: DEFAULT_FALLBACK.into(),
                    }),
                    None => {
                        self.problem(
                            v.span().start,
                            format!(
                                "department = \"named\" needs a `fallback` department: \
                                 there is no department \"{DEFAULT_FALLBACK}\" to default to"
                            ),
                        );
                        None
                    }
                },
                Some(s) if known(&s) => Some(Target::Department(s)),
                Some(s) => {
                    self.problem(v.span().start, unknown_department(&s, department_ids));
                    None
                }
                None => None,
            },
        };
        if let (Some(v), Some(Target::Department(_) | Target::Triage)) =
            (table.get("fallback"), &target)
        {
            self.problem(
                v.span().start,
                "`fallback` only applies with department = \"named\"".into(),
            );
        }

        let weight = match table.get("weight") {
            None => Some(DEFAULT_WEIGHT),
            Some(v) => {
                let parsed = match v.get_ref() {
                    DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
                    _ => None,
                };
                if parsed.is_none() {
                    self.problem(
                        v.span().start,
                        format!(
                            "`weight` must be a whole number like 30, found {}",
                            v.get_ref().type_str()
                        ),
                    );
                }
                parsed
            }
        };

        let set_aside = match table.get("set_aside") {
            None => Some(false),
            Some(v) => match v.get_ref() {
                DeValue::Boolean(b) if *b && category != Some(Category::Unclassified) => {
                    self.problem(
                        v.span().start,
                        "`set_aside = true` is for rules of category \"unclassified\": mail that is not a case".into(),
                    );
                    None
                }
                DeValue::Boolean(b) => Some(*b),
                other => {
                    self.problem(
                        v.span().start,
                        format!(
                            "`set_aside` must be true or false, found {}",
                            other.type_str()
                        ),
                    );
                    None
                }
            },
        };

        Some(RuleDef {
            name: common.name?,
            category: category?,
            target: target?,
            priority: common.priority.unwrap_or(Priority::Normal),
            weight: weight?,
            set_aside: set_aside?,
            sender: common.sender,
            blocks: common.blocks,
        })
    }

    fn raise(
        &mut self,
        item: &Spanned<DeValue<'_>>,
        lists: &HashMap<String, Vec<Pattern>>,
    ) -> Option<RaiseDef> {
        let at = item.span().start;
        let table = item.get_ref().as_table()?;
        let common = self.common(table, at, RAISE_KEYS, "[[priority_rule]]", lists);
        if !table.contains_key("priority") {
            self.problem(
                at,
                "priority rule has no `priority`: the level it raises to (urgent, important)"
                    .into(),
            );
        }
        let mut categories = Vec::new();
        if let Some(v) = table.get("category") {
            for (s, at) in self.strings(v, "category") {
                match parse_category(&s) {
                    Some(c) => categories.push(c),
                    None => self.problem(
                        at,
                        format!(
                            "unknown category \"{s}\": expected complaint, supplier_dispute, \
                             collaboration_request or unclassified"
                        ),
                    ),
                }
            }
        }
        Some(RaiseDef {
            name: common.name?,
            priority: common.priority?,
            categories,
            sender: common.sender,
            blocks: common.blocks,
        })
    }

    fn common(
        &mut self,
        table: &DeTable<'_>,
        at: usize,
        allowed: &[&str],
        what: &str,
        lists: &HashMap<String, Vec<Pattern>>,
    ) -> Common {
        for key in table.keys() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                let msg = unknown_key(key.get_ref(), allowed, &format!("in {what}"));
                self.problem(key.span().start, msg);
            }
        }
        let name = match table.get("name") {
            None => {
                self.problem(at, "rule has no `name`".into());
                None
            }
            Some(v) => self.string(v, "name").and_then(|s| {
                if s.is_empty() {
                    self.problem(v.span().start, "`name` is empty".into());
                    None
                } else {
                    Some(s)
                }
            }),
        };
        let priority = table.get("priority").and_then(|v| {
            let s = self.string(v, "priority")?;
            let p = Priority::parse(&s);
            if p.is_none() {
                self.problem(
                    v.span().start,
                    format!("unknown priority \"{s}\": expected urgent/紧急, important/重要 or normal/一般"),
                );
            }
            p
        });
        let sender = match table.get("sender") {
            None => Sender::Any,
            Some(v) => match self.string(v, "sender").as_deref() {
                Some("any" | "任意" | "不限") => Sender::Any,
                Some("internal" | "内部") => Sender::Internal,
                Some("external" | "外部") => Sender::External,
                Some("customer" | "客户" | "客戶") => Sender::Customer,
                Some("supplier" | "供应商" | "供應商") => Sender::Supplier,
                Some(other) => {
                    self.problem(
                        v.span().start,
                        format!(
                            "unknown sender \"{other}\": expected external, internal, customer, supplier or any"
                        ),
                    );
                    Sender::Any
                }
                None => Sender::Any,
            },
        };

        let mut blocks = Vec::new();
        let mut ok = true;
        if BLOCK_KEYS.iter().any(|k| table.contains_key(*k)) {
            // The one-block shorthand: in/any/all/none written in the rule itself.
            match self.block(table, at, lists) {
                Some(b) => blocks.push(b),
                None => ok = false,
            }
        }
        if let Some(value) = table.get("match") {
            let block_name = format!("{}.match", what.trim_matches(['[', ']']));
            for item in self.tables(value, &block_name) {
                let Some(block_table) = item.get_ref().as_table() else {
                    continue;
                };
                for key in block_table.keys() {
                    if !BLOCK_KEYS.contains(&key.get_ref().as_ref()) {
                        let msg = unknown_key(key.get_ref(), BLOCK_KEYS, "in a match block");
                        self.problem(key.span().start, msg);
                    }
                }
                match self.block(block_table, item.span().start, lists) {
                    Some(b) => blocks.push(b),
                    None => ok = false,
                }
            }
        }
        if ok && blocks.is_empty() {
            let what = what.trim_matches(['[', ']']);
            self.problem(
                at,
                format!("rule has nothing to match: add a [[{what}.match]] block with `any` or `all` words"),
            );
        } else if ok && blocks.iter().all(|b| b.any.is_empty() && b.all.is_empty()) {
            self.problem(
                at,
                "rule has only `none` words, so it would match nearly every message: \
                 add `any` or `all` words"
                    .into(),
            );
        }
        Common {
            name,
            priority,
            sender,
            blocks: if ok { blocks } else { Vec::new() },
        }
    }

    /// One match block from the keys `in`, `any`, `all`, `none` of `table`.
    fn block(
        &mut self,
        table: &DeTable<'_>,
        at: usize,
        lists: &HashMap<String, Vec<Pattern>>,
    ) -> Option<BlockDef> {
        let before = self.problems.len();
        let fields = match table.get("in") {
            None => vec![Field::Subject, Field::Body],
            Some(v) => {
                let mut fields = Vec::new();
                for (item, item_at) in self.strings(v, "in") {
                    match parse_field(&item) {
                        Some(f) if !fields.contains(&f) => fields.push(f),
                        Some(_) => {}
                        None => self.problem(
                            item_at,
                            format!(
                                "unknown place \"{item}\" in `in`: expected subject, body, from, to \
                                 or header:Header-Name"
                            ),
                        ),
                    }
                }
                if fields.is_empty() && self.problems.len() == before {
                    self.problem(v.span().start, "`in` is empty: say where to look".into());
                }
                fields
            }
        };
        let mut words = |key: &str| match table.get(key) {
            None => Vec::new(),
            Some(v) => self.words(v, key, lists, true),
        };
        let any = words("any");
        let all = words("all");
        let none = words("none");
        if self.problems.len() != before {
            return None;
        }
        if any.is_empty() && all.is_empty() && none.is_empty() {
            if !self.lists_incomplete {
                self.problem(
                    at,
                    "empty match block: give `any`, `all` or `none` words".into(),
                );
            }
            return None;
        }
        Some(BlockDef {
            fields,
            any,
            all,
            none,
        })
    }

    /// The patterns of a word list value (a string or an array of strings), with
    /// `list:NAME` entries replaced by the named list when `use_lists` is set.
    fn words(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        key: &str,
        lists: &HashMap<String, Vec<Pattern>>,
        use_lists: bool,
    ) -> Vec<Pattern> {
        let mut out = Vec::new();
        for (word, at) in self.strings(value, key) {
            if let Some(list) = word.trim().strip_prefix(LIST_PREFIX) {
                let list = list.trim();
                if !use_lists {
                    self.problem(
                        at,
                        format!("a word list cannot use another list (\"{word}\")"),
                    );
                } else if let Some(patterns) = lists.get(list) {
                    out.extend(patterns.iter().cloned());
                } else if !self.lists_incomplete {
                    self.problem(
                        at,
                        format!(
                            "unknown word list \"{list}\": define it under [lists] in any rule file"
                        ),
                    );
                }
                continue;
            }
            // In a TOML "…" string, \b and \f are escapes for control characters, so a
            // regex written "/\bword\b/" arrives with backspaces in it and would never
            // match. Nobody means a backspace in a mail word.
            if let Some(c) = word.chars().find(|c| matches!(c, '\u{8}' | '\u{c}')) {
                let escape = if c == '\u{8}' { "\\b" } else { "\\f" };
                self.problem(
                    at,
                    format!(
                        "a word contains {escape} read as a control character: inside \"…\" write \\{escape}, \
                         or put the word in single quotes '…'"
                    ),
                );
                continue;
            }
            match pattern::parse(&word) {
                Ok(p) => out.push(p),
                Err(e) => self.problem(at, e),
            }
        }
        out
    }

    /// A string or an array of strings, each with its position.
    fn strings(&mut self, value: &Spanned<DeValue<'_>>, key: &str) -> Vec<(String, usize)> {
        match value.get_ref() {
            DeValue::String(s) => vec![(s.to_string(), value.span().start)],
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => out.push((s.to_string(), item.span().start)),
                        other => self.problem(
                            item.span().start,
                            format!(
                                "`{key}` must list words in quotes, found {}",
                                other.type_str()
                            ),
                        ),
                    }
                }
                out
            }
            other => {
                self.problem(
                    value.span().start,
                    format!(
                        "`{key}` must be a list like [\"word\", \"another\"], found {}",
                        other.type_str()
                    ),
                );
                Vec::new()
            }
        }
    }

    fn string(&mut self, value: &Spanned<DeValue<'_>>, key: &str) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.trim().to_string()),
            other => {
                self.problem(
                    value.span().start,
                    format!("`{key}` must be text in quotes, found {}", other.type_str()),
                );
                None
            }
        }
    }
}

fn parse_category(s: &str) -> Option<Category> {
    Category::ALL
        .into_iter()
        .find(|c| c.as_str() == s || c.label_zh() == s)
}

fn parse_field(s: &str) -> Option<Field> {
    let s = s.trim();
    if let Some((kind, name)) = s.split_once(':')
        && kind.trim().eq_ignore_ascii_case("header")
    {
        let name = name.trim();
        let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        return valid.then(|| Field::Header(name.to_ascii_lowercase()));
    }
    match s.to_ascii_lowercase().as_str() {
        "subject" | "主题" | "标题" => Some(Field::Subject),
        "body" | "正文" => Some(Field::Body),
        "from" | "发件人" => Some(Field::From),
        "to" | "收件人" => Some(Field::To),
        _ => None,
    }
}

fn unknown_department(s: &str, ids: &[&str]) -> String {
    let mut msg = format!("unknown department \"{s}\"");
    if let Some(near) = nearest(s, ids) {
        msg.push_str(&format!(" (did you mean \"{near}\"?)"));
    }
    msg.push_str(&format!("; known: {}", ids.join(", ")));
    msg
}

fn unknown_key(key: &str, allowed: &[&str], place: &str) -> String {
    let mut msg = format!("unknown key `{key}` {place}");
    if let Some(near) = nearest(key, allowed) {
        msg.push_str(&format!(" (did you mean `{near}`?)"));
    } else {
        msg.push_str(&format!("; expected one of: {}", allowed.join(", ")));
    }
    msg
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
fn nearest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let word = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let delete = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let insert = cur.last().copied().unwrap_or(0) + 1;
            cur.push(substitute.min(delete).min(insert));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}
