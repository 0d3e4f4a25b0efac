//! The test ground for integration tests: real `redis-server` processes on loopback, each
//! with its own temp dir, killed when the test ends (even on panic); the real plugin binary;
//! `redis-cli --cluster check` as an oracle; and an independent cluster client (redis-rs)
//! that writes keys and reads them back. Secured nodes (passwords, ACL users, TLS) carry an
//! [`Access`] that every one of these clients uses.

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use redis::AsyncCommands;

pub use crate::access::{Access, TlsFiles};
pub use crate::engine::{Engine, engine};

/// The plugin binary under test.
pub const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-redis_cluster");

/// Each test gets its own loopback address (127.X.Y.1), so nodes of parallel tests never
/// compete for ports. X is derived from the process id, Y counts up.
pub fn next_host() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("127.{}.{}.1", 100 + std::process::id() % 100, 1 + n % 250)
}

/// One `redis-server` process.
pub struct RedisNode {
    /// Bound address.
    pub host: String,
    /// Client port.
    pub port: u16,
    /// How clients reach it.
    pub access: Access,
    /// The server it runs.
    pub engine: Engine,
    dir: tempfile::TempDir,
    child: Option<Child>,
    extra: Vec<String>,
}

impl RedisNode {
    /// Starts a cluster-enabled node on `host:port` with extra config `args`.
    pub fn start(host: &str, port: u16, extra: &[&str]) -> Self {
        let extra: Vec<String> = extra.iter().map(ToString::to_string).collect();
        Self::start_secured(host, port, extra, Access::default())
    }

    /// Starts a node whose clients need `access`, with extra config `extra`.
    pub fn start_secured(host: &str, port: u16, extra: Vec<String>, access: Access) -> Self {
        Self::start_engine(engine(), host, port, extra, access)
    }

