//! Parquet outputs for analysts (polars, pandas, DuckDB): `events.parquet` and
//! `baseline.parquet`.

use crate::error::{Error, Result};
use polars::prelude::*;

/// A frame as Parquet bytes (zstd-compressed, with statistics).
pub fn to_bytes(frame: &mut DataFrame) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(frame)
        .map_err(|source| Error::Frame { context: "writing events.parquet", source })?;
    Ok(buf)
}
