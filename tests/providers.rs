//! Every provider snippet in `examples/providers/` loads with the real config loader,
//! spliced into the production example in place of its `[mailbox]` and `[smtp]`
//! tables, with no error and no warning: the snippets the README points to cannot rot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use switchboard::config::{Config, MailboxKind, Transport};

#[test]
fn every_provider_snippet_loads() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(repo.join("examples/switchboard.toml"))
        .unwrap()
        .replace(
            "/etc/switchboard/calendars/",
            &format!("{}/calendars/", repo.display()),
        )
        .replace(
            "/etc/switchboard/rules/",
            &format!("{}/rules/", repo.display()),
        );
    let rest = &example[example.find("\n[store]").unwrap()..];
    let mut snippets: Vec<_> = std::fs::read_dir(repo.join("examples/providers"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    snippets.sort();
    // One per row of the README's table.
    assert_eq!(snippets.len(), 9, "{snippets:?}");
    for path in snippets {
        let snippet = std::fs::read_to_string(&path).unwrap();
        assert!(
            !snippet.contains("[store]"),
            "{}: only [mailbox], [smtp] and [oauth2]",
            path.display()
        );
        let text = format!("{snippet}{rest}");
        let (config, report) = Config::parse(&path, &text);
        assert!(
            report.errors.is_empty() && report.warnings.is_empty(),
            "{}: {report:?}",
            path.display()
        );
        let config = config.unwrap();
        let MailboxKind::Imap(imap) = &config.mailbox.kind else {
            panic!("{}: an IMAP mailbox", path.display());
        };
        let Transport::Smtp(smtp) = &config.smtp.transport else {
            panic!("{}: an SMTP server", path.display());
        };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // Microsoft 365 and Gmail log in with OAuth2, the others with a password.
        let oauth2 = ["microsoft365.toml", "gmail.toml"].contains(&name.as_str());
        for (server, what) in [(imap, "IMAP"), (smtp, "SMTP")] {
            assert!(
                server.tls != switchboard::config::Tls::None,
                "{name}: {what} over TLS"
            );
            if oauth2 {
                assert!(
                    server.auth == switchboard::config::Auth::OAuth2 && server.password.is_none(),
                    "{name}: {what} with auth = \"oauth2\""
                );
            } else {
                assert!(
                    server.password.is_some(),
                    "{name}: {what} with a password file"
                );
            }
        }
        assert_eq!(config.oauth2.is_some(), oauth2, "{name}: [oauth2]");
    }
}

#[test]
fn a_support_email_that_is_no_address_is_refused() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = repo.join("examples/providers/netease-163.toml");
    let snippet = std::fs::read_to_string(&path).unwrap().replace(
        "support_email = \"it-admin@example.com\"",
        "support_email = \"it-admin\"",
    );
    let example = std::fs::read_to_string(repo.join("examples/switchboard.toml")).unwrap();
    let rest = &example[example.find("\n[store]").unwrap()..];
    let (_, report) = Config::parse(&path, &format!("{snippet}{rest}"));
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("mailbox.support_email") && e.contains("\"it-admin\"")),
        "{:?}",
        report.errors
    );
}

#[test]
fn a_folder_with_an_empty_level_is_refused() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = repo.join("examples/providers/qq.toml");
    let snippet = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"客服/已处理\"", "\"客服//已处理\"");
    let example = std::fs::read_to_string(repo.join("examples/switchboard.toml")).unwrap();
    let rest = &example[example.find("\n[store]").unwrap()..];
    let (_, report) = Config::parse(&path, &format!("{snippet}{rest}"));
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("mailbox.processed_folder") && e.contains("客服//已处理")),
        "{:?}",
        report.errors
    );
}
