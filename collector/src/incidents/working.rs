//! The engine's working set: the incidents that are not closed, by id and by fingerprint, with
//! the undo journal of the group of writes in progress.
//!
//! Every change goes through [`Working::take`] / [`Working::put`] or [`Working::insert_new`],
//! which record the incident's value before its first change in the group. [`Working::rollback`]
//! puts every such value back (the store did not commit); [`Working::commit`] forgets them,
//! drops closed incidents and updates the active counts.
//!
//! Incidents are held as `Arc`s, changed copy-on-write (`Arc::make_mut`): the journal keeps the
//! value before a group's first change by sharing it (the change then copies it once), and a
//! commit's effects share the committed value ([`Working::shared`]) instead of copying it.

use super::model::{Incident, State, next_id};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Incidents not closed, indexed, with the undo journal.
#[derive(Debug, Default)]
pub struct Working {
    /// Shared, never changed in place while shared: the map moves pointers when it grows, and a
    /// snapshot is a pointer copy.
    incidents: HashMap<String, Arc<Incident>>,
    /// Fingerprint → the newest incident with it that is not closed.
    by_fingerprint: HashMap<String, String>,
    last_id: u64,
    /// Incidents changed since the last commit, with their value before the first change
    /// (`None`: created in this group).
    undo: HashMap<String, Option<Arc<Incident>>>,
    /// Ids in `undo`, in the order first changed.
    dirty: Vec<String>,
    /// `by_fingerprint` entries changed since the last commit, with their value before.
    index_undo: HashMap<String, Option<String>>,
    /// `last_id` at the last commit.
    committed_last_id: u64,
    /// Committed open or acknowledged incidents per priority (index 0 = priority 1).
    active_counts: [u64; 5],
    /// Host → ids of incidents opened on it (may name incidents gone since: lookups check). A
    /// set in id order (oldest first, as topology reads it): a host in a storm has thousands,
    /// and a list checked with `contains` made every new incident cost more than the last.
    by_host: HashMap<String, BTreeSet<String>>,
    /// Parent id → ids of the incidents attached to it: a parent that resolves looks at its
    /// own children, and the topology tick at the attached incidents, never at every incident.
    /// Kept by `put` and pruned by `commit` and `rollback` (within a group it may name a child
    /// detached since: lookups check).
    by_parent: HashMap<String, HashSet<String>>,
    /// Ids of the incidents the last commit changed, in the order first changed.
    last_committed: Vec<String>,
    /// Grouping key → ids of the incidents not closed that have it (may name incidents gone
    /// since: lookups check), so service grouping finds a key's incidents without a scan. A set:
    /// a service in a storm has thousands.
    by_group: HashMap<String, HashSet<String>>,
}

fn priority_index(priority: u8) -> usize {
    usize::from(priority.clamp(1, 5) - 1)
}

impl Working {
    /// A working set over `incidents` (closed ones are ignored); `last_id` is the highest id
    /// ever issued.
    pub fn new(incidents: Vec<Incident>, last_id: u64) -> Working {
        let mut working = Working {
            last_id,
            committed_last_id: last_id,
            ..Working::default()
        };
        let mut incidents: Vec<Incident> = incidents
            .into_iter()
            .filter(|incident| incident.state != State::Closed)
            .collect();
        incidents.sort_by(|a, b| a.id.cmp(&b.id));
        for incident in incidents {
            working.load(incident);
        }
        working.committed_last_id = working.last_id;
        working
    }

    fn load(&mut self, incident: Incident) {
        if let Some(n) = super::model::parse_id(&incident.id) {
            self.last_id = self.last_id.max(n);
        }
        self.by_fingerprint
            .insert(incident.fingerprint.clone(), incident.id.clone());
        self.index_host(&incident);
        self.index_group(&incident);
        if incident.state.is_active() {
            self.active_counts[priority_index(incident.priority)] += 1;
        }
        self.index_attached(&incident);
        self.incidents
            .insert(incident.id.clone(), Arc::new(incident));
    }

