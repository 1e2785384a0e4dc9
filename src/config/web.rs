//! The `[web]` table: where the read-only web view listens, who may look, and how
//! `/metrics` is reached. Absent, there is no web view.
//!
//! HTTP Basic sends the password with every request (RFC 7617 §4), so the view
//! serves it only over loopback (a proxy on the same host, an SSH tunnel) or over
//! TLS: a non-loopback `listen` needs `tls_cert` and `tls_key`, and `users`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::fields::{Fields, Report};
use crate::secret::SecretSource;

#[derive(Debug, Clone)]
pub struct Web {
    pub listen: SocketAddr,
    /// `web-users.toml`; `None` only on loopback, where everyone who can connect is
    /// the administrator.
    pub users: Option<PathBuf>,
    /// PEM certificate chain and key, for HTTPS without a proxy.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// A bearer token that may read `/metrics` (Prometheus `authorization`), from a
    /// file or the environment like every secret.
    pub metrics_token: Option<SecretSource>,
}

pub fn read_web(t: Option<Fields<'_>>, file: &Path, report: &mut Report) -> Option<Web> {
    let mut t = t?;
    let listen = match t.string(report, "listen") {
        Some(text) => {
            match text.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    t.error(
                    report,
                    "listen",
                    format!("expected an address and port such as \"127.0.0.1:8025\", found \"{text}\""),
                );
                    None
                }
            }
        }
        None => {
            t.error(
                report,
                "listen",
                "is required, such as \"127.0.0.1:8025\" (remove [web] to turn the view off)",
            );
            None
        }
    };
    let users = t.path(report, "users");
    let cert = t.path(report, "tls_cert");
    let key = t.path(report, "tls_key");
    let tls = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => {
            t.error(
                report,
                "tls_key",
                "tls_cert needs tls_key (the PEM private key)",
            );
            None
        }
        (None, Some(_)) => {
            t.error(
                report,
                "tls_cert",
                "tls_key needs tls_cert (the PEM certificate chain)",
            );
            None
        }
    };
    // A warning, not an error: `switchboard web-user add` reads this config to
    // write the file's first user. The daemon refuses to start without it.
    if let Some(users) = &users
        && !users.is_file()
    {
        report.warnings.push(format!(
            "{}: web.users: {} does not exist yet (switchboard web-user add NAME --config … writes it)",
            file.display(),
            users.display()
        ));
    }
    if let Some(addr) = listen
        && !addr.ip().is_loopback()
    {
        if users.is_none() {
            t.error(
                report,
                "users",
                format!(
                    "is required when listen is not a loopback address ({addr}): who may look?"
                ),
            );
        }
        if tls.is_none() {
            t.error(
                report,
                "tls_cert",
                format!("is required when listen is not a loopback address ({addr}): HTTP Basic would send passwords in clear text"),
            );
        }
    }
    if t.has("metrics_token") {
        t.error(
            report,
            "metrics_token",
            "a token is never written in the config; use metrics_token_file = \"/path\" or metrics_token_env = \"VARIABLE\"",
        );
        t.string(report, "metrics_token");
    }
    let token_file = t.path(report, "metrics_token_file");
    let token_env = t.string(report, "metrics_token_env");
    let metrics_token = match (token_file, token_env) {
        (Some(_), Some(_)) => {
            t.error(
                report,
                "metrics_token_file",
                "give either metrics_token_file or metrics_token_env, not both",
            );
            None
        }
        (Some(f), None) => Some(SecretSource::File(f)),
        (None, Some(e)) => Some(SecretSource::Env(e)),
        (None, None) => None,
    };
    t.finish(report);
    Some(Web {
        listen: listen?,
        users,
        tls,
        metrics_token,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Option<Web>, Report) {
        let table: toml::Table = text.parse().unwrap();
        let mut report = Report::default();
        let path = Path::new("sb.toml");
        let web = read_web(Some(Fields::new(path, "web", table)), path, &mut report);
        (web, report)
    }

    #[test]
    fn loopback_alone_is_enough() {
        let (web, report) = read("listen = \"127.0.0.1:8025\"");
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(web.unwrap().listen.port(), 8025);
    }

    #[test]
    fn elsewhere_needs_users_and_tls() {
        let (_, report) = read("listen = \"0.0.0.0:8025\"\nmetrics_token = \"s3cret\"");
        let all = report.errors.join("\n");
        assert!(all.contains("sb.toml: web.users: is required"), "{all}");
        assert!(all.contains("sb.toml: web.tls_cert: is required"), "{all}");
        assert!(
            all.contains("sb.toml: web.metrics_token: a token is never"),
            "{all}"
        );
        assert!(!all.contains("s3cret"), "{all}");
    }

    #[test]
    fn names_a_bad_listen_and_a_lone_key() {
        let (_, report) = read("listen = \"localhost\"\ntls_key = \"k.pem\"");
        let all = report.errors.join("\n");
        assert!(
            all.contains("web.listen: expected an address and port"),
            "{all}"
        );
        assert!(
            all.contains("web.tls_cert: tls_key needs tls_cert"),
            "{all}"
        );
    }
}
