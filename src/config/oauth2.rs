//! The `[oauth2]` table: which authorization server grants Switchboard its access
//! tokens for IMAP and SMTP (`auth = "oauth2"` in `[mailbox]` or `[smtp]`).
//!
//! Microsoft 365 turned basic authentication off for IMAP in 2022 and for SMTP AUTH
//! by the end of 2026 (MC786329); Google Workspace did in September 2024. The presets
//! carry the endpoints and scopes those providers document, so an administrator
//! writes only the tenant and the app registration's client id. The client secret,
//! when the app has one, comes from a file or the environment, never the TOML; the
//! grant itself (the refresh token) is a row in the store (`store::grants`).

use std::path::PathBuf;

use super::fields::{Fields, Report};
use crate::secret::SecretSource;

/// How a server is logged in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    /// LOGIN / AUTH PLAIN with `password_file` or `password_env`.
    #[default]
    Password,
    /// SASL XOAUTH2 (or OAUTHBEARER) with an access token from `[oauth2]`.
    OAuth2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Microsoft,
    Google,
    Custom,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Microsoft => "microsoft",
            Provider::Google => "google",
            Provider::Custom => "custom",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// RFC 8628: a person approves once with `switchboard login`; the grant's
    /// refresh token is kept in the store.
    Device,
    /// RFC 6749 §4.4: the app's own identity (Microsoft app-only access:
    /// IMAP.AccessAsApp / SMTP.SendAsApp); no person, no refresh token.
    ClientCredentials,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Device => "device",
            Flow::ClientCredentials => "client_credentials",
        }
    }
}

#[derive(Debug, Clone)]
pub struct OAuth2 {
    pub provider: Provider,
    pub client_id: String,
    pub client_secret: Option<SecretSource>,
    pub flow: Flow,
    pub token_url: String,
    /// Only for the device flow.
    pub device_authorization_url: Option<String>,
    pub scopes: Vec<String>,
    /// Trusted besides the Mozilla roots for the token endpoints (a company's own
    /// authorization server with a private CA).
    pub ca_file: Option<PathBuf>,
}

impl OAuth2 {
    /// What a grant was made for: a grant stored for another app registration or
    /// another authorization server is never used with this one.
    pub fn grant_key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.provider.as_str(),
            self.token_url,
            self.client_id
        )
    }
}

/// Microsoft's v2.0 endpoints (Entra ID). IMAP and SMTP take the Outlook resource's
/// delegated scopes; app-only access asks for the resource's `.default`, which means
/// "the application permissions an administrator granted" (learn.microsoft.com,
/// "Authenticate an IMAP, POP or SMTP connection using OAuth", 2026).
const MICROSOFT_LOGIN: &str = "https://login.microsoftonline.com";
const MICROSOFT_DELEGATED: &[&str] = &[
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
];
const MICROSOFT_APP_ONLY: &[&str] = &["https://outlook.office365.com/.default"];

/// Google's device flow ("OAuth 2.0 for TV and Limited-Input Device Applications");
/// `https://mail.google.com/` is the only scope that covers IMAP and SMTP.
const GOOGLE_TOKEN: &str = "https://oauth2.googleapis.com/token";
const GOOGLE_DEVICE: &str = "https://oauth2.googleapis.com/device/code";
const GOOGLE_SCOPES: &[&str] = &["https://mail.google.com/"];

pub fn read_auth(t: &mut Fields<'_>, report: &mut Report) -> Auth {
    match t.choice(report, "auth", &["password", "oauth2"]).as_deref() {
        Some("oauth2") => Auth::OAuth2,
        _ => Auth::Password,
    }
}

