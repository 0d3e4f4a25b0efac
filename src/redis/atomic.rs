//! The atomic mover: runs [`AtomicJob`]s with Valkey's atomic slot migration. One
//! `CLUSTER MIGRATESLOTS SLOTSRANGE … NODE <target>` per job on the source, sources in
//! parallel and each source's jobs one after another (the server snapshots one job at a time
//! anyway); the server streams the keys of every database, pauses writes for a few
//! milliseconds and hands the slots over itself.
//!
//! - An `OK` is not success: each job is polled with `CLUSTER GETSLOTMIGRATIONS` on its source
//!   until it ends, and a job that failed is judged by the topology (a job that lost its link
//!   after the hand-over may have moved the slots anyway); the server's message is reported.
//! - A re-run after a kill first waits for the jobs the killed run left running
//!   ([`wait_for_running_exports`], before it plans), and adopts a job still running for
//!   the same ranges instead of starting a second one; ranges that moved are not planned
//!   again.
//! - A job that outlives its deadline, or runs when Ctrl-C is pressed, is cancelled on the
//!   source (`CLUSTER CANCELSLOTMIGRATIONS`), which rolls it back.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ::redis::Value;
use futures::future::try_join_all;

use super::databases::{cluster_databases, select};
use super::durability::wait_for_replicas;
use super::error::NodeError;
use super::mover::{MoveCounters, MoveError, MoveOptions, MoveStats, endpoints, error_text};
use super::pool::Pool;
use crate::plan::method::{AtomicJob, MAX_JOB_KEYS, atomic_jobs};
use crate::plan::moves::SlotMove;
use crate::topology::{ClusterView, Endpoint, NodeId};

/// How often a running job is looked at.
const POLL: Duration = Duration::from_millis(10);

/// What the atomic mover guarantees when Ctrl-C stops it.
const CANCELLED: &str = "running atomic slot migrations were cancelled (CLUSTER CANCELSLOTMIGRATIONS) and rolled back; jobs that had already handed their slots over count as moved";

/// Runs `moves` with atomic slot migration on the cluster `view` describes.
pub async fn move_slots_atomic(
    pool: &Pool,
    view: &ClusterView,
    moves: &[SlotMove],
    options: &MoveOptions,
    counters: &MoveCounters,
) -> Result<MoveStats, MoveError> {
    if moves.is_empty() {
        return Ok(MoveStats::default());
    }
    let endpoints = endpoints(view, moves)?;
    let databases = cluster_databases(pool, view).await?;
    let mut by_source: BTreeMap<&NodeId, Vec<u16>> = BTreeMap::new();
    for m in moves {
        by_source.entry(&m.from).or_default().push(m.slot);
    }
    let counted = try_join_all(
        by_source
            .iter()
            .map(|(from, slots)| count_keys(pool, &endpoints[*from], slots, databases)),
    )
    .await?;
    let keys: BTreeMap<u16, u64> = counted.into_iter().flatten().collect();
    let jobs = atomic_jobs(moves, &keys, MAX_JOB_KEYS);
    let runner = Runner {
        pool,
        endpoints: &endpoints,
        keys: &keys,
        deadline: options.migrate_timeout.max(Duration::from_secs(60)),
        replica_timeout: options.replica_timeout,
        counters,
    };
    let before = (
        counters.slots.load(Ordering::Relaxed),
        counters.keys.load(Ordering::Relaxed),
    );
    let runner = &runner;
    try_join_all(jobs.values().map(|source_jobs| async move {
        for job in source_jobs {
            match runner.run(job).await {
                // The other sources cancel their own jobs too (an error would drop them).
                Err(MoveError::Interrupted(_)) => return Ok(()),
                done => done?,
            }
        }
        Ok::<_, MoveError>(())
    }))
    .await?;
    let moved = counters.slots.load(Ordering::Relaxed) - before.0;
    if crate::interrupt::requested() && moved < moves.len() as u64 {
        return Err(MoveError::Interrupted(CANCELLED));
    }
    Ok(MoveStats {
        slots: moved,
        keys: counters.keys.load(Ordering::Relaxed) - before.1,
    })
}

