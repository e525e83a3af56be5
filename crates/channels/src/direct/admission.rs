//! Which incoming QUIC handshakes the direct channel takes on, so that a flood of handshakes
//! that never finish cannot keep a pinned peer out.
//!
//! A handshake holds a slot until it finishes or its idle timeout passes, and the peer's
//! identity is only known at its end (the client certificate is in the client's last flight),
//! so slots are given out on what is known at the first packet:
//!
//! 1. Once [`RETRY_IN_FLIGHT_MIN`] handshakes are in flight, an Initial from an address that
//!    has not been validated is answered with a stateless QUIC Retry (RFC 9000 §8.1.2). A
//!    sender that cannot receive at its claimed address (spoofed, or gone, as in a flood of
//!    Initials from throwaway sockets) never comes back and costs no slot; a real client
//!    repeats its Initial with the token after one round trip.
//! 2. One source IP holds at most [`HANDSHAKES_PER_SOURCE_MAX`] slots.
//! 3. All sources together hold at most [`HANDSHAKES_IN_FLIGHT_MAX`]; beyond that only a
//!    validated address where a pinned peer is configured gets one of the
//!    [`HANDSHAKES_RESERVED_FOR_PEERS`] slots kept for peers, and is not held to rule 2.

use std::collections::HashMap;
use std::net::IpAddr;

use tokio::task::Id;

/// Handshakes in flight from which unvalidated addresses are first sent a Retry.
pub const RETRY_IN_FLIGHT_MIN: usize = 4;
/// Handshakes in flight from one source IP (not a peer's) at most.
pub const HANDSHAKES_PER_SOURCE_MAX: usize = 4;
/// Handshakes in flight from all sources at most, not counting the slots kept for peers.
pub const HANDSHAKES_IN_FLIGHT_MAX: usize = 16;
/// Further slots only validated addresses of configured peers may take.
pub const HANDSHAKES_RESERVED_FOR_PEERS: usize = 8;

/// Log line (and rate-limit key) for Initials answered with a Retry.
pub const RETRY_LOG_REASON: &str =
    "many handshakes in flight: asking unvalidated addresses to prove them with a QUIC Retry";
const REFUSE_SOURCE: &str = "refused connection: too many handshakes in flight from one address";
const REFUSE_FULL: &str = "refused connection: too many handshakes in flight";

/// What is known of a handshake at its first packet.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    /// Source IP, canonical (IPv4-mapped IPv6 as IPv4).
    pub ip: IpAddr,
    /// Whether the source proved it receives at its address (a Retry token came back).
    pub validated: bool,
    /// Whether a Retry may still be sent (none was yet).
    pub may_retry: bool,
    /// Whether a pinned peer is configured at this IP.
    pub peer_ip: bool,
}

/// What to do with an arriving handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Take it on.
    Admit,
    /// Answer with a stateless Retry.
    Retry,
    /// Refuse it, for this reason.
    Refuse(&'static str),
}

/// The handshakes in flight, by task and by source.
#[derive(Debug, Default)]
pub struct Table {
    tasks: HashMap<Id, IpAddr>,
    per_source: HashMap<IpAddr, usize>,
}

impl Table {
    /// What to do with `arrival`, given the handshakes in flight.
    pub fn decide(&self, arrival: &Arrival) -> Decision {
        let in_flight = self.tasks.len();
        if in_flight >= RETRY_IN_FLIGHT_MIN && !arrival.validated {
            // A client that already got a Retry is validated; one that is not cannot have
            // answered ours.
            return if arrival.may_retry {
                Decision::Retry
            } else {
                Decision::Refuse(REFUSE_FULL)
            };
        }
        let peer = arrival.peer_ip && arrival.validated;
        let from_source = self.per_source.get(&arrival.ip).copied().unwrap_or(0);
        if !peer && from_source >= HANDSHAKES_PER_SOURCE_MAX {
            return Decision::Refuse(REFUSE_SOURCE);
        }
        let limit = if peer {
            HANDSHAKES_IN_FLIGHT_MAX + HANDSHAKES_RESERVED_FOR_PEERS
        } else {
            HANDSHAKES_IN_FLIGHT_MAX
        };
        if in_flight >= limit {
            return Decision::Refuse(REFUSE_FULL);
        }
        Decision::Admit
    }

