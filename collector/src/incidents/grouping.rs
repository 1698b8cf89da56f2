//! Service grouping: incidents that share a grouping key (`[grouping] by`, default the
//! `service`) on several hosts fold into one **service-level incident**. Pure; the engine
//! (`engine/grouping.rs`) decides when.
//!
//! - An incident's **key** is `name=value` for each name of `by` (`service`, `check`, `source` or
//!   a label), joined by `,`; an incident missing one of them, or with no host, has none.
//! - The service-level incident has the fingerprint `group:<key>/<its id>` (its
//!   grouping key is `group:<key>`), no host of its own, and lists
//!   its members' hosts in `hosts` (so its priority rises with their number). Its members are
//!   attached to it (`parent_id`): they are recorded, not notified; it is paged once.
//! - It forms when a second host's incident of the key opens (or reopens) while a lone one, opened
//!   within `window`, is still active; a lone incident's notifications wait `wait` for that.
//!   While it is gathering — active, and a host joined within `window` — every new incident of
//!   the key joins it (a host joining is an update to the sinks); one gone quiet keeps its
//!   members, and a later failure of the key starts another. It resolves by itself when its
//!   last member does, and reopens when one of its members does within the reopen window.

use super::effect::Change;
use super::event::EventIn;
use super::lifecycle::{self, VIGIL};
use super::model::{Incident, TimelineEntry, TimelineKind};
use super::policy::{GroupingPolicy, Policy};
use vigil_shared::event::{Severity, Status};
use vigil_shared::labels::Labels;

/// The fingerprint prefix of service-level incidents.
pub const PREFIX: &str = "group:";

/// The source of a service-level incident (its check is its first member's).
const SOURCE: &str = "vigil";

/// The grouping key of `incident` under `policy` (`None`: it is not grouped).
pub fn key(policy: &GroupingPolicy, incident: &Incident) -> Option<String> {
    let by = policy.by_for(&incident.check);
    if by.is_empty() || incident.host.is_none() || is_group(incident) {
        return None;
    }
    let mut key = String::new();
    for name in by {
        let value = match name.as_str() {
            "service" => incident
                .service
                .as_deref()
                .or_else(|| incident.labels.get("service").map(String::as_str)),
            "check" => Some(incident.check.as_str()),
            "source" => incident.source.as_deref(),
            label => incident.labels.get(label).map(String::as_str),
        }?;
        if !key.is_empty() {
            key.push(',');
        }
        key.push_str(name);
        key.push('=');
        key.push_str(value);
    }
    Some(key)
}

