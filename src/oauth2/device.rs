//! `switchboard login`: the device authorization grant (RFC 8628) on a headless
//! server. No redirect URI and no browser on the server (an intranet machine cannot
//! receive one, freescout#4031): the person opens the verification page on any
//! device, types the code, signs in as the shared mailbox and consents; meanwhile we
//! poll the token endpoint at the server's `interval`, five seconds slower after each
//! `slow_down` (§3.5; the `oauth2` crate's poll loop does both), until the code
//! expires. The grant is then a new row; a running daemon picks it up by itself.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use oauth2::{StandardDeviceAuthorizationResponse, TokenResponse};

use super::{Http, client, describe, scopes};
use crate::config::{Flow, OAuth2};
use crate::secret::Secret;
use crate::store::{Db, grants};

/// Runs the device flow and stores the grant; returns its row id. What the person
/// must do goes to `out`, in Chinese and English.
pub async fn login(config: &OAuth2, db: &Db, out: &mut (dyn Write + Send)) -> Result<i64> {
    if config.flow != Flow::Device {
        bail!(
            "[oauth2] flow = \"{}\" needs no login: the daemon gets its tokens with the app's own credentials",
            config.flow.as_str()
        );
    }
    let http = Http {
        ca_file: config.ca_file.clone(),
    };
    let client = client(config)?;
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .context("[oauth2] has no device_authorization_url")?
        .add_scopes(scopes(config))
        .request_async(&http)
        .await
        .map_err(describe)
        .context("The device authorization request was refused")?;
    let url = details.verification_uri().as_str();
    let code = details.user_code().secret();
    let minutes = details.expires_in().as_secs().div_ceil(60);
    writeln!(
        out,
        "请在任何设备的浏览器中打开 {url} ，输入代码 {code} ，并以共享邮箱的账号登录、同意授权（{minutes} 分钟内有效）。"
    )?;
    writeln!(
        out,
        "Open {url} in a browser on any device, enter the code {code}, sign in as the shared mailbox and consent (valid for {minutes} minutes)."
    )?;
    if let Some(complete) = details.verification_uri_complete() {
        writeln!(out, "或直接打开 / or open directly: {}", complete.secret())?;
    }
    writeln!(out, "等待授权… / Waiting for the approval…")?;
    out.flush()?;

    let token = client
        .exchange_device_access_token(&details)
        .request_async(
            &http,
            |wait: Duration| tokio::time::sleep(wait),
            Some(details.expires_in()),
        )
        .await
        .map_err(describe)
        .context("The login was not completed")?;
    let Some(refresh) = token.refresh_token() else {
        bail!(
            "The authorization server gave no refresh token, so the grant would end with the access token; the app registration needs the offline_access scope (Microsoft) or an offline grant"
        );
    };
    let refresh = Secret::new(refresh.secret().clone());
    let granted = token
        .scopes()
        .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| config.scopes.join(" "));
    let key = config.grant_key();
    let at = chrono::Utc::now().timestamp();
    let id = db
        .call(move |c| grants::insert(c, &key, "device", Some(&refresh), &granted, at))
        .await
        .context("Cannot store the grant")?;
    tracing::info!(grant = id, "OAuth2 grant stored by switchboard login");
    writeln!(
        out,
        "授权已保存（第 {id} 号），正在运行的 Switchboard 会自动使用。 / The grant is stored (number {id}); a running Switchboard uses it by itself."
    )?;
    Ok(id)
}
