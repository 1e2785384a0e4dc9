//! OAuth2 against real parts: oidc-provider (tests/harness/oidc.rs) grants the
//! tokens, Dovecot's `passdb oauth2` checks them for IMAP by introspection, and
//! Postfix's submission port checks them through Dovecot's SASL socket — so that
//! intake and sending are both XOAUTH2 for real. The test plays the person who
//! approves the device code, through the provider's own pages over HTTP.
//!
//! Needs the mail stack (scripts/install-test-deps.sh) and the npm package
//! oidc-provider (the same script puts it in ~/.cache/switchboard-oidc); fails, never
//! skips, without them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "harness/mailstack.rs"]
mod mailstack;

#[path = "harness/fixture.rs"]
mod fixture;

#[path = "harness/oidc.rs"]
mod oidc;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use fixture::{ADMIN, Fixture, SUPPORT, mail};
use mailstack::{DovecotOptions, MailStack};
use oidc::Oidc;

/// The authorization server, and Switchboard on a mail stack in the OAuth2 mode with
/// `auth = "oauth2"` for both IMAP and SMTP.
fn setup(access_ttl: u64) -> Result<(Oidc, Fixture)> {
    setup_with(access_ttl, "", Mode::Device)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The device flow for IMAP and SMTP.
    Device,
    /// The device flow for IMAP only; SMTP is Postfix's port without AUTH.
    ImapOnly,
    /// The client-credentials flow (Dovecot then matches the token's `client_id` with
    /// the login name).
    AppOnly,
}

/// Like [`setup`], with `dovecot_extra` appended to Dovecot's config, in `mode`.
fn setup_with(access_ttl: u64, dovecot_extra: &str, mode: Mode) -> Result<(Oidc, Fixture)> {
    let app_only = mode == Mode::AppOnly;
    let port = mailstack::pick_port()?;
    let log = std::env::temp_dir().join(format!("sb-oidc-{}-{port}.log", std::process::id()));
    let oidc = Oidc::start(port, access_ttl, &log)?;
    let stack = MailStack::start_with_dovecot(DovecotOptions {
        oauth2_introspection: Some(oidc.introspection_url()),
        extra: dovecot_extra.to_string(),
        oauth2_username_attribute: app_only.then(|| "client_id".to_string()),
        ..DovecotOptions::default()
    })?;
    let submission = stack.submission_port.context("no submission port")?;
    let f = Fixture::on(stack)?;
    let secret = f.dir.join("oauth.secret");
    std::fs::write(&secret, format!("{}\n", oidc::CLIENT_SECRET))?;
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let smtp = f.stack.smtp_port;
    f.edit_config(|c| {
        let mut c = c.replace("password_file = \"imap.secret\"", "auth = \"oauth2\"");
        if mode != Mode::ImapOnly {
            c = c.replace(
                &format!("port = {smtp}\ntls = \"none\"\n"),
                &format!("port = {submission}\ntls = \"none\"\nusername = \"{SUPPORT}\"\nauth = \"oauth2\"\n"),
            );
        }
        let table = if app_only {
            oidc.app_only_table(&secret)
        } else {
            oidc.config_table(&secret)
        };
        format!("{c}\n{table}")
    })?;
    Ok((oidc, f))
}

/// `switchboard login`, with the test approving the code it prints. Returns its output.
fn login(oidc: &Oidc, f: &Fixture) -> Result<String> {
    let mut child = f
        .command()
        .args(["login", "--config"])
        .arg(&f.config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("Cannot start switchboard login")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = String::new();
    let (url, code) = loop {
        let line = lines
            .next()
            .context("switchboard login ended before it printed the code")??;
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.strip_prefix("Open ") {
            let url = rest
                .split(" in a browser")
                .next()
                .unwrap_or_default()
                .to_string();
            let code = rest
                .split("enter the code ")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .unwrap_or_default()
                .to_string();
            break (url, code);
        }
    };
    ensure!(
        printed.contains("请在任何设备的浏览器中打开") && printed.contains(&code),
        "the instructions come in Chinese too:\n{printed}"
    );
    oidc.approve(&url, &code, SUPPORT)?;
    for line in lines {
        printed.push_str(&line?);
        printed.push('\n');
    }
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "switchboard login failed: {}\n{printed}\n{stderr}",
        out.status
    );
    ensure!(printed.contains("The grant is stored"), "{printed}");
    Ok(format!("{printed}{stderr}"))
}

fn check(f: &Fixture) -> Result<String> {
    let out = f
        .command()
        .args(["check", "--config"])
        .arg(&f.config)
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(out.status.success(), "check failed:\n{text}");
    Ok(text)
}

