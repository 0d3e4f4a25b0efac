//! Convergence waits over the whole cluster: before moving anything (every node knows every
//! node, nobody is flagged, `cluster_state:ok` everywhere — where `redis-cli --cluster` fails
//! with `I don't know about node` or `CLUSTERDOWN`), and after a change (fully healthy).

use std::time::Duration;

use super::error::ApplyError;
use super::observe::{ObserveError, observe_cluster};
use super::pool::Pool;
use super::wait::{Poll, WaitTimedOut, wait_until};
use crate::topology::health::{Problem, check};
use crate::topology::{ClusterView, Endpoint};

/// Why a convergence wait failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    /// Observation failed.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// The deadline passed.
    #[error(transparent)]
    Timeout(#[from] WaitTimedOut),
}

impl From<ConvergeError> for ApplyError {
    fn from(e: ConvergeError) -> Self {
        match e {
            ConvergeError::Timeout(t) => ApplyError::Timeout(t),
            ConvergeError::Observe(ObserveError::Node(n)) => ApplyError::Node(n),
            ConvergeError::Observe(ObserveError::NoSeed { first }) => ApplyError::Node(first),
            ConvergeError::Observe(ObserveError::NoSeeds) => ApplyError::Timeout(WaitTimedOut {
                what: "a node to observe".into(),
                waited: Duration::ZERO,
                last: "no seed".into(),
            }),
        }
    }
}

/// Problems that must clear before slots may move: membership and state, not slot layout.
pub fn blocks_moving(p: &Problem) -> bool {
    matches!(
        p,
        Problem::Unreachable { .. }
            | Problem::StateNotOk { .. }
            | Problem::PeerFlagged { .. }
            | Problem::MissingPeers { .. }
            | Problem::ViewDisagrees { .. }
    )
}

/// Problems that mean some node does not yet know, reach, or trust another: what must clear
/// after MEETs.
pub fn blocks_membership(p: &Problem) -> bool {
    matches!(
        p,
        Problem::MissingPeers { .. } | Problem::PeerFlagged { .. } | Problem::Unreachable { .. }
    )
}

/// Waits until no problem satisfying `blocking` remains, and returns that view.
pub async fn wait_for_cluster(
    pool: &Pool,
    seeds: &[Endpoint],
    what: &str,
    timeout: Duration,
    blocking: impl Fn(&Problem) -> bool,
) -> Result<ClusterView, ConvergeError> {
    wait_until(what, timeout, || async {
        let view = observe_cluster(pool, seeds).await?;
        let problems = check(&view, None);
        Ok::<_, ConvergeError>(match problems.iter().find(|p| blocking(p)) {
            None => Poll::Ready(view),
            Some(p) => Poll::NotYet(p.to_string()),
        })
    })
    .await
}
