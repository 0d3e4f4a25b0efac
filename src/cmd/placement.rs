//! What the failure-domain commands (`rebalance-replicas`, `rebalance-primaries`,
//! `drain-prep`) share: the healthy cluster's nodes placed on pods and domains, and a
//! coordinated failover to a pod, waited for.

use anyhow::Context as _;

use super::context::Ctx;
use super::refusal::Refusal;
use crate::k8s::Pods;
use crate::k8s::membership::{join, placement};
use crate::plan::replicas::Placed;
use crate::redis::membership::failover_and_wait;
use crate::redis::observe::observe_cluster;
use crate::settings::Access;
use crate::topology::health::{check, explain};

/// The StatefulSet's pods and every node placed on them; refuses outside Kubernetes and
/// when the cluster is not healthy.
pub async fn observe_placed(
    ctx: &Ctx,
    command: &'static str,
) -> anyhow::Result<(Pods, Vec<Placed>)> {
    let (Some(k8s), Access::Kubernetes(target)) = (&ctx.k8s, &ctx.settings.access) else {
        return Err(Refusal::KubernetesOnly { command }.into());
    };
    let pods = k8s
        .members(target.statefulset_name(), target.client_port())
        .await?;
    let view = observe_cluster(&ctx.pool, &pods.endpoints())
        .await
        .context("cannot read the cluster")?;
    let joined = join(&pods, &view);
    let mut problems = check(&joined.cluster, None);
    problems.extend(joined.problems.iter().cloned());
    if let Some(p) = problems.first() {
        return Err(Refusal::NotHealthy(explain(&joined.cluster, p)).into());
    }
    let placed = placement(&pods, &joined);
    Ok((pods, placed))
}

/// Promotes the node in pod `to` (a coordinated failover) and waits for a healthy cluster.
pub async fn fail_over_to(ctx: &Ctx, pods: &Pods, to: &str) -> anyhow::Result<()> {
    let endpoint = pods
        .by_name(to)
        .and_then(|m| m.endpoint(pods.port))
        .with_context(|| format!("pod {to} has no IP"))?;
    failover_and_wait(&ctx.pool, &endpoint, None, ctx.settings.timeout).await?;
    super::moving::wait_healthy_from(ctx, &pods.endpoints()).await?;
    Ok(())
}
