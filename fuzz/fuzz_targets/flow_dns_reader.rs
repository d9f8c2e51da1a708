//! The VPC flow-log text and Route 53 Resolver readers on arbitrary bytes
//! (gzipped or not): they must never panic, and every batch must hold as
//! many rows as the events counted.
#![no_main]

use irprep_core::cloudtrail::ReadOptions;
use irprep_core::dns::DnsReader;
use irprep_core::flow::{FlowReader, LogReader};
use irprep_core::layout::Partitions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = Partitions {
        account: "111122223333".into(),
        region: "us-east-1".into(),
        date: "2024/01/01".into(),
        ..Default::default()
    };
    let mut buf = Vec::new();
    let mut d = irprep_core::decompress::Inflater::new();
    let flow_n = irprep_core::table::vpcflow().arrow_schema().fields().len();
    for projection in [None, Some(vec![3usize, 9, 11, flow_n - 2])] {
        let r = FlowReader::new(ReadOptions {
            projection,
            since: Some("2020-01-01T00:00:00Z".into()),
            ..Default::default()
        });
        for out in [r.read_text(data, None), r.read_file(data, Some(&p), &mut buf, &mut d)] {
            if let Some(b) = &out.batch {
                assert_eq!(b.num_rows(), out.events);
            }
        }
    }
    let dns_n = irprep_core::table::dns().arrow_schema().fields().len();
    for projection in [None, Some(vec![5usize, 9, 13, dns_n - 1])] {
        let r = DnsReader::new(ReadOptions {
            projection,
            until: Some("2030-01-01T00:00:00Z".into()),
            ..Default::default()
        });
        for out in [r.read_text(data, None), r.read_file(data, Some(&p), &mut buf, &mut d)] {
            if let Some(b) = &out.batch {
                assert_eq!(b.num_rows(), out.events);
            }
        }
    }
});
