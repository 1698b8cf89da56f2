//! The embedded SQLite backend (the default store, a file under `--data-dir`).
//!
//! WAL journal with `synchronous = FULL`: a commit is on disk before the writer answers, so a 2xx
//! survives a kill -9 and a power cut. Group commit (see [`crate::pipeline`]) keeps that affordable.
//! Migrations are versioned in code and tracked with `PRAGMA user_version`.

use super::{
    Backend, BatchRecord, CapacityFilter, CapacityRecord, ChangeFilter, ChangeRecord, Claim,
    ColdRow, Durability, Finish, HistoryRow, HostRecord, IncidentFilter, IncidentSave,
    NewNotification, NotificationFilter, NotificationRecord, NoveltyRecord, OpeningRecord,
    ProblemRecord, QueuedNotification, Reader, Recorded, SilenceRecord, StateChange, StoreError,
    is_newer,
};
use crate::incidents::{Incident, parse_id};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};
use std::path::Path;
use std::sync::Mutex;
use vigil_shared::labels::Labels;

/// Schema migrations, applied in order; entry `i` moves the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: hosts with their last accepted sequence position and inventory.
    "CREATE TABLE hosts (
        host_id TEXT PRIMARY KEY NOT NULL,
        hostname TEXT NOT NULL,
        agent_version TEXT NOT NULL,
        labels TEXT NOT NULL,
        stream INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        inventory TEXT
    ) STRICT;",
    // 2: incidents (the whole record with its timeline as JSON, plus the columns the API filters
    // on) and the ids of accepted generic events. No full index on `fingerprint` or `state`:
    // their random keys made opening an incident cost 2.5× as much (10.9 → 4.3 µs per insert,
    // measured); the incidents that are not closed are loaded into memory at start, and
    // migration 4 adds the partial unique index that backs the one-active rule.
    "CREATE TABLE incidents (
        id TEXT PRIMARY KEY NOT NULL,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        priority INTEGER NOT NULL,
        host TEXT,
        hosts TEXT NOT NULL,
        opened_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        data TEXT NOT NULL
    ) STRICT;
    CREATE TABLE event_ids (
        event_id TEXT PRIMARY KEY NOT NULL,
        at_ms INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX event_ids_by_time ON event_ids (at_ms);",
    // 3: change records (deploys, maintenance, inventory drift).
    "CREATE TABLE changes (
        id TEXT PRIMARY KEY NOT NULL,
        kind TEXT NOT NULL,
        hosts TEXT NOT NULL,
        starts_ms INTEGER NOT NULL,
        data TEXT NOT NULL
    ) STRICT;
    CREATE INDEX changes_by_time ON changes (starts_ms);",
    // 4: the database, not only the single writer, holds "at most one active incident per
    // fingerprint". Partial: only open and acknowledged rows are in it, so it stays small.
    "CREATE UNIQUE INDEX incidents_one_active ON incidents (fingerprint)
        WHERE state IN ('open', 'acknowledged');",
    // 5: the notification outbox (see `outbox.rs`): one row per (incident change, sink), written
    // with the change. The waiting index holds only unfinished rows; rows of one incident and
    // sink are found in id order by the second.
    "CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id TEXT NOT NULL,
        sink TEXT NOT NULL,
        step TEXT NOT NULL,
        level INTEGER NOT NULL,
        change_no INTEGER NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        due_ms INTEGER NOT NULL,
        next_attempt_ms INTEGER NOT NULL,
        give_up_ms INTEGER NOT NULL,
        claimed_by TEXT,
        claimed_until_ms INTEGER,
        sent_ms INTEGER,
        last_error TEXT
    ) STRICT;
    CREATE INDEX outbox_waiting ON outbox (next_attempt_ms) WHERE state IN ('pending', 'failed');
    CREATE INDEX outbox_by_incident ON outbox (incident_id, sink, id);
    CREATE INDEX outbox_finished ON outbox (created_ms) WHERE state IN ('sent', 'dead', 'cancelled');",
    // 6: silences and maintenance windows (the record as JSON, plus its window).
    "CREATE TABLE silences (
        id TEXT PRIMARY KEY NOT NULL,
        starts_ms INTEGER NOT NULL,
        ends_ms INTEGER NOT NULL,
        data TEXT NOT NULL
    ) STRICT;
    CREATE INDEX silences_by_end ON silences (ends_ms);",
    // 7: capacity: each series' latest forecast (JSON) and its downsampled history (a blob).
    "CREATE TABLE capacity (
        host_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        exhaustion_ms INTEGER,
        data TEXT NOT NULL,
        PRIMARY KEY (host_id, resource)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE series_history (
        host_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        saved_ms INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (host_id, resource)
    ) STRICT;",
    // 8: problem records (the record as JSON, plus its fingerprint and state: at most one that
    // is not resolved per fingerprint) and the incidents each links.
    "CREATE TABLE problems (
        id TEXT PRIMARY KEY NOT NULL,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        data TEXT NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX problems_one_active ON problems (fingerprint)
        WHERE state IN ('open', 'known_error');
    CREATE TABLE problem_incidents (
        problem_id TEXT NOT NULL,
        incident_id TEXT NOT NULL,
        PRIMARY KEY (problem_id, incident_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX problem_incidents_by_incident ON problem_incidents (incident_id);",
    // 9: the availability history: up/down changes per host and per probe (`availability`).
    "CREATE TABLE state_changes (
        kind TEXT NOT NULL,
        host TEXT NOT NULL,
        probe TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        up INTEGER,
        service TEXT NOT NULL,
        PRIMARY KEY (kind, host, probe, at_ms)
    ) STRICT, WITHOUT ROWID;",
    // 10: the cold parts of series histories (hour means older than a collector holds).
    "CREATE TABLE series_cold (
        host_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        first_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (host_id, resource, first_ms)
    ) STRICT;",
    // 11: novelty paging's per-fingerprint records (they outlive the incidents).
    "CREATE TABLE novelty (
        fingerprint TEXT PRIMARY KEY,
        last_firing_ms INTEGER NOT NULL,
        past_ms REAL NOT NULL,
        past_at_ms INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;",
];

