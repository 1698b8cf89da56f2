//! `[incidents]`: the engine's [`Policy`] (minimum severity, reopen and close windows,
//! impact matchers, flapping thresholds, SLA per priority) and the `event_id` retention.

use std::time::Duration;

use crate::incidents::Policy;
use crate::incidents::priority::LabelMatch;

use super::file::{RawIncidents, RawProblems};
use super::{ConfigErrors, parse_duration_key, parse_severity};

/// A duration in whole milliseconds, saturating.
pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Validates `[incidents]`; defaults for what is absent.
pub(super) fn parse_incidents(raw: RawIncidents, errors: &mut ConfigErrors) -> (Policy, Duration) {
    let mut policy = Policy::default();
    if let Some(text) = &raw.min_severity
        && let Some(severity) = parse_severity("incidents.min_severity", text, errors)
    {
        policy.min_severity = severity;
    }
    for (key, text, target) in [
        (
            "incidents.reopen_window",
            &raw.reopen_window,
            &mut policy.reopen_window_ms,
        ),
        (
            "incidents.close_after",
            &raw.close_after,
            &mut policy.close_after_ms,
        ),
        (
            "incidents.flapping_settle",
            &raw.flapping_settle,
            &mut policy.flap.settle_after_ms,
        ),
        (
            "incidents.change_window",
            &raw.change_window,
            &mut policy.change_window_ms,
        ),
    ] {
        if let Some(text) = text
            && let Some(duration) = parse_duration_key(key, text, errors)
        {
            *target = millis(duration);
        }
    }
    let retention = raw
        .event_id_retention
        .as_deref()
        .and_then(|text| parse_duration_key("incidents.event_id_retention", text, errors))
        .unwrap_or(Duration::from_secs(24 * 3600));
    for (key, list, target) in [
        (
            "incidents.high_impact",
            raw.high_impact,
            &mut policy.priority.high_impact,
        ),
        (
            "incidents.low_impact",
            raw.low_impact,
            &mut policy.priority.low_impact,
        ),
    ] {
        if let Some(list) = list {
            target.clear();
            for text in list {
                match LabelMatch::parse(&text) {
                    Some(matcher) => target.push(matcher),
                    None => errors.invalid(
                        key,
                        format!("{text:?} is not label=value, e.g. \"env=prod\""),
                    ),
                }
            }
        }
    }
    for (check, text) in raw.auto_resolve.unwrap_or_default() {
        let key = format!("incidents.auto_resolve.{check}");
        let after_ms = match text.as_str() {
            "off" | "never" => None,
            _ => match parse_duration_key(&key, &text, errors) {
                Some(duration) if !duration.is_zero() => Some(millis(duration)),
                Some(_) => {
                    errors.invalid(key, "use a duration greater than 0, or \"off\"");
                    continue;
                }
                None => continue,
            },
        };
        policy.auto_resolve.retain(|rule| rule.check != check);
        policy
            .auto_resolve
            .push(crate::incidents::policy::AutoResolve { check, after_ms });
    }
    if let Some(breadth) = raw.breadth_high {
        policy.priority.breadth_high = breadth;
    }
    if let Some(high) = raw.flapping_high {
        policy.flap.high = high;
    }
    if let Some(low) = raw.flapping_low {
        policy.flap.low = low;
    }
    if !(0.0..=100.0).contains(&policy.flap.high)
        || !(0.0..=100.0).contains(&policy.flap.low)
        || policy.flap.low > policy.flap.high
    {
        errors.invalid(
            "incidents.flapping_low",
            "flapping_low and flapping_high are percentages with flapping_low <= flapping_high",
        );
    }
    for (name, raw_sla) in raw.sla.unwrap_or_default() {
        let priority = name
            .strip_prefix('p')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=5).contains(n));
        let Some(priority) = priority else {
            errors.invalid(
                format!("incidents.sla.{name}"),
                "unknown priority: use p1 to p5",
            );
            continue;
        };
        let target = &mut policy.priority.sla[priority - 1];
        if let Some(text) = &raw_sla.ack
            && let Some(duration) =
                parse_duration_key(&format!("incidents.sla.{name}.ack"), text, errors)
        {
            target.ack_ms = millis(duration);
        }
        if let Some(text) = &raw_sla.resolve
            && let Some(duration) =
                parse_duration_key(&format!("incidents.sla.{name}.resolve"), text, errors)
        {
            target.resolve_ms = millis(duration);
        }
    }
    (policy, retention)
}

