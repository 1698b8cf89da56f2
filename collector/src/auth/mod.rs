//! Bearer tokens (`[[token]]` in the collector config): who may call what.
//!
//! A client sends `Authorization: Bearer <token>`. The collector keeps only each token's SHA-256
//! (given as `sha256`, or computed at start from `secret_env` / `secret_file`), so the config and
//! memory hold no usable secret, and tokens are never logged.
//!
//! | role | may |
//! |---|---|
//! | `agent` | `POST /v1/ingest`, for host ids matching its `hosts` regex (all when absent) |
//! | `read` | every `GET` of the API and `/metrics` |
//! | `operate` | `read`, plus the actions on incidents, silences and changes (later) |
//! | `admin` | everything, including ingest and `DELETE /v1/hosts/{id}` |
//!
//! With no tokens configured every request is allowed, and the collector refuses a non-loopback
//! listen address unless `--insecure` (see `config.rs`). `/healthz` and `/readyz` are always open.

use regex::Regex;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Send agent batches.
    Agent,
    /// Read the API and metrics.
    Read,
    /// Read, and act on incidents, silences and changes.
    Operate,
    /// Everything.
    Admin,
}

impl Role {
    /// Parses a role name as written in the config.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "agent" => Some(Role::Agent),
            "read" => Some(Role::Read),
            "operate" => Some(Role::Operate),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }
}

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `POST /v1/ingest`.
    Ingest,
    /// Reading the API or `/metrics`.
    Read,
    /// Acting on incidents, silences, changes.
    Operate,
    /// Administrative changes (forgetting a host).
    Admin,
}

impl Access {
    /// Lower-case name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Ingest => "ingest",
            Access::Read => "read",
            Access::Operate => "operate",
            Access::Admin => "admin",
        }
    }
}

/// One configured token.
#[derive(Clone)]
pub struct Token {
    /// The token's name (for logs and messages).
    pub name: String,
    /// Its role.
    pub role: Role,
    sha256: [u8; 32],
    hosts: Option<Regex>,
    /// With mTLS: the names of the client certificate the request came with; the token may then
    /// report only as one of them (on top of `hosts`).
    certificate: Option<std::sync::Arc<[String]>>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Token")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("hosts", &self.hosts.as_ref().map(Regex::as_str))
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// A token from its SHA-256 digest; `hosts` restricts the host ids an agent token may report as.
    pub fn new(name: String, role: Role, sha256: [u8; 32], hosts: Option<Regex>) -> Token {
        Token {
            name,
            role,
            sha256,
            hosts,
            certificate: None,
        }
    }

    /// This token, limited further to the host ids a client certificate names (CN and DNS SANs):
    /// what a request over mTLS carries.
    pub fn bound_to_certificate(&self, names: std::sync::Arc<[String]>) -> Token {
        Token {
            name: format!(
                "{} (client certificate for {})",
                self.name,
                names.join(", ")
            ),
            certificate: Some(names),
            ..self.clone()
        }
    }

    /// A client certificate standing alone (mTLS without bearer tokens): an agent that may report
    /// as the host ids the certificate names.
    pub fn from_certificate(names: std::sync::Arc<[String]>) -> Token {
        Token {
            name: format!("client certificate for {}", names.join(", ")),
            role: Role::Agent,
            sha256: [0; 32],
            hosts: None,
            certificate: Some(names),
        }
    }

    /// Whether the token's role grants `access`.
    pub fn allows(&self, access: Access) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Agent => access == Access::Ingest,
            Role::Read => access == Access::Read,
            Role::Operate => matches!(access, Access::Read | Access::Operate),
        }
    }

    /// Whether an agent holding this token may report as `host_id`.
    pub fn may_report_as(&self, host_id: &str) -> bool {
        self.hosts
            .as_ref()
            .is_none_or(|hosts| hosts.is_match(host_id))
            && self
                .certificate
                .as_ref()
                .is_none_or(|names| names.iter().any(|name| name == host_id))
    }
}

/// Why a request was not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No usable `Authorization: Bearer` header.
    #[error("missing bearer token: send Authorization: Bearer <token>")]
    Missing,
    /// The token matches no configured token.
    #[error("unknown token: check the token configured for this client")]
    Unknown,
    /// The token's role does not grant what the endpoint needs.
    #[error("token {token:?} (role {role}) may not {access}")]
    Forbidden {
        /// The token's name.
        token: String,
        /// Its role.
        role: &'static str,
        /// What was needed.
        access: &'static str,
    },
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens(Vec<Token>);

