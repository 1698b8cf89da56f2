//! The [`Engine`]: runs each event through [`super::stages::STAGES`] over the working set, applies
//! actions and the tick, and turns a group's transitions into [`Effect`]s once the store has
//! committed (or undoes them when it has not).

use super::action::{self, Action, ActionError};
use super::context::{Context, Surroundings};
use super::effect::{Change, Effect};
use super::event::{EventIn, EventOutcome};
use super::grouping;
use super::lifecycle;
use super::model::{Incident, State};
use super::policy::Policy;
use super::problems::{Opening, ProblemRef, ProblemState, ProblemWrite};
use super::stages::{Decision, Flow, STAGES, Step};
use super::topology;
use super::working::Working;
use std::sync::Arc;

mod novelty;
mod service_groups;

/// How often a shared store's tick looks at an attached incident (its parent may have resolved
/// on another collector).
const ATTACHED_RECHECK_MS: i64 = 15_000;

/// The engine: policy, surroundings, working set and the transitions of the group in progress.
#[derive(Debug, Default)]
pub struct Engine {
    policy: Policy,
    surroundings: Surroundings,
    working: Working,
    /// Transitions since the last commit: (incident id, change, its number), in order.
    pending: Vec<(String, Change, u64)>,
    /// The silences' version the working set was last checked against, and when coverage may
    /// change next without a new silence.
    silences_checked: Option<(u64, Option<i64>)>,
    /// Problem records the group's stages decided on, for the pipeline to store.
    problem_writes: Vec<ProblemWrite>,
    /// Per incident, the silences' version, the next boundary and the severity its coverage was
    /// last decided on: a repeat folded in while all three hold cannot change it, so it is not
    /// checked again.
    silence_checks: std::collections::HashMap<String, (u64, i64, vigil_shared::event::Severity)>,
    /// The store is shared with other collectors (see [`Engine::set_shared`]).
    shared: bool,
    /// Novelty records the group changed, for the pipeline to store.
    novelty_writes: Vec<super::novelty::Record>,
}

/// Above this many remembered coverage checks the memory is dropped (it only saves work).
const MAX_SILENCE_CHECKS: usize = 100_000;

impl Engine {
    /// An engine over `incidents` (as loaded from the store; closed ones are ignored).
    /// `last_id` is the highest id ever issued (0 if none).
    pub fn new(policy: Policy, incidents: Vec<Incident>, last_id: u64) -> Engine {
        Engine {
            policy,
            working: Working::new(incidents, last_id),
            ..Engine::default()
        }
    }