    fn index_attached(&mut self, incident: &Incident) {
        let Some(parent) = &incident.parent_id else {
            return;
        };
        match self.by_parent.get_mut(parent) {
            Some(children) => {
                if !children.contains(&incident.id) {
                    children.insert(incident.id.clone());
                }
            }
            None => {
                self.by_parent
                    .insert(parent.clone(), HashSet::from([incident.id.clone()]));
            }
        }
    }

    /// Forgets that `child` is attached to `parent`.
    fn unindex_attached(&mut self, parent: &str, child: &str) {
        if let Some(children) = self.by_parent.get_mut(parent) {
            children.remove(child);
            if children.is_empty() {
                self.by_parent.remove(parent);
            }
        }
    }

    /// The ids of the incidents not closed that are attached to `parent`.
    pub fn children_of(&self, parent: &str) -> Vec<String> {
        self.by_parent
            .get(parent)
            .into_iter()
            .flatten()
            .filter(|id| {
                self.get(id)
                    .is_some_and(|child| child.parent_id.as_deref() == Some(parent))
            })
            .cloned()
            .collect()
    }

    /// The incidents not closed that are attached to a parent.
    pub fn attached(&self) -> impl Iterator<Item = &Incident> {
        self.by_parent.iter().flat_map(move |(parent, children)| {
            children
                .iter()
                .filter_map(|id| self.get(id))
                .filter(move |child| child.parent_id.as_deref() == Some(parent.as_str()))
        })
    }

    /// An incident that is not closed.
    pub fn get(&self, id: &str) -> Option<&Incident> {
        self.incidents.get(id).map(AsRef::as_ref)
    }

    /// An incident that is not closed, shared: a snapshot later changes never touch.
    pub fn shared(&self, id: &str) -> Option<Arc<Incident>> {
        self.incidents.get(id).map(Arc::clone)
    }

    /// The newest incident of `fingerprint` that is not closed.
    pub fn current(&self, fingerprint: &str) -> Option<&Incident> {
        self.by_fingerprint
            .get(fingerprint)
            .and_then(|id| self.get(id))
    }

    /// Every incident that is not closed.
    pub fn iter(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.values().map(AsRef::as_ref)
    }

    /// Takes incident `id` out to change it with `Arc::make_mut` (put it back with
    /// [`Working::put`]); its value before the group's first change is journaled (shared, so
    /// the first change copies it).
    pub fn take(&mut self, id: &str) -> Option<Arc<Incident>> {
        let incident = self.incidents.remove(id)?;
        if !self.undo.contains_key(id) {
            self.undo.insert(id.to_owned(), Some(Arc::clone(&incident)));
            self.dirty.push(id.to_owned());
        }
        Some(incident)
    }

    /// Puts back an incident taken with [`Working::take`] or made by [`Working::insert_new`].
    pub fn put(&mut self, incident: Arc<Incident>) {
        self.index_attached(&incident);
        self.incidents.insert(incident.id.clone(), incident);
    }

    /// Issues a new id (see [`next_id`]).
    pub fn issue_id(&mut self, now_ms: i64) -> String {
        self.last_id = next_id(self.last_id, now_ms);
        super::model::format_id(self.last_id)
    }

    fn index_host(&mut self, incident: &Incident) {
        if let Some(host) = &incident.host {
            let ids = self.by_host.entry(host.clone()).or_default();
            if !ids.contains(&incident.id) {
                ids.insert(incident.id.clone());
            }
        }
    }

