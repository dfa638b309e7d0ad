//! Outputs: each exporter turns results into bytes; [`OutputDir::commit`] is the one place that
//! writes them, atomically.

pub mod findings;
pub mod flagged;
pub mod incidents;
pub mod parquet;
pub mod rejects;
pub mod summary;

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One output file: its name inside the output directory and its contents.
pub struct Output {
    pub name: &'static str,
    pub bytes: Vec<u8>,
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
            let target = self.dir.join(output.name);
            let file_name = target.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let tmp = target.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
            let written = std::fs::File::create(&tmp).and_then(|mut f| {
                f.write_all(&output.bytes)?;
                f.sync_all()
            });
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
        out.commit(&[
            Output { name: "x.txt", bytes: b"one".to_vec() },
            Output { name: "y.txt", bytes: b"two".to_vec() },
        ])
        .unwrap();
        let mut names: Vec<_> =
            std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, vec!["x.txt", "y.txt"]);
        assert_eq!(std::fs::read(out.path().join("y.txt")).unwrap(), b"two");
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
