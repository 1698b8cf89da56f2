//! `[grouping]`: service grouping — the key incidents are grouped by (`by`), how long a lone
//! incident stays open to others of its key (`window`), and how long its notifications wait for
//! them (`wait`); `[grouping.novelty]` turns novelty paging on (`quiet`, `factor`, `decay`,
//! `interval`).

use super::file::{RawGrouping, RawNovelty};
use super::policy::millis;
use super::{ConfigErrors, parse_duration_key};
use crate::incidents::Policy;
use crate::incidents::policy::NoveltyPolicy;

/// The names a key may not use: the host (grouping joins several hosts) and incident fields that
/// are not identity.
const NOT_KEYS: [&str; 3] = ["host", "severity", "priority"];

/// Checks the names of a key (`grouping.by`, `grouping.by_check.<check>`).
fn check_names(key: &str, by: &[String], errors: &mut ConfigErrors) -> bool {
    let mut ok = true;
    for name in by {
        if name.trim().is_empty() || name.contains([',', '=', '/']) {
            errors.invalid(
                key,
                format!("{name:?} is not a field or label name (no commas, `=` or `/`)"),
            );
            ok = false;
        } else if NOT_KEYS.contains(&name.as_str()) {
            errors.invalid(
                key,
                format!("{name:?} cannot group incidents; use service, check, source or a label"),
            );
            ok = false;
        }
    }
    ok
}

/// Validates `[grouping]` into `policy`.
pub(super) fn parse_grouping(raw: RawGrouping, policy: &mut Policy, errors: &mut ConfigErrors) {
    let grouping = &mut policy.grouping;
    if let Some(by) = raw.by
        && check_names("grouping.by", &by, errors)
    {
        grouping.by = by;
    }
    for (check, by) in raw.by_check.unwrap_or_default() {
        let key = format!("grouping.by_check.{check}");
        if check.trim().is_empty() || check == "*" {
            errors.invalid(key, "name a check, or a prefix ending in `*`");
            continue;
        }
        if check_names(&key, &by, errors) {
            grouping.by_check.push((check, by));
        }
    }
    for (key, text, target) in [
        ("grouping.window", &raw.window, &mut grouping.window_ms),
        ("grouping.wait", &raw.wait, &mut grouping.wait_ms),
    ] {
        if let Some(text) = text
            && let Some(duration) = parse_duration_key(key, text, errors)
        {
            *target = millis(duration);
        }
    }
    if let Some(raw) = raw.novelty {
        if grouping.by.is_empty() && grouping.by_check.iter().all(|(_, by)| by.is_empty()) {
            errors.invalid(
                "grouping.novelty",
                "novelty paging needs service grouping: set grouping.by (or grouping.by_check)",
            );
        }
        grouping.novelty = parse_novelty(raw, errors);
    }
}