/// Forgets history rows before `$1` that a later row before `$1` makes unneeded.
pub(crate) const PRUNE_STATE_CHANGES: &str = "DELETE FROM state_changes
     WHERE at_ms < $1 AND EXISTS (
        SELECT 1 FROM state_changes later
        WHERE later.kind = state_changes.kind AND later.host = state_changes.host
          AND later.probe = state_changes.probe
          AND later.at_ms > state_changes.at_ms AND later.at_ms <= $1)";

/// The availability history from a time on: each subject's last change before it, then every
/// change after (both backends run the same statement).
pub(crate) const STATE_CHANGES_SINCE: &str =
    "SELECT c.kind, c.host, c.probe, c.service, c.at_ms, c.up
     FROM state_changes c
     JOIN (SELECT kind, host, probe, MAX(at_ms) AS at_ms FROM state_changes
           WHERE at_ms < $1 GROUP BY kind, host, probe) latest
       ON c.kind = latest.kind AND c.host = latest.host AND c.probe = latest.probe
      AND c.at_ms = latest.at_ms
     UNION ALL
     SELECT kind, host, probe, service, at_ms, up FROM state_changes WHERE at_ms >= $1
     ORDER BY 1, 2, 3, 5";

/// SQLite implementation of [`Backend`].
pub struct SqliteBackend {
    connection: Connection,
    /// The open transaction was begun deferred with `synchronous = FULL` configured: it commits
    /// under `NORMAL`, and `FULL` is set again after it.
    deferred: bool,
    /// Dropping it stops the checkpointer thread.
    _checkpointer: Option<std::sync::mpsc::Sender<()>>,
}

/// How often the checkpointer copies the WAL into the database file. Once a second: in an
/// incident storm every commit dirties pages all over the one-active index, and a page changed
/// by many commits is copied once per checkpoint (4× less often than at 250 ms); the WAL stays
/// at a few MB.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(1_000);

/// Copies committed WAL frames into the database file on its own connection and thread
/// (`PRAGMA wal_checkpoint(PASSIVE)`: never blocks the writer), so commits never stall on a
/// checkpoint (SQLite's automatic checkpoint runs inside the committing call).
fn start_checkpointer(path: &Path) -> Option<std::sync::mpsc::Sender<()>> {
    let connection = match Connection::open(path) {
        Ok(connection) => connection,
        Err(error) => {
            tracing::warn!(error = %error, "no checkpointer connection: SQLite checkpoints inline");
            return None;
        }
    };
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("vigil-checkpoint".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                if let Err(error) =
                    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::warn!(error = %error, "WAL checkpoint failed");
                }
            }
            let _ = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        });
    match spawned {
        Ok(_) => Some(stop),
        Err(error) => {
            tracing::warn!(error = %error, "no checkpointer thread: SQLite checkpoints inline");
            None
        }
    }
}

impl SqliteBackend {
    /// Sets `synchronous = FULL` again after a deferred transaction. If that fails, the flag
    /// stays and the next ordinary `begin` tries again and fails rather than commit unsynced.
    fn end_deferred(&mut self) {
        if self.deferred {
            match self.connection.pragma_update(None, "synchronous", "FULL") {
                Ok(()) => self.deferred = false,
                Err(error) => {
                    tracing::error!(error = %error, "store: synchronous = FULL not restored")
                }
            }
        }
    }

    /// Opens (creating if needed) the database at `path` and migrates it, fsync on every commit.
    pub fn open(path: &Path) -> Result<SqliteBackend, StoreError> {
        SqliteBackend::open_with(path, Durability::Full)
    }

    /// Opens with the given sync mode.
    pub fn open_with(path: &Path, sync: Durability) -> Result<SqliteBackend, StoreError> {
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            location: path.display().to_string(),
            reason: source.to_string(),
        };
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| open_error(Box::new(error)))?;
        }
        let connection = Connection::open(path).map_err(|error| open_error(Box::new(error)))?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|error| open_error(Box::new(error)))?;
        let synchronous = match sync {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        connection.pragma_update(None, "synchronous", synchronous)?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mut backend = SqliteBackend {
            connection,
            deferred: false,
            _checkpointer: None,
        };
        backend.migrate()?;
        backend._checkpointer = start_checkpointer(path);
        if backend._checkpointer.is_some() {
            backend
                .connection
                .pragma_update(None, "wal_autocheckpoint", 0)?;
        }
        Ok(backend)
    }

    /// A store in memory, gone with the process: the replay's throwaway store. Nothing of it has
    /// to survive, and nothing is ever rolled back: the replay ends at its first failed group. So
    /// it keeps no rollback journal at all (copying every page a transaction touches into one
    /// was a tenth of a replay's time), and larger pages (see below).
    pub fn in_memory() -> Result<SqliteBackend, StoreError> {
        let connection = Connection::open_in_memory().map_err(|error| StoreError::Open {
            location: ":memory:".to_owned(),
            reason: error.to_string(),
        })?;
        // An in-memory database's page cache is all of it, and every commit's cache truncation
        // walks the cache's hash table: with 4 KiB pages that cost grew with the month replayed
        // (15.3 s for 200,000 events, 9.3 s with 16 KiB pages, the same output).
        connection.pragma_update(None, "page_size", 16_384)?;
        connection.pragma_update(None, "journal_mode", "OFF")?;
        connection.pragma_update(None, "synchronous", "OFF")?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mut backend = SqliteBackend {
            connection,
            deferred: false,
            _checkpointer: None,
        };
        backend.migrate()?;
        Ok(backend)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .connection
            .pragma_query_value(None, "user_version", |row| row.get(0))?;
        super::check_schema_version(version, MIGRATIONS.len())?;
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let transaction = self.connection.transaction()?;
            transaction.execute_batch(sql)?;
            transaction.pragma_update(None, "user_version", index as i64 + 1)?;
            transaction.commit()?;
            tracing::info!(version = index + 1, "store schema migrated");
        }
        Ok(())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        match &error {
            rusqlite::Error::SqliteFailure(code, _)
                if code.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Conflict {
                    reason: error.to_string(),
                }
            }
            rusqlite::Error::SqliteFailure(code, _)
                if matches!(
                    code.code,
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::CannotOpen
                ) =>
            {
                StoreError::Unavailable {
                    reason: error.to_string(),
                }
            }
            _ => StoreError::Database {
                reason: error.to_string(),
            },
        }
    }
}

