//! Convergence waits over the whole cluster: before moving anything (every node knows every
//! node, nobody is flagged, `cluster_state:ok` everywhere — where `redis-cli --cluster` fails
//! with `I don't know about node` or `CLUSTERDOWN`), and after a change (fully healthy).

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::BoxFuture;

use super::error::ApplyError;
use super::membership::introduce;
use super::observe::{ObserveError, observe_cluster};
use super::pool::Pool;
use super::repair::clear_replica_marks;
use super::wait::{Poll, WaitTimedOut, wait_until};
use crate::plan::heal::stale_addresses;
use crate::plan::membership::{Introduction, introductions};
use crate::plan::moves::replica_marks;
use crate::topology::health::{Problem, check, explain};
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
    unreachable_member(p)
        || matches!(
            p,
            Problem::StateNotOk { .. }
                | Problem::PeerFlagged { .. }
                | Problem::MissingPeers { .. }
                | Problem::ViewDisagrees { .. }
        )
}

/// Problems that mean some node does not yet know, reach, or trust another: what must clear
/// after MEETs.
pub fn blocks_membership(p: &Problem) -> bool {
    unreachable_member(p)
        || matches!(
            p,
            Problem::MissingPeers { .. } | Problem::PeerFlagged { .. }
        )
}

/// The addresses a MEET may name: in Kubernetes the addresses the StatefulSet's pods hold
/// now, read afresh before each round of introductions; `None` allows any answering member
/// (nodes given by address, where nothing else can hold them).
pub trait Addresses: Sync {
    /// The allowed addresses now, or `None` for any.
    fn current(&self) -> BoxFuture<'_, anyhow::Result<Option<BTreeSet<Endpoint>>>>;
}

/// Any address: for clusters given by address (`--seed`, `--nodes`).
pub struct AnyAddress;

impl Addresses for AnyAddress {
    fn current(&self) -> BoxFuture<'_, anyhow::Result<Option<BTreeSet<Endpoint>>>> {
        Box::pin(async { Ok(None) })
    }
}

/// Waits until every node knows, reaches and trusts every other, as [`wait_for_cluster`]
/// with [`blocks_membership`]; on each look, members that do not list each other yet are
/// introduced with `CLUSTER MEET` ([`introductions`]) instead of waiting for gossip, naming
/// only addresses that `addresses` allows now. Each MEET is a bounded quick command, so a
/// node that went silent under it (a pod deleted mid-wait) costs one bounded look, and the
/// next look dials it afresh.
pub async fn wait_for_membership(
    pool: &Pool,
    seeds: &[Endpoint],
    addresses: &dyn Addresses,
    what: &str,
    timeout: Duration,
) -> Result<ClusterView, ConvergeError> {
    wait_until(what, timeout, || async {
        let view = observe_cluster(pool, seeds).await?;
        let problems = check(&view, None);
        let Some(p) = problems.iter().find(|p| blocks_membership(p)) else {
            return Ok(Poll::Ready(view));
        };
        // The pods are read only when someone needs an introduction; a pod list that fails
        // now is read again on the next look.
        if !introductions(&view, &|_| true).is_empty()
            && let Ok(allowed) = addresses.current().await
        {
            let may_meet = |e: &Endpoint| allowed.as_ref().is_none_or(|a| a.contains(e));
            introduce(pool, &introductions(&view, &may_meet)).await;
        }
        Ok::<_, ConvergeError>(Poll::NotYet(explain(&view, p)))
    })
    .await
}

/// Waits like [`wait_for_membership`]; on each look, besides the missing introductions, a
/// node that answers at another address than some peers list it at (its pod back at a new
/// IP) is introduced again at its current address by each of them. Nodes whose pods were
/// still starting when the wait began are so caught on a later look; without it they stayed
/// listed at their old addresses, unreachable, until the timeout.
pub async fn wait_for_addresses(
    pool: &Pool,
    seeds: &[Endpoint],
    addresses: &dyn Addresses,
    what: &str,
    timeout: Duration,
) -> Result<ClusterView, ConvergeError> {
    wait_until(what, timeout, || async {
        let view = observe_cluster(pool, seeds).await?;
        let stale = stale_addresses(&view);
        let problems = check(&view, None);
        let blocking = problems.iter().find(|p| blocks_membership(p));
        if stale.is_empty() && blocking.is_none() {
            return Ok(Poll::Ready(view));
        }
        if let Ok(allowed) = addresses.current().await {
            let may_meet = |e: &Endpoint| allowed.as_ref().is_none_or(|a| a.contains(e));
            let mut meets = introductions(&view, &may_meet);
            for s in stale.iter().filter(|s| may_meet(&s.current)) {
                for peer in s.seen_by.iter().filter_map(|id| view.report(id)) {
                    meets.push(Introduction {
                        via: peer.endpoint.clone(),
                        peer: s.current.clone(),
                        cport: s.cport,
                    });
                }
            }
            introduce(pool, &meets).await;
        }
        let why = match blocking {
            Some(p) => explain(&view, p),
            None => format!(
                "{} node(s) still listed at an old address by some peers",
                stale.len()
            ),
        };
        Ok::<_, ConvergeError>(Poll::NotYet(why))
    })
    .await
}

/// A node that does not answer and that the cluster lists. An address no node lists (its id
/// unknown) is not a member: typically a seed from before a pod came back at another IP,
/// where its node now answers; waiting for the old address would never end.
fn unreachable_member(p: &Problem) -> bool {
    matches!(p, Problem::Unreachable { node, .. } if node.id.is_some())
}

/// Waits like [`wait_for_cluster`]; on each look, marks that replicas kept after their
/// masters cleared them ([`replica_marks`]) are cleared through the masters, since replicas
/// refuse `SETSLOT`: a killed move on Valkey can leave a target's replica importing after
/// `fix` has cleared the target.
pub async fn wait_for_slots(
    pool: &Pool,
    seeds: &[Endpoint],
    what: &str,
    timeout: Duration,
    blocking: impl Fn(&Problem) -> bool,
) -> Result<ClusterView, ConvergeError> {
    wait_until(what, timeout, || async {
        let view = observe_cluster(pool, seeds).await?;
        let problems = check(&view, None);
        let Some(p) = problems.iter().find(|p| blocking(p)) else {
            return Ok(Poll::Ready(view));
        };
        clear_replica_marks(pool, &view, &replica_marks(&view)).await;
        Ok::<_, ConvergeError>(Poll::NotYet(explain(&view, p)))
    })
    .await
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
            Some(p) => Poll::NotYet(explain(&view, p)),
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::{Fixture, fixture_id};
    use crate::topology::view::Unreachable;

    #[test]
    fn a_stale_address_nobody_lists_blocks_no_wait_but_a_silent_member_does() {
        let mut view = Fixture::healthy(3, 1).view();
        view.unreachable.push(Unreachable {
            endpoint: Endpoint::new("127.0.0.99", 7000),
            id: None,
            error: "Connection refused".into(),
        });
        let problems = check(&view, None);
        assert_eq!(problems.len(), 1, "status still reports it: {problems:?}");
        assert!(!blocks_moving(&problems[0]) && !blocks_membership(&problems[0]));

        let down = Fixture::healthy(3, 1)
            .with(4, |n| n.reachable = false)
            .view();
        let problems = check(&down, None);
        let silent = problems
            .iter()
            .find(|p| matches!(p, Problem::Unreachable { node, .. } if node.id == Some(fixture_id(4))))
            .expect("the member that went silent");
        assert!(blocks_moving(silent) && blocks_membership(silent));
    }
}
