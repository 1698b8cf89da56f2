//! `[[log]]`: the validated [`LogConfig`] and [`validate_log`], which names every bad key as
//! `log[N].<key>`.

use std::path::PathBuf;

use vigil_shared::Severity;

use super::file::RawLog;
use super::{Pattern, check_name, compile, parse_severity};

/// A validated `[[log]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Unique name.
    pub name: String,
    /// The followed file.
    pub path: PathBuf,
    /// The regex matched against each line.
    pub pattern: Pattern,
    /// Severity of its `log:NAME` events.
    pub severity: Severity,
}

/// Validates one `[[log]]` named `key` (`log[N]`).
pub(super) fn validate_log(
    key: &str,
    raw: RawLog,
    invalid: &mut impl FnMut(&str, String),
) -> Option<LogConfig> {
    let mut ok = true;
    let mut bad = |field: &str, message: String| {
        invalid(&format!("{key}.{field}"), message);
        ok = false;
    };
    let name = check_name(raw.name)
        .map_err(|message| bad("name", message))
        .unwrap_or_default();
    let path = match raw.path {
        Some(path) if path.is_absolute() => path,
        Some(path) => {
            bad(
                "path",
                format!("{:?} is not an absolute path", path.display().to_string()),
            );
            PathBuf::new()
        }
        None => {
            bad("path", "is missing: give the file to follow".to_owned());
            PathBuf::new()
        }
    };
    let pattern = match raw.pattern.as_deref() {
        Some(text) => compile(text)
            .map_err(|message| bad("pattern", message))
            .ok(),
        None => {
            bad("pattern", "is missing: give a regex".to_owned());
            None
        }
    };
    let severity = match raw.severity.as_deref() {
        None => Severity::Warning,
        Some(text) => parse_severity(text).unwrap_or_else(|message| {
            bad("severity", message);
            Severity::Warning
        }),
    };
    let pattern = pattern?;
    ok.then_some(LogConfig {
        name,
        path,
        pattern,
        severity,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::message;

    #[test]
    fn config_names_each_bad_log_key() {
        assert_eq!(
            message("[[log]]\nname = \"app\"\npath = \"relative.log\"\npattern = \"x\"\n"),
            "config key log[0].path: \"relative.log\" is not an absolute path"
        );
        assert_eq!(
            message("[[log]]\nname = \"app\"\npath = \"/x.log\"\n"),
            "config key log[0].pattern: is missing: give a regex"
        );
    }
}
