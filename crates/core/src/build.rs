//! Arrow column builders driven by a [`ColType`] and fed raw JSON values.
//!
//! A builder receives the byte range of one JSON value (already validated as
//! UTF-8 and balanced by the scanner) and appends it according to the column
//! type, the way Athena's JSON SerDe would read it: scalars into strings,
//! objects into structs, JSON-valued fields kept as their original text.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    Array, ArrayRef, Float32Array, Int16Array, Int32Array, Int64Array, ListArray, RecordBatch,
    RecordBatchOptions, StructArray,
};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, Field, SchemaRef};

use crate::json::{self, Kind};
use crate::table::{struct_fields, ColType, Column};

/// Builds one Arrow column.
pub enum ColBuilder {
    Utf8 {
        b: StringBuilder,
        json: bool,
    },
    I16(Vec<Option<i16>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    F32(Vec<Option<f32>>),
    Struct {
        cols: Vec<Column>,
        children: Vec<ColBuilder>,
        nulls: NullBufferBuilder,
        len: usize,
    },
    List {
        item: ColType,
        child: Box<ColBuilder>,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
    },
}

impl ColBuilder {
    pub fn new(ty: &ColType) -> Self {
        match ty {
            ColType::String => ColBuilder::Utf8 {
                b: StringBuilder::new(),
                json: false,
            },
            ColType::JsonText => ColBuilder::Utf8 {
                b: StringBuilder::new(),
                json: true,
            },
            ColType::SmallInt => ColBuilder::I16(Vec::new()),
            ColType::Int => ColBuilder::I32(Vec::new()),
            ColType::BigInt => ColBuilder::I64(Vec::new()),
            ColType::Float => ColBuilder::F32(Vec::new()),
            ColType::Struct(cols) => ColBuilder::Struct {
                cols: cols.clone(),
                children: cols.iter().map(|c| ColBuilder::new(&c.ty)).collect(),
                nulls: NullBufferBuilder::new(0),
                len: 0,
            },
            ColType::Array(item) => ColBuilder::List {
                item: (**item).clone(),
                child: Box::new(ColBuilder::new(item)),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
            },
        }
    }

    pub fn append_null(&mut self) {
        match self {
            ColBuilder::Utf8 { b, .. } => b.append_null(),
            ColBuilder::I16(v) => v.push(None),
            ColBuilder::I32(v) => v.push(None),
            ColBuilder::I64(v) => v.push(None),
            ColBuilder::F32(v) => v.push(None),
            ColBuilder::Struct {
                children,
                nulls,
                len,
                ..
            } => {
                for c in children.iter_mut() {
                    c.append_null();
                }
                nulls.append_null();
                *len += 1;
            }
            ColBuilder::List { offsets, nulls, .. } => {
                let last = *offsets.last().unwrap_or(&0);
                offsets.push(last);
                nulls.append_null();
            }
        }
    }

    /// Append a plain string value (partition columns, normalised fields).
    pub fn append_str(&mut self, s: &str) {
        match self {
            ColBuilder::Utf8 { b, .. } => b.append_value(s),
            ColBuilder::I16(v) => v.push(s.trim().parse().ok()),
            ColBuilder::I32(v) => v.push(s.trim().parse().ok()),
            ColBuilder::I64(v) => v.push(s.trim().parse().ok()),
            ColBuilder::F32(v) => v.push(s.trim().parse().ok()),
            _ => self.append_null(),
        }
    }

