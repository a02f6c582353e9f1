//! A progress bar on stderr for long runs: drawn only when stderr is a terminal, redrawn
//! when the virtual time crosses another percent. It never touches the run itself.

use crate::world::Progress;
use std::io::{IsTerminal, Write};

/// Draws [`Progress`] snapshots.
#[derive(Debug)]
pub struct ProgressBar {
    enabled: bool,
    last_percent: Option<u64>,
}

impl ProgressBar {
    /// A bar that draws if `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> Self {
        ProgressBar { enabled: wanted && std::io::stderr().is_terminal(), last_percent: None }
    }

    /// The line for a snapshot.
    pub fn line(p: &Progress) -> String {
        let percent = (p.now_ms * 100).checked_div(p.total_ms).unwrap_or(100).min(100);
        let filled = (percent / 5) as usize;
        format!(
            "[{}{}] {:>3}%  {:>7.1} s virtual  {:>11} events  {:>5} nodes up  {:>6} links",
            "#".repeat(filled),
            " ".repeat(20 - filled),
            percent,
            p.now_ms as f64 / 1e3,
            p.events,
            p.live_nodes,
            p.linked_pairs
        )
    }

    /// Show a snapshot.
    pub fn update(&mut self, p: &Progress) {
        if !self.enabled {
            return;
        }
        let percent = (p.now_ms * 100).checked_div(p.total_ms).unwrap_or(100);
        if self.last_percent == Some(percent) {
            return;
        }
        self.last_percent = Some(percent);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{}", Self::line(p));
        let _ = err.flush();
    }

    /// End the bar's line.
    pub fn finish(&mut self) {
        if self.enabled && self.last_percent.is_some() {
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_percent_and_counts() {
        let p = Progress { now_ms: 5_000, total_ms: 10_000, events: 42, live_nodes: 7, linked_pairs: 9 };
        let l = ProgressBar::line(&p);
        assert!(l.contains(" 50%") && l.contains("42 events") && l.starts_with("[##########          ]"));
    }
}
