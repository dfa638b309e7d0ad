//! The audit state directory: its lock, its manifest (`state.json`) and the retained event
//! history, loaded and committed so that a crash at any moment leaves the old or the new state.
//!
//! Layout of a state directory:
//! - `lock`: held with an OS file lock while an audit runs; the kernel drops it when the
//!   process ends, however it ends. The file itself stays (it holds the last holder's pid,
//!   for the message).
//! - `history-NNNNNN.parquet`: generation `NNNNNN` of the retained events (the columns the
//!   detectors read, endpoints instead of full paths).
//! - `state.json`: the manifest. It names the current history file and its checksum, lists
//!   the input files already audited, and summarises each credential.
//!
//! A commit writes the next history file (temporary name, fsync, rename), then the manifest
//! (temporary name, fsync, rename, fsync of the directory), and only then removes the previous
//! generation. The manifest's rename is the moment the new state becomes the state.

use crate::error::{Error, Result};
use crate::schema::col;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `state.json` says it is.
pub const FORMAT: &str = "leakhound-state";
/// The state format this leakhound reads and writes. Bump it when the manifest or the
/// history's columns change meaning; older leakhounds then refuse the state instead of
/// misreading it.
pub const VERSION: u32 = 1;

const MANIFEST: &str = "state.json";
const LOCK: &str = "lock";
const HISTORY_PREFIX: &str = "history-";

/// Columns of the events frame kept in the history (besides the GeoIP columns): what the
/// detectors read, and the endpoint for the inventory.
pub const HISTORY_COLUMNS: [&str; 10] = [
    col::TIMESTAMP,
    col::CREDENTIAL,
    col::CREDENTIAL_HINT,
    col::CREDENTIAL_LABEL,
    col::SOURCE_IP,
    col::PATH,
    col::STATUS,
    col::BYTES,
    col::USER_AGENT,
    col::COUNT,
];

/// An input file already audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessedFile {
    /// Absolute path when it was audited.
    pub path: String,
    pub size: u64,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Complete lines in the file: a file that grew is read again from the next line.
    pub lines: u64,
    /// Generation of the state that took it in.
    pub generation: u64,
}

/// What the state says about one credential (for people reading `state.json`; the detectors
/// read the history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialDigest {
    pub credential: String,
    pub label: Option<String>,
    pub hint: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub requests: i64,
    pub addresses: usize,
    pub networks: usize,
    pub asns: usize,
    pub countries: Vec<String>,
    /// Requests per hour of the week in UTC (0 = Monday 00:00), over the retained history.
    pub hour_of_week: Vec<i64>,
}

/// The retained history as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryFile {
    pub file: String,
    pub rows: u64,
    pub sha256: String,
}

/// `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// `leakhound 0.1.0`: which program wrote it.
    pub written_by: String,
    pub generation: u64,
    pub retain_days: u32,
    /// Latest event time in the state (RFC 3339); retention counts back from it.
    pub latest_event: Option<String>,
    pub history: Option<HistoryFile>,
    pub files: Vec<ProcessedFile>,
    pub credentials: Vec<CredentialDigest>,
}

/// A loaded state: the manifest and the retained events.
pub struct State {
    pub manifest: Manifest,
    /// Retained events, sorted by time; empty (no columns) for a new state.
    pub history: DataFrame,
}

/// An open, locked state directory. The lock is held until this value is dropped.
pub struct StateDir {
    dir: PathBuf,
    _lock: File,
}

