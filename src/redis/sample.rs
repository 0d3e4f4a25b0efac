//! Reads what [`crate::plan::estimate`] needs before slots move: the keys of every moving
//! slot on its source, the sizes of a few keys in the fullest slots of each source
//! (`MEMORY USAGE`), and each target's `used_memory` and `maxmemory`. A handful of pipelined
//! round trips per node; read-only.

use std::collections::BTreeMap;

use ::redis::Value;
use futures::future::try_join_all;

use super::databases::cluster_databases;
use super::error::NodeError;
use super::pool::Pool;
use super::repair::count_keys;
use crate::plan::estimate::Samples;
use crate::plan::moves::SlotMove;
use crate::topology::lookup::endpoint_of;
use crate::topology::{ClusterView, InfoFields, NodeId, SlotSet};

/// Slots of each source whose keys are sampled (the fullest ones).
const SLOTS_SAMPLED: usize = 16;
/// Keys sampled per slot.
const KEYS_SAMPLED: usize = 4;

/// Samples the cluster for `moves`. Nodes the view cannot place are left out.
pub async fn sample(
    pool: &Pool,
    view: &ClusterView,
    moves: &[SlotMove],
) -> Result<Samples, NodeError> {
    let mut by_source: BTreeMap<&NodeId, SlotSet> = BTreeMap::new();
    for m in moves {
        by_source.entry(&m.from).or_default().insert(m.slot);
    }
    let databases = cluster_databases(pool, view).await?;
    let mut samples = Samples::default();
    let sources = try_join_all(by_source.into_iter().filter_map(|(id, slots)| {
        let endpoint = endpoint_of(view, id)?;
        Some(async move {
            let counts =
                count_keys(pool, &[(id.clone(), endpoint.clone())], &slots, databases).await?;
            let keys: BTreeMap<u16, u64> = counts
                .into_iter()
                .map(|(slot, per_node)| (slot, per_node.values().sum()))
                .collect();
            let mut fullest: Vec<(u16, u64)> = keys.iter().map(|(s, n)| (*s, *n)).collect();
            fullest.sort_by_key(|b| std::cmp::Reverse(b.1));
            fullest.retain(|(_, n)| *n > 0);
            fullest.truncate(SLOTS_SAMPLED);
            let mut per_slot: BTreeMap<u16, Vec<(String, u64)>> = BTreeMap::new();
            if fullest.is_empty() {
                // No key in any moving slot: nothing to size (and no empty pipeline to send).
                return Ok::<_, NodeError>((keys, per_slot));
            }
            let mut node = pool.node(&endpoint).await?;
            let mut list = ::redis::pipe();
            for (slot, _) in &fullest {
                list.cmd("CLUSTER")
                    .arg("GETKEYSINSLOT")
                    .arg(*slot)
                    .arg(KEYS_SAMPLED);
            }
            let listed = node.pipeline(&list).await?;
            let mut named: Vec<(u16, Vec<u8>)> = Vec::new();
            for ((slot, _), reply) in fullest.iter().zip(listed) {
                if let Value::Array(items) = reply {
                    for item in items {
                        if let Value::BulkString(key) = item {
                            named.push((*slot, key));
                        }
                    }
                }
            }
            let mut usage = ::redis::pipe();
            for (_, key) in &named {
                usage.cmd("MEMORY").arg("USAGE").arg(key);
            }
            let sizes = if named.is_empty() {
                Vec::new()
            } else {
                node.pipeline(&usage).await?
            };
            for ((slot, key), size) in named.into_iter().zip(sizes) {
                if let Value::Int(bytes) = size {
                    per_slot.entry(slot).or_default().push((
                        String::from_utf8_lossy(&key).into_owned(),
                        u64::try_from(bytes).unwrap_or(0),
                    ));
                }
            }
            Ok::<_, NodeError>((keys, per_slot))
        })
    }))
    .await?;
    for (keys, sizes) in sources {
        samples.keys.extend(keys);
        samples.sizes.extend(sizes);
    }
    let targets: Vec<&NodeId> = {
        let mut t: Vec<&NodeId> = moves.iter().map(|m| &m.to).collect();
        t.sort();
        t.dedup();
        t
    };
    let memory = try_join_all(targets.into_iter().filter_map(|id| {
        let endpoint = endpoint_of(view, id)?;
        Some(async move {
            let text: String = pool
                .node(&endpoint)
                .await?
                .call(::redis::cmd("INFO").arg("memory").to_owned())
                .await?;
            let info = InfoFields::parse(&text);
            let used = info.number("used_memory").unwrap_or(0);
            let max = info.number("maxmemory").unwrap_or(0);
            Ok::<_, NodeError>((id.clone(), (used, max)))
        })
    }))
    .await?;
    samples.memory = memory.into_iter().collect();
    Ok(samples)
}
