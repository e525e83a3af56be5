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
//! 2. One source IP holds at most [`HANDSHAKES_PER_SOURCE_MAX`] slots. A validated address
//!    where a pinned peer is configured is held to it too, counting only the validated
//!    handshakes from there: that address may be a hostile peer's own, or any host's behind
//!    the same NAT, and must not hold every slot kept for peers; but handshakes from it that
//!    never proved their address (a flood of Initials from sockets that never read) do not
//!    keep the peer out.
//! 3. All sources together hold at most [`HANDSHAKES_IN_FLIGHT_MAX`]; beyond that only a
//!    validated address where a pinned peer is configured gets one of the
//!    [`HANDSHAKES_RESERVED_FOR_PEERS`] slots kept for peers: with strangers holding every
//!    other slot and one peer's address its share, another peer still finds one.

use std::collections::HashMap;
use std::net::IpAddr;

use tokio::task::Id;

/// Handshakes in flight from which unvalidated addresses are first sent a Retry.
pub const RETRY_IN_FLIGHT_MIN: usize = 4;
/// Handshakes in flight from one source IP at most, a peer's included.
pub const HANDSHAKES_PER_SOURCE_MAX: usize = 4;
/// Handshakes in flight from all sources at most, not counting the slots kept for peers.
pub const HANDSHAKES_IN_FLIGHT_MAX: usize = 16;
/// Further slots only validated addresses of configured peers may take: more than one
/// source holds, so one peer's address cannot take them all.
pub const HANDSHAKES_RESERVED_FOR_PEERS: usize = 8;
const _: () = assert!(HANDSHAKES_RESERVED_FOR_PEERS > HANDSHAKES_PER_SOURCE_MAX);

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
    /// Each handshake's source, and whether its address was validated.
    tasks: HashMap<Id, (IpAddr, bool)>,
    /// Handshakes in flight from each source: all, and those validated.
    per_source: HashMap<IpAddr, (usize, usize)>,
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
        let (all, validated) = self.per_source.get(&arrival.ip).copied().unwrap_or((0, 0));
        let from_source = if peer { validated } else { all };
        if from_source >= HANDSHAKES_PER_SOURCE_MAX {
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

    /// Records that the handshake run by task `id`, which arrived as `arrival`, was admitted.
    pub fn admitted(&mut self, id: Id, arrival: &Arrival) {
        let (ip, validated) = (arrival.ip, arrival.validated);
        self.tasks.insert(id, (ip, validated));
        let counts = self.per_source.entry(ip).or_default();
        counts.0 += 1;
        counts.1 += usize::from(validated);
    }

    /// Records that the handshake run by task `id` finished, however it did.
    pub fn finished(&mut self, id: Id) {
        let Some((ip, validated)) = self.tasks.remove(&id) else {
            return;
        };
        if let Some(counts) = self.per_source.get_mut(&ip) {
            counts.0 -= 1;
            counts.1 -= usize::from(validated);
            if counts.0 == 0 {
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
    const OTHER_PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));
    const THIRD_PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 10));

    fn arrival(ip: IpAddr, validated: bool) -> Arrival {
        Arrival {
            ip,
            validated,
            may_retry: !validated,
            peer_ip: [PEER, OTHER_PEER, THIRD_PEER].contains(&ip),
        }
    }

    /// A table with `count` handshakes in flight from `ip`, and the runtime that made the
    /// task ids (ids only exist inside tasks).
    fn fill(table: &mut Table, ip: IpAddr, count: usize) {
        fill_as(table, &arrival(ip, true), count);
    }

    /// [`fill`] with handshakes that arrived as `arrival`.
    fn fill_as(table: &mut Table, arrival: &Arrival, count: usize) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for _ in 0..count {
            let id = runtime.block_on(async { tokio::spawn(async { tokio::task::id() }).await });
            table.admitted(id.unwrap(), arrival);
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
    fn one_source_holds_at_most_its_share_a_peer_s_too() {
        for source in [STRANGER, PEER] {
            let mut table = Table::default();
            fill(&mut table, source, HANDSHAKES_PER_SOURCE_MAX - 1);
            assert_eq!(table.decide(&arrival(source, true)), Decision::Admit);
            fill(&mut table, source, 1);
            assert_eq!(
                table.decide(&arrival(source, true)),
                Decision::Refuse(REFUSE_SOURCE)
            );
        }
        // Handshakes that never proved their address (a flood of Initials from sockets that
        // never read, sent from a peer's address) do not keep the peer out; a stranger at
        // that address is kept out.
        let mut table = Table::default();
        fill_as(&mut table, &arrival(PEER, false), HANDSHAKES_PER_SOURCE_MAX);
        assert_eq!(table.decide(&arrival(PEER, true)), Decision::Admit);
        let mut table = Table::default();
        fill_as(
            &mut table,
            &arrival(STRANGER, false),
            HANDSHAKES_PER_SOURCE_MAX,
        );
        assert_eq!(
            table.decide(&arrival(STRANGER, true)),
            Decision::Refuse(REFUSE_SOURCE)
        );
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
        // One peer's address (a hostile peer's, or a host's behind its NAT) takes its share
        // of the slots kept for peers, and another peer still finds one.
        fill(&mut table, PEER, HANDSHAKES_PER_SOURCE_MAX);
        assert_eq!(
            table.decide(&arrival(PEER, true)),
            Decision::Refuse(REFUSE_SOURCE)
        );
        let left = HANDSHAKES_RESERVED_FOR_PEERS - HANDSHAKES_PER_SOURCE_MAX;
        fill(&mut table, OTHER_PEER, left - 1);
        assert_eq!(table.decide(&arrival(THIRD_PEER, true)), Decision::Admit);
        fill(&mut table, THIRD_PEER, 1);
        assert_eq!(
            table.decide(&arrival(THIRD_PEER, true)),
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
        table.admitted(id, &arrival(STRANGER, true));
        assert!(matches!(
            table.decide(&arrival(STRANGER, true)),
            Decision::Refuse(_)
        ));
        table.finished(id);
        table.finished(id);
        assert_eq!(table.decide(&arrival(STRANGER, true)), Decision::Admit);
        assert_eq!(
            table.per_source[&STRANGER],
            (HANDSHAKES_PER_SOURCE_MAX - 1, HANDSHAKES_PER_SOURCE_MAX - 1)
        );
    }
}
