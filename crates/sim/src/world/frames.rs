//! Frames handed to a station as if they came off a channel: authentic ones (replays too) must
//! be accepted, tampered and forged ones refused without a write or a change to any link, but
//! for the evidence an equivocation or a fork leaves.

use super::*;

impl World {
    /// Hands a frame to station `i` as if it came off `channel`, from station `from` (or, for
    /// an attack, claiming to be). Authentic frames (replays too) must be accepted; tampered
    /// and forged ones refused without a write or a change to any link's state.
    pub(super) fn frame(
        &mut self,
        i: usize,
        channel: usize,
        bytes: &[u8],
        (from, attack): (usize, Option<Attack>),
    ) -> Outcome {
        let (now_ms, via) = (self.clock(i), self.via(i, channel));
        let (peers, sender) = (self.peer_ids(i), self.id(from));
        let sender_clock_ahead = self.clock_ahead(from, i);
        let Some(core) = self.stations[i].core.as_mut() else {
            self.report.frames_dropped += u64::from(attack.is_none());
            return Ok(());
        };
        // Duties already due run first (as `handle` would), so what follows is the frame's.
        core.catch_up(now_ms);
        let before = link_views(core, &peers);
        let rejected_before = rejections(core, &peers);
        let skewed_before = clock_skew_refusals(core, &sender);
        let over_before = intake_refusals(core, &sender);
        let equivocations_before = refusals_for(core, &sender, "equivocation");
        let forks_before = refusals_for(core, &sender, "fork");
        core.handle(
            now_ms,
            Input::Frame {
                via,
                bytes: bytes.to_vec(),
            },
        );
        let after = link_views(core, &peers);
        let refused = rejections(core, &peers) > rejected_before;
        let skewed = clock_skew_refusals(core, &sender) > skewed_before;
        let over = intake_refusals(core, &sender) > over_before;
        let equivocation = refusals_for(core, &sender, "equivocation") > equivocations_before;
        let fork = refusals_for(core, &sender, "fork") > forks_before;
        let name = NAMES[i];
        let forged = attack.filter(|a| *a != Attack::Replay);
        // An authentic envelope may be refused for an entry time too far ahead, only while
        // its sender has an entry dated that far ahead (see `clocks`); and for its sender's
        // intake allowance, only in a seed of tight allowances.
        if over && forged.is_none() && !self.config.intake_tight {
            return Err(format!(
                "{name} refused an authentic frame of {} over its intake allowance, which only \
                 a seed of tight allowances can use up",
                NAMES[from]
            ));
        }
        let refused = match forged {
            None => {
                self.clock_skew_refused(i, from, skewed, sender_clock_ahead)?;
                refused && !skewed && !over
            }
            Some(_) => refused,
        };
        match (refused, forged) {
            (false, Some(attack)) => {
                return Err(format!("{name} accepted a {attack:?} frame"));
            }
            (false, None) => {}
            (true, Some(Attack::Equivocate)) => {
                // Refused as what it is, the links as they were; its evidence (up to the bound
                // on a link's records) and the alarm it raises, if not raised already, are the
                // only writes, and the evidence excuses the alarm about its seq.
                self.report.attacks_rejected += 1;
                let (views, writes) = (&after.0, after.1);
                if !equivocation || *views != before.0 || writes > before.1 + 2 {
                    return Err(format!(
                        "{name} did not refuse an equivocation of {}'s as one, or changed more \
                         than its evidence: links {before:?} -> {after:?}",
                        NAMES[from]
                    ));
                }
                if writes > before.1 {
                    self.report.equivocations_kept += 1;
                    let seq = equivocated_seq(bytes).expect("an envelope the adversary signed");
                    (self.stations[i].contradicted).insert((from, seq, AlarmKind::Equivocation));
                }
            }
            (true, Some(Attack::Fork)) => {
                // Refused as what it is, as an equivocation is; or, in a seed of tight
                // allowances, for the allowance before it was opened, with nothing written.
                self.report.attacks_rejected += 1;
                let (views, writes) = (&after.0, after.1);
                let as_fork = fork && writes <= before.1 + 2;
                // (The over_intake alarm it may raise is the one write.)
                let for_allowance = over && writes <= before.1 + 1;
                if *views != before.0 || !(as_fork || for_allowance) {
                    let core = self.stations[i].core.as_ref().expect("up");
                    let link = core.endpoint().link(&sender).expect("paired");
                    let reasons = &link.counters().rejected;
                    return Err(format!(
                        "{name} did not refuse a fork of {}'s log as one, or changed more than \
                         its evidence: links {before:?} -> {after:?}; refusals so far: \
                         {reasons:?}",
                        NAMES[from]
                    ));
                }
                if fork && writes > before.1 {
                    self.report.forks_kept += 1;
                    let seq = equivocated_seq(bytes).expect("an envelope the adversary signed");
                    (self.stations[i].contradicted).insert((from, seq, AlarmKind::Fork));
                }
            }
            (true, Some(attack)) => {
                self.report.attacks_rejected += 1;
                if before != after {
                    return Err(format!(
                        "{name} rejected a {attack:?} frame but changed state: \
                         links {before:?} -> {after:?}"
                    ));
                }
            }
            (true, None) => {
                let core = self.stations[i].core.as_ref().expect("up");
                let reasons = &core
                    .endpoint()
                    .link(&sender)
                    .expect("paired")
                    .counters()
                    .rejected;
                return Err(format!(
                    "{name} rejected an authentic frame of {} ({attack:?}); refusals so far: \
                     {reasons:?}",
                    NAMES[from]
                ));
            }
        }
        self.after_input(i)
    }
}

