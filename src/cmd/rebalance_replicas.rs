//! `rebalance-replicas`: re-points replicas (`CLUSTER REPLICATE`) so that no shard sits
//! entirely in one failure domain (a Kubernetes node, or a zone when nodes carry one), where
//! the pods allow it ([`crate::plan::replicas`]). Each replica is in sync with its new master
//! before the next one moves.

use std::time::Instant;

use anyhow::Context as _;
use clap::Args;

use super::context::{Ctx, Outcome};
use super::placement::observe_placed;
use crate::plan::replicas::{Exposure, Placed, ReplicaMove, exposed, rebalance_replicas};
use crate::redis::membership::replicate;

/// Options of `rebalance-replicas`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster rebalance-replicas --dry-run\n  kubectl redis-cluster rebalance-replicas --yes\n\nA failure domain is a zone when the Kubernetes nodes carry topology.kubernetes.io/zone, else a Kubernetes node. `status` warns about every shard one domain holds entirely."
)]
pub struct RebalanceReplicasOpts {}

/// `-o json` result of `rebalance-replicas`.
#[derive(Debug, serde::Serialize)]
pub struct RebalanceReplicasReport {
    /// `moved`, `planned` (dry run) or `nothing_to_do`.
    pub result: &'static str,
    /// The replicas re-pointed (or to re-point).
    pub moves: Vec<ReplicaMove>,
    /// Shards still held by one domain afterwards (the pods allow no better).
    pub exposed: Vec<Exposure>,
    /// Wall time.
    pub seconds: f64,
}

impl RebalanceReplicasOpts {
    /// Runs `rebalance-replicas`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let started = Instant::now();
        let (pods, placed) = observe_placed(ctx, "rebalance-replicas").await?;
        let moves = rebalance_replicas(&placed);
        let left = exposed(&after(&placed, &moves));
        let report = |result, moves: Vec<ReplicaMove>| RebalanceReplicasReport {
            result,
            moves,
            exposed: left.clone(),
            seconds: started.elapsed().as_secs_f64(),
        };
        for e in &left {
            ctx.reporter.warn(format!(
                "the shard of {} stays in {} with its replica(s) {}: no swap of replicas can move it out (add pods in other domains)",
                e.master,
                e.domain,
                e.replicas.join(", ")
            ));
        }
        if moves.is_empty() {
            ctx.reporter
                .done("no replica to move: every shard that can span failure domains does");
            ctx.print_json("rebalance-replicas", &report("nothing_to_do", moves))?;
            return Ok(Outcome::Success);
        }
        ctx.reporter
            .line(&format!("Plan: re-point {} replica(s):", moves.len()));
        let domain = |name: &str| {
            placed
                .iter()
                .find(|p| p.name == name)
                .map_or("?", |p| p.domain.as_str())
        };
        for m in &moves {
            ctx.reporter.line(&format!(
                "  {} ({}): follow {} ({}) instead of {} ({}); a full sync follows",
                m.replica,
                domain(&m.replica),
                m.to,
                domain(&m.to),
                m.from,
                domain(&m.from)
            ));
        }
        if ctx.settings.dry_run {
            ctx.print_json("rebalance-replicas", &report("planned", moves))?;
            return Ok(Outcome::Success);
        }
        ctx.confirm(
            &format!("Re-point {} replica(s)?", moves.len()),
            "re-point replicas",
            false,
        )?;
        for m in &moves {
            let endpoint = pods
                .by_name(&m.replica)
                .and_then(|p| p.endpoint(pods.port))
                .with_context(|| format!("pod {} has no IP", m.replica))?;
            replicate(&ctx.pool, &endpoint, &m.to_id).await?;
            super::moving::wait_healthy_from(ctx, &pods.endpoints()).await?;
            ctx.reporter
                .done(format!("{} follows {} and is in sync", m.replica, m.to));
        }
        ctx.print_json("rebalance-replicas", &report("moved", moves))?;
        Ok(Outcome::Success)
    }
}

/// `placed` with `moves` applied.
fn after(placed: &[Placed], moves: &[ReplicaMove]) -> Vec<Placed> {
    let mut state = placed.to_vec();
    for m in moves {
        if let Some(r) = state.iter_mut().find(|p| p.id == m.replica_id) {
            r.master = Some(m.to_id.clone());
        }
    }
    state
}
