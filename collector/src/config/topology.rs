//! `[topology]`: how long an incident whose host has dependencies waits for one of them to be
//! found down (`hold`), how long an attached incident may outlive its parent before it stands
//! on its own (`settle`), and `[topology.depends_on]` for things with no agent.

use super::file::RawTopology;
use super::policy::millis;
use super::{ConfigErrors, parse_duration_key};
use crate::incidents::Policy;
use std::collections::HashMap;

/// Validates `[topology]` into `policy`; answers the configured dependencies.
pub(super) fn parse_topology(
    raw: RawTopology,
    policy: &mut Policy,
    errors: &mut ConfigErrors,
) -> HashMap<String, Vec<String>> {
    for (key, text, target) in [
        ("topology.hold", &raw.hold, &mut policy.topology_hold_ms),
        (
            "topology.settle",
            &raw.settle,
            &mut policy.topology_settle_ms,
        ),
    ] {
        if let Some(text) = text
            && let Some(duration) = parse_duration_key(key, text, errors)
        {
            *target = millis(duration);
        }
    }
    let mut depends_on = HashMap::new();
    for (host, dependencies) in raw.depends_on.unwrap_or_default() {
        let key = format!("topology.depends_on.{host}");
        if host.trim().is_empty() || dependencies.iter().any(|d| d.trim().is_empty()) {
            errors.invalid(key, "host ids must not be empty");
            continue;
        }
        if dependencies.contains(&host) {
            errors.invalid(key, format!("{host:?} cannot depend on itself"));
            continue;
        }
        depends_on.insert(host, dependencies);
    }
    depends_on
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Policy, HashMap<String, Vec<String>>), String> {
        let raw: RawTopology = toml::from_str(text).map_err(|error| error.to_string())?;
        let mut errors = ConfigErrors::new();
        let mut policy = Policy::default();
        let depends_on = parse_topology(raw, &mut policy, &mut errors);
        if errors.is_empty() {
            Ok((policy, depends_on))
        } else {
            Err(errors.to_string())
        }
    }

    #[test]
    fn hold_settle_and_dependencies() {
        let (policy, depends_on) =
            parse("hold = \"10s\"\nsettle = \"1m\"\n[depends_on]\n\"switch-a\" = [\"core-1\"]\n")
                .unwrap();
        assert_eq!(
            (policy.topology_hold_ms, policy.topology_settle_ms),
            (10_000, 60_000)
        );
        assert_eq!(depends_on["switch-a"], ["core-1"]);
        let (policy, depends_on) = parse("").unwrap();
        assert_eq!(policy.topology_hold_ms, Policy::default().topology_hold_ms);
        assert!(depends_on.is_empty());
        for (text, key) in [
            ("hold = \"later\"", "topology.hold"),
            ("[depends_on]\n\"a\" = [\"a\"]", "topology.depends_on.a"),
            ("[depends_on]\n\"a\" = [\"\"]", "topology.depends_on.a"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(key), "{text}: {error}");
        }
    }
}
