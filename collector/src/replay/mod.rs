//! `vigil-collector replay`: backtest a config on past events. Generic events (the SPEC shape,
//! `time` required) are read as JSON lines and run through the same pipeline as the live
//! collector — the writer, the engine's stages, routing, escalation and every timer — on a
//! [`ManualClock`] driven by the events' times, with a throwaway in-memory SQLite store and no network.
//! Each notification a sink would have received is printed as one JSON line at the time it
//! would have gone out, then one summary line.
//!
//! Time: one ordered queue of due times (`Timers`) holds when the tick has work for an
//! incident (SLA, flapping settling, closing) and when a queued escalation becomes due. Before
//! each event the clock jumps through every due time before the event's, in order; after the
//! last event it runs on through the remaining ones (up to [`DRAIN_FOR_MS`]). Events out of time
//! order are applied at the latest time seen (the clock never goes back).

use crate::api::dto::EventRequest;
use crate::clock::{Clock, ManualClock};
use crate::config::{Args, Config};
use crate::incidents::Engine;
use crate::notify::Step;
use crate::notify::outbox::{Notifier, Outgoing};
use crate::notify::sinks::{Delivery, Sink, SinkKind};
use crate::pipeline::{Direct, NotifyWrite, Write, WriteOutcome, Writer};
use crate::store::{Finish, NewNotification};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How long past the last event the timers still run (a resolved incident closes, an
/// escalation fires): 30 days.
pub const DRAIN_FOR_MS: i64 = 30 * 86_400_000;

/// Every this many events the replay runs the live collector's full tick (which prunes).
const PRUNE_EVERY_EVENTS: u64 = 10_000;

/// The name of the sink a config without sinks is replayed with.
pub const IMPLICIT_SINK: &str = "default";

/// `vigil-collector replay` flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReplayArgs {
    /// The collector config to backtest (its sinks, routes and `[incidents]` policy); without
    /// one, the defaults and one implicit sink.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Writes one line per input line: the id of the top-level incident its event ended in
    /// (empty when it opened nothing).
    #[arg(long, value_name = "FILE")]
    pub assignments: Option<PathBuf>,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The config is invalid (exit status 2).
    #[error("{0}")]
    Config(String),
    /// An input line is not a valid event (exit status 2).
    #[error("input line {line}: {reason}")]
    Input {
        /// 1-based.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Reading, writing or the throwaway store failed (exit status 1).
    #[error("{0}")]
    Io(String),
}

impl ReplayError {
    /// The exit status: 2 for bad input or config, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ReplayError::Config(_) | ReplayError::Input { .. } => 2,
            ReplayError::Io(_) => 1,
        }
    }
}

/// What would have been sent, one line each.
#[derive(Debug, serde::Serialize)]
struct Line<'a> {
    at: String,
    sink: &'a str,
    step: &'static str,
    incident_id: &'a str,
    fingerprint: &'a str,
    title: &'a str,
    service: Option<&'a str>,
    hosts: &'a [String],
    priority: u8,
    count: u64,
    parent_id: Option<&'a str>,
    problem_id: Option<&'a str>,
    suspected_change: Option<&'a str>,
}

/// The ordered queue of due times: incident ticks and outbox rows.
#[derive(Debug, Default)]
struct Timers {
    /// (due ms, incident id): the tick has work for it then.
    incidents: BTreeSet<(i64, String)>,
    /// Due ms → outbox rows becoming due then.
    outbox: BTreeMap<i64, usize>,
}

