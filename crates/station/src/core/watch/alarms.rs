//! The alarms of a station in memory: every alarm not yet cleared, indexed by its condition
//! (kind, peer, subject) so a condition is alarmed at most once at a time. Each change comes
//! out as an [`AlarmUpdate`]: the store op that makes it durable and what to announce.

use std::collections::BTreeMap;

use parley_proto::StationId;
use parley_store::{Acknowledgement, AdminOp, AlarmChange, AlarmKind, AlarmRow};

/// Highest level an alarm escalates to.
pub const ALARM_LEVEL_MAX: u32 = 3;

/// What happened to an alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmEvent {
    /// Raised.
    Raised,
    /// Not acknowledged in time: one level up.
    Escalated,
    /// An operator acknowledged it.
    Acknowledged,
    /// Its condition ended.
    Cleared,
}

impl AlarmEvent {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            AlarmEvent::Raised => "raised",
            AlarmEvent::Escalated => "escalated",
            AlarmEvent::Acknowledged => "acknowledged",
            AlarmEvent::Cleared => "cleared",
        }
    }
}

/// One change to an alarm: the op that stores it, and the alarm as it now is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmUpdate {
    /// What happened.
    pub event: AlarmEvent,
    /// The store op.
    pub op: AdminOp,
    /// The alarm after the change.
    pub alarm: AlarmRow,
}

/// Why an acknowledgement was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AcknowledgeError {
    /// No alarm has the id.
    #[error("there is no alarm {0}; nothing was changed; `parley alarms --all` lists them")]
    Unknown(u64),
    /// The alarm's condition ended already.
    #[error("alarm {0} is cleared already; nothing was changed")]
    Cleared(u64),
    /// Acknowledged already.
    #[error("alarm {id} was acknowledged already by {by}; nothing was changed")]
    Already {
        /// The alarm.
        id: u64,
        /// Who acknowledged it.
        by: String,
    },
}

type Condition = (AlarmKind, StationId, String);

/// The alarms not yet cleared.
pub struct AlarmBook {
    open: BTreeMap<u64, AlarmRow>,
    by_condition: BTreeMap<Condition, u64>,
    /// The highest id used so far.
    id_max: u64,
    escalate_after_ms: u64,
}

impl AlarmBook {
    /// The book holding `open` (alarms not cleared, as stored), with ids used up to `id_max`.
    pub fn new(open: Vec<AlarmRow>, id_max: u64, escalate_after_ms: u64) -> Self {
        let mut book = Self {
            open: BTreeMap::new(),
            by_condition: BTreeMap::new(),
            id_max,
            escalate_after_ms,
        };
        for alarm in open {
            book.insert(alarm);
        }
        book
    }

    fn insert(&mut self, alarm: AlarmRow) {
        let condition = (alarm.kind, alarm.peer, alarm.subject.clone());
        self.by_condition.insert(condition, alarm.id);
        self.id_max = self.id_max.max(alarm.id);
        self.open.insert(alarm.id, alarm);
    }

    /// Raises an alarm for the condition, unless one is open for it already.
    pub fn raise(
        &mut self,
        now_ms: u64,
        (kind, peer, subject): Condition,
        detail: String,
    ) -> Option<AlarmUpdate> {
        if self
            .by_condition
            .contains_key(&(kind, peer, subject.clone()))
        {
            return None;
        }
        let alarm = AlarmRow {
            id: self.id_max + 1,
            kind,
            peer,
            subject,
            detail,
            level: 1,
            raised_ms: now_ms,
            escalated_ms: None,
            acknowledged: None,
            cleared_ms: None,
        };
        self.insert(alarm.clone());
        Some(AlarmUpdate {
            event: AlarmEvent::Raised,
            op: AdminOp::RaiseAlarm(alarm.clone()),
            alarm,
        })
    }

    /// Clears the condition's alarm, if one is open.
    pub fn clear(&mut self, now_ms: u64, condition: &Condition) -> Option<AlarmUpdate> {
        let id = self.by_condition.remove(condition)?;
        let mut alarm = self.open.remove(&id).expect("the index names open alarms");
        alarm.cleared_ms = Some(now_ms.max(alarm.raised_ms));
        Some(AlarmUpdate {
            event: AlarmEvent::Cleared,
            op: AdminOp::ChangeAlarm {
                id,
                change: AlarmChange::Clear {
                    at_ms: alarm.cleared_ms.expect("just set"),
                },
            },
            alarm,
        })
    }

    /// Clears every open alarm of `kind` for `peer`, whatever its subject.
    pub fn clear_kind(
        &mut self,
        now_ms: u64,
        kind: AlarmKind,
        peer: StationId,
    ) -> Vec<AlarmUpdate> {
        let conditions: Vec<Condition> = self
            .by_condition
            .keys()
            .filter(|(k, p, _)| *k == kind && *p == peer)
            .cloned()
            .collect();
        conditions
            .iter()
            .filter_map(|condition| self.clear(now_ms, condition))
            .collect()
    }

