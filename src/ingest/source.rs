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

/// Reads an input whole, decompressing gzip (recognised by its magic bytes).
pub fn read(input: &Input) -> Result<Vec<u8>> {
    let path = input.path();
    let raw = match input {
        Input::Stdin => {
            let mut buf = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut buf)
                .map_err(|source| Error::Read { path: path.clone(), source })?;
            buf
        }
        Input::File(p) => std::fs::read(p).map_err(|source| Error::Read { path: path.clone(), source })?,
    };
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut out).map_err(|source| Error::Gzip { path, source })?;
    Ok(out)
}

/// The input's name without a `.gz` suffix, lower-cased, for recognising the format.
pub fn logical_name(input: &Input) -> String {
    let name = input.name().to_ascii_lowercase();
    name.strip_suffix(".gz").map(str::to_string).unwrap_or(name)
}
