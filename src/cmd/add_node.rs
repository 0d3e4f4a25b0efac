//! `add-node`: bring an empty node into the cluster as a master (without slots until a
//! rebalance) or as a replica of the master that needs one most.

use anyhow::{Context as _, bail};
use clap::Args;

use super::context::{Ctx, Outcome};
use super::moving::wait_healthy;
use super::planned::{Shown, apply_membership, present};
use super::refusal::Refusal;
use super::report::NodeChange;
use super::target::{domain_at, domains, node_name, resolve_node};
use crate::plan::membership::choose_master;
use crate::plan::steps::Step;
use crate::redis::connector::resolve;
use crate::redis::converge::{blocks_moving, wait_for_cluster, wait_for_membership};
use crate::redis::observe::observe_node;
use crate::redis::steps::Roster;
use crate::topology::lookup::endpoint_of;
use crate::topology::{ClusterView, Endpoint, NodeId};

/// Options of `add-node`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl-redis_cluster --seed 127.0.0.1:7000 add-node 127.0.0.1:7006 --yes\n  kubectl-redis_cluster --seed 127.0.0.1:7000 add-node 127.0.0.1:7007 --replica --yes\n\nReplaces: redis-trib add-node [--slave] <new-ip>:6379 <existing-ip>:6379"
)]
pub struct AddNodeOpts {
    /// The empty node to add (HOST:PORT).
    #[arg(value_name = "NEW")]
    pub node: String,

    /// Make it a replica of this master.
    #[arg(long, value_name = "NODE", conflicts_with = "replica")]
    pub replica_of: Option<String>,

    /// Make it a replica of the master with the fewest replicas (another host when possible).
    #[arg(long)]
    pub replica: bool,
}

impl AddNodeOpts {
    /// Runs `add-node`: plans the steps (join, then follow a master), prints them, and
    /// applies them through the Redis executor.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let typed: Endpoint = self.node.parse()?;
        let new = resolve(&typed)
            .await
            .with_context(|| format!("cannot resolve {typed}"))?;
        // In Kubernetes mode the new node's pod is one of the seeds; until it joins, its own
        // cluster_state:fail is not the cluster's.
        let view = ready(ctx, Some(&new)).await?;
        let member = view.report_at(&new).map(|r| r.id().clone());
        let was_member = member.is_some();
        let new_id = match member {
            Some(id) => {
                ctx.reporter
                    .step(format!("{new} is already a member ({})", id.short()));
                id
            }
            None => lone_empty(ctx, &new).await?,
        };
        let wants_replica = self.replica || self.replica_of.is_some();
        let role = if wants_replica { "replica" } else { "master" };
        let new_name = joining_name(ctx, &new);
        let mut steps = Vec::new();
        if !was_member {
            steps.push(Step::Join {
                node: new_name.clone(),
            });
        }
        let mut master = None;
        if wants_replica {
            let me = view.report(&new_id).map(|r| r.myself());
            if me.is_some_and(|me| !me.slots.is_empty()) {
                bail!("{new} serves slots; it cannot become a replica");
            }
            let chosen = self.master_for(ctx, &view, &new, &new_id)?;
            if me.and_then(|me| me.master_id.as_ref()) != Some(&chosen) {
                steps.push(Step::Replicate {
                    node: new_name.clone(),
                    master: node_name(ctx, &view, &chosen),
                });
            }
            master = Some(chosen);
        }
        let report = |result, steps| NodeChange {
            result,
            node: new.to_string(),
            id: new_id.to_string(),
            role: Some(role),
            steps,
        };
        let shown = Shown {
            title: format!("Plan: add {new} ({})", new_id.short()),
            statefulset: None,
            question: format!("Add {new} to the cluster as a {role}?"),
            action: "add the node",
            destructive: false,
        };
        if !present(ctx, &steps, &shown)? {
            ctx.print_json("add-node", &report("planned", steps))?;
            return Ok(Outcome::Success);
        }
        let hub = view
            .masters()
            .next()
            .context("the cluster has no master")?
            .endpoint
            .clone();
        let mut roster = Roster::new(Vec::new(), Some(hub.clone()));
        roster.add(&new_name, new.clone(), Some(new_id.clone()));
        if let Some(master) = &master {
            let e = endpoint_of(&view, master).context("master without address")?;
            roster.add(node_name(ctx, &view, master), e, Some(master.clone()));
        }
        // Everyone knows the new node before it takes a role.
        let (joins, roles): (Vec<Step>, Vec<Step>) = steps
            .iter()
            .cloned()
            .partition(|s| matches!(s, Step::Join { .. }));
        if !joins.is_empty() {
            apply_membership(ctx, &roster, &joins, None).await?;
            wait_for_membership(
                &ctx.pool,
                &[hub.clone(), new.clone()],
                ctx.addresses().as_ref(),
                "every node knows the new node",
                ctx.settings.timeout,
            )
            .await
            .context("the new node did not join")?;
            ctx.reporter
                .done(format!("{new} joined as {}", new_id.short()));
        }
        apply_membership(ctx, &roster, &roles, None).await?;
        wait_healthy(ctx).await?;
        ctx.reporter.done(format!(
            "{new} is in the cluster as {}",
            if wants_replica {
                "a replica"
            } else {
                "a master without slots (run `rebalance --use-empty-masters`)"
            }
        ));
        let result = if steps.is_empty() {
            "nothing_to_do"
        } else {
            "added"
        };
        ctx.print_json("add-node", &report(result, steps))?;
        Ok(Outcome::Success)
    }
}

