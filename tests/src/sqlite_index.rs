//! What SQLite's one-active index costs a new incident, through the collector's own SQLite
//! backend (`vigil-bench sqlite-index`).
//!
//! Each cell is a fresh store file (WAL, `synchronous = FULL`, the collector's checkpointer)
//! holding `active` open incidents, into which `new` more are saved through
//! [`Backend::save_incidents`] in commits of `per_commit`, in three variants of the
//! `incidents_one_active` index: as shipped (keyed by the fingerprint's 32 hex digits), keyed by
//! the fingerprint's 16 bytes instead (an alternative tried, not shipped: an expression index,
//! one-to-one with the fingerprint, on half the pages), and dropped. The figure is this process's
//! CPU (user + system, every thread, so the checkpointer's too) per saved incident; the variants
//! rotate within each round, and the table shows each cell's median over the rounds.
//!
//! The incidents are the document a real collector stores for a generic event (captured from
//! `vigil-bench-incidents`' JSON phase), with a fresh id and a random 32-hex fingerprint each.

use std::path::Path;
use vigil_collector::incidents::model::Incident;
use vigil_collector::store::sqlite::SqliteBackend;
use vigil_collector::store::{Backend, IncidentSave, StoreError};

/// A new incident's document as a collector stores it (one generic event, one host).
const DOCUMENT: &str = r#"{"id":"001a23c571c3e000","fingerprint":"cbbe7fd66be24e2c62ac30254b3c0472","title":"new-0 on web-0","summary":"5xx rate above 5%","state":"open","priority":2,"severity":"major","host":"web-0","service":"checkout","source":"bench","check":"new-0","labels":{"dc":"eu-1"},"opened_ms":1796308671550,"updated_ms":1796308671550,"count":1,"flapping":false,"flap":{"bits":1,"len":1},"last_status":"firing","last_event_ms":1796308671550,"last_firing_ms":1796308671550,"reopened":0,"sla":{"ack_due_ms":1796310471550,"resolve_due_ms":1796337471550,"ack_breached":false,"resolve_breached":false},"hosts":["web-0"],"silenced":false,"paged":true,"timeline":[{"at_ms":1796308671550,"kind":"opened","by":"bench","text":"5xx rate above 5%"}],"changes":1}"#;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum IndexBenchError {
    /// The store refused a step.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Changing the index for a variant failed.
    #[error("changing the one-active index: {0}")]
    ChangeIndex(String),
    /// The temporary directory.
    #[error("temporary directory: {0}")]
    Io(#[from] std::io::Error),
}

/// One cell's settings.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    /// Open incidents before the measured saves.
    pub active: usize,
    /// Incidents per commit.
    pub per_commit: usize,
    /// Incidents saved and measured.
    pub new: usize,
}

/// This process's CPU seconds so far (user + system, all threads).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given; a zeroed rusage is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// A fast, well-spread 64-bit mix (splitmix64's finaliser): random-looking fingerprints.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn incidents(template: &Incident, from: usize, n: usize) -> Vec<Incident> {
    (from..from + n)
        .map(|i| {
            let mut incident = template.clone();
            incident.id = format!("{:016x}", (1u64 << 52) + i as u64);
            incident.fingerprint = format!("{:016x}{:016x}", mix(i as u64), mix(!(i as u64)));
            incident
        })
        .collect()
}

fn save(backend: &mut SqliteBackend, batch: &[Incident]) -> Result<(), StoreError> {
    let saves: Vec<IncidentSave<'_>> = batch
        .iter()
        .map(|incident| IncidentSave {
            incident,
            next_due_ms: None,
            stored_state: None,
        })
        .collect();
    backend.begin()?;
    backend.save_incidents(&saves)?;
    backend.commit()
}

/// The one-active index a cell runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// As the migrations leave it: keyed by the fingerprint's hex digits.
    Shipped,
    /// Keyed by the fingerprint's bytes: 32 lowercase hex digits (every digest) become their 16
    /// bytes, any other fingerprint (a `dedup_key`) stays text, and a blob never equals a text,
    /// so it refuses exactly what the shipped index refuses.
    BytesKey,
    /// None at all.
    Dropped,
}

impl Variant {
    /// Every variant, in table order.
    pub const ALL: [Variant; 3] = [Variant::Shipped, Variant::BytesKey, Variant::Dropped];

    fn change(self) -> Option<&'static str> {
        match self {
            Variant::Shipped => None,
            Variant::BytesKey => Some(
                "DROP INDEX incidents_one_active;
                 CREATE UNIQUE INDEX incidents_one_active ON incidents (
                     iif(length(fingerprint) = 32 AND fingerprint NOT GLOB '*[^0-9a-f]*',
                         unhex(fingerprint), fingerprint))
                     WHERE state IN ('open', 'acknowledged');",
            ),
            Variant::Dropped => Some("DROP INDEX incidents_one_active;"),
        }
    }
}

