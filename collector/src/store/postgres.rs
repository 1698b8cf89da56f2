//! The PostgreSQL backend: the shared state of several collectors serving one fleet
//! (`--store postgres://USER[:PASS]@HOST[:PORT]/DB`).
//!
//! What makes it safe to share, all enforced by the database:
//! - the incident a fingerprint has is decided under a transaction-scoped advisory lock on that
//!   fingerprint ([`Backend::lock_fingerprints`]), after reloading it ([`Backend::current_incidents`]),
//!   so no collector decides on a stale copy; a unique partial index refuses a second active
//!   incident anyway;
//! - an agent's `(stream, seq)` is checked with the host's row locked (`FOR UPDATE`), an
//!   `event_id` is a primary key;
//! - incident ids come from one counter row, locked for the transaction;
//! - the leader of the time-driven sweeps holds a lease row with an epoch (the fencing token)
//!   that every leader-only write checks in its own transaction ([`Backend::check_epoch`]).
//!
//! Every connection has a `statement_timeout`, an `idle_in_transaction_session_timeout` (a frozen
//! collector's locks are released), TCP keepalives and a connect timeout; the pool has a checkout
//! timeout. A database that cannot be reached is [`StoreError::Unavailable`] (the API answers 503).
//!
//! The backend's methods are synchronous: they run the driver's futures on the collector's tokio
//! runtime with `Handle::block_on`, from the pipeline's writer thread or a `spawn_blocking`
//! thread (never from an async task). Migrations are versioned (`vigil_schema`) and applied
//! under an advisory lock, so collectors starting together migrate once.

use super::{
    Backend, BatchRecord, CapacityFilter, CapacityRecord, ChangeFilter, ChangeRecord, Claim,
    ColdRow, Finish, Heartbeat, HistoryRow, HostRecord, IncidentFilter, IncidentSave, Lease,
    NewNotification, NotificationFilter, NotificationRecord, NoveltyRecord, OpeningRecord,
    PostgresUrl, ProblemRecord, QueuedNotification, Reader, Recorded, SilenceRecord, StateChange,
    StoreError, StoreOptions, is_newer,
};
use crate::incidents::{Incident, parse_id};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use vigil_shared::labels::Labels;

/// Schema migrations, applied in order; entry `i` moves the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the same records as the SQLite store, plus what sharing needs: the leader lease with its
    // epoch, the incident id counter, and the due time of each incident's next tick.
    "CREATE TABLE hosts (
        host_id TEXT PRIMARY KEY,
        hostname TEXT NOT NULL,
        agent_version TEXT NOT NULL,
        labels TEXT NOT NULL,
        stream BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        first_seen_ms BIGINT NOT NULL,
        last_seen_ms BIGINT NOT NULL,
        inventory TEXT
    );
    CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        priority SMALLINT NOT NULL,
        host TEXT,
        hosts TEXT[] NOT NULL,
        opened_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL,
        next_due_ms BIGINT,
        data TEXT NOT NULL
    );
    CREATE UNIQUE INDEX incidents_one_active ON incidents (fingerprint)
        WHERE state IN ('open', 'acknowledged');
    CREATE INDEX incidents_current ON incidents (fingerprint, id) WHERE state <> 'closed';
    CREATE INDEX incidents_due ON incidents (next_due_ms) WHERE next_due_ms IS NOT NULL;
    CREATE INDEX incidents_by_host ON incidents USING GIN (hosts);
    CREATE TABLE event_ids (
        event_id TEXT PRIMARY KEY,
        at_ms BIGINT NOT NULL
    );
    CREATE INDEX event_ids_by_time ON event_ids (at_ms);
    CREATE TABLE changes (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        hosts TEXT[] NOT NULL,
        starts_ms BIGINT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX changes_by_time ON changes (starts_ms);
    CREATE TABLE leader (
        id INT PRIMARY KEY CHECK (id = 1),
        holder TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );
    INSERT INTO leader VALUES (1, '', 0, '-infinity');
    CREATE TABLE id_counter (
        id INT PRIMARY KEY CHECK (id = 1),
        last_id BIGINT NOT NULL
    );
    INSERT INTO id_counter VALUES (1, 0);",
    // 2: the notification outbox (see `outbox.rs`), as in the SQLite store.
    "CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY,
        incident_id TEXT NOT NULL,
        sink TEXT NOT NULL,
        step TEXT NOT NULL,
        level INT NOT NULL,
        change_no BIGINT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INT NOT NULL,
        created_ms BIGINT NOT NULL,
        due_ms BIGINT NOT NULL,
        next_attempt_ms BIGINT NOT NULL,
        give_up_ms BIGINT NOT NULL,
        claimed_by TEXT,
        claimed_until_ms BIGINT,
        sent_ms BIGINT,
        last_error TEXT
    );
    CREATE INDEX outbox_waiting ON outbox (next_attempt_ms) WHERE state IN ('pending', 'failed');
    CREATE INDEX outbox_by_incident ON outbox (incident_id, sink, id);
    CREATE INDEX outbox_finished ON outbox (created_ms) WHERE state IN ('sent', 'dead', 'cancelled');",
    // 3: silences and maintenance windows, as in the SQLite store.
    "CREATE TABLE silences (
        id TEXT PRIMARY KEY,
        starts_ms BIGINT NOT NULL,
        ends_ms BIGINT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX silences_by_end ON silences (ends_ms);",
    // 4: capacity, as in the SQLite store.
    "CREATE TABLE capacity (
        host_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        exhaustion_ms BIGINT,
        data TEXT NOT NULL,
        PRIMARY KEY (host_id, resource)
    );
    CREATE TABLE series_history (
        host_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        saved_ms BIGINT NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (host_id, resource)
    );",
    // 5: problem records and the incidents each links, as in the SQLite store, and the index
    // recurrence counts with (a fingerprint's incidents by opening time, closed ones included).
    "CREATE TABLE problems (
        id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE UNIQUE INDEX problems_one_active ON problems (fingerprint)
        WHERE state IN ('open', 'known_error');
    CREATE TABLE problem_incidents (
        problem_id TEXT NOT NULL,
        incident_id TEXT NOT NULL,
        PRIMARY KEY (problem_id, incident_id)
    );
    CREATE INDEX problem_incidents_by_incident ON problem_incidents (incident_id);
    CREATE INDEX incidents_openings ON incidents (fingerprint, opened_ms);",
    // 6: the availability history, as in the SQLite store.
    "CREATE TABLE state_changes (
        kind TEXT NOT NULL,
        host TEXT NOT NULL,
        probe TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        up BOOLEAN,
        service TEXT NOT NULL,
        PRIMARY KEY (kind, host, probe, at_ms)
    );",
    // 7: service grouping finds the incidents of a grouping key (kept in the document).
    "CREATE INDEX incidents_by_group ON incidents (((data::jsonb) ->> 'group_key'))
        WHERE state <> 'closed';",
    // 8: the cold parts of series histories, as in the SQLite store.
    "CREATE TABLE series_cold (
        host_id TEXT NOT NULL,
        resource TEXT NOT NULL,
        first_ms BIGINT NOT NULL,
        end_ms BIGINT NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (host_id, resource, first_ms)
    );",
    // 9: novelty paging's per-fingerprint records, as in the SQLite store.
    "CREATE TABLE novelty (
        fingerprint TEXT PRIMARY KEY,
        last_firing_ms BIGINT NOT NULL,
        past_ms DOUBLE PRECISION NOT NULL,
        past_at_ms BIGINT NOT NULL
    );",
];

