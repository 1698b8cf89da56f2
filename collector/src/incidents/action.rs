//! Actions people take on an incident through the API ([`Action`]), and why one is refused
//! ([`ActionError`]): which actions apply in which state is decided here, once, for the engine
//! and for closed incidents that live only in the store.

use super::model::{Incident, State};

/// An action on an incident through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Acknowledge.
    Ack,
    /// Resolve.
    Resolve,
    /// Close (after resolve).
    Close,
    /// Add a note.
    Note,
}

impl Action {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ack => "ack",
            Action::Resolve => "resolve",
            Action::Close => "close",
            Action::Note => "note",
        }
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// No such incident.
    #[error("no incident with id {0:?}")]
    NotFound(String),
    /// The action does not apply in this state.
    #[error("cannot {action} incident {id} while it is {state}: {hint}")]
    InvalidTransition {
        /// The incident.
        id: String,
        /// Its state.
        state: &'static str,
        /// The action.
        action: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// The request is incomplete.
    #[error("{0}")]
    Invalid(&'static str),
}

/// Refuses actions that do not apply in the incident's state.
pub fn check_action(incident: &Incident, action: Action) -> Result<(), ActionError> {
    let refuse = |hint: &'static str| ActionError::InvalidTransition {
        id: incident.id.clone(),
        state: incident.state.as_str(),
        action: action.as_str(),
        hint,
    };
    match (action, incident.state) {
        (_, State::Closed) if action != Action::Close => Err(refuse("a closed incident is final")),
        (Action::Ack, State::Resolved) => Err(refuse(
            "it is already resolved; it reopens by itself if it fires again",
        )),
        (Action::Close, State::Open | State::Acknowledged) => {
            Err(refuse("resolve it first, then close it"))
        }
        _ => Ok(()),
    }
}

/// False for an action that is already in effect (ack of an acknowledged incident, resolve of a
/// resolved one, close of a closed one): answered with the incident unchanged.
pub fn would_change(incident: &Incident, action: Action) -> bool {
    !matches!(
        (action, incident.state),
        (Action::Ack, State::Acknowledged)
            | (Action::Resolve, State::Resolved)
            | (Action::Close, State::Closed)
    )
}

/// Checks who acts and the note text.
pub fn check_request(action: Action, by: &str, text: Option<&str>) -> Result<(), ActionError> {
    if by.trim().is_empty() {
        return Err(ActionError::Invalid(
            "\"by\" is required: say who acts (or send a token, whose name is used)",
        ));
    }
    if action == Action::Note && text.is_none_or(|text| text.trim().is_empty()) {
        return Err(ActionError::Invalid("a note needs a non-empty \"text\""));
    }
    Ok(())
}
