//! The end of a window: SETSLOT NODE on each target once its replicas hold the keys, then on
//! the source once the target's config epoch is above the source's, then on every other
//! master; with SETSLOTs spread over several connections where they wait for replicas.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use ::redis::{Pipeline, Value};
use futures::future::try_join_all;

use super::replies::{check_reply, my_epoch};
use super::{LANES, MoveError, MoverCtx};
use crate::plan::moves::SlotMove;
use crate::redis::durability::wait_for_replicas;
use crate::redis::error::NodeError;
use crate::redis::pool::{Node, label};
use crate::topology::NodeId;

impl MoverCtx<'_> {
    /// Once every replica of each target has the keys it received, SETSLOT NODE on the
    /// targets, then (once each target's epoch is above the source's) on the source, then on
    /// every other master.
    pub(super) async fn finalize(
        &self,
        from: &NodeId,
        window: &[&SlotMove],
        source_epoch: u64,
    ) -> Result<(), MoveError> {
        let mut per_target: BTreeMap<&NodeId, Vec<u16>> = BTreeMap::new();
        for m in window {
            per_target.entry(&m.to).or_default().push(m.slot);
        }
        try_join_all(per_target.iter().map(|(to, slots)| async move {
            let mut node = self.node(to).await?;
            wait_for_replicas(&mut node, self.options.replica_timeout).await?;
            let replies = self
                .run(to, &self.setslot_node(to, slots, to, true), 1)
                .await?;
            for (reply, slot) in replies.iter().zip(slots.iter()) {
                check_reply(reply, *slot, &node.endpoint, &[])?;
            }
            self.ensure_epoch_above(&mut node, &replies[slots.len()], source_epoch)
                .await
        }))
        .await?;

        let source = &self.endpoints[from];
        for (to, slots) in &per_target {
            let mut pipe = self.setslot_node(from, slots, to, false);
            // SETSLOT NODE clears a migrating mark but not an importing one (a holder that
            // `fix` merges imports from the owner); the source holds none of these keys now,
            // so STABLE is safe, and a run killed after this leaves no mark to misread.
            for slot in slots.iter() {
                self.setslot(&mut pipe, from, *slot, "STABLE", None);
            }
            let replies = match self.run(from, &pipe, 1).await {
                Ok(replies) => replies,
                Err(e) => {
                    if self.became_replica(from).await {
                        // It gave away its last slot and follows a target now; Valkey drops
                        // the connection of a SETSLOT blocked on its replicas when that
                        // happens, and a replica holds no slot marks.
                        break;
                    }
                    return Err(e.into());
                }
            };
            let slot_twice = slots.iter().chain(slots.iter());
            for (reply, slot) in replies.iter().zip(slot_twice) {
                // A master that just gave away its last slot may already have turned into a
                // replica of the target (cluster-allow-replica-migration): that is fine.
                check_reply(
                    reply,
                    *slot,
                    source,
                    &["only with masters", "only with primaries"],
                )?;
            }
        }
        // Masters that replicate SETSLOT are not told: each SETSLOT there would wait for
        // their replicas (a stalled replica of a bystander would hold the move up to the
        // replica budget), for nothing gossip does not do anyway.
        let others: Vec<&NodeId> = self
            .masters
            .iter()
            .filter(|id| *id != from && !per_target.contains_key(id))
            .filter(|id| !self.replicated_setslot.contains(*id))
            .collect();
        try_join_all(others.into_iter().map(|id| {
            let per_target = &per_target;
            async move {
                for (to, slots) in per_target {
                    // Informing the other masters only saves redirects; gossip does the rest,
                    // so their refusals are not errors.
                    self.run(id, &self.setslot_node(id, slots, to, false), 1)
                        .await?;
                }
                Ok::<_, MoveError>(())
            }
        }))
        .await?;
        self.counters
            .slots
            .fetch_add(window.len() as u64, Ordering::Relaxed);
        crate::failpoint::hit("slots-finalized");
        Ok(())
    }

    /// Runs `pipe` on node `on` and returns every reply in order. Where `on` replicates SETSLOT
    /// to replicas, each SETSLOT waits for their acknowledgement before the next command of
    /// its connection runs (about a millisecond each here, so 1024 slots took over a second
    /// per step): the commands are then spread over [`LANES`] connections in groups of
    /// `unit` (a SETSLOT and the GETKEYSINSLOT that follows it stay together), and a
    /// trailing `CLUSTER INFO` runs after all of them.
    pub(super) async fn run(
        &self,
        on: &NodeId,
        pipe: &Pipeline,
        unit: usize,
    ) -> Result<Vec<Value>, NodeError> {
        let endpoint = &self.endpoints[on];
        let cmds: Vec<&::redis::Cmd> = pipe.cmd_iter().collect();
        let tail = cmds.last().is_some_and(|c| label(c) == "CLUSTER INFO");
        let body = &cmds[..cmds.len() - usize::from(tail)];
        if !self.replicated_setslot.contains(on) || body.len() <= unit {
            return self.pool.node(endpoint).await?.pipeline(pipe).await;
        }
        let per_lane = body.len().div_ceil(unit).div_ceil(LANES) * unit;
        let lanes = body
            .chunks(per_lane)
            .enumerate()
            .map(|(lane, chunk)| async move {
                let mut part = ::redis::pipe();
                for cmd in chunk {
                    part.add_command((*cmd).clone());
                }
                self.pool.lane(endpoint, lane).await?.pipeline(&part).await
            });
        let mut replies: Vec<Value> = try_join_all(lanes).await?.into_iter().flatten().collect();
        if tail {
            let mut last = ::redis::pipe();
            last.add_command(cmds[cmds.len() - 1].clone());
            replies.extend(self.pool.node(endpoint).await?.pipeline(&last).await?);
        }
        Ok(replies)
    }

    /// Whether source `from`, whose connection just failed, answers on a new connection as a
    /// replica.
    pub(super) async fn became_replica(&self, from: &NodeId) -> bool {
        let endpoint = &self.endpoints[from];
        self.pool.forget(endpoint);
        let Ok(mut node) = self.pool.node(endpoint).await else {
            return false;
        };
        let text: Result<String, _> = node
            .call(::redis::cmd("INFO").arg("replication").to_owned())
            .await;
        text.is_ok_and(|t| t.lines().any(|l| l.trim() == "role:slave"))
    }

    /// Adds `CLUSTER SETSLOT slot HOW [node]` for node `on`, with the mover's replica budget
    /// as its TIMEOUT where `on` replicates SETSLOT.
    pub(super) fn setslot(
        &self,
        pipe: &mut Pipeline,
        on: &NodeId,
        slot: u16,
        how: &str,
        node: Option<&NodeId>,
    ) {
        let cmd = pipe.cmd("CLUSTER").arg("SETSLOT").arg(slot).arg(how);
        if let Some(node) = node {
            cmd.arg(node.to_string());
        }
        if self.replicated_setslot.contains(on) {
            cmd.arg("TIMEOUT")
                .arg(self.options.replica_timeout.as_millis() as u64);
        }
    }

    /// `SETSLOT s NODE to` on node `on` for each slot, optionally followed by `CLUSTER INFO`.
    pub(super) fn setslot_node(
        &self,
        on: &NodeId,
        slots: &[u16],
        to: &NodeId,
        with_info: bool,
    ) -> Pipeline {
        let mut pipe = ::redis::pipe();
        for slot in slots {
            self.setslot(&mut pipe, on, *slot, "NODE", Some(to));
        }
        if with_info {
            pipe.cmd("CLUSTER").arg("INFO");
        }
        pipe
    }

    /// Bumps the target's epoch until it is above `source_epoch`; `info` is the target's
    /// `CLUSTER INFO` right after its SETSLOT NODE.
    pub(super) async fn ensure_epoch_above(
        &self,
        target: &mut Node,
        info: &Value,
        source_epoch: u64,
    ) -> Result<(), MoveError> {
        let mut epoch = my_epoch(info, &target.endpoint)?;
        for _ in 0..5 {
            if epoch > source_epoch {
                return Ok(());
            }
            target
                .call::<String>(::redis::cmd("CLUSTER").arg("BUMPEPOCH").to_owned())
                .await?;
            let info: Value = target
                .call(::redis::cmd("CLUSTER").arg("INFO").to_owned())
                .await?;
            epoch = my_epoch(&info, &target.endpoint)?;
        }
        Err(MoveError::TopologyChanged {
            slot: 0,
            detail: format!(
                "{} cannot get a config epoch above its source's ({source_epoch})",
                target.endpoint
            ),
        })
    }
}
