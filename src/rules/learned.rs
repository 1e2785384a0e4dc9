//! What the labelled mail teaches: a naive Bayes model over the words of a message,
//! learned from folders of labelled mail (`switchboard learn`) and kept beside the
//! rules as `learned.tsv`.
//!
//! Why beside word rules: rules say what a person decided; they are exact where they
//! match and silent where the sender used other words. Measured on blind batches,
//! each new round of rules closed the batch it was tuned on and barely moved the next
//! one, while a model learned from the other batches was right more often on the
//! fresh one than the rules were. So the rules decide, and the model overrules them
//! only when its best class leads the rules' own by a wide margin (`margin`, in nats
//! of log-likelihood) — never on mail the rules set aside, never on a collaboration
//! request the rules found (that it is one and the departments it asks are the
//! rules' exact business), never against the sender's known side, and never to make
//! an outsider's mail a collaboration request.
//!
//! Features: the subject and the first lines of the body (up to the first quoted
//! line, at most [`BODY_CHARS`] characters), as Chinese character pairs and Latin
//! words, each counted once per message, and whether the sender is a colleague. A
//! class is a (category, department) pair as the labels give it.
//!
//! The file is text so that an administrator can see what it holds; it is written by
//! `learn` in a fixed order, so the same labelled mail always gives the same file.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::Hasher;

use super::hash::{Fnv, PremixedMap};
use crate::case::Category;
use crate::message::Message;

/// The first line of every model file, with its format version.
const MAGIC: &str = "switchboard-learned\t1";
/// The body characters looked at: the matter is stated at the top, and the rest
/// (signatures, disclaimers, long histories) is mostly noise and time.
pub const BODY_CHARS: usize = 2000;
/// Laplace smoothing: small, because a word never seen with a class in a small
/// corpus is weak evidence against it. Chosen by leave-one-batch-out on the
/// shipped batches (0.5 → 0.05 took both-right from 504 to 550 of 660).
pub const DEFAULT_ALPHA: f64 = 0.05;
/// How far the model's best class must lead the class the rules decided before the
/// model overrules them (the runner-up's, where the model has no such class).
/// Leave-one-batch-out, both-right moved within about 1% from 8 to 25 (on the two
/// batches the rules were never tuned on, p and q, 110–113 of 120); at 20 the model
/// overrules least often where the rules were tuned and right, and no labelled
/// message of `tests/classify/` is overruled wrongly. Leading the rules' class rather
/// than the runner-up, on g–p with the rules as first seen: 15 gave 600 both right
/// of 660, 20 gave 600, 25 fewer. Learned from 1,821 messages, 20 overruled one
/// message of `tests/classify/` wrongly (a colleague's forward of a carrier's damage
/// that asks customer service to log it, lead 21.9); 22 is the least that does not,
/// at 608 of 660 on g–p against 611 at 20. Learned from 1,941 (aa and ab as well),
/// 22 overruled two (a colleague's forward of a damaged delivery, lead 23.9; a
/// customer's lawyer over a late delivery, 22.1): 24 is the least that does not, at
/// 742 of 780 both right on p–ab held out one at a time, against 745 at 22.
pub const DEFAULT_MARGIN: f64 = 24.0;
/// Words found in a single labelled message are left out: that lost at most one of
/// p and q's 120, overruled good rules less often elsewhere, and halves the model
/// (a lookup per word of every message, and loading at every start).
pub const DEFAULT_MIN_MESSAGES: u32 = 2;

/// How `learn` counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub alpha: f64,
    pub margin: f64,
    /// Words found in fewer labelled messages than this are left out: they say
    /// little about mail to come, and every word kept costs memory and lookups.
    pub min_messages: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            alpha: DEFAULT_ALPHA,
            margin: DEFAULT_MARGIN,
            min_messages: DEFAULT_MIN_MESSAGES,
        }
    }
}

