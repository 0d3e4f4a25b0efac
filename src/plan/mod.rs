//! Pure planners: from an observed cluster and the user's intent to a list of steps. No I/O,
//! so every plan is unit-tested, printed by `--dry-run`, and recomputed from scratch on a
//! re-run (a half-done plan observes as a smaller plan).

pub mod durability;
pub mod estimate;
pub mod heal;
pub mod init;
pub mod journal;
pub mod layout;
pub mod membership;
pub mod method;
pub mod moves;
pub mod placement;
pub mod primaries;
pub mod rebalance;
pub mod removal;
pub mod replicas;
pub mod roles;
pub mod rollout;
pub mod scale;
pub mod steps;
