//! The spill of a streaming scan: accepted rows moved to disk block by block as inputs are
//! read, grouped by key into buckets, and read back one bucket at a time.
//!
//! Rows are stored as the builder holds them (ids into its dictionaries, which stay in
//! memory), so a bucket read back builds the same frame, restricted to its keys, as a scan in
//! memory would. The rows of one input file in one block become a piece, written to every
//! bucket file it has rows for; a file left out after some of its blocks were spilled has its
//! pieces marked dropped. The directory is removed when the spill is dropped, and by the next
//! scan writing to the same directory if this one was killed.

use super::builder::{Arena, Packed, Rows};
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The bucket of a credential id: credentials are numbered as first seen, so the first
/// `buckets` keys each get a bucket of their own.
pub fn bucket_of(credential: u32, buckets: usize) -> usize {
    credential as usize % buckets
}

/// The rows of one input file in one block, as spilled.
#[derive(Debug, Clone)]
struct Piece {
    /// Index of the piece's first row among all rows appended (the builder's numbering).
    start: usize,
    rows: usize,
    /// Left out with its file.
    dropped: bool,
    /// Rows and requests (weighted by `count`) per credential id.
    usage: Vec<(u32, u64, i64)>,
    /// The earliest event time.
    first: Option<i64>,
    /// Per bucket with rows of this piece: the bucket, its rows, and the bytes of their paths.
    sizes: Vec<(usize, usize, usize)>,
}

/// Rows on disk, by bucket.
pub struct Spill {
    dir: PathBuf,
    writers: Vec<Option<BufWriter<File>>>,
    pieces: Vec<Piece>,
    /// Rows spilled so far (dropped ones included): the builder's numbering goes on from here.
    spilled: usize,
}

