//! Start-up: `switchboard run --once` with nothing to do (an empty Maildir in, a
//! Maildir out, a store that exists), from exec to exit: config, every template,
//! the SLA policies and the rules loaded and compiled, the store opened, one clock
//! pass. With the shipped rules, and with 1,000 generated rules more (the generator
//! the classification benchmark uses, `tests/classify/workload.rs`).

use anyhow::Result;

use crate::config::{self, In, Out, Setup};
use crate::process::{self, median};
use crate::{Bench, Row, note, workload};

const RUNS: usize = 7;

pub fn measure(bench: &Bench) -> Result<Vec<Row>> {
    let dir = bench.work.join("startup");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir)?;
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join("inbox").join(sub))?;
    }
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules)?;
    for entry in std::fs::read_dir(config::repo().join("rules"))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".toml") && name != "sla.toml" {
            std::fs::copy(&path, rules.join(name))?;
        }
    }
    std::fs::write(
        rules.join("99-generated.toml"),
        workload::generated_rules(1000),
    )?;
    let mut rows = Vec::new();
    for (label, rules_dir) in [
        ("shipped rules", None),
        ("shipped + 1,000 rules", Some(&rules)),
    ] {
        let store = dir.join(format!(
            "{}.db",
            if rules_dir.is_some() {
                "big"
            } else {
                "shipped"
            }
        ));
        let cfg = config::write(
            &Setup {
                stack: &bench.stack,
                dir: &dir,
                store: &store,
                input: In::Maildir(dir.join("inbox")),
                output: Out::Maildir(dir.join("outbox")),
                rules: rules_dir.map(|p| p.as_path()),
            },
            if rules_dir.is_some() {
                "big"
            } else {
                "shipped"
            },
        )?;
        let args = ["run", "--once", "--config", cfg.to_str().unwrap()];
        // The first run creates the store; it is not counted.
        process::measure(&bench.switchboard, &args, &bench.logs(), "startup-first")?;
        let mut times = Vec::new();
        let mut rss = Vec::new();
        for i in 0..RUNS {
            let m = process::measure(
                &bench.switchboard,
                &args,
                &bench.logs(),
                &format!("startup-{i}"),
            )?;
            times.push(m.wall.as_secs_f64() * 1e3);
            rss.push(m.rss_mib());
        }
        note(&format!("startup, {label}: {:.0} ms", median(&times)));
        rows.push(
            Row::new(
                format!("7. start-up to exit with nothing to do, all templates, {label}, median of {RUNS}"),
                format!("{:.0} ms, {:.0} MiB", median(&times), median(&rss)),
            )
            .target(if rules_dir.is_some() { "< 200 ms" } else { "" }),
        );
    }
    Ok(rows)
}