/// Every token the authorization server issued, from its log.
fn issued_tokens(oidc: &Oidc) -> Vec<String> {
    oidc.log()
        .lines()
        .filter_map(|l| l.strip_prefix("oidc issued "))
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(str::to_string)
        .collect()
}

/// The last access token issued.
fn last_access_token(oidc: &Oidc) -> Option<String> {
    oidc.log()
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("oidc issued access_token "))
        .map(str::to_string)
}

/// Waits until the authorization server says the newest access token has expired
/// (introspection answers `active: false`): the moment the test is about.
fn wait_until_expired(oidc: &Oidc) -> Result<()> {
    let token = last_access_token(oidc).context("no access token issued yet")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = oidc.post("/token/introspection", &[("token", &token)])?;
        if body.contains("\"active\":false") {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the access token never expired: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn grant(f: &Fixture) -> Result<(i64, String, String, i64)> {
    let conn = rusqlite::Connection::open_with_flags(
        f.db_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn.query_row(
        "SELECT id, state, coalesce(refresh_token, ''), rotations FROM oauth2_grants ORDER BY id DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?)
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !done()? {
        if Instant::now() > deadline {
            bail!("{what}: not within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn taken_in(f: &Fixture) -> Result<i64> {
    f.count("SELECT count(*) FROM messages")
}

fn complaint(i: usize) -> Vec<u8> {
    mail(
        &format!("customer{i}@client.example"),
        &format!("投诉：第 {i} 批货物损坏 damaged goods"),
        &format!("oauth2-{i}@client.example"),
        "",
        "货物到达时外箱破损，请尽快处理。The goods arrived damaged.",
    )
}

fn assert_no_token(tokens: &[String], name: &str, text: &str) {
    assert!(!tokens.is_empty(), "the server issued tokens");
    for t in tokens {
        assert!(
            !text.contains(t.as_str()),
            "a token appears in {name}:\n{text}"
        );
    }
    assert!(
        !text.contains(oidc::CLIENT_SECRET),
        "the client secret appears in {name}"
    );
}

/// The device login end to end, then intake and sending over XOAUTH2, and `check`
/// before and after.
#[test]
fn device_login_then_intake_and_sending_over_xoauth2() -> Result<()> {
    let (oidc, f) = setup(3600)?;
    let before = check(&f)?;
    assert!(
        before.contains("warning:") && before.contains("no grant is stored yet"),
        "check says there is no grant, and the daemon may still start:\n{before}"
    );
    let login_out = login(&oidc, &f)?;
    let after = check(&f)?;
    assert!(
        after.contains("oauth2: grant 1 (device) stored") && after.contains("last refreshed"),
        "{after}"
    );

    for i in 0..3 {
        f.deliver(&complaint(i))?;
    }
    let out = f.run_once()?;
    let run = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(taken_in(&f)?, 3, "{run}");
    f.settle()?;
    for i in 0..3 {
        let acks = f.mailbox(&format!("customer{i}@client.example"))?;
        assert_eq!(acks.len(), 1, "one acknowledgement each, sent over XOAUTH2");
    }
    let dovecot = f.stack.dovecot_log();
    assert!(
        dovecot.contains("method=XOAUTH2"),
        "IMAP logged in with XOAUTH2:\n{dovecot}"
    );
    let postfix = f.stack.postfix_log();
    assert!(
        postfix.contains("sasl_method=XOAUTH2"),
        "SMTP AUTH XOAUTH2:\n{postfix}"
    );
    let (_, state, _, _) = grant(&f)?;
    assert_eq!(state, "active");

    let tokens = issued_tokens(&oidc);
    for (name, text) in [
        ("the login's output", login_out.as_str()),
        ("check before login", before.as_str()),
        ("check after", after.as_str()),
        ("check again", check(&f)?.as_str()),
        ("run --once", run.as_str()),
    ] {
        assert_no_token(&tokens, name, text);
    }
    Ok(())
}

/// A server that offers OAUTHBEARER (RFC 7628) and not XOAUTH2 gets OAUTHBEARER, for
/// IMAP and for SMTP (Postfix offers what Dovecot's auth does).
#[test]
fn oauthbearer_where_xoauth2_is_not_offered() -> Result<()> {
    // A later setting wins in dovecot.conf: this replaces the harness's list.
    let (oidc, f) = setup_with(
        3600,
        "auth_mechanisms = plain login oauthbearer",
        Mode::Device,
    )?;
    login(&oidc, &f)?;
    f.deliver(&complaint(0))?;
    f.run_once()?;
    assert_eq!(taken_in(&f)?, 1);
    f.settle()?;
    assert_eq!(f.mailbox("customer0@client.example")?.len(), 1);
    let dovecot = f.stack.dovecot_log();
    assert!(dovecot.contains("method=OAUTHBEARER"), "{dovecot}");
    assert!(!dovecot.contains("method=XOAUTH2"), "{dovecot}");
    let postfix = f.stack.postfix_log();
    assert!(postfix.contains("sasl_method=OAUTHBEARER"), "{postfix}");
    Ok(())
}

/// App-only access (Microsoft's IMAP.AccessAsApp / SMTP.SendAsApp): no login, the
/// daemon gets its token with the client credentials; `check` says so.
#[test]
fn client_credentials_need_no_login() -> Result<()> {
    let (oidc, f) = setup_with(3600, "", Mode::AppOnly)?;
    let before = check(&f)?;
    assert!(
        before.contains("oauth2: client credentials; no token fetched yet"),
        "{before}"
    );
    let out = f
        .command()
        .args(["login", "--config"])
        .arg(&f.config)
        .output()?;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no login is needed"));
    f.deliver(&complaint(0))?;
    let run = f.run_once()?;
    let run = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(taken_in(&f)?, 1, "{run}");
    f.settle()?;
    assert_eq!(f.mailbox("customer0@client.example")?.len(), 1);
    assert!(f.stack.dovecot_log().contains("method=XOAUTH2"));
    let after = check(&f)?;
    assert!(
        after.contains("oauth2: grant 1 (client_credentials) stored"),
        "{after}"
    );
    let tokens = issued_tokens(&oidc);
    assert_no_token(&tokens, "run --once", &run);
    assert_no_token(&tokens, "check", &after);
    Ok(())
}

/// With SMTP logging in otherwise, a refused grant stops only intake: the one alert
/// reaches the administrator at once, while the mailbox waits for the new login.
#[test]
fn a_refused_grant_stops_only_intake_when_smtp_is_separate() -> Result<()> {
    let (oidc, f) = setup_with(4, "", Mode::ImapOnly)?;
    login(&oidc, &f)?;
    let daemon = f.spawn_daemon(|_| {})?;
    f.deliver(&complaint(0))?;
    wait_for("taken in", Duration::from_secs(60), || {
        Ok(taken_in(&f)? == 1)
    })?;
    f.settle()?;
    // The session's token has expired, then the grant is revoked: the next pass
    // must log in again, and cannot.
    wait_until_expired(&oidc)?;
    let (_, _, refresh, _) = grant(&f)?;
    oidc.revoke(&refresh)?;
    f.deliver(&complaint(1))?;
    wait_for(
        "the alert reaches the administrator",
        Duration::from_secs(60),
        || {
            Ok(fixture::subjects(&f.mailbox(ADMIN)?)
                .iter()
                .any(|s| s.contains("OAuth2")))
        },
    )?;
    assert_eq!(grant(&f)?.1, "refused");
    assert_eq!(taken_in(&f)?, 1, "the new mail waits on the server");
    login(&oidc, &f)?;
    wait_for("taken in after the login", Duration::from_secs(60), || {
        Ok(taken_in(&f)? == 2)
    })?;
    f.settle()?;
    let log = daemon.stop();
    let alerts: Vec<_> = fixture::subjects(&f.mailbox(ADMIN)?)
        .into_iter()
        .filter(|s| s.contains("OAuth2"))
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(f.mailbox("customer1@client.example")?.len(), 1);
    assert_no_token(&issued_tokens(&oidc), "the daemon's log", &log);
    Ok(())
}

/// Short-lived access tokens over several waves of mail: each new session gets a
/// fresh one, the rotated refresh token is committed and is the one a restarted
/// daemon uses, the superseded one is refused by the server (which then revokes the
/// grant, as RFC 9700 §4.14.2 asks); the refused grant raises exactly one alert, no
/// mail is lost, and after a new `switchboard login` the running daemon takes the
/// waiting mail in and sends the alert, without a restart. No token in any log.
#[test]
fn expiring_tokens_rotation_restart_and_a_revoked_grant() -> Result<()> {
    let (oidc, f) = setup(4)?;
    login(&oidc, &f)?;
    let (_, _, first_refresh, _) = grant(&f)?;
    let daemon = f.spawn_daemon(|_| {})?;
    let mut delivered = 0usize;
    // Three waves, each after the access token in use has expired.
    for _wave in 0..3 {
        for _ in 0..4 {
            f.deliver(&complaint(delivered))?;
            delivered += 1;
        }
        wait_for("the wave is taken in", Duration::from_secs(60), || {
            Ok(taken_in(&f)? == delivered as i64)
        })?;
        f.settle()?;
        wait_until_expired(&oidc)?;
    }
    let (_, state, rotated, rotations) = grant(&f)?;
    assert_eq!(state, "active");
    assert!(
        rotations >= 2,
        "the refresh token was rotated ({rotations})"
    );
    assert_ne!(rotated, first_refresh);
    for i in 0..delivered {
        assert_eq!(
            f.mailbox(&format!("customer{i}@client.example"))?.len(),
            1,
            "nothing lost, nothing twice"
        );
    }
    let first_log = daemon.stop();

    // After a restart the stored (rotated) refresh token is the one that works.
    let (_, _, stored, _) = grant(&f)?;
    let daemon = f.spawn_daemon(|_| {})?;
    f.deliver(&complaint(delivered))?;
    delivered += 1;
    wait_for(
        "taken in after the restart",
        Duration::from_secs(60),
        || Ok(taken_in(&f)? == delivered as i64),
    )?;
    f.settle()?;
    let (_, _, after_restart, _) = grant(&f)?;
    assert_ne!(
        after_restart, stored,
        "the restart refreshed with the stored token, which rotated"
    );
    wait_until_expired(&oidc)?;

    // A superseded refresh token is refused; the server takes that as a stolen
    // token and revokes the grant.
    let (status, body) = oidc.post(
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first_refresh),
        ],
    )?;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_grant"), "{body}");
    oidc.wait_for_log("grant.revoked", Duration::from_secs(10))?;

    // Mail that comes now waits on the server.
    let waiting_from = delivered;
    for _ in 0..3 {
        f.deliver(&complaint(delivered))?;
        delivered += 1;
    }
    wait_for(
        "the grant is marked refused",
        Duration::from_secs(60),
        || Ok(grant(&f)?.1 == "refused"),
    )?;
    wait_for("the alert is queued", Duration::from_secs(30), || {
        Ok(f.count("SELECT count(*) FROM alerts WHERE key = 'oauth2-grant'")? == 1)
    })?;
    assert_eq!(
        taken_in(&f)?,
        waiting_from as i64,
        "nothing taken in without a grant"
    );
    let refused_check = check(&f)?;
    assert!(
        refused_check.contains("was refused for good")
            && refused_check.contains("switchboard login"),
        "{refused_check}"
    );
    // More mail while refused: still one alert.
    f.deliver(&complaint(delivered))?;
    delivered += 1;

    login(&oidc, &f)?;
    wait_for(
        "the waiting mail is taken in",
        Duration::from_secs(60),
        || Ok(taken_in(&f)? == delivered as i64),
    )?;
    f.settle()?;
    let log = daemon.stop();
    assert!(
        log.contains("OAuth2 grant refused for good by the authorization server"),
        "a clear log line:\n{log}"
    );
    assert_eq!(
        f.count("SELECT count(*) FROM alerts WHERE key = 'oauth2-grant'")?,
        1,
        "exactly one alert"
    );
    assert_eq!(
        f.count(
            "SELECT count(*) FROM alerts WHERE key = 'oauth2-grant' AND cleared_at IS NOT NULL"
        )?,
        1,
        "cleared by the first refresh of the new grant"
    );
    let admin = fixture::subjects(&f.mailbox(ADMIN)?);
    let alerts: Vec<_> = admin.iter().filter(|s| s.contains("OAuth2")).collect();
    assert_eq!(alerts.len(), 1, "one alert mail: {admin:?}");
    let alert = f
        .mailbox(ADMIN)?
        .into_iter()
        .filter_map(|m| switchboard::message::Message::parse(&m).ok())
        .find(|m| m.subject.contains("OAuth2"))
        .context("the alert mail")?;
    assert!(
        alert.body.contains("switchboard login --config"),
        "{}",
        alert.body
    );
    for i in 0..delivered {
        assert_eq!(
            f.mailbox(&format!("customer{i}@client.example"))?.len(),
            1,
            "nothing lost, nothing twice: customer{i}"
        );
    }

    let tokens = issued_tokens(&oidc);
    assert_no_token(&tokens, "the first daemon's log", &first_log);
    assert_no_token(&tokens, "the second daemon's log", &log);
    assert_no_token(&tokens, "check", &refused_check);
    assert_no_token(&tokens, "check", &check(&f)?);
    Ok(())
}

/// `switchboard login` needs an [oauth2] table, and says so.
#[test]
fn login_without_oauth2_says_what_is_missing() -> Result<()> {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/switchboard.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["login", "--config"])
        .arg(&config)
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("there is no [oauth2] table"), "{err}");
    Ok(())
}
