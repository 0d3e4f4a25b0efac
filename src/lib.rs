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
pub mod failpoint;
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

/// Runs a parsed command line. Commands that change the cluster run under its lock
/// ([`cmd::lock`]).
pub async fn run(cli: Cli, env: &Environment) -> anyhow::Result<Outcome> {
    let settings = Settings::new(&cli.global, env)?;
    match cli.command {
        Command::Init(opts) if !opts.nodes.is_empty() => {
            let ctx = Ctx::direct(settings, vec![])?;
            opts.exec(&ctx).await
        }
        Command::Init(opts) => locked(settings, &[], async |ctx| opts.exec(ctx).await).await,
        Command::Status(opts) => opts.exec(&Ctx::connect(settings).await?).await,
        Command::Cli(opts) => opts.exec(&Ctx::connect(settings).await?).await,
        Command::Proxy(opts) => opts.exec(&Ctx::connect(settings).await?).await,
        Command::Deploy(opts) => opts.exec(settings).await,
        Command::Destroy(opts) => opts.exec(settings).await,
        Command::Completion(opts) => opts.exec(&mut <Cli as clap::CommandFactory>::command()),
        Command::Unlock(opts) => opts.exec(settings).await,
        Command::Rebalance(opts) => locked(settings, &[], async |ctx| opts.exec(ctx).await).await,
        Command::Reshard(opts) => locked(settings, &[], async |ctx| opts.exec(ctx).await).await,
        Command::Apply(opts) => {
            let needs = match &opts.plan.what {
                cmd::apply::Saved::Scale { delete_pvcs, .. } => cmd::preflight::scale(*delete_pvcs),
                cmd::apply::Saved::Moves(_) => Vec::new(),
            };
            locked(settings, &needs, async |ctx| opts.exec(ctx).await).await
        }
        Command::AddNode(opts) => locked(settings, &[], async |ctx| opts.exec(ctx).await).await,
        Command::DelNode(opts) => locked(settings, &[], async |ctx| opts.exec(ctx).await).await,
        Command::Failover(opts) => locked(settings, &[], async |ctx| opts.exec(ctx).await).await,
        Command::Fix(opts) => locked(settings, &[], async |ctx| opts.exec(ctx).await).await,
        Command::RebalanceReplicas(opts) => {
            locked(settings, &[], async |ctx| opts.exec(ctx).await).await
        }
        Command::RebalancePrimaries(opts) => {
            locked(settings, &[], async |ctx| opts.exec(ctx).await).await
        }
        Command::DrainPrep(opts) => locked(settings, &[], async |ctx| opts.exec(ctx).await).await,
        Command::RollingRestart(opts) => {
            let needs = cmd::preflight::rollout();
            locked(settings, &needs, async |ctx| opts.exec(ctx).await).await
        }
        Command::Upgrade(opts) => {
            let needs = cmd::preflight::rollout();
            locked(settings, &needs, async |ctx| opts.exec(ctx).await).await
        }
        Command::AnnounceHostnames(opts) => {
            let needs = cmd::preflight::rollout();
            locked(settings, &needs, async |ctx| opts.exec(ctx).await).await
        }
        Command::Scale(opts) => {
            let needs = cmd::preflight::scale(opts.delete_pvcs);
            locked(settings, &needs, async |ctx| opts.exec(ctx).await).await
        }
    }
}

/// Connects, checks the rights the command needs (`needs` beyond every changing command's),
/// takes the cluster's lock, runs `command` and releases the lock however it ended.
async fn locked(
    settings: Settings,
    needs: &[k8s::access::Need],
    command: impl AsyncFnOnce(&Ctx) -> anyhow::Result<Outcome>,
) -> anyhow::Result<Outcome> {
    let mut ctx = Ctx::connect(settings).await?;
    ctx.preflight(needs).await?;
    let lock = ctx.lock(&cmd::lock::operation()).await?;
    failpoint::hit("lock-taken");
    let result = command(&ctx).await;
    if let Some(lock) = lock {
        lock.release(&ctx).await;
    }
    result
}
