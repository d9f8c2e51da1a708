//! Key guards in the scan: a filter's conditions on single columns whose
//! values repeat (the API name, the error code, the identity's type and
//! ARN, the user agent: [`super::plan::key_guard`]) are decided once per
//! distinct value a worker meets, and remembered. A row goes on to a
//! detection only where every one of its key conditions holds, found by
//! AND-ing one bit mask per key column; the rest of the filter, if any, is
//! evaluated on those rows alone.
//!
//! What is remembered is bounded per column ([`CACHE_MAX`] values of at
//! most [`VALUE_MAX`] bytes): a planted file of a million distinct or
//! huge agents costs its evaluation, never the scan's memory.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExpr;

type AHashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

/// An expression over some scan columns: the columns, the expression.
pub(crate) type Planned = (Vec<usize>, Arc<dyn PhysicalExpr>);

/// One key column of a batch: each row's value id (`u32::MAX`: null), each
/// distinct value's detection mask, a null's mask.
type ColumnMasks = (Vec<u32>, Vec<Box<[u64]>>, Box<[u64]>);

/// The most values a worker remembers per key column.
const CACHE_MAX: usize = 8192;

/// The longest value a worker remembers (bytes): with [`CACHE_MAX`], at
/// most 2 MiB per key column and worker.
const VALUE_MAX: usize = 256;

/// One key column and the conditions on it.
pub(crate) struct KeyColumn {
    /// The scan column, and the field of it when it is a struct.
    pub column: usize,
    pub field: Option<String>,
    /// The column's value as the conditions read it: the scan columns it
    /// reads and its expression.
    pub value: Planned,
    /// Keyed detection (index into [`Keys::detections`]), the scan columns
    /// its condition reads, the condition.
    pub conditions: Vec<(usize, Vec<usize>, Arc<dyn PhysicalExpr>)>,
}

/// Every key column of the scan, and the detections they guard.
pub(crate) struct Keys {
    pub columns: Vec<KeyColumn>,
    /// The hunt's index of each keyed detection.
    pub detections: Vec<u32>,
    /// Words of a detection mask.
    words: usize,
    /// Per column: the mask of the detections with no condition on it.
    base: Vec<Vec<u64>>,
}

/// What one worker remembers: per column, the detections each value
/// admits (as masks), and what a null admits.
#[derive(Default)]
pub(crate) struct Memo {
    values: Vec<AHashMap<String, Box<[u64]>>>,
    null: Vec<Option<Box<[u64]>>>,
}

