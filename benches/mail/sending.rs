//! Sending: the outbox delivering acknowledgements to the loopback Postfix, against
//! Postfix's own load generator `smtp-source` sending as many messages of the same
//! size over as many connections as Switchboard opened (counted in Postfix's log),
//! and as many copies of one of those acknowledgements (`-F`), so that the comparison
//! is also made on the same bytes: encoded headers and a MIME body against
//! smtp-source's plain text. (It made no difference in the runs so far.)
//!
//! Postfix accepts and queues but does not deliver while either sender runs
//! (`mailbox::hold_delivery`): the figure is each sender against Postfix taking mail
//! in, not against Dovecot's delivery competing for the same two cores.
//!
//! Switchboard's time is the wall time of `run --once` with the acknowledgements due
//! minus that of the same run with nothing due (start-up, store, clock pass), so
//! both sides are charged for sending alone.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::Connection;

use crate::config::{self, In, Out, Setup};
use crate::mailbox::{self, SUPPORT};
use crate::process::{self, Measured, median};
use crate::{Bench, Row, note};

const DRAIN: Duration = Duration::from_secs(900);

pub fn compare(bench: &Bench, store: &Path) -> Result<Vec<Row>> {
    let dir = bench.work.join("send");
    std::fs::create_dir_all(&dir)?;
    let count = bench.args.send;
    let due = dir.join("due.db");
    let none = dir.join("none.db");
    let empty = dir.join("empty-inbox");
    std::fs::create_dir_all(&empty)?;
    // A fresh store with the schema of the build under test, which only that build
    // can make: one run with nothing to do.
    std::fs::remove_file(&due).ok();
    let cfg = config::write(
        &Setup {
            stack: &bench.stack,
            dir: &dir,
            store: &due,
            input: In::Maildir(empty.clone()),
            output: Out::Maildir(dir.join("unused-outbox")),
            rules: None,
        },
        "send-create",
    )?;
    process::measure(
        &bench.switchboard,
        &["run", "--once", "--config", cfg.to_str().unwrap()],
        &bench.logs(),
        "send-create",
    )?;
    let size = prepare(store, &due, &none, count)?;
    let smtp_source = Path::new("/usr/sbin/smtp-source");
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut same = Vec::new();
    let sample = sample_message(&due, &dir)?;
    let mut connections = Vec::new();
    let mut rss = Vec::new();
    for run in 1..=bench.args.runs {
        let run_store = dir.join(format!("run-{run}/switchboard.db"));
        let base_store = dir.join(format!("base-{run}/switchboard.db"));
        for (template, target) in [(&due, &run_store), (&none, &base_store)] {
            if let Some(p) = target.parent() {
                std::fs::remove_dir_all(p).ok();
                std::fs::create_dir_all(p)?;
            }
            std::fs::copy(template, target)?;
        }
        let config_for = |store: &Path, name: &str| {
            config::write(
                &Setup {
                    stack: &bench.stack,
                    dir: &dir,
                    store,
                    input: In::Maildir(empty.clone()),
                    output: Out::Postfix,
                    rules: None,
                },
                name,
            )
        };
        let base_cfg = config_for(&base_store, "send-base")?;
        let base = process::measure(
            &bench.switchboard,
            &["run", "--once", "--config", base_cfg.to_str().unwrap()],
            &bench.logs(),
            &format!("send-base-{run}"),
        )?;
        let cfg = config_for(&run_store, "send")?;
        let log_before = bench.stack.postfix_log().len();
        mailbox::hold_delivery(&bench.stack, true)?;
        let m = process::measure_switchboard(
            &bench.switchboard,
            &["run", "--once", "--config", cfg.to_str().unwrap()],
            &bench.logs(),
            &format!("send-{run}"),
        )?;
        let sent = sent_count(&m.stdout)?;
        if sent != count {
            bail!("switchboard sent {sent} messages, expected {count}");
        }
        mailbox::hold_delivery(&bench.stack, false)?;
        mailbox::wait_postfix_idle(&bench.stack, DRAIN)?;
        let conns = connects_since(&bench.stack.postfix_log(), log_before);
        let secs = (m.wall.as_secs_f64() - base.wall.as_secs_f64()).max(1e-3);
        note(&format!(
            "send run {run}: switchboard {count} in {secs:.2} s over {conns} connection(s) (run {:.2} s, baseline {:.2} s)",
            m.wall.as_secs_f64(),
            base.wall.as_secs_f64()
        ));
        ours.push(count as f64 / secs);
        rss.push(m.rss_mib());
        connections.push(conns);
        mailbox::clear_others(&bench.stack, SUPPORT)?;

        let source = |payload: [&str; 2], name: &str| -> Result<f64> {
            let conns = conns.max(1).to_string();
            let count = count.to_string();
            let server = format!("127.0.0.1:{}", bench.stack.smtp_port);
            let mut args = vec!["-d", "-N", "-s", &conns, "-m", &count];
            args.extend(payload);
            args.extend(["-f", SUPPORT, "-t", "ack@client.example", &server]);
            mailbox::hold_delivery(&bench.stack, true)?;
            let s = process::measure(smtp_source, &args, &bench.logs(), name)?;
            mailbox::hold_delivery(&bench.stack, false)?;
            mailbox::wait_postfix_idle(&bench.stack, DRAIN)?;
            mailbox::clear_others(&bench.stack, SUPPORT)?;
            Ok(s.wall.as_secs_f64())
        };
        let secs = source(["-l", &size.to_string()], &format!("smtp-source-{run}"))?;
        note(&format!(
            "send run {run}: smtp-source {count} in {secs:.2} s"
        ));
        theirs.push(count as f64 / secs);
        let secs = source(
            ["-F", sample.to_str().unwrap()],
            &format!("smtp-source-same-{run}"),
        )?;
        note(&format!(
            "send run {run}: smtp-source {count} of one of the acknowledgements in {secs:.2} s"
        ));
        same.push(count as f64 / secs);
    }
    let (o, t, t_same) = (median(&ours), median(&theirs), median(&same));
    let conns = connections.iter().max().copied().unwrap_or(0);
    Ok(vec![
        Row::new(
            format!(
                "2. sending {count} acknowledgements ({size} bytes each on average) to Postfix, {conns} connection(s), median of {}: msg/s",
                bench.args.runs
            ),
            format!("{o:.0}"),
        )
        .reference(format!("smtp-source -s {conns} {t:.0}"))
        .ratio(format!("{:.0}%", 100.0 * o / t))
        .target("≥ 80%"),
        Row::new(
            format!(
                "2. sending, the same, against smtp-source sending one of those acknowledgements (`-F`, {} bytes) {count} times",
                std::fs::metadata(&sample)?.len()
            ),
            format!("{o:.0}"),
        )
        .reference(format!("smtp-source -s {conns} -F {t_same:.0}"))
        .ratio(format!("{:.0}%", 100.0 * o / t_same)),
        Row::new(
            "2. sending: peak RSS".to_string(),
            format!("{:.0} MiB", median(&rss)),
        ),
    ])
}