/// The id of the node at `new`, once it proved empty and alone (refused otherwise).
async fn lone_empty(ctx: &Ctx, new: &Endpoint) -> anyhow::Result<NodeId> {
    let report = observe_node(&ctx.pool, new)
        .await
        .with_context(|| format!("cannot add {new}"))?;
    if report.keys() > 0 {
        return Err(Refusal::NotEmpty {
            node: new.to_string(),
            keys: report.keys(),
        }
        .into());
    }
    if report.nodes.len() > 1 {
        return Err(Refusal::InAnotherCluster {
            node: new.to_string(),
            peers: report.nodes.len() - 1,
        }
        .into());
    }
    if !report.myself().slots.is_empty() {
        return Err(Refusal::ServesSlots {
            node: new.to_string(),
            slots: report.myself().slots.to_string(),
        }
        .into());
    }
    Ok(report.id().clone())
}

impl AddNodeOpts {
    /// The master the new node follows: `--replica-of`'s, else the one the placement rule
    /// picks ([`crate::plan::placement`]).
    fn master_for(
        &self,
        ctx: &Ctx,
        view: &ClusterView,
        new: &Endpoint,
        id: &NodeId,
    ) -> anyhow::Result<NodeId> {
        match &self.replica_of {
            Some(typed) => {
                let line = resolve_node(ctx, view, typed)?;
                if !line.flags.master {
                    return Err(Refusal::NotAMaster {
                        flag: "--replica-of",
                        given: typed.clone(),
                        endpoint: line.addr.endpoint(),
                    }
                    .into());
                }
                Ok(line.id.clone())
            }
            None => {
                let domain_of = domains(ctx, view);
                choose_master(
                    view,
                    &domain_of,
                    &domain_at(ctx, new),
                    std::slice::from_ref(id),
                )
                .context("no master with slots to replicate")
            }
        }
    }
}

/// A node about to join, as a plan names it: its pod, else its address.
fn joining_name(ctx: &Ctx, endpoint: &Endpoint) -> String {
    ctx.members
        .as_ref()
        .and_then(|pods| pods.by_ip(&endpoint.host))
        .map_or_else(|| endpoint.to_string(), |m| m.pod.clone())
}

/// Waits until the cluster may be changed, observing it from every seed but `outside` (the
/// node about to join).
async fn ready(ctx: &Ctx, outside: Option<&Endpoint>) -> anyhow::Result<ClusterView> {
    let seeds: Vec<Endpoint> = ctx
        .seeds
        .iter()
        .filter(|seed| Some(*seed) != outside)
        .cloned()
        .collect();
    wait_for_cluster(
        &ctx.pool,
        &seeds,
        "every node knows every node and reports cluster_state:ok",
        ctx.settings.timeout,
        blocks_moving,
    )
    .await
    .context("the cluster is not ready for a new node; see `status`")
}