impl Keys {
    pub fn new(columns: Vec<KeyColumn>, detections: Vec<u32>) -> Self {
        let words = detections.len().div_ceil(64).max(1);
        let base = columns
            .iter()
            .map(|c| {
                let mut m = vec![u64::MAX; words];
                for (kd, _, _) in &c.conditions {
                    m[kd / 64] &= !(1u64 << (kd % 64));
                }
                m
            })
            .collect();
        Keys {
            columns,
            detections,
            words,
            base,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.detections.is_empty()
    }

    pub fn memo(&self) -> Memo {
        Memo {
            values: (0..self.columns.len())
                .map(|_| AHashMap::default())
                .collect(),
            null: vec![None; self.columns.len()],
        }
    }

    /// Each keyed detection's candidate rows of `batch` into
    /// `candidates[hunt index]`. Returns false, with nothing filled, when a
    /// key column is not text in this batch (the filters then run whole).
    /// A condition that fails to evaluate is reported in `failed`.
    pub fn dispatch(
        &self,
        batch: &RecordBatch,
        memo: &mut Memo,
        candidates: &mut [Vec<u32>],
        failed: &mut [Option<String>],
    ) -> Result<bool> {
        let n = batch.num_rows();
        // Per column: each row's value id (u32::MAX: null) and each id's mask.
        let mut per_column: Vec<ColumnMasks> = vec![];
        for (k, col) in self.columns.iter().enumerate() {
            let Some(c) = self.column_masks(k, col, batch, memo, failed)? else {
                return Ok(false);
            };
            per_column.push(c);
        }
        let mut acc = vec![0u64; self.words];
        for r in 0..n {
            acc.iter_mut().for_each(|w| *w = u64::MAX);
            for (ids, masks, null) in &per_column {
                let m = match ids[r] {
                    u32::MAX => null,
                    id => &masks[id as usize],
                };
                for (a, w) in acc.iter_mut().zip(m.iter()) {
                    *a &= w;
                }
            }
            for (w, bits) in acc.iter().enumerate() {
                let mut bits = *bits;
                while bits != 0 {
                    let kd = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Some(&d) = self.detections.get(kd) {
                        candidates[d as usize].push(r as u32);
                    }
                }
            }
        }
        Ok(true)
    }

    /// One key column of a batch: each row's value id, each distinct
    /// value's mask, and the mask of a null (all from the memo, the values
    /// not yet in it evaluated by every condition at once on one row each).
    fn column_masks(
        &self,
        k: usize,
        col: &KeyColumn,
        batch: &RecordBatch,
        memo: &mut Memo,
        failed: &mut [Option<String>],
    ) -> Result<Option<ColumnMasks>> {
        let (vcols, vexpr) = &col.value;
        let input = batch.project(vcols)?;
        let array = vexpr.evaluate(&input)?.into_array(input.num_rows())?;
        let Some(text) = array.as_string_opt::<i32>() else {
            return Ok(None);
        };
        let n = batch.num_rows();
        let mut ids = Vec::with_capacity(n);
        let mut values: Vec<&str> = vec![];
        let mut first_row: Vec<u32> = vec![];
        let mut first_null: Option<u32> = None;
        {
            let mut seen: AHashMap<&str, u32> = AHashMap::default();
            let mut last: Option<(&str, u32)> = None;
            for r in 0..n {
                if text.is_null(r) {
                    first_null.get_or_insert(r as u32);
                    ids.push(u32::MAX);
                    continue;
                }
                let v = text.value(r);
                let id = match last {
                    Some((l, id)) if l == v => id,
                    _ => *seen.entry(v).or_insert_with(|| {
                        values.push(v);
                        first_row.push(r as u32);
                        values.len() as u32 - 1
                    }),
                };
                last = Some((v, id));
                ids.push(id);
            }
        }
        let cache = &mut memo.values[k];
        if cache.len() + values.len() > CACHE_MAX {
            cache.clear();
        }
        // The values (and the null) not yet known.
        let mut missing: Vec<u32> = (0..values.len() as u32)
            .filter(|id| !cache.contains_key(values[*id as usize]))
            .collect();
        let null_missing = first_null.is_some() && memo.null[k].is_none();
        let mut rows: Vec<u32> = missing.iter().map(|id| first_row[*id as usize]).collect();
        if null_missing {
            rows.extend(first_null);
            missing.push(u32::MAX);
        }
        let mut fresh: Vec<Option<Box<[u64]>>> = vec![None; values.len()];
        if !rows.is_empty() {
            let rows = UInt32Array::from(rows);
            let mut masks: Vec<Vec<u64>> = vec![self.base[k].clone(); missing.len()];
            for (kd, pcols, expr) in &col.conditions {
                let d = self.detections[*kd] as usize;
                if failed[d].is_some() {
                    continue;
                }
                let input = take_record_batch(&batch.project(pcols)?, &rows)?;
                match super::scan::eval_on(expr, &input, None) {
                    Ok(holds) => {
                        for (j, m) in masks.iter_mut().enumerate() {
                            if holds.is_valid(j) && holds.value(j) {
                                m[kd / 64] |= 1u64 << (kd % 64);
                            }
                        }
                    }
                    Err(e) => failed[d] = Some(e.to_string()),
                }
            }
            for (id, m) in missing.iter().zip(masks) {
                match *id {
                    u32::MAX => memo.null[k] = Some(m.into_boxed_slice()),
                    // A long value is decided again in each batch it is in:
                    // remembering it would let a planted value hold memory.
                    id if values[id as usize].len() > VALUE_MAX => {
                        fresh[id as usize] = Some(m.into_boxed_slice());
                    }
                    id => {
                        cache.insert(values[id as usize].to_string(), m.into_boxed_slice());
                    }
                }
            }
        }
        let masks: Vec<Box<[u64]>> = values
            .iter()
            .zip(fresh)
            .map(|(v, f)| f.or_else(|| cache.get(*v).cloned()))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                datafusion::error::DataFusionError::Internal("hunt key memo lost a value".into())
            })?;
        let null = memo.null[k]
            .clone()
            .unwrap_or_else(|| self.base[k].clone().into_boxed_slice());
        Ok(Some((ids, masks, null)))
    }
}
