//! Asking Rspamd (`[spam] rspamd`) about mail that would otherwise be a case.
//!
//! `POST /checkv2` with the raw message answers JSON with `action`, `score` and
//! `symbols` (https://rspamd.com/doc/developers/protocol.html). The request is a
//! dozen lines of HTTP/1.1 over tokio's `TcpStream` rather than an HTTP client
//! crate: one POST to a loopback or LAN address, no TLS, no redirects, no pooling —
//! hyper or reqwest would add dozens of crates to a build that is already slow.
//!
//! It runs in `prepare_batch`, before the batch's transaction, so that the store's
//! thread never waits on the network. Rspamd unreachable, slow (`rspamd_timeout`) or
//! answering nonsense means "no verdict": the message is taken in as if there were
//! no Rspamd, the log says why once (and again only after Rspamd answered in
//! between), and for a minute it is not asked again, so that a dead Rspamd costs a
//! backlog one timeout, not one per message.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Intake, Prepared};
use crate::case::Category;
use crate::config::Rspamd;

impl Intake {
    /// Rspamd's verdict on each message of a prepared batch that would otherwise be
    /// a case (a server verdict or a set-aside rule has decided the rest already).
    /// Mail that no rule claims (unclassified) is judged by `rspamd_unclaimed_actions`.
    pub(super) async fn ask_rspamd(&self, batch: &mut [Prepared]) {
        let Some(client) = &self.rspamd else {
            return;
        };
        for p in batch {
            if let (Ok(msg), Some(class)) = (&p.parsed, &p.class)
                && self.set_aside_reason(msg, class).is_none()
            {
                let unclaimed = class.category == Category::Unclassified;
                p.rspamd = client.verdict(&p.incoming.raw, unclaimed).await;
            }
        }
    }
}

/// The most of an answer read: Rspamd's JSON for one message is a few KB.
const MAX_ANSWER: usize = 1024 * 1024;
/// After a failure, no question for this long.
const QUIET_AFTER_FAILURE: Duration = Duration::from_secs(60);

pub struct Client {
    config: Rspamd,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Not asked again before this.
    quiet_until: Option<Instant>,
    /// The failure was logged and Rspamd has not answered since.
    told: bool,
}

impl Client {
    pub fn new(config: Rspamd) -> Client {
        Client {
            config,
            state: Mutex::new(State::default()),
        }
    }

    /// Why Rspamd says this is spam, or `None`: not spam, or no verdict. `unclaimed`:
    /// no rule claims the message, and `rspamd_unclaimed_actions` decide.
    pub async fn verdict(&self, raw: &[u8], unclaimed: bool) -> Option<String> {
        if let Ok(state) = self.state.lock()
            && state.quiet_until.is_some_and(|t| Instant::now() < t)
        {
            return None;
        }
        let answer = tokio::time::timeout(self.config.timeout, self.ask(raw)).await;
        let answer = match answer {
            Ok(a) => a,
            Err(_) => Err(anyhow::anyhow!(
                "no answer within {:?} (spam.rspamd_timeout)",
                self.config.timeout
            )),
        };
        let mut state = self.state.lock().ok()?;
        match answer {
            Ok(a) => {
                if state.told {
                    tracing::info!(url = %self.config.url, "Rspamd answers again: mail is checked by it");
                }
                *state = State::default();
                self.judge(&a, unclaimed)
            }
            Err(e) => {
                if !state.told {
                    tracing::warn!(
                        url = %self.config.url,
                        "Rspamd asked for no verdict: {e:#}; mail is taken in without its verdict until it answers"
                    );
                }
                state.told = true;
                state.quiet_until = Some(Instant::now() + QUIET_AFTER_FAILURE);
                None
            }
        }
    }

