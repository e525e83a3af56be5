//! Relay request decoders (deposit and delete bodies, authentication headers, fetch query) and
//! the client's answer decoders: every input is refused or accepted, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parley_relay_wire::fuzz_decode(data);
});
