//! `scale` and `fix` on the test ground: 3 → 4 → 3 masters with the StatefulSet following,
//! scales up and down SIGKILLed at seeded moments and run again, a pod deleted mid-scale,
//! and every pod restarted with a new IP healed by `fix`; every key written by an
//! independent client reads back each time.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::cluster::*;
use crate::ground::*;

/// `status -o json` in `ns`, asserting it exits 0.
fn healthy_status(ns: &str) -> Value {
    let status = status_json(&plugin_ok(&["-n", ns, "status", "-o", "json"]));
    assert_eq!(status["healthy"], true, "{status:#}");
    status
}

/// Master endpoints and each one's slot count.
fn slot_counts(status: &Value) -> Vec<u64> {
    let mut counts: Vec<u64> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["role"] == "master")
        .map(|n| n["slot_count"].as_u64().expect("slot_count"))
        .collect();
    counts.sort_unstable();
    counts
}

/// Every node's endpoint.
fn endpoints(status: &Value) -> Vec<String> {
    status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["endpoint"].as_str().expect("endpoint").to_string())
        .collect()
}

/// Deploys and initializes 3 masters with a replica each in a new namespace.
fn initialized(prefix: &str) -> Namespace {
    let ns = Namespace::create(prefix);
    plugin_ok(&["-n", &ns.name, "deploy"]);
    plugin_ok(&["-n", &ns.name, "init", "--yes"]);
    ns
}