pub fn read_oauth2(t: &mut Fields<'_>, report: &mut Report) -> Option<OAuth2> {
    let provider = match t
        .choice(report, "provider", &["microsoft", "google", "custom"])
        .as_deref()
    {
        Some("microsoft") => Some(Provider::Microsoft),
        Some("google") => Some(Provider::Google),
        Some("custom") => Some(Provider::Custom),
        Some(_) => None,
        None => {
            t.error(
                report,
                "provider",
                "is required: \"microsoft\", \"google\" or \"custom\"",
            );
            None
        }
    };
    let flow = match t
        .choice(report, "flow", &["device", "client_credentials"])
        .as_deref()
    {
        Some("client_credentials") => Flow::ClientCredentials,
        _ => Flow::Device,
    };
    let client_id = t.required_string(report, "client_id");
    if client_id.as_deref().is_some_and(|c| c.trim().is_empty()) {
        t.error(
            report,
            "client_id",
            "expected the app registration's client (application) id",
        );
    }
    let tenant = t.string(report, "tenant");
    let token_url = t.string(report, "token_url");
    let device_url = t.string(report, "device_authorization_url");
    let scopes = t.has("scopes").then(|| t.strings(report, "scopes"));
    if t.has("client_secret") {
        t.error(report, "client_secret", "a client secret is never written in the config; use client_secret_file = \"/path\" or client_secret_env = \"VARIABLE\"");
        t.string(report, "client_secret");
    }
    let secret_file = t.path(report, "client_secret_file");
    let secret_env = t.string(report, "client_secret_env");
    let client_secret = match (secret_file, secret_env) {
        (Some(_), Some(_)) => {
            t.error(
                report,
                "client_secret_file",
                "give either client_secret_file or client_secret_env, not both",
            );
            None
        }
        (Some(f), None) => Some(SecretSource::File(f)),
        (None, Some(e)) => Some(SecretSource::Env(e)),
        (None, None) => None,
    };
    let ca_file = t.path(report, "ca_file");
    let provider = provider?;

    if tenant.is_some() && provider != Provider::Microsoft {
        t.error(
            report,
            "tenant",
            "is used only with provider = \"microsoft\"",
        );
    }
    if provider != Provider::Custom {
        for (key, value) in [
            ("token_url", &token_url),
            ("device_authorization_url", &device_url),
        ] {
            if value.is_some() {
                t.error(
                    report,
                    key,
                    format!(
                        "is set by provider = \"{}\"; give it only with provider = \"custom\"",
                        provider.as_str()
                    ),
                );
            }
        }
    }
    let (token_url, device_url, preset): (Option<String>, Option<String>, &[&str]) = match provider
    {
        Provider::Microsoft => {
            // "organizations": any work or school account, the tenant found at login.
            let tenant = tenant.unwrap_or_else(|| "organizations".to_string());
            if tenant.is_empty()
                || !tenant
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                t.error(report, "tenant", format!("expected a tenant id or domain such as \"contoso.onmicrosoft.com\", found \"{tenant}\""));
            }
            if flow == Flow::ClientCredentials && tenant == "organizations" {
                t.error(report, "tenant", "flow = \"client_credentials\" needs the tenant id or domain: an app-only token is issued by one tenant");
            }
            if flow == Flow::ClientCredentials && client_secret.is_none() {
                t.error(report, "client_secret_file", "flow = \"client_credentials\" needs the app's client secret: client_secret_file or client_secret_env");
            }
            (
                Some(format!("{MICROSOFT_LOGIN}/{tenant}/oauth2/v2.0/token")),
                Some(format!("{MICROSOFT_LOGIN}/{tenant}/oauth2/v2.0/devicecode")),
                if flow == Flow::Device {
                    MICROSOFT_DELEGATED
                } else {
                    MICROSOFT_APP_ONLY
                },
            )
        }
        Provider::Google => {
            if flow == Flow::ClientCredentials {
                t.error(report, "flow", "Google has no client-credentials access to Gmail; use flow = \"device\" with an OAuth client of type \"TVs and Limited Input devices\"");
            }
            // Google's limited-input clients send their secret with every token request.
            if client_secret.is_none() {
                t.error(report, "client_secret_file", "Google's \"TVs and Limited Input devices\" clients have a client secret: client_secret_file or client_secret_env");
            }
            (
                Some(GOOGLE_TOKEN.to_string()),
                Some(GOOGLE_DEVICE.to_string()),
                GOOGLE_SCOPES,
            )
        }
        Provider::Custom => {
            if token_url.is_none() {
                t.error(
                    report,
                    "token_url",
                    "is required with provider = \"custom\"",
                );
            }
            if flow == Flow::Device && device_url.is_none() {
                t.error(
                    report,
                    "device_authorization_url",
                    "is required with provider = \"custom\" and flow = \"device\"",
                );
            }
            (token_url, device_url, &[])
        }
    };
    for (key, url) in [
        ("token_url", &token_url),
        ("device_authorization_url", &device_url),
    ] {
        if let Some(url) = url
            && let Err(e) = check_url(url)
        {
            t.error(report, key, e);
        }
    }
    let scopes = scopes.unwrap_or_else(|| preset.iter().map(|s| s.to_string()).collect());
    if scopes.is_empty() && provider == Provider::Custom {
        t.error(
            report,
            "scopes",
            "expected the scopes to ask for, such as [\"offline_access\", \"imap\"]",
        );
    }
    Some(OAuth2 {
        provider,
        client_id: client_id?,
        client_secret,
        flow,
        token_url: token_url?,
        device_authorization_url: if flow == Flow::Device {
            device_url
        } else {
            None
        },
        scopes,
        ca_file,
    })
}

