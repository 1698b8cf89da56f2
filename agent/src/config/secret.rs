//! [`Secret`]: the agent's token, never printed (`Debug` and `Display` show `<secret>`).

use std::fmt;

/// A secret string (the token): `Debug` and `Display` print `<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself; only the transport's `Authorization` header uses it.
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
    use super::super::test_support::parse;
    use super::*;

    #[test]
    fn secret_never_appears_in_debug_output_or_the_effective_config() {
        let config = parse("token = \"hunter2-token\"\n[labels]\nservice = \"checkout\"").unwrap();
        let dumped = format!("{config:?}");
        assert!(!dumped.contains("hunter2"), "{dumped}");
        assert!(dumped.contains("<secret>"), "{dumped}");
        let described = config.describe();
        assert!(!described.contains("hunter2"), "{described}");
        assert!(described.contains("token: <secret>\n"), "{described}");
        assert!(
            described.contains("labels: service=\"checkout\"\n"),
            "{described}"
        );
        assert!(described.contains("interval: 10s\n"), "{described}");
        assert_eq!(Secret::new("x").to_string(), "<secret>");
    }
}