impl StateDir {
    /// Creates the directory if needed and takes its lock, without waiting: a second audit on
    /// the same state fails at once with [`Error::StateLocked`].
    pub fn open(dir: &Path) -> Result<StateDir> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Write { path: dir.to_path_buf(), source })?;
        let path = dir.join(LOCK);
        let mut lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| Error::Write { path: path.clone(), source })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default().trim().to_string();
                return Err(Error::StateLocked { path: dir.to_path_buf(), holder });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(Error::Write { path, source }),
        }
        // Who holds it, for the message a second audit prints. Not needed for correctness.
        let _ = lock.set_len(0).and_then(|()| {
            writeln!(lock, "pid {} since {}", std::process::id(), chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"))
        });
        Ok(StateDir { dir: dir.to_path_buf(), _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Reads the state; a directory without a manifest is a new, empty state. Files a crashed
    /// commit left behind are removed.
    pub fn load(&self) -> Result<State> {
        let path = self.dir.join(MANIFEST);
        let state = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                State { manifest: Manifest::empty(), history: DataFrame::empty() }
            }
            Err(source) => return Err(Error::Read { path, source }),
            Ok(bytes) => read_manifest_and_history(&self.dir, &path, &bytes)?,
        };
        self.remove_leftovers(state.manifest.history.as_ref().map(|h| h.file.as_str()));
        Ok(state)
    }

    /// Writes a new generation of the state. Returns only once it is durable.
    pub fn commit(&self, manifest: &mut Manifest, history: &DataFrame) -> Result<()> {
        manifest.generation += 1;
        manifest.format = FORMAT.to_string();
        manifest.version = VERSION;
        manifest.written_by = format!("leakhound {}", env!("CARGO_PKG_VERSION"));
        let file = format!("{HISTORY_PREFIX}{:06}.parquet", manifest.generation);
        let bytes = crate::report::parquet::to_bytes(history)?;
        manifest.history =
            Some(HistoryFile { file: file.clone(), rows: history.height() as u64, sha256: sha256_hex(&bytes) });
        self.write_durably(&file, &bytes)?;
        failpoint("after-history");
        let mut json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        json.push(b'\n');
        self.write_durably(MANIFEST, &json)?;
        failpoint("after-manifest");
        self.remove_leftovers(Some(&file));
        Ok(())
    }

    /// Writes `name` through a temporary file, fsync and rename, then syncs the directory.
    fn write_durably(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let target = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let written = File::create(&tmp).and_then(|mut f| {
            let (head, tail) = bytes.split_at(bytes.len() / 2);
            f.write_all(head)?;
            // A crash here leaves half a file: only ever under its temporary name.
            failpoint(if name == MANIFEST { "writing-manifest" } else { "writing-history" });
            f.write_all(tail)?;
            f.sync_all()
        });
        let renamed = written.and_then(|()| std::fs::rename(&tmp, &target));
        if let Err(source) = renamed {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Write { path: target, source });
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::Write { path: self.dir.clone(), source })
    }

    /// Removes history generations other than `keep` and temporary files of crashed commits.
    /// Only called with the lock held, so nobody else is writing them.
    fn remove_leftovers(&self, keep: Option<&str>) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale_history = name.starts_with(HISTORY_PREFIX) && Some(name.as_str()) != keep;
            let temporary = name.starts_with('.') && name.contains(".tmp-");
            if stale_history || temporary {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Reads a state without taking its lock (for `inventory --state`, which only reads): an
/// audit committing meanwhile may remove the history the manifest named, so a miss is retried
/// once with the new manifest.
pub fn read_state(dir: &Path) -> Result<State> {
    let path = dir.join(MANIFEST);
    let mut attempt = 0;
    loop {
        let bytes = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::State {
                    path: dir.to_path_buf(),
                    message: "no audit state here (no state.json): run `leakhound audit --state` on it first".into(),
                })
            }
            Err(source) => return Err(Error::Read { path, source }),
            Ok(b) => b,
        };
        match read_manifest_and_history(dir, &path, &bytes) {
            Err(Error::Read { .. }) if attempt == 0 => attempt += 1,
            other => return other,
        }
    }
}

/// Parses a manifest, checks its format and version, and reads the history it names.
fn read_manifest_and_history(dir: &Path, path: &Path, bytes: &[u8]) -> Result<State> {
    let damaged = |message: String| Error::State { path: path.to_path_buf(), message };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        damaged(format!(
            "not readable as JSON ({e}). It was not written by leakhound, or was edited: restore it from a backup, or start over with an empty --state directory"
        ))
    })?;
    let format = value.get("format").and_then(|v| v.as_str()).unwrap_or("");
    let version = value.get("version").and_then(|v| v.as_u64());
    if format != FORMAT {
        return Err(damaged(format!(
            "not a leakhound state (format `{format}`, expected `{FORMAT}`): point --state at a directory of its own"
        )));
    }
    if version != Some(u64::from(VERSION)) {
        let by = value.get("written_by").and_then(|v| v.as_str()).unwrap_or("another leakhound");
        let version = version.map_or_else(|| "unknown".to_string(), |v| v.to_string());
        return Err(damaged(format!(
            "state format {version}, written by {by}; this leakhound ({}) reads format {VERSION} only. Run the leakhound that wrote it, or start over with an empty --state directory",
            env!("CARGO_PKG_VERSION")
        )));
    }
    let manifest: Manifest = serde_json::from_value(value).map_err(|e| {
        damaged(format!(
            "manifest does not match format {VERSION} ({e}): restore it from a backup, or start over with an empty --state directory"
        ))
    })?;
    let history = match &manifest.history {
        None => DataFrame::empty(),
        Some(h) => read_history(dir, path, h)?,
    };
    Ok(State { manifest, history })
}

