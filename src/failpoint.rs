//! Fault injection for tests: with `KUBECTL_REDIS_CLUSTER_FAILPOINT=NAME` in the environment,
//! the process ends at the point named NAME the way a SIGKILL would end it (no cleanup: the
//! lock and the journal stay; exit code 137); with `NAME:stop` it stops itself there
//! (SIGSTOP) until continued, a run caught holding what it holds at that point; with
//! `NAME@N` it ends there the N-th time the run passes it (a point passed repeatedly, as
//! `slots-finalized` is once per window of moved slots). It stops a run exactly between two
//! steps, which a timed kill only hits by chance. Inert unless the variable names the point.

use std::sync::atomic::{AtomicU32, Ordering};

/// How many times this process passed the point `NAME@N` names.
static PASSED: AtomicU32 = AtomicU32::new(0);

/// The environment variable naming the point.
pub const VARIABLE: &str = "KUBECTL_REDIS_CLUSTER_FAILPOINT";

/// Ends (or stops) the process here if [`VARIABLE`] names `point`.
pub fn hit(point: &str) {
    let Ok(named) = std::env::var(VARIABLE) else {
        return;
    };
    if named == point {
        eprintln!("failpoint {point}: ending the process as a kill would");
        std::process::exit(137);
    }
    if let Some((name, nth)) = named.split_once('@')
        && name == point
        && nth.parse::<u32>().ok() == Some(PASSED.fetch_add(1, Ordering::Relaxed) + 1)
    {
        eprintln!("failpoint {point}@{nth}: ending the process as a kill would");
        std::process::exit(137);
    }
    if named.strip_suffix(":stop") == Some(point) {
        eprintln!("failpoint {point}: stopping until continued (SIGCONT)");
        // No libc binding in the tree for one raise(); kill(1) sends the same signal.
        let _ = std::process::Command::new("kill")
            .args(["-STOP", &std::process::id().to_string()])
            .status();
    }
}
