//! The CloudTrail record reader: delivery files, NDJSON, JSON arrays, with
//! projection (only the columns a query uses are built; the rest are skipped
//! at scanner speed).
//!
//! Input handling, in order:
//! - gzip is recognised by its magic bytes, whatever the file name;
//! - a `{"Records":[…]}` object is a delivery file; its events are read in
//!   place, without a second pass;
//! - an object with digest keys (`digestStartTime`, …) is a digest file and is
//!   counted, not read;
//! - events whose `eventType` is `AwsCloudTrailInsight` are counted, not read;
//! - any other object is one event (NDJSON, concatenated JSON, or a single
//!   event), and a top-level array is a list of events;
//! - Logstash-processed events without `eventTime` take it from `@timestamp`.
//!
//! A syntax error in a delivery file or a JSON array makes the whole file
//! unreadable (reported with its byte offset; nothing of it is kept). In NDJSON
//! the bad line alone is skipped. A record that is not an object, holds
//! invalid UTF-8, or exceeds [`MAX_RECORD_BYTES`] is skipped and reported.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::build::{Batcher, ColBuilder};
use crate::decompress;
use crate::json::{self, skip_ws, SyntaxError};
use crate::layout::CloudTrailPartitions;
use crate::table::{self, TableDef};

/// Largest accepted single record. CloudTrail never writes one near this; the
/// limit keeps memory bounded on hostile input.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
/// Records one file may add. A real file holds far fewer (a delivery file a
/// few thousand; a 1 GiB export of real events about three million); a
/// planted file of tiny records (`{}` repeated) would otherwise turn a few
/// kilobytes of gzip into hundreds of millions of rows, each carrying its
/// partition values and a slot in every column. Later records are skipped
/// and the file says so.
pub const MAX_RECORDS_PER_FILE: usize = 4_000_000;

/// The problem of the first record past [`MAX_RECORDS_PER_FILE`].
pub fn too_many_records(offset: usize, record: Option<usize>) -> Problem {
    Problem {
        offset: Some(offset),
        record,
        message: format!(
            "more than {MAX_RECORDS_PER_FILE} records in one file: this record and every later one are skipped"
        ),
    }
}

/// What the reader must produce.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Indices into the table schema (columns then partitions) to build, in
    /// output order. `None` = all.
    pub projection: Option<Vec<usize>>,
    /// Keep only events with `since <= eventtime < until` (canonical
    /// `YYYY-MM-DDTHH:MM:SSZ` strings compare correctly as text).
    pub since: Option<String>,
    pub until: Option<String>,
    /// Struct columns to build narrowed to some children (see
    /// [`TableDef::with_struct_fields`]); the projection indices and the
    /// output schema follow the narrowed table.
    pub struct_fields: Vec<(String, Vec<String>)>,
}

/// Why a record or file was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset in the (decompressed) content.
    pub offset: Option<usize>,
    /// 0-based record index in the file, when known.
    pub record: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.record, self.offset) {
            (Some(r), Some(o)) => write!(f, "record {r} at byte {o}: {}", self.message),
            (None, Some(o)) => write!(f, "byte {o}: {}", self.message),
            (Some(r), None) => write!(f, "record {r}: {}", self.message),
            (None, None) => write!(f, "{}", self.message),
        }
    }
}

/// What reading one file found.
#[derive(Debug, Default)]
pub struct FileOutcome {
    pub batch: Option<RecordBatch>,
    pub events: usize,
    /// Events read but outside the time window.
    pub filtered: usize,
    pub insight_events: usize,
    pub is_digest: bool,
    /// Records skipped (the rest of the file was read): the first
    /// [`MAX_RECORD_PROBLEMS`] in full, see [`FileOutcome::record_problem`].
    pub record_problems: Vec<Problem>,
    /// Records skipped beyond those listed (counted, not kept).
    pub more_record_problems: usize,
    /// The file could not be read at all.
    pub file_problem: Option<Problem>,
}

/// Record problems of one file kept in full; the rest are counted. A small
/// file of broken lines must not cost memory or a terminal per line.
pub const MAX_RECORD_PROBLEMS: usize = 20;

impl FileOutcome {
    /// Note a skipped record: listed while fewer than
    /// [`MAX_RECORD_PROBLEMS`] are, else counted.
    pub fn record_problem(&mut self, p: Problem) {
        if self.record_problems.len() < MAX_RECORD_PROBLEMS {
            self.record_problems.push(p);
        } else {
            self.more_record_problems += 1;
        }
    }

    /// Like [`Self::record_problem`], building the problem (its message text)
    /// only when it is listed: a file of millions of bad lines costs a count
    /// per line, not a formatted message.
    pub fn record_problem_with(&mut self, p: impl FnOnce() -> Problem) {
        if self.record_problems.len() < MAX_RECORD_PROBLEMS {
            self.record_problems.push(p());
        } else {
            self.more_record_problems += 1;
        }
    }

