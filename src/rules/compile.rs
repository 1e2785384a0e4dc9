//! Checked rules → shared atoms, and a small boolean program per rule.
//!
//! Every distinct word of a field is an *atom*, however many rules use it (a shared
//! list such as `list:complaint` is one set of atoms). The scanner (`scan`) turns a
//! message into the set of atoms it contains, reading each field once; a rule is
//! then only boolean logic over bits: no rule ever reads text itself, so a thousand
//! rules cost a larger automaton, not a thousand scans. An inverted index (atom →
//! rules that need it) means only rules whose most selective block has a hit in the
//! message are evaluated at all.

use super::hash::FnvMap;

use super::file::{BlockDef, Field, Role, Sender};
use super::pattern::Pattern;
pub(crate) use super::scan::{Hits, Matcher};

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
        who: Role,
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
                .filter(|p| p.holds(hits, who))
                .map(|_| i)
        })
    }
}

impl Programs {
    /// The atoms of program `i`'s `any` and `all` words that this message hit, in the
    /// order the rule lists them (what made it match, for `--explain`).
    pub(crate) fn hit_atoms(&self, i: usize, hits: &Hits) -> Vec<u32> {
        let mut out = Vec::new();
        for block in self.programs.get(i).map_or(&[][..], |p| &p.blocks[..]) {
            for term in block.any.iter().chain(&block.all) {
                out.extend(term.atoms.iter().copied().filter(|&a| hits.get(a)));
            }
        }
        out.dedup();
        out
    }
}

impl Program {
    fn holds(&self, hits: &Hits, who: Role) -> bool {
        self.sender.admits(who) && self.blocks.iter().all(|b| b.holds(hits))
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

/// Collects atoms while rules are compiled, then builds the scanner.
#[derive(Default)]
pub(crate) struct Builder {
    fields: Vec<Field>,
    /// Every distinct word, numbered: a word is hashed once per use, not once per
    /// field it is looked for in.
    words: FnvMap<Pattern, u32>,
    /// (field, word) → atom.
    atom_ids: FnvMap<(u32, u32), u32>,
    /// Each atom's field (index in `fields`) and word, by atom id.
    atoms: Vec<(u32, Pattern)>,
    groups: Vec<Vec<Program>>,
}

/// A handle to one group of programs (classification rules or priority rules).
pub(crate) struct Group(usize);

/// What `Builder::finish` returns.
pub(crate) struct Compiled {
    pub matcher: Matcher,
    pub groups: Vec<Programs>,
    /// Each atom's field and word, by atom id, as a person wrote it (for `--explain`).
    pub words: Vec<(Field, String)>,
}

impl Builder {
    pub(crate) fn group(&mut self) -> Group {
        self.groups.push(Vec::new());
        Group(self.groups.len() - 1)
    }

    pub(crate) fn add(&mut self, group: &Group, sender: Sender, blocks: &[BlockDef]) {
        let blocks: Vec<Block> = blocks
            .iter()
            .map(|b| {
                let fields: Vec<u32> = b.fields.iter().map(|f| self.field(f)).collect();
                Block {
                    any: self.terms(&fields, &b.any),
                    all: self.terms(&fields, &b.all),
                    none: self.terms(&fields, &b.none),
                }
            })
            .collect();
        if let Some(g) = self.groups.get_mut(group.0) {
            g.push(Program { sender, blocks });
        }
    }

    fn field(&mut self, field: &Field) -> u32 {
        let at = self
            .fields
            .iter()
            .position(|f| f == field)
            .unwrap_or_else(|| {
                self.fields.push(field.clone());
                self.fields.len() - 1
            });
        at as u32
    }

    fn terms(&mut self, fields: &[u32], words: &[Pattern]) -> Vec<Term> {
        words
            .iter()
            .map(|w| {
                // Looked up before inserting: a shared list is met once per rule that
                // uses it, and cloning its words every time cost a tenth of loading
                // 1,000 rules.
                let word = match self.words.get(w) {
                    Some(&id) => id,
                    None => {
                        let id = self.words.len() as u32;
                        self.words.insert(w.clone(), id);
                        id
                    }
                };
                let atoms = fields
                    .iter()
                    .map(|&field| {
                        *self.atom_ids.entry((field, word)).or_insert_with(|| {
                            self.atoms.push((field, w.clone()));
                            (self.atoms.len() - 1) as u32
                        })
                    })
                    .collect();
                Term { atoms }
            })
            .collect()
    }

    pub(crate) fn finish(self) -> Result<Compiled, String> {
        let atom_count = self.atoms.len();
        let words = self
            .atoms
            .iter()
            .map(|(field, word)| {
                let field = self.fields.get(*field as usize).cloned();
                (field.unwrap_or(Field::Body), word.shown())
            })
            .collect();
        let matcher = Matcher::build(self.fields, self.atoms)?;
        let groups = self
            .groups
            .into_iter()
            .map(|programs| {
                let mut index = vec![Vec::new(); atom_count];
                for (pi, program) in programs.iter().enumerate() {
                    for &a in trigger(&program.blocks) {
                        if let Some(list) = index.get_mut(a as usize) {
                            list.push(pi as u32);
                        }
                    }
                }
                for list in &mut index {
                    list.sort_unstable();
                    list.dedup();
                }
                Programs { programs, index }
            })
            .collect();
        Ok(Compiled {
            matcher,
            groups,
            words,
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
