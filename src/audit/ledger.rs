//! Which inputs an audit has already taken in: files are known by path, size and content hash,
//! so that a rerun does not count a file twice, a renamed copy is recognised, and a log that
//! grew is read from where the last audit stopped.

use super::state::{hex, ProcessedFile};
use crate::error::{Error, Result};
use crate::ingest::Input;
use sha2::{Digest, Sha256};

/// What an audit does with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Never audited: read it all.
    New,
    /// The same file with more lines at its end: read the lines after `after_line`.
    Grown { after_line: u64 },
    /// This content was audited before (as `path`): skip it.
    Seen { path: String },
}

/// One input with its identity and plan.
#[derive(Debug, Clone)]
pub struct Planned {
    pub input: Input,
    /// Absolute path: the file's identity across runs from other working directories.
    pub path: String,
    /// Size and SHA-256 of the part audited: the whole file, or of a plain-text file still
    /// being written, its complete lines (a last line without its newline waits for the next
    /// audit).
    pub size: u64,
    pub sha256: String,
    /// Lines in the audited part (plain-text files; gzip is not counted before reading).
    pub lines: Option<u64>,
    /// Whether the file ends in a line still being written, left for the next audit.
    pub partial: bool,
    pub plan: Plan,
}

/// Decides for each input whether it is new, grown or already audited. Inputs that cannot be
/// read are returned as errors (the run goes on without them).
pub fn plan(inputs: &[Input], done: &[ProcessedFile]) -> Result<(Vec<Planned>, Vec<Error>)> {
    let mut planned = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        let Input::File(file) = input else {
            return Err(Error::Usage(
                "audit cannot read standard input: it must remember which files it has audited. Save the log to a file and pass its path".into(),
            ));
        };
        let path = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
        let key = path.display().to_string();
        let previous = done.iter().find(|d| d.path == key);
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(source) => {
                errors.push(Error::Read { path: file.clone(), source });
                continue;
            }
        };
        let gzip = bytes.starts_with(&[0x1f, 0x8b]);
        let audited = match memchr::memrchr(b'\n', &bytes) {
            _ if gzip => bytes.len(),
            Some(i) => i + 1,
            None => 0,
        };
        let partial = audited < bytes.len();
        let bytes = &bytes[..audited];
        let lines = (!gzip).then(|| memchr::memchr_iter(b'\n', bytes).count() as u64);
        let size = bytes.len() as u64;
        let (sha256, prefix) = hashes(bytes, previous.map(|p| p.size));
        let plan = if let Some(seen) = done.iter().find(|d| d.sha256 == sha256 && d.size == size) {
            Plan::Seen { path: seen.path.clone() }
        } else {
            match previous {
                Some(p) if p.size < size && prefix.as_deref() == Some(p.sha256.as_str()) => {
                    Plan::Grown { after_line: p.lines }
                }
                _ => Plan::New,
            }
        };
        planned.push(Planned { input: input.clone(), path: key, size, sha256, lines, partial, plan });
    }
    Ok((planned, errors))
}

/// The SHA-256 of the bytes and, when `prefix_len` is shorter, of their first `prefix_len`
/// bytes (one pass).
fn hashes(bytes: &[u8], prefix_len: Option<u64>) -> (String, Option<String>) {
    let mut hasher = Sha256::new();
    let prefix = prefix_len.and_then(|n| {
        let n = usize::try_from(n).ok().filter(|&n| n < bytes.len())?;
        hasher.update(&bytes[..n]);
        let at_prefix = hasher.clone();
        hasher.update(&bytes[n..]);
        Some(hex(&at_prefix.finalize()))
    });
    if prefix.is_none() {
        hasher.update(bytes);
    }
    (hex(&hasher.finalize()), prefix)
}

/// The ledger after this run: the planned files that were read, with the last line each
/// now has, replacing earlier entries of the same path.
pub fn updated(mut done: Vec<ProcessedFile>, read: &[(&Planned, u64)], generation: u64) -> Vec<ProcessedFile> {
    for (p, lines) in read {
        done.retain(|d| d.path != p.path);
        done.push(ProcessedFile {
            path: p.path.clone(),
            size: p.size,
            sha256: p.sha256.clone(),
            lines: *lines,
            generation,
        });
    }
    done.sort_by(|a, b| a.path.cmp(&b.path));
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &std::path::Path, bytes: &[u8], lines: u64) -> ProcessedFile {
        ProcessedFile {
            path: std::fs::canonicalize(path).unwrap().display().to_string(),
            size: bytes.len() as u64,
            sha256: super::super::state::sha256_hex(bytes),
            lines,
            generation: 1,
        }
    }

    #[test]
    fn new_seen_renamed_grown_and_replaced_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.log");
        std::fs::write(&a, b"one\ntwo\n").unwrap();
        let done = vec![record(&a, b"one\ntwo\n", 2)];
        let input = |p: &std::path::Path| vec![Input::File(p.to_path_buf())];

        let (p, _) = plan(&input(&a), &done).unwrap();
        assert!(matches!(p[0].plan, Plan::Seen { .. }), "same file again");

        let copy = dir.path().join("a.log.1");
        std::fs::write(&copy, b"one\ntwo\n").unwrap();
        let (p, _) = plan(&input(&copy), &done).unwrap();
        assert!(matches!(&p[0].plan, Plan::Seen { path } if path.ends_with("a.log")), "renamed copy");

        std::fs::write(&a, b"one\ntwo\nthree\n").unwrap();
        let (p, _) = plan(&input(&a), &done).unwrap();
        assert_eq!(p[0].plan, Plan::Grown { after_line: 2 });

        std::fs::write(&a, b"uno\ndos\ntres\n").unwrap();
        let (p, _) = plan(&input(&a), &done).unwrap();
        assert_eq!(p[0].plan, Plan::New, "rewritten in place");

        let (p, errors) = plan(&input(&dir.path().join("gone.log")), &done).unwrap();
        assert!(p.is_empty() && errors.len() == 1);
        assert!(plan(&[Input::Stdin], &done).is_err());
    }

    #[test]
    fn a_last_line_still_being_written_waits_for_the_next_audit() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.log");
        std::fs::write(&a, b"one\ntwo\nthr").unwrap();
        let (p, _) = plan(&[Input::File(a.clone())], &[]).unwrap();
        assert_eq!((p[0].size, p[0].lines, p[0].partial), (8, Some(2), true));
        let done = updated(Vec::new(), &[(&p[0], 2)], 1);
        // Unchanged: nothing new. Finished: the third line is new.
        let (p, _) = plan(&[Input::File(a.clone())], &done).unwrap();
        assert!(matches!(p[0].plan, Plan::Seen { .. }));
        std::fs::write(&a, b"one\ntwo\nthree\n").unwrap();
        let (p, _) = plan(&[Input::File(a)], &done).unwrap();
        assert_eq!((p[0].plan.clone(), p[0].lines, p[0].partial), (Plan::Grown { after_line: 2 }, Some(3), false));
    }

    #[test]
    fn the_ledger_keeps_one_entry_per_path() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.log");
        std::fs::write(&a, b"one\ntwo\nthree\n").unwrap();
        let done = vec![record(&a, b"one\ntwo\n", 2)];
        let (p, _) = plan(&[Input::File(a.clone())], &done).unwrap();
        let after = updated(done, &[(&p[0], 3)], 2);
        assert_eq!(after.len(), 1);
        assert_eq!((after[0].lines, after[0].size, after[0].generation), (3, 14, 2));
    }
}
