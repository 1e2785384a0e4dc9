//! `switchboard learn --config F [--store] [--out FILE] [--cross-validate] [DIR...]`:
//! the learned model (`rules::learned`) counted from labelled mail — folders laid
//! out like `tests/classify/` (`*.eml` and an `expected.toml` giving each file's
//! `category` and `department`), and with `--store` the company's own cases as the
//! departments left them after their corrections.
//!
//! `--cross-validate` writes nothing: it holds each folder out in turn, learns from
//! the rest, and scores the held-out folder with the rules alone and with the model
//! beside them. That is the honest figure for mail like none the model has seen; a
//! folder the model learned from says little.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::case::Category;
use crate::config::Config;
use crate::intake::Intake;
use crate::message::Message;
use crate::rules::learned::{self, Label, Model};
use crate::rules::{self, LEARNED_FILE};
use crate::store::{Db, cases, messages};

pub struct Options {
    pub out: Option<PathBuf>,
    pub store: bool,
    pub cross_validate: bool,
    pub settings: learned::Settings,
}

/// What `learn` reads of a label (the folders also carry `priority` and `note`).
#[derive(Debug, Deserialize)]
struct Expected {
    category: String,
    department: Option<String>,
}

/// One labelled message: where it came from, what it is, and its tokens.
struct Example {
    label: Label,
    tokens: Vec<String>,
    msg: Message,
}

impl Example {
    fn new(
        msg: Message,
        category: Category,
        department: String,
        internal_domains: &[String],
    ) -> Example {
        let internal = rules::is_internal(&msg.from.email, internal_domains);
        Example {
            label: Label {
                category,
                department,
            },
            tokens: learned::tokens(&msg, internal),
            msg,
        }
    }
}

/// Reads one labelled folder; every problem names the file and the key.
fn read_folder(dir: &Path, intake: &Intake) -> Result<Vec<Example>> {
    let path = dir.join("expected.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("Cannot read {}", path.display()))?;
    let expected: BTreeMap<String, Expected> =
        toml::from_str(&text).with_context(|| format!("{}: not a labels file", path.display()))?;
    let known = |d: &str| intake.config.departments.iter().any(|x| x.id == d);
    let mut out = Vec::new();
    for (file, e) in expected {
        let category = Category::parse(&e.category).with_context(|| {
            format!(
                "{}: [\"{file}\"] category = \"{}\": expected complaint, supplier_dispute, \
                 collaboration_request or unclassified",
                path.display(),
                e.category
            )
        })?;
        let department = match (category, e.department) {
            (Category::Unclassified, _) => intake.config.intake.triage_department.clone(),
            (_, Some(d)) if known(&d) => d,
            (_, d) => bail!(
                "{}: [\"{file}\"] department = {:?}: expected the id of a department in the config",
                path.display(),
                d.unwrap_or_default()
            ),
        };
        let eml = dir.join(&file);
        let raw = std::fs::read(&eml).with_context(|| format!("Cannot read {}", eml.display()))?;
        let msg = Message::parse(&raw)
            .map_err(|why| anyhow::anyhow!("{}: cannot learn from it: {why}", eml.display()))?;
        out.push(Example::new(
            msg,
            category,
            department,
            &intake.config.intake.internal_domains,
        ));
    }
    if out.is_empty() {
        bail!("{}: no labelled messages", path.display());
    }
    Ok(out)
}

/// The store's cases, labelled as they stand now (after the departments' corrections).
fn read_store(intake: &Intake) -> Result<Vec<Example>> {
    let path = &intake.config.store_path;
    if !path.exists() {
        bail!("No store at {} yet: run the daemon first", path.display());
    }
    let db = Db::open_read_only(path)?;
    let internal_domains = &intake.config.intake.internal_domains;
    let triage = &intake.config.intake.triage_department;
    let mut out = Vec::new();
    db.blocking(|conn| {
        messages::for_each_decided(conn, i64::MIN, i64::MAX, |m| {
            let (Some(id), "case") = (m.case_id, m.outcome.as_str()) else {
                return Ok(());
            };
            let (Ok(msg), Some(row)) = (Message::parse(&m.raw), cases::get(conn, id)?) else {
                return Ok(());
            };
            let Some(category) = Category::parse(&row.category) else {
                return Ok(());
            };
            let department = if category == Category::Unclassified {
                triage.to_string()
            } else {
                row.department.clone()
            };
            out.push(Example::new(msg, category, department, internal_domains));
            Ok(())
        })
    })?;
    Ok(out)
}

fn learn_from<'a>(examples: impl Iterator<Item = &'a Example>, opts: &Options) -> String {
    Model::learn(
        examples.map(|e| (&e.label, e.tokens.as_slice())),
        &opts.settings,
    )
}

