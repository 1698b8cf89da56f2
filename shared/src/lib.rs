//! `vigil-shared`: the wire protocol between `vigil-agent` and `vigil-collector`, plus the small
//! vocabulary both binaries speak: durations, labels, severities, civil time and RFC 3339
//! ([`time`]), config errors and log format ([`config`]), [`Secret`] and, behind the `cli` feature, the
//! binaries' common edge (`cli`: tracing set-up, one-line flag errors).
//!
//! This crate has no async runtime, no HTTP and no database: it is plain data and pure functions,
//! so that both ends of the wire agree on one definition (see `ARCHITECTURE.md`).
#![deny(missing_docs)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod duration;
pub mod event;
pub mod labels;
pub mod secret;
pub mod time;
pub mod wire;

pub use config::{ConfigError, ConfigErrors, LogFormat};
pub use duration::{DurationError, format_duration, parse_duration};
pub use event::{Severity, SeverityError, Status};
pub use labels::{LabelError, Labels};
pub use secret::Secret;
pub use wire::{Batch, PROTOCOL_VERSION};
