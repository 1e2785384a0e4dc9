//! A private Rspamd (Debian's `rspamd`, its stock configuration) on loopback ports,
//! for tests: `/etc/rspamd/rspamd.conf` with its own `LOCAL_CONFDIR` whose
//! `override.d` binds the workers to ports of our own and logs into the folder, and
//! its own `DBDIR` and `RUNDIR`, so that tests in parallel never share one. Stopped
//! (with its workers) when dropped.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Rspamd compiles its regular expressions at its first start: a minute or more on
/// a busy machine. A bound against a hang, not a speed anyone relies on.
const READY_WITHIN: Duration = Duration::from_secs(600);

pub struct Rspamd {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Rspamd {
    /// Starts Rspamd in `dir` (created) and waits until `/checkv2` answers.
    pub fn start(dir: &Path, pick_port: impl Fn() -> Result<u16>) -> Result<Rspamd> {
        if Command::new("rspamd").arg("--version").output().is_err() {
            bail!("rspamd is not installed: run scripts/install-test-deps.sh (as root)");
        }
        let (normal, controller, proxy) = (pick_port()?, pick_port()?, pick_port()?);
        let over = dir.join("override.d");
        for sub in ["override.d", "local.d", "db", "run"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let worker = |port: u16| format!("bind_socket = \"127.0.0.1:{port}\";\ncount = 1;\n");
        std::fs::write(over.join("worker-normal.inc"), worker(normal))?;
        std::fs::write(over.join("worker-controller.inc"), worker(controller))?;
        std::fs::write(over.join("worker-proxy.inc"), worker(proxy))?;
        std::fs::write(
            over.join("logging.inc"),
            format!(
                "type = \"file\";\nfilename = \"{}\";\nlevel = \"notice\";\n",
                dir.join("rspamd.log").display()
            ),
        )?;
        std::fs::write(
            over.join("options.inc"),
            format!(
                "pidfile = \"{}\";\ndns {{ timeout = 0.5s; retransmits = 1; }}\n",
                dir.join("run/rspamd.pid").display()
            ),
        )?;
        // Rspamd drops to _rspamd, which must write its database and log here.
        let status = Command::new("chown")
            .args(["-R", "_rspamd:_rspamd"])
            .arg(dir)
            .status()?;
        if !status.success() {
            bail!("cannot give {} to _rspamd", dir.display());
        }
        let log = std::fs::File::create(dir.join("stderr.log"))?;
        let child = Command::new("rspamd")
            .args([
                "-f",
                "-u",
                "_rspamd",
                "-g",
                "_rspamd",
                "-c",
                "/etc/rspamd/rspamd.conf",
            ])
            .arg(format!("--var=LOCAL_CONFDIR={}", dir.display()))
            .arg(format!("--var=DBDIR={}", dir.join("db").display()))
            .arg(format!("--var=RUNDIR={}", dir.join("run").display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("cannot start rspamd")?;
        let mut r = Rspamd {
            port: normal,
            dir: dir.to_path_buf(),
            child: Some(child),
        };
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if r.check(b"From: probe@example.net\r\nSubject: probe\r\n\r\nprobe\r\n")
                .is_ok()
            {
                return Ok(r);
            }
            if let Some(Ok(Some(status))) = r.child.as_mut().map(Child::try_wait) {
                bail!("rspamd exited with {status}:\n{}", r.log_tail());
            }
            if Instant::now() >= deadline {
                bail!(
                    "rspamd did not answer within {READY_WITHIN:?}:\n{}",
                    r.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Rspamd's JSON answer for a message.
    pub fn check(&self, raw: &[u8]) -> Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        write!(
            s,
            "POST /checkv2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            raw.len()
        )?;
        s.write_all(raw)?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        if !answer.starts_with("HTTP/1.1 200") {
            bail!("rspamd answered {answer:?}");
        }
        Ok(answer)
    }

    /// Stops Rspamd and its workers, and waits for them.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-s", "TERM", "--", &format!("-{}", child.id())])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
    }

    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for f in ["stderr.log", "rspamd.log"] {
            let text = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(15);
            out.push_str(&format!("--- {f}\n{}\n", lines[start..].join("\n")));
        }
        out
    }
}

impl Drop for Rspamd {
    fn drop(&mut self) {
        self.stop();
    }
}
