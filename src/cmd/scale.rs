//! `scale --masters N [--replicas-per-master R]`: the StatefulSet steps and the cluster steps
//! as one command.
//!
//! Up: scale the StatefulSet, wait for the new pods to answer, MEET them, give every node its
//! role (masters first, replicas to the master with fewest replicas in another domain), and
//! rebalance onto the new masters. Down: the highest ordinals leave (that is what a
//! StatefulSet removes); a staying replica of a leaving master is promoted when masters are
//! short, the other leaving masters are drained, staying replicas are re-pointed, the leaving
//! nodes are forgotten everywhere and reset, then the StatefulSet shrinks (and, with
//! `--delete-pvcs`, their volumes go). Every step is planned from a fresh observation, so a
//! re-run after a kill skips what is done and finishes the rest.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use futures::future::try_join_all;

use super::context::{Ctx, Outcome};
use super::move_args::MoveArgs;
use super::moving::{Start, execute, start_from, wait_healthy_from};
use super::refusal::Refusal;
use super::report::ScaleChange;
use super::scale_plan::{self, Shape};
use crate::k8s::{K8s, Pods};
use crate::plan::layout::MIN_MASTERS;
use crate::plan::membership::as_staying_see_it;
use crate::plan::rebalance::{plan_drain, plan_rebalance};
use crate::plan::roles::{RoleFacts, assign_roles};
use crate::redis::converge::{blocks_moving, wait_for_cluster, wait_for_membership};
use crate::redis::membership::{failover_and_wait, forget_everywhere, meet, replicate, reset_hard};
use crate::redis::observe::{observe_cluster, observe_nodes};
use crate::settings::Access;
use crate::topology::health::Problem;
use crate::topology::lookup::endpoint_of;
use crate::topology::{ClusterView, Endpoint, NodeId};

/// Options of `scale`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster scale --masters 4\n  kubectl redis-cluster scale --masters 3 --delete-pvcs --yes\n\nReplaces: kubectl scale statefulset + redis-trib add-node/add-node --slave/rebalance, or reshard + del-node + kubectl scale"
)]
pub struct ScaleOpts {
    /// Masters wanted (at least 3).
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = master_count)]
    pub masters: usize,

    /// Replicas per master wanted (default: what the cluster has now, else 1).
    #[arg(long, value_name = "R")]
    pub replicas_per_master: Option<usize>,

    /// When scaling down, also delete the leaving pods' PersistentVolumeClaims (their data).
    #[arg(long)]
    pub delete_pvcs: bool,

    /// How slots are moved.
    #[command(flatten)]
    pub moves: MoveArgs,

    /// `apply -f`: the steps of the saved plan, which the plan made now must repeat.
    #[arg(skip)]
    pub expect: Option<serde_json::Value>,
}

/// `--masters N`: a whole number of at least [`MIN_MASTERS`], checked before anything is read
/// (`-1` included, which clap would otherwise take for a flag).
fn master_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= MIN_MASTERS => Ok(n),
        _ => Err(format!(
            "N must be a whole number of at least {MIN_MASTERS}: a cluster needs at least {MIN_MASTERS} masters"
        )),
    }
}