/// Runs one cell in `dir`; returns CPU µs per saved incident.
pub fn run_cell(dir: &Path, cell: Cell, variant: Variant) -> Result<f64, IndexBenchError> {
    let template: Incident = serde_json::from_str(DOCUMENT).expect("the template parses");
    let path = dir.join(format!("cell-{variant:?}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    drop(SqliteBackend::open(&path)?);
    if let Some(change) = variant.change() {
        let connection = rusqlite::Connection::open(&path)
            .map_err(|e| IndexBenchError::ChangeIndex(e.to_string()))?;
        connection
            .execute_batch(change)
            .map_err(|e| IndexBenchError::ChangeIndex(e.to_string()))?;
    }
    let mut backend = SqliteBackend::open(&path)?;
    for chunk in incidents(&template, 0, cell.active).chunks(1_000) {
        save(&mut backend, chunk)?;
    }
    let new = incidents(&template, cell.active, cell.new);
    let before = cpu_seconds();
    for chunk in new.chunks(cell.per_commit) {
        save(&mut backend, chunk)?;
    }
    let per_incident = (cpu_seconds() - before) * 1e6 / cell.new as f64;
    drop(backend);
    Ok(per_incident)
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Every cell of `active` × `per_commit`, both variants alternating, `rounds` times; returns the
/// Markdown table.
pub fn run(
    active: &[usize],
    per_commit: &[usize],
    new: usize,
    rounds: usize,
) -> Result<String, IndexBenchError> {
    let dir = tempfile::tempdir()?;
    let cells: Vec<Cell> = active
        .iter()
        .flat_map(|&active| {
            per_commit.iter().map(move |&per_commit| Cell {
                active,
                per_commit,
                new,
            })
        })
        .collect();
    let mut figures: Vec<[Vec<f64>; 3]> = vec![Default::default(); cells.len()];
    for round in 0..rounds {
        for (i, cell) in cells.iter().enumerate() {
            // Rotate which variant goes first, so none always meets a warmer cache.
            for k in 0..Variant::ALL.len() {
                let v = (round + i + k) % Variant::ALL.len();
                figures[i][v].push(run_cell(dir.path(), *cell, Variant::ALL[v])?);
            }
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    let mut table = String::from(
        "| open incidents | per commit | as shipped | bytes key (not shipped) | no index | the index's share, shipped / bytes key |\n|---|---|---|---|---|---|\n",
    );
    for (cell, figures) in cells.iter().zip(figures) {
        let [shipped, bytes, none] = figures.map(median);
        table.push_str(&format!(
            "| {} | {} | {shipped:.1} µs | {bytes:.1} µs | {none:.1} µs | {:.1} / {:.1} µs |\n",
            cell.active,
            cell.per_commit,
            shipped - none,
            bytes - none,
        ));
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_a_real_incident_and_a_cell_saves_every_incident() {
        let dir = tempfile::tempdir().unwrap();
        let cell = Cell {
            active: 50,
            per_commit: 10,
            new: 30,
        };
        for variant in Variant::ALL {
            let micros = run_cell(dir.path(), cell, variant).unwrap();
            assert!(micros.is_finite() && micros >= 0.0);
            let connection =
                rusqlite::Connection::open(dir.path().join(format!("cell-{variant:?}.db")))
                    .unwrap();
            let rows: i64 = connection
                .query_row(
                    "SELECT count(*) FROM incidents WHERE state = 'open'",
                    [],
                    |row| row.get(0),
                )
                .unwrap();
            assert_eq!(rows, 80);
            let index: Option<String> = connection
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE name = 'incidents_one_active'",
                    [],
                    |row| row.get(0),
                )
                .ok();
            match variant {
                Variant::Shipped => assert!(!index.unwrap().contains("unhex")),
                Variant::BytesKey => assert!(index.unwrap().contains("unhex")),
                Variant::Dropped => assert_eq!(index, None),
            }
        }
    }

    #[test]
    fn both_indexes_refuse_exactly_a_second_open_incident_of_a_fingerprint() {
        let template: Incident = serde_json::from_str(DOCUMENT).unwrap();
        for variant in [Variant::Shipped, Variant::BytesKey] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.db");
            drop(SqliteBackend::open(&path).unwrap());
            if let Some(change) = variant.change() {
                rusqlite::Connection::open(&path)
                    .unwrap()
                    .execute_batch(change)
                    .unwrap();
            }
            let mut backend = SqliteBackend::open(&path).unwrap();
            let mut twins = incidents(&template, 0, 2);
            twins[1].fingerprint = twins[0].fingerprint.clone();
            assert!(save(&mut backend, &twins).is_err(), "{variant:?}: twins");
            backend.rollback();
            // Other fingerprints, however alike, are other keys: the upper-case spelling of a
            // digest, a shorter hex string, a dedup key.
            let mut alike = incidents(&template, 2, 4);
            alike[1].fingerprint = alike[0].fingerprint.to_uppercase();
            alike[2].fingerprint = alike[0].fingerprint[..30].to_owned();
            alike[3].fingerprint = "db-primary-down".to_owned();
            save(&mut backend, &alike).unwrap();
            let mut again = incidents(&template, 6, 1);
            again[0].fingerprint = "db-primary-down".to_owned();
            assert!(
                save(&mut backend, &again).is_err(),
                "{variant:?}: dedup key"
            );
            backend.rollback();
        }
    }
}
