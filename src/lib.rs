//! `kubectl redis-cluster`: runs a Redis Cluster without manual steps.
//!
//! Every command is observe → plan → confirm → apply → verify:
//! - [`topology`]: the pure model (slots, `CLUSTER NODES`, views, health);
//! - [`plan`]: pure planners (slot split, replica placement, moves);
//! - [`redis`]: effects on Redis nodes through a [`redis::Connector`];
//! - [`k8s`]: the Kubernetes client, pod discovery, port-forward, StatefulSet steps;
//! - [`cmd`]: one module per subcommand wiring the above;
//! - [`output`]: tables, colours, JSON, progress and prompts.

pub mod cli;
pub mod cmd;
pub mod exit_codes;
pub mod interrupt;
pub mod k8s;
pub mod output;
pub mod plan;
pub mod redis;
pub mod settings;
pub mod topology;

#[cfg(test)]
mod layering;

use cli::{Cli, Command};
use cmd::{Ctx, Outcome};
use settings::{Environment, Settings};

/// Runs a parsed command line.
pub async fn run(cli: Cli, env: &Environment) -> anyhow::Result<Outcome> {
    let settings = Settings::new(&cli.global, env)?;
    match cli.command {
        Command::Init(opts) if !opts.nodes.is_empty() => {
            let ctx = Ctx::direct(settings, vec![])?;
            opts.exec(&ctx).await
        }
        Command::Init(opts) => opts.exec(&Ctx::connect(settings).await?).await,
        Command::Status(opts) => opts.exec(&Ctx::connect(settings).await?).await,
        Command::Cli(opts) => opts.exec(&Ctx::connect(settings).await?).await,
        Command::Deploy(opts) => opts.exec(settings).await,
        Command::Destroy(opts) => opts.exec(settings).await,
        Command::Completion(opts) => opts.exec(&mut <Cli as clap::CommandFactory>::command()),
        Command::Rebalance(opts) => opts.exec(&Ctx::connect(settings).await?).await,
        Command::Reshard(opts) => opts.exec(&Ctx::connect(settings).await?).await,
        Command::AddNode(opts) => opts.exec(&Ctx::connect(settings).await?).await,
        Command::DelNode(opts) => opts.exec(&Ctx::connect(settings).await?).await,
        Command::Failover(opts) => opts.exec(&Ctx::connect(settings).await?).await,
        Command::Fix(opts) => opts.exec(&Ctx::connect(settings).await?).await,
        Command::Scale(opts) => opts.exec(&Ctx::connect(settings).await?).await,
    }
}
