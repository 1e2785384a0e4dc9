//! Records kept as the handbook and the law ask: a case exported as a BagIt bag that
//! anyone can verify (`archive`, `bagit`, `tar`); retention that archives before it
//! deletes, and legal hold (`retention`, `purge`, `hold`); a person's data as one bag
//! (`privacy`); the trail of all of it (`audit`); and a consistent copy of the store
//! taken while the daemon runs (`backup`).
//!
//! Exports and backups read the store through a read-only connection of their own,
//! never through the daemon's writer: they change nothing, and the daemon goes on
//! taking mail in meanwhile (WAL readers do not block the writer). Retention, holds
//! and audit rows write, through the store's one writer ([`crate::store::Db`]).

pub mod archive;
pub mod audit;
pub mod backup;
pub mod bagit;
pub mod commands;
pub mod erase;
pub mod hold;
pub mod privacy;
mod purge;
pub mod retention;
mod tar;

use std::path::Path;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags};

/// The store at `path`, opened read-only: the file is never created, migrated or
/// written. A store of another schema than this binary's is refused, since the
/// queries below assume this one.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.exists() {
        bail!("No store at {} yet: run the daemon first", path.display());
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("Cannot open the store {} read-only", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = crate::store::schema_version();
    if version != known {
        bail!(
            "The store {} has schema {version}; this Switchboard reads schema {known} (run the daemon once to migrate it)",
            path.display()
        );
    }
    Ok(conn)
}
