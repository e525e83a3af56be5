//! What the watch holds and hands out: the messages and tests it knows, their answers, the
//! entries it asks the core to append, and its warnings.

use parley_proto::{Body, EntryId, Objective, Precedence, StationId, TestAnswer};

/// What kind of thing awaits an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaited {
    /// A message.
    Message,
    /// A test, answered by the far station itself or by its operator.
    Test(TestAnswer),
}

/// How a message or test was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Understood, or a question back.
    pub understood: bool,
    /// Who answered (empty: the station itself).
    pub operator: String,
    /// When, by the answering station's clock, UTC ms.
    pub time_ms: u64,
    /// The answer's seq in its author's log: of two answers, the lower counts, as the record
    /// (read in seq order) shows it.
    pub seq: u64,
}

/// A message or test of either side, as needed to resolve ids and refuse answering twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    /// The link.
    pub peer: StationId,
    /// Whether this station wrote it.
    pub own: bool,
    /// Its seq in its author's log.
    pub seq: u64,
    /// A message or a test.
    pub awaited: Awaited,
    /// Its precedence.
    pub precedence: Precedence,
    /// When it was written, UTC ms.
    pub time_ms: u64,
    /// The answer, once there is one.
    pub answer: Option<Answer>,
    /// Whether its author withdrew it.
    pub cancelled: bool,
}

/// Something the core must append to a link's log on the watch's behalf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Append {
    /// The link.
    pub peer: StationId,
    /// The entry's precedence.
    pub precedence: Precedence,
    /// What it says.
    pub body: Body,
}

/// Half of a deadline has passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The link.
    pub peer: StationId,
    /// The message or test.
    pub id: EntryId,
    /// Which objective.
    pub objective: Objective,
    /// Whether this station sent it (else it must answer it).
    pub own: bool,
    /// When it is due, UTC ms.
    pub due_ms: u64,
}
