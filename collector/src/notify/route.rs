//! Routing and escalation: which sinks hear of an incident change, at which step and when.
//!
//! Routes are tried in order; the first whose matchers all hold takes the incident, and with
//! `continue` the next matching ones too; when none matches, the default route does (with no
//! `[default_route]`, every sink). A route's `escalate` levels re-notify (its own sinks) or
//! notify further sinks at `after` past the open or reopen, unless the incident is acknowledged
//! or resolved first — those rows are queued with the open and cancelled by the acknowledge.
//! Acknowledge, update and resolve go to the route's sinks and to the escalation sinks whose
//! level was reached.

use super::Step;
use super::sinks::Sink;
use crate::incidents::{Change, Effect, Incident, TimelineKind};
use regex::Regex;
use std::time::Duration;
use vigil_shared::event::Severity;

/// What a route matches on; an empty matcher matches everything.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// The service (anchored regex; a missing service is "").
    pub service: Option<Regex>,
    /// The host.
    pub host: Option<Regex>,
    /// The check.
    pub check: Option<Regex>,
    /// The source.
    pub source: Option<Regex>,
    /// Any of these severities (empty: any).
    pub severities: Vec<Severity>,
    /// Any of these priorities (empty: any).
    pub priorities: Vec<u8>,
    /// Labels (anchored regexes; a missing label is "").
    pub labels: Vec<(String, Regex)>,
}

impl Matcher {
    /// True when every given matcher holds for `incident`.
    pub fn matches(&self, incident: &Incident) -> bool {
        let text = |regex: &Option<Regex>, value: Option<&str>| {
            regex
                .as_ref()
                .is_none_or(|regex| regex.is_match(value.unwrap_or("")))
        };
        text(&self.service, incident.service.as_deref())
            && text(&self.host, incident.host.as_deref())
            && text(&self.check, Some(&incident.check))
            && text(&self.source, incident.source.as_deref())
            && (self.severities.is_empty() || self.severities.contains(&incident.severity))
            && (self.priorities.is_empty() || self.priorities.contains(&incident.priority))
            && self.labels.iter().all(|(name, regex)| {
                regex.is_match(incident.labels.get(name).map(String::as_str).unwrap_or(""))
            })
    }
}

/// One escalation level.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    /// How long after the open (or reopen) if still unacknowledged.
    pub after: Duration,
    /// Which sinks (by name).
    pub sinks: Vec<String>,
}

/// One route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Name (logs).
    pub name: String,
    /// What it takes.
    pub matcher: Matcher,
    /// Where it sends (by name).
    pub sinks: Vec<String>,
    /// Try the next routes too.
    pub continue_matching: bool,
    /// Escalation levels, in order.
    pub escalate: Vec<Escalation>,
}

/// One notification to queue for an effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Index into the sinks.
    pub sink: usize,
    /// The step.
    pub step: Step,
    /// Escalation level (0: not an escalation).
    pub level: u32,
    /// Not sent before, Unix ms.
    pub due_ms: i64,
}

/// The routes in force.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    /// `[[route]]`, in order.
    pub routes: Vec<Route>,
    /// `[default_route]`; `None`: every sink, no escalation.
    pub default: Option<Route>,
}

