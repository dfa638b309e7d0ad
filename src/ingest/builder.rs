//! Normalising text cells into canonical events, and building the events frame.
//!
//! Each distinct raw value (path, user agent, IP, secret) is processed once: raw values are
//! cached per file, and normalised values are interned for the whole run.

use super::table::{Problem, RawTable, TextColumn};
use super::tokens::split_request;
use super::IngestOptions;
use crate::factor::{coded, Dictionary};
use crate::schema::{col, Field, UNKNOWN_CREDENTIAL};
use crate::secret::{self, excerpt};
use crate::timestamp::{Micros, TimestampParser};
use polars::prelude::*;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;

/// Values stored once, referred to by index.
#[derive(Debug)]
struct Interner<K> {
    index: PlHashMap<K, u32>,
    values: Vec<K>,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Self { index: PlHashMap::default(), values: Vec::new() }
    }
}

impl<K: Hash + Eq + Clone> Interner<K> {
    fn intern(&mut self, key: &K) -> u32 {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(key.clone());
        self.index.insert(key.clone(), i);
        i
    }
}

/// Interned text: each distinct string allocated once, shared by the index and the values.
#[derive(Default)]
struct TextInterner {
    index: PlHashMap<Arc<str>, u32>,
    values: Vec<Arc<str>>,
}

impl TextInterner {
    /// Interns a string another interner holds, sharing its allocation.
    fn intern_shared(&mut self, key: &Arc<str>) -> u32 {
        if let Some(&i) = self.index.get(&**key) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(key.clone());
        self.index.insert(key.clone(), i);
        i
    }

    fn intern(&mut self, key: &str) -> u32 {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = self.values.len() as u32;
        let value: Arc<str> = Arc::from(key);
        self.values.push(value.clone());
        self.index.insert(value, i);
        i
    }
}

/// Text stored as it comes, without looking for duplicates: for paths, which are mostly
/// distinct (they carry ids), so that interning them would only cost.
#[derive(Default)]
pub(super) struct Arena {
    bytes: String,
    /// End of each value in `bytes`.
    ends: Vec<usize>,
}

impl Arena {
    pub(super) fn push(&mut self, value: &str) -> u32 {
        self.bytes.push_str(value);
        self.ends.push(self.bytes.len());
        (self.ends.len() - 1) as u32
    }

    pub(super) fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Appends another arena's values; returns the id its first value now has.
    pub(super) fn extend_from(&mut self, other: &Arena) -> u32 {
        let (offset, base) = (self.len() as u32, self.bytes.len());
        self.bytes.push_str(&other.bytes);
        self.ends.extend(other.ends.iter().map(|e| e + base));
        offset
    }

    fn values(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The text column whose row `r` is value `ids[r]`, as views into the arena's own bytes,
    /// which the column takes over instead of copying them.
    fn into_column(self, name: &str, ids: impl Iterator<Item = Option<u32>>) -> PolarsResult<Column> {
        use polars_arrow::array::{Utf8ViewArray, View};
        use polars_arrow::bitmap::MutableBitmap;
        use polars_buffer::Buffer;
        // A view addresses its buffer with a 32-bit offset: larger arenas are copied into a
        // column of buffers of their own.
        if u32::try_from(self.bytes.len()).is_err() {
            return gather(&dictionary(self.values().map(Some)), name, ids);
        }
        let Arena { bytes, ends } = self;
        let buffer = Buffer::from(bytes.into_bytes());
        let (lower, _) = ids.size_hint();
        let (mut views, mut valid) = (Vec::with_capacity(lower), MutableBitmap::with_capacity(lower));
        for id in ids {
            valid.push(id.is_some());
            views.push(match id {
                Some(id) => {
                    let (id, end) = (id as usize, ends[id as usize]);
                    let start = if id == 0 { 0 } else { ends[id - 1] };
                    // The offset fits: the arena is smaller than 4 GiB.
                    View::new_from_bytes(&buffer[start..end], 0, start as u32)
                }
                None => View::default(),
            });
        }
        let validity = (valid.unset_bits() > 0).then(|| valid.into());
        // SAFETY: every view is of a whole value of the arena, which is a `String` (so valid
        // UTF-8 that the value's ends fall on character boundaries of) and is the one buffer.
        // Checking that again would read every row's text.
        let array = unsafe {
            Utf8ViewArray::new_unchecked_unknown_md(
                ArrowDataType::Utf8View,
                views.into(),
                Buffer::from(vec![buffer]),
                validity,
                None,
            )
        };
        Ok(StringChunked::with_chunk(name.into(), array).into_series().into_column())
    }
}

/// How a credential was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CredentialKind {
    /// From a raw secret in the log: the id is its fingerprint.
    Fingerprint,
    /// From a non-secret key id column.
    Id,
    /// From `--credential`.
    Assigned,
    /// None of the above.
    Unknown,
}

/// A credential seen in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: String,
    pub hint: Option<String>,
    pub label: Option<String>,
    pub kind: CredentialKind,
}

/// A value that may be absent, in the width of the value: absence is a value no valid row has
/// ([`Absent::ABSENT`]). Half the size of an `Option` of it, for columns of millions of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Packed<T>(T);

/// A value type with a value no valid row has.
pub(super) trait Absent: Copy + PartialEq {
    const ABSENT: Self;
}

/// Ids: no dictionary holds four billion values.
impl Absent for u32 {
    const ABSENT: u32 = u32::MAX;
}

// A row's packed address id is its index into the distinct addresses as it stands.
const _: () = assert!(<u32 as Absent>::ABSENT == super::NO_ADDRESS);

/// Statuses are 100–599.
impl Absent for i32 {
    const ABSENT: i32 = i32::MIN;
}

/// Byte counts are not negative.
impl Absent for i64 {
    const ABSENT: i64 = i64::MIN;
}

impl<T: Absent> Packed<T> {
    pub(super) fn get(self) -> Option<T> {
        (self.0 != T::ABSENT).then_some(self.0)
    }

    /// The stored value, [`Absent::ABSENT`] for none (as a spill writes it).
    pub(super) fn raw(self) -> T {
        self.0
    }

    pub(super) fn from_raw(raw: T) -> Self {
        Packed(raw)
    }

    fn map(self, f: impl FnOnce(T) -> T) -> Self {
        Packed::from(self.get().map(f))
    }
}

impl<T: Absent> From<Option<T>> for Packed<T> {
    fn from(value: Option<T>) -> Self {
        Packed(value.unwrap_or(T::ABSENT))
    }
}

/// Accepted events, one entry per row in each vector; text as ids into the builder's
/// dictionaries, paths in an arena of their own.
#[derive(Default)]
pub struct Rows {
    pub(super) timestamp: Vec<Micros>,
    pub(super) credential: Vec<u32>,
    pub(super) source_ip: Vec<Packed<u32>>,
    pub(super) method: Vec<Packed<u32>>,
    /// Ids into `paths`.
    pub(super) path: Vec<Packed<u32>>,
    pub(super) status: Vec<Packed<i32>>,
    pub(super) bytes: Vec<Packed<i64>>,
    pub(super) user_agent: Vec<Packed<u32>>,
    pub(super) count: Vec<i64>,
    pub(super) file: Vec<u32>,
    pub(super) line: Vec<u64>,
    pub(super) paths: Arena,
}

impl Rows {
    /// Empty, with room for `rows` rows whose paths have `text` bytes.
    pub(super) fn with_capacity(rows: usize, text: usize) -> Self {
        Rows {
            timestamp: Vec::with_capacity(rows),
            credential: Vec::with_capacity(rows),
            source_ip: Vec::with_capacity(rows),
            method: Vec::with_capacity(rows),
            path: Vec::with_capacity(rows),
            status: Vec::with_capacity(rows),
            bytes: Vec::with_capacity(rows),
            user_agent: Vec::with_capacity(rows),
            count: Vec::with_capacity(rows),
            file: Vec::with_capacity(rows),
            line: Vec::with_capacity(rows),
            paths: Arena { bytes: String::with_capacity(text), ends: Vec::with_capacity(rows) },
        }
    }

    pub(super) fn len(&self) -> usize {
        self.timestamp.len()
    }

    /// Keeps the first `len` rows (their paths stay in the arena, unreferenced).
    fn truncate(&mut self, len: usize) {
        self.timestamp.truncate(len);
        self.credential.truncate(len);
        self.source_ip.truncate(len);
        self.method.truncate(len);
        self.path.truncate(len);
        self.status.truncate(len);
        self.bytes.truncate(len);
        self.user_agent.truncate(len);
        self.count.truncate(len);
        self.file.truncate(len);
        self.line.truncate(len);
    }