fn labels_to_json(labels: &Labels) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".to_owned())
}

fn incident_from_json(id: &str, data: &str) -> Result<Incident, StoreError> {
    serde_json::from_str(data).map_err(|error| StoreError::Corrupt {
        id: id.to_owned(),
        reason: error.to_string(),
    })
}

/// Statements kept prepared per connection. Above the number this file prepares with
/// `prepare_cached` (about 40): rusqlite's default of 16 made a group's statements evict each
/// other, so most were compiled again on every use.
const STATEMENT_CACHE: usize = 128;

impl Backend for SqliteBackend {
    fn load_hosts(&mut self) -> Result<Vec<HostRecord>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT host_id, hostname, agent_version, labels, stream, seq, first_seen_ms,
                    last_seen_ms, inventory FROM hosts ORDER BY host_id",
        )?;
        let rows = statement.query_map([], |row| {
            let labels: String = row.get(3)?;
            Ok(HostRecord {
                host_id: row.get(0)?,
                hostname: row.get(1)?,
                agent_version: row.get(2)?,
                labels: serde_json::from_str(&labels).unwrap_or_default(),
                stream: row.get::<_, i64>(4)? as u64,
                seq: row.get::<_, i64>(5)? as u64,
                first_seen_ms: row.get(6)?,
                last_seen_ms: row.get(7)?,
                inventory_json: row.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn load_incidents(&mut self) -> Result<(Vec<Incident>, u64), StoreError> {
        let max_id: Option<String> =
            self.connection
                .query_row("SELECT max(id) FROM incidents", [], |row| row.get(0))?;
        let mut statement = self
            .connection
            .prepare("SELECT id, data FROM incidents WHERE state != 'closed' ORDER BY id")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut incidents = Vec::new();
        for row in rows {
            let (id, data) = row?;
            incidents.push(incident_from_json(&id, &data)?);
        }
        Ok((incidents, max_id.as_deref().and_then(parse_id).unwrap_or(0)))
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        if self.deferred {
            self.connection.pragma_update(None, "synchronous", "FULL")?;
            self.deferred = false;
        }
        self.connection.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    /// Under `FULL`, the commit runs under `NORMAL`: the WAL frames are written but not synced;
    /// the next `FULL` commit's fsync (or the checkpointer's, within a second) takes them to
    /// disk. WAL recovery keeps commits in order and drops a torn tail whole.
    fn begin_deferred(&mut self) -> Result<(), StoreError> {
        let synchronous: i64 = self
            .connection
            .pragma_query_value(None, "synchronous", |row| row.get(0))?;
        // 2 = FULL, 3 = EXTRA: anything above NORMAL (1).
        if synchronous > 1 {
            self.connection
                .pragma_update(None, "synchronous", "NORMAL")?;
            self.deferred = true;
        }
        if let Err(error) = self.connection.execute_batch("BEGIN IMMEDIATE") {
            self.end_deferred();
            return Err(error.into());
        }
        Ok(())
    }

    fn record_batch(&mut self, batch: &BatchRecord) -> Result<Recorded, StoreError> {
        let mut position = self
            .connection
            .prepare_cached("SELECT stream, seq FROM hosts WHERE host_id = ?1")?;
        // u64 values are stored as their i64 bit pattern and read back the same way.
        let stored: Option<(i64, i64)> = position
            .query_row(params![batch.host_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let stored = stored.map(|(stream, seq)| (stream as u64, seq as u64));
        if !is_newer(stored, batch.stream, batch.seq) {
            return Ok(Recorded::Duplicate);
        }
        let mut upsert = self.connection.prepare_cached(
            "INSERT INTO hosts (host_id, hostname, agent_version, labels, stream, seq,
                                first_seen_ms, last_seen_ms, inventory)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)
             ON CONFLICT(host_id) DO UPDATE SET
                hostname = excluded.hostname,
                agent_version = excluded.agent_version,
                labels = excluded.labels,
                stream = excluded.stream,
                seq = excluded.seq,
                last_seen_ms = excluded.last_seen_ms,
                inventory = COALESCE(excluded.inventory, hosts.inventory)",
        )?;
        upsert.execute(params![
            batch.host_id,
            batch.hostname,
            batch.agent_version,
            labels_to_json(&batch.labels),
            batch.stream as i64,
            batch.seq as i64,
            batch.received_ms,
            batch.inventory_json,
        ])?;
        Ok(Recorded::Accepted)
    }

    fn save_change(&mut self, change: &ChangeRecord) -> Result<(), StoreError> {
        save_change(&self.connection, change)
    }

    fn forget_host(&mut self, host_id: &str) -> Result<bool, StoreError> {
        for table in ["capacity", "series_history", "series_cold"] {
            self.connection
                .prepare_cached(&format!("DELETE FROM {table} WHERE host_id = ?1"))?
                .execute(params![host_id])?;
        }
        let mut forget = self
            .connection
            .prepare_cached("DELETE FROM hosts WHERE host_id = ?1")?;
        Ok(forget.execute(params![host_id])? > 0)
    }

    fn save_capacity(
        &mut self,
        records: &[&CapacityRecord],
        histories: &[HistoryRow],
    ) -> Result<(), StoreError> {
        let mut save = self.connection.prepare_cached(
            "INSERT INTO capacity (host_id, resource, exhaustion_ms, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (host_id, resource) DO UPDATE SET
                 exhaustion_ms = excluded.exhaustion_ms, data = excluded.data",
        )?;
        for record in records {
            let data = super::to_document(&record.resource, record)?;
            save.execute(params![
                record.host_id,
                record.resource,
                record.exhaustion_ms,
                data
            ])?;
        }
        let mut save = self.connection.prepare_cached(
            "INSERT INTO series_history (host_id, resource, saved_ms, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (host_id, resource) DO UPDATE SET
                 saved_ms = excluded.saved_ms, data = excluded.data",
        )?;
        for row in histories {
            save.execute(params![row.host_id, row.resource, row.saved_ms, row.data])?;
        }
        let mut keep = self.connection.prepare_cached(
            "INSERT INTO series_cold (host_id, resource, first_ms, end_ms, data)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (host_id, resource, first_ms) DO UPDATE SET
                 end_ms = excluded.end_ms, data = excluded.data",
        )?;
        for row in histories {
            for cold in &row.cold {
                keep.execute(params![
                    row.host_id,
                    row.resource,
                    cold.first_ms,
                    cold.end_ms,
                    cold.data
                ])?;
            }
        }
        let mut forget = self.connection.prepare_cached(
            "DELETE FROM series_cold WHERE host_id = ?1 AND resource = ?2 AND end_ms < ?3",
        )?;
        for row in histories {
            if let Some(before_ms) = row.cold_before_ms {
                forget.execute(params![row.host_id, row.resource, before_ms])?;
            }
        }
        Ok(())
    }

    fn claim_event_id(&mut self, event_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let mut claim = self.connection.prepare_cached(
            "INSERT INTO event_ids (event_id, at_ms) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        )?;
        Ok(claim.execute(params![event_id, now_ms])? == 1)
    }

    fn prune_event_ids(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        let mut prune = self
            .connection
            .prepare_cached("DELETE FROM event_ids WHERE at_ms < ?1")?;
        Ok(prune.execute(params![before_ms])?)
    }

    fn save_incident(&mut self, incident: &Incident, _: Option<i64>) -> Result<(), StoreError> {
        let data = super::to_document(&incident.id, incident)?;
        let hosts = host_list(&incident.hosts);
        let mut upsert = self.connection.prepare_cached(
            "INSERT INTO incidents (id, fingerprint, state, priority, host, hosts, opened_ms,
                                    updated_ms, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(id) DO UPDATE SET
                state = excluded.state,
                priority = excluded.priority,
                hosts = excluded.hosts,
                updated_ms = excluded.updated_ms,
                data = excluded.data",
        )?;
        upsert.execute(params![
            incident.id,
            incident.fingerprint,
            incident.state.as_str(),
            incident.priority,
            incident.host,
            hosts,
            incident.opened_ms,
            incident.updated_ms,
            data,
        ])?;
        Ok(())
    }

    fn save_incidents(&mut self, incidents: &[IncidentSave<'_>]) -> Result<(), StoreError> {
        for save in incidents {
            if save.stored_state != Some(save.incident.state) {
                self.save_incident(save.incident, save.next_due_ms)?;
                continue;
            }
            // The row's state is unchanged: an update that does not name `state` leaves the
            // one-active index alone (SQLite maintains a partial index only when a column it
            // reads is set), which is what a duplicate folding into an open incident costs.
            let incident = save.incident;
            let data = super::to_document(&incident.id, incident)?;
            let changed = self
                .connection
                .prepare_cached(
                    "UPDATE incidents SET priority = ?2, hosts = ?3, updated_ms = ?4, data = ?5
                     WHERE id = ?1",
                )?
                .execute(params![
                    incident.id,
                    incident.priority,
                    host_list(&incident.hosts),
                    incident.updated_ms,
                    data,
                ])?;
            if changed == 0 {
                // Not stored after all (cannot happen with one writer): insert it.
                self.save_incident(incident, save.next_due_ms)?;
            }
        }
        Ok(())
    }

    fn record_state_changes(&mut self, changes: &[StateChange]) -> Result<(), StoreError> {
        let mut insert = self.connection.prepare_cached(
            "INSERT INTO state_changes (kind, host, probe, at_ms, up, service)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (kind, host, probe, at_ms)
             DO UPDATE SET up = excluded.up, service = excluded.service",
        )?;
        for change in changes {
            insert.execute(params![
                change.kind,
                change.host,
                change.probe,
                change.at_ms,
                change.up,
                change.service
            ])?;
        }
        Ok(())
    }

    fn prune_state_changes(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        let mut prune = self.connection.prepare_cached(PRUNE_STATE_CHANGES)?;
        Ok(prune.execute(params![before_ms])?)
    }

    fn save_silence(&mut self, silence: &SilenceRecord) -> Result<(), StoreError> {
        let data = super::to_document(&silence.id, silence)?;
        self.connection
            .prepare_cached(
                "INSERT INTO silences (id, starts_ms, ends_ms, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET starts_ms = excluded.starts_ms,
                     ends_ms = excluded.ends_ms, data = excluded.data",
            )?
            .execute(params![
                silence.id,
                silence.starts_ms,
                silence.ends_ms,
                data
            ])?;
        Ok(())
    }

    fn load_silences(&mut self, now_ms: i64) -> Result<Vec<SilenceRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT id, data FROM silences WHERE ends_ms > ?1 ORDER BY id")?;
        let rows = statement.query_map(params![now_ms], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut silences = Vec::new();
        for row in rows {
            let (id, data) = row?;
            silences.push(
                serde_json::from_str(&data).map_err(|error| StoreError::Corrupt {
                    id,
                    reason: error.to_string(),
                })?,
            );
        }
        Ok(silences)
    }

    fn save_problem(&mut self, problem: &ProblemRecord) -> Result<(), StoreError> {
        let data = super::to_document(&problem.id, problem)?;
        self.connection
            .prepare_cached(
                "INSERT INTO problems (id, fingerprint, state, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, data = excluded.data",
            )?
            .execute(params![
                problem.id,
                problem.fingerprint,
                problem.state,
                data
            ])?;
        Ok(())
    }

    fn link_problem(
        &mut self,
        problem_id: &str,
        incident_ids: &[String],
    ) -> Result<(), StoreError> {
        let mut insert = self.connection.prepare_cached(
            "INSERT INTO problem_incidents (problem_id, incident_id) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
        )?;
        for incident_id in incident_ids {
            insert.execute(params![problem_id, incident_id])?;
        }
        Ok(())
    }

    fn find_problem(&mut self, id: &str) -> Result<Option<ProblemRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT id, data FROM problems WHERE id = ?1")?;
        let mut rows = statement.query_map(params![id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        rows.next()
            .transpose()?
            .map(|(id, data)| problem_from_json(id, &data))
            .transpose()
    }

    fn active_problems(
        &mut self,
        fingerprints: Option<&[String]>,
    ) -> Result<Vec<ProblemRecord>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id, fingerprint, data FROM problems WHERE state IN ('open', 'known_error')
             ORDER BY id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        let mut problems = Vec::new();
        for row in rows {
            let (id, fingerprint, data) = row?;
            if fingerprints.is_none_or(|wanted| wanted.contains(&fingerprint)) {
                problems.push(problem_from_json(id, &data)?);
            }
        }
        Ok(problems)
    }

    fn incident_openings(
        &mut self,
        fingerprints: Option<&[String]>,
        since_ms: i64,
    ) -> Result<Vec<OpeningRecord>, StoreError> {
        // Ids are time-ordered (`model::next_id`): an incident opened at or after `since_ms` has
        // an id at or above that time's floor, so the primary key bounds the scan.
        let floor = crate::incidents::model::format_id((since_ms.max(0) as u64) << 12);
        let mut statement = self.connection.prepare_cached(
            "SELECT fingerprint, id, opened_ms FROM incidents WHERE id >= ?1 AND opened_ms >= ?2
             AND NOT EXISTS (SELECT 1 FROM problem_incidents l WHERE l.incident_id = incidents.id)
             ORDER BY id",
        )?;
        let rows = statement.query_map(params![floor, since_ms], |row| {
            Ok(OpeningRecord {
                fingerprint: row.get(0)?,
                incident_id: row.get(1)?,
                opened_ms: row.get(2)?,
            })
        })?;
        let mut openings = Vec::new();
        for row in rows {
            let opening = row?;
            if fingerprints.is_none_or(|wanted| wanted.contains(&opening.fingerprint)) {
                openings.push(opening);
            }
        }
        Ok(openings)
    }

    fn load_novelty(
        &mut self,
        fingerprints: Option<&[String]>,
    ) -> Result<Vec<NoveltyRecord>, StoreError> {
        let read = |row: &rusqlite::Row<'_>| {
            Ok(NoveltyRecord {
                fingerprint: row.get(0)?,
                last_firing_ms: row.get(1)?,
                past_ms: row.get(2)?,
                past_at_ms: row.get(3)?,
            })
        };
        let mut records = Vec::new();
        match fingerprints {
            None => {
                let mut statement = self.connection.prepare_cached(
                    "SELECT fingerprint, last_firing_ms, past_ms, past_at_ms FROM novelty",
                )?;
                for row in statement.query_map([], read)? {
                    records.push(row?);
                }
            }
            Some(wanted) => {
                let mut statement = self.connection.prepare_cached(
                    "SELECT fingerprint, last_firing_ms, past_ms, past_at_ms FROM novelty
                     WHERE fingerprint = ?1",
                )?;
                for fingerprint in wanted {
                    for row in statement.query_map(params![fingerprint], read)? {
                        records.push(row?);
                    }
                }
            }
        }
        Ok(records)
    }

    fn save_novelty(&mut self, records: &[NoveltyRecord]) -> Result<(), StoreError> {
        let mut statement = self.connection.prepare_cached(
            "INSERT INTO novelty (fingerprint, last_firing_ms, past_ms, past_at_ms)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (fingerprint) DO UPDATE SET last_firing_ms = excluded.last_firing_ms,
                 past_ms = excluded.past_ms, past_at_ms = excluded.past_at_ms",
        )?;
        for record in records {
            statement.execute(params![
                record.fingerprint,
                record.last_firing_ms,
                record.past_ms,
                record.past_at_ms
            ])?;
        }
        Ok(())
    }

    fn load_changes(&mut self, since_ms: i64) -> Result<Vec<ChangeRecord>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id, data FROM changes WHERE starts_ms >= ?1 AND kind != 'maintenance'
             ORDER BY starts_ms DESC, id DESC LIMIT ?2",
        )?;
        let rows = statement
            .query_map(params![since_ms, super::MAX_RECENT_CHANGES as i64], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
        let mut changes = Vec::new();
        for row in rows {
            let (id, data) = row?;
            changes.push(
                serde_json::from_str(&data).map_err(|error| StoreError::Corrupt {
                    id,
                    reason: error.to_string(),
                })?,
            );
        }
        Ok(changes)
    }

    fn enqueue_notifications(
        &mut self,
        rows: &[NewNotification],
        claim: Claim<'_>,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let mut blocked = self.connection.prepare_cached(
            "SELECT 1 FROM outbox WHERE incident_id = ?1 AND sink = ?2
               AND state IN ('pending', 'failed') AND due_ms <= ?3
               AND (claimed_by IS NULL OR claimed_by <> ?4 OR claimed_until_ms < ?3)
             LIMIT 1",
        )?;
        let mut insert = self.connection.prepare_cached(
            "INSERT INTO outbox (incident_id, sink, step, level, change_no, idempotency_key,
                 payload, state, attempts, created_ms, due_ms, next_attempt_ms, give_up_ms,
                 claimed_by, claimed_until_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?9, ?9, ?10, ?11, ?12)
             ON CONFLICT (idempotency_key) DO NOTHING",
        )?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let take = row.due_ms <= claim.now_ms
                && !blocked.exists(params![
                    row.incident_id,
                    row.sink,
                    claim.now_ms,
                    claim.holder
                ])?;
            let (holder, until) = if take {
                (Some(claim.holder), Some(claim.until_ms))
            } else {
                (None, None)
            };
            let inserted = insert.execute(params![
                row.incident_id,
                row.sink,
                row.step,
                row.level,
                row.change_no as i64,
                row.key,
                &*row.payload,
                row.created_ms,
                row.due_ms,
                row.give_up_ms,
                holder,
                until,
            ])?;
            claimed.push((take && inserted == 1).then(|| self.connection.last_insert_rowid()));
        }
        Ok(claimed)
    }

    fn cancel_escalations(&mut self, incident_ids: &[&str]) -> Result<u64, StoreError> {
        let mut cancel = self.connection.prepare_cached(
            "UPDATE outbox SET state = 'cancelled', claimed_by = NULL, claimed_until_ms = NULL
             WHERE incident_id = ?1 AND step = 'escalate' AND state IN ('pending', 'failed')",
        )?;
        let mut cancelled = 0;
        for id in incident_ids {
            cancelled += cancel.execute(params![id])? as u64;
        }
        Ok(cancelled)
    }

    fn cancel_held(&mut self, incident_ids: &[&str], now_ms: i64) -> Result<u64, StoreError> {
        let mut cancel = self.connection.prepare_cached(
            "UPDATE outbox SET state = 'cancelled', claimed_by = NULL, claimed_until_ms = NULL
             WHERE incident_id = ?1 AND due_ms > ?2 AND state IN ('pending', 'failed')",
        )?;
        let mut cancelled = 0;
        for id in incident_ids {
            cancelled += cancel.execute(params![id, now_ms])? as u64;
        }
        Ok(cancelled)
    }

    fn claim_notifications(
        &mut self,
        claim: Claim<'_>,
        limit: usize,
    ) -> Result<Vec<QueuedNotification>, StoreError> {
        // `INDEXED BY`: left to itself, SQLite reads the whole table in id order to serve the
        // `ORDER BY ... LIMIT`, sent rows and all, so every poll (and every due time of a
        // replay) cost the outbox's whole size. The waiting rows are few: find them by the
        // index and sort those.
        let mut statement = self.connection.prepare_cached(
            "UPDATE outbox SET claimed_by = ?1, claimed_until_ms = ?3
             WHERE id IN (
                 SELECT o.id FROM outbox o INDEXED BY outbox_waiting
                 WHERE o.state IN ('pending', 'failed') AND o.next_attempt_ms <= ?2
                   AND (o.claimed_by IS NULL OR o.claimed_until_ms < ?2
                        OR (?5 AND o.claimed_by <> ?1))
                   AND NOT EXISTS (
                       SELECT 1 FROM outbox e
                       WHERE e.incident_id = o.incident_id AND e.sink = o.sink AND e.id < o.id
                         AND e.state IN ('pending', 'failed') AND e.due_ms <= ?2)
                 ORDER BY o.id LIMIT ?4)
             RETURNING id, incident_id, sink, step, level, idempotency_key, payload, created_ms,
                       due_ms, give_up_ms, attempts",
        )?;
        let rows = statement.query_map(
            params![
                claim.holder,
                claim.now_ms,
                claim.until_ms,
                limit.min(i64::MAX as usize) as i64,
                claim.take_foreign
            ],
            |row| {
                Ok(QueuedNotification {
                    id: row.get(0)?,
                    incident_id: row.get(1)?,
                    sink: row.get(2)?,
                    step: row.get(3)?,
                    level: row.get(4)?,
                    key: row.get(5)?,
                    payload: row.get(6)?,
                    created_ms: row.get(7)?,
                    due_ms: row.get(8)?,
                    give_up_ms: row.get(9)?,
                    attempts: row.get(10)?,
                })
            },
        )?;
        let mut claimed = rows.collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|row| row.id);
        Ok(claimed)
    }

    fn finish_notifications(
        &mut self,
        holder: &str,
        finished: &[Finish],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for finish in finished {
            match finish {
                Finish::Sent { id, at_ms } => {
                    self.connection
                        .prepare_cached(
                            "UPDATE outbox SET state = 'sent', attempts = attempts + 1,
                                 sent_ms = ?2, last_error = NULL, claimed_by = NULL,
                                 claimed_until_ms = NULL
                             WHERE id = ?1 AND state IN ('pending', 'failed')",
                        )?
                        .execute(params![id, at_ms])?;
                }
                Finish::Retry {
                    id,
                    error,
                    next_attempt_ms,
                } => {
                    self.connection
                        .prepare_cached(
                            "UPDATE outbox SET state = 'failed', attempts = attempts + 1,
                                 next_attempt_ms = ?2, last_error = ?3, claimed_by = NULL,
                                 claimed_until_ms = NULL
                             WHERE id = ?1 AND state IN ('pending', 'failed')
                               AND claimed_by = ?4",
                        )?
                        .execute(params![id, next_attempt_ms, error, holder])?;
                }
                Finish::Dead { id, error } => {
                    self.connection
                        .prepare_cached(
                            "UPDATE outbox SET state = 'dead', attempts = attempts + 1,
                                 next_attempt_ms = ?2, last_error = ?3, claimed_by = NULL,
                                 claimed_until_ms = NULL
                             WHERE id = ?1 AND state IN ('pending', 'failed')",
                        )?
                        .execute(params![id, now_ms, error])?;
                }
                Finish::Release { id } => {
                    self.connection
                        .prepare_cached(
                            "UPDATE outbox SET claimed_by = NULL, claimed_until_ms = NULL
                             WHERE id = ?1 AND claimed_by = ?2 AND state IN ('pending', 'failed')",
                        )?
                        .execute(params![id, holder])?;
                }
            }
        }
        Ok(())
    }

    fn renew_notifications(
        &mut self,
        holder: &str,
        ids: &[i64],
        until_ms: i64,
    ) -> Result<(), StoreError> {
        let mut renew = self.connection.prepare_cached(
            "UPDATE outbox SET claimed_until_ms = ?2
             WHERE id = ?1 AND claimed_by = ?3 AND state IN ('pending', 'failed')",
        )?;
        for id in ids {
            renew.execute(params![id, until_ms, holder])?;
        }
        Ok(())
    }

    fn retry_notification(
        &mut self,
        id: i64,
        now_ms: i64,
        give_up_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut retry = self.connection.prepare_cached(
            "UPDATE outbox SET state = 'pending', next_attempt_ms = ?2, give_up_ms = ?3,
                 claimed_by = NULL, claimed_until_ms = NULL
             WHERE id = ?1 AND state IN ('dead', 'failed')",
        )?;
        Ok(retry.execute(params![id, now_ms, give_up_ms])? == 1)
    }

    fn prune_notifications(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        let mut prune = self.connection.prepare_cached(
            "DELETE FROM outbox WHERE state IN ('sent', 'dead', 'cancelled') AND created_ms < ?1",
        )?;
        Ok(prune.execute(params![before_ms])?)
    }

    fn find_incident(&mut self, id: &str) -> Result<Option<Incident>, StoreError> {
        find_incident(&self.connection, id)
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        let committed = self.connection.execute_batch("COMMIT");
        if committed.is_ok() {
            self.end_deferred();
        }
        committed?;
        Ok(())
    }

    fn rollback(&mut self) {
        if !self.connection.is_autocommit()
            && let Err(error) = self.connection.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %error, "store rollback failed");
        }
        self.end_deferred();
    }
}

