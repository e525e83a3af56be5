//! Deposit slots: at most [`DEPOSITS_IN_FLIGHT_MAX`] deposit bodies are read and processed at
//! once, which bounds their memory. A deposit takes a slot only after its request was
//! authenticated, so a client that cannot sign as an admitted station never holds one; and a
//! station holds at most [`DEPOSITS_IN_FLIGHT_PER_STATION_MAX`]. Stations that misbehaved
//! recently (suspects: a body too slow, malformed or not the signed one, frames refused) share
//! [`DEPOSITS_IN_FLIGHT_SUSPECT_MAX`] slots among them; the rest are kept for the others.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use parley_proto::StationId;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::limits::{
    DEPOSIT_SLOT_WAIT_MS_MAX, DEPOSITS_IN_FLIGHT_MAX, DEPOSITS_IN_FLIGHT_PER_STATION_MAX,
    DEPOSITS_IN_FLIGHT_SUSPECT_MAX, FETCHES_IN_FLIGHT_PER_STATION_MAX, SUSPECT_MS,
    SUSPECT_STATIONS_MAX,
};

/// Which slots a deposit may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pool {
    /// The slots kept for stations that did not misbehave recently.
    General,
    /// The few slots suspects share.
    Suspect,
}

/// Why a deposit got no slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoSlot {
    /// The station already holds its most slots.
    StationBusy,
    /// Every slot of its pool stayed taken for [`DEPOSIT_SLOT_WAIT_MS_MAX`].
    RelayBusy,
}

/// Slots held per station; a station with none has no entry.
#[derive(Debug, Default)]
struct Held(BTreeMap<StationId, usize>);

impl Held {
    /// Counts a slot for `station`, unless it already holds `max`.
    fn take(&mut self, station: &StationId, max: usize) -> bool {
        let held = self.0.entry(*station).or_default();
        if *held >= max {
            return false;
        }
        *held += 1;
        true
    }

    /// Gives back a slot of `station`'s.
    fn release(&mut self, station: &StationId) {
        if let Some(held) = self.0.get_mut(station) {
            *held -= 1;
            if *held == 0 {
                self.0.remove(station);
            }
        }
    }
}

/// Who holds slots and who is a suspect. Free of I/O: time is passed in.
#[derive(Debug, Default)]
pub(crate) struct SlotBook {
    /// Slots held (or being waited for) per station.
    held: Held,
    /// Suspects, with the time (ms of the relay's monotonic clock) their confinement ends.
    suspects: BTreeMap<StationId, u64>,
}

impl SlotBook {
    /// Counts a slot for `station` and says which pool it must come from, or refuses if the
    /// station already holds its most.
    pub(crate) fn reserve(&mut self, station: &StationId, now_ms: u64) -> Result<Pool, NoSlot> {
        if !self.held.take(station, DEPOSITS_IN_FLIGHT_PER_STATION_MAX) {
            return Err(NoSlot::StationBusy);
        }
        Ok(if self.is_suspect(station, now_ms) {
            Pool::Suspect
        } else {
            Pool::General
        })
    }

    /// Gives back a slot of `station`'s.
    pub(crate) fn release(&mut self, station: &StationId) {
        self.held.release(station);
    }

    /// Whether `station` is confined to the suspects' slots at `now_ms`.
    pub(crate) fn is_suspect(&self, station: &StationId, now_ms: u64) -> bool {
        self.suspects
            .get(station)
            .is_some_and(|until_ms| now_ms < *until_ms)
    }

    /// Confines `station` to the suspects' slots for [`SUSPECT_MS`] from `now_ms`. At most
    /// [`SUSPECT_STATIONS_MAX`] are remembered: the ones whose confinement ended go first, then
    /// the one ending soonest.
    pub(crate) fn mark_suspect(&mut self, station: &StationId, now_ms: u64) {
        if self.suspects.len() >= SUSPECT_STATIONS_MAX && !self.suspects.contains_key(station) {
            self.suspects.retain(|_, until_ms| now_ms < *until_ms);
            if self.suspects.len() >= SUSPECT_STATIONS_MAX {
                let soonest = self
                    .suspects
                    .iter()
                    .min_by_key(|(_, until_ms)| **until_ms)
                    .map(|(station, _)| *station);
                if let Some(soonest) = soonest {
                    self.suspects.remove(&soonest);
                }
            }
        }
        self.suspects
            .insert(*station, now_ms.saturating_add(SUSPECT_MS));
    }

    /// Suspects remembered.
    #[cfg(test)]
    pub(crate) fn suspects(&self) -> usize {
        self.suspects.len()
    }
}

/// The relay's deposit slots.
#[derive(Debug)]
pub(crate) struct DepositSlots {
    book: Mutex<SlotBook>,
    general: Semaphore,
    suspect: Semaphore,
}

/// A slot held; given back when dropped.
pub(crate) struct DepositSlot<'a> {
    _reserved: Reserved<'a>,
    _permit: SemaphorePermit<'a>,
}

