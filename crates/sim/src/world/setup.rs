//! Setting the world up from its seed: two stations, or three to five, from the production
//! store and core, each paired with every other and given a relay channel to each through the
//! core's own commands, and the watch's settings.

use super::*;

impl World {
    /// Creates the stations from the seed and pairs every two through their cores, adding the
    /// relay channel the same way (committed at once, no crash).
    pub fn new(seed: u64, config: &SimConfig) -> Outcome<Self> {
        let mut dice = Dice(ChaCha20Rng::seed_from_u64(seed));
        let (mut config, mut faults) = if config.swarm {
            swarm::swarm(config, &mut dice)
        } else {
            (config.clone(), swarm::faults_on(config))
        };
        // Drawn apart, so that the rest of the seed's world is what it was before.
        let mut apart = Dice(ChaCha20Rng::seed_from_u64(seed ^ INTAKE_DRAW_SALT));
        if apart.chance(config.tight_intake_per_mille) {
            faults |= 1 << swarm::INTAKE_BIT;
            config.intake_tight = true;
            config.large_text_per_mille = config.large_text_per_mille.max(TIGHT_LARGE_PER_MILLE);
        }
        let intake_tight = config.intake_tight;
        let torn_writes = config.crashes
            && config.torn_writes_per_mille > 0
            && dice.chance(config.torn_writes_per_mille);
        if torn_writes {
            faults |= 1 << swarm::TORN_WRITES_BIT;
        }
        let several = dice.chance(config.several_stations_per_mille);
        let count = if several {
            faults |= 1 << swarm::STATIONS_BIT;
            dice.between((3, NAMES.len() as u64)) as usize
        } else {
            2
        };
        let mut stations = Vec::new();
        for (i, &name) in NAMES[..count].iter().enumerate() {
            let identity = Identity::from_secret(&dice.seed());
            let epoch = EpochSecret::generate(&mut dice.0);
            let (mut store, disk) = Disk::open(torn_writes)?;
            store
                .init_station(name, "en", identity.id().0, &epoch, START_MS)
                .map_err(|e| e.to_string())?;
            let config = Config::new(name.into(), "en".into(), "127.0.0.1:9".into());
            let loaded = load(&store, identity.clone(), &config, dice.seed())
                .map(|loaded| sim_settings(loaded, intake_tight))
                .map_err(|e| e.to_string())?;
            let core = Core::new(START_MS, loaded, Mode::Daemon).map_err(|e| e.to_string())?;
            stations.push(Station {
                epoch_public: epoch.public_bytes().to_vec(),
                identity,
                config,
                core: Some(core),
                store,
                disk,
                incarnation: 0,
                commit: None,
                wake_at: None,
                links: (0..count)
                    .filter(|j| *j != i)
                    .map(|j| (j, LinkLog::default()))
                    .collect(),
                planned_crash: false,
                stopped_check_ms: None,
                draft: None,
                asked: None,
                next_request: 0,
                acting: BTreeMap::new(),
                couriering: BTreeMap::new(),
                raised: Vec::new(),
                down: Vec::new(),
                wall_offset_ms: 0,
                skew_ms: 0,
                clock_went_back: false,
                skew_refused: Default::default(),
                contradicted: Default::default(),
            });
        }
        let mallory = Identity::from_secret(&dice.seed());
        let relay = Identity::from_secret(&dice.seed());
        // A direct channel between every two stations, then the relay, which they all use.
        let mut channels = Vec::new();
        for a in 0..count {
            for b in a + 1..count {
                channels.push(Channel {
                    kind: ChannelKind::Direct,
                    ends: Some((a, b)),
                    up: true,
                    announced_up: true,
                    generation: 0,
                    delay_ms: DIRECT_DELAY_MS,
                });
            }
        }
        if config.relay_channel {
            channels.push(Channel {
                kind: ChannelKind::Relay,
                ends: None,
                up: true,
                announced_up: true,
                generation: 0,
                delay_ms: RELAY_DELAY_MS,
            });
        }
        let relay_card = relay_card(&relay, &mut dice);
        let mut world = Self {
            config,
            dice,
            now_ms: START_MS,
            queue: BTreeMap::new(),
            next_event: 0,
            stations,
            channels,
            phase: Phase::Workload,
            mallory,
            replay_pool: Vec::new(),
            contradictions: BTreeSet::new(),
            lossy_disk_dropped: false,
            acts_pending: 0,
            books: Vec::new(),
            bundles_in_transit: 0,
            late_bundles: Vec::new(),
            report: SimReport {
                faults,
                links: (count * (count - 1) / 2) as u64,
                ..SimReport::default()
            },
            trace: DefaultHasher::new(),
        };
        for i in 0..count {
            world.set_up(i, &relay_card)?;
        }
        world.configure_watch()?;
        Ok(world)
    }

