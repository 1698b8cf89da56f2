//! `[[sink]]`: each table validated into a [`Sink`] (kind, URL, secret from `secret_env` or
//! `secret_file`, the steps it is told about, delivery settings), every problem named
//! `sink[N].<key>`.

use super::ConfigErrors;
use super::file::RawSink;
use crate::notify::Step;
use crate::notify::sinks::{Delivery, Sink, SinkKind};
use std::collections::HashSet;
use std::time::Duration;
use vigil_shared::secret::Secret;

/// Validates every `[[sink]]`; pushes the problems.
pub(super) fn parse_sinks(
    raw: Vec<RawSink>,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut ConfigErrors,
) -> Vec<Sink> {
    let mut names = HashSet::new();
    let mut sinks = Vec::new();
    for (index, raw) in raw.into_iter().enumerate() {
        if let Some(sink) = parse_sink(index, raw, env, errors) {
            if !names.insert(sink.name.clone()) {
                errors.invalid(
                    format!("sink[{index}].name"),
                    format!(
                        "{:?} is used by another sink: give each a unique name",
                        sink.name
                    ),
                );
                continue;
            }
            sinks.push(sink);
        }
    }
    sinks
}

/// A sink name: letters, digits, `-` and `_` (it appears in idempotency keys and metric labels).
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

fn parse_sink(
    index: usize,
    raw: RawSink,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut ConfigErrors,
) -> Option<Sink> {
    let key = |name: &str| format!("sink[{index}].{name}");
    let before = errors.len();
    let name = match raw.name {
        Some(name) if is_valid_name(&name) => Some(name),
        Some(name) => {
            errors.invalid(
                key("name"),
                format!("{name:?} is not a valid name: use letters, digits, - and _"),
            );
            None
        }
        None => {
            errors.invalid(key("name"), "every sink needs a name");
            None
        }
    };
    let kinds = "use webhook, pagerduty, slack, opsgenie, servicenow or jira";
    let kind = match raw.kind.as_deref() {
        Some(text) => SinkKind::parse(text).or_else(|| {
            errors.invalid(key("kind"), format!("unknown kind {text:?}: {kinds}"));
            None
        }),
        None => {
            errors.invalid(key("kind"), format!("missing: {kinds}"));
            None
        }
    };
    let secret = match (raw.secret_env, raw.secret_file) {
        (None, None) => None,
        (Some(variable), None) => match env(&variable).filter(|value| !value.trim().is_empty()) {
            Some(value) => Some(Secret::new(value.trim())),
            None => {
                errors.invalid(
                    key("secret_env"),
                    format!("environment variable {variable} is not set or empty"),
                );
                None
            }
        },
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(value) if !value.trim().is_empty() => Some(Secret::new(value.trim())),
            Ok(_) => {
                errors.invalid(key("secret_file"), format!("{} is empty", path.display()));
                None
            }
            Err(error) => {
                errors.invalid(
                    key("secret_file"),
                    format!("cannot read {}: {error}", path.display()),
                );
                None
            }
        },
        (Some(_), Some(_)) => {
            errors.invalid(
                key("secret_env"),
                "give secret_env or secret_file, not both",
            );
            None
        }
    };
    let url = match raw.url {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => Some(url),
        Some(url) => {
            errors.invalid(
                key("url"),
                format!("{:?} is not an http:// or https:// URL", redact(&url)),
            );
            None
        }
        None => {
            errors.invalid(key("url"), "missing: where the notifications go");
            None
        }
    };
    let steps = match raw.steps {
        None => Step::DEFAULT.to_vec(),
        Some(names) => names
            .iter()
            .filter_map(|name| {
                Step::parse(name).or_else(|| {
                    errors.invalid(
                        key("steps"),
                        format!(
                            "unknown step {name:?}: use open, update, acknowledge, escalate, reopen or resolve"
                        ),
                    );
                    None
                })
            })
            .collect(),
    };
    let defaults = Delivery::default();
    let duration =
        |name: &str, text: Option<String>, default: Duration, errors: &mut ConfigErrors| match text
        {
            None => default,
            Some(text) => match vigil_shared::parse_duration(&text) {
                Ok(value) if !value.is_zero() => value,
                Ok(_) => {
                    errors.invalid(key(name), "must be greater than 0");
                    default
                }
                Err(error) => {
                    errors.invalid(key(name), error.to_string());
                    default
                }
            },
        };
    let delivery = Delivery {
        timeout: duration("timeout", raw.timeout, defaults.timeout, errors),
        dead_after: duration("dead_after", raw.dead_after, defaults.dead_after, errors),
        concurrency: raw.concurrency.unwrap_or(defaults.concurrency),
        rate_per_second: raw.rate_limit.unwrap_or(defaults.rate_per_second),
        ..defaults
    };
    if !(1..=256).contains(&delivery.concurrency) {
        errors.invalid(key("concurrency"), "use 1 to 256 requests in flight");
    }
    if !(delivery.rate_per_second >= 0.0 && delivery.rate_per_second.is_finite()) {
        errors.invalid(key("rate_limit"), "use requests per second, 0 for no limit");
    }
    if errors.len() > before {
        return None;
    }
    Some(Sink {
        name: name?,
        kind: kind?,
        url: url?,
        secret,
        steps,
        delivery,
    })
}

