//! What every slot-moving command shares: wait until the cluster may be changed, finish the
//! moves an interrupted run left open, print the plan, confirm, move with progress, and wait
//! until the cluster is healthy again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde::Serialize;

use super::context::Ctx;
use super::refusal::Refusal;
use crate::interrupt::SafeStop;
use crate::output::progress::MoveProgress;
use crate::output::status::human_bytes;
use crate::plan::durability::{DurabilityLine, TargetDurability, durability};
use crate::plan::estimate::{Estimate, estimate};
use crate::plan::journal::Journal;
use crate::plan::method::{Method, choose_method};
use crate::plan::moves::{MoveLine, OpenSlots, SlotMove, open_slots, projected_slots, summarize};
use crate::redis::atomic::{move_slots_atomic, wait_for_running_exports};
use crate::redis::converge::{blocks_moving, wait_for_cluster, wait_for_slots};
use crate::redis::mover::{MoveCounters, MoveError, MoveOptions, MoveStats, move_slots};
use crate::redis::sample::sample;
use crate::topology::health::Problem;
use crate::topology::lookup::endpoint_of;
use crate::topology::{ClusterView, Endpoint, NodeId, SlotSet};

/// The cluster as a slot-moving command starts from.
pub struct Start {
    /// The converged view.
    pub view: ClusterView,
    /// Moves an earlier run left open; they run first.
    pub resume: Vec<SlotMove>,
    /// Each master's slots once those are finished.
    pub slots: BTreeMap<NodeId, SlotSet>,
    /// The nodes observed from.
    pub seeds: Vec<Endpoint>,
}

/// Waits until the cluster may be changed and sorts out open slots; refuses open slots that
/// need `fix`.
pub async fn start(ctx: &Ctx) -> anyhow::Result<Start> {
    start_from(ctx, &ctx.seeds).await
}

/// [`start`], observing from `seeds` (when membership changed since the command began).
pub async fn start_from(ctx: &Ctx, seeds: &[Endpoint]) -> anyhow::Result<Start> {
    let view = wait_for_cluster(
        &ctx.pool,
        seeds,
        "every node knows every node and reports cluster_state:ok",
        ctx.settings.timeout,
        blocks_moving,
    )
    .await
    .context("the cluster is not ready to move slots; see `status`")?;
    // Atomic migrations a killed run left running hand their slots over on their own: plan
    // only once they have ended, from an observation made after that (one that finished
    // between the observation above and this look would otherwise be planned again).
    let running = wait_for_running_exports(&ctx.pool, &view, ctx.settings.timeout)
        .await
        .context("cannot plan while an earlier run's migrations run")?;
    let view = match running {
        None => view,
        Some(running) => {
            if running > 0 {
                ctx.reporter.warn(format!(
                    "{running} atomic slot migration(s) of an interrupted run were still running; planned after they ended"
                ));
            }
            wait_for_cluster(
                &ctx.pool,
                seeds,
                "every node knows every node and reports cluster_state:ok",
                ctx.settings.timeout,
                blocks_moving,
            )
            .await
            .context("the cluster is not ready to move slots; see `status`")?
        }
    };
    let OpenSlots { resume, stuck } = open_slots(&view);
    if !stuck.is_empty() {
        let lines: Vec<String> = stuck
            .iter()
            .map(|s| format!("slot {}: {}", s.slot, s.reason))
            .collect();
        return Err(Refusal::OpenSlots(lines).into());
    }
    if !resume.is_empty() {
        ctx.reporter.warn(format!(
            "{} slot(s) were left open by an interrupted run; finishing them first",
            resume.len()
        ));
    }
    let slots = projected_slots(&view, &resume);
    Ok(Start {
        view,
        resume,
        slots,
        seeds: seeds.to_vec(),
    })
}

