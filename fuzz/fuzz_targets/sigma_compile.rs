//! The Sigma compiler on arbitrary text: a rule loads or is refused with a
//! reason, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = irprep_core::sigma::compile(text, "fuzz.yml");
    }
});