    /// Records skipped in all, listed or not.
    pub fn records_skipped(&self) -> usize {
        self.record_problems.len() + self.more_record_problems
    }
}

const EVENT_TIME: &[u8] = b"eventTime";
const TIMESTAMP: &[u8] = b"@timestamp";
const EVENT_TYPE: &[u8] = b"eventType";
const RECIPIENT: &[u8] = b"recipientAccountId";
const REGION: &[u8] = b"awsRegion";
const DIGEST_KEYS: [&[u8]; 4] = [
    b"digestStartTime",
    b"digestEndTime",
    b"digestPublicKeyFingerprint",
    b"previousDigestSignature",
];

/// Reads CloudTrail content into Arrow batches of the `cloudtrail` table.
pub struct CloudTrailReader {
    table: TableDef,
    schema: SchemaRef,
    out_schema: SchemaRef,
    /// For each output column: Some(column index) or a partition.
    outputs: Vec<Output>,
    /// JSON key -> column slot, bucketed by key length for a fast lookup.
    keys: KeyIndex,
    /// Columns whose values this read decodes (outputs, plus what partitions
    /// and the time window need).
    used_cols: Vec<usize>,
    opts: ReadOptions,
}

#[derive(Debug, Clone, Copy)]
enum Output {
    Column(usize),
    Account,
    Region,
    Date,
}

