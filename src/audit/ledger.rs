//! Which inputs an audit has already taken in: files are known by path, size and content hash,
//! so that a rerun does not count a file twice, a renamed copy is recognised, and a log that
//! grew is read from where the last audit stopped.

use super::state::ProcessedFile;
use crate::error::{Error, Result};
use crate::ingest::Input;
use crate::text::hex;
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
        let Content { size, sha256, prefix, lines, partial } = match content(file, previous.map(|p| p.size)) {
            Ok(c) => c,
            Err(source) => {
                errors.push(Error::Read { path: file.clone(), source });
                continue;
            }
        };
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

/// What the ledger knows of a file's content: the part audited (the whole file, or of a
/// plain-text file still being written, its complete lines) by size and SHA-256, the SHA-256
/// of its first `prefix_len` bytes, and its lines.
struct Content {
    size: u64,
    sha256: String,
    prefix: Option<String>,
    lines: Option<u64>,
    partial: bool,
}

/// Reads a file once, in pieces, to find its [`Content`]: the file is never held whole.
fn content(path: &std::path::Path, prefix_len: Option<u64>) -> std::io::Result<Content> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut hasher, mut hashed, mut prefix) = (Sha256::new(), 0u64, None);
    // Bytes after the last newline so far: hashed once a newline (or the end of a gzip file)
    // shows they belong to the audited part.
    let mut pending: Vec<u8> = Vec::new();
    let (mut lines, mut gzip, mut first) = (0u64, false, true);
    let feed = |bytes: &[u8], hasher: &mut Sha256, hashed: &mut u64, prefix: &mut Option<String>| {
        let at = prefix_len.filter(|&n| n >= *hashed && n < *hashed + bytes.len() as u64);
        match at {
            Some(n) if prefix.is_none() => {
                let (head, tail) = bytes.split_at((n - *hashed) as usize);
                hasher.update(head);
                *prefix = Some(hex(&hasher.clone().finalize()));
                hasher.update(tail);
            }
            _ => hasher.update(bytes),
        }
        *hashed += bytes.len() as u64;
    };
    loop {
        let n = match std::io::Read::read(&mut file, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        if first {
            gzip = chunk.starts_with(&[0x1f, 0x8b]);
            first = false;
        }
        match memchr::memrchr(b'\n', chunk) {
            Some(i) if !gzip => {
                lines += memchr::memchr_iter(b'\n', chunk).count() as u64;
                feed(&pending, &mut hasher, &mut hashed, &mut prefix);
                feed(&chunk[..=i], &mut hasher, &mut hashed, &mut prefix);
                pending.clear();
                pending.extend_from_slice(&chunk[i + 1..]);
            }
            _ if gzip => feed(chunk, &mut hasher, &mut hashed, &mut prefix),
            _ => pending.extend_from_slice(chunk),
        }
    }
    // A prefix as long as the whole audited part is not a shorter prefix.
    let prefix = prefix.filter(|_| prefix_len.is_some_and(|n| n < hashed));
    Ok(Content {
        size: hashed,
        sha256: hex(&hasher.finalize()),
        prefix,
        lines: (!gzip).then_some(lines),
        partial: !pending.is_empty(),
    })
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
