//! OAuth2 access tokens for IMAP and SMTP (`auth = "oauth2"`), beside the mailbox
//! connection rather than inside it: the mailbox and the sender only ask
//! [`Tokens::access`] for a token and say [`Tokens::forget`] when a server refused one.
//!
//! The grant is data (DESIGN.md invariant 8). `switchboard login` (`device`) stores it
//! as a row; the daemon refreshes the access token before it expires, and when the
//! authorization server rotates the refresh token (Microsoft does on every refresh;
//! oidc-provider with `rotateRefreshToken`), the new one is committed to the store
//! before the new access token is handed out: a crash between the two would otherwise
//! leave a store holding a refresh token the server has already retired — the
//! mailbox dead after a restart (zammad#3411). A grant refused for good
//! (`invalid_grant`: revoked, idle 90 days, password changed) is marked refused in
//! its row, and [`TokenError::Refused`] lets the daemon raise one alert and keep
//! working; a newer row (the next `switchboard login`) is picked up by the next call,
//! without a restart.
//!
//! The access token itself is never stored: it lives about an hour, in memory.

pub mod device;
mod http;
pub mod sasl;

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, EndpointSet, RefreshToken,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};

pub use http::Http;

use crate::config::{Flow, OAuth2};
use crate::secret::Secret;
use crate::store::{Db, grants};

/// An access token is renewed this long before it expires at most (a quarter of its
/// life for short-lived ones): a session opened with it must not be refused half-way
/// through its login.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// A token answer without `expires_in` is taken to live this long (RFC 6749 §5.1 lets
/// the server leave it out; Microsoft and Google always send it).
const ASSUMED_LIFETIME: Duration = Duration::from_secs(600);

/// While the grant is refused, the store is asked this often whether a new login has
/// stored another (one indexed lookup).
pub const GRANT_POLL: Duration = Duration::from_secs(2);

/// The key of the alert a refused grant raises (`daemon::grant`); the first refresh
/// that works clears it.
pub const GRANT_ALERT: &str = "oauth2-grant";

/// An access token and until when it may be used for a new login.
#[derive(Clone)]
pub struct Access {
    pub token: Secret,
    /// After this, a new session asks for a fresh token; a session opened before is
    /// closed and opened again before its next pass (Exchange Online ends sessions
    /// whose token expired).
    pub renew_at: Instant,
}

#[derive(Debug)]
pub enum TokenError {
    /// No grant stored for this app: `switchboard login` was never run.
    NoGrant,
    /// The authorization server refused the grant for good; the row says so.
    Refused { grant: i64, reason: String },
    /// Anything that may pass: the network, a 5xx, a slow store.
    Temporary(anyhow::Error),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::NoGrant => f.write_str(
                "no OAuth2 grant is stored for this app: run `switchboard login --config FILE`",
            ),
            TokenError::Refused { grant, reason } => write!(
                f,
                "the OAuth2 grant {grant} was refused for good by the authorization server ({reason}): run `switchboard login --config FILE`"
            ),
            TokenError::Temporary(e) => write!(f, "cannot get an OAuth2 access token: {e:#}"),
        }
    }
}

impl std::error::Error for TokenError {}

impl TokenError {
    /// Whether only a person can end it (a new `switchboard login`).
    pub fn needs_login(&self) -> bool {
        matches!(self, TokenError::NoGrant | TokenError::Refused { .. })
    }
}

/// Whether `e` (from a mailbox pass or a send) ends in a grant only a login can mend.
pub fn needs_login(e: &anyhow::Error) -> Option<&TokenError> {
    e.chain()
        .find_map(|c| c.downcast_ref::<TokenError>())
        .filter(|t| t.needs_login())
}

struct Cached {
    grant: i64,
    access: Access,
}

/// One per daemon, shared by the mailbox and every SMTP connection.
pub struct Tokens {
    config: OAuth2,
    key: String,
    db: Db,
    http: Http,
    /// Held across a refresh: connections that ask at once wait for one refresh
    /// instead of each spending (and rotating) the refresh token.
    cached: tokio::sync::Mutex<Option<Cached>>,
}

