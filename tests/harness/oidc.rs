//! A real OAuth2 authorization server for the tests: the npm package `oidc-provider`
//! (tests/harness/oidc/provider.mjs) run by Node on a loopback port, with the device
//! flow, refresh-token rotation, introspection and revocation. Two clients:
//! `switchboard` (secret in the request body) and `dovecot` (introspection only, HTTP
//! Basic), whose URL [`Oidc::introspection_url`] gives to the mail stack's OAuth2
//! mode. Stopped when dropped; its in-memory store goes with it, and its log too
//! unless `MAILSTACK_KEEP=1`.
//!
//! Needs Node (Debian's, v20, does) and the package in
//! `${SWITCHBOARD_OIDC:-$HOME/.cache/switchboard-oidc}/node_modules`, which
//! `scripts/install-test-deps.sh` installs. Missing, it fails with the command to
//! run; it never skips.
//!
//! Include with `#[path = "harness/oidc.rs"] mod oidc;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub const CLIENT_ID: &str = "switchboard";
pub const CLIENT_SECRET: &str = "oidc-test-client-secret";
/// The app-only client (client credentials): named like the mailbox, see provider.mjs.
pub const APP_CLIENT_ID: &str = "support@example.com";
const DOVECOT_SECRET: &str = "oidc-test-dovecot-secret";
const START_TIMEOUT: Duration = Duration::from_secs(30);
const HINT: &str = "run `scripts/install-test-deps.sh` (it installs the npm package oidc-provider into ~/.cache/switchboard-oidc)";

pub struct Oidc {
    pub port: u16,
    child: Child,
    pub log: PathBuf,
}

fn root() -> PathBuf {
    std::env::var_os("SWITCHBOARD_OIDC")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/switchboard-oidc")
        })
}

fn modules() -> PathBuf {
    root().join("node_modules")
}

/// Node 20 or newer: the one install-test-deps.sh put into the cache where the
/// machine's was missing or too old, else the machine's.
fn node() -> Result<PathBuf> {
    [
        root().join("node/bin/node"),
        PathBuf::from("/usr/bin/node"),
        PathBuf::from("/usr/local/bin/node"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .with_context(|| format!("Node is not installed: {HINT}"))
}

impl Oidc {
    /// Starts the server on `port` with access tokens living `access_ttl` seconds,
    /// and waits for its "listening" line. Its log (grant events) goes to `log`.
    pub fn start(port: u16, access_ttl: u64, log: &Path) -> Result<Oidc> {
        let node = node()?;
        let modules = modules();
        if !modules.join("oidc-provider/package.json").is_file() {
            bail!("oidc-provider is not in {}: {HINT}", modules.display());
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness/oidc/provider.mjs");
        let mut child = Command::new(node)
            .arg(&script)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_ACCESS_TTL", access_ttl.to_string())
            .env("OIDC_NODE_MODULES", &modules)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_APP_CLIENT_ID", APP_CLIENT_ID)
            .env("OIDC_DOVECOT_SECRET", DOVECOT_SECRET)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("Cannot start node")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let oidc = Oidc {
            port,
            child,
            log: log.to_path_buf(),
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.starts_with("listening on") => Ok(oidc),
            other => bail!(
                "oidc-provider did not start ({other:?}); its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            ),
        }
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// For Dovecot's `passdb oauth2` (`introspection_mode = post`).
    pub fn introspection_url(&self) -> String {
        format!(
            "http://dovecot:{DOVECOT_SECRET}@127.0.0.1:{}/token/introspection",
            self.port
        )
    }

    /// The `[oauth2]` table for Switchboard, the client secret in `secret_file`.
    pub fn config_table(&self, secret_file: &Path) -> String {
        format!(
            "[oauth2]\nprovider = \"custom\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\ntoken_url = \"{}/token\"\ndevice_authorization_url = \"{}/device/auth\"\nscopes = [\"openid\", \"offline_access\", \"mail\"]\n",
            secret_file.display(),
            self.issuer(),
            self.issuer()
        )
    }

    /// The `[oauth2]` table for app-only access (`flow = "client_credentials"`).
    pub fn app_only_table(&self, secret_file: &Path) -> String {
        format!(
            "[oauth2]\nprovider = \"custom\"\nflow = \"client_credentials\"\nclient_id = \"{APP_CLIENT_ID}\"\nclient_secret_file = \"{}\"\ntoken_url = \"{}/token\"\nscopes = [\"mail\"]\n",
            secret_file.display(),
            self.issuer()
        )
    }

    /// Plays the person who approves `user_code` at `verification_uri`, signing in as
    /// `login` (tests/harness/oidc/approve.mjs).
    pub fn approve(&self, verification_uri: &str, user_code: &str, login: &str) -> Result<()> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness/oidc/approve.mjs");
        let out = Command::new(node()?)
            .arg(script)
            .args([verification_uri, user_code, login])
            .output()
            .context("Cannot run node")?;
        if !out.status.success() {
            bail!(
                "approving the device code failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// POSTs a form to `path` as the switchboard client; returns the status and body.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<(u16, String)> {
        let mut body = format!("client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}");
        for (k, v) in form {
            body.push_str(&format!("&{k}={}", urlencode(v)));
        }
        let mut tcp = TcpStream::connect(("127.0.0.1", self.port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            tcp,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        let mut answer = String::new();
        tcp.read_to_string(&mut answer)?;
        let status = answer
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .context("no HTTP status")?;
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// Revokes a token (RFC 7009); revoking a refresh token revokes its grant.
    pub fn revoke(&self, token: &str) -> Result<()> {
        let (status, body) = self.post("/token/revocation", &[("token", token)])?;
        if status != 200 {
            bail!("revocation answered {status}: {body}");
        }
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log shows `needle` (a grant event), up to `limit`.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        while !self.log().contains(needle) {
            if Instant::now() > deadline {
                bail!("oidc-provider never logged {needle:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Oidc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Kept for inspection like the mail stack's folder.
        if std::env::var_os("MAILSTACK_KEEP").is_none() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
