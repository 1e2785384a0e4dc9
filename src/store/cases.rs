//! Cases, their numbers, the Message-IDs that thread into them, and their history.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

pub struct NewCase<'a> {
    pub prefix: &'a str,
    pub year: i32,
    pub category: &'a str,
    pub priority: &'a str,
    pub department: &'a str,
    pub sender: &'a str,
    pub sender_name: Option<&'a str>,
    pub subject: &'a str,
    pub language: &'a str,
    pub rules: &'a [String],
    pub at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseRow {
    #[serde(skip)]
    pub id: i64,
    /// The case number exactly as it appears inside the subject tag.
    pub case: String,
    pub category: String,
    pub priority: String,
    pub department: String,
    pub status: String,
    pub sender: String,
    pub sender_name: Option<String>,
    pub subject: String,
    pub language: String,
    pub rules: Vec<String>,
    pub opened_at: i64,
    pub updated_at: i64,
    pub message_ids: Vec<String>,
    /// The case this one follows on from (a customer's mail after the reopen window).
    pub parent: Option<String>,
    pub resolved_at: Option<i64>,
    pub satisfaction: Option<String>,
    /// Other departments the case involves besides `department`, the lead.
    pub involved: Vec<String>,
}

impl CaseRow {
    /// The lead department and the involved ones.
    pub fn departments(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.department.as_str()).chain(self.involved.iter().map(String::as_str))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub at: i64,
    pub kind: String,
    pub detail: String,
}

/// Opens a case with the next number of its year, `SB-2026-000123`.
pub fn insert(conn: &Connection, new: &NewCase<'_>) -> Result<(i64, String)> {
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO case_numbers (year, last) VALUES (?1, 1)
             ON CONFLICT (year) DO UPDATE SET last = last + 1
             RETURNING last",
        )?
        .query_row(params![new.year], |r| r.get(0))?;
    let number = format!("{}-{}-{seq:06}", new.prefix, new.year);
    conn.prepare_cached(
        "INSERT INTO cases (number, category, priority, department, status, sender, sender_name,
                            subject, language, rules, opened_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'new', ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    )?
    .execute(params![
        number,
        new.category,
        new.priority,
        new.department,
        new.sender,
        new.sender_name,
        new.subject,
        new.language,
        serde_json::to_string(new.rules)?,
        new.at,
    ])
    .with_context(|| format!("Cannot open case {number}"))?;
    Ok((conn.last_insert_rowid(), number))
}

pub fn id_by_number(conn: &Connection, number: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT id FROM cases WHERE number = ?1", [number], |r| {
            r.get(0)
        })
        .optional()?)
}

/// The case that any of these Message-IDs belongs to; the first one listed wins.
///
/// A Message-ID is the case's when it is one of the messages taken into it
/// (`message_ids`) or one of our own mails about it: those are found by the outbox
/// row that carries them, whose Message-ID is unique and indexed, so that a case's
/// mail writes no second row for it. (Stores from before that change keep rows for
/// their own mail in `message_ids` too; both are read.)
pub fn id_by_message_ids(conn: &Connection, ids: &[String]) -> Result<Option<i64>> {
    let mut taken_in =
        conn.prepare_cached("SELECT case_id FROM message_ids WHERE message_id = ?1")?;
    let mut ours = conn.prepare_cached(
        "SELECT case_id FROM outbox WHERE message_id = ?1 AND case_id IS NOT NULL",
    )?;
    for id in ids {
        if let Some(case) = taken_in.query_row([id], |r| r.get(0)).optional()? {
            return Ok(Some(case));
        }
        if let Some(case) = ours.query_row([id], |r| r.get(0)).optional()? {
            return Ok(Some(case));
        }
    }
    Ok(None)
}

pub fn add_message_id(conn: &Connection, message_id: &str, case_id: i64) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO message_ids (message_id, case_id) VALUES (?1, ?2)")?
        .execute(params![message_id, case_id])?;
    Ok(())
}

