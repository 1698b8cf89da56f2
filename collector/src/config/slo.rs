//! `[[slo]]`: service-level objectives, each about one service, host or probe, with its target,
//! budget window and burn-rate alerts (`[[slo.burn]]`, default the SRE workbook's pair); every
//! problem named `slo[N].<key>`.

use super::file::{RawBurn, RawSlo};
use super::policy::millis;
use super::{ConfigErrors, parse_duration_key, parse_severity};
use crate::availability::slo::{BurnAlert, Slo, SloSubject, default_burn_alerts};
use std::collections::HashSet;
use vigil_shared::event::Severity;

/// The budget window when `window` is not given.
const DEFAULT_WINDOW_MS: i64 = 30 * 86_400_000;

/// Validates the `[[slo]]`s.
pub(super) fn parse_slos(raw: Vec<RawSlo>, errors: &mut ConfigErrors) -> Vec<Slo> {
    let mut slos = Vec::new();
    let mut names = HashSet::new();
    for (index, raw) in raw.into_iter().enumerate() {
        let key = |name: &str| format!("slo[{index}].{name}");
        let before = errors.len();
        let name = raw.name.filter(|name| !name.trim().is_empty());
        match &name {
            None => errors.invalid(key("name"), "every slo needs a name"),
            Some(name) if !names.insert(name.clone()) => {
                errors.invalid(key("name"), format!("{name:?} is used by an earlier slo"));
            }
            Some(_) => {}
        }
        let nonempty = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
        let subject = match (
            nonempty(raw.service),
            nonempty(raw.host),
            nonempty(raw.probe),
        ) {
            (Some(service), None, None) => Some(SloSubject::Service(service)),
            (None, Some(host), None) => Some(SloSubject::Host(host)),
            (None, Some(host), Some(probe)) => Some(SloSubject::Probe { host, probe }),
            (None, None, Some(_)) => {
                errors.invalid(
                    key("probe"),
                    "a probe needs its host: add host = \"HOST_ID\"",
                );
                None
            }
            (None, None, None) => {
                errors.invalid(
                    key("service"),
                    "missing: give service, or host (and probe) the objective is about",
                );
                None
            }
            _ => {
                errors.invalid(
                    key("service"),
                    "give either service or host (and probe), not both",
                );
                None
            }
        };
        let target = match raw.target {
            Some(target) if target > 0.0 && target < 100.0 => target,
            Some(target) => {
                errors.invalid(
                    key("target"),
                    format!("{target} is not a percentage above 0 and below 100, e.g. 99.9"),
                );
                0.0
            }
            None => {
                errors.invalid(
                    key("target"),
                    "missing: the availability objective in percent, e.g. 99.9",
                );
                0.0
            }
        };
        let window_ms = match &raw.window {
            Some(text) => parse_duration_key(&key("window"), text, errors).map_or(0, millis),
            None => DEFAULT_WINDOW_MS,
        };
        if (window_ms <= 0 || window_ms > crate::availability::RETENTION_MS)
            && errors.len() == before
        {
            errors.invalid(
                key("window"),
                "must be longer than 0 and at most 90d (the history kept), e.g. \"30d\"",
            );
        }
        let burn = match raw.burn {
            None => default_burn_alerts(),
            Some(rules) if rules.is_empty() => {
                errors.invalid(
                    key("burn"),
                    "give at least one [[slo.burn]] or leave it out for the defaults",
                );
                Vec::new()
            }
            Some(rules) => rules
                .into_iter()
                .enumerate()
                .filter_map(|(burn_index, rule)| {
                    parse_burn(&key(&format!("burn[{burn_index}]")), rule, errors)
                })
                .collect(),
        };
        if errors.len() > before {
            continue;
        }
        let (Some(name), Some(subject)) = (name, subject) else {
            continue;
        };
        slos.push(Slo {
            name,
            subject,
            target,
            window_ms,
            burn,
        });
    }
    slos
}

