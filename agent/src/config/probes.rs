//! `[[probe]]`: the validated [`ProbeConfig`] and [`ProbeKind`], their defaults, and
//! [`validate_probe`], which names every bad key as `probe[N].<key>`.

use std::time::Duration;

use vigil_shared::Severity;

use super::file::RawProbe;
use super::{Pattern, check_name, compile, parse_severity};

/// Default probe `interval`.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(30);
/// Default probe `timeout`.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default probe `failures_before_down`.
pub const DEFAULT_FAILURES_BEFORE_DOWN: u32 = 3;

/// What a probe checks.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeKind {
    /// An HTTP(S) GET.
    Http {
        /// The URL.
        url: String,
        /// The expected status; any 2xx when `None`.
        expect_status: Option<u16>,
        /// A regex the body must match.
        body_match: Option<Pattern>,
    },
    /// A TCP connect.
    Tcp {
        /// `HOST:PORT`.
        address: String,
    },
    /// Processes whose command line matches.
    Process {
        /// The regex on the command line (arguments joined by spaces).
        pattern: Pattern,
    },
}

impl ProbeKind {
    /// `http`, `tcp` or `process`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProbeKind::Http { .. } => "http",
            ProbeKind::Tcp { .. } => "tcp",
            ProbeKind::Process { .. } => "process",
        }
    }
}

/// A validated `[[probe]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// Unique name.
    pub name: String,
    /// What it checks.
    pub kind: ProbeKind,
    /// How often it runs.
    pub interval: Duration,
    /// How long one run may take (less than `interval`).
    pub timeout: Duration,
    /// Severity of its `probe:NAME` event.
    pub severity: Severity,
    /// Consecutive failures before it is down (at least 1).
    pub failures_before_down: u32,
}

/// Validates one `[[probe]]` named `key` (`probe[N]`); reports problems through `invalid`.
pub(super) fn validate_probe(
    key: &str,
    raw: RawProbe,
    invalid: &mut impl FnMut(&str, String),
) -> Option<ProbeConfig> {
    let mut ok = true;
    let mut bad = |field: &str, message: String| {
        invalid(&format!("{key}.{field}"), message);
        ok = false;
    };
    let name = check_name(raw.name)
        .map_err(|message| bad("name", message))
        .unwrap_or_default();
    let duration = |field: &str,
                    text: Option<String>,
                    default: Duration,
                    bad: &mut dyn FnMut(&str, String)| {
        match text {
            None => default,
            Some(text) => match vigil_shared::parse_duration(&text) {
                Ok(value) if value.is_zero() => {
                    bad(field, format!("{text:?} must be longer than 0"));
                    default
                }
                Ok(value) => value,
                Err(error) => {
                    bad(field, error.to_string());
                    default
                }
            },
        }
    };
    let interval = duration("interval", raw.interval, DEFAULT_PROBE_INTERVAL, &mut bad);
    let default_timeout = if DEFAULT_PROBE_TIMEOUT < interval {
        DEFAULT_PROBE_TIMEOUT
    } else {
        interval / 2
    };
    let explicit_timeout = raw.timeout.is_some();
    let timeout = duration("timeout", raw.timeout, default_timeout, &mut bad);
    if explicit_timeout && timeout >= interval {
        bad(
            "timeout",
            format!(
                "{} must be shorter than the interval {}",
                vigil_shared::format_duration(timeout),
                vigil_shared::format_duration(interval)
            ),
        );
    }
    let severity = match raw.severity.as_deref() {
        None => Severity::Major,
        Some(text) => parse_severity(text).unwrap_or_else(|message| {
            bad("severity", message);
            Severity::Major
        }),
    };
    let failures_before_down = match raw.failures_before_down {
        None => DEFAULT_FAILURES_BEFORE_DOWN,
        Some(count) if (1..=1_000).contains(&count) => count as u32,
        Some(count) => {
            bad(
                "failures_before_down",
                format!("{count} is out of range: use 1 to 1000"),
            );
            DEFAULT_FAILURES_BEFORE_DOWN
        }
    };
    let http_only = |bad: &mut dyn FnMut(&str, String), kind: &str| {
        if raw.expect_status.is_some() {
            bad(
                "expect_status",
                format!("applies to http probes only, not {kind}"),
            );
        }
        if raw.body_match.is_some() {
            bad(
                "body_match",
                format!("applies to http probes only, not {kind}"),
            );
        }
    };
    let target = raw.target.clone().unwrap_or_default();
    let kind = match raw.kind.as_deref() {
        None => {
            bad("kind", "is missing: use http, tcp or process".to_owned());
            None
        }
        Some("http") => {
            if raw.target.is_none() {
                bad(
                    "target",
                    "is missing: give an http:// or https:// URL".to_owned(),
                );
            } else if let Err(message) = check_probe_url(&target) {
                bad("target", message);
            }
            let expect_status = match raw.expect_status {
                None => None,
                Some(status) if (100..=599).contains(&status) => Some(status as u16),
                Some(status) => {
                    bad(
                        "expect_status",
                        format!("{status} is not an HTTP status: use 100 to 599"),
                    );
                    None
                }
            };
            let body_match = match raw.body_match.as_deref() {
                None => None,
                Some(text) => compile(text)
                    .map_err(|message| bad("body_match", message))
                    .ok(),
            };
            Some(ProbeKind::Http {
                url: target,
                expect_status,
                body_match,
            })
        }
        Some("tcp") => {
            http_only(&mut bad, "tcp");
            match target.rsplit_once(':') {
                Some((host, port))
                    if !host.is_empty()
                        && port.parse::<u16>().is_ok_and(|port| port > 0)
                        && !host.chars().any(|c| c.is_whitespace() || c == '/') =>
                {
                    Some(ProbeKind::Tcp { address: target })
                }
                _ => {
                    bad("target", format!("{target:?} is not HOST:PORT"));
                    None
                }
            }
        }
        Some("process") => {
            http_only(&mut bad, "process");
            if raw.target.is_none() || target.is_empty() {
                bad(
                    "target",
                    "is missing: give a regex on the command line".to_owned(),
                );
                None
            } else {
                compile(&target)
                    .map_err(|message| bad("target", message))
                    .ok()
                    .map(|pattern| ProbeKind::Process { pattern })
            }
        }
        Some(other) => {
            bad(
                "kind",
                format!("{other:?} is invalid: use http, tcp or process"),
            );
            None
        }
    };
    let kind = kind?;
    ok.then_some(ProbeConfig {
        name,
        kind,
        interval,
        timeout,
        severity,
        failures_before_down,
    })
}

