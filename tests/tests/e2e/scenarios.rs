//! Issue 10's scenario suite: a fleet of real `vigil-agent` processes — 50 hosts in 5 services
//! (`checkout-1..10`, `search-1..10`, `billing-1..10`, `catalog-1..10`, `auth-1..10`), hosts 1–25
//! behind `switch-a` and 26–50 behind `switch-b` through each agent's `[topology] depends_on` —
//! reporting to the real `vigil-collector` (embedded SQLite in a temp dir) whose one webhook
//! sink is a local receiver. Every count is asserted exactly: pages at the receiver, top-level
//! incidents in `GET /v1/incidents`, attached children. A count is only read once the outbox has
//! nothing left to send (every row `sent` or `cancelled`), so "exactly one page" is not a sleep.
//!
//! Scenarios: a switch goes down (one top-level incident, 25 attached, one page); a flapping
//! probe (one incident); a silence over a service (no page for its new failures, the resolve of
//! an incident paged before it still sent), with generic events and with the agents' own
//! failures; a disk filling again and again across days through `replay` (one problem); a deploy
//! followed by errors on all hosts of a service (one service incident with the change
//! suspected). Service grouping is on by default, so every fleet scenario runs with it: the
//! dead switch's hosts are grouped per service (never across services) under the switch.
//!
//! One fleet helper, [`Fleet::start`], serves every scenario: each starts its own collector and
//! the subset of the 50 hosts it needs (agents spawned together, then one bounded wait until
//! the collector lists them all with their dependencies), and every process is stopped by PID.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use vigil_e2e::hook::Hook;
use vigil_e2e::{Agent, Collector, bin, client, eventually};

/// The fleet's services, ten hosts each, in host-number order (`checkout-1` is host 1,
/// `auth-10` host 50).
const SERVICES: [&str; 5] = ["checkout", "search", "billing", "catalog", "auth"];
const HOSTS_PER_SERVICE: usize = 10;
/// Hosts 1..=25 sit behind `switch-a`, the rest behind `switch-b`.
const BEHIND_SWITCH_A: usize = 25;

/// Agent sampling interval: short, but slow enough for 50 debug-build agents on two cores.
const AGENT_INTERVAL: &str = "1s";
/// Heartbeat timeout: five missed batches, so a busy machine does not declare a live agent down.
const HOST_DOWN_AFTER: &str = "5s";

/// Bounded waits. Generous: the suite shares two cores with other tests; none of them is a
/// timed assertion, only an upper bound on a condition.
const START_TIMEOUT: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(45);
const POLL: Duration = Duration::from_millis(100);

/// One host of the fleet.
#[derive(Debug, Clone)]
struct FleetHost {
    id: String,
    service: &'static str,
    switch: &'static str,
}

/// The 50 hosts.
fn all_hosts() -> Vec<FleetHost> {
    let mut hosts = Vec::new();
    for (service_idx, service) in SERVICES.iter().enumerate() {
        for n in 1..=HOSTS_PER_SERVICE {
            let number = service_idx * HOSTS_PER_SERVICE + n;
            hosts.push(FleetHost {
                id: format!("{service}-{n}"),
                service,
                switch: if number <= BEHIND_SWITCH_A {
                    "switch-a"
                } else {
                    "switch-b"
                },
            });
        }
    }
    hosts
}

/// What a scenario's fleet looks like.
struct FleetOptions<'a> {
    /// Collector config added before the sink (`[topology]`, `[incidents]`, ...).
    collector_toml: &'a str,
    /// Which of the 50 hosts get an agent.
    hosts: &'a dyn Fn(&FleetHost) -> bool,
    /// Extra agent config for one host (a probe), by host id.
    agent_toml: BTreeMap<String, String>,
}