/// A class the model knows: what the labels said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub category: Category,
    pub department: String,
}

impl Label {
    fn order_key(&self) -> (&'static str, &str) {
        (self.category.as_str(), &self.department)
    }
}

#[derive(Debug)]
struct Class {
    label: Label,
    docs: u32,
    /// Token occurrences (each token once per message) over all its messages.
    tokens: u64,
    /// ln P(class).
    log_prior: f64,
    /// The smoothed ln P(token | class) of a token never seen with the class.
    log_unseen: f64,
}

/// The learned model, ready to judge messages.
#[derive(Debug)]
pub struct Model {
    pub margin: f64,
    classes: Vec<Class>,
    /// Token key → index into `postings_at`.
    index: PremixedMap<u64, u32>,
    /// How many tokens the model knows.
    words: u32,
    postings_at: Vec<(u32, u32)>,
    /// (class, ln(1 + count/alpha)): what having seen the token with the class adds.
    postings: Vec<(u16, f32)>,
}

/// What the model makes of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub label: Label,
    pub runner_up: Option<Label>,
    /// ln-likelihood of the best class over the runner-up's.
    pub margin: f64,
    /// ln-likelihood of the best class over the rules' own (the class the model is
    /// asked to judge against); the margin when the model has no such class.
    pub lead: f64,
}

/// The words that weighed most for the best class against the runner-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Reasons {
    pub verdict: Verdict,
    pub words: Vec<String>,
}

/// Token keys: a Chinese character pair packs its two code points; anything else
/// (Latin words, the sender marks) is FNV-1a of its text with the top bit clear, so
/// the two kinds never meet.
fn pair_key(a: char, b: char) -> u64 {
    (1 << 63) | (u64::from(a) << 21) | u64::from(b)
}

fn word_key(w: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(w.as_bytes());
    h.finish() & !(1 << 63)
}

fn key_of(token: &str) -> u64 {
    let mut chars = token.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some(a), Some(b), None) if is_han(a) && is_han(b) => pair_key(a, b),
        _ => word_key(token),
    }
}

fn is_han(c: char) -> bool {
    ('\u{3400}'..='\u{9fff}').contains(&c)
}

const SENDER_INTERNAL: &str = "@internal";
const SENDER_EXTERNAL: &str = "@external";

/// The text the model reads: the subject, and the body up to its first quoted line
/// or [`BODY_CHARS`] characters (a line break counts as one).
fn visit_tokens(msg: &Message, internal: bool, mut each: impl FnMut(u64, &dyn Fn() -> String)) {
    let sender = if internal {
        SENDER_INTERNAL
    } else {
        SENDER_EXTERNAL
    };
    each(word_key(sender), &|| sender.to_string());
    let mut word = String::new();
    scan_line(&msg.subject, usize::MAX, &mut word, &mut each);
    let mut left = BODY_CHARS;
    for line in msg.body.lines() {
        if left == 0 || line.trim_start().starts_with('>') {
            break;
        }
        left = scan_line(line, left, &mut word, &mut each);
    }
}

/// Chinese character pairs and Latin words of one line, reading at most `left`
/// characters; what is left of `left` after the line and its break.
fn scan_line(
    line: &str,
    mut left: usize,
    word: &mut String,
    each: &mut impl FnMut(u64, &dyn Fn() -> String),
) -> usize {
    let mut prev_han: Option<char> = None;
    for c in line.chars() {
        if left == 0 {
            break;
        }
        left -= 1;
        // Only ASCII letters make words, so ASCII lowercasing is all the folding needed.
        let c = c.to_ascii_lowercase();
        if is_han(c) {
            if let Some(p) = prev_han {
                each(pair_key(p, c), &|| format!("{p}{c}"));
            }
            prev_han = Some(c);
        } else {
            prev_han = None;
        }
        if c.is_ascii_alphanumeric() || (c == '-' && !word.is_empty()) {
            if !word.is_empty() || c.is_ascii_lowercase() {
                word.push(c);
            }
        } else {
            flush_word(word, each);
        }
    }
    flush_word(word, each);
    left.saturating_sub(1)
}

