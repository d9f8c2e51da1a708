//! Findings from a detection's rows: the evidence events' facts, found
//! by a (batch, row) index and read when a finding is written, in the rows'
//! order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, StructArray};
use datafusion::error::{DataFusionError, Result};
use irprep_core::detect::{Detection, Severity};

use super::scan::Piece;
use super::{sort_findings, Finding};

/// Hash containers keyed by event ids and principals (a detection's evidence
/// can be most of the logs; SipHash showed in the profile).
type AHashMap<K, V> = HashMap<K, V, ahash::RandomState>;
type AHashSet<K> = HashSet<K, ahash::RandomState>;

/// The facts a finding draws from each evidence event, by name. The same
/// shape holds one batch's columns and one event's values, borrowed from the
/// rows in memory (a detection's evidence can be most of the logs: nothing
/// is copied per event until the finding is written).
#[derive(Debug, Clone, Copy, Default)]
struct EventFields<T> {
    time: T,
    arn: T,
    access_key: T,
    ip: T,
    ua: T,
    account: T,
    region: T,
    name: T,
}

impl<T> EventFields<T> {
    fn map<U>(self, f: impl Fn(T) -> U) -> EventFields<U> {
        EventFields {
            time: f(self.time),
            arn: f(self.arn),
            access_key: f(self.access_key),
            ip: f(self.ip),
            ua: f(self.ua),
            account: f(self.account),
            region: f(self.region),
            name: f(self.name),
        }
    }
}

type EventMeta<'a> = EventFields<Option<&'a str>>;

fn str_col<'a>(b: &'a RecordBatch, name: &str) -> Option<&'a StringArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
}

fn opt(a: Option<&StringArray>, i: usize) -> Option<&str> {
    a.and_then(|a| a.is_valid(i).then(|| a.value(i)))
}

/// The columns of one batch that findings draw facts from.
struct BatchFacts<'a> {
    /// The identity struct, whose NULL hides its `arn` and `accesskeyid`.
    ui: Option<&'a StructArray>,
    cols: EventFields<Option<&'a StringArray>>,
    /// The event ids (a finding lists them as read from its rows).
    ids: Option<&'a StringArray>,
}

impl<'a> BatchFacts<'a> {
    /// The fact columns of one batch.
    fn of(b: &'a RecordBatch) -> Self {
        let ids = str_col(b, "eventid");
        let ui = b
            .column_by_name("useridentity")
            .and_then(|c| c.as_any().downcast_ref::<StructArray>());
        // The identity struct (local engine), or flat `arn`/`accesskeyid`
        // columns (results that came back from Athena as text).
        let arn = ui
            .and_then(|u| u.column_by_name("arn"))
            .map(|c| c.as_string::<i32>())
            .or_else(|| str_col(b, "arn"));
        let key = ui
            .and_then(|u| u.column_by_name("accesskeyid"))
            .map(|c| c.as_string::<i32>())
            .or_else(|| str_col(b, "accesskeyid"));
        let cols = EventFields {
            time: str_col(b, "eventtime"),
            arn,
            access_key: key,
            ip: str_col(b, "sourceipaddress"),
            ua: str_col(b, "useragent"),
            account: str_col(b, "recipientaccountid"),
            region: str_col(b, "awsregion"),
            name: str_col(b, "eventname"),
        };
        BatchFacts { ui, cols, ids }
    }

    /// Row `i`'s values a finding gathers in sets: account, region, source
    /// IP, user agent, event name, access key (hidden with the identity).
    fn sets(&self, i: usize) -> [Option<&'a str>; SETS] {
        let c = &self.cols;
        let key = if self.ui.is_some_and(|u| !u.is_valid(i)) {
            None
        } else {
            opt(c.access_key, i)
        };
        [
            opt(c.account, i),
            opt(c.region, i),
            opt(c.ip, i),
            opt(c.ua, i),
            opt(c.name, i),
            key,
        ]
    }
}

/// Where each evidence event is among the rows (batch, row): a small index,
/// and the facts read from the columns when a finding needs them (a
/// detection's evidence can be most of the logs).
struct Facts<'a> {
    batches: Vec<BatchFacts<'a>>,
    index: AHashMap<&'a str, (u32, u32)>,
}

