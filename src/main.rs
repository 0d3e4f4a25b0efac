//! The `kubectl-redis_cluster` binary: parse, run, print one error, exit with a documented code.

use std::process::ExitCode;

use clap::Parser;
use kubectl_redis_cluster::cli::Cli;
use kubectl_redis_cluster::cmd::Outcome;
use kubectl_redis_cluster::exit_codes;
use kubectl_redis_cluster::settings::Environment;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Environment::detect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::from(e)),
    };
    match runtime.block_on(kubectl_redis_cluster::run(cli, &env)) {
        Ok(Outcome::Success) => ExitCode::from(exit_codes::SUCCESS),
        Ok(Outcome::Unhealthy) => ExitCode::from(exit_codes::UNHEALTHY),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(exit_codes::SUCCESS),
        Err(e) => fail(&e),
    }
}

/// Prints the error chain on one line per cause and returns the error exit code.
fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(exit_codes::ERROR)
}

/// A reader that closed our stdout (`| head`) is not a failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
