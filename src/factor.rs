//! Factorising text columns: a small integer code per row for each distinct value, so that
//! per-row work (hashing, comparing, cloning text) happens once per distinct value instead.
//!
//! Also where the events frame's dictionary columns are made ([`coded`]):
//! text with few distinct values (keys, user agents, addresses) is held as polars categoricals,
//! four bytes of code per row into values stored once.

use polars::prelude::*;
use polars_arrow::array::Array;

/// The code of a missing value.
pub const NULL: u32 = u32::MAX;

/// A string column as codes into its distinct values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Factor<'a> {
    /// Per row: an index into `values`, or [`NULL`].
    pub codes: Vec<u32>,
    /// The distinct values, in order of first appearance.
    pub values: Vec<&'a str>,
}

impl<'a> Factor<'a> {
    /// The value of row `i`.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        self.codes.get(i).and_then(|&c| self.values.get(c as usize)).copied()
    }
}

/// The codes of a text column: a string column's ([`factorize_at_most`]), or a categorical
/// one's (the events frame's, see [`coded`]) renumbered in order of first appearance; `None`
/// when it holds more than `max_distinct` distinct values. An error for other types.
pub fn factorize_text_at_most(column: &Series, max_distinct: usize) -> PolarsResult<Option<Factor<'_>>> {
    match column.dtype() {
        DataType::Categorical(..) => categorical_at_most(column.cat32()?, max_distinct),
        _ => Ok(factorize_at_most(column.str()?, max_distinct)),
    }
}

/// [`factorize_text_at_most`] with no limit.
pub fn factorize_text(column: &Column) -> PolarsResult<Factor<'_>> {
    Ok(factorize_text_at_most(column.as_materialized_series(), usize::MAX)?.unwrap_or_default())
}

/// The codes of a categorical column, renumbered in order of first appearance (as
/// [`factorize`] numbers a string column's): one look-up per row in a table of the categories.
/// An error for a code its categories do not hold.
fn categorical_at_most(column: &Categorical32Chunked, max_distinct: usize) -> PolarsResult<Option<Factor<'_>>> {
    let mapping = column.get_mapping();
    let mut renumbered = vec![NULL; mapping.num_cats_upper_bound()];
    let mut codes = Vec::with_capacity(column.len());
    let mut values: Vec<&str> = Vec::new();
    let unknown = |code: u32| polars_err!(ComputeError: "code {code} of column {} has no category", column.name());
    for array in column.physical().downcast_iter() {
        for category in array.iter() {
            let Some(&category) = category else {
                codes.push(NULL);
                continue;
            };
            let slot = renumbered.get_mut(category as usize).ok_or_else(|| unknown(category))?;
            if *slot == NULL {
                values.push(mapping.cat_to_str(category).ok_or_else(|| unknown(category))?);
                if values.len() > max_distinct {
                    return Ok(None);
                }
                *slot = (values.len() - 1) as u32;
            }
            codes.push(*slot);
        }
    }
    Ok(Some(Factor { codes, values }))
}

/// A text column whose row `r` is value `codes[r]` of `dictionary` ([`Dictionary::code`]), as a
/// polars categorical of 32-bit codes: the column takes the codes over. An error when a code
/// is none of the dictionary's.
pub fn coded(dictionary: &Dictionary, codes: UInt32Chunked) -> PolarsResult<Column> {
    let categories = dictionary.categories;
    if let Some(code) = codes.max().filter(|&c| c as usize >= categories) {
        polars_bail!(ComputeError: "code {code} of column {} is none of its dictionary's {categories}", codes.name());
    }
    // SAFETY: every code is one of the dictionary's (checked above), and its dtype is of 32-bit
    // codes.
    let column = unsafe { Categorical32Chunked::from_cats_and_dtype_unchecked(codes, dictionary.dtype.clone()) };
    Ok(column.into_series().into_column())
}

/// Text values as the categories of [`coded`] columns. Equal values get one code, so that a
/// coded column reads as a column of the text would.
pub struct Dictionary {
    /// A categorical dtype of its own (not polars' global one), holding the values.
    dtype: DataType,
    /// The code of each value (in the order given), `None` for a missing one.
    codes: Vec<Option<u32>>,
    /// Whether each value's code is its index (the values are distinct, none missing).
    identity: bool,
    /// How many distinct values: every code is below it.
    categories: usize,
}