pub fn add_event(conn: &Connection, case_id: i64, at: i64, kind: &str, detail: &str) -> Result<()> {
    conn.prepare_cached("INSERT INTO events (case_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![case_id, at, kind, detail])?;
    // Only when it moves: a case's events mostly come at the time it was last
    // updated (opening a case writes five), and an UPDATE that changes nothing still
    // rewrites the row.
    conn.prepare_cached("UPDATE cases SET updated_at = ?2 WHERE id = ?1 AND updated_at < ?2")?
        .execute(params![case_id, at])?;
    Ok(())
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<CaseRow>> {
    let mut rows = query(conn, "WHERE id = ?1", params![id])?;
    Ok(rows.pop())
}

/// Every case, oldest first, but the restricted ones: a case that `privacy erase`
/// could not erase (held, or inside its retention period) is kept for storage only
/// (PIPL Art. 47, GDPR Art. 18), so no list, report, page or digest shows it. The
/// records commands (archive, retention, privacy) read it with their own queries.
pub fn list(conn: &Connection) -> Result<Vec<CaseRow>> {
    query(conn, &format!("WHERE {NOT_RESTRICTED}"), params![])
}

/// A case found by [`search`]: enough to decide who may see it.
pub struct Found {
    pub id: i64,
    /// The lead department, then the involved ones.
    pub departments: Vec<String>,
}

/// The cases whose number, subject, sender or sender's name contains `q` (any case
/// when `q` is empty; ASCII letters ignoring case), newest first, but the restricted
/// ones: light rows, for the web view's list to filter by who asks before it loads
/// the few it shows.
pub fn search(conn: &Connection, q: &str) -> Result<Vec<Found>> {
    let like = crate::store::like_containing(q);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, department,
                (SELECT group_concat(department, char(10)) FROM case_departments
                 WHERE case_id = cases.id)
         FROM cases
         WHERE {NOT_RESTRICTED}
           AND (?1 = '' OR number LIKE ?2 ESCAPE '\\' OR subject LIKE ?2 ESCAPE '\\'
                OR sender LIKE ?2 ESCAPE '\\' OR coalesce(sender_name, '') LIKE ?2 ESCAPE '\\')
         ORDER BY id DESC"
    ))?;
    let found = stmt
        .query_map(params![q, like], |r| {
            let lead: String = r.get(1)?;
            let involved: Option<String> = r.get(2)?;
            let mut departments = vec![lead];
            departments.extend(involved.iter().flat_map(|i| i.lines().map(str::to_string)));
            Ok(Found {
                id: r.get(0)?,
                departments,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(found)
}

/// The condition on `cases` that keeps restricted cases out.
pub const NOT_RESTRICTED: &str = "cases.restricted_at IS NULL";

/// Since when and why case `id` is restricted, if it is.
pub fn restriction(conn: &Connection, id: i64) -> Result<Option<(i64, String)>> {
    let row: Option<(Option<i64>, Option<String>)> = conn
        .prepare_cached("SELECT restricted_at, restricted_why FROM cases WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        Some((Some(at), why)) => Some((at, why.unwrap_or_default())),
        _ => None,
    })
}

/// How many cases are restricted: reports say so, so that their figures add up.
pub fn restricted_count(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM cases WHERE restricted_at IS NOT NULL")?
        .query_row([], |r| r.get(0))?)
}

fn query(conn: &Connection, filter: &str, args: impl rusqlite::Params) -> Result<Vec<CaseRow>> {
    let sql = format!(
        "SELECT id, number, category, priority, department, status, sender, sender_name,
                subject, language, rules, opened_at, updated_at,
                (SELECT p.number FROM cases p WHERE p.id = cases.parent_id), resolved_at,
                satisfaction
         FROM cases {filter} ORDER BY id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut cases = stmt
        .query_map(args, |r| {
            let rules: String = r.get(10)?;
            Ok(CaseRow {
                id: r.get(0)?,
                case: r.get(1)?,
                category: r.get(2)?,
                priority: r.get(3)?,
                department: r.get(4)?,
                status: r.get(5)?,
                sender: r.get(6)?,
                sender_name: r.get(7)?,
                subject: r.get(8)?,
                language: r.get(9)?,
                rules: serde_json::from_str(&rules).unwrap_or_default(),
                opened_at: r.get(11)?,
                updated_at: r.get(12)?,
                message_ids: Vec::new(),
                parent: r.get(13)?,
                resolved_at: r.get(14)?,
                satisfaction: r.get(15)?,
                involved: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut ids = conn
        .prepare_cached("SELECT message_id FROM message_ids WHERE case_id = ?1 ORDER BY rowid")?;
    let mut involved = conn.prepare_cached(
        "SELECT department FROM case_departments WHERE case_id = ?1 ORDER BY rowid",
    )?;
    for case in &mut cases {
        case.message_ids = ids
            .query_map([case.id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        case.involved = involved
            .query_map([case.id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(cases)
}

/// Cases not yet closed, of one category (or all), oldest first; not the restricted
/// ones (see [`list`]).
pub fn open(conn: &Connection, category: Option<&str>) -> Result<Vec<CaseRow>> {
    match category {
        Some(c) => query(
            conn,
            &format!("WHERE status <> 'closed' AND category = ?1 AND {NOT_RESTRICTED}"),
            params![c],
        ),
        None => query(
            conn,
            &format!("WHERE status <> 'closed' AND {NOT_RESTRICTED}"),
            params![],
        ),
    }
}

pub fn set_status(conn: &Connection, id: i64, status: &str) -> Result<()> {
    conn.prepare_cached("UPDATE cases SET status = ?2 WHERE id = ?1")?
        .execute(params![id, status])?;
    Ok(())
}

pub fn set_resolved_at(conn: &Connection, id: i64, at: Option<i64>) -> Result<()> {
    conn.prepare_cached("UPDATE cases SET resolved_at = ?2 WHERE id = ?1")?
        .execute(params![id, at])?;
    Ok(())
}

pub fn set_priority(conn: &Connection, id: i64, priority: &str) -> Result<()> {
    conn.prepare_cached("UPDATE cases SET priority = ?2 WHERE id = ?1")?
        .execute(params![id, priority])?;
    Ok(())
}

pub fn set_category(conn: &Connection, id: i64, category: &str) -> Result<()> {
    conn.prepare_cached("UPDATE cases SET category = ?2 WHERE id = ?1")?
        .execute(params![id, category])?;
    Ok(())
}

pub fn set_department(conn: &Connection, id: i64, department: &str) -> Result<()> {
    conn.prepare_cached("UPDATE cases SET department = ?2 WHERE id = ?1")?
        .execute(params![id, department])?;
    Ok(())
}

/// `None`: a reopened case asks again.
pub fn set_satisfaction(conn: &Connection, id: i64, answer: Option<&str>) -> Result<()> {
    conn.prepare_cached("UPDATE cases SET satisfaction = ?2 WHERE id = ?1")?
        .execute(params![id, answer])?;
    Ok(())
}

pub fn add_involved(conn: &Connection, id: i64, department: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO case_departments (case_id, department) VALUES (?1, ?2)",
    )?
    .execute(params![id, department])?;
    Ok(())
}

pub fn set_parent(conn: &Connection, id: i64, parent: i64) -> Result<()> {
    conn.prepare_cached("UPDATE cases SET parent_id = ?2 WHERE id = ?1")?
        .execute(params![id, parent])?;
    Ok(())
}

pub fn events(conn: &Connection, case_id: i64) -> Result<Vec<EventRow>> {
    let mut stmt = conn
        .prepare_cached("SELECT at, kind, detail FROM events WHERE case_id = ?1 ORDER BY at, id")?;
    let rows = stmt
        .query_map([case_id], |r| {
            Ok(EventRow {
                at: r.get(0)?,
                kind: r.get(1)?,
                detail: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The detail of the case's first event of this kind.
pub fn first_event_detail(conn: &Connection, case_id: i64, kind: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT detail FROM events WHERE case_id = ?1 AND kind = ?2 ORDER BY at, id LIMIT 1",
        )?
        .query_row(params![case_id, kind], |r| r.get(0))
        .optional()?)
}

/// When this event last happened on the case.
pub fn last_event_at(conn: &Connection, case_id: i64, kind: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT max(at) FROM events WHERE case_id = ?1 AND kind = ?2")?
        .query_row(params![case_id, kind], |r| r.get(0))?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn new_case(year: i32) -> NewCase<'static> {
        NewCase {
            prefix: "SB",
            year,
            category: "complaint",
            priority: "normal",
            department: "logistics",
            sender: "a@b.com",
            sender_name: None,
            subject: "late",
            language: "en",
            rules: &[],
            at: 0,
        }
    }

    #[test]
    fn numbers_count_up_per_year() {
        let conn = crate::store::memory().unwrap();
        assert_eq!(insert(&conn, &new_case(2026)).unwrap().1, "SB-2026-000001");
        assert_eq!(insert(&conn, &new_case(2026)).unwrap().1, "SB-2026-000002");
        assert_eq!(insert(&conn, &new_case(2027)).unwrap().1, "SB-2027-000001");
    }

    #[test]
    fn threads_by_message_id() {
        let conn = crate::store::memory().unwrap();
        let (id, number) = insert(&conn, &new_case(2026)).unwrap();
        add_message_id(&conn, "x@y", id).unwrap();
        assert_eq!(
            id_by_message_ids(&conn, &["nope".into(), "x@y".into()]).unwrap(),
            Some(id)
        );
        assert_eq!(id_by_number(&conn, &number).unwrap(), Some(id));
        assert_eq!(list(&conn).unwrap()[0].message_ids, vec!["x@y".to_string()]);
    }

    #[test]
    fn our_own_mail_about_a_case_threads_by_its_outbox_row() {
        let conn = crate::store::memory().unwrap();
        let (id, _) = insert(&conn, &new_case(2026)).unwrap();
        let queued = |message_id: &str, case_id: Option<i64>| {
            crate::store::outbox::insert(
                &conn,
                &crate::store::NewOutgoing {
                    case_id,
                    kind: "ack",
                    message_id,
                    envelope_from: "support@example.com",
                    recipients: &["a@b.example".to_string()],
                    content: b"",
                    original: None,
                    splices: None,
                    at: 0,
                },
            )
            .unwrap()
        };
        assert!(queued("ack.SB-2026-000001.0011@example.com", Some(id)));
        assert!(queued("digest.all.0022@example.com", None));
        assert_eq!(
            id_by_message_ids(&conn, &["ack.SB-2026-000001.0011@example.com".into()]).unwrap(),
            Some(id)
        );
        // Mail about no case (a digest) threads nothing.
        assert_eq!(
            id_by_message_ids(&conn, &["digest.all.0022@example.com".into()]).unwrap(),
            None
        );
        // Our own mail is not listed among the messages taken into the case.
        assert!(list(&conn).unwrap()[0].message_ids.is_empty());
    }

    #[test]
    fn search_matches_words_newest_first_with_departments_and_leaves_restricted_out() {
        let conn = crate::store::memory().unwrap();
        let (a, _) = insert(&conn, &new_case(2026)).unwrap();
        let (b, _) = insert(
            &conn,
            &NewCase {
                subject: "设备交付延迟 100%_done",
                sender_name: Some("李明"),
                ..new_case(2026)
            },
        )
        .unwrap();
        add_involved(&conn, b, "quality").unwrap();
        let ids =
            |q: &str| -> Vec<i64> { search(&conn, q).unwrap().iter().map(|f| f.id).collect() };
        assert_eq!(ids(""), vec![b, a]);
        assert_eq!(ids("交付"), vec![b]);
        assert_eq!(ids("李明"), vec![b]);
        assert_eq!(ids("LATE"), vec![a]);
        assert_eq!(ids("SB-2026-000001"), vec![a]);
        // LIKE's wildcards are the user's characters, not patterns.
        assert_eq!(ids("100%_"), vec![b]);
        assert!(ids("0%d").is_empty());
        assert_eq!(
            search(&conn, "交付").unwrap()[0].departments,
            vec!["logistics".to_string(), "quality".to_string()]
        );
        conn.execute("UPDATE cases SET restricted_at = 1 WHERE id = ?1", [b])
            .unwrap();
        assert_eq!(ids(""), vec![a]);
        assert_eq!(list(&conn).unwrap().len(), 1);
        assert_eq!(restricted_count(&conn).unwrap(), 1);
    }
}
