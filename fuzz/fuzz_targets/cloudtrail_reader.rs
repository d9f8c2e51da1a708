//! The CloudTrail reader on arbitrary bytes (gzipped or not), on every path
//! it is called by: whole-file reads, and the production path that
//! decompresses into a reused buffer and gathers several files in one
//! batcher. It must never panic, and every batch must be internally
//! consistent (rows = events counted).
#![no_main]

use irprep_core::cloudtrail::{CloudTrailReader, ReadOptions};
use irprep_core::flow::LogReader;
use irprep_core::layout::CloudTrailPartitions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let n = irprep_core::table::cloudtrail().arrow_schema().fields().len();
    // All columns, and a narrow projection with a partition.
    for projection in [None, Some(vec![4usize, 1, 10, n - 1])] {
        let r = CloudTrailReader::new(ReadOptions {
            projection,
            since: Some("2020-01-01T00:00:00Z".into()),
            ..Default::default()
        });
        let out = r.read_bytes(data, None);
        if let Some(b) = &out.batch {
            assert_eq!(b.num_rows(), out.events);
        }
        let p = CloudTrailPartitions {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            date: "2024/01/01".into(),
            org_id: None,
            ..Default::default()
        };
        let _ = r.read_bytes(data, Some(&p));
        // Twice into one batcher: the rows of both reads, nothing else.
        let mut into = r.batcher(r.output_schema());
        let a = r.read_json_into(data, Some(&p), &mut into);
        let b = r.read_json_into(data, None, &mut into);
        assert_eq!(into.rows(), a.events + b.events);
        // The production path: gunzip into a kept buffer, a batcher over files.
        let mut buf = Vec::new();
        let mut inflater = irprep_core::decompress::Inflater::new();
        let c = r.read_file_into(data, Some(&p), &mut buf, &mut inflater, &mut into);
        let d = r.read_file_into(data, None, &mut buf, &mut inflater, &mut into);
        assert_eq!(into.rows(), a.events + b.events + c.events + d.events);
        let batches = into.take().expect("batches follow the schema");
        assert_eq!(
            batches.iter().map(|b| b.num_rows()).sum::<usize>(),
            a.events + b.events + c.events + d.events
        );
    }
});
