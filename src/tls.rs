//! The one TLS client setup (rustls), shared by IMAP and SMTP: the Mozilla root store,
//! plus the company's own CA when the config names one (`ca_file`), for mail servers
//! with certificates from an internal CA.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

fn mozilla_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The certificates of a PEM file, for `check` and for connecting.
pub fn load_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("Cannot read the CA file {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
    if certs.is_empty() {
        bail!(
            "{} holds no certificate (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(certs)
}

fn connector(ca_file: Option<&Path>) -> Result<TlsConnector> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let config = match ca_file {
        None => DEFAULT
            .get_or_init(|| {
                Arc::new(
                    ClientConfig::builder()
                        .with_root_certificates(mozilla_roots())
                        .with_no_client_auth(),
                )
            })
            .clone(),
        Some(path) => {
            let mut roots = mozilla_roots();
            for cert in load_ca(path)? {
                roots.add(cert).with_context(|| {
                    format!("{} holds a certificate rustls cannot use", path.display())
                })?;
            }
            Arc::new(
                ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        }
    };
    Ok(TlsConnector::from(config))
}

/// A TLS session over `stream`, with the server's certificate checked against `host`.
pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    host: &str,
    ca_file: Option<&Path>,
    stream: S,
) -> Result<TlsStream<S>> {
    let name = ServerName::try_from(host.to_string())
        .with_context(|| format!("{host} is not a valid TLS server name"))?;
    connector(ca_file)?
        .connect(name, stream)
        .await
        .with_context(|| format!("TLS handshake with {host} failed"))
}
