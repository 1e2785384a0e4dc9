//! The one TLS client setup (rustls, the Mozilla root store), shared by IMAP and SMTP.

use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, pki_types::ServerName};

fn connector() -> TlsConnector {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Arc::new(
            ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    });
    TlsConnector::from(config.clone())
}

/// A TLS session over `stream`, with the server's certificate checked against `host`.
pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    host: &str,
    stream: S,
) -> Result<TlsStream<S>> {
    let name = ServerName::try_from(host.to_string())
        .with_context(|| format!("{host} is not a valid TLS server name"))?;
    connector()
        .connect(name, stream)
        .await
        .with_context(|| format!("TLS handshake with {host} failed"))
}
