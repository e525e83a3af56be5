//! Entry decoder: COSE_Sign1 parsing, CBOR payload and verification never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_proto::{SignedEntry, StationId};

fuzz_target!(|data: &[u8]| {
    if let Ok(author) = SignedEntry::author_unverified(data) {
        let _ = SignedEntry::decode_verified(data, &author);
    }
    let _ = SignedEntry::decode_verified(data, &StationId([7; 32]));
});
