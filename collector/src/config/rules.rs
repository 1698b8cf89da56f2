//! `[[rule]]`: threshold rules validated and merged over the defaults (`default_rules = false`
//! drops them; a rule with a default's name replaces it), every problem named `rule[N].<key>`.

use crate::rules::{Op, Rule, default_rules};

use super::file::RawRule;
use super::policy::millis;
use super::{ConfigErrors, parse_duration_key, parse_severity};
use vigil_shared::event::Severity;

/// Validates `[[rule]]`s and merges them over the defaults (same name replaces).
pub(super) fn parse_rules(
    defaults: bool,
    raw: Vec<RawRule>,
    errors: &mut ConfigErrors,
) -> Vec<Rule> {
    let mut rules = if defaults {
        default_rules()
    } else {
        Vec::new()
    };
    for (index, raw) in raw.into_iter().enumerate() {
        let key = |name: &str| format!("rule[{index}].{name}");
        let before = errors.len();
        let name = raw.name.filter(|name| !name.trim().is_empty());
        if name.is_none() {
            errors.invalid(key("name"), "every rule needs a name");
        }
        let metric = raw.metric.filter(|metric| !metric.trim().is_empty());
        if metric.is_none() {
            errors.invalid(
                key("metric"),
                "missing: the agent sample name, e.g. filesystem_avail_bytes",
            );
        }
        let (op, threshold) = match (raw.above, raw.below) {
            (Some(value), None) => (Op::Above, value),
            (None, Some(value)) => (Op::Below, value),
            _ => {
                errors.invalid(key("above"), "give exactly one of above or below");
                (Op::Above, 0.0)
            }
        };
        let clear = raw.clear.unwrap_or(threshold);
        let wrong_side = match op {
            Op::Above => clear > threshold,
            Op::Below => clear < threshold,
        };
        if wrong_side {
            errors.invalid(
                key("clear"),
                format!("{clear} is on the firing side of the threshold {threshold}"),
            );
        }
        let for_ms = match &raw.for_ {
            Some(text) => parse_duration_key(&key("for"), text, errors).map_or(0, millis),
            None => 0,
        };
        let severity = match &raw.severity {
            Some(text) => {
                parse_severity(&key("severity"), text, errors).unwrap_or(Severity::Warning)
            }
            None => Severity::Warning,
        };
        if let Some(runbook) = &raw.runbook
            && let Err(reason) = crate::incidents::event::check_runbook(runbook)
        {
            errors.invalid(key("runbook"), reason);
        }
        if errors.len() > before {
            continue;
        }
        let (Some(name), Some(metric)) = (name, metric) else {
            continue;
        };
        let rule = Rule {
            name,
            metric,
            divide_by: raw.divide_by.filter(|divisor| !divisor.trim().is_empty()),
            op,
            threshold,
            clear,
            for_ms,
            severity,
            runbook: raw.runbook,
        };
        rules.retain(|existing| existing.name != rule.name);
        rules.push(rule);
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{file, no_env};
    use super::super::{Args, Config};
    use crate::rules::default_rules;

    #[test]
    fn rules_are_parsed_and_checked() {
        let config = Config::from_parts(
            &Args::default(),
            file(
                r#"
                default_rules = true
                [[rule]]
                name = "cpu_saturated"
                metric = "cpu_usage_ratio"
                above = 0.8
                clear = 0.7
                for = "1m"
                runbook = "https://runbooks.example/cpu"
                "#,
            ),
            &no_env,
        )
        .unwrap();
        assert_eq!(
            config.rules.len(),
            default_rules().len(),
            "same name replaces"
        );
        let cpu = config
            .rules
            .iter()
            .find(|rule| rule.name == "cpu_saturated")
            .unwrap();
        assert_eq!((cpu.threshold, cpu.clear, cpu.for_ms), (0.8, 0.7, 60_000));
        assert_eq!(cpu.runbook.as_deref(), Some("https://runbooks.example/cpu"));

        let errors = Config::from_parts(
            &Args::default(),
            file(
                r#"
                [[rule]]
                name = "x"
                metric = "load1"
                above = 1.0
                below = 2.0
                [[rule]]
                name = "y"
                metric = "load1"
                above = 1.0
                runbook = "wiki page 4"
                "#,
            ),
            &no_env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            errors.contains("config key rule[0].above: give exactly one of above or below"),
            "{errors}"
        );
        assert!(
            errors.contains("config key rule[1].runbook: runbook \"wiki page 4\" is not an http"),
            "{errors}"
        );
    }
}
