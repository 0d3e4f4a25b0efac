//! `rebalance-primaries` (failback): after failovers (a rolling restart, a drain, a crash)
//! masters pile up in some failure domains; this fails masters over to in-sync replicas in
//! the domains with fewest until no two domains differ by more than one master serving
//! slots ([`crate::plan::primaries`]). Coordinated failovers: no acknowledged write lost.

use std::time::Instant;

use clap::Args;

use super::context::{Ctx, Outcome};
use super::placement::{fail_over_to, observe_placed};
use crate::plan::primaries::{PrimaryMove, primaries_per_domain, rebalance_primaries};

/// Options of `rebalance-primaries`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster rebalance-primaries --dry-run\n  kubectl redis-cluster rebalance-primaries --yes\n\nA failure domain is a zone when the Kubernetes nodes carry topology.kubernetes.io/zone, else a Kubernetes node."
)]
pub struct RebalancePrimariesOpts {}

/// `-o json` result of `rebalance-primaries`.
#[derive(Debug, serde::Serialize)]
pub struct RebalancePrimariesReport {
    /// `moved`, `planned` (dry run) or `nothing_to_do`.
    pub result: &'static str,
    /// The failovers.
    pub moves: Vec<PrimaryMove>,
    /// Masters serving slots per domain, before.
    pub before: std::collections::BTreeMap<String, usize>,
    /// Wall time.
    pub seconds: f64,
}

impl RebalancePrimariesOpts {
    /// Runs `rebalance-primaries`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let started = Instant::now();
        let (pods, placed) = observe_placed(ctx, "rebalance-primaries").await?;
        let before = primaries_per_domain(&placed);
        let moves = rebalance_primaries(&placed);
        let spread = before
            .iter()
            .map(|(d, n)| format!("{d}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let report = |result, moves: Vec<PrimaryMove>| RebalancePrimariesReport {
            result,
            moves,
            before: before.clone(),
            seconds: started.elapsed().as_secs_f64(),
        };
        if moves.is_empty() {
            ctx.reporter.done(format!(
                "masters per failure domain ({spread}): as even as the replicas allow; nothing to do"
            ));
            ctx.print_json("rebalance-primaries", &report("nothing_to_do", moves))?;
            return Ok(Outcome::Success);
        }
        ctx.reporter.line(&format!(
            "Plan: {} failover(s), masters per failure domain now {spread}:",
            moves.len()
        ));
        for m in &moves {
            ctx.reporter.line(&format!(
                "  fail {} ({}) over to {} ({}) (coordinated: the replica catches up first)",
                m.master, m.from_domain, m.to, m.to_domain
            ));
        }
        if ctx.settings.dry_run {
            ctx.print_json("rebalance-primaries", &report("planned", moves))?;
            return Ok(Outcome::Success);
        }
        ctx.confirm(
            &format!("Fail {} master(s) over?", moves.len()),
            "fail over",
            true,
        )?;
        for m in &moves {
            fail_over_to(ctx, &pods, &m.to).await?;
            ctx.reporter
                .done(format!("{} ({}) is a master now", m.to, m.to_domain));
        }
        ctx.print_json("rebalance-primaries", &report("moved", moves))?;
        Ok(Outcome::Success)
    }
}
