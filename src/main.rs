//! The `kubectl-redis_cluster` binary: parse, run, print one error, exit with a documented code.

use std::process::ExitCode;

use clap::Parser;
use kubectl_redis_cluster::cli::Cli;
use kubectl_redis_cluster::cmd::Outcome;
use kubectl_redis_cluster::cmd::Refusal;
use kubectl_redis_cluster::settings::Environment;
use kubectl_redis_cluster::{exit_codes, interrupt};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Environment::detect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::from(e)),
    };
    runtime.spawn(watch_ctrl_c());
    match runtime.block_on(kubectl_redis_cluster::run(cli, &env)) {
        Ok(Outcome::Success) => ExitCode::from(exit_codes::SUCCESS),
        Ok(Outcome::Unhealthy) => ExitCode::from(exit_codes::UNHEALTHY),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(exit_codes::SUCCESS),
        Err(e) if interrupt::requested() => {
            // The work stopped itself after Ctrl-C; its error says where.
            eprintln!("error: {e:#}");
            ExitCode::from(exit_codes::INTERRUPTED)
        }
        Err(e) => match Refusal::find(&e) {
            Some(refusal) => {
                eprintln!("error: {e:#}");
                eprintln!("hint: {}", refusal.hint());
                ExitCode::from(refusal.exit_code())
            }
            None => fail(&e),
        },
    }
}

/// Ctrl-C ends the process at once with exit code 130 (as safe as a kill: every command
/// resumes), unless work that stops at a safe point is running (slots moving): then the first
/// one only asks it to stop, and a second one ends the process. It runs on its own task, so a
/// prompt blocked on the terminal does not hold it up.
async fn watch_ctrl_c() {
    let mut pressed = 0;
    while tokio::signal::ctrl_c().await.is_ok() {
        pressed += 1;
        if pressed == 1 && interrupt::request() {
            eprintln!(
                "interrupted: stopping at the next safe point (Ctrl-C again to quit at once)"
            );
            continue;
        }
        eprintln!("error: interrupted (Ctrl-C); run the same command again to finish");
        std::process::exit(i32::from(exit_codes::INTERRUPTED));
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
