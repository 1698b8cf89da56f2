//! Event vocabulary shared by the agent, the collector and the generic event API:
//! [`Severity`] and [`Status`].

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
}