fn flush_word(word: &mut String, each: &mut impl FnMut(u64, &dyn Fn() -> String)) {
    if word.len() >= 2 {
        let w = word.as_str();
        each(word_key(w), &|| w.to_string());
    }
    word.clear();
}

/// The distinct tokens of a message, as text (for learning).
pub fn tokens(msg: &Message, internal: bool) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    visit_tokens(msg, internal, |key, text| {
        if seen.insert(key) {
            out.push(text());
        }
    });
    out
}

impl Model {
    /// Counts labelled messages (each given as its distinct tokens) into the text of
    /// a model file, in a fixed order: classes by label, words by text.
    pub fn learn<'a>(
        docs: impl IntoIterator<Item = (&'a Label, &'a [String])>,
        settings: &Settings,
    ) -> String {
        let docs: Vec<(&Label, &[String])> = docs.into_iter().collect();
        let Settings {
            alpha,
            margin,
            min_messages,
        } = *settings;
        let mut labels: Vec<&Label> = docs.iter().map(|(l, _)| *l).collect();
        labels.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        labels.dedup();
        let mut docs_per = vec![0u32; labels.len()];
        let mut counts: HashMap<&str, HashMap<usize, u32>> = HashMap::new();
        for &(label, toks) in &docs {
            let Ok(c) = labels.binary_search_by(|l| l.order_key().cmp(&label.order_key())) else {
                continue;
            };
            if let Some(n) = docs_per.get_mut(c) {
                *n += 1;
            }
            for t in toks {
                *counts.entry(t.as_str()).or_default().entry(c).or_default() += 1;
            }
        }
        let mut rows: Vec<(&str, Vec<(usize, u32)>)> = counts
            .into_iter()
            .map(|(t, per)| {
                let mut per: Vec<(usize, u32)> = per.into_iter().collect();
                per.sort_unstable();
                (t, per)
            })
            .filter(|(_, per)| per.iter().map(|(_, n)| n).sum::<u32>() >= min_messages)
            .collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut text = String::new();
        write_header(&mut text, alpha, margin);
        let mut totals = vec![0u64; labels.len()];
        for (_, per) in &rows {
            for (c, n) in per {
                if let Some(t) = totals.get_mut(*c) {
                    *t += u64::from(*n);
                }
            }
        }
        for ((label, docs), tokens) in labels.iter().zip(&docs_per).zip(&totals) {
            let _ = writeln!(
                text,
                "class\t{}\t{}\t{docs}\t{tokens}",
                label.category.as_str(),
                label.department
            );
        }
        for (t, per) in rows {
            let list: Vec<String> = per.iter().map(|(c, n)| format!("{c}:{n}")).collect();
            let _ = writeln!(text, "word\t{t}\t{}", list.join(","));
        }
        text
    }

    fn empty() -> Model {
        Model {
            margin: 0.0,
            classes: Vec::new(),
            index: HashMap::default(),
            words: 0,
            postings_at: Vec::new(),
            postings: Vec::new(),
        }
    }

    /// Reads a model file; every problem is `name:line: reason`.
    pub fn parse(name: &str, text: &str) -> Result<Model, String> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let bad = |line: usize, why: &str| format!("{name}:{line}: {why}");
        match lines.next() {
            Some((_, l)) if l == MAGIC => {}
            _ => {
                return Err(bad(
                    1,
                    "not a learned model: the first line must be `switchboard-learned<TAB>1`; \
                     write it with `switchboard learn`",
                ));
            }
        }
        let mut alpha = None;
        let mut margin = None;
        let mut model = Model::empty();
        model
            .index
            .reserve(text.bytes().filter(|b| *b == b'\n').count());
        // (class, count) per posting, weighed once alpha is known.
        let mut counts: Vec<(u16, u32)> = Vec::with_capacity(text.len() / 8);
        for (n, line) in lines {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            // The fields without collecting them: the file has tens of thousands of
            // lines, and loading it is paid at every start.
            let mut split = line.split('\t');
            let kind = split.next().unwrap_or("");
            let fields: [Option<&str>; 5] = std::array::from_fn(|_| split.next());
            match (kind, fields) {
                ("alpha", [Some(v), None, ..]) => {
                    alpha = Some(
                        v.parse::<f64>()
                            .ok()
                            .filter(|a| *a > 0.0 && a.is_finite())
                            .ok_or_else(|| bad(n, "alpha must be a positive number"))?,
                    )
                }
                ("margin", [Some(v), None, ..]) => {
                    margin = Some(
                        v.parse::<f64>()
                            .ok()
                            .filter(|m| *m >= 0.0 && m.is_finite())
                            .ok_or_else(|| bad(n, "margin must be a number ≥ 0"))?,
                    )
                }
                (
                    "class",
                    [
                        Some(category),
                        Some(department),
                        Some(docs),
                        Some(tokens),
                        None,
                    ],
                ) => {
                    if model.words > 0 {
                        return Err(bad(n, "a class after the first word: classes come first"));
                    }
                    let category = Category::parse(category).ok_or_else(|| {
                        bad(
                            n,
                            "category must be complaint, supplier_dispute, \
                             collaboration_request or unclassified",
                        )
                    })?;
                    let docs =
                        docs.parse::<u32>().ok().filter(|d| *d > 0).ok_or_else(|| {
                            bad(n, "the message count must be a whole number > 0")
                        })?;
                    let tokens = tokens
                        .parse::<u64>()
                        .map_err(|_| bad(n, "the word count must be a whole number"))?;
                    if model.classes.len() >= usize::from(u16::MAX) {
                        return Err(bad(n, "too many classes"));
                    }
                    model.classes.push(Class {
                        label: Label {
                            category,
                            department: department.to_string(),
                        },
                        docs,
                        tokens,
                        log_prior: 0.0,
                        log_unseen: 0.0,
                    });
                }
                ("word", [Some(token), Some(list), None, ..]) => {
                    if token.is_empty() || token.contains(' ') {
                        return Err(bad(n, "a word must be one token without spaces"));
                    }
                    let start = counts.len();
                    parse_postings(list, model.classes.len(), &mut counts).ok_or_else(|| {
                        bad(
                            n,
                            "expected class:count pairs separated by commas, \
                             each class one listed above",
                        )
                    })?;
                    let (Ok(s), Ok(e)) = (u32::try_from(start), u32::try_from(counts.len())) else {
                        return Err(bad(n, "too many words"));
                    };
                    if model.index.insert(key_of(token), model.words).is_some() {
                        return Err(bad(n, "this word is listed twice"));
                    }
                    model.words += 1;
                    model.postings_at.push((s, e));
                }
                _ => {
                    return Err(bad(
                        n,
                        "expected `alpha`, `margin`, `class` or `word` and its tab-separated fields",
                    ));
                }
            }
        }
        let alpha = alpha.ok_or_else(|| bad(1, "no `alpha` line"))?;
        model.margin = margin.ok_or_else(|| bad(1, "no `margin` line"))?;
        if model.classes.len() < 2 {
            return Err(bad(1, "fewer than two classes: nothing to choose between"));
        }
        let vocab = f64::from(model.words);
        let docs: f64 = model.classes.iter().map(|c| f64::from(c.docs)).sum();
        for c in &mut model.classes {
            c.log_prior = (f64::from(c.docs) / docs).ln();
            c.log_unseen = alpha.ln() - (c.tokens as f64 + alpha * vocab).ln();
        }
        // Most counts are small: their weights once, not a logarithm per posting.
        let small: Vec<f32> = (0..64)
            .map(|k| (f64::from(k) / alpha).ln_1p() as f32)
            .collect();
        model.postings = counts
            .into_iter()
            .map(|(c, k)| {
                let weight = small
                    .get(k as usize)
                    .copied()
                    .unwrap_or_else(|| (f64::from(k) / alpha).ln_1p() as f32);
                (c, weight)
            })
            .collect();
        Ok(model)
    }

    /// Per class, the ln-likelihood of the message's tokens, and the tokens known.
    fn scores(&self, msg: &Message, internal: bool) -> (Vec<f64>, Vec<u32>) {
        let mut known: Vec<u32> = Vec::with_capacity(256);
        visit_tokens(msg, internal, |key, _| {
            if let Some(at) = self.index.get(&key) {
                known.push(*at);
            }
        });
        known.sort_unstable();
        known.dedup();
        let n = known.len() as f64;
        let mut scores: Vec<f64> = self
            .classes
            .iter()
            .map(|c| c.log_prior + n * c.log_unseen)
            .collect();
        for at in &known {
            for (c, v) in self.postings_of(*at) {
                if let Some(s) = scores.get_mut(usize::from(*c)) {
                    *s += f64::from(*v);
                }
            }
        }
        (scores, known)
    }

    fn postings_of(&self, at: u32) -> &[(u16, f32)] {
        self.postings_at
            .get(at as usize)
            .and_then(|(s, e)| self.postings.get(*s as usize..*e as usize))
            .unwrap_or(&[])
    }

    /// The best class for the message, and how far ahead it is of the runner-up and
    /// of `rules` (the category and department the rules decided).
    pub fn judge(&self, msg: &Message, internal: bool, rules: (Category, &str)) -> Option<Verdict> {
        let (scores, _) = self.scores(msg, internal);
        self.verdict(&scores, rules).map(|(v, _, _)| v)
    }

    fn verdict(
        &self,
        scores: &[f64],
        (category, department): (Category, &str),
    ) -> Option<(Verdict, usize, Option<usize>)> {
        // The best two in one pass: this runs for every message.
        let mut best: Option<(usize, f64)> = None;
        let mut second: Option<(usize, f64)> = None;
        for (i, &s) in scores.iter().enumerate() {
            if best.is_none_or(|(_, b)| s > b) {
                second = best;
                best = Some((i, s));
            } else if second.is_none_or(|(_, b)| s > b) {
                second = Some((i, s));
            }
        }
        let (best, top) = best?;
        let label = |i: usize| self.classes.get(i).map(|c| c.label.clone());
        let margin = second.map_or(f64::INFINITY, |(_, s)| top - s);
        let lead = self
            .classes
            .iter()
            .position(|c| c.label.category == category && c.label.department == department)
            .and_then(|i| scores.get(i))
            .map_or(margin, |s| top - s);
        Some((
            Verdict {
                label: label(best)?,
                runner_up: second.and_then(|(i, _)| label(i)),
                margin,
                lead,
            },
            best,
            second.map(|(i, _)| i),
        ))
    }

    /// The verdict with the words that weighed most for it against the runner-up.
    pub fn reasons(
        &self,
        msg: &Message,
        internal: bool,
        rules: (Category, &str),
        how_many: usize,
    ) -> Option<Reasons> {
        let (scores, known) = self.scores(msg, internal);
        let (verdict, best, second) = self.verdict(&scores, rules)?;
        let gain = |at: u32, class: usize| -> f64 {
            let Some(c) = self.classes.get(class) else {
                return 0.0;
            };
            let seen = self
                .postings_of(at)
                .iter()
                .find(|(k, _)| usize::from(*k) == class)
                .map_or(0.0, |(_, v)| f64::from(*v));
            c.log_unseen + seen
        };
        let mut weighed: Vec<(f64, u32)> = known
            .iter()
            .map(|at| {
                let against = second.map_or(0.0, |s| gain(*at, s));
                (gain(*at, best) - against, *at)
            })
            .filter(|(w, _)| *w > 0.0)
            .collect();
        weighed.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        weighed.truncate(how_many);
        // The model keeps no token texts (loading them would cost every start): read
        // them off the message again.
        let mut words: Vec<(usize, String)> = Vec::with_capacity(weighed.len());
        visit_tokens(msg, internal, |key, text| {
            if let Some(at) = self.index.get(&key)
                && let Some(rank) = weighed.iter().position(|(_, w)| w == at)
                && !words.iter().any(|(r, _)| *r == rank)
            {
                words.push((rank, text()));
            }
        });
        words.sort_unstable();
        let words = words.into_iter().map(|(_, w)| w).collect();
        Some(Reasons { verdict, words })
    }

    pub fn classes(&self) -> impl Iterator<Item = &Label> {
        self.classes.iter().map(|c| &c.label)
    }

    pub fn len(&self) -> usize {
        self.words as usize
    }

    pub fn is_empty(&self) -> bool {
        self.words == 0
    }
}