/// The grouping key the incident `event` opens would have (a shared store locks and loads its
/// group before deciding; see [`key`]).
pub fn key_of_event(policy: &GroupingPolicy, event: &EventIn) -> Option<String> {
    if event.status == Status::Resolved && event.host.is_none() {
        return None;
    }
    let mut labels = event.host_labels.clone();
    labels.extend(event.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let probe = Incident {
        host: event.host.clone(),
        service: event.service.clone(),
        source: Some(event.source.clone()),
        check: event.check.clone(),
        labels,
        ..super::lifecycle::new_incident(String::new(), String::new(), event, 0)
    };
    key(policy, &probe)
}

/// Whether `incident` is a service-level incident.
pub fn is_group(incident: &Incident) -> bool {
    incident.fingerprint.starts_with(PREFIX)
}

/// `group:<key>`: the grouping key of a key's service-level incidents (they are indexed and
/// locked under it) and the fingerprint their recurrences are counted under (problems).
pub fn fingerprint(key: &str) -> String {
    format!("{PREFIX}{key}")
}

/// The fingerprint of the service-level incident `id` of `key`: `group:<key>/<id>`, so a key
/// that fails again while an earlier incident of it is still active (gone quiet) gets a
/// service-level incident of its own.
pub fn episode_fingerprint(key: &str, id: &str) -> String {
    format!("{PREFIX}{key}/{id}")
}

/// What a service-level incident is opened (or reopened) from: its first member's check,
/// service, source and severity, the labels the members share, no host.
pub fn event_for(first: &Incident, members: &[&Incident]) -> EventIn {
    let severity = members
        .iter()
        .map(|member| member.severity)
        .fold(first.severity, Severity::min);
    let mut event = EventIn::new(SOURCE, &first.check, Status::Firing, severity);
    event.service = first.service.clone();
    event.labels = shared_labels(members);
    event.summary = first.summary.clone();
    event.runbook = first.runbook.clone();
    event
}

/// The labels every member has with the same value (routes and silences match on them).
fn shared_labels(members: &[&Incident]) -> Labels {
    let Some((first, rest)) = members.split_first() else {
        return Labels::new();
    };
    first
        .labels
        .iter()
        .filter(|(name, value)| {
            rest.iter()
                .all(|member| member.labels.get(*name) == Some(*value))
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// The title of the service-level incident of `key` opened by `first`.
pub fn title(key: &str, first: &Incident) -> String {
    let values: Vec<&str> = key
        .split(',')
        .map(|pair| pair.split_once('=').map_or(pair, |(_, value)| value))
        .collect();
    format!("{} on several hosts of {}", first.check, values.join(", "))
}

/// Adds the hosts of `members` to the service-level incident (at most `max_hosts`), and their
/// worst severity; returns how many hosts were new.
pub fn add_members(group: &mut Incident, members: &[&Incident], policy: &Policy) -> usize {
    let mut added = 0;
    for member in members {
        if member.severity < group.severity {
            group.severity = member.severity;
        }
        for host in &member.hosts {
            if group.hosts.len() < policy.max_hosts && !group.hosts.iter().any(|h| h == host) {
                group.hosts.push(host.clone());
                added += 1;
            }
        }
    }
    added
}

/// Attaches `member` to the service-level incident `group_id`. A member whose notifications
/// were still held (the grouping wait, the topology hold) was never paged: attaching cancels
/// them.
pub fn join(
    member: &mut Incident,
    group_id: &str,
    now_ms: i64,
    policy: &Policy,
    changes: &mut Vec<Change>,
) {
    if member.held_until_ms.is_some_and(|until| until > now_ms) {
        member.paged = false;
    }
    member.parent_id = Some(group_id.to_owned());
    member.held_until_ms = None;
    member.settle_until_ms = None;
    member.updated_ms = now_ms;
    lifecycle::push(
        member,
        TimelineEntry::new(
            now_ms,
            TimelineKind::Attached,
            Some(VIGIL),
            Some(format!(
                "grouped into the service-level incident {group_id}"
            )),
        ),
        policy,
    );
    changes.push(Change::Attached);
}

/// The timeline entry of a service-level incident that `hosts` joined.
pub fn note_joined(group: &mut Incident, hosts: &[String], now_ms: i64, policy: &Policy) {
    lifecycle::push(
        group,
        TimelineEntry::new(
            now_ms,
            TimelineKind::HostJoined,
            Some(VIGIL),
            Some(format!(
                "{} joined ({} hosts)",
                hosts.join(", "),
                group.hosts.len()
            )),
        ),
        policy,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(host: &str, service: Option<&str>) -> Incident {
        let mut event =
            EventIn::new("agent", "http_5xx", Status::Firing, Severity::Major).with_host(host);
        event.service = service.map(str::to_owned);
        event.labels.insert("env".into(), "prod".into());
        event.labels.insert("team".into(), host.into());
        lifecycle::new_incident("0000000000000001".into(), "f".into(), &event, 0)
    }

    #[test]
    fn the_key_names_each_field_and_is_none_when_one_is_missing() {
        let policy = GroupingPolicy::default();
        let web = incident("web-1", Some("checkout"));
        assert_eq!(key(&policy, &web).as_deref(), Some("service=checkout"));
        assert_eq!(key(&policy, &incident("web-1", None)), None);
        let by = |names: &[&str]| GroupingPolicy {
            by: names.iter().map(|name| (*name).to_owned()).collect(),
            ..GroupingPolicy::default()
        };
        assert_eq!(
            key(&by(&["service", "env"]), &web).as_deref(),
            Some("service=checkout,env=prod")
        );
        assert_eq!(key(&by(&["service", "region"]), &web), None);
        assert_eq!(
            key(&by(&[]), &web),
            None,
            "an empty `by` turns grouping off"
        );
        let mut group = web.clone();
        group.fingerprint = fingerprint("service=checkout");
        assert_eq!(key(&policy, &group), None, "a group is never a member");
    }

    #[test]
    fn a_group_takes_the_shared_labels_the_worst_severity_and_new_hosts_only() {
        let a = incident("web-1", Some("checkout"));
        let mut b = incident("web-2", Some("checkout"));
        b.severity = Severity::Critical;
        let event = event_for(&a, &[&a, &b]);
        assert_eq!(event.host, None);
        assert_eq!(event.severity, Severity::Critical);
        assert_eq!(event.labels.get("env").map(String::as_str), Some("prod"));
        assert!(!event.labels.contains_key("team"), "not shared");
        let mut group = lifecycle::new_incident("2".into(), fingerprint("k"), &event, 0);
        assert!(group.hosts.is_empty());
        let policy = Policy::default();
        assert_eq!(add_members(&mut group, &[&a, &b], &policy), 2);
        assert_eq!(add_members(&mut group, &[&a], &policy), 0);
        assert_eq!(group.hosts, ["web-1", "web-2"]);
        assert_eq!(
            title("service=checkout", &a),
            "http_5xx on several hosts of checkout"
        );
    }

    #[test]
    fn joining_cancels_a_page_still_held_and_keeps_one_that_went_out() {
        let policy = Policy::default();
        let mut held = incident("web-1", Some("checkout"));
        held.paged = true;
        held.held_until_ms = Some(10_000);
        let mut changes = Vec::new();
        join(&mut held, "g", 5_000, &policy, &mut changes);
        assert!(!held.paged);
        assert_eq!(held.parent_id.as_deref(), Some("g"));
        assert_eq!(held.held_until_ms, None);
        let mut paged = incident("web-2", Some("checkout"));
        paged.paged = true;
        paged.held_until_ms = Some(4_000);
        join(&mut paged, "g", 5_000, &policy, &mut changes);
        assert!(paged.paged, "its resolve is still owed to the sinks");
        assert_eq!(changes, [Change::Attached, Change::Attached]);
    }
}