/// Hosts as a delimited list so `instr` finds one exactly: "\u{1f}a\u{1f}b\u{1f}".
fn host_list(hosts: &[String]) -> String {
    let mut list = String::from("\u{1f}");
    for host in hosts {
        list.push_str(host);
        list.push('\u{1f}');
    }
    list
}

fn problem_from_json(id: String, data: &str) -> Result<ProblemRecord, StoreError> {
    serde_json::from_str(data).map_err(|error| StoreError::Corrupt {
        id,
        reason: error.to_string(),
    })
}

fn save_change(connection: &Connection, change: &ChangeRecord) -> Result<(), StoreError> {
    let data = super::to_document(&change.id, change)?;
    let mut insert = connection.prepare_cached(
        "INSERT INTO changes (id, kind, hosts, starts_ms, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    insert.execute(params![
        change.id,
        change.kind,
        host_list(&change.hosts),
        change.starts_ms,
        data
    ])?;
    Ok(())
}

fn find_incident(connection: &Connection, id: &str) -> Result<Option<Incident>, StoreError> {
    let mut statement = connection.prepare_cached("SELECT data FROM incidents WHERE id = ?1")?;
    let data: Option<String> = statement
        .query_row(params![id], |row| row.get(0))
        .optional()?;
    data.map(|data| incident_from_json(id, &data)).transpose()
}