    /// [`RedisNode::start_secured`] running `engine`'s server, whatever `TEST_ENGINE` says.
    pub fn start_engine(
        engine: Engine,
        host: &str,
        port: u16,
        extra: Vec<String>,
        access: Access,
    ) -> Self {
        let mut node = Self {
            host: host.to_string(),
            port,
            access,
            engine,
            dir: tempfile::tempdir().expect("temp dir for a redis node"),
            child: None,
            extra,
        };
        node.spawn();
        node
    }

    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Starts the process (again) with the same dir, so it keeps its nodes.conf.
    pub fn spawn(&mut self) {
        let child = Command::new(&self.engine.server)
            // bind-source-addr: outgoing bus, replication and MIGRATE connections must come
            // from the node's own address, or peers record 127.0.0.1 for it.
            .args(["--bind", &self.host, "--bind-source-addr", &self.host])
            .args(["--port", &self.port.to_string()])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "3000"])
            .args(["--appendonly", "yes", "--repl-diskless-sync-delay", "0"])
            .args(["--dir", &self.dir.path().to_string_lossy()])
            .args(["--logfile", "redis.log", "--protected-mode", "no"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn the server");
        self.child = Some(child);
        wait_for(&format!("{} to accept connections", self.addr()), || {
            std::net::TcpStream::connect((self.host.as_str(), self.port)).is_ok()
        });
    }

    /// Restarts the node with other extra config, keeping its dir.
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.kill();
        self.extra = extra.iter().map(ToString::to_string).collect();
        self.spawn();
    }

    /// Kills the process (SIGKILL), keeping its dir.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `redis-cli` against this node.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self
            .access
            .cli(&self.engine)
            .args(["-h", &self.host, "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The node's id.
    pub fn id(&self) -> String {
        self.cli(&["cluster", "myid"])
    }
}

impl Drop for RedisNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The number of slots a `CLUSTER NODES` line says its node serves (open-slot marks aside).
pub fn slots_in_line(line: &str) -> usize {
    let slot = |s: &str| s.parse::<usize>().expect("a slot number in CLUSTER NODES");
    line.split(' ')
        .skip(8)
        .filter(|f| !f.starts_with('['))
        .map(|r| r.split_once('-').map_or(1, |(a, b)| slot(b) - slot(a) + 1))
        .sum()
}

/// The slots `node` serves, as its own `CLUSTER NODES` line says.
pub fn own_slot_count(node: &RedisNode) -> usize {
    let lines = node.cli(&["cluster", "nodes"]);
    slots_in_line(
        lines
            .lines()
            .find(|l| l.contains("myself"))
            .expect("own line"),
    )
}

/// Slot count per master as `node` sees it, sorted: `[4096, 4096, 4096, 4096]`.
pub fn slot_counts(node: &RedisNode) -> Vec<usize> {
    let mut counts: Vec<usize> = node
        .cli(&["cluster", "nodes"])
        .lines()
        .filter(|l| l.contains("master"))
        .map(slots_in_line)
        .collect();
    counts.sort_unstable();
    counts
}

/// Polls `cond` for up to 20 s.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Extra redis-server config for a node, given its port.
pub type ServerArgs = Box<dyn Fn(u16) -> Vec<String>>;

/// A set of nodes started together, all reached with the same [`Access`].
pub struct Nodes {
    /// The nodes.
    pub nodes: Vec<RedisNode>,
    /// How clients reach every node.
    pub access: Access,
    /// The server every node runs.
    pub engine: Engine,
    server_args: ServerArgs,
}

impl Nodes {
    /// `n` fresh nodes on one new loopback host.
    pub fn start(n: usize) -> Self {
        Self::on_hosts(&[n])
    }

    /// Fresh nodes on several new loopback hosts: `counts[h]` nodes on host `h`.
    pub fn on_hosts(counts: &[usize]) -> Self {
        let mut nodes = Self::secured(Access::default(), Box::new(|_| Vec::new()));
        for &count in counts {
            nodes.add(count);
        }
        nodes
    }

    /// No nodes yet; nodes added later get `server_args` and need `access`.
    pub fn secured(access: Access, server_args: ServerArgs) -> Self {
        Self::running(engine(), access, server_args)
    }

    /// No nodes yet; nodes added later run `engine`, whatever `TEST_ENGINE` says.
    pub fn running(engine: Engine, access: Access, server_args: ServerArgs) -> Self {
        Self {
            nodes: Vec::new(),
            access,
            engine,
            server_args,
        }
    }

    /// Adds `n` fresh nodes on a new host.
    pub fn add(&mut self, n: usize) -> Vec<String> {
        self.add_on(&next_host(), n)
    }

    /// Adds `n` fresh nodes on `host`.
    pub fn add_on(&mut self, host: &str, n: usize) -> Vec<String> {
        let base = free_port_base(host, n);
        (0..n)
            .map(|i| {
                let port = base + i as u16;
                let node = RedisNode::start_engine(
                    self.engine.clone(),
                    host,
                    port,
                    (self.server_args)(port),
                    self.access.clone(),
                );
                let addr = node.addr();
                self.nodes.push(node);
                addr
            })
            .collect()
    }

    /// `host:port,host:port,...` of every node.
    pub fn list(&self) -> String {
        self.nodes
            .iter()
            .map(RedisNode::addr)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The first node's address, a seed.
    pub fn seed(&self) -> String {
        self.nodes[0].addr()
    }

    /// Runs `init` over all nodes with `replicas` per master and asserts it succeeds.
    pub fn init(&self, replicas: usize) -> Output {
        let out = self.access.plugin(&[
            "init",
            "--nodes",
            &self.list(),
            "--replicas-per-master",
            &replicas.to_string(),
            "--yes",
        ]);
        assert_success(&out);
        out
    }

    /// Runs the plugin with `--seed` at the first node and this set's access.
    pub fn plugin(&self, args: &[&str]) -> Output {
        let seed = self.seed();
        let all: Vec<&str> = ["--seed", seed.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        self.access.plugin(&all)
    }

    /// Writes `count` keys `prefix:{i}` through the independent cluster client.
    pub fn write_keys(&self, prefix: &str, count: usize) {
        write_keys_with(&self.access, &self.seed(), prefix, count);
    }

    /// Asserts every key `prefix:{i}` reads back its value.
    pub fn assert_keys_intact(&self, prefix: &str, count: usize) {
        assert_keys_intact_with(&self.access, &self.seed(), prefix, count);
    }

    /// Asserts `redis-cli --cluster check` finds nothing wrong.
    pub fn assert_redis_cli_agrees_healthy(&self) {
        let (clean, text) = cli_check(&self.engine, &self.access, &self.seed());
        assert!(clean, "redis-cli --cluster check is not clean:\n{text}");
    }

    /// Every node's `CLUSTER NODES` line for itself (id, flags, master, slots), epochs and
    /// link state left out: what a refused command must not change.
    pub fn layout(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| {
                let me = n.cli(&["cluster", "nodes"]);
                let line = me
                    .lines()
                    .find(|l| l.contains("myself"))
                    .unwrap_or_default()
                    .to_string();
                let f: Vec<&str> = line.split(' ').collect();
                format!(
                    "{} {} {} {}",
                    f[0],
                    f[2],
                    f[3],
                    f.get(8..).unwrap_or_default().join(" ")
                )
            })
            .collect()
    }
}

/// A port base on `host` where `n` ports and their bus ports (+10000) are free.
fn free_port_base(host: &str, n: usize) -> u16 {
    (21000..30000)
        .step_by(n.max(1))
        .find(|base| {
            (0..n as u16).all(|i| {
                TcpListener::bind((host, base + i)).is_ok()
                    && TcpListener::bind((host, base + i + 10000)).is_ok()
            })
        })
        .expect("free ports on loopback")
}

/// Runs the plugin with `args` and no terminal.
pub fn plugin(args: &[&str]) -> Output {
    plugin_env(args, &[])
}

/// Runs the plugin with `args` and extra environment variables.
pub fn plugin_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(PLUGIN)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::null())
        .output()
        .expect("run the plugin")
}

