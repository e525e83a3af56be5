//! Alarms as the store keeps them: one row per alarm, written when it is raised and changed
//! as it is escalated, acknowledged and cleared; never deleted. A condition (kind, peer,
//! subject) is open at most once at a time.

use parley_proto::StationId;
use rusqlite::{Connection, params};

use crate::convert::{from_sql, station_id, to_sql};
use crate::error::{SqlContext, StoreError};
use crate::read::query;

/// What an alarm is about: a closed set, named once for the store, logs and JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlarmKind {
    /// An own message or test not receipted by its deadline.
    ReceiptOverdue,
    /// A message not answered (understood or clarify) by its deadline, on either side.
    UnderstoodOverdue,
    /// An own test not answered in time.
    TestMissed,
    /// A test the peer's schedule announced did not arrive.
    ExpectedTestNotReceived,
    /// A channel has been down for longer than allowed.
    ChannelDown,
    /// No channel of a link has been up for longer than allowed.
    LinkDown,
    /// A relay refuses to store deposits for the peer.
    RelayRefusingDeposits,
    /// The peer signed two different entries for one seq.
    Equivocation,
    /// An entry of the peer does not continue its chain.
    Fork,
    /// A receipt of the peer names entries never written, or another head.
    BadReceipt,
    /// The peer's clock is further ahead than allowed.
    ClockSkew,
    /// A signed checkpoint disagrees with the log it is of (another root at a size held, a
    /// signature that does not verify): the signer showed two histories.
    SplitView,
    /// The peer seals its entries to an epoch key this station does not hold (erased, or
    /// never held): they cannot be read.
    UnknownEpochKey,
    /// The peer sent more than this station takes from one peer (`[intake]`): its further
    /// entries wait with it.
    OverIntake,
}

impl AlarmKind {
    /// Every kind.
    pub const ALL: [AlarmKind; 14] = [
        AlarmKind::ReceiptOverdue,
        AlarmKind::UnderstoodOverdue,
        AlarmKind::TestMissed,
        AlarmKind::ExpectedTestNotReceived,
        AlarmKind::ChannelDown,
        AlarmKind::LinkDown,
        AlarmKind::RelayRefusingDeposits,
        AlarmKind::Equivocation,
        AlarmKind::Fork,
        AlarmKind::BadReceipt,
        AlarmKind::ClockSkew,
        AlarmKind::SplitView,
        AlarmKind::UnknownEpochKey,
        AlarmKind::OverIntake,
    ];

    /// The stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            AlarmKind::ReceiptOverdue => "receipt_overdue",
            AlarmKind::UnderstoodOverdue => "understood_overdue",
            AlarmKind::TestMissed => "test_missed",
            AlarmKind::ExpectedTestNotReceived => "expected_test_not_received",
            AlarmKind::ChannelDown => "channel_down",
            AlarmKind::LinkDown => "link_down",
            AlarmKind::RelayRefusingDeposits => "relay_refusing_deposits",
            AlarmKind::Equivocation => "equivocation",
            AlarmKind::Fork => "fork",
            AlarmKind::BadReceipt => "bad_receipt",
            AlarmKind::ClockSkew => "clock_skew",
            AlarmKind::SplitView => "split_view",
            AlarmKind::UnknownEpochKey => "unknown_epoch_key",
            AlarmKind::OverIntake => "over_intake",
        }
    }

    /// The kind with this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

parley_proto::serde_by_name!(AlarmKind, "alarm kind", "see docs/cli.md for the kinds");

impl std::fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One alarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmRow {
    /// Its number, from 1, chosen by the station (ids only grow).
    pub id: u64,
    /// What it is about.
    pub kind: AlarmKind,
    /// The peer concerned.
    pub peer: StationId,
    /// Which instance of the condition: a message id, a channel, a due time.
    pub subject: String,
    /// A human account.
    pub detail: String,
    /// 1 when raised; one more at each escalation.
    pub level: u32,
    /// When it was raised, UTC ms.
    pub raised_ms: u64,
    /// When it last escalated, UTC ms.
    pub escalated_ms: Option<u64>,
    /// Who acknowledged it, when, and with what note.
    pub acknowledged: Option<Acknowledgement>,
    /// When its condition ended, UTC ms.
    pub cleared_ms: Option<u64>,
}

/// The rank of a cleared alarm's last change ([`AlarmRow::change_rank`]): above every level.
pub const CLEARED_RANK: u32 = u32::MAX;