const RECORD_STATE_CHANGE: &str =
    "INSERT INTO state_changes (kind, host, probe, at_ms, up, service)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (kind, host, probe, at_ms)
     DO UPDATE SET up = excluded.up, service = excluded.service";

/// A notification queued, claimed by its writer when it is due and every earlier unfinished
/// row of its incident and sink is the writer's own (`outbox.rs`). Returns the id when claimed.
const ENQUEUE_NOTIFICATION: &str = "INSERT INTO outbox (incident_id, sink, step, level,
        change_no, idempotency_key, payload, state, attempts, created_ms, due_ms,
        next_attempt_ms, give_up_ms, claimed_by, claimed_until_ms)
     SELECT $1::TEXT, $2::TEXT, $3::TEXT, $4::INT, $5::BIGINT, $6::TEXT, $7::TEXT, 'pending', 0,
            $8::BIGINT, $9::BIGINT, $9::BIGINT, $10::BIGINT, h.holder,
            CASE WHEN h.holder IS NULL THEN NULL ELSE $12::BIGINT END
     FROM (SELECT CASE WHEN $9::BIGINT <= $8::BIGINT AND NOT EXISTS (
               SELECT 1 FROM outbox o WHERE o.incident_id = $1 AND o.sink = $2
                 AND o.state IN ('pending', 'failed') AND o.due_ms <= $8
                 AND (o.claimed_by IS NULL OR o.claimed_by <> $11 OR o.claimed_until_ms < $8))
           THEN $11::TEXT END AS holder) h
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING id, claimed_by";

/// The advisory lock key under which migrations run.
const MIGRATION_LOCK: i64 = 0x7669_6769_6c00;

/// A batch's host row: inserted when the host is new (`$7` is both first and last seen).
const INSERT_HOST: &str = "INSERT INTO hosts (host_id, hostname, agent_version, labels, stream,
        seq, first_seen_ms, last_seen_ms, inventory)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
     ON CONFLICT (host_id) DO NOTHING";

/// A batch's host row: updated when the batch moved the host's position (an absent inventory
/// keeps the stored one).
const UPDATE_HOST: &str = "UPDATE hosts SET hostname = $2, agent_version = $3, labels = $4,
        stream = $5, seq = $6, last_seen_ms = $7, inventory = COALESCE($8, inventory)
     WHERE host_id = $1";

/// An event id claimed (one row affected) or seen before (none).
const CLAIM_EVENT_ID: &str =
    "INSERT INTO event_ids (event_id, at_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING";

/// A change record, kept once.
const SAVE_CHANGE: &str = "INSERT INTO changes (id, kind, hosts, starts_ms, data)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING";

/// An incident inserted or updated (the unique partial index refuses a second active one).
const SAVE_INCIDENT: &str = "INSERT INTO incidents (id, fingerprint, state, priority, host,
        hosts, opened_ms, updated_ms, next_due_ms, data)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (id) DO UPDATE SET
        state = excluded.state,
        priority = excluded.priority,
        hosts = excluded.hosts,
        updated_ms = excluded.updated_ms,
        next_due_ms = excluded.next_due_ms,
        data = excluded.data";

/// The parameters of [`INSERT_HOST`] and [`UPDATE_HOST`] for one batch.
struct HostParams<'a> {
    batch: &'a BatchRecord,
    labels: String,
    stream: i64,
    seq: i64,
    inventory: Option<String>,
}

impl<'a> HostParams<'a> {
    fn of(batch: &'a BatchRecord) -> HostParams<'a> {
        HostParams {
            batch,
            labels: serde_json::to_string(&batch.labels).unwrap_or_else(|_| "{}".to_owned()),
            // The same 64 bits: BIGINT is signed.
            stream: batch.stream as i64,
            seq: batch.seq as i64,
            inventory: batch.inventory_json.clone(),
        }
    }

    fn as_params(&self) -> [&(dyn ToSql + Sync); 8] {
        [
            &self.batch.host_id,
            &self.batch.hostname,
            &self.batch.agent_version,
            &self.labels,
            &self.stream,
            &self.seq,
            &self.batch.received_ms,
            &self.inventory,
        ]
    }
}

/// The parameters of [`SAVE_INCIDENT`] for one incident.
struct IncidentParams<'a> {
    incident: &'a Incident,
    state: &'static str,
    priority: i16,
    next_due_ms: Option<i64>,
    data: String,
}

impl<'a> IncidentParams<'a> {
    fn of(
        incident: &'a Incident,
        next_due_ms: Option<i64>,
    ) -> Result<IncidentParams<'a>, StoreError> {
        let data = super::to_document(&incident.id, incident)?;
        Ok(IncidentParams {
            incident,
            state: incident.state.as_str(),
            priority: i16::from(incident.priority),
            next_due_ms,
            data,
        })
    }

    fn as_params(&self) -> [&(dyn ToSql + Sync); 10] {
        [
            &self.incident.id,
            &self.incident.fingerprint,
            &self.state,
            &self.priority,
            &self.incident.host,
            &self.incident.hosts,
            &self.incident.opened_ms,
            &self.incident.updated_ms,
            &self.next_due_ms,
            &self.data,
        ]
    }
}

/// A connected pool, from which the writer's backend and the API's reader are made.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    handle: Handle,
}

fn classify(error: tokio_postgres::Error) -> StoreError {
    let reason = match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            // The driver's own line hides the cause (e.g. which certificate check failed).
            let mut reason = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                reason.push_str(": ");
                reason.push_str(&cause.to_string());
                source = cause.source();
            }
            reason
        }
    };
    match error.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => StoreError::Conflict { reason },
        Some(code)
            if *code == SqlState::QUERY_CANCELED
                || *code == SqlState::LOCK_NOT_AVAILABLE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::TOO_MANY_CONNECTIONS
                || *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT =>
        {
            StoreError::Unavailable { reason }
        }
        Some(_) => StoreError::Database { reason },
        // No SQLSTATE: the connection failed or closed.
        None => StoreError::Unavailable { reason },
    }
}