/// A slot counted in the book for a station, held or waited for; given back when dropped,
/// also when the wait for a slot is given up (a request dropped with its connection).
struct Reserved<'a> {
    slots: &'a DepositSlots,
    station: StationId,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.slots.book().release(&self.station);
    }
}

impl DepositSlots {
    pub(crate) fn new() -> Self {
        Self {
            book: Mutex::default(),
            general: Semaphore::new(DEPOSITS_IN_FLIGHT_MAX - DEPOSITS_IN_FLIGHT_SUSPECT_MAX),
            suspect: Semaphore::new(DEPOSITS_IN_FLIGHT_SUSPECT_MAX),
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, SlotBook> {
        // The book's updates cannot panic halfway, so a poisoned lock holds a consistent book.
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot for an authenticated deposit by `station`, waiting up to
    /// [`DEPOSIT_SLOT_WAIT_MS_MAX`] for one of its pool.
    pub(crate) async fn acquire(
        &self,
        station: StationId,
        now_ms: u64,
    ) -> Result<DepositSlot<'_>, NoSlot> {
        let wait = Duration::from_millis(DEPOSIT_SLOT_WAIT_MS_MAX);
        self.acquire_within(station, now_ms, wait).await
    }

    async fn acquire_within(
        &self,
        station: StationId,
        now_ms: u64,
        wait: Duration,
    ) -> Result<DepositSlot<'_>, NoSlot> {
        let pool = self.book().reserve(&station, now_ms)?;
        let reserved = Reserved {
            slots: self,
            station,
        };
        let semaphore = match pool {
            Pool::General => &self.general,
            Pool::Suspect => &self.suspect,
        };
        match tokio::time::timeout(wait, semaphore.acquire()).await {
            Ok(Ok(permit)) => Ok(DepositSlot {
                _reserved: reserved,
                _permit: permit,
            }),
            // Timed out, or closed (never: the semaphores are not closed).
            Ok(Err(_)) | Err(_) => Err(NoSlot::RelayBusy),
        }
    }

    /// Confines `station` to the suspects' slots for a while.
    pub(crate) fn mark_suspect(&self, station: &StationId, now_ms: u64) {
        self.book().mark_suspect(station, now_ms);
    }
}

/// Fetches in flight per station. A fetch's answer (up to the fetch bound, 4 MiB) is read,
/// encoded and held in memory, and a fetch does not delete what it answers: without a bound,
/// one station's concurrent fetches of its own full mailbox would each hold a copy. A
/// station's client fetches one at a time per relay.
#[derive(Debug, Default)]
pub(crate) struct FetchSlots(Mutex<Held>);

/// A fetch slot held; given back when dropped (with the answer's body, once it is sent).
pub(crate) struct FetchSlot {
    slots: Arc<FetchSlots>,
    station: StationId,
}

impl Drop for FetchSlot {
    fn drop(&mut self) {
        self.slots.held().release(&self.station);
    }
}

impl FetchSlots {
    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        // Counts cannot be left halfway by a panic: a poisoned lock holds consistent counts.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a fetch by `station`, unless it holds [`FETCHES_IN_FLIGHT_PER_STATION_MAX`].
    pub(crate) fn take(self: &Arc<Self>, station: StationId) -> Option<FetchSlot> {
        let taken = self
            .held()
            .take(&station, FETCHES_IN_FLIGHT_PER_STATION_MAX);
        // Made only when taken: one dropped would give back a slot never counted.
        taken.then(|| FetchSlot {
            slots: self.clone(),
            station,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_proto::Identity;

    fn id(seed: u8) -> StationId {
        Identity::from_secret(&[seed; 32]).id()
    }

    /// A station holds at most its fetch slots; each given back when dropped, and another
    /// station's are its own.
    #[test]
    fn a_station_holds_at_most_its_fetch_slots() {
        let slots = Arc::new(FetchSlots::default());
        let held: Vec<_> = (0..FETCHES_IN_FLIGHT_PER_STATION_MAX)
            .map(|_| slots.take(id(1)).expect("a slot"))
            .collect();
        assert!(slots.take(id(1)).is_none(), "one more is refused");
        assert!(slots.take(id(1)).is_none(), "a refusal gives nothing back");
        let other = slots.take(id(2)).expect("another station's own");
        drop(held);
        assert!(slots.take(id(1)).is_some(), "given back");
        drop(other);
        assert!(slots.held().0.is_empty(), "nothing left counted");
    }

    #[test]
    fn a_station_holds_at_most_its_slots() {
        let mut book = SlotBook::default();
        for _ in 0..DEPOSITS_IN_FLIGHT_PER_STATION_MAX {
            assert_eq!(book.reserve(&id(1), 0), Ok(Pool::General));
        }
        assert_eq!(book.reserve(&id(1), 0), Err(NoSlot::StationBusy));
        assert_eq!(
            book.reserve(&id(2), 0),
            Ok(Pool::General),
            "another station"
        );
        book.release(&id(1));
        assert_eq!(book.reserve(&id(1), 0), Ok(Pool::General), "one given back");
        assert_eq!(book.reserve(&id(1), 0), Err(NoSlot::StationBusy));
        for _ in 0..DEPOSITS_IN_FLIGHT_PER_STATION_MAX {
            book.release(&id(1));
        }
        book.release(&id(2));
        assert!(
            book.held.0.is_empty(),
            "nothing is kept for stations holding none"
        );
        book.release(&id(3));
        assert!(
            book.held.0.is_empty(),
            "releasing what was not held changes nothing"
        );
    }

    #[test]
    fn a_suspect_is_confined_for_its_time_and_no_longer() {
        let mut book = SlotBook::default();
        book.mark_suspect(&id(1), 1_000);
        assert_eq!(book.reserve(&id(1), 1_000), Ok(Pool::Suspect));
        assert_eq!(
            book.reserve(&id(1), 1_000 + SUSPECT_MS - 1),
            Ok(Pool::Suspect)
        );
        book.release(&id(1));
        book.release(&id(1));
        assert_eq!(book.reserve(&id(1), 1_000 + SUSPECT_MS), Ok(Pool::General));
        assert_eq!(book.reserve(&id(2), 1_000), Ok(Pool::General));
    }

    #[test]
    fn suspects_remembered_are_bounded() {
        let mut book = SlotBook::default();
        let station = |n: usize| StationId(parley_proto::id::sha256(&[&n.to_be_bytes()]));
        for n in 0..SUSPECT_STATIONS_MAX {
            book.mark_suspect(&station(n), n as u64);
        }
        assert_eq!(book.suspects(), SUSPECT_STATIONS_MAX);
        // One more: the confinement ending soonest (the first) is forgotten.
        book.mark_suspect(&station(SUSPECT_STATIONS_MAX), 10_000);
        assert_eq!(book.suspects(), SUSPECT_STATIONS_MAX);
        assert!(!book.is_suspect(&station(0), 10_000));
        assert!(book.is_suspect(&station(1), 10_000));
        // Once all have ended, they make room together.
        let later = SUSPECT_MS + 20_000;
        book.mark_suspect(&station(SUSPECT_STATIONS_MAX + 1), later);
        assert_eq!(book.suspects(), 1);
    }

    #[tokio::test]
    async fn slots_are_kept_for_stations_that_did_not_misbehave() {
        let slots = DepositSlots::new();
        let suspects: Vec<StationId> = (0..DEPOSITS_IN_FLIGHT_SUSPECT_MAX as u8 + 2)
            .map(|n| id(100 + n))
            .collect();
        for suspect in &suspects {
            slots.mark_suspect(suspect, 0);
        }
        let mut held = Vec::new();
        for suspect in &suspects[..DEPOSITS_IN_FLIGHT_SUSPECT_MAX] {
            held.push(slots.acquire(*suspect, 0).await.expect("a suspect's slot"));
        }
        // The suspects' slots are all taken: another suspect waits, then is refused.
        let wait = Duration::from_millis(20);
        let refused = slots
            .acquire_within(suspects[DEPOSITS_IN_FLIGHT_SUSPECT_MAX], 0, wait)
            .await;
        assert_eq!(refused.err(), Some(NoSlot::RelayBusy));
        // Every other slot is still free for stations that did not misbehave.
        let general = DEPOSITS_IN_FLIGHT_MAX - DEPOSITS_IN_FLIGHT_SUSPECT_MAX;
        held.extend(take_general_slots(&slots, general).await);
        assert_eq!(held.len(), DEPOSITS_IN_FLIGHT_MAX);
        drop(held);
        assert!(slots.book().held.0.is_empty());
    }

    #[tokio::test]
    async fn a_wait_for_a_slot_given_up_gives_its_place_back() {
        let slots = DepositSlots::new();
        let general = DEPOSITS_IN_FLIGHT_MAX - DEPOSITS_IN_FLIGHT_SUSPECT_MAX;
        let held = take_general_slots(&slots, general).await;
        // The station's waits are dropped before a slot frees (their connections closed),
        // as often as it has places, and more.
        for _ in 0..=DEPOSITS_IN_FLIGHT_PER_STATION_MAX {
            let waiting = slots.acquire_within(id(200), 0, Duration::from_secs(60));
            let gave_up = tokio::time::timeout(Duration::from_millis(10), waiting).await;
            assert!(gave_up.is_err(), "no slot was free");
        }
        assert!(!slots.book().held.0.contains_key(&id(200)));
        drop(held);
        let slot = slots.acquire(id(200), 0).await;
        assert!(slot.is_ok(), "its places were given back");
    }

    /// Takes `count` general slots, one station each.
    async fn take_general_slots(slots: &DepositSlots, count: usize) -> Vec<DepositSlot<'_>> {
        let mut held = Vec::new();
        for n in 0..count {
            held.push(slots.acquire(id(n as u8), 0).await.expect("a general slot"));
        }
        held
    }
}