/// A collector, its webhook receiver and real agents, all stopped by PID on drop.
struct Fleet {
    hook: Hook,
    agents: BTreeMap<String, Agent>,
    collector: Collector,
    hosts: Vec<FleetHost>,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Fleet {
    /// Starts the collector, then every selected agent at once, and waits (bounded) until the
    /// collector lists each of them up with its `depends_on`.
    async fn start(options: FleetOptions<'_>) -> Fleet {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let hook = Hook::start().await;
        // No threshold rules or capacity forecasts: every agent samples this same busy machine,
        // and a CPU or disk alert on 50 hosts would be noise in an exact count.
        let config = dir.join("collector.toml");
        std::fs::write(
            &config,
            format!(
                "default_rules = false\nstore_sync = \"normal\"\n[capacity]\nenabled = false\n\
                 {}\n[[sink]]\nname = \"queue\"\nkind = \"webhook\"\nurl = \"{}\"\n",
                options.collector_toml,
                hook.url("/hook")
            ),
        )
        .unwrap();
        let collector = Collector::start(
            &dir.join("data"),
            &[
                "--config",
                config.to_str().unwrap(),
                "--host-down-after",
                HOST_DOWN_AFTER,
            ],
        )
        .await;
        let hosts: Vec<FleetHost> = all_hosts()
            .into_iter()
            .filter(|host| (options.hosts)(host))
            .collect();
        let mut fleet = Fleet {
            hook,
            agents: BTreeMap::new(),
            collector,
            hosts: hosts.clone(),
            dir,
            _tmp: tmp,
        };
        for host in &hosts {
            let extra = options.agent_toml.get(&host.id).map_or("", String::as_str);
            let path = fleet.dir.join(format!("agent-{}.toml", host.id));
            std::fs::write(
                &path,
                format!(
                    "[labels]\nservice = \"{}\"\nenv = \"test\"\n[topology]\ndepends_on = [\"{}\"]\n{extra}",
                    host.service, host.switch
                ),
            )
            .unwrap();
            fleet.start_agent(&host.id);
        }
        fleet.wait_listed().await;
        fleet
    }

    /// Starts (or restarts, with the same state dir) the agent of `host_id`.
    fn start_agent(&mut self, host_id: &str) {
        let config = self.dir.join(format!("agent-{host_id}.toml"));
        let agent = Agent::start(
            &self.dir.join(format!("state-{host_id}")),
            &self.collector.url,
            host_id,
            AGENT_INTERVAL,
            &["--config", config.to_str().unwrap()],
        );
        self.agents.insert(host_id.to_owned(), agent);
    }

    /// Kills the agent of `host_id` (SIGKILL to its PID): it falls silent, as behind a dead
    /// switch.
    fn kill_agent(&mut self, host_id: &str) {
        let agent = self.agents.get_mut(host_id).expect("an agent of the fleet");
        agent.process.kill();
    }

    /// Waits until every agent of the fleet is listed up with its dependency.
    async fn wait_listed(&self) {
        let want: BTreeMap<String, String> = self
            .hosts
            .iter()
            .map(|host| (host.id.clone(), host.switch.to_owned()))
            .collect();
        let collector = &self.collector;
        eventually(START_TIMEOUT, Duration::from_millis(250), || {
            let want = &want;
            async move {
                let (_, listed) = collector.get_json("/v1/hosts").await;
                let seen: BTreeMap<String, String> = listed
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|host| host["up"] == true)
                    .filter_map(|host| {
                        let depends = host["inventory"]["depends_on"].as_array()?;
                        Some((
                            host["host_id"].as_str()?.to_owned(),
                            depends.first()?.as_str()?.to_owned(),
                        ))
                    })
                    .collect();
                (seen == *want)
                    .then_some(())
                    .ok_or_else(|| format!("{} of {} hosts listed", seen.len(), want.len()))
            }
        })
        .await;
    }

    /// POSTs JSON to the collector: (status, answer).
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = client()
            .post(format!("{}{path}", self.collector.url))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("POST {path}: {error}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// POSTs a generic event and returns the incident it went to.
    async fn event(&self, event: &Value) -> String {
        let (status, answer) = self.post("/v1/events", event).await;
        assert_eq!(status, 200, "{event}: {answer}");
        answer["incident_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{event} opened nothing: {answer}"))
            .to_owned()
    }

    /// Every incident the collector knows (newest first).
    async fn incidents(&self) -> Vec<Value> {
        let (status, listed) = self.collector.get_json("/v1/incidents?limit=1000").await;
        assert_eq!(status, 200, "{listed}");
        listed.as_array().cloned().unwrap_or_default()
    }

    /// One incident with its timeline.
    async fn incident(&self, id: &str) -> Value {
        let (status, shown) = self
            .collector
            .get_json(&format!("/v1/incidents/{id}"))
            .await;
        assert_eq!(status, 200, "{shown}");
        shown
    }

    /// Waits until the outbox has nothing left to send (every row sent or cancelled) and the
    /// receiver has every row sent; returns the pages received, in arrival order. Call it
    /// after the condition that queues the scenario's last notification.
    async fn settled_pages(&self) -> Vec<Value> {
        let collector = &self.collector;
        let hook = &self.hook;
        eventually(WAIT, POLL, || async move {
            let (_, rows) = collector.get_json("/v1/notifications?limit=1000").await;
            let rows = rows.as_array().cloned().unwrap_or_default();
            let open: Vec<&Value> = rows
                .iter()
                .filter(|row| !matches!(row["state"].as_str(), Some("sent" | "cancelled")))
                .collect();
            let sent = rows.iter().filter(|row| row["state"] == "sent").count();
            let pages: Vec<Value> = hook.accepted().iter().map(|page| page.json()).collect();
            (open.is_empty() && pages.len() >= sent)
                .then(|| pages.clone())
                .ok_or_else(|| format!("outbox rows not finished: {open:?}; {sent} sent"))
        })
        .await
    }

    /// The notifications of the outbox in `state`.
    async fn outbox(&self, state: &str) -> Vec<Value> {
        let (_, rows) = self
            .collector
            .get_json(&format!("/v1/notifications?state={state}&limit=1000"))
            .await;
        rows.as_array().cloned().unwrap_or_default()
    }
}

