//! Parquet outputs for analysts (polars, pandas, DuckDB): `events.parquet`,
//! `baseline.parquet` and an audit's history.
//!
//! Encoded here rather than through polars' `ParquetWriter` for speed on large frames: string
//! columns with few distinct values (keys, user agents, GeoIP names) are dictionary-encoded
//! from codes found by their Arrow views, or renumbered from the events frame's own codes
//! ([`crate::factor`]), instead of hashing every row's text, the GeoIP columns from the rows'
//! address ids, and every column of a row group is
//! encoded and compressed in parallel. One rule for every column of text or numbers: a
//! dictionary when at most three quarters of its values are distinct, and at most half of its
//! first 8,192; otherwise integers and times as deltas (event times and line numbers barely
//! change from row to row), the rest plain. The file has the types polars writes, the same
//! Arrow schema in its metadata (strings stay strings), zstd, statistics.
//!
//! The codes of a dictionary-encoded column, and flags, are written here ([`hybrid`]) straight
//! from the codes per row; polars writes the dictionary page and the statistics, from the
//! distinct values alone.

mod hybrid;

use crate::enrich::{geo_col, Events, Expander, NO_ADDRESS};
use crate::error::{Error, Result};
use crate::factor::{self, factorize_text_at_most};
use polars::prelude::*;
use polars_arrow::array::{DictionaryArray, PrimitiveArray};
use polars_arrow::datatypes::{ArrowDataType, IntegerType};
use polars_parquet::parquet::compression::Compression;
use polars_parquet::parquet::page::{CompressedDictPage, DataPage, DataPageHeader, DataPageHeaderV1};
use polars_parquet::parquet::schema::Repetition;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::write::{
    fallible_streaming_iterator, to_parquet_schema, CompressedDataPage, CompressedPage, CompressionOptions, DynIter,
    DynStreamingIterator, Encoding, FileWriter, Page, ParquetType, StatisticsOptions, Version, WriteOptions,
};
use rayon::prelude::*;
use std::borrow::Cow;

/// Rows per row group (polars' default).
const ROW_GROUP_ROWS: usize = 512 * 512;
/// Row groups encoded at once (about 4 MB of compressed pages each in `events.parquet`).
const GROUPS_AT_ONCE: usize = 4;
/// A string column is dictionary-encoded when at most this share of its values are distinct
/// (polars' rule).
const DICTIONARY_MAX_SHARE: f64 = 0.75;
/// Rows of a column looked at before the whole: where more than [`SAMPLE_MAX_SHARE`] of them
/// are distinct, the column is written plain.
const SAMPLE_ROWS: usize = 1 << 13;
/// The most of a column's first [`SAMPLE_ROWS`] that may be distinct for a dictionary. Lower
/// than the whole's share: a column that distinct in its first rows (paths, which carry ids)
/// is at best a borderline dictionary, which was found out only after hashing three quarters
/// of its rows (a quarter of the time spent on `events.parquet`'s paths).
const SAMPLE_MAX_SHARE: f64 = 0.5;

/// Events (their GeoIP answers as columns) or any frame, as Parquet bytes (zstd-compressed,
/// with statistics).
pub fn to_bytes<'a>(events: impl Into<Events<'a>>) -> Result<Vec<u8>> {
    let events = events.into();
    let mut writer = Writer::new(Vec::new(), &schema(events).map_err(err)?).map_err(err)?;
    writer.write(events).map_err(err)?;
    writer.finish().map_err(err)
}

/// Writes events (their GeoIP answers as columns) as a Parquet file at `path`, through a
/// buffer: the file is never held in memory whole.
pub fn write_file(events: Events<'_>, path: &std::path::Path) -> Result<()> {
    let write_err = |source| Error::Write { path: path.to_path_buf(), source };
    let file = std::fs::File::create(path).map_err(write_err)?;
    let out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut writer = Writer::new(out, &schema(events).map_err(err)?).map_err(err)?;
    writer.write(events).map_err(err)?;
    let mut out = writer.finish().map_err(err)?;
    std::io::Write::flush(&mut out).map_err(write_err)
}

/// The schema of events as written: their GeoIP answers as columns.
pub fn schema(events: Events<'_>) -> PolarsResult<Schema> {
    let schema = Events::new(&events.frame().clear(), events.places()).materialised()?.schema().as_ref().clone();
    // Text held as codes is written as text.
    Ok(schema
        .iter()
        .map(|(name, dtype)| {
            let dtype = if matches!(dtype, DataType::Categorical(..)) { DataType::String } else { dtype.clone() };
            (name.clone(), dtype)
        })
        .collect())
}

fn err(source: PolarsError) -> Error {
    Error::Frame { context: "writing Parquet", source }
}

fn options() -> WriteOptions {
    WriteOptions {
        statistics: StatisticsOptions::default(),
        compression: CompressionOptions::Zstd(Some(
            polars_parquet::write::ZstdLevel::try_new(ZSTD_LEVEL).expect("ZSTD_LEVEL is a zstd level"),
        )),
        version: Version::V1,
        data_page_size: None,
    }
}

/// Writes frames of one schema, one after another, as one Parquet file (a streaming scan
/// writes its events one bucket of keys at a time).
pub struct Writer<W: std::io::Write> {
    writer: FileWriter<W>,
    types: Vec<ParquetType>,
}

