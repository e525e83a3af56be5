//! Contact card decoder, binary and armoured text, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_proto::ContactCard;

fuzz_target!(|data: &[u8]| {
    let _ = ContactCard::decode_verified(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ContactCard::from_text(text);
    }
});
