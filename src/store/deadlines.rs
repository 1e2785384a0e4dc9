//! Deadlines and timers as rows (DESIGN.md, invariant 5): what is due when, what was
//! met, missed or cancelled, and what the clock did about it. The clock finds its
//! work through the partial index `timers_due`, so a wake-up costs the same with ten
//! open deadlines as with a million.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

pub struct NewDeadline<'a> {
    pub case_id: i64,
    pub milestone: &'a str,
    pub label: &'a str,
    pub department: &'a str,
    pub started_at: i64,
    pub due_at: i64,
}

impl NewDeadline<'_> {
    /// The row as written under `id`: what reading it back would give.
    pub fn row(&self, id: i64) -> DeadlineRow {
        DeadlineRow {
            id,
            case_id: self.case_id,
            milestone: self.milestone.to_string(),
            label: self.label.to_string(),
            department: self.department.to_string(),
            started_at: self.started_at,
            due_at: self.due_at,
            met_at: None,
            breached_at: None,
            cancelled_at: None,
            delay_reason: None,
            delay_at: None,
            delay_late: false,
        }
    }
}

/// A timer to write with [`insert_timers`].
pub struct NewTimer<'a> {
    pub kind: &'a str,
    pub case_id: Option<i64>,
    pub deadline_id: Option<i64>,
    pub fire_at: i64,
}

impl<'a> NewTimer<'a> {
    /// A deadline's timer of `kind`, firing at `at`.
    pub fn of(
        kind: &'a str,
        case_id: i64,
        deadline_id: i64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        NewTimer {
            kind,
            case_id: Some(case_id),
            deadline_id: Some(deadline_id),
            fire_at: at.timestamp(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadlineRow {
    pub id: i64,
    #[serde(skip)]
    pub case_id: i64,
    pub milestone: String,
    pub label: String,
    pub department: String,
    pub started_at: i64,
    pub due_at: i64,
    pub met_at: Option<i64>,
    pub breached_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub delay_reason: Option<String>,
    pub delay_at: Option<i64>,
    pub delay_late: bool,
}

impl DeadlineRow {
    pub fn is_open(&self) -> bool {
        self.met_at.is_none() && self.cancelled_at.is_none()
    }

    /// `met`, `met late`, `missed`, `cancelled` or `pending`, as of `now`.
    pub fn state(&self, now: i64) -> &'static str {
        match (self.met_at, self.cancelled_at) {
            (Some(m), _) if m <= self.due_at => "met",
            (Some(_), _) => "met late",
            (None, Some(_)) => "cancelled",
            (None, None) if self.breached_at.is_some() || now > self.due_at => "missed",
            (None, None) => "pending",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TimerRow {
    pub id: i64,
    pub kind: String,
    #[serde(skip)]
    pub case_id: Option<i64>,
    pub deadline_id: Option<i64>,
    pub fire_at: i64,
    pub fired_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    /// What firing did: to whom it went, or why nothing went.
    pub outcome: Option<String>,
}

const DEADLINE_COLUMNS: &str = "id, case_id, milestone, label, department, started_at, due_at, met_at, breached_at, cancelled_at, delay_reason, delay_at, delay_late";
const TIMER_COLUMNS: &str =
    "id, kind, case_id, deadline_id, fire_at, fired_at, cancelled_at, outcome";

fn deadline(r: &Row<'_>) -> rusqlite::Result<DeadlineRow> {
    Ok(DeadlineRow {
        id: r.get(0)?,
        case_id: r.get(1)?,
        milestone: r.get(2)?,
        label: r.get(3)?,
        department: r.get(4)?,
        started_at: r.get(5)?,
        due_at: r.get(6)?,
        met_at: r.get(7)?,
        breached_at: r.get(8)?,
        cancelled_at: r.get(9)?,
        delay_reason: r.get(10)?,
        delay_at: r.get(11)?,
        delay_late: r.get::<_, Option<i64>>(12)?.unwrap_or(0) != 0,
    })
}

fn timer(r: &Row<'_>) -> rusqlite::Result<TimerRow> {
    Ok(TimerRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        case_id: r.get(2)?,
        deadline_id: r.get(3)?,
        fire_at: r.get(4)?,
        fired_at: r.get(5)?,
        cancelled_at: r.get(6)?,
        outcome: r.get(7)?,
    })
}

pub fn insert(conn: &Connection, d: &NewDeadline<'_>) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO deadlines (case_id, milestone, label, department, started_at, due_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        d.case_id,
        d.milestone,
        d.label,
        d.department,
        d.started_at,
        d.due_at
    ])?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<DeadlineRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {DEADLINE_COLUMNS} FROM deadlines WHERE id = ?1"
        ))?
        .query_row([id], deadline)
        .optional()?)
}

