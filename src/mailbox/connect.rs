//! Opening an IMAP session: TCP, TLS (implicit or STARTTLS, see `crate::tls`),
//! greeting, login — LOGIN with a password, or AUTHENTICATE XOAUTH2 / OAUTHBEARER
//! with an access token from `crate::oauth2`. Plaintext is allowed only to
//! loopback, which the config already enforces.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{Auth, Server, Tls};
use crate::oauth2::Tokens;
use crate::oauth2::sasl::{ImapAuthenticator, Mechanism};

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Stream for T {}

pub type Session = async_imap::Session<Box<dyn Stream>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A logged-in session, and for OAuth2 when its token must be replaced: a session
/// is opened again before its next pass once that time has come.
pub async fn login(server: &Server, tokens: Option<&Tokens>) -> Result<(Session, Option<Instant>)> {
    let addr = (server.host.as_str(), server.port);
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow!("Connecting to {}:{} timed out", server.host, server.port))?
        .with_context(|| format!("Cannot connect to {}:{}", server.host, server.port))?;
    tcp.set_nodelay(true).ok();
    let stream: Box<dyn Stream> = match server.tls {
        Tls::Implicit => {
            Box::new(crate::tls::connect(&server.host, server.ca_file.as_deref(), tcp).await?)
        }
        Tls::None | Tls::Starttls => Box::new(tcp),
    };
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .context("Cannot read the IMAP greeting")?
        .ok_or_else(|| anyhow!("The IMAP server closed the connection before its greeting"))?;
    if server.tls == Tls::Starttls {
        client
            .run_command_and_check_ok("STARTTLS", None)
            .await
            .context("The IMAP server refused STARTTLS")?;
        // RFC 3501 §6.2.1: no new greeting after the handshake; LOGIN comes next.
        let upgraded: Box<dyn Stream> = Box::new(
            crate::tls::connect(&server.host, server.ca_file.as_deref(), client.into_inner())
                .await?,
        );
        client = async_imap::Client::new(upgraded);
    }
    let user = server
        .username
        .as_deref()
        .ok_or_else(|| anyhow!("No IMAP username configured"))?;
    if server.auth == Auth::OAuth2 {
        let tokens = tokens.ok_or_else(|| anyhow!("auth = \"oauth2\" without [oauth2]"))?;
        return authenticate(client, server, user, tokens).await;
    }
    let password = match &server.password {
        Some(source) => source.load().context("Cannot load the IMAP password")?,
        None => bail!("No IMAP password configured (password_file or password_env)"),
    };
    let session = client
        .login(user, password.expose())
        .await
        .map_err(|(e, _)| anyhow!("IMAP login as {user} failed: {e}"))?;
    Ok((session, None))
}

type Client = async_imap::Client<Box<dyn Stream>>;

/// AUTHENTICATE with the mechanism the pre-login CAPABILITY lists (see
/// `oauth2::sasl`). A refusal makes the token forgotten: the next login asks the
/// authorization server for a new one (the old one may have been revoked early).
async fn authenticate(
    mut client: Client,
    server: &Server,
    user: &str,
    tokens: &Tokens,
) -> Result<(Session, Option<Instant>)> {
    let offered = auth_mechanisms(&mut client).await?;
    let mechanism = Mechanism::choose(offered.iter().map(String::as_str));
    let access = tokens.access().await.map_err(anyhow::Error::new)?;
    let mut authenticator = ImapAuthenticator {
        mechanism,
        response: Some(mechanism.initial_response(user, &server.host, server.port, &access.token)),
        error: Default::default(),
    };
    let error = authenticator.error.clone();
    match client
        .authenticate(mechanism.name(), &mut authenticator)
        .await
    {
        Ok(session) => Ok((session, Some(access.renew_at))),
        Err((e, _)) => {
            tokens.forget().await;
            let said = error
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .map(|e| format!(" (the server said {e})"))
                .unwrap_or_default();
            bail!(
                "IMAP AUTHENTICATE {} as {user} failed: {e}{said}",
                mechanism.name()
            )
        }
    }
}

/// The SASL mechanisms of the pre-login CAPABILITY (`AUTH=...`), upper-cased.
async fn auth_mechanisms(client: &mut Client) -> Result<Vec<String>> {
    use async_imap::imap_proto::{Capability, Response};
    use async_imap::types::UnsolicitedResponse;
    // The untagged CAPABILITY comes back through the channel of untagged answers.
    let (tx, rx) = async_channel::bounded(16);
    client
        .run_command_and_check_ok("CAPABILITY", Some(tx))
        .await
        .context("Cannot read the capabilities")?;
    let mut mechanisms = Vec::new();
    while let Ok(response) = rx.try_recv() {
        if let UnsolicitedResponse::Other(data) = response
            && let Response::Capabilities(caps) = data.parsed()
        {
            for cap in caps {
                if let Capability::Auth(m) = cap {
                    mechanisms.push(m.to_ascii_uppercase());
                }
            }
        }
    }
    Ok(mechanisms)
}
