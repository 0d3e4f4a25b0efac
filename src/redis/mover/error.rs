//! Why the mover stopped.

use super::super::durability::{DurabilityError, ReplicasBehind};
use super::super::error::NodeError;
use crate::topology::Endpoint;

/// Why moving stopped.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// A node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The target holds different values for keys the source is moving.
    #[error(
        "slot {slot}: {count} key(s) exist on both {source_node} and {target} with different values (e.g. {example}); nothing was overwritten. Inspect them, or re-run with --replace to let the source's copy win"
    )]
    BusyKeys {
        /// The slot.
        slot: u16,
        /// How many keys differ.
        count: usize,
        /// One of them.
        example: String,
        /// Source endpoint.
        source_node: Endpoint,
        /// Target endpoint.
        target: Endpoint,
    },
    /// A node answered in a way that means the topology changed under us.
    #[error("slot {slot}: {detail}; observe again (re-run the command) to continue")]
    TopologyChanged {
        /// The slot.
        slot: u16,
        /// What was seen.
        detail: String,
    },
    /// A node named by a move is not known.
    #[error("node {0} is not known to the cluster")]
    UnknownNode(String),
    /// A target's replica did not acknowledge the moved keys in time.
    #[error(transparent)]
    ReplicasBehind(#[from] ReplicasBehind),
    /// Ctrl-C: the mover stopped at a safe point.
    #[error("interrupted (Ctrl-C): {0}")]
    Interrupted(&'static str),
}

impl From<DurabilityError> for MoveError {
    fn from(e: DurabilityError) -> Self {
        match e {
            DurabilityError::Node(e) => Self::Node(e),
            DurabilityError::Behind(e) => Self::ReplicasBehind(e),
        }
    }
}
