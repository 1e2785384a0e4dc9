//! The SQLite store: cases, every message taken in, the outbox and the mailbox
//! checkpoint. It is the one place state lives; everything that must survive a crash
//! is a row here before it is acted on.
//!
//! One connection, one writer. Async code reaches it through [`Db::call`], which runs
//! the closure on tokio's blocking pool so that SQLite never stalls a runtime worker.
//! A second connection only copies the WAL into the database, on a thread of its own
//! (see `wal`).
//! Times are Unix seconds (UTC) in INTEGER columns.

pub mod alerts;
pub mod cases;
pub mod corrections;
pub mod deadlines;
pub mod duplicates;
pub mod grants;
pub mod mailbox_state;
pub mod messages;
pub mod outbox;
mod readonly;
mod schema;
pub mod set_aside;
mod wal;

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use rusqlite::Connection;

pub use cases::{CaseRow, NewCase};
pub use mailbox_state::{Checkpoint, PendingMove};
pub use messages::{MessageRecord, Outcome};
pub use outbox::{NewOutgoing, OutboxRow, OutboxStats};

#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    /// `None` for a store in memory, which has no log.
    checkpointer: Option<Arc<wal::Checkpointer>>,
}

impl Db {
    /// Opens (creating if needed) and migrates the store.
    pub fn open(path: &Path) -> Result<Db> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("Cannot create the store folder {}", dir.display()))?;
        }
        let mut conn = Connection::open(path)
            .with_context(|| format!("Cannot open the store {}", path.display()))?;
        // A new store gives the pages that retention frees back to the file system
        // a few at a time (`PRAGMA incremental_vacuum` after each run,
        // records/retention.rs) instead of keeping them until a full VACUUM. SQLite
        // takes this only before the first table exists; a store created before it
        // keeps `auto_vacuum = NONE` until the administrator converts it (README,
        // "Records and personal data").
        let new: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
        if new == 0 {
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        }
        // WAL: readers (the `cases` command) never block the daemon's writer, and a
        // commit is one sequential write. synchronous=FULL keeps a commit durable
        // across power loss, which the mailbox checkpoint relies on.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Each message is taken in under a savepoint; its statement journal lives in
        // memory instead of a temporary file (it was an eighth of intake's time, all
        // pwrite(2) to /var/tmp). The savepoint is rolled back or released within the
        // batch, so nothing durable depends on it.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // 8 MiB of page cache, not 2: a large message is written into its row in
        // place (`messages::insert`), and with 2 MiB the zeroed pages of a 5 MB
        // message went out to the WAL and were read back to be overwritten. Intake
        // over the benchmark's full mix: 1,058-1,096 msg/s at 66-72 MiB before,
        // 1,281 msg/s at 73-82 MiB with it (medians of 3). It is a fixed bound: a
        // clock wake-up over a million deadlines fills it (a process holding 24 MiB
        // instead of 18), and no larger store grows it. Setting it only around each
        // intake batch was tried: the cache's pages were freed and allocated again
        // on whichever blocking thread ran the next batch, and intake peaked at
        // 81-96 MiB.
        conn.pragma_update(None, "cache_size", -8192)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Intake runs some forty distinct statements per message; rusqlite's default
        // cache of 16 evicted them in turn, and re-preparing cost 7% of intake.
        conn.set_prepared_statement_cache_capacity(128);
        schema::migrate(&mut conn)
            .with_context(|| format!("Cannot migrate the store {}", path.display()))?;
        let checkpointer = if path == Path::new(":memory:") {
            None
        } else {
            conn.pragma_update(None, "wal_autocheckpoint", wal::BACKSTOP_PAGES)?;
            Some(Arc::new(wal::Checkpointer::start(path)?))
        };
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            checkpointer,
        })
    }

    /// After each use of the connection: the log may have grown.
    fn checkpoint_later(&self) {
        if let Some(c) = &self.checkpointer {
            c.wake();
        }
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let conn = self.conn.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| anyhow!("The store lock is poisoned"))?;
            f(&mut guard)
        })
        .await
        .context("A store task failed")?;
        self.checkpoint_later();
        result
    }

    /// Runs `f` on the calling thread: for the command-line tools, which are not async.
    pub fn blocking<R>(&self, f: impl FnOnce(&mut Connection) -> Result<R>) -> Result<R> {
        let result = {
            let mut guard = self
                .conn
                .lock()
                .map_err(|_| anyhow!("The store lock is poisoned"))?;
            f(&mut guard)
        };
        self.checkpoint_later();
        result
    }
}

/// A LIKE pattern (with `ESCAPE '\'` in the SQL) for text containing `text` as it
/// is: its `%`, `_` and `\` are the text's, not wildcards.
pub fn like_containing(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The schema version of a store this binary has migrated (`PRAGMA user_version`).
pub fn schema_version() -> i64 {
    schema::known()
}

#[cfg(test)]
pub fn memory() -> Result<Connection> {
    let mut conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    schema::migrate(&mut conn)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn auto_vacuum(path: &Path) -> i64 {
        let conn = Connection::open(path).unwrap();
        conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_new_store_vacuums_incrementally_and_an_old_one_is_left_as_it_is() {
        let dir = std::env::temp_dir().join(format!("sb-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let new = dir.join("new.db");
        drop(Db::open(&new).unwrap());
        assert_eq!(auto_vacuum(&new), 2, "INCREMENTAL");

        // A store made before: tables exist, auto_vacuum NONE; opening does not try
        // (and could not) change it.
        let old = dir.join("old.db");
        Connection::open(&old)
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER)")
            .unwrap();
        drop(Db::open(&old).unwrap());
        assert_eq!(auto_vacuum(&old), 0, "NONE");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
