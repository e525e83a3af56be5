//! parley's web console: the watch floor's view of a station, served by its daemon.
//!
//! Operators log in with their accounts (`parley operator add`; Argon2id hashes in
//! `console.sqlite`), and every page shows the station live: server-rendered pages
//! (compile-checked askama templates, so every value is HTML-escaped) that a few lines of
//! embedded JavaScript refresh whenever the station announces an event (server-sent events
//! from the daemon's subscription). Every action runs through the daemon's operator API as the
//! logged-in operator — their name in the signed entry where the entry names one (understood,
//! clarify, codebook acceptance) — and is written to the audit log, which names them always.
//! A row that cannot be written is counted in the station's metrics, logged, and the answer
//! to the operator says that it was not written.
//!
//! Guarantees: nothing but the login page and the static assets answers a request without a
//! session; every state-changing request carries the session's CSRF token and comes from the
//! console's own pages (`Origin`); a loopback console answers only to a loopback `Host`; failed
//! logins are throttled per account and origin, and per origin; a removed operator's sessions
//! end; a console on any address but loopback serves HTTPS only (with HSTS), and refuses to
//! start without a certificate and a key only its owner can read.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Handlers answer with a `Response` either way; the error side of their helpers is one too,
// returned at most once a request, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod actions;
mod audit;
mod check;
mod compose;
mod form;
mod i18n;
pub mod limits;
mod login;
mod pages;
mod paging;
mod passwords;
mod reports;
mod server;
pub mod session;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use parley_station::home::ConsoleConfig;
use parley_station::{DaemonHandle, Home};
use thiserror::Error;

use crate::session::{Sessions, Throttle};

