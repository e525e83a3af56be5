//! `[intake]` in `parley.toml`: what one peer may make this station store, so a paired peer
//! cannot fill the disk every link shares (docs/cli.md, "Intake").

use parley_proto::IntakeLimit;
use serde::{Deserialize, Serialize};

use crate::limits::{INTAKE_BURST_MIB_MAX, INTAKE_PER_DAY_MIB_MAX};

const MIB: u64 = 1024 * 1024;

/// `[intake]`: one allowance per peer, the same for every peer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// Most MiB of the peer's envelopes taken at once.
    pub burst_mib: u64,
    /// MiB by which the allowance grows in a day, up to `burst_mib`.
    pub per_day_mib: u64,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        let limit = IntakeLimit::default();
        Self {
            burst_mib: limit.burst_bytes / MIB,
            per_day_mib: limit.per_day_bytes / MIB,
        }
    }
}

impl IntakeConfig {
    /// Checks both bounds, naming the field at fault. A MiB holds the largest envelope, so
    /// every envelope fits in the smallest burst.
    pub fn check(&self) -> Result<(), String> {
        for (field, value, max) in [
            ("burst_mib", self.burst_mib, INTAKE_BURST_MIB_MAX),
            ("per_day_mib", self.per_day_mib, INTAKE_PER_DAY_MIB_MAX),
        ] {
            if !(1..=max).contains(&value) {
                return Err(format!("intake.{field} = {value} is outside 1..={max}"));
            }
        }
        Ok(())
    }

    /// The core's limit.
    pub fn limit(&self) -> IntakeLimit {
        IntakeLimit {
            burst_bytes: self.burst_mib * MIB,
            per_day_bytes: self.per_day_mib * MIB,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_of_each_bound() {
        let check = |burst_mib, per_day_mib| {
            IntakeConfig {
                burst_mib,
                per_day_mib,
            }
            .check()
        };
        assert_eq!(check(1, 1), Ok(()));
        assert_eq!(check(INTAKE_BURST_MIB_MAX, INTAKE_PER_DAY_MIB_MAX), Ok(()));
        let refused = [
            (check(0, 1), "intake.burst_mib = 0 is outside 1..="),
            (check(INTAKE_BURST_MIB_MAX + 1, 1), "intake.burst_mib"),
            (check(1, 0), "intake.per_day_mib = 0 is outside 1..="),
            (check(1, INTAKE_PER_DAY_MIB_MAX + 1), "intake.per_day_mib"),
        ];
        for (got, expected) in refused {
            let error = got.expect_err(expected);
            assert!(error.starts_with(expected), "{error}");
        }
        // The smallest burst takes the largest envelope.
        assert!(MIB >= parley_proto::limits::ENVELOPE_SIZE_MAX_BYTES as u64);
    }

    #[test]
    fn the_default_is_the_protocol_s_and_a_table_may_be_partial() {
        assert_eq!(IntakeConfig::default().limit(), IntakeLimit::default());
        let config: IntakeConfig = toml::from_str("burst_mib = 8").expect("parses");
        assert_eq!(config.limit().burst_bytes, 8 * MIB);
        assert_eq!(config.per_day_mib, IntakeConfig::default().per_day_mib);
        assert!(toml::from_str::<IntakeConfig>("burst = 8").is_err());
    }
}
