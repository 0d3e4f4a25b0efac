//! `rolling-restart` and `upgrade` on the test ground, under live writes: every pod is
//! replaced, replicas first and each master failed over before its pod goes; every write
//! the client saw acknowledged reads back; the longest stall the writer saw is printed. An
//! upgrade killed mid-way is continued by running it again, and the StatefulSet's update
//! strategy is restored at the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cluster::*;
use crate::ground::*;

/// pod → `jsonpath` field, for every pod of the namespace.
fn pods_field(ns: &str, field: &str) -> BTreeMap<String, String> {
    let text = kubectl_ok(&[
        "-n",
        ns,
        "get",
        "pods",
        "-o",
        &format!("jsonpath={{range .items[*]}}{{.metadata.name}}={field}{{\"\\n\"}}{{end}}"),
    ]);
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A writer SETting `live:{i}` = i through an independent cluster client until stopped:
/// the acknowledged keys and the longest time between two acknowledgments.
struct Writer {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(Vec<u64>, Duration, u64)>,
}

impl Writer {
    fn start(seeds: &[String]) -> Self {
        let urls: Vec<String> = seeds.iter().map(|s| format!("redis://{s}")).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let handle = std::thread::spawn(move || {
            let client = redis::cluster::ClusterClient::builder(urls)
                .retries(10)
                .build()
                .expect("cluster client");
            let mut conn = client.get_connection().expect("cluster connection");
            let (mut acked, mut failed) = (Vec::new(), 0u64);
            let mut last = Instant::now();
            let mut longest = Duration::ZERO;
            let mut i = 0u64;
            while !stopping.load(Ordering::Relaxed) {
                let set: redis::RedisResult<()> = redis::cmd("SET")
                    .arg(format!("live:{i}"))
                    .arg(i)
                    .query(&mut conn);
                match set {
                    Ok(()) => {
                        longest = longest.max(last.elapsed());
                        last = Instant::now();
                        acked.push(i);
                    }
                    Err(_) => failed += 1,
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (acked, longest, failed)
        });
        Self { stop, handle }
    }

    fn stop(self) -> (Vec<u64>, Duration, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("writer thread")
    }
}

#[test]
fn rolling_restart_and_upgrade_replace_every_pod_under_live_writes_and_lose_no_acknowledged_write()
{
    let ns = Namespace::create("rollout");
    let n = ns.name.as_str();
    plugin_ok(&["-n", n, "deploy"]);
    plugin_ok(&["-n", n, "init", "--yes"]);
    let status = status_json(&plugin_ok(&["-n", n, "status", "-o", "json"]));
    let seeds: Vec<String> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| node["endpoint"].as_str().expect("endpoint").to_string())
        .collect();
    let uids = pods_field(n, "{.metadata.uid}");
    assert_eq!(uids.len(), 6);
    let writer = Writer::start(&seeds);

    // The plan: three replicas, then each master failed over and replaced; nothing changes.
    let planned: serde_json::Value = serde_json::from_str(&plugin_ok(&[
        "-n",
        n,
        "rolling-restart",
        "--dry-run",
        "-o",
        "json",
    ]))
    .expect("JSON plan");
    assert_eq!(planned["result"], "planned", "{planned:#}");
    let steps: Vec<String> = planned["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["step"].as_str().unwrap(),
                s["pod"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(steps.len(), 9, "{steps:?}");
    assert!(
        steps[..3].iter().all(|s| s.starts_with("replace")),
        "replicas first: {steps:?}"
    );
    for pair in steps[3..].chunks(2) {
        let pod = pair[0]
            .strip_prefix("failover ")
            .expect("a failover before a master goes");
        assert_eq!(pair[1], format!("replace {pod}"), "{steps:?}");
    }
    assert_eq!(
        pods_field(n, "{.metadata.uid}"),
        uids,
        "a dry run replaced a pod"
    );

    let restart = plugin(&["-n", n, "rolling-restart", "--yes"]);
    assert_eq!(restart.code, 0, "{restart:?}");
    let after = pods_field(n, "{.metadata.uid}");
    for (pod, uid) in &uids {
        assert_ne!(
            after.get(pod),
            Some(uid),
            "{pod} was not replaced:\n{}",
            restart.stderr
        );
    }
    let healthy = status_json(&plugin_ok(&["-n", n, "status", "-o", "json"]));
    assert_eq!(healthy["healthy"], true, "{healthy:#}");
    let endpoint = healthy["nodes"][0]["endpoint"]
        .as_str()
        .expect("endpoint")
        .to_string();
    // Slots and replicas as redis-cli sees them (keys change under the live writes).
    let layout = |m: Masters| -> Vec<(String, u64, u64)> {
        m.into_iter()
            .map(|(e, (_, slots, replicas))| (e, slots, replicas))
            .collect()
    };
    assert_eq!(
        layout(masters_from_redis_cli(&endpoint)),
        layout(masters_from_status(&healthy))
    );

    // An upgrade killed part-way is continued by the same command.
    let image = "redis:7.0.15-rollout-test";
    let killed = plugin_killed_after(
        &["-n", n, "upgrade", "--image", image, "--yes"],
        Duration::from_secs(6),
    );
    assert!(killed, "the upgrade finished before the kill");
    let again = plugin(&["-n", n, "upgrade", "--image", image, "--yes"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stderr.contains("continuing the rollout in progress"),
        "{}",
        again.stderr
    );
    let images = pods_field(n, "{.spec.containers[0].image}");
    assert!(images.values().all(|i| i == image), "{images:?}");
    let done = plugin(&["-n", n, "upgrade", "--image", image, "--yes"]);
    assert_eq!(done.code, 0, "{done:?}");
    assert!(done.stderr.contains("nothing to do"), "{}", done.stderr);
    let strategy = kubectl_ok(&[
        "-n",
        n,
        "get",
        "statefulset",
        "redis-cluster",
        "-o",
        "jsonpath={.spec.updateStrategy.type} {.metadata.annotations}",
    ]);
    assert!(strategy.starts_with("RollingUpdate"), "{strategy}");
    assert!(
        !strategy.contains("kubectl-redis-cluster/rollout"),
        "{strategy}"
    );

    let (acked, longest, failed) = writer.stop();
    println!(
        "live writes: {} acknowledged, {failed} failed, longest stall {:.2}s",
        acked.len(),
        longest.as_secs_f64()
    );
    assert!(
        acked.len() > 100,
        "the writer hardly wrote: {}",
        acked.len()
    );
    let healthy = status_json(&plugin_ok(&["-n", n, "status", "-o", "json"]));
    let seeds: Vec<String> = healthy["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| node["endpoint"].as_str().expect("endpoint").to_string())
        .collect();
    let lost = Arc::new(Mutex::new(Vec::new()));
    let urls: Vec<String> = seeds.iter().map(|s| format!("redis://{s}")).collect();
    let client = redis::cluster::ClusterClient::new(urls).expect("cluster client");
    let mut conn = client.get_connection().expect("cluster connection");
    for i in &acked {
        let got: Option<u64> = redis::cmd("GET")
            .arg(format!("live:{i}"))
            .query(&mut conn)
            .expect("GET");
        if got != Some(*i) {
            lost.lock().unwrap().push(*i);
        }
    }
    let lost = lost.lock().unwrap();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}

#[test]
fn masters_without_replicas_are_refused_before_anything_changes() {
    let ns = Namespace::create("rollout-bare");
    let n = ns.name.as_str();
    plugin_ok(&["-n", n, "deploy"]);
    plugin_ok(&["-n", n, "init", "--replicas-per-master", "0", "--yes"]);
    let uids = pods_field(n, "{.metadata.uid}");
    let strategy = || {
        kubectl_ok(&[
            "-n",
            n,
            "get",
            "statefulset",
            "redis-cluster",
            "-o",
            "jsonpath={.spec.updateStrategy.type} {.spec.template.metadata.annotations}",
        ])
    };
    let before = strategy();
    let restart = plugin(&["-n", n, "rolling-restart", "--yes"]);
    assert_eq!(restart.code, 2, "{restart:?}");
    assert!(
        restart.stderr.contains("with no replica to fail over to")
            && restart
                .stderr
                .contains("hint: give that master a replica first"),
        "{}",
        restart.stderr
    );
    let drain = plugin(&["-n", n, "drain-prep", "kwok-node-0", "--yes"]);
    assert_eq!(drain.code, 2, "{drain:?}");
    assert!(
        drain.stderr.contains("nothing was changed"),
        "{}",
        drain.stderr
    );
    assert_eq!(pods_field(n, "{.metadata.uid}"), uids, "a pod was replaced");
    assert_eq!(strategy(), before, "the StatefulSet was changed");
}
