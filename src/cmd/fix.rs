//! `fix`: heal what interrupted operations and restarts leave behind — nodes known under
//! stale addresses (re-MEET them at their current address), open slots (finish interrupted
//! moves; clear stray marks), uncovered slots (give them to the only key holder, or the least
//! loaded master), and slots whose keys are spread over several masters (merge them on one
//! owner with the slot mover). Every decision is printed with its reason; a key with different
//! values on two masters stops the merge (unless `--replace`), and a slot is refused while a
//! master that may hold its keys is unreachable.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use clap::Args;
use futures::future::try_join_all;
use serde::Serialize;

use super::context::{Ctx, Outcome};
use super::move_args::MoveArgs;
use super::moving::wait_healthy;
use super::parse;
use super::refusal::Refusal;
use crate::plan::heal::{SlotFix, StaleAddress, plan_slot_fixes, stale_addresses};
use crate::plan::moves::{ReplicaMark, SlotMove, open_slots, replica_marks};
use crate::redis::connector::resolve;
use crate::redis::converge::{wait_for_addresses, wait_for_cluster};
use crate::redis::databases::cluster_databases;
use crate::redis::membership::meet;
use crate::redis::mover::{MoveCounters, MoveError, move_slots};
use crate::redis::observe::observe_cluster;
use crate::redis::repair::{claim_slots, count_keys, open_for_merge, stabilize, take_slot};
use crate::topology::health::Problem;
use crate::topology::lookup::endpoint_of;
use crate::topology::{ClusterView, Endpoint, NodeId, SlotSet};

/// Options of `fix`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster fix --dry-run\n  kubectl redis-cluster fix\n  kubectl-redis_cluster --seed 10.0.0.1:6379 fix --nodes 10.0.0.2:6379,10.0.0.3:6379 --yes\n\nKeys of one slot found on several masters are merged on one owner. A key held with different values by two masters stops the merge; --replace lets the copy being merged win.\n\nReplaces: redis-trib fix, CLUSTER FORGET/MEET by hand, and IP-rewrite scripts for nodes.conf"
)]
pub struct FixOpts {
    /// Current addresses of nodes whose address changed (without Kubernetes): HOST:PORT,...
    #[arg(long, value_delimiter = ',', value_name = "HOST:PORT,...", value_parser = parse::endpoint)]
    pub nodes: Vec<Endpoint>,

    /// How keys are moved when finishing interrupted moves and merging spread slots (with
    /// --replace, the copy of the master being merged wins over the owner's).
    #[command(flatten)]
    pub moves: MoveArgs,
}

/// `-o json` result of `fix`.
#[derive(Debug, Serialize)]
pub struct FixReport {
    /// Nodes re-introduced at their current address (`ip:port`).
    pub readdressed: Vec<String>,
    /// Every slot decision ([`SlotFix`]: `fix` and its fields, `reason` in words).
    pub fixes: Vec<SlotFix>,
    /// Marks replicas kept after their masters cleared them, cleared through the masters.
    pub replica_marks: Vec<ReplicaMark>,
    /// How many slots could not be fixed safely.
    pub refused: usize,
}