impl CloudTrailReader {
    pub fn new(opts: ReadOptions) -> Self {
        let table = table::cloudtrail().with_struct_fields(&opts.struct_fields);
        let schema = table.arrow_schema();
        let ncols = table.columns.len();
        let projection: Vec<usize> = opts
            .projection
            .clone()
            .unwrap_or_else(|| (0..schema.fields().len()).collect());
        let out_schema = Arc::new(
            schema
                .project(&projection)
                .expect("projection indices come from the schema"),
        );
        let mut outputs = Vec::new();
        for &ix in &projection {
            outputs.push(if ix < ncols {
                Output::Column(ix)
            } else {
                match table.partitions[ix - ncols].name {
                    table::ACCOUNT_PARTITION => Output::Account,
                    table::REGION_PARTITION => Output::Region,
                    _ => Output::Date,
                }
            });
        }
        let keys = KeyIndex::new(
            table
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.source_key.as_bytes(), i)),
        );
        let mut used_cols: Vec<usize> = outputs
            .iter()
            .filter_map(|o| {
                if let Output::Column(ci) = o {
                    Some(*ci)
                } else {
                    None
                }
            })
            .collect();
        for k in [EVENT_TIME, RECIPIENT, REGION, EVENT_TYPE] {
            if let Some(ci) = keys.get(k) {
                used_cols.push(ci);
            }
        }
        used_cols.sort_unstable();
        used_cols.dedup();
        CloudTrailReader {
            table,
            schema,
            out_schema,
            outputs,
            keys,
            used_cols,
            opts,
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn output_schema(&self) -> SchemaRef {
        self.out_schema.clone()
    }

    /// Read one file's raw bytes (gzipped or not).
    pub fn read_bytes(&self, raw: &[u8], partitions: Option<&CloudTrailPartitions>) -> FileOutcome {
        match decompress::maybe_gunzip(raw) {
            Ok(data) => self.read_json(&data, partitions),
            Err(p) => FileOutcome {
                file_problem: Some(p),
                ..Default::default()
            },
        }
    }

    /// Like [`Self::read_bytes`], decompressing into a buffer the caller
    /// keeps between files.
    pub fn read_bytes_reusing(
        &self,
        raw: &[u8],
        partitions: Option<&CloudTrailPartitions>,
        buf: &mut Vec<u8>,
        d: &mut crate::decompress::Inflater,
    ) -> FileOutcome {
        match decompress::gunzip_into(raw, buf, d) {
            Ok(len) => self.read_json(&buf[..len], partitions),
            Err(p) => FileOutcome {
                file_problem: Some(p),
                ..Default::default()
            },
        }
    }

    /// Read decompressed content into a batch of its own.
    pub fn read_json(&self, data: &[u8], partitions: Option<&CloudTrailPartitions>) -> FileOutcome {
        let mut into = self.batcher(self.out_schema.clone());
        let mut out = self.read_json_into(data, partitions, &mut into);
        if out.file_problem.is_none() && (out.events > 0 || !self.outputs.is_empty()) {
            match into.finish_builders(false) {
                Ok(b) => out.batch = Some(b),
                Err(e) => {
                    out.file_problem = Some(Problem {
                        offset: None,
                        record: None,
                        message: format!("cannot build the batch: {e}"),
                    })
                }
            }
        }
        out
    }

    /// Builders for this read's output columns, gathered under `schema`
    /// (the output schema, as the caller names it).
    pub fn batcher(&self, schema: SchemaRef) -> Batcher {
        let builders = self
            .outputs
            .iter()
            .map(|o| match o {
                Output::Column(ci) => ColBuilder::new(&self.table.columns[*ci].ty),
                _ => ColBuilder::new(&table::ColType::String),
            })
            .collect();
        Batcher::of_builders(schema, builders)
    }

    /// Read decompressed content, appending its events to `into` (made by
    /// [`Self::batcher`]). A file that cannot be read leaves `into` as it was.
    pub fn read_json_into(
        &self,
        data: &[u8],
        partitions: Option<&CloudTrailPartitions>,
        into: &mut Batcher,
    ) -> FileOutcome {
        let mark = into.rows;
        let mut out = FileOutcome::default();
        let mut b = data;
        if b.starts_with(b"\xEF\xBB\xBF") {
            b = &b[3..];
        }
        let first = skip_ws(b, 0);
        if first >= b.len() {
            out.file_problem = Some(Problem {
                offset: Some(0),
                record: None,
                message: "empty file: no JSON content".into(),
            });
            return out;
        }
        let mut st = State::new(self, partitions, &mut into.builders, json::Src::new(b));
        let res = match b[first] {
            b'[' => self.read_array(b, first, &mut st, &mut out),
            b'{' => self.read_objects(b, first, &mut st, &mut out),
            _ => Err(SyntaxError {
                offset: first,
                msg: "not JSON: expected '{' or '['",
            }),
        };
        let rows = st.rows;
        into.rows += rows;
        if let Err(e) = res {
            out.file_problem = Some(Problem {
                offset: Some(e.offset),
                record: None,
                message: e.msg.to_string(),
            });
            out.events = 0;
            out.filtered = 0;
            if let Err(e) = into.rollback(mark) {
                out.file_problem = Some(Problem {
                    offset: None,
                    record: None,
                    message: format!("cannot build the batch: {e}"),
                });
            }
            return out;
        }
        out.events = rows;
        out
    }

    /// Like [`Self::read_bytes_reusing`], appending to `into`.
    pub fn read_bytes_into(
        &self,
        raw: &[u8],
        partitions: Option<&CloudTrailPartitions>,
        buf: &mut Vec<u8>,
        d: &mut crate::decompress::Inflater,
        into: &mut Batcher,
    ) -> FileOutcome {
        match decompress::gunzip_into(raw, buf, d) {
            Ok(len) => match into.make_room(len) {
                Ok(()) => self.read_json_into(&buf[..len], partitions, into),
                Err(e) => FileOutcome {
                    file_problem: Some(Problem {
                        offset: None,
                        record: None,
                        message: format!("cannot build the batch: {e}"),
                    }),
                    ..Default::default()
                },
            },
            Err(p) => FileOutcome {
                file_problem: Some(p),
                ..Default::default()
            },
        }
    }

    fn read_array(
        &self,
        b: &[u8],
        at: usize,
        st: &mut State,
        out: &mut FileOutcome,
    ) -> json::Result<()> {
        let mut rec = 0usize;
        let end = json::for_each_element(b, at, |s, e| {
            self.event(b, s, e, rec, st, out);
            rec += 1;
            Ok(())
        })?;
        let tail = skip_ws(b, end);
        if tail < b.len() {
            return Err(SyntaxError {
                offset: tail,
                msg: "trailing content after the JSON array",
            });
        }
        Ok(())
    }

    /// A stream of objects: a delivery file's single container, or NDJSON.
    fn read_objects(
        &self,
        b: &[u8],
        mut at: usize,
        st: &mut State,
        out: &mut FileOutcome,
    ) -> json::Result<()> {
        let mut rec = 0usize;
        let mut container_seen = false;
        while at < b.len() {
            if b[at] != b'{' {
                // Not an object where one should start: report the line, resync.
                let nl = memchr::memchr(b'\n', &b[at..])
                    .map(|o| at + o + 1)
                    .unwrap_or(b.len());
                out.record_problem(Problem {
                    offset: Some(at),
                    record: Some(rec),
                    message: "record is not a JSON object".into(),
                });
                rec += 1;
                at = skip_ws(b, nl);
                continue;
            }
            // The usual delivery file: `{"Records":[` read in place, one pass.
            if let Some(arr) = records_array_start(b, at) {
                let end_arr = json::for_each_element(b, arr, |s, e| {
                    self.event(b, s, e, rec, st, out);
                    rec += 1;
                    Ok(())
                })?;
                at = skip_ws(b, finish_object(b, end_arr)?);
                continue;
            }
            // Scan the top-level object; read Records in place if present.
            let mut slots = st.take_slots();
            let mut records: Option<(usize, usize)> = None;
            let mut digest = false;
            let scanned = scan_object(b, at, &self.keys, &mut slots, &mut records, &mut digest);
            match scanned {
                Ok(end) => {
                    if let Some((rs, _re)) = records {
                        container_seen = true;
                        if json::kind_at(b, rs) == json::Kind::Array {
                            json::for_each_element(b, rs, |s, e| {
                                self.event(b, s, e, rec, st, out);
                                rec += 1;
                                Ok(())
                            })?;
                        } else {
                            out.record_problem(Problem {
                                offset: Some(rs),
                                record: None,
                                message: "\"Records\" is not an array".into(),
                            });
                        }
                    } else if digest {
                        out.is_digest = true;
                    } else {
                        self.event_from_slots(b, at, end, rec, &slots, st, out);
                        rec += 1;
                    }
                    st.put_slots(slots);
                    at = skip_ws(b, end);
                }
                Err(e) => {
                    st.put_slots(slots);
                    if container_seen
                        || records.is_some()
                        || rec == 0 && !has_newline_before_end(b, at)
                    {
                        // A delivery file (one object) is broken: nothing of it is kept.
                        return Err(e);
                    }
                    // NDJSON: skip the broken line only.
                    out.record_problem(Problem {
                        offset: Some(e.offset),
                        record: Some(rec),
                        message: format!("invalid JSON: {}", e.msg),
                    });
                    rec += 1;
                    let nl = memchr::memchr(b'\n', &b[at..])
                        .map(|o| at + o + 1)
                        .unwrap_or(b.len());
                    let next = if e.offset >= nl {
                        memchr::memchr(b'\n', &b[e.offset..])
                            .map(|o| e.offset + o + 1)
                            .unwrap_or(b.len())
                    } else {
                        nl
                    };
                    at = skip_ws(b, next);
                }
            }
        }
        Ok(())
    }

    fn event(
        &self,
        b: &[u8],
        s: usize,
        e: usize,
        rec: usize,
        st: &mut State,
        out: &mut FileOutcome,
    ) {
        if json::kind_at(b, s) != json::Kind::Object {
            out.record_problem(Problem {
                offset: Some(s),
                record: Some(rec),
                message: "record is not a JSON object".into(),
            });
            return;
        }
        let mut slots = st.take_slots();
        let mut records = None;
        let mut digest = false;
        match scan_object(b, s, &self.keys, &mut slots, &mut records, &mut digest) {
            Ok(end) => self.event_from_slots(b, s, end, rec, &slots, st, out),
            Err(err) => out.record_problem(Problem {
                offset: Some(err.offset),
                record: Some(rec),
                message: format!("invalid JSON: {}", err.msg),
            }),
        }
        let _ = e;
        st.put_slots(slots);
    }

    #[allow(clippy::too_many_arguments)]
    fn event_from_slots(
        &self,
        b: &[u8],
        s: usize,
        e: usize,
        rec: usize,
        slots: &Slots,
        st: &mut State,
        out: &mut FileOutcome,
    ) {
        if st.rows >= MAX_RECORDS_PER_FILE {
            if st.capped {
                out.more_record_problems += 1;
            } else {
                st.capped = true;
                out.record_problem(too_many_records(s, Some(rec)));
            }
            return;
        }
        if e - s > MAX_RECORD_BYTES {
            out.record_problem(Problem {
                offset: Some(s),
                record: Some(rec),
                message: format!(
                    "record of {} bytes exceeds the {} MiB limit",
                    e - s,
                    MAX_RECORD_BYTES >> 20
                ),
            });
            return;
        }
        // Only the values this read uses must be text: check those (the rest
        // of the record was skipped without being decoded), unless the whole
        // file is known to be.
        let src = st.src;
        for &(a, z) in self
            .used_cols
            .iter()
            .filter(|_| src.text.is_none())
            .filter_map(|&ci| slots.cols[ci].as_ref())
            .chain(slots.timestamp.as_ref())
        {
            if let Err(u) = std::str::from_utf8(&b[a..z]) {
                out.record_problem(Problem {
                    offset: Some(a + u.valid_up_to()),
                    record: Some(rec),
                    message: "invalid UTF-8 byte".into(),
                });
                return;
            }
        }
        if let Some((ts, te)) = slots.event_type {
            if &b[ts..te] == b"\"AwsCloudTrailInsight\"" {
                out.insight_events += 1;
                return;
            }
        }
        // Event time: eventTime, or Logstash's @timestamp.
        let time = slots
            .cols
            .get(st.time_col)
            .copied()
            .flatten()
            .or(slots.timestamp)
            .filter(|(a, _)| json::kind_at(b, *a) == json::Kind::String)
            .map(|(a, z)| canonical_time_of(src.string(a, z)));
        if self.opts.since.is_some() || self.opts.until.is_some() {
            let t = time.as_deref().unwrap_or("");
            let before = self.opts.since.as_deref().is_some_and(|since| t < since);
            let after = self.opts.until.as_deref().is_some_and(|until| t >= until);
            if before || after {
                out.filtered += 1;
                return;
            }
        }
        for (oi, o) in self.outputs.iter().enumerate() {
            let builder = &mut st.builders[oi];
            match *o {
                Output::Column(ci) => {
                    if ci == st.time_col {
                        match &time {
                            Some(t) => builder.append_str(t),
                            None => builder.append_null(),
                        }
                    } else {
                        match slots.cols[ci] {
                            Some((a, _)) => {
                                builder.append_value(src, a);
                            }
                            None => builder.append_null(),
                        }
                    }
                }
                Output::Account => match st.partitions {
                    Some(p) => builder.append_str(&p.account),
                    None => append_string_slot(builder, src, slots.cols[st.account_col]),
                },
                Output::Region => match st.partitions {
                    Some(p) => builder.append_str(&p.region),
                    None => append_string_slot(builder, src, slots.cols[st.region_col]),
                },
                Output::Date => match st.partitions {
                    Some(p) => builder.append_str(&p.date),
                    None => match time.as_deref().and_then(crate::layout::date_of_time) {
                        Some(d) => builder.append_str(&d),
                        None => builder.append_null(),
                    },
                },
            }
        }
        st.rows += 1;
    }

    pub fn table(&self) -> &TableDef {
        &self.table
    }
}

