//! CloudTrail log file validation on arbitrary input: public-key JSON,
//! digest files (gzipped or not, with or without a signature in metadata),
//! and the log states the caller found. Never a panic; every digest given
//! ends as a check or a chain link; a failure verdict is never given to a
//! file the input did not name.
#![no_main]

use std::collections::HashMap;

use irprep_core::integrity::{self, FoundDigest, LogState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Parts separated by 0xFF (never in UTF-8 text): keys, then digests.
    let mut parts = data.split(|b| *b == 0xff);
    let keys_text = parts.next().unwrap_or_default();
    let keys = std::str::from_utf8(keys_text)
        .ok()
        .and_then(|t| integrity::parse_public_keys(t).ok())
        .unwrap_or_default();
    for k in &keys {
        let _ = integrity::verify_signature(&k.der, keys_text, "00ff");
    }
    let _ = integrity::verify_signature(keys_text, b"message", "abcd");
    let mut found = vec![];
    for (i, raw) in parts.take(16).enumerate() {
        let key = format!(
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/01/\
             111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240101T{:02}0000Z.json.gz",
            i % 24
        );
        let signature = (i % 2 == 0).then(|| integrity::hex(&raw[..raw.len().min(64)]));
        found.push(FoundDigest {
            at: format!("d{i}"),
            key,
            raw: Ok(raw.to_vec()),
            signature,
        });
    }
    let given = found.len();
    let (digests, checks) = integrity::parse_digests(found);
    assert_eq!(digests.len() + checks.len(), given);
    let mut logs = HashMap::new();
    for (n, (_, key)) in integrity::referenced(&digests).into_iter().enumerate() {
        let state = match n % 3 {
            0 => LogState::Hashed(integrity::sha256_hex(key.as_bytes())),
            1 => LogState::Absent,
            _ => LogState::Unreadable("test".into()),
        };
        logs.insert(integrity::logical_key(&key).to_string(), state);
    }
    let present = vec![(
        "planted".to_string(),
        "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/\
         111122223333_CloudTrail_us-east-1_20240101T0105Z_x.json.gz"
            .to_string(),
    )];
    for d in &digests {
        let _ = integrity::string_to_sign(&d.digest, &d.sha256);
        for l in &d.digest.log_files {
            let _ = integrity::log_file_time(&l.s3_object);
        }
    }
    let report = integrity::validate(digests, checks, &keys, &logs, &present);
    let _ = format!("{report:?}");
});
