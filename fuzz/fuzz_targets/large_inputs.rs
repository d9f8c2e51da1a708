//! Size-dependent bugs: the input is a small description (a record, how many
//! times to repeat it, the partition values' lengths, gzip members) from
//! which a large file is built and read by every reader. Counts reach tens of
//! MiB per run, enough for the per-file bounds (diagnostics, rows, bytes,
//! ISIZE) to be exercised; the readers must stay bounded and never panic.
#![no_main]

use std::io::Write;

use irprep_core::cloudtrail::{CloudTrailReader, ReadOptions};
use irprep_core::dns::DnsReader;
use irprep_core::flow::{FlowReader, LogReader};
use irprep_core::layout::Partitions;
use libfuzzer_sys::fuzz_target;

const MAX_BYTES: usize = 48 << 20;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let repeat = u32::from_le_bytes([data[0], data[1], data[2], 0]) as usize;
    let members = (data[3] % 4) as usize;
    let part_len = data[4] as usize;
    let reader = data[5] % 3;
    let unit = &data[6..];
    if unit.is_empty() {
        return;
    }
    let n = repeat.min(MAX_BYTES / unit.len());
    let mut raw = Vec::with_capacity(n * unit.len());
    for _ in 0..n {
        raw.extend_from_slice(unit);
    }
    // gzip in `members` members (0: plain).
    let file = if members == 0 {
        raw
    } else {
        let mut out = vec![];
        for chunk in raw.chunks(raw.len().div_ceil(members).max(1)) {
            let mut e = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
            e.write_all(chunk).expect("gzip");
            out.extend(e.finish().expect("gzip"));
        }
        out
    };
    let long = "x".repeat(part_len * 4);
    let p = Partitions {
        account: long.clone(),
        region: long.clone(),
        date: "2024/01/01".into(),
        vpc: Some(long),
        ..Default::default()
    };
    let mut buf = Vec::new();
    let mut d = irprep_core::decompress::Inflater::new();
    let opts = ReadOptions::default();
    let r: Box<dyn LogReader> = match reader {
        0 => Box::new(CloudTrailReader::new(opts)),
        1 => Box::new(FlowReader::new(opts)),
        _ => Box::new(DnsReader::new(opts)),
    };
    for part in [None, Some(&p)] {
        let out = r.read_file(&file, part, &mut buf, &mut d);
        assert!(out.record_problems.len() <= irprep_core::cloudtrail::MAX_RECORD_PROBLEMS);
        if let Some(b) = &out.batch {
            assert_eq!(b.num_rows(), out.events);
        }
    }
});
