//! Receipts: a station's signed statement "I hold your entries up to seq N (head hash H), and
//! also these later seqs". Receipts are cumulative and supersede one another, so they are not
//! log entries (that would need receipts for receipts); the latest verified receipt from each
//! side is stored and exported with the transcript as proof of delivery.
//!
//! Payload (COSE_Sign1 `application/parley-receipt`):
//! `[1, link, from, to, upto, head, [extra seq…], time_ms]`.

use ciborium::Value;

use crate::cbor::{self, Fields};
use crate::cose::{self, CONTENT_TYPE_RECEIPT, Unverified};
use crate::error::DecodeError;
use crate::id::{EntryId, Identity, LinkId, StationId};
use crate::limits::{RECEIPT_EXTRA_MAX, RECEIPT_SIZE_MAX_BYTES};

/// The largest seq or time a receipt may carry: the largest integer a store keeps
/// (SQLite's), so that a receipt signed with a larger one is refused as it is read, not when
/// the store is asked to keep it (which would fail the commit of every link with it).
pub const RECEIPT_INTEGER_MAX: u64 = i64::MAX as u64;

/// A decoded receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The link.
    pub link: LinkId,
    /// The station that holds the entries (signer).
    pub from: StationId,
    /// The author of the receipted entries.
    pub to: StationId,
    /// Every entry of `to` up to this seq is held (0: none).
    pub upto: u64,
    /// Id of entry `upto` as held ([`EntryId::NONE`] when `upto` is 0).
    pub head: EntryId,
    /// Seqs above `upto` also held, ascending, at most [`RECEIPT_EXTRA_MAX`].
    pub extra: Vec<u64>,
    /// UTC time of writing, milliseconds since the Unix epoch.
    pub time_ms: u64,
}

impl Receipt {
    /// Signs the receipt as `from`.
    pub fn sign(&self, signer: &Identity) -> Vec<u8> {
        assert_eq!(signer.id(), self.from, "a receipt is signed by its holder");
        assert!(self.extra.len() <= RECEIPT_EXTRA_MAX);
        let payload = Value::Array(vec![
            cbor::uint(1),
            cbor::bytes(&self.link.0),
            cbor::bytes(&self.from.0),
            cbor::bytes(&self.to.0),
            cbor::uint(self.upto),
            cbor::bytes(&self.head.0),
            Value::Array(self.extra.iter().map(|s| cbor::uint(*s)).collect()),
            cbor::uint(self.time_ms),
        ]);
        cose::sign(signer, CONTENT_TYPE_RECEIPT, cbor::encode(&payload))
    }

    fn from_payload(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut f = Fields::versioned(cbor::decode(payload, "receipt")?, "receipt", 8)?;
        let link = LinkId(f.fixed("link")?);
        let from = StationId(f.fixed("from")?);
        let to = StationId(f.fixed("to")?);
        let upto = f.uint("upto")?;
        let head = EntryId(f.fixed("head")?);
        let malformed = |field| DecodeError::Field {
            what: "receipt",
            field,
        };
        let mut extra = Vec::new();
        for value in f.list("extra", RECEIPT_EXTRA_MAX)? {
            match value {
                Value::Integer(n) => extra.push(u64::try_from(n).map_err(|_| malformed("extra"))?),
                _ => return Err(malformed("extra")),
            }
        }
        let ascending_above_upto = extra
            .iter()
            .try_fold(upto, |last, s| (*s > last).then_some(*s))
            .is_some();
        if !ascending_above_upto {
            return Err(malformed("extra"));
        }
        if (upto == 0) != (head == EntryId::NONE) {
            return Err(malformed("head"));
        }
        let time_ms = f.uint("time_ms")?;
        // `extra` ascends above `upto`: its last is its largest.
        if upto.max(extra.last().copied().unwrap_or(0)) > RECEIPT_INTEGER_MAX {
            return Err(malformed(if upto > RECEIPT_INTEGER_MAX {
                "upto"
            } else {
                "extra"
            }));
        }
        if time_ms > RECEIPT_INTEGER_MAX {
            return Err(malformed("time_ms"));
        }
        Ok(Receipt {
            link,
            from,
            to,
            upto,
            head,
            extra,
            time_ms,
        })
    }