/// Delivers (and so uses up) the whole outbox an intake of the backlog left (acknowledgements, and the
/// case records to departments with the original attached), once: the rate and the
/// peak RSS with the large messages in it.
pub fn backlog_outbox(bench: &Bench, store: &Path) -> Result<Vec<Row>> {
    let dir = bench.work.join("send-backlog");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir)?;
    // The last use of the intake store: it is sent from as it is.
    let copy = store.to_path_buf();
    let (rows, bytes): (i64, i64) = Connection::open(&copy)?.query_row(
        "SELECT count(*), coalesce(sum(length(o.content) + coalesce(length(m.raw), 0)), 0)
         FROM outbox o LEFT JOIN messages m ON m.dedup_key = o.original_key
         WHERE o.sent_at IS NULL",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let empty = dir.join("empty-inbox");
    std::fs::create_dir_all(&empty)?;
    let cfg = config::write(
        &Setup {
            stack: &bench.stack,
            dir: &dir,
            store: &copy,
            input: In::Maildir(empty),
            output: Out::Postfix,
            rules: None,
        },
        "send-backlog",
    )?;
    let m: Measured = process::measure_switchboard(
        &bench.switchboard,
        &["run", "--once", "--config", cfg.to_str().unwrap()],
        &bench.logs(),
        "send-backlog",
    )?;
    let sent = sent_count(&m.stdout)?;
    note(&format!(
        "backlog outbox: {sent} of {rows} ({:.0} MB) in {:.1} s, peak RSS {:.0} MiB",
        bytes as f64 / 1e6,
        m.wall.as_secs_f64(),
        m.rss_mib()
    ));
    mailbox::wait_postfix_idle(&bench.stack, DRAIN)?;
    mailbox::clear_others(&bench.stack, SUPPORT)?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(vec![
        Row::new(
            format!(
                "2. the backlog's own outbox: {sent} messages, {:.0} MB (acknowledgements, and case records with the original attached), one run: msg/s, peak RSS",
                bytes as f64 / 1e6
            ),
            format!("{:.0} msg/s, {:.0} MiB", sent as f64 / m.wall.as_secs_f64(), m.rss_mib()),
        )
        .target("RSS < 100 MiB"),
    ])
}

