//! Numbered migrations, applied in order inside one transaction each; `user_version`
//! records how far a store has come. Never edit a shipped migration: add one.

use anyhow::{Result, bail};
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: the spine — cases, messages, threading ids, outbox, mailbox checkpoint.
    r#"
    CREATE TABLE cases (
        id          INTEGER PRIMARY KEY,
        number      TEXT NOT NULL UNIQUE,
        category    TEXT NOT NULL,
        priority    TEXT NOT NULL,
        department  TEXT NOT NULL,
        status      TEXT NOT NULL,
        sender      TEXT NOT NULL,
        sender_name TEXT,
        subject     TEXT NOT NULL,
        language    TEXT NOT NULL,
        rules       TEXT NOT NULL,
        opened_at   INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    ) STRICT;

    -- The last case number given out per year: numbers restart each January.
    CREATE TABLE case_numbers (
        year INTEGER PRIMARY KEY,
        last INTEGER NOT NULL
    ) STRICT;

    -- Every message ever taken in, raw, with what became of it.
    CREATE TABLE messages (
        id          INTEGER PRIMARY KEY,
        dedup_key   TEXT NOT NULL UNIQUE,
        message_id  TEXT,
        mailbox     TEXT NOT NULL,
        uidvalidity INTEGER,
        uid         INTEGER,
        received_at INTEGER NOT NULL,
        sender      TEXT,
        subject     TEXT,
        outcome     TEXT NOT NULL CHECK (outcome IN ('case', 'follow_up', 'ignored', 'quarantined')),
        case_id     INTEGER REFERENCES cases(id),
        reason      TEXT,
        raw         BLOB NOT NULL
    ) STRICT;
    CREATE INDEX messages_case ON messages(case_id);

    -- Every Message-ID that belongs to a case, incoming and outgoing: replies find
    -- their case through In-Reply-To and References.
    CREATE TABLE message_ids (
        message_id TEXT PRIMARY KEY,
        case_id    INTEGER NOT NULL REFERENCES cases(id)
    ) STRICT;

    -- What happened to a case, in order.
    CREATE TABLE events (
        id      INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        at      INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        detail  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX events_case ON events(case_id, at);

    -- Outgoing mail, written in the same transaction as the change that causes it.
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        case_id         INTEGER REFERENCES cases(id),
        kind            TEXT NOT NULL,
        message_id      TEXT NOT NULL UNIQUE,
        envelope_from   TEXT NOT NULL,
        recipients      TEXT NOT NULL,
        content         BLOB NOT NULL,
        created_at      INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        sent_at         INTEGER,
        failed_at       INTEGER,
        last_error      TEXT
    ) STRICT;
    CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
    CREATE INDEX outbox_recipient ON outbox(kind, recipients, created_at);

    -- How far intake has read each mailbox folder.
    CREATE TABLE mailbox_state (
        mailbox     TEXT PRIMARY KEY,
        uidvalidity INTEGER NOT NULL,
        last_uid    INTEGER NOT NULL
    ) STRICT;

    -- Moves decided in an intake transaction and not yet done on the server.
    CREATE TABLE pending_moves (
        id          INTEGER PRIMARY KEY,
        mailbox     TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        uid         INTEGER NOT NULL,
        target      TEXT NOT NULL,
        UNIQUE (mailbox, uidvalidity, uid)
    ) STRICT;
    "#,
    // 2: the clock — deadlines and the timers that remind, escalate, survey and digest;
    // the case's life after intake; a key for reply tokens.
    r#"
    UPDATE cases SET status = 'new' WHERE status = 'open';
    ALTER TABLE cases ADD COLUMN parent_id INTEGER REFERENCES cases(id);
    ALTER TABLE cases ADD COLUMN resolved_at INTEGER;
    ALTER TABLE cases ADD COLUMN satisfaction TEXT;
    ALTER TABLE cases ADD COLUMN policy TEXT;
    CREATE INDEX cases_status ON cases(status, category);

    -- One milestone of one case. `due_at` is recomputed when the policy changes;
    -- `breached_at` is set once, when the deadline passes unmet.
    CREATE TABLE deadlines (
        id           INTEGER PRIMARY KEY,
        case_id      INTEGER NOT NULL REFERENCES cases(id),
        milestone    TEXT NOT NULL,
        label        TEXT NOT NULL,
        department   TEXT NOT NULL,
        started_at   INTEGER NOT NULL,
        due_at       INTEGER NOT NULL,
        met_at       INTEGER,
        breached_at  INTEGER,
        cancelled_at INTEGER,
        delay_reason TEXT,
        delay_at     INTEGER,
        delay_late   INTEGER
    ) STRICT;
    CREATE INDEX deadlines_case ON deadlines(case_id, milestone);
    CREATE INDEX deadlines_due ON deadlines(due_at);

    -- Something the clock must do at a time: remind, breach (level 1), escalate
    -- (level 2), send the survey, close an unanswered survey, send the digest.
    -- Fired once: `fired_at` is committed with the mail it causes.
    CREATE TABLE timers (
        id           INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL,
        case_id      INTEGER REFERENCES cases(id),
        deadline_id  INTEGER REFERENCES deadlines(id),
        fire_at      INTEGER NOT NULL,
        fired_at     INTEGER,
        cancelled_at INTEGER,
        outcome      TEXT
    ) STRICT;
    CREATE INDEX timers_due ON timers(fire_at) WHERE fired_at IS NULL AND cancelled_at IS NULL;
    CREATE INDEX timers_case ON timers(case_id);
    CREATE INDEX timers_deadline ON timers(deadline_id);

    -- Small facts the daemon keeps: the reply-token key, the policy fingerprint.
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) STRICT;
    "#,
    // 3: alerts to the administrator, each raised once per key and window; addresses
    // whose mail bounced, which get no automatic mail for a while.
    r#"
    CREATE TABLE alerts (
        id        INTEGER PRIMARY KEY,
        key       TEXT NOT NULL,
        raised_at INTEGER NOT NULL,
        title      TEXT NOT NULL,
        detail     TEXT NOT NULL,
        cleared_at INTEGER
    ) STRICT;
    CREATE INDEX alerts_key ON alerts(key, raised_at);

    CREATE TABLE suppressions (
        address TEXT PRIMARY KEY,
        until   INTEGER NOT NULL,
        reason  TEXT NOT NULL
    ) STRICT;
    "#,
    // 4: the other departments a case involves (a collaboration request asks several);
    // the lead is cases.department.
    r#"
    CREATE TABLE case_departments (
        case_id    INTEGER NOT NULL REFERENCES cases(id),
        department TEXT NOT NULL,
        PRIMARY KEY (case_id, department)
    ) STRICT;
    "#,
    // 5: a case's Message-IDs by case: cases::get reads them for every case it loads.
    "CREATE INDEX message_ids_case ON message_ids(case_id);",
    // 6: when the administrator was told that an outgoing mail failed for good (set in
    // the transaction that raises that alert, so each failure is reported once).
    // Failures from before this migration are reported too, at the first chance: the
    // administrator never heard of them.
    r#"
    ALTER TABLE outbox ADD COLUMN reported_at INTEGER;
    CREATE INDEX outbox_unreported ON outbox(failed_at)
        WHERE failed_at IS NOT NULL AND reported_at IS NULL;
    "#,
    // 7: a case record's original is kept once, in the ledger: the outbox row names it
    // (messages.dedup_key) and the offset in `content` where its bytes go when sent.
    // Rows from before keep the whole mail in `content`.
    r#"
    ALTER TABLE outbox ADD COLUMN original_key TEXT;
    ALTER TABLE outbox ADD COLUMN original_at INTEGER;
    "#,
    // 8: every sighting of a message seen before (a copy in another folder or under a
    // new UIDVALIDITY, a resend with the same Message-ID and sender), so that every
    // UID taken in is accounted for. `raw` holds the bytes only when they differ from
    // the ledger row's (a careless mailer reusing a Message-ID): nothing is lost.
    r#"
    CREATE TABLE duplicates (
        id          INTEGER PRIMARY KEY,
        of_message  INTEGER NOT NULL REFERENCES messages(id),
        mailbox     TEXT NOT NULL,
        uidvalidity INTEGER,
        uid         INTEGER,
        seen_at     INTEGER NOT NULL,
        sha256      TEXT NOT NULL,
        reason      TEXT NOT NULL,
        raw         BLOB,
        UNIQUE (mailbox, uidvalidity, uid)
    ) STRICT;
    CREATE INDEX duplicates_of ON duplicates(of_message);
    "#,
    // 9: records (src/records.rs): a legal hold keeps a case from retention while set;
    // every retention run and hold is an audit row (who, when, what), kept when the
    // cases it names are gone.
    // A restricted case (privacy erase could not erase it: held, or inside its
    // retention period) is kept for storage only, with the reason.
    r#"
    ALTER TABLE cases ADD COLUMN held_at INTEGER;
    ALTER TABLE cases ADD COLUMN restricted_at INTEGER;
    ALTER TABLE cases ADD COLUMN restricted_why TEXT;
    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY,
        at      INTEGER NOT NULL,
        action  TEXT NOT NULL,
        actor   TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail  TEXT NOT NULL
    ) STRICT;
    "#,
];

/// The schema version this binary writes: what `user_version` says after `migrate`.
pub fn known() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        bail!(
            "The store was written by a newer Switchboard (schema {current}, this one knows {known})"
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
