//! The engine's side of novelty paging (`[grouping.novelty]`; the rule is in
//! [`crate::incidents::novelty`]). With it on, service grouping changes shape:
//!
//! - a key's service-level incident forms with its **first** member and stays active while any
//!   member is (one active per key); a member opening within the reopen window of the key's last
//!   one reopens it;
//! - every episode start (a member opening or reopening) is judged new or recurring against its
//!   fingerprint's record; a new one pages the service-level incident after `[grouping] wait`
//!   (new ones within the wait join that page), at most once per `interval`; a recurring one is
//!   recorded on it (hosts, count, a timeline entry saying why) and pages nobody;
//! - a member's episode end updates its fingerprint's record, which the pipeline stores in the
//!   group's transaction.

use super::service_groups::last_opened_ms;
use super::{Engine, number};
use crate::incidents::effect::Change;
use crate::incidents::grouping;
use crate::incidents::lifecycle::{self, VIGIL};
use crate::incidents::model::{State, TimelineEntry, TimelineKind};
use crate::incidents::novelty::{self, Record};
use crate::incidents::stages::{self, Decision};
use std::sync::Arc;

impl Engine {
    /// Incident `id` just opened or reopened (an episode start) with novelty paging on: it joins
    /// its key's active service-level incident (or reopens or opens one), which it pages when
    /// the episode is new.
    pub(super) fn group_by_novelty(&mut self, id: &str, now_ms: i64) {
        let Some(policy) = self.policy.grouping.novelty.clone() else {
            return;
        };
        let Some(member) = self.working.shared(id) else {
            return;
        };
        let Some(key) = member.group_key.clone() else {
            return;
        };
        if !member.state.is_active() || member.silenced {
            return;
        }
        // Attached to something it depends on (a topology outage), it stays there.
        if let Some(parent) = &member.parent_id
            && !self.working.get(parent).is_some_and(grouping::is_group)
        {
            return;
        }
        let verdict = novelty::judge(
            &policy,
            self.surroundings.novelty.get(&member.fingerprint),
            now_ms,
        );
        let groups_key = grouping::fingerprint(&key);
        let mut active: Option<String> = None;
        let mut reopenable: Option<String> = None;
        for unit in self.working.in_group(&groups_key) {
            let slot = if unit.state.is_active() {
                &mut active
            } else if unit.state == State::Resolved
                && now_ms - unit.resolved_ms.unwrap_or(now_ms) <= self.policy.reopen_window_ms
            {
                &mut reopenable
            } else {
                continue;
            };
            if slot.as_ref().is_none_or(|known| unit.id > *known) {
                *slot = Some(unit.id.clone());
            }
        }
        let decision = match (&active, &reopenable) {
            (Some(_), _) => Decision::Folded,
            (None, Some(_)) => Decision::Reopened,
            (None, None) => Decision::Opened,
        };
        let event = grouping::event_for(&member, &[&member]);
        let mut changes = Vec::new();
        let mut unit = match (decision, active.or(reopenable)) {
            (Decision::Folded, Some(unit_id)) => {
                let Some(mut unit) = self.working.take(&unit_id) else {
                    return;
                };
                let incident = Arc::make_mut(&mut unit);
                incident.count += 1;
                incident.updated_ms = now_ms;
                incident.last_event_ms = now_ms;
                incident.last_firing_ms = Some(now_ms);
                lifecycle::fold_entry(incident, now_ms, true, &self.policy);
                unit
            }
            (Decision::Reopened, Some(unit_id)) => {
                let Some(mut unit) = self.working.take(&unit_id) else {
                    return;
                };
                let incident = Arc::make_mut(&mut unit);
                stages::fold::reopen(incident, &event, now_ms, &self.policy);
                incident.last_event_ms = now_ms;
                incident.last_firing_ms = Some(now_ms);
                unit
            }
            _ => {
                let unit_id = self.working.issue_id(now_ms);
                let fingerprint = grouping::episode_fingerprint(&key, &unit_id);
                let mut unit = lifecycle::new_incident(unit_id, fingerprint, &event, now_ms);
                unit.title = grouping::title(&key, &member);
                unit.group_key = Some(groups_key.clone());
                Arc::new(unit)
            }
        };
        let new = verdict.is_new();
        let joined = {
            let incident = Arc::make_mut(&mut unit);
            let before = incident.hosts.len();
            grouping::add_members(incident, &[&member], &self.policy);
            let pending = decision == Decision::Folded
                && incident.page_due_ms.is_some_and(|due| due > now_ms);
            let mut text = format!(
                "{} on {}: {}",
                member.check,
                member.host.as_deref().unwrap_or("-"),
                verdict.describe(&policy)
            );
            match (decision, new) {
                (Decision::Opened, true) => changes.push(Change::Opened),
                (Decision::Reopened, true) => changes.push(Change::Reopened),
                (Decision::Opened | Decision::Reopened, false) => changes.push(Change::Quiet {
                    reopened: decision == Decision::Reopened,
                }),
                (_, true) if pending => text.push_str(": joins the page already due"),
                (_, true) => {
                    let episode_ms = last_opened_ms(incident);
                    let first = incident.page_due_ms.is_none_or(|due| due < episode_ms);
                    changes.push(Change::Novel {
                        first,
                        reopened: incident.reopened > 0,
                    });
                }
                (_, false) => {}
            }
            if new && !pending {
                let wait_ms = self.policy.grouping.wait_ms.max(0);
                let mut due = now_ms.saturating_add(wait_ms);
                if let Some(last) = incident.page_due_ms {
                    due = due.max(last.saturating_add(policy.interval_ms));
                }
                incident.page_due_ms = Some(due);
                // Its rows wait for the page (so they still go out in order).
                incident.held_until_ms = (due > now_ms).then_some(due);
            }
            lifecycle::push(
                incident,
                TimelineEntry::new(now_ms, TimelineKind::Novelty, Some(VIGIL), Some(text)),
                &self.policy,
            );
            incident.hosts[before..].to_vec()
        };
        tracing::debug!(
            incident_id = %unit.id,
            fingerprint = %member.fingerprint,
            new,
            "novelty judged a member's episode"
        );
        let (incident, mut changes, problem_writes) =
            self.group_stages(&event, &groups_key, decision, unit, changes, now_ms);
        let Some(mut unit) = incident else {
            return;
        };
        // The sinks hear of a service-level incident only once it paged: until then its
        // priority and hosts are recorded, not sent (an update would be a trigger to some).
        let told = unit.paged
            || changes.iter().any(|change| {
                matches!(
                    change,
                    Change::Opened | Change::Reopened | Change::Novel { .. }
                )
            });
        if !told {
            changes.retain(|change| !matches!(change, Change::PriorityChanged { .. }));
        }
        if decision == Decision::Folded && !joined.is_empty() {
            grouping::note_joined(Arc::make_mut(&mut unit), &joined, now_ms, &self.policy);
            if told
                && !changes.iter().any(|change| {
                    matches!(
                        change,
                        Change::PriorityChanged { .. } | Change::Novel { .. }
                    )
                })
            {
                changes.push(Change::HostJoined);
            }
        }
        self.note_problems(&groups_key, &unit, decision, problem_writes, now_ms);
        self.cover(&mut unit, decision, &mut changes, now_ms);
        let unit_id = unit.id.clone();
        number(&mut self.pending, &mut unit, changes);
        if decision == Decision::Opened {
            self.working.insert_new(unit);
        } else {
            self.working.put(unit);
        }
        if member.parent_id.as_deref() == Some(unit_id.as_str()) {
            return;
        }
        let paged = self.committed_page(id, now_ms);
        let Some(mut incident) = self.working.take(id) else {
            return;
        };
        let mut changes = Vec::new();
        let incident_mut = Arc::make_mut(&mut incident);
        grouping::join(incident_mut, &unit_id, now_ms, &self.policy, &mut changes);
        incident_mut.paged = paged;
        number(&mut self.pending, &mut incident, changes);
        self.working.put(incident);
    }

