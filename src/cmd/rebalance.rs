//! `rebalance`: give every master its weighted share of the slots.

use std::collections::BTreeMap;

use anyhow::Context as _;
use clap::Args;

use super::context::{Ctx, Outcome};
use super::move_args::MoveArgs;
use super::moving::{Start, execute, start};
use super::parse;
use super::refusal::Refusal;
use super::target::resolve_node;
use crate::plan::rebalance::plan_rebalance;
use crate::topology::NodeId;

/// `--threshold` when not given: redis-cli's default.
const DEFAULT_THRESHOLD: f64 = 2.0;

/// Options of `rebalance`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster rebalance --use-empty-masters\n  kubectl-redis_cluster --seed 127.0.0.1:7000 rebalance --weight 127.0.0.1:7003=2 --yes\n\nReplaces: redis-trib rebalance --use-empty-masters <ip>:6379"
)]
pub struct RebalanceOpts {
    /// A master's weight (default 1); 0 empties it. Repeatable.
    #[arg(long = "weight", value_name = "NODE=W", value_parser = parse_weight)]
    pub weights: Vec<Weight>,

    /// Leave the cluster alone when every master is within this percentage of its share
    /// (default 2; 0 when finishing an interrupted move, unless given).
    #[arg(long, value_name = "PCT", value_parser = parse::percent)]
    pub threshold: Option<f64>,

    /// Give slots to masters that have none (otherwise they keep none).
    #[arg(long)]
    pub use_empty_masters: bool,

    /// How slots are moved.
    #[command(flatten)]
    pub moves: MoveArgs,
}

impl RebalanceOpts {
    /// Runs `rebalance`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let start = start(ctx).await?;
        let mut weights: BTreeMap<NodeId, f64> = start
            .slots
            .iter()
            .map(|(id, slots)| {
                let w = if slots.is_empty() && !self.use_empty_masters {
                    0.0
                } else {
                    1.0
                };
                (id.clone(), w)
            })
            .collect();
        for Weight { node, weight: w } in &self.weights {
            let typed = format!("{node}={w}");
            let line = resolve_node(ctx, &start.view, node)?;
            if !weights.contains_key(&line.id) {
                return Err(Refusal::NotAMaster {
                    flag: "--weight",
                    given: typed,
                    endpoint: line.addr.endpoint(),
                }
                .into());
            }
            weights.insert(line.id.clone(), *w);
        }
        // An interrupted run had decided the cluster needed balancing and planned exact
        // shares; its re-run finishes that job instead of stopping within the default
        // threshold (an explicit --threshold is kept).
        let threshold = match (self.threshold, start.resume.is_empty()) {
            (Some(given), _) => given,
            (None, true) => DEFAULT_THRESHOLD,
            (None, false) => {
                ctx.reporter.warn(
                    "finishing an interrupted move: balancing exactly (the default threshold is for new rebalances)",
                );
                0.0
            }
        };
        let moves = plan_rebalance(&start.slots, &weights, threshold)
            .context("cannot plan the rebalance")?;
        let replan = |next: &Start, _moved: u64| {
            plan_rebalance(&next.slots, &weights, 0.0).context("cannot plan the rebalance")
        };
        let report = execute(
            ctx,
            &start,
            moves,
            &replan,
            &self.moves.options(),
            "Move these slots?",
        )
        .await?;
        ctx.print_json("rebalance", &report)?;
        Ok(Outcome::Success)
    }
}

/// `--weight NODE=W`, checked when the command line is parsed (before any wait on the
/// cluster): the node is resolved later, against the observed cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Weight {
    /// The node as typed (address, id prefix or pod name).
    pub node: String,
    /// Its weight, 0 or more.
    pub weight: f64,
}

/// Parses `NODE=W`.
fn parse_weight(typed: &str) -> Result<Weight, String> {
    let (node, w) = typed
        .split_once('=')
        .ok_or_else(|| format!("`{typed}` is not NODE=WEIGHT"))?;
    let weight: f64 = w
        .parse()
        .map_err(|_| format!("`{w}` is not a number (NODE=WEIGHT)"))?;
    if !(weight >= 0.0 && weight.is_finite()) {
        return Err(format!("`{w}`: weights must be 0 or more"));
    }
    if node.is_empty() {
        return Err(format!("`{typed}` names no node (NODE=WEIGHT)"));
    }
    Ok(Weight {
        node: node.to_string(),
        weight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_checked_when_the_command_line_is_parsed() {
        assert_eq!(
            parse_weight("redis-cluster-0=0"),
            Ok(Weight {
                node: "redis-cluster-0".into(),
                weight: 0.0
            })
        );
        assert_eq!(parse_weight("10.0.0.1:6379=2.5").map(|w| w.weight), Ok(2.5));
        assert_eq!(
            parse_weight("foo"),
            Err("`foo` is not NODE=WEIGHT".to_string())
        );
        assert_eq!(
            parse_weight("a=x"),
            Err("`x` is not a number (NODE=WEIGHT)".to_string())
        );
        assert_eq!(
            parse_weight("a=-1"),
            Err("`-1`: weights must be 0 or more".to_string())
        );
        assert_eq!(
            parse_weight("a=inf"),
            Err("`inf`: weights must be 0 or more".to_string())
        );
    }
}
