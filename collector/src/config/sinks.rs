//! `[[sink]]`: each table validated into a [`Sink`] (kind, URL, secret from `secret_env` or
//! `secret_file`, the steps it is told about, delivery settings), every problem named
//! `sink[N].<key>`.

use super::file::RawSink;
use super::{ConfigErrors, read_secret};
use crate::notify::Step;
use crate::notify::sinks::{Delivery, Sink, SinkKind, SinkOptions};
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
    let secret_given = raw.secret_env.is_some() || raw.secret_file.is_some();
    let secret = read_secret(
        (&key("secret_env"), raw.secret_env),
        (&key("secret_file"), raw.secret_file),
        env,
        errors,
    );
    let callback_secret = read_secret(
        (&key("callback_secret_env"), raw.callback_secret_env),
        (&key("callback_secret_file"), raw.callback_secret_file),
        env,
        errors,
    );
    let url = match raw.url {
        Some(url) if is_http_url(&url) => Some(url),
        Some(url) => {
            errors.invalid(
                key("url"),
                format!("{:?} is not an http:// or https:// URL", redact(&url)),
            );
            None
        }
        None => None,
    };
    let mut options = SinkOptions::default();
    if let Some(kind) = kind {
        // Keys that belong to other kinds are refused, so a typo'd kind is not silently a
        // different sink.
        let vendor_keys: [(&str, bool, &[SinkKind]); 9] = [
            (
                "user",
                raw.user.is_some(),
                &[SinkKind::ServiceNow, SinkKind::Jira],
            ),
            ("table", raw.table.is_some(), &[SinkKind::ServiceNow]),
            ("project", raw.project.is_some(), &[SinkKind::Jira]),
            ("issue_type", raw.issue_type.is_some(), &[SinkKind::Jira]),
            ("priorities", raw.priorities.is_some(), &[SinkKind::Jira]),
            (
                "resolve_transition",
                raw.resolve_transition.is_some(),
                &[SinkKind::Jira],
            ),
            (
                "acknowledge_transition",
                raw.acknowledge_transition.is_some(),
                &[SinkKind::Jira],
            ),
            (
                "reopen_transition",
                raw.reopen_transition.is_some(),
                &[SinkKind::Jira],
            ),
            (
                "callback_secret_env",
                callback_secret.is_some(),
                &[SinkKind::Webhook, SinkKind::PagerDuty],
            ),
        ];
        for (name, given, kinds) in vendor_keys {
            if given && !kinds.contains(&kind) {
                let names: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
                errors.invalid(
                    key(name),
                    format!(
                        "{} sink has no {name}: it is for {} sinks",
                        with_article(kind),
                        names.join(" and ")
                    ),
                );
            }
        }
        let needs_secret = |what: &str, errors: &mut ConfigErrors| {
            if !secret_given {
                errors.invalid(
                    key("secret_env"),
                    format!(
                        "missing: {} sink needs {what}, from secret_env = \"VAR\" or secret_file = \"PATH\"",
                        with_article(kind)
                    ),
                );
            }
        };
        let needs = |name: &str, value: &Option<String>, what: &str, errors: &mut ConfigErrors| {
            if value.as_deref().is_none_or(|text| text.trim().is_empty()) {
                errors.invalid(
                    key(name),
                    format!("missing: {} sink needs {what}", with_article(kind)),
                );
            }
        };
        match kind {
            SinkKind::Webhook => {}
            SinkKind::PagerDuty => needs_secret("the Events API v2 routing key", errors),
            SinkKind::Opsgenie => needs_secret("the API integration key", errors),
            SinkKind::Slack => {}
            SinkKind::ServiceNow => {
                needs(
                    "user",
                    &raw.user,
                    "the user the table API is called as",
                    errors,
                );
                needs_secret("that user's password", errors);
            }
            SinkKind::Jira => {
                needs(
                    "user",
                    &raw.user,
                    "the account's email or user name",
                    errors,
                );
                needs(
                    "project",
                    &raw.project,
                    "the project key issues are created in",
                    errors,
                );
                needs_secret("the account's API token", errors);
            }
        }
        options.user = raw.user;
        if let Some(table) = raw.table {
            if table.is_empty()
                || !table
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                errors.invalid(
                    key("table"),
                    format!("{table:?} is not a table name: use letters, digits and _"),
                );
            }
            options.table = table;
        }
        options.project = raw.project;
        if let Some(issue_type) = raw.issue_type {
            options.issue_type = issue_type;
        }
        if let Some(names) = raw.priorities {
            match <[String; 5]>::try_from(names) {
                Ok(names) => options.priorities = Some(names),
                Err(names) => errors.invalid(
                    key("priorities"),
                    format!(
                        "give 5 Jira priority names, for priorities 1 to 5 (got {})",
                        names.len()
                    ),
                ),
            }
        }
        if let Some(name) = raw.resolve_transition {
            options.resolve_transition = name;
        }
        options.acknowledge_transition = raw.acknowledge_transition;
        options.reopen_transition = raw.reopen_transition;
    }
    // Where requests go: PagerDuty and Opsgenie have a default; Slack's webhook URL is itself
    // secret, so it is kept as the secret (from url, secret_env or secret_file) and only its
    // origin is shown.
    let (url, secret) = match (kind, url, secret) {
        (Some(SinkKind::PagerDuty), None, secret) => (Some(PAGERDUTY_URL.to_owned()), secret),
        (Some(SinkKind::Opsgenie), None, secret) => (Some(OPSGENIE_URL.to_owned()), secret),
        (Some(SinkKind::Slack), Some(url), None) => (Some(origin(&url)), Some(Secret::new(url))),
        (Some(SinkKind::Slack), None, Some(secret)) => {
            if is_http_url(secret.expose()) {
                (Some(origin(secret.expose())), Some(secret))
            } else {
                errors.invalid(
                    key("secret_env"),
                    "a slack sink's secret is its incoming webhook URL (https://hooks.slack.com/services/...)",
                );
                (None, None)
            }
        }
        (Some(SinkKind::Slack), Some(_), Some(_)) => {
            errors.invalid(
                key("url"),
                "give the slack webhook URL once: in url, or (better, it is a secret) in secret_env or secret_file",
            );
            (None, None)
        }
        (Some(SinkKind::Slack), None, None) => {
            if !secret_given {
                errors.invalid(
                    key("url"),
                    "missing: the slack incoming webhook URL, in secret_env or secret_file (or url)",
                );
            }
            (None, None)
        }
        (_, Some(url), secret) => (Some(url), secret),
        (_, None, secret) => {
            errors.invalid(key("url"), "missing: where the notifications go");
            (None, secret)
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
                            "unknown step {name:?}: use open, update, acknowledge, escalate, reopen, resolve or novel"
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
        options,
        callback_secret,
    })
}

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Opsgenie's API (the EU instance is `https://api.eu.opsgenie.com`).
pub const OPSGENIE_URL: &str = "https://api.opsgenie.com";

