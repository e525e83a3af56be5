//! Channel health: up, degraded or down, from heartbeats and round-trip times, with every
//! change kept (timestamped, with its reason) for `parley status` and logged.
//!
//! Rules: a heartbeat answered within the degraded threshold makes a channel up; answered but
//! slower, degraded. A missed heartbeat degrades an up channel; [`HEALTH_MISSES_DOWN`] misses in
//! a row make it down. A relay that answers heartbeats but refuses our deposits keeps the
//! channel degraded, with its reason, until it stores one again. Transports that know at once (a QUIC connection closing after its idle
//! timeout, a drop folder that vanished) set the state directly. The protocol sends on every
//! channel that is not down.

use std::collections::VecDeque;

use parley_channels::Signal;
use serde::Serialize;

/// Consecutive missed heartbeats that make a channel down.
pub const HEALTH_MISSES_DOWN: u32 = 3;
/// Most state changes kept per channel for status.
pub const HEALTH_TRANSITIONS_KEPT_MAX: usize = 16;

/// A channel's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Heartbeats answered in time.
    Up,
    /// Answering slowly, or missing heartbeats but not yet down. Still used.
    Degraded,
    /// Not usable; nothing is sent on it.
    Down,
}

impl Health {
    /// Every state.
    pub const ALL: [Health; 3] = [Health::Up, Health::Degraded, Health::Down];

    /// The state's name.
    pub fn name(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Degraded => "degraded",
            Health::Down => "down",
        }
    }
}

/// One recorded change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Transition {
    /// When (UTC ms).
    pub at_ms: u64,
    /// Previous state.
    pub from: Health,
    /// New state.
    pub to: Health,
    /// Why.
    pub reason: String,
}

/// The health of one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ChannelHealth {
    /// Current state.
    pub state: Health,
    /// Since when (UTC ms).
    pub since_ms: u64,
    /// Last measured round-trip time, microseconds.
    pub rtt_us: Option<u64>,
    /// Heartbeats missed in a row.
    pub misses: u32,
    /// Why the last heartbeat failed, until one succeeds.
    pub last_error: Option<String>,
    /// Why the relay refused our last deposit, until it stores one again.
    pub deposit_refusal: Option<String>,
    /// State changes since the daemon started.
    pub changes: u64,
    /// The most recent changes, oldest first.
    pub transitions: VecDeque<Transition>,
}

impl ChannelHealth {
    /// A channel not yet reached: down.
    pub fn new(now_ms: u64) -> Self {
        Self {
            state: Health::Down,
            since_ms: now_ms,
            rtt_us: None,
            misses: 0,
            last_error: None,
            deposit_refusal: None,
            changes: 0,
            transitions: VecDeque::new(),
        }
    }

    /// A heartbeat was answered after `rtt_us`. Returns the change, if any.
    pub fn answered(
        &mut self,
        now_ms: u64,
        rtt_us: u64,
        degraded_rtt_ms: u64,
    ) -> Option<&Transition> {
        self.rtt_us = Some(rtt_us);
        self.misses = 0;
        self.last_error = None;
        if let Some(refusal) = &self.deposit_refusal {
            let reason = format!("the relay refuses deposits: {refusal}");
            self.set(now_ms, Health::Degraded, reason)
        } else if rtt_us > degraded_rtt_ms.saturating_mul(1000) {
            self.set(
                now_ms,
                Health::Degraded,
                format!("round trip {} ms", rtt_us / 1000),
            )
        } else {
            self.set(now_ms, Health::Up, "heartbeat answered".into())
        }
    }

    /// A heartbeat went unanswered. Returns the change, if any.
    pub fn missed(&mut self, now_ms: u64, reason: &str) -> Option<&Transition> {
        self.misses = self.misses.saturating_add(1);
        self.last_error = Some(reason.to_owned());
        if self.misses >= HEALTH_MISSES_DOWN {
            let reason = format!("{} heartbeats missed: {reason}", self.misses);
            self.set(now_ms, Health::Down, reason)
        } else if self.state == Health::Up {
            self.set(
                now_ms,
                Health::Degraded,
                format!("heartbeat missed: {reason}"),
            )
        } else {
            None
        }
    }

    /// The relay refused to store a deposit: an up channel is degraded until it stores one
    /// again (a down one stays down). Returns the change, if any.
    pub fn deposit_refused(&mut self, now_ms: u64, reason: &str) -> Option<&Transition> {
        self.deposit_refusal = Some(reason.to_owned());
        if self.state != Health::Up {
            return None;
        }
        let reason = format!("the relay refuses deposits: {reason}");
        self.set(now_ms, Health::Degraded, reason)
    }

    /// The relay stored a deposit: a channel degraded only by refusals is up again. Returns
    /// the change, if any.
    pub fn deposit_stored(&mut self, now_ms: u64, degraded_rtt_ms: u64) -> Option<&Transition> {
        self.deposit_refusal.take()?;
        match (self.state, self.rtt_us) {
            (Health::Degraded, Some(rtt_us)) if self.misses == 0 => {
                self.answered(now_ms, rtt_us, degraded_rtt_ms)
            }
            _ => None,
        }
    }

    /// The transport knows the channel is unusable (a folder vanished): down at once, with
    /// the reason kept as the last error.
    pub fn unavailable(&mut self, now_ms: u64, reason: &str) -> Option<&Transition> {
        self.last_error = Some(reason.to_owned());
        self.set(now_ms, Health::Down, reason.to_owned())
    }

