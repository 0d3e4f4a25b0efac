//! What the cluster looks like, read straight from the nodes (`CLUSTER NODES`, `DBSIZE`,
//! `CLUSTER KEYSLOT`) and from `redis-cli --cluster check`, the oracle neither tool under test
//! wrote.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

/// How long `redis-cli --cluster check` may take to come out clean after a tool exits.
const CONVERGE: Duration = Duration::from_secs(5);
/// How long a new node may take to be known by every node.
const JOIN: Duration = Duration::from_secs(30);

/// One master as a node sees it.
#[derive(Debug, Clone)]
pub struct Master {
    /// Node id.
    pub id: String,
    /// `host:port`.
    pub addr: String,
    /// The slot ranges it owns, inclusive.
    pub ranges: Vec<(u16, u16)>,
}

impl Master {
    /// Number of slots it owns.
    pub fn slots(&self) -> u32 {
        self.ranges.iter().map(|(a, b)| u32::from(b - a) + 1).sum()
    }

    /// Whether it owns `slot`.
    pub fn owns(&self, slot: u16) -> bool {
        self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&slot))
    }
}

/// A plain connection to one node.
pub fn connect(addr: &str) -> Result<redis::Connection> {
    redis::Client::open(format!("redis://{addr}"))
        .and_then(|c| c.get_connection())
        .with_context(|| format!("connect to {addr}"))
}

/// The masters `addr` knows, in the order `CLUSTER NODES` lists them.
pub fn masters(addr: &str) -> Result<Vec<Master>> {
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut connect(addr)?)
        .with_context(|| format!("CLUSTER NODES on {addr}"))?;
    Ok(text.lines().filter_map(parse_master).collect())
}

/// One `CLUSTER NODES` line, if it is a master: `id ip:port@bus flags master ping pong epoch
/// link slot...`; slot entries are `n` or `a-b` (open-slot markers `[...]` are not owned slots).
fn parse_master(line: &str) -> Option<Master> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 8 || !fields[2].split(',').any(|f| f == "master") {
        return None;
    }
    let addr = fields[1].split('@').next()?.to_string();
    let ranges = fields[8..]
        .iter()
        .filter(|s| !s.starts_with('['))
        .filter_map(|s| match s.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => s.parse().ok().map(|n| (n, n)),
        })
        .collect();
    Some(Master {
        id: fields[0].to_string(),
        addr,
        ranges,
    })
}

/// The master at `addr`, as `seed` sees it.
pub fn master_at(seed: &str, addr: &str) -> Result<Master> {
    masters(seed)?
        .into_iter()
        .find(|m| m.addr == addr)
        .with_context(|| format!("{seed} does not list {addr} as a master"))
}

/// Waits until every node in `addrs` lists `new` as a connected master, `new` lists them all,
/// and every node reports `cluster_state:ok` (a new master stays `fail` for its first 2 s and
/// until it has learnt the slot map; MIGRATE to it fails with CLUSTERDOWN before that).
/// Returns how long that took.
pub fn wait_joined(addrs: &[String], new: &str) -> Result<Duration> {
    let start = Instant::now();
    loop {
        let mut joined = true;
        for addr in addrs {
            let mut conn = connect(addr)?;
            let text: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query(&mut conn)
                .with_context(|| format!("CLUSTER NODES on {addr}"))?;
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query(&mut conn)
                .with_context(|| format!("CLUSTER INFO on {addr}"))?;
            let known = |a: &String| {
                text.lines()
                    .any(|l| connected_master(l).is_some_and(|m| m == a.as_str()))
            };
            joined &= info.contains("cluster_state:ok")
                && if addr == new {
                    addrs.iter().all(known)
                } else {
                    known(&new.to_string())
                };
        }
        if joined {
            return Ok(start.elapsed());
        }
        ensure!(start.elapsed() < JOIN, "{new} did not join within {JOIN:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The address on a `CLUSTER NODES` line of a master that is fully joined and connected.
fn connected_master(line: &str) -> Option<&str> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let flags = fields.get(2)?;
    let clean = flags.split(',').any(|f| f == "master")
        && !flags.contains("handshake")
        && !flags.contains("noaddr")
        && !flags.contains("fail");
    (clean && fields.get(7) == Some(&"connected"))
        .then(|| fields[1].split('@').next())
        .flatten()
}

/// `DBSIZE` of one node.
pub fn dbsize(addr: &str) -> Result<u64> {
    redis::cmd("DBSIZE")
        .query(&mut connect(addr)?)
        .with_context(|| format!("DBSIZE on {addr}"))
}

/// The hash slot of `key`, as the server computes it.
pub fn keyslot(addr: &str, key: &str) -> Result<u16> {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(&mut connect(addr)?)
        .with_context(|| format!("CLUSTER KEYSLOT {key}"))
}

/// The master that owns `slot`, as `seed` sees it.
pub fn owner_of(seed: &str, slot: u16) -> Result<Master> {
    masters(seed)?
        .into_iter()
        .find(|m| m.owns(slot))
        .with_context(|| format!("no master owns slot {slot}"))
}

/// `redis-cli --cluster check` until it is clean (all slots covered, no open slot, nodes agree),
/// for at most [`CONVERGE`]: gossip may still be spreading the last change when a tool exits.
/// `Err` holds its complaints when it never becomes clean.
pub fn redis_cli_check_converged(seed: &str) -> Result<std::result::Result<(), String>> {
    let start = Instant::now();
    loop {
        let out = Command::new("redis-cli")
            .args(["--cluster", "check", seed])
            .output()
            .context("run redis-cli --cluster check")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success()
            && text.contains("[OK] All 16384 slots covered.")
            && !text.contains("[ERR]")
            && !text.contains("[WARNING]")
        {
            return Ok(Ok(()));
        }
        if start.elapsed() > CONVERGE {
            let complaints: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("[ERR]") || l.contains("[WARNING]"))
                .collect();
            return Ok(Err(if complaints.is_empty() {
                text
            } else {
                complaints.join(" / ")
            }));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Keys held by all of `addrs` together.
pub fn total_keys(addrs: &[String]) -> Result<u64> {
    addrs.iter().map(|a| dbsize(a)).sum()
}
