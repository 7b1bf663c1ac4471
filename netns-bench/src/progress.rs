//! A progress bar on standard error that appears only for long runs and only on a terminal.
//!
//! The bar is created hidden; once a run has lasted [`SHOW_AFTER`] it is drawn, provided
//! standard error is a terminal. Output piped to a file or another program never sees it.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run goes on before its bar appears.
pub const SHOW_AFTER: Duration = Duration::from_secs(2);

/// Progress of one counted run.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    on_terminal: bool,
    shown: bool,
}

impl Progress {
    /// A bar for `total` steps, labelled `label`.
    pub fn new(label: &str, total: u64) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template(
            "{prefix:>16} [{bar:40}] {pos:>7}/{len:7} {per_sec:>12} eta {eta}",
        )
        .expect("the progress template is valid")
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        Progress {
            bar,
            started: Instant::now(),
            on_terminal: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    /// Records that `done` steps are complete.
    pub fn set(&mut self, done: u64) {
        self.bar.set_position(done);
        if !self.shown && self.on_terminal && self.started.elapsed() >= SHOW_AFTER {
            self.shown = true;
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// Whether the bar is being drawn.
    pub fn is_visible(&self) -> bool {
        self.shown
    }

    /// Removes the bar from the terminal.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_runs_never_show_a_bar() {
        let mut p = Progress::new("test", 10);
        for i in 0..10 {
            p.set(i);
        }
        assert!(!p.is_visible());
        p.finish();
    }
}