/// The incidents not resolved or closed.
fn active(incidents: &[Value]) -> Vec<Value> {
    incidents
        .iter()
        .filter(|incident| matches!(incident["state"].as_str(), Some("open" | "acknowledged")))
        .cloned()
        .collect()
}

/// The incidents with no parent.
fn top_level(incidents: &[Value]) -> Vec<Value> {
    incidents
        .iter()
        .filter(|incident| incident["parent_id"].is_null())
        .cloned()
        .collect()
}

/// The top of `incident`'s chain of parents (itself when it has none).
fn top_of(incidents: &[Value], incident: &Value) -> Value {
    let mut top = incident.clone();
    // Bounded: a chain is at most as long as the list.
    for _ in 0..incidents.len() {
        let Some(parent) = top["parent_id"].as_str() else {
            break;
        };
        match incidents.iter().find(|other| other["id"] == parent) {
            Some(parent) => top = parent.clone(),
            None => break,
        }
    }
    top
}

/// The service-level incidents (`group:` fingerprints) by the service of their hosts; panics
/// when one lists hosts of several services (grouping never crosses its key).
fn service_groups(incidents: &[Value]) -> BTreeMap<&'static str, Value> {
    let mut groups = BTreeMap::new();
    for incident in incidents {
        if !incident["fingerprint"]
            .as_str()
            .is_some_and(|fingerprint| fingerprint.starts_with("group:"))
        {
            continue;
        }
        let hosts = group_hosts(incident);
        let services: std::collections::BTreeSet<&str> = hosts
            .iter()
            .filter_map(|host| host.as_str()?.split('-').next())
            .collect();
        let [service] = services.into_iter().collect::<Vec<_>>()[..] else {
            panic!("a group across services: {incident}");
        };
        let service = SERVICES
            .iter()
            .copied()
            .find(|known| *known == service)
            .expect("a fleet service");
        assert!(
            groups.insert(service, incident.clone()).is_none(),
            "two groups of {service}"
        );
    }
    groups
}

/// A service-level incident's `hosts`, sorted.
fn group_hosts(group: &Value) -> Vec<Value> {
    let mut hosts = group["hosts"].as_array().cloned().unwrap_or_default();
    hosts.sort_by_key(|host| host.to_string());
    hosts
}

