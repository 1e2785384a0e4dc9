//! `switchboard login` (the device flow, `oauth2::device`) and what `check` says
//! about the stored grant: whether there is one and when it was last refreshed,
//! never the token.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::config::{Config, Flow, OAuth2};
use crate::store::{Db, grants};

pub fn login(config: &Path) -> Result<ExitCode> {
    let (config, warnings) = Config::load(config)?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let Some(oauth2) = &config.oauth2 else {
        bail!(
            "{}: there is no [oauth2] table, so there is nothing to log in to (auth = \"oauth2\" needs one)",
            config.file.display()
        );
    };
    if oauth2.flow == Flow::ClientCredentials {
        println!(
            "[oauth2] flow = \"client_credentials\": no login is needed; the daemon gets its tokens with the app's own credentials. / 无需登录：守护进程用应用自己的凭据获取令牌。"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let db = Db::open(&config.store_path)?;
        let mut out = std::io::stdout();
        crate::oauth2::device::login(oauth2, &db, &mut out).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// One line for `check`: the grant's state and times in the company's time zone.
/// `Err` is a problem (no grant for the device flow, or a refused one).
pub fn grant_status(config: &Config, oauth2: &OAuth2) -> Result<String, String> {
    let file = config.file.display();
    let path = &config.store_path;
    let when = |t: i64| crate::outgoing::local_time(config, t);
    if !path.exists() {
        return match oauth2.flow {
            Flow::Device => Err(format!(
                "{file}: oauth2: no grant is stored yet (the store {} does not exist): run `switchboard login --config {file}`",
                path.display()
            )),
            Flow::ClientCredentials => {
                Ok("oauth2: client credentials; no token fetched yet".to_string())
            }
        };
    }
    let key = oauth2.grant_key();
    let grant = Db::open_read_only(path)
        .and_then(|db| {
            db.blocking(|c| {
                // A store the new binary has not migrated yet has no grants table.
                let migrated: i64 = c.query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE name = 'oauth2_grants'",
                    [],
                    |r| r.get(0),
                )?;
                if migrated == 0 {
                    return Ok(None);
                }
                grants::latest(c, &key)
            })
        })
        .map_err(|e| format!("{file}: oauth2: {e:#}"))?;
    match grant {
        None if oauth2.flow == Flow::Device => Err(format!(
            "{file}: oauth2: no grant is stored for client_id {}: run `switchboard login --config {file}`",
            oauth2.client_id
        )),
        None => Ok("oauth2: client credentials; no token fetched yet".to_string()),
        Some(g) => match &g.refused {
            Some((at, reason)) => Err(format!(
                "{file}: oauth2: the grant stored {} was refused for good at {} ({reason}): run `switchboard login --config {file}`",
                when(g.stored_at),
                when(*at)
            )),
            None => Ok(format!(
                "oauth2: grant {} ({}) stored {}, last refreshed {}, refresh token rotated {} time(s)",
                g.id,
                g.flow,
                when(g.stored_at),
                g.refreshed_at
                    .map(when)
                    .unwrap_or_else(|| "never".to_string()),
                g.rotations
            )),
        },
    }
}