/// `3:12,7:1` onto `out` as (class, count), counts still to be weighed; `None` when
/// it is not that, or names a class at or past `classes`.
fn parse_postings(list: &str, classes: usize, out: &mut Vec<(u16, u32)>) -> Option<()> {
    // By hand over the bytes: this runs for every posting of every start.
    let number = |digits: &[u8]| -> Option<u32> {
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        digits.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    for item in list.as_bytes().split(|b| *b == b',') {
        let colon = item.iter().position(|b| *b == b':')?;
        let (c, k) = (number(item.get(..colon)?)?, number(item.get(colon + 1..)?)?);
        let c = u16::try_from(c).ok()?;
        if usize::from(c) >= classes || k == 0 {
            return None;
        }
        out.push((c, k));
    }
    Some(())
}

fn write_header(text: &mut String, alpha: f64, margin: f64) {
    let _ = writeln!(text, "{MAGIC}");
    let _ = writeln!(
        text,
        "# Learned from labelled mail by `switchboard learn`: learn again rather than edit.\n\
         # class: category, department, messages, words; word: token, class:messages pairs."
    );
    let _ = writeln!(text, "alpha\t{alpha}");
    let _ = writeln!(text, "margin\t{margin}");
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn msg(from: &str, subject: &str, body: &str) -> Message {
        let raw = format!(
            "From: {from}\r\nTo: support@example.com\r\nSubject: {subject}\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
        );
        Message::parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn tokens_are_chinese_pairs_latin_words_and_the_sender_up_to_the_quote() {
        let m = msg(
            "a@b.com",
            "Refund 退款未到",
            "PO-2024 was 123abc x\n> 质量问题 quoted\nafter",
        );
        let t = tokens(&m, false);
        assert_eq!(
            t,
            [
                "@external",
                "refund",
                "退款",
                "款未",
                "未到",
                "po-2024",
                "was",
                "abc"
            ]
        );
        assert_eq!(tokens(&m, true)[0], "@internal");
    }

    #[test]
    fn the_body_is_read_only_so_far() {
        let long = "甲乙 ".repeat(BODY_CHARS);
        let t = tokens(&msg("a@b.com", "x", &format!("{long}\n丙丁")), false);
        assert!(t.contains(&"甲乙".to_string()));
        assert!(!t.contains(&"丙丁".to_string()), "{t:?}");
    }

    fn learn(docs: &[(Label, Vec<String>)], settings: &Settings) -> String {
        Model::learn(docs.iter().map(|(l, t)| (l, t.as_slice())), settings)
    }

    fn label(category: Category, department: &str) -> Label {
        Label {
            category,
            department: department.into(),
        }
    }

    fn toy() -> Model {
        let docs = vec![
            (
                label(Category::Complaint, "logistics"),
                vec!["快递".into(), "没到".into(), "@external".into()],
            ),
            (
                label(Category::Complaint, "logistics"),
                vec!["快递".into(), "破损".into(), "@external".into()],
            ),
            (
                label(Category::Complaint, "finance"),
                vec!["发票".into(), "退款".into(), "@external".into()],
            ),
        ];
        let text = learn(
            &docs,
            &Settings {
                min_messages: 1,
                ..Settings::default()
            },
        );
        Model::parse("toy", &text).unwrap()
    }

    #[test]
    fn what_is_learned_is_written_in_order_and_read_back_alike() {
        let model = toy();
        assert_eq!(model.len(), 6);
        let text = learn(
            &[
                (
                    label(Category::Complaint, "finance"),
                    vec!["b".into(), "a".into()],
                ),
                (label(Category::Complaint, "logistics"), vec!["a".into()]),
            ],
            &Settings {
                alpha: 0.5,
                margin: 3.0,
                min_messages: 1,
            },
        );
        let words: Vec<&str> = text.lines().filter(|l| l.starts_with("word")).collect();
        assert_eq!(words, ["word\ta\t0:1,1:1", "word\tb\t0:1"]);
        assert!(text.contains("class\tcomplaint\tfinance\t1\t2\n"));
        let back = Model::parse("again", &text).unwrap();
        assert_eq!(back.margin, 3.0);
        assert_eq!(back.classes().count(), 2);
    }

    #[test]
    fn the_class_whose_words_the_message_shares_wins() {
        let model = toy();
        let late = msg("c@d.com", "快递没到", "我的快递三天没到");
        let finance = label(Category::Complaint, "finance");
        let v = model
            .judge(&late, false, (finance.category, &finance.department))
            .unwrap();
        assert_eq!(v.label, label(Category::Complaint, "logistics"));
        assert_eq!(v.runner_up, Some(finance.clone()));
        assert!(v.margin > 0.0);
        // Judged against the runner-up, the lead is the margin; against a class the
        // model does not have, too; against the best itself, nothing.
        assert_eq!(v.lead, v.margin);
        let unknown = label(Category::SupplierDispute, "legal");
        let against = |l: &Label| {
            model
                .judge(&late, false, (l.category, &l.department))
                .unwrap()
        };
        assert_eq!(against(&unknown).lead, v.margin);
        assert_eq!(against(&v.label).lead, 0.0);
        let r = model
            .reasons(
                &msg("c@d.com", "退款", "发票开错了，请退款"),
                false,
                (finance.category, &finance.department),
                3,
            )
            .unwrap();
        assert_eq!(r.verdict.label, label(Category::Complaint, "finance"));
        assert_eq!(r.words, ["发票", "退款"]);
    }

    #[test]
    fn a_broken_model_file_is_refused_with_its_line() {
        let good = learn(
            &[
                (label(Category::Complaint, "finance"), vec!["a".into()]),
                (label(Category::Complaint, "logistics"), vec!["b".into()]),
            ],
            &Settings {
                alpha: 0.5,
                margin: 3.0,
                min_messages: 1,
            },
        );
        for (text, line, says) in [
            ("hello\n".to_string(), 1, "not a learned model"),
            (good.replace("alpha\t0.5", "alpha\tmuch"), 4, "alpha"),
            (good.replace("0:1", "7:1"), 8, "class:count"),
            (good.replace("word\tb", "word\ta"), 9, "listed twice"),
            (
                good.replace("complaint\tlogistics", "grumble\tlogistics"),
                7,
                "category",
            ),
            (
                format!("{good}class\tcomplaint\tsales\t1\t1\n"),
                10,
                "classes come first",
            ),
            (good.replace("margin\t3\n", ""), 1, "no `margin`"),
        ] {
            let err = Model::parse("rules/learned.tsv", &text).unwrap_err();
            assert!(
                err.starts_with(&format!("rules/learned.tsv:{line}: ")) && err.contains(says),
                "{err}"
            );
        }
    }
}