/// Why the console could not start.
#[derive(Debug, Error)]
pub enum ConsoleError {
    /// The configuration is not usable.
    #[error("console: {0}")]
    Config(String),
    /// The address could not be bound.
    #[error("console: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What every handler shares.
pub(crate) struct State {
    pub(crate) daemon: DaemonHandle,
    pub(crate) home: Home,
    pub(crate) station: String,
    pub(crate) lang: String,
    pub(crate) objectives: parley_station::watch_config::Objectives,
    pub(crate) sessions: Sessions,
    pub(crate) throttle: Throttle,
    /// Whether the console serves HTTPS (cookies are then `Secure`).
    pub(crate) https: bool,
    /// The station's store, opened read-only (and checked) once: pages read it on every
    /// refresh, and a check per read would cost the whole store each time.
    pub(crate) store: std::sync::Mutex<parley_store::Store>,
    /// The accounts, read (on the async worker: a lookup is quick, and waits for no write).
    pub(crate) accounts: std::sync::Mutex<parley_store::console::ConsoleDb>,
    /// The audit log, written on a blocking thread through a connection of its own, so that
    /// looking an account up never waits for an audit row's sync to disk.
    pub(crate) audit: std::sync::Mutex<parley_store::console::ConsoleDb>,
    /// Password checks at once, at most: each holds Argon2's memory and a core.
    pub(crate) password_checks: Arc<tokio::sync::Semaphore>,
    /// The threads that check passwords.
    pub(crate) passwords: passwords::PasswordChecks,
    /// Uploaded transcripts verified at once, at most.
    pub(crate) transcript_verifications: Arc<tokio::sync::Semaphore>,
    /// Transcript exports under way: [`limits::TRANSCRIPT_EXPORTS_MAX`] at once.
    pub(crate) transcript_exports: Arc<tokio::sync::Semaphore>,
    /// The bound address, which `Host` must name on a loopback console.
    pub(crate) listen: SocketAddr,
}

/// Checks `config` before anything starts: the address, HTTPS off loopback, and the
/// certificate and key (read and checked as the console will use them: a key others can read
/// is refused before the station starts, not after).
pub fn check(config: &ConsoleConfig) -> Result<(), ConsoleError> {
    let listen: SocketAddr = config.listen.parse().map_err(|_| {
        ConsoleError::Config(format!(
            "listen = {:?} is not HOST:PORT with an IP address (e.g. 127.0.0.1:7300)",
            config.listen
        ))
    })?;
    match (&config.cert, &config.key) {
        (Some(cert), Some(key)) => {
            server::tls_config(&PathBuf::from(cert), &PathBuf::from(key))?;
        }
        (None, None) if listen.ip().is_loopback() => {}
        (None, None) => {
            return Err(ConsoleError::Config(format!(
                "{listen} is not a loopback address, and a console off loopback serves HTTPS only: set cert and key in [console], or listen on 127.0.0.1"
            )));
        }
        _ => {
            return Err(ConsoleError::Config(
                "set both cert and key in [console], or neither (loopback only)".into(),
            ));
        }
    }
    if !(1..=limits::SESSION_IDLE_S_MAX).contains(&config.session_idle_s) {
        return Err(ConsoleError::Config(format!(
            "session_idle_s = {} is outside 1..={}",
            config.session_idle_s,
            limits::SESSION_IDLE_S_MAX
        )));
    }
    Ok(())
}

/// A running console. Dropping it stops it.
pub struct Console {
    local_addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Console {
    /// Starts the console `config` describes for the station in `home`, whose daemon
    /// `daemon` runs. Refuses a non-loopback address without a certificate and key.
    pub fn start(
        home: &Home,
        daemon: DaemonHandle,
        config: &ConsoleConfig,
    ) -> Result<Self, ConsoleError> {
        check(config)?;
        let listen: SocketAddr = config.listen.parse().map_err(|_| {
            ConsoleError::Config(format!("listen = {:?} is not HOST:PORT", config.listen))
        })?;
        let tls = match (&config.cert, &config.key) {
            (Some(cert), Some(key)) => Some(server::tls_config(
                &PathBuf::from(cert),
                &PathBuf::from(key),
            )?),
            _ => None,
        };
        let station_config = home
            .config()
            .map_err(|error| ConsoleError::Config(error.to_string()))?;
        let store = parley_store::Store::open_read_only(&home.store_path())
            .map_err(|error| ConsoleError::Config(format!("the station's store: {error}")))?;
        let audit = parley_store::console::ConsoleDb::open(&home.console_path())
            .map_err(|error| ConsoleError::Config(format!("console.sqlite: {error}")))?;
        let accounts = parley_store::console::ConsoleDb::open_read_only(&home.console_path())
            .map_err(|error| ConsoleError::Config(format!("console.sqlite: {error}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("parley-console")
            .build()
            .map_err(|error| ConsoleError::Config(format!("starting its runtime: {error}")))?;
        let listener = runtime
            .block_on(async { tokio::net::TcpListener::bind(listen).await })
            .map_err(|source| ConsoleError::Bind {
                addr: listen,
                source,
            })?;
        // The address bound (its port, when `listen` asks for any), which `Host` must name.
        let local_addr = listener.local_addr().map_err(|source| ConsoleError::Bind {
            addr: listen,
            source,
        })?;
        let state = Arc::new(State {
            daemon,
            home: home.clone(),
            station: station_config.name.clone(),
            lang: station_config.lang.clone(),
            objectives: station_config.objectives.clone(),
            sessions: Sessions::new(config.session_idle_s.saturating_mul(1_000)),
            throttle: Throttle::default(),
            https: tls.is_some(),
            store: std::sync::Mutex::new(store),
            accounts: std::sync::Mutex::new(accounts),
            audit: std::sync::Mutex::new(audit),
            password_checks: Arc::new(tokio::sync::Semaphore::new(limits::PASSWORD_CHECKS_MAX)),
            transcript_verifications: Arc::new(tokio::sync::Semaphore::new(
                limits::TRANSCRIPT_VERIFICATIONS_MAX,
            )),
            transcript_exports: Arc::new(tokio::sync::Semaphore::new(
                limits::TRANSCRIPT_EXPORTS_MAX,
            )),
            passwords: passwords::PasswordChecks::start().map_err(|error| {
                ConsoleError::Config(format!("starting its password checks: {error}"))
            })?,
            listen: local_addr,
        });
        // Outermost, so that every answer whose audit row could not be written says so.
        let router = pages::router(state.clone()).layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::notice,
        ));
        runtime.spawn(server::accept_loop(listener, tls, router));
        let scheme = if state.https { "https" } else { "http" };
        tracing::info!(url = %format!("{scheme}://{local_addr}/"), "console listening");
        Ok(Self {
            local_addr,
            runtime: Some(runtime),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(std::time::Duration::from_millis(200));
        }
    }
}

/// The wall clock, UTC milliseconds.
pub(crate) fn now_ms() -> u64 {
    parley_station::clock::utc_now_ms()
}

/// Milliseconds since the host booted, suspended time included: the clock of sessions' idle
/// time and of the login throttle, which a wall clock set back would stretch (a session kept
/// for ever, an origin made to wait as long as the step) and one set forward cut short.
pub(crate) fn since_boot_ms() -> u64 {
    parley_station::clock::since_boot_ms()
}
