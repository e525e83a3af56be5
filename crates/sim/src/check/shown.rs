//! Both stations show every message alike: what the sender's `outbox` shows of each message
//! is what the receiver's `inbox` shows (its text, a coded message rendered from its
//! codebook and valid, its cancellation), read from each store by the production displays.

use parley_station::api::records::{inbox, outbox};

use crate::world::{NAMES, Outcome, World};

/// Station `i`'s messages to `j`, as each shows them.
pub(super) fn shown_alike(world: &World, (i, j): (usize, usize)) -> Outcome {
    let (sender, receiver) = (&world.stations[i], &world.stations[j]);
    let arrow = format!("{}->{}", NAMES[i], NAMES[j]);
    let sent = outbox(&sender.store, &sender.config().objectives, "en")
        .map_err(|e| format!("{arrow}: outbox: {e}"))?;
    let received = inbox(&receiver.store, &receiver.config().objectives, "en", false)
        .map_err(|e| format!("{arrow}: inbox: {e}"))?;
    let sent = sent.iter().filter(|item| item.to == NAMES[j]);
    let received: Vec<_> = received
        .iter()
        .filter(|item| item.from == NAMES[i])
        .collect();
    for item in sent {
        let Some(came) = received.iter().find(|came| came.id == item.id) else {
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
