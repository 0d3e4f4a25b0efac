//! One module per subcommand, wiring observe → plan → confirm → apply → verify. No logic of
//! their own beyond that wiring.

pub mod add_node;
pub mod announce;
pub mod apply;
pub mod cli;
pub mod completion;
pub mod context;
pub mod del_node;
pub mod deploy;
pub mod destroy;
pub mod drain_prep;
pub mod failover;
pub mod fix;
pub mod init;
pub mod local_lock;
pub mod lock;
pub mod move_args;
pub mod moving;
pub mod parse;
pub mod placement;
pub mod planned;
pub mod preflight;
pub mod proxy;
pub mod rebalance;
pub mod rebalance_primaries;
pub mod rebalance_replicas;
pub mod refusal;
pub mod report;
pub mod reshard;
pub mod rollout;
pub mod scale;
pub mod scale_plan;
pub mod status;
pub mod target;
pub mod unlock;

pub use context::{Ctx, Outcome};
pub use refusal::Refusal;

#[cfg(test)]
mod snapshots;
#[cfg(test)]
mod snapshots_reports;