impl ScaleOpts {
    /// Runs `scale`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let (Some(k8s), Access::Kubernetes(target)) = (&ctx.k8s, &ctx.settings.access) else {
            return Err(Refusal::KubernetesOnly { command: "scale" }.into());
        };
        let sts = target.statefulset_name();
        let view = observe_cluster(&ctx.pool, &ctx.seeds)
            .await
            .context("cannot read the cluster")?;
        let replicas = self
            .replicas_per_master
            .unwrap_or_else(|| current_replicas(&view));
        let want = u32::try_from(self.masters * (1 + replicas)).context("too many pods")?;
        let have = k8s.replicas(sts).await?.desired;
        let pods = ctx.members.clone().context("no pods discovered")?;
        let shape = Shape {
            statefulset: sts,
            port: target.client_port(),
            pods_now: have,
            masters: self.masters,
            replicas,
            delete_pvcs: self.delete_pvcs,
        };
        let plan = scale_plan::plan(ctx, k8s, &pods, &view, &shape).await?;
        if let Some(saved) = &self.expect {
            let now = serde_json::to_value(&plan.steps)?;
            if without_keys(saved) != without_keys(&now) {
                return Err(Refusal::PlanStale {
                    why: "the steps planned now differ from the saved ones".into(),
                }
                .into());
            }
        }
        let report = |result, plan, fingerprint| ScaleChange {
            result,
            statefulset: sts.to_string(),
            masters: self.masters,
            replicas_per_master: replicas,
            plan,
            fingerprint,
        };
        if ctx.settings.dry_run {
            let fingerprint = Some(view.fingerprint());
            ctx.print_json("scale", &report("planned", plan, fingerprint))?;
            return Ok(Outcome::Success);
        }
        if want >= have {
            self.up(ctx, k8s, sts, target.client_port(), want, replicas)
                .await?;
        } else {
            self.down(ctx, k8s, sts, target.client_port(), want, replicas)
                .await?;
        }
        ctx.print_json("scale", &report("scaled", plan, None))?;
        Ok(Outcome::Success)
    }

    /// Scaling up (or finishing an interrupted scale at the same size).
    async fn up(
        &self,
        ctx: &Ctx,
        k8s: &K8s,
        sts: &str,
        port: u16,
        want: u32,
        replicas: usize,
    ) -> anyhow::Result<()> {
        let current = k8s.replicas(sts).await?.desired;
        ctx.confirm(
            &format!("Scale {sts} to {want} pods and rebalance?"),
            "scale",
            true,
        )?;
        if current < want {
            ctx.reporter
                .step(format!("scale statefulset {sts} {current} → {want}"));
            k8s.set_replicas(sts, want).await?;
        }
        let pods = k8s
            .wait_members(sts, port, want, &ctx.pool, ctx.settings.timeout)
            .await?;
        self.join_new_pods(ctx, &pods, &pods.endpoints()).await?;
        // A pod may have been recreated meanwhile, at another IP (a drained Kubernetes node):
        // roles and moves are planned from the pods as they are now, and when one goes while
        // roles are assigned, from the pods as they are once it is back.
        let deadline = Instant::now() + ctx.settings.timeout;
        let seeds = loop {
            let pods = k8s
                .wait_members(sts, port, want, &ctx.pool, ctx.settings.timeout)
                .await?;
            let seeds = pods.endpoints();
            match self.settle_roles(ctx, &pods, &seeds, replicas).await {
                Err(e) if Instant::now() < deadline => match e.downcast::<PodsChanged>() {
                    Ok(changed) => ctx
                        .reporter
                        .warn(format!("{changed}; waiting for the pods again")),
                    Err(other) => return Err(other),
                },
                settled => {
                    settled?;
                    break seeds;
                }
            }
        };
        let start = start_from(ctx, &seeds).await?;
        let weights: BTreeMap<NodeId, f64> =
            start.slots.keys().map(|id| (id.clone(), 1.0)).collect();
        let moves =
            plan_rebalance(&start.slots, &weights, 0.0).context("cannot plan the rebalance")?;
        let replan = |next: &Start, _moved: u64| {
            plan_rebalance(&next.slots, &weights, 0.0).context("cannot plan the rebalance")
        };
        let report = execute(
            ctx,
            &start,
            moves,
            &replan,
            &self.moves.options(),
            "Move slots onto the new masters?",
        )
        .await?;
        // One convergence wait, one `cluster converged` line: `execute` waits after moving.
        if !report.waited_for_convergence() {
            wait_healthy_from(ctx, &seeds).await?;
        }
        ctx.reporter.done(format!(
            "{sts}: {} masters with {replicas} replica(s) each",
            self.masters
        ));
        Ok(())
    }

    /// MEETs every pod whose node is not in the cluster yet (after checking it is empty).
    async fn join_new_pods(
        &self,
        ctx: &Ctx,
        pods: &Pods,
        seeds: &[Endpoint],
    ) -> anyhow::Result<()> {
        let view = observe_cluster(&ctx.pool, seeds)
            .await
            .context("cannot read the cluster")?;
        let members = crate::k8s::membership::join(pods, &view);
        let outside: Vec<(&str, Endpoint)> = members
            .problems
            .iter()
            .filter_map(|p| match p {
                Problem::PodNotInCluster { pod, node } => {
                    Some((pod.as_str(), node.endpoint.parse().ok()?))
                }
                _ => None,
            })
            .collect();
        if outside.is_empty() {
            return Ok(());
        }
        let hub = members
            .cluster
            .masters()
            .next()
            .context("the cluster has no master")?
            .endpoint
            .clone();
        let endpoints: Vec<Endpoint> = outside.iter().map(|(_, e)| e.clone()).collect();
        for (report, (pod, e)) in observe_nodes(&ctx.pool, &endpoints)
            .await
            .into_iter()
            .zip(&outside)
        {
            let report = report?;
            if report.keys() > 0 || report.nodes.len() > 1 || !report.myself().slots.is_empty() {
                return Err(Refusal::PodNotEmpty {
                    pod: pod.to_string(),
                    endpoint: e.clone(),
                }
                .into());
            }
            ctx.reporter.step(format!("introduce pod {pod} ({e})"));
            meet(&ctx.pool, &hub, e, report.myself().addr.cport).await?;
        }
        wait_for_membership(
            &ctx.pool,
            seeds,
            ctx.addresses().as_ref(),
            "every node knows the new pods",
            ctx.settings.timeout,
        )
        .await
        .context("the new pods did not join")?;
        ctx.reporter
            .done(format!("{} pod(s) joined", outside.len()));
        Ok(())
    }

    /// Gives every node in `seeds` its role and waits until replicas are in sync.
    async fn settle_roles(
        &self,
        ctx: &Ctx,
        pods: &Pods,
        seeds: &[Endpoint],
        replicas: usize,
    ) -> anyhow::Result<()> {
        let view = wait_for_cluster(
            &ctx.pool,
            seeds,
            "the cluster agrees",
            ctx.settings.timeout,
            blocks_moving,
        )
        .await?;
        let facts = role_facts(pods, &view, seeds);
        if facts.len() < seeds.len() {
            return Err(PodsChanged {
                answered: facts.len(),
                pods: seeds.len(),
            }
            .into());
        }
        let roles = assign_roles(&facts, self.masters, replicas).context("cannot assign roles")?;
        let name = |id: &NodeId| pod_name(pods, &view, id);
        for (replica, master) in &roles.replicate {
            ctx.reporter.step(format!(
                "make {} a replica of {}",
                name(replica),
                name(master)
            ));
        }
        try_join_all(roles.replicate.iter().map(|(replica, master)| {
            let view = &view;
            async move {
                let e = endpoint_of(view, replica).context("replica without address")?;
                replicate(&ctx.pool, &e, master).await?;
                Ok::<_, anyhow::Error>(())
            }
        }))
        .await?;
        // Replicas in sync before slots move; open slots (an interrupted run's) are not waited
        // for here: the moves that follow finish them.
        wait_for_cluster(
            &ctx.pool,
            seeds,
            "the replicas are in sync",
            ctx.settings.timeout,
            |p| {
                blocks_moving(p)
                    || matches!(
                        p,
                        Problem::ReplicaNotInSync { .. } | Problem::RoleDisagrees { .. }
                    )
            },
        )
        .await?;
        Ok(())
    }

    /// Scaling down.
    async fn down(
        &self,
        ctx: &Ctx,
        k8s: &K8s,
        sts: &str,
        port: u16,
        want: u32,
        replicas: usize,
    ) -> anyhow::Result<()> {
        let pods = ctx.members.clone().context("no pods discovered")?;
        let staying: Vec<Endpoint> = pods
            .members
            .iter()
            .filter(|m| m.ordinal < want)
            .filter_map(|m| m.endpoint(port))
            .collect();
        // Observe only nodes the staying pods know: leaving pods an interrupted earlier run
        // reset (lone nodes now), or had every staying node forget, are no members.
        let seen = observe_cluster(&ctx.pool, &pods.endpoints())
            .await
            .context("cannot read the cluster")?;
        let view = as_staying_see_it(&seen, &staying);
        let all: Vec<Endpoint> = view.reports.iter().map(|r| r.endpoint.clone()).collect();
        let leaving: Vec<NodeId> = view
            .reports
            .iter()
            .filter(|r| !staying.contains(&r.endpoint))
            .map(|r| r.id().clone())
            .collect();
        ctx.confirm(
            &format!(
                "Remove {} node(s) and scale {sts} to {want} pods?",
                leaving.len()
            ),
            "scale down",
            true,
        )?;
        self.promote_staying_replicas(ctx, &all, &leaving).await?;
        self.drain(ctx, &all, &leaving).await?;
        let view = observe_cluster(&ctx.pool, &all).await?;
        let facts: Vec<RoleFacts> = role_facts(&pods, &view, &staying);
        let roles = assign_roles(&facts, self.masters, replicas)
            .context("cannot assign roles to the staying pods")?;
        for (replica, master) in &roles.replicate {
            ctx.reporter.step(format!(
                "make {} a replica of {}",
                pod_name(&pods, &view, replica),
                pod_name(&pods, &view, master)
            ));
            replicate(
                &ctx.pool,
                &endpoint_of(&view, replica).context("replica without address")?,
                master,
            )
            .await?;
        }
        // Every staying node forgets every leaving node before any leaving node is reset: a
        // node reset while a member still lists it would linger there without an address.
        for id in &leaving {
            ctx.reporter.step(format!(
                "forget {} on every staying node",
                pod_name(&pods, &view, id)
            ));
            forget_everywhere(&ctx.pool, &staying, id).await?;
        }
        // Then every leaving pod whose node still knows a peer is reset: the ones leaving
        // now, and any an interrupted run had forgotten without resetting.
        let leaving_pods: Vec<(&str, Endpoint)> = pods
            .members
            .iter()
            .filter(|m| m.ordinal >= want)
            .filter_map(|m| Some((m.pod.as_str(), m.endpoint(port)?)))
            .collect();
        let endpoints: Vec<Endpoint> = leaving_pods.iter().map(|(_, e)| e.clone()).collect();
        for ((pod, e), report) in leaving_pods
            .iter()
            .zip(observe_nodes(&ctx.pool, &endpoints).await)
        {
            if report.is_ok_and(|r| r.nodes.len() > 1) {
                ctx.reporter.step(format!("reset {pod} ({e})"));
                reset_hard(&ctx.pool, e)
                    .await
                    .with_context(|| format!("cannot reset {e}"))?;
                crate::failpoint::hit("scale-down-after-a-reset");
            }
        }
        ctx.reporter
            .step(format!("scale statefulset {sts} to {want}"));
        k8s.set_replicas(sts, want).await?;
        k8s.wait_members(sts, port, want, &ctx.pool, ctx.settings.timeout)
            .await?;
        if self.delete_pvcs {
            let set = k8s.statefulset(sts).await?;
            let claims: Vec<_> = k8s
                .claims(&set)
                .await?
                .into_iter()
                .filter(|c| c.ordinal >= want)
                .collect();
            let names: Vec<&str> = claims.iter().map(|c| c.name.as_str()).collect();
            ctx.confirm(
                &format!(
                    "Delete PVCs {} (their data is gone for good)?",
                    names.join(", ")
                ),
                "delete PVCs",
                true,
            )?;
            k8s.delete_claims(&claims).await?;
            ctx.reporter
                .done(format!("deleted {} PVC(s)", claims.len()));
        }
        wait_healthy_from(ctx, &staying).await?;
        ctx.reporter.done(format!(
            "{sts}: {} masters with {replicas} replica(s) each",
            self.masters
        ));
        Ok(())
    }

    /// While fewer staying nodes serve slots than masters wanted, promote a staying replica
    /// of a leaving master: its slots change hands without moving a key. Never while a slot
    /// is open (an interrupted drain): Redis 7.0 does not carry migration marks over a
    /// failover, so the drain finishes those slots instead.
    async fn promote_staying_replicas(
        &self,
        ctx: &Ctx,
        all: &[Endpoint],
        leaving: &[NodeId],
    ) -> anyhow::Result<()> {
        let view = observe_cluster(&ctx.pool, all).await?;
        let open = crate::plan::moves::open_slots(&view);
        if !open.resume.is_empty() || !open.stuck.is_empty() {
            return Ok(());
        }
        let serving_staying = view
            .masters()
            .filter(|m| !leaving.contains(m.id()) && !m.myself().slots.is_empty())
            .count();
        let candidates: Vec<NodeId> = view
            .replicas()
            .filter(|r| !leaving.contains(r.id()))
            .filter(|r| {
                r.myself()
                    .master_id
                    .as_ref()
                    .is_some_and(|m| leaving.contains(m))
            })
            .map(|r| r.id().clone())
            .collect();
        for id in candidates
            .into_iter()
            .take(self.masters.saturating_sub(serving_staying))
        {
            let e = endpoint_of(&view, &id).context("replica without address")?;
            ctx.reporter
                .step(format!("promote {e} (a replica of a leaving master)"));
            failover_and_wait(&ctx.pool, &e, None, ctx.settings.timeout).await?;
            wait_for_cluster(
                &ctx.pool,
                all,
                "the cluster agrees on the promotion",
                ctx.settings.timeout,
                blocks_moving,
            )
            .await?;
        }
        Ok(())
    }

    /// Moves every slot off the leaving masters onto the staying ones.
    async fn drain(&self, ctx: &Ctx, all: &[Endpoint], leaving: &[NodeId]) -> anyhow::Result<()> {
        let start = start_from(ctx, all).await?;
        let moves = plan_drain(&start.slots, leaving).context("cannot plan the drain")?;
        let replan = |next: &Start, _moved: u64| {
            plan_drain(&next.slots, leaving).context("cannot plan the drain")
        };
        execute(
            ctx,
            &start,
            moves,
            &replan,
            &self.moves.options(),
            "Move the leaving masters' slots away?",
        )
        .await?;
        Ok(())
    }
}

