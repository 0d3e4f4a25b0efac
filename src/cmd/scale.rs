//! `scale --masters N [--replicas-per-master R]`: the StatefulSet steps and the cluster steps
//! as one command.
//!
//! What runs is [`crate::plan::scale`]'s plan, printed and confirmed once. Then the run is a
//! loop: wait for the StatefulSet's pods, observe the cluster, plan again, apply the phase
//! at the head of the plan ([`first_phase`]: Kubernetes steps through [`K8s::apply_step`],
//! membership steps through [`apply_step`], slot moves through the mover), wait until the
//! cluster took it, and so on until nothing is left. A run killed anywhere is finished by
//! running it again: it plans from what it finds.

use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Args;

use super::context::{Ctx, Outcome};
use super::move_args::MoveArgs;
use super::moving::{Start, execute, start_from, wait_healthy_from};
use super::planned::{Shown, apply_membership, present};
use super::refusal::Refusal;
use super::report::ScaleChange;
use super::scale_plan::{self, Shape};
use crate::k8s::steps::StatefulSetRef;
use crate::k8s::{K8s, Pods};
use crate::output::steps::describe;
use crate::plan::layout::MIN_MASTERS;
use crate::plan::membership::as_staying_see_it;
use crate::plan::moves::SlotMove;
use crate::plan::rebalance::{plan_drain, plan_rebalance};
use crate::plan::scale::ScalePlan;
use crate::plan::steps::{Executor, Step, first_phase};
use crate::redis::converge::{blocks_moving, wait_for_cluster, wait_for_membership};
use crate::redis::error::ApplyError;
use crate::redis::observe::observe_cluster;
use crate::redis::steps::{Roster, StepError};
use crate::settings::Access;
use crate::topology::health::Problem;
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
        let pods = ctx.members.clone().context("no pods discovered")?;
        let shape = Shape {
            statefulset: sts,
            port: target.client_port(),
            pods_now: k8s.replicas(sts).await?.desired,
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
        let shown = Shown {
            title: format!(
                "Plan: {} masters with {replicas} replica(s) each: statefulset {sts} {} → {} pods",
                self.masters, plan.from_pods, plan.to_pods
            ),
            statefulset: Some(sts),
            question: question(&plan, sts),
            action: "scale",
            destructive: true,
        };
        if !present(ctx, &plan.steps, &shown)? {
            let fingerprint = Some(view.fingerprint());
            ctx.print_json("scale", &report("planned", plan, fingerprint))?;
            return Ok(Outcome::Success);
        }
        self.run(ctx, k8s, &shape).await?;
        ctx.reporter.done(format!(
            "{sts}: {} masters with {replicas} replica(s) each",
            self.masters
        ));
        ctx.print_json("scale", &report("scaled", plan, None))?;
        Ok(Outcome::Success)
    }

    /// Waits for the pods, observes, plans and applies the phase at the head of the plan,
    /// until the plan is empty; then waits until the cluster is healthy. A pod that stops
    /// answering meanwhile (deleted, restarted at another IP) is waited for and planned
    /// around, within `--timeout` of the last phase that went through.
    async fn run(&self, ctx: &Ctx, k8s: &K8s, asked: &Shape<'_>) -> anyhow::Result<()> {
        let timeout = ctx.settings.timeout;
        let set = StatefulSetRef {
            name: asked.statefulset,
            port: asked.port,
            timeout,
        };
        let mut last: Option<Vec<Step>> = None;
        let mut patience = Instant::now() + timeout;
        // Whether the last phase was slot moves, which end waiting until the cluster is healthy.
        let mut converged = false;
        let staying = loop {
            let shape = Shape {
                pods_now: k8s.replicas(set.name).await?.desired,
                ..*asked
            };
            let pods = k8s
                .wait_members(set.name, set.port, shape.pods_now, &ctx.pool, timeout)
                .await?;
            let view = observe_cluster(&ctx.pool, &pods.endpoints())
                .await
                .context("cannot read the cluster")?;
            let seeds = pods.endpoints();
            if let Some(gone) = view
                .unreachable
                .iter()
                .find(|u| seeds.contains(&u.endpoint))
            {
                // Planned without it, its pod would look like one to join.
                let gone = gone.endpoint.clone();
                lost(ctx, &gone, patience)?;
                converged = false;
                continue;
            }
            let plan = scale_plan::build(k8s, &pods, &view, &shape).await?;
            let Some((executor, phase)) = first_phase(&plan.steps) else {
                break scale_plan::staying(&pods, &shape);
            };
            // Asked once: here only when the plan shown first was empty and this one is not.
            ctx.confirm_plan(&question(&plan, set.name), "scale", true)?;
            if last.as_deref() == Some(phase) {
                bail!(
                    "the cluster did not take `{}` (planned again after it was applied); see `status`, then run the same command again",
                    describe(&phase[0], Some(set.name))
                );
            }
            let applied = match executor {
                Executor::Kubernetes => {
                    for step in phase {
                        ctx.reporter.step(describe(step, Some(set.name)));
                        k8s.apply_step(&set, &ctx.pool, step).await?;
                    }
                    Ok(false)
                }
                Executor::Redis => {
                    let roster = scale_plan::roster(&pods, &view, &shape);
                    membership(ctx, &roster, phase, &pods, set.name)
                        .await
                        .map(|()| false)
                }
                Executor::Mover => self.move_slots(ctx, &pods, &view, &shape).await,
            };
            match applied {
                Err(e) => match lost_node(&e) {
                    Some(gone) => {
                        lost(ctx, &gone, patience)?;
                        converged = false;
                    }
                    None => return Err(e),
                },
                Ok(waited) => {
                    converged = waited;
                    last = Some(phase.to_vec());
                    patience = Instant::now() + timeout;
                }
            }
        };
        if !converged {
            wait_healthy_from(ctx, &staying).await?;
        }
        Ok(())
    }

    /// The phase of slot moves, planned from the mover's own look at the cluster (slots an
    /// interrupted run left open finished first): scaling down, the leaving masters are
    /// drained; else the slots are spread evenly over the masters (the planners
    /// [`crate::plan::scale`] uses). Returns whether it ended waiting until the cluster is
    /// healthy (it does when it moved anything).
    async fn move_slots(
        &self,
        ctx: &Ctx,
        pods: &Pods,
        view: &ClusterView,
        shape: &Shape<'_>,
    ) -> anyhow::Result<bool> {
        let staying = scale_plan::staying(pods, shape);
        let members = as_staying_see_it(view, &staying);
        let seeds: Vec<Endpoint> = members.reports.iter().map(|r| r.endpoint.clone()).collect();
        // Scaling down, the leaving pods' nodes are drained; else slots are spread evenly.
        let down = shape.pods_wanted() < shape.pods_now;
        let leaving: Vec<NodeId> = members
            .reports
            .iter()
            .filter(|r| down && !staying.contains(&r.endpoint))
            .map(|r| r.id().clone())
            .collect();
        let replan = |next: &Start, _moved: u64| -> anyhow::Result<Vec<SlotMove>> {
            if leaving.is_empty() {
                let weights = next.slots.keys().map(|id| (id.clone(), 1.0)).collect();
                plan_rebalance(&next.slots, &weights, 0.0).context("cannot plan the rebalance")
            } else {
                plan_drain(&next.slots, &leaving).context("cannot plan the drain")
            }
        };
        let start = start_from(ctx, &seeds).await?;
        let moves = replan(&start, 0)?;
        let report = execute(
            ctx,
            &start,
            moves,
            &replan,
            &self.moves.options(),
            "Move the slots?",
        )
        .await?;
        Ok(report.waited_for_convergence())
    }
}

