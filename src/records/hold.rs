//! Legal hold: a case under hold is never purged by retention, however old. Set and
//! lifted by the administrator (`switchboard cases hold`) or by reply (`Hold: yes` /
//! `Hold: no` from the case's department managers or the escalation contacts); each
//! change is an event on the case's timeline and an audit row.

use anyhow::{Result, bail};
use rusqlite::Connection;

/// What a hold command did.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    Set,
    Lifted,
    /// Already so: nothing written.
    Unchanged,
}

/// Sets (`on`) or lifts the hold on case `id`, as `actor` says, with `why` for the
/// timeline.
pub fn set(
    conn: &Connection,
    id: i64,
    on: bool,
    now: i64,
    actor: &str,
    why: &str,
) -> Result<Change> {
    let (number, held): (String, Option<i64>) = conn.query_row(
        "SELECT number, held_at FROM cases WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let change = match (on, held) {
        (true, Some(_)) | (false, None) => return Ok(Change::Unchanged),
        (true, None) => Change::Set,
        (false, Some(_)) => Change::Lifted,
    };
    conn.execute(
        "UPDATE cases SET held_at = ?2 WHERE id = ?1",
        rusqlite::params![id, on.then_some(now)],
    )?;
    let (kind, detail) = match change {
        Change::Set => (
            "hold",
            format!("legal hold set by {actor}{why}: kept from retention"),
        ),
        _ => ("hold_lifted", format!("legal hold lifted by {actor}{why}")),
    };
    crate::store::cases::add_event(conn, id, now, kind, &detail)?;
    super::audit::record(
        conn,
        now,
        if on { "hold.set" } else { "hold.lift" },
        actor,
        &number,
        &serde_json::json!({ "why": why.trim_start_matches([',', ' ']) }),
    )?;
    Ok(change)
}

/// `switchboard cases hold SB-… [--off]`.
pub fn command(conn: &mut Connection, number: &str, on: bool, now: i64) -> Result<String> {
    let number = number.trim().trim_matches(['[', ']']);
    let Some(id) = crate::store::cases::id_by_number(conn, number)? else {
        bail!("No case {number}");
    };
    let actor = format!("administrator ({})", whoami());
    let tx = conn.transaction()?;
    let change = set(&tx, id, on, now, &actor, ", from the command line")?;
    tx.commit()?;
    Ok(match change {
        Change::Set => {
            format!("{number}: under legal hold; retention keeps it until the hold is lifted.")
        }
        Change::Lifted => format!("{number}: legal hold lifted; retention applies to it again."),
        Change::Unchanged if on => format!("{number}: already under legal hold."),
        Change::Unchanged => format!("{number}: not under legal hold."),
    })
}

/// Who ran the command, for the audit trail: the login name, as sudo or the shell
/// leaves it.
pub fn whoami() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| format!("uid {}", unsafe_uid()))
}

fn unsafe_uid() -> u32 {
    // SAFETY: getuid(2) cannot fail and touches no memory.
    unsafe { libc::getuid() }
}