/// Right (category, department, both) of `examples` with the rules as `intake` has them.
fn score(intake: &Intake, examples: &[Example]) -> [usize; 3] {
    let mut right = [0; 3];
    for e in examples {
        let c = intake.classify(&e.msg);
        let category = c.category == e.label.category;
        let department = c.department == e.label.department;
        right[0] += usize::from(category);
        right[1] += usize::from(department);
        right[2] += usize::from(category && department);
    }
    right
}

pub fn run(config: &Path, dirs: &[PathBuf], opts: &Options) -> Result<ExitCode> {
    let (config, _) = Config::load(config)?;
    let rules_dir = config.intake.rules.clone();
    let mut intake = Intake::new(config)?;
    let mut folders: Vec<(String, Vec<Example>)> = Vec::new();
    for dir in dirs {
        folders.push((dir.display().to_string(), read_folder(dir, &intake)?));
    }
    if opts.store {
        folders.push(("the store".into(), read_store(&intake)?));
    }
    let total: usize = folders.iter().map(|(_, e)| e.len()).sum();
    if total == 0 {
        bail!("Nothing to learn from: give labelled folders, or --store with cases in it");
    }
    let mut out = std::io::stdout().lock();
    if opts.cross_validate {
        if folders.len() < 2 {
            bail!("--cross-validate holds out one folder at a time: give at least two");
        }
        writeln!(
            out,
            "{:<32} {:>5}   rules alone: category department both   with the model: category department both",
            "held out", "mail"
        )?;
        let (mut mail, mut alone_sum, mut with_sum) = (0usize, [0usize; 3], [0usize; 3]);
        for (i, (name, held)) in folders.iter().enumerate() {
            let rest = folders
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, (_, e))| e.iter());
            let model = Model::parse("learned", &learn_from(rest, opts))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            intake.set_learned(None);
            let alone = score(&intake, held);
            intake.set_learned(Some(model));
            let with = score(&intake, held);
            let [ac, ad, ab] = alone;
            let [wc, wd, wb] = with;
            writeln!(
                out,
                "{name:<32} {:>5}   {ac:>21} {ad:>10} {ab:>4}   {wc:>24} {wd:>10} {wb:>4}",
                held.len()
            )?;
            mail += held.len();
            for (sum, n) in alone_sum.iter_mut().zip(alone) {
                *sum += n;
            }
            for (sum, n) in with_sum.iter_mut().zip(with) {
                *sum += n;
            }
        }
        let pct = |n: usize| 100.0 * n as f64 / mail.max(1) as f64;
        let [ac, ad, ab] = alone_sum.map(pct);
        let [wc, wd, wb] = with_sum.map(pct);
        writeln!(
            out,
            "{:<32} {mail:>5}   {ac:>20.1}% {ad:>9.1}% {ab:>3.1}%   {wc:>23.1}% {wd:>9.1}% {wb:>3.1}%",
            "all"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let text = learn_from(folders.iter().flat_map(|(_, e)| e.iter()), opts);
    let model = Model::parse("learned", &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let target = opts
        .out
        .clone()
        .unwrap_or_else(|| rules_dir.join(LEARNED_FILE));
    let tmp = target.with_extension("tsv.tmp");
    std::fs::write(&tmp, &text).with_context(|| format!("Cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &target)
        .with_context(|| format!("Cannot replace {}", target.display()))?;
    writeln!(
        out,
        "Learned from {total} message(s) in {} place(s): {} classes, {} words, written to {}",
        folders.len(),
        model.classes().count(),
        model.len(),
        target.display()
    )?;
    Ok(ExitCode::SUCCESS)
}
