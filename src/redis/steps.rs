//! The Redis executor of membership steps ([`crate::plan::steps::Step`]): `join` (MEET),
//! `promote` (CLUSTER FAILOVER), `replicate`, `forget` (on every staying node) and `reset`
//! (CLUSTER RESET HARD). Steps name nodes (by pod, or by address); a [`Roster`] says where
//! each name is and which node id it goes by. Slot moves are the mover's
//! ([`super::mover`]); Kubernetes steps are `crate::k8s`'s.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::{ApplyError, NodeError};
use super::membership::{failover_and_wait, forget_everywhere, meet, replicate, reset_hard};
use super::observe::observe_node;
use super::pool::Pool;
use crate::plan::steps::{FailoverMode, Step};
use crate::topology::{Endpoint, NodeId};

/// Where the nodes a plan names are, as observed just before its steps run.
#[derive(Clone, Debug)]
pub struct Roster {
    endpoints: BTreeMap<String, Endpoint>,
    ids: BTreeMap<String, NodeId>,
    /// The nodes that stay: they are the ones that FORGET a leaving node.
    pub staying: Vec<Endpoint>,
    /// A member a joining node is introduced to.
    pub hub: Option<Endpoint>,
}

impl Roster {
    /// An empty roster: `staying` forget leaving nodes, `hub` introduces joining ones.
    pub fn new(staying: Vec<Endpoint>, hub: Option<Endpoint>) -> Self {
        Self {
            endpoints: BTreeMap::new(),
            ids: BTreeMap::new(),
            staying,
            hub,
        }
    }

    /// Records that `name` is at `endpoint`, as node `id` when it is a member.
    pub fn add(&mut self, name: impl Into<String>, endpoint: Endpoint, id: Option<NodeId>) {
        let name = name.into();
        if let Some(id) = id {
            self.ids.insert(name.clone(), id);
        }
        self.endpoints.insert(name, endpoint);
    }

    /// Records that `name` is node `id`, which answers nowhere (it can still be forgotten).
    pub fn add_unreachable(&mut self, name: impl Into<String>, id: NodeId) {
        self.ids.insert(name.into(), id);
    }

    /// Whether `id` is one of the nodes recorded.
    pub fn knows(&self, id: &NodeId) -> bool {
        self.ids.values().any(|known| known == id)
    }

    fn endpoint(&self, name: &str) -> Result<&Endpoint, StepError> {
        self.endpoints
            .get(name)
            .ok_or_else(|| StepError::Unknown { node: name.into() })
    }

    fn id(&self, name: &str) -> Result<&NodeId, StepError> {
        self.ids
            .get(name)
            .ok_or_else(|| StepError::Unknown { node: name.into() })
    }
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The plan names a node the roster does not hold (it left, or changed address, since
    /// the plan was made).
    #[error(
        "{node} is not where the plan found it (it left or moved since); run the same command again"
    )]
    Unknown {
        /// The name in the plan.
        node: String,
    },
    /// A node to join is not empty or already belongs to a cluster.
    #[error("{node} ({endpoint}) is not an empty lone node")]
    NotEmpty {
        /// The name in the plan.
        node: String,
        /// Its address.
        endpoint: Endpoint,
    },
    /// No member to introduce a joining node to.
    #[error("the cluster has no member to introduce {node} to")]
    NoHub {
        /// The joining node.
        node: String,
    },
    /// The step is not a Redis membership step.
    #[error("`{0}` is not a Redis membership step")]
    NotMine(&'static str),
    /// A node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A promotion did not take effect in time.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// Applies one step; `timeout` bounds the wait for a promoted replica to serve its slots.
pub async fn apply_step(
    pool: &Pool,
    roster: &Roster,
    step: &Step,
    timeout: Duration,
) -> Result<(), StepError> {
    match step {
        Step::Join { node } => {
            let endpoint = roster.endpoint(node)?;
            let report = observe_node(pool, endpoint).await?;
            let me = report.myself();
            // Peers it knows must all be nodes of this cluster: one a killed run had already
            // introduced is introduced again; one from another cluster is refused.
            let stranger_peer = report
                .nodes
                .iter()
                .any(|l| !l.flags.myself && !roster.knows(&l.id));
            if report.keys() > 0 || stranger_peer || !me.slots.is_empty() {
                return Err(StepError::NotEmpty {
                    node: node.clone(),
                    endpoint: endpoint.clone(),
                });
            }
            let hub = roster
                .hub
                .as_ref()
                .ok_or_else(|| StepError::NoHub { node: node.clone() })?;
            meet(pool, hub, endpoint, me.addr.cport).await?;
        }
        Step::Promote { node, mode, .. } => {
            let mode = mode.map(|m| match m {
                FailoverMode::Force => "FORCE",
                FailoverMode::Takeover => "TAKEOVER",
            });
            failover_and_wait(pool, roster.endpoint(node)?, mode, timeout).await?;
        }
        Step::Replicate { node, master } => {
            let (endpoint, master) = (roster.endpoint(node)?, roster.id(master)?);
            // Already following it (the servers may have re-pointed it themselves): a
            // REPLICATE would only restart its replication.
            if observe_node(pool, endpoint)
                .await?
                .myself()
                .master_id
                .as_ref()
                != Some(master)
            {
                replicate(pool, endpoint, master).await?;
            }
        }
        Step::Forget { node } => {
            forget_everywhere(pool, &roster.staying, roster.id(node)?).await?;
        }
        Step::Reset { node } => {
            let endpoint = roster.endpoint(node)?;
            reset_hard(pool, endpoint).await?;
            // Its next answer comes from a node with a new id.
            pool.forget(endpoint);
        }
        other => return Err(StepError::NotMine(other.name())),
    }
    Ok(())
}
