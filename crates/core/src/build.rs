//! Arrow column builders driven by a [`ColType`] and fed raw JSON values.
//!
//! A builder receives the byte range of one JSON value (already validated as
//! UTF-8 and balanced by the scanner) and appends it according to the column
//! type, the way Athena's JSON SerDe would read it: scalars into strings,
//! objects into structs, JSON-valued fields kept as their original text.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Int16Array, Int32Array, Int64Array, Float32Array, ListArray, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::Field;

use crate::json::{self, Kind};
use crate::table::{struct_fields, ColType, Column};

/// Builds one Arrow column.
pub enum ColBuilder {
    Utf8 { b: StringBuilder, json: bool },
    I16(Vec<Option<i16>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    F32(Vec<Option<f32>>),
    Struct { cols: Vec<Column>, children: Vec<ColBuilder>, nulls: NullBufferBuilder, len: usize },
    List { item: ColType, child: Box<ColBuilder>, offsets: Vec<i32>, nulls: NullBufferBuilder },
}

impl ColBuilder {
    pub fn new(ty: &ColType) -> Self {
        match ty {
            ColType::String => ColBuilder::Utf8 { b: StringBuilder::new(), json: false },
            ColType::JsonText => ColBuilder::Utf8 { b: StringBuilder::new(), json: true },
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
            ColBuilder::Struct { children, nulls, len, .. } => {
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

    /// Append the JSON value `buf[start..end]`. The range must come from the
    /// scanner (balanced, UTF-8 validated); malformed content degrades to NULL
    /// rather than failing.
    pub fn append_json(&mut self, buf: &[u8], start: usize, end: usize) {
        let raw = &buf[start..end];
        let kind = json::kind_at(buf, start);
        if kind == Kind::Null {
            self.append_null();
            return;
        }
        match self {
            ColBuilder::Utf8 { b, json } => {
                if !*json && kind == Kind::String {
                    b.append_value(json::decode_string(raw));
                } else {
                    // Objects/arrays/numbers/booleans: their JSON text.
                    b.append_value(std::str::from_utf8(raw).unwrap_or("\u{FFFD}"));
                }
            }
            ColBuilder::I16(_) | ColBuilder::I32(_) | ColBuilder::I64(_) | ColBuilder::F32(_) => {
                let text = if kind == Kind::String {
                    json::decode_string(raw).into_owned()
                } else {
                    String::from_utf8_lossy(raw).into_owned()
                };
                self.append_str(&text);
            }
            ColBuilder::Struct { cols, children, nulls, len } => {
                if kind != Kind::Object {
                    for c in children.iter_mut() {
                        c.append_null();
                    }
                    nulls.append_null();
                    *len += 1;
                    return;
                }
                let mut slots: [Option<(usize, usize)>; 16] = [None; 16];
                let n = cols.len().min(16);
                let _ = json::for_each_member(buf, start, |k, s, e| {
                    if let Some(ix) = cols[..n].iter().position(|c| c.source_key.as_bytes() == k) {
                        if slots[ix].is_none() {
                            slots[ix] = Some((s, e));
                        }
                    }
                    Ok(())
                });
                for (ix, child) in children.iter_mut().enumerate() {
                    match slots.get(ix).copied().flatten() {
                        Some((s, e)) => child.append_json(buf, s, e),
                        None => child.append_null(),
                    }
                }
                nulls.append_non_null();
                *len += 1;
            }
            ColBuilder::List { child, offsets, nulls, .. } => {
                if kind != Kind::Array {
                    self.append_null();
                    return;
                }
                let mut count = 0i32;
                let _ = json::for_each_element(buf, start, |s, e| {
                    child.append_json(buf, s, e);
                    count += 1;
                    Ok(())
                });
                let last = *offsets.last().unwrap_or(&0);
                offsets.push(last + count);
                nulls.append_non_null();
            }
        }
    }

    pub fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Utf8 { b, .. } => Arc::new(b.finish()),
            ColBuilder::I16(v) => Arc::new(Int16Array::from(std::mem::take(v))),
            ColBuilder::I32(v) => Arc::new(Int32Array::from(std::mem::take(v))),
            ColBuilder::I64(v) => Arc::new(Int64Array::from(std::mem::take(v))),
            ColBuilder::F32(v) => Arc::new(Float32Array::from(std::mem::take(v))),
            ColBuilder::Struct { cols, children, nulls, len } => {
                let fields = struct_fields(cols);
                let arrays: Vec<ArrayRef> = children.iter_mut().map(|c| c.finish()).collect();
                let nb = nulls.finish();
                *len = 0;
                Arc::new(StructArray::new(fields, arrays, nb))
            }
            ColBuilder::List { item, child, offsets, nulls } => {
                let values = child.finish();
                let offs = std::mem::replace(offsets, vec![0]);
                let nb = nulls.finish();
                let field = Arc::new(Field::new("item", item.arrow_type(), true));
                Arc::new(ListArray::new(field, OffsetBuffer::new(ScalarBuffer::from(offs)), values, nb))
            }
        }
    }
}