impl Routing {
    /// The routes that take `incident`.
    pub fn matching<'a>(&'a self, incident: &Incident) -> Vec<&'a Route> {
        let mut taken = Vec::new();
        for route in &self.routes {
            if route.matcher.matches(incident) {
                taken.push(route);
                if !route.continue_matching {
                    break;
                }
            }
        }
        if taken.is_empty() {
            taken.extend(self.default.as_ref());
        }
        taken
    }

    /// The notifications `effect` queues on `sinks` at `now_ms`. Incidents attached to a parent
    /// are not notified; silenced ones only for the acknowledge and resolve of a page that went
    /// out before the silence.
    pub fn plan(&self, effect: &Effect, sinks: &[Sink], now_ms: i64) -> Vec<Planned> {
        let incident = &*effect.incident;
        let Some(step) = step_of(effect.change) else {
            return Vec::new();
        };
        // Attached: quiet, except that one paged before it was attached still gets its
        // acknowledge and resolve (the sinks were told it opened).
        if incident.parent_id.is_some()
            && !(incident.paged && matches!(step, Step::Acknowledge | Step::Resolve))
        {
            return Vec::new();
        }
        // Silenced: quiet, except that a page that went out before the silence still gets its
        // acknowledge and resolve.
        if incident.silenced
            && !(incident.paged && matches!(step, Step::Acknowledge | Step::Resolve))
        {
            return Vec::new();
        }
        let routes = self.matching(incident);
        let mut planned: Vec<Planned> = Vec::new();
        let mut add = |name: &str, step: Step, level: u32, due_ms: i64| {
            if let Some(sink) = sinks.iter().position(|sink| sink.name == name)
                && sinks[sink].wants(step)
            {
                let row = Planned {
                    sink,
                    step,
                    level,
                    due_ms,
                };
                if !planned.contains(&row) {
                    planned.push(row);
                }
            }
        };
        let route_sinks = |route: Option<&Route>| -> Vec<String> {
            match route {
                Some(route) => route.sinks.clone(),
                None => sinks.iter().map(|sink| sink.name.clone()).collect(),
            }
        };
        let routes: Vec<Option<&Route>> = if routes.is_empty() {
            vec![None]
        } else {
            routes.into_iter().map(Some).collect()
        };
        // Held by the topology (a dependency may yet be found down): every row waits, so the
        // steps still go out in order.
        let base_ms = incident
            .held_until_ms
            .map_or(now_ms, |until| until.max(now_ms));
        for route in routes {
            for name in route_sinks(route) {
                add(&name, step, 0, base_ms);
            }
            let levels = route.map(|route| route.escalate.as_slice()).unwrap_or(&[]);
            for (index, level) in levels.iter().enumerate() {
                let names = if level.sinks.is_empty() {
                    route_sinks(route)
                } else {
                    level.sinks.clone()
                };
                let after_ms = i64::try_from(level.after.as_millis()).unwrap_or(i64::MAX);
                let level_no = index as u32 + 1;
                if matches!(step, Step::Open | Step::Reopen) {
                    for name in &names {
                        add(
                            name,
                            Step::Escalate,
                            level_no,
                            base_ms.saturating_add(after_ms),
                        );
                    }
                } else if reached(incident, after_ms, now_ms) {
                    for name in &names {
                        add(name, step, 0, base_ms);
                    }
                }
            }
        }
        planned
    }
}

/// The step a change is notified as (`None`: not notified).
pub fn step_of(change: Change) -> Option<Step> {
    match change {
        Change::Opened => Some(Step::Open),
        // It stands on its own now, and nobody was told about it.
        Change::Detached => Some(Step::Open),
        Change::Reopened => Some(Step::Reopen),
        // Novelty paging: the first page of an episode is its open (or reopen), a later one
        // a page of its own.
        Change::Novel {
            first: true,
            reopened: false,
        } => Some(Step::Open),
        Change::Novel {
            first: true,
            reopened: true,
        } => Some(Step::Reopen),
        Change::Novel { first: false, .. } => Some(Step::Novel),
        Change::Acknowledged { .. } => Some(Step::Acknowledge),
        Change::Resolved { .. } => Some(Step::Resolve),
        Change::PriorityChanged { .. } | Change::Flapping { .. } | Change::HostJoined => {
            Some(Step::Update)
        }
        // A silence ended over an incident nobody was told about: it is paged now.
        Change::Silenced {
            silenced: false,
            page: true,
        } => Some(Step::Open),
        Change::Closed
        | Change::Quiet { .. }
        | Change::SlaBreached { .. }
        | Change::Silenced { .. }
        | Change::Attached => None,
    }
}

/// True for changes after which no escalation should still go out.
pub fn ends_escalation(change: Change) -> bool {
    matches!(
        change,
        Change::Acknowledged { .. }
            | Change::Resolved { .. }
            | Change::Closed
            | Change::Attached
            | Change::Silenced { silenced: true, .. }
    )
}

/// Whether an escalation `after_ms` past the last open was reached before the incident was
/// acknowledged (or by `now_ms`).
fn reached(incident: &Incident, after_ms: i64, now_ms: i64) -> bool {
    let base = if incident.reopened > 0 {
        incident
            .timeline
            .iter()
            .rev()
            .find(|entry| entry.kind == TimelineKind::Reopened)
            .map_or(incident.opened_ms, |entry| entry.at_ms)
    } else {
        incident.opened_ms
    };
    let stopped = incident
        .acknowledged_ms
        .filter(|at| *at >= base)
        .unwrap_or(now_ms)
        .min(now_ms);
    base.saturating_add(after_ms) <= stopped
}