    /// Moves `more` (with the same dictionaries) to the end.
    pub(super) fn append(&mut self, more: Rows) {
        let first_path = self.paths.extend_from(&more.paths);
        self.timestamp.extend(more.timestamp);
        self.credential.extend(more.credential);
        self.source_ip.extend(more.source_ip);
        self.method.extend(more.method);
        self.path.extend(more.path.into_iter().map(|p| p.map(|p| p + first_path)));
        self.status.extend(more.status);
        self.bytes.extend(more.bytes);
        self.user_agent.extend(more.user_agent);
        self.count.extend(more.count);
        self.file.extend(more.file);
        self.line.extend(more.line);
    }

    /// Makes room for `rows` more rows whose paths have `text` bytes, as far as the system
    /// grants it (an estimate too large for it is no error: the rows grow as they come).
    fn reserve(&mut self, rows: usize, text: usize) -> Result<(), std::collections::TryReserveError> {
        self.timestamp.try_reserve(rows)?;
        self.credential.try_reserve(rows)?;
        self.source_ip.try_reserve(rows)?;
        self.method.try_reserve(rows)?;
        self.path.try_reserve(rows)?;
        self.status.try_reserve(rows)?;
        self.bytes.try_reserve(rows)?;
        self.user_agent.try_reserve(rows)?;
        self.count.try_reserve(rows)?;
        self.file.try_reserve(rows)?;
        self.line.try_reserve(rows)?;
        self.paths.bytes.try_reserve(text)?;
        self.paths.ends.try_reserve(rows)
    }
}

/// Accumulates accepted events of all inputs.
#[derive(Default)]
pub struct EventBuilder {
    rows: Rows,

    credentials: Vec<Credential>,
    credential_index: PlHashMap<String, u32>,
    /// Raw secret → credential. Held in memory only, to scrub copies of secrets from text.
    secrets: PlHashMap<String, u32>,
    ips: Interner<IpAddr>,
    strings: TextInterner,
    files: Vec<String>,
    /// Where rows go block by block in a streaming scan, and the first error writing there.
    spill: Option<super::spill::Spill>,
    spill_error: Option<crate::error::Error>,
    /// When to start spilling, if ever.
    spill_plan: Option<SpillPlan>,
    /// The dictionaries of the frame's text columns, made by its first frame.
    coded: Option<Coded>,
}

/// The values of the events frame's text columns held as codes ([`crate::factor::coded`]):
/// made once the values are final (after [`EventBuilder::seal`]), and shared by every frame of
/// the builder, so that a streaming scan's frames of its buckets can be stacked.
struct Coded {
    /// Methods and user agents.
    strings: Dictionary,
    /// Addresses, as text.
    ips: Dictionary,
    /// Credential ids, hints and labels, by credential id.
    credentials: Dictionary,
    hints: Dictionary,
    labels: Dictionary,
    /// Input files, by file id.
    files: Dictionary,
}

impl Coded {
    fn of(builder: &EventBuilder) -> PolarsResult<Self> {
        let ips: Vec<String> = builder.ips.values.iter().map(ToString::to_string).collect();
        let creds = &builder.credentials;
        Ok(Coded {
            strings: Dictionary::new(builder.strings.values.iter().map(|s| Some(&**s)))?,
            ips: Dictionary::new(ips.iter().map(|s| Some(s.as_str())))?,
            credentials: Dictionary::new(creds.iter().map(|c| Some(c.id.as_str())))?,
            hints: Dictionary::new(creds.iter().map(|c| c.hint.as_deref()))?,
            labels: Dictionary::new(creds.iter().map(|c| c.label.as_deref()))?,
            files: Dictionary::new(builder.files.iter().map(|f| Some(f.as_str())))?,
        })
    }
}

/// When a read starts to move its rows to disk: once it holds more than `beyond_rows` rows
/// (0: from the first block), into a spill of `buckets` buckets in `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpillPlan {
    pub dir: std::path::PathBuf,
    pub buckets: usize,
    pub beyond_rows: usize,
}

/// Ids given as new ids: id `i` is `to[i]`.
fn remap<'a>(ids: &'a [Packed<u32>], to: &'a [u32]) -> impl Iterator<Item = Packed<u32>> + 'a {
    ids.iter().map(|i| i.map(|i| to[i as usize]))
}

/// Where the ids of a part's dictionaries went in the builder that absorbed it.
struct IdMaps {
    strings: Vec<u32>,
    ips: Vec<u32>,
    credentials: Vec<u32>,
}

/// Rows per block when a large table is normalised in parallel, about (see [`blocks`]).
const BLOCK_ROWS: usize = 1 << 16;
/// Fewer rows than this are normalised on one core.
const MIN_PARALLEL_ROWS: usize = 1 << 14;

/// How `rows` rows are cut into blocks normalised in parallel on `threads` threads: blocks of
/// about [`BLOCK_ROWS`] rows, as many as a multiple of the threads, of equal size, so that the
/// threads finish together. (With blocks of exactly `BLOCK_ROWS`, the 190,000 rows of a
/// 32 MiB block of CSV made three blocks: the last ran alone on one of two cores.) One block
/// when the rows are fewer than [`MIN_PARALLEL_ROWS`]; on one thread the blocks are normalised
/// one after another, the same way as on several.
fn blocks(rows: usize, threads: usize) -> Vec<std::ops::Range<usize>> {
    if rows < MIN_PARALLEL_ROWS {
        return std::iter::once(0..rows).collect();
    }
    let count = rows.div_ceil(BLOCK_ROWS).next_multiple_of(threads.max(1));
    (0..count).map(|i| i * rows / count..(i + 1) * rows / count).collect()
}

/// The time of the last row before `row` whose timestamp parses: what a timestamp parser that
/// read the rows before `row` in order holds. Found from the nearest earlier row whose time
/// does not depend on its predecessors, then forward through any that do (local times that
/// occur twice), so that it is exact.
fn previous_time(cells: &Cells<'_, '_>, row: usize, parser: &TimestampParser) -> Option<Micros> {
    let (anchor, at) = (0..row)
        .rev()
        .find_map(|r| cells.get(Field::Timestamp, r).and_then(|raw| parser.parse_alone(raw)).map(|m| (r, m)))?;
    let mut replay = parser.clone();
    replay.resume_after(Some(at));
    let mut previous = at;
    for r in anchor + 1..row {
        if let Some(m) = cells.get(Field::Timestamp, r).and_then(|raw| replay.parse(raw).ok()) {
            previous = m;
        }
    }
    Some(previous)
}

/// Per-file caches from raw cell text to normalised values.
#[derive(Default)]
struct FileCache {
    ip: PlHashMap<String, Option<u32>>,
    path: PlHashMap<String, (u32, Option<u32>, Option<u32>)>,
    /// A raw secret's credential.
    secret: PlHashMap<String, u32>,
    /// A credential cell's (an `Authorization` value, say): the credential of the secret in it.
    credential_cell: PlHashMap<String, Option<u32>>,
}

/// A table's columns by field, looked up once per table rather than once per cell.
struct Cells<'t, 'a> {
    columns: [Option<&'t (dyn TextColumn + 'a)>; Field::ALL.len()],
}

impl<'t, 'a> Cells<'t, 'a> {
    fn of(table: &'t RawTable<'a>) -> Self {
        Self { columns: Field::ALL.map(|f| table.column(f)) }
    }

    /// A cell's trimmed text; empty and `-` are no value.
    fn get(&self, field: Field, row: usize) -> Option<&'t str> {
        self.columns[field as usize].and_then(|c| c.cell(row)).map(trimmed).filter(|s| !s.is_empty() && *s != "-")
    }

    /// The bytes of a field's cells in rows `range`, about: the first [`SAMPLE_CELLS`] rows'
    /// mean, a quarter more, times the rows.
    fn text_estimate(&self, field: Field, range: std::ops::Range<usize>) -> usize {
        let Some(column) = self.columns[field as usize] else { return 0 };
        let sample = range.start..range.end.min(range.start + SAMPLE_CELLS);
        let (rows, bytes) = (sample.len(), sample.filter_map(|r| column.cell(r)).map(str::len).sum::<usize>());
        if rows == 0 {
            return 0;
        }
        bytes.div_ceil(rows) * range.len() / 4 * 5
    }
}

/// Rows whose cells [`Cells::text_estimate`] measures.
const SAMPLE_CELLS: usize = 256;