    /// Append a plain string value, or NULL.
    pub fn append_opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.append_str(s),
            None => self.append_null(),
        }
    }

    /// Append the JSON value starting at `start` and return the index just
    /// after it. Nested objects are parsed in one pass: a struct's members are
    /// built as they are met, never skipped first and parsed again.
    pub fn append_value(&mut self, src: json::Src, start: usize) -> usize {
        let buf = src.bytes;
        let kind = json::kind_at(buf, start);
        if kind == Kind::Null {
            self.append_null();
            return (start + 4).min(buf.len());
        }
        match self {
            ColBuilder::Utf8 { b, json } => {
                let end = match json::skip_value(buf, start) {
                    Ok(e) => e,
                    Err(_) => {
                        b.append_null();
                        return buf.len();
                    }
                };
                if !*json && kind == Kind::String {
                    b.append_value(src.string(start, end));
                } else {
                    // Objects/arrays/numbers/booleans: their JSON text.
                    b.append_value(src.raw(start, end));
                }
                end
            }
            ColBuilder::I16(_) | ColBuilder::I32(_) | ColBuilder::I64(_) | ColBuilder::F32(_) => {
                let end = json::skip_value(buf, start).unwrap_or(buf.len());
                let raw = &buf[start..end];
                let text = if kind == Kind::String {
                    json::decode_string(raw).into_owned()
                } else {
                    String::from_utf8_lossy(raw).into_owned()
                };
                self.append_str(&text);
                end
            }
            ColBuilder::Struct {
                cols,
                children,
                nulls,
                len,
            } => {
                if kind != Kind::Object {
                    for c in children.iter_mut() {
                        c.append_null();
                    }
                    nulls.append_null();
                    *len += 1;
                    return json::skip_value(buf, start).unwrap_or(buf.len());
                }
                let mut filled = [false; 32];
                let n = cols.len().min(32);
                let end = parse_members(buf, start, |key, vstart| {
                    match cols[..n]
                        .iter()
                        .position(|c| c.source_key.as_bytes() == key)
                    {
                        Some(ix) if !filled[ix] => {
                            filled[ix] = true;
                            Ok(children[ix].append_value(src, vstart))
                        }
                        _ => json::skip_value(buf, vstart),
                    }
                });
                for (ix, child) in children.iter_mut().enumerate() {
                    if !filled.get(ix).copied().unwrap_or(false) {
                        child.append_null();
                    }
                }
                nulls.append_non_null();
                *len += 1;
                end.unwrap_or(buf.len())
            }
            ColBuilder::List {
                child,
                offsets,
                nulls,
                ..
            } => {
                if kind != Kind::Array {
                    let end = json::skip_value(buf, start).unwrap_or(buf.len());
                    self.append_null();
                    return end;
                }
                let mut count = 0i32;
                let end = parse_elements(buf, start, |vstart| {
                    count += 1;
                    Ok(child.append_value(src, vstart))
                });
                let last = *offsets.last().unwrap_or(&0);
                offsets.push(last + count);
                nulls.append_non_null();
                end.unwrap_or(buf.len())
            }
        }
    }

    pub fn finish(&mut self) -> ArrayRef {
        self.finish_with(false)
    }

    /// Finish the column; with `reserve`, the builder starts again with
    /// room for as much as it just held (plus an eighth), so that a batcher
    /// filling batch after batch does not regrow its buffers, copying them,
    /// from nothing each time.
    pub fn finish_with(&mut self, reserve: bool) -> ArrayRef {
        let room = |n: usize| if reserve { n + n / 8 } else { 0 };
        match self {
            ColBuilder::Utf8 { b, .. } => {
                let a = b.finish();
                *b = StringBuilder::with_capacity(room(a.len()), room(a.value_data().len()));
                Arc::new(a)
            }
            ColBuilder::I16(v) => Arc::new(Int16Array::from(std::mem::replace(
                v,
                Vec::with_capacity(room(v.len())),
            ))),
            ColBuilder::I32(v) => Arc::new(Int32Array::from(std::mem::replace(
                v,
                Vec::with_capacity(room(v.len())),
            ))),
            ColBuilder::I64(v) => Arc::new(Int64Array::from(std::mem::replace(
                v,
                Vec::with_capacity(room(v.len())),
            ))),
            ColBuilder::F32(v) => Arc::new(Float32Array::from(std::mem::replace(
                v,
                Vec::with_capacity(room(v.len())),
            ))),
            ColBuilder::Struct {
                cols,
                children,
                nulls,
                len,
            } => {
                let fields = struct_fields(cols);
                let arrays: Vec<ArrayRef> = children
                    .iter_mut()
                    .map(|c| c.finish_with(reserve))
                    .collect();
                let nb = nulls.finish();
                *len = 0;
                Arc::new(StructArray::new(fields, arrays, nb))
            }
            ColBuilder::List {
                item,
                child,
                offsets,
                nulls,
            } => {
                let values = child.finish_with(reserve);
                let mut fresh = Vec::with_capacity(room(offsets.len()).max(1));
                fresh.push(0);
                let offs = std::mem::replace(offsets, fresh);
                let nb = nulls.finish();
                let field = Arc::new(Field::new("item", item.arrow_type(), true));
                Arc::new(ListArray::new(
                    field,
                    OffsetBuffer::new(ScalarBuffer::from(offs)),
                    values,
                    nb,
                ))
            }
        }
    }
}

