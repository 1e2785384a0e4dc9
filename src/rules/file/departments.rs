//! `[departments]` in a rule file: the names companies use for each department
//! (品质部, 品管部, QC, QA for quality), so that `department = "named"` finds a
//! department however the mail names it, not only by the config's display name.
//!
//! ```toml
//! [departments]
//! quality = ["品质部", "品管部", "质检部", "QC", "QA"]
//! ```
//!
//! Keys are department ids of `switchboard.toml`; each name may belong to one
//! department only (across all files), since a name that points two ways would
//! route by file order, silently.

use std::collections::HashMap;

use toml::Spanned;
use toml::de::DeValue;

use super::{FileReport, unknown_department};

/// The longest name accepted: a department's name, not a sentence.
const MAX_NAME_CHARS: usize = 40;

/// What has been read so far, over every file: each name (lower-cased) with the
/// department and place that listed it, and each department's names in file order.
#[derive(Debug, Default)]
pub(crate) struct Vocabulary {
    pub names: Vec<(String, Vec<String>)>,
    owner: HashMap<String, (String, String)>,
    listed: HashMap<String, String>,
}

impl FileReport<'_> {
    pub(super) fn departments(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        department_ids: &[&str],
        vocabulary: &mut Vocabulary,
    ) {
        let DeValue::Table(table) = value.get_ref() else {
            self.problem(
                value.span().start,
                "`departments` must be a table: [departments] followed by lines like \
                 quality = [\"品质部\", \"QC\"]"
                    .into(),
            );
            return;
        };
        // In the order written, so that "already a name of" points at the earlier line.
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        for (key, names) in entries {
            let id = key.get_ref().trim().to_string();
            let at = key.span().start;
            if !department_ids.contains(&id.as_str()) {
                self.problem(at, unknown_department(&id, department_ids));
                continue;
            }
            let here = format!("{}:{}", self.name, self.line(at));
            if let Some(first) = vocabulary.listed.get(&id) {
                self.problem(
                    at,
                    format!("department \"{id}\" is listed twice: already at {first}"),
                );
                continue;
            }
            vocabulary.listed.insert(id.clone(), here);
            let mut own = Vec::new();
            for (name, name_at) in self.strings(names, &id) {
                let name = name.trim().to_lowercase();
                let place = format!("{}:{}", self.name, self.line(name_at));
                if name.is_empty() {
                    self.problem(name_at, "an empty department name".into());
                } else if name.chars().count() > MAX_NAME_CHARS {
                    self.problem(
                        name_at,
                        format!(
                            "\"{name}\" is too long for a department name (at most {MAX_NAME_CHARS} characters)"
                        ),
                    );
                } else if let Some((other, first)) = vocabulary.owner.get(&name) {
                    if other != &id {
                        self.problem(
                            name_at,
                            format!(
                                "\"{name}\" is already a name of \"{other}\" at {first}: a name can mean one department only"
                            ),
                        );
                    }
                } else {
                    vocabulary.owner.insert(name.clone(), (id.clone(), place));
                    own.push(name);
                }
            }
            vocabulary.names.push((id, own));
        }
    }
}
