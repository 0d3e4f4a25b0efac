//! Effects `fix` needs beyond the mover: counting keys per slot on every master, claiming
//! slots, opening a slot on the masters whose keys a merge moves, and clearing
//! migrating/importing marks.

use std::collections::BTreeMap;

use ::redis::Value;
use futures::future::{join_all, try_join_all};

use super::databases::select;
use super::error::NodeError;
use super::pool::Pool;
use crate::plan::heal::KeyCounts;
use crate::plan::moves::ReplicaMark;
use crate::topology::ClusterView;
use crate::topology::lookup::endpoint_of;
use crate::topology::{Endpoint, NodeId, SlotSet};

/// `COUNTKEYSINSLOT` for each slot on each master, summed over the cluster's `databases`,
/// one pipeline per master.
pub async fn count_keys(
    pool: &Pool,
    masters: &[(NodeId, Endpoint)],
    slots: &SlotSet,
    databases: u32,
) -> Result<KeyCounts, NodeError> {
    if slots.is_empty() {
        return Ok(KeyCounts::new());
    }
    let per_master = try_join_all(masters.iter().map(|(id, e)| async move {
        let mut pipe = ::redis::pipe();
        let mut at = Vec::new();
        let mut n = 0;
        for db in 0..databases.max(1) {
            n += select(&mut pipe, databases, db);
            for slot in slots.iter() {
                pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot);
                at.push((slot, n));
                n += 1;
            }
        }
        select(&mut pipe, databases, 0);
        let replies = pool.node(e).await?.pipeline_ok(&pipe).await?;
        let mut counts: BTreeMap<u16, u64> = BTreeMap::new();
        for (slot, i) in at {
            let n = if let Value::Int(n) = replies[i] {
                n.max(0) as u64
            } else {
                0
            };
            *counts.entry(slot).or_default() += n;
        }
        Ok::<_, NodeError>((id.clone(), counts))
    }))
    .await?;
    let mut out: KeyCounts = BTreeMap::new();
    for (id, counts) in per_master {
        for (slot, n) in counts {
            out.entry(slot).or_default().insert(id.clone(), n);
        }
    }
    Ok(out)
}

/// `CLUSTER ADDSLOTS` then `CLUSTER BUMPEPOCH`, so the new claim wins over any stale one.
pub async fn claim_slots(pool: &Pool, node: &Endpoint, slots: &SlotSet) -> Result<(), NodeError> {
    let mut pipe = ::redis::pipe();
    let cmd = pipe.cmd("CLUSTER").arg("ADDSLOTS");
    for slot in slots.iter() {
        cmd.arg(slot);
    }
    pipe.cmd("CLUSTER").arg("BUMPEPOCH");
    pool.node(node).await?.pipeline_ok(&pipe).await?;
    Ok(())
}

/// `CLUSTER SETSLOT slot STABLE`: clears the node's migrating/importing mark for the slot.
pub async fn stabilize(pool: &Pool, node: &Endpoint, slot: u16) -> Result<(), NodeError> {
    pool.node(node)
        .await?
        .call::<()>(
            ::redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("STABLE")
                .to_owned(),
        )
        .await
}

/// Clears marks replicas kept after their masters cleared them, through the masters: a
/// `SETSLOT s STABLE` on the master (which has no mark for `s`) replicates to its replicas
/// (Valkey ≥ 8.0), which refuse SETSLOT themselves. Best effort, each a bounded quick
/// command: a wait calls it on every look, and the next look sees what is left.
pub async fn clear_replica_marks(pool: &Pool, view: &ClusterView, marks: &[ReplicaMark]) {
    join_all(marks.iter().flat_map(|mark| {
        let master = endpoint_of(view, &mark.master);
        mark.slots.iter().filter_map(move |slot| {
            let master = master.clone()?;
            Some(async move {
                let _ = pool
                    .quick::<()>(
                        &master,
                        ::redis::cmd("CLUSTER")
                            .arg("SETSLOT")
                            .arg(slot)
                            .arg("STABLE")
                            .to_owned(),
                    )
                    .await;
            })
        })
    }))
    .await;
}

/// Opens `slot` on a master that holds keys in it but will not keep it, so its keys can be
/// migrated to `owner`: drops the master's own claim if it has one (DELSLOTS keeps the keys),
/// points the slot at `owner`, and marks it importing from `owner` — a master that does not
/// own a slot runs MIGRATE for it only while the slot is open there (redis-cli's fix does the
/// same). While the mark is set, the master never deletes its keys when `owner`'s claim
/// reaches it, and a run killed here still shows the slot as open.
pub async fn open_for_merge(
    pool: &Pool,
    holder: &Endpoint,
    slot: u16,
    owner: &NodeId,
    claims: bool,
) -> Result<(), NodeError> {
    let mut pipe = ::redis::pipe();
    if claims {
        pipe.cmd("CLUSTER").arg("DELSLOTS").arg(slot);
    }
    for action in ["NODE", "IMPORTING"] {
        pipe.cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg(action)
            .arg(owner.to_string());
    }
    pool.node(holder).await?.pipeline_ok(&pipe).await?;
    Ok(())
}

/// Makes `owner` (at `node`) claim `slot` whether the slot is unassigned, imported or known
/// as another node's (`SETSLOT NODE` itself; ADDSLOTS would refuse the last two), then
/// `CLUSTER BUMPEPOCH`, so the new claim wins over any stale one.
pub async fn take_slot(
    pool: &Pool,
    node: &Endpoint,
    slot: u16,
    owner: &NodeId,
) -> Result<(), NodeError> {
    let mut pipe = ::redis::pipe();
    pipe.cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("NODE")
        .arg(owner.to_string());
    pipe.cmd("CLUSTER").arg("BUMPEPOCH");
    pool.node(node).await?.pipeline_ok(&pipe).await?;
    Ok(())
}
