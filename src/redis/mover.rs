//! The slot mover: executes [`SlotMove`]s in the Redis Cluster spec order — IMPORTING on the
//! target, MIGRATING on the source, MIGRATE in batches until the slot is empty, then SETSLOT
//! NODE on the target, the source and every other master — fast and safely:
//!
//! - every source drains concurrently (MIGRATE blocks a source's main thread, so sources are
//!   the unit of parallelism), each in windows of slots whose control commands are pipelined,
//!   and each drain round pipelines `MIGRATE; GETKEYSINSLOT` for every open slot of the window;
//! - a slot is finalized only after GETKEYSINSLOT on its source came back empty and every
//!   replica of its target acknowledged the keys ([`super::durability`]), and the
//!   source is told only after the target's config epoch is above the source's, so no node
//!   ever drops keys for a slot it lost (the "dirty slot" trap);
//! - every step is idempotent and tolerant of its own earlier half-run, so a run killed at any
//!   point is finished by observing again and running the resumed moves;
//! - on a cluster with several databases (Valkey ≥ 9.0 `cluster-databases`), a slot is drained
//!   database by database, each MIGRATE into the same database on the target
//!   ([`super::databases`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ::redis::{Pipeline, Value};
use futures::future::try_join_all;

use super::databases::{cluster_databases, select};
use super::durability::{DurabilityError, ReplicasBehind, wait_for_replicas};
use super::error::NodeError;
use super::pool::{Node, Pool, label};
use crate::plan::moves::SlotMove;
use crate::topology::lookup::endpoint_of;
use crate::topology::{ClusterView, Endpoint, NodeId};

/// Knobs of the mover.
#[derive(Clone, Debug)]
pub struct MoveOptions {
    /// Keys per MIGRATE (and per GETKEYSINSLOT).
    pub batch: usize,
    /// Slots per window: control commands are pipelined per window (so each node saves its
    /// nodes.conf once per window, not once per slot), and a window is the most work a re-run
    /// redoes after a kill.
    pub window: usize,
    /// MIGRATE's own timeout.
    pub migrate_timeout: Duration,
    /// Let the source's copy overwrite a different copy of the same key on the target.
    pub replace: bool,
    /// How slots move (`--migration`); the caller picks the mover from it.
    pub migration: crate::plan::method::Migration,
    /// How long a target's replicas may take to acknowledge the keys of a window before the
    /// target takes its slots ([`super::durability`]).
    pub replica_timeout: Duration,
}

impl Default for MoveOptions {
    fn default() -> Self {
        Self {
            // ~1000 keys per MIGRATE is where throughput flattens (research notes §7.2).
            batch: 1000,
            // Measured on the rebalance bench (3 → 4 masters, 200k keys): 128 → 0.91 s,
            // 1024 → 0.71 s; beyond that the one MIGRATE per slot dominates.
            window: 1024,
            migrate_timeout: Duration::from_secs(60),
            replace: false,
            migration: crate::plan::method::Migration::default(),
            replica_timeout: Duration::from_secs(60),
        }
    }
}

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

/// Connections per node over which SETSLOTs that wait for replicas are spread.
const LANES: usize = 8;

/// What the key-by-key mover guarantees when Ctrl-C stops it.
const STOPPED_BETWEEN_WINDOWS: &str =
    "the slots in flight were finished and no other slot was opened, none is left open";

/// What the mover did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MoveStats {
    /// Slots moved.
    pub slots: u64,
    /// Keys moved.
    pub keys: u64,
}

/// Live counters, readable while the mover runs (for progress bars).
#[derive(Debug, Default)]
pub struct MoveCounters {
    /// Slots finalized so far.
    pub slots: AtomicU64,
    /// Keys migrated so far.
    pub keys: AtomicU64,
}

