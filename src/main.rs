//! The `kubectl-redis_cluster` binary: parse, run, print one error, exit with a documented code.

use std::process::ExitCode;

use clap::Parser;
use kubectl_redis_cluster::cli::Cli;
use kubectl_redis_cluster::cmd::Outcome;
use kubectl_redis_cluster::settings::Environment;
use kubectl_redis_cluster::{exit_codes, interrupt};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Environment::detect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::from(e)),
    };
    let result = runtime.block_on(until_interrupted(kubectl_redis_cluster::run(cli, &env)));
    match result {
        Some(Ok(Outcome::Success)) => ExitCode::from(exit_codes::SUCCESS),
        Some(Ok(Outcome::Unhealthy)) => ExitCode::from(exit_codes::UNHEALTHY),
        Some(Err(e)) if is_broken_pipe(&e) => ExitCode::from(exit_codes::SUCCESS),
        Some(Err(e)) if interrupt::requested() => interrupted(Some(Err(e))),
        Some(Err(e)) => fail(&e),
        None => interrupted(None),
    }
}

/// Runs `work` until it ends, or until Ctrl-C when nothing running can stop at a safe point
/// (`None`); with such work running, a first Ctrl-C lets it stop itself and a second one
/// does not wait.
async fn until_interrupted(
    work: impl Future<Output = anyhow::Result<Outcome>>,
) -> Option<anyhow::Result<Outcome>> {
    let mut work = std::pin::pin!(work);
    tokio::select! {
        done = &mut work => return Some(done),
        _ = tokio::signal::ctrl_c() => {}
    }
    if !interrupt::request() {
        return None;
    }
    eprintln!("interrupted: stopping at the next safe point (Ctrl-C again to quit at once)");
    tokio::select! {
        done = &mut work => Some(done),
        _ = tokio::signal::ctrl_c() => None,
    }
}

/// Exit code 130 after Ctrl-C, with what the stopped work said about where it stopped.
fn interrupted(result: Option<anyhow::Result<Outcome>>) -> ExitCode {
    match result {
        Some(Err(e)) => eprintln!("error: {e:#}"),
        _ => eprintln!("error: interrupted (Ctrl-C); run the same command again to finish"),
    }
    ExitCode::from(exit_codes::INTERRUPTED)
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