#[test]
fn scale_to_four_masters_and_back_keeps_every_key() {
    let ns = initialized("scale");
    let before = healthy_status(&ns.name);
    let seeds = endpoints(&before);
    write_keys(&seeds, "s", 100_000);

    // A cluster fresh from init is already balanced: the same size plans nothing.
    let same = plugin(&["-n", &ns.name, "scale", "--masters", "3", "--yes"]);
    assert_eq!(same.code, 0, "{same:?}");
    assert!(
        same.stderr.contains("nothing to change") && !same.stderr.contains("Plan: move"),
        "{}",
        same.stderr
    );

    // The dry run lists every step, with the keys each move carries; the real run then
    // ends where that plan says.
    let saved = plugin_ok(&[
        "-n",
        &ns.name,
        "scale",
        "--masters",
        "4",
        "--dry-run",
        "-o",
        "json",
    ]);
    let planned: Value = serde_json::from_str(&saved).expect("scale --dry-run -o json");
    assert_eq!(planned["result"], "planned");
    assert_eq!(
        (&planned["from_pods"], &planned["to_pods"]),
        (&6.into(), &8.into())
    );
    let steps = planned["steps"].as_array().expect("steps");
    let kinds: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "scale_statefulset",
            "join",
            "join",
            "replicate",
            "move_slots",
            "move_slots",
            "move_slots"
        ],
        "{planned:#}"
    );
    assert_eq!(
        (&steps[3]["node"], &steps[3]["master"]),
        (&"redis-cluster-7".into(), &"redis-cluster-6".into())
    );
    let moving: Vec<&Value> = steps.iter().filter(|s| s["step"] == "move_slots").collect();
    assert!(
        moving.iter().all(|m| m["to"] == "redis-cluster-6"),
        "{planned:#}"
    );
    let planned_slots: u64 = moving.iter().map(|m| m["slots"].as_u64().unwrap()).sum();
    let planned_keys: u64 = moving.iter().map(|m| m["keys"].as_u64().unwrap()).sum();
    assert_eq!(planned_slots, 4096);
    assert_eq!(
        healthy_status(&ns.name)["nodes"].as_array().unwrap().len(),
        6,
        "a dry run"
    );

    // The saved plan is what runs: `apply -f` checks the cluster is the one it was made
    // for and that scale plans the same steps again.
    let dir = tempfile::tempdir().expect("temp dir");
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, &saved).expect("save the plan");
    let plan_path = plan_file.to_str().expect("utf-8");
    let up = plugin(&["-n", &ns.name, "apply", "-f", plan_path, "--yes"]);
    assert_eq!(up.code, 0, "{up:?}");
    assert_eq!(
        up.stderr.matches("cluster converged").count(),
        1,
        "one convergence wait, one line:\n{}",
        up.stderr
    );
    let up = healthy_status(&ns.name);
    assert_eq!(slot_counts(&up), vec![4096; 4]);
    assert_eq!(up["nodes"].as_array().unwrap().len(), 8);
    let node = |pod: &str| {
        up["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["pod"] == pod)
            .cloned()
            .expect("pod's node")
    };
    let (six, seven) = (node("redis-cluster-6"), node("redis-cluster-7"));
    assert_eq!(
        six["keys"].as_u64(),
        Some(planned_keys),
        "the plan counted the keys that moved"
    );
    assert_eq!(seven["master"], six["id"], "the plan's replica link");
    let again = plugin(&["-n", &ns.name, "apply", "-f", plan_path, "--yes"]);
    assert_eq!(again.code, 2, "a plan applies once: {again:?}");
    assert!(
        again
            .stderr
            .contains("the cluster changed since the plan was made"),
        "{}",
        again.stderr
    );
    assert_eq!(
        masters_from_status(&up),
        masters_from_redis_cli(&endpoints(&up)[0])
    );
    assert_keys(&endpoints(&up), "s", 100_000);

    let planned: Value = serde_json::from_str(&plugin_ok(&[
        "-n",
        &ns.name,
        "scale",
        "--masters",
        "3",
        "--delete-pvcs",
        "--dry-run",
        "-o",
        "json",
    ]))
    .expect("scale --dry-run -o json");
    let steps: Vec<String> = planned["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            let who = s["node"].as_str().or(s["claim"].as_str()).unwrap_or("");
            format!("{} {who}", s["step"].as_str().unwrap())
        })
        .collect();
    let tail: Vec<&str> = steps
        .iter()
        .map(String::as_str)
        .skip_while(|s| !s.starts_with("forget"))
        .collect();
    assert_eq!(
        tail,
        [
            "forget redis-cluster-6",
            "forget redis-cluster-7",
            "reset redis-cluster-6",
            "reset redis-cluster-7",
            "scale_statefulset ",
            "delete_claim data-redis-cluster-6",
            "delete_claim data-redis-cluster-7",
        ],
        "{planned:#}"
    );
    let report: Value = serde_json::from_str(&plugin_ok(&[
        "-n",
        &ns.name,
        "scale",
        "--masters",
        "3",
        "--delete-pvcs",
        "--yes",
        "-o",
        "json",
    ]))
    .expect("scale -o json");
    assert_eq!(
        report["steps"], planned["steps"],
        "the real run reports the plan it ran"
    );
    assert_eq!(report["schema"], "kubectl-redis-cluster/scale/v1");
    assert_eq!(
        (&report["result"], &report["masters"]),
        (&"scaled".into(), &3.into())
    );
    let down = healthy_status(&ns.name);
    assert_eq!(slot_counts(&down).len(), 3);
    assert_eq!(
        down["nodes"].as_array().unwrap().len(),
        6,
        "the removed nodes are gone from every view: {down:#}"
    );
    assert_eq!(
        masters_from_status(&down),
        masters_from_redis_cli(&endpoints(&down)[0])
    );
    assert_keys(&endpoints(&down), "s", 100_000);
    let pvcs = kubectl_ok(&["get", "pvc", "-n", &ns.name, "-o", "name"]);
    assert_eq!(pvcs.lines().count(), 6, "{pvcs}");
}