impl Spill {
    /// A fresh spill directory inside `parent` (the output directory: on disk, where the user
    /// chose to write, unlike a temporary directory that may live in memory).
    pub fn create(parent: &Path, buckets: usize) -> Result<Self> {
        remove_abandoned(parent);
        let dir = parent.join(format!("{PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Readable by this user only: the rows are the events of the logs.
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(|source| Error::Spill { path: dir.clone(), source })?;
        Ok(Self { dir, writers: (0..buckets.max(1)).map(|_| None).collect(), pieces: Vec::new(), spilled: 0 })
    }

    pub fn buckets(&self) -> usize {
        self.writers.len()
    }

    /// Rows not dropped in one bucket.
    pub fn bucket_rows(&self, bucket: usize) -> usize {
        let sizes = self.pieces.iter().filter(|p| !p.dropped).flat_map(|p| &p.sizes);
        sizes.filter(|(b, _, _)| *b == bucket).map(|(_, rows, _)| rows).sum()
    }

    /// Rows spilled so far, dropped ones included.
    pub fn spilled(&self) -> usize {
        self.spilled
    }

    fn path(&self, bucket: usize) -> PathBuf {
        self.dir.join(format!("bucket-{bucket:04}.bin"))
    }

    fn err(&self, bucket: usize) -> impl Fn(std::io::Error) -> Error + '_ {
        move |source| Error::Spill { path: self.path(bucket), source }
    }

    /// Appends rows (ids into `paths` resolved to text), bucket by bucket: one piece per input
    /// file they come from, so that a file left out can be dropped whole.
    pub fn store(&mut self, rows: &Rows) -> Result<()> {
        let mut start = 0;
        while start < rows.len() {
            let file = rows.file[start];
            let end = rows.file[start..].iter().position(|&f| f != file).map_or(rows.len(), |n| start + n);
            self.store_piece(rows, start..end)?;
            start = end;
        }
        Ok(())
    }

    /// Appends rows `range` as one piece.
    fn store_piece(&mut self, rows: &Rows, range: std::ops::Range<usize>) -> Result<()> {
        let piece = self.pieces.len() as u32;
        let buckets = self.buckets();
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); buckets];
        let mut usage: std::collections::BTreeMap<u32, (u64, i64)> = Default::default();
        for i in range.clone() {
            let c = rows.credential[i];
            members[bucket_of(c, buckets)].push(i as u32);
            let u = usage.entry(c).or_default();
            u.0 += 1;
            u.1 += rows.count[i];
        }
        let mut sizes = Vec::new();
        for (bucket, members) in members.iter().enumerate().filter(|(_, m)| !m.is_empty()) {
            let (bytes, text) = encode(piece, rows, members);
            sizes.push((bucket, members.len(), text));
            if self.writers[bucket].is_none() {
                let file = File::create(self.path(bucket)).map_err(self.err(bucket))?;
                self.writers[bucket] = Some(BufWriter::with_capacity(1 << 20, file));
            }
            let written = match &mut self.writers[bucket] {
                Some(w) => w.write_all(&bytes),
                None => Ok(()),
            };
            written.map_err(self.err(bucket))?;
        }
        self.pieces.push(Piece {
            start: self.spilled,
            rows: range.len(),
            dropped: false,
            usage: usage.into_iter().map(|(c, (r, q))| (c, r, q)).collect(),
            first: rows.timestamp[range.clone()].iter().min().copied(),
            sizes,
        });
        self.spilled += range.len();
        Ok(())
    }

    /// Drops every spilled row numbered `from` or later (a file left out; its rows were the
    /// last ones appended). Returns their source lines.
    pub fn drop_from(&mut self, from: usize) -> Result<Vec<u64>> {
        let mut dropped = Vec::new();
        for (i, p) in self.pieces.iter_mut().enumerate() {
            if p.start + p.rows > from && !p.dropped {
                // Files are read whole, one after another: a piece never straddles a file.
                debug_assert!(p.start >= from, "a spilled block straddles a file boundary");
                p.dropped = true;
                dropped.push(i as u32);
            }
        }
        if dropped.is_empty() {
            return Ok(Vec::new());
        }
        self.flush()?;
        let mut lines = Vec::new();
        for bucket in 0..self.buckets() {
            self.read_pieces(bucket, |piece| {
                if dropped.contains(&piece.index) {
                    lines.extend(piece.rows.line);
                }
            })?;
        }
        Ok(lines)
    }

    /// Rows and requests per credential id, over the rows not dropped.
    pub fn usage(&self, credentials: usize) -> Vec<(u64, i64)> {
        let mut usage = vec![(0u64, 0i64); credentials];
        for p in self.pieces.iter().filter(|p| !p.dropped) {
            for &(c, rows, requests) in &p.usage {
                if let Some(u) = usage.get_mut(c as usize) {
                    u.0 += rows;
                    u.1 += requests;
                }
            }
        }
        usage
    }

    /// The earliest time of the rows not dropped.
    pub fn first_time(&self) -> Option<i64> {
        self.pieces.iter().filter(|p| !p.dropped).filter_map(|p| p.first).min()
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> Result<()> {
        for bucket in 0..self.writers.len() {
            if let Some(w) = &mut self.writers[bucket] {
                let flushed = w.flush();
                flushed.map_err(|source| Error::Spill { path: self.path(bucket), source })?;
            }
        }
        Ok(())
    }

    /// The rows of one bucket that were not dropped, in the order they were read.
    pub fn read_bucket(&mut self, bucket: usize) -> Result<Rows> {
        self.flush()?;
        // Room for all of them at once: growing by doubling would need up to three times as much.
        let (mut rows, mut text) = (0, 0);
        for p in self.pieces.iter().filter(|p| !p.dropped) {
            if let Some(&(_, r, t)) = p.sizes.iter().find(|(b, _, _)| *b == bucket) {
                rows += r;
                text += t;
            }
        }
        let mut all = Rows::with_capacity(rows, text);
        self.read_pieces(bucket, |piece| {
            if self.pieces.get(piece.index as usize).is_some_and(|p| !p.dropped) {
                all.append(piece.rows);
            }
        })?;
        Ok(all)
    }

    /// Reads the pieces of a bucket one after another, each handed to `each`.
    fn read_pieces(&self, bucket: usize, mut each: impl FnMut(Decoded)) -> Result<()> {
        let file = match File::open(self.path(bucket)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.err(bucket)(e)),
        };
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut bytes = Vec::new();
        loop {
            let mut header = [0u8; 8];
            match reader.read_exact(&mut header) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(self.err(bucket)(e)),
            }
            let [i0, i1, i2, i3, n0, n1, n2, n3] = header;
            let (index, n) = (u32::from_le_bytes([i0, i1, i2, i3]), u32::from_le_bytes([n0, n1, n2, n3]) as usize);
            // The fixed-width columns, then the paths' text.
            bytes.resize(n * ROW_BYTES, 0);
            reader.read_exact(&mut bytes).map_err(self.err(bucket))?;
            let text: usize = bytes[n * (ROW_BYTES - 4)..]
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .filter(|&len| len != NO_PATH)
                .map(|len| len as usize)
                .sum();
            let fixed = bytes.len();
            bytes.resize(fixed + text, 0);
            reader.read_exact(&mut bytes[fixed..]).map_err(self.err(bucket))?;
            let rows = decode(&mut Decoder { bytes: &bytes, at: 0 }, n).ok_or_else(|| {
                self.err(bucket)(std::io::Error::new(std::io::ErrorKind::InvalidData, "spill file is damaged"))
            })?;
            each(Decoded { index, rows });
        }
    }
}

/// Spill directories start with this, then the process id.
const PREFIX: &str = ".leakhound-spill-";

