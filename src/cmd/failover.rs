//! `failover`: promote a replica to master of its shard (a manual, coordinated failover;
//! FORCE or TAKEOVER only when asked).

use anyhow::Context as _;
use clap::Args;

use super::context::{Ctx, Outcome};
use super::planned::{Shown, apply_membership, present};
use super::report::NodeChange;
use super::target::{node_name, resolve_node};
use crate::plan::steps::{FailoverMode, Step};
use crate::redis::observe::observe_cluster;
use crate::redis::steps::Roster;
use crate::topology::lookup::endpoint_of;

/// Options of `failover`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster failover redis-cluster-3\n  kubectl-redis_cluster --seed 127.0.0.1:7000 failover 127.0.0.1:7003 --yes"
)]
pub struct FailoverOpts {
    /// The replica to promote.
    #[arg(value_name = "REPLICA")]
    pub node: String,

    /// Promote even if the master is unreachable (CLUSTER FAILOVER FORCE).
    #[arg(long, conflicts_with = "takeover")]
    pub force: bool,

    /// Promote without the agreement of the other masters (CLUSTER FAILOVER TAKEOVER).
    #[arg(long)]
    pub takeover: bool,
}

impl FailoverOpts {
    /// Runs `failover`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let view = observe_cluster(&ctx.pool, &ctx.seeds)
            .await
            .context("cannot read the cluster")?;
        let line = resolve_node(ctx, &view, &self.node)?;
        let report = |result, steps| NodeChange {
            result,
            node: line.addr.endpoint().to_string(),
            id: line.id.to_string(),
            role: Some("master"),
            steps,
        };
        if line.flags.master {
            // A failover an interrupted run started may not have reached every node yet: the
            // job is done when they all agree.
            if !ctx.settings.dry_run {
                super::moving::wait_healthy(ctx).await?;
            }
            ctx.reporter.done(format!(
                "{} is already a master; nothing to do",
                line.addr.endpoint()
            ));
            ctx.print_json("failover", &report("nothing_to_do", Vec::new()))?;
            return Ok(Outcome::Success);
        }
        let id = line.id.clone();
        let endpoint = endpoint_of(&view, &id).context("the replica has no address")?;
        let master = line
            .master_id
            .clone()
            .context("the replica names no master")?;
        let mode = match (self.force, self.takeover) {
            (true, _) => Some(FailoverMode::Force),
            (_, true) => Some(FailoverMode::Takeover),
            _ => None,
        };
        let (name, master_name) = (node_name(ctx, &view, &id), node_name(ctx, &view, &master));
        let steps = vec![Step::Promote {
            node: name.clone(),
            replaces: master_name,
            mode,
        }];
        let shown = Shown {
            title: format!("Plan: promote {endpoint} ({}) to master", id.short()),
            statefulset: None,
            question: format!("Fail over to {endpoint}?"),
            action: "fail over",
            destructive: true,
        };
        if !present(ctx, &steps, &shown)? {
            ctx.print_json("failover", &report("planned", steps))?;
            return Ok(Outcome::Success);
        }
        let mut roster = Roster::new(Vec::new(), None);
        roster.add(name, endpoint.clone(), Some(id.clone()));
        apply_membership(ctx, &roster, &steps, None).await?;
        super::moving::wait_healthy(ctx).await?;
        ctx.reporter.done(format!("{endpoint} is now a master"));
        ctx.print_json("failover", &report("promoted", steps))?;
        Ok(Outcome::Success)
    }
}