    /// Tells the engine its store is shared: another collector may resolve the parent of an
    /// attached incident, so [`Engine::next_due_ms`] brings attached incidents back every 15 s.
    /// With an embedded store every change of a parent passes through this engine, which looks
    /// at its children then.
    pub fn set_shared(&mut self, shared: bool) {
        self.shared = shared;
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// What the stages see around the events (topology, changes, suppressors).
    pub fn surroundings_mut(&mut self) -> &mut Surroundings {
        &mut self.surroundings
    }

    /// An incident that is not closed.
    pub fn get(&self, id: &str) -> Option<&Incident> {
        self.working.get(id)
    }

    /// Every incident that is not closed.
    pub fn incidents(&self) -> impl Iterator<Item = &Incident> {
        self.working.iter()
    }

    /// Committed open or acknowledged incidents per priority (index 0 = priority 1).
    pub fn active_by_priority(&self) -> [u64; 5] {
        self.working.active_by_priority()
    }

    /// Runs one event through the stages. The caller has already checked `event_id` against
    /// the store (a repeat never reaches the engine).
    pub fn on_event(&mut self, event: &EventIn, now_ms: i64) -> EventOutcome {
        let context = Context {
            policy: &self.policy,
            now_ms,
            surroundings: &self.surroundings,
        };
        let mut step = Step {
            event,
            fingerprint: String::new(),
            decision: Decision::Pending,
            incident: None,
            changes: Vec::new(),
            working: &mut self.working,
            problem_writes: Vec::new(),
        };
        for (_, stage) in STAGES {
            if stage(&context, &mut step) == Flow::Stop {
                break;
            }
        }
        let outcome = step.outcome(None);
        let Step {
            decision,
            incident,
            changes,
            fingerprint,
            problem_writes,
            ..
        } = step;
        let mut changes = changes;
        if let Some(incident) = &incident {
            self.note_problems(&fingerprint, incident, decision, problem_writes, now_ms);
        }
        if let Some(mut incident) = incident {
            if decision == Decision::Opened {
                let key = grouping::key(&self.policy.grouping, &incident);
                if key.is_some() {
                    Arc::make_mut(&mut incident).group_key = key;
                }
            }
            if decision == Decision::Reopened
                && let Some(parent) = &incident.parent_id
                && self.working.get(parent).is_none()
                && incident.group_key.is_some()
            {
                // Its service-level incident closed meanwhile: it stands on its own again.
                Arc::make_mut(&mut incident).parent_id = None;
            }
            if decision != Decision::Noted {
                self.cover(&mut incident, decision, &mut changes, now_ms);
            }
            // An outage found after its dependants: they attach to it now.
            let outage = matches!(decision, Decision::Opened | Decision::Reopened)
                && !self.surroundings.depends_on.is_empty()
                && topology::is_outage(&incident);
            let outage = outage.then(|| {
                (
                    incident.id.clone(),
                    incident.parent_id.clone(),
                    incident.host.clone().unwrap_or_default(),
                )
            });
            // A parent that resolved or fired again: its attached children start (or stop)
            // settling now, not at the next tick.
            let flipped = (matches!(decision, Decision::Resolved | Decision::Reopened)
                && !self.surroundings.depends_on.is_empty())
            .then(|| incident.id.clone());
            let id = incident.id.clone();
            match decision {
                Decision::Opened => {
                    number(&mut self.pending, &mut incident, changes);
                    self.working.insert_new(incident);
                }
                // Noted: a copy to report the id; the incident was not taken (and nothing
                // changed).
                Decision::Noted => {}
                _ => {
                    number(&mut self.pending, &mut incident, changes);
                    self.working.put(incident);
                }
            }
            if let Some((id, parent, host)) = outage {
                self.attach_dependents(&id, parent.as_deref(), &host, now_ms);
            }
            if let Some(parent) = flipped {
                self.settle_children(&parent, now_ms);
            }
            match decision {
                Decision::Opened | Decision::Reopened if self.policy.grouping.novelty.is_some() => {
                    self.group_by_novelty(&id, now_ms)
                }
                Decision::Opened | Decision::Reopened => self.group(&id, now_ms),
                Decision::Resolved => self.member_settled(&id, now_ms),
                _ => {}
            }
        }
        outcome
    }

    /// Silence coverage after an event (a folded repeat is checked again only when the
    /// silences, their next boundary or its severity changed), and whether a page goes out.
    fn cover(
        &mut self,
        incident: &mut Arc<Incident>,
        decision: Decision,
        changes: &mut Vec<Change>,
        now_ms: i64,
    ) {
        let incident = Arc::make_mut(incident);
        let silences = &self.surroundings.silences;
        let version = silences.version();
        let unchanged = decision == Decision::Folded
            && self
                .silence_checks
                .get(&incident.id)
                .is_some_and(|&(checked, until, severity)| {
                    checked == version && now_ms < until && severity == incident.severity
                });
        if !unchanged {
            let covered = silences.covers(incident, now_ms);
            lifecycle::set_silenced(incident, covered, now_ms, &self.policy, changes);
            if !silences.is_empty() {
                if self.silence_checks.len() >= MAX_SILENCE_CHECKS {
                    self.silence_checks.clear();
                }
                let until = silences.next_boundary(now_ms).unwrap_or(i64::MAX);
                self.silence_checks
                    .insert(incident.id.clone(), (version, until, incident.severity));
            }
        }
        mark_paged(incident, changes);
    }

    /// Whether the sinks were told about incident `id` (so they are owed its acknowledge and
    /// resolve even once it is attached): it was paged before this group, and its notifications
    /// are not still held (attaching cancels those).
    fn committed_page(&self, id: &str, now_ms: i64) -> bool {
        let told = |incident: &Incident| {
            incident.paged && incident.held_until_ms.is_none_or(|until| until <= now_ms)
        };
        match self.working.before_group(id) {
            None => self.working.get(id).is_some_and(told),
            Some(None) => false,
            Some(Some(before)) => told(before),
        }
    }

    /// Attaches the active top-level incidents of the hosts depending on `host` to the outage
    /// `id` (or to the top of its chain, `parent`). A service-level incident whose active members
    /// all depend on `host` attaches as a whole; the members of one that also spans other hosts
    /// move to the outage.
    fn attach_dependents(&mut self, id: &str, parent: Option<&str>, host: &str, now_ms: i64) {
        let hosts = topology::dependents(&self.surroundings.depends_on, host);
        if hosts.is_empty() {
            return;
        }
        let root = parent.unwrap_or(id).to_owned();
        let mut children: Vec<String> = Vec::new();
        let mut groups: Vec<String> = Vec::new();
        for other in hosts.iter().flat_map(|host| self.working.on_host(host)) {
            if other.id == id || other.id == root || !other.state.is_active() {
                continue;
            }
            match &other.parent_id {
                None => children.push(other.id.clone()),
                Some(group) => {
                    if self.working.get(group).is_some_and(|group| {
                        grouping::is_group(group)
                            && group.state.is_active()
                            && group.parent_id.is_none()
                    }) && !groups.contains(group)
                    {
                        groups.push(group.clone());
                    }
                }
            }
        }
        for group in groups {
            let members: Vec<(String, bool)> = self
                .working
                .children_of(&group)
                .into_iter()
                .filter_map(|member| self.working.get(&member))
                .filter(|member| member.state.is_active())
                .map(|member| {
                    let behind = member
                        .host
                        .as_ref()
                        .is_some_and(|host| hosts.contains(host));
                    (member.id.clone(), behind)
                })
                .collect();
            if members.iter().all(|(_, behind)| *behind) {
                children.push(group);
            } else {
                children.extend(
                    members
                        .into_iter()
                        .filter(|(_, behind)| *behind)
                        .map(|(member, _)| member),
                );
            }
        }
        for child in children {
            let paged = self.committed_page(&child, now_ms);
            let Some(mut incident) = self.working.take(&child) else {
                continue;
            };
            let mut changes = Vec::new();
            let incident_mut = Arc::make_mut(&mut incident);
            topology::attach(
                incident_mut,
                &root,
                host,
                now_ms,
                &self.policy,
                &mut changes,
            );
            incident_mut.paged = paged;
            number(&mut self.pending, &mut incident, changes);
            self.working.put(incident);
        }
    }

    /// Attached incidents whose parent is no longer active settle, then detach (see
    /// [`topology::settle`]).
    fn tick_topology(&mut self, now_ms: i64) {
        let ids: Vec<String> = self
            .working
            .attached()
            .map(|incident| incident.id.clone())
            .collect();
        self.settle_attached(&ids, now_ms);
    }

    /// [`Engine::tick_topology`] for the incidents attached to `parent`.
    fn settle_children(&mut self, parent: &str, now_ms: i64) {
        let ids = self.working.children_of(parent);
        if !ids.is_empty() {
            self.settle_attached(&ids, now_ms);
        }
    }

    /// [`Engine::tick_topology`] for the incidents `ids` only.
    fn settle_attached(&mut self, ids: &[String], now_ms: i64) {
        let attached: Vec<(String, bool)> = ids
            .iter()
            .filter_map(|id| self.working.get(id))
            .filter(|incident| incident.state.is_active())
            .filter_map(|incident| {
                let parent = incident.parent_id.as_deref()?;
                let parent_active = self
                    .working
                    .get(parent)
                    .is_some_and(|parent| parent.state.is_active());
                let changes = parent_active == incident.settle_until_ms.is_some()
                    || incident
                        .settle_until_ms
                        .is_some_and(|until| now_ms >= until);
                changes.then(|| (incident.id.clone(), parent_active))
            })
            .collect();
        for (id, parent_active) in attached {
            let Some(mut incident) = self.working.take(&id) else {
                continue;
            };
            let mut changes = Vec::new();
            topology::settle(
                Arc::make_mut(&mut incident),
                parent_active,
                now_ms,
                &self.policy,
                &mut changes,
            );
            number(&mut self.pending, &mut incident, changes);
            self.working.put(incident);
        }
    }

    /// An API action on an in-memory incident. `Err(NotFound)` means it is closed or unknown:
    /// the caller looks in the store (see [`action::check_action`]).
    pub fn act(
        &mut self,
        id: &str,
        action: Action,
        by: &str,
        text: Option<&str>,
        now_ms: i64,
    ) -> Result<Incident, ActionError> {
        let Some(current) = self.working.get(id) else {
            return Err(ActionError::NotFound(id.to_owned()));
        };
        action::check_request(action, by, text)?;
        action::check_action(current, action)?;
        if !action::would_change(current, action) {
            return Ok(current.clone());
        }
        let Some(mut incident) = self.working.take(id) else {
            return Err(ActionError::NotFound(id.to_owned()));
        };
        let mut changes = Vec::new();
        lifecycle::act(
            Arc::make_mut(&mut incident),
            action,
            by,
            text,
            now_ms,
            &self.policy,
            &mut changes,
        );
        let resolved = changes
            .iter()
            .any(|change| matches!(change, Change::Resolved { .. } | Change::Closed));
        number(&mut self.pending, &mut incident, changes);
        let result = (*incident).clone();
        self.working.put(incident);
        if resolved && !self.surroundings.depends_on.is_empty() {
            // Its attached children start settling now, not at the next tick.
            self.settle_children(id, now_ms);
        }
        if resolved {
            self.member_settled(id, now_ms);
        }
        Ok(result)
    }

    /// Time-driven changes: SLA breaches, flapping that settled, resolved incidents closing,
    /// silences that began or ended.
    pub fn tick(&mut self, now_ms: i64) {
        self.tick_silences(now_ms);
        self.tick_topology(now_ms);
        let due: Vec<String> = self
            .working
            .iter()
            .filter(|incident| lifecycle::tick_due(incident, now_ms, &self.policy))
            .map(|incident| incident.id.clone())
            .collect();
        self.tick_ids(due, now_ms);
    }

    /// Like [`Engine::tick`] for the given incidents only (the replay knows which are due; the
    /// live tick looks at all of them). Of the attached incidents only those in `ids` are looked
    /// at (a settle time is a due time), and the children of a ticked incident that stopped or
    /// started being active (a parent resolving by itself), as after an event or an action.
    pub fn tick_only(&mut self, ids: &[String], now_ms: i64) {
        self.tick_silences(now_ms);
        self.settle_attached(ids, now_ms);
        let due: Vec<String> = ids
            .iter()
            .filter(|id| {
                self.working
                    .get(id)
                    .is_some_and(|incident| lifecycle::tick_due(incident, now_ms, &self.policy))
            })
            .cloned()
            .collect();
        let flipped = self.tick_ids(due, now_ms);
        if !self.surroundings.depends_on.is_empty() {
            for parent in flipped {
                self.settle_children(&parent, now_ms);
            }
        }
    }

    /// Ticks the incidents `due`; returns those that stopped or started being active.
    fn tick_ids(&mut self, due: Vec<String>, now_ms: i64) -> Vec<String> {
        let mut flipped = Vec::new();
        for id in due {
            let Some(mut incident) = self.working.take(&id) else {
                continue;
            };
            let was_active = incident.state.is_active();
            let mut changes = Vec::new();
            lifecycle::tick(
                Arc::make_mut(&mut incident),
                now_ms,
                &self.policy,
                &mut changes,
            );
            let settled = was_active && !incident.state.is_active();
            if incident.state.is_active() != was_active {
                flipped.push(id.clone());
            }
            number(&mut self.pending, &mut incident, changes);
            self.working.put(incident);
            if settled {
                self.member_settled(&id, now_ms);
            }
        }
        flipped
    }

    /// Applies a change of the silences now (a silence was made or ended), without the rest of
    /// the tick (which is the leader's).
    pub fn apply_silences(&mut self, now_ms: i64) {
        self.tick_silences(now_ms);
    }

    /// Marks the active incidents whose silence coverage changed: when the set of silences
    /// changed, or one of them began or ended, since the last check.
    fn tick_silences(&mut self, now_ms: i64) {
        let silences = &mut self.surroundings.silences;
        silences.forget_ended(now_ms);
        let version = silences.version();
        let due = match self.silences_checked {
            None => true,
            Some((checked, next)) => checked != version || next.is_some_and(|at| at <= now_ms),
        };
        if !due {
            return;
        }
        self.silences_checked = Some((version, silences.next_boundary(now_ms)));
        let silences = &self.surroundings.silences;
        let changed: Vec<String> = self
            .working
            .iter()
            .filter(|incident| {
                incident.state.is_active() && incident.silenced != silences.covers(incident, now_ms)
            })
            .map(|incident| incident.id.clone())
            .collect();
        for id in changed {
            let Some(mut incident) = self.working.take(&id) else {
                continue;
            };
            let mut changes = Vec::new();
            let covered = self.surroundings.silences.covers(&incident, now_ms);
            lifecycle::set_silenced(
                Arc::make_mut(&mut incident),
                covered,
                now_ms,
                &self.policy,
                &mut changes,
            );
            number(&mut self.pending, &mut incident, changes);
            self.working.put(incident);
        }
    }

    /// When coverage by silences may next change without a new silence (the replay's timers).
    pub fn next_silence_boundary_ms(&self, now_ms: i64) -> Option<i64> {
        self.surroundings.silences.next_boundary(now_ms)
    }

    /// When the tick next has work for `incident` after `now_ms` (what a shared store
    /// indexes): the lifecycle's due times and, for a silenced incident, the next start or end
    /// of a silence (it may be uncovered then).
    pub fn next_due_ms(&self, incident: &Incident, now_ms: i64) -> Option<i64> {
        let due = lifecycle::next_due_ms(incident, &self.policy);
        // An attached incident is looked at again while attached: its parent may resolve on
        // another collector (a shared store's tick loads only what is due).
        let attached = (self.shared && incident.parent_id.is_some() && incident.state.is_active())
            .then(|| now_ms.saturating_add(ATTACHED_RECHECK_MS));
        // A settle time is due only while the incident is still active and attached: one that
        // resolved while settling keeps the field, and a past due time would bring it back on
        // every tick until it closes.
        let settle = incident
            .settle_until_ms
            .filter(|_| incident.state.is_active() && incident.parent_id.is_some());
        let due = [due, settle, attached].into_iter().flatten().min();
        let boundary = if incident.silenced && incident.state.is_active() {
            self.surroundings.silences.next_boundary(now_ms)
        } else {
            None
        };
        match (due, boundary) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The ids of the incidents the last commit changed (see [`Working::last_committed`]).
    pub fn last_committed(&self) -> &[String] {
        self.working.last_committed()
    }

    /// Incidents changed since the last commit, in the order first changed.
    pub fn dirty(&self) -> impl Iterator<Item = &Incident> {
        self.working.dirty()
    }

    /// Like [`Engine::dirty`], each with its state before the group (`None`: new in the group).
    pub fn dirty_with_stored_state(&self) -> impl Iterator<Item = (&Incident, Option<State>)> {
        self.working.dirty_with_state_before()
    }

    /// The highest id issued.
    pub fn last_id(&self) -> u64 {
        self.working.last_id()
    }

    /// Raises the id floor to a shared store's counter.
    pub fn raise_last_id(&mut self, last_id: u64) {
        self.working.raise_last_id(last_id);
    }

    /// Replaces what the engine knows of `fingerprint` with the store's current incident (shared
    /// stores, between groups).
    pub fn refresh(&mut self, fingerprint: &str, incident: Option<Incident>) {
        self.working.refresh(fingerprint, incident);
    }

    /// Replaces the working set with `incidents` (a shared store's current state, loaded under
    /// its locks), with ids issued above `last_id` and above every loaded id.
    pub fn reload(&mut self, incidents: Vec<Incident>, last_id: u64) {
        // Coverage decided in a group that did not commit (or on incidents since reloaded) is not
        // known any more.
        self.silence_checks.clear();
        let floor = self.working.last_id().max(last_id);
        self.working = Working::new(incidents, floor);
        // Fresh incidents: the next tick checks them against the silences.
        self.silences_checked = None;
    }

    /// Forgets every incident (shared stores keep no cache between groups).
    pub fn clear(&mut self) {
        // Coverage decided in a group that did not commit (or on incidents since reloaded) is not
        // known any more.
        self.silence_checks.clear();
        self.working.clear();
        self.surroundings.novelty.clear();
    }

    /// The store committed: the effects of the group, each with the incident as committed;
    /// closed incidents leave memory.
    pub fn commit(&mut self) -> Vec<Effect> {
        let effects = self.pending_effects();
        self.pending.clear();
        self.problem_writes.clear();
        self.novelty_writes.clear();
        self.working.commit();
        effects
    }

    /// The effects the group has made so far, each with the incident as it stands (what the
    /// commit will make durable): the notification outbox is written from them inside the
    /// transaction.
    pub fn pending_effects(&self) -> Vec<Effect> {
        let mut effects = Vec::with_capacity(self.pending.len());
        for (id, change, number) in &self.pending {
            if let Some(incident) = self.working.shared(id) {
                effects.push(Effect {
                    change: *change,
                    number: *number,
                    incident,
                });
            }
        }
        effects
    }

    /// True when the group has made transitions.
    pub fn has_pending_effects(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The store did not commit: every changed incident back as it was, no effects. What the
    /// group added to the openings and problems is forgotten with the rest: they are loaded
    /// again before the next group that may open an incident.
    pub fn rollback(&mut self) {
        // Coverage decided in a group that did not commit (or on incidents since reloaded) is not
        // known any more.
        self.silence_checks.clear();
        self.working.rollback();
        self.pending.clear();
        self.problem_writes.clear();
        self.novelty_writes.clear();
        let surroundings = &mut self.surroundings;
        surroundings.openings.clear();
        surroundings.problems.clear();
        surroundings.problems_loaded_ms = None;
        // The group's novelty records too: read again before the next group.
        surroundings.novelty.clear();
        surroundings.novelty_loaded_ms = None;
    }

    /// The problem records the group decided on since the last call (the pipeline stores them
    /// in the group's transaction).
    pub fn take_problem_writes(&mut self) -> Vec<ProblemWrite> {
        std::mem::take(&mut self.problem_writes)
    }

    /// Keeps what the stages saw in the surroundings for the next events of the group (and, on
    /// an embedded store, the next groups): a new opening, a new problem, the writes to store.
    fn note_problems(
        &mut self,
        fingerprint: &str,
        incident: &Incident,
        decision: Decision,
        writes: Vec<ProblemWrite>,
        now_ms: i64,
    ) {
        let surroundings = &mut self.surroundings;
        if decision == Decision::Opened {
            let since_ms = now_ms.saturating_sub(self.policy.problems.recur_window_ms);
            let openings = surroundings
                .openings
                .entry(fingerprint.to_owned())
                .or_default();
            openings.retain(|opening| opening.opened_ms >= since_ms);
            openings.push(Opening {
                incident_id: incident.id.clone(),
                opened_ms: now_ms,
            });
        }
        // A recurrence counts incidents linked to no problem yet.
        for write in &writes {
            match write {
                ProblemWrite::Open {
                    id, incident_ids, ..
                } => {
                    surroundings.problems.insert(
                        fingerprint.to_owned(),
                        ProblemRef {
                            id: id.clone(),
                            state: ProblemState::Open,
                            workaround: None,
                        },
                    );
                    if let Some(openings) = surroundings.openings.get_mut(fingerprint) {
                        openings.retain(|opening| !incident_ids.contains(&opening.incident_id));
                    }
                }
                ProblemWrite::Link { incident_id, .. } => {
                    if let Some(openings) = surroundings.openings.get_mut(fingerprint) {
                        openings.retain(|opening| &opening.incident_id != incident_id);
                    }
                }
            }
        }
        self.problem_writes.extend(writes);
    }

    /// A problem's state or workaround changed (`POST /v1/problems/{id}`): new incidents of its
    /// fingerprint see it (a resolved one is forgotten, so a new recurrence opens another).
    pub fn problem_changed(&mut self, fingerprint: &str, problem: ProblemRef) {
        let problems = &mut self.surroundings.problems;
        if problem.state.is_active() {
            problems.insert(fingerprint.to_owned(), problem);
        } else if problems
            .get(fingerprint)
            .is_some_and(|known| known.id == problem.id)
        {
            problems.remove(fingerprint);
        }
    }

    /// Forgets openings older than the recurrence window (an embedded store's map, now and
    /// then).
    pub fn prune_openings(&mut self, now_ms: i64) {
        let since_ms = now_ms.saturating_sub(self.policy.problems.recur_window_ms);
        self.surroundings.openings.retain(|_, openings| {
            openings.retain(|opening| opening.opened_ms >= since_ms);
            !openings.is_empty()
        });
    }

    /// Checks the invariant: at most one active incident per fingerprint (see [`Working`]).
    pub fn check_invariants(&self) -> Result<(), String> {
        self.working.check_invariants()
    }
}

/// Numbers `changes` after the incident's earlier ones and queues them as pending.
fn number(
    pending: &mut Vec<(String, Change, u64)>,
    incident: &mut Arc<Incident>,
    changes: Vec<Change>,
) {
    if changes.is_empty() {
        return;
    }
    let incident = Arc::make_mut(incident);
    for change in changes {
        incident.changes += 1;
        pending.push((incident.id.clone(), change, incident.changes));
    }
}

/// An incident opened or reopened while not silenced (and not attached to a parent) has been
/// paged: its acknowledge and resolve are notified even during a later silence.
fn mark_paged(incident: &mut Incident, changes: &[Change]) {
    if !incident.silenced
        && incident.parent_id.is_none()
        && changes.iter().any(|change| {
            matches!(
                change,
                Change::Opened | Change::Reopened | Change::Novel { .. }
            )
        })
    {
        incident.paged = true;
    }
}