impl Timers {
    fn next(&self) -> Option<i64> {
        let incident = self.incidents.first().map(|(due, _)| *due);
        let outbox = self.outbox.keys().next().copied();
        match (incident, outbox) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes what is due at or before `at`: the incident ids and whether outbox rows are due.
    fn take_due(&mut self, at: i64) -> (Vec<String>, bool) {
        let mut ids = Vec::new();
        while let Some((due, _)) = self.incidents.first()
            && *due <= at
        {
            if let Some((_, id)) = self.incidents.pop_first() {
                ids.push(id);
            }
        }
        let mut outbox = false;
        while let Some((&due, _)) = self.outbox.first_key_value()
            && due <= at
        {
            self.outbox.pop_first();
            outbox = true;
        }
        (ids, outbox)
    }
}

/// Counts for the summary line.
#[derive(Debug, Default)]
struct Totals {
    events: u64,
    incidents: BTreeSet<String>,
    steps: BTreeMap<&'static str, u64>,
    /// Problem records the notifications named.
    problems: BTreeSet<String>,
}

/// Per input line, the incident its event concerned; per incident, the parent it was last seen
/// attached to: the assignments and the top-level count are read from these at the end, so a
/// line names the incident it *ended* in (an incident grouped or attached after the event).
#[derive(Debug, Default)]
struct Lineage {
    lines: Vec<Option<u64>>,
    parents: std::collections::HashMap<u64, Option<u64>>,
}

impl Lineage {
    /// The top of `id`'s chain of parents (bounded: a cycle never loops).
    fn top(&self, id: u64) -> u64 {
        let mut at = id;
        for _ in 0..32 {
            match self.parents.get(&at).copied().flatten() {
                Some(parent) if parent != at => at = parent,
                _ => break,
            }
        }
        at
    }
}

/// What the writer's observer saw in one commit: the due times of the rows it queued for later.
#[derive(Default)]
struct Seen {
    queued: Vec<i64>,
}

/// Runs the replay: events from `input`, notification lines and the summary to `output`.
pub fn run(
    args: &ReplayArgs,
    input: impl BufRead,
    output: &mut dyn std::io::Write,
) -> Result<(), ReplayError> {
    let config = Config::load(&Args {
        config: args.config.clone(),
        ..Args::default()
    })
    .map_err(|errors| ReplayError::Config(errors.to_string()))?;
    let mut sinks = config.sinks.clone();
    if sinks.is_empty() {
        sinks.push(Sink {
            name: IMPLICIT_SINK.to_owned(),
            kind: SinkKind::Webhook,
            url: "http://replay.invalid/".to_owned(),
            secret: None,
            steps: Step::DEFAULT.to_vec(),
            delivery: Delivery::default(),
            options: crate::notify::sinks::SinkOptions::default(),
            callback_secret: None,
        });
    }
    let sinks = Arc::new(sinks);
    let backend = crate::store::sqlite::SqliteBackend::in_memory()
        .map_err(|error| ReplayError::Io(error.to_string()))?;
    let clock = Arc::new(ManualClock::new(0));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let observed = Arc::clone(&seen);
    let (fresh_tx, mut fresh_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<Outgoing>>();
    let notifier = Notifier {
        sinks: Arc::clone(&sinks),
        routing: config.routing.clone(),
        holder: "replay".to_owned(),
        lease_ms: DRAIN_FOR_MS * 100,
    };
    let mut engine = Engine::new(config.policy.clone(), Vec::new(), 0);
    // Replayed events carry no inventories: the topology is the config's.
    engine.surroundings_mut().configured_depends_on = config.topology.clone();
    let writer = Writer {
        backend: Box::new(backend),
        engine,
        clock: Arc::clone(&clock) as Arc<dyn Clock>,
        observer: Box::new(move |report| {
            let mut seen = observed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            seen.queued.extend(
                report
                    .notifications
                    .iter()
                    .filter(|row: &&NewNotification| row.due_ms > row.created_ms)
                    .map(|row| row.due_ms),
            );
        }),
        event_id_retention_ms: i64::try_from(config.event_id_retention.as_millis())
            .unwrap_or(i64::MAX),
        notify: Some((notifier.clone(), fresh_tx)),
        // Printed is delivered: the next prune forgets it (memory stays flat over a month).
        notification_retention_ms: 0,
    };
    let mut direct = Direct::new(writer);
    let assignments = match &args.assignments {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|error| {
                ReplayError::Io(format!("cannot write {}: {error}", path.display()))
            })?,
        )),
        None => None,
    };
    let mut replay = Replay {
        finished: Vec::new(),
        clock,
        timers: Timers::default(),
        totals: Totals::default(),
        lineage: Lineage::default(),
        seen,
        notifier,
        output,
    };
    let mut last_ms = None;
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|error| ReplayError::Io(format!("cannot read stdin: {error}")))?;
        if line.trim().is_empty() {
            replay.lineage.lines.push(None);
            continue;
        }
        let request: EventRequest =
            serde_json::from_str(&line).map_err(|error| ReplayError::Input {
                line: number,
                reason: format!("not a generic event: {error}"),
            })?;
        let Some(time) = request.time.as_deref() else {
            return Err(ReplayError::Input {
                line: number,
                reason: "time is required in a replay (RFC 3339, e.g. 2026-11-21T10:00:00Z)"
                    .to_owned(),
            });
        };
        let Some(at_ms) = crate::clock::parse_rfc3339(time) else {
            return Err(ReplayError::Input {
                line: number,
                reason: format!("time {time:?} is not RFC 3339, e.g. 2026-11-21T10:00:00Z"),
            });
        };
        let event =
            crate::api::events::to_event(request, Default::default()).map_err(|reason| {
                ReplayError::Input {
                    line: number,
                    reason,
                }
            })?;
        let at_ms = last_ms.map_or(at_ms, |last: i64| last.max(at_ms));
        replay.run_timers_before(&mut direct, &mut fresh_rx, at_ms)?;
        replay.clock_to(at_ms);
        last_ms = Some(at_ms);
        replay.totals.events += 1;
        let answers = replay.run(&mut direct, Write::Events(vec![event]));
        let incident = match answers.into_iter().next() {
            Some(Ok(WriteOutcome::Events(outcomes))) => outcomes
                .first()
                .and_then(|outcome| outcome.incident_id().map(str::to_owned)),
            Some(Err(error)) => {
                return Err(ReplayError::Io(format!(
                    "the throwaway store failed: {error}"
                )));
            }
            _ => None,
        };
        let number = incident.as_deref().and_then(crate::incidents::parse_id);
        replay.lineage.lines.push(number);
        if let Some(number) = number {
            replay.lineage.parents.entry(number).or_insert(None);
        }
        if let Some(id) = incident {
            replay.totals.incidents.insert(id);
        }
        replay.after_group(&mut direct, &mut fresh_rx)?;
        if replay.totals.events.is_multiple_of(PRUNE_EVERY_EVENTS) {
            // The full tick also prunes what is finished (sent notifications, old event ids).
            let answers = replay.run(&mut direct, Write::Tick);
            if let Some(Err(error)) = answers.into_iter().next() {
                return Err(ReplayError::Io(format!(
                    "the throwaway store failed: {error}"
                )));
            }
            replay.after_group(&mut direct, &mut fresh_rx)?;
        }
    }
    if let Some(last) = last_ms {
        replay.run_timers_before(
            &mut direct,
            &mut fresh_rx,
            last.saturating_add(DRAIN_FOR_MS),
        )?;
    }
    if let Some(mut out) = assignments {
        for line in &replay.lineage.lines {
            match line {
                Some(id) => writeln!(
                    out,
                    "{}",
                    crate::incidents::model::format_id(replay.lineage.top(*id))
                ),
                None => writeln!(out),
            }
            .map_err(io_error)?;
        }
        out.flush().map_err(io_error)?;
    }
    replay.summary()
}