/// Saved or planned steps without their key counts (keys come and go between a plan and
/// its apply; the steps must not).
fn without_keys(steps: &serde_json::Value) -> serde_json::Value {
    let mut steps = steps.clone();
    for step in steps.as_array_mut().into_iter().flatten() {
        if let Some(fields) = step.as_object_mut() {
            fields.remove("keys");
        }
    }
    steps
}

/// Replicas per master the cluster has now (rounded), 1 when it has no master.
fn current_replicas(view: &ClusterView) -> usize {
    let masters = view
        .masters()
        .filter(|m| !m.myself().slots.is_empty())
        .count();
    let replicas = view.replicas().count();
    (replicas + masters / 2).checked_div(masters).unwrap_or(1)
}

/// Fewer pods answered than the StatefulSet has: one was deleted or restarted (at a new IP)
/// after the pods were listed.
#[derive(Debug, thiserror::Error)]
#[error(
    "{answered} of the {pods} pods answered while roles were assigned (a pod was deleted or restarted)"
)]
struct PodsChanged {
    answered: usize,
    pods: usize,
}

/// The role facts of the nodes at `endpoints`, ranked by pod ordinal.
fn role_facts(pods: &Pods, view: &ClusterView, endpoints: &[Endpoint]) -> Vec<RoleFacts> {
    view.reports
        .iter()
        .filter(|r| endpoints.contains(&r.endpoint))
        .map(|r| {
            let member = pods.by_ip(&r.endpoint.host);
            RoleFacts {
                id: r.id().clone(),
                rank: member.map_or(u32::MAX, |m| m.ordinal),
                domain: member.map_or_else(|| r.endpoint.host.clone(), |m| m.domain()),
                has_slots: !r.myself().slots.is_empty(),
                master: r.myself().master_id.clone(),
            }
        })
        .collect()
}

/// The pod name of a node, else its short id.
fn pod_name(pods: &Pods, view: &ClusterView, id: &NodeId) -> String {
    endpoint_of(view, id)
        .and_then(|e| pods.by_ip(&e.host).map(|m| m.pod.clone()))
        .unwrap_or_else(|| id.short().to_string())
}