/// A URL for an error message: its query removed (it may carry a key).
fn redact(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::file;
    use super::super::{Args, Config};

    #[test]
    fn a_webhook_sink_is_parsed_with_its_secret_from_the_environment() {
        let text = r#"
            [[sink]]
            name = "queue"
            kind = "webhook"
            url = "http://127.0.0.1:1/hook"
            secret_env = "QUEUE_SECRET"
            steps = ["open", "resolve"]
            dead_after = "1h"
        "#;
        let env = |name: &str| (name == "QUEUE_SECRET").then(|| "s3cret".to_owned());
        let config = Config::from_parts(&Args::default(), file(text), &env).unwrap();
        let sink = &config.sinks[0];
        assert_eq!(sink.name, "queue");
        assert_eq!(sink.secret.as_ref().unwrap().expose(), "s3cret");
        assert_eq!(
            sink.steps,
            vec![crate::notify::Step::Open, crate::notify::Step::Resolve]
        );
        assert_eq!(
            sink.delivery.dead_after,
            std::time::Duration::from_secs(3600)
        );
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn a_bad_sink_is_named_by_its_key() {
        let cases = [
            (
                "name = \"q\"\nkind = \"email\"\nurl = \"http://x\"",
                "sink[0].kind: unknown kind \"email\"",
            ),
            ("name = \"q\"\nkind = \"webhook\"", "sink[0].url: missing"),
            (
                "kind = \"webhook\"\nurl = \"http://x\"",
                "sink[0].name: every sink needs a name",
            ),
            (
                "name = \"q\"\nkind = \"webhook\"\nurl = \"ftp://x?key=1\"",
                "\"ftp://x\" is not an http",
            ),
            (
                "name = \"q\"\nkind = \"webhook\"\nurl = \"http://x\"\nsecret_env = \"NOPE\"",
                "sink[0].secret_env: environment variable NOPE",
            ),
            (
                "name = \"q\"\nkind = \"webhook\"\nurl = \"http://x\"\nsteps = [\"page\"]",
                "sink[0].steps: unknown step \"page\"",
            ),
        ];
        for (table, expected) in cases {
            let text = format!("[[sink]]\n{table}\n");
            let error = Config::from_parts(&Args::default(), file(&text), &|_| None)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{table}: {error}");
            assert!(!error.contains("key=1"), "{error}");
        }
        let twice = "[[sink]]\nname = \"q\"\nkind = \"webhook\"\nurl = \"http://x\"\n[[sink]]\nname = \"q\"\nkind = \"slack\"\nurl = \"http://y\"\n";
        let error = Config::from_parts(&Args::default(), file(twice), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("sink[1].name: \"q\" is used by another sink"),
            "{error}"
        );
    }
}
