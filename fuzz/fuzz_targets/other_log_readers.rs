//! The readers of the other log tables (S3 access, ALB, NLB, Classic ELB:
//! space-delimited; WAF, GuardDuty, EKS audit: JSON lines) on arbitrary
//! bytes, gzipped or not, with and without partitions from the key: they
//! must never panic, and every batch must hold as many rows as the events
//! counted. The content sniffer and the key classifier see the same bytes.
#![no_main]

use irprep_core::cloudtrail::ReadOptions;
use irprep_core::layout::{self, Partitions};
use irprep_core::tables::LogTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = Partitions {
        account: "111122223333".into(),
        region: "us-east-1".into(),
        date: "2024/01/01".into(),
        name: Some("web".into()),
        ..Default::default()
    };
    let mut buf = Vec::new();
    let mut d = irprep_core::decompress::Inflater::new();
    let _ = layout::sniff(data);
    let _ = layout::classify(&String::from_utf8_lossy(data));
    for t in LogTable::ALL.into_iter().filter(|t| t.storage().is_some()) {
        let n = t.def().arrow_schema().fields().len();
        for projection in [None, Some(vec![0usize, n / 2, n - 1])] {
            let r = t.reader(ReadOptions {
                projection,
                since: Some("2020-01-01T00:00:00Z".into()),
                ..Default::default()
            });
            for parts in [None, Some(&p)] {
                let out = r.read_file(data, parts, &mut buf, &mut d);
                if let Some(b) = &out.batch {
                    assert_eq!(b.num_rows(), out.events, "{t}");
                }
            }
        }
    }
});
