//! Who runs the sweeps. With an embedded store the collector is alone and always leads; with a
//! shared store the collectors compete for a lease row, and the one holding it runs the
//! heartbeat, the tick and retention. Each new leader gets a higher epoch, and every sweep write
//! carries it ([`super::Write::Fenced`]): the store refuses a stale epoch in the same
//! transaction, so a collector that was frozen (SIGSTOP, a VM pause) past its lease and wakes
//! up believing it still leads writes nothing.
//!
//! The lease is renewed every third of its length; a collector that cannot renew (the database
//! is unreachable) stops leading at once, before its lease runs out.

use super::{Pipeline, Write, WriteError, WriteOutcome};
use std::time::Duration;
use tokio::sync::watch;

/// The current leadership: `Some(epoch)` while this collector leads.
pub type Leadership = watch::Receiver<Option<i64>>;

/// Takes or renews the lease once: `Some(epoch)` while `holder` leads.
pub async fn acquire(
    pipeline: &Pipeline,
    holder: &str,
    lease: Duration,
) -> Result<Option<i64>, WriteError> {
    let lease_ms = i64::try_from(lease.as_millis())
        .unwrap_or(i64::MAX)
        .max(300);
    let asked = Write::Lease {
        holder: holder.to_owned(),
        lease_ms,
    };
    match pipeline.write_waiting(asked).await? {
        WriteOutcome::Lease(lease) => Ok(lease.map(|lease| lease.epoch)),
        _ => Ok(None),
    }
}

/// Keeps trying to take or renew the lease for `holder`; publishes the epoch while leading.
/// Ends when the pipeline closes.
pub async fn hold(
    pipeline: Pipeline,
    holder: String,
    lease: Duration,
    leading: watch::Sender<Option<i64>>,
) {
    let mut ticker = tokio::time::interval(lease / 3);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = match acquire(&pipeline, &holder, lease).await {
            Ok(now) => now,
            Err(WriteError::Closed) => {
                leading.send_replace(None);
                return;
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot renew the leadership lease");
                None
            }
        };
        let before = *leading.borrow();
        if before != now {
            match now {
                Some(epoch) => tracing::info!(epoch, %holder, "leading the sweeps"),
                None => tracing::info!(%holder, "not leading the sweeps"),
            }
            leading.send_replace(now);
        }
    }
}