/// Every deadline of a case, in the order they started.
pub fn for_case(conn: &Connection, case_id: i64) -> Result<Vec<DeadlineRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DEADLINE_COLUMNS} FROM deadlines WHERE case_id = ?1 ORDER BY started_at, id"
    ))?;
    let rows = stmt
        .query_map([case_id], deadline)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The deadlines of a case that are neither met nor cancelled.
pub fn open_for_case(conn: &Connection, case_id: i64) -> Result<Vec<DeadlineRow>> {
    Ok(for_case(conn, case_id)?
        .into_iter()
        .filter(DeadlineRow::is_open)
        .collect())
}

/// Deadlines of restricted cases are left out of everything that works on them or
/// counts them (`cases::list` says why).
pub const OF_UNRESTRICTED_CASES: &str =
    "case_id NOT IN (SELECT id FROM cases WHERE restricted_at IS NOT NULL)";

/// Every open deadline of every case (but the restricted ones): for recomputing after
/// a policy change, and the web view's at-risk list.
pub fn all_open(conn: &Connection) -> Result<Vec<DeadlineRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {DEADLINE_COLUMNS} FROM deadlines
         WHERE met_at IS NULL AND cancelled_at IS NULL AND {OF_UNRESTRICTED_CASES}
         ORDER BY case_id, id"
    ))?;
    let rows = stmt
        .query_map([], deadline)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Deadlines that started between `from` and `to` (but the restricted cases'): for
/// the report.
pub fn started_between(conn: &Connection, from: i64, to: i64) -> Result<Vec<DeadlineRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {DEADLINE_COLUMNS} FROM deadlines
         WHERE started_at >= ?1 AND started_at < ?2 AND {OF_UNRESTRICTED_CASES}
         ORDER BY department, milestone, id"
    ))?;
    let rows = stmt
        .query_map(params![from, to], deadline)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn mark_met(conn: &Connection, id: i64, at: i64) -> Result<()> {
    conn.prepare_cached("UPDATE deadlines SET met_at = ?2 WHERE id = ?1 AND met_at IS NULL")?
        .execute(params![id, at])?;
    cancel_timers_of(conn, id, at)
}

pub fn mark_breached(conn: &Connection, id: i64, at: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE deadlines SET breached_at = ?2 WHERE id = ?1 AND breached_at IS NULL",
    )?
    .execute(params![id, at])?;
    Ok(())
}

pub fn cancel(conn: &Connection, id: i64, at: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE deadlines SET cancelled_at = ?2 WHERE id = ?1 AND met_at IS NULL AND cancelled_at IS NULL",
    )?
    .execute(params![id, at])?;
    cancel_timers_of(conn, id, at)
}

/// A reassigned case takes its open deadlines to the new department.
pub fn reassign_open(conn: &Connection, case_id: i64, department: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE deadlines SET department = ?2
         WHERE case_id = ?1 AND met_at IS NULL AND cancelled_at IS NULL",
    )?
    .execute(params![case_id, department])?;
    Ok(())
}

pub fn set_due(conn: &Connection, id: i64, due_at: i64) -> Result<()> {
    conn.prepare_cached("UPDATE deadlines SET due_at = ?2 WHERE id = ?1")?
        .execute(params![id, due_at])?;
    Ok(())
}

pub fn set_delay(conn: &Connection, id: i64, reason: &str, at: i64, late: bool) -> Result<()> {
    conn.prepare_cached(
        "UPDATE deadlines SET delay_reason = ?2, delay_at = ?3, delay_late = ?4 WHERE id = ?1",
    )?
    .execute(params![id, reason, at, i64::from(late)])?;
    Ok(())
}

pub fn insert_timer(
    conn: &Connection,
    kind: &str,
    case_id: Option<i64>,
    deadline_id: Option<i64>,
    fire_at: i64,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO timers (kind, case_id, deadline_id, fire_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![kind, case_id, deadline_id, fire_at])?;
    Ok(conn.last_insert_rowid())
}

/// Several timers in one statement (a deadline's remind, breach and escalate): one
/// multi-row INSERT instead of one statement each.
pub fn insert_timers(conn: &Connection, timers: &[NewTimer<'_>]) -> Result<()> {
    if timers.is_empty() {
        return Ok(());
    }
    let values = vec!["(?, ?, ?, ?)"; timers.len()].join(", ");
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT INTO timers (kind, case_id, deadline_id, fire_at) VALUES {values}"
    ))?;
    let params: Vec<&dyn rusqlite::ToSql> = timers
        .iter()
        .flat_map(|t| {
            [
                &t.kind as &dyn rusqlite::ToSql,
                &t.case_id,
                &t.deadline_id,
                &t.fire_at,
            ]
        })
        .collect();
    stmt.execute(params.as_slice())?;
    Ok(())
}