impl<'a> Facts<'a> {
    fn at(&self, (b, i): (u32, u32)) -> EventMeta<'a> {
        let (f, i) = (&self.batches[b as usize], i as usize);
        let mut m = f.cols.map(|c| opt(c, i));
        if f.ui.is_some_and(|u| !u.is_valid(i)) {
            (m.arn, m.access_key) = (None, None);
        }
        m
    }

    /// The event's time.
    fn time(&self, (b, i): (u32, u32)) -> Option<&'a str> {
        opt(self.batches[b as usize].cols.time, i as usize)
    }

    /// The event's id.
    fn id(&self, (b, i): (u32, u32)) -> Option<&'a str> {
        opt(self.batches[b as usize].ids, i as usize)
    }

    /// The values a finding gathers in sets: account, region, source IP,
    /// user agent, event name, access key.
    fn sets(&self, (b, i): (u32, u32)) -> [Option<&'a str>; SETS] {
        self.batches[b as usize].sets(i as usize)
    }

    fn locate(&self, id: &str) -> Option<(u32, u32)> {
        self.index.get(id).copied()
    }
}

/// The facts of the `wanted` events (`None`: every event) among some
/// batches' rows (all of a batch, or the rows its mask keeps).
///
/// `rows` sizes the index when every event is indexed (it is then built
/// once, not regrown and rehashed as it fills).
fn event_meta<'a>(
    batches: impl IntoIterator<
        Item = (
            &'a RecordBatch,
            Option<&'a datafusion::arrow::array::BooleanArray>,
        ),
    >,
    wanted: Option<&AHashSet<&str>>,
    rows: usize,
) -> Facts<'a> {
    let mut index =
        AHashMap::with_capacity_and_hasher(wanted.map_or(rows, |w| w.len()), Default::default());
    let mut facts = Vec::new();
    for (bi, (b, keep)) in batches.into_iter().enumerate() {
        let f = BatchFacts::of(b);
        let ids = f.ids;
        facts.push(f);
        let mut look = |i: usize| {
            let Some(id) = opt(ids, i) else { return };
            if wanted.is_none_or(|w| w.contains(id)) {
                index.insert(id, (bi as u32, i as u32));
            }
        };
        match keep {
            None => (0..b.num_rows()).for_each(&mut look),
            Some(k) => k.values().set_indices().for_each(&mut look),
        }
    }
    Facts {
        batches: facts,
        index,
    }
}

/// A detection's result columns as text, cast once: findings borrow from them.
pub struct ResultCols {
    /// Per batch: `eventid`, and `severity` / `principal` when the detection returns them.
    cols: Vec<(ArrayRef, Option<ArrayRef>, Option<ArrayRef>)>,
}

impl ResultCols {
    pub fn new(detection: &str, batches: &[RecordBatch]) -> Result<Self> {
        let text = |b: &RecordBatch, name: &str| -> Result<Option<ArrayRef>> {
            b.column_by_name(name)
                .map(|c| {
                    datafusion::arrow::compute::cast(
                        c,
                        &datafusion::arrow::datatypes::DataType::Utf8,
                    )
                })
                .transpose()
                .map_err(Into::into)
        };
        let mut cols = Vec::with_capacity(batches.len());
        for b in batches {
            let ids = text(b, "eventid")?.ok_or_else(|| {
                DataFusionError::Plan(format!("detection {detection} returns no eventid column"))
            })?;
            cols.push((ids, text(b, "severity")?, text(b, "principal")?));
        }
        Ok(ResultCols { cols })
    }

    /// Every evidence event id.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.cols
            .iter()
            .flat_map(|(ids, _, _)| ids.as_string::<i32>().iter().flatten())
    }
}

