//! The one-stream MIGRATE ceiling: how fast one client moving one slot from one master to
//! another can go on this machine. One connection to the source runs `MIGRATE ... KEYS` with
//! 1000 keys per batch, each pipelined with the `CLUSTER GETKEYSINSLOT` that fetches the next
//! batch, so the source is never idle waiting for the client (one round trip per batch).

use std::time::Instant;

use anyhow::{Context, Result, ensure};

use crate::data::KeySet;
use crate::node::Cluster;
use crate::topo;

/// Keys per MIGRATE.
const BATCH: usize = 1000;
/// MIGRATE timeout in ms (redis-cli's default).
const MIGRATE_TIMEOUT_MS: u32 = 60_000;

/// One measurement of the ceiling.
pub struct CeilingRun {
    /// Seconds from opening the slot to its last key moved.
    pub secs: f64,
    /// Keys moved.
    pub keys: u64,
    /// `Err` says what verification found wrong.
    pub verified: std::result::Result<(), String>,
}

/// On `cluster` (fresh masters, nothing loaded), loads `count` 100-byte keys into the slot of
/// one hash tag, moves that slot to another master by one stream and verifies every key.
pub fn measure(cluster: &Cluster, rt: &tokio::runtime::Runtime, count: u64) -> Result<CeilingRun> {
    let seed = cluster.seed();
    let keys = KeySet {
        tags: vec!["{ceiling}".to_string()],
        count,
        value_size: 100,
    };
    let slot = topo::keyslot(seed, "{ceiling}")?;
    let source = topo::owner_of(seed, slot)?;
    let target = topo::masters(seed)?
        .into_iter()
        .find(|m| m.id != source.id)
        .context("a second master")?;
    rt.block_on(keys.load(seed))?;

    let mut src = topo::connect(&source.addr)?;
    let mut dst = topo::connect(&target.addr)?;
    let (host, port) = target.addr.rsplit_once(':').context("target address")?;
    let start = Instant::now();
    setslot(&mut dst, slot, &["IMPORTING", &source.id])?;
    setslot(&mut src, slot, &["MIGRATING", &target.id])?;
    let mut batch: Vec<String> = getkeysinslot(slot)
        .query(&mut src)
        .context("GETKEYSINSLOT")?;
    let mut moved = 0;
    while !batch.is_empty() {
        moved += batch.len() as u64;
        let mut migrate = redis::cmd("MIGRATE");
        migrate
            .arg(host)
            .arg(port)
            .arg("")
            .arg(0)
            .arg(MIGRATE_TIMEOUT_MS)
            .arg("KEYS")
            .arg(&batch);
        let (_, next): (redis::Value, Vec<String>) = redis::pipe()
            .add_command(migrate)
            .add_command(getkeysinslot(slot))
            .query(&mut src)
            .with_context(|| format!("MIGRATE of slot {slot}"))?;
        batch = next;
    }
    let secs = start.elapsed().as_secs_f64();
    setslot(&mut dst, slot, &["NODE", &target.id])?;
    setslot(&mut src, slot, &["NODE", &target.id])?;
    ensure!(moved == count, "moved {moved} keys, loaded {count}");

    let mut problems = Vec::new();
    if let Err(text) = topo::redis_cli_check_converged(seed)? {
        problems.push(format!("redis-cli --cluster check: {text}"));
    }
    if let Err(e) = rt.block_on(keys.verify(seed))? {
        problems.push(e);
    }
    if topo::dbsize(&target.addr)? != count {
        problems.push(format!("{} does not hold all {count} keys", target.addr));
    }
    let verified = if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    };
    Ok(CeilingRun {
        secs,
        keys: moved,
        verified,
    })
}

/// `CLUSTER GETKEYSINSLOT <slot> <BATCH>`.
fn getkeysinslot(slot: u16) -> redis::Cmd {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("GETKEYSINSLOT").arg(slot).arg(BATCH);
    cmd
}

/// `CLUSTER SETSLOT <slot> <args>` on `conn`.
fn setslot(conn: &mut redis::Connection, slot: u16, args: &[&str]) -> Result<()> {
    redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg(args)
        .query::<()>(conn)
        .with_context(|| format!("CLUSTER SETSLOT {slot} {}", args.join(" ")))
}