    /// The incidents not closed that were opened on `host` (topology looks its outages up
    /// here instead of scanning every incident).
    pub fn on_host<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a Incident> + 'a {
        self.by_host
            .get(host)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get(id))
            .filter(move |incident| incident.host.as_deref() == Some(host))
    }

    fn index_group(&mut self, incident: &Incident) {
        if let Some(key) = &incident.group_key {
            let ids = self.by_group.entry(key.clone()).or_default();
            if !ids.contains(&incident.id) {
                ids.insert(incident.id.clone());
            }
        }
    }

    /// The incidents not closed with grouping key `key` (the members of its service-level
    /// incident, and lone ones a new host's incident may join), in no particular order.
    pub fn in_group<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Incident> + 'a {
        self.by_group
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get(id))
            .filter(move |incident| incident.group_key.as_deref() == Some(key))
    }

    /// Registers a new incident as the current one of its fingerprint.
    pub fn insert_new(&mut self, incident: Arc<Incident>) {
        self.index_host(&incident);
        self.index_group(&incident);
        let id = incident.id.clone();
        let before = self
            .by_fingerprint
            .insert(incident.fingerprint.clone(), id.clone());
        self.index_undo
            .entry(incident.fingerprint.clone())
            .or_insert(before);
        self.undo.insert(id.clone(), None);
        self.dirty.push(id);
        self.put(incident);
    }

    /// Incident `id` as it was before the group in progress: `None` when the group has not
    /// changed it (its current value is the committed one), `Some(None)` when the group created
    /// it.
    pub fn before_group(&self, id: &str) -> Option<Option<&Incident>> {
        self.undo.get(id).map(Option::as_deref)
    }

    /// Incidents changed since the last commit, in the order first changed.
    pub fn dirty(&self) -> impl Iterator<Item = &Incident> {
        self.dirty.iter().filter_map(|id| self.get(id))
    }

    /// Like [`Working::dirty`], each with its state before the group (`None`: created in it).
    pub fn dirty_with_state_before(&self) -> impl Iterator<Item = (&Incident, Option<State>)> {
        self.dirty.iter().filter_map(|id| {
            let before = self.undo.get(id)?.as_ref().map(|before| before.state);
            Some((self.get(id)?, before))
        })
    }

    /// The highest id issued (committed or not).
    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Raises the id floor (a shared store's counter): ids issued next are above `last_id`.
    pub fn raise_last_id(&mut self, last_id: u64) {
        self.last_id = self.last_id.max(last_id);
    }

    /// Replaces what is known of `fingerprint` with the store's current incident (a shared
    /// store: another collector may have changed it). Only between groups, never with changes
    /// pending.
    pub fn refresh(&mut self, fingerprint: &str, incident: Option<Incident>) {
        debug_assert!(self.undo.is_empty(), "refresh with changes pending");
        if let Some(id) = self.by_fingerprint.remove(fingerprint)
            && let Some(old) = self.incidents.remove(&id)
            && old.state.is_active()
        {
            self.active_counts[priority_index(old.priority)] -= 1;
        }
        if let Some(incident) = incident.filter(|incident| incident.state != State::Closed) {
            if let Some(old) = self.incidents.remove(&incident.id)
                && old.state.is_active()
            {
                self.active_counts[priority_index(old.priority)] -= 1;
            }
            self.load(incident);
        }
        self.committed_last_id = self.last_id;
    }

    /// Forgets every incident (a shared store keeps no cache between groups).
    pub fn clear(&mut self) {
        debug_assert!(self.undo.is_empty(), "clear with changes pending");
        self.incidents.clear();
        self.by_fingerprint.clear();
        self.by_host.clear();
        self.by_parent.clear();
        self.by_group.clear();
        self.active_counts = [0; 5];
    }

    /// The store committed: forget the journal, drop closed incidents, update the counts.
    pub fn commit(&mut self) {
        for (id, before) in &self.undo {
            if let Some(before) = before
                && before.state.is_active()
            {
                self.active_counts[priority_index(before.priority)] -= 1;
            }
            if let Some(after) = self.incidents.get(id)
                && after.state.is_active()
            {
                self.active_counts[priority_index(after.priority)] += 1;
            }
        }
        let dirty = std::mem::take(&mut self.dirty);
        for id in &dirty {
            let id = id.clone();
            let before = self
                .undo
                .get(&id)
                .and_then(Option::as_ref)
                .and_then(|before| before.parent_id.clone());
            let after = self
                .incidents
                .get(&id)
                .filter(|incident| incident.state != State::Closed)
                .and_then(|incident| incident.parent_id.clone());
            if let Some(parent) = before.filter(|before| after.as_ref() != Some(before)) {
                self.unindex_attached(&parent, &id);
            }
            if self
                .incidents
                .get(&id)
                .is_some_and(|incident| incident.state == State::Closed)
                && let Some(incident) = self.incidents.remove(&id)
            {
                if let Some(parent) = &incident.parent_id {
                    self.unindex_attached(parent, &id);
                }
                self.by_parent.remove(&id);
                if let Some(host) = &incident.host
                    && let Some(ids) = self.by_host.get_mut(host)
                {
                    ids.remove(&id);
                    if ids.is_empty() {
                        self.by_host.remove(host);
                    }
                }
                if let Some(key) = &incident.group_key
                    && let Some(ids) = self.by_group.get_mut(key)
                {
                    ids.remove(&id);
                    if ids.is_empty() {
                        self.by_group.remove(key);
                    }
                }
                if self.by_fingerprint.get(&incident.fingerprint) == Some(&id) {
                    self.by_fingerprint.remove(&incident.fingerprint);
                }
            }
        }
        self.undo.clear();
        self.index_undo.clear();
        self.committed_last_id = self.last_id;
        self.last_committed = dirty;
    }

    /// The ids of the incidents the last commit changed, in the order first changed (the replay
    /// arms their next due times from these, changes with no effect such as a settle time
    /// included).
    pub fn last_committed(&self) -> &[String] {
        &self.last_committed
    }

    /// The store did not commit: every changed incident back as it was.
    pub fn rollback(&mut self) {
        for (id, before) in std::mem::take(&mut self.undo) {
            let changed = match before {
                Some(before) => {
                    self.index_attached(&before);
                    self.incidents
                        .insert(id.clone(), before.clone())
                        .filter(|changed| changed.parent_id != before.parent_id)
                }
                None => self.incidents.remove(&id),
            };
            if let Some(parent) = changed.and_then(|changed| changed.parent_id.clone()) {
                self.unindex_attached(&parent, &id);
            }
        }
        for (fingerprint, before) in std::mem::take(&mut self.index_undo) {
            match before {
                Some(id) => self.by_fingerprint.insert(fingerprint, id),
                None => self.by_fingerprint.remove(&fingerprint),
            };
        }
        self.dirty.clear();
        // Ids issued in the failed group were never stored: a shared store's counter did not
        // move either, so they are issued again.
        self.last_id = self.committed_last_id;
    }

    /// Committed open or acknowledged incidents per priority (index 0 = priority 1).
    pub fn active_by_priority(&self) -> [u64; 5] {
        self.active_counts
    }

    /// Checks the invariants: at most one active incident per fingerprint, the index points at
    /// it, and with nothing pending the active counts match.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.undo.is_empty() {
            let mut counts = [0u64; 5];
            for incident in self.iter().filter(|i| i.state.is_active()) {
                counts[priority_index(incident.priority)] += 1;
            }
            if counts != self.active_counts {
                return Err(format!(
                    "active counts {:?} but {counts:?} active incidents",
                    self.active_counts
                ));
            }
        }
        let mut active: HashMap<&str, &str> = HashMap::new();
        for incident in self.iter() {
            if incident.state.is_active()
                && let Some(other) = active.insert(&incident.fingerprint, &incident.id)
            {
                return Err(format!(
                    "fingerprint {} has two active incidents: {other} and {}",
                    incident.fingerprint, incident.id
                ));
            }
        }
        for (fingerprint, id) in &active {
            if self.by_fingerprint.get(*fingerprint).map(String::as_str) != Some(*id) {
                return Err(format!(
                    "active incident {id} is not the indexed one for {fingerprint}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::{EventIn, lifecycle};
    use vigil_shared::event::{Severity, Status};

    fn incident(working: &mut Working, host: &str, check: &str) -> Arc<Incident> {
        let event = EventIn::new("t", check, Status::Firing, Severity::Major).with_host(host);
        let id = working.issue_id(1_000);
        Arc::new(lifecycle::new_incident(
            id,
            format!("{host}/{check}"),
            &event,
            1_000,
        ))
    }

    fn ids_on(working: &Working, host: &str) -> Vec<String> {
        let mut ids: Vec<String> = working.on_host(host).map(|i| i.id.clone()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn incidents_are_found_by_host_until_closed_and_a_rollback_forgets_new_ones() {
        let mut working = Working::new(Vec::new(), 0);
        let a = incident(&mut working, "web-1", "disk");
        let b = incident(&mut working, "web-1", "cpu");
        let c = incident(&mut working, "web-2", "disk");
        let (a_id, b_id) = (a.id.clone(), b.id.clone());
        for new in [a, b, c] {
            working.insert_new(new);
        }
        working.commit();
        assert_eq!(ids_on(&working, "web-1"), [a_id.clone(), b_id.clone()]);
        assert!(ids_on(&working, "db-9").is_empty());
        // A new incident rolled back is not found.
        let d = incident(&mut working, "web-1", "mem");
        working.insert_new(d);
        working.rollback();
        assert_eq!(ids_on(&working, "web-1"), [a_id.clone(), b_id.clone()]);
        // A closed one leaves the index with the commit.
        let mut closing = working.take(&a_id).unwrap();
        Arc::make_mut(&mut closing).state = State::Closed;
        working.put(closing);
        working.commit();
        assert_eq!(ids_on(&working, "web-1"), [b_id]);
        working.clear();
        assert!(ids_on(&working, "web-2").is_empty());
    }

    #[test]
    fn a_host_lists_its_incidents_oldest_first_however_many_it_has() {
        let mut working = Working::new(Vec::new(), 0);
        let mut issued = Vec::new();
        for n in 0..2_000 {
            let new = incident(&mut working, "web-1", &format!("check-{n}"));
            issued.push(new.id.clone());
            working.insert_new(new);
        }
        working.commit();
        // Topology takes the first outage it finds on a host: the oldest, as the ids are
        // time-ordered.
        let listed: Vec<String> = working.on_host("web-1").map(|i| i.id.clone()).collect();
        assert_eq!(listed, issued);
    }

    fn attached_ids(working: &Working) -> Vec<String> {
        let mut ids: Vec<String> = working.attached().map(|i| i.id.clone()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn attached_incidents_are_listed_through_changes_rollbacks_and_detaching() {
        let mut working = Working::new(Vec::new(), 0);
        let parent = incident(&mut working, "switch-a", "host_down");
        let child = incident(&mut working, "web-1", "host_down");
        let (parent_id, child_id) = (parent.id.clone(), child.id.clone());
        working.insert_new(parent);
        working.insert_new(child);
        working.commit();
        assert!(attached_ids(&working).is_empty());

        let set_parent = |working: &mut Working, parent: Option<&str>| {
            let mut taken = working.take(&child_id).unwrap();
            Arc::make_mut(&mut taken).parent_id = parent.map(str::to_owned);
            working.put(taken);
        };
        // Attached in a group that is rolled back: not listed after.
        set_parent(&mut working, Some(&parent_id));
        assert_eq!(attached_ids(&working), std::slice::from_ref(&child_id));
        working.rollback();
        assert!(attached_ids(&working).is_empty());
        // Attached and committed: listed, also after a rollback of a group that detached it.
        set_parent(&mut working, Some(&parent_id));
        working.commit();
        assert_eq!(
            working.children_of(&parent_id),
            std::slice::from_ref(&child_id)
        );
        assert!(working.children_of(&child_id).is_empty());
        // The parent changing (it has no parent of its own) keeps its children.
        let parent = working.take(&parent_id).unwrap();
        working.put(parent);
        working.commit();
        assert_eq!(
            working.children_of(&parent_id),
            std::slice::from_ref(&child_id)
        );
        set_parent(&mut working, None);
        working.rollback();
        assert_eq!(attached_ids(&working), std::slice::from_ref(&child_id));
        // Detached and committed: gone, and the index forgets it.
        set_parent(&mut working, None);
        working.commit();
        assert!(attached_ids(&working).is_empty());
        assert!(working.by_parent.is_empty());
        assert!(working.children_of(&parent_id).is_empty());
        // A loaded working set lists what was stored attached.
        let stored: Vec<Incident> = working
            .iter()
            .cloned()
            .map(|mut incident| {
                if incident.id == child_id {
                    incident.parent_id = Some(parent_id.clone());
                }
                incident
            })
            .collect();
        let reloaded = Working::new(stored, working.last_id());
        assert_eq!(attached_ids(&reloaded), [child_id]);
    }
}
