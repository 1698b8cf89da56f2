//! `[[token]]`: each table validated into an [`crate::auth::Token`] (a SHA-256 digest from
//! `sha256`, `secret_env` or `secret_file`), every problem named `token[N].<key>`.

use crate::auth::{Role, Token, parse_sha256_hex, sha256};

use super::file::RawToken;

/// Validates one `[[token]]`; pushes its problems (named `token[<index>].<key>`).
pub(super) fn parse_token(
    index: usize,
    raw: RawToken,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
) -> Option<Token> {
    let key = |name: &str| format!("config key token[{index}].{name}");
    let before = errors.len();
    let name = raw.name.filter(|name| !name.trim().is_empty());
    if name.is_none() {
        errors.push(format!("{}: every token needs a name", key("name")));
    }
    let role = match raw.role.as_deref().map(|text| (text, Role::parse(text))) {
        Some((_, Some(role))) => Some(role),
        Some((text, None)) => {
            errors.push(format!(
                "{}: unknown role {text:?}: use agent, read, operate or admin",
                key("role")
            ));
            None
        }
        None => {
            errors.push(format!(
                "{}: missing: use agent, read, operate or admin",
                key("role")
            ));
            None
        }
    };
    let digest = match (raw.sha256, raw.secret_env, raw.secret_file) {
        (Some(hex), None, None) => parse_sha256_hex(&hex).or_else(|| {
            errors.push(format!(
                "{}: not 64 hex digits: give the SHA-256 of the token (e.g. printf %s TOKEN | sha256sum)",
                key("sha256")
            ));
            None
        }),
        (None, Some(variable), None) => match env(&variable).filter(|value| !value.is_empty()) {
            Some(secret) => Some(sha256(secret.trim().as_bytes())),
            None => {
                errors.push(format!(
                    "{}: environment variable {variable} is not set or empty",
                    key("secret_env")
                ));
                None
            }
        },
        (None, None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(secret) if !secret.trim().is_empty() => Some(sha256(secret.trim().as_bytes())),
            Ok(_) => {
                errors.push(format!("{}: {} is empty", key("secret_file"), path.display()));
                None
            }
            Err(error) => {
                errors.push(format!("{}: cannot read {}: {error}", key("secret_file"), path.display()));
                None
            }
        },
        _ => {
            errors.push(format!(
                "{}: give exactly one of sha256, secret_env or secret_file",
                key("sha256")
            ));
            None
        }
    };
    let hosts = match raw.hosts {
        None => None,
        Some(_) if role.is_some_and(|role| role != Role::Agent) => {
            errors.push(format!(
                "{}: only agent tokens are limited to hosts",
                key("hosts")
            ));
            None
        }
        // Anchored at both ends, as every pattern in Vigil's config.
        Some(pattern) => match regex::Regex::new(&format!("^(?:{pattern})$")) {
            Ok(regex) => Some(regex),
            Err(error) => {
                let first_line = error
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("invalid")
                    .trim()
                    .to_owned();
                errors.push(format!(
                    "{}: invalid regular expression {pattern:?}: {first_line}",
                    key("hosts")
                ));
                None
            }
        },
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
