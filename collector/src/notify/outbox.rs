//! From a group's effects to outbox rows, inside the group's transaction: [`Notifier::plan`]
//! routes each effect (`route.rs`), names each notification with its idempotency key and
//! serializes the incident once per effect; the writer queues the rows with the incident
//! change and hands the ones it claimed to the dispatcher after the commit ([`Outgoing`]).

use super::Step;
use super::route::{Routing, ends_escalation};
use super::sinks::Sink;
use crate::incidents::{Effect, Incident};
use crate::store::{NewNotification, QueuedNotification, StoreError};
use std::sync::Arc;

/// What the writer needs to queue notifications.
#[derive(Debug, Clone)]
pub struct Notifier {
    /// The sinks, in config order (indexes in [`Outgoing::sink`]).
    pub sinks: Arc<Vec<Sink>>,
    /// The routes.
    pub routing: Routing,
    /// This collector's run, the holder of its claims (unique per start).
    pub holder: String,
    /// How long a claim lasts without renewal, ms.
    pub lease_ms: i64,
}

/// A claimed notification on its way to a sink.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Outbox row id.
    pub id: i64,
    /// Index into the sinks.
    pub sink: usize,
    /// The step.
    pub step: Step,
    /// Escalation level.
    pub level: u32,
    /// Idempotency key.
    pub key: String,
    /// The incident as committed with the change.
    pub incident: Arc<Incident>,
    /// When it became due, Unix ms (the change's time, or the escalation's).
    pub due_ms: i64,
    /// Dead-lettered if still failing after this, Unix ms.
    pub give_up_ms: i64,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// A group's notifications: the rows to queue (with the incident each reports) and the
/// incidents whose waiting escalations end.
#[derive(Debug, Default)]
pub struct Plan {
    /// Rows, in effect order.
    pub rows: Vec<NewNotification>,
    /// For each row: the sink index and the incident snapshot.
    pub meta: Vec<(usize, Step, Arc<Incident>)>,
    /// Incidents acknowledged, resolved or closed in the group.
    pub cancel: Vec<String>,
    /// Incidents attached to a parent in the group: their notifications still held back by
    /// the topology hold are cancelled.
    pub cancel_held: Vec<String>,
}

/// The idempotency key of change `number` of incident `id` on `sink` (and escalation `level`):
/// the same on every attempt, from every collector.
pub fn idempotency_key(id: &str, number: u64, sink: &str, level: u32) -> String {
    if level == 0 {
        format!("{id}.{number}.{sink}")
    } else {
        format!("{id}.{number}.{sink}.e{level}")
    }
}

impl Notifier {
    /// The rows `effects` queue at `now_ms`. An escalation planned earlier in the same group
    /// for an incident that is then acknowledged or resolved is dropped here (the store's
    /// cancellation only reaches rows already queued).
    pub fn plan(&self, effects: &[Effect], now_ms: i64) -> Result<Plan, StoreError> {
        let mut plan = Plan::default();
        for effect in effects {
            let incident = &effect.incident;
            if effect.change == crate::incidents::Change::Attached
                && !plan.cancel_held.contains(&incident.id)
            {
                plan.cancel_held.push(incident.id.clone());
            }
            if ends_escalation(effect.change) {
                if !plan.cancel.contains(&incident.id) {
                    plan.cancel.push(incident.id.clone());
                }
                let mut index = 0;
                while index < plan.rows.len() {
                    if plan.rows[index].incident_id == incident.id
                        && plan.rows[index].step == Step::Escalate.as_str()
                    {
                        plan.rows.remove(index);
                        plan.meta.remove(index);
                    } else {
                        index += 1;
                    }
                }
            }
            let planned = self.routing.plan(effect, &self.sinks, now_ms);
            if planned.is_empty() {
                continue;
            }
            let payload: Arc<str> =
                Arc::from(crate::store::to_document(&incident.id, &**incident)?);
            for row in planned {
                let sink = &self.sinks[row.sink];
                let dead_after_ms =
                    i64::try_from(sink.delivery.dead_after.as_millis()).unwrap_or(i64::MAX);
                plan.rows.push(NewNotification {
                    incident_id: incident.id.clone(),
                    sink: sink.name.clone(),
                    step: row.step.as_str(),
                    level: row.level,
                    change_no: effect.number,
                    key: idempotency_key(&incident.id, effect.number, &sink.name, row.level),
                    payload: Arc::clone(&payload),
                    created_ms: now_ms,
                    due_ms: row.due_ms,
                    give_up_ms: row.due_ms.saturating_add(dead_after_ms),
                });
                plan.meta.push((row.sink, row.step, Arc::clone(incident)));
            }
        }
        Ok(plan)
    }

    /// The sink index of `name`.
    pub fn sink_index(&self, name: &str) -> Option<usize> {
        self.sinks.iter().position(|sink| sink.name == name)
    }

    /// A row claimed from the store, ready to send; the error (logged, and the row
    /// dead-lettered by the caller) when its sink is no longer configured or it is unreadable.
    pub fn outgoing(&self, row: QueuedNotification) -> Result<Outgoing, String> {
        let Some(sink) = self.sink_index(&row.sink) else {
            let error = format!("sink {} is no longer configured", row.sink);
            tracing::warn!(id = row.id, sink = %row.sink, "queued notification for a sink no longer configured: dead-lettered");
            return Err(error);
        };
        let Some(step) = Step::parse(&row.step) else {
            tracing::warn!(id = row.id, step = %row.step, "queued notification with an unknown step: dead-lettered");
            return Err(format!("unknown step {}", row.step));
        };
        let incident: Incident = match serde_json::from_str(&row.payload) {
            Ok(incident) => incident,
            Err(error) => {
                tracing::warn!(id = row.id, error = %error, "queued notification unreadable: dead-lettered");
                return Err(format!("unreadable payload: {error}"));
            }
        };
        Ok(Outgoing {
            id: row.id,
            sink,
            step,
            level: row.level,
            key: row.key,
            incident: Arc::new(incident),
            due_ms: row.due_ms,
            give_up_ms: row.give_up_ms,
            attempts: row.attempts,
        })
    }
}
