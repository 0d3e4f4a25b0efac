//! The plan value of `scale` ([`crate::plan::scale`]) built from the StatefulSet's pods and
//! the cluster as observed, with the keys each move carries (sampled), printed as numbered
//! steps. `--dry-run` stops there; a real run prints it and then takes each phase from a
//! fresh observation with the same planners.

use crate::k8s::{K8s, Pods};
use crate::output::steps::numbered;
use crate::plan::membership::as_staying_see_it;
use crate::plan::scale::{PodNode, ScaleInput, ScalePlan, ScalePod, plan_scale};
use crate::redis::sample::sample;
use crate::topology::{ClusterView, Endpoint};

use super::context::Ctx;
use super::refusal::Refusal;

/// What `scale` is asked for.
pub struct Shape<'a> {
    /// The StatefulSet.
    pub statefulset: &'a str,
    /// The pods' client port.
    pub port: u16,
    /// `spec.replicas` now.
    pub pods_now: u32,
    /// Masters wanted.
    pub masters: usize,
    /// Replicas per master wanted.
    pub replicas: usize,
    /// `--delete-pvcs`.
    pub delete_pvcs: bool,
}

/// Plans `shape` from `pods` and `view`, counts the keys of the moves, prints the steps.
pub async fn plan(
    ctx: &Ctx,
    k8s: &K8s,
    pods: &Pods,
    view: &ClusterView,
    shape: &Shape<'_>,
) -> anyhow::Result<ScalePlan> {
    let want = u32::try_from(shape.masters * (1 + shape.replicas)).unwrap_or(u32::MAX);
    // Scaling down, members are what the staying pods know: a leaving pod an interrupted run
    // already reset (a lone node now) is no member.
    let members = if want < shape.pods_now {
        let staying: Vec<Endpoint> = pods
            .members
            .iter()
            .filter(|m| m.ordinal < want)
            .filter_map(|m| m.endpoint(shape.port))
            .collect();
        as_staying_see_it(view, &staying)
    } else {
        view.clone()
    };
    let claims = if shape.delete_pvcs && want < shape.pods_now {
        let sts = k8s.statefulset(shape.statefulset).await?;
        k8s.claims(&sts)
            .await?
            .into_iter()
            .map(|c| (c.name, c.ordinal))
            .collect()
    } else {
        Vec::new()
    };
    let input = ScaleInput {
        statefulset: shape.statefulset.to_string(),
        pods_now: shape.pods_now,
        pods: pods
            .members
            .iter()
            .map(|m| ScalePod {
                pod: m.pod.clone(),
                ordinal: m.ordinal,
                domain: m.domain(),
                node: m
                    .ip
                    .as_ref()
                    .and_then(|ip| members.reports.iter().find(|r| &r.endpoint.host == ip))
                    // A lone empty node has not joined yet.
                    .filter(|r| r.nodes.len() > 1 || !r.myself().slots.is_empty())
                    .map(|r| PodNode {
                        id: r.id().clone(),
                        slots: r.myself().slots.clone(),
                        master: r.myself().master_id.clone(),
                    }),
            })
            .collect(),
        masters: shape.masters,
        replicas: shape.replicas,
        claims,
    };
    let mut plan = plan_scale(&input).map_err(|e| Refusal::CannotScale(e.to_string()))?;
    match sample(&ctx.pool, view, &plan.moves).await {
        Ok(samples) => plan.count_keys(&samples.keys),
        Err(e) => ctx
            .reporter
            .warn(format!("cannot count the keys to move: {}", e.one_line())),
    }
    ctx.reporter.line(&format!(
        "Plan: {} masters with {} replica(s) each: statefulset {} {} → {} pods",
        shape.masters, shape.replicas, shape.statefulset, plan.from_pods, plan.to_pods
    ));
    if plan.steps.is_empty() {
        ctx.reporter.line("  nothing to change");
    }
    for line in numbered(&plan.steps, Some(shape.statefulset)) {
        ctx.reporter.line(&line);
    }
    Ok(plan)
}