/// Removes the spill directories in `parent` of scans that were killed (their process is gone).
fn remove_abandoned(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !process_exists(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a process with this id runs (always `true` where that cannot be told).
fn process_exists(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

impl Drop for Spill {
    fn drop(&mut self) {
        self.writers.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Bytes of a row's fixed-width columns (a path's length included, not its text).
const ROW_BYTES: usize = 8 + 4 + 4 + 4 + 4 + 8 + 4 + 8 + 4 + 8 + 4;

/// A path's length for a row without one.
const NO_PATH: u32 = u32::MAX;

/// A piece: its index, row count, then each column of the chosen rows (little-endian, absent
/// values as the builder packs them), paths as lengths (`NO_PATH` for none) followed by
/// their text. Also returns the bytes of that text.
fn encode(piece: u32, rows: &Rows, members: &[u32]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(8 + members.len() * 80);
    out.extend_from_slice(&piece.to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    let at = |i: &u32| *i as usize;
    members.iter().for_each(|i| out.extend_from_slice(&rows.timestamp[at(i)].to_le_bytes()));
    members.iter().for_each(|i| out.extend_from_slice(&rows.credential[at(i)].to_le_bytes()));
    members.iter().for_each(|i| out.extend_from_slice(&rows.source_ip[at(i)].raw().to_le_bytes()));
    members.iter().for_each(|i| out.extend_from_slice(&rows.method[at(i)].raw().to_le_bytes()));
    members.iter().for_each(|i| out.extend_from_slice(&rows.status[at(i)].raw().to_le_bytes()));
    members.iter().for_each(|i| out.extend_from_slice(&rows.bytes[at(i)].raw().to_le_bytes()));
    members.iter().for_each(|i| out.extend_from_slice(&rows.user_agent[at(i)].raw().to_le_bytes()));
    members.iter().for_each(|i| out.extend_from_slice(&rows.count[at(i)].to_le_bytes()));
    members.iter().for_each(|i| out.extend_from_slice(&rows.file[at(i)].to_le_bytes()));
    members.iter().for_each(|i| out.extend_from_slice(&rows.line[at(i)].to_le_bytes()));
    let path = |i: &u32| rows.path[at(i)].get().map(|p| rows.paths.get(p as usize));
    members.iter().for_each(|i| out.extend_from_slice(&path(i).map_or(NO_PATH, |p| p.len() as u32).to_le_bytes()));
    let before = out.len();
    members.iter().for_each(|i| out.extend_from_slice(path(i).unwrap_or("").as_bytes()));
    let text = out.len() - before;
    (out, text)
}

struct Decoded {
    index: u32,
    rows: Rows,
}

struct Decoder<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Decoder<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self.bytes.get(self.at..self.at + N)?;
        self.at += N;
        b.try_into().ok()
    }

    fn many<T, const N: usize>(&mut self, n: usize, f: impl Fn([u8; N]) -> T) -> Option<Vec<T>> {
        (0..n).map(|_| self.take::<N>().map(&f)).collect()
    }
}

/// The `n` rows of a piece, from its columns (after the piece's header).
fn decode(d: &mut Decoder<'_>, n: usize) -> Option<Rows> {
    let id = |b: [u8; 4]| Packed::from_raw(u32::from_le_bytes(b));
    let mut rows = Rows {
        timestamp: d.many(n, i64::from_le_bytes)?,
        credential: d.many(n, u32::from_le_bytes)?,
        source_ip: d.many(n, id)?,
        method: d.many(n, id)?,
        status: d.many(n, |b| Packed::from_raw(i32::from_le_bytes(b)))?,
        bytes: d.many(n, |b| Packed::from_raw(i64::from_le_bytes(b)))?,
        user_agent: d.many(n, id)?,
        count: d.many(n, i64::from_le_bytes)?,
        file: d.many(n, u32::from_le_bytes)?,
        line: d.many(n, u64::from_le_bytes)?,
        path: Vec::with_capacity(n),
        paths: Arena::default(),
    };
    let lengths = d.many(n, u32::from_le_bytes)?;
    for len in lengths {
        rows.path.push(Packed::from(match len {
            NO_PATH => None,
            len => {
                let text = d.bytes.get(d.at..d.at + len as usize)?;
                d.at += len as usize;
                Some(rows.paths.push(std::str::from_utf8(text).ok()?))
            }
        }));
    }
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_of_killed_scans_are_removed_and_live_ones_kept() {
        let parent = tempfile::tempdir().unwrap();
        // Above any Linux pid_max: no such process. Process 1 always runs.
        let (gone, live) = (parent.path().join(".leakhound-spill-999999999"), parent.path().join(".leakhound-spill-1"));
        for d in [&gone, &live] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("bucket-0000.bin"), b"x").unwrap();
        }
        let spill = Spill::create(parent.path(), 4).unwrap();
        if Path::new("/proc/self").exists() {
            assert!(!gone.exists(), "a killed scan's spill is removed");
        }
        assert!(live.exists(), "a running scan's spill is left alone");
        drop(spill);
        let left: Vec<_> = std::fs::read_dir(parent.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), if Path::new("/proc/self").exists() { 1 } else { 2 }, "{left:?}");
    }
}