/// One detection's findings: its result rows name the evidence events, whose
/// facts come from `table` (the rows it ran on).
pub(super) fn findings_of(
    d: &Detection,
    table: &[Piece],
    results: &[RecordBatch],
    profile: bool,
) -> Result<Vec<Finding>> {
    let tm = std::time::Instant::now();
    let cols = ResultCols::new(&d.id, results)?;
    // When the evidence is most of the rows, every row is indexed rather
    // than the evidence ids gathered first.
    let (evidence, rows) = (
        results.iter().map(|b| b.num_rows()).sum::<usize>(),
        table.iter().map(Piece::kept).sum::<usize>(),
    );
    let ids: Option<AHashSet<&str>> = (evidence * 2 < rows).then(|| cols.ids().collect());
    let t_ids = tm.elapsed().as_secs_f64();
    let facts = event_meta(
        table.iter().map(|p| (&p.rows, p.keep.as_ref())),
        ids.as_ref(),
        rows,
    );
    let t_facts = tm.elapsed().as_secs_f64();
    let mut out = vec![];
    collect_findings(d, &cols, &facts, &mut out);
    if profile && tm.elapsed().as_millis() > 50 {
        tracing::debug!(
            target: super::profile::TARGET,
            "hunt: {:.3}s evidence for {} (ids {t_ids:.3}s, facts {:.3}s, findings {:.3}s; {} result rows; rss {}MB)",
            tm.elapsed().as_secs_f64(),
            d.id,
            t_facts - t_ids,
            tm.elapsed().as_secs_f64() - t_facts,
            evidence,
            super::profile::rss_mb(),
        );
    }
    Ok(out)
}

/// One finding's evidence as it streams in: its sets, and per event its
/// time (packed, see [`packed_time`]) and id (in one arena), so a finding of
/// millions of events holds a few dozen bytes per event.
struct Streamed<'a> {
    principal: &'a str,
    severity: Severity,
    sets: Sets<String>,
    arena: String,
    /// (time, start and length of the id in `arena`).
    events: Vec<(u64, u32, u32)>,
}

impl<'a> Streamed<'a> {
    fn add(&mut self, time: u64, id: &str, values: [Option<&str>; SETS]) -> bool {
        let (Ok(start), Ok(len)) = (u32::try_from(self.arena.len()), u32::try_from(id.len()))
        else {
            return false;
        };
        if start.checked_add(len).is_none() {
            return false;
        }
        self.arena.push_str(id);
        self.events.push((time, start, len));
        self.sets.add(values);
        true
    }

    fn finding(self, d: &Detection) -> Finding {
        let Streamed {
            principal,
            severity,
            sets,
            arena,
            mut events,
        } = self;
        let id = |e: &(u64, u32, u32)| &arena[e.1 as usize..(e.1 + e.2) as usize];
        events.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| id(a).cmp(id(b))));
        events.dedup_by(|a, b| a.0 == b.0 && id(a) == id(b));
        let seen = (
            events
                .first()
                .map(|e| unpacked_time(e.0))
                .unwrap_or_default(),
            events
                .last()
                .map(|e| unpacked_time(e.0))
                .unwrap_or_default(),
        );
        let ids = events.iter().map(|e| id(e).to_string()).collect();
        finding(d, principal, severity, sets.sets, seen, ids)
    }
}

/// One detection's findings with the evidence events' facts read from a
/// stream of its rows (read back from disk once), keeping per finding only
/// its sets and per event its time and id: the same findings as
/// [`findings_of`] on the rows in memory. `None` when that cannot be done
/// exactly this way (a result row without a principal, an evidence event
/// without a row or with a time not in CloudTrail's form): the caller then
/// builds them from the rows.
pub(super) fn findings_streamed(
    d: &Detection,
    results: &[RecordBatch],
    rows: impl Iterator<Item = Result<RecordBatch>>,
) -> Result<Option<Vec<Finding>>> {
    let cols = ResultCols::new(&d.id, results)?;
    let mut by_principal: AHashMap<&str, u32> = AHashMap::default();
    let mut groups: Vec<Streamed> = vec![];
    // Evidence id -> its (first) finding and whether its row was seen; ids
    // of several findings list the others apart.
    let mut wanted: AHashMap<&str, (u32, bool)> = AHashMap::default();
    let mut more: AHashMap<&str, Vec<u32>> = AHashMap::default();
    for (ids, sev, pri) in &cols.cols {
        let Some(pri) = pri.as_ref().map(|p| p.as_string::<i32>()) else {
            return Ok(None);
        };
        let ids = ids.as_string::<i32>();
        let sev = sev.as_ref().map(|s| s.as_string::<i32>());
        for i in 0..ids.len() {
            if !ids.is_valid(i) {
                continue;
            }
            if !pri.is_valid(i) {
                return Ok(None);
            }
            let (id, p) = (ids.value(i), pri.value(i));
            let s = sev
                .and_then(|s| s.is_valid(i).then(|| Severity::parse(s.value(i))).flatten())
                .unwrap_or(d.severity);
            let g = *by_principal.entry(p).or_insert_with(|| {
                groups.push(Streamed {
                    principal: p,
                    severity: s,
                    sets: Sets::default(),
                    arena: String::new(),
                    events: vec![],
                });
                (groups.len() - 1) as u32
            });
            let gr = &mut groups[g as usize];
            gr.severity = gr.severity.max(s);
            match wanted.entry(id) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert((g, false));
                }
                std::collections::hash_map::Entry::Occupied(o) if o.get().0 != g => {
                    let others = more.entry(id).or_default();
                    if !others.contains(&g) {
                        others.push(g);
                    }
                }
                std::collections::hash_map::Entry::Occupied(_) => {}
            }
        }
    }
    for b in rows {
        let b = b?;
        let f = BatchFacts::of(&b);
        let Some(ids) = f.ids else { continue };
        for i in 0..b.num_rows() {
            if !ids.is_valid(i) {
                continue;
            }
            let id = ids.value(i);
            let Some(w) = wanted.get_mut(id) else {
                continue;
            };
            // An event in the logs twice is one event (as in `findings_of`).
            if w.1 {
                continue;
            }
            w.1 = true;
            let Some(t) = opt(f.cols.time, i).and_then(packed_time) else {
                return Ok(None);
            };
            let values = f.sets(i);
            let first = w.0;
            let rest = more.get(id).map(Vec::as_slice).unwrap_or_default();
            for &g in std::iter::once(&first).chain(rest) {
                if !groups[g as usize].add(t, id, values) {
                    return Ok(None);
                }
            }
        }
    }
    if wanted.values().any(|w| !w.1) {
        return Ok(None);
    }
    Ok(Some(groups.into_iter().map(|g| g.finding(d)).collect()))
}

