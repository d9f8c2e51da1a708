//! The content sniffer and the key classifier: any bytes, any key; never a
//! panic, and a classified key's partition values come from the key.
#![no_main]

use irprep_core::layout;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = layout::sniff(data);
    if let Ok(key) = std::str::from_utf8(data) {
        let c = layout::classify(key);
        let _ = format!("{c:?}");
        let _ = layout::date_of_time(key);
    }
});