/// The rank of an alarm's last change, in SQL over its row: as [`AlarmRow::change_rank`].
const CHANGE_RANK_SQL: &str = "CASE WHEN cleared_ms IS NULL THEN level ELSE 4294967295 END";

/// How far an alarm's life has gone, as the alarm hook is told of it: its `level` while it
/// is not `cleared` (1 raised, 2 and up escalated), [`CLEARED_RANK`] once cleared. Each change
/// the hook runs for ranks above the one before; an acknowledgement ranks none.
/// `CHANGE_RANK_SQL` says the same in SQL (tested alike).
pub fn change_rank(level: u32, cleared: bool) -> u32 {
    if cleared { CLEARED_RANK } else { level }
}

impl AlarmRow {
    /// How far the alarm's life has gone: [`change_rank`].
    pub fn change_rank(&self) -> u32 {
        change_rank(self.level, self.cleared_ms.is_some())
    }
}

/// An operator's acknowledgement of an alarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acknowledgement {
    /// When, UTC ms.
    pub at_ms: u64,
    /// The operator.
    pub by: String,
    /// Their note, if any.
    pub note: Option<String>,
}

/// A change to a raised alarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlarmChange {
    /// Not acknowledged in time: one level up.
    Escalate {
        /// The new level.
        level: u32,
        /// When, UTC ms.
        at_ms: u64,
    },
    /// An operator acknowledged it.
    Acknowledge(Acknowledgement),
    /// Its condition ended.
    Clear {
        /// When, UTC ms.
        at_ms: u64,
    },
}

fn optional_ms(ms: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    ms.map(|ms| to_sql(ms, what)).transpose()
}

pub(crate) fn insert(tx: &Connection, alarm: &AlarmRow) -> Result<(), StoreError> {
    let id = to_sql(alarm.id, "an alarm id")?;
    let raised_ms = to_sql(alarm.raised_ms, "an alarm's time")?;
    let escalated_ms = optional_ms(alarm.escalated_ms, "an escalation time")?;
    let cleared_ms = optional_ms(alarm.cleared_ms, "a clearing time")?;
    let ack = alarm.acknowledged.as_ref();
    let ack_ms = optional_ms(ack.map(|ack| ack.at_ms), "an acknowledgement time")?;
    tx.prepare_cached(
        "INSERT INTO alarms (id, kind, peer, subject, detail, level, raised_ms, escalated_ms, \
         acknowledged_ms, acknowledged_by, note, cleared_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut statement| {
        statement.execute(params![
            id,
            alarm.kind.name(),
            alarm.peer.0,
            alarm.subject,
            alarm.detail,
            alarm.level,
            raised_ms,
            escalated_ms,
            ack_ms,
            ack.map(|ack| ack.by.as_str()),
            ack.and_then(|ack| ack.note.as_deref()),
            cleared_ms,
        ])
    })
    .with_context(|| {
        format!(
            "storing alarm {} ({} for {}); the whole batch was rolled back",
            alarm.id,
            alarm.kind,
            alarm.peer.short()
        )
    })?;
    Ok(())
}

pub(crate) fn change(tx: &Connection, id: u64, change: &AlarmChange) -> Result<(), StoreError> {
    let id_sql = to_sql(id, "an alarm id")?;
    let (sql, at_ms) = match change {
        AlarmChange::Escalate { at_ms, .. } => (
            "UPDATE alarms SET level = ?3, escalated_ms = ?2 WHERE id = ?1 \
             AND cleared_ms IS NULL AND acknowledged_ms IS NULL AND level < ?3",
            at_ms,
        ),
        AlarmChange::Acknowledge(ack) => (
            "UPDATE alarms SET acknowledged_ms = ?2, acknowledged_by = ?3, note = ?4 \
             WHERE id = ?1 AND acknowledged_ms IS NULL",
            &ack.at_ms,
        ),
        AlarmChange::Clear { at_ms } => (
            "UPDATE alarms SET cleared_ms = ?2 WHERE id = ?1 AND cleared_ms IS NULL",
            at_ms,
        ),
    };
    let at_ms = to_sql(*at_ms, "an alarm change's time")?;
    let changed = tx
        .prepare_cached(sql)
        .and_then(|mut statement| match change {
            AlarmChange::Escalate { level, .. } => statement.execute(params![id_sql, at_ms, level]),
            AlarmChange::Acknowledge(ack) => {
                statement.execute(params![id_sql, at_ms, ack.by, ack.note])
            }
            AlarmChange::Clear { .. } => statement.execute(params![id_sql, at_ms]),
        })
        .with_context(|| format!("changing alarm {id}; the whole batch was rolled back"))?;
    if changed != 1 {
        return Err(StoreError::InvalidOp(format!(
            "alarm {id} cannot take {change:?}: it is not stored in a state that allows it"
        )));
    }
    Ok(())
}

