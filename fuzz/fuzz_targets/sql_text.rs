//! The SQL text helpers on arbitrary text: quoting round-trips, table
//! renaming and the Athena time window never panic whatever the
//! characters, and literal-aware rewriting keeps every literal as written.
#![no_main]

use irprep_core::{queries, sql};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (a, b) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map(|(i, _)| i).unwrap_or(0));
    // A quoted value is one literal whose content is the value.
    let q = sql::quote(a);
    assert!(q.starts_with('\'') && q.ends_with('\''));
    assert_eq!(q[1..q.len() - 1].replace("''", "'"), a);
    let _ = queries::replace_table(text, "cloudtrail", "trail");
    let _ = queries::replace_table(text, a, b);
    let _ = sql::with_window(text, b, Some(a), Some(b));
    let _ = sql::with_window(text, "db", Some("2024-05-01T00:00:00Z"), None);
    // Rewriting outside literals only: the literals survive unchanged.
    let out = sql::outside_literals(text, |s| s.to_uppercase());
    let lits = |s: &str| s.split('\'').skip(1).step_by(2).map(String::from).collect::<Vec<_>>();
    assert_eq!(lits(&out), lits(text));
});
