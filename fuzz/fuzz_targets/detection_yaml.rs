//! Detection files on arbitrary text: a detection loads or is refused with a
//! reason, never a panic.
#![no_main]

use irprep_core::detect::{parse_detection, Origin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for origin in [Origin::Builtin, Origin::User] {
            let _ = parse_detection(text, "fuzz.yaml", origin);
        }
    }
});