/// Runs `moves` on the cluster described by `view`.
pub async fn move_slots(
    pool: &Pool,
    view: &ClusterView,
    moves: &[SlotMove],
    options: &MoveOptions,
    counters: &MoveCounters,
) -> Result<MoveStats, MoveError> {
    let endpoints = endpoints(view, moves)?;
    let masters: Vec<NodeId> = view.masters().map(|r| r.id().clone()).collect();
    let databases = if moves.is_empty() {
        1
    } else {
        cluster_databases(pool, view).await?
    };
    let mut by_source: BTreeMap<&NodeId, Vec<&SlotMove>> = BTreeMap::new();
    for m in moves {
        by_source.entry(&m.from).or_default().push(m);
    }
    let ctx = MoverCtx {
        pool,
        endpoints,
        masters,
        options,
        counters,
        databases,
        stop: AtomicBool::new(false),
        replicated_setslot: view
            .masters()
            .filter(|r| r.engine().is_some_and(|e| e.replicates_setslot()))
            .filter(|r| view.replicas_of(r.id()).next().is_some())
            .map(|r| r.id().clone())
            .collect(),
    };
    let before = (
        counters.slots.load(Ordering::Relaxed),
        counters.keys.load(Ordering::Relaxed),
    );
    try_join_all(
        by_source
            .into_iter()
            .map(|(from, slots)| ctx.drain_source(from, slots)),
    )
    .await?;
    let moved = counters.slots.load(Ordering::Relaxed) - before.0;
    if crate::interrupt::requested() && moved < moves.len() as u64 {
        return Err(MoveError::Interrupted(STOPPED_BETWEEN_WINDOWS));
    }
    Ok(MoveStats {
        slots: moved,
        keys: counters.keys.load(Ordering::Relaxed) - before.1,
    })
}

/// Endpoint of every node a move names.
pub(super) fn endpoints(
    view: &ClusterView,
    moves: &[SlotMove],
) -> Result<BTreeMap<NodeId, Endpoint>, MoveError> {
    let mut out = BTreeMap::new();
    for id in moves
        .iter()
        .flat_map(|m| [&m.from, &m.to])
        .chain(view.masters().map(|r| r.id()))
    {
        if !out.contains_key(id) {
            let e = endpoint_of(view, id).ok_or_else(|| MoveError::UnknownNode(id.to_string()))?;
            out.insert(id.clone(), e);
        }
    }
    Ok(out)
}

/// Shared state of one `move_slots` call.
struct MoverCtx<'a> {
    pool: &'a Pool,
    endpoints: BTreeMap<NodeId, Endpoint>,
    masters: Vec<NodeId>,
    options: &'a MoveOptions,
    counters: &'a MoveCounters,
    /// Databases every slot is drained in (1 but on Valkey ≥ 9.0 with `cluster-databases`).
    databases: u32,
    /// Set when any source fails, so the others stop at their next window.
    stop: AtomicBool,
    /// Masters that replicate SETSLOT to their replicas before applying it (Valkey ≥ 8.0)
    /// and fail it with NOREPLICAS when a replica has not acknowledged it within the
    /// command's TIMEOUT (2 s unless given): the mover gives them its own replica budget.
    replicated_setslot: BTreeSet<NodeId>,
}

/// A slot being drained.
struct Draining<'m> {
    mv: &'m SlotMove,
    /// The database `keys` are in; the slot is drained from 0 up.
    db: u32,
    /// Whether `keys` were listed in `db` (false right after moving on to the next one).
    listed: bool,
    keys: Vec<Vec<u8>>,
    batch: usize,
    /// `--replace`: every MIGRATE of the slot overwrites the target's copies.
    replace_all: bool,
    /// Keys found byte-identical on both sides after a BUSYKEY: the next MIGRATE moves just
    /// these, with REPLACE. Every other key is still compared when it meets a copy.
    replace_only: Vec<Vec<u8>>,
}

impl Draining<'_> {
    /// The keys the next MIGRATE of this slot carries: the identical copies to replace, else
    /// the next batch.
    fn sending(&self) -> impl Iterator<Item = &Vec<u8>> {
        let next: &[Vec<u8>] = if self.replace_only.is_empty() {
            &self.keys[..self.keys.len().min(self.batch)]
        } else {
            &self.replace_only
        };
        next.iter()
    }
}

