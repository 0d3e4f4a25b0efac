//! Process exit codes, as documented in `--help` and the README (ripgrep's scheme).

/// Success; for `status`, a healthy cluster.
pub const SUCCESS: u8 = 0;
/// The command ran, but the cluster is unhealthy: `status` found problems, or a change was
/// made and the cluster did not converge within `--timeout` (`Refusal::NotConverged`).
pub const UNHEALTHY: u8 = 1;
/// An error: bad input, a refused plan, an unreachable node or API server, a declined prompt.
pub const ERROR: u8 = 2;
/// Ctrl-C (128 + SIGINT, as shells report it): the command stopped, at a safe point where it
/// could; running the same command again finishes the job.
pub const INTERRUPTED: u8 = 130;

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes in the README's "Exit codes" table, in order.
    fn documented() -> Vec<u8> {
        let readme = include_str!("../README.md");
        let table = readme
            .split("## Exit codes")
            .nth(1)
            .expect("README has an Exit codes section");
        table
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                l.trim_start_matches('|')
                    .split('|')
                    .next()?
                    .trim()
                    .parse()
                    .ok()
            })
            .collect()
    }

    #[test]
    fn the_readme_documents_exactly_these_codes() {
        assert_eq!(documented(), [SUCCESS, UNHEALTHY, ERROR, INTERRUPTED]);
    }
}