/// Findings from detection results computed elsewhere (on Athena): each
/// detection's rows, and the evidence events' facts (`eventid`, `eventtime`,
/// `arn`, `accesskeyid`, `sourceipaddress`, `useragent`,
/// `recipientaccountid`, `awsregion`, `eventname`).
pub fn findings_from(
    results: &[(&Detection, Vec<RecordBatch>)],
    evidence: &[RecordBatch],
) -> Result<Vec<Finding>> {
    let cols: Vec<ResultCols> = results
        .iter()
        .map(|(d, b)| ResultCols::new(&d.id, b))
        .collect::<Result<_>>()?;
    let wanted: AHashSet<&str> = cols.iter().flat_map(ResultCols::ids).collect();
    let evidence = fact_columns_as_text(evidence)?;
    let meta = event_meta(evidence.iter().map(|b| (b, None)), Some(&wanted), 0);
    let mut out = vec![];
    for ((d, _), c) in results.iter().zip(&cols) {
        collect_findings(d, c, &meta, &mut out);
    }
    sort_findings(&mut out);
    Ok(out)
}

/// The fact columns of evidence rows as plain text (`Utf8`): rows a
/// detection computed (a flow-log record key built with `concat`, an
/// address) may come as other string or number types.
fn fact_columns_as_text(batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    const FACTS: [&str; 9] = [
        "eventid",
        "eventtime",
        "arn",
        "accesskeyid",
        "sourceipaddress",
        "useragent",
        "recipientaccountid",
        "awsregion",
        "eventname",
    ];
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let schema = b.schema();
        let mut fields = Vec::with_capacity(schema.fields().len());
        let mut cols = Vec::with_capacity(schema.fields().len());
        for (f, c) in schema.fields().iter().zip(b.columns()) {
            if FACTS.contains(&f.name().as_str())
                && f.data_type() != &DataType::Utf8
                && !matches!(f.data_type(), DataType::Struct(_))
            {
                cols.push(datafusion::arrow::compute::cast(c, &DataType::Utf8)?);
                fields.push(Arc::new(Field::new(f.name(), DataType::Utf8, true)));
            } else {
                cols.push(c.clone());
                fields.push(f.clone());
            }
        }
        out.push(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?);
    }
    Ok(out)
}

/// The evidence event ids in one detection's results (an error names the
/// detection when they have no `eventid` column).
pub fn evidence_ids(detection: &str, batches: &[RecordBatch]) -> Result<Vec<String>> {
    Ok(ResultCols::new(detection, batches)?
        .ids()
        .map(String::from)
        .collect())
}