impl<W: std::io::Write> Writer<W> {
    pub fn new(out: W, schema: &Schema) -> PolarsResult<Self> {
        let schema = schema.to_arrow(CompatLevel::newest());
        let types = to_parquet_schema(&schema)?.fields().to_vec();
        Ok(Self { writer: FileWriter::try_new(out, schema, options())?, types })
    }

    /// Appends the events (their schema as written, [`schema`], must be the writer's), in
    /// row groups. The GeoIP columns are made one row group at a time; a GeoIP text column is
    /// dictionary-encoded straight from the rows' address ids.
    pub fn write<'a>(&mut self, events: impl Into<Events<'a>>) -> PolarsResult<()> {
        let events = events.into();
        let frame = events.frame();
        let expander = events.places().map(|p| p.expander()).filter(|e| {
            // The GeoIP columns go after the frame's own, unless it has some already (then
            // they take their places, as `Expander::expand` puts them).
            !e.names().any(|name| frame.column(name).is_ok())
        });
        let Some(expander) = expander else { return self.write_expanded(events) };
        // Each address's value of each GeoIP column of text or numbers, as a code among its
        // distinct values.
        let by_address: Vec<Option<ByAddress>> =
            (0..expander.names().count()).map(|i| ByAddress::of(&expander, i)).collect::<PolarsResult<_>>()?;
        // In the order of the schema: the frame's own columns, then the GeoIP ones.
        let own = frame.columns().iter().filter(|c| c.name() != geo_col::ADDRESS_ID).map(Job::Own);
        let jobs: Vec<Job<'_>> = own.chain((0..by_address.len()).map(Job::Geo)).collect();
        let types = self.types.clone();
        self.write_groups(frame.height(), |offset, rows| {
            let ids = frame.column(geo_col::ADDRESS_ID)?.u32()?.slice(offset as i64, rows);
            let addresses = GroupAddresses::of(ids.iter().map(|i| i.unwrap_or(NO_ADDRESS)), expander.addresses());
            jobs.par_iter()
                .zip(&types)
                .map(|(job, type_)| match *job {
                    Job::Own(column) => match Dictionary::constant(column, rows)? {
                        Some(dictionary) => dictionary.pages(type_),
                        None => column_pages(column.slice(offset as i64, rows).as_materialized_series(), type_),
                    },
                    Job::Geo(i) => match by_address[i].as_ref().and_then(|by| by.dictionary(&addresses)) {
                        Some(dictionary) => dictionary.pages(type_),
                        None => column_pages(expander.column(i, &ids)?.as_materialized_series(), type_),
                    },
                })
                .collect()
        })
    }

    /// [`Writer::write`] of events whose GeoIP columns are made whole for each row group.
    fn write_expanded(&mut self, events: Events<'_>) -> PolarsResult<()> {
        let expander = events.places().map(|p| p.expander());
        let frame = events.frame();
        let types = self.types.clone();
        self.write_groups(frame.height(), |offset, rows| {
            let group = frame.slice(offset as i64, rows);
            let group = match &expander {
                Some(e) => e.expand(&group)?,
                None => group,
            };
            group
                .columns()
                .par_iter()
                .zip(&types)
                .map(|(column, type_)| column_pages(column.as_materialized_series(), type_))
                .collect()
        })
    }

    /// Writes `height` rows in row groups, each encoded by `encode(offset, rows)` as the pages of
    /// its columns. Several row groups are encoded at once (their columns in parallel), then
    /// written in order: the cores are not left idle while one group's last column is encoded
    /// or the group is written.
    fn write_groups(
        &mut self,
        height: usize,
        encode: impl Fn(usize, usize) -> PolarsResult<Vec<Vec<CompressedPage>>> + Sync,
    ) -> PolarsResult<()> {
        let groups: Vec<(usize, usize)> =
            (0..height).step_by(ROW_GROUP_ROWS).map(|offset| (offset, ROW_GROUP_ROWS.min(height - offset))).collect();
        for batch in groups.chunks(GROUPS_AT_ONCE) {
            let encoded: Vec<Vec<Vec<CompressedPage>>> =
                batch.par_iter().map(|&(offset, rows)| encode(offset, rows)).collect::<PolarsResult<_>>()?;
            for (&(_, rows), columns) in batch.iter().zip(encoded) {
                let columns = DynIter::new(columns.iter().map(|pages| {
                    Ok(DynStreamingIterator::new(fallible_streaming_iterator::convert(
                        pages.iter().map(PolarsResult::Ok),
                    )))
                }));
                self.writer.write(rows as u64, columns)?;
            }
        }
        Ok(())
    }

    /// Writes the footer and returns the output.
    pub fn finish(mut self) -> PolarsResult<W> {
        // The footer carries the frame's own Arrow schema: readers see strings, not dictionaries.
        self.writer.end(None)?;
        Ok(self.writer.into_inner())
    }
}

/// A column of a row group to encode: one of the frame's own, or GeoIP column `i` (see
/// [`crate::enrich::Expander`]).
enum Job<'a> {
    Own(&'a Column),
    Geo(usize),
}