#[test]
fn a_scale_killed_at_seeded_moments_up_and_down_finishes_when_run_again() {
    let ns = initialized("scalekill");
    let seeds = endpoints(&healthy_status(&ns.name));
    write_keys(&seeds, "k", 20_000);
    let ns_name = ns.name.as_str();
    let scale = |masters: &'static str| {
        [
            "-n",
            ns_name,
            "scale",
            "--masters",
            masters,
            "--batch",
            "20",
            "--yes",
        ]
    };
    // How long an uninterrupted scale takes here, so the kills spread over all of it:
    // the StatefulSet change, the pods' start, MEET, roles, slot moves, removal.
    let mut took = Vec::new();
    for masters in ["4", "3"] {
        let started = std::time::Instant::now();
        plugin_ok(&scale(masters));
        took.push(started.elapsed());
    }
    eprintln!("uninterrupted: up {:?}, down {:?}", took[0], took[1]);
    let mut rng = Seeded::from_env("scale kill moments");
    for round in 0..3 {
        for (masters, full) in [("4", took[0]), ("3", took[1])] {
            // A fraction of the uninterrupted length, so that E2E_SEED replays the same phase.
            let at = full.mul_f64(rng.below(1000) as f64 / 1000.0);
            let killed = plugin_killed_after(&scale(masters), at);
            eprintln!("round {round}: scale --masters {masters} killed at {at:?}: {killed}");
            plugin_ok(&scale(masters));
            let status = healthy_status(&ns.name);
            assert_eq!(
                slot_counts(&status).len(),
                masters.parse::<usize>().expect("a number")
            );
            assert_eq!(
                masters_from_status(&status),
                masters_from_redis_cli(&endpoints(&status)[0]),
                "round {round}, --masters {masters}, killed at {at:?}"
            );
            assert_keys(&endpoints(&status), "k", 20_000);
        }
    }

    // The narrowest window of a move, made on purpose: the target already owns a slot, the
    // source still marks it migrating (SETSLOT NODE reached the target only). A re-run of the
    // same scale must finish it rather than wait for the mark to go away by itself.
    let status = healthy_status(ns_name);
    let masters: Vec<&Value> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["role"] == "master")
        .collect();
    let (source, target) = (masters[0], masters[1]);
    let pod = |n: &Value| n["pod"].as_str().expect("pod").to_string();
    let id = |n: &Value| n["id"].as_str().expect("id").to_string();
    let cli = |node: &Value, args: &[&str]| {
        let mut all = vec!["-n", ns_name, "cli"];
        let pod = pod(node);
        all.push(&pod);
        all.push("--");
        all.extend(args);
        plugin_ok(&all).trim().to_string()
    };
    let first_slot = source["slots"][0][0].as_u64().expect("a slot range");
    let slot = (first_slot..first_slot + 100)
        .map(|s| s.to_string())
        .find(|s| cli(source, &["cluster", "countkeysinslot", s]) == "0")
        .expect("an empty slot among the source's first 100");
    assert_eq!(
        cli(
            target,
            &["cluster", "setslot", &slot, "importing", &id(source)]
        ),
        "OK"
    );
    assert_eq!(
        cli(
            source,
            &["cluster", "setslot", &slot, "migrating", &id(target)]
        ),
        "OK"
    );
    assert_eq!(
        cli(target, &["cluster", "setslot", &slot, "node", &id(target)]),
        "OK"
    );
    plugin_ok(&[
        "-n",
        ns_name,
        "--timeout",
        "30",
        "scale",
        "--masters",
        "3",
        "--yes",
    ]);
    let status = healthy_status(ns_name);
    assert_eq!(
        masters_from_status(&status),
        masters_from_redis_cli(&endpoints(&status)[0])
    );
    assert_keys(&endpoints(&status), "k", 20_000);
}

#[test]
fn a_scale_down_stopped_between_two_resets_is_finished_by_running_it_again() {
    // The moment a timed kill once hit in CI: one leaving node reset, the other forgotten
    // by every staying node but not reset yet. It still lists the staying nodes, and the
    // reset one under its old id without an address; a re-run that counted it as a member
    // waited for agreement until --timeout.
    let ns = initialized("scalereset");
    let n = ns.name.as_str();
    let seeds = endpoints(&healthy_status(n));
    write_keys(&seeds, "r", 5_000);
    plugin_ok(&["-n", n, "scale", "--masters", "4", "--yes"]);
    let stopped = plugin_env(
        &["-n", n, "scale", "--masters", "3", "--yes"],
        &[(
            "KUBECTL_REDIS_CLUSTER_FAILPOINT",
            "scale-down-after-a-reset",
        )],
    );
    assert_eq!(stopped.code, 137, "{stopped:?}");
    plugin_ok(&[
        "-n",
        n,
        "--timeout",
        "60",
        "scale",
        "--masters",
        "3",
        "--yes",
    ]);
    let status = healthy_status(n);
    assert_eq!(slot_counts(&status).len(), 3);
    assert_eq!(status["nodes"].as_array().expect("nodes").len(), 6);
    assert_eq!(
        masters_from_status(&status),
        masters_from_redis_cli(&endpoints(&status)[0])
    );
    assert_keys(&endpoints(&status), "r", 5_000);
}

