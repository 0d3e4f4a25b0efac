#![allow(dead_code)]
//! The plugin's `proxy` as a child process, and the cluster clients nobody on the project
//! wrote (redis-py's `RedisCluster`, `redis-cli -c`, `redis-benchmark --cluster`) pointed at
//! it. Shared by the integration tests (`--seed`) and the e2e tests (port-forward).

use std::collections::BTreeSet;
use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A running `proxy -o json`, killed when dropped.
pub struct ProxyProcess {
    child: Child,
    /// The JSON report it printed once ready.
    pub report: serde_json::Value,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl ProxyProcess {
    /// Starts `command` (the plugin with its arguments, ending in `proxy ... -o json`) and
    /// waits up to `ready_within` for its report.
    pub fn start(mut command: Command, ready_within: Duration) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let stderr = dir.path().join("stderr");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start the proxy");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                text.push_str(&line);
                text.push('\n');
                if let Ok(report) = serde_json::from_str::<serde_json::Value>(&text) {
                    let _ = tx.send(report);
                    text.clear();
                }
            }
        });
        match rx.recv_timeout(ready_within) {
            Ok(report) => Self {
                child,
                report,
                stderr,
                _dir: dir,
            },
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "the proxy printed no report within {ready_within:?} (exit {status:?}); stderr:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
        }
    }

    /// `host:port` of the first listener.
    pub fn seed(&self) -> String {
        self.report["seed"].as_str().expect("seed").to_string()
    }

    /// Its host.
    pub fn host(&self) -> String {
        self.seed()
            .rsplit_once(':')
            .expect("host:port")
            .0
            .to_string()
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.seed()
            .rsplit_once(':')
            .expect("host:port")
            .1
            .parse()
            .expect("port")
    }

    /// The local addresses of the listeners in the report.
    pub fn locals(&self) -> BTreeSet<String> {
        self.report["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .map(|l| l["local"].as_str().expect("local").to_string())
            .collect()
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until its stderr holds `needle` `times` times.
    pub fn wait_for_stderr(&self, needle: &str, times: usize, within: Duration) {
        let start = Instant::now();
        while self.stderr().matches(needle).count() < times {
            assert!(
                start.elapsed() < within,
                "the proxy did not print {needle:?} {times} times within {within:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ctrl-C, then its exit status.
    pub fn interrupt(mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the proxy ignored Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// redis-py 5.2.1 (unpacked by `make deps` into `.deps/python`): through a `RedisCluster`
/// seeded at `host:port`, writes (with `write`) `count` keys `prefix:{i}` half one by one and
/// half through a cluster pipeline, then reads every one back. Returns the keys missing or
/// wrong, and the hosts of every node the client ended up knowing.
pub fn redis_py(
    host: &str,
    port: u16,
    prefix: &str,
    count: usize,
    write: bool,
) -> (Vec<String>, BTreeSet<String>) {
    const SCRIPT: &str = r#"
import json, sys, redis
host, port, prefix, count, write = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5] == "write"
rc = redis.RedisCluster(host=host, port=port, socket_timeout=20)
value = lambda k: "v:%s:%d" % (k, len(k) * 7919 % 1000)
keys = ["%s:%d" % (prefix, i) for i in range(count)]
if write:
    half = len(keys) // 2
    for k in keys[:half]:
        rc.set(k, value(k))
    pipe = rc.pipeline()
    for k in keys[half:]:
        pipe.set(k, value(k))
    pipe.execute()
bad = [k for k in keys if rc.get(k) != value(k).encode()]
print(json.dumps({"bad": bad, "hosts": sorted({n.host for n in rc.get_nodes()})}))
"#;
    let deps = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".deps/python");
    assert!(
        deps.join("redis").is_dir(),
        "redis-py is not in {}: run `make deps`",
        deps.display()
    );
    let out = Command::new("python3")
        .args([
            "-c",
            SCRIPT,
            host,
            &port.to_string(),
            prefix,
            &count.to_string(),
        ])
        .arg(if write { "write" } else { "read" })
        .env("PYTHONPATH", &deps)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "redis-py failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("redis-py's JSON line");
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|s| s.as_str().expect("string").to_string())
            .collect()
    };
    (
        strings(&report["bad"]),
        strings(&report["hosts"]).into_iter().collect(),
    )
}

/// `redis-cli ARGS` (no cluster mode unless `-c` is among them); stdout, asserting success.
pub fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(args)
        .env_remove("REDISCLI_AUTH")
        .output()
        .expect("run redis-cli");
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `redis-benchmark --cluster` against `host:port`: SET and GET, `requests` each.
pub fn redis_benchmark(host: &str, port: u16, requests: usize) -> Output {
    Command::new("redis-benchmark")
        .args(["--cluster", "-h", host, "-p", &port.to_string()])
        .args([
            "-n",
            &requests.to_string(),
            "-t",
            "set,get",
            "-q",
            "-r",
            "10000",
        ])
        .output()
        .expect("run redis-benchmark")
}
