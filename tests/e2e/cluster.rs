//! Checks shared by the e2e tests: the plugin's `status -o json` against `redis-cli --cluster
//! check` (an oracle we did not write), and keys written and read back with an independent
//! cluster client.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// Per master `ip:port`: (keys, slots, replicas).
pub type Masters = BTreeMap<String, (u64, u64, u64)>;

/// `status -o json` as a document.
pub fn status_json(run: &str) -> Value {
    serde_json::from_str(run).unwrap_or_else(|e| panic!("status -o json is not JSON ({e}):\n{run}"))
}

/// The masters as `status -o json` describes them.
pub fn masters_from_status(status: &Value) -> Masters {
    let nodes = status["nodes"].as_array().expect("nodes");
    nodes
        .iter()
        .filter(|n| n["role"] == "master")
        .map(|m| {
            let replicas = nodes.iter().filter(|n| n["master"] == m["id"]).count() as u64;
            let endpoint = m["endpoint"].as_str().expect("endpoint").to_string();
            (
                endpoint,
                (
                    m["keys"].as_u64().expect("keys"),
                    m["slot_count"].as_u64().expect("slot_count"),
                    replicas,
                ),
            )
        })
        .collect()
}

/// Runs `redis-cli --cluster check` on `node`; asserts it finds no problem and returns its
/// masters: `127.1.0.2:6379 (b4dfd930...) -> 0 keys | 5461 slots | 1 slaves.`
pub fn masters_from_redis_cli(node: &str) -> Masters {
    masters_from_redis_cli_with(&[], node)
}

/// [`masters_from_redis_cli`] with client flags first (`--tls --cacert ...`).
pub fn masters_from_redis_cli_with(flags: &[&str], node: &str) -> Masters {
    let out = Command::new("redis-cli")
        .args(flags)
        .args(["--cluster", "check", node])
        .env_remove("REDISCLI_AUTH")
        .output()
        .expect("run redis-cli");
    let text = strip_ansi(&String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "redis-cli --cluster check {node} failed:\n{text}"
    );
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
    assert!(
        !text.contains("[ERR]") && !text.contains("[WARNING]"),
        "{text}"
    );
    text.lines()
        .take_while(|l| !l.starts_with("[OK]"))
        .filter_map(|l| {
            let (endpoint, rest) = l.split_once(" (")?;
            let (_, counts) = rest.split_once(") -> ")?;
            let n: Vec<u64> = counts
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .collect();
            Some((endpoint.to_string(), (n[0], n[1], n[2])))
        })
        .collect()
}

/// Removes terminal colour codes (redis-cli colours its report even when piped).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes `count` keys `prefix:{i}` (value `i`) through an independent cluster client
/// seeded with `nodes` (pod IPs are reachable from the host).
pub fn write_keys(nodes: &[String], prefix: &str, count: usize) {
    write_keys_with(&plain_client(nodes), prefix, count);
}

/// Reads every key `prefix:{i}` back and asserts it holds `i`.
pub fn assert_keys(nodes: &[String], prefix: &str, count: usize) {
    assert_keys_with(&plain_client(nodes), prefix, count);
}

/// A redis-rs cluster client (not our code) seeded with `nodes`, in plain text.
fn plain_client(nodes: &[String]) -> redis::cluster::ClusterClient {
    let urls: Vec<String> = nodes.iter().map(|n| format!("redis://{n}")).collect();
    redis::cluster::ClusterClient::new(urls).expect("cluster client")
}

/// [`write_keys`] through `client`.
pub fn write_keys_with(client: &redis::cluster::ClusterClient, prefix: &str, count: usize) {
    with_cluster(client, |mut conn| async move {
        for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
            let writes = chunk.iter().map(|i| {
                let mut conn = conn.clone();
                async move {
                    redis::cmd("SET")
                        .arg(format!("{prefix}:{i}"))
                        .arg(i)
                        .query_async::<()>(&mut conn)
                        .await
                }
            });
            for r in futures::future::join_all(writes).await {
                r.expect("SET");
            }
        }
        let _: () = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .expect("PING");
    });
}

/// [`assert_keys`] through `client`.
pub fn assert_keys_with(client: &redis::cluster::ClusterClient, prefix: &str, count: usize) {
    with_cluster(client, |conn| async move {
        let mut bad = Vec::new();
        for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
            let reads = chunk.iter().map(|i| {
                let mut conn = conn.clone();
                async move {
                    let got: Option<usize> = redis::cmd("GET")
                        .arg(format!("{prefix}:{i}"))
                        .query_async(&mut conn)
                        .await
                        .expect("GET");
                    (got != Some(*i)).then_some(*i)
                }
            });
            bad.extend(futures::future::join_all(reads).await.into_iter().flatten());
        }
        assert!(
            bad.is_empty(),
            "{} of {count} keys lost or changed, e.g. {:?}",
            bad.len(),
            &bad[..bad.len().min(5)]
        );
    });
}

/// Writes `count` keys and reads every one back.
pub fn write_and_read_keys(nodes: &[String], count: usize) {
    write_keys(nodes, "key", count);
    assert_keys(nodes, "key", count);
}

/// Runs `f` with a cluster connection of `client` on a fresh runtime.
fn with_cluster<F, Fut>(client: &redis::cluster::ClusterClient, f: F)
where
    F: FnOnce(redis::cluster_async::ClusterConnection) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let conn = client
            .get_async_connection()
            .await
            .expect("cluster connection");
        f(conn).await;
    });
}
