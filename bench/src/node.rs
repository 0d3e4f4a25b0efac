//! Real `redis-server` processes, each cluster on a loopback address of its own (127.X.Y.1), in
//! a data dir under the bench's work dir; killed when dropped (also on errors and panics), and
//! `run.sh` kills any left over by their pid files (Ctrl-C, a killed bench).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

/// First client port of every cluster; node i listens on `BASE_PORT + i` (bus: +10000).
const BASE_PORT: u16 = 7000;

/// One `redis-server` process.
pub struct Node {
    /// `host:port`.
    pub addr: String,
    child: Child,
}

impl Node {
    /// Starts an empty cluster-enabled node on `host:port` with its data in `dir`.
    fn start(host: &str, port: u16, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        for p in [port, port + 10000] {
            TcpListener::bind((host, p)).with_context(|| format!("port {host}:{p} is taken"))?;
        }
        let child = Command::new("redis-server")
            // bind-source-addr: bus and MIGRATE connections must come from the node's own
            // address, or peers record 127.0.0.1 for it.
            .args([
                "--bind",
                host,
                "--bind-source-addr",
                host,
                "--port",
                &port.to_string(),
            ])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
            // As in manifests/base/configmap.yaml: an emptied master stays a master (with
            // migration allowed, Redis 7 makes it a replica of the node that took its last
            // slot, and a full sync follows).
            .args([
                "--cluster-allow-replica-migration",
                "no",
                "--cluster-node-timeout",
                "5000",
            ])
            // No persistence: the bench measures slot moves, not disk writes.
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .args([
                "--dir",
                &dir.to_string_lossy(),
                "--logfile",
                "redis.log",
                "--pidfile",
                "redis.pid",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("start redis-server (is it installed? `make deps`)")?;
        let addr = format!("{host}:{port}");
        let node = Self { addr, child };
        let start = Instant::now();
        while TcpStream::connect((host, port)).is_err() {
            ensure!(
                start.elapsed() < Duration::from_secs(10),
                "{} did not start; see {}/redis.log",
                node.addr,
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(node)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nodes of one cluster, all on one fresh loopback host.
pub struct Cluster {
    /// The nodes, in start order.
    pub nodes: Vec<Node>,
    dir: PathBuf,
}

impl Cluster {
    /// Starts `n` empty nodes on a loopback host no other cluster of this bench process uses.
    pub fn start(work: &Path, n: usize) -> Result<Self> {
        let host = next_host();
        let dir = work.join(&host);
        let nodes = (0..n)
            .map(|i| Node::start(&host, BASE_PORT + i as u16, &dir.join(i.to_string())))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { nodes, dir })
    }

    /// The first node's address, a seed for every tool.
    pub fn seed(&self) -> &str {
        &self.nodes[0].addr
    }

    /// The address of node `i`.
    pub fn addr(&self, i: usize) -> &str {
        &self.nodes[i].addr
    }

    /// Every node's address.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    /// Makes the first `masters` nodes a cluster with `kubectl-redis_cluster init` (no replicas).
    pub fn init(&self, plugin: &Path, masters: usize) -> Result<()> {
        let list = self.nodes[..masters]
            .iter()
            .map(|n| n.addr.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let out = Command::new(plugin)
            .args([
                "init",
                "--nodes",
                &list,
                "--replicas-per-master",
                "0",
                "--yes",
            ])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {}", plugin.display()))?;
        if !out.status.success() {
            bail!(
                "init of {list} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// 127.X.Y.1 with X = 200 + pid % 50 (integration tests use 100-199, the test ground 127.1) and
/// Y counting up, so clusters of one run, and of two benches running at once, never collide.
fn next_host() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("127.{}.{}.1", 200 + std::process::id() % 50, 1 + n % 250)
}