/// Starts the plugin with `args`, SIGKILLs it after `delay` (wherever it is), and reaps it.
pub fn plugin_killed_after(args: &[&str], delay: std::time::Duration) {
    let mut child = Command::new(PLUGIN)
        .args(args)
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the plugin");
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

/// The seed of the kill moments: change it to explore other moments; keep it fixed in CI so
/// a failure reproduces.
pub const KILL_SEED: u64 = 0x5eed_0008;

/// `n` fractions of a run where it is killed: one in each n-th of the run, at a point in it
/// drawn from `seed` (splitmix64), so the kills cover the whole run and reproduce exactly.
pub fn kill_fractions(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|i| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (i as f64 + (z % 1000) as f64 / 1000.0) / n as f64
        })
        .collect()
}

/// Sends SIGINT to a running plugin, as Ctrl-C in a terminal does.
pub fn send_ctrl_c(child: &std::process::Child) {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -INT {}", child.id());
}

/// Asserts exit code 0, printing both streams otherwise.
pub fn assert_success(out: &Output) {
    assert_exit(out, 0);
}

/// Asserts an exit code, printing both streams otherwise.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `redis-cli --cluster check`: the oracle we did not write. Returns (clean, output).
pub fn redis_cli_check(seed: &str) -> (bool, String) {
    redis_cli_check_with(&Access::default(), seed)
}

/// `redis-cli --cluster check` with `access`. Returns (clean, output).
pub fn redis_cli_check_with(access: &Access, seed: &str) -> (bool, String) {
    cli_check(&engine(), access, seed)
}

/// `--cluster check` by `engine`'s CLI with `access`. Returns (clean, output).
pub fn cli_check(engine: &Engine, access: &Access, seed: &str) -> (bool, String) {
    let out = access
        .cli(engine)
        .args(["--cluster", "check", seed])
        .output()
        .expect("run redis-cli --cluster check");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let clean = out.status.success()
        && text.contains("[OK] All 16384 slots covered.")
        && !text.contains("[ERR]")
        && !text.contains("[WARNING]");
    (clean, text)
}

/// Asserts `redis-cli --cluster check` finds nothing wrong.
pub fn assert_redis_cli_agrees_healthy(seed: &str) {
    let (clean, text) = redis_cli_check(seed);
    assert!(clean, "redis-cli --cluster check is not clean:\n{text}");
}