    /// An operator acknowledges alarm `id`.
    pub fn acknowledge(
        &mut self,
        now_ms: u64,
        id: u64,
        by: String,
        note: Option<String>,
    ) -> Result<AlarmUpdate, AcknowledgeError> {
        let Some(alarm) = self.open.get_mut(&id) else {
            return Err(if (1..=self.id_max).contains(&id) {
                AcknowledgeError::Cleared(id)
            } else {
                AcknowledgeError::Unknown(id)
            });
        };
        if let Some(ack) = &alarm.acknowledged {
            return Err(AcknowledgeError::Already {
                id,
                by: ack.by.clone(),
            });
        }
        let ack = Acknowledgement {
            at_ms: now_ms.max(alarm.raised_ms),
            by,
            note,
        };
        alarm.acknowledged = Some(ack.clone());
        Ok(AlarmUpdate {
            event: AlarmEvent::Acknowledged,
            op: AdminOp::ChangeAlarm {
                id,
                change: AlarmChange::Acknowledge(ack),
            },
            alarm: alarm.clone(),
        })
    }

    /// When an unacknowledged alarm next escalates.
    fn escalation_due_ms(&self, alarm: &AlarmRow) -> Option<u64> {
        (alarm.acknowledged.is_none() && alarm.level < ALARM_LEVEL_MAX)
            .then(|| alarm.escalated_ms.unwrap_or(alarm.raised_ms) + self.escalate_after_ms)
    }

    /// Escalates every alarm due at `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> Vec<AlarmUpdate> {
        let due: Vec<u64> = self
            .open
            .values()
            .filter(|alarm| {
                self.escalation_due_ms(alarm)
                    .is_some_and(|due| due <= now_ms)
            })
            .map(|alarm| alarm.id)
            .collect();
        due.into_iter()
            .map(|id| {
                let alarm = self.open.get_mut(&id).expect("listed from the open alarms");
                alarm.level += 1;
                alarm.escalated_ms = Some(now_ms);
                AlarmUpdate {
                    event: AlarmEvent::Escalated,
                    op: AdminOp::ChangeAlarm {
                        id,
                        change: AlarmChange::Escalate {
                            level: alarm.level,
                            at_ms: now_ms,
                        },
                    },
                    alarm: alarm.clone(),
                }
            })
            .collect()
    }

    /// When the next escalation is due.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.open
            .values()
            .filter_map(|alarm| self.escalation_due_ms(alarm))
            .min()
    }

    /// Every alarm not cleared, newest first.
    pub fn open(&self) -> impl Iterator<Item = &AlarmRow> {
        self.open.values().rev()
    }

    /// The number of the alarm open for `condition`, if one is.
    pub fn id_of(&self, condition: &Condition) -> Option<u64> {
        self.by_condition.get(condition).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: StationId = StationId([7; 32]);

    fn condition(subject: &str) -> Condition {
        (AlarmKind::UnderstoodOverdue, PEER, subject.to_owned())
    }

    #[test]
    fn a_condition_is_alarmed_once_at_a_time() {
        let mut book = AlarmBook::new(Vec::new(), 4, 1_000);
        let raised = book.raise(10, condition("a"), "late".into()).unwrap();
        assert_eq!((raised.alarm.id, raised.alarm.level), (5, 1));
        assert!(book.raise(11, condition("a"), "late".into()).is_none());
        assert_eq!(
            book.raise(12, condition("b"), "late".into())
                .unwrap()
                .alarm
                .id,
            6
        );
        let cleared = book.clear(20, &condition("a")).unwrap();
        assert_eq!(cleared.alarm.cleared_ms, Some(20));
        assert!(book.clear(21, &condition("a")).is_none());
        assert_eq!(
            book.raise(30, condition("a"), "again".into())
                .unwrap()
                .alarm
                .id,
            7
        );
        assert_eq!(
            book.clear_kind(40, AlarmKind::UnderstoodOverdue, PEER)
                .len(),
            2
        );
        assert_eq!(book.open().count(), 0);
    }

    #[test]
    fn unacknowledged_alarms_escalate_each_period_up_to_the_top_level() {
        let mut book = AlarmBook::new(Vec::new(), 0, 1_000);
        book.raise(0, condition("a"), "late".into());
        assert_eq!(book.next_due_ms(), Some(1_000));
        assert!(book.tick(999).is_empty());
        assert_eq!(book.tick(1_000)[0].alarm.level, 2);
        assert_eq!(book.next_due_ms(), Some(2_000));
        assert_eq!(book.tick(2_500)[0].alarm.level, ALARM_LEVEL_MAX);
        assert_eq!(book.next_due_ms(), None, "the top level stays");
        assert!(book.tick(10_000).is_empty());
        book.raise(0, condition("b"), "late".into());
        book.acknowledge(500, 2, "Ana".into(), None).unwrap();
        assert!(
            book.tick(5_000).is_empty(),
            "an acknowledged alarm does not escalate"
        );
    }

    #[test]
    fn acknowledgements_are_refused_for_unknown_cleared_and_acknowledged_alarms() {
        let mut book = AlarmBook::new(Vec::new(), 0, 1_000);
        book.raise(0, condition("a"), "late".into());
        book.raise(0, condition("b"), "late".into());
        book.clear(1, &condition("b"));
        assert_eq!(
            book.acknowledge(2, 3, "Ana".into(), None),
            Err(AcknowledgeError::Unknown(3))
        );
        assert_eq!(
            book.acknowledge(2, 2, "Ana".into(), None),
            Err(AcknowledgeError::Cleared(2))
        );
        let ack = book
            .acknowledge(2, 1, "Ana".into(), Some("on it".into()))
            .unwrap();
        assert_eq!(
            ack.alarm.acknowledged.unwrap().note.as_deref(),
            Some("on it")
        );
        assert_eq!(
            book.acknowledge(3, 1, "Ben".into(), None),
            Err(AcknowledgeError::Already {
                id: 1,
                by: "Ana".into()
            })
        );
    }
}
