//! The embedded SQLite backend (the default store, a file under `--data-dir`).
//!
//! WAL journal with `synchronous = FULL`: a commit is on disk before the writer answers, so a 2xx
//! survives a kill -9 and a power cut. Group commit (see [`super::Store`]) keeps that affordable.
//! Migrations are versioned in code and tracked with `PRAGMA user_version`.

use super::{Backend, HostRecord, StoreError, Write, WriteOutcome};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
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
];

/// SQLite implementation of [`Backend`].
pub struct SqliteBackend {
    connection: Connection,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<SqliteBackend, StoreError> {
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: path.display().to_string(),
            source,
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
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut backend = SqliteBackend { connection };
        backend.migrate()?;
        Ok(backend)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .connection
            .pragma_query_value(None, "user_version", |row| row.get(0))?;
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported,
            });
        }
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

fn labels_to_json(labels: &Labels) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".to_owned())
}

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

    fn commit(&mut self, writes: &[Write]) -> Result<Vec<WriteOutcome>, StoreError> {
        let transaction = self.connection.transaction()?;
        let mut outcomes = Vec::with_capacity(writes.len());
        {
            let mut position =
                transaction.prepare_cached("SELECT stream, seq FROM hosts WHERE host_id = ?1")?;
            let mut upsert = transaction.prepare_cached(
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
            let mut forget = transaction.prepare_cached("DELETE FROM hosts WHERE host_id = ?1")?;
            for write in writes {
                let write = match write {
                    Write::Batch(write) => write,
                    Write::ForgetHost(host_id) => {
                        outcomes.push(if forget.execute(params![host_id])? > 0 {
                            WriteOutcome::Forgotten
                        } else {
                            WriteOutcome::NotFound
                        });
                        continue;
                    }
                };
                // u64 values are stored as their i64 bit pattern and read back the same way.
                let stored: Option<(i64, i64)> = position
                    .query_row(params![write.host_id], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                let duplicate = matches!(stored, Some((stream, seq))
                    if stream as u64 == write.stream && seq as u64 >= write.seq);
                if duplicate {
                    outcomes.push(WriteOutcome::Duplicate);
                    continue;
                }
                upsert.execute(params![
                    write.host_id,
                    write.hostname,
                    write.agent_version,
                    labels_to_json(&write.labels),
                    write.stream as i64,
                    write.seq as i64,
                    write.received_ms,
                    write.inventory_json,
                ])?;
                outcomes.push(WriteOutcome::Accepted);
            }
        }
        transaction.commit()?;
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::HostWrite;

    fn write(host: &str, stream: u64, seq: u64) -> Write {
        Write::Batch(host_write(host, stream, seq))
    }

    fn host_write(host: &str, stream: u64, seq: u64) -> HostWrite {
        HostWrite {
            host_id: host.into(),
            hostname: format!("{host}.local"),
            agent_version: "0.1.0".into(),
            labels: Labels::from([("env".into(), "prod".into())]),
            stream,
            seq,
            received_ms: 1_000 + seq as i64,
            inventory_json: None,
        }
    }

    #[test]
    fn sequence_check_is_per_host_and_stream() {
        let dir = tempfile::tempdir().unwrap();
        let mut backend = SqliteBackend::open(&dir.path().join("v.db")).unwrap();
        let outcomes = backend
            .commit(&[
                write("a", 1, 1),
                write("a", 1, 1),
                write("a", 1, 2),
                write("b", 1, 1),
                write("a", 1, 2),
                write("a", 9, 1),
            ])
            .unwrap();
        use WriteOutcome::*;
        assert_eq!(
            outcomes,
            vec![Accepted, Duplicate, Accepted, Accepted, Duplicate, Accepted]
        );
    }

    #[test]
    fn hosts_survive_reopen_and_inventory_is_kept_when_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/v.db");
        {
            let mut backend = SqliteBackend::open(&path).unwrap();
            let mut first = host_write("a", 7, 1);
            first.inventory_json = Some("{\"os\":\"Debian\"}".into());
            backend
                .commit(&[Write::Batch(first), write("a", 7, 2)])
                .unwrap();
        }
        let mut backend = SqliteBackend::open(&path).unwrap();
        let hosts = backend.load_hosts().unwrap();
        assert_eq!(hosts.len(), 1);
        let host = &hosts[0];
        assert_eq!((host.stream, host.seq), (7, 2));
        assert_eq!((host.first_seen_ms, host.last_seen_ms), (1_001, 1_002));
        assert_eq!(host.inventory_json.as_deref(), Some("{\"os\":\"Debian\"}"));
        assert_eq!(host.labels.get("env").map(String::as_str), Some("prod"));
        assert_eq!(
            backend.commit(&[write("a", 7, 2)]).unwrap(),
            vec![WriteOutcome::Duplicate]
        );
    }

    #[test]
    fn a_forgotten_host_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let mut backend = SqliteBackend::open(&dir.path().join("v.db")).unwrap();
        use WriteOutcome::*;
        let outcomes = backend
            .commit(&[
                write("a", 1, 5),
                Write::ForgetHost("a".into()),
                Write::ForgetHost("a".into()),
                write("a", 1, 5),
            ])
            .unwrap();
        assert_eq!(outcomes, vec![Accepted, Forgotten, NotFound, Accepted]);
        assert_eq!(backend.load_hosts().unwrap().len(), 1);
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

    #[test]
    fn full_u64_streams_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let mut backend = SqliteBackend::open(&dir.path().join("v.db")).unwrap();
        backend
            .commit(&[write("a", u64::MAX, u64::MAX - 1)])
            .unwrap();
        let host = backend.load_hosts().unwrap().remove(0);
        assert_eq!((host.stream, host.seq), (u64::MAX, u64::MAX - 1));
        assert_eq!(
            backend
                .commit(&[write("a", u64::MAX, u64::MAX - 1)])
                .unwrap(),
            vec![WriteOutcome::Duplicate]
        );
    }
}
