//! OAuth2 grants as rows (migration 11): the refresh token is data, kept where the
//! checkpoint and the outbox are, so that a rotated one is never lost to a crash.
//! Nothing here logs or prints a token; [`Grant`]'s `Debug` leaves it out.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

use crate::secret::Secret;

#[derive(Clone)]
pub struct Grant {
    pub id: i64,
    pub flow: String,
    /// `None` for the client-credentials flow, which has none.
    pub refresh_token: Option<Secret>,
    pub scopes: String,
    pub stored_at: i64,
    pub refreshed_at: Option<i64>,
    pub rotations: i64,
    /// Refused for good by the authorization server: when, and its answer.
    pub refused: Option<(i64, String)>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("id", &self.id)
            .field("flow", &self.flow)
            .field("stored_at", &self.stored_at)
            .field("refreshed_at", &self.refreshed_at)
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

/// The newest grant for this app (`OAuth2::grant_key`), whatever its state.
pub fn latest(conn: &Connection, client: &str) -> Result<Option<Grant>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, flow, refresh_token, scopes, stored_at, refreshed_at, rotations,
                    state, refused_at, refused_reason
             FROM oauth2_grants WHERE client = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row([client], |r| {
            let state: String = r.get(7)?;
            let refused = if state == "refused" {
                Some((
                    r.get::<_, Option<i64>>(8)?.unwrap_or(0),
                    r.get::<_, Option<String>>(9)?.unwrap_or_default(),
                ))
            } else {
                None
            };
            Ok(Grant {
                id: r.get(0)?,
                flow: r.get(1)?,
                refresh_token: r.get::<_, Option<String>>(2)?.map(Secret::new),
                scopes: r.get(3)?,
                stored_at: r.get(4)?,
                refreshed_at: r.get(5)?,
                rotations: r.get(6)?,
                refused,
            })
        })
        .optional()?)
}

/// The newest grant's id for this app: what the daemon watches for a new login.
pub fn latest_id(conn: &Connection, client: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT max(id) FROM oauth2_grants WHERE client = ?1")?
        .query_row([client], |r| r.get(0))?)
}

/// A new grant (from `switchboard login`, or the daemon's first client-credentials
/// token); it supersedes every older one for the app.
pub fn insert(
    conn: &Connection,
    client: &str,
    flow: &str,
    refresh_token: Option<&Secret>,
    scopes: &str,
    at: i64,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO oauth2_grants (client, flow, refresh_token, scopes, stored_at, refreshed_at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, 'active')",
    )?
    .execute(params![
        client,
        flow,
        refresh_token.map(Secret::expose),
        scopes,
        at
    ])?;
    Ok(conn.last_insert_rowid())
}

/// A refresh succeeded: the rotated refresh token (if the server gave one) replaces
/// the old, committed before the new access token is used. Returns false when the
/// row is no longer active (refused meanwhile).
pub fn refreshed(conn: &Connection, id: i64, rotated: Option<&Secret>, at: i64) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE oauth2_grants
             SET refresh_token = coalesce(?2, refresh_token), refreshed_at = ?3,
                 rotations = rotations + (?2 IS NOT NULL)
             WHERE id = ?1 AND state = 'active'",
        )?
        .execute(params![id, rotated.map(Secret::expose), at])?;
    Ok(n == 1)
}

/// The authorization server refused the grant for good (invalid_grant). The refresh
/// token is wiped: it will never work again.
pub fn refuse(conn: &Connection, id: i64, at: i64, reason: &str) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE oauth2_grants SET state = 'refused', refused_at = ?2, refused_reason = ?3,
                 refresh_token = NULL
             WHERE id = ?1 AND state = 'active'",
        )?
        .execute(params![id, at, reason])?;
    Ok(n == 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_replaces_the_token_and_a_refusal_wipes_it() {
        let conn = crate::store::memory().unwrap();
        assert!(latest(&conn, "app").unwrap().is_none());
        let first = Secret::new("rt-1".to_string());
        let id = insert(&conn, "app", "device", Some(&first), "a b", 10).unwrap();
        assert!(refreshed(&conn, id, Some(&Secret::new("rt-2".into())), 20).unwrap());
        assert!(refreshed(&conn, id, None, 30).unwrap());
        let g = latest(&conn, "app").unwrap().unwrap();
        assert_eq!(g.refresh_token.as_ref().unwrap().expose(), "rt-2");
        assert_eq!((g.refreshed_at, g.rotations), (Some(30), 1));
        assert!(
            !format!("{g:?}").contains("rt-"),
            "Debug never shows a token"
        );
        assert!(refuse(&conn, id, 40, "invalid_grant").unwrap());
        assert!(!refreshed(&conn, id, None, 50).unwrap());
        let g = latest(&conn, "app").unwrap().unwrap();
        assert!(g.refresh_token.is_none());
        assert_eq!(g.refused, Some((40, "invalid_grant".to_string())));
        assert!(latest(&conn, "other").unwrap().is_none());
        let id2 = insert(&conn, "app", "device", Some(&first), "a b", 60).unwrap();
        assert_eq!(latest_id(&conn, "app").unwrap(), Some(id2));
    }
}
