//! `redis-cluster-bench`: kubectl-redis_cluster against `redis-cli --cluster` on identical fresh
//! clusters of real redis-server nodes on loopback. Run it through `make bench` (bench/run.sh
//! builds both binaries, gives it a work dir and kills any node left behind); see bench/README.md.

mod ceiling;
mod data;
mod measure;
mod node;
mod scenario;
mod topo;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use crate::scenario::{Bench, Scenario};

/// Benchmarks kubectl-redis_cluster against redis-cli --cluster.
#[derive(Debug, Parser)]
struct Args {
    /// Scenarios to run, in order (default: all). The ceiling is always measured first.
    #[arg(value_enum)]
    scenarios: Vec<Scenario>,
    /// The kubectl-redis_cluster binary under test.
    #[arg(long, env = "PLUGIN")]
    plugin: PathBuf,
    /// An empty dir for nodes and tool logs (run.sh makes one and removes it).
    #[arg(long)]
    work: PathBuf,
    /// Keys loaded for rebalance and drain.
    #[arg(long, env = "KEYS", default_value_t = 200_000)]
    keys: u64,
    /// Runs per tool (each on a fresh cluster).
    #[arg(long, env = "RUNS", default_value_t = 3)]
    runs: usize,
    /// Number of big values (bigkeys).
    #[arg(long, env = "BIG_KEYS", default_value_t = 300)]
    big_keys: u64,
    /// Bytes per big value (bigkeys).
    #[arg(long, env = "BIG_VALUE_BYTES", default_value_t = 1 << 20)]
    big_value_bytes: usize,
    /// Keys in the one slot the ceiling moves.
    #[arg(long, env = "CEILING_KEYS", default_value_t = 200_000)]
    ceiling_keys: u64,
}

/// Runs the bench; prints the error chain on one line if it fails.
fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Measures the ceiling, then runs each scenario asked for.
fn run(args: Args) -> Result<()> {
    let scenarios = if args.scenarios.is_empty() {
        vec![
            Scenario::Ceiling,
            Scenario::Rebalance,
            Scenario::Drain,
            Scenario::Bigkeys,
        ]
    } else {
        args.scenarios
    };
    let bench = Bench {
        plugin: args.plugin,
        work: args.work,
        runs: args.runs.max(1),
        keys: args.keys,
        big_keys: args.big_keys,
        big_value_bytes: args.big_value_bytes,
        ceiling_keys: args.ceiling_keys,
        rt: tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("tokio runtime")?,
    };
    let ceiling = scenario::measure_ceiling(&bench, scenarios.contains(&Scenario::Ceiling))?;
    for s in scenarios.into_iter().filter(|s| *s != Scenario::Ceiling) {
        println!();
        s.run(&bench, ceiling)?;
    }
    Ok(())
}
