//! `reshard`: move N slots from some masters to one.

use anyhow::Context as _;
use clap::Args;

use super::context::{Ctx, Outcome};
use super::move_args::MoveArgs;
use super::moving::{continue_journaled, run_journaled, start};
use super::parse;
use super::refusal::Refusal;
use super::target::resolve_node;
use crate::plan::journal::Journal;
use crate::plan::rebalance::{BalanceError, plan_reshard};
use crate::topology::NodeId;

/// The question before the slots move.
const QUESTION: &str = "Move these slots?";

/// Options of `reshard`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster reshard --from all --to redis-cluster-6 --slots 1000\n  kubectl-redis_cluster --seed 127.0.0.1:7000 reshard --from 127.0.0.1:7003 --to 127.0.0.1:7000 --slots 4096 --yes\n\nReplaces: redis-trib reshard --from <id> --to <id> --slots N --yes <ip>:6379"
)]
pub struct ReshardOpts {
    /// Source masters: NODE[,NODE...] or `all` (every master but the target).
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        value_name = "NODE,...|all"
    )]
    pub from: Vec<String>,

    /// Target master.
    #[arg(long, value_name = "NODE")]
    pub to: String,

    /// How many slots to move.
    #[arg(long, value_name = "N", value_parser = parse::slot_count)]
    pub slots: usize,

    /// How slots are moved.
    #[command(flatten)]
    pub moves: MoveArgs,
}

impl ReshardOpts {
    /// Runs `reshard`: continues the plan of an interrupted run of the same command when it
    /// left a journal, else plans from the arguments.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let start = start(ctx).await?;
        if let Some(journal) = ctx.inherited_journal() {
            if journal.done {
                ctx.reporter.warn(format!(
                    "the last `{}` had moved all {} of its slot(s) when it was stopped, before it let go of the lock: nothing of it is left to do (run the command again for a new reshard)",
                    journal.operation,
                    journal.slot_count()
                ));
                return run_journaled(
                    ctx,
                    &start,
                    journal,
                    Vec::new(),
                    &self.moves.options(),
                    QUESTION,
                    "reshard",
                )
                .await;
            }
            match journal.remaining(&start.slots) {
                Ok(rest) => {
                    return continue_journaled(
                        ctx,
                        &start,
                        journal,
                        rest,
                        &self.moves.options(),
                        QUESTION,
                        "reshard",
                    )
                    .await;
                }
                Err(e) => ctx.reporter.warn(format!(
                    "cannot continue the interrupted run ({e}); planning from the arguments"
                )),
            }
        }
        let to = resolve_node(ctx, &start.view, &self.to)?;
        if !start.slots.contains_key(&to.id) {
            return Err(Refusal::NotAMaster {
                flag: "--to",
                given: self.to.clone(),
                endpoint: to.addr.endpoint(),
            }
            .into());
        }
        let from: Vec<NodeId> = if self.from.iter().any(|f| f == "all") {
            start
                .slots
                .keys()
                .filter(|id| **id != to.id)
                .cloned()
                .collect()
        } else {
            let mut ids = Vec::new();
            for typed in &self.from {
                let line = resolve_node(ctx, &start.view, typed)?;
                if !start.slots.contains_key(&line.id) {
                    return Err(Refusal::NotAMaster {
                        flag: "--from",
                        given: typed.clone(),
                        endpoint: line.addr.endpoint(),
                    }
                    .into());
                }
                ids.push(line.id.clone());
            }
            ids
        };
        let moves = match plan_reshard(&start.slots, &from, &to.id, self.slots) {
            Err(BalanceError::NotEnoughSlots { wanted, available }) if available > 0 => {
                return Err(Refusal::NotEnoughSlots {
                    available,
                    wanted,
                    rerun: format!(
                        "reshard --from {} --to {} --slots {available}",
                        self.from.join(","),
                        self.to
                    ),
                }
                .into());
            }
            planned => planned.context("cannot plan the reshard")?,
        };
        let journal = Journal::of(&ctx.operation, &moves);
        run_journaled(
            ctx,
            &start,
            &journal,
            moves,
            &self.moves.options(),
            QUESTION,
            "reshard",
        )
        .await
    }
}
