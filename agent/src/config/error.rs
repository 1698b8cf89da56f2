//! [`ConfigError`] (one problem, naming its key or file) and [`ConfigErrors`] (all of them, on
//! one line joined with `; `).

use std::fmt;
use std::path::PathBuf;

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A key has a value that cannot be used.
    #[error("config key {key}: {message}")]
    InvalidValue {
        /// The key (TOML name; flags and env use the same name).
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
        /// The parser's message (names the key for unknown keys).
        message: String,
    },
}

/// Every problem found, printed on one line joined with `; `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

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