/// `text` without white space at either end ([`str::trim`]), which most cells have none of: a
/// cell that begins and ends with a printable ASCII byte is returned as it is, without
/// decoding characters from both ends.
fn trimmed(text: &str) -> &str {
    let printable = |b: Option<&u8>| b.is_some_and(|&b| (0x21..0x80).contains(&b));
    if printable(text.as_bytes().first()) && printable(text.as_bytes().last()) {
        text
    } else {
        text.trim()
    }
}

impl EventBuilder {
    /// Rows appended (and not dropped), spilled ones included.
    pub fn len(&self) -> usize {
        self.spill.as_ref().map_or(0, |s| s.spilled()) + self.rows.len()
    }

    /// Registers an input; its events are appended with the returned id.
    pub fn begin_file(&mut self, name: &str) -> u32 {
        self.files.push(name.to_string());
        (self.files.len() - 1) as u32
    }

    /// Drops the events appended after the first `len` (a file that was left out) and
    /// returns their source lines.
    pub fn drop_since(&mut self, len: usize) -> Vec<u64> {
        let spilled = self.spill.as_ref().map_or(0, |s| s.spilled());
        let mut lines = Vec::new();
        if len < spilled {
            if let Some(spill) = &mut self.spill {
                match spill.drop_from(len) {
                    Ok(l) => lines = l,
                    Err(e) => {
                        self.spill_error.get_or_insert(e);
                    }
                }
            }
        }
        let keep = len.saturating_sub(spilled).min(self.rows.len());
        lines.extend_from_slice(&self.rows.line[keep..]);
        self.rows.truncate(keep);
        lines
    }

    /// Makes room for `times` as many rows again as the last `rows` appended (with paths as
    /// long), when they will be held in memory: not while spilling or when they would start
    /// a spill. Room to spare (5%) is never touched, so it costs no memory.
    pub fn reserve_like(&mut self, rows: usize, times: f64) {
        let more = (rows as f64 * times * 1.05) as usize;
        let held = self.rows.len();
        if self.spill.is_some() || self.spill_plan.as_ref().is_some_and(|p| held + more > p.beyond_rows) {
            return;
        }
        let paths = &self.rows.paths;
        let per_row = if paths.len() == 0 { 0.0 } else { paths.bytes.len() as f64 / paths.len() as f64 };
        let _ = self.rows.reserve(more, (more as f64 * per_row) as usize);
    }

    /// Rows go to a spill at [`EventBuilder::spill_block`] once the plan says so.
    pub fn plan_spill(&mut self, plan: SpillPlan) {
        self.spill_plan = Some(plan);
    }

    /// Whether rows are being moved to disk.
    pub fn is_spilling(&self) -> bool {
        self.spill.is_some()
    }

    /// With a spill, or past the rows its plan allows in memory: moves the rows appended so far
    /// to disk. A write error is kept for [`EventBuilder::take_spill_error`]; the rows are
    /// dropped.
    pub fn spill_block(&mut self) {
        if self.spill.is_none() {
            let Some(plan) = self.spill_plan.as_ref().filter(|p| self.rows.len() > p.beyond_rows) else { return };
            match super::spill::Spill::create(&plan.dir, plan.buckets) {
                Ok(spill) => self.spill = Some(spill),
                Err(e) => {
                    self.spill_error.get_or_insert(e);
                    return;
                }
            }
        }
        let Some(spill) = &mut self.spill else { return };
        let mut rows = std::mem::take(&mut self.rows);
        // Copies of the secrets known so far do not go to disk; those found later are scrubbed
        // when the rows are read back.
        if let Some(scrubber) = Scrubber::new(&self.secrets, &self.credentials) {
            scrubber.scrub_arena(&mut rows.paths);
        }
        if self.spill_error.is_none() {
            if let Err(e) = spill.store(&rows) {
                self.spill_error = Some(e);
            }
        }
    }

    /// The first error writing the spill, if any.
    pub fn take_spill_error(&mut self) -> Option<crate::error::Error> {
        self.spill_error.take()
    }

    /// Ends a streaming read: the last rows go to disk, the dictionaries are sealed (see
    /// [`EventBuilder::seal`]). Returns the dictionaries (this builder, without rows), the
    /// spill, and the paths' scrubber.
    pub fn finish_spilled(
        mut self,
        labels: &BTreeMap<String, String>,
    ) -> crate::error::Result<(EventBuilder, super::spill::Spill, Option<Scrubber>)> {
        self.spill_block();
        if let Some(e) = self.spill_error.take() {
            return Err(e);
        }
        let scrubber = self.seal(labels);
        let spill = self.spill.take().ok_or_else(|| crate::error::Error::Usage("no spill to finish".into()))?;
        Ok((self, spill, scrubber))
    }

    fn credential(&mut self, id: &str, hint: Option<String>, kind: CredentialKind) -> u32 {
        if let Some(&i) = self.credential_index.get(id) {
            return i;
        }
        let i = self.credentials.len() as u32;
        self.credentials.push(Credential { id: id.to_string(), hint, label: None, kind });
        self.credential_index.insert(id.to_string(), i);
        i
    }

    fn secret_credential(&mut self, cache: &mut FileCache, raw: &str) -> u32 {
        if let Some(&i) = cache.secret.get(raw) {
            return i;
        }
        let i = match self.secrets.get(raw) {
            Some(&i) => i,
            None => {
                let fp = secret::fingerprint(raw);
                let i = self.credential(&fp.id, Some(fp.hint), CredentialKind::Fingerprint);
                self.secrets.insert(raw.to_string(), i);
                i
            }
        };
        cache.secret.insert(raw.to_string(), i);
        i
    }

    /// Normalises and appends the rows of one input; returns the rejected rows.
    ///
    /// A large table is normalised in parallel, in blocks of rows that each fill a builder of
    /// their own, absorbed in order: the result is the same as row by row (each block's
    /// timestamp parser starts in the state the rows before it leave).
    pub fn append(
        &mut self,
        file: u32,
        table: &RawTable<'_>,
        opts: &IngestOptions,
        zone: Option<chrono_tz::Tz>,
    ) -> Vec<(u64, Problem)> {
        let cells = Cells::of(table);
        let parser = TimestampParser::new(opts.mapping.timestamp_format.clone(), zone);
        let rows = table.rows();
        let blocks = blocks(rows, rayon::current_num_threads());
        if blocks.len() < 2 {
            return self.append_rows(&cells, &table.lines, 0..rows, file, parser, opts);
        }
        let parts: Vec<(EventBuilder, Vec<(u64, Problem)>)> = blocks
            .into_par_iter()
            .map(|block| {
                // Room for the block's rows at once (most are accepted), not grown by doubling;
                // room not used is never touched, so it costs no memory.
                let text = cells.text_estimate(Field::Path, block.clone());
                let mut part = EventBuilder { rows: Rows::with_capacity(block.len(), text), ..EventBuilder::default() };
                let mut parser = parser.clone();
                parser.resume_after(previous_time(&cells, block.start, &parser));
                let rejected = part.append_rows(&cells, &table.lines, block, 0, parser, opts);
                (part, rejected)
            })
            .collect();
        let (parts, rejected): (Vec<EventBuilder>, Vec<Vec<(u64, Problem)>>) = parts.into_iter().unzip();
        self.absorb(parts, file);
        rejected.into_iter().flatten().collect()
    }

    /// Appends rows `range` of a table as events of `file`; returns the rejected rows.
    fn append_rows(
        &mut self,
        cells: &Cells<'_, '_>,
        lines: &[u64],
        range: std::ops::Range<usize>,
        file: u32,
        mut parser: TimestampParser,
        opts: &IngestOptions,
    ) -> Vec<(u64, Problem)> {
        let mut cache = FileCache::default();
        let mut rejected = Vec::new();
        for row in range {
            match self.append_row(cells, row, file, &mut parser, &mut cache, opts) {
                Ok(()) => self.rows.line.push(lines[row]),
                Err(p) => rejected.push((lines[row], p)),
            }
        }
        rejected
    }