/// The client side of TLS to PostgreSQL: ring, TLS 1.2 and 1.3, the server's certificate checked
/// against `ca_file` (PEM) or the system's roots, its name against the URL's host.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certificates = crate::tls::load_certificates("store_ca_file", path)
                .map_err(|error| format!("config key store_ca_file: {error}"))?;
            for certificate in certificates {
                roots.add(certificate).map_err(|error| {
                    format!(
                        "config key store_ca_file: {} holds a certificate rustls refuses: {error}",
                        path.display()
                    )
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(
                    "sslmode=require but no system CA certificates were found: set store_ca_file"
                        .to_owned(),
                );
            }
        }
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn pool_error(error: deadpool_postgres::PoolError) -> StoreError {
    match error {
        deadpool_postgres::PoolError::Backend(error) => classify(error),
        other => StoreError::Unavailable {
            reason: format!("no database connection: {other}"),
        },
    }
}

fn ms(duration: Duration) -> u128 {
    duration.as_millis().max(1)
}

impl PostgresStore {
    /// Connects (on the current tokio runtime), checks the database answers and migrates it.
    /// Call it from a blocking context (`spawn_blocking` or a plain thread inside the runtime).
    pub fn connect(url: &PostgresUrl, options: &StoreOptions) -> Result<PostgresStore, StoreError> {
        let handle = Handle::try_current().map_err(|_| StoreError::Open {
            location: url.to_string(),
            reason: "no tokio runtime to run the PostgreSQL driver on".to_owned(),
        })?;
        PostgresStore::connect_with(url, options, handle)
    }

    /// Like [`PostgresStore::connect`], on the given runtime.
    pub fn connect_with(
        url: &PostgresUrl,
        options: &StoreOptions,
        handle: Handle,
    ) -> Result<PostgresStore, StoreError> {
        let location = url.to_string();
        let open_error = |reason: String| StoreError::Open {
            location: location.clone(),
            reason,
        };
        let mut config: tokio_postgres::Config =
            url.expose()
                .parse()
                .map_err(|error: tokio_postgres::Error| {
                    open_error(format!(
                        "{error}: write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
                    ))
                })?;
        config
            .application_name("vigil-collector")
            .connect_timeout(options.statement_timeout.min(Duration::from_secs(10)))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .options(format!(
                "-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}",
                ms(options.statement_timeout),
                ms(options.statement_timeout),
                ms(options.idle_in_transaction_timeout),
            ));
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        // TLS when the URL asks for it (`sslmode=require`), verified against `store_ca_file` or
        // the system's roots. Without it the connection is plain TCP, as `sslmode=prefer` (the
        // default) would fall back to anyway.
        let manager = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            let tls = tls_config(options.ca_file.as_deref()).map_err(open_error)?;
            Manager::from_config(
                config,
                tokio_postgres_rustls::MakeRustlsConnect::new(tls),
                manager_config,
            )
        } else {
            Manager::from_config(config, tokio_postgres::NoTls, manager_config)
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .wait_timeout(Some(options.statement_timeout))
            .create_timeout(Some(options.statement_timeout))
            .recycle_timeout(Some(options.statement_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|error| open_error(error.to_string()))?;
        let store = PostgresStore { pool, handle };
        store
            .migrate()
            .map_err(|error| open_error(error.to_string()))?;
        Ok(store)
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    fn client(&self) -> Result<Object, StoreError> {
        self.block_on(self.pool.get()).map_err(pool_error)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client()?;
        self.block_on(async {
            let transaction = client.transaction().await.map_err(classify)?;
            transaction
                .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(classify)?;
            transaction
                .batch_execute("CREATE TABLE IF NOT EXISTS vigil_schema (version INT NOT NULL)")
                .await
                .map_err(classify)?;
            let version: i64 = transaction
                .query_one(
                    "SELECT coalesce(max(version), 0)::BIGINT FROM vigil_schema",
                    &[],
                )
                .await
                .map_err(classify)?
                .get(0);
            super::check_schema_version(version, MIGRATIONS.len())?;
            for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                transaction.batch_execute(sql).await.map_err(classify)?;
                let next = index as i32 + 1;
                transaction
                    .execute("INSERT INTO vigil_schema (version) VALUES ($1)", &[&next])
                    .await
                    .map_err(classify)?;
                tracing::info!(version = next, "store schema migrated");
            }
            transaction.commit().await.map_err(classify)
        })
    }

    /// The writer's backend (one connection held per transaction).
    pub fn backend(&self) -> PostgresBackend {
        PostgresBackend {
            store: self.clone(),
            client: None,
        }
    }

    /// The API's reader.
    pub fn reader(&self) -> PostgresReader {
        PostgresReader {
            store: self.clone(),
        }
    }
}

/// PostgreSQL implementation of [`Backend`].
pub struct PostgresBackend {
    store: PostgresStore,
    /// The connection of the transaction in progress.
    client: Option<Object>,
}

fn incident_from_json(id: &str, data: &str) -> Result<Incident, StoreError> {
    serde_json::from_str(data).map_err(|error| StoreError::Corrupt {
        id: id.to_owned(),
        reason: error.to_string(),
    })
}

/// Rows of `(id, data)` with `data` a JSON document (silences, problems, capacity records).
fn documents_from_rows<T: serde::de::DeserializeOwned>(
    rows: &[tokio_postgres::Row],
) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(|row| {
            let id: &str = row.get(0);
            serde_json::from_str(row.get(1)).map_err(|error| StoreError::Corrupt {
                id: id.to_owned(),
                reason: error.to_string(),
            })
        })
        .collect()
}

fn labels_from_json(text: &str) -> Labels {
    serde_json::from_str(text).unwrap_or_default()
}

impl PostgresBackend {
    /// Starts a transaction with `statements` (a `BEGIN` and what goes with it).
    fn begin_with(&mut self, statements: &str) -> Result<(), StoreError> {
        if self.client.is_some() {
            self.rollback();
        }
        let client = self.store.client()?;
        self.store
            .block_on(client.batch_execute(statements))
            .map_err(classify)?;
        self.client = Some(client);
        Ok(())
    }

    fn in_transaction(&mut self) -> Result<&Object, StoreError> {
        self.client.as_ref().ok_or_else(|| StoreError::Database {
            reason: "no transaction in progress".to_owned(),
        })
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let handle = self.store.handle.clone();
        let client = self.in_transaction()?;
        handle.block_on(async {
            let statement = client.prepare_cached(sql).await.map_err(classify)?;
            client.execute(&statement, params).await.map_err(classify)
        })
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let handle = self.store.handle.clone();
        let client = self.in_transaction()?;
        handle.block_on(async {
            let statement = client.prepare_cached(sql).await.map_err(classify)?;
            client.query(&statement, params).await.map_err(classify)
        })
    }

    /// Runs one statement once per parameter row, pipelined on the transaction's connection:
    /// every row is sent before the first answer is awaited, so a group costs one round trip
    /// per statement kind instead of one per row. PostgreSQL still runs them one after the
    /// other, in the order given. Returns the rows affected by each.
    fn execute_many<const N: usize>(
        &mut self,
        sql: &str,
        rows: &[[&(dyn ToSql + Sync); N]],
    ) -> Result<Vec<u64>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let handle = self.store.handle.clone();
        let client = self.in_transaction()?;
        handle.block_on(async {
            let statement = client.prepare_cached(sql).await.map_err(classify)?;
            let each = rows.iter().map(|params| client.execute(&statement, params));
            futures_util::future::try_join_all(each)
                .await
                .map_err(classify)
        })
    }

    /// Like [`PostgresBackend::execute_many`], returning each statement's rows.
    fn query_many<const N: usize>(
        &mut self,
        sql: &str,
        rows: &[[&(dyn ToSql + Sync); N]],
    ) -> Result<Vec<Vec<tokio_postgres::Row>>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let handle = self.store.handle.clone();
        let client = self.in_transaction()?;
        handle.block_on(async {
            let statement = client.prepare_cached(sql).await.map_err(classify)?;
            let each = rows.iter().map(|params| client.query(&statement, params));
            futures_util::future::try_join_all(each)
                .await
                .map_err(classify)
        })
    }

    /// Runs `work` in its own short transaction (loading at start, outside the writer's groups).
    fn standalone<T>(
        &mut self,
        work: impl FnOnce(&mut PostgresBackend) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.begin()?;
        match work(self) {
            Ok(value) => {
                self.commit()?;
                Ok(value)
            }
            Err(error) => {
                self.rollback();
                Err(error)
            }
        }
    }

    fn documents(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Incident>, StoreError> {
        self.query(sql, params)?
            .iter()
            .map(|row| incident_from_json(row.get(0), row.get(1)))
            .collect()
    }
}