    /// Incident `id` stopped being active: with novelty paging on, a grouped incident's episode
    /// ended, and its fingerprint's record takes it in (once per episode).
    pub(super) fn end_novelty_episode(&mut self, id: &str, now_ms: i64) {
        let Some(policy) = &self.policy.grouping.novelty else {
            return;
        };
        let Some(incident) = self.working.get(id) else {
            return;
        };
        if incident.state.is_active()
            || incident.group_key.is_none()
            || grouping::is_group(incident)
        {
            return;
        }
        let end_ms = incident.resolved_ms.unwrap_or(now_ms);
        let last_firing_ms = incident.last_firing_ms.unwrap_or(incident.last_event_ms);
        let known = self.surroundings.novelty.get(&incident.fingerprint);
        if known.is_some_and(|record| {
            record.past_at_ms >= end_ms && record.last_firing_ms >= last_firing_ms
        }) {
            // This episode's end was taken in already (a resolved incident closed).
            return;
        }
        let record = novelty::end_episode(
            policy,
            known,
            &incident.fingerprint,
            last_opened_ms(incident),
            last_firing_ms,
            end_ms,
        );
        self.surroundings
            .novelty
            .insert(record.fingerprint.clone(), record.clone());
        self.novelty_writes.push(record);
    }

    /// The novelty records the group changed since the last call (the pipeline stores them in
    /// the group's transaction).
    pub fn take_novelty_writes(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.novelty_writes)
    }
}

#[cfg(test)]
mod tests;
