//! Numbered migrations, applied in order inside one transaction each; `user_version`
//! records how far a store has come. Never edit a shipped migration: add one.

use anyhow::{Result, bail};
use rusqlite::{Connection, OptionalExtension};

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
        -- Deferred: a quarantine release or an opened set-aside message replaces its
        -- ledger row under the same id within one transaction.
        of_message  INTEGER NOT NULL REFERENCES messages(id) DEFERRABLE INITIALLY DEFERRED,
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
    // 10: mail that is not a case is kept as `set_aside`. The outcome's CHECK
    // is part of the table, so the table is rebuilt (SQLite's "making other kinds of
    // table schema changes", https://www.sqlite.org/lang_altertable.html §7): a new
    // table with every column, the rows copied with their ids, the old one dropped,
    // the new one renamed, its index made again. `migrate` runs every migration with
    // foreign keys off and checks them before the commit, as that procedure asks.
    r#"
    CREATE TABLE messages_new (
        id          INTEGER PRIMARY KEY,
        dedup_key   TEXT NOT NULL UNIQUE,
        message_id  TEXT,
        mailbox     TEXT NOT NULL,
        uidvalidity INTEGER,
        uid         INTEGER,
        received_at INTEGER NOT NULL,
        sender      TEXT,
        subject     TEXT,
        outcome     TEXT NOT NULL CHECK (outcome IN ('case', 'follow_up', 'ignored', 'quarantined', 'set_aside')),
        case_id     INTEGER REFERENCES cases(id),
        reason      TEXT,
        raw         BLOB NOT NULL
    ) STRICT;
    INSERT INTO messages_new (id, dedup_key, message_id, mailbox, uidvalidity, uid,
                              received_at, sender, subject, outcome, case_id, reason, raw)
        SELECT id, dedup_key, message_id, mailbox, uidvalidity, uid,
               received_at, sender, subject, outcome, case_id, reason, raw
        FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_new RENAME TO messages;
    CREATE INDEX messages_case ON messages(case_id);
    CREATE INDEX messages_set_aside ON messages(outcome, id) WHERE outcome = 'set_aside';

    -- Each set-aside message in the daily list that named it: the list mail's
    -- Message-ID (outbox.message_id) and its line number, which an `Open: N` reply
    -- names. No REFERENCES on message_id: opening a message rewrites its ledger row
    -- under the same id (as a quarantine release does), and a reference would refuse
    -- the delete of that rewrite.
    CREATE TABLE set_aside_listed (
        message_id INTEGER PRIMARY KEY,
        list       TEXT NOT NULL,
        number     INTEGER NOT NULL,
        listed_at  INTEGER NOT NULL,
        UNIQUE (list, number)
    ) STRICT;
    "#,
    // 11: OAuth2 grants (src/oauth2.rs). `switchboard login` adds a row; the daemon
    // uses the newest row for the config's app (`client`), rotates its refresh token
    // in place, and marks it refused when the authorization server answers
    // invalid_grant. A refused row is kept: `check` and the alert name when and why.
    // No access token is stored: it lives an hour, in memory, and is got again.
    r#"
    CREATE TABLE oauth2_grants (
        id             INTEGER PRIMARY KEY,
        client         TEXT NOT NULL,
        flow           TEXT NOT NULL CHECK (flow IN ('device', 'client_credentials')),
        refresh_token  TEXT,
        scopes         TEXT NOT NULL,
        stored_at      INTEGER NOT NULL,
        refreshed_at   INTEGER,
        rotations      INTEGER NOT NULL DEFAULT 0,
        state          TEXT NOT NULL CHECK (state IN ('active', 'refused')),
        refused_at     INTEGER,
        refused_reason TEXT
    ) STRICT;
    CREATE INDEX oauth2_grants_client ON oauth2_grants(client, id);
    "#,
    // 12: a department's `Department:` or `Category:` that corrects where the rules
    // put a case, one row per change, with
    // the case's category and department after it and the rule that had decided, so
    // that a sender corrected twice the same way is routed that way next time and the
    // administrator sees which rules to change (`switchboard corrections`). The
    // sender's address is copied (lower-case): a new case looks its history up by it,
    // as it does the sender's earlier cases (`cases_sender`).
    r#"
    CREATE TABLE corrections (
        id            INTEGER PRIMARY KEY,
        case_id       INTEGER NOT NULL REFERENCES cases(id),
        at            INTEGER NOT NULL,
        sender        TEXT NOT NULL,
        by_address    TEXT NOT NULL,
        by_department TEXT NOT NULL,
        field         TEXT NOT NULL CHECK (field IN ('category', 'department')),
        from_value    TEXT NOT NULL,
        to_value      TEXT NOT NULL,
        category      TEXT NOT NULL,
        department    TEXT NOT NULL,
        rule          TEXT NOT NULL
    ) STRICT;
    CREATE INDEX corrections_sender ON corrections(sender, at);
    CREATE INDEX corrections_case ON corrections(case_id);
    CREATE INDEX cases_sender ON cases(sender, opened_at);
    "#,
    // 13: the parts a mail carries from the ledger message `original_key` — a
    // relayed reply's attachments, a follow-up's photos — as JSON
    // `[{"at": offset in content, "range": {"start", "end"} in the ledger's raw}]`,
    // so that their bytes are stored once, in the ledger (compose::pieces).
    r#"
    ALTER TABLE outbox ADD COLUMN splices TEXT;
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
    if current == known {
        return Ok(());
    }
    // A migration that rebuilds a table drops it: with foreign keys on, that would
    // check (and fail on) every row that refers to it. Off around the migrations
    // (it cannot change inside a transaction), and each checked before its commit.
    let enforced: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let migrated = run(conn, current);
    conn.pragma_update(None, "foreign_keys", enforced)?;
    migrated
}

