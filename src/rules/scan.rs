//! A message → the atoms it contains, reading each part of it once.
//!
//! An *atom* is one word of one field (`compile`). Nearly all words are plain words,
//! and a plain word is a literal in normalized text (`pattern::normalize`) with an
//! ASCII word boundary on either side or not; so every literal of every field is one
//! Aho-Corasick automaton, and a field is one pass of it: each place a literal is
//! found, the boundaries are checked and its atom set. The automaton is built whole
//! when the rules load, so the cost of a message does not depend on what came before.
//!
//! Why not one `RegexSet` per field, as before: the regex crate's lazy DFA builds its
//! states while it reads. With every word in one set, a state is a set of thousands
//! of partial matches, costing time in proportion to the number of words to build,
//! and nearly every new piece of text needs new ones: with 1,000 generated rules
//! more than 60 % of the time went to building DFA states
//! (`regex_automata::util::determinize::{epsilon_closure, next, add_nfa_states}`
//! under `perf record`) and a message took 27 ms.
//!
//! A `/regex/` word is run by itself, and only on a field that contains one of the
//! literals every match of it must start with (found by `regex-syntax` and put in the
//! same automaton); a regex without such literals (`/^\s*[12]\b/`) runs on every
//! message with that field.

use super::hash::FnvMap;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexBuilder};

use super::file::Field;
use super::pattern::{self, Pattern};
use crate::message::{Address, Message};

/// Which atoms a message contains.
pub(crate) struct Hits {
    bits: Vec<u64>,
}

impl Hits {
    fn new(atoms: usize) -> Hits {
        Hits {
            bits: vec![0; atoms.div_ceil(64)],
        }
    }

    pub(crate) fn get(&self, atom: u32) -> bool {
        let atom = atom as usize;
        self.bits
            .get(atom / 64)
            .is_some_and(|w| w & (1u64 << (atom % 64)) != 0)
    }

    fn set(&mut self, atom: u32) {
        let atom = atom as usize;
        if let Some(w) = self.bits.get_mut(atom / 64) {
            *w |= 1u64 << (atom % 64);
        }
    }

    /// The atoms that were hit, in ascending order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.bits.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(i * 64 + bit)
            })
        })
    }
}

/// What a literal found in field `field` means.
#[derive(Debug, Clone, Copy)]
struct Use {
    field: u32,
    what: Meaning,
}

#[derive(Debug, Clone, Copy)]
enum Meaning {
    /// The plain word `atom`, if the boundaries it needs are there.
    Word { atom: u32, left: bool, right: bool },
    /// The regex word `atom` may be there: a literal it starts with (`end` =
    /// `START`) or ends with (`END`) is. Once every end the regex has literals for
    /// has been seen, `regexes[regex]` is run.
    Regex { atom: u32, regex: u32, end: u8 },
}

const START: u8 = 1;
const END: u8 = 2;

#[derive(Debug)]
struct FieldScan {
    field: Field,
    /// Whether any literal is looked for in this field.
    literals: bool,
    /// Atoms of `*`.
    anything: Vec<u32>,
    /// Regex words with no literal to wait for, run on every message: (atom, regex).
    always: Vec<(u32, u32)>,
}

/// A user's regular expression, compiled when a message first needs it (see
/// `pattern::regex_word` for why not at startup).
#[derive(Debug)]
struct LazyRegex {
    source: String,
    /// The ends (`START | END`) that have literals to wait for.
    ends: u8,
    compiled: OnceLock<Option<Regex>>,
}

/// What a compiled regex may grow to. The loader has held each regex to
/// `pattern::REGEX_SIZE_LIMIT` already; this is the regex crate's default, which
/// only counts more of what the loader counted.
const REGEX_SIZE_LIMIT: usize = 10 << 20;

impl LazyRegex {
    fn is_match(&self, text: &str) -> bool {
        let compiled = self.compiled.get_or_init(|| {
            match RegexBuilder::new(&self.source)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
            {
                Ok(r) => Some(r),
                Err(e) => {
                    // Cannot happen for a regex the loader accepted; if it does, the
                    // word matches nothing rather than stopping classification.
                    tracing::error!(regex = %self.source, "A rule's regular expression cannot be compiled: {e}");
                    None
                }
            }
        });
        compiled.as_ref().is_some_and(|r| r.is_match(text))
    }
}

