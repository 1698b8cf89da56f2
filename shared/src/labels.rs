//! Labels: the `name = value` pairs copied onto everything a host sends (`[labels]` in the agent
//! config) and carried by samples and events.
//!
//! Label names follow Prometheus' rule (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`), so every
//! label can be exported unchanged. Values are any UTF-8 text up to [`MAX_LABEL_VALUE_LEN`] bytes.

use std::collections::BTreeMap;

/// Labels, sorted by name so that equal sets encode and hash identically.
pub type Labels = BTreeMap<String, String>;

/// Longest accepted label name, in bytes.
pub const MAX_LABEL_NAME_LEN: usize = 128;
/// Longest accepted label value, in bytes.
pub const MAX_LABEL_VALUE_LEN: usize = 1024;

/// Why a label or a metric name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The name does not match `[a-zA-Z_][a-zA-Z0-9_]*` or is too long.
    #[error(
        "invalid label name {0:?}: use letters, digits and _ (not starting with a digit or __), at most 128 bytes"
    )]
    InvalidName(String),
    /// The name is reserved (starts with `__` or is one the collector sets itself).
    #[error("label name {0:?} is reserved")]
    Reserved(String),
    /// The value is too long.
    #[error("value of label {name:?} is {len} bytes, more than the 1024 allowed")]
    ValueTooLong {
        /// The label's name.
        name: String,
        /// The value's length in bytes.
        len: usize,
    },
    /// A metric name does not match `[a-zA-Z_][a-zA-Z0-9_]*` or is too long.
    #[error(
        "invalid metric name {0:?}: use letters, digits and _ (not starting with a digit), at most 128 bytes"
    )]
    InvalidMetricName(String),
}

/// True when `name` matches `[a-zA-Z_][a-zA-Z0-9_]*` and is at most [`MAX_LABEL_NAME_LEN`] bytes.
pub fn is_valid_identifier(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        None => false,
        Some(first) if first.is_ascii_digit() => false,
        Some(_) => {
            bytes.len() <= MAX_LABEL_NAME_LEN
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }
    }
}

/// Checks one label. `reserved` lists names the caller sets itself (e.g. `host`).
pub fn validate_label(name: &str, value: &str, reserved: &[&str]) -> Result<(), LabelError> {
    if !is_valid_identifier(name) {
        return Err(LabelError::InvalidName(name.to_owned()));
    }
    if name.starts_with("__") || reserved.contains(&name) {
        return Err(LabelError::Reserved(name.to_owned()));
    }
    if value.len() > MAX_LABEL_VALUE_LEN {
        return Err(LabelError::ValueTooLong {
            name: name.to_owned(),
            len: value.len(),
        });
    }
    Ok(())
}

/// Checks every label of a set; returns the first problem.
pub fn validate_labels(labels: &Labels, reserved: &[&str]) -> Result<(), LabelError> {
    labels
        .iter()
        .try_for_each(|(name, value)| validate_label(name, value, reserved))
}

/// Checks a metric name (`[a-zA-Z_][a-zA-Z0-9_]*`, at most 128 bytes).
pub fn validate_metric_name(name: &str) -> Result<(), LabelError> {
    if is_valid_identifier(name) {
        Ok(())
    } else {
        Err(LabelError::InvalidMetricName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_label_accepts_prometheus_names() {
        assert_eq!(validate_label("env", "prod", &[]), Ok(()));
        assert_eq!(validate_label("_tier2", "", &[]), Ok(()));
    }

    #[test]
    fn validate_label_rejects_bad_reserved_and_long() {
        assert_eq!(
            validate_label("2x", "v", &[]),
            Err(LabelError::InvalidName("2x".into()))
        );
        assert_eq!(
            validate_label("a-b", "v", &[]),
            Err(LabelError::InvalidName("a-b".into()))
        );
        assert_eq!(
            validate_label("__name__", "v", &[]),
            Err(LabelError::Reserved("__name__".into()))
        );
        assert_eq!(
            validate_label("host", "v", &["host"]),
            Err(LabelError::Reserved("host".into()))
        );
        let long = "x".repeat(MAX_LABEL_VALUE_LEN + 1);
        assert_eq!(
            validate_label("k", &long, &[]),
            Err(LabelError::ValueTooLong {
                name: "k".into(),
                len: MAX_LABEL_VALUE_LEN + 1
            })
        );
    }

    #[test]
    fn validate_metric_name_rejects_empty_and_punctuation() {
        assert!(validate_metric_name("cpu_usage_ratio").is_ok());
        assert!(validate_metric_name("").is_err());
        assert!(validate_metric_name("cpu.usage").is_err());
        assert!(validate_metric_name(&"a".repeat(129)).is_err());
    }
}