    /// Moves the events of builders that normalised consecutive blocks of `file` to the end of
    /// this one, in order. Their dictionaries are merged one after another (few values each),
    /// then their rows are copied column by column, the columns side by side.
    fn absorb(&mut self, parts: Vec<EventBuilder>, file: u32) {
        let (maps, parts): (Vec<IdMaps>, Vec<Rows>) =
            parts.into_iter().map(|part| self.merge_dictionaries(part)).unzip();
        // Where each part's paths start in this builder's arena.
        let path_bases: Vec<u32> = parts
            .iter()
            .scan(self.rows.paths.len() as u32, |next, part| {
                let base = *next;
                *next += part.paths.len() as u32;
                Some(base)
            })
            .collect();
        let Rows {
            timestamp,
            credential,
            source_ip,
            method,
            path,
            status,
            bytes,
            user_agent,
            count,
            file: files,
            line,
            paths,
        } = &mut self.rows;
        let (parts, maps) = (&parts, &maps);
        rayon::scope(|s| {
            s.spawn(|_| parts.iter().for_each(|p| timestamp.extend_from_slice(&p.timestamp)));
            s.spawn(|_| {
                for (p, m) in parts.iter().zip(maps) {
                    credential.extend(p.credential.iter().map(|&c| m.credentials[c as usize]));
                }
            });
            s.spawn(|_| parts.iter().zip(maps).for_each(|(p, m)| source_ip.extend(remap(&p.source_ip, &m.ips))));
            s.spawn(|_| parts.iter().zip(maps).for_each(|(p, m)| method.extend(remap(&p.method, &m.strings))));
            s.spawn(|_| parts.iter().zip(maps).for_each(|(p, m)| user_agent.extend(remap(&p.user_agent, &m.strings))));
            s.spawn(|_| {
                for (p, &base) in parts.iter().zip(&path_bases) {
                    path.extend(p.path.iter().map(|i| i.map(|i| i + base)));
                }
            });
            s.spawn(|_| {
                for p in parts {
                    paths.extend_from(&p.paths);
                }
            });
            s.spawn(|_| {
                for p in parts {
                    status.extend_from_slice(&p.status);
                    bytes.extend_from_slice(&p.bytes);
                    count.extend_from_slice(&p.count);
                }
            });
            s.spawn(|_| {
                for p in parts {
                    files.extend(std::iter::repeat_n(file, p.line.len()));
                    line.extend_from_slice(&p.line);
                }
            });
        });
    }

    /// Adds the values of a part's dictionaries (text, addresses, credentials and their
    /// secrets) to this builder's; returns where each of the part's ids went, and its rows.
    fn merge_dictionaries(&mut self, part: EventBuilder) -> (IdMaps, Rows) {
        let strings: Vec<u32> = part.strings.values.iter().map(|v| self.strings.intern_shared(v)).collect();
        let ips: Vec<u32> = part.ips.values.iter().map(|ip| self.ips.intern(ip)).collect();
        let credentials: Vec<u32> = part
            .credentials
            .into_iter()
            .map(|c| {
                let i = self.credential(&c.id, c.hint, c.kind);
                let known = &mut self.credentials[i as usize];
                if known.label.is_none() {
                    known.label = c.label;
                }
                i
            })
            .collect();
        for (raw, c) in part.secrets {
            self.secrets.entry(raw).or_insert(credentials[c as usize]);
        }
        (IdMaps { strings, ips, credentials }, part.rows)
    }

    fn append_row(
        &mut self,
        table: &Cells<'_, '_>,
        row: usize,
        file: u32,
        parser: &mut TimestampParser,
        cache: &mut FileCache,
        opts: &IngestOptions,
    ) -> Result<(), Problem> {
        // Validate every field before appending anything, so that a rejected row leaves no trace.
        let raw_ts =
            table.get(Field::Timestamp, row).ok_or_else(|| Problem::new("missing_timestamp", "no timestamp"))?;
        let timestamp =
            parser.parse(raw_ts).map_err(|e| Problem::new(e.code(), format!("timestamp {}: {e}", excerpt(raw_ts))))?;

        let source_ip = match table.get(Field::SourceIp, row) {
            None => None,
            Some(raw) => match cache.ip.get(raw) {
                Some(v) => *v,
                None => {
                    let parsed = parse_ip(raw).map(|ip| self.ips.intern(&ip));
                    cache.ip.insert(raw.to_string(), parsed);
                    parsed
                }
            }
            .map(Some)
            .ok_or_else(|| {
                Problem::new("invalid_ip", format!("source IP {} is not an IPv4 or IPv6 address", excerpt(raw)))
            })?,
        };
        let status = match table.get(Field::Status, row) {
            None => None,
            Some(raw) => Some(parse_whole(raw).filter(|s| (100..=599).contains(s)).ok_or_else(|| {
                Problem::new("bad_status", format!("status {} is not an HTTP status code (100-599)", excerpt(raw)))
            })? as i32),
        };
        let bytes = match table.get(Field::Bytes, row) {
            None => None,
            Some(raw) => Some(parse_whole(raw).ok_or_else(|| {
                Problem::new("bad_bytes", format!("bytes {} is not a whole number of bytes", excerpt(raw)))
            })?),
        };
        let count = match table.get(Field::Count, row) {
            None => 1,
            Some(raw) => parse_whole(raw).filter(|c| *c >= 1).ok_or_else(|| {
                Problem::new("bad_count", format!("count {} is not a positive whole number of requests", excerpt(raw)))
            })?,
        };

        let (path, query_secret, request_method) = match table.get(Field::Path, row) {
            None => (None, None, None),
            // A plain path (no request line, origin or query) needs no normalising.
            Some(raw) if raw.starts_with('/') && !raw.contains(['?', ' ']) => {
                (Some(self.rows.paths.push(raw)), None, None)
            }
            Some(raw) => {
                let (p, s, m) = match cache.path.get(raw) {
                    Some(v) => *v,
                    None => {
                        let v = self.normalise_path(cache, raw);
                        cache.path.insert(raw.to_string(), v);
                        v
                    }
                };
                (Some(p), s, m)
            }
        };
        let method = match table.get(Field::Method, row) {
            Some(m) if m.bytes().any(|b| b.is_ascii_lowercase()) => {
                Some(self.strings.intern(m.to_ascii_uppercase().as_str()))
            }
            Some(m) => Some(self.strings.intern(m)),
            None => request_method,
        };
        let user_agent = table.get(Field::UserAgent, row).map(|ua| self.strings.intern(ua));

        let key_id = table.get(Field::CredentialId, row);
        // The same credential cell comes again and again: its secret is found once.
        let secret = match table.get(Field::Credential, row) {
            None => None,
            Some(cell) => match cache.credential_cell.get(cell) {
                Some(&c) => c,
                None => {
                    let c = secret::secret_of(cell).map(|raw| self.secret_credential(cache, raw));
                    cache.credential_cell.insert(cell.to_string(), c);
                    c
                }
            },
        };
        let credential = if let Some(c) = secret {
            self.remember_label(c, key_id);
            c
        } else if let Some(c) = query_secret {
            self.remember_label(c, key_id);
            c
        } else if let Some(id) = key_id {
            self.credential(id, None, CredentialKind::Id)
        } else if let Some(assigned) = &opts.credential {
            self.credential(assigned, None, CredentialKind::Assigned)
        } else {
            self.credential(UNKNOWN_CREDENTIAL, None, CredentialKind::Unknown)
        };

        self.rows.timestamp.push(timestamp);
        self.rows.credential.push(credential);
        self.rows.source_ip.push(source_ip.into());
        self.rows.method.push(method.into());
        self.rows.path.push(path.into());
        self.rows.status.push(status.into());
        self.rows.bytes.push(bytes.into());
        self.rows.user_agent.push(user_agent.into());
        self.rows.count.push(count);
        self.rows.file.push(file);
        Ok(())
    }

    /// A key id seen beside a raw secret becomes that fingerprint's label.
    fn remember_label(&mut self, credential: u32, key_id: Option<&str>) {
        if let (Some(id), Some(c)) = (key_id, self.credentials.get_mut(credential as usize)) {
            if c.label.is_none() {
                c.label = Some(id.to_string());
            }
        }
    }

    /// Request line → target, URL → path, secrets in the query → fingerprints.
    /// Returns (interned path, credential of a secret in the query, interned method).
    fn normalise_path(&mut self, cache: &mut FileCache, raw: &str) -> (u32, Option<u32>, Option<u32>) {
        let (method, target) = match split_request(raw) {
            (Some(m), Some(t)) if raw.contains(' ') => (Some(m), t),
            _ => (None, raw),
        };
        let target = strip_origin(target);
        let scrubbed = secret::scrub_path(target);
        let credential = scrubbed.secret.as_deref().map(|s| self.secret_credential(cache, s));
        let method = method.map(|m| self.strings.intern(m));
        (self.rows.paths.push(scrubbed.path.as_str()), credential, method)
    }

