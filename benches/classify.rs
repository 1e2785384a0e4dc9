//! Classification speed: messages per second on one core with the shipped rules and
//! with 1,000 generated rules more, and how long loading the rules takes — each with
//! the shipped learned model beside the rules, as the daemon loads them.
//!
//! `cargo bench --bench classify`; `-- shipped` or `-- generated` for one case only,
//! `-- rules-only` without the learned model,
//! and a number for that many passes over the corpus instead of a fixed time (for
//! `valgrind --tool=callgrind`, whose instruction counts do not depend on what else
//! the machine is doing). Plain `std::time`, no benchmark framework: the
//! numbers are for comparing before and after a change to `src/rules`, on one
//! machine. Targets (issue 5): ≥ 20,000 messages/s per core with the shipped rules,
//! at most 5× slower with 1,000 rules, and 1,000 rules plus the templates loaded in
//! under 200 ms at startup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[allow(dead_code)] // shared with the benchmarks, which use more of it
#[path = "../tests/classify/workload.rs"]
mod workload;

use std::hint::black_box;
use std::time::{Duration, Instant};

use switchboard::message::Message;
use switchboard::rules::{Context, RuleSet};
use switchboard::templates::Templates;

/// How long each throughput case runs, after one warm-up pass over the corpus.
const MEASURE: Duration = Duration::from_millis(2000);
const GENERATED: usize = 1000;
/// Loads timed; the fastest counts.
const LOADS: usize = 5;

fn main() {
    let world = workload::World::new();
    let ctx = world.context();
    let messages: Vec<Message> = workload::corpus(&workload::root().join("tests/classify"))
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert!(!messages.is_empty(), "the corpus is empty");
    let ids = workload::ids();
    let shipped = workload::shipped_sources();
    let mut big = shipped.clone();
    big.push((
        "99-generated.toml".into(),
        workload::generated_rules(GENERATED),
    ));

    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = args.iter().find(|a| *a == "shipped" || *a == "generated");
    let want = |case: &str| only.is_none_or(|o| o == case);
    let passes: Option<usize> = args.iter().find_map(|a| a.parse().ok());
    // `rules-only`: without the learned model, to see what it costs.
    let learned = !args.iter().any(|a| a == "rules-only");
    println!(
        "corpus: {} messages (tests/classify/*.eml) classified over and over on one thread; \
         times are CPU time of that thread{}",
        messages.len(),
        if cpu_time().is_some() {
            " (wall-clock time in brackets)"
        } else {
            " (this system does not tell: wall-clock time)"
        }
    );
    let mut base = None;
    for (case, sources) in [("shipped", &shipped), ("generated", &big)] {
        if !want(case) {
            continue;
        }
        let (rules, first, best) = load(sources, &ids, learned);
        let rate = throughput(&rules, &messages, &ctx, passes);
        let label = if case == "shipped" {
            "shipped rules".to_string()
        } else {
            format!("shipped + {GENERATED} generated")
        };
        println!(
            "{label:<26} {:>5} rules: {} messages/s per core; loaded in {} ms (best of {LOADS}: {} ms)",
            rules.len(),
            rate.show(0),
            first.scale(1000.0).show(1),
            best.scale(1000.0).show(1),
        );
        if case == "shipped" {
            base = Some(rate.cpu);
        } else {
            if let Some(base) = base {
                println!(
                    "slowdown with {GENERATED} more rules: {:.2}x (target ≤ 5x)",
                    base / rate.cpu
                );
            }
            let templates = workload::root().join("templates");
            let (loaded, took) = timed(|| Templates::load(&templates));
            if let Err(e) = loaded {
                println!("templates: cannot load {}: {e:#}", templates.display());
            }
            println!(
                "startup: {GENERATED} generated rules more + templates loaded in {} ms \
                 (target < 200 ms; the templates {} ms)",
                Seconds {
                    cpu: first.cpu + took.cpu,
                    wall: first.wall + took.wall
                }
                .scale(1000.0)
                .show(1),
                took.scale(1000.0).show(1),
            );
        }
    }
}

/// A measurement in CPU time and in wall-clock time.
#[derive(Debug, Clone, Copy)]
struct Seconds {
    cpu: f64,
    wall: f64,
}

impl Seconds {
    fn scale(self, by: f64) -> Seconds {
        Seconds {
            cpu: self.cpu * by,
            wall: self.wall * by,
        }
    }

    fn show(self, decimals: usize) -> String {
        if cpu_time().is_some() {
            format!("{:.decimals$} [{:.decimals$}]", self.cpu, self.wall)
        } else {
            format!("{:.decimals$}", self.wall)
        }
    }
}

/// Time this thread has spent on a CPU, where Linux tells it
/// (`/proc/thread-self/schedstat`): on a busy machine, wall-clock time also counts
/// the turns of every other process.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Seconds) {
    let (wall, cpu) = (Instant::now(), cpu_time());
    let out = f();
    let wall = wall.elapsed().as_secs_f64();
    let cpu = match (cpu, cpu_time()) {
        (Some(before), Some(after)) => after.saturating_sub(before).as_secs_f64(),
        _ => wall,
    };
    (out, Seconds { cpu, wall })
}

/// The rules, how long the first load took (what the daemon pays at startup) and
/// the fastest of `LOADS`.
fn load(sources: &[(String, String)], ids: &[&str], learned: bool) -> (RuleSet, Seconds, Seconds) {
    let refs = workload::as_refs(sources);
    let model = workload::root()
        .join("rules")
        .join(switchboard::rules::LEARNED_FILE);
    // As `RuleSet::load_dir` does: the rule files, then the learned model beside them.
    let load = || {
        let mut rules = RuleSet::from_sources(&refs, ids)
            .unwrap_or_else(|e| panic!("the rules do not load:\n{}", e.join("\n")));
        if learned {
            let text = std::fs::read_to_string(&model).unwrap();
            let model = switchboard::rules::learned::Model::parse("learned.tsv", &text).unwrap();
            rules.set_learned(Some(model));
        }
        rules
    };
    let (mut rules, first) = timed(load);
    let mut best = first;
    for _ in 1..LOADS {
        let (again, took) = timed(load);
        if took.cpu < best.cpu {
            best = took;
        }
        rules = again;
    }
    (rules, first, best)
}

/// Messages per second, classifying the corpus over and over for `MEASURE`, or
/// `passes` times.
fn throughput(
    rules: &RuleSet,
    messages: &[Message],
    ctx: &Context<'_>,
    passes: Option<usize>,
) -> Seconds {
    for m in messages {
        black_box(rules.classify(m, ctx)); // compiles the regexes, warms their caches
    }
    let started = Instant::now();
    let (done, took) = timed(|| {
        let mut done = 0usize;
        loop {
            let enough = match passes {
                Some(n) => done >= n * messages.len(),
                None => started.elapsed() >= MEASURE,
            };
            if enough {
                return done;
            }
            for m in messages {
                black_box(rules.classify(black_box(m), ctx));
            }
            done += messages.len();
        }
    });
    Seconds {
        cpu: done as f64 / took.cpu,
        wall: done as f64 / took.wall,
    }
}
