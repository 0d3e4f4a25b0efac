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

use ::redis::{Pipeline, Value};
use futures::future::try_join_all;

mod error;
mod finalize;
mod options;
mod replies;

use self::replies::{check_reply, keys_of, my_epoch};
use super::databases::{cluster_databases, select};
use super::pool::{Node, Pool};
use crate::plan::moves::SlotMove;
use crate::topology::lookup::endpoint_of;
use crate::topology::{ClusterView, Endpoint, NodeId};

pub use self::error::MoveError;
pub use self::options::MoveOptions;
pub(super) use self::replies::error_text;

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
}