/// One column of a row group, encoded and compressed.
fn column_pages(column: &Series, type_: &ParquetType) -> PolarsResult<Vec<CompressedPage>> {
    match encoded(column)? {
        Encoded::Dictionary(dictionary) => dictionary.pages(type_),
        Encoded::Array(array, encoding) => compressed(uncompressed_pages(array, type_, encoding)?),
    }
}

/// A column as it is written (the module's rule).
enum Encoded {
    Dictionary(Dictionary),
    /// An array and its encoding (deltas or plain).
    Array(ArrayRef, Encoding),
}

fn encoded(column: &Series) -> PolarsResult<Encoded> {
    let column = column.rechunk();
    if let Some(dictionary) = Dictionary::of(&column)? {
        return Ok(Encoded::Dictionary(dictionary));
    }
    // Text held as codes is written as the text.
    let column = match column.dtype() {
        DataType::Categorical(..) => column.cast(&DataType::String)?,
        _ => column,
    };
    let encoding =
        if column.dtype().to_physical().is_integer() { Encoding::DeltaBinaryPacked } else { Encoding::Plain };
    Ok(Encoded::Array(column.to_arrow(0, CompatLevel::newest()), encoding))
}

/// An array encoded by polars as the pages of one column.
fn uncompressed_pages(array: ArrayRef, type_: &ParquetType, encoding: Encoding) -> PolarsResult<Vec<Page>> {
    let mut pages = Vec::new();
    for leaf in polars_parquet::write::array_to_columns(array, type_.clone(), options(), &[encoding])? {
        for page in leaf {
            pages.push(page?);
        }
    }
    Ok(pages)
}

fn compressed(pages: Vec<Page>) -> PolarsResult<Vec<CompressedPage>> {
    pages.into_iter().map(compress_page).collect()
}

/// The zstd level of every page ([`options`]).
const ZSTD_LEVEL: i32 = 1;

thread_local! {
    /// This thread's zstd context, made once and reused for every page it compresses.
    static ZSTD: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
}

/// `data` compressed with zstd at [`ZSTD_LEVEL`], by this thread's context.
///
/// polars' `compress` makes a context for every page, allocates its tables and clears them,
/// and zero-fills the output first (at 10M events, about 2,300 pages). The bytes are the
/// same: each page is compressed on its own (`ZSTD_compress2` starts a new frame).
fn zstd_compress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    ZSTD.with_borrow_mut(|context| {
        let context = match context {
            Some(c) => c,
            None => context.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
        };
        context.compress(data)
    })
}

/// A page compressed as polars' `compress` would with [`options`]' zstd ([`zstd_compress`]).
fn compress_page(page: Page) -> PolarsResult<CompressedPage> {
    let io = |e: std::io::Error| PolarsError::ComputeError(format!("compressing a Parquet page: {e}").into());
    Ok(match page {
        Page::Data(page) => {
            let data = page.buffer();
            // A version 2 page's levels stay uncompressed in front of its values.
            let levels = match page.header() {
                DataPageHeader::V1(_) => 0,
                DataPageHeader::V2(h) => (h.repetition_levels_byte_length + h.definition_levels_byte_length) as usize,
            };
            let mut buffer = data[..levels].to_vec();
            buffer.extend_from_slice(&zstd_compress(&data[levels..]).map_err(io)?);
            CompressedPage::Data(CompressedDataPage::new(
                page.header().clone(),
                CowBuffer::Owned(buffer),
                Compression::Zstd,
                data.len(),
                page.descriptor.clone(),
                page.num_rows.unwrap_or_else(|| page.num_values()),
            ))
        }
        Page::Dict(page) => CompressedPage::Dict(CompressedDictPage::new(
            CowBuffer::Owned(zstd_compress(&page.buffer).map_err(io)?),
            Compression::Zstd,
            page.buffer.len(),
            page.num_values,
            page.is_sorted,
        )),
    })
}

/// A column as codes into its distinct values, written as a dictionary (flags: as their bits).
struct Dictionary {
    /// Per row: an index into `values`, or [`factor::NULL`].
    codes: Vec<u32>,
    /// The distinct values, in order of first appearance.
    values: Series,
}

impl Dictionary {
    /// A column of text or numbers as a dictionary, or `None` when too many of its values are
    /// distinct for one to pay (more than [`DICTIONARY_MAX_SHARE`] of the rows, or more than
    /// [`SAMPLE_MAX_SHARE`] of the first [`SAMPLE_ROWS`]) or it is of another type.
    fn of(column: &Series) -> PolarsResult<Option<Self>> {
        let limit = Limit::of(column.len());
        let (codes, firsts) = match column.dtype() {
            DataType::String | DataType::Categorical(..) => {
                // Mostly distinct in its first rows, a column is told apart without hashing
                // the rest.
                if column.len() > SAMPLE_ROWS
                    && factorize_text_at_most(&column.slice(0, SAMPLE_ROWS), limit.sample)?.is_none()
                {
                    return Ok(None);
                }
                let Some(f) = factorize_text_at_most(column, limit.whole)? else { return Ok(None) };
                let values = StringChunked::from_iter_values(column.name().clone(), f.values.into_iter());
                return Ok(Some(Dictionary { codes: f.codes, values: values.into_series() }));
            }
            _ => match number_codes(column, limit)? {
                Some(coded) => coded,
                None => return Ok(None),
            },
        };
        Ok(Some(Dictionary { codes, values: column.take_slice(&firsts)? }))
    }