#[test]
fn a_scale_up_stopped_right_after_its_meets_is_finished_by_running_it_again() {
    // The moment a timed kill once hit in CI: the new pods introduced (MEET sent), no wait
    // for the cluster to learn them. The re-run sees them as members that some nodes do not
    // know yet; it must wait for that before a new replica names its master.
    let ns = initialized("scalemeet");
    let n = ns.name.as_str();
    let seeds = endpoints(&healthy_status(n));
    write_keys(&seeds, "m", 5_000);
    let stopped = plugin_env(
        &["-n", n, "scale", "--masters", "4", "--yes"],
        &[("KUBECTL_REDIS_CLUSTER_FAILPOINT", "scale-introduced")],
    );
    assert_eq!(stopped.code, 137, "{stopped:?}");
    plugin_ok(&["-n", n, "scale", "--masters", "4", "--yes"]);
    let status = healthy_status(n);
    assert_eq!(slot_counts(&status), vec![4096; 4]);
    assert_eq!(
        masters_from_status(&status),
        masters_from_redis_cli(&endpoints(&status)[0])
    );
    assert_keys(&endpoints(&status), "m", 5_000);
}

#[test]
fn fix_heals_the_cluster_after_every_pod_restarts_with_a_new_ip() {
    let ns = initialized("newip");
    let before = healthy_status(&ns.name);
    write_keys(&endpoints(&before), "ip", 10_000);
    let ids = |s: &Value| -> Vec<String> {
        let mut v: Vec<String> = s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let ips_before = kubectl_ok(&[
        "get",
        "pods",
        "-n",
        &ns.name,
        "-o",
        "jsonpath={.items[*].status.podIP}",
    ]);
    kubectl_ok(&[
        "delete",
        "pods",
        "-n",
        &ns.name,
        "-l",
        "app.kubernetes.io/name=redis-cluster",
        "--wait=false",
    ]);
    let ips_after = eventually("all six pods back with IPs", || {
        let ips = kubectl_ok(&[
            "get",
            "pods",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.items[*].status.podIP}",
        ]);
        (ips.split_whitespace().count() == 6 && ips != ips_before).then_some(ips)
    });
    eprintln!("pod IPs before: {ips_before}\npod IPs after:  {ips_after}");
    plugin_ok(&["-n", &ns.name, "fix", "--yes"]);
    let after = healthy_status(&ns.name);
    assert_eq!(
        ids(&before),
        ids(&after),
        "node ids must survive the restart"
    );
    assert_eq!(
        masters_from_status(&after),
        masters_from_redis_cli(&endpoints(&after)[0])
    );
    assert_keys(&endpoints(&after), "ip", 10_000);
}