/// "a webhook", "an opsgenie".
fn with_article(kind: SinkKind) -> String {
    match kind {
        SinkKind::Opsgenie => "an opsgenie".to_owned(),
        other => format!("a {}", other.as_str()),
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// `scheme://host[:port]` of a URL (what may be shown of a secret one).
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{host}")
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

    #[test]
    fn each_kind_is_validated_for_the_keys_it_needs() {
        let env = |name: &str| match name {
            "KEY" => Some("k3y".to_owned()),
            "HOOK" => Some("https://hooks.slack.com/services/T0/B0/SECRETPART".to_owned()),
            _ => None,
        };
        let cases = [
            (
                "kind = \"pagerduty\"",
                "sink[0].secret_env: missing: a pagerduty sink needs the Events API v2 routing key",
            ),
            (
                "kind = \"opsgenie\"",
                "sink[0].secret_env: missing: an opsgenie sink needs the API integration key",
            ),
            (
                "kind = \"slack\"",
                "sink[0].url: missing: the slack incoming webhook URL",
            ),
            (
                "kind = \"slack\"\nsecret_env = \"KEY\"",
                "sink[0].secret_env: a slack sink's secret is its incoming webhook URL",
            ),
            (
                "kind = \"slack\"\nsecret_env = \"HOOK\"\nurl = \"https://hooks.slack.com/x\"",
                "sink[0].url: give the slack webhook URL once",
            ),
            (
                "kind = \"servicenow\"\nsecret_env = \"KEY\"",
                "sink[0].url: missing",
            ),
            (
                "kind = \"servicenow\"\nurl = \"https://x.service-now.com\"\nsecret_env = \"KEY\"",
                "sink[0].user: missing: a servicenow sink needs the user",
            ),
            (
                "kind = \"servicenow\"\nurl = \"https://x.service-now.com\"\nuser = \"u\"",
                "sink[0].secret_env: missing: a servicenow sink needs that user's password",
            ),
            (
                "kind = \"servicenow\"\nurl = \"https://x\"\nuser = \"u\"\nsecret_env = \"KEY\"\ntable = \"inc; drop\"",
                "sink[0].table: \"inc; drop\" is not a table name",
            ),
            (
                "kind = \"jira\"\nurl = \"https://x.atlassian.net\"\nuser = \"u\"\nsecret_env = \"KEY\"",
                "sink[0].project: missing: a jira sink needs the project key",
            ),
            (
                "kind = \"jira\"\nurl = \"https://x.atlassian.net\"\nproject = \"OPS\"\nsecret_env = \"KEY\"",
                "sink[0].user: missing",
            ),
            (
                "kind = \"jira\"\nurl = \"https://x\"\nuser = \"u\"\nproject = \"OPS\"\nsecret_env = \"KEY\"\npriorities = [\"High\"]",
                "sink[0].priorities: give 5 Jira priority names",
            ),
            (
                "kind = \"pagerduty\"\nsecret_env = \"KEY\"\nproject = \"OPS\"",
                "sink[0].project: a pagerduty sink has no project: it is for jira sinks",
            ),
            (
                "kind = \"slack\"\nsecret_env = \"HOOK\"\ncallback_secret_env = \"KEY\"",
                "sink[0].callback_secret_env: a slack sink has no callback_secret_env: it is for webhook and pagerduty sinks",
            ),
            (
                "kind = \"webhook\"\nurl = \"http://x\"\ncallback_secret_env = \"NOPE\"",
                "sink[0].callback_secret_env: environment variable NOPE is not set",
            ),
        ];
        for (table, expected) in cases {
            let text = format!("[[sink]]\nname = \"q\"\n{table}\n");
            let error = Config::from_parts(&Args::default(), file(&text), &env)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{table}: {error}");
            assert!(
                !error.contains("SECRETPART") && !error.contains("k3y"),
                "{error}"
            );
        }
    }

    #[test]
    fn vendor_sinks_get_their_defaults_and_slack_hides_its_url() {
        let env = |name: &str| match name {
            "KEY" => Some("k3y".to_owned()),
            "HOOK" => Some("https://hooks.slack.com/services/T0/B0/SECRETPART".to_owned()),
            _ => None,
        };
        let text = r#"
            [[sink]]
            name = "pd"
            kind = "pagerduty"
            secret_env = "KEY"
            callback_secret_env = "KEY"
            [[sink]]
            name = "og"
            kind = "opsgenie"
            secret_env = "KEY"
            [[sink]]
            name = "chat"
            kind = "slack"
            secret_env = "HOOK"
            [[sink]]
            name = "inline"
            kind = "slack"
            url = "https://hooks.slack.com/services/T0/B0/INLINEPART"
            [[sink]]
            name = "snow"
            kind = "servicenow"
            url = "https://acme.service-now.com"
            user = "vigil"
            secret_env = "KEY"
            [[sink]]
            name = "tickets"
            kind = "jira"
            url = "https://acme.atlassian.net"
            user = "ops@acme.example"
            project = "OPS"
            secret_env = "KEY"
            acknowledge_transition = "In Progress"
            reopen_transition = "Reopen"
        "#;
        let config = Config::from_parts(&Args::default(), file(text), &env).unwrap();
        let urls: Vec<&str> = config.sinks.iter().map(|sink| sink.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                super::PAGERDUTY_URL,
                super::OPSGENIE_URL,
                "https://hooks.slack.com",
                "https://hooks.slack.com",
                "https://acme.service-now.com",
                "https://acme.atlassian.net",
            ]
        );
        assert_eq!(
            config.sinks[0].callback_secret.as_ref().unwrap().expose(),
            "k3y"
        );
        assert!(config.sinks[1].callback_secret.is_none());
        assert_eq!(
            config.sinks[2].secret.as_ref().unwrap().expose(),
            "https://hooks.slack.com/services/T0/B0/SECRETPART"
        );
        assert_eq!(
            config.sinks[3].secret.as_ref().unwrap().expose(),
            "https://hooks.slack.com/services/T0/B0/INLINEPART"
        );
        assert_eq!(config.sinks[4].options.table, "incident");
        let jira = &config.sinks[5].options;
        assert_eq!(jira.issue_type, "Task");
        assert_eq!(jira.resolve_transition, "Done");
        assert_eq!(jira.acknowledge_transition.as_deref(), Some("In Progress"));
        assert_eq!(jira.reopen_transition.as_deref(), Some("Reopen"));
        let shown = format!("{config:?}");
        for secret in ["SECRETPART", "INLINEPART", "k3y"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