    /// Records that the handshake run by task `id` from `ip` was admitted.
    pub fn admitted(&mut self, id: Id, ip: IpAddr) {
        self.tasks.insert(id, ip);
        *self.per_source.entry(ip).or_default() += 1;
    }

    /// Records that the handshake run by task `id` finished, however it did.
    pub fn finished(&mut self, id: Id) {
        let Some(ip) = self.tasks.remove(&id) else {
            return;
        };
        if let Some(count) = self.per_source.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_source.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRANGER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    fn arrival(ip: IpAddr, validated: bool) -> Arrival {
        Arrival {
            ip,
            validated,
            may_retry: !validated,
            peer_ip: ip == PEER,
        }
    }

    /// A table with `count` handshakes in flight from `ip`, and the runtime that made the
    /// task ids (ids only exist inside tasks).
    fn fill(table: &mut Table, ip: IpAddr, count: usize) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for _ in 0..count {
            let id = runtime.block_on(async { tokio::spawn(async { tokio::task::id() }).await });
            table.admitted(id.unwrap(), ip);
        }
    }

    #[test]
    fn retry_is_asked_of_unvalidated_addresses_from_the_threshold() {
        let mut table = Table::default();
        fill(&mut table, STRANGER, RETRY_IN_FLIGHT_MIN - 1);
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(table.decide(&arrival(other, false)), Decision::Admit);
        fill(&mut table, other, 1);
        assert_eq!(table.decide(&arrival(other, false)), Decision::Retry);
        assert_eq!(
            table.decide(&arrival(PEER, false)),
            Decision::Retry,
            "peers too"
        );
        assert_eq!(table.decide(&arrival(other, true)), Decision::Admit);
        let retried_yet_unvalidated = Arrival {
            may_retry: false,
            ..arrival(other, false)
        };
        assert!(matches!(
            table.decide(&retried_yet_unvalidated),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn one_source_holds_at_most_its_share_but_a_peer_is_not_held_to_it() {
        let mut table = Table::default();
        fill(&mut table, STRANGER, HANDSHAKES_PER_SOURCE_MAX - 1);
        assert_eq!(table.decide(&arrival(STRANGER, true)), Decision::Admit);
        fill(&mut table, STRANGER, 1);
        assert_eq!(
            table.decide(&arrival(STRANGER, true)),
            Decision::Refuse(REFUSE_SOURCE)
        );
        let mut table = Table::default();
        fill(&mut table, PEER, HANDSHAKES_PER_SOURCE_MAX);
        assert_eq!(table.decide(&arrival(PEER, true)), Decision::Admit);
    }

    #[test]
    fn the_slots_kept_for_peers_are_theirs_alone() {
        let mut table = Table::default();
        for source in 0..HANDSHAKES_IN_FLIGHT_MAX / HANDSHAKES_PER_SOURCE_MAX {
            let ip = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10 + source as u8));
            fill(&mut table, ip, HANDSHAKES_PER_SOURCE_MAX);
        }
        let late = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 99));
        assert_eq!(
            table.decide(&arrival(late, true)),
            Decision::Refuse(REFUSE_FULL)
        );
        fill(&mut table, PEER, HANDSHAKES_RESERVED_FOR_PEERS - 1);
        assert_eq!(table.decide(&arrival(PEER, true)), Decision::Admit);
        fill(&mut table, PEER, 1);
        assert_eq!(
            table.decide(&arrival(PEER, true)),
            Decision::Refuse(REFUSE_FULL)
        );
    }

    #[test]
    fn finished_handshakes_give_their_slots_back() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let id = runtime
            .block_on(async { tokio::spawn(async { tokio::task::id() }).await })
            .unwrap();
        let mut table = Table::default();
        fill(&mut table, STRANGER, HANDSHAKES_PER_SOURCE_MAX - 1);
        table.admitted(id, STRANGER);
        assert!(matches!(
            table.decide(&arrival(STRANGER, true)),
            Decision::Refuse(_)
        ));
        table.finished(id);
        table.finished(id);
        assert_eq!(table.decide(&arrival(STRANGER, true)), Decision::Admit);
        assert_eq!(table.per_source[&STRANGER], HANDSHAKES_PER_SOURCE_MAX - 1);
    }
}
