//! A read-only connection to the daemon's store, for the web view: SQLite itself
//! refuses every write on it (SQLITE_OPEN_READ_ONLY), so no page can change a case
//! whatever its code does. WAL lets it read while the daemon writes.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};

use super::Db;

impl Db {
    /// Opens an existing store for reading only; no migration, no checkpoints.
    pub fn open_read_only(path: &Path) -> Result<Db> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("Cannot open the store {} to read", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            checkpointer: None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refuses_writes() {
        let dir = std::env::temp_dir().join(format!("sb-ro-{}", std::process::id()));
        let path = dir.join("s.db");
        let writer = Db::open(&path).unwrap();
        let reader = Db::open_read_only(&path).unwrap();
        let n: i64 = reader
            .blocking(|c| Ok(c.query_row("SELECT count(*) FROM cases", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 0);
        let write = reader.blocking(|c| Ok(c.execute("DELETE FROM cases", [])?));
        assert!(write.is_err());
        drop(writer);
        let _ = std::fs::remove_dir_all(dir);
    }
}