/// The value every test key gets: derived from the key, so any loss or mix-up shows.
pub fn value_for(key: &str) -> String {
    format!("v:{key}:{}", key.len() * 7919 % 1000)
}

/// Writes `count` keys `prefix:{i}` through an independent cluster client.
pub fn write_keys(seed: &str, prefix: &str, count: usize) {
    write_keys_with(&Access::default(), seed, prefix, count);
}

/// Writes `count` keys `prefix:{i}` through an independent cluster client with `access`.
pub fn write_keys_with(access: &Access, seed: &str, prefix: &str, count: usize) {
    runtime().block_on(async {
        let mut conn = cluster_conn(access, seed).await;
        for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
            let writes = chunk.iter().map(|i| {
                let mut c = conn.clone();
                async move {
                    let key = format!("{prefix}:{i}");
                    let _: () = c
                        .set(&key, value_for(&key))
                        .await
                        .expect("SET through the cluster client");
                }
            });
            futures::future::join_all(writes).await;
        }
        let _: () = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .expect("PING");
    });
}

/// Reads every key `prefix:{i}` back with `access` and returns the ones missing or wrong.
pub fn bad_keys(access: &Access, seed: &str, prefix: &str, count: usize) -> Vec<String> {
    runtime().block_on(async {
        let conn = cluster_conn(access, seed).await;
        let mut bad = Vec::new();
        for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
            let reads = chunk.iter().map(|i| {
                let mut c = conn.clone();
                async move {
                    let key = format!("{prefix}:{i}");
                    let got: Option<String> =
                        c.get(&key).await.expect("GET through the cluster client");
                    (got != Some(value_for(&key))).then_some(key)
                }
            });
            bad.extend(futures::future::join_all(reads).await.into_iter().flatten());
        }
        bad
    })
}

/// Asserts every key reads back its value.
pub fn assert_keys_intact(seed: &str, prefix: &str, count: usize) {
    assert_keys_intact_with(&Access::default(), seed, prefix, count);
}

/// Asserts every key reads back its value, read with `access`.
pub fn assert_keys_intact_with(access: &Access, seed: &str, prefix: &str, count: usize) {
    let bad = bad_keys(access, seed, prefix, count);
    assert!(
        bad.is_empty(),
        "{} of {count} keys lost or changed, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}

/// A cluster connection of redis-rs (not our code) seeded at `seed`.
async fn cluster_conn(access: &Access, seed: &str) -> redis::cluster_async::ClusterConnection {
    access
        .cluster_client(seed)
        .get_async_connection()
        .await
        .expect("connect the cluster client")
}

/// A small runtime for the async cluster client.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A client thread that, until stopped, writes `live:{i}` keys and reads back the preloaded
/// `prefix:{i}` keys through the redis-rs cluster client, failing on any error.
pub struct LiveTraffic {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<(usize, usize)>,
}

impl LiveTraffic {
    /// Starts the client against `seed`; `preloaded` keys named `prefix:{i}` exist.
    pub fn start(seed: &str, prefix: &str, preloaded: usize) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seed, prefix, flag) = (seed.to_string(), prefix.to_string(), stop.clone());
        let handle = std::thread::spawn(move || {
            runtime().block_on(async move {
                let mut conn = cluster_conn(&Access::default(), &seed).await;
                let (mut ops, mut written) = (0usize, 0usize);
                while !flag.load(Ordering::SeqCst) {
                    let key = format!("live:{written}");
                    let _: () = conn
                        .set(&key, value_for(&key))
                        .await
                        .expect("SET during the move");
                    written += 1;
                    let old = format!("{prefix}:{}", (ops * 7919) % preloaded);
                    let got: Option<String> = conn.get(&old).await.expect("GET during the move");
                    assert_eq!(
                        got,
                        Some(value_for(&old)),
                        "{old} read wrong during the move"
                    );
                    ops += 2;
                }
                (ops, written)
            })
        });
        Self { stop, handle }
    }

    /// Stops the client; returns (operations, keys written).
    pub fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().expect("the live client failed")
    }
}