/// Waits until no Valkey ≥ 9.0 master of `view` runs an export job (one a killed run left
/// behind), polling `CLUSTER GETSLOTMIGRATIONS`; returns how many were running at first, or
/// `None` when no master can run one (nothing was asked). A plan made while such a job runs,
/// or from an observation made before it ended, would ask sources for slots they gave away:
/// the caller observes again after this returns `Some`.
pub async fn wait_for_running_exports(
    pool: &Pool,
    view: &ClusterView,
    timeout: Duration,
) -> Result<Option<usize>, MoveError> {
    let sources: Vec<Endpoint> = view
        .masters()
        .filter(|r| r.engine().is_some_and(|e| e.has_atomic_slot_migration()))
        .map(|r| r.endpoint.clone())
        .collect();
    if sources.is_empty() {
        return Ok(None);
    }
    let started = Instant::now();
    let mut first = None;
    loop {
        let mut running = 0;
        for source in &sources {
            running += exports(pool, source)
                .await?
                .iter()
                .filter(|j| !j.is_over())
                .count();
        }
        let at_first = *first.get_or_insert(running);
        if running == 0 {
            return Ok(Some(at_first));
        }
        if started.elapsed() > timeout {
            return Err(MoveError::TopologyChanged {
                slot: 0,
                detail: format!(
                    "{running} atomic slot migration(s) started by an earlier run are still running after {timeout:?}; see CLUSTER GETSLOTMIGRATIONS on the masters, or cancel them with CLUSTER CANCELSLOTMIGRATIONS"
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The export jobs `CLUSTER GETSLOTMIGRATIONS` lists on `source`.
async fn exports(pool: &Pool, source: &Endpoint) -> Result<Vec<JobState>, NodeError> {
    let reply: Value = pool
        .node(source)
        .await?
        .call(::redis::cmd("CLUSTER").arg("GETSLOTMIGRATIONS").to_owned())
        .await?;
    Ok(parse_jobs(&reply)
        .into_iter()
        .filter(|j| j.operation.eq_ignore_ascii_case("export"))
        .collect())
}

/// One job as `CLUSTER GETSLOTMIGRATIONS` describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobState {
    /// The job's name (40 hex characters, chosen by the server).
    pub name: String,
    /// `EXPORT` on the source, `IMPORT` on the target.
    pub operation: String,
    /// `0-10 20-29`.
    pub slot_ranges: String,
    /// `snapshotting`, `success`, `failed`, ...
    pub state: String,
    /// Why it failed, or empty.
    pub message: String,
    /// Unix seconds.
    pub create_time: i64,
}

impl JobState {
    /// Whether the job has ended.
    pub fn is_over(&self) -> bool {
        matches!(self.state.as_str(), "success" | "failed" | "cancelled")
    }
}

/// The jobs of a `CLUSTER GETSLOTMIGRATIONS` reply (a map per job, or a flat key/value list
/// in RESP2); unknown fields are ignored.
pub fn parse_jobs(reply: &Value) -> Vec<JobState> {
    let Value::Array(jobs) = reply else {
        return Vec::new();
    };
    jobs.iter()
        .map(|job| {
            let pairs: Vec<(String, String)> = match job {
                Value::Map(kv) => kv.iter().map(|(k, v)| (text(k), text(v))).collect(),
                Value::Array(flat) => flat
                    .chunks(2)
                    .filter_map(|kv| Some((text(kv.first()?), text(kv.get(1)?))))
                    .collect(),
                _ => Vec::new(),
            };
            let mut state = JobState::default();
            for (k, v) in pairs {
                match k.as_str() {
                    "name" => state.name = v,
                    "operation" => state.operation = v,
                    "slot_ranges" => state.slot_ranges = v,
                    "state" => state.state = v,
                    "message" => state.message = v,
                    "create_time" => state.create_time = v.parse().unwrap_or_default(),
                    _ => {}
                }
            }
            state
        })
        .collect()
}

/// A reply value as text.
fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Int(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Shared state of one [`move_slots_atomic`] call.
struct Runner<'a> {
    pool: &'a Pool,
    endpoints: &'a BTreeMap<NodeId, Endpoint>,
    /// Keys per slot on its source, counted before the first job.
    keys: &'a BTreeMap<u16, u64>,
    deadline: Duration,
    /// How long the target's replicas may take to acknowledge a job's keys.
    replica_timeout: Duration,
    counters: &'a MoveCounters,
}

impl Runner<'_> {
    /// Runs one job to its end: adopts a running one for the same ranges, else starts it;
    /// polls it; judges a failure by who owns the slots.
    async fn run(&self, job: &AtomicJob) -> Result<(), MoveError> {
        let source = &self.endpoints[&job.from];
        let target = &self.endpoints[&job.to];
        let ranges = job.ranges_text();
        let keys: u64 = job.slots.iter().filter_map(|s| self.keys.get(&s)).sum();
        if crate::interrupt::requested() {
            return Err(MoveError::Interrupted(CANCELLED));
        }
        let running = self
            .exports(source)
            .await?
            .into_iter()
            .find(|j| j.slot_ranges == ranges && !j.is_over());
        let name = match running {
            Some(j) => j.name,
            None => self.start(source, job, &ranges).await?,
        };
        let started = Instant::now();
        let mut cancelled = false;
        let end = loop {
            let states = self.exports(source).await?;
            if let Some(j) = states.into_iter().find(|j| j.name == name)
                && j.is_over()
            {
                break j;
            }
            if crate::interrupt::requested() && !cancelled {
                // Rolled back unless the hand-over already began; the end state says which.
                self.cancel(source).await;
                cancelled = true;
            }
            if started.elapsed() > self.deadline {
                self.cancel(source).await;
                return Err(MoveError::TopologyChanged {
                    slot: job.slots.iter().next().unwrap_or_default(),
                    detail: format!(
                        "the atomic migration of slots {ranges} from {source} to {target} did not end within {:?}; it was cancelled (nothing moved)",
                        self.deadline
                    ),
                });
            }
            tokio::time::sleep(POLL).await;
        };
        let moved = end.state == "success" || self.target_owns(target, job).await?;
        if moved {
            // The server hands the slots over without waiting for the target's replicas; a
            // job counts as done once they have its keys too ([`super::durability`]).
            let mut node = self.pool.node(target).await?;
            wait_for_replicas(&mut node, self.replica_timeout).await?;
            self.counters
                .slots
                .fetch_add(job.slots.len() as u64, Ordering::Relaxed);
            self.counters.keys.fetch_add(keys, Ordering::Relaxed);
        }
        if crate::interrupt::requested() {
            return Err(MoveError::Interrupted(CANCELLED));
        }
        if !moved {
            return Err(MoveError::TopologyChanged {
                slot: job.slots.iter().next().unwrap_or_default(),
                detail: format!(
                    "the atomic migration of slots {ranges} from {source} to {target} ended {}: {}",
                    end.state,
                    if end.message.is_empty() {
                        "no message"
                    } else {
                        &end.message
                    }
                ),
            });
        }
        Ok(())
    }

    /// Cancels the source's running exports (`CLUSTER CANCELSLOTMIGRATIONS`); a job that
    /// already ended makes the server answer `No migrations ongoing`, which is fine.
    async fn cancel(&self, source: &Endpoint) {
        let _ = self
            .pool
            .quick::<Value>(
                source,
                ::redis::cmd("CLUSTER")
                    .arg("CANCELSLOTMIGRATIONS")
                    .to_owned(),
            )
            .await;
    }

    /// Sends the `MIGRATESLOTS` and finds the job it started (the reply has no name).
    async fn start(
        &self,
        source: &Endpoint,
        job: &AtomicJob,
        ranges: &str,
    ) -> Result<String, MoveError> {
        let before: Vec<String> = self
            .exports(source)
            .await?
            .into_iter()
            .map(|j| j.name)
            .collect();
        let mut cmd = ::redis::cmd("CLUSTER");
        cmd.arg("MIGRATESLOTS").arg("SLOTSRANGE");
        for r in job.slots.ranges() {
            cmd.arg(r.start).arg(r.end);
        }
        cmd.arg("NODE").arg(job.to.to_string());
        let reply: Value = self.pool.node(source).await?.call(cmd).await.or_else(|e| {
            // A slot already exporting: a job from a killed run, adopted below.
            match e.server_code() {
                Some(_) if e.to_string().contains("already migrating") => Ok(Value::Okay),
                _ => Err(e),
            }
        })?;
        if let Some(text) = error_text(&reply) {
            return Err(MoveError::TopologyChanged {
                slot: job.slots.iter().next().unwrap_or_default(),
                detail: format!("{source} refused CLUSTER MIGRATESLOTS {ranges}: {text}"),
            });
        }
        self.exports(source)
            .await?
            .into_iter()
            .filter(|j| j.slot_ranges == ranges && (!before.contains(&j.name) || !j.is_over()))
            .max_by_key(|j| j.create_time)
            .map(|j| j.name)
            .ok_or_else(|| MoveError::TopologyChanged {
                slot: job.slots.iter().next().unwrap_or_default(),
                detail: format!(
                    "{source} accepted CLUSTER MIGRATESLOTS {ranges} but lists no such job"
                ),
            })
    }

    /// The source's export jobs.
    async fn exports(&self, source: &Endpoint) -> Result<Vec<JobState>, NodeError> {
        let reply: Value = self
            .pool
            .node(source)
            .await?
            .call(::redis::cmd("CLUSTER").arg("GETSLOTMIGRATIONS").to_owned())
            .await?;
        Ok(parse_jobs(&reply)
            .into_iter()
            .filter(|j| j.operation.eq_ignore_ascii_case("export"))
            .collect())
    }

    /// Whether the target's own line claims every slot of the job.
    async fn target_owns(&self, target: &Endpoint, job: &AtomicJob) -> Result<bool, NodeError> {
        let report = super::observe::observe_node(self.pool, target).await?;
        let mine = &report.myself().slots;
        Ok(job.slots.iter().all(|s| mine.contains(s)))
    }
}

/// Keys per slot of `slots` on `source`, over every database.
async fn count_keys(
    pool: &Pool,
    source: &Endpoint,
    slots: &[u16],
    databases: u32,
) -> Result<Vec<(u16, u64)>, NodeError> {
    let mut pipe = ::redis::pipe();
    let mut at = Vec::new();
    let mut n = 0;
    for db in 0..databases.max(1) {
        n += select(&mut pipe, databases, db);
        for slot in slots {
            pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(*slot);
            at.push((*slot, n));
            n += 1;
        }
    }
    select(&mut pipe, databases, 0);
    let replies = pool.node(source).await?.pipeline_ok(&pipe).await?;
    let mut keys: BTreeMap<u16, u64> = BTreeMap::new();
    for (slot, i) in at {
        if let Value::Int(k) = replies[i] {
            *keys.entry(slot).or_default() += k.max(0) as u64;
        }
    }
    Ok(keys.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn getslotmigrations_parses_in_resp2_and_ignores_unknown_fields() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("name"),
            bulk("4f1c"),
            bulk("operation"),
            bulk("EXPORT"),
            bulk("slot_ranges"),
            bulk("0-10 20-29"),
            bulk("state"),
            bulk("failed"),
            bulk("message"),
            bulk("Connection lost to target."),
            bulk("create_time"),
            Value::Int(1_796_612_056),
            bulk("remaining_repl_size"),
            Value::Int(0),
        ])]);
        let jobs = parse_jobs(&reply);
        assert_eq!(
            jobs,
            vec![JobState {
                name: "4f1c".into(),
                operation: "EXPORT".into(),
                slot_ranges: "0-10 20-29".into(),
                state: "failed".into(),
                message: "Connection lost to target.".into(),
                create_time: 1_796_612_056,
            }]
        );
        assert!(jobs[0].is_over());
        assert!(parse_jobs(&Value::Nil).is_empty());
    }
}
