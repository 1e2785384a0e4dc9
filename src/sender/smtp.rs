//! One SMTP connection, kept open between messages and reopened when it breaks.
//! The sender keeps a small pool of these.
//!
//! lettre speaks the protocol; we open the TCP connection ourselves so that we can
//! set TCP_NODELAY. lettre's own connector leaves Nagle's algorithm on, and the short
//! final write of each message (`.` CRLF) then waits for the server's delayed ACK:
//! about 40 ms per message on Linux loopback, measured here 2026-11 (21 messages/s
//! against Postfix 3.7 before, see the commit that added this).

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::Failure;
use crate::config::{Auth, Server, Tls};
use crate::oauth2::Tokens;
use crate::oauth2::sasl;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Message content is written in pieces of this size.
const CHUNK: usize = 64 * 1024;

/// A connection unused for longer is checked with NOOP before the next message:
/// servers close idle sessions (Postfix after `smtpd_timeout`, 300 s), and a message
/// sent into a closed connection would fail as "unreachable" and wait for the
/// backoff. A NOOP that fails costs nothing but a new connection.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(30);

pub struct SmtpClient {
    server: Server,
    credentials: Option<Credentials>,
    /// Access tokens, for `auth = "oauth2"`.
    tokens: Option<Arc<Tokens>>,
    /// When the current connection's access token is due for renewal: the
    /// connection is closed and opened again with a fresh one before the next mail.
    renew_at: Option<Instant>,
    hello: ClientId,
    connection: Option<AsyncSmtpConnection>,
    /// Whether the server of the current connection offers PIPELINING (RFC 2920).
    pipelining: bool,
    last_used: Instant,
}

impl SmtpClient {
    pub fn new(server: &Server, tokens: Option<Arc<Tokens>>) -> anyhow::Result<SmtpClient> {
        let credentials = match (&server.username, &server.password) {
            (Some(user), Some(source)) if server.auth == Auth::Password => {
                let password = source.load()?;
                Some(Credentials::new(
                    user.clone(),
                    password.expose().to_string(),
                ))
            }
            _ => None,
        };
        Ok(SmtpClient {
            server: server.clone(),
            credentials,
            tokens,
            renew_at: None,
            hello: ClientId::default(),
            connection: None,
            pipelining: false,
            last_used: Instant::now(),
        })
    }

    /// Sends one mail, given in pieces (see `compose::pieces`) that go out as one.
    pub async fn send(
        &mut self,
        envelope: &Envelope,
        raw: &[Cow<'_, [u8]>],
    ) -> Result<(), Failure> {
        if self.last_used.elapsed() > CHECK_AFTER_IDLE
            && let Some(c) = self.connection.as_mut()
            && !tokio::time::timeout(TIMEOUT, c.test_connected())
                .await
                .unwrap_or(false)
            && let Some(c) = self.connection.take()
        {
            abort(c).await;
        }
        if self.renew_at.is_some_and(|t| Instant::now() >= t)
            && let Some(mut c) = self.connection.take()
        {
            let _ = tokio::time::timeout(Duration::from_secs(2), c.quit()).await;
        }
        self.last_used = Instant::now();
        if self.connection.as_ref().is_none_or(|c| c.has_broken()) {
            let (connection, pipelining) = self.connect().await?;
            self.connection = Some(connection);
            self.pipelining = pipelining;
        }
        let pipelining = self.pipelining;
        let Some(connection) = self.connection.as_mut() else {
            return Err(Failure::Unreachable(anyhow::anyhow!("no SMTP connection")));
        };
        let parameters = mail_parameters(connection, envelope, raw)?;
        match tokio::time::timeout(
            TIMEOUT,
            transaction(connection, pipelining, envelope, parameters, raw),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                // After a refusal the session state is unknown: start the next one fresh.
                if let Some(c) = self.connection.take() {
                    abort(c).await;
                }
                Err(if e.is_permanent() {
                    Failure::Permanent(e.into())
                } else if e.is_transient() {
                    Failure::Temporary(e.into())
                } else {
                    Failure::Unreachable(e.into())
                })
            }
            Err(_) => {
                self.connection = None;
                Err(Failure::Unreachable(anyhow::anyhow!(
                    "the SMTP server did not answer within {TIMEOUT:?}"
                )))
            }
        }
    }

    /// Says goodbye politely; for the end of a run.
    pub async fn close(&mut self) {
        if let Some(mut c) = self.connection.take() {
            let _ = c.quit().await;
        }
    }

