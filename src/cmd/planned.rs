//! How `scale`, `add-node`, `del-node` and `failover` show and run their plan values
//! ([`crate::plan::steps::Step`]): the `Plan:` line and its numbered steps, then (unless
//! `--dry-run`) one question for the whole plan; membership steps are applied in order
//! through the Redis executor, each announced as it runs.

use super::context::Ctx;
use super::refusal::Refusal;
use crate::output::steps::{describe, numbered};
use crate::plan::steps::{Executor, Step};
use crate::redis::steps::{Roster, StepError, apply_step};

/// What a plan is shown with.
pub struct Shown<'a> {
    /// The `Plan: …` line.
    pub title: String,
    /// The StatefulSet a `scale_statefulset` step names.
    pub statefulset: Option<&'a str>,
    /// The one question before it runs.
    pub question: String,
    /// What a refusal without a terminal says is not done.
    pub action: &'static str,
    /// Whether it is asked without a terminal too (and refused there without `--yes`).
    pub destructive: bool,
}

/// Prints the plan; returns whether to run it: not with `--dry-run`, and only once
/// confirmed (every later question of the run counts as answered).
pub fn present(ctx: &Ctx, steps: &[Step], shown: &Shown<'_>) -> Result<bool, Refusal> {
    ctx.reporter.line(&shown.title);
    if steps.is_empty() {
        ctx.reporter.line("  nothing to change");
    }
    for line in numbered(steps, shown.statefulset) {
        ctx.reporter.line(&line);
    }
    if ctx.settings.dry_run {
        return Ok(false);
    }
    if !steps.is_empty() {
        ctx.confirm_plan(&shown.question, shown.action, shown.destructive)?;
    }
    Ok(true)
}

/// Applies the membership steps of `steps` in order (others are the mover's or
/// Kubernetes'), each announced; a node that is not empty where a join needs it refuses.
pub async fn apply_membership(
    ctx: &Ctx,
    roster: &Roster,
    steps: &[Step],
    statefulset: Option<&str>,
) -> anyhow::Result<()> {
    for step in steps.iter().filter(|s| s.executor() == Executor::Redis) {
        let said = describe(step, statefulset);
        ctx.reporter.step(&said);
        match apply_step(&ctx.pool, roster, step, ctx.settings.timeout).await {
            Ok(()) => {}
            Err(StepError::NotEmpty { node, endpoint }) => {
                return Err(Refusal::PodNotEmpty {
                    pod: node,
                    endpoint,
                }
                .into());
            }
            Err(e) => {
                return Err(anyhow::Error::from(e)
                    .context(format!("cannot {said}; run the same command again")));
            }
        }
        if matches!(step, Step::Reset { .. }) {
            crate::failpoint::hit("scale-down-after-a-reset");
        }
    }
    Ok(())
}
