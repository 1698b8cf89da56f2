//! The agent's token is a [`Secret`] (`vigil_shared::secret`): never printed, shown as
//! `<secret>` in `Debug`, `Display` and the effective config.

pub use vigil_shared::secret::Secret;

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
