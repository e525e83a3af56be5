//! Receipt decoder never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_proto::receipt::Receipt;

fuzz_target!(|data: &[u8]| {
    if let Ok(from) = Receipt::peek_from(data) {
        let _ = Receipt::decode_verified(data, &from);
    }
});
