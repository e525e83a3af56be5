//! Swarm testing: each seed keeps each fault of the run's configuration on only half the time,
//! at a quarter to twice its rate, so that rare combinations get explored.

use super::Dice;
use crate::SimConfig;

/// Under swarm testing, a fault's rate is scaled by this much, in percent.
const SWARM_RATE_PERCENT: (u64, u64) = (25, 200);

/// The bit of torn writes in a seed's faults (its place in [`crate::FAULTS`]).
pub(super) const TORN_WRITES_BIT: usize = 9;
/// The bit of several stations in a seed's faults (its place in [`crate::FAULTS`]).
pub(super) const STATIONS_BIT: usize = 13;
/// The bit of tight intake allowances in a seed's faults (its place in [`crate::FAULTS`]).
pub(super) const INTAKE_BIT: usize = 14;

/// Which of [`crate::FAULTS`] `config` has on, as bits in that order; torn writes, which
/// each seed draws, are added when drawn.
pub(super) fn faults_on(config: &SimConfig) -> u64 {
    let on = [
        config.loss_per_mille > 0,
        config.duplicate_per_mille > 0,
        config.late_per_mille > 0,
        config.partitions,
        config.crashes,
        config.attacks,
        config.relay_channel,
        config.watch,
        config.large_text_per_mille > 0,
        false, // torn writes: each seed draws them
        config.relay_channel && config.relay_store_loss,
        config.courier,
        config.clock_jumps,
        false, // several stations: each seed draws them
        false, // tight intake allowances: each seed draws them
    ];
    on.iter()
        .enumerate()
        .filter(|(_, on)| **on)
        .fold(0, |bits, (index, _)| bits | 1 << index)
}

/// Swarm testing: each fault `config` has on stays on for this seed half the time, each
/// rate scaled by a quarter to twice; returns the seed's configuration and its faults.
pub(super) fn swarm(config: &SimConfig, dice: &mut Dice) -> (SimConfig, u64) {
    let mut seeded = config.clone();
    let rate = |dice: &mut Dice, per_mille: &mut u64| {
        *per_mille = if *per_mille > 0 && dice.chance(500) {
            (*per_mille * dice.between(SWARM_RATE_PERCENT) / 100).clamp(1, 1_000)
        } else {
            0
        };
    };
    rate(dice, &mut seeded.loss_per_mille);
    rate(dice, &mut seeded.duplicate_per_mille);
    rate(dice, &mut seeded.late_per_mille);
    rate(dice, &mut seeded.large_text_per_mille);
    rate(dice, &mut seeded.crash_in_commit_per_mille);
    rate(dice, &mut seeded.torn_writes_per_mille);
    rate(dice, &mut seeded.several_stations_per_mille);
    rate(dice, &mut seeded.tight_intake_per_mille);
    for on in [
        &mut seeded.partitions,
        &mut seeded.crashes,
        &mut seeded.attacks,
        &mut seeded.relay_channel,
        &mut seeded.relay_store_loss,
        &mut seeded.courier,
        &mut seeded.clock_jumps,
        &mut seeded.watch,
    ] {
        *on = *on && dice.chance(500);
    }
    let faults = faults_on(&seeded);
    (seeded, faults)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bits_seeds_draw_are_those_of_their_names() {
        assert_eq!(crate::FAULTS[super::TORN_WRITES_BIT], "torn-writes");
        assert_eq!(crate::FAULTS[super::STATIONS_BIT], "stations");
        assert_eq!(crate::FAULTS[super::INTAKE_BIT], "intake");
    }
}