type Client =
    BasicClient<EndpointNotSet, EndpointMaybeSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The `oauth2` crate's client for the config's endpoints. The client secret (when
/// there is one) goes in the request body, as Microsoft's and Google's documentation
/// show it; HTTP Basic would do for RFC 6749 but not for every provider.
pub fn client(config: &OAuth2) -> anyhow::Result<Client> {
    let mut client = BasicClient::new(ClientId::new(config.client_id.clone()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::new(config.token_url.clone()).context("token_url")?)
        .set_device_authorization_url_option(
            config
                .device_authorization_url
                .clone()
                .map(oauth2::DeviceAuthorizationUrl::new)
                .transpose()
                .context("device_authorization_url")?,
        );
    if let Some(source) = &config.client_secret {
        let secret = source
            .load()
            .context("Cannot load the OAuth2 client secret")?;
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
    }
    Ok(client)
}

pub fn scopes(config: &OAuth2) -> Vec<Scope> {
    config.scopes.iter().cloned().map(Scope::new).collect()
}

impl Tokens {
    pub fn new(config: &OAuth2, db: Db) -> Tokens {
        Tokens {
            key: config.grant_key(),
            http: Http {
                ca_file: config.ca_file.clone(),
            },
            config: config.clone(),
            db,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// A token to log in with now: the one in memory while it is fresh and its grant
    /// is still the newest, else a new one from the authorization server.
    pub async fn access(&self) -> Result<Access, TokenError> {
        let mut cached = self.cached.lock().await;
        let key = self.key.clone();
        let grant = self
            .db
            .call(move |c| grants::latest(c, &key))
            .await
            .map_err(TokenError::Temporary)?;
        let grant = match grant {
            Some(g) => g,
            None if self.config.flow == Flow::ClientCredentials => {
                // The app's own identity needs no login: its first token makes the row
                // that `check` reads.
                let access = self.client_credentials().await?;
                let (key, scopes, at) = (self.key.clone(), self.config.scopes.join(" "), now());
                let id = self
                    .db
                    .call(move |c| grants::insert(c, &key, "client_credentials", None, &scopes, at))
                    .await
                    .map_err(TokenError::Temporary)?;
                tracing::info!(
                    grant = id,
                    "OAuth2 access token got with the client credentials"
                );
                *cached = Some(Cached {
                    grant: id,
                    access: access.clone(),
                });
                return Ok(access);
            }
            None => return Err(TokenError::NoGrant),
        };
        if let Some((_, reason)) = &grant.refused {
            *cached = None;
            return Err(TokenError::Refused {
                grant: grant.id,
                reason: reason.clone(),
            });
        }
        if let Some(c) = cached.as_ref()
            && c.grant == grant.id
            && Instant::now() < c.access.renew_at
        {
            return Ok(c.access.clone());
        }
        let access = match &grant.refresh_token {
            Some(refresh) => self.refresh(grant.id, refresh).await?,
            None => {
                let access = self.client_credentials().await?;
                let (id, at) = (grant.id, now());
                self.db
                    .call(move |c| grants::refreshed(c, id, None, at))
                    .await
                    .map_err(TokenError::Temporary)?;
                access
            }
        };
        *cached = Some(Cached {
            grant: grant.id,
            access: access.clone(),
        });
        Ok(access)
    }

    /// A server refused the token we gave it (it may have been revoked early): the
    /// next [`access`](Self::access) asks the authorization server again.
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    /// Whether the newest grant stands refused (or there is none to refresh), as the
    /// store says, without asking the authorization server.
    pub async fn refusal(&self) -> Option<TokenError> {
        let key = self.key.clone();
        match self.db.call(move |c| grants::latest(c, &key)).await {
            Ok(None) if self.config.flow == Flow::Device => Some(TokenError::NoGrant),
            Ok(Some(g)) => g.refused.map(|(_, reason)| TokenError::Refused {
                grant: g.id,
                reason,
            }),
            _ => None,
        }
    }

    /// The newest grant's id, to notice a new `switchboard login`.
    pub async fn latest_grant(&self) -> anyhow::Result<Option<i64>> {
        let key = self.key.clone();
        self.db.call(move |c| grants::latest_id(c, &key)).await
    }

    async fn refresh(&self, id: i64, refresh: &Secret) -> Result<Access, TokenError> {
        let client = client(&self.config).map_err(TokenError::Temporary)?;
        let token = RefreshToken::new(refresh.expose().to_string());
        let answer = client
            .exchange_refresh_token(&token)
            .add_scopes(scopes(&self.config))
            .request_async(&self.http)
            .await;
        match answer {
            Ok(answer) => {
                let rotated = answer
                    .refresh_token()
                    .filter(|r| r.secret() != refresh.expose())
                    .map(|r| Secret::new(r.secret().clone()));
                let was_rotated = rotated.is_some();
                let at = now();
                // Committed before the new access token leaves this function.
                let still = self
                    .db
                    .call(move |c| {
                        let tx = c.transaction()?;
                        let still = grants::refreshed(&tx, id, rotated.as_ref(), at)?;
                        crate::alerts::clear(&tx, GRANT_ALERT, at)?;
                        tx.commit()?;
                        Ok(still)
                    })
                    .await
                    .map_err(TokenError::Temporary)?;
                if !still {
                    return Err(TokenError::Temporary(anyhow!(
                        "the OAuth2 grant {id} changed while it was refreshed"
                    )));
                }
                tracing::info!(
                    grant = id,
                    rotated = was_rotated,
                    "OAuth2 access token refreshed"
                );
                Ok(access(
                    answer.access_token().secret().clone(),
                    answer.expires_in(),
                ))
            }
            Err(RequestTokenError::ServerResponse(e))
                if *e.error() == BasicErrorResponseType::InvalidGrant =>
            {
                // Only the error code and the server's description: never a token.
                let reason = match e.error_description() {
                    Some(d) => format!("invalid_grant: {d}"),
                    None => "invalid_grant".to_string(),
                };
                let (at, why) = (now(), reason.clone());
                self.db
                    .call(move |c| grants::refuse(c, id, at, &why))
                    .await
                    .map_err(TokenError::Temporary)?;
                tracing::error!(
                    grant = id,
                    reason,
                    "OAuth2 grant refused for good by the authorization server; run `switchboard login`"
                );
                Err(TokenError::Refused { grant: id, reason })
            }
            Err(e) => Err(TokenError::Temporary(describe(e))),
        }
    }

    async fn client_credentials(&self) -> Result<Access, TokenError> {
        let client = client(&self.config).map_err(TokenError::Temporary)?;
        let answer = client
            .exchange_client_credentials()
            .add_scopes(scopes(&self.config))
            .request_async(&self.http)
            .await
            .map_err(|e| TokenError::Temporary(describe(e)))?;
        Ok(access(
            answer.access_token().secret().clone(),
            answer.expires_in(),
        ))
    }
}

fn access(token: String, expires_in: Option<Duration>) -> Access {
    let life = expires_in.unwrap_or(ASSUMED_LIFETIME);
    let early = RENEW_BEFORE.min(life / 4);
    Access {
        token: Secret::new(token),
        renew_at: Instant::now() + life.saturating_sub(early),
    }
}

/// Grants are about the authorization server's time, which knows nothing of `--now`:
/// their rows carry the wall clock.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An error from the `oauth2` crate as a sentence, without the request (which may
/// carry the refresh token or the client secret): the server's error code and
/// description, or the transport's reason.
pub fn describe<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    e: RequestTokenError<RE, T>,
) -> anyhow::Error {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let text = serde_json::to_value(&r)
                .ok()
                .map(|v| {
                    let code = v
                        .get("error")
                        .and_then(|c| c.as_str())
                        .unwrap_or("?")
                        .to_string();
                    match v.get("error_description").and_then(|d| d.as_str()) {
                        Some(d) => format!("{code}: {d}"),
                        None => code,
                    }
                })
                .unwrap_or_else(|| "an error".to_string());
            anyhow!("the authorization server answered {text}")
        }
        RequestTokenError::Request(e) => anyhow!("the authorization server cannot be reached: {e}"),
        RequestTokenError::Parse(e, _) => {
            anyhow!("the authorization server's answer is not a token response: {e}")
        }
        RequestTokenError::Other(e) => anyhow!("OAuth2: {e}"),
    }
}
