//! The web view and `/metrics` of a running daemon, on real mail taken in from the
//! real Dovecot and Postfix (tests/harness): the pages rendered by Debian's headless
//! Chromium (screenshots kept under target/web-screenshots/), Basic auth and the
//! department scope asked over plain HTTP, and `/metrics` judged by `promtool check
//! metrics` from Debian's prometheus package. Needs `scripts/install-test-deps.sh`
//! (chromium, fonts-noto-cjk, prometheus); fails without them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cloned_ref_to_slice_refs
)]

#[path = "harness/chromium.rs"]
mod chromium;
#[path = "harness/fixture.rs"]
mod fixture;
#[path = "harness/mailstack.rs"]
mod mailstack;

use chromium::chromium;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixture::{Fixture, base64, mail};

/// A hang guard only: every wait below ends as soon as what it waits for is seen.
const HANG: Duration = Duration::from_secs(60);

const ADMIN_PW: &str = "admin-passphrase-42";
const LI_PW: &str = "li-hua-passphrase-7";
const TOKEN: &str = "metrics-token-0123456789";

struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// One HTTP/1.1 request over a fresh connection.
fn get(port: u16, path: &str, headers: &[(&str, String)]) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn basic(user: &str, pw: &str) -> (&'static str, String) {
    (
        "Authorization",
        format!("Basic {}", base64(format!("{user}:{pw}").as_bytes())),
    )
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < HANG, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `switchboard web-user add`, the password twice on standard input.
fn add_user(f: &Fixture, name: &str, pw: &str, extra: &[&str]) {
    let mut child = f
        .command()
        .args(["web-user", "add", name, "--config"])
        .arg(&f.config)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{pw}\n{pw}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "web-user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The sum of the samples of `name` whose labels contain `labels`.
fn sample(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn artifacts() -> PathBuf {
    chromium::artifacts("web-screenshots")
}

struct Setup {
    f: Fixture,
    port: u16,
    logistics_case: String,
    quality_case: String,
}

fn setup() -> (Setup, fixture::Daemon) {
    let f = Fixture::start().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(f.dir.join("metrics.token"), format!("{TOKEN}\n")).unwrap();
    f.edit_config(|c| {
        format!(
            "{c}\n[web]\nlisten = \"127.0.0.1:{port}\"\nusers = \"web-users.toml\"\nmetrics_token_file = \"metrics.token\"\n"
        )
    })
    .unwrap();
    add_user(&f, "admin", ADMIN_PW, &["--role", "admin"]);
    add_user(&f, "li.hua", LI_PW, &["--department", "logistics"]);
    let users = std::fs::read_to_string(f.dir.join("web-users.toml")).unwrap();
    assert!(
        users.contains("$argon2id$") && !users.contains(LI_PW),
        "{users}"
    );

    f.deliver(&mail(
        "李明 <liming@keji-tech.cn>",
        "投诉：设备交付延迟",
        "late-1@keji-tech.cn",
        "",
        "你们好，我司采购的20台设备比合同约定晚了两天交付，请尽快说明原因并给出处理方案。",
    ))
    .unwrap();
    let crash = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/classify/c04-zh-product-crash.eml"),
    )
    .unwrap();
    f.deliver(&crash).unwrap();
    let daemon = f.spawn_daemon(|_| {}).unwrap();
    wait_until("two cases", || {
        f.count("SELECT count(*) FROM cases").unwrap_or(0) == 2
    });
    wait_until("the web view", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let cases = f.cases().unwrap();
    let number = |dept: &str| {
        cases
            .iter()
            .find(|c| c["department"] == dept)
            .unwrap_or_else(|| panic!("no {dept} case in {cases:?}"))["case"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let setup = Setup {
        logistics_case: number("logistics"),
        quality_case: number("quality"),
        f,
        port,
    };
    (setup, daemon)
}

#[test]
fn web_view_scopes_refuses_and_renders() {
    let (s, daemon) = setup();
    let port = s.port;
    let admin = basic("admin", ADMIN_PW);
    let li = basic("li.hua", LI_PW);

    // No credentials, or wrong ones: 401 with a challenge.
    let r = get(port, "/", &[]);
    assert_eq!(r.status, 401, "{}", r.head);
    assert!(
        r.head.contains("WWW-Authenticate: Basic")
            || r.head.to_lowercase().contains("www-authenticate: basic"),
        "{}",
        r.head
    );
    assert_eq!(get(port, "/cases", &[basic("admin", "wrong")]).status, 401);

    // The administrator sees both departments.
    let r = get(
        port,
        "/cases",
        &[admin.clone(), ("Accept-Language", "en".into())],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains(&s.logistics_case) && r.body.contains(&s.quality_case),
        "{}",
        r.body
    );
    let csv = get(port, "/report.csv", &[admin.clone()]);
    assert!(
        csv.body.contains("\r\nquality,") && csv.body.contains("\r\nlogistics,"),
        "{}",
        csv.body
    );

    // The logistics manager: only logistics, in the list, the CSV and the overview.
    let r = get(port, "/cases", &[li.clone()]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains(&s.logistics_case), "{}", r.body);
    assert!(!r.body.contains(&s.quality_case), "{}", r.body);
    let csv = get(port, "/report.csv", &[li.clone()]);
    assert_eq!(csv.status, 200);
    assert!(
        csv.body
            .starts_with("department,milestone,met,missed,pending"),
        "{}",
        csv.body
    );
    assert!(
        csv.body.contains("\r\nlogistics,") && !csv.body.contains("quality"),
        "{}",
        csv.body
    );
    let overview = get(
        port,
        "/",
        &[li.clone(), ("Accept-Language", "zh-CN".into())],
    );
    assert!(
        overview.body.contains("物流部") && !overview.body.contains("质量部 Quality</td>"),
        "{}",
        overview.body
    );
    let at_risk = get(port, "/at-risk", &[li.clone()]);
    assert!(
        at_risk.body.contains(&s.logistics_case) && !at_risk.body.contains(&s.quality_case),
        "{}",
        at_risk.body
    );
    // …and another department's case is refused, as are the admin's pages.
    assert_eq!(
        get(port, &format!("/cases/{}", s.quality_case), &[li.clone()]).status,
        403
    );
    let own = get(port, &format!("/cases/{}", s.logistics_case), &[li.clone()]);
    assert_eq!(own.status, 200);
    assert!(own.body.contains("设备交付延迟"), "{}", own.body);
    assert_eq!(get(port, "/health", &[li.clone()]).status, 403);
    assert_eq!(get(port, "/metrics", &[li.clone()]).status, 403);
    assert_eq!(
        get(port, "/cases/SB-2026-999999", &[admin.clone()]).status,
        404
    );

    // Pages in a real browser, in both languages; screenshots kept.
    let profile = s.f.dir.join("chromium-profile");
    let shots = artifacts();
    let base = format!("http://admin:{ADMIN_PW}@127.0.0.1:{port}");
    let pages = [
        ("overview", "/".to_string(), "zh-CN", "按时"),
        (
            "at-risk",
            "/at-risk".to_string(),
            "en",
            "Business time left",
        ),
        (
            "cases",
            "/cases?q=%E8%AE%BE%E5%A4%87".to_string(),
            "zh-CN",
            s.logistics_case.as_str(),
        ),
        (
            "case",
            format!("/cases/{}", s.quality_case),
            "en",
            "Deadlines",
        ),
        (
            "satisfaction",
            "/satisfaction".to_string(),
            "en",
            "Very satisfied",
        ),
        ("health", "/health".to_string(), "zh-CN", "邮箱最近读取"),
    ];
    for (name, path, lang, expect) in pages {
        let lang_args = vec![format!("--lang={lang}"), format!("--accept-lang={lang}")];
        let dom = chromium(
            &profile,
            &[lang_args.clone(), vec!["--dump-dom".into()]].concat(),
            &format!("{base}{path}"),
        );
        assert!(dom.contains(expect), "{name}: {expect:?} not in\n{dom}");
        assert!(!dom.contains("<script"), "{name}");
        let shot = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&shot);
        chromium(
            &profile,
            &[
                lang_args,
                vec![
                    format!("--screenshot={}", shot.display()),
                    "--window-size=1280,860".into(),
                ],
            ]
            .concat(),
            &format!("{base}{path}"),
        );
        let png = std::fs::read(&shot).unwrap_or_default();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{name}: no screenshot at {}",
            shot.display()
        );
    }

    // Five wrong passwords: the sixth try waits, even with the right password.
    for _ in 0..5 {
        assert_eq!(get(port, "/", &[basic("li.hua", "guess")]).status, 401);
    }
    let r = get(port, "/", &[li.clone()]);
    assert_eq!(r.status, 429, "{}", r.head);
    assert!(r.head.to_lowercase().contains("retry-after:"), "{}", r.head);
    // The administrator is not locked out by it.
    assert_eq!(get(port, "/", &[admin]).status, 200);

    let log = daemon.stop();
    assert!(
        log.contains("Web login refused") && log.contains("li.hua"),
        "{log}"
    );
    let users = std::fs::read_to_string(s.f.dir.join("web-users.toml")).unwrap();
    for secret in [ADMIN_PW, LI_PW, "guess", "$argon2id$", TOKEN] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    assert!(users.contains("$argon2id$"));
}

#[test]
fn metrics_parse_and_move_with_the_mail() {
    let (s, daemon) = setup();
    let port = s.port;
    let bearer = ("Authorization", format!("Bearer {TOKEN}"));
    assert_eq!(get(port, "/metrics", &[]).status, 401);
    assert_eq!(
        get(port, "/metrics", &[("Authorization", "Bearer nope".into())]).status,
        401
    );
    // As Prometheus asks for it.
    let scrape = || {
        let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        let r = get(
            port,
            "/metrics",
            &[bearer.clone(), ("Accept", accept.into())],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.head.contains("application/openmetrics-text"),
            "{}",
            r.head
        );
        r.body
    };
    // The acknowledgements and the routed copies of the two cases leave through Postfix.
    wait_until("four mails sent", || {
        sample(&scrape(), "switchboard_outbox_messages", "state=\"sent\"") >= 4.0
    });
    let before = scrape();
    // A real OpenMetrics parser: the Python client's, which refuses what the
    // specification does (no # EOF, a counter sample without _total, …).
    let mut parser = Command::new("python3")
        .args([
            "-c",
            "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nprint(len(list(p(sys.stdin.read()))))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    parser
        .stdin
        .take()
        .unwrap()
        .write_all(before.as_bytes())
        .unwrap();
    let parsed = parser.wait_with_output().unwrap();
    assert!(
        parsed.status.success(),
        "the OpenMetrics parser refused /metrics (pip install prometheus-client): {}\n{before}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let families: u32 = String::from_utf8_lossy(&parsed.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(families >= 9, "{families} families in\n{before}");
    // And promtool on the classic text format that everyone else gets.
    let classic = get(port, "/metrics", &[bearer.clone()]);
    assert!(
        classic.head.contains("text/plain; version=0.0.4"),
        "{}",
        classic.head
    );
    let check = s.f.dir.join("metrics.txt");
    std::fs::write(&check, &classic.body).unwrap();
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&check).unwrap())
        .output()
        .expect("promtool is installed (scripts/install-test-deps.sh)");
    assert!(
        promtool.status.success(),
        "promtool check metrics: {}{}\n{}",
        String::from_utf8_lossy(&promtool.stdout),
        String::from_utf8_lossy(&promtool.stderr),
        classic.body
    );
    assert_eq!(
        sample(
            &before,
            "switchboard_messages_ingested_total",
            "outcome=\"case\""
        ),
        2.0,
        "{before}"
    );
    assert!(
        sample(
            &before,
            "switchboard_mailbox_last_success_timestamp_seconds",
            ""
        ) > 1.0e9,
        "{before}"
    );
    assert!(
        sample(
            &before,
            "switchboard_sla_pending",
            "department=\"logistics\""
        ) >= 1.0,
        "{before}"
    );
    assert!(
        before.contains("switchboard_build_info{version=\""),
        "{before}"
    );
    for line in before.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !line.contains('@') && !line.contains("SB-"),
            "an address or case number in a label: {line}"
        );
    }
    let sent_before = sample(&before, "switchboard_outbox_messages", "state=\"sent\"");

    // A third complaint, and a message over intake.max_message_bytes.
    s.f.deliver(&mail(
        "王芳 <wangfang@example.net>",
        "投诉：货物破损",
        "broken-1@example.net",
        "",
        "收到的货物外包装破损，请尽快处理。",
    ))
    .unwrap();
    let big = mail(
        "someone <big@example.org>",
        "a large drawing",
        "big-1@example.org",
        "",
        &"x".repeat(1_200_000),
    );
    s.f.deliver(&big).unwrap();
    wait_until("the new mail counted", || {
        let m = scrape();
        sample(
            &m,
            "switchboard_messages_ingested_total",
            "outcome=\"case\"",
        ) == 3.0
            && sample(
                &m,
                "switchboard_messages_quarantined_total",
                "reason=\"too_large\"",
            ) == 1.0
            && sample(&m, "switchboard_outbox_messages", "state=\"sent\"") > sent_before
    });
    let after = scrape();
    assert_eq!(
        sample(
            &after,
            "switchboard_messages_ingested_total",
            "outcome=\"quarantined\""
        ),
        1.0,
        "{after}"
    );
    daemon.stop();
}

#[test]
fn https_with_the_configured_certificate() {
    let f = Fixture::on(mailstack::MailStack::start_tls().unwrap()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tls = f.stack.dir.join("tls");
    f.edit_config(|c| {
        format!(
            "{c}\n[web]\nlisten = \"127.0.0.1:{port}\"\nusers = \"web-users.toml\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            tls.join("server.pem").display(),
            tls.join("server.key").display()
        )
    })
    .unwrap();
    add_user(&f, "admin", ADMIN_PW, &["--role", "admin"]);
    let daemon = f.spawn_daemon(|_| {}).unwrap();
    wait_until("the web view", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let curl = |url: &str, user: &str| {
        Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "30",
            ])
            .arg("--cacert")
            .arg(f.stack.ca_pem().unwrap())
            .args(["-u", user, url])
            .output()
            .expect("curl")
    };
    let ok = curl(
        &format!("https://127.0.0.1:{port}/cases"),
        &format!("admin:{ADMIN_PW}"),
    );
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "200",
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let wrong = curl(&format!("https://127.0.0.1:{port}/cases"), "admin:nope");
    assert_eq!(String::from_utf8_lossy(&wrong.stdout), "401");
    // Plain HTTP on the TLS port gets no page.
    let plain = get_raw(port);
    assert!(!plain.contains("200 OK"), "{plain}");
    daemon.stop();
}

/// What a plain HTTP request to `port` gets back, whatever it is.
fn get_raw(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).to_string()
}