    fn judge(&self, a: &serde_json::Value, unclaimed: bool) -> Option<String> {
        let action = a.get("action")?.as_str()?;
        let spam = if unclaimed {
            &self.config.unclaimed_actions
        } else {
            &self.config.actions
        };
        if !spam.iter().any(|x| x == action) {
            return None;
        }
        let score = a.get("score").and_then(|s| s.as_f64()).unwrap_or(0.0);
        let mut symbols: Vec<(String, f64)> = a
            .get("symbols")
            .and_then(|s| s.as_object())
            .map(|m| {
                m.iter()
                    .map(|(name, v)| {
                        (
                            name.clone(),
                            v.get("score").and_then(|s| s.as_f64()).unwrap_or(0.0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        // The weightiest first; the reason names the ten that decided most.
        symbols.sort_by(|x, y| y.1.abs().total_cmp(&x.1.abs()).then_with(|| x.0.cmp(&y.0)));
        let names: Vec<String> = symbols
            .iter()
            .take(10)
            .map(|(n, s)| format!("{n}({s:.2})"))
            .collect();
        Some(if names.is_empty() {
            format!("Rspamd {action} (score {score:.2})")
        } else {
            format!("Rspamd {action} (score {score:.2}; {})", names.join(" "))
        })
    }

    async fn ask(&self, raw: &[u8]) -> Result<serde_json::Value> {
        let addr = format!("{}:{}", self.config.host, self.config.port);
        let mut stream = tokio::net::TcpStream::connect(&addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        // Rspamd's protocol: per-request settings in UCL (the names are validated
        // in config/spam.rs: capital letters, digits, _).
        let settings = if self.config.ignored_symbols.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = self
                .config
                .ignored_symbols
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect();
            format!(
                "Settings: {{ symbols_disabled = [{}]; }}\r\n",
                names.join(", ")
            )
        };
        let head = format!(
            "POST /checkv2 HTTP/1.1\r\nHost: {addr}\r\n{settings}Content-Length: {}\r\nConnection: close\r\n\r\n",
            raw.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(raw).await?;
        stream.flush().await?;
        let mut answer = Vec::new();
        (&mut stream)
            .take(MAX_ANSWER as u64 + 1)
            .read_to_end(&mut answer)
            .await?;
        if answer.len() > MAX_ANSWER {
            bail!("an answer over {MAX_ANSWER} bytes");
        }
        let body = http_body(&answer)?;
        serde_json::from_slice(&body).context("an answer that is not JSON")
    }
}

/// The body of an HTTP/1.1 response that must be `200`, by Content-Length, chunked
/// transfer coding (RFC 9112 §7.1), or the end of the connection.
fn http_body(answer: &[u8]) -> Result<Vec<u8>> {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("an answer without a header")?;
    let head = String::from_utf8_lossy(answer.get(..end).unwrap_or_default());
    let rest = answer.get(end + 4..).unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        bail!("the answer {status:?}");
    }
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
    }
    if chunked {
        let mut body = Vec::new();
        let mut at = rest;
        loop {
            let line_end = at
                .windows(2)
                .position(|w| w == b"\r\n")
                .context("a chunk without its size line")?;
            let size_text = String::from_utf8_lossy(at.get(..line_end).unwrap_or_default());
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16).context("a bad chunk size")?;
            let start = line_end + 2;
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(at.get(start..start + size).context("a chunk cut short")?);
            at = at.get(start + size + 2..).context("a chunk cut short")?;
        }
    }
    match length {
        Some(n) => Ok(rest.get(..n).context("an answer cut short")?.to_vec()),
        None => Ok(rest.to_vec()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bodies_by_length_and_by_chunks() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}trailing";
        assert_eq!(http_body(plain).unwrap(), b"{}");
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(http_body(chunked).unwrap(), b"{\"a\":1}");
        assert!(http_body(b"HTTP/1.1 500 Oops\r\n\r\n").is_err());
        assert!(http_body(b"garbage").is_err());
    }

    #[test]
    fn only_the_configured_actions_are_spam() {
        let c = Client::new(Rspamd {
            url: "http://127.0.0.1:11333".into(),
            host: "127.0.0.1".into(),
            port: 11333,
            timeout: Duration::from_secs(2),
            actions: vec!["reject".into(), "add header".into()],
            unclaimed_actions: vec!["reject".into(), "add header".into(), "greylist".into()],
            ignored_symbols: Vec::new(),
        });
        let a: serde_json::Value = serde_json::from_str(
            r#"{"action":"reject","score":1000.5,"symbols":{"GTUBE":{"name":"GTUBE","score":0.0},"MISSING_DATE":{"score":1.0}}}"#,
        )
        .unwrap();
        assert_eq!(
            c.judge(&a, false).unwrap(),
            "Rspamd reject (score 1000.50; MISSING_DATE(1.00) GTUBE(0.00))"
        );
        let a: serde_json::Value =
            serde_json::from_str(r#"{"action":"rewrite subject","score":9}"#).unwrap();
        assert_eq!(c.judge(&a, false), None);
        assert_eq!(c.judge(&a, true), None);
        // `greylist` is spam only for mail that no rule claims.
        let a: serde_json::Value =
            serde_json::from_str(r#"{"action":"greylist","score":4.5}"#).unwrap();
        assert_eq!(c.judge(&a, false), None);
        assert_eq!(c.judge(&a, true).unwrap(), "Rspamd greylist (score 4.50)");
        let a: serde_json::Value = serde_json::from_str(r#"{"action":"no action"}"#).unwrap();
        assert_eq!(c.judge(&a, false), None);
        assert_eq!(c.judge(&a, true), None);
    }
}
