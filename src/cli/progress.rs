//! The progress bar on standard error: shown only on a terminal and without `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use leakhound::ingest::Progress;

pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub fn new(visible: bool) -> Self {
        let bar = visible.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {bytes}/{total_bytes}") {
                bar.set_style(style.progress_chars("=> "));
            }
            // The spinner moves while one large file is read, parsed and checked.
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Self { bar }
    }
}

impl Progress for Bar {
    fn start(&self, total_bytes: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total_bytes);
        }
    }

    fn file(&self, name: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("reading {name}"));
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    fn stage(&self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_message(what.to_string());
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    /// A run that ends early (an error) does not leave a bar behind.
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
