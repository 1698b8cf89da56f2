//! `[[token]]`: each table validated into an [`crate::auth::Token`] (a SHA-256 digest from
//! `sha256`, `secret_env` or `secret_file`), every problem named `token[N].<key>`.

use crate::auth::{Role, Token, parse_sha256_hex, sha256};

use super::file::RawToken;
use super::{ConfigErrors, read_secret};

/// Validates one `[[token]]`; pushes its problems (named `token[<index>].<key>`).
pub(super) fn parse_token(
    index: usize,
    raw: RawToken,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut ConfigErrors,
) -> Option<Token> {
    let key = |name: &str| format!("token[{index}].{name}");
    let before = errors.len();
    let name = raw.name.filter(|name| !name.trim().is_empty());
    if name.is_none() {
        errors.invalid(key("name"), "every token needs a name");
    }
    let role = match raw.role.as_deref().map(|text| (text, Role::parse(text))) {
        Some((_, Some(role))) => Some(role),
        Some((text, None)) => {
            errors.invalid(
                key("role"),
                format!("unknown role {text:?}: use agent, read, operate or admin"),
            );
            None
        }
        None => {
            errors.invalid(key("role"), "missing: use agent, read, operate or admin");
            None
        }
    };
    let digest = match (raw.sha256, raw.secret_env, raw.secret_file) {
        (Some(hex), None, None) => parse_sha256_hex(&hex).or_else(|| {
            errors.invalid(key("sha256"), "not 64 hex digits: give the SHA-256 of the token (e.g. printf %s TOKEN | sha256sum)");
            None
        }),
        (None, variable, path) if variable.is_some() != path.is_some() => read_secret(
            (&key("secret_env"), variable),
            (&key("secret_file"), path),
            env,
            errors,
        )
        .map(|secret| sha256(secret.expose().as_bytes())),
        _ => {
            errors.invalid(key("sha256"), "give exactly one of sha256, secret_env or secret_file");
            None
        }
    };
    let hosts = match raw.hosts {
        None => None,
        Some(_) if role.is_some_and(|role| role != Role::Agent) => {
            errors.invalid(key("hosts"), "only agent tokens are limited to hosts");
            None
        }
        // Anchored at both ends, as every pattern in Vigil's config.
        Some(pattern) => crate::incidents::silence::anchored(&pattern)
            .map_err(|error| errors.invalid(key("hosts"), error.to_string()))
            .ok(),
    };
    if errors.len() > before {
        return None;
    }
    Some(Token::new(name?, role?, digest?, hosts))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{file, no_env};
    use super::super::{Args, Config};

    #[test]
    fn tokens_are_parsed_from_hash_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("t");
        std::fs::write(&secret_file, "file-secret\n").unwrap();
        let text = format!(
            r#"
            listen = "0.0.0.0:9470"
            [[token]]
            name = "agents"
            role = "agent"
            sha256 = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
            hosts = "eu-.*"
            [[token]]
            name = "grafana"
            role = "read"
            secret_env = "GRAFANA_TOKEN"
            [[token]]
            name = "root"
            role = "admin"
            secret_file = "{}"
            "#,
            secret_file.display()
        );
        let env = |name: &str| (name == "GRAFANA_TOKEN").then(|| "env-secret".to_owned());
        let config = Config::from_parts(&Args::default(), file(&text), &env).unwrap();
        assert_eq!(config.tokens.len(), 3);
        use crate::auth::Access;
        let agent = config
            .tokens
            .authorize(Some("Bearer secret"), Access::Ingest)
            .unwrap();
        assert!(agent.may_report_as("eu-1") && !agent.may_report_as("us-1"));
        assert!(
            config
                .tokens
                .authorize(Some("Bearer env-secret"), Access::Read)
                .is_ok()
        );
        assert!(
            config
                .tokens
                .authorize(Some("Bearer file-secret"), Access::Admin)
                .is_ok()
        );
        assert!(!format!("{config:?}").contains("secret"), "{config:?}");
    }

    #[test]
    fn bad_tokens_name_their_keys() {
        let text = r#"
            [[token]]
            role = "boss"
            sha256 = "abc"
            [[token]]
            name = "x"
            role = "read"
            secret_env = "MISSING"
            hosts = "a"
            [[token]]
            name = "y"
            role = "agent"
            sha256 = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
            secret_env = "ALSO"
            hosts = "("
        "#;
        let error = Config::from_parts(&Args::default(), file(text), &no_env).unwrap_err();
        let line = error.to_string();
        for part in [
            "config key token[0].name: every token needs a name",
            "config key token[0].role: unknown role \"boss\"",
            "config key token[0].sha256: not 64 hex digits",
            "config key token[1].secret_env: environment variable MISSING is not set",
            "config key token[1].hosts: only agent tokens",
            "config key token[2].sha256: give exactly one of",
            "config key token[2].hosts: invalid regular expression",
        ] {
            assert!(line.contains(part), "missing {part:?} in {line}");
        }
    }
}