    /// Builds the events frame, sorted by time (then file and line), with every copy of a
    /// known secret in paths and user agents replaced by its fingerprint.
    pub fn finish(
        mut self,
        labels: &BTreeMap<String, String>,
    ) -> PolarsResult<(DataFrame, Vec<Credential>, super::Addresses)> {
        let scrubber = self.seal(labels);
        let mut rows = std::mem::take(&mut self.rows);
        if let Some(s) = &scrubber {
            s.scrub_arena(&mut rows.paths);
        }
        let (df, address_rows) = self.frame(rows)?;
        Ok((df, self.credentials, super::Addresses { distinct: self.ips.values, rows: address_rows }))
    }

    /// Ends the reading: labels the credentials and scrubs known secrets from the interned
    /// text. Returns what scrubs them from paths (which are stored per row), if there is any
    /// secret to scrub.
    pub fn seal(&mut self, labels: &BTreeMap<String, String>) -> Option<Scrubber> {
        for c in &mut self.credentials {
            if let Some(l) = labels.get(&c.id) {
                c.label = Some(l.clone());
            }
        }
        let scrubber = Scrubber::new(&self.secrets, &self.credentials)?;
        for value in &mut self.strings.values {
            if let Some(scrubbed) = scrubber.scrub(value) {
                *value = Arc::from(scrubbed);
            }
        }
        Some(scrubber)
    }

    /// The credentials seen so far, by id.
    pub fn credentials(&self) -> &[Credential] {
        &self.credentials
    }

    /// The distinct source addresses seen so far, by id.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.ips.values
    }

    /// The events frame of `rows` (of this builder), sorted by time (then file and line), and
    /// each row's address id.
    pub fn frame(&mut self, rows: Rows) -> PolarsResult<(DataFrame, Vec<u32>)> {
        let dictionaries = match self.coded.take() {
            Some(dictionaries) => dictionaries,
            None => Coded::of(self)?,
        };
        let frame = self.frame_coded(rows, &dictionaries);
        self.coded = Some(dictionaries);
        frame
    }

    /// [`EventBuilder::frame`], its text columns coded with `dictionaries`.
    fn frame_coded(&self, rows: Rows, dictionaries: &Coded) -> PolarsResult<(DataFrame, Vec<u32>)> {
        let Rows {
            timestamp,
            credential,
            source_ip,
            method,
            path,
            status,
            bytes,
            user_agent,
            count,
            file,
            line,
            paths,
        } = rows;
        let n = timestamp.len();
        let key = |i: usize| (timestamp[i], file[i], line[i]);
        // Row `r` of the frame is row `order[r]` of the rows. Logs are mostly written in time
        // order: sorted only when they are not, and then the columns of numbers are moved into
        // the frame as they are, not copied.
        let order: Option<Vec<u32>> = (!(1..n).into_par_iter().all(|i| key(i - 1) <= key(i))).then(|| {
            let mut order: Vec<u32> = (0..n as u32).collect();
            order.par_sort_unstable_by_key(|&i| key(i as usize));
            order
        });
        let order = order.as_deref();
        // An absent address id is `NO_ADDRESS` already.
        let addresses: Vec<u32> = in_order(source_ip, order).into_iter().map(Packed::raw).collect();
        // Text with few distinct values is held as codes into them (four bytes a row), so that
        // a user agent seen ten million times is stored once. Paths, mostly distinct, are views
        // into the arena they were read into.
        let text = |v: Vec<Packed<u32>>, name: &str| coded_column(name, &dictionaries.strings, in_order(v, order));
        let creds = &self.credentials;
        // A value that every key shares (no key has a label) is kept once, not on every row.
        let by_credential = |name: &str, codes: &Dictionary, value: &dyn Fn(&Credential) -> Option<&str>| match constant(
            creds.iter().map(value),
        ) {
            Some(v) => Ok(constant_column(name, v, n)),
            None => coded_column(name, codes, picked(&credential, order).map(Packed).collect()),
        };
        let addresses_ref = &addresses;
        // Each column is built on its own, in parallel; each takes the rows' values it reads
        // and frees them once built, so that later columns reuse their memory.
        type Build<'b> = Box<dyn FnOnce() -> PolarsResult<Vec<Column>> + Send + 'b>;
        let one = |c: PolarsResult<Column>| c.map(|c| vec![c]);
        let builds: Vec<Build<'_>> = vec![
            Box::new(move || {
                one(Ok(Int64Chunked::from_vec(col::TIMESTAMP.into(), in_order(timestamp, order))
                    .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                    .into_series()
                    .into_column()))
            }),
            Box::new(move || {
                Ok(vec![
                    by_credential(col::CREDENTIAL, &dictionaries.credentials, &|c| Some(c.id.as_str()))?,
                    by_credential(col::CREDENTIAL_HINT, &dictionaries.hints, &|c| c.hint.as_deref())?,
                    by_credential(col::CREDENTIAL_LABEL, &dictionaries.labels, &|c| c.label.as_deref())?,
                ])
            }),
            Box::new(move || {
                let ids = addresses_ref.iter().map(|&a| Packed::from_raw(a)).collect();
                one(coded_column(col::SOURCE_IP, &dictionaries.ips, ids))
            }),
            Box::new(move || one(text(method, col::METHOD))),
            Box::new(move || one(paths.into_column(col::PATH, picked(&path, order).map(Packed::get)))),
            Box::new(move || one(Ok(packed_column::<Int32Type>(col::STATUS, in_order(status, order)).into_column()))),
            Box::new(move || one(Ok(packed_column::<Int64Type>(col::BYTES, in_order(bytes, order)).into_column()))),
            Box::new(move || one(text(user_agent, col::USER_AGENT))),
            Box::new(move || {
                one(Ok(Int64Chunked::from_vec(col::COUNT.into(), in_order(count, order)).into_series().into_column()))
            }),
            Box::new(move || {
                // Rows of a single input share their file: kept once. Decided by the builder's
                // files, not the rows', so that every frame of the builder has one schema.
                match self.files.as_slice() {
                    [only] => one(Ok(constant_column(col::SOURCE_FILE, Some(only), n))),
                    _ => one(coded_column(
                        col::SOURCE_FILE,
                        &dictionaries.files,
                        picked(&file, order).map(Packed).collect(),
                    )),
                }
            }),
            Box::new(move || {
                one(Ok(UInt64Chunked::from_vec(col::SOURCE_LINE.into(), in_order(line, order))
                    .into_series()
                    .into_column()))
            }),
        ];
        let columns = builds.into_par_iter().map(|build| build()).collect::<PolarsResult<Vec<Vec<Column>>>>()?;
        let df = DataFrame::new(n, columns.into_iter().flatten().collect())?;
        Ok((df, addresses))
    }

    /// Per credential: (rows, requests weighted by `count`), spilled rows included.
    pub fn usage(&self) -> Vec<(u64, i64)> {
        let mut usage = match &self.spill {
            Some(spill) => spill.usage(self.credentials.len()),
            None => vec![(0u64, 0i64); self.credentials.len()],
        };
        for (c, n) in self.rows.credential.iter().zip(&self.rows.count) {
            let u = &mut usage[*c as usize];
            u.0 += 1;
            u.1 += n;
        }
        usage
    }
}

/// Replaces copies of raw secrets (a key pasted into a URL path or a client's user agent) with
/// their fingerprints.
pub struct Scrubber {
    matcher: aho_corasick::AhoCorasick,
    replacements: Vec<String>,
    /// The length of the longest secret, in bytes.
    longest: usize,
}

impl Scrubber {
    /// `None` when there is no secret to look for.
    fn new(secrets: &PlHashMap<String, u32>, credentials: &[Credential]) -> Option<Self> {
        // Very short "secrets" would match ordinary text; real keys are longer.
        let mut secrets: Vec<(&String, &u32)> = secrets.iter().filter(|(s, _)| s.len() >= 8).collect();
        if secrets.is_empty() {
            return None;
        }
        secrets.sort_unstable();
        let matcher = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(secrets.iter().map(|(s, _)| s.as_str()))
            .ok()?;
        let replacements = secrets.iter().map(|(_, c)| credentials[**c as usize].id.clone()).collect();
        let longest = secrets.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
        Some(Self { matcher, replacements, longest })
    }

    /// Whether a secret occurs anywhere in `bytes`. Looked for in pieces, in parallel: each
    /// piece reaches into the next by the longest secret's length less one byte, so that no
    /// occurrence falls between two.
    fn occurs_in(&self, bytes: &[u8]) -> bool {
        self.occurs_in_pieces(bytes, 8 << 20)
    }

