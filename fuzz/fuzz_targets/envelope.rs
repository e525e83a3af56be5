//! Envelope decoder: header parsing and signature verification never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_proto::envelope::Envelope;

fuzz_target!(|data: &[u8]| {
    if let Ok(unverified) = Envelope::peek(data) {
        let _ = unverified.check_signature();
    }
});