/// `-o json` result of a slot-moving command.
#[derive(Debug, Serialize)]
pub struct MoveReport {
    /// `moved`, `planned` (dry run) or `nothing_to_do`.
    pub result: &'static str,
    /// `atomic` or `keys`.
    pub method: Method,
    /// Every move, in order.
    pub moves: Vec<SlotMove>,
    /// What each target's replicas guarantee for the keys moved to it.
    pub durability: Vec<TargetDurability>,
    /// Keys, bytes and time the moves were estimated to take, each target's memory after
    /// them, and large keys seen (absent when nothing moves or the sampling failed).
    pub estimate: Option<Estimate>,
    /// Slots and keys moved.
    pub stats: MoveStats,
    /// Seconds spent moving.
    pub seconds: f64,
    /// With `--dry-run`: the topology the plan was made against ([`ClusterView::fingerprint`]),
    /// which `apply -f` checks before it runs the saved moves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl MoveReport {
    /// Whether [`execute`] already waited until the cluster converged (it did when it moved).
    pub fn waited_for_convergence(&self) -> bool {
        self.result == "moved"
    }
}

/// Plans the moves still to do from a fresh [`Start`], given how many slots this run has
/// moved already: used when a pod was lost while slots moved (Kubernetes mode).
pub type Replan<'a> = &'a (dyn Fn(&Start, u64) -> anyhow::Result<Vec<SlotMove>> + Sync);

/// Prints the plan, asks, moves, and waits until healthy. Returns what was done.
///
/// In Kubernetes mode, when a node stops answering while slots move (its pod deleted,
/// evicted or restarted), the run waits for the StatefulSet's pods and the cluster, observes
/// again, plans the rest with `replan` and goes on, within `--timeout` per wait.
pub async fn execute(
    ctx: &Ctx,
    start: &Start,
    moves: Vec<SlotMove>,
    replan: Replan<'_>,
    options: &MoveOptions,
    question: &str,
) -> anyhow::Result<MoveReport> {
    execute_journaled(ctx, start, moves, replan, options, question, None).await
}

