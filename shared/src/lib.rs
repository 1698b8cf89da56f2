//! `vigil-shared`: the wire protocol between `vigil-agent` and `vigil-collector`, plus the small
//! helpers both binaries need (durations, labels, severities).
//!
//! This crate has no async runtime, no HTTP and no database: it is plain data and pure functions,
//! so that both ends of the wire agree on one definition (see `ARCHITECTURE.md`).
#![deny(missing_docs)]

pub mod duration;
pub mod event;
pub mod labels;
pub mod wire;

pub use duration::{DurationError, format_duration, parse_duration};
pub use event::{Severity, Status};
pub use labels::{LabelError, Labels};
pub use wire::{Batch, PROTOCOL_VERSION};
