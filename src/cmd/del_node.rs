//! `del-node`: remove a node from the cluster for good. A master holding slots is refused
//! unless `--drain` moves them to the other masters first; replicas of a removed master get
//! another master; every node FORGETs it at once; a reachable node is reset so its
//! nodes.conf can never rejoin. A run interrupted between FORGET and the reset is finished
//! by the same command (named by address or pod): only the reset is left.

use anyhow::{Context as _, bail};
use clap::Args;

use super::context::{Ctx, Outcome};
use super::move_args::MoveArgs;
use super::moving::{Start, execute, start};
use super::planned::{Shown, apply_membership, present};
use super::refusal::Refusal;
use super::report::NodeChange;
use super::target::{domains, node_name, resolve_node};
use crate::k8s::target::expand_pod_name;
use crate::plan::membership::{Leaving, leaving_state};
use crate::plan::moves::SlotMove;
use crate::plan::rebalance::plan_drain;
use crate::plan::removal::{RemovalInput, plan_removal};
use crate::plan::steps::Step;
use crate::redis::converge::wait_for_cluster;
use crate::redis::observe::{observe_cluster, observe_node};
use crate::redis::steps::Roster;
use crate::topology::health::Problem;
use crate::topology::lookup::endpoint_of;
use crate::topology::{ClusterView, Endpoint, NodeId, NodeLine};

/// Options of `del-node`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl-redis_cluster --seed 127.0.0.1:7000 del-node 127.0.0.1:7006 --yes\n  kubectl-redis_cluster --seed 127.0.0.1:7000 del-node 3f7cbc0a7e07 --drain --yes\n\nReplaces: redis-trib reshard (to empty it) + redis-trib del-node <ip>:6379 <node-id>"
)]
pub struct DelNodeOpts {
    /// The node to remove: node id (or unique prefix) or HOST:PORT.
    #[arg(value_name = "NODE")]
    pub node: String,

    /// Move the node's slots to the other masters first.
    #[arg(long)]
    pub drain: bool,

    /// How slots are moved (with --drain).
    #[command(flatten)]
    pub moves: MoveArgs,
}