/// One evidence event of a finding: (time, id, where its facts are).
type Event<'a> = (&'a str, &'a str, Option<(u32, u32)>);

fn collect_findings<'a>(
    d: &Detection,
    cols: &'a ResultCols,
    facts: &Facts<'a>,
    out: &mut Vec<Finding>,
) {
    let mut groups: AHashMap<&'a str, Group<'a>> = AHashMap::default();
    for (ids, sev, pri) in &cols.cols {
        let ids = ids.as_string::<i32>();
        let sev = sev.as_ref().map(|s| s.as_string::<i32>());
        let pri = pri.as_ref().map(|p| p.as_string::<i32>());
        // Results come grouped by principal more often than not: reuse the
        // last group instead of hashing the principal again.
        let mut last: Option<(&'a str, &mut Group<'a>)> = None;
        for i in 0..ids.len() {
            if !ids.is_valid(i) {
                continue;
            }
            let id = ids.value(i);
            let s = sev
                .and_then(|s| s.is_valid(i).then(|| Severity::parse(s.value(i))).flatten())
                .unwrap_or(d.severity);
            let loc = facts.locate(id);
            let p: &'a str = match pri.and_then(|p| p.is_valid(i).then(|| p.value(i))) {
                Some(p) => p,
                None => loc
                    .map(|l| facts.at(l))
                    .and_then(|m| m.arn.or(m.access_key).or(m.ip))
                    .unwrap_or("unknown"),
            };
            let g = match last.take() {
                Some((lp, g)) if lp == p => g,
                _ => groups.entry(p).or_insert((s, Vec::new())),
            };
            g.0 = g.0.max(s);
            g.1.push((id, loc));
            last = Some((p, g));
        }
    }
    let groups: Vec<(&'a str, Group<'a>)> = groups.into_iter().collect();
    let events: usize = groups.iter().map(|g| g.1 .1.len()).sum();
    let threads = if events < PARALLEL_EVIDENCE {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    out.extend(findings_in(d, groups, facts, threads));
}

/// One finding per group. A broad detection's groups hold most of the logs'
/// events: they are shared out, largest first, between `threads` threads
/// (the other detections are mostly done by the time the broadest one's
/// evidence is built). The findings come in no particular order.
fn findings_in<'a>(
    d: &Detection,
    mut groups: Vec<(&'a str, Group<'a>)>,
    facts: &Facts<'a>,
    threads: usize,
) -> Vec<Finding> {
    let threads = threads.min(groups.len());
    if threads < 2 {
        return groups
            .into_iter()
            .map(|(p, (sev, ids))| finding_of(d, p, sev, ids, facts))
            .collect();
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1 .1.len()));
    let mut shares: Vec<(usize, Vec<(&'a str, Group<'a>)>)> =
        (0..threads).map(|_| (0, vec![])).collect();
    for g in groups {
        if let Some(share) = shares.iter_mut().min_by_key(|s| s.0) {
            share.0 += g.1 .1.len();
            share.1.push(g);
        }
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|(_, share)| {
                scope.spawn(move || {
                    share
                        .into_iter()
                        .map(|(p, (sev, ids))| finding_of(d, p, sev, ids, facts))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = vec![];
        for h in handles {
            match h.join() {
                Ok(f) => out.extend(f),
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        out
    })
}

/// How many sets a finding gathers.
const SETS: usize = 6;

/// A principal's evidence: the highest severity, and each event's id and
/// where its facts are.
type Group<'a> = (Severity, Vec<(&'a str, Option<(u32, u32)>)>);

/// Evidence events from which a detection's findings are built on several
/// threads.
const PARALLEL_EVIDENCE: usize = 100_000;

/// The finding of one detection × principal from its evidence events.
fn finding_of<'a>(
    d: &Detection,
    principal: &str,
    severity: Severity,
    ids: Vec<(&'a str, Option<(u32, u32)>)>,
    facts: &Facts<'a>,
) -> Finding {
    let (events, sets) = match in_row_order(&ids, facts) {
        Some(r) => r,
        None => in_time_order(ids, facts),
    };
    let mut times = events.iter().map(|e| e.0).filter(|t| !t.is_empty());
    let first = times.next().unwrap_or_default();
    let last = times.next_back().unwrap_or(first);
    let seen = (first.to_string(), last.to_string());
    let ids = events.into_iter().map(|e| e.1.to_string()).collect();
    finding(d, principal, severity, sets, seen, ids)
}

/// The sets a finding gathers (account, region, source IP, user agent,
/// event name, access key), filled event by event; consecutive events mostly
/// repeat a value, which is then not hashed again. `S` is `&str` borrowed
/// from rows in memory, or `String` for rows read back from disk.
struct Sets<S> {
    sets: [AHashSet<S>; SETS],
    last: [Option<S>; SETS],
}

impl<S> Default for Sets<S> {
    fn default() -> Self {
        Sets {
            sets: Default::default(),
            last: Default::default(),
        }
    }
}

impl<S: std::hash::Hash + Eq + std::borrow::Borrow<str>> Sets<S> {
    fn add<'v>(&mut self, values: [Option<&'v str>; SETS])
    where
        S: From<&'v str>,
    {
        for ((set, prev), v) in self.sets.iter_mut().zip(self.last.iter_mut()).zip(values) {
            if let Some(v) = v {
                if prev.as_ref().map(|p| p.borrow()) != Some(v) {
                    if !set.contains(v) {
                        set.insert(S::from(v));
                    }
                    *prev = Some(S::from(v));
                }
            }
        }
    }
}

