//! `pod-harness`: gives every pod on a kwok node a real `redis-server` bound to the pod's IP, so a
//! kwok cluster behaves like a cluster of Redis pods (see `testground/README.md`). Also holds
//! smoke checks of kube-rs port-forward and exec through the API server.

mod check;
mod datadirs;
mod harness;
mod kwok;
mod podspec;
mod process;
mod redisconf;
mod supervisor;
#[cfg(test)]
mod testutil;
#[cfg(test)]
mod tls_tests;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Runs a real redis-server for every kwok pod (test ground)"
)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    cmd: Cmd,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Watch pods and run their redis-servers until SIGTERM/SIGINT.
    Run {
        /// State dir (data/ and harness/ go below it).
        #[arg(long, env = "TESTGROUND_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// redis-server binary.
        #[arg(long, default_value = "redis-server")]
        redis_server: PathBuf,
        /// valkey-server binary, for pods whose container runs `valkey-server` or a valkey
        /// image.
        #[arg(long)]
        valkey_server: Option<PathBuf>,
        /// Treat every node as a kwok node.
        #[arg(long)]
        all_nodes: bool,
    },
    /// PING a pod's redis through kube-rs `Api::<Pod>::portforward`.
    CheckPortforward {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// Pod port.
        #[arg(long, default_value_t = 6379)]
        port: u16,
        /// Redis password.
        #[arg(long, env = "REDIS_PASSWORD")]
        password: Option<String>,
    },
    /// Run a command in a pod through kube-rs `Api::<Pod>::exec` (default: `redis-cli ping`).
    CheckExec {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// Container name.
        #[arg(short, long)]
        container: Option<String>,
        /// Command and args.
        #[arg(last = true)]
        command: Vec<String>,
    },
}

/// Entry point: parse, run, report.
#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    if let Err(e) = dispatch(Cli::parse()).await {
        eprintln!("pod-harness: {e:#}");
        std::process::exit(1);
    }
}

/// Runs the chosen subcommand.
async fn dispatch(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Run {
            state_dir,
            redis_server,
            valkey_server,
            all_nodes,
        } => {
            let state_dir = match state_dir {
                Some(d) => d,
                None => PathBuf::from(std::env::var("HOME").context("HOME is not set")?)
                    .join(".cache/redis-cluster-testground"),
            };
            harness::run(harness::RunSettings {
                state_dir,
                redis_server,
                valkey_server,
                all_nodes,
            })
            .await
        }
        Cmd::CheckPortforward {
            namespace,
            pod,
            port,
            password,
        } => check::portforward(&namespace, &pod, port, password.as_deref()).await,
        Cmd::CheckExec {
            namespace,
            pod,
            container,
            command,
        } => {
            let command = if command.is_empty() {
                vec!["redis-cli".into(), "ping".into()]
            } else {
                command
            };
            check::exec(&namespace, &pod, container.as_deref(), &command).await
        }
    }
}