impl Tokens {
    /// Wraps the configured tokens.
    pub fn new(tokens: Vec<Token>) -> Tokens {
        Tokens(tokens)
    }

    /// True when no token is configured (auth is off).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Finds the token in an `Authorization` header value and checks it grants `access`.
    pub fn authorize(&self, header: Option<&str>, access: Access) -> Result<&Token, AuthError> {
        let presented = header
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or(AuthError::Missing)?;
        let digest = sha256(presented.as_bytes());
        // Every configured digest is compared, in full, whatever matches first.
        let mut found = None;
        for token in &self.0 {
            let same = token
                .sha256
                .iter()
                .zip(digest.iter())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0;
            if same && found.is_none() {
                found = Some(token);
            }
        }
        let token = found.ok_or(AuthError::Unknown)?;
        if token.allows(access) {
            Ok(token)
        } else {
            Err(AuthError::Forbidden {
                token: token.name.clone(),
                role: token.role.as_str(),
                access: access.as_str(),
            })
        }
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Parses 64 hex digits into a digest.
pub fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(vec![
            Token::new(
                "eu-agents".into(),
                Role::Agent,
                sha256(b"agent-secret"),
                Some(Regex::new("^(?:eu-.*)$").unwrap()),
            ),
            Token::new("grafana".into(), Role::Read, sha256(b"read-secret"), None),
            Token::new(
                "oncall".into(),
                Role::Operate,
                sha256(b"operate-secret"),
                None,
            ),
            Token::new("root".into(), Role::Admin, sha256(b"admin-secret"), None),
        ])
    }

    #[test]
    fn roles_grant_what_the_table_says() {
        let tokens = tokens();
        let cases = [
            ("agent-secret", Access::Ingest, true),
            ("agent-secret", Access::Read, false),
            ("read-secret", Access::Read, true),
            ("read-secret", Access::Ingest, false),
            ("read-secret", Access::Operate, false),
            ("operate-secret", Access::Operate, true),
            ("operate-secret", Access::Admin, false),
            ("admin-secret", Access::Admin, true),
            ("admin-secret", Access::Ingest, true),
        ];
        for (secret, access, allowed) in cases {
            let header = format!("Bearer {secret}");
            assert_eq!(
                tokens.authorize(Some(&header), access).is_ok(),
                allowed,
                "{secret} {access:?}"
            );
        }
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_refused() {
        let tokens = tokens();
        assert_eq!(
            tokens.authorize(None, Access::Read).unwrap_err(),
            AuthError::Missing
        );
        assert_eq!(
            tokens
                .authorize(Some("Basic abc"), Access::Read)
                .unwrap_err(),
            AuthError::Missing
        );
        assert_eq!(
            tokens.authorize(Some("Bearer "), Access::Read).unwrap_err(),
            AuthError::Missing
        );
        assert_eq!(
            tokens
                .authorize(Some("Bearer nope"), Access::Read)
                .unwrap_err(),
            AuthError::Unknown
        );
        assert!(
            tokens
                .authorize(Some("bearer  read-secret "), Access::Read)
                .is_ok()
        );
        let error = tokens
            .authorize(Some("Bearer read-secret"), Access::Admin)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "token \"grafana\" (role read) may not admin"
        );
    }

    #[test]
    fn agent_tokens_are_limited_to_their_hosts() {
        let tokens = tokens();
        let token = tokens
            .authorize(Some("Bearer agent-secret"), Access::Ingest)
            .unwrap();
        assert!(token.may_report_as("eu-web-1"));
        assert!(!token.may_report_as("us-web-1"));
        assert!(!token.may_report_as("x-eu-1"));
    }

    #[test]
    fn sha256_hex_parses_and_debug_hides_the_digest() {
        let hex = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
        assert_eq!(parse_sha256_hex(hex), Some(sha256(b"secret")));
        assert_eq!(parse_sha256_hex("abc"), None);
        assert_eq!(parse_sha256_hex(&"zz".repeat(32)), None);
        let token = Token::new("t".into(), Role::Read, sha256(b"secret"), None);
        assert!(!format!("{token:?}").contains("2bb8"));
    }
}
