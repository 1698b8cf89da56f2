//! The configuration vocabulary both binaries speak: one [`ConfigError`] per problem (naming its
//! key, or the file and line), [`ConfigErrors`] to collect them all and print them on one line
//! joined with `; `, [`LogFormat`] for `log_format`, and the small text helpers behind the
//! messages ([`one_line`], [`line_of`]). Parsing the values themselves stays with each binary.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A key has a value that cannot be used.
    #[error("config key {key}: {message}")]
    InvalidValue {
        /// The key (TOML name, e.g. `probe[0].target`; flags and env use the same name).
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The config file could not be read.
    #[error("config key config: cannot read {}: {message}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error's text.
        message: String,
    },
    /// The config file is not valid TOML or has an unknown key.
    #[error("config file {}{}: {message}", path.display(), line.map(|line| format!(" line {line}")).unwrap_or_default())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// The parser's message (names the key for unknown keys), on one line.
        message: String,
    },
}

impl ConfigError {
    /// A bad value of `key`; `message` says what is wrong and what to do.
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The file at `path` could not be read.
    pub fn unreadable(path: &Path, error: &std::io::Error) -> ConfigError {
        ConfigError::Unreadable {
            path: path.to_owned(),
            message: error.to_string(),
        }
    }

    /// A parse error in the file at `path` whose content is `text`: `offset` is the byte where
    /// the parser places the problem (for its line), `message` the parser's text.
    pub fn syntax(path: &Path, text: &str, offset: Option<usize>, message: &str) -> ConfigError {
        ConfigError::Syntax {
            path: path.to_owned(),
            line: offset.map(|offset| line_of(text, offset)),
            message: one_line(message),
        }
    }
}

/// Every problem found, printed on one line joined with `; `.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// No problems yet.
    pub fn new() -> ConfigErrors {
        ConfigErrors(Vec::new())
    }

    /// Records a bad value of `key`.
    pub fn invalid(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError::invalid(key, message));
    }

    /// Records a problem.
    pub fn push(&mut self, error: ConfigError) {
        self.0.push(error);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems were recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `Ok(value)` when nothing was recorded, else every problem.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, ConfigErrors> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (error_idx, error) in self.0.iter().enumerate() {
            if error_idx > 0 {
                formatter.write_str("; ")?;
            }
            write!(formatter, "{error}")?;
        }
        Ok(())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

/// How a binary writes its logs on stderr (`--log-format`, `log_format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `text` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// A `log_format` that is neither `text` nor `json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}: use text or json")]
pub struct LogFormatError(pub String);

impl FromStr for LogFormat {
    type Err = LogFormatError;

    fn from_str(text: &str) -> Result<LogFormat, LogFormatError> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(LogFormatError(other.to_owned())),
        }
    }
}

/// Joins a possibly multi-line message into one line (runs of white space become one space).
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The 1-based line of byte `offset` in `text` (an offset past the end counts as the end).
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|byte| **byte == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_join_on_one_line_naming_each_key() {
        let mut errors = ConfigErrors::new();
        assert!(errors.is_empty());
        errors.invalid("interval", "invalid duration \"10x\"");
        errors.push(ConfigError::invalid("probe[0].target", "is missing"));
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors.to_string(),
            "config key interval: invalid duration \"10x\"; config key probe[0].target: is missing"
        );
        assert_eq!(errors.clone().into_result(|| 1), Err(errors));
        assert_eq!(ConfigErrors::new().into_result(|| 1), Ok(1));
        assert_eq!(ConfigErrors::new().to_string(), "");
    }

    #[test]
    fn config_file_errors_name_the_file_and_line() {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        assert_eq!(
            ConfigError::unreadable(Path::new("/etc/vigil/agent.toml"), &missing).to_string(),
            "config key config: cannot read /etc/vigil/agent.toml: No such file"
        );
        let text = "a = 1\nb = 2\nlisen = 3\n";
        assert_eq!(
            ConfigError::syntax(
                Path::new("c.toml"),
                text,
                text.find("lisen"),
                "unknown field `lisen`,\n  expected one of `listen`"
            )
            .to_string(),
            "config file c.toml line 3: unknown field `lisen`, expected one of `listen`"
        );
        assert_eq!(
            ConfigError::syntax(Path::new("c.toml"), text, None, "bad").to_string(),
            "config file c.toml: bad"
        );
        assert_eq!(
            ConfigErrors::from(ConfigError::invalid("k", "v")).to_string(),
            "config key k: v"
        );
    }

    #[test]
    fn line_of_counts_newlines_before_the_offset() {
        assert_eq!(line_of("", 0), 1);
        assert_eq!(line_of("abc", 2), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a\nb\n", 99), 3);
        assert_eq!(line_of("é\nx", 3), 2);
    }

    #[test]
    fn one_line_folds_white_space() {
        assert_eq!(one_line("a\n  b\tc \n"), "a b c");
        assert_eq!(one_line(""), "");
    }

    #[test]
    fn log_format_parses_text_and_json_only() {
        assert_eq!("text".parse(), Ok(LogFormat::Text));
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!(LogFormat::default(), LogFormat::Text);
        assert_eq!(LogFormat::Json.as_str(), "json");
        for bad in ["", "xml", "JSON", " text"] {
            assert_eq!(
                bad.parse::<LogFormat>(),
                Err(LogFormatError(bad.to_owned()))
            );
        }
        assert_eq!(
            "xml".parse::<LogFormat>().unwrap_err().to_string(),
            "unknown format \"xml\": use text or json"
        );
    }
}
