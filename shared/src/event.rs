//! Event vocabulary shared by the agent, the collector and the generic event API:
//! [`Severity`] (with the one parser both configs use) and [`Status`].

use serde::{Deserialize, Serialize};

/// How bad an event is, most severe first. Written in lower case on the wire and in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Service down or data at risk now.
    Critical,
    /// Serious degradation.
    Major,
    /// Limited degradation.
    Minor,
    /// Something to look at before it becomes a problem.
    Warning,
    /// Informational only.
    Info,
}

impl Severity {
    /// The lower-case name used on the wire, in the API and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// Every severity, most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::Major,
        Severity::Minor,
        Severity::Warning,
        Severity::Info,
    ];
}

/// A severity name that is not one of [`Severity::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?}: use critical, major, minor, warning or info")]
pub struct SeverityError(pub String);

impl std::str::FromStr for Severity {
    type Err = SeverityError;

    /// Parses the lower-case name (`major`); anything else, other cases included, is an error.
    fn from_str(text: &str) -> Result<Severity, SeverityError> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str() == text)
            .ok_or_else(|| SeverityError(text.to_owned()))
    }
}

/// Whether the condition an event describes is happening or over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The condition holds.
    Firing,
    /// The condition is over.
    Resolved,
}

impl Status {
    /// The lower-case name used on the wire and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_and_status_use_lower_case_names() {
        assert_eq!(
            serde_json::to_string(&Severity::Major).unwrap(),
            "\"major\""
        );
        assert_eq!(Severity::Warning.as_str(), "warning");
        assert_eq!(
            serde_json::from_str::<Status>("\"resolved\"").unwrap(),
            Status::Resolved
        );
        assert!(serde_json::from_str::<Severity>("\"fatal\"").is_err());
    }

    #[test]
    fn severity_parses_every_name_and_refuses_the_rest() {
        for severity in Severity::ALL {
            assert_eq!(severity.as_str().parse::<Severity>(), Ok(severity));
            let json = serde_json::to_string(&severity).unwrap();
            assert_eq!(json, format!("\"{}\"", severity.as_str()));
        }
        for bad in ["", "fatal", "Major", "MAJOR", " major", "major ", "warn"] {
            assert_eq!(
                bad.parse::<Severity>(),
                Err(SeverityError(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert_eq!(
            "fatal".parse::<Severity>().unwrap_err().to_string(),
            "unknown severity \"fatal\": use critical, major, minor, warning or info"
        );
    }
}