impl MoverCtx<'_> {
    /// A connection to node `id`.
    async fn node(&self, id: &NodeId) -> Result<Node, MoveError> {
        // Every id was resolved in `endpoints` before any worker started.
        let endpoint = &self.endpoints[id];
        Ok(self.pool.node(endpoint).await?)
    }

    /// Moves every slot of one source, window by window.
    async fn drain_source(&self, from: &NodeId, moves: Vec<&SlotMove>) -> Result<(), MoveError> {
        for window in moves.chunks(self.options.window.max(1)) {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            if crate::interrupt::requested() {
                // The other sources finish their windows too (an error would drop them).
                return Ok(());
            }
            let result = self.move_window(from, window).await;
            if result.is_err() {
                self.stop.store(true, Ordering::Relaxed);
            }
            result?;
        }
        Ok(())
    }

    /// Opens, drains and finalizes one window of slots from one source.
    async fn move_window(&self, from: &NodeId, window: &[&SlotMove]) -> Result<(), MoveError> {
        let taken = self.set_importing(window).await?;
        let (mut draining, source_epoch) = self.set_migrating(from, window, &taken).await?;
        self.drain(from, &mut draining).await?;
        self.finalize(from, window, source_epoch).await
    }

    /// `SETSLOT s IMPORTING from` on each target. Returns the slots a target already owns (a
    /// run interrupted after the target took the slot).
    async fn set_importing(&self, window: &[&SlotMove]) -> Result<Vec<u16>, MoveError> {
        let mut per_target: BTreeMap<&NodeId, (Pipeline, Vec<u16>)> = BTreeMap::new();
        for m in window {
            let (pipe, slots) = per_target.entry(&m.to).or_default();
            self.setslot(pipe, &m.to, m.slot, "IMPORTING", Some(&m.from));
            slots.push(m.slot);
        }
        let taken = try_join_all(
            per_target
                .into_iter()
                .map(|(to, (pipe, slots))| async move {
                    let replies = self.run(to, &pipe, 1).await?;
                    let mut taken = Vec::new();
                    for (reply, slot) in replies.iter().zip(slots) {
                        match error_text(reply) {
                            Some(text) if text.contains("already the owner") => taken.push(slot),
                            _ => check_reply(reply, slot, &self.endpoints[to], &[])?,
                        }
                    }
                    Ok::<_, MoveError>(taken)
                }),
        )
        .await?;
        Ok(taken.into_iter().flatten().collect())
    }

    /// `SETSLOT s MIGRATING to` and the first `GETKEYSINSLOT` for each slot on the source, plus
    /// the source's config epoch. A source may not own a slot only if its target already
    /// does (`taken`: an interrupted earlier run, or a merge by `fix`, which opens the slot on
    /// the holder as importing so MIGRATE runs there); anything else means the slot map
    /// changed under the plan, and nothing is finalized.
    async fn set_migrating<'m>(
        &self,
        from: &NodeId,
        window: &[&'m SlotMove],
        taken: &[u16],
    ) -> Result<(Vec<Draining<'m>>, u64), MoveError> {
        let mut pipe = ::redis::pipe();
        for m in window {
            self.setslot(&mut pipe, from, m.slot, "MIGRATING", Some(&m.to));
            pipe.cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(m.slot)
                .arg(self.options.batch);
        }
        pipe.cmd("CLUSTER").arg("INFO");
        let node = self.node(from).await?;
        let replies = self.run(from, &pipe, 2).await?;
        let mut draining = Vec::new();
        for (i, m) in window.iter().enumerate() {
            let tolerated: &[&str] = if taken.contains(&m.slot) {
                &["not the owner"]
            } else {
                &[]
            };
            check_reply(&replies[2 * i], m.slot, &node.endpoint, tolerated)?;
            draining.push(Draining {
                mv: m,
                db: 0,
                listed: true,
                keys: keys_of(&replies[2 * i + 1], m.slot, &node.endpoint)?,
                batch: self.options.batch,
                replace_all: self.options.replace,
                replace_only: Vec::new(),
            });
        }
        let epoch = my_epoch(&replies[2 * window.len()], &node.endpoint)?;
        Ok((draining, epoch))
    }

    /// Migrates keys until every slot of the window is empty on the source, in every database.
    async fn drain(&self, from: &NodeId, draining: &mut [Draining<'_>]) -> Result<(), MoveError> {
        let mut source = self.node(from).await?;
        let auth = self.pool.credentials();
        let timeout_ms = self.options.migrate_timeout.as_millis().to_string();
        let dbs = self.databases;
        loop {
            // A slot whose database is empty goes on to the next one, if any.
            for d in draining.iter_mut() {
                if d.listed && d.keys.is_empty() && d.db + 1 < dbs {
                    d.db += 1;
                    d.listed = false;
                }
            }
            let active: Vec<usize> = (0..draining.len())
                .filter(|i| !draining[*i].keys.is_empty() || !draining[*i].listed)
                .collect();
            if active.is_empty() {
                return Ok(());
            }
            let mut pipe = ::redis::pipe();
            // For each active slot: where its MIGRATE reply is (if it sends keys) and where
            // its GETKEYSINSLOT reply is.
            let mut at: Vec<(Option<usize>, usize)> = Vec::new();
            let mut n = 0;
            for &i in &active {
                let d = &draining[i];
                n += select(&mut pipe, dbs, d.db);
                let migrate_at = if d.keys.is_empty() {
                    None
                } else {
                    let target = &self.endpoints[&d.mv.to];
                    let cmd = pipe
                        .cmd("MIGRATE")
                        .arg(&target.host)
                        .arg(target.port)
                        .arg("")
                        .arg(d.db)
                        .arg(&timeout_ms);
                    if d.replace_all || !d.replace_only.is_empty() {
                        cmd.arg("REPLACE");
                    }
                    if let Some(c) = auth {
                        match &c.username {
                            Some(user) => cmd.arg("AUTH2").arg(user).arg(&c.password),
                            None => cmd.arg("AUTH").arg(&c.password),
                        };
                    }
                    cmd.arg("KEYS");
                    for k in d.sending() {
                        cmd.arg(k.as_slice());
                    }
                    n += 1;
                    Some(n - 1)
                };
                pipe.cmd("CLUSTER")
                    .arg("GETKEYSINSLOT")
                    .arg(d.mv.slot)
                    .arg(d.batch);
                n += 1;
                at.push((migrate_at, n - 1));
            }
            select(&mut pipe, dbs, 0);
            let replies = source.pipeline(&pipe).await?;
            for (&i, &(migrate_at, keys_at)) in active.iter().zip(&at) {
                let slot = draining[i].mv.slot;
                if let Some(m) = migrate_at {
                    let sent: Vec<Vec<u8>> = draining[i].sending().cloned().collect();
                    draining[i].replace_only.clear();
                    self.after_migrate(&replies[m], &mut draining[i], &sent, &source.endpoint)
                        .await?;
                }
                draining[i].keys = keys_of(&replies[keys_at], slot, &source.endpoint)?;
                draining[i].listed = true;
            }
        }
    }

    /// Interprets one MIGRATE reply: count moved keys, shrink the batch after a timeout,
    /// resolve BUSYKEY by comparing values, fail on anything else.
    async fn after_migrate(
        &self,
        reply: &Value,
        d: &mut Draining<'_>,
        sent: &[Vec<u8>],
        source: &Endpoint,
    ) -> Result<(), MoveError> {
        let Some(text) = error_text(reply) else {
            self.counters
                .keys
                .fetch_add(sent.len() as u64, Ordering::Relaxed);
            return Ok(());
        };
        if text.contains("BUSYKEY") {
            if !d.replace_all {
                d.replace_only = self.check_busy_keys(d, sent, source).await?;
            }
            return Ok(());
        }
        if text.contains("IOERR") && d.batch > 1 {
            // Large keys: fewer per MIGRATE, so each stays within the timeout.
            d.batch = (d.batch / 10).max(1);
            return Ok(());
        }
        Err(MoveError::TopologyChanged {
            slot: d.mv.slot,
            detail: format!("MIGRATE on {source} failed: {text}"),
        })
    }

    /// A BUSYKEY means some of the `sent` keys already exist on the target (a MIGRATE that
    /// timed out after the target restored them, or a stray write). REPLACE is safe only when
    /// both copies are byte-identical, unless the user asked for `--replace`: returns the keys
    /// that are on both sides and identical, to be moved again with REPLACE.
    async fn check_busy_keys(
        &self,
        d: &Draining<'_>,
        sent: &[Vec<u8>],
        source: &Endpoint,
    ) -> Result<Vec<Vec<u8>>, MoveError> {
        let keys: Vec<&Vec<u8>> = sent.iter().collect();
        // ASKING holds for the next command only, so every DUMP needs its own: the target
        // serves a slot it imports only after ASKING, and so does a source that does not own
        // the slot (a holder `fix` merges, which has the slot open as importing).
        let mut dumps = ::redis::pipe();
        let skip = select(&mut dumps, self.databases, d.db);
        for k in &keys {
            dumps.cmd("ASKING");
            dumps.cmd("DUMP").arg(k.as_slice());
        }
        select(&mut dumps, self.databases, 0);
        let mut src = self.node(&d.mv.from).await?;
        let mut dst = self.node(&d.mv.to).await?;
        let on_source = src.pipeline(&dumps).await?;
        let on_target = dst.pipeline(&dumps).await?;
        // Every other reply is ASKING's OK. The source redirects (ASK) a DUMP of a key it no
        // longer has: the same MIGRATE moved it before another key of the batch was refused,
        // so there is no second copy to compare.
        let gone = Value::Nil;
        let on_source: Vec<&Value> = on_source[skip..skip + 2 * keys.len()]
            .iter()
            .skip(1)
            .step_by(2)
            .map(|v| match error_text(v) {
                Some(text) if text.starts_with("ASK ") => &gone,
                _ => v,
            })
            .collect();
        let on_target: Vec<&Value> = on_target[skip..skip + 2 * keys.len()]
            .iter()
            .skip(1)
            .step_by(2)
            .collect();
        // A refused DUMP (a redirect, say) says nothing about the values: stop, never guess.
        for (reply, endpoint) in on_source
            .iter()
            .map(|v| (*v, &src.endpoint))
            .chain(on_target.iter().map(|v| (*v, &dst.endpoint)))
        {
            check_reply(reply, d.mv.slot, endpoint, &[])?;
        }
        let on_both: Vec<(&Vec<u8>, bool)> = keys
            .iter()
            .zip(on_source.into_iter().zip(on_target))
            .filter(|(_, (s, t))| !matches!(s, Value::Nil) && !matches!(t, Value::Nil))
            .map(|(k, (s, t))| (*k, s == t))
            .collect();
        let differing: Vec<&Vec<u8>> = on_both
            .iter()
            .filter(|(_, same)| !same)
            .map(|(k, _)| *k)
            .collect();
        match differing.first() {
            None => Ok(on_both.into_iter().map(|(k, _)| k.clone()).collect()),
            Some(example) => Err(MoveError::BusyKeys {
                slot: d.mv.slot,
                count: differing.len(),
                example: String::from_utf8_lossy(example).into_owned(),
                source_node: source.clone(),
                target: self.endpoints[&d.mv.to].clone(),
            }),
        }
    }

    /// Once every replica of each target has the keys it received, SETSLOT NODE on the
    /// targets, then (once each target's epoch is above the source's) on the source, then on
    /// every other master.
    async fn finalize(
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
        Ok(())
    }

    /// Runs `pipe` on node `on` and returns every reply in order. Where `on` replicates SETSLOT
    /// to replicas, each SETSLOT waits for their acknowledgement before the next command of
    /// its connection runs (about a millisecond each here, so 1024 slots took over a second
    /// per step): the commands are then spread over [`LANES`] connections in groups of
    /// `unit` (a SETSLOT and the GETKEYSINSLOT that follows it stay together), and a
    /// trailing `CLUSTER INFO` runs after all of them.
    async fn run(
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
    async fn became_replica(&self, from: &NodeId) -> bool {
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
    fn setslot(
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
    fn setslot_node(&self, on: &NodeId, slots: &[u16], to: &NodeId, with_info: bool) -> Pipeline {
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
    async fn ensure_epoch_above(
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

/// The text of an error reply (code and message), `None` for any other reply.
pub(super) fn error_text(reply: &Value) -> Option<String> {
    match reply {
        Value::ServerError(e) => Some(
            format!("{} {}", e.code(), e.details().unwrap_or(""))
                .trim()
                .to_string(),
        ),
        _ => None,
    }
}

/// Accepts any non-error reply, or an error containing one of `tolerated`.
fn check_reply(
    reply: &Value,
    slot: u16,
    endpoint: &Endpoint,
    tolerated: &[&str],
) -> Result<(), MoveError> {
    match error_text(reply) {
        Some(text) if !tolerated.iter().any(|t| text.contains(t)) => {
            Err(MoveError::TopologyChanged {
                slot,
                detail: format!("{endpoint} answered `{text}`"),
            })
        }
        _ => Ok(()),
    }
}

/// The keys of a GETKEYSINSLOT reply.
fn keys_of(reply: &Value, slot: u16, endpoint: &Endpoint) -> Result<Vec<Vec<u8>>, MoveError> {
    match reply {
        Value::Array(items) => Ok(items
            .iter()
            .filter_map(|v| match v {
                Value::BulkString(b) => Some(b.clone()),
                _ => None,
            })
            .collect()),
        other => Err(MoveError::TopologyChanged {
            slot,
            detail: format!("{endpoint} answered GETKEYSINSLOT with {other:?}"),
        }),
    }
}

/// `cluster_my_epoch` of a `CLUSTER INFO` reply.
fn my_epoch(reply: &Value, endpoint: &Endpoint) -> Result<u64, MoveError> {
    let text = match reply {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => format!("{other:?}"),
    };
    crate::topology::InfoFields::parse(&text)
        .number("cluster_my_epoch")
        .ok_or_else(|| {
            MoveError::Node(NodeError::Reply {
                endpoint: endpoint.clone(),
                command: "CLUSTER INFO".into(),
                detail: "no cluster_my_epoch".into(),
            })
        })
}
