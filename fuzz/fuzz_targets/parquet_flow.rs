//! The Parquet flow-log reader: arbitrary bytes, and valid files (written
//! from the input) with bytes of them changed, so the decoder is reached
//! past the footer. Never a panic; bounded whatever the footer declares.
#![no_main]

use std::sync::Arc;

use irprep_core::arrow_array::{Int64Array, RecordBatch, StringArray};
use irprep_core::arrow_schema::{DataType, Field, Schema};
use irprep_core::build::Batcher;
use irprep_core::cloudtrail::ReadOptions;
use irprep_core::flow_parquet;
use libfuzzer_sys::fuzz_target;

fn read(raw: &[u8]) {
    let t = irprep_core::table::vpcflow();
    let schema = t.arrow_schema();
    let mut b = Batcher::of_batches(schema.clone());
    let out = flow_parquet::read_into(raw, None, &ReadOptions::default(), &schema, &mut b);
    let rows: usize = b.take().expect("batches").iter().map(|x| x.num_rows()).sum();
    assert_eq!(rows, out.events);
}

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys's panic hook aborts on every panic, caught or not. The
    // reader catches a panic of the Parquet decoder and reports the file (as
    // the scan does); only a panic that escapes it must end the run, and
    // libfuzzer-sys still aborts on those when they unwind out of here.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    read(data);
    // A valid file from the first bytes, then the rest as (position, value) edits.
    let (head, edits) = data.split_at(data.len().min(64));
    let rows = head.first().copied().unwrap_or(1) as usize % 64 + 1;
    let schema = Arc::new(Schema::new(vec![
        Field::new("srcaddr", DataType::Utf8, true),
        Field::new("start", DataType::Int64, true),
        Field::new("action", DataType::Utf8, true),
    ]));
    let text = String::from_utf8_lossy(head).into_owned();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("{text}{i}")))),
            Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i as i64 * 1_000_003))),
            Arc::new(StringArray::from_iter_values((0..rows).map(|i| if i % 2 == 0 { "ACCEPT" } else { "REJECT" }))),
        ],
    )
    .expect("batch");
    let mut file = vec![];
    {
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut file, schema, None).expect("writer");
        w.write(&batch).expect("write");
        w.close().expect("close");
    }
    read(&file);
    for e in edits.chunks(3) {
        if e.len() == 3 && !file.is_empty() {
            let at = u16::from_le_bytes([e[0], e[1]]) as usize % file.len();
            file[at] = e[2];
        }
    }
    read(&file);
});
