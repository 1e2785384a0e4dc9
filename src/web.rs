//! The read-only web view and `/metrics`, served by the daemon on `[web] listen`.
//!
//! Pages are rendered on the server from the templates in `web/pages/` (compiled
//! in, HTML auto-escaped: a subject or a name from mail is text, never markup) and
//! need no JavaScript. The view reads the store through a read-only connection of
//! its own, so nothing here can change a case (DESIGN invariant 10). A manager sees
//! only their departments' cases, in every list, figure and export; another
//! department's case page is 403.

pub mod auth;
mod i18n;
mod metrics;
pub use metrics::MailboxBeat;
mod pages;
mod tls;
pub mod useradd;
pub mod users;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::Environment;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;
use crate::store::Db;
use auth::{Auth, Refusal, Viewer};
use i18n::Lang;
use users::User;

/// What `switchboard check` reports about `[web]`: the users file and the metrics
/// token as the daemon will read them (never their contents).
pub fn check(config: &Config) -> Vec<String> {
    let Some(web) = &config.web else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let file = config.file.display();
    if let Some(path) = &web.users {
        let known: Vec<&str> = config.departments.iter().map(|d| d.id.as_str()).collect();
        if let Err(e) = users::load(path, &known) {
            // Each line already names the users file and the key.
            problems.push(format!("{e:#}"));
        }
    }
    if let Some(token) = &web.metrics_token
        && let Err(e) = token.load()
    {
        problems.push(format!("{file}: web.metrics_token: {e:#}"));
    }
    problems
}

/// What every request needs.
pub struct View {
    pub config: Config,
    pub db: Db,
    pub clock: Clock,
    auth: Arc<Auth>,
    templates: Environment<'static>,
}

/// The listener, bound; `run` serves until the daemon stops.
pub struct Server {
    view: Arc<View>,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Server {
    /// Binds `[web] listen` and opens the store to read; `None` without `[web]`.
    pub async fn bind(config: &Config, clock: Clock) -> Result<Option<Server>> {
        let Some(web) = config.web.clone() else {
            return Ok(None);
        };
        let known: Vec<&str> = config.departments.iter().map(|d| d.id.as_str()).collect();
        let users = match &web.users {
            Some(path) => Some(users::load(path, &known)?),
            None => None,
        };
        let token = match &web.metrics_token {
            Some(source) => Some(source.load().context("[web] metrics token")?),
            None => None,
        };
        let auth = Auth::new(users, token.as_ref().map(|t| t.expose()))?;
        let tls = match &web.tls {
            Some((cert, key)) => Some(tls::acceptor(cert, key)?),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(web.listen)
            .await
            .with_context(|| format!("Cannot listen on {} ([web] listen)", web.listen))?;
        let view = View {
            config: config.clone(),
            db: Db::open_read_only(&config.store_path)?,
            clock,
            auth: Arc::new(auth),
            templates: pages::templates()?,
        };
        Ok(Some(Server {
            view: Arc::new(view),
            listener,
            tls,
        }))
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let addr = self.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tracing::info!(address = %addr, "Web view at {scheme}://{addr}/");
        let app = router(self.view).into_make_service_with_connect_info::<PeerAddr>();
        let stopped = async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        };
        let served = match self.tls {
            None => {
                axum::serve(self.listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
            }
            Some(acceptor) => {
                axum::serve(tls::Listener::new(self.listener, acceptor), app)
                    .with_graceful_shutdown(stopped)
                    .await
            }
        };
        if let Err(e) = served {
            tracing::error!("The web view stopped: {e:#}");
        }
    }
}

fn router(view: Arc<View>) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/report.csv", get(pages::report_csv))
        .route("/at-risk", get(pages::at_risk))
        .route("/cases", get(pages::cases))
        .route("/cases/{number}", get(pages::case))
        .route("/satisfaction", get(pages::satisfaction))
        .route("/health", get(pages::health))
        .route("/metrics", get(metrics::metrics))
        .fallback(not_found)
        .with_state(view)
}

/// The person asking, and the language to answer in.
pub struct Asker {
    pub user: User,
    pub lang: Lang,
}

pub type Args = Query<std::collections::HashMap<String, String>>;
pub type Peer = ConnectInfo<PeerAddr>;

/// The client's address, for plain and TLS connections alike.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tls::Listener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tls::Listener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl View {
    /// A person with a page to see, or the response that refuses them.
    async fn asker(&self, headers: &HeaderMap, peer: SocketAddr) -> Result<Asker, Response> {
        let lang = i18n::choose(
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        );
        match self.auth.check(headers, peer.ip()).await {
            Ok(Viewer::User(user)) => Ok(Asker { user, lang }),
            // The token is for /metrics alone.
            Ok(Viewer::Metrics) => Err(self.error(lang, None, StatusCode::FORBIDDEN, "forbidden")),
            Err(r) => Err(refused(r)),
        }
    }