fn io_error(error: std::io::Error) -> ReplayError {
    ReplayError::Io(format!("cannot write: {error}"))
}

struct Replay<'a> {
    /// Printed, to be recorded as sent with the next group.
    finished: Vec<Finish>,
    clock: Arc<ManualClock>,
    timers: Timers,
    totals: Totals,
    lineage: Lineage,
    seen: Arc<Mutex<Seen>>,
    notifier: Notifier,
    output: &'a mut dyn std::io::Write,
}

impl Replay<'_> {
    fn clock_to(&self, at_ms: i64) {
        let now = self.clock.now_ms();
        if at_ms > now {
            self.clock.advance(at_ms - now);
        }
    }

    /// Runs every due time before `at_ms`, in order.
    fn run_timers_before(
        &mut self,
        direct: &mut Direct,
        fresh: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<Outgoing>>,
        at_ms: i64,
    ) -> Result<(), ReplayError> {
        while let Some(due) = self.timers.next()
            && due < at_ms
        {
            self.clock_to(due);
            let (ids, outbox) = self.timers.take_due(due);
            let answers = self.run(direct, Write::TickOnly(ids.clone()));
            if let Some(Err(error)) = answers.into_iter().next() {
                return Err(ReplayError::Io(format!(
                    "the throwaway store failed: {error}"
                )));
            }
            // Ticked incidents that still have work later come back at that time.
            for id in ids {
                self.rearm(direct.writer().engine_ref(), &id);
            }
            self.after_group(direct, fresh)?;
            if outbox {
                self.claim_due(direct)?;
            }
        }
        Ok(())
    }

    fn rearm(&mut self, engine: &Engine, id: &str) {
        let now = self.clock.now_ms();
        if let Some(incident) = engine.get(id)
            && let Some(due) = engine.next_due_ms(incident, now)
        {
            self.timers
                .incidents
                .insert((due.max(now + 1), id.to_owned()));
        }
    }

    /// After a group: prints what the writer claimed, arms the timers its changes set.
    fn after_group(
        &mut self,
        direct: &mut Direct,
        fresh: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<Outgoing>>,
    ) -> Result<(), ReplayError> {
        let seen = std::mem::take(
            &mut *self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        // Every incident the commit changed, not only those with an effect: a settle time that
        // started is a due time too.
        let engine = direct.writer().engine_ref();
        for id in engine.last_committed() {
            self.rearm(engine, id);
            if let (Some(number), Some(incident)) = (crate::incidents::parse_id(id), engine.get(id))
            {
                let parent = incident
                    .parent_id
                    .as_deref()
                    .and_then(crate::incidents::parse_id);
                self.lineage.parents.insert(number, parent);
            }
        }
        for due in seen.queued {
            *self.timers.outbox.entry(due).or_default() += 1;
        }
        let mut rows = Vec::new();
        while let Ok(batch) = fresh.try_recv() {
            rows.extend(batch);
        }
        self.deliver(rows)
    }

    /// Claims the outbox rows that came due (escalations) and delivers them.
    fn claim_due(&mut self, direct: &mut Direct) -> Result<(), ReplayError> {
        loop {
            let answers = self.run(
                direct,
                Write::Notify(NotifyWrite::Claim {
                    holder: self.notifier.holder.clone(),
                    limit: 1_024,
                    lease_ms: self.notifier.lease_ms,
                    take_foreign: true,
                }),
            );
            let rows = match answers.into_iter().next() {
                Some(Ok(WriteOutcome::Notifications(rows))) => rows,
                Some(Err(error)) => {
                    return Err(ReplayError::Io(format!(
                        "the throwaway store failed: {error}"
                    )));
                }
                _ => Vec::new(),
            };
            if rows.is_empty() {
                return Ok(());
            }
            let rows = rows
                .into_iter()
                .filter_map(|row| self.notifier.outgoing(row).ok())
                .collect();
            self.deliver(rows)?;
        }
    }

    /// "Sends" rows: one line each, recorded as sent.
    fn deliver(&mut self, rows: Vec<Outgoing>) -> Result<(), ReplayError> {
        if rows.is_empty() {
            return Ok(());
        }
        let at = crate::clock::rfc3339(self.clock.now_ms());
        let mut finished = Vec::with_capacity(rows.len());
        for row in &rows {
            let incident = &row.incident;
            let line = Line {
                at: at.clone(),
                sink: &self.notifier.sinks[row.sink].name,
                step: row.step.as_str(),
                incident_id: &incident.id,
                fingerprint: &incident.fingerprint,
                title: &incident.title,
                service: incident.service.as_deref(),
                hosts: &incident.hosts,
                priority: incident.priority,
                count: incident.count,
                parent_id: incident.parent_id.as_deref(),
                problem_id: incident.problem_id.as_deref(),
                suspected_change: incident.suspected_change.as_ref().map(|c| c.id.as_str()),
            };
            if let Some(problem) = &incident.problem_id {
                self.totals.problems.insert(problem.clone());
            }
            let text = serde_json::to_string(&line).unwrap_or_default();
            writeln!(self.output, "{text}").map_err(io_error)?;
            *self.totals.steps.entry(row.step.as_str()).or_default() += 1;
            finished.push(Finish::Sent {
                id: row.id,
                at_ms: self.clock.now_ms(),
            });
        }
        // Recorded as sent with the next group (one transaction less per notification).
        self.finished.extend(finished);
        Ok(())
    }

    /// Runs `write` as one group, with the "sent" records of what was printed since the last.
    fn run(
        &mut self,
        direct: &mut Direct,
        write: Write,
    ) -> Vec<Result<WriteOutcome, crate::pipeline::WriteError>> {
        let mut writes = Vec::with_capacity(2);
        let flushed = !self.finished.is_empty();
        if flushed {
            writes.push(Write::Notify(NotifyWrite::Finish {
                holder: self.notifier.holder.clone(),
                finished: std::mem::take(&mut self.finished),
            }));
        }
        writes.push(write);
        let mut answers = direct.run(writes);
        if flushed {
            // One transaction: its failure is the second answer's too.
            let _ = answers.remove(0);
        }
        answers
    }

    /// The incidents the events ended in, counted once each.
    fn top_level_incidents(&self) -> usize {
        let lineage = &self.lineage;
        let tops: std::collections::HashSet<u64> = lineage
            .lines
            .iter()
            .flatten()
            .map(|id| lineage.top(*id))
            .collect();
        tops.len()
    }

    fn summary(&mut self) -> Result<(), ReplayError> {
        let notifications: serde_json::Map<String, serde_json::Value> = Step::ALL
            .iter()
            .map(|step| {
                (
                    step.as_str().to_owned(),
                    serde_json::Value::from(
                        self.totals.steps.get(step.as_str()).copied().unwrap_or(0),
                    ),
                )
            })
            .collect();
        let total: u64 = self.totals.steps.values().sum();
        let summary = serde_json::json!({"summary": {
            "events": self.totals.events,
            "incidents": self.totals.incidents.len(),
            "top_level_incidents": self.top_level_incidents(),
            "problems": self.totals.problems.len(),
            "notifications": notifications,
            "notifications_total": total,
        }});
        writeln!(self.output, "{summary}").map_err(io_error)?;
        self.output.flush().map_err(io_error)
    }
}
