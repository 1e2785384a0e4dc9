//! `switchboard backup --to FILE`: a consistent copy of the store, taken with SQLite's
//! online backup API while the daemon runs, then checked before it takes the place of
//! anything.
//!
//! The copy is made in one backup step (`Backup::step(-1)`), which holds one read
//! transaction on the source: with the store in WAL mode the daemon's writer goes on
//! meanwhile, and the copy is the store as of the instant the step began — every case
//! committed before it, none half-written. (Copying page ranges in several steps
//! would restart from the beginning each time the daemon commits, sqlite.org/backup.html,
//! and under a busy intake might never finish.)

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags};

/// What the check of a finished copy found.
#[derive(Debug)]
pub struct Copy {
    pub path: PathBuf,
    pub bytes: u64,
    pub schema: i64,
    pub cases: i64,
    pub messages: i64,
}

/// Copies the store at `store` to `to`: into `to.partial` first, checked there
/// (`PRAGMA integrity_check`, the schema version), then renamed over `to`. A copy
/// that fails its check is left as `.partial` for inspection and `to` is untouched.
pub fn backup(store: &Path, to: &Path) -> Result<Copy> {
    let source = super::open_read_only(store)?;
    let mut partial = to.as_os_str().to_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    if partial.exists() {
        std::fs::remove_file(&partial)
            .with_context(|| format!("Cannot remove the old {}", partial.display()))?;
    }
    if let Some(dir) = to.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Cannot create the folder {}", dir.display()))?;
    }
    {
        let mut dest = Connection::open(&partial)
            .with_context(|| format!("Cannot create {}", partial.display()))?;
        let backup = rusqlite::backup::Backup::new(&source, &mut dest)?;
        // -1: every page in one step, under one read transaction (see the module doc).
        loop {
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => break,
                // The source was locked for a moment (a checkpoint resetting the WAL):
                // try again; the busy timeout bounds each try.
                rusqlite::backup::StepResult::Busy | rusqlite::backup::StepResult::Locked => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                rusqlite::backup::StepResult::More => {}
                _ => {}
            }
        }
    }
    drop(source);
    let copy = check(&partial)
        .with_context(|| format!("The copy {} failed its check", partial.display()))?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, to)
        .with_context(|| format!("Cannot move the copy to {}", to.display()))?;
    Ok(Copy {
        path: to.to_path_buf(),
        ..copy
    })
}

/// Checks a copy of the store: SQLite's own integrity check, and the schema version
/// this binary reads.
pub fn check(path: &Path) -> Result<Copy> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let findings: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if findings != ["ok"] {
        bail!("integrity_check: {}", findings.join("; "));
    }
    let schema: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = crate::store::schema_version();
    if schema != known {
        bail!("schema version {schema}, expected {known}");
    }
    let count = |table: &str| -> Result<i64> {
        Ok(conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    };
    Ok(Copy {
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path)?.len(),
        schema,
        cases: count("cases")?,
        messages: count("messages")?,
    })
}
