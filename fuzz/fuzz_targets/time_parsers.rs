//! The time parsers on arbitrary text: `--since/--until` spans and dates,
//! and the date of a record time; an answer or an error, never a panic.
#![no_main]

use irprep_core::{layout, timeparse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let now = chrono::DateTime::parse_from_rfc3339("2024-05-10T12:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    if let Ok(t) = timeparse::parse_time(text, now) {
        // Canonical output parses again to itself.
        assert_eq!(timeparse::parse_time(&t, now).as_deref(), Ok(t.as_str()));
    }
    if let Some(d) = layout::date_of_time(text) {
        assert_eq!(d.len(), 10, "{d}");
    }
});
