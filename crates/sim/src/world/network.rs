//! The simulated channels: frames carried with delay, loss and duplication, channels that go
//! down (announced or silent) and come back, and the healing that ends the workload.

use super::*;

/// Time between two losses of the relay's store, in milliseconds (least, most).
const RELAY_LOSS_GAP_MS: (u64, u64) = (10_000, 90_000);

impl World {
    /// The transport a channel index is, seen from station `i`: the direct channel with the
    /// other end, or the relay (every station's first and only).
    pub(super) fn via(&self, i: usize, channel: usize) -> Via {
        match self.channels[channel].ends {
            Some((a, b)) => Via::Direct(self.id(if a == i { b } else { a })),
            None => Via::Relay(0),
        }
    }

    /// Whether station `i` is at an end of `channel` (every station is at the relay's).
    fn on_channel(&self, i: usize, channel: usize) -> bool {
        self.channels[channel]
            .ends
            .is_none_or(|(a, b)| a == i || b == i)
    }

    /// The direct channel between stations `i` and `j`.
    fn direct_channel(&self, i: usize, j: usize) -> usize {
        let ends = (i.min(j), i.max(j));
        self.channels
            .iter()
            .position(|channel| channel.ends == Some(ends))
            .expect("every two stations have a direct channel")
    }

    /// The relay channel, when the run has one (the last channel).
    fn relay_channel(&self) -> Option<usize> {
        let last = self.channels.len() - 1;
        (self.channels[last].kind == ChannelKind::Relay).then_some(last)
    }

    /// The channel the adversary injects on, at station `to` as if from `from`: the relay when
    /// there is one (a direct frame comes only from a QUIC-authenticated peer), else their
    /// direct channel.
    pub(crate) fn attack_channel(&self, to: usize, from: usize) -> usize {
        self.relay_channel()
            .unwrap_or_else(|| self.direct_channel(to, from))
    }

    pub(super) fn transmit(&mut self, from: usize, transmit: Transmit) {
        let to = self.index_of(&transmit.peer).expect("a paired station");
        let index = match transmit.via {
            Via::Direct(_) => self.direct_channel(from, to),
            _ => self
                .relay_channel()
                .expect("a relay transmit needs the relay"),
        };
        self.report.frames_sent += 1;
        self.remember((from, to), &transmit.frame);
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
                from,
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
        let relay = self.relay_channel().expect("the relay loses its store");
        self.channels[relay].generation += 1;
        self.report.relay_store_losses += 1;
        Ok(())
    }

    /// Tells station `i` which channels it should believe are up.
    pub(super) fn announce_channels(&mut self, i: usize) {
        let now_ms = self.clock(i);
        let vias: Vec<Via> = (0..self.channels.len())
            .filter(|c| self.channels[*c].announced_up && self.on_channel(i, *c))
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

    /// Sets a channel up or down on the wire, and at the live stations on it if `announce`.
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
        for i in 0..self.stations.len() {
            if !self.on_channel(i, channel) {
                continue;
            }
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
        if self.phase != Phase::Workload || self.stations.iter().any(|s| s.sent() < quota) {
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
            for i in 0..self.stations.len() {
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
