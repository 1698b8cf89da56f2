//! Where the state lives: `store` ([`StoreLocation`]: a SQLite path or a PostgreSQL URL),
//! `store_sync` (when a SQLite commit reaches the disk), and for a shared store its pool size,
//! timeout and the sweeps' leader lease.

use std::path::PathBuf;

use super::{ConfigError, ConfigErrors};
use crate::store::Durability;

pub use crate::store::StoreLocation;

/// Parses the `store` key: `sqlite:PATH`, `sqlite://PATH`, a plain path, or
/// `postgres://USER[:PASS]@HOST[:PORT]/DB`.
pub(super) fn parse_store(url: &str) -> Result<StoreLocation, ConfigError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.contains('/'))
        {
            return Err(ConfigError::invalid(
                "store",
                "a PostgreSQL URL needs a database: postgres://USER[:PASS]@HOST[:PORT]/DB",
            ));
        }
        return Ok(StoreLocation::Postgres(crate::store::PostgresUrl::new(url)));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || url.contains("://") && !url.starts_with("sqlite://") {
        return Err(ConfigError::invalid(
            "store",
            format!(
                "unsupported store URL {url:?}: use a SQLite path (sqlite:PATH) or postgres://USER@HOST/DB"
            ),
        ));
    }
    Ok(StoreLocation::Sqlite(PathBuf::from(path)))
}

/// Parses the `store_sync` key: `full` (the default) or `normal`; pushes a problem otherwise.
pub(super) fn parse_store_sync(text: Option<&str>, errors: &mut ConfigErrors) -> Durability {
    match text {
        None | Some("full") => Durability::Full,
        Some("normal") => Durability::Normal,
        Some(other) => {
            errors.invalid("store_sync", format!(
                "unknown mode {other:?}: use full (fsync per commit) or normal (survives a collector crash, not a power cut)"
            ));
            Durability::Full
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
        assert_eq!(
            parse_store("postgres://u@h/db"),
            Ok(StoreLocation::Postgres(crate::store::PostgresUrl::new(
                "postgres://u@h/db"
            )))
        );
        assert!(
            parse_store("postgres://u@h")
                .unwrap_err()
                .to_string()
                .contains("needs a database")
        );
        assert!(
            parse_store("redis://x")
                .unwrap_err()
                .to_string()
                .contains("config key store: unsupported store URL")
        );
    }

    #[test]
    fn store_sync_is_parsed_and_checked() {
        let config =
            Config::from_parts(&Args::default(), file("store_sync = \"normal\""), &no_env).unwrap();
        assert_eq!(config.store_sync, Durability::Normal);
        let config = Config::from_parts(&Args::default(), file(""), &no_env).unwrap();
        assert_eq!(config.store_sync, Durability::Full);
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