/// A finding of `d` from its evidence: the gathered sets (each sorted here),
/// first and last seen, and its event ids in time order.
fn finding<S: Into<String>>(
    d: &Detection,
    principal: &str,
    severity: Severity,
    sets: [AHashSet<S>; SETS],
    (first_seen, last_seen): (String, String),
    event_ids: Vec<String>,
) -> Finding {
    let [accounts, regions, ips, uas, names, keys] = sets.map(|s| {
        let mut v: Vec<String> = s.into_iter().map(Into::into).collect();
        v.sort_unstable();
        v
    });
    Finding {
        detection_id: d.id.clone(),
        title: d.title.clone(),
        severity,
        attack: d.attack.clone(),
        tactics: d.tactics.clone(),
        principal: principal.to_string(),
        accounts,
        regions,
        first_seen,
        last_seen,
        event_count: event_ids.len(),
        source_ips: ips,
        user_agents: uas,
        event_names: names,
        access_keys: keys,
        event_ids,
    }
}

/// A finding's events in time order, (time, id), and the sets of its
/// accounts, regions, source IPs, user agents and event names.
type Ordered<'a> = (Vec<(&'a str, &'a str)>, [AHashSet<&'a str>; SETS]);

/// A finding's evidence events as (time, id) in time order (ties by id, an
/// event once), and its sets, with the facts read in the order of the rows:
/// a broad detection's evidence is most of the logs, and reading its facts
/// in time order would jump across them for every event. `None` when some
/// event has no row or its time is not CloudTrail's `YYYY-MM-DDTHH:MM:SSZ`
/// ([`in_time_order`] then orders them as text).
fn in_row_order<'a>(
    ids: &[(&'a str, Option<(u32, u32)>)],
    facts: &Facts<'a>,
) -> Option<Ordered<'a>> {
    let mut locs: Vec<u64> = Vec::with_capacity(ids.len());
    for (_, l) in ids {
        let (b, i) = (*l)?;
        locs.push(u64::from(b) << 32 | u64::from(i));
    }
    // An id listed twice has one row (the index holds one per id).
    locs.sort_unstable();
    locs.dedup();
    let mut rows: Vec<(&'a str, &'a str)> = Vec::with_capacity(locs.len());
    // (time as a number, first 8 bytes of the id as a number, row): 24
    // bytes moved per swap; ids are compared whole only on a tie of both.
    let mut keys: Vec<(u64, u64, u32)> = Vec::with_capacity(locs.len());
    let mut sets = Sets::default();
    for l in locs {
        let loc = ((l >> 32) as u32, l as u32);
        let time = facts.time(loc)?;
        let id = facts.id(loc)?;
        keys.push((packed_time(time)?, id_prefix(id), rows.len() as u32));
        rows.push((time, id));
        sets.add(facts.sets(loc));
    }
    keys.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| rows[a.2 as usize].1.cmp(rows[b.2 as usize].1))
    });
    Some((
        keys.into_iter().map(|k| rows[k.2 as usize]).collect(),
        sets.sets,
    ))
}

