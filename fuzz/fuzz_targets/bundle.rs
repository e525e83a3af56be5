//! Courier bundle decoder never panics: structure, signature and salvage paths.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_proto::Bundle;

fuzz_target!(|data: &[u8]| {
    if let Ok(unverified) = Bundle::peek(data) {
        let _ = unverified.claimed_to();
        let _ = unverified.verify();
    }
    if let Ok(unverified) = Bundle::peek(data) {
        let _ = unverified.salvage();
    }
});