    fn render(&self, name: &str, asker: &Asker, nav: &str, mut ctx: serde_json::Value) -> Response {
        if let Some(map) = ctx.as_object_mut() {
            map.insert("t".into(), i18n::texts(asker.lang));
            map.insert("lang".into(), asker.lang.code().into());
            map.insert("nav".into(), nav.into());
            map.insert(
                "viewer".into(),
                serde_json::json!({
                    "name": asker.user.name,
                    "admin": asker.user.role == users::Role::Admin,
                    "departments": asker.user.departments.iter()
                        .map(|d| self.department_name(d)).collect::<Vec<_>>(),
                }),
            );
        }
        let page = self
            .templates
            .get_template(name)
            .and_then(|t| t.render(&ctx));
        match page {
            Ok(html) => html_response(StatusCode::OK, html, asker.lang),
            Err(e) => {
                tracing::error!(page = name, "Cannot render a web page: {e:#}");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }

    /// An error page in the layout (the viewer's menu when known).
    fn error(&self, lang: Lang, user: Option<&User>, status: StatusCode, key: &str) -> Response {
        let texts = i18n::texts(lang);
        let message = texts.get(key).cloned().unwrap_or_default();
        let ctx = serde_json::json!({
            "t": texts, "lang": lang.code(), "nav": "",
            "status": status.as_u16(), "message": message,
            "viewer": {
                "name": user.map(|u| u.name.as_str()).unwrap_or(""),
                "admin": user.is_some_and(|u| u.role == users::Role::Admin),
                "departments": user.map(|u| u.departments.clone()).unwrap_or_default(),
            },
        });
        match self
            .templates
            .get_template("error.html")
            .and_then(|t| t.render(&ctx))
        {
            Ok(html) => html_response(status, html, lang),
            Err(_) => status.into_response(),
        }
    }

    fn internal(&self, asker: &Asker, e: anyhow::Error) -> Response {
        tracing::error!("A web page failed: {e:#}");
        self.error(
            asker.lang,
            Some(&asker.user),
            StatusCode::INTERNAL_SERVER_ERROR,
            "bad_request",
        )
    }

    pub fn department_name(&self, id: &str) -> String {
        self.config
            .department(id)
            .map_or_else(|| id.to_string(), |d| d.name.clone())
    }

    /// Runs `f` on the read-only connection, on the blocking pool.
    async fn read<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&View, &rusqlite::Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let view = self.clone();
        let db = self.db.clone();
        db.call(move |c| f(&view, c)).await
    }
}

fn html_response(status: StatusCode, html: String, lang: Lang) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.code()),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Language, Authorization"),
    );
    // Nothing on these pages may run: no script, no frame, no form posts elsewhere.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn refused(r: Refusal) -> Response {
    match r {
        Refusal::Unauthorized => {
            let mut resp =
                (StatusCode::UNAUTHORIZED, "Sign in to see Switchboard.\n").into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Switchboard\", charset=\"UTF-8\""),
            );
            resp
        }
        Refusal::Slowed(seconds) => {
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many wrong passwords: wait and try again.\n",
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
    }
}

async fn not_found(
    State(view): State<Arc<View>>,
    headers: HeaderMap,
    ConnectInfo(peer): Peer,
) -> Response {
    match view.asker(&headers, peer.0).await {
        Ok(a) => view.error(a.lang, Some(&a.user), StatusCode::NOT_FOUND, "not_found"),
        Err(r) => r,
    }
}

/// For `anyhow` where a template error is not one.
fn template_error(e: minijinja::Error) -> anyhow::Error {
    anyhow!("{e:#}")
}