    /// [`Dictionary::of`] `rows` rows of a text column that holds one value for every row
    /// ([`Column::new_scalar`]), made without the rows: one value (none if it is missing), every
    /// row's code the same. `None` for any other column.
    fn constant(column: &Column, rows: usize) -> PolarsResult<Option<Self>> {
        let Some(scalar) = column.as_scalar_column().filter(|c| c.dtype() == &DataType::String) else {
            return Ok(None);
        };
        let value = scalar.as_single_value_series();
        if value.null_count() > 0 {
            return Ok(Some(Dictionary { codes: vec![factor::NULL; rows], values: value.clear() }));
        }
        // One distinct value pays for two rows or more (the rule's share).
        Ok((Limit::of(rows).whole >= 1).then(|| Dictionary { codes: vec![0; rows], values: value }))
    }

    /// The dictionary as an Arrow array (rows of codes into the values).
    fn array(&self) -> PolarsResult<ArrayRef> {
        let keys: PrimitiveArray<u32> = self.codes.iter().map(|&c| (c != factor::NULL).then_some(c)).collect();
        let values = self.values.rechunk().to_arrow(0, CompatLevel::newest());
        let dtype = ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(values.dtype().clone()), false);
        Ok(DictionaryArray::try_new(dtype, keys, values)?.boxed())
    }

    /// How the rows are written: flags plain, one bit each (as polars and other writers write
    /// them), the rest as codes into a dictionary page.
    fn encoding(&self) -> Encoding {
        if self.values.dtype() == &DataType::Boolean {
            Encoding::Plain
        } else {
            Encoding::RleDictionary
        }
    }

    /// The column's pages, compressed: a dictionary page and one data page of the rows' codes
    /// (flags: one data page of their bits).
    ///
    /// polars makes the dictionary page and the statistics (from the distinct values, and the
    /// count of missing rows) out of one row per value; the codes of the rows themselves, and
    /// whether each is missing (its definition level), are [`hybrid`]-encoded here, in one
    /// pass each. polars' encoder looks for runs value by value through iterators, which was
    /// the larger part of writing `events.parquet`; and it gives each of its data pages the
    /// statistics of the whole column, so that a reader adding them up counted each missing
    /// row twice.
    fn pages(&self, type_: &ParquetType) -> PolarsResult<Vec<CompressedPage>> {
        let Some(max_code) = self.values.len().checked_sub(1) else {
            // Every row missing: no values, nothing to code.
            let missing = Series::full_null(self.values.name().clone(), self.codes.len(), self.values.dtype());
            return compressed(uncompressed_pages(missing.to_arrow(0, CompatLevel::newest()), type_, Encoding::Plain)?);
        };
        let encoding = self.encoding();
        let one_row_per_value = match encoding {
            Encoding::Plain => self.values.rechunk().to_arrow(0, CompatLevel::newest()),
            _ => Dictionary { codes: (0..self.values.len() as u32).collect(), values: self.values.clone() }.array()?,
        };
        let mut theirs = uncompressed_pages(one_row_per_value, type_, encoding)?.into_iter();
        let dictionary = match encoding {
            Encoding::Plain => None,
            _ => match theirs.next() {
                Some(Page::Dict(dictionary)) => Some(dictionary),
                _ => polars_bail!(ComputeError: "polars wrote no dictionary page"),
            },
        };
        let Some(Page::Data(data)) = theirs.next() else {
            polars_bail!(ComputeError: "polars wrote no data page");
        };
        let DataPageHeader::V1(header) = data.header() else {
            polars_bail!(ComputeError: "polars wrote a data page of another version");
        };
        let rows = self.codes.len();
        let missing = self.codes.iter().filter(|&&c| c == factor::NULL).count();
        let mut statistics = header.statistics.clone();
        if let Some(s) = &mut statistics {
            s.null_count = Some(missing as i64);
        }
        let descriptor = data.descriptor.clone();
        let mut buffer = Vec::with_capacity(rows / 2 + 64);
        // Definition levels (1 present, 0 missing), after their length in four bytes.
        if descriptor.primitive_type.field_info.repetition == Repetition::Required {
            polars_ensure!(missing == 0, ComputeError: "missing values in a required column");
        } else {
            buffer.extend([0; 4]);
            match missing {
                // Every row present: one run of ones (what `encode` writes for them).
                0 if rows > 0 => hybrid::repeat(rows, 1, 1, &mut buffer),
                _ => hybrid::encode(&self.codes, |c| u32::from(c != factor::NULL), 1, &mut buffer),
            }
            let length = (buffer.len() - 4) as u32;
            buffer[..4].copy_from_slice(&length.to_le_bytes());
        }
        let present: Cow<'_, [u32]> = match missing {
            0 => Cow::Borrowed(&self.codes),
            _ => Cow::Owned(self.codes.iter().copied().filter(|&c| c != factor::NULL).collect()),
        };
        match encoding {
            // The present rows' flags.
            Encoding::Plain => {
                let flags: Vec<bool> = self.values.bool()?.iter().map(|f| f.unwrap_or_default()).collect();
                hybrid::plain_flags(&present, |c| flags.get(c as usize).copied().unwrap_or_default(), &mut buffer);
            }
            // The present rows' codes, after their bit width in one byte.
            _ => {
                let bit_width = hybrid::bit_width(max_code as u32);
                buffer.push(bit_width as u8);
                hybrid::encode(&present, |c| c, bit_width, &mut buffer);
            }
        }
        let header = DataPageHeaderV1 {
            num_values: rows as i32,
            encoding: encoding.into(),
            definition_level_encoding: Encoding::Rle.into(),
            repetition_level_encoding: Encoding::Rle.into(),
            statistics,
        };
        let data = DataPage::new(DataPageHeader::V1(header), CowBuffer::Owned(buffer), descriptor, rows);
        compressed(dictionary.map(Page::Dict).into_iter().chain([Page::Data(data)]).collect())
    }
}

