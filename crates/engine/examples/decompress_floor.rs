//! The floor of any scan: decompress every file of a corpus, nothing else,
//! on all cores with the same decompressor the engine uses.
//!
//!     cargo run --release -p irprep-engine --example decompress_floor -- DIR

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: decompress_floor DIR");
    let (files, _) = irprep_engine::discover_local(&[dir.into()]).expect("readable directory");
    let paths: Vec<std::path::PathBuf> = files
        .into_iter()
        .filter_map(|f| match f.location {
            irprep_engine::Location::Local(p) => Some(p),
            _ => None,
        })
        .collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let next = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = paths.get(i) else { break };
                let raw = std::fs::read(p).expect("readable file");
                let out = irprep_core::decompress::maybe_gunzip(&raw).expect("valid gzip");
                bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    println!("{{\"files\": {}, \"uncompressed_bytes\": {}, \"seconds\": {secs:.3}, \"threads\": {threads}}}", paths.len(), bytes.load(Ordering::Relaxed));
}
