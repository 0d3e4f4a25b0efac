//! Fault injection for tests: with `KUBECTL_REDIS_CLUSTER_FAILPOINT=NAME` in the environment,
//! the process ends at the point named NAME the way a SIGKILL would end it (no cleanup: the
//! lock and the journal stay; exit code 137). It stops a run exactly between two steps, which
//! a timed kill only hits by chance. Inert unless the variable names the point.

/// The environment variable naming the point.
pub const VARIABLE: &str = "KUBECTL_REDIS_CLUSTER_FAILPOINT";

/// Ends the process here if [`VARIABLE`] names `point`.
pub fn hit(point: &str) {
    if std::env::var(VARIABLE).is_ok_and(|v| v == point) {
        eprintln!("failpoint {point}: ending the process as a kill would");
        std::process::exit(137);
    }
}