/// The most distinct values a dictionary of `rows` rows may have: in all, and in the first
/// [`SAMPLE_ROWS`].
#[derive(Clone, Copy)]
struct Limit {
    whole: usize,
    sample: usize,
}

impl Limit {
    fn of(rows: usize) -> Self {
        Limit {
            whole: (rows as f64 * DICTIONARY_MAX_SHARE) as usize,
            sample: (SAMPLE_ROWS as f64 * SAMPLE_MAX_SHARE) as usize,
        }
    }
}

/// A column of numbers, times or flags as codes into its distinct values (by bits) and the row
/// where each first appears; `None` past the `limit` or for another type.
fn number_codes(column: &Series, limit: Limit) -> PolarsResult<Option<(Vec<u32>, Vec<IdxSize>)>> {
    fn bits<'a, T: PolarsNumericType>(
        column: &'a ChunkedArray<T>,
        bits: impl Fn(T::Native) -> u64 + 'a,
    ) -> impl Iterator<Item = Option<u64>> + 'a {
        column.iter().map(move |v| v.map(&bits))
    }
    let physical = column.to_physical_repr();
    Ok(match physical.dtype() {
        DataType::Float64 => first_appearances(bits(physical.f64()?, f64::to_bits), limit),
        DataType::Float32 => first_appearances(bits(physical.f32()?, |v| u64::from(v.to_bits())), limit),
        DataType::Int64 => first_appearances(bits(physical.i64()?, |v| v as u64), limit),
        DataType::Int32 => first_appearances(bits(physical.i32()?, |v| v as u64), limit),
        DataType::Int16 => first_appearances(bits(physical.i16()?, |v| v as u64), limit),
        DataType::Int8 => first_appearances(bits(physical.i8()?, |v| v as u64), limit),
        DataType::UInt64 => first_appearances(bits(physical.u64()?, |v| v), limit),
        DataType::UInt32 => first_appearances(bits(physical.u32()?, u64::from), limit),
        DataType::UInt16 => first_appearances(bits(physical.u16()?, u64::from), limit),
        DataType::UInt8 => first_appearances(bits(physical.u8()?, u64::from), limit),
        DataType::Boolean => first_appearances(physical.bool()?.iter().map(|v| v.map(u64::from)), limit),
        _ => None,
    })
}

/// Codes of a column's values (by their bits), in order of first appearance, and each value's
/// first row; `None` past the `limit`.
fn first_appearances(column: impl Iterator<Item = Option<u64>>, limit: Limit) -> Option<(Vec<u32>, Vec<IdxSize>)> {
    let mut codes = Vec::with_capacity(column.size_hint().0);
    let mut firsts: Vec<IdxSize> = Vec::new();
    let mut by_bits: PlHashMap<u64, u32> = PlHashMap::default();
    for (row, value) in column.enumerate() {
        if row == SAMPLE_ROWS && firsts.len() > limit.sample {
            return None;
        }
        let Some(value) = value else {
            codes.push(factor::NULL);
            continue;
        };
        let code = *by_bits.entry(value).or_insert_with(|| {
            firsts.push(row as IdxSize);
            (firsts.len() - 1) as u32
        });
        if firsts.len() > limit.whole {
            return None;
        }
        codes.push(code);
    }
    Some((codes, firsts))
}

/// Each address's value of a GeoIP column of text or numbers, as a code among the column's
/// distinct values: a row group's dictionary is made from its rows' address ids instead of
/// the column made whole.
struct ByAddress {
    /// Per address id: an index into `values`, or [`factor::NULL`].
    codes: Vec<u32>,
    values: Series,
}

impl ByAddress {
    /// GeoIP column `i`'s values by address.
    fn of(expander: &Expander<'_>, i: usize) -> PolarsResult<Option<Self>> {
        if let Some(text) = expander.text_by_address(i) {
            let f = factor::factorize(text);
            let values = StringChunked::from_iter_values(text.name().clone(), f.values.into_iter());
            return Ok(Some(ByAddress { codes: f.codes, values: values.into_series() }));
        }
        let ids = UInt32Chunked::from_vec("id".into(), (0..expander.addresses() as u32).collect());
        let column = expander.column(i, &ids)?.take_materialized_series();
        let unlimited = Limit { whole: usize::MAX, sample: usize::MAX };
        Ok(match number_codes(&column, unlimited)? {
            Some((codes, firsts)) => Some(ByAddress { codes, values: column.take_slice(&firsts)? }),
            None => None,
        })
    }