fn append_string_slot(builder: &mut ColBuilder, src: json::Src, slot: Option<(usize, usize)>) {
    match slot {
        Some((a, z)) if json::kind_at(src.bytes, a) == json::Kind::String => {
            builder.append_str(&src.string(a, z))
        }
        _ => builder.append_null(),
    }
}

/// If the object at `at` starts with `"Records": [`, the index of the `[`.
fn records_array_start(b: &[u8], at: usize) -> Option<usize> {
    let k = skip_ws(b, at + 1);
    if b.get(k..k + 9)? != b"\"Records\"" {
        return None;
    }
    let c = skip_ws(b, k + 9);
    if b.get(c) != Some(&b':') {
        return None;
    }
    let v = skip_ws(b, c + 1);
    (b.get(v) == Some(&b'[')).then_some(v)
}

/// After a member value inside an object: skip any further members and the
/// closing brace. Returns the index after `}`.
fn finish_object(b: &[u8], mut j: usize) -> json::Result<usize> {
    loop {
        j = skip_ws(b, j);
        match b.get(j) {
            Some(b'}') => return Ok(j + 1),
            Some(b',') => {
                j = skip_ws(b, j + 1);
                if b.get(j) != Some(&b'"') {
                    return Err(SyntaxError {
                        offset: j,
                        msg: "expected an object key",
                    });
                }
                j = skip_ws(b, json::skip_string_body(b, j + 1)?);
                if b.get(j) != Some(&b':') {
                    return Err(SyntaxError {
                        offset: j,
                        msg: "expected ':' after object key",
                    });
                }
                j = json::skip_value(b, skip_ws(b, j + 1))?;
            }
            _ => {
                return Err(SyntaxError {
                    offset: j,
                    msg: "expected ',' or '}' in object",
                })
            }
        }
    }
}

