//! Where input comes from: files, directories (recursive), globs and standard input; gzip.

use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// The name shown in messages and recorded in `source_file`.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }

    pub fn path(&self) -> PathBuf {
        match self {
            Input::Stdin => PathBuf::from("<stdin>"),
            Input::File(p) => p.clone(),
        }
    }

    /// Size on disk, for progress (0 for standard input).
    pub fn size(&self) -> u64 {
        match self {
            Input::Stdin => 0,
            Input::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
        }
    }
}

/// Expands command-line arguments into inputs, in a stable order: `-` is standard input, a
/// directory is walked recursively (hidden entries skipped, names sorted), a pattern with
/// `*`, `?` or `[` is a glob. The same file named twice is read once. Arguments that name
/// nothing are returned as errors; the others are still read. Directories in `skip` (the
/// output directory) are not walked into.
pub fn expand(args: &[String], skip: &[PathBuf]) -> (Vec<Input>, Vec<Error>) {
    let skip: Vec<PathBuf> = skip.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut add = |input: Input, inputs: &mut Vec<Input>| {
        let key = match &input {
            Input::File(p) => std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()),
            Input::Stdin => PathBuf::from("-"),
        };
        if seen.insert(key) {
            inputs.push(input);
        }
    };
    for arg in args {
        if arg == "-" {
            add(Input::Stdin, &mut inputs);
            continue;
        }
        let path = Path::new(arg);
        if path.is_dir() {
            let mut files = Vec::new();
            if let Err(e) = walk(path, &skip, &mut files) {
                errors.push(e);
            }
            files.sort();
            for f in files {
                add(Input::File(f), &mut inputs);
            }
        } else if path.exists() {
            add(Input::File(path.to_path_buf()), &mut inputs);
        } else if arg.contains(['*', '?', '[']) {
            let matches: Vec<PathBuf> = match glob::glob(arg) {
                Ok(paths) => paths.filter_map(|p| p.ok()).filter(|p| p.is_file()).collect(),
                Err(e) => {
                    errors.push(Error::Usage(format!("{arg}: not a valid glob pattern: {e}")));
                    continue;
                }
            };
            if matches.is_empty() {
                errors.push(Error::Read {
                    path: path.to_path_buf(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no file matches this pattern"),
                });
            }
            for m in matches {
                add(Input::File(m), &mut inputs);
            }
        } else {
            errors.push(Error::Read {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
            });
        }
    }
    (inputs, errors)
}

fn walk(dir: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) -> Result<()> {
    if std::fs::canonicalize(dir).is_ok_and(|d| skip.contains(&d)) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read { path: dir.to_path_buf(), source })?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, skip, out)?,
            Ok(_) if path.is_file() => out.push(path),
            _ => {}
        }
    }
    Ok(())
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An input opened for reading in blocks, gzip decompressed on the fly (recognised by its
/// magic bytes).
pub struct Reader {
    inner: Box<dyn Read + Send>,
    path: PathBuf,
    gzip: bool,
    eof: bool,
}

impl Reader {
    pub fn open(input: &Input) -> Result<Reader> {
        let path = input.path();
        let raw: Box<dyn Read + Send> = match input {
            Input::Stdin => Box::new(std::io::stdin()),
            Input::File(p) => {
                Box::new(std::fs::File::open(p).map_err(|source| Error::Read { path: path.clone(), source })?)
            }
        };
        let mut buffered = std::io::BufReader::with_capacity(1 << 16, raw);
        let head =
            std::io::BufRead::fill_buf(&mut buffered).map_err(|source| Error::Read { path: path.clone(), source })?;
        let gzip = head.starts_with(&GZIP_MAGIC);
        let inner: Box<dyn Read + Send> =
            if gzip { Box::new(MultiGzDecoder::new(buffered)) } else { Box::new(buffered) };
        Ok(Reader { inner, path, gzip, eof: false })
    }

    /// Appends up to `want` more bytes to `buf`; false once the input is exhausted.
    ///
    /// Reads into `buf`'s spare capacity without zeroing it first (`read_to_end` through
    /// `take`), so that a reused buffer costs nothing but the copy.
    pub fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> Result<bool> {
        if self.eof || want == 0 {
            return Ok(!self.eof);
        }
        // Room for a whole block at most; a larger `want` (the rest of an input) grows as read.
        buf.reserve(want.min(super::BLOCK_BYTES));
        match (&mut self.inner).take(want as u64).read_to_end(buf) {
            // Fewer bytes than asked for: the input ended (`take` stops only at its limit).
            Ok(n) => self.eof = n < want,
            Err(source) => {
                let path = self.path.clone();
                return Err(if self.gzip { Error::Gzip { path, source } } else { Error::Read { path, source } });
            }
        }
        Ok(!self.eof)
    }

    /// Whether the input is gzipped (its size on disk does not tell how much there is to read).
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Appends everything that is left to `buf`.
    pub fn read_rest(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        while self.fill(buf, 1 << 24)? {}
        Ok(())
    }
}

/// The input's name without a `.gz` suffix, lower-cased, for recognising the format.
pub fn logical_name(input: &Input) -> String {
    let name = input.name().to_ascii_lowercase();
    name.strip_suffix(".gz").map(str::to_string).unwrap_or(name)
}
