//! Outputs: each exporter turns results into bytes; [`OutputDir::commit`] is the one place that
//! writes them, atomically.

pub mod charts;
pub mod findings;
pub mod flagged;
pub mod html;
pub mod incidents;
pub mod markdown;
pub mod parquet;
pub mod rejects;
pub mod summary;
pub mod tables;

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One output file: its name inside the output directory and its contents.
pub struct Output {
    pub name: String,
    pub content: Content,
}

/// What an output holds.
pub enum Content {
    Bytes(Vec<u8>),
    /// Already written, to [`OutputDir::staging_path`] of the output's name (too large to hold
    /// in memory): committing only renames it.
    Staged,
}

impl Output {
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self { name: name.into(), content: Content::Bytes(bytes) }
    }
}

/// The output directory of a run.
pub struct OutputDir {
    dir: PathBuf,
}

impl OutputDir {
    /// Creates the directory (and parents) if needed.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Write { path: dir.to_path_buf(), source })?;
        Ok(Self { dir: dir.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes every output to a temporary file in the directory, flushes them to disk, then
    /// renames them into place. Until the renames nothing visible changes; if any write fails,
    /// the temporary files are removed and nothing is renamed.
    pub fn commit(&self, outputs: &[Output]) -> Result<()> {
        let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
        let cleanup = |staged: &[(PathBuf, PathBuf)]| {
            for (tmp, _) in staged {
                let _ = std::fs::remove_file(tmp);
            }
        };
        for output in outputs {
            let target = self.dir.join(&output.name);
            if let Some(parent) = target.parent() {
                if let Err(source) = std::fs::create_dir_all(parent) {
                    cleanup(&staged);
                    return Err(Error::Write { path: parent.to_path_buf(), source });
                }
            }
            let tmp = self.staging_path(&output.name);
            let written = match &output.content {
                Content::Bytes(bytes) => std::fs::File::create(&tmp).and_then(|mut f| {
                    f.write_all(bytes)?;
                    f.sync_all()
                }),
                Content::Staged => std::fs::File::open(&tmp).and_then(|f| f.sync_all()),
            };
            if let Err(source) = written {
                let _ = std::fs::remove_file(&tmp);
                cleanup(&staged);
                return Err(Error::Write { path: target, source });
            }
            staged.push((tmp, target));
        }
        for (i, (tmp, target)) in staged.iter().enumerate() {
            if let Err(source) = std::fs::rename(tmp, target) {
                cleanup(&staged[i..]);
                return Err(Error::Write { path: target.clone(), source });
            }
        }
        // Make the renames themselves durable.
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Writes an output too large to hold in memory straight to its staging file (through a
    /// buffer), to be renamed into place by [`OutputDir::commit`]. On failure the file is
    /// removed.
    pub fn stage(&self, name: &str, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<Output> {
        let tmp = self.staging_path(name);
        let written = std::fs::File::create(&tmp).and_then(|file| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            write(&mut out)?;
            out.flush()
        });
        match written {
            Ok(()) => Ok(Output { name: name.to_string(), content: Content::Staged }),
            Err(source) => {
                let _ = std::fs::remove_file(&tmp);
                Err(Error::Write { path: self.dir.join(name), source })
            }
        }
    }

    /// Removes the staging files of `names` (outputs staged by a run that then failed).
    pub fn discard_staged(&self, names: &[&str]) {
        for name in names {
            let _ = std::fs::remove_file(self.staging_path(name));
        }
    }

    /// Where an output is written before [`OutputDir::commit`] renames it into place: a hidden
    /// file beside it.
    pub fn staging_path(&self, name: &str) -> PathBuf {
        let target = self.dir.join(name);
        let file_name = target.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        target.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()))
    }

    /// Removes files of a subdirectory that this run did not write (charts of a previous run).
    pub fn remove_stale(&self, subdir: &str, outputs: &[Output]) {
        let Ok(entries) = std::fs::read_dir(self.dir.join(subdir)) else { return };
        for entry in entries.flatten() {
            let name = format!("{subdir}/{}", entry.file_name().to_string_lossy());
            if !outputs.iter().any(|o| o.name == name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// How reports name an incident's key: `prod-bot (…d019)` or the credential.
pub fn key_label(i: &crate::detect::incident::Incident) -> String {
    crate::detect::key_name(&i.credential, i.label.as_deref(), i.hint.as_deref())
}

/// What kind of data an API endpoint exposes, from its path (Freshchat-style resources).
pub fn exposure(endpoint: &str) -> &'static str {
    let segments: Vec<&str> = endpoint.split('/').filter(|s| !s.is_empty() && *s != "{id}").collect();
    let last = segments.last().copied().unwrap_or("");
    match last {
        _ if segments.iter().any(|s| s.starts_with("outbound")) => "outbound messages sent in your name",
        "messages" => "messages",
        "conversations" => "conversations",
        "users" => "users (contact details)",
        "agents" => "agents (staff)",
        "groups" | "channels" => "configuration",
        "reports" | "raw" => "reports (bulk data)",
        _ if segments.contains(&"users") => "users (contact details)",
        _ if segments.contains(&"conversations") => "conversations",
        _ => "other",
    }
}

/// Quotes a CSV field when it needs it (RFC 4180).
pub fn csv_field(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\"")).into()
    } else {
        value.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_writes_all_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::create(&dir.path().join("a/b")).unwrap();
        out.commit(&[Output::new("x.txt", b"one".to_vec()), Output::new("y.txt", b"two".to_vec())]).unwrap();
        let mut names: Vec<_> =
            std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, vec!["x.txt", "y.txt"]);
        assert_eq!(std::fs::read(out.path().join("y.txt")).unwrap(), b"two");
    }

    /// An output written straight to its staging file is renamed into place by the commit; one
    /// whose writing fails leaves no file and names the output; discarded ones are gone.
    #[test]
    fn staged_outputs_are_committed_or_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::create(dir.path()).unwrap();
        let names = || {
            let mut names: Vec<_> =
                std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            names.sort();
            names
        };
        let failed = out.stage("bad.csv", |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        match failed {
            Err(Error::Write { path, .. }) => assert_eq!(path, out.path().join("bad.csv")),
            other => panic!("expected a write error, got {:?}", other.map(|o| o.name)),
        }
        assert!(names().is_empty(), "a failed output leaves no file: {:?}", names());
        let staged = out.stage("big.csv", |w| w.write_all(b"rows")).unwrap();
        out.stage("left.csv", |w| w.write_all(b"x")).unwrap();
        out.discard_staged(&["left.csv"]);
        out.commit(&[staged, Output::new("small.txt", b"s".to_vec())]).unwrap();
        assert_eq!(names(), ["big.csv", "small.txt"]);
        assert_eq!(std::fs::read(out.path().join("big.csv")).unwrap(), b"rows");
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn exposure_by_endpoint() {
        assert_eq!(exposure("/v2/outbound-messages/whatsapp"), "outbound messages sent in your name");
        assert_eq!(exposure("/v2/users/{id}"), "users (contact details)");
        assert_eq!(exposure("/v2/conversations/{id}/messages"), "messages");
        assert_eq!(exposure("/v2/conversations"), "conversations");
        assert_eq!(exposure("/health"), "other");
        assert_eq!(exposure(""), "other");
    }
}