/// An endpoint must be https, or http to a loopback address (a test server): a
/// token endpoint carries the refresh token and the client secret.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed =
        url::Url::parse(url).map_err(|e| format!("expected a URL, found \"{url}\" ({e})"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if parsed.host_str().is_some_and(super::is_loopback) => Ok(()),
        "http" => Err(format!(
            "\"{url}\" would send the refresh token in clear text; use https (http is allowed only for a loopback address such as 127.0.0.1)"
        )),
        other => Err(format!(
            "expected an https URL, found the scheme \"{other}\""
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::*;

    fn read(text: &str) -> (Option<OAuth2>, Report) {
        let table: toml::Table = text.parse().unwrap();
        let mut report = Report::default();
        let mut t = Fields::new(Path::new("sb.toml"), "oauth2", table);
        let o = read_oauth2(&mut t, &mut report);
        t.finish(&mut report);
        (o, report)
    }

    #[test]
    fn microsoft_preset_fills_endpoints_and_scopes() {
        let (o, report) = read(
            "provider = \"microsoft\"\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"00000000-0000-0000-0000-000000000000\"\n",
        );
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let o = o.unwrap();
        assert_eq!(
            o.token_url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            o.device_authorization_url.as_deref(),
            Some(
                "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode"
            )
        );
        assert!(o.scopes.contains(&"offline_access".to_string()));
        assert_eq!(o.flow, Flow::Device);
        let (o, _) = read("provider = \"microsoft\"\nclient_id = \"x\"\n");
        assert!(o.unwrap().token_url.contains("/organizations/"));
    }

    #[test]
    fn app_only_google_and_custom_are_checked() {
        let (_, report) = read(
            "provider = \"microsoft\"\nclient_id = \"x\"\nflow = \"client_credentials\"\nclient_secret = \"s3cr3t\"\n",
        );
        let all = report.errors.join("\n");
        assert!(
            all.contains("sb.toml: oauth2.tenant: flow = \"client_credentials\" needs the tenant"),
            "{all}"
        );
        assert!(
            all.contains("oauth2.client_secret: a client secret is never written"),
            "{all}"
        );
        assert!(!all.contains("s3cr3t"), "{all}");

        let (_, report) = read("provider = \"google\"\nclient_id = \"x\"\n");
        assert!(
            report
                .errors
                .join("\n")
                .contains("oauth2.client_secret_file"),
            "{:?}",
            report.errors
        );

        let (_, report) = read(
            "provider = \"custom\"\nclient_id = \"x\"\ntoken_url = \"http://auth.example.com/token\"\n",
        );
        let all = report.errors.join("\n");
        assert!(
            all.contains("oauth2.device_authorization_url: is required"),
            "{all}"
        );
        assert!(all.contains("oauth2.token_url: \"http://auth.example.com/token\" would send the refresh token in clear text"), "{all}");
        assert!(all.contains("oauth2.scopes"), "{all}");

        let (o, report) = read(
            "provider = \"custom\"\nclient_id = \"x\"\ntoken_url = \"http://127.0.0.1:9/token\"\ndevice_authorization_url = \"http://127.0.0.1:9/device/auth\"\nscopes = [\"openid\", \"offline_access\"]\n",
        );
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(o.unwrap().scopes, ["openid", "offline_access"]);
    }
}
