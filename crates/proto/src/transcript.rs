//! Transcript export: a self-contained text file that anyone holding it can verify offline,
//! with nothing but this format and Ed25519/SHA-256/CBOR/COSE implementations.
//!
//! One JSON object per line (see docs/formats.md):
//! ```text
//! {"format":"parley-transcript","version":1,"link":"<hex>","exported_ms":<ms>}
//! {"card":"<base64 of a signed contact card>"}          two lines: the exporter, then the peer
//! {"entry":"<base64 of a signed entry>"}                 every entry of both logs, by author then seq
//! {"receipt":"<base64 of a signed receipt>"}             the latest receipt of each side, if any
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::card::ContactCard;
use crate::entry::SignedEntry;
use crate::id::{EntryId, LinkId, StationId};
use crate::receipt::Receipt;

/// Format name on the header line.
pub const TRANSCRIPT_FORMAT: &str = "parley-transcript";
/// Largest transcript file read, in bytes: a log of two hundred thousand entries at the entry
/// size limit fits several times over.
pub const TRANSCRIPT_SIZE_MAX_BYTES: usize = 1024 * 1024 * 1024;
/// Longest line accepted, in bytes (a base64 entry at the size limit, with room).
pub const TRANSCRIPT_LINE_SIZE_MAX_BYTES: usize = 128 * 1024;

/// What an exporter hands in.
pub struct TranscriptParts<'a> {
    /// The link.
    pub link: LinkId,
    /// Export time (UTC ms).
    pub exported_ms: u64,
    /// Signed cards: exporter first, then peer.
    pub cards: [&'a [u8]; 2],
    /// Signed entries, both authors, each author's in seq order.
    pub entries: Vec<Vec<u8>>,
    /// Signed receipts.
    pub receipts: Vec<Vec<u8>>,
}

/// Writes a transcript.
pub fn export(parts: &TranscriptParts<'_>) -> String {
    let mut out = format!(
        "{{\"format\":\"{TRANSCRIPT_FORMAT}\",\"version\":1,\"link\":\"{}\",\"exported_ms\":{}}}\n",
        hex::encode(parts.link.0),
        parts.exported_ms
    );
    let mut line = |key: &str, bytes: &[u8]| {
        out.push_str(&format!("{{\"{key}\":\"{}\"}}\n", BASE64.encode(bytes)));
    };
    for card in parts.cards {
        line("card", card);
    }
    for entry in &parts.entries {
        line("entry", entry);
    }
    for receipt in &parts.receipts {
        line("receipt", receipt);
    }
    out
}

/// Where and why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {reason}", entry.as_ref().map(|e| format!(" ({e})")).unwrap_or_default())]
pub struct TranscriptError {
    /// 1-based line number.
    pub line: usize,
    /// The entry concerned, e.g. "entry 5: author Alpha seq 3", when it is one.
    pub entry: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// One station's part of a verified transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationSummary {
    /// Name from its card.
    pub name: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Entries of its log in the file.
    pub entries: u64,
    /// Head id of its log.
    pub head: EntryId,
    /// The other side's receipt of this log (upto), if present.
    pub receipted_upto: Option<u64>,
}

/// A verified transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptSummary {
    /// The link.
    pub link: LinkId,
    /// Export time.
    pub exported_ms: u64,
    /// Exporter, then peer.
    pub stations: Vec<StationSummary>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u64,
    link: String,
    exported_ms: u64,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Line {
    Card(String),
    Entry(String),
    Receipt(String),
}

struct Chain {
    name: String,
    ids: Vec<EntryId>,
}

