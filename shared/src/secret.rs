//! [`Secret`]: a token, key or password read from config, never printed (`Debug` and `Display`
//! show `<secret>`). The agent's token and the collector's sink keys are `Secret`s.

use std::fmt;

/// A secret string: `Debug` and `Display` print `<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself, for the one place that sends it (a header, a signature key).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("<secret>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_prints_as_a_placeholder() {
        let secret = Secret::new("hunter2");
        assert_eq!(secret.to_string(), "<secret>");
        assert_eq!(format!("{secret:?}"), "<secret>");
        assert_eq!(secret.expose(), "hunter2");
    }
}