/// `(step, incident host)` of each page, sorted (arrival order across incidents is free).
fn page_steps(pages: &[Value]) -> Vec<(String, String)> {
    let mut steps: Vec<(String, String)> = pages
        .iter()
        .map(|page| {
            (
                page["step"].as_str().unwrap_or("").to_owned(),
                page["incident"]["host"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    steps.sort();
    steps
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = list
        .iter()
        .map(|(step, host)| ((*step).to_owned(), (*host).to_owned()))
        .collect();
    pairs.sort();
    pairs
}

/// A network monitor's event for a host with no agent (a switch).
fn ping(host: &str, status: &str) -> Value {
    json!({
        "source": "ping", "host": host, "check": "ping", "status": status,
        "severity": "critical", "summary": format!("{host} does not answer ping")
    })
}

/// A monitoring tool's error event about a host of a service.
fn http_5xx(host: &str, service: &str, status: &str) -> Value {
    json!({
        "source": "nagios", "host": host, "service": service, "check": "http_5xx",
        "status": status, "severity": "major", "summary": "5xx rate above 5%"
    })
}

fn rfc3339_in(ms_from_now: i64) -> String {
    vigil_shared::time::rfc3339(vigil_shared::time::now_ms() + ms_from_now)
}

/// Waits until the collector has a `check` incident for each of `hosts` matching `filter`;
/// returns them by host.
async fn wait_incidents_on(
    fleet: &Fleet,
    check: &str,
    hosts: &[String],
    filter: impl Fn(&Value) -> bool,
) -> BTreeMap<String, Value> {
    let filter = &filter;
    eventually(WAIT, POLL, || async move {
        let by_host: BTreeMap<String, Value> = fleet
            .incidents()
            .await
            .into_iter()
            .filter(|incident| incident["check"] == check && filter(incident))
            .filter_map(|incident| Some((incident["host"].as_str()?.to_owned(), incident)))
            .filter(|(host, _)| hosts.contains(host))
            .collect();
        (by_host.len() == hosts.len())
            .then(|| by_host.clone())
            .ok_or_else(|| {
                format!(
                    "{check} on {} of {} hosts: {:?}",
                    by_host.len(),
                    hosts.len(),
                    by_host.keys().collect::<Vec<_>>()
                )
            })
    })
    .await
}

/// Scenario 1. The switch has no agent: its outage arrives as a network monitor's `ping`
/// event. The 25 agents behind it fall silent (killed by PID) and their heartbeat `host_down`
/// incidents open before the switch's event. Service grouping (on by default, keyed by the
/// service) folds them into one service-level incident per service — `checkout` (10 hosts),
/// `search` (10), `billing` (5): never across services — and the topology hold keeps all of it
/// off the queue until the switch's incident takes the three groups. Exactly one top-level
/// incident with the 25 `host_down`s under it, one page; the 25 hosts behind `switch-b` stay up
/// and quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_a_switch_down_is_one_incident_with_its_25_dependants_attached_and_one_page() {
    let mut fleet = Fleet::start(FleetOptions {
        // The hold only bounds how long a child waits for its parent's outage: long enough
        // that a busy machine cannot page a child before the switch's event is in.
        collector_toml: "[topology]\nhold = \"120s\"\n",
        hosts: &|_| true,
        agent_toml: BTreeMap::new(),
    })
    .await;
    assert_eq!(fleet.agents.len(), 50);
    let behind_a: Vec<String> = fleet
        .hosts
        .iter()
        .filter(|host| host.switch == "switch-a")
        .map(|host| host.id.clone())
        .collect();
    assert_eq!(behind_a.len(), 25);
    // The hosts behind switch-a by service: what each service-level incident must list.
    let mut by_service: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for host in fleet.hosts.iter().filter(|host| host.switch == "switch-a") {
        by_service
            .entry(host.service)
            .or_default()
            .push(json!(host.id));
    }
    for hosts in by_service.values_mut() {
        hosts.sort_by_key(|host| host.to_string());
    }
    for host in &behind_a {
        fleet.kill_agent(host);
    }
    // The heartbeat notices first (the network monitor is slower): all 25 children open
    // before the switch's event, grouped by service and held — the order the hold exists for.
    let held = wait_incidents_on(&fleet, "host_down", &behind_a, |incident| {
        incident["state"] == "open"
    })
    .await;
    let incidents = fleet.incidents().await;
    let groups = service_groups(&incidents);
    assert_eq!(
        groups.keys().copied().collect::<Vec<_>>(),
        ["billing", "checkout", "search"],
        "{groups:#?}"
    );
    for (service, group) in &groups {
        assert_eq!(group_hosts(group), by_service[service], "{group}");
        assert!(group["parent_id"].is_null(), "{group}");
    }
    for (host, child) in &held {
        let service = host.split('-').next().unwrap();
        assert_eq!(child["parent_id"], groups[service]["id"], "{host}: {child}");
    }
    assert!(
        fleet.hook.accepted().is_empty(),
        "the children are held, not paged"
    );
    let switch = fleet.event(&ping("switch-a", "firing")).await;
    // The outage takes the three service-level incidents (their hosts all depend on it).
    eventually(WAIT, POLL, || async {
        let incidents = fleet.incidents().await;
        let under: Vec<String> = incidents
            .iter()
            .filter(|incident| incident["check"] == "host_down")
            .filter(|incident| top_of(&incidents, incident)["id"] == switch.as_str())
            .filter_map(|incident| incident["host"].as_str().map(str::to_owned))
            .collect();
        (under.len() == 25)
            .then_some(())
            .ok_or_else(|| format!("{} of 25 under the switch: {under:?}", under.len()))
    })
    .await;
    let pages = fleet.settled_pages().await;
    assert_eq!(
        page_steps(&pages),
        pairs(&[("open", "switch-a")]),
        "{pages:#?}"
    );
    assert_eq!(pages[0]["incident"]["id"], switch.as_str());
    assert!(pages[0]["incident"]["parent_id"].is_null());
    assert_eq!(fleet.outbox("sent").await.len(), 1);
    let incidents = fleet.incidents().await;
    // Every held notification was cancelled when its incident went under the switch.
    for row in fleet.outbox("cancelled").await {
        let incident = incidents
            .iter()
            .find(|incident| incident["id"] == row["incident_id"])
            .expect("a cancelled row's incident is listed");
        assert_eq!(top_of(&incidents, incident)["id"], switch.as_str(), "{row}");
    }
    let tops = top_level(&incidents);
    assert_eq!(tops.len(), 1, "{tops:#?}");
    assert_eq!(tops[0]["id"], switch.as_str());
    assert_eq!(tops[0]["state"], "open");
    // Attached to the switch: the three service-level incidents, the 25 hosts under them.
    let groups = service_groups(&incidents);
    assert_eq!(groups.len(), 3, "{groups:#?}");
    for (service, group) in &groups {
        assert_eq!(group["parent_id"], switch.as_str(), "{group}");
        assert_eq!(group_hosts(group), by_service[service], "{group}");
    }
    let attached = incidents
        .iter()
        .filter(|incident| incident["parent_id"] == switch.as_str())
        .count();
    assert_eq!(attached, 3, "the three service-level incidents");
    let under_switch = incidents
        .iter()
        .filter(|incident| incident["check"] == "host_down" && incident["host"].is_string())
        .filter(|incident| top_of(&incidents, incident)["id"] == switch.as_str())
        .count();
    assert_eq!(under_switch, 25);
    assert_eq!(incidents.len(), 1 + 3 + 25, "{incidents:#?}");
    // The other half of the fleet is up and quiet.
    let behind_b: Vec<Value> = fleet
        .hosts
        .iter()
        .filter(|host| host.switch == "switch-b")
        .map(|host| json!(host.id))
        .collect();
    for incident in &incidents {
        let hosts = incident["hosts"].as_array().cloned().unwrap_or_default();
        assert!(
            !hosts.iter().any(|host| behind_b.contains(host)),
            "{incident}"
        );
    }
    let (_, hosts) = fleet.collector.get_json("/v1/hosts").await;
    let mut up: Vec<Value> = hosts
        .as_array()
        .unwrap()
        .iter()
        .filter(|host| host["up"] == true)
        .map(|host| host["host_id"].clone())
        .collect();
    up.sort_by_key(|host| host.to_string());
    let mut want_up = behind_b.clone();
    want_up.sort_by_key(|host| host.to_string());
    assert_eq!(up, want_up, "{hosts}");
}

/// Scenario 2. One agent probes a local HTTP server that the test breaks and repairs over and
/// over; each flip is confirmed by the probe's `probe_up` at the collector before the next.
/// Exactly one incident. Pages, with the default steps (`update` is not one of them, so the
/// flapping mark itself pages nobody): `open`, then `resolve`, `reopen`, `resolve`, `reopen`
/// while the history is too short to call it flapping; the sixth status starts flapping and is
/// held, so the flips after it page nothing; once quiet for `flapping_settle` the incident
/// resolves once: one final `resolve`. Six pages, one incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_a_flapping_probe_is_one_incident() {
    let (url, status) = crate::agent_probes::http_server();
    let probe = format!(
        "[[probe]]\nname = \"web\"\nkind = \"http\"\ntarget = \"{url}\"\ninterval = \"300ms\"\n\
         timeout = \"200ms\"\nexpect_status = 200\nfailures_before_down = 1\nseverity = \"major\"\n"
    );
    let fleet = Fleet::start(FleetOptions {
        // A lone incident of a service waits `[grouping] wait` for another host's: short here.
        collector_toml: "[topology]\nhold = \"1s\"\n[grouping]\nwait = \"1s\"\n\
                         [incidents]\nflapping_settle = \"6s\"\n",
        hosts: &|host| host.id == "checkout-1",
        agent_toml: BTreeMap::from([("checkout-1".to_owned(), probe)]),
    })
    .await;
    // Eight flips: down, up, down, up, ...
    let mut flapping_seen = false;
    for flip in 0..8 {
        let down = flip % 2 == 0;
        status.store(if down { 500 } else { 200 }, Ordering::SeqCst);
        let want = if down { 0.0 } else { 1.0 };
        let collector = &fleet.collector;
        eventually(WAIT, Duration::from_millis(50), || async move {
            let (_, host) = collector.get_json("/v1/hosts/checkout-1").await;
            let probe_up = host["metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|series| series["name"] == "probe_up" && series["labels"]["probe"] == "web")
                .and_then(|series| series["value"].as_f64());
            (probe_up == Some(want))
                .then_some(())
                .ok_or_else(|| format!("flip {flip}: probe_up {probe_up:?}"))
        })
        .await;
        let incidents = fleet.incidents().await;
        assert_eq!(incidents.len(), 1, "flip {flip}: {incidents:#?}");
        flapping_seen |= incidents[0]["flapping"] == true;
        if flip >= 5 {
            assert_eq!(incidents[0]["flapping"], true, "flip {flip}");
            assert_eq!(incidents[0]["state"], "open", "held open while flapping");
        }
    }
    assert!(flapping_seen);
    // Up for good: quiet for the settle time, it resolves once.
    let id = fleet.incidents().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(WAIT, POLL, || async {
        let shown = fleet.incident(&id).await;
        (shown["state"] == "resolved")
            .then_some(())
            .ok_or_else(|| format!("{} flapping={}", shown["state"], shown["flapping"]))
    })
    .await;
    let pages = fleet.settled_pages().await;
    let steps: Vec<&str> = pages
        .iter()
        .map(|page| page["step"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        steps,
        ["open", "resolve", "reopen", "resolve", "reopen", "resolve"],
        "{pages:#?}"
    );
    assert!(
        pages
            .iter()
            .all(|page| page["incident"]["id"] == id.as_str())
    );
    let incidents = fleet.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    assert_eq!(incidents[0]["check"], "probe:web");
    let timeline = fleet.incident(&id).await["timeline"].clone();
    assert!(
        timeline
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["kind"] == "flapping_started"),
        "{timeline}"
    );
}

/// The fleet of the silence scenarios: `checkout` and `search`, twenty agents behind
/// `switch-a`, a short hold and grouping wait (a lone incident waits a second for a
/// dependency's outage and for another host of its service before it is paged).
async fn silence_fleet() -> Fleet {
    Fleet::start(FleetOptions {
        collector_toml: "[topology]\nhold = \"1s\"\n[grouping]\nwait = \"1s\"\n",
        hosts: &|host| host.service == "checkout" || host.service == "search",
        agent_toml: BTreeMap::new(),
    })
    .await
}

/// Silences the `search` service for an hour; returns the silence's id.
async fn silence_search(fleet: &Fleet) -> String {
    let (status, silence) = fleet
        .post(
            "/v1/silences",
            &json!({
                "matchers": [{"name": "service", "op": "=", "value": "search"}],
                "ends_at": rfc3339_in(3_600_000),
                "created_by": "alice", "comment": "search reindex"
            }),
        )
        .await;
    assert_eq!(status, 200, "{silence}");
    silence["id"].as_str().unwrap().to_owned()
}

/// Waits until at least `n` pages arrived (exact counts come from [`Fleet::settled_pages`]).
async fn wait_pages(fleet: &Fleet, n: usize) {
    eventually(WAIT, POLL, || async {
        let pages = fleet.hook.accepted().len();
        (pages >= n)
            .then_some(())
            .ok_or_else(|| format!("{pages} of {n} pages"))
    })
    .await;
}

/// Scenario 3, as a monitoring tool reports a service: an error on `search-1` is paged; then a
/// silence over `search`; new errors on three more `search` hosts are recorded (`silenced`) and
/// page nobody, while one on `checkout-1` is paged; `search-1` recovers during the silence and
/// its resolve is sent (it was paged before the silence).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_a_silence_over_a_service_pages_nothing_new_and_still_sends_a_paged_resolve() {
    let fleet = silence_fleet().await;
    let paged = fleet.event(&http_5xx("search-1", "search", "firing")).await;
    wait_pages(&fleet, 1).await;
    silence_search(&fleet).await;
    assert_eq!(fleet.incident(&paged).await["silenced"], true);
    let mut hidden = Vec::new();
    for host in ["search-2", "search-3", "search-4"] {
        hidden.push(fleet.event(&http_5xx(host, "search", "firing")).await);
    }
    let control = fleet
        .event(&http_5xx("checkout-1", "checkout", "firing"))
        .await;
    fleet
        .event(&http_5xx("search-1", "search", "resolved"))
        .await;
    wait_pages(&fleet, 3).await;
    let pages = fleet.settled_pages().await;
    assert_eq!(
        page_steps(&pages),
        pairs(&[
            ("open", "search-1"),
            ("open", "checkout-1"),
            ("resolve", "search-1")
        ]),
        "{pages:#?}"
    );
    for id in &hidden {
        let shown = fleet.incident(id).await;
        assert_eq!(shown["silenced"], true, "{shown}");
        assert_eq!(shown["state"], "open", "{shown}");
    }
    assert_eq!(fleet.incident(&control).await["silenced"], false);
    assert_eq!(fleet.incident(&paged).await["state"], "resolved");
    let tops = top_level(&active(&fleet.incidents().await));
    assert_eq!(tops.len(), 4, "three hidden and the control: {tops:#?}");
}

/// Scenario 3 with the agents' own failures: `search-1`'s agent dies and its `host_down` is
/// paged; then a silence over `search` (the agents' `service` label); two more `search` agents
/// die → no page; a `checkout` agent dies → paged; `search-1`'s agent comes back during the
/// silence → its resolve is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_a_silence_over_a_service_covers_its_agents_failures() {
    let mut fleet = silence_fleet().await;
    fleet.kill_agent("search-1");
    let first = wait_incidents_on(&fleet, "host_down", &["search-1".to_owned()], |_| true).await;
    let paged = first["search-1"]["id"].as_str().unwrap().to_owned();
    wait_pages(&fleet, 1).await;
    silence_search(&fleet).await;
    let shown = fleet.incident(&paged).await;
    assert_eq!(shown["service"], "search", "{shown}");
    assert_eq!(shown["silenced"], true, "{shown}");
    let hidden_hosts = ["search-2".to_owned(), "search-3".to_owned()];
    for host in &hidden_hosts {
        fleet.kill_agent(host);
    }
    let hidden = wait_incidents_on(&fleet, "host_down", &hidden_hosts, |_| true).await;
    fleet.kill_agent("checkout-1");
    wait_incidents_on(&fleet, "host_down", &["checkout-1".to_owned()], |_| true).await;
    fleet.start_agent("search-1");
    eventually(WAIT, POLL, || async {
        let shown = fleet.incident(&paged).await;
        (shown["state"] == "resolved")
            .then_some(())
            .ok_or_else(|| format!("{}", shown["state"]))
    })
    .await;
    wait_pages(&fleet, 3).await;
    let pages = fleet.settled_pages().await;
    assert_eq!(
        page_steps(&pages),
        pairs(&[
            ("open", "search-1"),
            ("open", "checkout-1"),
            ("resolve", "search-1")
        ]),
        "{pages:#?}"
    );
    for (host, incident) in &hidden {
        assert_eq!(incident["service"], "search", "{host}: {incident}");
        assert_eq!(incident["silenced"], true, "{host}: {incident}");
    }
}

/// Runs `vigil-collector replay ARGS` with `input` on stdin: (status, stdout, stderr).
fn replay(args: &[&str], input: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(bin("vigil-collector"))
        .arg("replay")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start vigil-collector replay");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().expect("replay did not finish");
    writer.join().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Scenario 4, through `vigil-collector replay` on the events' clock: for a week `/var` on
/// `db-1` fills up every night (the alert fires at 02:00, repeats every 10 minutes for an hour,
/// and resolves after the 04:00 cleanup) — one incident a night, and one problem linking them
/// all (`recur_count` 3 within `recur_window` 7 d). A disk on `db-2` that fills on two nights
/// only, and another host's unrelated alert, open no problem.
#[test]
fn scenario_a_disk_filling_again_and_again_across_days_is_one_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("collector.toml");
    std::fs::write(
        &config,
        "[problems]\nrecur_count = 3\nrecur_window = \"7d\"\n",
    )
    .unwrap();
    let disk = |host: &str, status: &str, time: String| {
        json!({
            "source": "agent", "host": host, "service": "db", "check": "filesystem_almost_full",
            "status": status, "severity": "major", "summary": "/var above 90% used",
            "labels": {"mountpoint": "/var"}, "time": time
        })
        .to_string()
    };
    let mut input = Vec::new();
    for day in 1..=7 {
        for minute in (0..60).step_by(10) {
            input.push(disk(
                "db-1",
                "firing",
                format!("2026-11-{day:02}T02:{minute:02}:00Z"),
            ));
        }
        if day == 2 || day == 5 {
            input.push(disk(
                "db-2",
                "firing",
                format!("2026-11-{day:02}T03:00:00Z"),
            ));
            input.push(disk(
                "db-2",
                "resolved",
                format!("2026-11-{day:02}T03:30:00Z"),
            ));
        }
        input.push(disk(
            "db-1",
            "resolved",
            format!("2026-11-{day:02}T04:00:00Z"),
        ));
    }
    input.push(
        json!({
            "source": "nagios", "host": "web-1", "service": "checkout", "check": "http_5xx",
            "status": "firing", "severity": "major", "summary": "5xx", "time": "2026-11-04T12:00:00Z"
        })
        .to_string(),
    );
    let (code, stdout, stderr) = replay(
        &["--config", config.to_str().unwrap()],
        &(input.join("\n") + "\n"),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let mut lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let summary = lines.pop().expect("a summary line")["summary"].clone();
    assert_eq!(summary["events"], input.len(), "{summary}");
    // 7 nights on db-1, 2 on db-2, 1 on web-1.
    assert_eq!(summary["incidents"], 10, "{summary}");
    assert_eq!(summary["problems"], 1, "{summary}");
    let opens = |host: &str| -> Vec<Value> {
        lines
            .iter()
            .filter(|line| line["step"] == "open" && line["hosts"][0] == host)
            .cloned()
            .collect()
    };
    let db1 = opens("db-1");
    assert_eq!(db1.len(), 7, "one open a night: {stdout}");
    assert!(db1[0]["problem_id"].is_null() && db1[1]["problem_id"].is_null());
    let problem = db1[2]["problem_id"]
        .as_str()
        .expect("the third night opens it");
    for open in &db1[2..] {
        assert_eq!(open["problem_id"], problem, "{stdout}");
    }
    let resolves = lines
        .iter()
        .filter(|line| line["step"] == "resolve" && line["hosts"][0] == "db-1")
        .count();
    assert_eq!(resolves, 7, "{stdout}");
    for host in ["db-2", "web-1"] {
        for open in opens(host) {
            assert!(open["problem_id"].is_null(), "{host}: {open}");
        }
    }
    assert_eq!(opens("db-2").len(), 2);
    let named: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter_map(|line| line["problem_id"].as_str())
        .collect();
    assert_eq!(named.len(), 1, "{named:?}");
}

/// Scenario 5, service grouping (`[grouping] by = ["service"]`, `window`, a `wait` of 3 s): a
/// deploy on `search`, then an error on each of its
/// ten hosts → one top-level incident (`group:...` fingerprint) listing the ten hosts with the
/// deploy as its `suspected_change`, the ten per-host incidents attached to it, one `open` page
/// for it (members joining later may send `update`s, not counted as pages). With the 50 agents
/// reporting, the agents' own failures on hosts of different services (`checkout-3`,
/// `billing-3` die) are not grouped together: the key is the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_a_deploy_then_errors_on_all_hosts_of_a_service_is_one_service_incident() {
    let mut fleet = Fleet::start(FleetOptions {
        collector_toml: "[grouping]\nby = [\"service\"]\nwindow = \"5m\"\nwait = \"3s\"\n\
                         [topology]\nhold = \"1s\"\n",
        hosts: &|_| true,
        agent_toml: BTreeMap::new(),
    })
    .await;
    let (status, deploy) = fleet
        .post(
            "/v1/changes",
            &json!({"kind": "deploy", "summary": "search v4.2.0", "by": "ci",
                    "hosts": [], "services": ["search"]}),
        )
        .await;
    assert_eq!(status, 200, "{deploy}");
    let deploy_id = deploy["id"].as_str().unwrap().to_owned();
    let search: Vec<String> = (1..=HOSTS_PER_SERVICE)
        .map(|n| format!("search-{n}"))
        .collect();
    for host in &search {
        fleet.event(&http_5xx(host, "search", "firing")).await;
    }
    // Agents of two other services die at the same time.
    let others = ["checkout-3".to_owned(), "billing-3".to_owned()];
    for host in &others {
        fleet.kill_agent(host);
    }
    let group = eventually(WAIT, POLL, || async {
        let groups: Vec<Value> = top_level(&active(&fleet.incidents().await))
            .into_iter()
            .filter(|incident| {
                incident["fingerprint"]
                    .as_str()
                    .is_some_and(|fingerprint| fingerprint.starts_with("group:"))
                    && incident["service"] == "search"
            })
            .collect();
        match groups.as_slice() {
            [one] if one["hosts"].as_array().map(Vec::len) == Some(10) => Ok(one.clone()),
            other => Err(format!("search groups: {other:#?}")),
        }
    })
    .await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    let mut hosts: Vec<String> = group["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|host| host.as_str().unwrap().to_owned())
        .collect();
    hosts.sort();
    let mut want = search.clone();
    want.sort();
    assert_eq!(hosts, want);
    assert_eq!(
        group["suspected_change"]["id"],
        deploy_id.as_str(),
        "{group}"
    );
    let members = wait_incidents_on(&fleet, "http_5xx", &search, |incident| {
        incident["parent_id"] == group_id.as_str()
    })
    .await;
    assert_eq!(members.len(), 10);
    let downs = wait_incidents_on(&fleet, "host_down", &others, |_| true).await;
    // The top of each failure on the other services: not the same incident, and no group of
    // both hosts.
    let incidents = fleet.incidents().await;
    let top_of = |incident: &Value| -> Value {
        let parent = incident["parent_id"].as_str();
        parent
            .and_then(|parent| incidents.iter().find(|other| other["id"] == parent))
            .cloned()
            .unwrap_or_else(|| incident.clone())
    };
    let top_checkout = top_of(&downs["checkout-3"]);
    let top_billing = top_of(&downs["billing-3"]);
    assert_ne!(top_checkout["id"], top_billing["id"]);
    for top in [&top_checkout, &top_billing] {
        let hosts = top["hosts"].as_array().cloned().unwrap_or_default();
        assert!(
            !(hosts.contains(&json!("checkout-3")) && hosts.contains(&json!("billing-3"))),
            "{top}"
        );
    }
    // The opens for the two host_down tops come a hold after their detection.
    eventually(WAIT, POLL, || async {
        let opens = fleet
            .hook
            .accepted()
            .iter()
            .filter(|page| page.json()["step"] == "open")
            .count();
        (opens >= 3)
            .then_some(())
            .ok_or_else(|| format!("{opens} opens"))
    })
    .await;
    let pages = fleet.settled_pages().await;
    let opens_of = |id: &str| {
        pages
            .iter()
            .filter(|page| page["step"] == "open" && page["incident"]["id"] == id)
            .count()
    };
    assert_eq!(opens_of(&group_id), 1, "{pages:#?}");
    for member in members.values() {
        assert_eq!(opens_of(member["id"].as_str().unwrap()), 0, "{member}");
    }
    let open_page = pages
        .iter()
        .find(|page| page["step"] == "open" && page["incident"]["id"] == group_id.as_str())
        .unwrap();
    assert_eq!(
        open_page["incident"]["suspected_change"]["id"],
        deploy_id.as_str()
    );
    let opens = pages.iter().filter(|page| page["step"] == "open").count();
    assert_eq!(
        opens, 3,
        "the search group and the two host_downs: {pages:#?}"
    );
}

/// The fleet's shape is what the scenarios assume.
#[test]
fn scenario_fleet_is_50_hosts_in_5_services_behind_2_switches() {
    let hosts = all_hosts();
    assert_eq!(hosts.len(), 50);
    let behind = |switch: &str| hosts.iter().filter(|host| host.switch == switch).count();
    assert_eq!((behind("switch-a"), behind("switch-b")), (25, 25));
    assert_eq!(hosts[0].id, "checkout-1");
    assert_eq!(hosts[24].id, "billing-5");
    assert_eq!(hosts[24].switch, "switch-a");
    assert_eq!(hosts[25].id, "billing-6");
    assert_eq!(hosts[49].id, "auth-10");
}
