//! Opening an IMAP session: TCP, TLS (implicit or STARTTLS, see `crate::tls`),
//! greeting, login. Plaintext is allowed only to loopback, which the config
//! already enforces.

use std::fmt::Debug;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{Server, Tls};

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Stream for T {}

pub type Session = async_imap::Session<Box<dyn Stream>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn login(server: &Server) -> Result<Session> {
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
    let password = match &server.password {
        Some(source) => source.load().context("Cannot load the IMAP password")?,
        None => bail!("No IMAP password configured (password_file or password_env)"),
    };
    let session = client
        .login(user, password.expose())
        .await
        .map_err(|(e, _)| anyhow!("IMAP login as {user} failed: {e}"))?;
    Ok(session)
}
