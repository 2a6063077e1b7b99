//! Switchyard's HTTP server: one port for every dialect.
//!
//! Data flows one way: ingress (parse a borrowed head) -> admit -> route -> dispatch to a provider
//! -> relay the answer back (bytes untouched plus a usage tap on the pass-through lane).
//! Boundary: this is the only crate that knows axum; errors are rendered here, once, in the caller's dialect.

mod admin;
mod admission;
mod auth;
mod budget;
mod dispatch;
mod images;
mod ingress;
mod ledger;
mod limits;
mod listener;
mod metrics;
mod native;
mod openai;
mod ops;
mod plan;
mod relay;
mod request;
mod sigv4;
mod state;
pub mod tenancy;
mod tls;
mod translate;

pub use images::{ImageFetcher, MAX_IMAGES, is_public};
pub use ledger::Ledger;
pub use listener::Server;
pub use state::{ConfigSource, Gateway, ReloadReport};
