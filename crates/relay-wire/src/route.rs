//! The frame-routing check a relay makes on every deposited frame: its signature verifies
//! under the key of the station it names as sender, that station is the one making the
//! request, and it is addressed to the mailbox it is deposited in. A relay stores nothing
//! else, and never needs a key that opens anything.

use parley_proto::StationId;
use parley_proto::envelope::Envelope;
use parley_proto::frame::Frame;
use parley_proto::receipt::Receipt;

/// Checks one frame of a deposit from `requester` into `recipient`'s mailbox; the error says
/// why the frame may not be stored there.
pub fn check_frame(
    frame: &[u8],
    requester: &StationId,
    recipient: &StationId,
) -> Result<(), String> {
    match Frame::parse(frame).map_err(|rejection| rejection.to_string())? {
        Frame::Envelope(raw) => {
            let envelope = Envelope::peek(raw)
                .and_then(|unverified| unverified.check_signature())
                .map_err(|error| error.to_string())?;
            check_parties(
                "envelope",
                (&envelope.from, &envelope.to),
                requester,
                recipient,
            )
        }
        Frame::Receipt(raw) => {
            let signer = Receipt::peek_from(raw).map_err(|error| error.to_string())?;
            if signer != *requester {
                return Err(sender_mismatch("receipt", &signer, requester));
            }
            let receipt =
                Receipt::decode_verified(raw, requester).map_err(|error| error.to_string())?;
            check_parties(
                "receipt",
                (&receipt.from, &receipt.to),
                requester,
                recipient,
            )
        }
    }
}

fn sender_mismatch(what: &str, from: &StationId, requester: &StationId) -> String {
    format!(
        "{what} is from station {}, not from the requesting station {}",
        from.key_fingerprint(),
        requester.key_fingerprint()
    )
}

fn check_parties(
    what: &str,
    (from, to): (&StationId, &StationId),
    requester: &StationId,
    recipient: &StationId,
) -> Result<(), String> {
    if from != requester {
        return Err(sender_mismatch(what, from, requester));
    }
    if to != recipient {
        return Err(format!(
            "{what} is addressed to station {}, not to this mailbox's station {}",
            to.key_fingerprint(),
            recipient.key_fingerprint()
        ));
    }
    Ok(())
}
