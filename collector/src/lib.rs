//! `vigil-collector`: receives agent batches, keeps per-host state durable in its store, and
//! exports it over an HTTP API and Prometheus `/metrics`. See `ARCHITECTURE.md` for the map.

pub mod api;
pub mod app;
pub mod auth;
pub mod availability;
pub mod capacity;
pub mod cli;
pub mod clock;
pub mod config;
pub mod export;
pub mod forecast;
pub mod history;
pub mod hosts;
pub mod incidents;
pub mod ingest;
pub mod notify;
pub mod pipeline;
pub mod replay;
pub mod rules;
pub mod store;
pub mod tls;

pub use app::{AppError, run};
pub use config::{Args, Config, ConfigErrors, LogFormat};