impl FixOpts {
    /// Runs `fix`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let mut seeds = ctx.seeds.clone();
        for e in &self.nodes {
            seeds.push(
                resolve(e)
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
        // Resumable moves are counted too: keys on a third master, or on a target its source
        // is not migrating to, turn a move into a merge.
        let questioned: SlotSet = open
            .stuck
            .iter()
            .map(|s| s.slot)
            .chain(open.resume.iter().map(|m| m.slot))
            .collect::<SlotSet>()
            .union(&uncovered);
        let databases = cluster_databases(&ctx.pool, &view).await?;
        let keys = count_keys(&ctx.pool, &masters, &questioned, databases).await?;
        let fixes = plan_slot_fixes(&view, &open, &uncovered, &keys);
        for f in &fixes {
            ctx.reporter.line(&f.to_string());
        }
        // Cleared by the wait below, on every look (a resumed move can leave one too).
        let marks = replica_marks(&view);
        for m in &marks {
            ctx.reporter.line(&format!(
                "slots {}: replica {} kept marks its master {} cleared; clear them through the master (SETSLOT STABLE replicates)",
                m.slots,
                m.replica.short(),
                m.master.short()
            ));
        }
        let refused = fixes
            .iter()
            .filter(|f| matches!(f, SlotFix::Refuse { .. }))
            .count();
        if fixes.is_empty() && stale.is_empty() && marks.is_empty() {
            ctx.reporter.done("nothing to fix");
        }
        if !ctx.settings.dry_run && fixes.len() > refused {
            ctx.confirm("Apply these slot fixes?", "fix slots", true)?;
            self.apply(ctx, &view, &fixes).await?;
        }
        if !ctx.settings.dry_run && refused == 0 {
            wait_healthy(ctx).await?;
        }
        let report = FixReport {
            readdressed: stale.iter().map(|s| s.current.to_string()).collect(),
            fixes,
            replica_marks: marks,
            refused,
        };
        ctx.print_json("fix", &report)?;
        if refused > 0 {
            return Err(Refusal::Unfixable(refused).into());
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
        wait_for_addresses(
            &ctx.pool,
            seeds,
            ctx.addresses().as_ref(),
            "every node lists every node at its current address",
            ctx.settings.timeout,
        )
        .await
        .context("the nodes did not converge on their new addresses")?;
        ctx.reporter.done(format!(
            "{} node(s) re-introduced at their current address",
            stale.len()
        ));
        Ok(())
    }

    /// Applies every safe slot decision: clears stray marks, claims uncovered slots, opens
    /// each merge, waits until every node serves again (MIGRATE and RESTORE are refused while
    /// a node's cluster_state is fail), moves keys with the slot mover (interrupted moves and
    /// merges alike), and finally clears the merges' marks.
    async fn apply(&self, ctx: &Ctx, view: &ClusterView, fixes: &[SlotFix]) -> anyhow::Result<()> {
        let mut claims: BTreeMap<NodeId, SlotSet> = BTreeMap::new();
        let mut moves: Vec<SlotMove> = Vec::new();
        let mut merges = 0;
        for f in fixes {
            match f {
                SlotFix::Assign { slot, to, .. } => {
                    claims.entry(to.clone()).or_default().insert(*slot)
                }
                SlotFix::Stabilize { slot, nodes, .. } => {
                    for n in nodes {
                        stabilize(&ctx.pool, &endpoint(view, n)?, *slot).await?;
                    }
                }
                SlotFix::Resume(m) => moves.push(m.clone()),
                SlotFix::Merge { .. } => {
                    moves.extend(open_merge(ctx, view, f).await?);
                    merges += 1;
                }
                SlotFix::Refuse { .. } => {}
            }
        }
        for (to, slots) in &claims {
            claim_slots(&ctx.pool, &endpoint(view, to)?, slots).await?;
        }
        if !moves.is_empty() {
            if merges > 0 || !claims.is_empty() {
                wait_serving(ctx).await?;
            }
            let counters = MoveCounters::default();
            let stats = move_slots(&ctx.pool, view, &moves, &self.moves.options(), &counters)
                .await
                .map_err(|e| {
                    // A conflicting key needs a decision (--replace), not just another run.
                    let rerun = !matches!(e, MoveError::BusyKeys { .. });
                    let hint = if rerun {
                        "; run fix again to continue"
                    } else {
                        ""
                    };
                    anyhow::Error::from(e)
                        .context(format!("moving keys stopped (no key was lost){hint}"))
                })?;
            ctx.reporter.done(format!(
                "finished {} interrupted move(s) and merge(s), {} key(s) moved",
                stats.slots, stats.keys
            ));
        }
        for f in fixes {
            close_merge(ctx, view, f).await?;
        }
        Ok(())
    }
}

/// The address of node `id`.
fn endpoint(view: &ClusterView, id: &NodeId) -> anyhow::Result<Endpoint> {
    endpoint_of(view, id).with_context(|| format!("node {} has no address", id.short()))
}

/// Opens a merge: the slot on every other holder first (pointed at the owner and marked
/// importing), then the owner's own marks are cleared (an owner migrating the slot answers
/// RESTORE of a key it lacks with ASK, so nothing could move in), then the owner claims the
/// slot if it must. In this order a run killed in between still shows the slot open, and the
/// next run merges it on the same owner. Returns the moves that bring the holders' keys to
/// the owner (the mover drains a holder that does not own the slot, as its target does).
async fn open_merge(ctx: &Ctx, view: &ClusterView, fix: &SlotFix) -> anyhow::Result<Vec<SlotMove>> {
    let SlotFix::Merge {
        slot,
        owner,
        claim,
        from,
        marked,
        ..
    } = fix
    else {
        return Ok(Vec::new());
    };
    for (holder, _) in from {
        let claims = view
            .report(holder)
            .is_some_and(|r| r.myself().slots.contains(*slot));
        open_for_merge(&ctx.pool, &endpoint(view, holder)?, *slot, owner, claims).await?;
    }
    let at_owner = endpoint(view, owner)?;
    if marked.contains(owner) {
        stabilize(&ctx.pool, &at_owner, *slot).await?;
    }
    if *claim {
        take_slot(&ctx.pool, &at_owner, *slot, owner).await?;
    }
    Ok(from
        .iter()
        .map(|(holder, _)| SlotMove {
            slot: *slot,
            from: holder.clone(),
            to: owner.clone(),
        })
        .collect())
}

/// Clears every mark on a merged slot (the ones found and the ones [`open_merge`] set), once
/// all its keys are on the owner.
async fn close_merge(ctx: &Ctx, view: &ClusterView, fix: &SlotFix) -> anyhow::Result<()> {
    let SlotFix::Merge {
        slot, from, marked, ..
    } = fix
    else {
        return Ok(());
    };
    let nodes: BTreeSet<&NodeId> = marked.iter().chain(from.iter().map(|(id, _)| id)).collect();
    for id in nodes {
        stabilize(&ctx.pool, &endpoint(view, id)?, *slot).await?;
    }
    Ok(())
}

/// Waits until every node reports `cluster_state:ok`, as MIGRATE needs on the holder and
/// RESTORE on the owner (a slot just claimed takes a moment to reach every node).
async fn wait_serving(ctx: &Ctx) -> anyhow::Result<()> {
    wait_for_cluster(
        &ctx.pool,
        &ctx.seeds,
        "every node reports cluster_state:ok",
        ctx.settings.timeout,
        |p| matches!(p, Problem::StateNotOk { .. }),
    )
    .await
    .context("the claimed slots did not reach every node; run fix again")?;
    Ok(())
}
