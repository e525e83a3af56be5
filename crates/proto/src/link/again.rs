//! What a store put back to an older copy asks of a link: own entries the peer lost, sealed
//! again; entries this store lost, taken back from a transcript; own entries sealed again to
//! the peer's new epoch key.

use rand_chacha::ChaCha20Rng;

use super::incoming::Arrival;
use super::{ChannelId, Link};
use crate::entry::SignedEntry;
use crate::error::RecoverError;
use crate::id::EntryId;

/// What [`Link::recover`] took back from a transcript.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Own entries appended.
    pub own: u64,
    /// The peer's entries stored.
    pub theirs: u64,
}

impl Link {
    /// Seals again the own entries the peer lost ([`super::Event::Lost`]): `entries` holds each seq
    /// asked for and its signed bytes as stored. They are queued on every channel up, and the
    /// store is told they are outstanding again.
    pub fn reseal(&mut self, now_ms: u64, rng: &mut ChaCha20Rng, entries: &[(u64, Vec<u8>)]) {
        let up: Vec<ChannelId> = self.channels.up().collect();
        self.outgoing.reseal(
            &self.me,
            (self.link_id, self.peer),
            now_ms,
            rng,
            entries,
            &mut self.timers,
            &up,
            &mut self.fx,
        );
    }

    /// Takes back own entries this store lost (`own`, continuing the own log from its end)
    /// and the peer's it lacks (`theirs`, from the contiguous head on), from a transcript
    /// ([`crate::Endpoint::recover`]). They are taken in an order each could have been
    /// written in, so what reads them (a station's watch, an answer and what it answers)
    /// finds each entry's `seen` before it: the peer's next as soon as the own entry it saw
    /// is back. An own entry that does not continue the log refuses them all, nothing
    /// changed; the peer's first that the link would refuse from a channel ends the peer's
    /// (they come again from the peer).
    pub fn recover(
        &mut self,
        now_ms: u64,
        rng: &mut ChaCha20Rng,
        own: Vec<SignedEntry>,
        theirs: Vec<SignedEntry>,
    ) -> Result<Recovered, RecoverError> {
        self.outgoing
            .check_recoverable(&self.me, self.link_id, &own)?;
        let up: Vec<ChannelId> = self.channels.up().collect();
        let mut recovered = Recovered::default();
        let mut own = own.into_iter().peekable();
        let mut theirs = theirs.into_iter().peekable();
        loop {
            // The peer's next waits until the own entry it names as seen is back.
            let seen_here = |entry: &SignedEntry| {
                let seen = entry.entry().seen;
                seen == EntryId::NONE || self.outgoing.wrote(&seen)
            };
            if let Some(entry) = theirs.next_if(seen_here) {
                let outgoing = &self.outgoing;
                let parties = (self.link_id, now_ms);
                let wrote = |id: &EntryId| outgoing.wrote(id);
                match self.incoming.take(parties, entry, wrote, &mut self.fx) {
                    Ok(Arrival::New { key }) => {
                        recovered.theirs += 1;
                        self.adopt_announced(now_ms, key);
                    }
                    Ok(Arrival::Duplicate) => {}
                    Err(_) => theirs = Vec::new().into_iter().peekable(),
                }
                continue;
            }
            let Some(entry) = own.next() else {
                break;
            };
            self.outgoing.recover(
                &self.me,
                (self.link_id, self.peer),
                now_ms,
                rng,
                entry,
                &mut self.timers,
                &up,
                &mut self.fx,
            );
            recovered.own += 1;
        }
        Ok(recovered)
    }

    /// Seals again outstanding own entries sealed to a key of the peer's before the one in use
    /// ([`super::Event::Rekey`]): `entries` holds each seq asked for and its signed bytes as stored
    /// (none: the store could not read them; asked again later).
    pub fn rekey(&mut self, now_ms: u64, rng: &mut ChaCha20Rng, entries: &[(u64, Vec<u8>)]) {
        let parties = (self.link_id, self.peer);
        (self.outgoing).rekey(&self.me, parties, (now_ms, rng), entries, &mut self.fx);
    }
}