fn run(conn: &mut Connection, current: i64) -> Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = broken {
            bail!(
                "Migration {} leaves rows of {table} referring to nothing",
                i + 1
            );
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rusqlite::Connection;

    use super::{MIGRATIONS, run};

    /// The rebuild of `messages` keeps every row with its id and its case, and the
    /// index, and then takes `set_aside`; a store of before it migrates with foreign
    /// keys on, as `Db::open` has them.
    #[test]
    fn the_messages_rebuild_keeps_rows_and_takes_set_aside() {
        let rebuild = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE messages_new"))
            .unwrap();
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        // The store as it was before the rebuild.
        {
            let tx = conn.transaction().unwrap();
            for sql in MIGRATIONS.iter().take(rebuild) {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", rebuild as i64)
                .unwrap();
            tx.commit().unwrap();
        }
        conn.execute_batch(
            "INSERT INTO cases (id, number, category, priority, department, status, sender,
                                subject, language, rules, opened_at, updated_at)
             VALUES (7, 'SB-2026-000007', 'complaint', 'normal', 'logistics', 'new',
                     'a@example.com', 's', 'en', '[]', 1, 1);
             INSERT INTO messages (id, dedup_key, mailbox, received_at, outcome, case_id, raw)
             VALUES (41, 'k41', 'INBOX', 5, 'case', 7, x'6869'),
                    (42, 'k42', 'INBOX', 6, 'ignored', NULL, x'');",
        )
        .unwrap();
        let bad = conn.execute(
            "INSERT INTO messages (dedup_key, mailbox, received_at, outcome, raw)
             VALUES ('k', 'INBOX', 1, 'set_aside', x'')",
            [],
        );
        assert!(bad.is_err(), "the old CHECK refuses set_aside");

        super::migrate(&mut conn).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let fk: bool = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert!(fk, "foreign keys are on again after the migrations");
        let rows: Vec<(i64, String, Option<i64>, Vec<u8>)> = conn
            .prepare("SELECT id, outcome, case_id, raw FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (41, "case".to_string(), Some(7), b"hi".to_vec()),
                (42, "ignored".to_string(), None, Vec::new()),
            ]
        );
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'messages'
                 AND name = 'messages_case'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 1);
        conn.execute(
            "INSERT INTO messages (dedup_key, mailbox, received_at, outcome, raw)
             VALUES ('k43', 'INBOX', 7, 'set_aside', x'')",
            [],
        )
        .unwrap();
        // The case reference still holds on the rebuilt table.
        assert!(
            conn.execute(
                "INSERT INTO messages (dedup_key, mailbox, received_at, outcome, case_id, raw)
                 VALUES ('k44', 'INBOX', 7, 'case', 999, x'')",
                [],
            )
            .is_err()
        );
        // Nothing left to do the second time.
        run(&mut conn, MIGRATIONS.len() as i64).unwrap();
    }
}