/// Unfired timers of a deadline are cancelled when it is met, cancelled or recomputed.
pub fn cancel_timers_of(conn: &Connection, deadline_id: i64, at: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE timers SET cancelled_at = ?2
         WHERE deadline_id = ?1 AND fired_at IS NULL AND cancelled_at IS NULL",
    )?
    .execute(params![deadline_id, at])?;
    Ok(())
}

/// Unfired timers of these kinds on a case (the survey, when the case reopens).
pub fn cancel_case_timers(conn: &Connection, case_id: i64, kind: &str, at: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE timers SET cancelled_at = ?3
         WHERE case_id = ?1 AND kind = ?2 AND fired_at IS NULL AND cancelled_at IS NULL",
    )?
    .execute(params![case_id, kind, at])?;
    Ok(())
}

/// Timers due at `now`, earliest first.
pub fn due(conn: &Connection, now: i64, limit: u32) -> Result<Vec<TimerRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TIMER_COLUMNS} FROM timers
         WHERE fired_at IS NULL AND cancelled_at IS NULL AND fire_at <= ?1
         ORDER BY fire_at, id LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(params![now, limit], timer)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// When the clock next has work.
pub fn next_due(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT fire_at FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL
             ORDER BY fire_at LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?)
}

pub fn mark_fired(conn: &Connection, id: i64, at: i64, outcome: &str) -> Result<()> {
    conn.prepare_cached("UPDATE timers SET fired_at = ?2, outcome = ?3 WHERE id = ?1")?
        .execute(params![id, at, outcome])?;
    Ok(())
}

pub fn timers_for_case(conn: &Connection, case_id: i64) -> Result<Vec<TimerRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TIMER_COLUMNS} FROM timers WHERE case_id = ?1 ORDER BY fire_at, id"
    ))?;
    let rows = stmt
        .query_map([case_id], timer)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The pending timer of a kind that belongs to no case (the weekly digest).
pub fn pending_global(conn: &Connection, kind: &str) -> Result<Option<TimerRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TIMER_COLUMNS} FROM timers
             WHERE kind = ?1 AND case_id IS NULL AND fired_at IS NULL AND cancelled_at IS NULL
             ORDER BY fire_at LIMIT 1"
        ))?
        .query_row([kind], timer)
        .optional()?)
}

pub fn meta_get(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

pub fn meta_set(conn: &Connection, key: &str, value: &[u8]) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::store::cases::{NewCase, insert as insert_case};

    fn case(conn: &Connection) -> i64 {
        insert_case(
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
    fn timers_fire_in_order_and_once() {
        let conn = crate::store::memory().unwrap();
        let c = case(&conn);
        let d = insert(
            &conn,
            &NewDeadline {
                case_id: c,
                milestone: "analysis",
                label: "analysis",
                department: "logistics",
                started_at: 0,
                due_at: 100,
            },
        )
        .unwrap();
        let late = insert_timer(&conn, "breach", Some(c), Some(d), 100).unwrap();
        let early = insert_timer(&conn, "reminder", Some(c), Some(d), 75).unwrap();
        assert_eq!(next_due(&conn).unwrap(), Some(75));
        assert!(due(&conn, 74, 10).unwrap().is_empty());
        let ids: Vec<i64> = due(&conn, 100, 10).unwrap().iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![early, late]);
        mark_fired(&conn, early, 75, "to logistics@example.com").unwrap();
        assert_eq!(next_due(&conn).unwrap(), Some(100));
        mark_met(&conn, d, 90).unwrap();
        assert_eq!(next_due(&conn).unwrap(), None, "meeting cancels the rest");
        let row = get(&conn, d).unwrap().unwrap();
        assert_eq!(row.state(1000), "met");
    }

    #[test]
    fn states_as_people_read_them() {
        let mut d = DeadlineRow {
            id: 1,
            case_id: 1,
            milestone: "m".into(),
            label: "m".into(),
            department: "x".into(),
            started_at: 0,
            due_at: 100,
            met_at: None,
            breached_at: None,
            cancelled_at: None,
            delay_reason: None,
            delay_at: None,
            delay_late: false,
        };
        assert_eq!(d.state(50), "pending");
        assert_eq!(d.state(101), "missed");
        d.met_at = Some(120);
        assert_eq!(d.state(200), "met late");
        d.met_at = None;
        d.cancelled_at = Some(60);
        assert_eq!(d.state(200), "cancelled");
    }
}
