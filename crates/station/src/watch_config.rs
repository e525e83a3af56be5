//! The watch's part of `parley.toml`: time objectives per precedence, alarm handling and
//! scheduled tests. Every value is checked with the field named, before anything runs.
//!
//! ```toml
//! [objectives.flash]          # also immediate, priority, routine; seconds
//! receipt_s = 60
//! understood_s = 600
//!
//! [alarms]
//! escalate_after_s = 300
//! channel_down_after_s = 60
//! hook = "/usr/local/bin/page-the-duty-officer"
//!
//! [[tests]]
//! peer = "Bravo"
//! at = ["09:00", "17:00"]     # UTC; or every_s = 3600
//! answer = "operator"         # or "machine"
//! answer_within_s = 600
//! ```

use parley_proto::limits::{
    TEST_ANSWER_WITHIN_MS_MAX, TEST_EVERY_MS_MAX, TEST_EVERY_MS_MIN, TEST_TIMES_MAX,
};
use parley_proto::{Precedence, TestAnswer, TestSchedule};
use serde::{Deserialize, Serialize};

/// Longest time objective, in seconds (thirty days).
pub const OBJECTIVE_S_MAX: u64 = 30 * 24 * 3_600;
/// Longest time before an unacknowledged alarm escalates, in seconds (one day).
pub const ESCALATE_AFTER_S_MAX: u64 = 24 * 3_600;
/// Longest time a channel may be down before it is alarmed, in seconds (one day).
pub const CHANNEL_DOWN_AFTER_S_MAX: u64 = 24 * 3_600;
/// Most scheduled-test entries in `parley.toml`.
pub const TESTS_CONFIGURED_MAX: usize = 64;

/// The receipt and understood objectives of one precedence, in seconds from `send`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// The far station must have stored the message within this long.
    pub receipt_s: u64,
    /// An operator there must have answered it within this long.
    pub understood_s: u64,
}

/// `[objectives]`: one table per precedence. Defaults from allied speed of service.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Objectives {
    /// FLASH: 1 min / 10 min.
    pub flash: Objective,
    /// IMMEDIATE: 5 min / 30 min.
    pub immediate: Objective,
    /// PRIORITY: 30 min / 3 h.
    pub priority: Objective,
    /// ROUTINE: 1 h / 6 h.
    pub routine: Objective,
}

impl Default for Objectives {
    fn default() -> Self {
        let objective = |receipt_s, understood_s| Objective {
            receipt_s,
            understood_s,
        };
        Self {
            flash: objective(60, 600),
            immediate: objective(300, 1_800),
            priority: objective(1_800, 3 * 3_600),
            routine: objective(3_600, 6 * 3_600),
        }
    }
}

impl Objectives {
    /// The objectives of `precedence`.
    pub fn of(&self, precedence: Precedence) -> Objective {
        match precedence {
            Precedence::Flash => self.flash,
            Precedence::Immediate => self.immediate,
            Precedence::Priority => self.priority,
            Precedence::Routine => self.routine,
        }
    }

    fn check(&self) -> Result<(), String> {
        for precedence in Precedence::ALL {
            let Objective {
                receipt_s,
                understood_s,
            } = self.of(precedence);
            let name = precedence.name();
            for (field, value) in [("receipt_s", receipt_s), ("understood_s", understood_s)] {
                if !(1..=OBJECTIVE_S_MAX).contains(&value) {
                    return Err(format!(
                        "objectives.{name}.{field} = {value} is outside 1..={OBJECTIVE_S_MAX} seconds"
                    ));
                }
            }
            if receipt_s > understood_s {
                return Err(format!(
                    "objectives.{name}.receipt_s = {receipt_s} is longer than \
                     objectives.{name}.understood_s = {understood_s}: a message is stored \
                     before it can be answered"
                ));
            }
        }
        Ok(())
    }
}

/// `[alarms]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmsConfig {
    /// An alarm nobody acknowledged escalates one level after this long, and again after each
    /// such period, in seconds.
    pub escalate_after_s: u64,
    /// A channel down (or a link with no channel up) this long raises an alarm, in seconds.
    pub channel_down_after_s: u64,
    /// A command run on every alarm raised, escalated or cleared, with the alarm as JSON on its
    /// standard input (absolute path; no shell).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
}

