//! `fix`: heal what interrupted operations and restarts leave behind — nodes known under
//! stale addresses (re-MEET them at their current address), open slots (finish interrupted
//! moves; clear stray marks), uncovered slots (give them to the only key holder, or the least
//! loaded master). Every decision is printed with its reason; anything that could lose a key
//! is refused with the facts instead of guessed.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use clap::Args;
use futures::future::try_join_all;
use serde::Serialize;

use super::context::{Ctx, Outcome};
use super::move_args::MoveArgs;
use super::moving::wait_healthy;
use crate::plan::heal::{SlotFix, StaleAddress, plan_slot_fixes, stale_addresses};
use crate::plan::moves::{SlotMove, open_slots};
use crate::redis::connector::resolve;
use crate::redis::converge::{blocks_membership, wait_for_cluster};
use crate::redis::membership::meet;
use crate::redis::mover::{MoveCounters, move_slots};
use crate::redis::observe::observe_cluster;
use crate::redis::repair::{claim_slots, count_keys, stabilize};
use crate::topology::lookup::endpoint_of;
use crate::topology::{ClusterView, Endpoint, NodeId, SlotSet};

/// Options of `fix`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster fix\n  kubectl-redis_cluster --seed 10.0.0.1:6379 fix --nodes 10.0.0.2:6379,10.0.0.3:6379 --yes\n\nReplaces: redis-trib fix, CLUSTER FORGET/MEET by hand, and IP-rewrite scripts for nodes.conf"
)]
pub struct FixOpts {
    /// Current addresses of nodes whose address changed (without Kubernetes): HOST:PORT,...
    #[arg(long, value_delimiter = ',', value_name = "HOST:PORT,...")]
    pub nodes: Vec<String>,

    /// How slots are moved when finishing interrupted moves.
    #[command(flatten)]
    pub moves: MoveArgs,
}

/// `-o json` result of `fix`.
#[derive(Debug, Serialize)]
pub struct FixReport {
    /// Nodes re-introduced at their current address (`ip:port`).
    pub readdressed: Vec<String>,
    /// Every slot decision, as printed.
    pub decisions: Vec<String>,
    /// How many slots could not be fixed safely.
    pub refused: usize,
}

impl FixOpts {
    /// Runs `fix`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let mut seeds = ctx.seeds.clone();
        for typed in &self.nodes {
            let e: Endpoint = typed.parse()?;
            seeds.push(
                resolve(&e)
                    .await
                    .with_context(|| format!("cannot resolve {e}"))?,
            );
        }
        let view = observe_cluster(&ctx.pool, &seeds)
            .await
            .context("cannot read the cluster")?;
        let stale = stale_addresses(&view);
        for s in &stale {
            ctx.reporter.line(&format!(
                "{} answers at {}, but {} node(s) list another address: introduce it again",
                s.id.short(),
                s.current,
                s.seen_by.len()
            ));
        }
        if !stale.is_empty() && !ctx.settings.dry_run {
            ctx.confirm(
                "Re-introduce these nodes at their current addresses?",
                "re-address nodes",
                true,
            )?;
            self.readdress(ctx, &view, &stale, &seeds).await?;
        }
        let view = observe_cluster(&ctx.pool, &seeds)
            .await
            .context("cannot read the cluster")?;
        let open = open_slots(&view);
        let uncovered = view.covered_slots().complement();
        let masters: Vec<(NodeId, Endpoint)> = view
            .masters()
            .map(|r| (r.id().clone(), r.endpoint.clone()))
            .collect();
        let questioned: SlotSet = open
            .stuck
            .iter()
            .map(|s| s.slot)
            .collect::<SlotSet>()
            .union(&uncovered);
        let keys = count_keys(&ctx.pool, &masters, &questioned).await?;
        let fixes = plan_slot_fixes(&view, &open, &uncovered, &keys);
        for f in &fixes {
            ctx.reporter.line(&f.to_string());
        }
        let refused = fixes
            .iter()
            .filter(|f| matches!(f, SlotFix::Refuse { .. }))
            .count();
        let report = FixReport {
            readdressed: stale.iter().map(|s| s.current.to_string()).collect(),
            decisions: fixes.iter().map(ToString::to_string).collect(),
            refused,
        };
        if fixes.is_empty() && stale.is_empty() {
            ctx.reporter.done("nothing to fix");
        }
        if !ctx.settings.dry_run && fixes.len() > refused {
            ctx.confirm("Apply these slot fixes?", "fix slots", true)?;
            self.apply(ctx, &view, &fixes).await?;
        }
        if !ctx.settings.dry_run && refused == 0 {
            wait_healthy(ctx).await?;
        }
        print_report(ctx, &report)?;
        if refused > 0 {
            bail!(
                "{refused} slot(s) could not be fixed safely (see above); inspect their keys and move them by hand"
            );
        }
        Ok(Outcome::Success)
    }

    /// MEETs each re-addressed node from every node that lists it stale, then waits until
    /// every node lists every node at its current address.
    async fn readdress(
        &self,
        ctx: &Ctx,
        view: &ClusterView,
        stale: &[StaleAddress],
        seeds: &[Endpoint],
    ) -> anyhow::Result<()> {
        try_join_all(stale.iter().flat_map(|s| {
            s.seen_by.iter().map(move |peer| async move {
                let via = endpoint_of(view, peer).context("peer without address")?;
                meet(&ctx.pool, &via, &s.current, s.cport).await?;
                Ok::<_, anyhow::Error>(())
            })
        }))
        .await?;
        wait_for_cluster(
            &ctx.pool,
            seeds,
            "every node lists every node at its current address",
            ctx.settings.timeout,
            blocks_membership,
        )
        .await
        .context("the nodes did not converge on their new addresses")?;
        ctx.reporter.done(format!(
            "{} node(s) re-introduced at their current address",
            stale.len()
        ));
        Ok(())
    }

    /// Applies every safe slot decision.
    async fn apply(&self, ctx: &Ctx, view: &ClusterView, fixes: &[SlotFix]) -> anyhow::Result<()> {
        let endpoint = |id: &NodeId| {
            endpoint_of(view, id).with_context(|| format!("node {} has no address", id.short()))
        };
        let mut claims: BTreeMap<NodeId, SlotSet> = BTreeMap::new();
        let mut resume: Vec<SlotMove> = Vec::new();
        for f in fixes {
            match f {
                SlotFix::Assign { slot, to, .. } => {
                    claims.entry(to.clone()).or_default().insert(*slot)
                }
                SlotFix::Stabilize { slot, nodes, .. } => {
                    for n in nodes {
                        stabilize(&ctx.pool, &endpoint(n)?, *slot).await?;
                    }
                }
                SlotFix::Resume(m) => resume.push(m.clone()),
                SlotFix::Refuse { .. } => {}
            }
        }
        for (to, slots) in &claims {
            claim_slots(&ctx.pool, &endpoint(to)?, slots).await?;
        }
        if !resume.is_empty() {
            let counters = MoveCounters::default();
            let stats = move_slots(&ctx.pool, view, &resume, &self.moves.options(), &counters)
                .await
                .context("finishing interrupted moves stopped; run fix again")?;
            ctx.reporter.done(format!(
                "finished {} interrupted move(s), {} key(s)",
                stats.slots, stats.keys
            ));
        }
        Ok(())
    }
}

/// Writes the JSON report when `-o json`.
fn print_report(ctx: &Ctx, report: &FixReport) -> anyhow::Result<()> {
    use std::io::Write as _;
    if ctx.settings.output == crate::output::OutputFormat::Json {
        let mut out = ctx.stdout();
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
    }
    Ok(())
}