    /// Pairs station `i` with each of its peers and adds the relay channel to each, through
    /// the core's commands, committed at once; then announces the channels up.
    pub(super) fn set_up(
        &mut self,
        i: usize,
        (relay_card, relay_fp): &(String, String),
    ) -> Outcome {
        for j in self.peers(i) {
            let peer = &self.stations[j];
            let (card, bytes) = peer.core.as_ref().expect("up").card();
            let pair = Command::PeerAdd {
                card: card.to_text(&bytes),
                fingerprint: peer.identity.fingerprint().to_string(),
                address: None,
            };
            self.set_up_command(i, pair)?;
            if self.config.relay_channel {
                let relay = Command::ChannelAdd {
                    peer: NAMES[j].into(),
                    kind: ChannelKind::Relay,
                    target: RELAY_URL.into(),
                    card: Some(relay_card.clone()),
                    fingerprint: Some(relay_fp.clone()),
                };
                self.set_up_command(i, relay)?;
            }
        }
        let core = self.stations[i].core.as_mut().expect("up");
        inject_faults(&self.config, core);
        self.announce_channels(i);
        Ok(())
    }

    /// Short objectives and frequent checkpoints on every station, and, when the watch is
    /// exercised, A's tests to B, as an administrator sets them after pairing; every station
    /// restarts on the new configuration. The objectives are short in every seed: with the
    /// defaults (hours) a seed whose messages nobody answers would wait that long, simulated,
    /// for its last deadline, stepping through every heartbeat and key rotation on the way.
    pub(super) fn configure_watch(&mut self) -> Outcome {
        for (i, name) in NAMES[..self.stations.len()].iter().enumerate() {
            let config = &mut self.stations[i].config;
            for (objective, (receipt_s, understood_s)) in [
                (&mut config.objectives.flash, (5, 20)),
                (&mut config.objectives.immediate, (10, 30)),
                (&mut config.objectives.priority, (15, 45)),
                (&mut config.objectives.routine, (20, 60)),
            ] {
                objective.receipt_s = receipt_s;
                objective.understood_s = understood_s;
            }
            config.alarms.escalate_after_s = 30;
            config.alarms.channel_down_after_s = 20;
            // Checkpoints every few entries, each checked and cosigned by the peer (a split
            // view between these honest stations fails the run, as every accusing alarm).
            config.checkpoints.every_entries = CHECKPOINT_EVERY_ENTRIES;
            config.checkpoints.every_s = 30;
            if i == 0 && self.config.watch {
                config.tests = vec![TestConfig {
                    peer: NAMES[1].into(),
                    at: Vec::new(),
                    every_s: Some(TEST_EVERY_MS / 1_000),
                    answer: TestAnswer::Machine,
                    answer_within_s: TEST_ANSWER_WITHIN_MS / 1_000,
                }];
            }
            config
                .check()
                .map_err(|e| format!("{name} configuration: {e}"))?;
            self.retire_core(i);
            self.restart(i)?;
        }
        Ok(())
    }

    pub(super) fn set_up_command(&mut self, i: usize, command: Command) -> Outcome {
        let now_ms = self.clock(i);
        let station = &mut self.stations[i];
        let core = station.core.as_mut().expect("up");
        core.handle(
            now_ms,
            Input::Command {
                id: RequestId(0),
                command,
            },
        );
        let commit = core.poll_commit().expect("a setup command writes");
        station
            .store
            .commit_batch(&commit.admin, &commit.ops)
            .map_err(|e| format!("{} set-up commit: {e}", NAMES[i]))?;
        core.commit_done(Ok(()));
        while let Some(output) = core.poll_output() {
            if let Output::Reply {
                result: Err(error), ..
            } = output
            {
                return Err(format!("{} set-up refused: {error}", NAMES[i]));
            }
        }
        Ok(())
    }
}