fn has_newline_before_end(b: &[u8], at: usize) -> bool {
    // A file that is a single object (delivery file) has no newline between
    // objects; NDJSON has at least one line break after the first record.
    memchr::memchr(b'\n', &b[at..]).is_some_and(|o| at + o + 1 < b.len())
}

/// CloudTrail's own time format is `2023-07-10T11:42:36Z`; Logstash writes
/// `2020-09-14T00:44:23.000Z`. Normalise to the former so text comparison and
/// Athena-style queries behave the same on both.
pub fn canonical_time(t: &str) -> String {
    canonical_time_of(Cow::Borrowed(t)).into_owned()
}

/// [`canonical_time`] without a copy when the time is already canonical.
fn canonical_time_of(t: Cow<'_, str>) -> Cow<'_, str> {
    let trimmed = t.trim();
    if trimmed.len() >= 20
        && trimmed.as_bytes()[10] == b'T'
        && trimmed.as_bytes()[19] == b'.'
        && trimmed.ends_with('Z')
    {
        return Cow::Owned(format!("{}Z", &trimmed[..19]));
    }
    if trimmed.len() == t.len() {
        return t;
    }
    Cow::Owned(trimmed.to_string())
}

/// Value ranges of one record's top-level keys.
struct Slots {
    cols: Vec<Option<(usize, usize)>>,
    timestamp: Option<(usize, usize)>,
    event_type: Option<(usize, usize)>,
}

/// Top-level keys by length: a record's keys are matched with one or two
/// slice comparisons instead of a scan of every column name.
struct KeyIndex {
    by_len: Vec<Vec<(&'static [u8], usize)>>,
}

impl KeyIndex {
    fn new(keys: impl Iterator<Item = (&'static [u8], usize)>) -> Self {
        let mut by_len: Vec<Vec<(&'static [u8], usize)>> = vec![];
        for (k, i) in keys {
            if by_len.len() <= k.len() {
                by_len.resize(k.len() + 1, vec![]);
            }
            by_len[k.len()].push((k, i));
        }
        KeyIndex { by_len }
    }

    #[inline]
    fn get(&self, k: &[u8]) -> Option<usize> {
        self.by_len
            .get(k.len())?
            .iter()
            .find(|(name, _)| *name == k)
            .map(|(_, i)| *i)
    }
}

fn scan_object(
    b: &[u8],
    at: usize,
    keys: &KeyIndex,
    slots: &mut Slots,
    records: &mut Option<(usize, usize)>,
    digest: &mut bool,
) -> json::Result<usize> {
    json::for_each_member(b, at, |k, s, e| {
        if let Some(ci) = keys.get(k) {
            if slots.cols[ci].is_none() {
                slots.cols[ci] = Some((s, e));
            }
            if k == EVENT_TYPE {
                slots.event_type = Some((s, e));
            }
        } else if k == b"Records" {
            *records = Some((s, e));
        } else if k == TIMESTAMP {
            slots.timestamp = Some((s, e));
        } else if DIGEST_KEYS.contains(&k) {
            *digest = true;
        }
        Ok(())
    })
}

struct State<'p, 'b, 'd> {
    builders: &'b mut [ColBuilder],
    /// The file's content (and its text, when all of it is UTF-8).
    src: json::Src<'d>,
    /// Rows this file appended.
    rows: usize,
    /// Past [`MAX_RECORDS_PER_FILE`]: later records are only counted.
    capped: bool,
    partitions: Option<&'p CloudTrailPartitions>,
    spare: Option<Slots>,
    ncols: usize,
    time_col: usize,
    account_col: usize,
    region_col: usize,
}

impl<'p, 'b, 'd> State<'p, 'b, 'd> {
    fn new(
        r: &CloudTrailReader,
        partitions: Option<&'p CloudTrailPartitions>,
        builders: &'b mut [ColBuilder],
        src: json::Src<'d>,
    ) -> Self {
        let col = |key: &[u8]| r.keys.get(key).unwrap_or(usize::MAX);
        State {
            builders,
            src,
            rows: 0,
            capped: false,
            partitions,
            spare: None,
            ncols: r.table.columns.len(),
            time_col: col(EVENT_TIME),
            account_col: col(RECIPIENT),
            region_col: col(REGION),
        }
    }

    fn take_slots(&mut self) -> Slots {
        match self.spare.take() {
            Some(mut s) => {
                s.cols.iter_mut().for_each(|c| *c = None);
                s.timestamp = None;
                s.event_type = None;
                s
            }
            None => Slots {
                cols: vec![None; self.ncols],
                timestamp: None,
                event_type: None,
            },
        }
    }

    fn put_slots(&mut self, s: Slots) {
        self.spare = Some(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, StringArray, StructArray};

    fn reader(cols: &[&str]) -> CloudTrailReader {
        let t = table::cloudtrail();
        let proj = cols.iter().map(|c| t.index_of(c).unwrap()).collect();
        CloudTrailReader::new(ReadOptions {
            projection: Some(proj),
            ..Default::default()
        })
    }

    fn strings(batch: &RecordBatch, i: usize) -> Vec<Option<String>> {
        let a = batch
            .column(i)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        (0..a.len())
            .map(|r| a.is_valid(r).then(|| a.value(r).to_string()))
            .collect()
    }

    const DELIVERY: &str = r#"{"Records":[
      {"eventVersion":"1.08","eventTime":"2023-07-10T11:42:36Z","eventName":"StopLogging","awsRegion":"us-east-1",
       "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","sessionContext":{"sessionIssuer":{},"attributes":{"mfaAuthenticated":"false"}}},
       "requestParameters":{"name":"trail"},"readOnly":false,"recipientAccountId":"111122223333","eventID":"e1",
       "resources":[{"ARN":"arn:x","accountId":"1","type":"AWS::CloudTrail::Trail"}]},
      {"eventTime":"2023-07-11T00:00:00Z","eventName":"ListBuckets","requestParameters":null,"eventID":"e2","eventName":"Dup"}
    ]}"#;

    #[test]
    fn reads_delivery_file_with_projection() {
        let r = reader(&[
            "eventname",
            "requestparameters",
            "readonly",
            "useridentity",
            "date_partition",
            "resources",
        ]);
        let out = r.read_json(DELIVERY.as_bytes(), None);
        assert!(out.file_problem.is_none(), "{:?}", out.file_problem);
        let b = out.batch.unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(
            strings(&b, 0),
            vec![Some("StopLogging".into()), Some("ListBuckets".into())]
        );
        assert_eq!(
            strings(&b, 1),
            vec![Some(r#"{"name":"trail"}"#.into()), None]
        );
        assert_eq!(strings(&b, 2), vec![Some("false".into()), None]);
        assert_eq!(
            strings(&b, 4),
            vec![Some("2023/07/10".into()), Some("2023/07/11".into())]
        );
        let ui = b.column(3).as_any().downcast_ref::<StructArray>().unwrap();
        let arn = ui
            .column_by_name("arn")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(arn.value(0), "arn:aws:iam::1:user/a");
        assert!(ui.is_null(1));
    }

    #[test]
    fn narrowed_identity_has_only_the_named_fields() {
        let t = table::cloudtrail();
        let r = CloudTrailReader::new(ReadOptions {
            projection: Some(vec![
                t.index_of("useridentity").unwrap(),
                t.index_of("eventid").unwrap(),
            ]),
            struct_fields: vec![("useridentity".into(), vec!["type".into(), "arn".into()])],
            ..Default::default()
        });
        let b = r.read_json(DELIVERY.as_bytes(), None).batch.unwrap();
        let ui = b.column(0).as_any().downcast_ref::<StructArray>().unwrap();
        let names: Vec<&str> = ui.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, vec!["type", "arn"]);
        assert_eq!(
            ui.column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0),
            "IAMUser"
        );
        assert_eq!(
            ui.column(1)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0),
            "arn:aws:iam::1:user/a"
        );
        assert!(ui.is_null(1));
        assert_eq!(strings(&b, 1), vec![Some("e1".into()), Some("e2".into())]);
    }

    #[test]
    fn partitions_from_path_win() {
        let r = reader(&["account_partition", "region_partition", "date_partition"]);
        let p = CloudTrailPartitions {
            account: "999".into(),
            region: "eu-west-1".into(),
            date: "2020/01/01".into(),
            org_id: None,
            ..Default::default()
        };
        let b = r.read_json(DELIVERY.as_bytes(), Some(&p)).batch.unwrap();
        assert_eq!(strings(&b, 0)[0].as_deref(), Some("999"));
        assert_eq!(strings(&b, 2)[1].as_deref(), Some("2020/01/01"));
    }

    #[test]
    fn ndjson_logstash_and_bad_lines() {
        let text = "{\"eventName\":\"A\",\"@timestamp\":\"2020-09-14T00:44:23.000Z\",\"eventID\":\"1\"}\n{broken\n[1]\n{\"eventName\":\"B\",\"eventTime\":\"2020-09-14T00:45:00Z\"}\n";
        let r = reader(&["eventname", "eventtime"]);
        let out = r.read_json(text.as_bytes(), None);
        let b = out.batch.unwrap();
        assert_eq!(strings(&b, 0), vec![Some("A".into()), Some("B".into())]);
        assert_eq!(strings(&b, 1)[0].as_deref(), Some("2020-09-14T00:44:23Z"));
        assert_eq!(out.record_problems.len(), 2, "{:?}", out.record_problems);
        assert_eq!(out.record_problems[0].record, Some(1));
    }

    #[test]
    fn broken_delivery_file_is_skipped_whole() {
        let text = &DELIVERY[..DELIVERY.len() - 20];
        let out = reader(&["eventname"]).read_json(text.as_bytes(), None);
        assert!(out.file_problem.is_some());
        assert!(out.batch.is_none());
        assert_eq!(out.events, 0);
    }

    #[test]
    fn digest_insight_empty_array() {
        let digest = r#"{"awsAccountId":"1","digestStartTime":"2020","logFiles":[]}"#;
        let out = reader(&["eventname"]).read_json(digest.as_bytes(), None);
        assert!(out.is_digest);
        assert_eq!(out.events, 0);
        let insight = r#"{"Records":[{"eventType":"AwsCloudTrailInsight","eventName":"x"}]}"#;
        assert_eq!(
            reader(&["eventname"])
                .read_json(insight.as_bytes(), None)
                .insight_events,
            1
        );
        assert!(reader(&["eventname"])
            .read_json(b"  \n", None)
            .file_problem
            .is_some());
        let arr = r#"[{"eventName":"X"}, 5, {"eventName":"Y"}]"#;
        let out = reader(&["eventname"]).read_json(arr.as_bytes(), None);
        assert_eq!(out.events, 2);
        assert_eq!(out.record_problems[0].record, Some(1));
    }

    #[test]
    fn invalid_utf8_record_skipped() {
        let mut bytes = br#"{"Records":[{"eventName":"A"},{"eventName":"B"#.to_vec();
        bytes.push(0xff);
        bytes.extend_from_slice(br#""}]}"#);
        let out = reader(&["eventname"]).read_json(&bytes, None);
        assert_eq!(out.events, 1);
        assert_eq!(out.record_problems[0].message, "invalid UTF-8 byte");
        assert_eq!(out.record_problems[0].record, Some(1));
    }

    #[test]
    fn time_window() {
        let r = CloudTrailReader::new(ReadOptions {
            projection: Some(vec![table::cloudtrail().index_of("eventname").unwrap()]),
            since: Some("2023-07-11T00:00:00Z".into()),
            ..Default::default()
        });
        let out = r.read_json(DELIVERY.as_bytes(), None);
        assert_eq!(out.events, 1);
        assert_eq!(out.filtered, 1);
    }

    /// Files read into one batcher make the batch their own reads make
    /// together; a broken file in the middle adds nothing and takes nothing
    /// from the files before it; a file that is not all UTF-8 still gets its
    /// record-by-record check.
    #[test]
    fn a_file_of_tiny_records_is_capped_not_amplified() {
        let mut data = Vec::with_capacity((MAX_RECORDS_PER_FILE + 10) * 3);
        for _ in 0..MAX_RECORDS_PER_FILE + 10 {
            data.extend_from_slice(b"{}\n");
        }
        let n = crate::table::cloudtrail().arrow_schema().fields().len();
        let r = CloudTrailReader::new(ReadOptions {
            projection: Some(vec![n - 1]),
            ..Default::default()
        });
        let out = r.read_bytes(&data, None);
        assert_eq!(out.events, MAX_RECORDS_PER_FILE);
        assert_eq!(out.record_problems.len(), 1);
        assert!(out.record_problems[0]
            .message
            .contains("records in one file"));
        assert_eq!(out.more_record_problems, 9);
    }

    #[test]
    fn batcher_gathers_files_and_rolls_back_a_broken_one() {
        let r = reader(&[
            "eventname",
            "eventtime",
            "useridentity",
            "requestparameters",
            "date_partition",
        ]);
        let good1 = DELIVERY.as_bytes().to_vec();
        // Two events appended, then the file ends: the whole file is dropped.
        let broken = br#"{"Records":[{"eventName":"X1","eventTime":"2023-07-12T00:00:00Z"},{"eventName":"X2"},{"eventName":"X3""#.to_vec();
        let mut not_utf8 = br#"{"eventName":"N\u00e9\"q","eventTime":"2020-09-14T00:44:23.000Z","requestParameters":{"k":"v"}}
{"eventName":"M"#.to_vec();
        not_utf8.push(0xff);
        not_utf8.extend_from_slice(b"\"}\n");
        let files: [&[u8]; 4] = [&good1, &broken, &not_utf8, &good1];

        let mut into = r.batcher(r.output_schema());
        let mut alone = vec![];
        for f in files {
            let out = r.read_json_into(f, None, &mut into);
            let single = r.read_json(f, None);
            assert_eq!(out.events, single.events);
            assert_eq!(out.file_problem, single.file_problem);
            assert_eq!(out.record_problems, single.record_problems);
            if let Some(b) = single.batch.filter(|b| b.num_rows() > 0) {
                alone.push(b);
            }
        }
        assert_eq!(into.rows(), 2 + 1 + 2);
        let got = into.take().unwrap();
        assert_eq!(got.len(), 1, "one batch");
        let want = arrow_select::concat::concat_batches(&r.output_schema(), &alone).unwrap();
        assert_eq!(got[0], want);
        assert_eq!(
            strings(&got[0], 0),
            [
                Some("StopLogging"),
                Some("ListBuckets"),
                Some("Né\"q"),
                Some("StopLogging"),
                Some("ListBuckets")
            ]
            .map(|s| s.map(String::from))
        );
        assert_eq!(
            strings(&got[0], 1)[2].as_deref(),
            Some("2020-09-14T00:44:23Z")
        );
        assert_eq!(into.rows(), 0);
        assert!(into.take().unwrap().is_empty());

        // A broken file right after others: their rows stay, in one or two batches.
        let mut into = r.batcher(r.output_schema());
        r.read_json_into(&good1, None, &mut into);
        let out = r.read_json_into(&broken, None, &mut into);
        assert!(out.file_problem.is_some());
        assert_eq!(into.rows(), 2);
        let got = into.take().unwrap();
        assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert_eq!(strings(&got[0], 0)[0].as_deref(), Some("StopLogging"));
    }
}