    fn occurs_in_pieces(&self, bytes: &[u8], piece: usize) -> bool {
        let piece = piece.max(1);
        let overlap = self.longest.saturating_sub(1);
        (0..bytes.len().div_ceil(piece)).into_par_iter().any(|p| {
            let start = p * piece;
            let end = (start + piece + overlap).min(bytes.len());
            self.matcher.is_match(&bytes[start..end])
        })
    }

    /// The text with every secret replaced, or `None` when it holds none.
    fn scrub(&self, text: &str) -> Option<String> {
        self.matcher.is_match(text).then(|| self.matcher.replace_all(text, &self.replacements))
    }

    /// Scrubs paths: one pass over all of them; rewritten only when a secret is there.
    pub(super) fn scrub_arena(&self, paths: &mut Arena) {
        if self.occurs_in(paths.bytes.as_bytes()) {
            let mut scrubbed = Arena::default();
            for value in paths.values() {
                scrubbed.push(&self.scrub(value).unwrap_or_else(|| value.to_string()));
            }
            *paths = scrubbed;
        }
    }
}

/// Parses a client address: IPv4, IPv6 (brackets, zone and port removed, IPv4-mapped IPv6 as
/// IPv4), or the first entry of a comma-separated X-Forwarded-For list.
pub fn parse_ip(raw: &str) -> Option<IpAddr> {
    let first = raw.split(',').next()?.trim();
    let without_zone = |s: &str| s.split('%').next().unwrap_or(s).parse::<IpAddr>().ok();
    let ip = without_zone(first).or_else(|| without_zone(&super::alb::strip_port(first.into())))?;
    Some(ip.to_canonical())
}

/// A whole number, also written as `12.0` (exports that went through a float column).
fn parse_whole(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|v| *v >= 0).or_else(|| {
        let f = raw.parse::<f64>().ok()?;
        (f.fract() == 0.0 && (0.0..9.0e15).contains(&f)).then_some(f as i64)
    })
}

/// `https://host:443/a?b` → `/a?b`; a path stays as it is.
fn strip_origin(target: &str) -> &str {
    for scheme in ["https://", "http://", "wss://", "ws://"] {
        if target.len() > scheme.len() && target.get(..scheme.len()).is_some_and(|p| p.eq_ignore_ascii_case(scheme)) {
            let rest = &target[scheme.len()..];
            return match rest.find(['/', '?']) {
                Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
                Some(i) => &rest[i..],
                None => "/",
            };
        }
    }
    target
}

/// The one value of `values`, when there is exactly one (missing counts as a value).
fn constant<'a>(mut values: impl Iterator<Item = Option<&'a str>>) -> Option<Option<&'a str>> {
    let first = values.next()?;
    values.all(|v| v == first).then_some(first)
}

/// A text column of `n` rows that all hold `value`, stored once ([`crate::detect::Strings`]
/// reads it without making it whole).
fn constant_column(name: &str, value: Option<&str>, n: usize) -> Column {
    let value = value.map_or(AnyValue::Null, |v| AnyValue::StringOwned(v.into()));
    Column::new_scalar(name.into(), Scalar::new(DataType::String, value), n)
}

/// `values` in the frame's `order` (see [`EventBuilder::frame`]): moved as they are when there
/// is none.
fn in_order<T: Copy>(values: Vec<T>, order: Option<&[u32]>) -> Vec<T> {
    match order {
        None => values,
        Some(order) => order.iter().map(|&i| values[i as usize]).collect(),
    }
}

/// `values` in the frame's `order`, one by one.
fn picked<'a, T: Copy>(values: &'a [T], order: Option<&'a [u32]>) -> impl Iterator<Item = T> + 'a {
    (0..values.len()).map(move |r| values[order.map_or(r, |o| o[r] as usize)])
}

/// A column of numbers from packed values (see [`Packed`]), absent ones missing: the values are
/// moved into the column, not copied.
fn packed_column<T>(name: &str, values: Vec<Packed<T::Native>>) -> ChunkedArray<T>
where
    T: PolarsNumericType,
    T::Native: Absent,
{
    use polars_arrow::array::PrimitiveArray;
    use polars_arrow::bitmap::Bitmap;
    // Collected in place: a packed value is its raw value.
    let raw: Vec<T::Native> = values.into_iter().map(Packed::raw).collect();
    let absent = raw.contains(&T::Native::ABSENT);
    let validity = absent.then(|| Bitmap::from_trusted_len_iter(raw.iter().map(|&v| v != T::Native::ABSENT)));
    let array = PrimitiveArray::new(T::get_static_dtype().to_arrow(CompatLevel::newest()), raw.into(), validity);
    ChunkedArray::<T>::with_chunk(name.into(), array)
}

/// The text column whose row `r` is value `ids[r]` of `dictionary` (missing for an absent id),
/// held as codes ([`coded`]); the ids are moved into it when they are the codes.
fn coded_column(name: &str, dictionary: &Dictionary, ids: Vec<Packed<u32>>) -> PolarsResult<Column> {
    let codes = match dictionary.is_identity() {
        true => ids,
        false => ids.into_iter().map(|id| Packed::from(id.get().and_then(|i| dictionary.code(i)))).collect(),
    };
    coded(dictionary, packed_column::<UInt32Type>(name, codes))
}

/// A string column of distinct values, to gather rows from with [`gather`].
pub(crate) fn dictionary<'a>(values: impl Iterator<Item = Option<&'a str>>) -> StringChunked {
    StringChunked::from_iter_options(PlSmallStr::EMPTY, values)
}

