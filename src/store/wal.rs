//! WAL checkpoints on a thread of their own.
//!
//! In WAL mode a commit appends its pages to the log, and a checkpoint copies them
//! into the database file. SQLite runs that copy in the connection that commits, once
//! the log is past `wal_autocheckpoint` pages, so the writer spends about as long
//! copying as it did writing. Intake's writer is the slowest stage of its pipeline (a
//! backlog's raw messages are most of what it writes): the copy runs here instead, on
//! a second connection, after the store was used (at most every CHECKPOINT_EVERY).
//! The writer's own checkpoint stays as a backstop, at a higher threshold, for when
//! this thread falls behind.
//!
//! A PASSIVE checkpoint never waits for or blocks the writer or readers, and SQLite
//! keeps the database consistent if the process stops in the middle of one.

use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::Connection;

/// At most one checkpoint in this time. The store is used after every mail sent,
/// and a checkpoint that copies anything syncs the database file: one per mail would
/// be an fsync per mail on a real disk. Every 100 ms keeps the log to a few intake
/// batches. (On the benchmark's tmpfs sending measured the same either way.)
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The writer checkpoints by itself only when the log is past this many pages
/// (128 MiB at 4 KiB pages): well above what one intake batch writes.
pub const BACKSTOP_PAGES: i64 = 32 * 1024;

pub struct Checkpointer {
    wake: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the thread, with its own connection to the store at `path`. It ends
    /// when the checkpointer is dropped (within CHECKPOINT_EVERY).
    pub fn start(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open(path)
            .with_context(|| format!("Cannot open the store {} for checkpoints", path.display()))?;
        // One pending wake-up is enough: a checkpoint copies everything committed
        // before it starts.
        let (wake, woken) = sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    // (busy, frames in the log, frames copied); a failure is retried
                    // at the next wake-up, and the writer's backstop remains.
                    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                    });
                    match result {
                        Ok((log, copied)) => tracing::trace!(log, copied, "WAL checkpoint"),
                        Err(e) => tracing::debug!("A WAL checkpoint failed: {e}"),
                    }
                    // Wake-ups meanwhile leave one pending: the next checkpoint
                    // takes all they asked for.
                    std::thread::sleep(CHECKPOINT_EVERY);
                }
            })
            .context("Cannot start the store's checkpoint thread")?;
        Ok(Checkpointer { wake })
    }

    /// Asks for a checkpoint: after the store was used, there may be a log to copy.
    pub fn wake(&self) {
        // Full means one is already pending; disconnected cannot happen while `self`
        // holds the sender, and would only mean no background checkpoints.
        let _ = self.wake.try_send(());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::store::Db;

    /// Pages reach the database file only through a checkpoint; with the writer's own
    /// at 32,768 pages, a 4 MB write gets there only if this thread copies it.
    #[test]
    fn a_write_reaches_the_database_file_without_the_writer_checkpointing() {
        let dir = std::env::temp_dir().join(format!("sb-wal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("store.sqlite");
        let db = Db::open(&path).unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        db.blocking(|c| {
            c.execute_batch("CREATE TABLE big (b BLOB)")?;
            c.execute("INSERT INTO big VALUES (zeroblob(4000000))", [])?;
            Ok(())
        })
        .unwrap();
        let started = Instant::now();
        let mut size = before;
        while size < before + 4_000_000 && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
            size = std::fs::metadata(&path).unwrap().len();
        }
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            size >= before + 4_000_000,
            "the database file is {size} bytes (was {before}): nothing was checkpointed"
        );
    }
}