/// Applies a phase of membership steps (replica links only once every node knows every
/// other), then waits until the cluster took them: every node knows the new pods after
/// joins; else the staying nodes agree and, after new replica links, the replicas are in
/// sync (before any slot moves onto their masters).
async fn membership(
    ctx: &Ctx,
    roster: &Roster,
    phase: &[Step],
    pods: &Pods,
    statefulset: &str,
) -> anyhow::Result<()> {
    let timeout = ctx.settings.timeout;
    let links = phase.iter().any(|s| matches!(s, Step::Replicate { .. }));
    if links {
        // A replica names its master by id: every node must know every other first (a run
        // killed while pods joined may have left that to gossip).
        wait_for_cluster(
            &ctx.pool,
            &roster.staying,
            "the cluster agrees",
            timeout,
            blocks_moving,
        )
        .await?;
    }
    apply_membership(ctx, roster, phase, Some(statefulset)).await?;
    if phase.iter().any(|s| matches!(s, Step::Join { .. })) {
        crate::failpoint::hit("scale-introduced");
        wait_for_membership(
            &ctx.pool,
            &pods.endpoints(),
            ctx.addresses().as_ref(),
            "every node knows the new pods",
            timeout,
        )
        .await
        .context("the new pods did not join")?;
        return Ok(());
    }
    wait_for_cluster(
        &ctx.pool,
        &roster.staying,
        if links {
            "the replicas are in sync"
        } else {
            "the cluster agrees"
        },
        timeout,
        |p| {
            blocks_moving(p)
                || (links
                    && matches!(
                        p,
                        Problem::ReplicaNotInSync { .. } | Problem::RoleDisagrees { .. }
                    ))
        },
    )
    .await?;
    Ok(())
}

/// The node a failed step could not reach, when that is why it failed.
fn lost_node(e: &anyhow::Error) -> Option<Endpoint> {
    let node = match e.downcast_ref::<StepError>()? {
        StepError::Node(n) | StepError::Apply(ApplyError::Node(n)) => n,
        _ => return None,
    };
    node.is_transport().then(|| node.endpoint().clone())
}

/// A node stopped answering: warn and drop its connection, or fail once `--timeout` passed
/// since the last phase went through.
fn lost(ctx: &Ctx, gone: &Endpoint, patience: Instant) -> anyhow::Result<()> {
    if Instant::now() > patience {
        bail!(
            "{gone} stopped answering and did not come back; run the same command again once its pod is back"
        );
    }
    ctx.reporter.warn(format!(
        "{gone} stopped answering (its pod deleted or restarted?); waiting for the pods, then planning again"
    ));
    ctx.pool.forget(gone);
    Ok(())
}

/// The one question before a scale: how many steps, and any data deleted for good.
fn question(plan: &ScalePlan, statefulset: &str) -> String {
    let claims: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::DeleteClaim { claim } => Some(claim.as_str()),
            _ => None,
        })
        .collect();
    let mut question = format!(
        "Scale {statefulset} to {} pods ({} step(s) above)",
        plan.to_pods,
        plan.steps.len()
    );
    if !claims.is_empty() {
        question.push_str(&format!(
            ", deleting PVCs {} (their data is gone for good)",
            claims.join(", ")
        ));
    }
    question + "?"
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
