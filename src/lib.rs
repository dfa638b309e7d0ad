//! leakhound: was our API key leaked, and is someone else using it?
//!
//! The pipeline: [`ingest`] reads access and API-usage logs of every supported format into one
//! canonical events frame (raw secrets fingerprinted on the way in), [`enrich`] adds what the
//! GeoIP databases say about the source addresses, and [`report`] writes the outputs. [`scan`] runs the pipeline end to end; the `leakhound` binary is a thin CLI over it.

pub mod audit;
pub mod demo;
pub mod detect;
pub mod enrich;
pub mod error;
pub mod factor;
pub mod ingest;
pub mod inventory;
pub mod mapping;
pub mod report;
pub mod scan;
pub mod schema;
pub mod secret;
pub mod synth;
pub mod text;
pub mod timestamp;

pub use error::{Error, Result};
pub use scan::{scan, ScanOptions, ScanOutcome};
