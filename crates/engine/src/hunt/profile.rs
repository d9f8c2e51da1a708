//! Where the hunt's time and memory go, for `tracing` at debug level.

use std::collections::HashSet;

use datafusion::arrow::array::Array;

use super::scan::Piece;

/// Memory the detections' rows hold, per scan column, largest first
/// (buffers shared between detections counted once). For the profile.
pub(super) fn held_bytes<'s>(
    schema: &'s datafusion::arrow::datatypes::Schema,
    tables: &[Vec<Piece>],
    idx: &[Vec<usize>],
) -> Vec<(usize, &'s str)> {
    let mut seen: HashSet<usize> = HashSet::new();
    let mut by_col: Vec<(usize, &str)> = vec![];
    for (ci, field) in schema.fields().iter().enumerate() {
        let mut bytes = 0usize;
        for (pieces, cols) in tables.iter().zip(idx) {
            let Some(pos) = cols.iter().position(|&c| c == ci) else {
                continue;
            };
            for p in pieces {
                let mut stack = vec![p.rows.column(pos).to_data()];
                while let Some(d) = stack.pop() {
                    let buffers = d.buffers().iter().chain(d.nulls().map(|n| n.buffer()));
                    for b in buffers {
                        if seen.insert(b.as_ptr() as usize) {
                            bytes += b.capacity();
                        }
                    }
                    stack.extend(d.child_data().iter().cloned());
                }
            }
        }
        by_col.push((bytes, field.name().as_str()));
    }
    by_col.sort_by_key(|c| std::cmp::Reverse(c.0));
    by_col
}

/// The process's resident memory now, in MB (Linux), for the profile.
pub(crate) fn rss_mb() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// The `tracing` target of the hunt's profile (`RUST_LOG=irprep::hunt=debug`,
/// or `irprep hunt --timings`).
pub(crate) const TARGET: &str = "irprep::hunt";

/// Is the profile wanted? (Measuring it costs a little, so only then.)
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::DEBUG)
}
