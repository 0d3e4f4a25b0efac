//! Ctrl-C. A first Ctrl-C ends the process at once unless work that can stop at a safe point
//! is running (a [`SafeStop`] is alive): then it only raises a flag that the work polls, and
//! the work stops cleanly (the key-by-key mover between windows, so no slot stays open; the
//! atomic mover cancels its running jobs with `CLUSTER CANCELSLOTMIGRATIONS`). A second
//! Ctrl-C ends the process anyway. The binary turns either into exit code 130.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static SAFE_STOPS: AtomicUsize = AtomicUsize::new(0);

/// Whether Ctrl-C was pressed.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Records a Ctrl-C; returns whether some running work will stop by itself.
pub fn request() -> bool {
    REQUESTED.store(true, Ordering::Relaxed);
    SAFE_STOPS.load(Ordering::Relaxed) > 0
}

/// While alive, a Ctrl-C waits for the running work to stop at its next safe point.
#[derive(Debug)]
pub struct SafeStop(());

impl SafeStop {
    /// Declares that the work about to run polls [`requested`].
    pub fn begin() -> Self {
        SAFE_STOPS.fetch_add(1, Ordering::Relaxed);
        Self(())
    }
}

impl Drop for SafeStop {
    fn drop(&mut self) {
        SAFE_STOPS.fetch_sub(1, Ordering::Relaxed);
    }
}
