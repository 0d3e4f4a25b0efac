//! The pure model of a cluster: slot sets, `CLUSTER NODES` lines, the observed view of every
//! node, and the health check. No I/O here.

pub mod endpoint;
pub mod engine;
pub mod health;
pub mod lookup;
pub mod node_line;
pub mod slots;
pub mod view;

#[cfg(test)]
pub mod fixtures;

pub use endpoint::Endpoint;
pub use engine::{Engine, EngineKind, Version};
pub use node_line::{NodeAddr, NodeId, NodeLine};
pub use slots::{SLOT_COUNT, SlotRange, SlotSet};
pub use view::{ClusterView, InfoFields, NodeReport, Unreachable};