    /// [`Dictionary::of`] the column of a row group's rows, from their `addresses`, by the same
    /// rule (the same array), or `None`. The distinct values are found among the group's
    /// distinct addresses, not row by row.
    fn dictionary(&self, addresses: &GroupAddresses) -> Option<Dictionary> {
        let rows = addresses.local.len();
        let limit = Limit::of(rows);
        // The group's code of each of the column's values, given in order of first appearance
        // (the order of the first appearance of the addresses that have them), and the values
        // so given; how many were given within the first `SAMPLE_ROWS` rows.
        let mut local = vec![factor::NULL; self.values.len()];
        let mut picked: Vec<IdxSize> = Vec::new();
        let mut sampled = None;
        let by_address: Vec<u32> = addresses
            .firsts
            .iter()
            .map(|&(id, first_row)| {
                if first_row as usize >= SAMPLE_ROWS && sampled.is_none() {
                    sampled = Some(picked.len());
                }
                let value = self.codes.get(id as usize).copied().unwrap_or(factor::NULL);
                if value == factor::NULL {
                    return factor::NULL;
                }
                let code = &mut local[value as usize];
                if *code == factor::NULL {
                    *code = picked.len() as u32;
                    picked.push(value as IdxSize);
                }
                *code
            })
            .collect();
        if rows > SAMPLE_ROWS && sampled.unwrap_or(picked.len()) > limit.sample || picked.len() > limit.whole {
            return None;
        }
        let codes =
            addresses.local.iter().map(|&a| by_address.get(a as usize).copied().unwrap_or(factor::NULL)).collect();
        let values = self.values.take_slice(&picked).ok()?;
        Some(Dictionary { codes, values })
    }
}

/// A row group's distinct addresses, each with a code of its own in the group.
struct GroupAddresses {
    /// Per row: its address's index into `firsts`; [`factor::NULL`] for a row without one.
    local: Vec<u32>,
    /// The distinct addresses in order of first appearance: (address id, first row).
    firsts: Vec<(u32, u32)>,
}

