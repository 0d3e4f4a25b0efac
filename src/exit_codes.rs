//! Process exit codes, as documented in `--help` and the README (ripgrep's scheme).

/// Success; for `status`, a healthy cluster.
pub const SUCCESS: u8 = 0;
/// The command ran, but the cluster is unhealthy: `status` found problems, or a change was
/// made and the cluster did not converge within `--timeout` (`NotConverged`).
pub const UNHEALTHY: u8 = 1;
/// An error: bad input, a refused plan, an unreachable node or API server, a declined prompt.
pub const ERROR: u8 = 2;
/// Ctrl-C (128 + SIGINT, as shells report it): the command stopped, at a safe point where it
/// could; running the same command again finishes the job.
pub const INTERRUPTED: u8 = 130;