/// Read-only access for the API on its own connection (WAL: readers never block the writer).
pub struct SqliteReader {
    connection: Mutex<Connection>,
}

impl SqliteReader {
    /// Opens `path` read-only; the writer must have created and migrated it.
    pub fn open(path: &Path) -> Result<SqliteReader, StoreError> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|error| StoreError::Open {
            location: path.display().to_string(),
            reason: error.to_string(),
        })?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(SqliteReader {
            connection: Mutex::new(connection),
        })
    }

    /// Runs `sql` (selecting `id, data`) and decodes each `data` JSON document.
    fn documents<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        values: Vec<rusqlite::types::Value>,
    ) -> Result<Vec<T>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(sql)?;
        let rows = statement.query_map(params_from_iter(values), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut documents = Vec::new();
        for row in rows {
            let (id, data) = row?;
            documents.push(
                serde_json::from_str(&data).map_err(|error| StoreError::Corrupt {
                    id,
                    reason: error.to_string(),
                })?,
            );
        }
        Ok(documents)
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection inconsistent: every use
        // is one statement.
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Reader for SqliteReader {
    fn list_problems(
        &self,
        states: &[String],
        limit: usize,
    ) -> Result<Vec<ProblemRecord>, StoreError> {
        let mut sql = String::from("SELECT id, data FROM problems WHERE 1 = 1");
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if !states.is_empty() {
            sql.push_str(" AND state IN (");
            for (i, state) in states.iter().enumerate() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
                values.push(state.clone().into());
            }
            sql.push(')');
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        values.push((limit.min(i64::MAX as usize) as i64).into());
        self.documents(&sql, values)
    }

    fn get_problem(&self, id: &str) -> Result<Option<(ProblemRecord, Vec<String>)>, StoreError> {
        let Some(problem) = self
            .documents::<ProblemRecord>(
                "SELECT id, data FROM problems WHERE id = ?",
                vec![id.to_owned().into()],
            )?
            .pop()
        else {
            return Ok(None);
        };
        let connection = self.connection();
        let mut statement = connection.prepare_cached(
            "SELECT incident_id FROM problem_incidents WHERE problem_id = ?1 ORDER BY incident_id",
        )?;
        let incidents = statement
            .query_map(params![id], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((problem, incidents)))
    }

    fn problem_links(&self, incident_ids: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(
            "SELECT problem_id FROM problem_incidents WHERE incident_id = ?1
             ORDER BY problem_id DESC LIMIT 1",
        )?;
        let mut links = Vec::new();
        for incident_id in incident_ids {
            let mut rows =
                statement.query_map(params![incident_id], |row| row.get::<_, String>(0))?;
            if let Some(problem_id) = rows.next().transpose()? {
                links.push((incident_id.clone(), problem_id));
            }
        }
        Ok(links)
    }

    fn state_changes(&self, since_ms: i64) -> Result<Vec<StateChange>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(STATE_CHANGES_SINCE)?;
        let rows = statement.query_map(params![since_ms], |row| {
            Ok(StateChange {
                kind: row.get(0)?,
                host: row.get(1)?,
                probe: row.get(2)?,
                service: row.get(3)?,
                at_ms: row.get(4)?,
                up: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let mut sql = String::from("SELECT id, data FROM incidents WHERE 1 = 1");
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if !filter.states.is_empty() {
            sql.push_str(" AND state IN (");
            for (i, state) in filter.states.iter().enumerate() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
                values.push(state.as_str().to_owned().into());
            }
            sql.push(')');
        }
        if !filter.priorities.is_empty() {
            sql.push_str(" AND priority IN (");
            for (i, priority) in filter.priorities.iter().enumerate() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
                values.push(i64::from(*priority).into());
            }
            sql.push(')');
        }
        if let Some(host) = &filter.host {
            sql.push_str(" AND (host = ? OR instr(hosts, ?) > 0)");
            values.push(host.clone().into());
            values.push(format!("\u{1f}{host}\u{1f}").into());
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        values.push((filter.limit.min(i64::MAX as usize) as i64).into());
        self.documents(&sql, values)
    }

    fn get_incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        find_incident(&self.connection(), id)
    }

    fn list_changes(&self, filter: &ChangeFilter) -> Result<Vec<ChangeRecord>, StoreError> {
        let mut sql = String::from("SELECT id, data FROM changes WHERE 1 = 1");
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(kind) = &filter.kind {
            sql.push_str(" AND kind = ?");
            values.push(kind.clone().into());
        }
        if let Some(host) = &filter.host {
            sql.push_str(" AND instr(hosts, ?) > 0");
            values.push(format!("\u{1f}{host}\u{1f}").into());
        }
        sql.push_str(" ORDER BY starts_ms DESC, id DESC LIMIT ?");
        values.push((filter.limit.min(i64::MAX as usize) as i64).into());
        self.documents(&sql, values)
    }

    fn list_silences(
        &self,
        now_ms: i64,
        include_ended: bool,
        limit: usize,
    ) -> Result<Vec<SilenceRecord>, StoreError> {
        self.documents(
            "SELECT id, data FROM silences WHERE ?1 OR ends_ms > ?2 ORDER BY id DESC LIMIT ?3",
            vec![
                i64::from(include_ended).into(),
                now_ms.into(),
                (limit.min(i64::MAX as usize) as i64).into(),
            ],
        )
    }

    fn load_history(&self, host_id: &str) -> Result<Vec<HistoryRow>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(
            "SELECT resource, saved_ms, data FROM series_history WHERE host_id = ?1
             ORDER BY resource",
        )?;
        let rows = statement.query_map(params![host_id], |row| {
            Ok(HistoryRow {
                host_id: host_id.to_owned(),
                resource: row.get(0)?,
                saved_ms: row.get(1)?,
                data: row.get(2)?,
                cold: Vec::new(),
                cold_before_ms: None,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn load_cold(&self, host_id: &str, resource: &str) -> Result<Vec<ColdRow>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare_cached(
            "SELECT first_ms, end_ms, data FROM series_cold WHERE host_id = ?1 AND resource = ?2
             ORDER BY first_ms",
        )?;
        let rows = statement.query_map(params![host_id, resource], |row| {
            Ok(ColdRow {
                first_ms: row.get(0)?,
                end_ms: row.get(1)?,
                data: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn list_capacity(&self, filter: &CapacityFilter) -> Result<Vec<CapacityRecord>, StoreError> {
        self.documents(
            "SELECT resource, data FROM capacity
             WHERE (?1 IS NULL OR host_id = ?1)
               AND (?2 IS NULL OR substr(resource, 1, length(?2)) = ?2)
               AND (?3 = 0 OR exhaustion_ms IS NOT NULL)
             ORDER BY host_id, resource LIMIT ?4",
            vec![
                filter.host.clone().into(),
                filter.resource.clone().into(),
                i64::from(filter.exhausting).into(),
                (filter.limit.min(i64::MAX as usize) as i64).into(),
            ],
        )
    }

    fn list_notifications(
        &self,
        filter: &NotificationFilter,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT id, incident_id, sink, step, level, idempotency_key, state, attempts,
                    created_ms, due_ms, next_attempt_ms, sent_ms, last_error
             FROM outbox WHERE 1 = 1",
        );
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(incident) = &filter.incident {
            sql.push_str(" AND incident_id = ?");
            values.push(incident.clone().into());
        }
        if let Some(sink) = &filter.sink {
            sql.push_str(" AND sink = ?");
            values.push(sink.clone().into());
        }
        if !filter.states.is_empty() {
            sql.push_str(" AND state IN (");
            for (i, state) in filter.states.iter().enumerate() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
                values.push(state.clone().into());
            }
            sql.push(')');
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        values.push((filter.limit.min(i64::MAX as usize) as i64).into());
        let connection = self.connection();
        let mut statement = connection.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), |row| {
            Ok(NotificationRecord {
                id: row.get(0)?,
                incident_id: row.get(1)?,
                sink: row.get(2)?,
                step: row.get(3)?,
                level: row.get(4)?,
                key: row.get(5)?,
                state: row.get(6)?,
                attempts: row.get(7)?,
                created_ms: row.get(8)?,
                due_ms: row.get(9)?,
                next_attempt_ms: row.get(10)?,
                sent_ms: row.get(11)?,
                last_error: row.get(12)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_passes_the_store_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::conformance::run_all(&mut |name| {
            crate::store::open(
                &crate::store::StoreLocation::Sqlite(dir.path().join(format!("{name}.db"))),
                &crate::store::StoreOptions::default(),
            )
            .unwrap()
        });
    }

    #[test]
    fn a_deferred_commit_leaves_the_next_one_synced() {
        let dir = tempfile::tempdir().unwrap();
        let mut backend = SqliteBackend::open(&dir.path().join("d.db")).unwrap();
        let synchronous = |backend: &SqliteBackend| -> i64 {
            backend
                .connection
                .pragma_query_value(None, "synchronous", |row| row.get(0))
                .unwrap()
        };
        assert_eq!(synchronous(&backend), 2, "FULL as opened");
        backend.begin_deferred().unwrap();
        assert_eq!(
            synchronous(&backend),
            1,
            "NORMAL inside a deferred transaction"
        );
        backend.commit().unwrap();
        assert_eq!(synchronous(&backend), 2, "FULL again after its commit");
        backend.begin_deferred().unwrap();
        backend.rollback();
        assert_eq!(synchronous(&backend), 2, "and after its rollback");
        // A store opened `normal` stays so.
        let mut normal =
            SqliteBackend::open_with(&dir.path().join("n.db"), Durability::Normal).unwrap();
        normal.begin_deferred().unwrap();
        normal.commit().unwrap();
        assert_eq!(synchronous(&normal), 1);
    }

    #[test]
    fn a_newer_schema_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        drop(SqliteBackend::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let error = SqliteBackend::open(&path).err().unwrap();
        assert!(
            error.to_string().contains("upgrade the collector"),
            "{error}"
        );
    }
}
