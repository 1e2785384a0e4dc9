//! Who is asking: HTTP Basic (RFC 7617) against `web-users.toml`, or a bearer token
//! (RFC 6750) that may read `/metrics` only.
//!
//! Passwords are checked by argon2 (its own comparison is constant-time), on the
//! blocking pool; a name nobody has is checked against a hash of our own, so that the
//! answer takes as long for a wrong name as for a wrong password. Five wrong
//! passwords in a row for one name from one address lock that pair out for 30 s,
//! doubling with each further failure up to 15 minutes (429 with Retry-After, RFC 6585
//! §4), and each refusal is logged with the name and the address, never the password.
//! A successful check is remembered for five minutes under a keyed digest, so a
//! manager clicking through the pages costs one argon2 run, not one per page.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::users::{Role, User};

/// Failures in a row before a name and address are locked out.
pub const FREE_FAILURES: u32 = 5;
const FIRST_LOCK: Duration = Duration::from_secs(30);
const LONGEST_LOCK: Duration = Duration::from_secs(15 * 60);
const REMEMBER: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone)]
pub enum Viewer {
    User(User),
    /// The metrics bearer token: `/metrics` and nothing else.
    Metrics,
}

#[derive(Debug)]
pub enum Refusal {
    /// No credentials, or wrong ones: 401 with a Basic challenge.
    Unauthorized,
    /// Locked out for this many more seconds: 429.
    Slowed(u64),
}

struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

pub struct Auth {
    /// `None`: no users file, on loopback: whoever connects is the administrator.
    users: Option<Vec<User>>,
    token: Option<[u8; 32]>,
    /// A hash to check unknown names against.
    decoy: String,
    /// Keys the digests of remembered credentials: new each start.
    key: Vec<u8>,
    failures: Mutex<HashMap<(IpAddr, String), Failures>>,
    remembered: Mutex<HashMap<[u8; 32], (usize, Instant)>>,
}

impl Auth {
    pub fn new(users: Option<Vec<User>>, token: Option<&str>) -> Result<Auth> {
        let decoy = Argon2::default()
            .hash_password(b"no such user")
            .map_err(|e| anyhow!("Cannot hash with argon2: {e}"))?
            .to_string();
        let key = argon2::password_hash::try_generate_salt()
            .map_err(|e| anyhow!("No random bytes from the system: {e}"))
            .context("Cannot key the web view's login cache")?
            .to_vec();
        Ok(Auth {
            users,
            token: token.map(|t| Sha256::digest(t.as_bytes()).into()),
            decoy,
            key,
            failures: Mutex::new(HashMap::new()),
            remembered: Mutex::new(HashMap::new()),
        })
    }