/// An id's first 8 bytes as a big-endian number (zeros after a shorter id):
/// two ids' numbers are in the order of the ids, or equal.
fn id_prefix(id: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = id.len().min(8);
    b[..n].copy_from_slice(&id.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

/// [`in_row_order`] for any evidence: events without a row have no time,
/// and times of another form are ordered as text.
fn in_time_order<'a>(ids: Vec<(&'a str, Option<(u32, u32)>)>, facts: &Facts<'a>) -> Ordered<'a> {
    // (time, id, where): the sort compares the first two without
    // following a pointer into the columns.
    let mut events: Vec<Event<'a>> = ids
        .into_iter()
        .map(|(i, l)| (l.and_then(|l| facts.time(l)).unwrap_or_default(), i, l))
        .collect();
    // Time order; an id listed twice has the same time, so it lands next
    // to itself. CloudTrail's times are `YYYY-MM-DDTHH:MM:SSZ`, whose text
    // order is the order of their digits as one number: when every time
    // has that form, the sort compares numbers.
    match events
        .iter()
        .map(|e| packed_time(e.0))
        .collect::<Option<Vec<u64>>>()
    {
        Some(keys) => {
            let mut keyed: Vec<(u64, Event<'a>)> = keys.into_iter().zip(events).collect();
            // Ids are compared only between events of the same second.
            keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1 .1.cmp(b.1 .1)));
            keyed.dedup_by(|a, b| a.0 == b.0 && a.1 .1 == b.1 .1);
            events = keyed.into_iter().map(|(_, e)| e).collect();
        }
        None => {
            events.sort_unstable_by(|a, b| a.0.cmp(b.0).then_with(|| a.1.cmp(b.1)));
            events.dedup_by(|a, b| a.1 == b.1);
        }
    }
    let mut sets = Sets::default();
    for l in events.iter().filter_map(|e| e.2) {
        sets.add(facts.sets(l));
    }
    (
        events.into_iter().map(|(t, i, _)| (t, i)).collect(),
        sets.sets,
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ` as the number its digits spell, which orders
/// such times as their text does; `None` for any other form.
fn packed_time(t: &str) -> Option<u64> {
    let b = t.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let mut n = 0u64;
    for &c in b[..19].iter().filter(|c| !matches!(c, b'-' | b'T' | b':')) {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    Some(n)
}

/// The text of a [`packed_time`] (`YYYY-MM-DDTHH:MM:SSZ`).
fn unpacked_time(n: u64) -> String {
    let d = |div: u64, m: u64| (n / div) % m;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        n / 10_000_000_000,
        d(100_000_000, 100),
        d(1_000_000, 100),
        d(10_000, 100),
        d(100, 100),
        n % 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn row_order_equals_time_order() {
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        // Two batches of events: many in the same second, ids in no order,
        // repeated values; the evidence names some events twice, in a
        // shuffled order.
        let schema = Arc::new(Schema::new(
            [
                "eventid",
                "eventtime",
                "recipientaccountid",
                "awsregion",
                "sourceipaddress",
                "useragent",
                "eventname",
            ]
            .map(|n| Field::new(n, DataType::Utf8, true))
            .to_vec(),
        ));
        let batch = |seed: u64, n: usize| {
            let mut x = seed;
            let mut next = move || {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                x >> 33
            };
            let mut cols: Vec<Vec<Option<String>>> = vec![vec![]; 7];
            for _ in 0..n {
                let r = next();
                cols[0].push(Some(format!(
                    "{:08x}-{:04x}-4000-8000-{:012x}",
                    r % 50,
                    next() % 7,
                    next()
                )));
                cols[1].push(Some(format!("2024-01-01T00:00:{:02}Z", next() % 5)));
                cols[2].push(Some(format!("{:012}", next() % 2)));
                cols[3].push((next() % 4 != 0).then(|| format!("us-east-{}", next() % 2)));
                cols[4].push(Some(format!("10.0.0.{}", next() % 3)));
                cols[5].push(Some(format!("agent/{}", next() % 3)));
                cols[6].push(Some(format!("Call{}", next() % 4)));
            }
            RecordBatch::try_new(
                schema.clone(),
                cols.into_iter()
                    .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
                    .collect(),
            )
            .unwrap()
        };
        let batches = [batch(1, 300), batch(2, 200)];
        let facts = event_meta(batches.iter().map(|b| (b, None)), None, 500);
        let all: Vec<&str> = batches
            .iter()
            .flat_map(|b| b.column(0).as_string::<i32>().iter().flatten())
            .collect();
        let mut ids: Vec<(&str, Option<(u32, u32)>)> = all
            .iter()
            .step_by(3)
            .chain(all.iter().step_by(7))
            .map(|id| (*id, facts.locate(id)))
            .collect();
        ids.reverse();
        fn sorted(sets: [AHashSet<&str>; SETS]) -> [BTreeSet<&str>; SETS] {
            sets.map(|s| s.into_iter().collect())
        }
        let (fast, fast_sets) =
            in_row_order(&ids, &facts).expect("every event has a row and a CloudTrail time");
        let (slow, slow_sets) = in_time_order(ids.clone(), &facts);
        assert_eq!(fast, slow);
        assert_eq!(sorted(fast_sets), sorted(slow_sets));
        assert!(
            fast.len() > 150 && fast.windows(2).all(|w| w[0] < w[1]),
            "time order, ties by id, each event once"
        );
        // An event without a row, or a time of another form, leaves the
        // order to the text comparison.
        ids.push(("not-an-event", None));
        assert!(in_row_order(&ids, &facts).is_none());
    }

    #[test]
    fn findings_on_threads_equal_findings_on_one() {
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(
            ["eventid", "eventtime", "sourceipaddress"]
                .map(|n| Field::new(n, DataType::Utf8, true))
                .to_vec(),
        ));
        let n = 2000;
        let ids: Vec<String> = (0..n)
            .map(|i| format!("{:08x}-0000-4000-8000-{:012x}", i % 97, i))
            .collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ids.clone())),
            Arc::new(StringArray::from(
                (0..n)
                    .map(|i| format!("2024-01-01T00:{:02}:{:02}Z", i % 60, (i * 7) % 60))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                (0..n)
                    .map(|i| format!("10.0.{}.1", i % 5))
                    .collect::<Vec<_>>(),
            )),
        ];
        let batch = RecordBatch::try_new(schema, cols).unwrap();
        let facts = event_meta([(&batch, None)], None, n);
        let d: Detection = serde_json::from_str(r#"{"id": "t", "title": "T", "severity": "low", "sql": "SELECT eventid FROM cloudtrail"}"#).unwrap();
        // Five principals of unequal size, one event named twice.
        let groups = || -> Vec<(&str, Group<'_>)> {
            let names = ["a", "b", "c", "d", "e"];
            names
                .iter()
                .enumerate()
                .map(|(k, p)| {
                    (
                        *p,
                        (
                            Severity::Low,
                            ids.iter()
                                .enumerate()
                                .filter(|(i, _)| i % (k + 2) == 0)
                                .map(|(_, id)| (id.as_str(), facts.locate(id)))
                                .chain([(ids[0].as_str(), facts.locate(&ids[0]))])
                                .collect(),
                        ),
                    )
                })
                .collect()
        };
        let json = |mut f: Vec<Finding>| {
            sort_findings(&mut f);
            serde_json::to_string(&f).unwrap()
        };
        let one = json(findings_in(&d, groups(), &facts, 1));
        assert_eq!(json(findings_in(&d, groups(), &facts, 2)), one);
        assert_eq!(json(findings_in(&d, groups(), &facts, 3)), one);
        assert!(one.contains("10.0.4.1") && one.matches("\"detection_id\"").count() == 5);
    }

    #[test]
    fn packed_times_order_as_text() {
        let times = [
            "2026-01-11T23:15:02Z",
            "2026-01-11T23:15:10Z",
            "2026-01-12T00:00:00Z",
            "2025-12-31T23:59:59Z",
            "1999-01-01T00:00:00Z",
        ];
        for a in times {
            for b in times {
                assert_eq!(
                    packed_time(a).unwrap().cmp(&packed_time(b).unwrap()),
                    a.cmp(b),
                    "{a} {b}"
                );
            }
        }
        for t in times {
            assert_eq!(unpacked_time(packed_time(t).unwrap()), t);
        }
        for odd in [
            "2026-01-11T23:15:02.123Z",
            "2026-01-11 23:15:02Z",
            "",
            "2026-0a-11T23:15:02Z",
        ] {
            assert_eq!(packed_time(odd), None, "{odd}");
        }
    }
}