/// Verifies every signature, every chain link and every receipt of a transcript. Stops at the
/// first fault and names it.
pub fn verify(text: &str) -> Result<TranscriptSummary, TranscriptError> {
    let fail = |line: usize, entry: Option<String>, reason: String| TranscriptError {
        line,
        entry,
        reason,
    };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (_, first) = lines
        .next()
        .ok_or_else(|| fail(1, None, "the file is empty".into()))?;
    let header: Header = serde_json::from_str(first)
        .map_err(|e| fail(1, None, format!("not a transcript header: {e}")))?;
    if header.format != TRANSCRIPT_FORMAT || header.version != 1 {
        return Err(fail(1, None, "unknown format or version".into()));
    }
    let mut chains: BTreeMap<StationId, Chain> = BTreeMap::new();
    let mut order: Vec<StationId> = Vec::new();
    let mut link: Option<LinkId> = None;
    let mut receipts: BTreeMap<StationId, u64> = BTreeMap::new();
    let mut entry_index = 0usize;
    for (number, raw) in lines {
        if raw.len() > TRANSCRIPT_LINE_SIZE_MAX_BYTES {
            return Err(fail(number, None, "line is too long".into()));
        }
        let parsed: Line = serde_json::from_str(raw)
            .map_err(|e| fail(number, None, format!("not a transcript line: {e}")))?;
        let decode = |b64: &str| {
            BASE64
                .decode(b64)
                .map_err(|_| fail(number, None, "not valid base64".into()))
        };
        match parsed {
            Line::Card(b64) => {
                if order.len() == 2 || entry_index > 0 {
                    return Err(fail(
                        number,
                        None,
                        "cards must be the two lines after the header".into(),
                    ));
                }
                let card = ContactCard::decode_verified(&decode(&b64)?)
                    .map_err(|e| fail(number, None, format!("card: {e}")))?;
                if chains.contains_key(&card.identity) {
                    return Err(fail(
                        number,
                        None,
                        "both cards are of the same station".into(),
                    ));
                }
                order.push(card.identity);
                chains.insert(
                    card.identity,
                    Chain {
                        name: card.name,
                        ids: Vec::new(),
                    },
                );
                if order.len() == 2 {
                    let id = LinkId::between(&order[0], &order[1]);
                    if hex::encode(id.0) != header.link {
                        return Err(fail(
                            number,
                            None,
                            "the cards do not belong to the link in the header".into(),
                        ));
                    }
                    link = Some(id);
                }
            }
            Line::Entry(b64) => {
                entry_index += 1;
                let link =
                    link.ok_or_else(|| fail(number, None, "entry before both cards".into()))?;
                let bytes = decode(&b64)?;
                let what = |detail: String| Some(format!("entry {entry_index}{detail}"));
                let author = SignedEntry::author_unverified(&bytes)
                    .map_err(|e| fail(number, what(String::new()), e.to_string()))?;
                let chain = chains.get_mut(&author).ok_or_else(|| {
                    fail(
                        number,
                        what(String::new()),
                        "author is neither station of the link".into(),
                    )
                })?;
                let expected_seq = chain.ids.len() as u64 + 1;
                let label = what(format!(": author {} seq {expected_seq}", chain.name));
                let signed = SignedEntry::decode_verified(&bytes, &author)
                    .map_err(|e| fail(number, label.clone(), e.to_string()))?;
                let entry = signed.entry();
                if entry.link != link {
                    return Err(fail(number, label, "entry belongs to another link".into()));
                }
                if entry.seq != expected_seq {
                    return Err(fail(
                        number,
                        label,
                        format!("seq is {}, the chain needs {expected_seq}", entry.seq),
                    ));
                }
                if entry.prev != chain.ids.last().copied().unwrap_or(EntryId::NONE) {
                    return Err(fail(
                        number,
                        label,
                        "prev hash does not match the previous entry".into(),
                    ));
                }
                chain.ids.push(signed.id());
            }
            Line::Receipt(b64) => {
                let bytes = decode(&b64)?;
                let signer = Receipt::peek_from(&bytes)
                    .map_err(|e| fail(number, None, format!("receipt: {e}")))?;
                if !chains.contains_key(&signer) {
                    return Err(fail(
                        number,
                        None,
                        "receipt signer is neither station".into(),
                    ));
                }
                let receipt = Receipt::decode_verified(&bytes, &signer)
                    .map_err(|e| fail(number, None, format!("receipt: {e}")))?;
                if Some(receipt.link) != link || receipt.to == receipt.from {
                    return Err(fail(number, None, "receipt is not for this link".into()));
                }
                let receipted = chains
                    .get(&receipt.to)
                    .ok_or_else(|| fail(number, None, "receipt names an unknown station".into()))?;
                if receipt.upto > receipted.ids.len() as u64
                    || (receipt.upto > 0
                        && receipted.ids[receipt.upto as usize - 1] != receipt.head)
                {
                    return Err(fail(
                        number,
                        None,
                        "receipt does not match the receipted log".into(),
                    ));
                }
                receipts.insert(receipt.to, receipt.upto);
            }
        }
    }
    let link = link.ok_or_else(|| {
        fail(
            text.lines().count(),
            None,
            "the two cards are missing".into(),
        )
    })?;
    let stations = order
        .iter()
        .map(|id| {
            let chain = &chains[id];
            StationSummary {
                name: chain.name.clone(),
                fingerprint: id.fingerprint().to_string(),
                entries: chain.ids.len() as u64,
                head: chain.ids.last().copied().unwrap_or(EntryId::NONE),
                receipted_upto: receipts.get(id).copied(),
            }
        })
        .collect();
    Ok(TranscriptSummary {
        link,
        exported_ms: header.exported_ms,
        stations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Body, Entry, Precedence};
    use crate::id::Identity;
    use crate::seal::EpochSecret;
    use rand_core::SeedableRng;

    fn card(identity: &Identity, name: &str) -> Vec<u8> {
        let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([9; 32]));
        ContactCard {
            name: name.into(),
            identity: identity.id(),
            epoch_key_id: epoch.id(),
            epoch_public: epoch.public_bytes().to_vec(),
            addresses: vec![],
            lang: "en".into(),
            created_ms: 1,
        }
        .sign(identity)
    }

    fn receipt(from: &Identity, to: &Identity, link: LinkId, upto: u64, head: EntryId) -> Vec<u8> {
        Receipt {
            link,
            from: from.id(),
            to: to.id(),
            upto,
            head,
            extra: vec![],
            time_ms: 2,
        }
        .sign(from)
    }

    fn check(
        cards: [&[u8]; 2],
        receipts: Vec<Vec<u8>>,
        entries: Vec<Vec<u8>>,
        expect: Result<(), &str>,
    ) {
        let alpha = Identity::from_secret(&[1; 32]);
        let bravo = Identity::from_secret(&[2; 32]);
        let text = export(&TranscriptParts {
            link: LinkId::between(&alpha.id(), &bravo.id()),
            exported_ms: 3,
            cards,
            entries,
            receipts,
        });
        match (verify(&text), expect) {
            (Ok(_), Ok(())) => {}
            (Err(got), Err(want)) => assert!(got.to_string().contains(want), "{got} lacks {want}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn verification_checks_cards_entries_and_receipts() {
        let alpha = Identity::from_secret(&[1; 32]);
        let bravo = Identity::from_secret(&[2; 32]);
        let link = LinkId::between(&alpha.id(), &bravo.id());
        let (alpha_card, bravo_card) = (card(&alpha, "Alpha"), card(&bravo, "Bravo"));
        let entry = Entry {
            link,
            author: alpha.id(),
            seq: 1,
            prev: EntryId::NONE,
            seen: EntryId::NONE,
            time_ms: 1,
            precedence: Precedence::Flash,
            body: Body::Message {
                text: "hello".into(),
                lang: "en".into(),
                exercise: false,
            },
        }
        .sign(&alpha);
        let entries = vec![entry.bytes().to_vec()];
        let good = receipt(&bravo, &alpha, link, 1, entry.id());
        check(
            [&alpha_card, &bravo_card],
            vec![good.clone()],
            entries.clone(),
            Ok(()),
        );
        check(
            [&alpha_card, &alpha_card],
            vec![],
            vec![],
            Err("same station"),
        );
        let elsewhere = receipt(&bravo, &alpha, LinkId([0; 16]), 1, entry.id());
        check(
            [&alpha_card, &bravo_card],
            vec![elsewhere],
            entries.clone(),
            Err("not for this link"),
        );
        let wrong_head = receipt(&bravo, &alpha, link, 1, EntryId([5; 32]));
        check(
            [&alpha_card, &bravo_card],
            vec![wrong_head],
            entries.clone(),
            Err("does not match"),
        );
        let beyond = receipt(&bravo, &alpha, link, 2, entry.id());
        check(
            [&alpha_card, &bravo_card],
            vec![beyond],
            entries,
            Err("does not match"),
        );
    }
}
