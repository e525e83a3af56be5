//! The watch's types an entry carries: time objectives, who answers a test, test schedules
//! (docs/formats.md §3.1), and a schedule's decoding.

use ciborium::Value;

use crate::cbor::Fields;
use crate::error::DecodeError;
use crate::limits::{
    TEST_ANSWER_WITHIN_MS_MAX, TEST_EVERY_MS_MAX, TEST_EVERY_MS_MIN, TEST_TIMES_MAX,
};

/// A time objective of an entry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Objective {
    /// The peer's receipt: the entry is on its disk.
    Receipt = 1,
    /// The peer's operator answered a message.
    Understood = 2,
    /// The peer answered a test.
    TestAnswer = 3,
}

impl Objective {
    /// Every objective.
    pub const ALL: [Objective; 3] = [
        Objective::Receipt,
        Objective::Understood,
        Objective::TestAnswer,
    ];

    /// Lower-case name for JSON and displays.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Receipt => "receipt",
            Objective::Understood => "understood",
            Objective::TestAnswer => "test_answer",
        }
    }

    /// From the wire code.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|o| *o as u64 == code)
    }

    /// The objective with this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }
}

crate::serde_by_name!(
    Objective,
    "objective",
    "use receipt, understood or test_answer"
);

/// Who answers a test.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum TestAnswer {
    /// The far station, automatically: tests the system.
    Machine = 1,
    /// The far station's operator: tests that someone is on watch.
    Operator = 2,
}

impl TestAnswer {
    /// Both.
    pub const ALL: [TestAnswer; 2] = [TestAnswer::Machine, TestAnswer::Operator];

    /// Lower-case name, as in configuration and JSON.
    pub fn name(self) -> &'static str {
        match self {
            TestAnswer::Machine => "machine",
            TestAnswer::Operator => "operator",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// From the wire code.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|a| *a as u64 == code)
    }
}

crate::serde_by_name!(TestAnswer, "answer", "use machine or operator");

/// When a station sends tests on a link: at fixed minutes of the UTC day, or every so often.
/// A schedule with neither ends the tests.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TestSchedule {
    /// Minutes after midnight UTC, increasing, each below 1440.
    pub times_min: Vec<u16>,
    /// Interval in milliseconds, from the schedule entry's time; 0 when `times_min` is used.
    pub every_ms: u64,
    /// Who must answer.
    pub answer: Option<TestAnswer>,
    /// Within how long, in milliseconds (0 when there are no tests).
    pub answer_within_ms: u64,
}

impl TestSchedule {
    /// Whether the schedule holds any test.
    pub fn is_empty(&self) -> bool {
        self.times_min.is_empty() && self.every_ms == 0
    }

    /// The first due time strictly after `after_ms` and after `anchor_ms`, when the schedule
    /// began (the interval counts from it; nothing was due before it). `None` for an empty
    /// schedule.
    pub fn next_due_ms(&self, anchor_ms: u64, after_ms: u64) -> Option<u64> {
        const DAY_MS: u64 = 24 * 3_600_000;
        let after_ms = after_ms.max(anchor_ms);
        let since_ms = after_ms.saturating_sub(anchor_ms);
        if let Some(periods) = since_ms.checked_div(self.every_ms) {
            return Some(anchor_ms + (periods + 1) * self.every_ms);
        }
        let day = after_ms / DAY_MS * DAY_MS;
        [day, day + DAY_MS]
            .into_iter()
            .flat_map(|day| {
                self.times_min
                    .iter()
                    .map(move |minute| day + u64::from(*minute) * 60_000)
            })
            .find(|due| *due > after_ms)
    }
}

/// A schedule's fields: increasing minutes of the day or an interval (not both), and an
/// answer and a time to answer exactly when there are tests.
pub(super) fn schedule(fields: &mut Fields) -> Result<TestSchedule, DecodeError> {
    let malformed = |field| DecodeError::Field {
        what: "entry",
        field,
    };
    let mut times_min: Vec<u16> = Vec::new();
    for item in fields.list("body.times", TEST_TIMES_MAX)? {
        let minute = match item {
            Value::Integer(n) => u16::try_from(n).ok(),
            _ => None,
        }
        .filter(|minute| *minute < MINUTES_PER_DAY)
        .ok_or(malformed("body.times"))?;
        if times_min.last().is_some_and(|last| *last >= minute) {
            return Err(malformed("body.times"));
        }
        times_min.push(minute);
    }
    let every_ms = fields.uint("body.every_ms")?;
    let answer = match fields.uint("body.answer")? {
        0 => None,
        code => Some(TestAnswer::from_code(code).ok_or(malformed("body.answer"))?),
    };
    let answer_within_ms = fields.uint("body.answer_within_ms")?;
    let schedule = TestSchedule {
        times_min,
        every_ms,
        answer,
        answer_within_ms,
    };
    let every_valid = every_ms == 0
        || (schedule.times_min.is_empty()
            && (TEST_EVERY_MS_MIN..=TEST_EVERY_MS_MAX).contains(&every_ms));
    if !every_valid {
        return Err(malformed("body.every_ms"));
    }
    let tests_valid = if schedule.is_empty() {
        answer.is_none() && answer_within_ms == 0
    } else {
        answer.is_some() && (1..=TEST_ANSWER_WITHIN_MS_MAX).contains(&answer_within_ms)
    };
    if !tests_valid {
        return Err(malformed("body.answer"));
    }
    Ok(schedule)
}

/// Minutes in a UTC day.
const MINUTES_PER_DAY: u16 = 24 * 60;
