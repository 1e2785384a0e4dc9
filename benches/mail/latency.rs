//! Latency with the daemon idling on the mailbox: a message is APPENDed to the
//! shared INBOX, and the clock stops when the daemon logs that Postfix accepted the
//! acknowledgement ("Mail sent", written right after the server's 250 to the final
//! dot). Messages arrive at random intervals of 0.2–0.6 s, as a busy shared inbox
//! gets them; the start of each is taken before the APPEND is sent, so the time
//! includes Dovecot storing it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::config::{self, In, Out, Setup};
use crate::corpus::Rng;
use crate::mailbox::{self, Imap, SUPPORT};
use crate::process::{median, percentile};
use crate::{Bench, Row, note};

pub fn measure(bench: &Bench) -> Result<Vec<Row>> {
    let n = bench.args.latency;
    let dir = bench.work.join("latency");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir)?;
    mailbox::reset(&bench.stack, SUPPORT)?;
    let store = dir.join("switchboard.db");
    let cfg = config::write(
        &Setup {
            stack: &bench.stack,
            dir: &dir,
            store: &store,
            input: In::Imap { poll: "30s" },
            output: Out::Postfix,
            rules: None,
        },
        "latency",
    )?;
    let mut child = Command::new(&bench.switchboard)
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("SWITCHBOARD_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting switchboard run")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let (tx, rx) = mpsc::channel::<(Option<String>, Instant)>();
    let log_path = bench.logs().join("latency-daemon.err");
    std::fs::create_dir_all(bench.logs())?;
    let reader = std::thread::spawn(move || -> Result<()> {
        let mut log = std::fs::File::create(log_path)?;
        for line in BufReader::new(stderr).lines() {
            let line = strip_ansi(&line?);
            let at = Instant::now();
            writeln!(log, "{line}")?;
            if line.contains("IMAP session opened") {
                let _ = tx.send((None, at));
            } else if line.contains("Mail sent")
                && (line.contains("kind=ack") || line.contains("kind=\"ack\""))
                && let Some(to) = line.split_whitespace().find_map(|w| w.strip_prefix("to="))
            {
                let _ = tx.send((Some(to.trim_matches('"').to_string()), at));
            }
        }
        Ok(())
    });

    let result = (|| -> Result<(Vec<f64>, usize)> {
        let (first, _) = rx
            .recv_timeout(Duration::from_secs(30))
            .context("the daemon never opened its IMAP session")?;
        if first.is_some() {
            bail!("an acknowledgement before any mail");
        }
        // Let it finish its first (empty) pass and settle into waiting.
        std::thread::sleep(Duration::from_millis(1500));
        let mut imap = Imap::login(bench.stack.imap_port, SUPPORT)?;
        let mut rng = Rng::new(bench.args.seed ^ 0x1a7e);
        let mut started: HashMap<String, Instant> = HashMap::new();
        let mut done: HashMap<String, Instant> = HashMap::new();
        for i in 0..n {
            let who = format!("lat{i}@latency.example");
            let raw = format!(
                "From: Customer {i} <{who}>\r\nTo: {SUPPORT}\r\nSubject: Complaint {i}: my order has not arrived\r\nDate: Mon, 02 Nov 2026 10:00:00 +0800\r\nMessage-ID: <latency-{i}@latency.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOrder {i} was due last week and has still not been delivered. Please tell me when it will arrive.\r\n"
            );
            started.insert(who.clone(), Instant::now());
            imap.append("INBOX", raw.as_bytes())?;
            let pause = Duration::from_millis(200 + rng.below(401) as u64);
            let until = Instant::now() + pause;
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                match rx.recv_timeout(left) {
                    Ok((Some(to), at)) => {
                        done.insert(to, at);
                    }
                    Ok((None, _)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the daemon exited"),
                }
            }
        }
        imap.logout();
        let deadline = Instant::now() + Duration::from_secs(60);
        while done.len() < n && Instant::now() < deadline {
            if let Ok((Some(to), at)) = rx.recv_timeout(Duration::from_millis(200)) {
                done.insert(to, at);
            }
        }
        let mut latencies = Vec::new();
        for (who, t0) in &started {
            if let Some(t1) = done.get(who) {
                latencies.push(t1.duration_since(*t0).as_secs_f64());
            }
        }
        Ok((latencies, n - done.len().min(n)))
    })();

    // Stop it as an administrator would, and time how long it takes.
    let stop = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stopped_in = stop.elapsed();
    let _ = reader.join();
    let (latencies, missing) = result?;
    mailbox::wait_postfix_idle(&bench.stack, Duration::from_secs(300))?;
    mailbox::clear_others(&bench.stack, SUPPORT)?;
    mailbox::reset(&bench.stack, SUPPORT)?;
    if missing > 0 {
        bail!("{missing} of {n} acknowledgements never came (see the latency-daemon.err log)");
    }
    let (p50, p99) = (median(&latencies), percentile(&latencies, 99.0));
    note(&format!(
        "latency: median {:.0} ms, p99 {:.0} ms, max {:.0} ms; stopped in {:.0} ms",
        p50 * 1e3,
        p99 * 1e3,
        percentile(&latencies, 100.0) * 1e3,
        stopped_in.as_secs_f64() * 1e3
    ));
    let stop_row = match exit {
        Some(s) if s.success() => format!("{:.0} ms", stopped_in.as_secs_f64() * 1e3),
        Some(s) => format!("exit {s} after {:.0} ms", stopped_in.as_secs_f64() * 1e3),
        None => "did not stop within 30 s".into(),
    };
    Ok(vec![
        Row::new(
            format!("3. latency APPEND → acknowledgement accepted by Postfix, {n} messages 0.2–0.6 s apart, daemon idle: median / p99"),
            format!("{:.2} s / {:.2} s", p50, p99),
        )
        .target("< 1 s / < 3 s"),
        Row::new("3. daemon stop on SIGTERM while waiting for mail", stop_row),
    ])
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
