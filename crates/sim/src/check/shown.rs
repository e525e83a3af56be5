//! Both stations show every message alike: what the sender's `outbox` shows of each message
//! is what the receiver's `inbox` shows (its text, a coded message rendered from its
//! codebook and valid, its cancellation), read from each store by the production displays.

use std::collections::BTreeMap;

use parley_proto::EntryId;
use parley_station::api::records::{InboxItem, OutboxItem, inbox, outbox};

use crate::world::{NAMES, Outcome, World};

/// What one station's displays show: its outbox, and its inbox by entry id.
pub(super) struct Displays {
    outbox: Vec<OutboxItem>,
    inbox: BTreeMap<EntryId, InboxItem>,
}

/// Reads every station's displays from its store, once.
pub(super) fn displays(world: &World) -> Outcome<Vec<Displays>> {
    (world.stations.iter().enumerate())
        .map(|(i, station)| {
            let objectives = &station.config().objectives;
            let outbox = outbox(&station.store, objectives, "en")
                .map_err(|e| format!("{}: outbox: {e}", NAMES[i]))?;
            let inbox = inbox(&station.store, objectives, "en", false)
                .map_err(|e| format!("{}: inbox: {e}", NAMES[i]))?;
            let inbox = inbox.into_iter().map(|item| (item.id, item)).collect();
            Ok(Displays { outbox, inbox })
        })
        .collect()
}

/// Station `i`'s messages to `j`, as each shows them.
pub(super) fn shown_alike(displays: &[Displays], (i, j): (usize, usize)) -> Outcome {
    let arrow = format!("{}->{}", NAMES[i], NAMES[j]);
    let received = &displays[j].inbox;
    for item in displays[i].outbox.iter().filter(|item| item.to == NAMES[j]) {
        let Some(came) = received.get(&item.id).filter(|came| came.from == NAMES[i]) else {
            return Err(format!("{arrow}: seq {} is not in the inbox", item.seq));
        };
        if let Some(invalid) = item.shown.invalid.as_ref().or(came.shown.invalid.as_ref()) {
            return Err(format!(
                "{arrow}: seq {} shows as invalid: {invalid}",
                item.seq
            ));
        }
        let alike = item.text == came.text
            && item.shown.rendered == came.shown.rendered
            && item.shown.codebook == came.shown.codebook
            && item.cancelled == came.cancelled
            && item.cancelled_by == came.cancelled_by;
        if !alike {
            return Err(format!(
                "{arrow}: seq {} shows otherwise at each end: {:?} {:?} (cancelled {:?}) \
                 against {:?} {:?} (cancelled {:?})",
                item.seq,
                item.text,
                item.shown.codebook,
                item.cancelled,
                came.text,
                came.shown.codebook,
                came.cancelled
            ));
        }
    }
    Ok(())
}
