//! Effects `fix` needs beyond the mover: counting keys per slot on every master, claiming
//! uncovered slots, and clearing migrating/importing marks.

use std::collections::BTreeMap;

use ::redis::Value;
use futures::future::try_join_all;

use super::error::NodeError;
use super::pool::Pool;
use crate::plan::heal::KeyCounts;
use crate::topology::{Endpoint, NodeId, SlotSet};

/// `COUNTKEYSINSLOT` for each slot on each master, one pipeline per master.
pub async fn count_keys(
    pool: &Pool,
    masters: &[(NodeId, Endpoint)],
    slots: &SlotSet,
) -> Result<KeyCounts, NodeError> {
    if slots.is_empty() {
        return Ok(KeyCounts::new());
    }
    let per_master = try_join_all(masters.iter().map(|(id, e)| async move {
        let mut pipe = ::redis::pipe();
        for slot in slots.iter() {
            pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot);
        }
        let replies = pool.node(e).await?.pipeline_ok(&pipe).await?;
        let counts: Vec<(u16, u64)> = slots
            .iter()
            .zip(replies)
            .map(|(slot, v)| {
                (
                    slot,
                    if let Value::Int(n) = v {
                        n.max(0) as u64
                    } else {
                        0
                    },
                )
            })
            .collect();
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
