//! `[[route]]` and `[default_route]`: each validated into a [`Route`] (anchored regexes, known
//! severities, priorities 1–5, sinks that exist, escalation levels with their delays), every
//! problem named `route[N].<key>` or `default_route.<key>`.

use super::ConfigErrors;
use super::file::{RawEscalation, RawRoute};
use crate::notify::route::{Escalation, Matcher, Route, Routing};
use crate::notify::sinks::Sink;
use regex::Regex;
use vigil_shared::event::Severity;

/// Validates the routes against the configured `sinks`.
pub(super) fn parse_routing(
    routes: Vec<RawRoute>,
    default: Option<RawRoute>,
    sinks: &[Sink],
    errors: &mut ConfigErrors,
) -> Routing {
    let routes = routes
        .into_iter()
        .enumerate()
        .filter_map(|(index, raw)| {
            parse_route(&format!("route[{index}]"), raw, true, sinks, errors)
        })
        .collect();
    let default = default.and_then(|raw| parse_route("default_route", raw, false, sinks, errors));
    Routing { routes, default }
}

fn parse_route(
    prefix: &str,
    raw: RawRoute,
    matchers_allowed: bool,
    sinks: &[Sink],
    errors: &mut ConfigErrors,
) -> Option<Route> {
    let key = |name: &str| format!("{prefix}.{name}");
    let before = errors.len();
    if !matchers_allowed {
        let given = [
            ("service", raw.service.is_some()),
            ("host", raw.host.is_some()),
            ("check", raw.check.is_some()),
            ("source", raw.source.is_some()),
            ("severity", raw.severity.is_some()),
            ("priority", raw.priority.is_some()),
            ("labels", raw.labels.is_some()),
            ("continue", raw.continue_.is_some()),
        ];
        for (name, _) in given.iter().filter(|(_, given)| *given) {
            errors.invalid(
                key(name),
                "the default route takes what no route matched: it has no matchers",
            );
        }
    }
    let mut regex = |name: &str, pattern: Option<String>| -> Option<Regex> {
        crate::incidents::silence::anchored(&pattern?)
            .map_err(|error| errors.invalid(key(name), error.to_string()))
            .ok()
    };
    let service = regex("service", raw.service);
    let host = regex("host", raw.host);
    let check = regex("check", raw.check);
    let source = regex("source", raw.source);
    let mut labels = Vec::new();
    for (name, pattern) in raw.labels.unwrap_or_default() {
        if let Some(regex) = regex(&format!("labels.{name}"), Some(pattern)) {
            labels.push((name, regex));
        }
    }
    let severities = raw
        .severity
        .unwrap_or_default()
        .iter()
        .filter_map(|text| {
            text.parse::<Severity>()
                .map_err(|error| errors.invalid(key("severity"), error.to_string()))
                .ok()
        })
        .collect();
    let priorities: Vec<u8> = raw.priority.unwrap_or_default();
    if priorities
        .iter()
        .any(|priority| !(1..=5).contains(priority))
    {
        errors.invalid(key("priority"), "priorities are 1 (highest) to 5");
    }
    let known = |names: &[String], name_key: String, errors: &mut ConfigErrors| {
        for name in names {
            if !sinks.iter().any(|sink| &sink.name == name) {
                errors.invalid(name_key.clone(), format!("no [[sink]] is named {name:?}"));
            }
        }
    };
    let route_sinks = raw.sinks.unwrap_or_default();
    if route_sinks.is_empty() {
        errors.invalid(key("sinks"), "name the sinks this route sends to");
    }
    known(&route_sinks, key("sinks"), errors);
    let mut escalate = Vec::new();
    for (
        level,
        RawEscalation {
            after,
            sinks: names,
        },
    ) in raw.escalate.unwrap_or_default().into_iter().enumerate()
    {
        let level_key = |name: &str| key(&format!("escalate[{level}].{name}"));
        let after = match after.as_deref().map(vigil_shared::parse_duration) {
            Some(Ok(after)) if !after.is_zero() => Some(after),
            Some(Ok(_)) => {
                errors.invalid(level_key("after"), "must be greater than 0");
                None
            }
            Some(Err(error)) => {
                errors.invalid(level_key("after"), error.to_string());
                None
            }
            None => {
                errors.invalid(
                    level_key("after"),
                    "missing: how long unacknowledged before this level",
                );
                None
            }
        };
        let names = names.unwrap_or_default();
        known(&names, level_key("sinks"), errors);
        if let Some(after) = after {
            if escalate
                .last()
                .is_some_and(|previous: &Escalation| previous.after >= after)
            {
                errors.invalid(
                    level_key("after"),
                    "each level must come later than the one before",
                );
            }
            escalate.push(Escalation {
                after,
                sinks: names,
            });
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(Route {
        name: raw.name.unwrap_or_else(|| prefix.to_owned()),
        matcher: Matcher {
            service,
            host,
            check,
            source,
            severities,
            priorities,
            labels,
        },
        sinks: route_sinks,
        continue_matching: raw.continue_.unwrap_or(false),
        escalate,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::file;
    use super::super::{Args, Config};
    use std::time::Duration;

    const SINKS: &str = r#"
        [[sink]]
        name = "pager"
        kind = "webhook"
        url = "http://127.0.0.1:1/p"
        [[sink]]
        name = "chat"
        kind = "webhook"
        url = "http://127.0.0.1:1/c"
    "#;

    #[test]
    fn routes_are_parsed_with_their_matchers_and_escalation() {
        let text = format!(
            r#"{SINKS}
            [[route]]
            name = "db"
            service = "db|billing"
            severity = ["critical", "major"]
            priority = [1, 2]
            labels = {{ env = "prod" }}
            sinks = ["pager"]
            continue = true
            [[route.escalate]]
            after = "15m"
            [[route.escalate]]
            after = "1h"
            sinks = ["chat"]
            [default_route]
            sinks = ["chat"]
            "#
        );
        let config = Config::from_parts(&Args::default(), file(&text), &|_| None).unwrap();
        let route = &config.routing.routes[0];
        assert_eq!(route.name, "db");
        assert!(route.continue_matching);
        assert_eq!(route.sinks, vec!["pager"]);
        assert_eq!(route.escalate.len(), 2);
        assert_eq!(route.escalate[0].after, Duration::from_secs(900));
        assert!(
            route.escalate[0].sinks.is_empty(),
            "a repeat to the route's own sinks"
        );
        assert!(route.matcher.service.as_ref().unwrap().is_match("billing"));
        assert!(
            !route
                .matcher
                .service
                .as_ref()
                .unwrap()
                .is_match("billing-2"),
            "anchored"
        );
        assert_eq!(config.routing.default.as_ref().unwrap().sinks, vec!["chat"]);
    }

    #[test]
    fn bad_routes_are_named_by_their_key() {
        let cases = [
            (
                "[[route]]\nsinks = [\"nope\"]",
                "route[0].sinks: no [[sink]] is named \"nope\"",
            ),
            (
                "[[route]]\nservice = \"db\"",
                "route[0].sinks: name the sinks",
            ),
            (
                "[[route]]\nsinks = [\"pager\"]\nservice = \"(\"",
                "route[0].service: invalid regular expression",
            ),
            (
                "[[route]]\nsinks = [\"pager\"]\nseverity = [\"huge\"]",
                "route[0].severity:",
            ),
            (
                "[[route]]\nsinks = [\"pager\"]\npriority = [0]",
                "route[0].priority: priorities are 1",
            ),
            (
                "[[route]]\nsinks = [\"pager\"]\n[[route.escalate]]\nsinks = [\"chat\"]",
                "route[0].escalate[0].after: missing",
            ),
            (
                "[[route]]\nsinks = [\"pager\"]\n[[route.escalate]]\nafter = \"1h\"\n[[route.escalate]]\nafter = \"5m\"",
                "route[0].escalate[1].after: each level must come later",
            ),
            (
                "[default_route]\nsinks = [\"chat\"]\nservice = \"db\"",
                "default_route.service: the default route",
            ),
        ];
        for (table, expected) in cases {
            let text = format!("{SINKS}\n{table}\n");
            let error = Config::from_parts(&Args::default(), file(&text), &|_| None)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{table}: {error}");
        }
    }
}
