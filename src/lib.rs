//! `kubectl redis-cluster`: runs a Redis Cluster without manual steps.
//!
//! Every command is observe → plan → confirm → apply → verify:
//! - [`topology`]: the pure model (slots, `CLUSTER NODES`, views, health);
//! - [`plan`]: pure planners (slot split, replica placement, moves);
//! - [`redis`]: effects on Redis nodes through a [`redis::Connector`];
//! - [`cmd`]: one module per subcommand wiring the above;
//! - [`output`]: tables, colours, JSON, progress and prompts.

pub mod plan;
pub mod topology;