impl Dictionary {
    pub fn new<'v>(values: impl Iterator<Item = Option<&'v str>>) -> PolarsResult<Self> {
        let categories = Categories::random(PlSmallStr::from_static("leakhound"), CategoricalPhysical::U32);
        let mapping = categories.mapping();
        let codes: Vec<Option<u32>> =
            values.map(|v| v.map(|v| mapping.insert_cat(v)).transpose()).collect::<PolarsResult<_>>()?;
        let identity = codes.iter().enumerate().all(|(i, &c)| c == Some(i as u32));
        let distinct = codes.iter().flatten().max().map_or(0, |&c| c as usize + 1);
        Ok(Dictionary { dtype: DataType::Categorical(categories, mapping), codes, identity, categories: distinct })
    }

    /// The code of value `i` (in the order given to [`Dictionary::new`]); `None` for a missing
    /// value or one past the end.
    #[inline]
    pub fn code(&self, i: u32) -> Option<u32> {
        self.codes.get(i as usize).copied().flatten()
    }

    /// Whether every value's code is its index, so that indices need no translating.
    pub fn is_identity(&self) -> bool {
        self.identity
    }
}

/// The frame with its columns of codes ([`coded`]) turned back into text: for joining it to,
/// or comparing it with, a frame with other dictionaries or none (frames of other builders, an
/// audit's history read back).
pub fn decoded(frame: &DataFrame) -> PolarsResult<DataFrame> {
    let columns = frame
        .columns()
        .iter()
        .map(|c| match c.dtype() {
            DataType::Categorical(..) => c.cast(&DataType::String),
            _ => Ok(c.clone()),
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(frame.height(), columns)
}

/// Slots of [`factorize_at_most`]'s cache of recent views.
const RECENT_SLOTS: usize = 1 << 12;

/// A view's slot in the cache of recent views: its length, prefix and (for long values) where
/// its bytes are, mixed by multiplication (Fibonacci hashing), top bits kept.
fn slot_of(view: u128) -> usize {
    let mixed = ((view as u64) ^ ((view >> 64) as u64).rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> (64 - RECENT_SLOTS.trailing_zeros())) as usize
}

/// The codes of a string column.
///
/// Rows are first told apart by their 16-byte Arrow view (length, prefix and where the bytes
/// are), which needs no look at the text: a column gathered from a dictionary, as the events
/// frame's are, shares one view per distinct value, so the text of each distinct view is
/// hashed once. Distinct views with equal text (a column built any other way) still get one
/// code.
pub fn factorize(column: &StringChunked) -> Factor<'_> {
    factorize_at_most(column, usize::MAX).unwrap_or_else(|| Factor { codes: Vec::new(), values: Vec::new() })
}

/// [`factorize`], or `None` as soon as the column turns out to hold more than `max_distinct`
/// distinct values (where codes would not pay).
pub fn factorize_at_most(column: &StringChunked, max_distinct: usize) -> Option<Factor<'_>> {
    let mut codes = Vec::with_capacity(column.len());
    let mut values: Vec<&str> = Vec::new();
    let mut by_text: PlHashMap<&str, u32> = PlHashMap::default();
    for array in column.downcast_iter() {
        // A view's buffer index and offset refer to its own chunk's buffers.
        let mut by_view: PlHashMap<u128, u32> = PlHashMap::default();
        // The codes of recent views, one per slot chosen by a few bits of the view: a column of
        // a few thousand distinct values finds most rows here, without hashing the view.
        let mut recent: Box<[(u128, u32)]> = vec![(0, NULL); RECENT_SLOTS].into_boxed_slice();
        for (i, view) in array.views().iter().enumerate() {
            if !array.is_valid(i) {
                codes.push(NULL);
                continue;
            }
            let view = view.as_u128();
            let slot = &mut recent[slot_of(view)];
            let code = if slot.1 != NULL && slot.0 == view {
                slot.1
            } else {
                let code = *by_view.entry(view).or_insert_with(|| {
                    let text = array.value(i);
                    *by_text.entry(text).or_insert_with(|| {
                        values.push(text);
                        (values.len() - 1) as u32
                    })
                });
                *slot = (view, code);
                code
            };
            if values.len() > max_distinct {
                return None;
            }
            codes.push(code);
        }
    }
    Some(Factor { codes, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(column: &StringChunked) {
        let f = factorize(column);
        assert_eq!(f.codes.len(), column.len());
        let distinct: std::collections::HashSet<&str> = f.values.iter().copied().collect();
        assert_eq!(distinct.len(), f.values.len(), "values are distinct");
        for (i, v) in column.iter().enumerate() {
            assert_eq!(f.get(i), v, "row {i}");
        }
    }

    #[test]
    fn equal_text_gets_one_code_however_the_column_was_built() {
        let long = "Mozilla/5.0 (X11; Linux x86_64) a user agent longer than twelve bytes";
        // Built row by row: equal long strings have views at different offsets.
        let rows = [Some(long), Some("a"), None, Some(long), Some("a"), Some("b"), None];
        let built = StringChunked::from_iter_options("x".into(), rows.into_iter());
        check(&built);
        let f = factorize(&built);
        assert_eq!(f.values, vec![long, "a", "b"]);
        assert_eq!(f.codes, vec![0, 1, NULL, 0, 1, 2, NULL]);
        // Gathered from a dictionary: equal strings share a view.
        let dict = StringChunked::from_iter_options("d".into(), [Some(long), Some("z")].into_iter());
        let idx = IdxCa::from_iter_options("i".into(), [Some(1), Some(0), None, Some(0)].into_iter());
        let gathered = dict.take(&idx).unwrap();
        check(&gathered);
        assert_eq!(factorize(&gathered).codes, vec![0, 1, NULL, 1]);
    }

    /// More distinct values than the cache of recent views has slots, in a scrambled order,
    /// short (inline) and long, gathered from a dictionary and built row by row: every row's
    /// code is its value's, whatever the cache held.
    #[test]
    fn codes_are_right_when_recent_views_collide() {
        let distinct = 3 * RECENT_SLOTS + 17;
        let value = |v: usize| {
            if v.is_multiple_of(2) {
                format!("{v}")
            } else {
                format!("a long value, longer than twelve: {v}")
            }
        };
        let dict = StringChunked::from_iter_values("d".into(), (0..distinct).map(value));
        let rows: Vec<Option<IdxSize>> =
            (0..50_000u64).map(|i| (i % 97 != 0).then(|| ((i * 2_654_435_761) % distinct as u64) as IdxSize)).collect();
        let gathered = dict.take(&IdxCa::from_iter_options("i".into(), rows.iter().copied())).unwrap();
        let built = StringChunked::from_iter_options(
            "x".into(),
            rows.iter().map(|r| r.map(|v| value(v as usize))).collect::<Vec<_>>().into_iter(),
        );
        for column in [&gathered, &built] {
            check(column);
            assert_eq!(factorize(column).codes, factorize(&gathered).codes, "the same codes however built");
        }
    }

    #[test]
    fn several_chunks_and_empty() {
        let mut a = StringChunked::from_iter_options("x".into(), [Some("p"), Some("q")].into_iter());
        let b = StringChunked::from_iter_options("x".into(), [Some("q"), None, Some("r")].into_iter());
        a.append(&b).unwrap();
        assert!(a.chunks().len() > 1);
        check(&a);
        assert_eq!(factorize(&a).codes, vec![0, 1, 1, NULL, 2]);
        let empty = StringChunked::from_iter_options("x".into(), std::iter::empty::<Option<&str>>());
        assert_eq!(factorize(&empty), Factor { codes: vec![], values: vec![] });
        assert!(factorize_at_most(&a, 2).is_none(), "three distinct values");
        assert_eq!(factorize_at_most(&a, 3).map(|f| f.codes), Some(vec![0, 1, 1, NULL, 2]));
    }

    /// A coded column of `values` (given in dictionary order) whose row `r` is value `ids[r]`.
    fn coded_of(values: &[Option<&str>], ids: &[Option<u32>]) -> (Dictionary, Column) {
        let dictionary = Dictionary::new(values.iter().copied()).unwrap();
        let codes =
            UInt32Chunked::from_iter_options("c".into(), ids.iter().map(|&i| i.and_then(|i| dictionary.code(i))));
        let column = coded(&dictionary, codes).unwrap();
        (dictionary, column)
    }

    /// A coded column reads as the text it codes: its codes renumbered in order of first
    /// appearance (as a string column's would be), missing values and absent ids missing.
    #[test]
    fn a_coded_column_factorizes_as_its_text_would() {
        let values = [Some("zeta"), Some("alpha"), None, Some("mu")];
        let ids = [Some(3), Some(0), None, Some(3), Some(2), Some(1), Some(0)];
        let (dictionary, column) = coded_of(&values, &ids);
        assert!(!dictionary.is_identity(), "a missing value has no code");
        let text: Vec<Option<&str>> = ids.iter().map(|&i| i.and_then(|i| values[i as usize])).collect();
        let plain = StringChunked::from_iter_options("c".into(), text.iter().copied());
        let (coded_factor, plain_factor) = (factorize_text(&column).unwrap(), factorize(&plain));
        assert_eq!(coded_factor, plain_factor);
        assert_eq!(coded_factor.values, vec!["mu", "zeta", "alpha"]);
        assert_eq!(coded_factor.codes, vec![0, 1, NULL, 0, NULL, 2, 1]);
        assert!(factorize_text_at_most(column.as_materialized_series(), 2).unwrap().is_none(), "three distinct values");
        let decoded = decoded(&DataFrame::new(column.len(), vec![column]).unwrap()).unwrap();
        let back: Vec<Option<&str>> = decoded.column("c").unwrap().str().unwrap().iter().collect();
        assert_eq!(back, text);
        let number = Column::new("n".into(), [1i64, 2]);
        assert!(factorize_text(&number).is_err(), "not text");
    }

    /// A code none of the dictionary's values has is an error, not a column.
    #[test]
    fn a_code_past_the_dictionary_is_an_error() {
        let dictionary = Dictionary::new([Some("a"), None, Some("b")].into_iter()).unwrap();
        let good = UInt32Chunked::from_iter_options("c".into(), [Some(0), None, Some(1)].into_iter());
        assert!(coded(&dictionary, good).is_ok());
        let bad = UInt32Chunked::from_iter_options("c".into(), [Some(0), Some(2)].into_iter());
        let err = coded(&dictionary, bad).unwrap_err().to_string();
        assert!(err.contains("code 2 of column c"), "{err}");
        let empty = Dictionary::new(std::iter::empty()).unwrap();
        assert!(coded(&empty, UInt32Chunked::from_iter_options("c".into(), [None].into_iter())).is_ok());
        assert!(coded(&empty, UInt32Chunked::from_slice("c".into(), &[0])).is_err());
        // A categorical made elsewhere with such a code is an error to factorise, not codes.
        let codes = UInt32Chunked::from_slice("c".into(), &[0, 7]);
        // SAFETY: only its codes are read, by `factorize_text`, which checks them.
        let made = unsafe { Categorical32Chunked::from_cats_and_dtype_unchecked(codes, dictionary.dtype.clone()) };
        let err = factorize_text(&made.into_series().into_column()).unwrap_err().to_string();
        assert!(err.contains("code 7 of column c has no category"), "{err}");
    }

    /// Equal values share a code, so that a coded column of them compares equal row by row;
    /// distinct values, none missing, are coded by their index.
    #[test]
    fn equal_values_share_a_code() {
        let dictionary = Dictionary::new([Some("a"), Some("b"), Some("a")].into_iter()).unwrap();
        assert_eq!(dictionary.code(0), dictionary.code(2));
        assert_ne!(dictionary.code(0), dictionary.code(1));
        assert!(!dictionary.is_identity());
        assert_eq!(dictionary.code(3), None, "past the end");
        let distinct = Dictionary::new([Some("x"), Some("y"), Some("z")].into_iter()).unwrap();
        assert!(distinct.is_identity());
        assert_eq!((0..3).map(|i| distinct.code(i)).collect::<Vec<_>>(), vec![Some(0), Some(1), Some(2)]);
        let empty = Dictionary::new(std::iter::empty()).unwrap();
        assert!(empty.is_identity());
        let (_, column) = coded_of(&[], &[None, None]);
        assert_eq!(factorize_text(&column).unwrap().codes, vec![NULL, NULL]);
    }
}