/// Checks a probe URL: `http://` or `https://` with a host.
fn check_probe_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::message;

    #[test]
    fn config_names_each_bad_probe_key() {
        assert_eq!(
            message("[[probe]]\nname = \"web\"\nkind = \"http\"\ntarget = \"ftp://x\"\n"),
            "config key probe[0].target: \"ftp://x\" is not an http:// or https:// URL"
        );
        assert_eq!(
            message(
                "[[probe]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"h:1\"\ninterval = \"1s\"\ntimeout = \"2s\"\n"
            ),
            "config key probe[0].timeout: 2s must be shorter than the interval 1s"
        );
        assert_eq!(
            message("[[probe]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"nope\"\n"),
            "config key probe[0].target: \"nope\" is not HOST:PORT"
        );
        assert_eq!(
            message("[[probe]]\nname = \"a\"\nkind = \"process\"\ntarget = \"(\"\n")
                .split(':')
                .next(),
            Some("config key probe[0].target")
        );
        assert_eq!(
            message("[[probe]]\nname = \"a b\"\nkind = \"ping\"\n"),
            "config key probe[0].name: \"a b\" is invalid: use 1 to 64 letters, digits, '_', '-' or '.'; \
             config key probe[0].kind: \"ping\" is invalid: use http, tcp or process"
        );
        assert_eq!(
            message(
                "[[probe]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"h:1\"\nexpect_status = 200\nseverity = \"fatal\"\nfailures_before_down = 0\n"
            ),
            "config key probe[0].severity: \"fatal\" is invalid: use critical, major, minor, warning or info; \
             config key probe[0].failures_before_down: 0 is out of range: use 1 to 1000; \
             config key probe[0].expect_status: applies to http probes only, not tcp"
        );
        assert_eq!(
            message(
                "[[probe]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"h:1\"\n[[probe]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"h:2\"\n"
            ),
            "config key probe[1].name: \"a\" is used twice: probe names are unique"
        );
        assert!(message("[[probe]]\nnam = \"x\"\n").contains("unknown field `nam`"));
    }
}