/// [`execute`], saving `journal` once confirmed and before the first slot moves.
pub async fn execute_journaled(
    ctx: &Ctx,
    start: &Start,
    moves: Vec<SlotMove>,
    replan: Replan<'_>,
    options: &MoveOptions,
    question: &str,
    journal: Option<&Journal>,
) -> anyhow::Result<MoveReport> {
    let mut all = start.resume.clone();
    all.extend(moves);
    if all.is_empty() {
        ctx.reporter
            .done("nothing to move: the cluster is already as asked");
        return Ok(MoveReport {
            result: "nothing_to_do",
            method: Method::Keys,
            moves: all,
            durability: Vec::new(),
            estimate: None,
            stats: MoveStats::default(),
            seconds: 0.0,
            fingerprint: None,
        });
    }
    // Slots an interrupted run left open carry legacy marks, which atomic migration refuses:
    // they are finished key by key first.
    let method = choose_method(&start.view, &all[start.resume.len()..], options.migration)?;
    let durability = durability(&start.view, &all);
    print_plan(ctx, &start.view, &all, method, start.resume.len());
    ctx.reporter
        .line(&format!("  {}", DurabilityLine(&durability)));
    let estimate = estimate_moves(ctx, &start.view, &all).await?;
    if ctx.settings.dry_run {
        return Ok(MoveReport {
            result: "planned",
            method,
            moves: all,
            durability,
            estimate,
            stats: MoveStats::default(),
            seconds: 0.0,
            fingerprint: Some(start.view.fingerprint()),
        });
    }
    ctx.confirm(question, "move slots", true)?;
    if let Some(journal) = journal {
        ctx.save_journal(journal).await?;
        crate::failpoint::hit("journal-saved");
    }
    let counters = Arc::new(MoveCounters::default());
    let progress =
        MoveProgress::start(counters.clone(), all.len() as u64, ctx.settings.interactive);
    let started = Instant::now();
    let safe_stop = SafeStop::begin();
    let mut again: Option<Start> = None;
    let mut moves = all.clone();
    let mut method = method;
    let moved = loop {
        let current = again.as_ref().unwrap_or(start);
        let attempt = run_moves(ctx, current, &moves, method, options, &counters).await;
        let lost = match &attempt {
            Err(MoveError::Node(e)) if ctx.k8s.is_some() && e.is_transport() => {
                e.endpoint().clone()
            }
            _ => break attempt,
        };
        ctx.reporter.warn(format!(
            "{lost} stopped answering while slots moved (its pod deleted or restarted?): waiting for the pods and the cluster, then moving the rest"
        ));
        ctx.pool.forget(&lost);
        let seeds = ctx
            .wait_for_pods()
            .await
            .context("a pod was lost while slots moved and did not come back; run the same command again once it is back")?;
        let next = start_from(ctx, &seeds).await?;
        let rest = replan(
            &next,
            counters.slots.load(std::sync::atomic::Ordering::Relaxed),
        )?;
        moves = next.resume.clone();
        moves.extend(rest);
        method = choose_method(&next.view, &moves[next.resume.len()..], options.migration)?;
        print_plan(ctx, &next.view, &moves, method, next.resume.len());
        again = Some(next);
    };
    drop(progress);
    drop(safe_stop);
    moved.context(
        "moving slots stopped; run the same command again (or `fix`) to finish: no key is lost",
    )?;
    let stats = MoveStats {
        slots: counters.slots.load(std::sync::atomic::Ordering::Relaxed),
        keys: counters.keys.load(std::sync::atomic::Ordering::Relaxed),
    };
    if crate::interrupt::requested() {
        // Every slot had moved when the mover looked; the steps after it wait for a re-run.
        bail!(
            "interrupted (Ctrl-C) after every slot had moved ({} slot(s), {} key(s)); run the same command again to finish",
            stats.slots,
            stats.keys
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    ctx.reporter.done(format!(
        "moved {} slot(s) and {} key(s) in {seconds:.2}s ({:.0} keys/s)",
        stats.slots,
        stats.keys,
        stats.keys as f64 / seconds.max(0.001)
    ));
    wait_healthy_from(ctx, &again.as_ref().unwrap_or(start).seeds).await?;
    Ok(MoveReport {
        result: "moved",
        method,
        moves: all,
        durability,
        estimate,
        stats,
        seconds,
        fingerprint: None,
    })
}

/// Moves a journaled plan (`reshard`, `apply -f`): `moves` now and, after a lost pod, what
/// the journal still lists; marks the journal done once every slot moved, and prints
/// `command`'s report.
pub async fn run_journaled(
    ctx: &Ctx,
    start: &Start,
    journal: &Journal,
    moves: Vec<SlotMove>,
    options: &MoveOptions,
    question: &str,
    command: &'static str,
) -> anyhow::Result<super::context::Outcome> {
    let replan = |next: &Start, _moved: u64| {
        journal
            .remaining(&next.slots)
            .context("cannot plan the rest of the journaled moves")
    };
    let report =
        execute_journaled(ctx, start, moves, &replan, options, question, Some(journal)).await?;
    ctx.finish_journal(journal).await?;
    crate::failpoint::hit("journal-finished");
    ctx.print_json(command, &report)?;
    Ok(super::context::Outcome::Success)
}

/// [`run_journaled`] for the slots an interrupted run's `journal` still lists (`rest`),
/// saying so first.
pub async fn continue_journaled(
    ctx: &Ctx,
    start: &Start,
    journal: &Journal,
    rest: Vec<SlotMove>,
    options: &MoveOptions,
    question: &str,
    command: &'static str,
) -> anyhow::Result<super::context::Outcome> {
    ctx.reporter.warn(format!(
        "continuing the interrupted `{}`: {} of its {} slot(s) still to move",
        journal.operation,
        rest.len(),
        journal.slot_count()
    ));
    run_journaled(ctx, start, journal, rest, options, question, command).await
}

/// One attempt at `moves`: key by key, or the slots an interrupted run left open key by key
/// and then the others atomically.
async fn run_moves(
    ctx: &Ctx,
    start: &Start,
    moves: &[SlotMove],
    method: Method,
    options: &MoveOptions,
    counters: &MoveCounters,
) -> Result<MoveStats, MoveError> {
    match method {
        Method::Keys => move_slots(&ctx.pool, &start.view, moves, options, counters).await,
        Method::Atomic => {
            let resumed = &moves[..start.resume.len()];
            let fresh = &moves[start.resume.len()..];
            let done = move_slots(&ctx.pool, &start.view, resumed, options, counters).await?;
            let atomic =
                move_slots_atomic(&ctx.pool, &start.view, fresh, options, counters).await?;
            Ok(MoveStats {
                slots: done.slots + atomic.slots,
                keys: done.keys + atomic.keys,
            })
        }
    }
}

/// Waits until every node agrees, no slot is open, every slot is covered and replicas are
/// in sync; marks a replica kept after its master cleared them are cleared through the
/// master while waiting ([`wait_for_slots`]).
pub async fn wait_healthy(ctx: &Ctx) -> anyhow::Result<ClusterView> {
    wait_healthy_from(ctx, &ctx.seeds).await
}

/// [`wait_healthy`], observing from `seeds`.
pub async fn wait_healthy_from(ctx: &Ctx, seeds: &[Endpoint]) -> anyhow::Result<ClusterView> {
    let view = wait_for_slots(
        &ctx.pool,
        seeds,
        "the cluster agrees on the new slot map",
        ctx.settings.timeout,
        |p| {
            blocks_moving(p)
                || matches!(
                    p,
                    Problem::OpenSlots { .. }
                        | Problem::SlotsUncovered { .. }
                        | Problem::ReplicaNotInSync { .. }
                        | Problem::RoleDisagrees { .. }
                )
        },
    )
    .await
    .map_err(|e| Refusal::NotConverged(format!("{e:#}")))?;
    ctx.reporter.done("cluster converged");
    Ok(view)
}

/// Prints one line per (source, target) pair.
fn print_plan(ctx: &Ctx, view: &ClusterView, moves: &[SlotMove], method: Method, resumed: usize) {
    let name = |id: &NodeId| match endpoint_of(view, id) {
        Some(e) => format!("{} ({})", e, id.short()),
        None => id.short().to_string(),
    };
    ctx.reporter
        .line(&format!("Plan: move {} slot(s), {method}", moves.len()));
    if method == Method::Atomic && resumed > 0 {
        ctx.reporter.line(&format!(
            "  first, {resumed} slot(s) an interrupted run left open (MIGRATING/IMPORTING, which atomic migration refuses) are finished key by key"
        ));
    }
    for (from, to, slots) in summarize(moves) {
        ctx.reporter.line(&format!(
            "  {}",
            MoveLine {
                from: &from,
                to: &to,
                slots: &slots,
                name: &name
            }
        ));
    }
}

/// Samples and prints what the moves carry; refuses (before any change, `--dry-run` only
/// warns) when a target's `maxmemory` cannot take what it receives. A failed sampling only
/// warns: the moves themselves say what is wrong with a node.
async fn estimate_moves(
    ctx: &Ctx,
    view: &ClusterView,
    moves: &[SlotMove],
) -> anyhow::Result<Option<Estimate>> {
    let mut samples = match sample(&ctx.pool, view, moves).await {
        Ok(samples) => samples,
        Err(e) => {
            ctx.reporter.warn(format!(
                "cannot estimate the keys to move: {}",
                e.one_line()
            ));
            return Ok(None);
        }
    };
    if let Some(pods) = &ctx.members {
        for id in moves.iter().map(|m| &m.to) {
            let limit = endpoint_of(view, id)
                .and_then(|e| pods.by_ip(&e.host))
                .and_then(|m| m.memory_limit);
            if let Some(limit) = limit {
                samples.limits.insert(id.clone(), limit);
            }
        }
    }
    let estimate = estimate(moves, &samples);
    ctx.reporter.line(&format!(
        "  carries {} key(s), about {}; about {:.1}s at the key-by-key speed `make bench` measures on loopback",
        estimate.keys,
        human_bytes(estimate.bytes),
        estimate.seconds
    ));
    let name = |id: &NodeId| match endpoint_of(view, id) {
        Some(e) => format!("{e} ({})", id.short()),
        None => id.short().to_string(),
    };
    for big in &estimate.big_keys {
        ctx.reporter.warn(format!(
            "slot {}: key `{}` takes {}; its MIGRATE blocks the source until it is copied",
            big.slot,
            big.key,
            human_bytes(big.bytes)
        ));
    }
    let full: Vec<String> = estimate
        .overflowing()
        .filter_map(|t| {
            let (what, cap) = t.ceiling()?;
            Some(format!(
                "{} uses {} and would receive about {} more, over its {what} {}",
                name(&t.node),
                human_bytes(t.used),
                human_bytes(t.incoming),
                human_bytes(cap)
            ))
        })
        .collect();
    if !full.is_empty() {
        let refusal = Refusal::NoRoom(full);
        if !ctx.settings.dry_run {
            return Err(refusal.into());
        }
        ctx.reporter.warn(format!("{refusal}; {}", refusal.hint()));
    }
    Ok(Some(estimate))
}
