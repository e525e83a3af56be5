//! parley's metrics endpoint, shared by the station daemon and the relay server.
//!
//! - [`serve`]: a plain-HTTP server that answers `GET /metrics` with the Prometheus text
//!   format (version 0.0.4), 404 for any other path and 405 for any other method on
//!   `/metrics`. It never reads a request body, serves at most
//!   [`limits::METRICS_CONNECTIONS_MAX`] connections at once (one request each), and gives a
//!   client [`limits::METRICS_HEADER_READ_TIMEOUT_MS`] to send its headers and
//!   [`limits::METRICS_CONNECTION_MS_MAX`] in all. What it serves comes from a closure called
//!   for a scrape, never while an earlier call still runs: scrapes meanwhile share its
//!   answer, and those that wait more than [`limits::METRICS_SCRAPE_MS_MAX`] are answered 503
//!   while it runs on, so slow gatherings never pile up.
//! - [`Families`] and [`exposition`]: metric families whose values are known only at scrape
//!   time (taken from a status report, a store), written through `prometheus-client`'s own
//!   text encoder, which escapes label values and help texts as the format requires. Live
//!   instruments (counters and histograms fed as things happen) are `prometheus-client`'s
//!   own types, in a [`Registry`] written by [`encode_registry`].
//! - [`text`]: a strict reader of the text format, used by the tests of both servers to check
//!   that what they serve is valid and to read values back.
//!
//! Metrics carry counts, states, durations and names of paired stations only: never a key,
//! a token, a message text or anything else an operator would keep secret.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod limits;
mod server;
pub mod text;
mod write;

pub use prometheus_client;
pub use prometheus_client::registry::Registry;
pub use server::{BindError, bind, serve};
pub use write::{Buckets, CONTENT_TYPE, Families, Labels, encode_registry, exposition};