/// The compiled words of every field.
#[derive(Debug)]
pub(crate) struct Matcher {
    fields: Vec<FieldScan>,
    /// Every literal of every field; `None` when there are none.
    automaton: Option<AhoCorasick>,
    /// For each literal of the automaton, where it counts and what it means.
    uses: Vec<Vec<Use>>,
    /// Every distinct regex word, of any field.
    regexes: Vec<LazyRegex>,
    atom_count: usize,
}

impl Matcher {
    /// `atoms` are the atoms by id: the field (index in `fields`) and word of each.
    pub(crate) fn build(fields: Vec<Field>, atoms: Vec<(u32, Pattern)>) -> Result<Matcher, String> {
        let mut literals: Vec<String> = Vec::new();
        let mut literal_ids: FnvMap<String, usize> = FnvMap::default();
        let mut uses: Vec<Vec<Use>> = Vec::new();
        let mut add_use = |literal: String, u: Use| {
            let id = match literal_ids.get(&literal) {
                Some(&id) => id,
                None => {
                    literal_ids.insert(literal.clone(), literals.len());
                    literals.push(literal);
                    uses.push(Vec::new());
                    literals.len() - 1
                }
            };
            if let Some(list) = uses.get_mut(id) {
                list.push(u);
            }
        };
        let mut scans: Vec<FieldScan> = fields
            .into_iter()
            .map(|field| FieldScan {
                field,
                literals: false,
                anything: Vec::new(),
                always: Vec::new(),
            })
            .collect();
        let mut regexes: Vec<LazyRegex> = Vec::new();
        // The same regex in the subject and the body is one regex, compiled once.
        let mut regex_ids: FnvMap<String, u32> = FnvMap::default();
        let atom_count = atoms.len();
        for (atom, (field, pattern)) in atoms.into_iter().enumerate() {
            let atom = atom as u32;
            let Some(scan) = scans.get_mut(field as usize) else {
                return Err(format!("internal error: atom {atom} of an unknown field"));
            };
            match pattern {
                Pattern::Literal { text, left, right } => {
                    add_use(
                        text,
                        Use {
                            field,
                            what: Meaning::Word { atom, left, right },
                        },
                    );
                    scan.literals = true;
                }
                Pattern::Anything => scan.anything.push(atom),
                Pattern::Regex(re) => {
                    let ends = u8::from(re.prefixes.is_some()) * START
                        + u8::from(re.suffixes.is_some()) * END;
                    let regex = match regex_ids.get(&re.source) {
                        Some(&id) => id,
                        None => {
                            let id = regexes.len() as u32;
                            regex_ids.insert(re.source.clone(), id);
                            regexes.push(LazyRegex {
                                source: re.source,
                                ends,
                                compiled: OnceLock::new(),
                            });
                            id
                        }
                    };
                    if ends == 0 {
                        scan.always.push((atom, regex));
                    }
                    for (end, literals) in [(START, re.prefixes), (END, re.suffixes)] {
                        for literal in literals.into_iter().flatten() {
                            add_use(
                                literal,
                                Use {
                                    field,
                                    what: Meaning::Regex { atom, regex, end },
                                },
                            );
                            scan.literals = true;
                        }
                    }
                }
            }
        }
        let automaton = if literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&literals)
                    .map_err(|e| format!("the words cannot be compiled together: {e}"))?,
            )
        };
        Ok(Matcher {
            fields: scans,
            automaton,
            uses,
            regexes,
            atom_count,
        })
    }

    pub(crate) fn scan(&self, msg: &Message) -> Hits {
        self.scan_texts(msg)
    }

    fn scan_texts(&self, texts: &impl Texts) -> Hits {
        let mut hits = Hits::new(self.atom_count);
        let mut scratch = String::new();
        let mut normal = String::new();
        // (atom, regex, end) for every literal of a regex found in the field.
        let mut armed: Vec<(u32, u32, u8)> = Vec::new();
        for (fi, fs) in self.fields.iter().enumerate() {
            let text = texts.text(&fs.field, &mut scratch);
            if text.is_empty() {
                continue;
            }
            let lowered = pattern::lower(text);
            if !fs.anything.is_empty() && lowered.chars().any(|c| !c.is_whitespace()) {
                for &a in &fs.anything {
                    hits.set(a);
                }
            }
            if fs.literals
                && let Some(automaton) = &self.automaton
            {
                pattern::normalize_into(&lowered, &mut normal);
                let bytes = normal.as_bytes();
                let found = automaton.try_find_overlapping_iter(normal.as_str());
                for m in found.into_iter().flatten() {
                    let Some(uses) = self.uses.get(m.pattern().as_usize()) else {
                        continue;
                    };
                    for u in uses.iter().filter(|u| u.field as usize == fi) {
                        match u.what {
                            Meaning::Word { atom, left, right } => {
                                if !hits.get(atom)
                                    && (!left || !word_byte(bytes, m.start().checked_sub(1)))
                                    && (!right || !word_byte(bytes, Some(m.end())))
                                {
                                    hits.set(atom);
                                }
                            }
                            Meaning::Regex { atom, regex, end } => {
                                armed.push((atom, regex, end));
                            }
                        }
                    }
                }
            }
            // A regex runs when every end it has literals for has turned up.
            armed.sort_unstable();
            for group in armed.chunk_by(|a, b| a.0 == b.0) {
                let ends = group.iter().fold(0, |ends, &(_, _, end)| ends | end);
                if let Some(&(atom, regex, _)) = group.first()
                    && self
                        .regexes
                        .get(regex as usize)
                        .is_some_and(|r| r.ends == ends)
                {
                    self.run(&mut hits, atom, regex, &lowered);
                }
            }
            for &(atom, regex) in &fs.always {
                self.run(&mut hits, atom, regex, &lowered);
            }
            armed.clear();
        }
        hits
    }
}