/// Walk an object's members, letting `f` consume each value (it returns the
/// index after the value). Returns the index after the closing brace.
fn parse_members(
    b: &[u8],
    i: usize,
    mut f: impl FnMut(&[u8], usize) -> json::Result<usize>,
) -> json::Result<usize> {
    let mut j = json::skip_ws(b, i + 1);
    if b.get(j) == Some(&b'}') {
        return Ok(j + 1);
    }
    loop {
        if b.get(j) != Some(&b'"') {
            return Err(json::SyntaxError {
                offset: j,
                msg: "expected an object key",
            });
        }
        let kend = json::skip_string_body(b, j + 1)?;
        let key = &b[j + 1..kend - 1];
        j = json::skip_ws(b, kend);
        if b.get(j) != Some(&b':') {
            return Err(json::SyntaxError {
                offset: j,
                msg: "expected ':' after object key",
            });
        }
        let vstart = json::skip_ws(b, j + 1);
        let vend = f(key, vstart)?;
        j = json::skip_ws(b, vend);
        match b.get(j) {
            Some(b',') => j = json::skip_ws(b, j + 1),
            Some(b'}') => return Ok(j + 1),
            _ => {
                return Err(json::SyntaxError {
                    offset: j,
                    msg: "expected ',' or '}' in object",
                })
            }
        }
    }
}

/// Walk an array's elements the same way.
fn parse_elements(
    b: &[u8],
    i: usize,
    mut f: impl FnMut(usize) -> json::Result<usize>,
) -> json::Result<usize> {
    let mut j = json::skip_ws(b, i + 1);
    if b.get(j) == Some(&b']') {
        return Ok(j + 1);
    }
    loop {
        let vend = f(j)?;
        j = json::skip_ws(b, vend);
        match b.get(j) {
            Some(b',') => j = json::skip_ws(b, j + 1),
            Some(b']') => return Ok(j + 1),
            _ => {
                return Err(json::SyntaxError {
                    offset: j,
                    msg: "expected ',' or ']' in array",
                })
            }
        }
    }
}

/// Rows of many files gathered into one batch.
///
/// A reader that builds Arrow columns itself appends each file's rows to
/// the batcher's builders, so small files (CloudTrail delivers ~100 events
/// per file) make batches of thousands of rows without a copy. Readers that
/// make a batch per file [`push`](Self::push) it instead, and the batches are
/// concatenated on [`take`](Self::take).
///
/// A file that turns out broken after some of its rows were appended is
/// taken back (`rollback`): the rows before it are kept,
/// the file's own are dropped.
pub struct Batcher {
    schema: SchemaRef,
    /// Builders for the output columns (empty for readers that push batches).
    pub(crate) builders: Vec<ColBuilder>,
    /// Rows in the builders.
    pub(crate) rows: usize,
    /// Bytes of input behind the rows in the builders.
    bytes: usize,
    /// Finished batches waiting to be taken.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
}

