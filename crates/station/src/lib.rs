//! The parley station: the daemon that drives the protocol core, persists before it
//! acknowledges, runs the channels and serves the operator API; and the synchronous core the
//! CLI uses when no daemon runs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod clock;
pub mod courier;
pub mod daemon;
pub mod error;
pub mod health;
pub mod home;
pub mod node;
pub mod server;
pub mod status;

pub use daemon::Daemon;
pub use error::StationError;
pub use home::{Config, Home};
pub use node::Node;