#[test]
fn a_pod_deleted_during_a_scale_is_recreated_and_the_scale_finishes() {
    let ns = initialized("scalepod");
    let seeds = endpoints(&healthy_status(&ns.name));
    write_keys(&seeds, "p", 20_000);
    let child = Command::new(env!("CARGO_BIN_EXE_kubectl-redis_cluster"))
        .env("KUBECONFIG", kubeconfig())
        .args([
            "-n",
            &ns.name,
            "scale",
            "--masters",
            "4",
            "--batch",
            "20",
            "--timeout",
            "120",
            "--yes",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the plugin");
    // Once the new pods exist, the StatefulSet loses one of its old pods mid-scale (a node
    // drain, say); it comes back with its volume, so with its node id and data.
    eventually("the StatefulSet to create pod redis-cluster-7", || {
        kubectl(&["get", "pod", "redis-cluster-7", "-n", &ns.name])
            .status
            .success()
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(1500));
    kubectl_ok(&[
        "delete",
        "pod",
        "redis-cluster-1",
        "-n",
        &ns.name,
        "--wait=false",
    ]);
    // The run goes on: its waits drop the connection to the deleted pod and dial the new
    // one, and members that missed the new pods' introduction are introduced again.
    let first = child.wait_with_output().expect("wait for the plugin");
    assert!(
        first.status.success(),
        "the scale stopped: {}",
        String::from_utf8_lossy(&first.stderr)
    );
    let status = healthy_status(&ns.name);
    assert_eq!(slot_counts(&status), vec![4096; 4]);
    assert_eq!(
        masters_from_status(&status),
        masters_from_redis_cli(&endpoints(&status)[0])
    );
    assert_keys(&endpoints(&status), "p", 20_000);
}

/// `CLUSTER NODES` of the node at `endpoint`, straight from redis-cli (the test ground's pod
/// IPs are on loopback); empty when it does not answer.
fn cluster_nodes(endpoint: &str) -> String {
    let (host, port) = endpoint.rsplit_once(':').expect("host:port");
    let out = Command::new("redis-cli")
        .args(["-h", host, "-p", port, "cluster", "nodes"])
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends `sig` (`-STOP`, `-CONT`) to a process.
fn signal(pid: u32, sig: &str) {
    let sent = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill {sig} {pid}");
}

#[test]
fn a_source_pod_deleted_while_slots_move_is_waited_for_and_the_same_run_finishes() {
    let ns = initialized("movepod");
    let n = ns.name.as_str();
    let seeds = endpoints(&healthy_status(n));
    write_keys(&seeds, "m", 20_000);
    let pod_ip =
        |pod: &str| kubectl_ok(&["get", "pod", pod, "-n", n, "-o", "jsonpath={.status.podIP}"]);
    let old_ip = pod_ip("redis-cluster-0");
    let source = format!("{old_ip}:6379");
    assert!(
        cluster_nodes(&source)
            .lines()
            .any(|l| l.contains("myself,master")),
        "redis-cluster-0 is not a master"
    );
    let child = Command::new(env!("CARGO_BIN_EXE_kubectl-redis_cluster"))
        .env("KUBECONFIG", kubeconfig())
        .args([
            "-n",
            n,
            "rebalance",
            "--weight",
            "redis-cluster-0=0",
            "--batch",
            "10",
            "--migration",
            "keys",
            "--timeout",
            "120",
            "--yes",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the plugin");
    // As soon as the source has a slot open, the plugin is frozen, the source's pod deleted
    // (a node drain, an eviction) and recreated at a new IP with its volume; then the plugin
    // goes on and finds its connection to the source dead.
    eventually("redis-cluster-0 to migrate slots", || {
        cluster_nodes(&source)
            .lines()
            .any(|l| l.contains("myself") && l.contains("->-"))
            .then_some(())
    });
    signal(child.id(), "-STOP");
    kubectl_ok(&["delete", "pod", "redis-cluster-0", "-n", n, "--wait=false"]);
    eventually("the old redis-cluster-0 to stop answering", || {
        cluster_nodes(&source).is_empty().then_some(())
    });
    signal(child.id(), "-CONT");
    let out = child.wait_with_output().expect("wait for the plugin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the rebalance stopped: {stderr}");
    assert!(
        stderr.contains("stopped answering while slots moved"),
        "the run did not notice the pod loss: {stderr}"
    );
    let status = healthy_status(n);
    let counts = slot_counts(&status);
    assert_eq!(counts.iter().sum::<u64>(), 16384);
    assert_eq!(
        counts.iter().filter(|c| **c > 0).count(),
        2,
        "redis-cluster-0 still serves slots: {counts:?}"
    );
    assert_eq!(
        masters_from_status(&status),
        masters_from_redis_cli(&endpoints(&status)[0])
    );
    assert_keys(&endpoints(&status), "m", 20_000);
}
