//! Progress of long work (slot moves): a live bar with slots, keys, rate and ETA on a
//! terminal (indicatif), a plain line every few seconds otherwise.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::redis::mover::MoveCounters;

/// How often the plain (non-terminal) reporter prints a line.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Shows the mover's counters until dropped.
pub struct MoveProgress {
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
}

impl MoveProgress {
    /// Starts showing progress of `total_slots` slots on stderr.
    pub fn start(counters: Arc<MoveCounters>, total_slots: u64, terminal: bool) -> Self {
        let started = Instant::now();
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(total_slots);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} slots  {msg}  ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let tick = if shown.is_some() {
                Duration::from_millis(100)
            } else {
                PLAIN_EVERY
            };
            loop {
                tokio::time::sleep(tick).await;
                let slots = counters.slots.load(Ordering::Relaxed);
                let keys = counters.keys.load(Ordering::Relaxed);
                let rate = keys as f64 / started.elapsed().as_secs_f64().max(0.001);
                match &shown {
                    Some(bar) => {
                        bar.set_position(slots);
                        bar.set_message(format!("{keys} keys, {rate:.0} keys/s"));
                    }
                    None => eprintln!(
                        "  … {slots}/{total_slots} slots, {keys} keys moved ({rate:.0} keys/s)"
                    ),
                }
            }
        });
        Self { task, bar }
    }
}

impl Drop for MoveProgress {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