/// What a rejected frame must leave unchanged in memory, for each link: out seq, outbox
/// depth, in head, pending count, receipt bound; and the writes waiting for a commit.
pub(super) fn link_views(core: &Core, peers: &[StationId]) -> (Vec<[u64; 5]>, u64) {
    let views = peers
        .iter()
        .map(|peer| {
            let link = core
                .endpoint()
                .link(peer)
                .expect("stations are paired at start");
            [
                link.out_seq(),
                link.outbox_depth() as u64,
                link.in_head(),
                link.in_pending() as u64,
                link.peer_receipt_upto(),
            ]
        })
        .collect();
    (views, core.uncommitted_writes() as u64)
}

/// How many envelopes from `peer` the core has refused so far for an entry time too far ahead
/// of its clock.
pub(super) fn clock_skew_refusals(core: &Core, peer: &StationId) -> u64 {
    refusals_for(core, peer, "clock_skew")
}

/// How many envelopes from `peer` the core has refused so far because `peer` had used up its
/// intake allowance.
pub(super) fn intake_refusals(core: &Core, peer: &StationId) -> u64 {
    refusals_for(core, peer, "over_intake")
}

pub(super) fn refusals_for(core: &Core, peer: &StationId, reason: &str) -> u64 {
    let link = core.endpoint().link(peer).expect("paired");
    link.counters().rejected.get(reason).copied().unwrap_or(0)
}

/// How many frames from `peers` (or claiming no one) the core has refused so far.
pub(super) fn rejections(core: &Core, peers: &[StationId]) -> u64 {
    let links = peers.iter().map(|peer| {
        let link = core.endpoint().link(peer).expect("paired");
        link.counters().rejected.values().sum::<u64>()
    });
    links.sum::<u64>()
        + core
            .endpoint()
            .unattributed_rejections()
            .values()
            .sum::<u64>()
}

/// The seq an envelope frame names, if it is an envelope whose signature verifies under the
/// sender it names.
pub(crate) fn equivocated_seq(bytes: &[u8]) -> Option<u64> {
    let envelope = match parley_proto::frame::Frame::parse(bytes).ok()? {
        parley_proto::frame::Frame::Envelope(envelope) => envelope,
        _ => return None,
    };
    let envelope = parley_proto::envelope::Envelope::peek(envelope).ok()?;
    Some(envelope.check_signature().ok()?.seq)
}
