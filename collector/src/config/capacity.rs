//! `[capacity]`: live forecasts — on or off, how often to forecast and save, how much history a
//! first forecast needs, the horizons, and the capacity incident levels (`[[capacity.alert]]`).

use super::file::RawCapacity;
use super::policy::millis;
use super::{ConfigErrors, parse_duration_key, parse_severity};
use crate::capacity::CapacityConfig;
use crate::capacity::alert::AlertLevel;

/// Validates `[capacity]`; defaults for what is absent.
pub(super) fn parse_capacity(raw: RawCapacity, errors: &mut ConfigErrors) -> CapacityConfig {
    let mut config = CapacityConfig::default();
    if let Some(enabled) = raw.enabled {
        config.enabled = enabled;
    }
    for (key, text, target) in [
        (
            "capacity.forecast_every",
            &raw.forecast_every,
            &mut config.forecast_every_ms,
        ),
        (
            "capacity.persist_every",
            &raw.persist_every,
            &mut config.persist_every_ms,
        ),
        (
            "capacity.min_history",
            &raw.min_history,
            &mut config.min_history_ms,
        ),
        (
            "capacity.idle_after",
            &raw.idle_after,
            &mut config.idle_after_ms,
        ),
    ] {
        if let Some(text) = text
            && let Some(duration) = parse_duration_key(key, text, errors)
        {
            if duration.as_millis() < 100 {
                errors.invalid(key, "use at least 100ms");
            }
            *target = millis(duration);
        }
    }
    if let Some(horizons) = raw.horizons {
        config.horizons_ms.clear();
        for text in horizons {
            if let Some(duration) = parse_duration_key("capacity.horizons", &text, errors) {
                if duration.is_zero() || duration.as_secs() > 366 * 86_400 {
                    errors.invalid("capacity.horizons", format!("{text:?}: use 1s to 366d"));
                }
                config.horizons_ms.push(millis(duration));
            }
        }
        if config.horizons_ms.is_empty() {
            errors.invalid(
                "capacity.horizons",
                "give at least one, e.g. [\"1h\", \"24h\", \"7d\"]",
            );
        }
        config.horizons_ms.sort_unstable();
        config.horizons_ms.dedup();
    }
    if let Some(levels) = raw.alert {
        config.alerts.clear();
        for (n, level) in levels.into_iter().enumerate() {
            let key = |field: &str| format!("capacity.alert[{n}].{field}");
            let within = match level.within {
                Some(text) => parse_duration_key(&key("within"), &text, errors),
                None => {
                    errors.invalid(
                        key("within"),
                        "missing: say how near an exhaustion alerts, e.g. \"24h\"",
                    );
                    None
                }
            };
            let severity = match level.severity {
                Some(text) => parse_severity(&key("severity"), &text, errors),
                None => {
                    errors.invalid(key("severity"), "missing: e.g. \"major\"");
                    None
                }
            };
            if let (Some(within), Some(severity)) = (within, severity) {
                config.alerts.push(AlertLevel {
                    within_ms: millis(within),
                    severity,
                });
            }
        }
        config.alerts.sort_by_key(|level| level.within_ms);
    }
    if let Some(kinds) = raw.alert_on {
        const KINDS: [&str; 7] = [
            "filesystem",
            "inodes",
            "memory",
            "swap",
            "cpu",
            "load",
            "probe_latency",
        ];
        for kind in &kinds {
            if !KINDS.contains(&kind.as_str()) {
                errors.invalid(
                    "capacity.alert_on",
                    format!("{kind:?} is not a resource kind: use {}", KINDS.join(", ")),
                );
            }
        }
        config.alert_on = kinds;
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::event::Severity;

    fn parse(text: &str) -> Result<CapacityConfig, String> {
        let raw: RawCapacity = toml::from_str(text).map_err(|error| error.to_string())?;
        let mut errors = ConfigErrors::new();
        let config = parse_capacity(raw, &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors.to_string())
        }
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(parse("").unwrap(), CapacityConfig::default());
        let config = parse(
            "enabled = true\nforecast_every = \"10s\"\npersist_every = \"1m\"\nmin_history = \"30s\"\n\
             horizons = [\"24h\", \"1h\"]\n[[alert]]\nwithin = \"7d\"\nseverity = \"minor\"\n\
             [[alert]]\nwithin = \"2h\"\nseverity = \"critical\"\n",
        )
        .unwrap();
        assert_eq!(config.forecast_every_ms, 10_000);
        assert_eq!(config.persist_every_ms, 60_000);
        assert_eq!(config.min_history_ms, 30_000);
        assert_eq!(config.horizons_ms, [3_600_000, 86_400_000]);
        assert_eq!(
            config.alerts,
            [
                AlertLevel {
                    within_ms: 7_200_000,
                    severity: Severity::Critical
                },
                AlertLevel {
                    within_ms: 604_800_000,
                    severity: Severity::Minor
                },
            ],
            "most urgent first"
        );
        assert!(!parse("enabled = false").unwrap().enabled);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("forecast_every = \"soon\"", "capacity.forecast_every"),
            ("persist_every = \"10ms\"", "capacity.persist_every"),
            ("horizons = []", "capacity.horizons"),
            ("alert_on = [\"disk\"]", "capacity.alert_on"),
            ("horizons = [\"0s\"]", "capacity.horizons"),
            (
                "[[alert]]\nseverity = \"major\"",
                "capacity.alert[0].within",
            ),
            (
                "[[alert]]\nwithin = \"1h\"\nseverity = \"bad\"",
                "capacity.alert[0].severity",
            ),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(key), "{text:?}: {error}");
        }
        assert!(parse("unknown = 1").is_err(), "unknown keys are refused");
    }
}
