//! Transports gone silent. A running transport reports at least once per its interval: a
//! heartbeat answered or missed, a drop folder scanned. One that is stuck reports nothing — a
//! drop folder's thread in a system call on a hung drive or network share, a task that stopped
//! — and its channel would stay as it last was, up, while nothing passes. So the driver counts
//! a silence as missed heartbeats: one when the transport has said nothing for
//! [`TRANSPORT_SILENCE_INTERVALS`] of its intervals (at least [`TRANSPORT_SILENCE_MS_MIN`]),
//! then one per interval, until the channel is down ([`HEALTH_MISSES_DOWN`]); its next report
//! counts as usual. Any report of a transport (a bundle handed over, a relay's batch or a
//! deposit's outcome) shows it is not stuck. A transport that reported its channel gone (a
//! connection lost, a folder unusable) may stay quiet until it has something to say. (A direct
//! connection whose peer reads nothing is not silent: QUIC still answers, and the direct task
//! reports its round trips while a send waits.)
//!
//! Time is the monotonic clock, passed in: the station's clock may step forward.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use parley_channels::{Signal, Via};

use crate::core::health::HEALTH_MISSES_DOWN;

/// A transport silent for this many of its intervals misses its first heartbeat.
pub const TRANSPORT_SILENCE_INTERVALS: u32 = 3;
/// ...and for at least this long: a driver busy with a flood of frames may take a transport's
/// report late, and a drop folder's thread waits for each bundle it hands over to be
/// committed; not this long.
pub const TRANSPORT_SILENCE_MS_MIN: u64 = 30_000;

/// When a transport last reported, while its channel is not known gone.
#[derive(Clone, Copy, Debug)]
struct Heard {
    at: Instant,
    /// How often it reports.
    interval: Duration,
    /// Heartbeats counted missed since.
    misses: u32,
}

impl Heard {
    /// When the next miss is due, if any is still to count.
    fn next_miss(&self) -> Option<Instant> {
        if self.misses >= HEALTH_MISSES_DOWN {
            return None;
        }
        let first = (self.interval * TRANSPORT_SILENCE_INTERVALS)
            .max(Duration::from_millis(TRANSPORT_SILENCE_MS_MIN));
        Some(self.at + first + self.interval * self.misses)
    }
}

/// The transports heard from, by channel.
#[derive(Debug, Default)]
pub struct Liveness {
    heard: BTreeMap<Via, Heard>,
}

impl Liveness {
    /// The transport of `via`, which reports every `interval`, reported `signal` at `now`.
    pub fn heard(&mut self, via: Via, signal: &Signal, interval: Duration, now: Instant) {
        match signal {
            Signal::Lost { .. } | Signal::Unavailable { .. } => {
                self.heard.remove(&via);
            }
            Signal::Connected { .. }
            | Signal::Answered { .. }
            | Signal::Missed { .. }
            | Signal::Present => {
                let heard = Heard {
                    at: now,
                    interval,
                    misses: 0,
                };
                self.heard.insert(via, heard);
            }
        }
    }

    /// The transport of `via` reported something other than its health (a bundle, a batch, a
    /// deposit's outcome) at `now`: it is not stuck, and its silence is timed from now. The
    /// heartbeats counted missed stay counted, as they do in the core, until it reports its
    /// health. A channel reported gone stays unwatched.
    pub fn touched(&mut self, via: Via, now: Instant) {
        if let Some(heard) = self.heard.get_mut(&via) {
            heard.at = now;
        }
    }

    /// The heartbeats that silent transports missed by `now`, each a `Missed` signal for its
    /// channel.
    pub fn missed(&mut self, now: Instant) -> Vec<(Via, Signal)> {
        let mut missed = Vec::new();
        for (via, heard) in &mut self.heard {
            while let Some(due) = heard.next_miss()
                && due <= now
            {
                heard.misses += 1;
                let silent_s = now.duration_since(heard.at).as_secs();
                if heard.misses == 1 {
                    tracing::warn!(
                        channel = ?via,
                        silent_s,
                        "a channel's transport has reported nothing for too long (stuck?); \
                         counting its heartbeats missed"
                    );
                }
                let reason = format!("its transport has reported nothing for {silent_s} s");
                missed.push((*via, Signal::Missed { reason }));
            }
        }
        missed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn misses(liveness: &mut Liveness, now: Instant) -> Vec<Via> {
        liveness
            .missed(now)
            .into_iter()
            .map(|(via, _)| via)
            .collect()
    }

    /// A transport silent for three of its intervals (at least the least silence) misses a
    /// heartbeat, then one per interval until its channel is down; any report starts again;
    /// one that reported its channel gone may stay quiet.
    #[test]
    fn a_silent_transport_misses_heartbeats_until_its_channel_is_down() {
        let second = Duration::from_secs(1);
        let ms = Duration::from_millis;
        let start = Instant::now();
        let (folder, relay) = (Via::Folder(0), Via::Relay(0));
        let relay_interval = 15 * second;
        let mut liveness = Liveness::default();
        liveness.heard(folder, &Signal::Present, second, start);
        liveness.heard(
            relay,
            &Signal::Answered { rtt_us: 1 },
            relay_interval,
            start,
        );
        // Both sides of the first bound: the least silence for the one reporting every
        // second, three intervals (45 s) for the other.
        let first = ms(TRANSPORT_SILENCE_MS_MIN);
        assert!(misses(&mut liveness, start + first - ms(1)).is_empty());
        assert_eq!(misses(&mut liveness, start + first), [folder]);
        assert!(
            misses(&mut liveness, start + first).is_empty(),
            "counted once"
        );
        // Then one per interval, up to the misses that make a channel down, and no more.
        let rest = vec![folder; HEALTH_MISSES_DOWN as usize - 1];
        let relay_first = start + 3 * relay_interval;
        assert_eq!(misses(&mut liveness, relay_first - ms(1)), rest);
        assert_eq!(misses(&mut liveness, relay_first), [relay]);
        let late = start + Duration::from_secs(3_600);
        let all = liveness.missed(late);
        assert_eq!(all.len() as u32, HEALTH_MISSES_DOWN - 1, "{all:?}");
        assert!(all.iter().all(|(via, _)| *via == relay));
        let Signal::Missed { reason } = &all[0].1 else {
            panic!("a miss: {all:?}");
        };
        assert!(reason.contains("reported nothing for 3600 s"), "{reason}");
        assert!(liveness.missed(late + first).is_empty());

        // A report, any report, starts the count again.
        let missed = Signal::Missed {
            reason: "timeout".into(),
        };
        liveness.heard(relay, &missed, relay_interval, late);
        assert!(misses(&mut liveness, late + 3 * relay_interval - ms(1)).is_empty());
        assert_eq!(misses(&mut liveness, late + 3 * relay_interval), [relay]);
        // A report of anything else (a batch fetched, a deposit stored) times the silence
        // from then; the miss counted stays counted, as in the core.
        let busy = late + 4 * relay_interval;
        liveness.touched(relay, busy);
        let next = busy + 4 * relay_interval;
        assert!(misses(&mut liveness, next - ms(1)).is_empty());
        assert_eq!(misses(&mut liveness, next), [relay]);
        // A channel reported gone is not watched until it reports its health again.
        let lost = Signal::Lost {
            reason: "closed".into(),
        };
        liveness.heard(relay, &lost, relay_interval, late);
        let gone = Signal::Unavailable {
            reason: "missing".into(),
        };
        liveness.heard(folder, &gone, second, late);
        liveness.touched(folder, late);
        assert!(liveness.missed(late + 10 * first).is_empty());
    }
}
