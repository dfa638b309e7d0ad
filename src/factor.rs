//! Factorising string columns: a small integer code per row for each distinct value, so that
//! per-row work (hashing, comparing, cloning text) happens once per distinct value instead.

use polars::prelude::*;
use polars_arrow::array::Array;

/// The code of a missing value.
pub const NULL: u32 = u32::MAX;

/// A string column as codes into its distinct values.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        for (i, view) in array.views().iter().enumerate() {
            if !array.is_valid(i) {
                codes.push(NULL);
                continue;
            }
            let code = *by_view.entry(view.as_u128()).or_insert_with(|| {
                let text = array.value(i);
                *by_text.entry(text).or_insert_with(|| {
                    values.push(text);
                    (values.len() - 1) as u32
                })
            });
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
}
