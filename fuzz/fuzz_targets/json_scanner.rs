//! The JSON scanner: skipping, member/element iteration and string decoding
//! must never panic or read out of bounds, and a skipped value's end is
//! always within the input.
#![no_main]

use irprep_core::json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let i = json::skip_ws(data, 0);
    if let Ok(end) = json::skip_value(data, i) {
        assert!(end <= data.len());
        if data.get(i) == Some(&b'{') {
            let _ = json::for_each_member(data, i, |_, s, e| {
                assert!(s <= e && e <= data.len());
                let decoded = json::decode_string(&data[s..e]);
                if data.get(s) == Some(&b'"') {
                    assert_eq!(json::Src::new(data).string(s, e), decoded);
                }
                Ok(())
            });
        } else if data.get(i) == Some(&b'[') {
            let _ = json::for_each_element(data, i, |s, e| {
                assert!(s <= e && e <= data.len());
                Ok(())
            });
        }
    }
    let _ = json::decode_string(data);
});
