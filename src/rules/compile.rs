//! Checked rules → one `RegexSet` per field and a small boolean program per rule.
//!
//! Every distinct word pattern of a field is an *atom*; the field's atoms are one
//! `RegexSet`, run once over that field of a message. The hits of all fields form
//! one bitset, and a rule is then only boolean logic over bits: no rule ever scans
//! text itself, so a thousand rules cost a larger automaton, not a thousand scans.
//! An inverted index (atom → rules that need it) means only rules whose most
//! selective block has a hit in the message are evaluated at all.

use std::collections::HashMap;

use regex::{RegexSet, RegexSetBuilder};

use super::file::{BlockDef, Field, Sender};
use super::pattern;
use crate::message::Message;

/// Room for the automata of large rule sets (the regex defaults, 10 MiB for the
/// compiled program and 2 MiB for the lazy DFA's cache, are sized for one regex; a
/// set of ten thousand case-insensitive words needs more).
const SET_SIZE_LIMIT: usize = 256 << 20;
const SET_DFA_LIMIT: usize = 64 << 20;

/// The atoms of one field and where its hits start in the bitset.
#[derive(Debug)]
struct FieldSet {
    field: Field,
    set: RegexSet,
    offset: usize,
}

/// A word as a rule uses it: hit when any of its atoms (one per field of the block) is.
#[derive(Debug, Clone)]
struct Term {
    atoms: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Block {
    any: Vec<Term>,
    all: Vec<Term>,
    none: Vec<Term>,
}

#[derive(Debug, Clone)]
pub(crate) struct Program {
    sender: Sender,
    blocks: Vec<Block>,
}

/// Which atoms a message contains.
pub(crate) struct Hits {
    bits: Vec<u64>,
}

impl Hits {
    fn get(&self, atom: u32) -> bool {
        let atom = atom as usize;
        self.bits
            .get(atom / 64)
            .is_some_and(|w| w & (1u64 << (atom % 64)) != 0)
    }

    fn set(&mut self, atom: usize) {
        if let Some(w) = self.bits.get_mut(atom / 64) {
            *w |= 1u64 << (atom % 64);
        }
    }

    /// The atoms that were hit, in ascending order.
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
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

/// Compiled programs for a list of rules, evaluated over shared atoms.
#[derive(Debug)]
pub(crate) struct Programs {
    programs: Vec<Program>,
    /// For each atom, the programs that it can trigger (see `trigger`).
    index: Vec<Vec<u32>>,
}

impl Programs {
    /// The indices of the programs that hold for this message, in ascending order.
    pub(crate) fn matching<'a>(
        &'a self,
        hits: &'a Hits,
        internal: bool,
    ) -> impl Iterator<Item = usize> + 'a {
        let mut candidates: Vec<u32> = hits
            .iter()
            .flat_map(|atom| self.index.get(atom).into_iter().flatten().copied())
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        candidates.into_iter().filter_map(move |i| {
            let i = i as usize;
            self.programs
                .get(i)
                .filter(|p| p.holds(hits, internal))
                .map(|_| i)
        })
    }
}

impl Program {
    fn holds(&self, hits: &Hits, internal: bool) -> bool {
        let sender_ok = match self.sender {
            Sender::Any => true,
            Sender::Internal => internal,
            Sender::External => !internal,
        };
        sender_ok && self.blocks.iter().all(|b| b.holds(hits))
    }
}

impl Block {
    fn holds(&self, hits: &Hits) -> bool {
        let hit = |t: &Term| t.atoms.iter().any(|&a| hits.get(a));
        (self.any.is_empty() || self.any.iter().any(hit))
            && self.all.iter().all(hit)
            && !self.none.iter().any(hit)
    }
}

/// Collects atoms while rules are compiled, then builds the sets.
#[derive(Default)]
pub(crate) struct Builder {
    fields: Vec<(Field, Vec<String>, HashMap<String, u32>)>,
    /// Atoms are numbered per field while building; fixed up to global ids in `finish`.
    pending: Vec<Vec<(Sender, Vec<PendingBlock>)>>,
}

struct PendingBlock {
    any: Vec<Vec<(usize, u32)>>,
    all: Vec<Vec<(usize, u32)>>,
    none: Vec<Vec<(usize, u32)>>,
}

/// A handle to one group of programs (classification rules or priority rules).
pub(crate) struct Group(usize);

/// What `Builder::finish` returns.
pub(crate) struct Compiled {
    pub matcher: Matcher,
    pub groups: Vec<Programs>,
}

impl Builder {
    pub(crate) fn group(&mut self) -> Group {
        self.pending.push(Vec::new());
        Group(self.pending.len() - 1)
    }

    pub(crate) fn add(&mut self, group: &Group, sender: Sender, blocks: &[BlockDef]) {
        let compiled: Vec<PendingBlock> = blocks
            .iter()
            .map(|b| PendingBlock {
                any: self.terms(&b.fields, &b.any),
                all: self.terms(&b.fields, &b.all),
                none: self.terms(&b.fields, &b.none),
            })
            .collect();
        if let Some(g) = self.pending.get_mut(group.0) {
            g.push((sender, compiled));
        }
    }

    fn terms(&mut self, fields: &[Field], words: &[String]) -> Vec<Vec<(usize, u32)>> {
        words
            .iter()
            .map(|w| fields.iter().map(|f| self.atom(f, w)).collect())
            .collect()
    }

