//! The parley station: the station core that sits between the operators and the protocol
//! ([`core`], free of I/O), the operator API ([`api`]), the daemon that drives the core with
//! real sockets and a real store ([`daemon`]), and a station opened for one command while no
//! daemon runs ([`node`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
pub mod api;
pub mod clock;
pub mod codebooks;
pub mod core;
pub mod daemon;
pub mod error;
pub mod home;
pub mod intake_config;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod watch_config;

pub use daemon::{Daemon, DaemonHandle};
pub use error::{ErrorClass, StationError};
pub use home::{Config, Home};
pub use node::Node;
