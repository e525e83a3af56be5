//! The invariants checked at quiescence, on the durable state of both stations (what an
//! operator would see after a restart), for each direction of the link.

use parley_proto::{Body, EntryId, LinkId, SignedEntry};

use crate::world::{NAMES, Outcome, World};

/// Checks both directions; the first broken invariant is the failure.
pub(crate) fn final_state(world: &World) -> Outcome {
    (0..2).try_for_each(|i| direction(world, i))
}

/// Station `i` as author, its peer as holder.
fn direction(world: &World, i: usize) -> Outcome {
    let (author, holder) = (&world.stations[i], &world.stations[1 - i]);
    let arrow = format!("{}->{}", NAMES[i], NAMES[1 - i]);
    let author_id = author.identity.id();
    let link = LinkId::between(&author_id, &holder.identity.id());

    // Every send accepted. The log holds them in order, after the key announcement at seq 1,
    // perhaps with retries of sends whose commit was durable but not acknowledged.
    let quota = world.config.messages_per_station;
    if author.accepted.len() != quota {
        return Err(format!(
            "{arrow}: {} of {quota} sends accepted",
            author.accepted.len()
        ));
    }
    let written = author.disk.own.len() as u64;
    if author.disk.own.keys().copied().ne(1..=written) {
        return Err(format!("{arrow}: own log is not seqs 1..={written}"));
    }
    let mut last_seq = 1;
    for accepted in &author.accepted {
        let (seq, stored) = (accepted.seq, author.disk.own.get(&accepted.seq));
        if seq <= last_seq || stored.map(|r| r.entry.id()) != Some(accepted.id) {
            return Err(format!(
                "{arrow}: accepted seq {seq} is not in the own log in order"
            ));
        }
        last_seq = seq;
    }

    // The author's outbox is empty: everything it wrote was receipted.
    let unreceipted: Vec<u64> = author
        .disk
        .own
        .iter()
        .filter(|(_, r)| !r.receipted)
        .map(|(s, _)| *s)
        .collect();
    if !unreceipted.is_empty() {
        return Err(format!("{arrow}: never receipted: seqs {unreceipted:?}"));
    }

    // Both transcripts agree: the holder delivered exactly the author's log, each seq once.
    let own_ids: Vec<EntryId> = author.disk.own.values().map(|r| r.entry.id()).collect();
    let held = holder.disk.peer_entries.len() as u64;
    if holder.disk.in_head != written || held != written || holder.disk.in_ids() != own_ids {
        return Err(format!(
            "{arrow}: transcripts differ: {written} written, {held} held, head {}",
            holder.disk.in_head
        ));
    }
    if holder.disk.delivered_log.iter().copied().ne(1..=written) {
        return Err(format!(
            "{arrow}: delivered log is {:?}",
            holder.disk.delivered_log
        ));
    }

    // Every held entry verifies under the author's pinned key and continues the chain.
    let mut prev = EntryId::NONE;
    for (seq, stored) in &holder.disk.peer_entries {
        let verified = SignedEntry::decode_verified(stored.bytes(), &author_id)
            .map_err(|e| format!("{arrow}: held seq {seq} does not verify: {e}"))?;
        let entry = verified.entry();
        if verified.id() != stored.id()
            || entry.seq != *seq
            || entry.link != link
            || entry.prev != prev
        {
            return Err(format!(
                "{arrow}: held seq {seq} is not the author's entry {seq}"
            ));
        }
        prev = verified.id();
    }

    // Each accepted message arrived as sent: same id, text and precedence.
    for accepted in &author.accepted {
        let seq = accepted.seq;
        let stored = &holder.disk.peer_entries[&seq];
        let same_text =
            matches!(&stored.entry().body, Body::Message { text, .. } if *text == accepted.text);
        if stored.id() != accepted.id
            || !same_text
            || stored.entry().precedence != accepted.precedence
        {
            return Err(format!(
                "{arrow}: seq {seq} held is not the message accepted"
            ));
        }
    }

    // No alarm in an honest run left evidence.
    if !holder.disk.evidence.is_empty() {
        return Err(format!(
            "{arrow}: evidence recorded: {:?}",
            holder.disk.evidence
        ));
    }

    // The live endpoints agree with their disks.
    let (Some(author_ep), Some(holder_ep)) = (&author.endpoint, &holder.endpoint) else {
        return Err(format!("{arrow}: a station is down at quiescence"));
    };
    let out = author_ep.link(&holder.identity.id()).expect("paired");
    let into = holder_ep.link(&author_id).expect("paired");
    if out.out_seq() != written
        || out.outbox_depth() != 0
        || into.in_head() != written
        || into.in_pending() != 0
    {
        return Err(format!("{arrow}: endpoint memory differs from disk"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;

    /// Runs seed 5 to quiescence, breaks its final state with `corrupt`, and expects the final
    /// check to fail with a reason containing `expect`.
    fn check(corrupt: fn(&mut World), expect: &str) {
        let config = SimConfig::default();
        let mut world = World::new(5, &config).expect("pairs");
        world.run().expect("seed 5 passes untouched");
        corrupt(&mut world);
        let reason = final_state(&world).expect_err("the corruption must be caught");
        assert!(
            reason.contains(expect),
            "{reason:?} does not mention {expect:?}"
        );
    }

    #[test]
    fn each_final_invariant_can_fail() {
        check(|w| drop(w.stations[0].accepted.pop()), "sends accepted");
        check(
            |w| w.stations[0].accepted[3].text.push('!'),
            "not the message accepted",
        );
        check(
            |w| drop(w.stations[0].disk.own.remove(&5)),
            "own log is not",
        );
        check(
            |w| w.stations[0].accepted.swap(2, 3),
            "not in the own log in order",
        );
        check(
            |w| {
                w.stations[1]
                    .disk
                    .own
                    .get_mut(&4)
                    .expect("written")
                    .receipted = false
            },
            "never receipted",
        );
        check(
            |w| {
                let disk = &mut w.stations[1].disk;
                disk.peer_entries.pop_last();
                disk.in_head -= 1;
            },
            "transcripts differ",
        );
        check(
            |w| w.stations[1].disk.delivered_log.push(2),
            "delivered log",
        );
        check(
            |w| {
                w.stations[0]
                    .disk
                    .evidence
                    .push((parley_proto::EvidenceKind::Fork, 2))
            },
            "evidence recorded",
        );
        // B's key announcement put in place of A's on both sides: the logs agree, the
        // signature does not.
        check(
            |w| {
                let forged = w.stations[1].disk.own[&1].entry.clone();
                w.stations[0].disk.own.get_mut(&1).expect("written").entry = forged.clone();
                w.stations[1].disk.peer_entries.insert(1, forged);
            },
            "does not verify",
        );
    }
}
