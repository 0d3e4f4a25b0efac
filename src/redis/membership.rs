//! Effects on membership: MEET a node, make a node a replica, FORGET a node everywhere, reset
//! a removed node so its nodes.conf can never rejoin, and manual failover.

use futures::future::{join_all, try_join_all};

use std::time::Duration;

use super::error::{ApplyError, NodeError};
use super::observe::observe_node;
use super::pool::Pool;
use super::wait::{Poll, wait_until};
use crate::plan::membership::Introduction;
use crate::topology::{Endpoint, NodeId};

/// `CLUSTER MEET` sent to `via`, introducing `new` (an IP, its client and bus ports).
pub async fn meet(
    pool: &Pool,
    via: &Endpoint,
    new: &Endpoint,
    cport: u16,
) -> Result<(), NodeError> {
    pool.quick(
        via,
        ::redis::cmd("CLUSTER")
            .arg("MEET")
            .arg(&new.host)
            .arg(new.port)
            .arg(cport)
            .to_owned(),
    )
    .await
}

/// Sends every introduction's `CLUSTER MEET`, all at once, best effort: a MEET that fails
/// (each is bounded, and drops a broken connection) is planned again on the next look.
pub async fn introduce(pool: &Pool, introductions: &[Introduction]) {
    join_all(
        introductions
            .iter()
            .map(|i| meet(pool, &i.via, &i.peer, i.cport)),
    )
    .await;
}

/// `CLUSTER REPLICATE master` on `replica`.
pub async fn replicate(pool: &Pool, replica: &Endpoint, master: &NodeId) -> Result<(), NodeError> {
    pool.quick(
        replica,
        ::redis::cmd("CLUSTER")
            .arg("REPLICATE")
            .arg(master.to_string())
            .to_owned(),
    )
    .await
}

/// `CLUSTER FORGET id` on every node in `on`, all at once (they must all forget it within
/// the 60 s ban window, or gossip brings it back). `Unknown node` means already forgotten.
pub async fn forget_everywhere(pool: &Pool, on: &[Endpoint], id: &NodeId) -> Result<(), NodeError> {
    try_join_all(on.iter().map(|e| async move {
        match pool
            .quick::<()>(
                e,
                ::redis::cmd("CLUSTER")
                    .arg("FORGET")
                    .arg(id.to_string())
                    .to_owned(),
            )
            .await
        {
            Err(err) if err.one_line().contains("Unknown node") => Ok(()),
            other => other,
        }
    }))
    .await?;
    Ok(())
}

/// `CLUSTER RESET HARD`: the node forgets every peer and takes a new id, so nothing of its old
/// membership survives in its nodes.conf. Redis itself refuses it on a master that still
/// holds keys, which is the last guard against dropping data; a replica's copy is flushed.
pub async fn reset_hard(pool: &Pool, node: &Endpoint) -> Result<(), NodeError> {
    pool.quick(
        node,
        ::redis::cmd("CLUSTER").arg("RESET").arg("HARD").to_owned(),
    )
    .await
}

/// `CLUSTER FAILOVER [FORCE|TAKEOVER]` on a replica.
pub async fn failover(
    pool: &Pool,
    replica: &Endpoint,
    mode: Option<&str>,
) -> Result<(), NodeError> {
    let mut cmd = ::redis::cmd("CLUSTER");
    cmd.arg("FAILOVER");
    if let Some(m) = mode {
        cmd.arg(m);
    }
    pool.quick(replica, cmd).await
}

/// [`failover`], then waits until the replica reports itself a master serving slots.
pub async fn failover_and_wait(
    pool: &Pool,
    replica: &Endpoint,
    mode: Option<&str>,
    timeout: Duration,
) -> Result<(), ApplyError> {
    failover(pool, replica, mode).await?;
    wait_until("the promoted replica serves its slots", timeout, || async {
        let me = observe_node(pool, replica).await?;
        Ok::<_, ApplyError>(
            if me.myself().flags.master && !me.myself().slots.is_empty() {
                Poll::Ready(())
            } else {
                Poll::NotYet("still a replica".into())
            },
        )
    })
    .await
}