    /// Decodes a receipt and verifies it under the key of the station it claims to be from,
    /// which must be `expected_from`.
    pub fn decode_verified(bytes: &[u8], expected_from: &StationId) -> Result<Self, DecodeError> {
        let cose = Unverified::parse(
            bytes,
            "receipt",
            CONTENT_TYPE_RECEIPT,
            RECEIPT_SIZE_MAX_BYTES,
        )?;
        let payload = cose.verify(&expected_from.verifying_key()?)?;
        let receipt = Self::from_payload(&payload)?;
        if receipt.from != *expected_from {
            return Err(DecodeError::Field {
                what: "receipt",
                field: "from",
            });
        }
        Ok(receipt)
    }

    /// Like [`Receipt::decode_verified`], returning the proof type a link takes; only the
    /// endpoint calls it.
    pub(crate) fn verified(
        bytes: &[u8],
        expected_from: &StationId,
    ) -> Result<VerifiedReceipt, DecodeError> {
        Self::decode_verified(bytes, expected_from).map(|receipt| VerifiedReceipt { receipt })
    }

    /// Reads the claimed signer without verifying, to pick the pinned key.
    pub fn peek_from(bytes: &[u8]) -> Result<StationId, DecodeError> {
        let cose = Unverified::parse(
            bytes,
            "receipt",
            CONTENT_TYPE_RECEIPT,
            RECEIPT_SIZE_MAX_BYTES,
        )?;
        Ok(Self::from_payload(cose.payload_unverified())?.from)
    }
}

/// A receipt whose signature verified under the key of the pinned station it names as signer.
/// Only the endpoint makes one (a clone is the same proof).
#[derive(Clone)]
pub struct VerifiedReceipt {
    receipt: Receipt,
}

impl VerifiedReceipt {
    /// The verified receipt.
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_round_trip_and_extra_list_is_bounded() {
        let bob = Identity::from_secret(&[2; 32]);
        let alice = Identity::from_secret(&[1; 32]);
        let mut receipt = Receipt {
            link: LinkId([3; 16]),
            from: bob.id(),
            to: alice.id(),
            upto: 5,
            head: EntryId([4; 32]),
            extra: (7..7 + RECEIPT_EXTRA_MAX as u64).collect(),
            time_ms: 1,
        };
        let bytes = receipt.sign(&bob);
        assert_eq!(
            Receipt::decode_verified(&bytes, &bob.id()).unwrap(),
            receipt
        );
        assert!(Receipt::decode_verified(&bytes, &alice.id()).is_err());
        assert_eq!(Receipt::peek_from(&bytes).unwrap(), bob.id());

        // Not ascending: refused.
        receipt.extra = vec![9, 8];
        assert!(Receipt::decode_verified(&receipt.sign(&bob), &bob.id()).is_err());
        // At or below upto: refused.
        receipt.extra = vec![5];
        assert!(Receipt::decode_verified(&receipt.sign(&bob), &bob.id()).is_err());
    }

    #[test]
    fn every_seq_and_time_is_at_most_what_a_store_keeps() {
        let bob = Identity::from_secret(&[2; 32]);
        let alice = Identity::from_secret(&[1; 32]);
        let base = Receipt {
            link: LinkId([3; 16]),
            from: bob.id(),
            to: alice.id(),
            upto: 5,
            head: EntryId([4; 32]),
            extra: vec![9],
            time_ms: 1,
        };
        let read = |receipt: &Receipt| Receipt::decode_verified(&receipt.sign(&bob), &bob.id());
        let refused = |field| {
            Err(DecodeError::Field {
                what: "receipt",
                field,
            })
        };
        for at in [RECEIPT_INTEGER_MAX, RECEIPT_INTEGER_MAX + 1, u64::MAX] {
            let over = at > RECEIPT_INTEGER_MAX;
            let upto = Receipt {
                upto: at,
                extra: Vec::new(),
                ..base.clone()
            };
            let extra = Receipt {
                extra: vec![9, at],
                ..base.clone()
            };
            let time = Receipt {
                time_ms: at,
                ..base.clone()
            };
            for (receipt, field) in [(upto, "upto"), (extra, "extra"), (time, "time_ms")] {
                let expected = if over {
                    refused(field)
                } else {
                    Ok(receipt.clone())
                };
                assert_eq!(read(&receipt), expected, "{field} {at}");
            }
        }
    }
}
