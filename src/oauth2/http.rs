//! The one HTTP exchange OAuth2 needs: a form POST to a token endpoint and its JSON
//! answer. hyper's HTTP/1 client connection over our own TCP + rustls (`crate::tls`,
//! the same trust as IMAP and SMTP), so the tree gains no second HTTP stack and no
//! OpenSSL; the `oauth2` crate calls [`Http::call`] for every request it makes.
//!
//! http:// is allowed only to loopback (the config refuses anything else), for the
//! test's authorization server.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use oauth2::http;
use tokio::net::TcpStream;

/// A token endpoint answers with a few hundred bytes; anything past this is not one.
const MAX_BODY: usize = 1024 * 1024;

/// Connect, send and read the answer within this.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default)]
pub struct Http {
    pub ca_file: Option<PathBuf>,
}

type Answer = Result<oauth2::HttpResponse, std::io::Error>;

/// For `oauth2`'s `request_async`: one request, one connection.
impl<'c> oauth2::AsyncHttpClient<'c> for Http {
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            match tokio::time::timeout(TIMEOUT, self.exchange(request)).await {
                Ok(answer) => answer,
                Err(_) => Err(std::io::Error::other(format!(
                    "the authorization server did not answer within {} s",
                    TIMEOUT.as_secs()
                ))),
            }
        })
    }
}

impl Http {
    async fn exchange(&self, request: oauth2::HttpRequest) -> Answer {
        let other = std::io::Error::other;
        let uri = request.uri().clone();
        let host = uri
            .host()
            .ok_or_else(|| other(format!("no host in {uri}")))?
            .trim_matches(['[', ']'])
            .to_string();
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if crate::config::is_loopback(&host) => false,
            _ => {
                return Err(other(format!(
                    "refusing {uri}: https only, http only to loopback"
                )));
            }
        };
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| other(format!("cannot connect to {host}:{port}: {e}")))?;
        tcp.set_nodelay(true).ok();
        let (parts, body) = request.into_parts();
        // Origin-form on the wire (RFC 9112 §3.2.1), Host beside it.
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".to_string());
        let mut builder = http::Request::builder()
            .method(parts.method)
            .uri(path)
            .header(http::header::HOST, authority(&uri));
        for (name, value) in &parts.headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| other(e.to_string()))?;
        let response = if https {
            let tls = crate::tls::connect(&host, self.ca_file.as_deref(), tcp)
                .await
                .map_err(|e| other(format!("{e:#}")))?;
            send(TokioIo::new(tls), request).await?
        } else {
            send(TokioIo::new(tcp), request).await?
        };
        Ok(response)
    }
}

fn authority(uri: &http::Uri) -> String {
    uri.authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default()
}

async fn send<S>(io: TokioIo<S>, request: http::Request<Full<Bytes>>) -> Answer
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let other = std::io::Error::other;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| other(format!("HTTP handshake: {e}")))?;
    // The connection is driven beside the request and ends with it.
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| other(format!("HTTP request: {e}")))?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| other(format!("HTTP response body: {e}")))?
        .to_bytes();
    driver.abort();
    Ok(http::Response::from_parts(parts, body.to_vec()))
}
