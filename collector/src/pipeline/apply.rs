//! What one [`Write`] does inside the group's transaction: the store's part (sequence check,
//! event-id claim, host records, change records, the lease) and the engine's part (events,
//! actions, the tick). The only place that dispatches on the kind of write.

use super::{Write, WriteOutcome};
use crate::incidents::{ActionError, Engine, EventOutcome, action};
use crate::store::{Backend, Recorded, StoreError};

/// Applies one write inside the open transaction; `counts` gathers event outcomes by kind
/// ([`EventOutcome::KINDS`]).
pub fn apply(
    backend: &mut dyn Backend,
    engine: &mut Engine,
    write: &Write,
    now_ms: i64,
    counts: &mut [u64; 8],
) -> Result<WriteOutcome, StoreError> {
    match write {
        Write::Batch(host) => match backend.record_batch(&host.record)? {
            Recorded::Duplicate => Ok(WriteOutcome::Duplicate),
            Recorded::Accepted => {
                if let Some(change) = &host.change {
                    backend.save_change(change)?;
                }
                for event in &host.events {
                    counts[engine.on_event(event, now_ms).kind_index()] += 1;
                }
                Ok(WriteOutcome::Accepted)
            }
        },
        Write::ForgetHost(host_id) => Ok(if backend.forget_host(host_id)? {
            WriteOutcome::Forgotten
        } else {
            WriteOutcome::NotFound
        }),
        Write::Events(events) => {
            let mut outcomes = Vec::with_capacity(events.len());
            for event in events {
                if let Some(event_id) = &event.event_id
                    && !backend.claim_event_id(event_id, now_ms)?
                {
                    counts[EventOutcome::Duplicate.kind_index()] += 1;
                    outcomes.push(EventOutcome::Duplicate);
                    continue;
                }
                let outcome = engine.on_event(event, now_ms);
                counts[outcome.kind_index()] += 1;
                outcomes.push(outcome);
            }
            Ok(WriteOutcome::Events(outcomes))
        }
        Write::Act {
            id,
            action,
            by,
            text,
        } => {
            let result = match engine.act(id, *action, by, text.as_deref(), now_ms) {
                Err(ActionError::NotFound(_)) => match backend.find_incident(id)? {
                    // Closed incidents live only in the store; closing again is a no-op.
                    Some(stored) => action::check_action(&stored, *action).map(|()| stored),
                    None => Err(ActionError::NotFound(id.clone())),
                },
                other => other,
            };
            Ok(WriteOutcome::Incident(Box::new(result)))
        }
        Write::Tick => {
            engine.tick(now_ms);
            Ok(WriteOutcome::Ticked)
        }
        Write::Lease { holder, lease_ms } => Ok(WriteOutcome::Lease(
            backend.acquire_lease(holder, *lease_ms)?,
        )),
        // The writer checked the epoch at the start of the group's transaction (its row lock
        // keeps a takeover out until the commit).
        Write::Fenced { write, .. } => apply(backend, engine, write, now_ms, counts),
        Write::Ping => {
            backend.ping()?;
            Ok(WriteOutcome::Pong)
        }
    }
}