impl Backend for PostgresBackend {
    fn load_hosts(&mut self) -> Result<Vec<HostRecord>, StoreError> {
        self.standalone(|backend| {
            let rows = backend.query(
                "SELECT host_id, hostname, agent_version, labels, stream, seq, first_seen_ms,
                        last_seen_ms, inventory FROM hosts ORDER BY host_id",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|row| HostRecord {
                    host_id: row.get(0),
                    hostname: row.get(1),
                    agent_version: row.get(2),
                    labels: labels_from_json(row.get(3)),
                    stream: row.get::<_, i64>(4) as u64,
                    seq: row.get::<_, i64>(5) as u64,
                    first_seen_ms: row.get(6),
                    last_seen_ms: row.get(7),
                    inventory_json: row.get(8),
                })
                .collect())
        })
    }

    fn load_incidents(&mut self) -> Result<(Vec<Incident>, u64), StoreError> {
        self.standalone(|backend| {
            let last: i64 = backend
                .query("SELECT last_id FROM id_counter WHERE id = 1", &[])?
                .first()
                .map_or(0, |row| row.get(0));
            let incidents = backend.documents(
                "SELECT id, data FROM incidents WHERE state <> 'closed' ORDER BY id",
                &[],
            )?;
            let max_id: Option<String> = backend
                .query("SELECT max(id) FROM incidents", &[])?
                .first()
                .and_then(|row| row.get(0));
            let max_id = max_id.as_deref().and_then(parse_id).unwrap_or(0);
            Ok((incidents, max_id.max(last as u64)))
        })
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        self.begin_with("BEGIN")
    }

    /// `synchronous_commit = off` for this transaction only: the server answers the commit
    /// before its WAL is flushed (within three `wal_writer_delay`s); a server crash may lose it,
    /// never apply it after a later synchronous commit.
    fn begin_deferred(&mut self) -> Result<(), StoreError> {
        self.begin_with("BEGIN; SET LOCAL synchronous_commit TO OFF")
    }

    fn record_batch(&mut self, batch: &BatchRecord) -> Result<Recorded, StoreError> {
        // Make sure the row exists, then lock it: two collectors receiving the same host (an
        // agent that moved) check its position one after the other.
        let row = HostParams::of(batch);
        let params = row.as_params();
        let inserted = self.execute(INSERT_HOST, &params)?;
        if inserted == 1 {
            return Ok(Recorded::Accepted);
        }
        let rows = self.query(
            "SELECT stream, seq FROM hosts WHERE host_id = $1 FOR UPDATE",
            &[&batch.host_id],
        )?;
        let position = rows
            .first()
            .map(|row| (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64));
        if !is_newer(position, batch.stream, batch.seq) {
            return Ok(Recorded::Duplicate);
        }
        self.execute(UPDATE_HOST, &params)?;
        Ok(Recorded::Accepted)
    }

    fn record_batches(&mut self, batches: &[&BatchRecord]) -> Result<Vec<Recorded>, StoreError> {
        if batches.len() < 2 {
            return batches
                .iter()
                .map(|batch| self.record_batch(batch))
                .collect();
        }
        // Three round trips for the whole group: (1) a row for every host not yet known, (2)
        // the others locked and their positions read, (3) every host that moved updated. Hosts
        // in sorted order each time, so two collectors never wait on each other in a cycle.
        let mut first: BTreeMap<&str, &BatchRecord> = BTreeMap::new();
        for batch in batches {
            first.entry(batch.host_id.as_str()).or_insert(batch);
        }
        let new_rows: Vec<HostParams> = first.values().map(|batch| HostParams::of(batch)).collect();
        let params: Vec<[&(dyn ToSql + Sync); 8]> =
            new_rows.iter().map(HostParams::as_params).collect();
        let inserted = self.execute_many(INSERT_HOST, &params)?;
        let mut position: HashMap<&str, (u64, u64)> = HashMap::new();
        let mut fresh: HashSet<&str> = HashSet::new();
        let mut known: Vec<&str> = Vec::new();
        for (host, count) in first.keys().zip(&inserted) {
            if *count == 1 {
                fresh.insert(host);
            } else {
                known.push(host);
            }
        }
        if !known.is_empty() {
            let rows = self.query(
                "SELECT host_id, stream, seq FROM hosts WHERE host_id = ANY($1)
                 ORDER BY host_id FOR UPDATE",
                &[&known],
            )?;
            for row in &rows {
                let host: &str = row.get(0);
                if let Some((host, _)) = first.get_key_value(host) {
                    let stored = (row.get::<_, i64>(1) as u64, row.get::<_, i64>(2) as u64);
                    position.insert(host, stored);
                }
            }
        }
        // The one sequence rule, batch by batch in arrival order.
        let mut moved: BTreeMap<&str, (&BatchRecord, Option<&String>)> = BTreeMap::new();
        let mut outcomes = Vec::with_capacity(batches.len());
        for batch in batches {
            let host = batch.host_id.as_str();
            let outcome = if fresh.remove(host) {
                Recorded::Accepted
            } else if is_newer(position.get(host).copied(), batch.stream, batch.seq) {
                let inventory = batch
                    .inventory_json
                    .as_ref()
                    .or_else(|| moved.get(host).and_then(|(_, inventory)| *inventory));
                moved.insert(host, (batch, inventory));
                Recorded::Accepted
            } else {
                Recorded::Duplicate
            };
            if outcome == Recorded::Accepted {
                position.insert(host, (batch.stream, batch.seq));
            }
            outcomes.push(outcome);
        }
        let updates: Vec<HostParams> = moved
            .values()
            .map(|(batch, inventory)| HostParams {
                inventory: inventory.cloned(),
                ..HostParams::of(batch)
            })
            .collect();
        let params: Vec<[&(dyn ToSql + Sync); 8]> =
            updates.iter().map(HostParams::as_params).collect();
        self.execute_many(UPDATE_HOST, &params)?;
        Ok(outcomes)
    }

    fn save_change(&mut self, change: &ChangeRecord) -> Result<(), StoreError> {
        self.save_changes(&[change])
    }

    fn save_changes(&mut self, changes: &[&ChangeRecord]) -> Result<(), StoreError> {
        let data = changes
            .iter()
            .map(|change| super::to_document(&change.id, change))
            .collect::<Result<Vec<String>, StoreError>>()?;
        let params: Vec<[&(dyn ToSql + Sync); 5]> = changes
            .iter()
            .zip(&data)
            .map(|(change, data)| -> [&(dyn ToSql + Sync); 5] {
                [
                    &change.id,
                    &change.kind,
                    &change.hosts,
                    &change.starts_ms,
                    data,
                ]
            })
            .collect();
        self.execute_many(SAVE_CHANGE, &params)?;
        Ok(())
    }

    fn forget_host(&mut self, host_id: &str) -> Result<bool, StoreError> {
        self.execute("DELETE FROM capacity WHERE host_id = $1", &[&host_id])?;
        self.execute("DELETE FROM series_history WHERE host_id = $1", &[&host_id])?;
        self.execute("DELETE FROM series_cold WHERE host_id = $1", &[&host_id])?;
        Ok(self.execute("DELETE FROM hosts WHERE host_id = $1", &[&host_id])? > 0)
    }

    fn save_capacity(
        &mut self,
        records: &[&CapacityRecord],
        histories: &[HistoryRow],
    ) -> Result<(), StoreError> {
        // Pipelined (see `execute_many`): a forecast pass's records and a save's histories cost a
        // round trip per statement kind, not per row, so the one writer is not held for long.
        let documents = records
            .iter()
            .map(|record| super::to_document(&record.resource, record))
            .collect::<Result<Vec<String>, StoreError>>()?;
        let rows: Vec<[&(dyn ToSql + Sync); 4]> = records
            .iter()
            .zip(&documents)
            .map(|(record, data)| -> [&(dyn ToSql + Sync); 4] {
                [
                    &record.host_id,
                    &record.resource,
                    &record.exhaustion_ms,
                    data,
                ]
            })
            .collect();
        self.execute_many(
            "INSERT INTO capacity (host_id, resource, exhaustion_ms, data)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (host_id, resource) DO UPDATE SET
                 exhaustion_ms = excluded.exhaustion_ms, data = excluded.data",
            &rows,
        )?;
        let rows: Vec<[&(dyn ToSql + Sync); 4]> = histories
            .iter()
            .map(|row| -> [&(dyn ToSql + Sync); 4] {
                [&row.host_id, &row.resource, &row.saved_ms, &row.data]
            })
            .collect();
        self.execute_many(
            "INSERT INTO series_history (host_id, resource, saved_ms, data)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (host_id, resource) DO UPDATE SET
                 saved_ms = excluded.saved_ms, data = excluded.data",
            &rows,
        )?;
        let rows: Vec<[&(dyn ToSql + Sync); 5]> = histories
            .iter()
            .flat_map(|row| {
                row.cold
                    .iter()
                    .map(move |cold| -> [&(dyn ToSql + Sync); 5] {
                        [
                            &row.host_id,
                            &row.resource,
                            &cold.first_ms,
                            &cold.end_ms,
                            &cold.data,
                        ]
                    })
            })
            .collect();
        self.execute_many(
            "INSERT INTO series_cold (host_id, resource, first_ms, end_ms, data)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (host_id, resource, first_ms) DO UPDATE SET
                 end_ms = excluded.end_ms, data = excluded.data",
            &rows,
        )?;
        let rows: Vec<[&(dyn ToSql + Sync); 3]> = histories
            .iter()
            .filter_map(|row| {
                row.cold_before_ms
                    .as_ref()
                    .map(|before_ms| -> [&(dyn ToSql + Sync); 3] {
                        [&row.host_id, &row.resource, before_ms]
                    })
            })
            .collect();
        self.execute_many(
            "DELETE FROM series_cold WHERE host_id = $1 AND resource = $2 AND end_ms < $3",
            &rows,
        )?;
        Ok(())
    }

    fn claim_event_id(&mut self, event_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        Ok(self.execute(CLAIM_EVENT_ID, &[&event_id, &now_ms])? == 1)
    }

    fn claim_event_ids(
        &mut self,
        event_ids: &[&str],
        now_ms: i64,
    ) -> Result<Vec<bool>, StoreError> {
        // Pipelined in order: an id sent twice finds its own first row.
        let params: Vec<[&(dyn ToSql + Sync); 2]> = event_ids
            .iter()
            .map(|event_id| -> [&(dyn ToSql + Sync); 2] { [event_id, &now_ms] })
            .collect();
        Ok(self
            .execute_many(CLAIM_EVENT_ID, &params)?
            .into_iter()
            .map(|count| count == 1)
            .collect())
    }

    fn prune_event_ids(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        Ok(self.execute("DELETE FROM event_ids WHERE at_ms < $1", &[&before_ms])? as usize)
    }

    fn save_incident(
        &mut self,
        incident: &Incident,
        next_due_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        self.save_incidents(&[IncidentSave {
            incident,
            next_due_ms,
            stored_state: None,
        }])
    }

    fn save_incidents(&mut self, incidents: &[IncidentSave<'_>]) -> Result<(), StoreError> {
        let rows = incidents
            .iter()
            .map(|save| IncidentParams::of(save.incident, save.next_due_ms))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let params: Vec<[&(dyn ToSql + Sync); 10]> =
            rows.iter().map(IncidentParams::as_params).collect();
        self.execute_many(SAVE_INCIDENT, &params)?;
        Ok(())
    }

    fn record_state_changes(&mut self, changes: &[StateChange]) -> Result<(), StoreError> {
        let params: Vec<[&(dyn ToSql + Sync); 6]> = changes
            .iter()
            .map(|change| -> [&(dyn ToSql + Sync); 6] {
                [
                    &change.kind,
                    &change.host,
                    &change.probe,
                    &change.at_ms,
                    &change.up,
                    &change.service,
                ]
            })
            .collect();
        self.execute_many(RECORD_STATE_CHANGE, &params)?;
        Ok(())
    }

    fn prune_state_changes(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        Ok(self.execute(super::sqlite::PRUNE_STATE_CHANGES, &[&before_ms])? as usize)
    }

    fn save_silence(&mut self, silence: &SilenceRecord) -> Result<(), StoreError> {
        let data = super::to_document(&silence.id, silence)?;
        self.execute(
            "INSERT INTO silences (id, starts_ms, ends_ms, data) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET starts_ms = excluded.starts_ms,
                 ends_ms = excluded.ends_ms, data = excluded.data",
            &[&silence.id, &silence.starts_ms, &silence.ends_ms, &data],
        )?;
        Ok(())
    }

    fn load_silences(&mut self, now_ms: i64) -> Result<Vec<SilenceRecord>, StoreError> {
        let rows = self.query(
            "SELECT id, data FROM silences WHERE ends_ms > $1 ORDER BY id",
            &[&now_ms],
        )?;
        documents_from_rows(&rows)
    }

    fn save_problem(&mut self, problem: &ProblemRecord) -> Result<(), StoreError> {
        let data = super::to_document(&problem.id, problem)?;
        self.query(
            "INSERT INTO problems (id, fingerprint, state, data) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, data = excluded.data",
            &[&problem.id, &problem.fingerprint, &problem.state, &data],
        )?;
        Ok(())
    }

    fn link_problem(
        &mut self,
        problem_id: &str,
        incident_ids: &[String],
    ) -> Result<(), StoreError> {
        self.query(
            "INSERT INTO problem_incidents (problem_id, incident_id)
             SELECT $1, unnest($2::TEXT[]) ON CONFLICT DO NOTHING",
            &[&problem_id, &incident_ids],
        )?;
        Ok(())
    }

    fn find_problem(&mut self, id: &str) -> Result<Option<ProblemRecord>, StoreError> {
        let rows = self.query("SELECT id, data FROM problems WHERE id = $1", &[&id])?;
        Ok(documents_from_rows::<ProblemRecord>(&rows)?.pop())
    }

    fn active_problems(
        &mut self,
        fingerprints: Option<&[String]>,
    ) -> Result<Vec<ProblemRecord>, StoreError> {
        let wanted: Option<Vec<String>> = fingerprints.map(<[String]>::to_vec);
        let rows = self.query(
            "SELECT id, data FROM problems WHERE state IN ('open', 'known_error')
             AND ($1::TEXT[] IS NULL OR fingerprint = ANY($1)) ORDER BY id",
            &[&wanted],
        )?;
        documents_from_rows::<ProblemRecord>(&rows)
    }

    fn incident_openings(
        &mut self,
        fingerprints: Option<&[String]>,
        since_ms: i64,
    ) -> Result<Vec<OpeningRecord>, StoreError> {
        let wanted: Option<Vec<String>> = fingerprints.map(<[String]>::to_vec);
        let rows = self.query(
            "SELECT fingerprint, id, opened_ms FROM incidents
             WHERE ($1::TEXT[] IS NULL OR fingerprint = ANY($1)) AND opened_ms >= $2
             AND NOT EXISTS (SELECT 1 FROM problem_incidents l WHERE l.incident_id = incidents.id)
             ORDER BY id",
            &[&wanted, &since_ms],
        )?;
        Ok(rows
            .iter()
            .map(|row| OpeningRecord {
                fingerprint: row.get(0),
                incident_id: row.get(1),
                opened_ms: row.get(2),
            })
            .collect())
    }

    fn load_novelty(
        &mut self,
        fingerprints: Option<&[String]>,
    ) -> Result<Vec<NoveltyRecord>, StoreError> {
        let wanted: Option<Vec<String>> = fingerprints.map(<[String]>::to_vec);
        let rows = self.query(
            "SELECT fingerprint, last_firing_ms, past_ms, past_at_ms FROM novelty
             WHERE ($1::TEXT[] IS NULL OR fingerprint = ANY($1))",
            &[&wanted],
        )?;
        Ok(rows
            .iter()
            .map(|row| NoveltyRecord {
                fingerprint: row.get(0),
                last_firing_ms: row.get(1),
                past_ms: row.get(2),
                past_at_ms: row.get(3),
            })
            .collect())
    }

    fn save_novelty(&mut self, records: &[NoveltyRecord]) -> Result<(), StoreError> {
        for record in records {
            self.execute(
                "INSERT INTO novelty (fingerprint, last_firing_ms, past_ms, past_at_ms)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (fingerprint) DO UPDATE SET last_firing_ms = excluded.last_firing_ms,
                     past_ms = excluded.past_ms, past_at_ms = excluded.past_at_ms",
                &[
                    &record.fingerprint,
                    &record.last_firing_ms,
                    &record.past_ms,
                    &record.past_at_ms,
                ],
            )?;
        }
        Ok(())
    }

    fn load_changes(&mut self, since_ms: i64) -> Result<Vec<ChangeRecord>, StoreError> {
        let limit = super::MAX_RECENT_CHANGES as i64;
        let rows = self.query(
            "SELECT id, data FROM changes WHERE starts_ms >= $1 AND kind <> 'maintenance'
             ORDER BY starts_ms DESC, id DESC LIMIT $2",
            &[&since_ms, &limit],
        )?;
        rows.iter()
            .map(|row| {
                let id: &str = row.get(0);
                serde_json::from_str(row.get(1)).map_err(|error| StoreError::Corrupt {
                    id: id.to_owned(),
                    reason: error.to_string(),
                })
            })
            .collect()
    }

    fn enqueue_notifications(
        &mut self,
        rows: &[NewNotification],
        claim: Claim<'_>,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let numbers: Vec<(i32, i64, &str)> = rows
            .iter()
            .map(|row| (row.level as i32, row.change_no as i64, &*row.payload))
            .collect();
        let params: Vec<[&(dyn ToSql + Sync); 12]> = rows
            .iter()
            .zip(&numbers)
            .map(|(row, (level, change_no, payload))| {
                [
                    &row.incident_id as &(dyn ToSql + Sync),
                    &row.sink,
                    &row.step,
                    level,
                    change_no,
                    &row.key,
                    payload,
                    &row.created_ms,
                    &row.due_ms,
                    &row.give_up_ms,
                    &claim.holder,
                    &claim.until_ms,
                ]
            })
            .collect();
        // Pipelined, and run in order: a row sees the rows queued before it.
        let answers = self.query_many(ENQUEUE_NOTIFICATION, &params)?;
        Ok(answers
            .iter()
            .map(|rows| {
                rows.first().and_then(|row| {
                    let holder: Option<String> = row.get(1);
                    holder.map(|_| row.get::<_, i64>(0))
                })
            })
            .collect())
    }

    fn cancel_escalations(&mut self, incident_ids: &[&str]) -> Result<u64, StoreError> {
        self.execute(
            "UPDATE outbox SET state = 'cancelled', claimed_by = NULL, claimed_until_ms = NULL
             WHERE incident_id = ANY($1) AND step = 'escalate' AND state IN ('pending', 'failed')",
            &[&incident_ids],
        )
    }

    fn cancel_held(&mut self, incident_ids: &[&str], now_ms: i64) -> Result<u64, StoreError> {
        self.execute(
            "UPDATE outbox SET state = 'cancelled', claimed_by = NULL, claimed_until_ms = NULL
             WHERE incident_id = ANY($1) AND due_ms > $2 AND state IN ('pending', 'failed')",
            &[&incident_ids, &now_ms],
        )
    }

    fn claim_notifications(
        &mut self,
        claim: Claim<'_>,
        limit: usize,
    ) -> Result<Vec<QueuedNotification>, StoreError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        // SKIP LOCKED: two collectors polling at once take different rows.
        let rows = self.query(
            "UPDATE outbox SET claimed_by = $1, claimed_until_ms = $3
             WHERE id IN (
                 SELECT o.id FROM outbox o
                 WHERE o.state IN ('pending', 'failed') AND o.next_attempt_ms <= $2
                   AND (o.claimed_by IS NULL OR o.claimed_until_ms < $2
                        OR ($5 AND o.claimed_by <> $1))
                   AND NOT EXISTS (
                       SELECT 1 FROM outbox e
                       WHERE e.incident_id = o.incident_id AND e.sink = o.sink AND e.id < o.id
                         AND e.state IN ('pending', 'failed') AND e.due_ms <= $2)
                 ORDER BY o.id LIMIT $4
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, incident_id, sink, step, level, idempotency_key, payload, created_ms,
                       due_ms, give_up_ms, attempts",
            &[
                &claim.holder,
                &claim.now_ms,
                &claim.until_ms,
                &limit,
                &claim.take_foreign,
            ],
        )?;
        let mut claimed: Vec<QueuedNotification> = rows
            .iter()
            .map(|row| QueuedNotification {
                id: row.get(0),
                incident_id: row.get(1),
                sink: row.get(2),
                step: row.get(3),
                level: row.get::<_, i32>(4) as u32,
                key: row.get(5),
                payload: row.get(6),
                created_ms: row.get(7),
                due_ms: row.get(8),
                give_up_ms: row.get(9),
                attempts: row.get::<_, i32>(10) as u32,
            })
            .collect();
        claimed.sort_by_key(|row| row.id);
        Ok(claimed)
    }

    fn finish_notifications(
        &mut self,
        holder: &str,
        finished: &[Finish],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut sent: Vec<[&(dyn ToSql + Sync); 2]> = Vec::new();
        let mut retry: Vec<[&(dyn ToSql + Sync); 4]> = Vec::new();
        let mut dead: Vec<[&(dyn ToSql + Sync); 3]> = Vec::new();
        let mut release: Vec<[&(dyn ToSql + Sync); 2]> = Vec::new();
        let holder = &holder;
        for finish in finished {
            match finish {
                Finish::Sent { id, at_ms } => sent.push([id, at_ms]),
                Finish::Retry {
                    id,
                    error,
                    next_attempt_ms,
                } => retry.push([id, next_attempt_ms, error, holder]),
                Finish::Dead { id, error } => dead.push([id, &now_ms, error]),
                Finish::Release { id } => release.push([id, holder]),
            }
        }
        self.execute_many(
            "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_ms = $2,
                 last_error = NULL, claimed_by = NULL, claimed_until_ms = NULL
             WHERE id = $1 AND state IN ('pending', 'failed')",
            &sent,
        )?;
        self.execute_many(
            "UPDATE outbox SET state = 'failed', attempts = attempts + 1, next_attempt_ms = $2,
                 last_error = $3, claimed_by = NULL, claimed_until_ms = NULL
             WHERE id = $1 AND state IN ('pending', 'failed') AND claimed_by = $4",
            &retry,
        )?;
        self.execute_many(
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, next_attempt_ms = $2,
                 last_error = $3, claimed_by = NULL, claimed_until_ms = NULL
             WHERE id = $1 AND state IN ('pending', 'failed')",
            &dead,
        )?;
        self.execute_many(
            "UPDATE outbox SET claimed_by = NULL, claimed_until_ms = NULL
             WHERE id = $1 AND claimed_by = $2 AND state IN ('pending', 'failed')",
            &release,
        )?;
        Ok(())
    }

    fn renew_notifications(
        &mut self,
        holder: &str,
        ids: &[i64],
        until_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE outbox SET claimed_until_ms = $2
             WHERE id = ANY($1) AND claimed_by = $3 AND state IN ('pending', 'failed')",
            &[&ids, &until_ms, &holder],
        )?;
        Ok(())
    }

    fn retry_notification(
        &mut self,
        id: i64,
        now_ms: i64,
        give_up_ms: i64,
    ) -> Result<bool, StoreError> {
        Ok(self.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_ms = $2, give_up_ms = $3,
                 claimed_by = NULL, claimed_until_ms = NULL
             WHERE id = $1 AND state IN ('dead', 'failed')",
            &[&id, &now_ms, &give_up_ms],
        )? == 1)
    }

    fn prune_notifications(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        Ok(self.execute(
            "DELETE FROM outbox WHERE state IN ('sent', 'dead', 'cancelled') AND created_ms < $1",
            &[&before_ms],
        )? as usize)
    }

    fn find_incident(&mut self, id: &str) -> Result<Option<Incident>, StoreError> {
        let rows = self.query("SELECT id, data FROM incidents WHERE id = $1", &[&id])?;
        rows.first()
            .map(|row| incident_from_json(row.get(0), row.get(1)))
            .transpose()
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        let Some(client) = self.client.take() else {
            return Err(StoreError::Database {
                reason: "commit without a transaction".to_owned(),
            });
        };
        self.store
            .block_on(client.batch_execute("COMMIT"))
            .map_err(classify)
    }

    fn rollback(&mut self) {
        if let Some(client) = self.client.take()
            && let Err(error) = self.store.block_on(client.batch_execute("ROLLBACK"))
        {
            // The connection is broken; dropping it lets the pool replace it.
            tracing::warn!(error = %error, "store rollback failed");
            let _ = deadpool_postgres::Object::take(client);
        }
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn lock_fingerprints(&mut self, fingerprints: &[String]) -> Result<(), StoreError> {
        let mut sorted: Vec<&str> = fingerprints.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.is_empty() {
            return Ok(());
        }
        // One round trip for the whole group. The locks are taken in the array's (sorted) order:
        // PostgreSQL evaluates volatile output expressions after the ORDER BY.
        self.query(
            "SELECT pg_advisory_xact_lock(hashtextextended(f, 0))
             FROM unnest($1::TEXT[]) WITH ORDINALITY AS t(f, n) ORDER BY n",
            &[&sorted],
        )?;
        Ok(())
    }

    fn current_incidents(&mut self, fingerprints: &[String]) -> Result<Vec<Incident>, StoreError> {
        if fingerprints.is_empty() {
            return Ok(Vec::new());
        }
        self.documents(
            "SELECT DISTINCT ON (fingerprint) id, data FROM incidents
             WHERE fingerprint = ANY($1) AND state <> 'closed'
             ORDER BY fingerprint, id DESC",
            &[&fingerprints],
        )
    }

    fn active_fingerprints_on_hosts(
        &mut self,
        hosts: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let rows = self.query(
            "SELECT DISTINCT fingerprint FROM incidents
             WHERE state IN ('open', 'acknowledged') AND (host = ANY($1) OR hosts && $1)
             LIMIT 10000",
            &[&hosts],
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn fingerprints_in_groups(&mut self, keys: &[String]) -> Result<Vec<String>, StoreError> {
        let rows = self.query(
            "SELECT DISTINCT fingerprint FROM incidents
             WHERE state <> 'closed' AND ((data::jsonb) ->> 'group_key') = ANY($1)
             LIMIT 10000",
            &[&keys],
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn fingerprint_of(&mut self, id: &str) -> Result<Option<String>, StoreError> {
        let rows = self.query("SELECT fingerprint FROM incidents WHERE id = $1", &[&id])?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    fn due_incidents(&mut self, now_ms: i64) -> Result<Vec<Incident>, StoreError> {
        self.documents(
            "SELECT id, data FROM incidents WHERE next_due_ms <= $1 ORDER BY next_due_ms LIMIT 1000",
            &[&now_ms],
        )
    }

    fn lock_last_id(&mut self) -> Result<u64, StoreError> {
        let rows = self.query(
            "SELECT last_id FROM id_counter WHERE id = 1 FOR UPDATE",
            &[],
        )?;
        Ok(rows.first().map_or(0, |row| row.get::<_, i64>(0) as u64))
    }

    fn store_last_id(&mut self, last_id: u64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE id_counter SET last_id = GREATEST(last_id, $1) WHERE id = 1",
            &[&(last_id as i64)],
        )?;
        Ok(())
    }

    fn active_by_priority(&mut self) -> Result<[u64; 5], StoreError> {
        let rows = self.query(
            "SELECT priority, count(*) FROM incidents
             WHERE state IN ('open', 'acknowledged') GROUP BY priority",
            &[],
        )?;
        let mut counts = [0u64; 5];
        for row in rows {
            let priority: i16 = row.get(0);
            let count: i64 = row.get(1);
            counts[usize::from((priority.clamp(1, 5) - 1) as u8)] += count as u64;
        }
        Ok(counts)
    }

    fn acquire_lease(&mut self, holder: &str, lease_ms: i64) -> Result<Option<Lease>, StoreError> {
        let rows = self.query(
            "UPDATE leader SET
                epoch = CASE WHEN holder = $1 AND expires_at > now() THEN epoch ELSE epoch + 1 END,
                holder = $1,
                expires_at = now() + make_interval(secs => $2::BIGINT / 1000.0)
             WHERE id = 1 AND (holder = $1 OR expires_at <= now())
             RETURNING epoch",
            &[&holder, &lease_ms],
        )?;
        Ok(rows.first().map(|row| Lease { epoch: row.get(0) }))
    }

    fn check_epoch(&mut self, epoch: i64) -> Result<(), StoreError> {
        // FOR SHARE: a takeover (an UPDATE of this row) waits for this transaction to end, so the
        // epoch checked here still leads when the transaction commits.
        let rows = self.query(
            "SELECT 1 FROM leader WHERE id = 1 AND epoch = $1 AND expires_at > now() FOR SHARE",
            &[&epoch],
        )?;
        if rows.is_empty() {
            return Err(StoreError::Fenced { epoch });
        }
        Ok(())
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        let client = self.store.client()?;
        self.store
            .block_on(client.simple_query("SELECT 1"))
            .map(|_| ())
            .map_err(classify)
    }
}

/// The API's reads, each on a pooled connection.
pub struct PostgresReader {
    store: PostgresStore,
}

impl PostgresReader {
    fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let client = self.store.client()?;
        self.store.block_on(async {
            let statement = client.prepare_cached(sql).await.map_err(classify)?;
            client.query(&statement, params).await.map_err(classify)
        })
    }
}

impl Reader for PostgresReader {
    fn list_problems(
        &self,
        states: &[String],
        limit: usize,
    ) -> Result<Vec<ProblemRecord>, StoreError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let states: Vec<String> = states.to_vec();
        let rows = self.query(
            "SELECT id, data FROM problems WHERE (cardinality($1::TEXT[]) = 0 OR state = ANY($1))
             ORDER BY id DESC LIMIT $2",
            &[&states, &limit],
        )?;
        documents_from_rows::<ProblemRecord>(&rows)
    }

    fn get_problem(&self, id: &str) -> Result<Option<(ProblemRecord, Vec<String>)>, StoreError> {
        let rows = self.query("SELECT id, data FROM problems WHERE id = $1", &[&id])?;
        let Some(problem) = documents_from_rows::<ProblemRecord>(&rows)?.pop() else {
            return Ok(None);
        };
        let rows = self.query(
            "SELECT incident_id FROM problem_incidents WHERE problem_id = $1 ORDER BY incident_id",
            &[&id],
        )?;
        Ok(Some((problem, rows.iter().map(|row| row.get(0)).collect())))
    }

    fn problem_links(&self, incident_ids: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        let ids: Vec<String> = incident_ids.to_vec();
        let rows = self.query(
            "SELECT DISTINCT ON (incident_id) incident_id, problem_id FROM problem_incidents
             WHERE incident_id = ANY($1) ORDER BY incident_id, problem_id DESC",
            &[&ids],
        )?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let states: Vec<&str> = filter.states.iter().map(|state| state.as_str()).collect();
        let priorities: Vec<i16> = filter.priorities.iter().map(|p| i16::from(*p)).collect();
        let limit = filter.limit.min(i64::MAX as usize) as i64;
        let rows = self.query(
            "SELECT id, data FROM incidents
             WHERE (cardinality($1::TEXT[]) = 0 OR state = ANY($1))
               AND (cardinality($2::SMALLINT[]) = 0 OR priority = ANY($2))
               AND ($3::TEXT IS NULL OR host = $3 OR hosts @> ARRAY[$3])
             ORDER BY id DESC LIMIT $4",
            &[&states, &priorities, &filter.host, &limit],
        )?;
        rows.iter()
            .map(|row| incident_from_json(row.get(0), row.get(1)))
            .collect()
    }

    fn get_incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let rows = self.query("SELECT id, data FROM incidents WHERE id = $1", &[&id])?;
        rows.first()
            .map(|row| incident_from_json(row.get(0), row.get(1)))
            .transpose()
    }

    fn list_changes(&self, filter: &ChangeFilter) -> Result<Vec<ChangeRecord>, StoreError> {
        let limit = filter.limit.min(i64::MAX as usize) as i64;
        let rows = self.query(
            "SELECT id, data FROM changes
             WHERE ($1::TEXT IS NULL OR kind = $1) AND ($2::TEXT IS NULL OR hosts @> ARRAY[$2])
             ORDER BY starts_ms DESC, id DESC LIMIT $3",
            &[&filter.kind, &filter.host, &limit],
        )?;
        rows.iter()
            .map(|row| {
                let id: &str = row.get(0);
                serde_json::from_str(row.get(1)).map_err(|error| StoreError::Corrupt {
                    id: id.to_owned(),
                    reason: error.to_string(),
                })
            })
            .collect()
    }

    fn list_silences(
        &self,
        now_ms: i64,
        include_ended: bool,
        limit: usize,
    ) -> Result<Vec<SilenceRecord>, StoreError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = self.query(
            "SELECT id, data FROM silences WHERE $1 OR ends_ms > $2 ORDER BY id DESC LIMIT $3",
            &[&include_ended, &now_ms, &limit],
        )?;
        documents_from_rows(&rows)
    }

    fn load_history(&self, host_id: &str) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = self.query(
            "SELECT resource, saved_ms, data FROM series_history WHERE host_id = $1
             ORDER BY resource",
            &[&host_id],
        )?;
        Ok(rows
            .iter()
            .map(|row| HistoryRow {
                host_id: host_id.to_owned(),
                resource: row.get(0),
                saved_ms: row.get(1),
                data: row.get(2),
                cold: Vec::new(),
                cold_before_ms: None,
            })
            .collect())
    }

    fn load_cold(&self, host_id: &str, resource: &str) -> Result<Vec<ColdRow>, StoreError> {
        let rows = self.query(
            "SELECT first_ms, end_ms, data FROM series_cold WHERE host_id = $1 AND resource = $2
             ORDER BY first_ms",
            &[&host_id, &resource],
        )?;
        Ok(rows
            .iter()
            .map(|row| ColdRow {
                first_ms: row.get(0),
                end_ms: row.get(1),
                data: row.get(2),
            })
            .collect())
    }

    fn list_capacity(&self, filter: &CapacityFilter) -> Result<Vec<CapacityRecord>, StoreError> {
        let limit = filter.limit.min(i64::MAX as usize) as i64;
        let rows = self.query(
            "SELECT resource, data FROM capacity
             WHERE ($1::TEXT IS NULL OR host_id = $1)
               AND ($2::TEXT IS NULL OR starts_with(resource, $2))
               AND (NOT $3 OR exhaustion_ms IS NOT NULL)
             ORDER BY host_id, resource LIMIT $4",
            &[&filter.host, &filter.resource, &filter.exhausting, &limit],
        )?;
        documents_from_rows(&rows)
    }

    fn list_notifications(
        &self,
        filter: &NotificationFilter,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let limit = filter.limit.min(i64::MAX as usize) as i64;
        let rows = self.query(
            "SELECT id, incident_id, sink, step, level, idempotency_key, state, attempts,
                    created_ms, due_ms, next_attempt_ms, sent_ms, last_error
             FROM outbox
             WHERE ($1::TEXT IS NULL OR incident_id = $1) AND ($2::TEXT IS NULL OR sink = $2)
               AND (cardinality($3::TEXT[]) = 0 OR state = ANY($3))
             ORDER BY id DESC LIMIT $4",
            &[&filter.incident, &filter.sink, &filter.states, &limit],
        )?;
        Ok(rows
            .iter()
            .map(|row| NotificationRecord {
                id: row.get(0),
                incident_id: row.get(1),
                sink: row.get(2),
                step: row.get(3),
                level: row.get::<_, i32>(4) as u32,
                key: row.get(5),
                state: row.get(6),
                attempts: row.get::<_, i32>(7) as u32,
                created_ms: row.get(8),
                due_ms: row.get(9),
                next_attempt_ms: row.get(10),
                sent_ms: row.get(11),
                last_error: row.get(12),
            })
            .collect())
    }

    fn state_changes(&self, since_ms: i64) -> Result<Vec<StateChange>, StoreError> {
        let rows = self.query(super::sqlite::STATE_CHANGES_SINCE, &[&since_ms])?;
        Ok(rows
            .iter()
            .map(|row| StateChange {
                kind: row.get(0),
                host: row.get(1),
                probe: row.get(2),
                service: row.get(3),
                at_ms: row.get(4),
                up: row.get(5),
            })
            .collect())
    }

    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError> {
        let rows = self.query("SELECT host_id, labels, last_seen_ms FROM hosts", &[])?;
        Ok(rows
            .iter()
            .map(|row| Heartbeat {
                host_id: row.get(0),
                labels: labels_from_json(row.get(1)),
                last_seen_ms: row.get(2),
            })
            .collect())
    }

    fn ping(&self) -> Result<(), StoreError> {
        let client = self.store.client()?;
        self.store
            .block_on(client.simple_query("SELECT 1"))
            .map(|_| ())
            .map_err(classify)
    }
}