impl Default for AlarmsConfig {
    fn default() -> Self {
        Self {
            escalate_after_s: 300,
            channel_down_after_s: 60,
            hook: None,
        }
    }
}

impl AlarmsConfig {
    fn check(&self) -> Result<(), String> {
        let bounds = [
            (
                "escalate_after_s",
                self.escalate_after_s,
                ESCALATE_AFTER_S_MAX,
            ),
            (
                "channel_down_after_s",
                self.channel_down_after_s,
                CHANNEL_DOWN_AFTER_S_MAX,
            ),
        ];
        for (field, value, max) in bounds {
            if !(1..=max).contains(&value) {
                return Err(format!(
                    "alarms.{field} = {value} is outside 1..={max} seconds"
                ));
            }
        }
        if let Some(hook) = &self.hook
            && !std::path::Path::new(hook).is_absolute()
        {
            return Err(format!(
                "alarms.hook = {hook:?} is not an absolute path to a program"
            ));
        }
        Ok(())
    }
}

/// One `[[tests]]` table: this station's scheduled tests to one peer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TestConfig {
    /// The peer's name.
    pub peer: String,
    /// Fixed UTC times, `HH:MM`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at: Vec<String>,
    /// Or an interval, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_s: Option<u64>,
    /// Who answers: `machine` (the far station, automatically) or `operator`.
    pub answer: TestAnswer,
    /// Within how long, in seconds.
    pub answer_within_s: u64,
}

impl TestConfig {
    /// The schedule this table describes, or what is wrong with it (`at` is the table's
    /// index, for the message).
    pub fn schedule(&self, index: usize) -> Result<TestSchedule, String> {
        let field = |name: &str| format!("tests[{index}].{name}");
        let mut times_min = Vec::new();
        for (i, time) in self.at.iter().enumerate() {
            let minute = parse_utc_time(time).ok_or_else(|| {
                format!(
                    "{} = {time:?} is not a UTC time HH:MM",
                    field(&format!("at[{i}]"))
                )
            })?;
            times_min.push(minute);
        }
        times_min.sort_unstable();
        times_min.dedup();
        if times_min.len() > TEST_TIMES_MAX {
            return Err(format!(
                "{} lists {} times; at most {TEST_TIMES_MAX}",
                field("at"),
                times_min.len()
            ));
        }
        let every_ms = match (self.every_s, times_min.is_empty()) {
            (Some(_), false) => {
                return Err(format!(
                    "tests[{index}] sets both at and every_s; choose one"
                ));
            }
            (None, true) => {
                return Err(format!("tests[{index}] sets neither at nor every_s"));
            }
            (Some(every_s), true) => {
                let every_ms = every_s.saturating_mul(1_000);
                if !(TEST_EVERY_MS_MIN..=TEST_EVERY_MS_MAX).contains(&every_ms) {
                    return Err(format!(
                        "{} = {every_s} is outside {}..={} seconds",
                        field("every_s"),
                        TEST_EVERY_MS_MIN / 1_000,
                        TEST_EVERY_MS_MAX / 1_000
                    ));
                }
                every_ms
            }
            (None, false) => 0,
        };
        let answer_within_ms = self.answer_within_s.saturating_mul(1_000);
        if !(1_000..=TEST_ANSWER_WITHIN_MS_MAX).contains(&answer_within_ms) {
            return Err(format!(
                "{} = {} is outside 1..={} seconds",
                field("answer_within_s"),
                self.answer_within_s,
                TEST_ANSWER_WITHIN_MS_MAX / 1_000
            ));
        }
        Ok(TestSchedule {
            times_min,
            every_ms,
            answer: Some(self.answer),
            answer_within_ms,
        })
    }
}