/// The column whose row `r` is `dictionary[ids[r]]` (null for `None` or an id out of range).
/// Strings are not copied: each row is a copy of its value's view into the dictionary's
/// buffers, made straight from the ids.
pub(crate) fn gather(
    dictionary: &StringChunked,
    name: &str,
    ids: impl Iterator<Item = Option<u32>>,
) -> PolarsResult<Column> {
    use polars_arrow::array::{Array, Utf8ViewArray, View};
    use polars_arrow::bitmap::MutableBitmap;
    let dictionary = dictionary.rechunk();
    let Some(values) = dictionary.downcast_iter().next() else {
        return Ok(StringChunked::full_null(name.into(), ids.count()).into_series().into_column());
    };
    let (lower, _) = ids.size_hint();
    let (mut views, mut valid) = (Vec::with_capacity(lower), MutableBitmap::with_capacity(lower));
    for id in ids {
        let view = id.map(|id| id as usize).filter(|&id| id < values.len() && values.is_valid(id));
        valid.push(view.is_some());
        views.push(view.map_or_else(View::default, |id| values.views()[id]));
    }
    let validity = (valid.unset_bits() > 0).then(|| valid.into());
    // SAFETY: every view is a valid value's view of `values`, with the same buffers.
    let array = unsafe {
        Utf8ViewArray::new_unchecked_unknown_md(
            ArrowDataType::Utf8View,
            views.into(),
            values.data_buffers().clone(),
            validity,
            Some(values.total_buffer_len()),
        )
    };
    Ok(StringChunked::with_chunk(name.into(), array).into_series().into_column())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factor::decoded;

    /// A file every row shares, and a label no key has, are kept once per column; with two
    /// files and a labelled key they are on every row. Read through `Strings`, both are the
    /// rows' values.
    #[test]
    fn values_every_row_shares_are_kept_once() {
        use crate::detect::Strings;
        use std::borrow::Cow;
        let table = |n: usize| RawTable {
            lines: (1..=n as u64).collect(),
            columns: vec![
                (
                    Field::Timestamp,
                    Box::new(
                        (0..n)
                            .map(|i| Some(Cow::Owned(format!("2026-11-0{}T10:00:00Z", 1 + i % 5))))
                            .collect::<Vec<_>>(),
                    ) as Box<dyn TextColumn>,
                ),
                (
                    Field::CredentialId,
                    Box::new((0..n).map(|i| Some(Cow::Owned(format!("key-{}", i % 2)))).collect::<Vec<_>>()),
                ),
            ],
            rejected: Vec::new(),
            newlines: None,
        };
        let opts = IngestOptions::default();
        let mut one_file = EventBuilder::default();
        let file = one_file.begin_file("a.log");
        one_file.append(file, &table(6), &opts, None);
        let (events, _, _) = one_file.finish(&BTreeMap::new()).unwrap();
        for name in [col::SOURCE_FILE, col::CREDENTIAL_LABEL] {
            assert!(events.column(name).unwrap().as_scalar_column().is_some(), "{name} kept once");
        }
        let file_of = Strings::of_frame(&events, col::SOURCE_FILE).unwrap().unwrap();
        let label_of = Strings::of_frame(&events, col::CREDENTIAL_LABEL).unwrap().unwrap();
        assert!((0..6).all(|i| file_of.get(i) == Some("a.log") && label_of.get(i).is_none()));

        let mut two_files = EventBuilder::default();
        for name in ["a.log", "b.log"] {
            let file = two_files.begin_file(name);
            two_files.append(file, &table(4), &opts, None);
        }
        let labels = BTreeMap::from([("key-1".to_string(), "prod-bot".to_string())]);
        let (events, _, _) = two_files.finish(&labels).unwrap();
        for name in [col::SOURCE_FILE, col::CREDENTIAL_LABEL] {
            assert!(events.column(name).unwrap().as_scalar_column().is_none(), "{name} on every row");
        }
        let file_of = Strings::of_frame(&events, col::SOURCE_FILE).unwrap().unwrap();
        let files: std::collections::BTreeSet<&str> = (0..8).filter_map(|i| file_of.get(i)).collect();
        assert_eq!(files, std::collections::BTreeSet::from(["a.log", "b.log"]));
        let (key, label) = (
            Strings::of_frame(&events, col::CREDENTIAL).unwrap().unwrap(),
            Strings::of_frame(&events, col::CREDENTIAL_LABEL).unwrap().unwrap(),
        );
        assert!((0..8).all(|i| (key.get(i) == Some("key-1")) == (label.get(i) == Some("prod-bot"))));
    }

    /// Rows are the dictionary's values by id; no id, an id past the end and a missing value
    /// are nulls; a dictionary in several chunks reads as one.
    #[test]
    fn gather_reads_values_by_id() {
        let long = "a value longer than twelve bytes, kept in a buffer";
        let mut dict = dictionary([Some("short"), None].into_iter());
        dict.append(&dictionary([Some(long)].into_iter())).unwrap();
        assert!(dict.chunks().len() > 1);
        let ids = [Some(2), Some(0), None, Some(1), Some(7), Some(2)];
        let column = gather(&dict, "x", ids.into_iter()).unwrap();
        let got: Vec<Option<&str>> = column.str().unwrap().iter().collect();
        assert_eq!(got, [Some(long), Some("short"), None, None, None, Some(long)]);
        assert_eq!(column.name().as_str(), "x");
        let empty = gather(&dictionary(std::iter::empty()), "y", [Some(0), None].into_iter()).unwrap();
        assert_eq!(empty.null_count(), 2);
    }

    #[test]
    fn ip_forms() {
        assert_eq!(parse_ip("1.2.3.4"), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(parse_ip("::ffff:1.2.3.4"), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(parse_ip("[2001:db8::1]:443"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(parse_ip("fe80::1%eth0"), Some("fe80::1".parse().unwrap()));
        assert_eq!(parse_ip("1.2.3.4:8080"), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(parse_ip("203.0.113.9, 10.0.0.1"), Some("203.0.113.9".parse().unwrap()));
        assert_eq!(parse_ip("999.1.1.1"), None);
        assert_eq!(parse_ip("example.com"), None);
    }

    /// A table large enough to be normalised in blocks gives the same events, rejects and
    /// credentials as row by row, also where a block starts inside the hour that a
    /// daylight-saving change repeats (whose times only the rows before them settle).
    #[test]
    fn blocks_in_parallel_equal_row_by_row() {
        use std::borrow::Cow;
        let rows = 3 * BLOCK_ROWS + 123;
        // Naive Berlin times one second apart through the hour that 25 October 2026 repeats
        // (02:00-03:00 twice), the second pass beginning 100 rows before the second block;
        // some rows broken.
        let second_block = blocks(rows, rayon::current_num_threads())[1].start;
        let repeat = second_block - 100;
        let first_pass = chrono::NaiveDate::from_ymd_opt(2026, 10, 25).and_then(|d| d.and_hms_opt(2, 0, 0)).unwrap();
        let start = first_pass - chrono::Duration::seconds(repeat as i64 - 3600);
        let cell = |v: String| Some(Cow::Owned(v));
        let mut ts = Vec::new();
        let (mut ip, mut path, mut key, mut ua, mut status) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..rows {
            let back = if i >= repeat { 3600 } else { 0 };
            let local = start + chrono::Duration::seconds(i as i64 - back);
            ts.push(if i % 997 == 0 {
                cell("garbage".into())
            } else {
                cell(local.format("%Y-%m-%d %H:%M:%S").to_string())
            });
            ip.push(cell(if i % 1009 == 0 { "not-an-ip".into() } else { format!("198.51.100.{}", i % 200) }));
            path.push(cell(format!("/v2/users/{}?api_key=sk_live_{:04}abcdefgh", i % 5000, i % 7)));
            key.push(cell(format!("key-{}", i % 3)));
            ua.push(cell(format!("client/{}", i % 11)));
            status.push(cell(if i % 13 == 0 { "abc".into() } else { "200".into() }));
        }
        let table = RawTable {
            lines: (1..=rows as u64).collect(),
            columns: vec![
                (Field::Timestamp, Box::new(ts) as Box<dyn TextColumn>),
                (Field::SourceIp, Box::new(ip)),
                (Field::Path, Box::new(path)),
                (Field::CredentialId, Box::new(key)),
                (Field::UserAgent, Box::new(ua)),
                (Field::Status, Box::new(status)),
            ],
            rejected: Vec::new(),
            newlines: None,
        };
        let opts = IngestOptions::default();
        let zone = Some(chrono_tz::Europe::Berlin);
        let mut parallel = EventBuilder::default();
        let file = parallel.begin_file("f");
        let rejected_parallel = parallel.append(file, &table, &opts, zone);
        let mut serial = EventBuilder::default();
        serial.files.push("f".into());
        let parser = TimestampParser::new(opts.mapping.timestamp_format.clone(), zone);
        let rejected_serial = serial.append_rows(&Cells::of(&table), &table.lines, 0..rows, 0, parser, &opts);
        assert_eq!(rejected_parallel, rejected_serial);
        assert!(!rejected_serial.iter().any(|(_, p)| p.code == "ambiguous_local_time"), "the order settles every time");
        assert!(rejected_serial.len() > 100, "broken rows are rejected");
        let (a, ca, _) = parallel.finish(&BTreeMap::new()).unwrap();
        let (b, cb, _) = serial.finish(&BTreeMap::new()).unwrap();
        assert_eq!(ca, cb);
        let (a, b) = (decoded(&a).unwrap(), decoded(&b).unwrap());
        assert!(a.equals_missing(&b), "the events differ");
        assert!(a.height() > 2 * BLOCK_ROWS);
    }

    /// Blocks cover the rows once, in order, in a multiple of the threads, of sizes that
    /// differ by at most one row; few rows make one block.
    #[test]
    fn blocks_cover_the_rows_evenly() {
        for threads in [1, 2, 3, 8] {
            for rows in [0, 1, MIN_PARALLEL_ROWS - 1, MIN_PARALLEL_ROWS, 100_000, 192_000, 3 * BLOCK_ROWS + 123] {
                let b = blocks(rows, threads);
                assert_eq!(b.first().map(|r| r.start), Some(0));
                assert_eq!(b.last().map(|r| r.end), Some(rows));
                assert!(b.windows(2).all(|w| w[0].end == w[1].start && !w[0].is_empty()));
                if rows < MIN_PARALLEL_ROWS {
                    assert_eq!(b.len(), 1);
                    continue;
                }
                assert_eq!(b.len() % threads, 0, "{rows} rows on {threads} threads: {b:?}");
                let sizes: Vec<usize> = b.iter().map(|r| r.len()).collect();
                assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
                assert!(sizes[0] <= BLOCK_ROWS, "{sizes:?}");
            }
        }
        // 190,000 rows on two cores: four blocks of 47,500, not three of 65,536 and less.
        assert_eq!(blocks(190_000, 2).len(), 4);
        assert_eq!(blocks(190_000, 1).len(), 3);
        assert_eq!(blocks(190_000, 0).len(), 3);
    }

    /// The paths column is views into the arena's bytes: short (inlined) and long values,
    /// repeated, out of order and missing rows read back as pushed.
    #[test]
    fn arena_column_reads_back_what_was_pushed() {
        let values = ["/a", "/v2/conversations/8c1f4e2a-0b7d-4f3e-9a61-2d5c8e7f1b3a/messages", "", "/abcdefghijkl"];
        let mut arena = Arena::default();
        for v in values {
            arena.push(v);
        }
        let ids = [Some(1), None, Some(0), Some(3), Some(1), Some(2)];
        let column = arena.into_column(col::PATH, ids.iter().copied()).unwrap();
        let read: Vec<Option<&str>> = column.str().unwrap().iter().collect();
        let expected: Vec<Option<&str>> = ids.iter().map(|i| i.map(|i| values[i as usize])).collect();
        assert_eq!(read, expected);
        assert_eq!(column.name().as_str(), col::PATH);
    }

    /// Rows in time order are moved into the frame, rows out of order are sorted (by time,
    /// then line): either way every column follows its row, missing values missing.
    #[test]
    fn frames_of_rows_in_and_out_of_order() {
        use std::borrow::Cow;
        let cell = |v: &str| (!v.is_empty()).then(|| Cow::Owned(v.to_string()));
        // (time, address, status, bytes, user agent) per line.
        type Line = (&'static str, &'static str, &'static str, &'static str, &'static str);
        let lines: [Line; 4] = [
            ("2026-10-05T10:00:03Z", "198.51.100.3", "200", "30", "c"),
            ("2026-10-05T10:00:01Z", "198.51.100.1", "", "10", "a"),
            ("2026-10-05T10:00:02Z", "", "404", "", ""),
            ("2026-10-05T10:00:01Z", "198.51.100.9", "500", "90", "z"),
        ];
        for order in [vec![1, 3, 2, 0], vec![0, 1, 2, 3]] {
            let picked: Vec<_> = order.iter().map(|&i: &usize| lines[i]).collect();
            let column = |f: fn(&Line) -> &'static str| -> Box<dyn TextColumn> {
                Box::new(picked.iter().map(|l| cell(f(l))).collect::<Vec<_>>())
            };
            let table = RawTable {
                lines: order.iter().map(|&i| i as u64 + 2).collect(),
                columns: vec![
                    (Field::Timestamp, column(|l| l.0)),
                    (Field::SourceIp, column(|l| l.1)),
                    (Field::Status, column(|l| l.2)),
                    (Field::Bytes, column(|l| l.3)),
                    (Field::UserAgent, column(|l| l.4)),
                ],
                rejected: Vec::new(),
                newlines: None,
            };
            let mut builder = EventBuilder::default();
            let file = builder.begin_file("f");
            assert!(builder.append(file, &table, &IngestOptions::default(), None).is_empty());
            let (frame, _, addresses) = builder.finish(&BTreeMap::new()).unwrap();
            let frame = decoded(&frame).unwrap();
            let text = |c: &str| -> Vec<Option<String>> {
                frame.column(c).unwrap().str().unwrap().iter().map(|v| v.map(String::from)).collect()
            };
            let status: Vec<Option<i32>> = frame.column(col::STATUS).unwrap().i32().unwrap().iter().collect();
            let bytes: Vec<Option<i64>> = frame.column(col::BYTES).unwrap().i64().unwrap().iter().collect();
            let line: Vec<Option<u64>> = frame.column(col::SOURCE_LINE).unwrap().u64().unwrap().iter().collect();
            let order = format!("{order:?}");
            assert_eq!(line, [Some(3), Some(5), Some(4), Some(2)], "{order}");
            assert_eq!(status, [None, Some(500), Some(404), Some(200)], "{order}");
            assert_eq!(bytes, [Some(10), Some(90), None, Some(30)], "{order}");
            let ua = text(col::USER_AGENT);
            assert_eq!(ua, [Some("a".into()), Some("z".into()), None, Some("c".into())], "{order}");
            let ip = text(col::SOURCE_IP);
            assert_eq!(ip[1].as_deref(), Some("198.51.100.9"), "{order}");
            assert_eq!(ip[2], None, "{order}");
            let ids: Vec<Option<IpAddr>> =
                addresses.rows.iter().map(|&a| addresses.distinct.get(a as usize).copied()).collect();
            let parsed: Vec<Option<IpAddr>> = ip.iter().map(|t| t.as_ref().map(|t| t.parse().unwrap())).collect();
            assert_eq!(ids, parsed, "{order}: each row's address id is its address");
        }
    }

    #[test]
    fn packed_values_keep_absence() {
        for v in [None, Some(0u32), Some(7), Some(u32::MAX - 1)] {
            assert_eq!(Packed::from(v).get(), v);
        }
        for v in [None, Some(100i32), Some(599)] {
            assert_eq!(Packed::from(v).get(), v);
        }
        for v in [None, Some(0i64), Some(i64::MAX)] {
            assert_eq!(Packed::from_raw(Packed::from(v).raw()).get(), v);
        }
        assert_eq!(Packed::from(Some(3u32)).map(|p| p + 2).get(), Some(5));
        assert_eq!(Packed::<u32>::from(None).map(|p| p + 2).get(), None);
    }

    /// A secret is found wherever it lies in the text searched in pieces, across a piece's end
    /// too; text without one is not matched.
    #[test]
    fn secrets_are_found_across_piece_ends() {
        let secret = "fcsk_live_0123456789abcdef";
        let secrets: PlHashMap<String, u32> = [(secret.to_string(), 0)].into_iter().collect();
        let credentials =
            vec![Credential { id: "fc1:x".into(), hint: None, label: None, kind: CredentialKind::Fingerprint }];
        let scrubber = Scrubber::new(&secrets, &credentials).unwrap();
        let filler = "/v2/agents/12/".repeat(8);
        for at in 0..=filler.len() {
            let text = format!("{}{secret}{}", &filler[..at], &filler[at..]);
            for piece in [1, 7, 16, 25, 26, 40, 1_000] {
                assert!(scrubber.occurs_in_pieces(text.as_bytes(), piece), "at {at}, pieces of {piece}");
            }
        }
        let almost = format!("{filler}{}{filler}", &secret[..secret.len() - 1]);
        assert!(!scrubber.occurs_in_pieces(almost.as_bytes(), 7));
        assert!(!scrubber.occurs_in_pieces(b"", 7));
    }

    /// Trimming a cell takes the same white space off as `str::trim`, with or without the
    /// shortcut for cells that begin and end printable.
    #[test]
    fn cells_are_trimmed_as_str_trim_does() {
        for text in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\r",
            "GET",
            "\u{a0}x\u{a0}",
            "x\u{2003}",
            "é",
            " é ",
            "\u{1f}a",
            "a\u{7f}",
            "-",
        ] {
            assert_eq!(trimmed(text), text.trim(), "{text:?}");
        }
    }

    /// The room a block's paths get: their first rows' mean length and a quarter more, times
    /// the rows; none for a field the input lacks or no rows.
    #[test]
    fn path_text_is_estimated_from_the_first_rows() {
        use std::borrow::Cow;
        let paths: Vec<Option<Cow<'_, str>>> =
            (0..1000).map(|i| (i % 10 != 9).then(|| Cow::Owned(format!("/v1/{:06}", i)))).collect();
        let table = RawTable {
            lines: (1..=1000).collect(),
            columns: vec![(Field::Path, Box::new(paths) as Box<dyn TextColumn>)],
            rejected: Vec::new(),
            newlines: None,
        };
        let cells = Cells::of(&table);
        // 256 rows sampled, 231 of 10 bytes: a mean of 9.02, rounded up to 10.
        assert_eq!(cells.text_estimate(Field::Path, 0..1000), 10 * 1000 / 4 * 5);
        // 100 rows, 90 of 10 bytes: a mean of 9.
        assert_eq!(cells.text_estimate(Field::Path, 500..600), 9 * 100 / 4 * 5, "from the range's first rows");
        assert_eq!(cells.text_estimate(Field::Path, 5..5), 0);
        assert_eq!(cells.text_estimate(Field::UserAgent, 0..1000), 0, "no such column");
    }

    #[test]
    fn whole_numbers() {
        assert_eq!(parse_whole("12"), Some(12));
        assert_eq!(parse_whole("12.0"), Some(12));
        assert_eq!(parse_whole("12.5"), None);
        assert_eq!(parse_whole("-1"), None);
        assert_eq!(parse_whole("NaN"), None);
        assert_eq!(parse_whole("abc"), None);
    }

    #[test]
    fn origins_are_stripped() {
        assert_eq!(strip_origin("https://api.example.com:443/v2/users?x=1"), "/v2/users?x=1");
        assert_eq!(strip_origin("HTTP://h"), "/");
        assert_eq!(strip_origin("http://h?x"), "?x");
        assert_eq!(strip_origin("/v2/a"), "/v2/a");
    }
}