impl DelNodeOpts {
    /// Runs `del-node`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let mut first = observe_cluster(&ctx.pool, &ctx.seeds)
            .await
            .context("cannot read the cluster")?;
        if resolve_node(ctx, &first, &self.node).is_err() {
            // Nobody lists a node the cluster already forgot: ask the address itself.
            include_forgotten(ctx, &mut first, &self.node).await;
        }
        let victim = resolve_node(ctx, &first, &self.node)?.clone();
        let id = victim.id.clone();
        let reachable = first.report(&id).is_some();
        if reachable {
            match leaving_state(&first, &id) {
                Leaving::Member => {}
                Leaving::Forgotten => return self.finish_reset(ctx, &first, &id).await,
                Leaving::Removed => {
                    ctx.reporter.done(format!(
                        "{} is not in the cluster and knows no peer; nothing to do",
                        self.node
                    ));
                    ctx.print_json("del-node", &removal("nothing_to_do", &victim, Vec::new()))?;
                    return Ok(Outcome::Success);
                }
                Leaving::Stranger => {
                    return Err(Refusal::Stranger {
                        node: self.node.clone(),
                    }
                    .into());
                }
            }
        }
        let mut drain = None;
        if reachable && !victim.flags.replica {
            drain = self.plan_drain(ctx, &id).await?;
        } else if !victim.slots.is_empty() {
            return Err(Refusal::UnreachableOwnsSlots {
                node: victim.addr.endpoint(),
                slots: victim.slots.to_string(),
            }
            .into());
        }
        let endpoint = endpoint_of(&first, &id);
        let name = endpoint
            .as_ref()
            .map_or_else(|| id.short().to_string(), ToString::to_string);
        let label = |node: &NodeId| node_name(ctx, &first, node);
        let no_moves = Vec::new();
        let input = RemovalInput {
            view: &first,
            node: &id,
            reachable,
            open_slots: drain.as_ref().map_or(0, |(start, _)| start.resume.len()),
            drain: drain.as_ref().map_or(&no_moves, |(_, moves)| moves),
        };
        let steps = plan_removal(&input, &domains(ctx, &first), &label);
        let shown = Shown {
            title: format!("Plan: remove {name} ({}) from the cluster", id.short()),
            statefulset: None,
            question: format!(
                "Remove {name} from the cluster ({} step(s) above)?",
                steps.len()
            ),
            action: "remove the node",
            destructive: true,
        };
        let go = present(ctx, &steps, &shown)?;
        if let Some((start, moves)) = drain {
            // The moves in detail (durability, estimate); with --dry-run, only those.
            let replan = |next: &Start, _moved: u64| {
                plan_drain(&next.slots, std::slice::from_ref(&id)).context("cannot plan the drain")
            };
            execute(
                ctx,
                &start,
                moves,
                &replan,
                &self.moves.options(),
                "Move this node's slots away?",
            )
            .await?;
        }
        if !go {
            ctx.print_json("del-node", &removal("planned", &victim, steps))?;
            return Ok(Outcome::Success);
        }
        let view = others_ready(ctx, &id).await?;
        let others: Vec<Endpoint> = view
            .reports
            .iter()
            .filter(|r| r.id() != &id)
            .map(|r| r.endpoint.clone())
            .collect();
        let mut roster = Roster::new(others.clone(), None);
        for r in &view.reports {
            roster.add(label(r.id()), r.endpoint.clone(), Some(r.id().clone()));
        }
        if view.report(&id).is_none() {
            roster.add_unreachable(label(&id), id.clone());
        }
        apply_membership(ctx, &roster, &steps, None).await?;
        ctx.reporter.done(format!("{name} removed"));
        // Observed from the other seeds; when the node removed was the only one (`--seed` at
        // it), from the nodes that stay.
        let mut seeds: Vec<Endpoint> = ctx
            .seeds
            .iter()
            .filter(|s| Some(*s) != endpoint.as_ref())
            .cloned()
            .collect();
        if seeds.is_empty() {
            seeds = others.clone();
        }
        let rest = observe_cluster(&ctx.pool, &seeds)
            .await
            .context("cannot read the cluster")?;
        if rest.known_nodes().contains_key(&id) {
            bail!("a node still lists {name} after FORGET; run the same command again");
        }
        ctx.print_json("del-node", &removal("removed", &victim, steps))?;
        Ok(Outcome::Success)
    }

    /// The node every peer already forgot (an earlier run stopped before its reset): reset it,
    /// unless it holds slots or, as a master, keys.
    async fn finish_reset(
        &self,
        ctx: &Ctx,
        view: &ClusterView,
        id: &NodeId,
    ) -> anyhow::Result<Outcome> {
        let report = view.report(id).context("the node stopped answering")?;
        let me = report.myself();
        if !me.slots.is_empty() || (!me.flags.replica && report.keys() > 0) {
            bail!(
                "{} is no longer in the cluster but still holds {} slot(s) and {} key(s); not resetting it",
                report.endpoint,
                me.slots.len(),
                report.keys()
            );
        }
        let name = report.endpoint.to_string();
        let change = |result, steps| NodeChange {
            result,
            node: name.clone(),
            id: id.to_string(),
            role: None,
            steps,
        };
        let steps = vec![Step::Reset { node: name.clone() }];
        let shown = Shown {
            title: format!(
                "Plan: reset {name} ({}): every other node has already forgotten it (an earlier del-node stopped before resetting it)",
                id.short()
            ),
            statefulset: None,
            question: format!("Reset {name}?"),
            action: "reset the node",
            destructive: true,
        };
        if !present(ctx, &steps, &shown)? {
            ctx.print_json("del-node", &change("planned", steps))?;
            return Ok(Outcome::Success);
        }
        let mut roster = Roster::new(Vec::new(), None);
        roster.add(&name, report.endpoint.clone(), Some(id.clone()));
        apply_membership(ctx, &roster, &steps, None).await?;
        ctx.reporter.done(format!("{name} removed"));
        ctx.print_json("del-node", &change("reset", steps))?;
        Ok(Outcome::Success)
    }

    /// A master with slots: refuse without `--drain`; with it, where its slots go (and the
    /// slots an interrupted run left open, finished first). `None` when nothing moves.
    async fn plan_drain(
        &self,
        ctx: &Ctx,
        id: &NodeId,
    ) -> anyhow::Result<Option<(Start, Vec<SlotMove>)>> {
        let start = start(ctx).await?;
        let holds = start.slots.get(id).map_or(0, |s| s.len());
        if holds == 0 && start.resume.is_empty() {
            return Ok(None);
        }
        if !self.drain && holds > 0 {
            return Err(Refusal::NeedsDrain {
                node: self.node.clone(),
                slots: holds,
            }
            .into());
        }
        let moves =
            plan_drain(&start.slots, std::slice::from_ref(id)).context("cannot plan the drain")?;
        Ok(Some((start, moves)))
    }
}

/// Adds the report of the node at `typed` (HOST:PORT, or a pod in Kubernetes mode) to `view`
/// when it answers; a name that is no address, or a node that does not answer, adds nothing
/// (the caller's lookup then says it cannot find it).
async fn include_forgotten(ctx: &Ctx, view: &mut ClusterView, typed: &str) {
    let Ok(name) = expand_pod_name(ctx.members.as_ref(), typed) else {
        return;
    };
    let Ok(endpoint) = name.parse::<Endpoint>() else {
        return;
    };
    if let Ok(report) = observe_node(&ctx.pool, &endpoint).await {
        view.reports.push(report);
    }
}

/// Waits until every node but `leaving` is reachable, agrees and knows each other.
async fn others_ready(ctx: &Ctx, leaving: &NodeId) -> anyhow::Result<ClusterView> {
    wait_for_cluster(
        &ctx.pool,
        &ctx.seeds,
        "the other nodes agree",
        ctx.settings.timeout,
        |p| {
            let about_leaving = match p {
                Problem::Unreachable { node, .. } => node.id.as_ref() == Some(leaving),
                Problem::PeerFlagged { peer, .. } => peer.id.as_ref() == Some(leaving),
                _ => false,
            };
            !about_leaving && crate::redis::converge::blocks_moving(p)
        },
    )
    .await
    .context("the other nodes are not ready; see `status`")
}

/// `del-node`'s `-o json` result for `node`.
fn removal(result: &'static str, node: &NodeLine, steps: Vec<Step>) -> NodeChange {
    NodeChange {
        result,
        node: node.addr.endpoint().to_string(),
        id: node.id.to_string(),
        role: None,
        steps,
    }
}
