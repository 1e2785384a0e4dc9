//! Running a program the way the benchmark measures it: wall time from spawn to
//! exit on this side, peak RSS from `/usr/bin/time -v` (the kernel's ru_maxrss of
//! the child), stdout and stderr to files.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

#[derive(Debug, Clone)]
pub struct Measured {
    pub wall: Duration,
    /// Peak resident set size, in KiB.
    pub max_rss_kib: u64,
    pub stdout: String,
}

impl Measured {
    pub fn rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }
}

/// Runs `program args…` under `/usr/bin/time -v`, with stdout and stderr in
/// `logs/<name>.out` and `.err`. Fails if it does not exit 0.
pub fn measure(program: &Path, args: &[&str], logs: &Path, name: &str) -> Result<Measured> {
    measure_env(program, args, &[], logs, name)
}

pub fn measure_env(
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    logs: &Path,
    name: &str,
) -> Result<Measured> {
    std::fs::create_dir_all(logs)?;
    let out_path = logs.join(format!("{name}.out"));
    let err_path = logs.join(format!("{name}.err"));
    let time_path = logs.join(format!("{name}.time"));
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-v")
        .arg("-o")
        .arg(&time_path)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("running {}", program.display()))?;
    let wall = start.elapsed();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    if !status.success() {
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        bail!(
            "{} {args:?} failed ({status}):\n{}\n{}",
            program.display(),
            tail(&stdout, 20),
            tail(&err, 40)
        );
    }
    let time = std::fs::read_to_string(&time_path)?;
    let max_rss_kib = time
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes):")
                .and_then(|v| v.trim().parse().ok())
        })
        .context("no peak RSS in /usr/bin/time -v output")?;
    Ok(Measured {
        wall,
        max_rss_kib,
        stdout,
    })
}

/// Runs Switchboard (`program`) with `args` as [`measure`] does; BENCH_WRAP, when
/// set, runs it under another program for profiling, e.g.
/// `BENCH_WRAP="perf record -e cpu-clock -g -o /work/perf/run.data"`.
pub fn measure_switchboard(
    program: &Path,
    args: &[&str],
    logs: &Path,
    name: &str,
) -> Result<Measured> {
    let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
    let mut words: Vec<&str> = wrap.split_whitespace().collect();
    if words.is_empty() {
        return measure(program, args, logs, name);
    }
    let wrapper = std::path::PathBuf::from(words.remove(0));
    let data;
    if let Some(o) = words.iter().position(|w| *w == "-o") {
        // One output file per run: `<given>.<name>`.
        data = format!(
            "{}.{name}",
            words.get(o + 1).copied().unwrap_or("perf.data")
        );
        if let Some(w) = words.get_mut(o + 1) {
            *w = &data;
        }
    }
    words.push(program.to_str().unwrap_or_default());
    words.extend(args);
    measure(&wrapper, &words, logs, name)
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The median of a non-empty sample (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The p-th percentile (0–100) by nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}