    fn atom(&mut self, field: &Field, pattern: &str) -> (usize, u32) {
        let fi = match self.fields.iter().position(|(f, _, _)| f == field) {
            Some(i) => i,
            None => {
                self.fields
                    .push((field.clone(), Vec::new(), HashMap::new()));
                self.fields.len() - 1
            }
        };
        let Some((_, patterns, ids)) = self.fields.get_mut(fi) else {
            return (fi, 0);
        };
        let id = *ids.entry(pattern.to_string()).or_insert_with(|| {
            patterns.push(pattern.to_string());
            (patterns.len() - 1) as u32
        });
        (fi, id)
    }

    pub(crate) fn finish(self) -> Result<Compiled, String> {
        let mut sets = Vec::with_capacity(self.fields.len());
        let mut offsets = Vec::with_capacity(self.fields.len());
        let mut offset = 0usize;
        for (field, patterns, _) in self.fields {
            let set = RegexSetBuilder::new(&patterns)
                .size_limit(SET_SIZE_LIMIT)
                .dfa_size_limit(SET_DFA_LIMIT)
                .build()
                .map_err(|e| format!("the words for {field:?} cannot be compiled together: {e}"))?;
            offsets.push(offset);
            sets.push(FieldSet { field, set, offset });
            offset += patterns.len();
        }
        let atom_count = offset;
        let global =
            |(fi, local): (usize, u32)| offsets.get(fi).copied().unwrap_or(0) as u32 + local;
        let term = |t: Vec<(usize, u32)>| Term {
            atoms: t.into_iter().map(global).collect(),
        };
        let groups = self
            .pending
            .into_iter()
            .map(|progs| {
                let mut index = vec![Vec::new(); atom_count];
                let programs: Vec<Program> = progs
                    .into_iter()
                    .enumerate()
                    .map(|(pi, (sender, blocks))| {
                        let blocks: Vec<Block> = blocks
                            .into_iter()
                            .map(|b| Block {
                                any: b.any.into_iter().map(term).collect(),
                                all: b.all.into_iter().map(term).collect(),
                                none: b.none.into_iter().map(term).collect(),
                            })
                            .collect();
                        for &a in trigger(&blocks) {
                            if let Some(list) = index.get_mut(a as usize) {
                                list.push(pi as u32);
                            }
                        }
                        Program { sender, blocks }
                    })
                    .collect();
                for list in &mut index {
                    list.sort_unstable();
                    list.dedup();
                }
                Programs { programs, index }
            })
            .collect();
        Ok(Compiled {
            matcher: Matcher {
                fields: sets,
                atom_count,
            },
            groups,
        })
    }
}

/// The atoms by which a rule is found: a rule can only hold when one of them is hit.
///
/// Every block must hold, so one block's necessary atoms are enough: for a block
/// with `all` words, the atoms of its rarest-looking (fewest atoms) `all` word; else
/// the atoms of all its `any` words. Of the blocks, the one with the fewest such
/// atoms is used, so that a rule written as "one of these 3 model numbers, and one
/// of 150 complaint words" is looked at only for mail with one of the model numbers.
fn trigger(blocks: &[Block]) -> Vec<&u32> {
    blocks
        .iter()
        .filter_map(|b| {
            if let Some(t) = b.all.iter().min_by_key(|t| t.atoms.len()) {
                Some(t.atoms.iter().collect::<Vec<_>>())
            } else if !b.any.is_empty() {
                Some(b.any.iter().flat_map(|t| &t.atoms).collect())
            } else {
                None
            }
        })
        .min_by_key(Vec::len)
        .unwrap_or_default()
}

/// The per-field sets: turns a message into its atom hits.
#[derive(Debug)]
pub(crate) struct Matcher {
    fields: Vec<FieldSet>,
    atom_count: usize,
}

impl Matcher {
    pub(crate) fn scan(&self, msg: &Message) -> Hits {
        let mut hits = Hits {
            bits: vec![0; self.atom_count.div_ceil(64)],
        };
        let mut scratch = String::new();
        for fs in &self.fields {
            let text: &str = match &fs.field {
                Field::Subject => &msg.subject,
                Field::Body => &msg.body,
                Field::From => {
                    scratch.clear();
                    push_address(&mut scratch, &msg.from);
                    &scratch
                }
                Field::To => {
                    scratch.clear();
                    for a in msg.to.iter().chain(&msg.cc) {
                        push_address(&mut scratch, a);
                    }
                    &scratch
                }
                Field::Header(name) => {
                    scratch.clear();
                    for (n, v) in &msg.headers {
                        if n.eq_ignore_ascii_case(name) {
                            scratch.push_str(v);
                            scratch.push('\n');
                        }
                    }
                    &scratch
                }
            };
            if text.is_empty() {
                continue;
            }
            let text = pattern::lower(text);
            for i in fs.set.matches(&text).iter() {
                hits.set(fs.offset + i);
            }
        }
        hits
    }
}

fn push_address(out: &mut String, a: &crate::message::Address) {
    if let Some(name) = &a.name {
        out.push_str(name);
        out.push(' ');
    }
    out.push('<');
    out.push_str(&a.email);
    out.push_str(">\n");
}
