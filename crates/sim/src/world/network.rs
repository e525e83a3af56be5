//! The simulated channels: frames carried with delay, loss and duplication, channels that go
//! down (announced or silent) and come back, and the healing that ends the workload.

use super::*;

/// The relay channel's index, when the run has one.
const RELAY_CHANNEL: usize = 1;
/// Time between two losses of the relay's store, in milliseconds (least, most).
const RELAY_LOSS_GAP_MS: (u64, u64) = (10_000, 90_000);

impl World {
    /// The transport a channel index is, seen from station `i`.
    pub(super) fn via(&self, i: usize, channel: usize) -> Via {
        match self.channels[channel].kind {
            ChannelKind::Direct => Via::Direct(self.peer_id(i)),
            _ => Via::Relay(0),
        }
    }

    /// The channel the adversary injects on: the relay when there is one (a direct frame comes
    /// only from a QUIC-authenticated peer), else the direct channel.
    pub(crate) fn attack_channel(&self) -> usize {
        self.channels.len() - 1
    }

    /// The channel index of a transmit's transport.
    pub(super) fn channel_of(transmit: &Transmit) -> usize {
        match transmit.via {
            Via::Direct(_) => 0,
            _ => RELAY_CHANNEL,
        }
    }

    pub(super) fn transmit(&mut self, from: usize, transmit: Transmit) {
        let to = 1 - from;
        let index = Self::channel_of(&transmit);
        self.report.frames_sent += 1;
        self.remember(to, &transmit.frame);
        let channel = &self.channels[index];
        let (up, generation, delay_ms) = (channel.up, channel.generation, channel.delay_ms);
        if !up || self.dice.chance(self.config.loss_per_mille) {
            self.report.frames_dropped += 1;
            return;
        }
        let mut copies = 1;
        if self.dice.chance(self.config.duplicate_per_mille) {
            self.report.frames_duplicated += 1;
            copies = 2;
        }
        for _ in 0..copies {
            let mut delay = self.dice.between(delay_ms);
            if self.dice.chance(self.config.late_per_mille) {
                delay += self.dice.between((0, LATE_EXTRA_MS_MAX));
            }
            let frame = transmit.frame.clone();
            let deliver = Event::Deliver {
                to,
                channel: index,
                generation,
                frame,
            };
            self.push(delay, deliver);
        }
    }

    /// Schedules the relay's next loss of its store, when the run has one.
    pub(super) fn plan_relay_loss(&mut self) {
        if self.config.relay_channel && self.config.relay_store_loss {
            let gap = self.dice.between(RELAY_LOSS_GAP_MS);
            self.push(gap, Event::RelayLoss);
        }
    }

    /// The relay loses its store while messages flow: every frame it held (every frame in
    /// flight on the relay channel) is gone, and nobody is told.
    pub(super) fn relay_loss(&mut self) -> Outcome {
        if self.phase != Phase::Workload {
            return Ok(());
        }
        self.plan_relay_loss();
        self.channels[RELAY_CHANNEL].generation += 1;
        self.report.relay_store_losses += 1;
        Ok(())
    }

    /// Tells station `i` which channels it should believe are up.
    pub(super) fn announce_channels(&mut self, i: usize) {
        let now_ms = self.clock(i);
        let vias: Vec<Via> = (0..self.channels.len())
            .filter(|c| self.channels[*c].announced_up)
            .map(|c| self.via(i, c))
            .collect();
        let Some(core) = self.stations[i].core.as_mut() else {
            return;
        };
        for via in vias {
            let signal = Signal::Connected {
                rtt_us: Some(1_000),
            };
            core.handle(now_ms, Input::Health { via, signal });
        }
    }

    pub(super) fn toggle(&mut self, channel: usize) -> Outcome {
        if self.phase != Phase::Workload {
            return Ok(());
        }
        let up = !self.channels[channel].up;
        let (least, most) = if up { CHANNEL_UP_MS } else { CHANNEL_DOWN_MS };
        let next_ms = self.dice.between((least, most));
        self.push(next_ms, Event::Toggle { channel });
        if !up {
            self.report.partitions += 1;
        }
        let silent = !up && self.dice.chance(SILENT_OUTAGE_PER_MILLE);
        self.set_channel(channel, up, !silent)
    }

    /// Sets a channel up or down on the wire, and at both live stations if `announce`.
    pub(super) fn set_channel(&mut self, channel: usize, up: bool, announce: bool) -> Outcome {
        let state = &mut self.channels[channel];
        state.up = up;
        if !up {
            state.generation += 1;
        }
        if !announce || state.announced_up == up {
            return Ok(());
        }
        state.announced_up = up;
        for i in 0..2 {
            let (now_ms, via) = (self.clock(i), self.via(i, channel));
            let Some(core) = self.stations[i].core.as_mut() else {
                continue;
            };
            let signal = match up {
                true => Signal::Connected {
                    rtt_us: Some(1_000),
                },
                false => Signal::Lost {
                    reason: "partition".into(),
                },
            };
            core.handle(now_ms, Input::Health { via, signal });
            self.after_input(i)?;
        }
        Ok(())
    }

    pub(super) fn maybe_heal(&mut self) -> Outcome {
        let quota = self.config.messages_per_station;
        if self.phase != Phase::Workload || self.stations.iter().any(|s| s.accepted.len() < quota) {
            return Ok(());
        }
        self.phase = Phase::Heal {
            since_ms: self.now_ms,
        };
        for channel in 0..self.channels.len() {
            if !self.channels[channel].up || !self.channels[channel].announced_up {
                self.set_channel(channel, true, true)?;
            }
        }
        if self.config.clock_jumps {
            for i in 0..2 {
                let right = Event::Clock {
                    station: i,
                    right: true,
                };
                self.push(0, right);
            }
        }
        Ok(())
    }
}
