//! Entry decoder: COSE_Sign1 parsing, CBOR payload and verification never panic. The stored
//! path (an id standing in for the signature) reaches the body decoder with any payload, which
//! a signature check would stop; `fuzz/examples/seeds.rs` writes a signed entry of every kind
//! to start from.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_proto::{EntryId, SignedEntry, StationId};

fuzz_target!(|data: &[u8]| {
    if let Ok(author) = SignedEntry::author_unverified(data) {
        let _ = SignedEntry::decode_verified(data, &author);
    }
    let _ = SignedEntry::decode_verified(data, &StationId([7; 32]));
    let _ = SignedEntry::decode_stored(data, &EntryId::of(data));
});
