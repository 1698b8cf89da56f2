//! Where the state lives: `store` ([`StoreLocation`], a SQLite path today) and `store_sync`
//! (when a commit reaches the disk).

use std::path::PathBuf;

use crate::store::sqlite::SyncMode;

/// Where the shared state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite database file.
    Sqlite(PathBuf),
}

/// Parses the `store` key: `sqlite:PATH`, `sqlite://PATH` or a plain path.
pub(super) fn parse_store(url: &str) -> Result<StoreLocation, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(
            "config key store: PostgreSQL is not supported by this build yet: use a SQLite path \
             (sqlite:PATH) or leave store unset"
                .to_owned(),
        );
    }
    let path = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || url.contains("://") && !url.starts_with("sqlite://") {
        return Err(format!(
            "config key store: unsupported store URL {url:?}: use a SQLite path (sqlite:PATH)"
        ));
    }
    Ok(StoreLocation::Sqlite(PathBuf::from(path)))
}

/// Parses the `store_sync` key: `full` (the default) or `normal`; pushes a problem otherwise.
pub(super) fn parse_store_sync(text: Option<&str>, errors: &mut Vec<String>) -> SyncMode {
    match text {
        None | Some("full") => SyncMode::Full,
        Some("normal") => SyncMode::Normal,
        Some(other) => {
            errors.push(format!(
                "config key store_sync: unknown mode {other:?}: use full (fsync per commit) or normal (survives a collector crash, not a power cut)"
            ));
            SyncMode::Full
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{file, no_env};
    use super::super::{Args, Config};
    use super::*;

    #[test]
    fn store_urls_are_checked() {
        assert_eq!(
            parse_store("sqlite:/tmp/x.db"),
            Ok(StoreLocation::Sqlite("/tmp/x.db".into()))
        );
        assert_eq!(
            parse_store("/var/lib/vigil/v.db"),
            Ok(StoreLocation::Sqlite("/var/lib/vigil/v.db".into()))
        );
        assert!(
            parse_store("postgres://u@h/db")
                .unwrap_err()
                .contains("PostgreSQL")
        );
        assert!(
            parse_store("redis://x")
                .unwrap_err()
                .contains("unsupported store URL")
        );
    }

    #[test]
    fn store_sync_is_parsed_and_checked() {
        let config =
            Config::from_parts(&Args::default(), file("store_sync = \"normal\""), &no_env).unwrap();
        assert_eq!(config.store_sync, SyncMode::Normal);
        let config = Config::from_parts(&Args::default(), file(""), &no_env).unwrap();
        assert_eq!(config.store_sync, SyncMode::Full);
        let errors = Config::from_parts(
            &Args::default(),
            file("store_sync = \"sometimes\""),
            &no_env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            errors.contains("config key store_sync: unknown mode \"sometimes\""),
            "{errors}"
        );
    }
}
