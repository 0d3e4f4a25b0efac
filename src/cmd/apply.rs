//! `apply -f PLAN`: runs a plan saved with `--dry-run -o json` (of `reshard`, `rebalance` or
//! `scale`) once it has been reviewed, and only against the cluster it was made for: the
//! plan carries a fingerprint of the topology it was made against (every node's id, role,
//! master and slots), and a cluster that changed since is refused before anything changes.
//!
//! A saved slot-move plan runs exactly its moves, with the journal every reshard keeps: an
//! `apply` killed mid-way is finished by the same command (its journal, not the fingerprint,
//! says what is left). A saved scale plan runs `scale` with the plan's shape, which must plan
//! the same steps again.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::context::{Ctx, Outcome};
use super::move_args::MoveArgs;
use super::moving::{continue_journaled, run_journaled, start};
use super::refusal::Refusal;
use super::scale::ScaleOpts;
use crate::output::json::schema;
use crate::plan::journal::Journal;
use crate::plan::moves::SlotMove;
use crate::redis::observe::observe_cluster;

/// The one question before a saved plan's slots move.
const QUESTION: &str = "Apply the saved plan?";

/// Options of `apply`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster reshard --from all --to redis-cluster-6 --slots 1000 --dry-run -o json > plan.json\n  kubectl redis-cluster apply -f plan.json\n  kubectl redis-cluster scale --masters 4 --dry-run -o json | kubectl redis-cluster apply -f - --yes\n\nPlans of reshard, rebalance and scale. A cluster that changed since the plan was made is refused: make the plan again."
)]
pub struct ApplyOpts {
    /// The plan, as `--dry-run -o json` printed it (`-`: standard input).
    #[arg(short = 'f', long = "filename", value_name = "FILE", value_parser = read_plan)]
    pub plan: SavedPlan,

    /// How slots are moved.
    #[command(flatten)]
    pub moves: MoveArgs,
}

/// A plan read from its file.
#[derive(Clone, Debug)]
pub struct SavedPlan {
    /// The command it is a plan of.
    pub command: &'static str,
    /// The topology it was made against.
    pub fingerprint: String,
    /// What it does.
    pub what: Saved,
}

/// What a saved plan does.
#[derive(Clone, Debug)]
pub enum Saved {
    /// Exactly these slot moves.
    Moves(Vec<SlotMove>),
    /// `scale` to this shape, planning these steps.
    Scale {
        /// Masters.
        masters: usize,
        /// Replicas per master.
        replicas: usize,
        /// Whether it deletes the leaving pods' claims.
        delete_pvcs: bool,
        /// The steps.
        steps: serde_json::Value,
    },
}

/// Reads and checks a plan file when the command line is parsed: a wrong file never waits
/// on the cluster.
fn read_plan(path: &str) -> Result<SavedPlan, String> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("cannot read stdin: {e}"))?
    } else {
        std::fs::read_to_string(PathBuf::from(path))
            .map_err(|e| format!("cannot read {path}: {e}"))?
    };
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{path} is not a JSON plan (`--dry-run -o json` prints one): {e}"))?;
    let command = ["reshard", "rebalance", "scale"]
        .into_iter()
        .find(|c| doc["schema"] == schema(c))
        .ok_or_else(|| {
            format!(
                "{path} is not a plan of reshard, rebalance or scale (its schema is {})",
                doc["schema"]
            )
        })?;
    if doc["result"] != "planned" {
        return Err(format!(
            "{path} is the report of a run (result {}), not a plan: save the output of --dry-run -o json",
            doc["result"]
        ));
    }
    let fingerprint = doc["fingerprint"]
        .as_str()
        .ok_or_else(|| format!("{path} has no fingerprint of the cluster it was made for"))?
        .to_string();
    let what = if command == "scale" {
        let number = |field: &str| {
            doc[field]
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| format!("{path} has no {field}"))
        };
        let steps = doc["steps"].clone();
        let delete_pvcs = steps
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["step"] == "delete_claim"));
        Saved::Scale {
            masters: number("masters")?,
            replicas: number("replicas_per_master")?,
            delete_pvcs,
            steps,
        }
    } else {
        Saved::Moves(
            serde_json::from_value(doc["moves"].clone())
                .map_err(|e| format!("{path}: its moves do not parse: {e}"))?,
        )
    };
    Ok(SavedPlan {
        command,
        fingerprint,
        what,
    })
}

impl ApplyOpts {
    /// Runs `apply`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let SavedPlan {
            command,
            fingerprint,
            what,
        } = self.plan;
        match what {
            Saved::Moves(moves) => {
                let start = start(ctx).await?;
                // The journal of every move the plan makes: a killed apply of the same plan
                // left it (`-f -` names no file, so the plan's moves must match too).
                let planned = Journal::of(&ctx.operation, &moves);
                let inherited = ctx
                    .inherited_journal()
                    .filter(|j| j.targets == planned.targets);
                if let Some(journal) = inherited {
                    // A killed apply of this same plan: its journal says what is left.
                    let rest = journal
                        .remaining(&start.slots)
                        .context("cannot continue the interrupted apply")?;
                    return continue_journaled(
                        ctx,
                        &start,
                        journal,
                        rest,
                        &self.moves.options(),
                        QUESTION,
                        command,
                    )
                    .await;
                }
                let now = start.view.fingerprint();
                if now != fingerprint {
                    return Err(Refusal::PlanStale {
                        why: format!("fingerprint {fingerprint} in the plan, {now} now"),
                    }
                    .into());
                }
                // Slots an interrupted run left open are finished first by the mover itself.
                let fresh: Vec<SlotMove> = moves
                    .into_iter()
                    .filter(|m| !start.resume.iter().any(|r| r.slot == m.slot))
                    .collect();
                run_journaled(
                    ctx,
                    &start,
                    &planned,
                    fresh,
                    &self.moves.options(),
                    QUESTION,
                    command,
                )
                .await
            }
            Saved::Scale {
                masters,
                replicas,
                delete_pvcs,
                steps,
            } => {
                let view = observe_cluster(&ctx.pool, &ctx.seeds)
                    .await
                    .context("cannot read the cluster")?;
                let now = view.fingerprint();
                if now != fingerprint {
                    return Err(Refusal::PlanStale {
                        why: format!("fingerprint {fingerprint} in the plan, {now} now"),
                    }
                    .into());
                }
                ScaleOpts {
                    masters,
                    replicas_per_master: Some(replicas),
                    delete_pvcs,
                    moves: self.moves,
                    expect: Some(steps),
                }
                .exec(ctx)
                .await
            }
        }
    }
}