/// Input bytes one set of builders takes before it is sealed into a batch
/// of its own. What bounds every column's output, so its 32-bit offsets
/// cannot overflow:
/// - a text column copies a value's text from the input: a file is at most
///   [`crate::decompress::MAX_FILE_BYTES`] (1 GiB), decoding grows text by
///   half at most (an invalid two-byte escape becomes a three-byte U+FFFD;
///   input that is not UTF-8 is refused, never decoded lossily), and
///   1.5 × (256 MiB + 1 GiB) stays below 2 GiB;
/// - a partition column repeats a value from the key on every row: values
///   are at most 40 bytes (`layout`), a file adds at most
///   [`crate::cloudtrail::MAX_RECORDS_PER_FILE`] rows, and the scan takes the
///   batch after every file past a few thousand rows, so a batch holds one
///   file's rows and a few thousand more: 40 × 4 M is 160 MB.
const SEAL_BYTES: usize = 256 << 20;

impl Batcher {
    /// A batcher for readers that push whole batches.
    pub fn of_batches(schema: SchemaRef) -> Self {
        Batcher {
            schema,
            builders: vec![],
            rows: 0,
            bytes: 0,
            pending: vec![],
            pending_rows: 0,
        }
    }

    /// A batcher whose rows are appended to `builders` (one per field of
    /// `schema`, in order).
    pub fn of_builders(schema: SchemaRef, builders: Vec<ColBuilder>) -> Self {
        Batcher {
            schema,
            builders,
            rows: 0,
            bytes: 0,
            pending: vec![],
            pending_rows: 0,
        }
    }

    /// Rows held, built or pending.
    pub fn rows(&self) -> usize {
        self.rows + self.pending_rows
    }

    /// Add a finished batch.
    pub fn push(&mut self, b: RecordBatch) {
        self.pending_rows += b.num_rows();
        self.pending.push(b);
    }

    /// Before appending a file of `bytes` (decompressed): seal the rows
    /// built so far into a batch when the builders have taken enough input.
    pub(crate) fn make_room(&mut self, bytes: usize) -> Result<(), ArrowError> {
        if self.rows > 0 && self.bytes + bytes > SEAL_BYTES {
            self.seal()?;
        }
        self.bytes += bytes;
        Ok(())
    }

    /// Drop the rows appended after the builders held `mark` rows.
    pub(crate) fn rollback(&mut self, mark: usize) -> Result<(), ArrowError> {
        if self.rows > mark {
            // Rare (a broken file): finish what was built and keep its head.
            let b = self.finish_builders(true)?;
            if mark > 0 {
                self.push(b.slice(0, mark));
            }
        }
        Ok(())
    }

    /// The rows built so far as a batch; with `reserve`, the builders keep
    /// room for another such batch (see [`ColBuilder::finish_with`]).
    pub(crate) fn finish_builders(&mut self, reserve: bool) -> Result<RecordBatch, ArrowError> {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| b.finish_with(reserve))
            .collect();
        let rows = std::mem::take(&mut self.rows);
        self.bytes = 0;
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
    }

    fn seal(&mut self) -> Result<(), ArrowError> {
        let b = self.finish_builders(true)?;
        self.push(b);
        Ok(())
    }

    /// Everything held, as batches (one, unless a broken file or a very
    /// large input split it); empty when there are no rows.
    pub fn take(&mut self) -> Result<Vec<RecordBatch>, ArrowError> {
        if self.rows > 0 {
            self.seal()?;
        }
        let batches = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        // Batches pushed file by file are small: make one of them, unless
        // the text could outgrow 32-bit offsets.
        let size: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
        if batches.len() > 1 && size < SEAL_BYTES {
            return Ok(vec![arrow_select::concat::concat_batches(
                &self.schema,
                &batches,
            )?]);
        }
        Ok(batches)
    }
}