/// Reads the history file a manifest names and checks it against the manifest.
fn read_history(dir: &Path, manifest: &Path, h: &HistoryFile) -> Result<DataFrame> {
    let path = dir.join(&h.file);
    let damaged = |message: String| Error::State { path: manifest.to_path_buf(), message };
    if h.file.contains(['/', '\\']) || !h.file.starts_with(HISTORY_PREFIX) {
        return Err(damaged(format!("names `{}` as its history, which is not a history file", h.file)));
    }
    let bytes = std::fs::read(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
    if sha256_hex(&bytes) != h.sha256 {
        return Err(damaged(format!(
            "its history {} does not match its checksum: the file was changed or damaged. Restore the state directory from a backup, or start over with an empty one",
            h.file
        )));
    }
    let frame = ParquetReader::new(std::io::Cursor::new(bytes))
        .finish()
        .map_err(|source| Error::Frame { context: "reading the audit history", source })?;
    if frame.height() as u64 != h.rows {
        return Err(damaged(format!("its history {} has {} rows, not {}", h.file, frame.height(), h.rows)));
    }
    Ok(frame)
}

impl Manifest {
    fn empty() -> Manifest {
        Manifest {
            format: FORMAT.to_string(),
            version: VERSION,
            written_by: format!("leakhound {}", env!("CARGO_PKG_VERSION")),
            generation: 0,
            retain_days: 0,
            latest_event: None,
            history: None,
            files: Vec::new(),
            credentials: Vec::new(),
        }
    }
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::text::hex(&Sha256::digest(bytes))
}

/// Crash injection for the crash-safety tests: when `LEAKHOUND_FAILPOINT` names this point
/// (`writing-history`, `after-history`, `writing-manifest`, `after-manifest`),
/// the process aborts here, as a `kill -9` would stop it (no destructors, no cleanup).
fn failpoint(name: &str) {
    if std::env::var_os("LEAKHOUND_FAILPOINT").is_some_and(|v| v == name) {
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: i64) -> DataFrame {
        df!(col::TIMESTAMP => (0..n).collect::<Vec<i64>>(), col::CREDENTIAL => vec!["k"; n as usize]).unwrap()
    }

    #[test]
    fn a_new_directory_is_an_empty_state_and_commits_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let mut s = state.load().unwrap();
        assert_eq!(s.manifest.generation, 0);
        assert_eq!(s.history.height(), 0);
        let history = frame(5);
        state.commit(&mut s.manifest, &history).unwrap();
        state.commit(&mut s.manifest, &frame(7)).unwrap();
        let again = state.load().unwrap();
        assert_eq!(again.manifest.generation, 2);
        assert_eq!(again.history.height(), 7);
        // Only the current generation is left.
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names.iter().filter(|n| n.starts_with(HISTORY_PREFIX)).count(), 1, "{names:?}");
    }

    #[test]
    fn a_second_open_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateDir::open(dir.path()).unwrap();
        let err = StateDir::open(dir.path()).err().unwrap();
        assert!(matches!(err, Error::StateLocked { .. }), "{err}");
        assert!(err.to_string().contains(&format!("pid {}", std::process::id())), "{err}");
        drop(first);
        StateDir::open(dir.path()).unwrap();
    }

    #[test]
    fn other_versions_and_damage_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let mut s = state.load().unwrap();
        state.commit(&mut s.manifest, &frame(3)).unwrap();
        let manifest = dir.path().join(MANIFEST);
        let good = std::fs::read_to_string(&manifest).unwrap();

        std::fs::write(&manifest, good.replace("\"version\": 1", "\"version\": 2")).unwrap();
        let e = state.load().err().unwrap().to_string();
        assert!(e.contains("state format 2") && e.contains("reads format 1 only"), "{e}");

        std::fs::write(&manifest, "{\"format\": \"something-else\"}").unwrap();
        assert!(state.load().err().unwrap().to_string().contains("not a leakhound state"));

        std::fs::write(&manifest, "{\"format\": \"leakh").unwrap();
        assert!(state.load().err().unwrap().to_string().contains("not readable as JSON"));

        std::fs::write(&manifest, &good).unwrap();
        let history = dir.path().join(format!("{HISTORY_PREFIX}000001.parquet"));
        let mut bytes = std::fs::read(&history).unwrap();
        let last = bytes.len() - 20;
        bytes[last] ^= 0xff;
        std::fs::write(&history, bytes).unwrap();
        assert!(state.load().err().unwrap().to_string().contains("does not match its checksum"));
    }

    #[test]
    fn leftovers_of_a_crashed_commit_are_removed_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let mut s = state.load().unwrap();
        state.commit(&mut s.manifest, &frame(3)).unwrap();
        std::fs::write(dir.path().join(format!("{HISTORY_PREFIX}000002.parquet")), b"half").unwrap();
        std::fs::write(dir.path().join(".state.json.tmp-1"), b"{").unwrap();
        let s = state.load().unwrap();
        assert_eq!(s.history.height(), 3);
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, vec!["history-000001.parquet", "lock", "state.json"]);
    }
}