    /// Opens a connection; also says whether the server offers PIPELINING.
    async fn connect(&mut self) -> Result<(AsyncSmtpConnection, bool), Failure> {
        let s = &self.server;
        let unreachable = |e: anyhow::Error| Failure::Unreachable(e);
        let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect((s.host.as_str(), s.port)))
            .await
            .map_err(|_| {
                unreachable(anyhow::anyhow!(
                    "connecting to {}:{} timed out",
                    s.host,
                    s.port
                ))
            })?
            .map_err(|e| {
                unreachable(anyhow::anyhow!(
                    "cannot connect to {}:{}: {e}",
                    s.host,
                    s.port
                ))
            })?;
        tcp.set_nodelay(true).map_err(|e| unreachable(e.into()))?;
        let stream: Box<dyn AsyncTokioStream> = match s.tls {
            Tls::Implicit => Box::new(ImplicitTls(
                crate::tls::connect(&s.host, s.ca_file.as_deref(), tcp)
                    .await
                    .map_err(unreachable)?,
            )),
            Tls::Starttls | Tls::None => Box::new(tcp),
        };
        let mut connection = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(|e| unreachable(e.into()))?;
        if s.tls == Tls::Starttls {
            let mut params = TlsParameters::builder(s.host.clone());
            if let Some(ca_file) = &s.ca_file {
                for cert in crate::tls::load_ca(ca_file).map_err(unreachable)? {
                    let cert =
                        Certificate::from_der(cert.to_vec()).map_err(|e| unreachable(e.into()))?;
                    params = params.add_root_certificate(cert);
                }
            }
            let params = params.build_rustls().map_err(|e| unreachable(e.into()))?;
            connection
                .starttls(params, &self.hello)
                .await
                .map_err(|e| unreachable(e.into()))?;
        }
        // lettre keeps only the EHLO keywords it uses itself; PIPELINING is not one
        // of them, so ask once more (RFC 5321 §4.1.4 allows EHLO again; it resets
        // nothing that matters before AUTH). One round trip per connection.
        let ehlo = connection
            .command(Ehlo::new(self.hello.clone()))
            .await
            .map_err(|e| unreachable(e.into()))?;
        let pipelining = ehlo.message().any(|l| l.eq_ignore_ascii_case("PIPELINING"));
        if s.auth == Auth::OAuth2 {
            // `AUTH XOAUTH2 OAUTHBEARER …` (RFC 4954 §3), read here too: lettre
            // knows no OAUTHBEARER.
            let offered: Vec<String> = ehlo
                .message()
                .filter_map(|l| {
                    let mut words = l.split_ascii_whitespace();
                    words
                        .next()
                        .filter(|w| w.eq_ignore_ascii_case("AUTH"))
                        .map(|_| words.map(str::to_string).collect::<Vec<_>>())
                })
                .flatten()
                .collect();
            self.renew_at = Some(self.oauth2(&mut connection, &offered).await?);
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|e| Failure::Unreachable(anyhow::anyhow!("SMTP login failed: {e}")))?;
        }
        tracing::debug!(
            host = s.host,
            port = s.port,
            pipelining,
            "SMTP connection opened"
        );
        Ok((connection, pipelining))
    }
}

impl SmtpClient {
    /// AUTH with an access token; returns when the token is due for renewal. A
    /// refused token is forgotten, so that the next connection asks for a new one.
    async fn oauth2(
        &self,
        connection: &mut AsyncSmtpConnection,
        offered: &[String],
    ) -> Result<Instant, Failure> {
        let s = &self.server;
        let (Some(tokens), Some(user)) = (&self.tokens, &s.username) else {
            return Err(Failure::Unreachable(anyhow::anyhow!(
                "auth = \"oauth2\" without [oauth2] or a username"
            )));
        };
        // No token, no connection: mail stays due in the outbox, nothing fails.
        let access = tokens
            .access()
            .await
            .map_err(|e| Failure::Unreachable(anyhow::Error::new(e)))?;
        let mechanism = sasl::Mechanism::choose(offered.iter().map(String::as_str));
        match sasl_exchange(connection, mechanism, user, s, &access.token).await {
            Ok(()) => Ok(access.renew_at),
            Err(reason) => {
                tokens.forget().await;
                Err(Failure::Unreachable(anyhow::anyhow!(
                    "SMTP AUTH {} as {user} failed: {reason}",
                    mechanism.name()
                )))
            }
        }
    }
}