/// Validates `[problems]` into `policy.problems`; defaults for what is absent.
pub(super) fn parse_problems(raw: RawProblems, policy: &mut Policy, errors: &mut ConfigErrors) {
    let problems = &mut policy.problems;
    if let Some(count) = raw.recur_count {
        if count < 2 {
            errors.invalid(
                "problems.recur_count",
                format!("{count} is too few: a recurrence needs at least 2 incidents"),
            );
        }
        problems.recur_count = count;
    }
    if let Some(text) = &raw.recur_window
        && let Some(duration) = parse_duration_key("problems.recur_window", text, errors)
    {
        if duration.is_zero() {
            errors.invalid("problems.recur_window", "use a duration greater than 0");
        }
        problems.recur_window_ms = millis(duration);
    }
    if let Some(hosts) = raw.service_hosts {
        if hosts == 1 {
            errors.invalid(
                "problems.service_hosts",
                "1 would make every service incident a problem: use 2 or more, or 0 for off",
            );
        }
        problems.service_hosts = hosts;
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{file, no_env};
    use super::super::{Args, Config};
    use vigil_shared::event::Severity;

    #[test]
    fn incident_policy_is_parsed_and_checked() {
        let config = Config::from_parts(
            &Args::default(),
            file(
                r#"
                [incidents]
                min_severity = "minor"
                reopen_window = "10m"
                change_window = "30m"
                high_impact = ["tier=0"]
                [incidents.sla.p1]
                ack = "5m"
                "#,
            ),
            &no_env,
        )
        .unwrap();
        assert_eq!(config.policy.min_severity, Severity::Minor);
        assert_eq!(config.policy.reopen_window_ms, 600_000);
        assert_eq!(config.policy.change_window_ms, 1_800_000);
        assert_eq!(config.policy.priority.high_impact.len(), 1);
        assert_eq!(config.policy.priority.sla[0].ack_ms, 300_000);

        let errors = Config::from_parts(
            &Args::default(),
            file(
                r#"
                [incidents]
                high_impact = ["prod"]
                [incidents.sla.p9]
                ack = "5m"
                "#,
            ),
            &no_env,
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "config key incidents.high_impact: \"prod\" is not label=value",
            "config key incidents.sla.p9: unknown priority",
        ] {
            assert!(errors.contains(needle), "{needle} not in {errors}");
        }
    }

    #[test]
    fn problem_rules_are_parsed_and_checked() {
        let config = Config::from_parts(
            &Args::default(),
            file("[problems]\nrecur_count = 4\nrecur_window = \"7d\"\nservice_hosts = 0\n"),
            &no_env,
        )
        .unwrap();
        let problems = &config.policy.problems;
        assert_eq!(problems.recur_count, 4);
        assert_eq!(problems.recur_window_ms, 7 * 24 * 3_600_000);
        assert_eq!(problems.service_hosts, 0);
        let defaults = Config::from_parts(&Args::default(), file(""), &no_env).unwrap();
        assert_eq!(defaults.policy.problems.recur_count, 3);
        assert_eq!(defaults.policy.problems.recur_window_ms, 24 * 3_600_000);
        let errors = Config::from_parts(
            &Args::default(),
            file("[problems]\nrecur_count = 1\nrecur_window = \"soon\"\nservice_hosts = 1\n"),
            &no_env,
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "config key problems.recur_count: 1 is too few",
            "config key problems.recur_window: invalid duration",
            "config key problems.service_hosts: 1 would make",
        ] {
            assert!(errors.contains(needle), "{needle} not in {errors}");
        }
    }

    #[test]
    fn one_shot_checks_resolve_after_their_configured_quiet_time() {
        let text = "[incidents.auto_resolve]\nreboot = \"15m\"\n\"log:*\" = \"off\"\nbackup_failed = \"12h\"\n";
        let config = Config::from_parts(&Args::default(), file(text), &no_env).unwrap();
        let policy = &config.policy;
        assert_eq!(policy.auto_resolve_after_ms("reboot"), Some(900_000));
        assert_eq!(policy.auto_resolve_after_ms("log:app"), None);
        assert_eq!(
            policy.auto_resolve_after_ms("backup_failed"),
            Some(43_200_000)
        );
        assert_eq!(
            policy.auto_resolve_after_ms("oom_kill"),
            Some(3_600_000),
            "defaults stay"
        );
        let error = Config::from_parts(
            &Args::default(),
            file("[incidents.auto_resolve]\nreboot = \"soon\"\n"),
            &no_env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("config key incidents.auto_resolve.reboot: invalid duration"),
            "{error}"
        );
    }
}