/// Minutes after midnight of `HH:MM` (24-hour, two digits each).
fn parse_utc_time(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    let two_digits = |part: &str| {
        (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u16>().ok())
            .flatten()
    };
    let (hours, minutes) = (two_digits(hours)?, two_digits(minutes)?);
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

/// Checks the watch's settings: objectives, alarms and every test table.
pub fn check(
    objectives: &Objectives,
    alarms: &AlarmsConfig,
    tests: &[TestConfig],
) -> Result<(), String> {
    objectives.check()?;
    alarms.check()?;
    if tests.len() > TESTS_CONFIGURED_MAX {
        return Err(format!(
            "{} [[tests]] tables; at most {TESTS_CONFIGURED_MAX}",
            tests.len()
        ));
    }
    for (index, test) in tests.iter().enumerate() {
        test.schedule(index)?;
        if tests[..index]
            .iter()
            .any(|earlier| earlier.peer == test.peer)
        {
            return Err(format!(
                "tests[{index}].peer = {:?} has a schedule already; one [[tests]] table per peer",
                test.peer
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(at: &[&str], every_s: Option<u64>, answer_within_s: u64) -> TestConfig {
        TestConfig {
            peer: "Bravo".into(),
            at: at.iter().map(|t| t.to_string()).collect(),
            every_s,
            answer: TestAnswer::Operator,
            answer_within_s,
        }
    }

    #[test]
    fn times_parse_strictly() {
        for (text, expect) in [
            ("00:00", Some(0)),
            ("09:05", Some(545)),
            ("23:59", Some(1_439)),
            ("24:00", None),
            ("9:05", None),
            ("09:60", None),
            ("09-05", None),
            ("+9:05", None),
            ("", None),
        ] {
            assert_eq!(parse_utc_time(text), expect, "{text:?}");
        }
    }

    #[test]
    fn every_value_is_checked_with_its_field_named() {
        let objectives = Objectives::default();
        let alarms = AlarmsConfig::default();
        assert_eq!(check(&objectives, &alarms, &[]), Ok(()));
        let mut zero = objectives.clone();
        zero.flash.receipt_s = 0;
        assert!(
            check(&zero, &alarms, &[])
                .unwrap_err()
                .contains("objectives.flash.receipt_s = 0")
        );
        let mut longest = objectives.clone();
        longest.routine.understood_s = OBJECTIVE_S_MAX;
        longest.routine.receipt_s = OBJECTIVE_S_MAX;
        assert_eq!(check(&longest, &alarms, &[]), Ok(()));
        longest.routine.understood_s = OBJECTIVE_S_MAX + 1;
        assert!(
            check(&longest, &alarms, &[])
                .unwrap_err()
                .contains("objectives.routine.understood_s")
        );
        let mut inverted = objectives.clone();
        inverted.immediate.receipt_s = 1_801;
        assert!(
            check(&inverted, &alarms, &[])
                .unwrap_err()
                .contains("objectives.immediate.receipt_s = 1801 is longer")
        );
        let mut hook = alarms.clone();
        hook.hook = Some("relative/hook".into());
        assert!(
            check(&objectives, &hook, &[])
                .unwrap_err()
                .contains("alarms.hook")
        );
        let mut escalate = alarms.clone();
        escalate.escalate_after_s = 0;
        assert!(
            check(&objectives, &escalate, &[])
                .unwrap_err()
                .contains("alarms.escalate_after_s = 0")
        );
        for (tests, expect) in [
            (vec![test(&["17:00", "09:00"], None, 600)], None),
            (vec![test(&[], Some(1), 1)], None),
            (vec![test(&[], Some(0), 1)], Some("tests[0].every_s = 0")),
            (vec![test(&["09:00"], Some(60), 1)], Some("sets both")),
            (vec![test(&[], None, 1)], Some("sets neither")),
            (
                vec![test(&["25:00"], None, 1)],
                Some("tests[0].at[0] = \"25:00\""),
            ),
            (
                vec![test(&[], Some(60), 0)],
                Some("tests[0].answer_within_s = 0"),
            ),
            (vec![test(&[], Some(60), 86_400)], None),
            (
                vec![test(&[], Some(60), 86_401)],
                Some("tests[0].answer_within_s"),
            ),
            (
                vec![test(&[], Some(60), 1), test(&[], Some(60), 1)],
                Some("tests[1].peer"),
            ),
        ] {
            match (check(&objectives, &alarms, &tests), expect) {
                (Ok(()), None) => {}
                (Err(error), Some(expect)) => assert!(error.contains(expect), "{error}"),
                (outcome, _) => panic!("{tests:?}: {outcome:?}, expected {expect:?}"),
            }
        }
        let sorted = test(&["17:00", "09:00", "09:00"], None, 600)
            .schedule(0)
            .unwrap();
        assert_eq!(sorted.times_min, vec![540, 1_020]);
    }
}