impl Matcher {
    /// Sets `atom` if it is not set yet and `regexes[regex]` matches `lowered`.
    fn run(&self, hits: &mut Hits, atom: u32, regex: u32, lowered: &str) {
        if !hits.get(atom)
            && self
                .regexes
                .get(regex as usize)
                .is_some_and(|r| r.is_match(lowered))
        {
            hits.set(atom);
        }
    }
}

/// Whether the byte at `at` is an ASCII word character; no byte (the start or the
/// end of the text) is not.
fn word_byte(text: &[u8], at: Option<usize>) -> bool {
    at.and_then(|i| text.get(i))
        .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Where the text of each field comes from: a message, or in tests any text.
trait Texts {
    /// The text of `field`; `scratch` holds it when it is put together.
    fn text<'a>(&'a self, field: &Field, scratch: &'a mut String) -> &'a str;
}

impl Texts for Message {
    fn text<'a>(&'a self, field: &Field, scratch: &'a mut String) -> &'a str {
        match field {
            Field::Subject => &self.subject,
            Field::Body => &self.body,
            Field::From => {
                scratch.clear();
                push_address(scratch, &self.from);
                scratch
            }
            Field::To => {
                scratch.clear();
                for a in self.to.iter().chain(&self.cc) {
                    push_address(scratch, a);
                }
                scratch
            }
            Field::Header(name) => {
                scratch.clear();
                for (n, v) in &self.headers {
                    if n.eq_ignore_ascii_case(name) {
                        scratch.push_str(v);
                        scratch.push('\n');
                    }
                }
                scratch
            }
        }
    }
}

fn push_address(out: &mut String, a: &Address) {
    if let Some(name) = &a.name {
        out.push_str(name);
        out.push(' ');
    }
    out.push('<');
    out.push_str(&a.email);
    out.push_str(">\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    //! The scanner must find exactly what each word's regular expression
    //! (`Pattern::regex`, the definition of what a word means) finds in lower-cased
    //! text: on made-up text full of the awkward cases, and on the corpus with the
    //! shipped rules.

    use regex::Regex;

    use super::*;
    use crate::rules::file::{self, Source};

    /// Only a body.
    struct Body<'t>(&'t str);

    impl Texts for Body<'_> {
        fn text<'a>(&'a self, field: &Field, _: &'a mut String) -> &'a str {
            if *field == Field::Body { self.0 } else { "" }
        }
    }

    /// Builds a matcher of `(field, pattern)` atoms and checks, for every text,
    /// that each atom is hit exactly when its regex matches the lower-cased text.
    fn agree<'t, T: Texts + 't>(
        fields: Vec<Field>,
        atoms: Vec<(u32, Pattern)>,
        texts: impl IntoIterator<Item = (String, &'t T)>,
    ) -> usize {
        // Each distinct regex is compiled once, when a text needs it (a debug build
        // compiles slowly); and a plain word is only looked for with its regex in
        // text that contains its start up to its first space or apostrophe, as
        // every match of the regex does.
        let mut regexes: Vec<(String, Option<Regex>)> = Vec::new();
        let mut regex_ids: FnvMap<String, usize> = FnvMap::default();
        let reference: Vec<(usize, usize, String)> = atoms
            .iter()
            .map(|(f, p)| {
                let start = match p {
                    Pattern::Literal { text, .. } => {
                        text.split([' ', '\'']).next().unwrap_or("").to_string()
                    }
                    _ => String::new(),
                };
                let re = p.regex();
                let id = *regex_ids.entry(re.clone()).or_insert_with(|| {
                    regexes.push((re, None));
                    regexes.len() - 1
                });
                (*f as usize, id, start)
            })
            .collect();
        let shown: Vec<String> = atoms.iter().map(|(_, p)| format!("{p:?}")).collect();
        let matcher = Matcher::build(fields.clone(), atoms).unwrap();
        let mut checked = 0;
        let mut wrong = Vec::new();
        for (name, texts) in texts {
            let hits = matcher.scan_texts(texts);
            let mut scratch = String::new();
            let lowered: Vec<(String, String)> = fields
                .iter()
                .map(|f| {
                    let text = texts.text(f, &mut scratch).to_string();
                    let lower = pattern::lower(&text);
                    (text, lower)
                })
                .collect();
            for (atom, (field, re, start)) in reference.iter().enumerate() {
                let (text, lower) = &lowered[*field];
                let want = !text.is_empty() && lower.contains(start.as_str()) && {
                    let (source, compiled) = &mut regexes[*re];
                    compiled
                        .get_or_insert_with(|| Regex::new(source).unwrap())
                        .is_match(lower)
                };
                if hits.get(atom as u32) != want {
                    wrong.push(format!(
                        "{name}: {:?} {} expected {want}, text {text:?}",
                        fields[*field], shown[atom]
                    ));
                }
                checked += 1;
            }
        }
        assert!(
            wrong.is_empty(),
            "{} disagreements:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
        checked
    }

    const WORDS: &[&str] = &[
        "late",
        "late delivery",
        "late\u{3000}delivery",
        "haven't",
        "haven’t",
        "'late'",
        "complain*",
        "*ware",
        "投诉",
        "PO单",
        "ASAP",
        "ＡＳＡＰ",
        "12315",
        "a.b",
        "(urgent)",
        "x y",
        "é",
        "K",
        "s",
        "σ",
        "ς",
        "_",
        "'",
        "*",
        r"/order\s*#?\d{5,}/",
        r"/\bpo\b/",
        r"/sn\d+-\d{4}/",
        r"/(项目|項目|project)\s*华达\s*(二期|phase\s*\d)?/",
        r"/ delivery/",
        r"/\s+delivery/",
        r"/\n> /",
        r"/’s/",
        r"/'s/",
        r"/^\s*late/",
        r"/late$/",
        r"/k\d/",
        r"/\Bware/",
        r"/(invoice|bill)[^.\n]{0,20}(wrong|late)/",
        r"/(late|slow)[^.]{0,30}(delivery|发货)/",
        r"/\d+\s*天/",
        r"/^\s*\d/",
        r"/(?:晚了|迟了)\s*\d+\s*(天|days?)\s*$/",
    ];

    const PIECES: &[&str] = &[
        "late",
        "Late",
        "LATE",
        "translate",
        "latest",
        "delivery",
        "late delivery",
        "haven't",
        "haven’t",
        "HAVEN'T",
        "haven‘t",
        "complain",
        "Complained",
        "uncomplaining",
        "software",
        "ware",
        "投诉",
        "我要投诉",
        "PO单",
        "EXPO单",
        "ＡＳＡＰ",
        "asap",
        "a.b",
        "axb",
        "(urgent)",
        "order #123456",
        "SN12-3456",
        "sn12-345",
        "ſn12-3456",
        "K",
        "k",
        "Σ",
        "ς",
        "σ",
        "ΣΑΣ",
        "项目 华达 二期",
        "項目華達",
        "project  华达 phase 2",
        "é",
        "É",
        "_",
        "-",
        "'",
        "’",
        "12315",
        "１２３１５",
        "x",
        "y",
        "x y",
        "invoice",
        "Bill",
        "wrong",
        ".",
        "'s",
        "it’s",
        "3 天",
        "3天",
        "发货",
        "晚了",
        "迟了 2 DAYS",
        "slow",
        "Days",
    ];

    const SPACES: &[&str] = &[
        " ", "  ", "\r\n", "\t", "\u{3000}", "\u{a0}", "\u{85}", "\u{2028}", "\u{b}", "", ",",
        "。", "\n> ", "_", " \r\n\t ",
    ];

    #[test]
    fn words_are_found_where_their_regex_matches() {
        // A small xorshift generator: the same texts every run.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut texts: Vec<String> = PIECES
            .iter()
            .flat_map(|p| SPACES.iter().map(move |s| format!("{s}{p}{s}")))
            .collect();
        for _ in 0..400 {
            let mut text = String::new();
            for _ in 0..1 + next(12) {
                text.push_str(PIECES[next(PIECES.len())]);
                text.push_str(SPACES[next(SPACES.len())]);
            }
            texts.push(text);
        }
        texts.push(String::new());
        texts.push(" \r\n ".into());
        let atoms = WORDS
            .iter()
            .map(|w| (0, pattern::parse(w).unwrap()))
            .collect();
        let bodies: Vec<Body<'_>> = texts.iter().map(|t| Body(t)).collect();
        let checked = agree(
            vec![Field::Body],
            atoms,
            bodies
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("text {i}"), b)),
        );
        assert!(checked > 10_000, "only {checked} checks");
    }

    #[test]
    fn the_shipped_rules_find_in_the_corpus_what_their_regexes_find() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources = Vec::new();
        for entry in std::fs::read_dir(root.join("rules")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".toml") && name != "sla.toml" {
                let text = std::fs::read_to_string(&path).unwrap();
                sources.push(Source { name, text });
            }
        }
        sources.sort_by(|a, b| a.name.cmp(&b.name));
        let ids = [
            "customer-service",
            "logistics",
            "production",
            "quality",
            "procurement",
            "sales",
            "marketing",
            "design",
            "rnd",
            "finance",
            "admin",
            "legal",
        ];
        let defs = file::parse(&sources, &ids).unwrap_or_else(|e| panic!("{}", e.join("\n")));
        let blocks = defs
            .rules
            .iter()
            .flat_map(|r| &r.blocks)
            .chain(defs.raises.iter().flat_map(|r| &r.blocks));
        let mut fields: Vec<Field> = Vec::new();
        let mut atoms: Vec<(u32, Pattern)> = Vec::new();
        for b in blocks {
            for f in &b.fields {
                let fi = match fields.iter().position(|x| x == f) {
                    Some(i) => i,
                    None => {
                        fields.push(f.clone());
                        fields.len() - 1
                    }
                } as u32;
                for p in b.any.iter().chain(&b.all).chain(&b.none) {
                    if !atoms.iter().any(|(af, ap)| *af == fi && ap == p) {
                        atoms.push((fi, p.clone()));
                    }
                }
            }
        }
        assert!(atoms.len() > 1000, "only {} words", atoms.len());

        let mut messages = Vec::new();
        for entry in std::fs::read_dir(root.join("tests/classify")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "eml") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                messages.push((
                    name,
                    Message::parse(&std::fs::read(&path).unwrap()).unwrap(),
                ));
            }
        }
        assert!(messages.len() >= 30, "the corpus is nearly empty");
        let checked = agree(fields, atoms, messages.iter().map(|(n, m)| (n.clone(), m)));
        assert!(checked > 100_000, "only {checked} checks");
    }
}