    pub async fn check(
        self: &Arc<Self>,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Result<Viewer, Refusal> {
        let header = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if let (Some(token), Some(expected)) = (strip_scheme(header, "Bearer"), &self.token) {
            let given: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
            return if same(&given, expected) {
                Ok(Viewer::Metrics)
            } else {
                tracing::warn!(%peer, "Web request refused: wrong metrics token");
                Err(Refusal::Unauthorized)
            };
        }
        let Some(users) = &self.users else {
            return Ok(Viewer::User(User {
                name: "local".into(),
                password: String::new(),
                role: Role::Admin,
                departments: Vec::new(),
            }));
        };
        let Some((name, password)) = strip_scheme(header, "Basic").and_then(decode_basic) else {
            return Err(Refusal::Unauthorized);
        };
        let now = Instant::now();
        let pair = (peer, name.clone());
        if let Some(left) = self.locked(&pair, now) {
            tracing::warn!(user = %name, %peer, retry_in = left, "Web login refused: locked out after repeated wrong passwords");
            return Err(Refusal::Slowed(left));
        }
        let digest = self.digest(&name, &password);
        if let Some(i) = self.remembered(&digest, now)
            && let Some(user) = users.get(i)
        {
            return Ok(Viewer::User(user.clone()));
        }
        let found = users.iter().position(|u| u.name == name);
        let hash = found
            .and_then(|i| users.get(i))
            .map_or(self.decoy.clone(), |u| u.password.clone());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        match found.filter(|_| ok) {
            Some(i) => {
                if let Ok(mut f) = self.failures.lock() {
                    f.remove(&pair);
                }
                if let Ok(mut r) = self.remembered.lock() {
                    r.retain(|_, (_, at)| now.duration_since(*at) < REMEMBER);
                    r.insert(digest, (i, now));
                }
                users
                    .get(i)
                    .cloned()
                    .map(Viewer::User)
                    .ok_or(Refusal::Unauthorized)
            }
            None => {
                let count = self.fail(pair, now);
                tracing::warn!(user = %name, %peer, failures = count, "Web login refused: wrong name or password");
                Err(Refusal::Unauthorized)
            }
        }
    }

    fn locked(&self, pair: &(IpAddr, String), now: Instant) -> Option<u64> {
        let failures = self.failures.lock().ok()?;
        let until = failures.get(pair)?.locked_until?;
        (until > now).then(|| until.duration_since(now).as_secs().max(1))
    }

    fn fail(&self, pair: (IpAddr, String), now: Instant) -> u32 {
        let Ok(mut failures) = self.failures.lock() else {
            return 0;
        };
        // A bound on what a flood of invented names can make us hold.
        if failures.len() > 10_000 {
            failures.retain(|_, f| f.locked_until.is_some_and(|u| u > now));
        }
        let f = failures.entry(pair).or_insert(Failures {
            count: 0,
            locked_until: None,
        });
        f.count += 1;
        if f.count >= FREE_FAILURES {
            let doublings = (f.count - FREE_FAILURES).min(10);
            let lock = FIRST_LOCK.saturating_mul(1 << doublings).min(LONGEST_LOCK);
            f.locked_until = Some(now + lock);
        }
        f.count
    }

    fn digest(&self, name: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(&self.key);
        h.update(name.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn remembered(&self, digest: &[u8; 32], now: Instant) -> Option<usize> {
        let r = self.remembered.lock().ok()?;
        let (i, at) = r.get(digest)?;
        (now.duration_since(*at) < REMEMBER).then_some(*i)
    }
}

/// `Basic xyz` → `xyz`; the scheme is case-insensitive (RFC 9110 §11.1).
fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = header.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest.trim())
}

/// RFC 7617 §2: base64 of `user-id ":" password`, UTF-8 (§2.1).
fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_string(), password.to_string()))
}

/// Equal digests, compared without an early exit.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        // RFC 7617 §2's example.
        assert_eq!(
            decode_basic("QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            Some(("Aladdin".into(), "open sesame".into()))
        );
        assert_eq!(strip_scheme("basic abc", "Basic"), Some("abc"));
        assert_eq!(decode_basic("!!"), None);
    }

    #[tokio::test]
    async fn five_wrong_passwords_lock_the_name_out() {
        let hash = Argon2::default()
            .hash_password(b"right")
            .unwrap()
            .to_string();
        let user = User {
            name: "li".into(),
            password: hash,
            role: Role::Manager,
            departments: vec!["logistics".into()],
        };
        let auth = Arc::new(Auth::new(Some(vec![user]), None).unwrap());
        let basic = |p: &str| {
            let mut h = HeaderMap::new();
            let v = base64::engine::general_purpose::STANDARD.encode(format!("li:{p}"));
            h.insert(AUTHORIZATION, format!("Basic {v}").parse().unwrap());
            h
        };
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(matches!(
            auth.check(&HeaderMap::new(), ip).await,
            Err(Refusal::Unauthorized)
        ));
        assert!(auth.check(&basic("right"), ip).await.is_ok());
        for _ in 0..FREE_FAILURES {
            assert!(matches!(
                auth.check(&basic("wrong"), ip).await,
                Err(Refusal::Unauthorized)
            ));
        }
        // Locked: even the right password waits.
        assert!(matches!(auth.check(&basic("right"), ip).await, Err(Refusal::Slowed(s)) if s > 0));
        // Another address is not.
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(auth.check(&basic("right"), other).await.is_ok());
    }
}