/// AUTH with the initial response (RFC 4954 §4). Both mechanisms answer a bad token
/// with a 334 challenge carrying the server's JSON error (RFC 7628 §3.2.3; Google's
/// XOAUTH2 page), which the client acknowledges (an empty line for XOAUTH2, ^A for
/// OAUTHBEARER) before the final 535. Written here rather than with lettre's `auth`,
/// which knows no OAUTHBEARER and gives up on XOAUTH2's challenge without reading it:
/// the server's reason (`{"status":"401",…}`) belongs in the error.
async fn sasl_exchange(
    connection: &mut AsyncSmtpConnection,
    mechanism: sasl::Mechanism,
    user: &str,
    server: &Server,
    token: &crate::secret::Secret,
) -> Result<(), String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let initial = b64.encode(mechanism.initial_response(user, &server.host, server.port, token));
    let first = connection
        .command(RawLine(format!("AUTH {} {initial}", mechanism.name())))
        .await
        .map_err(|e| e.to_string())?;
    if !first.has_code(334) {
        return Ok(());
    }
    let said = first
        .message()
        .next()
        .and_then(|l| b64.decode(l.trim()).ok())
        .map(|j| String::from_utf8_lossy(&j).into_owned())
        .unwrap_or_default();
    let dummy = match mechanism {
        sasl::Mechanism::XOAuth2 => "",
        sasl::Mechanism::OAuthBearer => "AQ==",
    };
    let end = match connection.command(RawLine(dummy.to_string())).await {
        Ok(r) => format!("{:?}", r.code()),
        Err(e) => e.to_string(),
    };
    Err(format!("{end} (the server said {said})"))
}

/// One command line as it is (lettre adds nothing to a `Display` but what it shows).
struct RawLine(String);

impl std::fmt::Display for RawLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\r\n", self.0)
    }
}

/// The MAIL FROM parameters a message needs, or why this server cannot take it
/// (as lettre's own `send` decides).
fn mail_parameters(
    connection: &AsyncSmtpConnection,
    envelope: &Envelope,
    raw: &[Cow<'_, [u8]>],
) -> Result<Vec<MailParameter>, Failure> {
    let server = connection.server_info();
    let mut parameters = Vec::new();
    let non_ascii = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
    if non_ascii {
        if !server.supports_feature(Extension::SmtpUtfEight) {
            return Err(Failure::Permanent(anyhow::anyhow!(
                "the envelope has non-ASCII addresses and the server does not offer SMTPUTF8"
            )));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !raw.iter().all(|piece| piece.is_ascii()) {
        if !server.supports_feature(Extension::EightBitMime) {
            return Err(Failure::Permanent(anyhow::anyhow!(
                "the message is 8-bit and the server does not offer 8BITMIME"
            )));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(parameters)
}

/// One mail transaction: what lettre's `send` does, except that the content is
/// written in chunks, and that MAIL, RCPT and DATA go out together when the server
/// offers PIPELINING (RFC 2920 §3.1: the client may send them without waiting,
/// then reads the replies in order) — two round trips per message instead of four.
/// lettre dot-stuffs a message into one more buffer of its whole size; for a case
/// record with a 5 MB original attached that was 7 MB more for each connection in
/// flight (measured with benches/run.sh: the backlog's outbox peaked at 251 MiB
/// over four connections).
async fn transaction(
    connection: &mut AsyncSmtpConnection,
    pipelining: bool,
    envelope: &Envelope,
    parameters: Vec<MailParameter>,
    raw: &[Cow<'_, [u8]>],
) -> Result<(), lettre::transport::smtp::Error> {
    let mail = Mail::new(envelope.from().cloned(), parameters);
    let rcpts = envelope.to().iter().map(|to| Rcpt::new(to.clone(), vec![]));
    if pipelining {
        // One write; `command` reads the first reply (MAIL's), the rest follow. Any
        // refusal makes the caller abort the connection, replies still unread or not.
        connection.command(Pipelined { mail, rcpts }).await?;
        for _ in envelope.to() {
            connection.read_response().await?;
        }
        connection.read_response().await?;
    } else {
        connection.command(mail).await?;
        for rcpt in rcpts {
            connection.command(rcpt).await?;
        }
        connection.command(Data).await?;
    }
    connection
        .message_iter(raw.iter().flat_map(|piece| piece.chunks(CHUNK)))
        .await?;
    Ok(())
}

/// MAIL, every RCPT and DATA as one piece of text, for one write.
struct Pipelined<I> {
    mail: Mail,
    rcpts: I,
}

impl<I: Iterator<Item = Rcpt> + Clone> std::fmt::Display for Pipelined<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.mail)?;
        for rcpt in self.rcpts.clone() {
            write!(f, "{rcpt}")?;
        }
        write!(f, "{Data}")
    }
}

/// Ends a connection that is broken or in an unknown state: QUIT if it still
/// answers within a moment, then close. A peer that vanished does not hold us up.
async fn abort(mut connection: AsyncSmtpConnection) {
    let _ = tokio::time::timeout(Duration::from_secs(2), connection.abort()).await;
}

/// A TLS stream that lettre treats as its transport (implicit TLS, port 465), so that
/// the TCP socket under it is ours and has TCP_NODELAY.
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