/// Records that the alarm hook ran for alarm `id`'s change of rank `rank` (and so for every
/// change before it): the store keeps the highest such rank. Hooks run only for alarms
/// committed, so the alarm is stored; were it not, nothing changes (a record of a page is not
/// worth failing the batch it rides in).
pub(crate) fn hooked(tx: &Connection, id: u64, rank: u32) -> Result<(), StoreError> {
    let id_sql = to_sql(id, "an alarm id")?;
    tx.prepare_cached("UPDATE alarms SET hooked = max(hooked, ?2) WHERE id = ?1")
        .and_then(|mut statement| statement.execute(params![id_sql, rank]))
        .with_context(|| {
            format!("recording alarm {id}'s hook run; the whole batch was rolled back")
        })?;
    Ok(())
}

type RawAlarm = (
    i64,
    String,
    Vec<u8>,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// Alarms, newest first: every one with `all`, else those not cleared.
pub(crate) fn read(connection: &Connection, all: bool) -> Result<Vec<AlarmRow>, StoreError> {
    let filter = if all { "" } else { " WHERE cleared_ms IS NULL" };
    read_where(connection, &format!("{filter} ORDER BY id DESC"))
}

/// The alarms whose last change the hook has not run for, newest first.
pub(crate) fn unhooked(connection: &Connection) -> Result<Vec<AlarmRow>, StoreError> {
    read_where(
        connection,
        &format!(" WHERE hooked < {CHANGE_RANK_SQL} ORDER BY id DESC"),
    )
}

/// The alarms that `tail` (a `WHERE` clause, an order, a limit) selects.
fn read_where(connection: &Connection, tail: &str) -> Result<Vec<AlarmRow>, StoreError> {
    const COLUMNS: &str = "SELECT id, kind, peer, subject, detail, level, raised_ms, \
        escalated_ms, acknowledged_ms, acknowledged_by, note, cleared_ms FROM alarms";
    let sql = format!("{COLUMNS}{tail}");
    query(
        connection,
        &sql,
        [],
        "reading alarms",
        |row| -> rusqlite::Result<RawAlarm> {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
                row.get(9)?,
                row.get(10)?,
                row.get(11)?,
            ))
        },
        decode,
    )
}

fn decode(
    (id, kind, peer, subject, detail, level, raised, escalated, ack_ms, ack_by, note, cleared): RawAlarm,
) -> Result<AlarmRow, StoreError> {
    let what = "an alarm";
    let optional = |ms: Option<i64>| ms.map(|ms| from_sql(ms, what)).transpose();
    let acknowledged = match (ack_ms, ack_by) {
        (Some(at_ms), Some(by)) => Some(Acknowledgement {
            at_ms: from_sql(at_ms, what)?,
            by,
            note,
        }),
        (None, None) => None,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "alarm {id} is half acknowledged"
            )));
        }
    };
    Ok(AlarmRow {
        id: from_sql(id, what)?,
        kind: AlarmKind::parse(&kind).ok_or_else(|| {
            StoreError::Corrupt(format!("alarm {id} has the unknown kind {kind:?}"))
        })?,
        peer: station_id(peer, what)?,
        subject,
        detail,
        level: u32::try_from(level)
            .ok()
            .filter(|level| *level >= 1)
            .ok_or_else(|| StoreError::Corrupt(format!("alarm {id} has level {level}")))?,
        raised_ms: from_sql(raised, what)?,
        escalated_ms: optional(escalated)?,
        acknowledged,
        cleared_ms: optional(cleared)?,
    })
}

pub(crate) fn id_max(connection: &Connection) -> Result<u64, StoreError> {
    let max: Option<i64> = connection
        .query_row("SELECT max(id) FROM alarms", [], |row| row.get(0))
        .context("reading the last alarm id")?;
    max.map_or(Ok(0), |max| from_sql(max, "an alarm id"))
}