impl GroupAddresses {
    /// The addresses of rows with the address ids `ids` (of `addresses` in all).
    fn of(ids: impl Iterator<Item = u32>, addresses: usize) -> Self {
        let mut code = vec![factor::NULL; addresses];
        let mut firsts = Vec::new();
        let local = ids
            .enumerate()
            .map(|(row, id)| match code.get_mut(id as usize) {
                None => factor::NULL,
                Some(c) => {
                    if *c == factor::NULL {
                        *c = firsts.len() as u32;
                        firsts.push((id, row as u32));
                    }
                    *c
                }
            })
            .collect();
        GroupAddresses { local, firsts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: Vec<u8>) -> DataFrame {
        ParquetReader::new(std::io::Cursor::new(bytes)).finish().unwrap()
    }

    /// Pages compressed by a thread's reused zstd context are byte for byte what polars'
    /// `compress` makes with a new context per page, data and dictionary pages alike, one
    /// after another on one thread.
    #[test]
    fn pages_compressed_with_a_reused_context_are_polars_pages() {
        let series = [
            Series::new("n".into(), (0..50_000i64).map(|i| i * i % 977).collect::<Vec<_>>()),
            Series::new("s".into(), (0..20_000).map(|i| format!("/items/{}", i % 3_000)).collect::<Vec<_>>()),
            Series::new("e".into(), Vec::<i64>::new()),
        ];
        let (mut pages, mut dictionaries) = (0, 0);
        for s in series {
            let type_ = to_parquet_schema(&ArrowSchema::from_iter([s.field().to_arrow(CompatLevel::newest())]))
                .unwrap()
                .fields()[0]
                .clone();
            let array = s.to_arrow(0, CompatLevel::newest());
            for encoding in [Encoding::Plain, Encoding::RleDictionary] {
                // Made twice (pages are not `Clone`; encoding is deterministic).
                let make = || uncompressed_pages(array.clone(), &type_, encoding);
                let (Ok(mine), Ok(made)) = (make(), make()) else { continue };
                for (page, same) in mine.into_iter().zip(made) {
                    dictionaries += usize::from(matches!(page, Page::Dict(_)));
                    let theirs = polars_parquet::write::compress(same, Vec::new(), options().compression).unwrap();
                    let ours = compress_page(page).unwrap();
                    assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
                    pages += 1;
                }
            }
        }
        assert!(pages >= 5 && dictionaries >= 1, "{pages} pages compared, {dictionaries} of dictionaries");
    }

    #[test]
    fn round_trips_every_column_type_across_row_groups() {
        let n = ROW_GROUP_ROWS + 1_000;
        let few = ["alpha", "a user agent string longer than twelve bytes", "β"];
        let frame = df!(
            "time" => (0..n as i64).collect::<Vec<_>>(),
            "few" => (0..n).map(|i| (i % 7 != 0).then(|| few[i % 3])).collect::<Vec<_>>(),
            "many" => (0..n).map(|i| format!("/items/{i}")).collect::<Vec<_>>(),
            "status" => (0..n).map(|i| (i % 5 != 0).then_some(200 + (i % 3) as i32)).collect::<Vec<_>>(),
            "lat" => (0..n).map(|i| i as f64 / 3.0).collect::<Vec<_>>(),
            "accuracy" => (0..n).map(|i| (i % 9 != 0).then_some((i % 40) as f64 / 3.0)).collect::<Vec<_>>(),
            "flag" => (0..n).map(|i| (i % 11 != 0).then_some(i % 2 == 0)).collect::<Vec<_>>(),
            "line" => (0..n as u64).collect::<Vec<_>>(),
        )
        .unwrap();
        let mut frame = frame
            .lazy()
            .with_column(col("time").cast(DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))))
            .collect()
            .unwrap();
        let bytes = to_bytes(&frame).unwrap();
        let back = read(bytes.clone());
        assert_eq!(back.schema(), frame.schema(), "strings stay strings, times keep their zone");
        assert!(back.equals_missing(&frame));
        // The same file polars would write, as far as readers can tell.
        let mut theirs = Vec::new();
        ParquetWriter::new(&mut theirs).finish(&mut frame).unwrap();
        assert!(read(theirs).equals_missing(&back));
    }

    /// Text held as codes (the events frame's, see `factor::coded`) is written as the text:
    /// the file of a coded frame is the file of the frame decoded, byte for byte, whether its
    /// columns are dictionary-encoded (few values) or plain (mostly distinct), and it reads back
    /// as strings.
    #[test]
    fn coded_text_is_written_as_its_text() {
        let n = ROW_GROUP_ROWS + 1_000;
        let coded_of = |name: &str, values: Vec<String>, id: &dyn Fn(usize) -> Option<u32>| {
            let dictionary = factor::Dictionary::new(values.iter().map(|v| Some(v.as_str()))).unwrap();
            let codes =
                UInt32Chunked::from_iter_options(name.into(), (0..n).map(|i| id(i).and_then(|v| dictionary.code(v))));
            factor::coded(&dictionary, codes).unwrap()
        };
        let agents = ["curl/8.5", "a user agent string longer than twelve bytes", "β"].map(String::from).to_vec();
        let columns = vec![
            coded_of("few", agents, &|i| (i % 7 != 0).then_some((i % 3) as u32)),
            coded_of("many", (0..n).map(|i| format!("10.0.{}.{}", i / 256, i % 256)).collect(), &|i| Some(i as u32)),
        ];
        let frame = DataFrame::new(n, columns).unwrap();
        assert!(frame.columns().iter().all(|c| matches!(c.dtype(), DataType::Categorical(..))));
        let text = factor::decoded(&frame).unwrap();
        let bytes = to_bytes(&frame).unwrap();
        assert!(bytes == to_bytes(&text).unwrap(), "the same file as the text's");
        let back = read(bytes);
        assert_eq!(back.schema(), text.schema(), "read back as strings");
        assert!(back.equals_missing(&text));
    }

    /// GeoIP columns of text and numbers dictionary-encoded from the rows' address ids give the very file of
    /// the columns made whole (`write_expanded`), whichever way the rule goes: a dictionary
    /// across row groups, plain for mostly distinct values, plain for a mostly distinct first
    /// 8,192 rows.
    #[test]
    fn geo_columns_from_address_ids_are_the_columns_made_whole() {
        use crate::enrich::geoip::GeoRecord;
        use crate::enrich::Places;
        let records = (0..10_000u32)
            .map(|i| {
                (i % 10 != 9).then(|| GeoRecord {
                    country: Some(format!("C{}", i % 40)),
                    city: (i % 50 != 0).then(|| format!("city {i}")),
                    network: Some(format!("10.{}.0.0/16", i % 250)),
                    asn: Some(i),
                    // Few distinct, zero of both signs among them; and distinct for every address.
                    latitude: (i % 7 != 3).then(|| if i % 60 == 31 { -0.0 } else { (i % 60) as f64 * 1.5 - 45.0 }),
                    longitude: Some(f64::from(i) / 3.0),
                    accuracy_km: (i % 11 != 0).then_some((i % 5) as u16 * 100),
                    anonymous: (i % 13 != 5).then_some(crate::enrich::geoip::Anonymity {
                        tor_exit: i % 3 == 0,
                        hosting: i % 4 == 0,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            })
            .collect();
        let places = Places::from_records(records);
        let spread: Vec<u32> = (0..ROW_GROUP_ROWS + 5_000)
            .map(|r| if r % 13 == 0 { NO_ADDRESS } else { (r * 7_919 % 3_000) as u32 })
            .collect();
        let distinct_first: Vec<u32> = (0..9_000).chain(std::iter::repeat_n(5, 20_000)).collect();
        for (case, ids) in [
            ("spread", spread),
            ("distinct first rows", distinct_first),
            ("few", vec![0, 1, 2, 4, 5]),
            ("one row", vec![3]),
        ] {
            let n = ids.len();
            let mut frame = df!("source_ip" => vec!["x"; n], geo_col::ADDRESS_ID => ids).unwrap();
            // Text every row shares, kept once: written as the rows would be.
            for (name, value) in [("file", AnyValue::StringOwned("a.log".into())), ("label", AnyValue::Null)] {
                frame.with_column(Column::new_scalar(name.into(), Scalar::new(DataType::String, value), n)).unwrap();
            }
            let events = Events::new(&frame, Some(&places));
            let schema = schema(events).unwrap();
            let mut direct = Writer::new(Vec::new(), &schema).unwrap();
            direct.write(events).unwrap();
            let mut whole = Writer::new(Vec::new(), &schema).unwrap();
            whole.write_expanded(events).unwrap();
            let (direct, whole) = (direct.finish().unwrap(), whole.finish().unwrap());
            assert!(direct == whole, "{case}: the files differ");
            assert!(read(direct).equals_missing(&events.materialised().unwrap()), "{case}");
        }
    }

    /// Text and numbers with few distinct values get a dictionary, integers and times with
    /// many are written as deltas, the rest plain.
    #[test]
    fn encodings_follow_the_rule() {
        let n = 20_000;
        let time = Int64Chunked::from_vec("t".into(), (0..n as i64).map(|i| 1_790_000_000_000_000 + i * 997).collect())
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
            .into_series();
        let cases = [
            ("event times", time, Encoding::DeltaBinaryPacked),
            ("line numbers", Series::new("l".into(), (1..=n as u64).collect::<Vec<_>>()), Encoding::DeltaBinaryPacked),
            (
                "few floats",
                Series::new("f".into(), (0..n).map(|i| (i % 40) as f64 / 3.0).collect::<Vec<_>>()),
                Encoding::RleDictionary,
            ),
            (
                "many floats",
                Series::new("f".into(), (0..n).map(|i| i as f64 / 3.0).collect::<Vec<_>>()),
                Encoding::Plain,
            ),
            (
                "few integers",
                Series::new("s".into(), (0..n).map(|i| 200 + (i % 3) as i32).collect::<Vec<_>>()),
                Encoding::RleDictionary,
            ),
            (
                "few texts",
                Series::new("a".into(), (0..n).map(|i| ["x", "y"][i % 2]).collect::<Vec<_>>()),
                Encoding::RleDictionary,
            ),
            (
                "many texts",
                Series::new("p".into(), (0..n).map(|i| format!("/items/{i}")).collect::<Vec<_>>()),
                Encoding::Plain,
            ),
            ("flags", Series::new("b".into(), (0..n).map(|i| i % 2 == 0).collect::<Vec<_>>()), Encoding::Plain),
            // Distinct in the first 8,192 rows, then one value: judged by its first rows.
            (
                "text more than half distinct in its first rows, a quarter in all",
                Series::new("q".into(), (0..n).map(|i| format!("/p/{}", i % 5_000)).collect::<Vec<_>>()),
                Encoding::Plain,
            ),
            (
                "distinct first rows",
                Series::new("d".into(), (0..n).map(|i| i.min(SAMPLE_ROWS) as f64).collect::<Vec<_>>()),
                Encoding::Plain,
            ),
        ];
        for (case, column, expected) in cases {
            let (encoding, rows) = match encoded(&column).unwrap() {
                Encoded::Dictionary(d) => (d.encoding(), d.codes.len()),
                Encoded::Array(array, encoding) => (encoding, array.len()),
            };
            assert_eq!(encoding, expected, "{case}");
            assert_eq!(rows, n, "{case}");
        }
    }

    /// Regression: the statistics of a dictionary-encoded column count each missing row once.
    /// polars' dictionary writer counted them twice (`events.parquet` said 2,290 missing
    /// countries in a row group of 1,145). Flags, written from codes too, are counted right.
    #[test]
    fn statistics_count_each_missing_row_once() {
        let n = ROW_GROUP_ROWS + 1_000;
        let frame = df!(
            "few" => (0..n).map(|i| (i % 4 != 0).then(|| ["a", "b"][i % 2])).collect::<Vec<_>>(),
            "status" => (0..n).map(|i| (i % 5 != 0).then_some(200 + (i % 3) as i32)).collect::<Vec<_>>(),
            "all missing" => vec![None::<&str>; n],
            "flag" => (0..n).map(|i| (i % 3 != 0).then_some(i % 2 == 0)).collect::<Vec<_>>(),
        )
        .unwrap();
        let bytes = to_bytes(&frame).unwrap();
        let metadata = polars_parquet::read::read_metadata(&mut std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(metadata.row_groups.len(), 2);
        for (group, rows) in metadata.row_groups.iter().zip([0..ROW_GROUP_ROWS, ROW_GROUP_ROWS..n]) {
            let missing = [
                rows.clone().filter(|i| i % 4 == 0).count(),
                rows.clone().filter(|i| i % 5 == 0).count(),
                rows.len(),
                rows.clone().filter(|i| i % 3 == 0).count(),
            ];
            for (column, missing) in group.parquet_columns().iter().zip(missing) {
                let statistics = column.statistics(&metadata.footer_buf).unwrap().unwrap();
                assert_eq!(statistics.null_count(), Some(missing as i64), "{:?}", column.descriptor().path_in_schema);
            }
        }
    }

    #[test]
    fn empty_and_all_missing_frames() {
        let empty = df!("a" => Vec::<String>::new(), "b" => Vec::<i64>::new()).unwrap();
        let back = read(to_bytes(&empty).unwrap());
        assert_eq!(back.schema(), empty.schema());
        assert_eq!(back.height(), 0);
        let missing = df!("a" => [None::<&str>, None]).unwrap();
        assert!(read(to_bytes(&missing).unwrap()).equals_missing(&missing));
    }
}
