//! Deleting a row and everything that refers to it, found from the schema's own
//! foreign keys (`PRAGMA foreign_key_list`) rather than from a list kept here: a
//! table added by a later migration that refers to cases is purged with them, and a
//! case can never be half-deleted (the store runs with `foreign_keys = ON`, so a
//! forgotten reference would make the delete fail, not leave an orphan).

use anyhow::{Result, bail};
use rusqlite::Connection;
use rusqlite::types::Value;

/// A foreign key: `child.column` refers to `parent.target` (`None`: the rowid).
struct Reference {
    child: String,
    column: String,
    target: Option<String>,
}

fn references_to(conn: &Connection, parent: &str) -> Result<Vec<Reference>> {
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for child in tables {
        let mut stmt =
            conn.prepare("SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1)")?;
        let rows = stmt.query_map([&child], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        for row in rows {
            let (table, column, target) = row?;
            if table == parent {
                out.push(Reference {
                    child: child.clone(),
                    column,
                    target,
                });
            }
        }
    }
    Ok(out)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Deletes row `rowid` of `table` and, first, every row that refers to it: rows of
/// other tables are deleted the same way; a reference from the table to itself (a
/// case's parent) is cleared.
pub fn delete_row(conn: &Connection, table: &str, rowid: i64) -> Result<()> {
    delete_at_depth(conn, table, rowid, 0)
}

fn delete_at_depth(conn: &Connection, table: &str, rowid: i64, depth: usize) -> Result<()> {
    if depth > 8 {
        bail!("the references to {table} run deeper than this purge follows");
    }
    for r in references_to(conn, table)? {
        let target = r.target.as_deref().map_or("rowid".to_string(), quoted);
        let key: Value = conn.query_row(
            &format!("SELECT {target} FROM {} WHERE rowid = ?1", quoted(table)),
            [rowid],
            |row| row.get(0),
        )?;
        if r.child == table {
            conn.execute(
                &format!(
                    "UPDATE {t} SET {c} = NULL WHERE {c} = ?1",
                    t = quoted(table),
                    c = quoted(&r.column)
                ),
                [&key],
            )?;
            continue;
        }
        let children: Vec<i64> = conn
            .prepare(&format!(
                "SELECT rowid FROM {} WHERE {} = ?1",
                quoted(&r.child),
                quoted(&r.column)
            ))?
            .query_map([&key], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for child in children {
            delete_at_depth(conn, &r.child, child, depth + 1)?;
        }
    }
    conn.execute(
        &format!("DELETE FROM {} WHERE rowid = ?1", quoted(table)),
        [rowid],
    )?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::{MessageRecord, NewCase, cases, deadlines, messages};

    fn case(conn: &Connection) -> i64 {
        cases::insert(
            conn,
            &NewCase {
                prefix: "SB",
                year: 2026,
                category: "complaint",
                priority: "normal",
                department: "logistics",
                sender: "a@b.com",
                sender_name: None,
                subject: "late",
                language: "en",
                rules: &[],
                at: 0,
            },
        )
        .unwrap()
        .0
    }

    #[test]
    fn a_case_goes_with_every_row_that_refers_to_it_and_nothing_else() {
        let conn = crate::store::memory().unwrap();
        let (gone, kept) = (case(&conn), case(&conn));
        cases::set_parent(&conn, kept, gone).unwrap();
        cases::add_message_id(&conn, "m@x", gone).unwrap();
        cases::add_event(&conn, gone, 0, "opened", "").unwrap();
        cases::add_event(&conn, kept, 0, "opened", "").unwrap();
        cases::add_involved(&conn, gone, "design").unwrap();
        let mut m = MessageRecord::with_raw("k", b"Subject: x\r\n\r\nx\r\n");
        m.case_id = Some(gone);
        messages::insert(&conn, &m).unwrap();
        let d = deadlines::insert(
            &conn,
            &deadlines::NewDeadline {
                case_id: gone,
                milestone: "analysis",
                label: "analysis",
                department: "logistics",
                started_at: 0,
                due_at: 1,
            },
        )
        .unwrap();
        deadlines::insert_timer(&conn, "reminder", Some(gone), Some(d), 1).unwrap();
        deadlines::insert_timer(&conn, "digest", None, None, 1).unwrap();

        delete_row(&conn, "cases", gone).unwrap();
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM cases"), 1);
        assert_eq!(
            count("SELECT count(*) FROM cases WHERE parent_id IS NOT NULL"),
            0
        );
        assert_eq!(count("SELECT count(*) FROM messages"), 0);
        assert_eq!(count("SELECT count(*) FROM message_ids"), 0);
        assert_eq!(count("SELECT count(*) FROM events"), 1);
        assert_eq!(count("SELECT count(*) FROM deadlines"), 0);
        assert_eq!(count("SELECT count(*) FROM case_departments"), 0);
        assert_eq!(
            count("SELECT count(*) FROM timers"),
            1,
            "the digest timer stays"
        );
        assert_eq!(count("SELECT count(*) FROM pragma_foreign_key_check"), 0);
    }
}
