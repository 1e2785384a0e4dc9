//! Debian's headless Chromium, for what a person would see: the web view's pages
//! (tests/web.rs) and the HTML of our mail (tests/attachments.rs). Screenshots are
//! kept under target/ as test artifacts. Needs `scripts/install-test-deps.sh`
//! (chromium, fonts-noto-cjk); fails without them.
#![allow(dead_code, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs Chromium headless on `url` with `args` (`--dump-dom`, `--screenshot=…`) and
/// returns what it printed. Nothing reaches the network: no background services,
/// no first-run, no updates; only the URL given (loopback or a file).
pub fn chromium(profile: &Path, args: &[String], url: &str) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium is installed (scripts/install-test-deps.sh)");
    assert!(
        out.status.success(),
        "chromium {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `target/<name>/`, made if need be: where screenshots are kept.
pub fn artifacts(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name);
    std::fs::create_dir_all(&dir).expect("target/ is writable");
    dir
}