/// Validates `[grouping.novelty]`.
fn parse_novelty(raw: RawNovelty, errors: &mut ConfigErrors) -> Option<NoveltyPolicy> {
    let mut novelty = NoveltyPolicy::default();
    let mut ok = true;
    for (key, text, target, positive) in [
        (
            "grouping.novelty.quiet",
            &raw.quiet,
            &mut novelty.quiet_ms,
            false,
        ),
        (
            "grouping.novelty.decay",
            &raw.decay,
            &mut novelty.decay_ms,
            true,
        ),
        (
            "grouping.novelty.interval",
            &raw.interval,
            &mut novelty.interval_ms,
            false,
        ),
    ] {
        let Some(text) = text else {
            continue;
        };
        match parse_duration_key(key, text, errors) {
            Some(duration) if positive && duration.is_zero() => {
                errors.invalid(
                    key,
                    "must be longer than 0s (the past firing time decays over it)",
                );
                ok = false;
            }
            Some(duration) => *target = millis(duration),
            None => ok = false,
        }
    }
    if let Some(factor) = raw.factor {
        match u32::try_from(factor) {
            Ok(factor) if factor <= 10_000 => novelty.factor = factor,
            _ => {
                errors.invalid(
                    "grouping.novelty.factor",
                    format!("{factor} is not a whole number from 0 to 10000"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(novelty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, String> {
        let raw: RawGrouping = toml::from_str(text).map_err(|error| error.to_string())?;
        let mut errors = ConfigErrors::new();
        let mut policy = Policy::default();
        parse_grouping(raw, &mut policy, &mut errors);
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(errors.to_string())
        }
    }

    #[test]
    fn by_window_and_wait_with_defaults_and_errors_naming_the_key() {
        let policy =
            parse("by = [\"service\", \"env\"]\nwindow = \"10m\"\nwait = \"0s\"\n").unwrap();
        assert_eq!(policy.grouping.by, ["service", "env"]);
        assert_eq!(
            (policy.grouping.window_ms, policy.grouping.wait_ms),
            (600_000, 0)
        );
        let policy = parse("").unwrap();
        assert_eq!(policy.grouping, Policy::default().grouping);
        assert_eq!(policy.grouping.by, ["service"]);
        assert!(parse("by = []").unwrap().grouping.by.is_empty(), "off");
        for (text, key) in [
            ("by = [\"host\"]", "grouping.by"),
            ("by = [\"a,b\"]", "grouping.by"),
            ("by = [\"\"]", "grouping.by"),
            ("wait = \"soon\"", "grouping.wait"),
            ("window = \"-1s\"", "grouping.window"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(key), "{text}: {error}");
        }
        assert!(parse("group_by = []").is_err(), "unknown keys are refused");
        assert_eq!(
            policy.grouping.novelty, None,
            "novelty paging is off by default"
        );
        let policy =
            parse("[by_check]\n\"W-*\" = [\"check\"]\n\"W-Acc-400\" = []\n\"disk\" = [\"env\"]\n")
                .unwrap();
        let grouping = &policy.grouping;
        assert_eq!(grouping.by_for("W-Sys-Dov"), ["check"]);
        assert!(
            grouping.by_for("W-Acc-400").is_empty(),
            "the exact name wins"
        );
        assert_eq!(grouping.by_for("disk"), ["env"]);
        assert_eq!(
            grouping.by_for("diskette"),
            ["service"],
            "not a prefix: the default"
        );
        for (text, key) in [
            ("[by_check]\n\"*\" = []", "grouping.by_check.*"),
            ("[by_check]\n\"x\" = [\"host\"]", "grouping.by_check.x"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(key), "{text}: {error}");
        }
    }

    #[test]
    fn novelty_is_on_with_its_table_with_defaults_and_errors_naming_the_key() {
        let policy = parse("[novelty]\n").unwrap();
        assert_eq!(policy.grouping.novelty, Some(NoveltyPolicy::default()));
        let policy =
            parse("[novelty]\nquiet = \"2h\"\nfactor = 8\ndecay = \"3d\"\ninterval = \"0s\"\n")
                .unwrap();
        assert_eq!(
            policy.grouping.novelty,
            Some(NoveltyPolicy {
                quiet_ms: 2 * 3_600_000,
                factor: 8,
                decay_ms: 3 * 86_400_000,
                interval_ms: 0,
            })
        );
        for (text, message) in [
            (
                "[novelty]\nfactor = -1",
                "config key grouping.novelty.factor: -1 is not a whole number from 0 to 10000",
            ),
            (
                "[novelty]\ndecay = \"0s\"",
                "config key grouping.novelty.decay: must be longer than 0s",
            ),
            (
                "[novelty]\nquiet = \"soon\"",
                "config key grouping.novelty.quiet: ",
            ),
            (
                "by = []\n[novelty]",
                "config key grouping.novelty: novelty paging needs service grouping",
            ),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(message), "{text}: {error}");
        }
        assert!(
            parse("[novelty]\nwindow = \"1h\"").is_err(),
            "unknown keys are refused"
        );
    }
}