/// One `[[slo.burn]]` under `prefix` (`slo[N].burn[M]`).
fn parse_burn(prefix: &str, raw: RawBurn, errors: &mut ConfigErrors) -> Option<BurnAlert> {
    let key = |name: &str| format!("{prefix}.{name}");
    let before = errors.len();
    let mut window = |name: &str, value: Option<String>| match value {
        Some(text) => parse_duration_key(&key(name), &text, errors).map(millis),
        None => {
            errors.invalid(key(name), "missing: a window such as \"1h\" or \"5m\"");
            None
        }
    };
    let long_ms = window("long", raw.long);
    let short_ms = window("short", raw.short);
    if let (Some(long), Some(short)) = (long_ms, short_ms)
        && (short <= 0 || short > long)
    {
        errors.invalid(
            key("short"),
            "must be longer than 0 and no longer than long",
        );
    }
    let factor = match raw.factor {
        Some(factor) if factor > 0.0 && factor.is_finite() => factor,
        Some(factor) => {
            errors.invalid(
                key("factor"),
                format!("{factor} is not a burn rate above 0, e.g. 14.4"),
            );
            0.0
        }
        None => {
            errors.invalid(
                key("factor"),
                "missing: the burn rate that fires, e.g. 14.4",
            );
            0.0
        }
    };
    let severity = match &raw.severity {
        Some(text) => parse_severity(&key("severity"), text, errors).unwrap_or(Severity::Critical),
        None => Severity::Critical,
    };
    if errors.len() > before {
        return None;
    }
    Some(BurnAlert {
        long_ms: long_ms?,
        short_ms: short_ms?,
        factor,
        severity,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{file, no_env};
    use super::super::{Args, Config};
    use crate::availability::slo::SloSubject;

    fn errors_of(text: &str) -> String {
        Config::from_parts(&Args::default(), file(text), &no_env)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn slos_are_parsed_with_the_workbook_defaults() {
        let config = Config::from_parts(
            &Args::default(),
            file(
                r#"
                [[slo]]
                name = "checkout"
                service = "checkout"
                target = 99.9

                [[slo]]
                name = "web-http"
                host = "web-1"
                probe = "http"
                target = 99.5
                window = "7d"
                [[slo.burn]]
                long = "10m"
                short = "1m"
                factor = 2
                severity = "minor"
                "#,
            ),
            &no_env,
        )
        .unwrap();
        assert_eq!(config.slos.len(), 2);
        let checkout = &config.slos[0];
        assert_eq!(checkout.subject, SloSubject::Service("checkout".into()));
        assert_eq!(checkout.window_ms, 30 * 86_400_000);
        assert_eq!(
            checkout
                .burn
                .iter()
                .map(|b| (b.long_ms, b.short_ms, b.factor))
                .collect::<Vec<_>>(),
            vec![(3_600_000, 300_000, 14.4), (21_600_000, 1_800_000, 6.0)]
        );
        let probe = &config.slos[1];
        assert_eq!(
            probe.subject,
            SloSubject::Probe {
                host: "web-1".into(),
                probe: "http".into()
            }
        );
        assert_eq!(
            (probe.burn[0].long_ms, probe.burn[0].short_ms),
            (600_000, 60_000)
        );
    }

    #[test]
    fn bad_slos_name_their_key() {
        let table = [
            (
                "[[slo]]\nname = \"a\"\nservice = \"s\"\ntarget = 100",
                "config key slo[0].target: 100 is not a percentage above 0 and below 100",
            ),
            (
                "[[slo]]\nname = \"a\"\ntarget = 99",
                "config key slo[0].service: missing",
            ),
            (
                "[[slo]]\nname = \"a\"\nservice = \"s\"\nhost = \"h\"\ntarget = 99",
                "config key slo[0].service: give either service or host",
            ),
            (
                "[[slo]]\nname = \"a\"\nprobe = \"p\"\ntarget = 99",
                "config key slo[0].probe: a probe needs its host",
            ),
            (
                "[[slo]]\nname = \"a\"\nservice = \"s\"\ntarget = 99\nwindow = \"soon\"",
                "config key slo[0].window: invalid duration",
            ),
            (
                "[[slo]]\nname = \"a\"\nservice = \"s\"\ntarget = 99\nwindow = \"91d\"",
                "config key slo[0].window: must be longer than 0 and at most 90d",
            ),
            (
                "[[slo]]\nname = \"a\"\nservice = \"s\"\ntarget = 99\n[[slo.burn]]\nlong = \"5m\"\nshort = \"1h\"\nfactor = 2",
                "config key slo[0].burn[0].short: must be longer than 0 and no longer than long",
            ),
            (
                "[[slo]]\nname = \"a\"\nservice = \"s\"\ntarget = 99\n[[slo]]\nname = \"a\"\nservice = \"t\"\ntarget = 99",
                "config key slo[1].name: \"a\" is used by an earlier slo",
            ),
        ];
        for (text, expected) in table {
            let errors = errors_of(text);
            assert!(errors.contains(expected), "{text}: {errors}");
        }
    }
}