/// One acknowledgement of the average size, written for `smtp-source -F` (which ends
/// each line with CRLF itself): Postfix and Dovecot then handle the same headers and
/// body encoding from both senders, not only the same size.
fn sample_message(due: &Path, dir: &Path) -> Result<std::path::PathBuf> {
    let content: Vec<u8> = Connection::open(due)?.query_row(
        "SELECT content FROM outbox
         ORDER BY abs(length(content) - (SELECT avg(length(content)) FROM outbox)), id LIMIT 1",
        [],
        |r| r.get(0),
    )?;
    let text = String::from_utf8(content).context("an acknowledgement that is not text")?;
    let path = dir.join("sample-ack.eml");
    std::fs::write(&path, text.replace("\r\n", "\n"))?;
    Ok(path)
}

/// Fills the empty store `due` with exactly `count` acknowledgements due (copied
/// from an intake store, which stays as it is; topped up with copies to other
/// recipients if the intake made fewer), and makes `none`, the same with all sent.
/// Returns the mean acknowledgement size.
fn prepare(store: &Path, due: &Path, none: &Path, count: usize) -> Result<usize> {
    std::fs::remove_file(none).ok();
    let c = Connection::open(due)?;
    c.execute("ATTACH DATABASE ?1 AS src", [store.to_str().unwrap()])?;
    c.execute_batch(
        "INSERT INTO outbox (kind, message_id, envelope_from, recipients, content, created_at,
                             next_attempt_at)
         SELECT kind, message_id, envelope_from, recipients, content, created_at, next_attempt_at
         FROM src.outbox WHERE kind = 'ack' ORDER BY id;
         DETACH DATABASE src;",
    )?;
    let mut have: i64 = c.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?;
    if have == 0 {
        bail!("the intake store holds no acknowledgements");
    }
    let mut round = 0;
    while (have as usize) < count {
        round += 1;
        c.execute(
            "INSERT INTO outbox (kind, message_id, envelope_from, recipients, content,
                                 created_at, next_attempt_at)
             SELECT kind, message_id || '.copy' || ?1, envelope_from,
                    'copy' || ?1 || '.' || recipients, content, created_at, next_attempt_at
             FROM outbox WHERE message_id NOT LIKE '%.copy%' ORDER BY id LIMIT ?2",
            rusqlite::params![round, count as i64 - have],
        )?;
        have = c.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?;
    }
    c.execute(
        "DELETE FROM outbox WHERE id NOT IN (SELECT id FROM outbox ORDER BY id LIMIT ?1)",
        [count as i64],
    )?;
    let size: f64 = c.query_row("SELECT avg(length(content)) FROM outbox", [], |r| r.get(0))?;
    c.execute_batch("VACUUM")?;
    drop(c);
    std::fs::copy(due, none)?;
    Connection::open(none)?.execute_batch("UPDATE outbox SET sent_at = created_at")?;
    Ok(size.round() as usize)
}

fn sent_count(stdout: &str) -> Result<usize> {
    // "Done: 0 message(s) taken in, 0 timer(s) fired, 10000 mail(s) sent, …"
    stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("Done: "))
        .and_then(|l| l.split(", ").find(|p| p.ends_with("mail(s) sent")))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("switchboard printed no \"Done:\" line with mail sent")
}

fn connects_since(log: &str, offset: usize) -> usize {
    log.get(offset..)
        .unwrap_or("")
        .lines()
        .filter(|l| l.contains("/smtpd[") && l.contains(": connect from "))
        .count()
}