    /// Sets the state directly (the transport knows). Returns the change, if any.
    pub fn set(&mut self, now_ms: u64, state: Health, reason: String) -> Option<&Transition> {
        if state == self.state {
            return None;
        }
        if state == Health::Down {
            self.rtt_us = None;
        }
        let transition = Transition {
            at_ms: now_ms,
            from: self.state,
            to: state,
            reason,
        };
        self.state = state;
        self.since_ms = now_ms;
        self.changes += 1;
        if self.transitions.len() == HEALTH_TRANSITIONS_KEPT_MAX {
            self.transitions.pop_front();
        }
        self.transitions.push_back(transition);
        self.transitions.back()
    }

    /// Applies what a transport reported. Returns the change, if any.
    pub fn apply(
        &mut self,
        now_ms: u64,
        signal: &Signal,
        degraded_rtt_ms: u64,
    ) -> Option<Transition> {
        match signal {
            Signal::Connected {
                rtt_us: Some(rtt_us),
            }
            | Signal::Answered { rtt_us } => self.answered(now_ms, *rtt_us, degraded_rtt_ms),
            Signal::Connected { rtt_us: None } => self.set(now_ms, Health::Up, "connected".into()),
            Signal::Lost { reason } => {
                self.set(now_ms, Health::Down, format!("connection lost: {reason}"))
            }
            Signal::Missed { reason } => self.missed(now_ms, reason),
            Signal::Present => self.set(now_ms, Health::Up, "folder present".into()),
            Signal::Unavailable { reason } => self.unavailable(now_ms, reason),
        }
        .cloned()
    }

    /// Whether frames go out on the channel.
    pub fn usable(&self) -> bool {
        self.state != Health::Down
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_drive_the_state() {
        let mut health = ChannelHealth::new(0);
        assert!(!health.usable());
        // Misses while down change nothing.
        assert!(health.missed(1, "refused").is_none());
        assert_eq!(health.answered(2, 5_000, 100).unwrap().to, Health::Up);
        assert!(health.usable());
        // Exactly at the threshold is still up; one microsecond over is degraded.
        assert!(health.answered(3, 100_000, 100).is_none());
        assert_eq!(
            health.answered(4, 100_001, 100).unwrap().to,
            Health::Degraded
        );
        assert_eq!(health.answered(5, 1_000, 100).unwrap().to, Health::Up);
        // One miss degrades; the third in a row is down, not the second.
        assert_eq!(health.missed(6, "timeout").unwrap().to, Health::Degraded);
        assert!(health.missed(7, "timeout").is_none());
        assert_eq!(health.state, Health::Degraded);
        let down = health.missed(8, "timeout").unwrap();
        assert_eq!(down.to, Health::Down);
        assert!(down.reason.contains("3 heartbeats missed"));
        assert_eq!(health.since_ms, 8);
        assert_eq!(health.changes, 5);
        assert_eq!(health.rtt_us, None);
        assert_eq!(health.last_error.as_deref(), Some("timeout"));
        assert_eq!(health.answered(9, 1_000, 100).unwrap().to, Health::Up);
        assert_eq!(health.last_error, None);
        let gone = health.unavailable(10, "folder missing").unwrap();
        assert_eq!(gone.to, Health::Down);
        assert_eq!(health.last_error.as_deref(), Some("folder missing"));
    }

    #[test]
    fn transitions_kept_are_bounded() {
        let mut health = ChannelHealth::new(0);
        for at in 0..(HEALTH_TRANSITIONS_KEPT_MAX as u64 + 5) {
            let state = if at % 2 == 0 {
                Health::Up
            } else {
                Health::Down
            };
            health.set(at, state, "test".into());
        }
        assert_eq!(health.transitions.len(), HEALTH_TRANSITIONS_KEPT_MAX);
        assert_eq!(health.changes, HEALTH_TRANSITIONS_KEPT_MAX as u64 + 5);
    }

    #[test]
    fn a_relay_refusing_deposits_keeps_the_channel_degraded_until_it_stores_one() {
        let mut health = ChannelHealth::new(0);
        assert!(
            health.deposit_refused(1, "HTTP 507: full").is_none(),
            "down stays down"
        );
        let degraded = health.answered(2, 1_000, 100).unwrap();
        assert_eq!(degraded.to, Health::Degraded, "answers, but refuses");
        assert!(degraded.reason.contains("HTTP 507: full"));
        assert!(
            health.answered(3, 1_000, 100).is_none(),
            "heartbeats do not lift it"
        );
        assert_eq!(health.deposit_stored(4, 100).unwrap().to, Health::Up);
        assert!(health.deposit_stored(5, 100).is_none());
        assert_eq!(
            health.deposit_refused(6, "HTTP 403: revoked").unwrap().to,
            Health::Degraded
        );
        assert_eq!(health.deposit_refusal.as_deref(), Some("HTTP 403: revoked"));
        // Stored while also missing heartbeats: the misses decide.
        assert!(health.missed(7, "timeout").is_none());
        assert!(health.deposit_stored(8, 100).is_none());
        assert_eq!(health.state, Health::Degraded);
        assert_eq!(health.deposit_refusal, None);
    }
}
