//! Hostname mode on the test ground: a cluster that announces pod IPs moved to stable DNS
//! names by `announce-hostnames` (live first, then the pod template, one pod at a time), and
//! one deployed with `deploy --announce hostname`. Every node must list every other under
//! its name, `CLUSTER SLOTS` must send clients to names, `redis-cli --cluster check` must
//! agree with `status`, commands must keep working, and keys must read back, through the
//! plugin's `proxy` (names under `svc.cluster.local` do not resolve on this machine, as they
//! do not on a laptop: the proxy is how a client outside the cluster reaches it).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use crate::cluster::*;
use crate::ground::*;
use crate::proxy::support::{ProxyProcess, redis_cli, redis_py};

/// The name pod `pod` of namespace `ns` announces.
fn name_of(pod: &str, ns: &str) -> String {
    format!("{pod}.redis-cluster-headless.{ns}.svc.cluster.local")
}

/// Every node's endpoint, as `status -o json` lists them.
fn endpoints(ns: &str) -> Vec<String> {
    let status = status_json(&plugin_ok(&["-n", ns, "status", "-o", "json"]));
    status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| node["endpoint"].as_str().expect("endpoint").to_string())
        .collect()
}

/// Asserts every node lists every node under its pod's name, and `CLUSTER SLOTS` sends
/// clients to names only; `status -o json` shows each node's name and agrees with `redis-cli --cluster
/// check`.
fn assert_names_everywhere(ns: &str) {
    let status = status_json(&plugin_ok(&["-n", ns, "status", "-o", "json"]));
    let nodes = status["nodes"].as_array().expect("nodes");
    assert_eq!(status["setup"]["hostname_nodes"], nodes.len(), "{status}");
    let (mut named, mut masters) = (BTreeSet::new(), BTreeSet::new());
    for node in nodes {
        let pod = node["pod"].as_str().expect("pod");
        assert_eq!(node["hostname"], name_of(pod, ns), "{node}");
        named.insert(name_of(pod, ns));
        if node["role"] == "master" {
            masters.insert(name_of(pod, ns));
        }
    }
    for endpoint in endpoints(ns) {
        let (host, port) = endpoint.rsplit_once(':').expect("host:port");
        let lines = redis_cli(&["-h", host, "-p", port, "cluster", "nodes"]);
        let listed: BTreeSet<String> = lines
            .lines()
            .filter_map(|l| {
                l.split(' ')
                    .nth(1)?
                    .split_once(',')
                    .map(|(_, h)| h.to_string())
            })
            .collect();
        assert_eq!(listed, named, "{endpoint} lists:\n{lines}");
        // CLUSTER SLOTS: each node entry is [preferred endpoint, port, id, metadata]; the
        // preferred endpoint is the name (the IP stays only in the metadata).
        let mut conn = redis::Client::open(format!("redis://{endpoint}"))
            .and_then(|c| c.get_connection())
            .expect("connect");
        let slots: Vec<redis::Value> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut conn)
            .expect("CLUSTER SLOTS");
        let mut told = BTreeSet::new();
        for range in &slots {
            let redis::Value::Array(fields) = range else {
                panic!("{range:?}")
            };
            for node in &fields[2..] {
                let redis::Value::Array(node) = node else {
                    panic!("{node:?}")
                };
                let first: String = redis::from_redis_value(node[0].clone()).expect("endpoint");
                told.insert(first);
            }
        }
        // Every master by its name; replicas too, by name, once their replication offset
        // is known (Redis leaves out a replica whose offset is still 0).
        assert!(
            masters.is_subset(&told) && told.is_subset(&named),
            "{endpoint}'s CLUSTER SLOTS: {slots:?}"
        );
    }
    assert_eq!(
        masters_from_status(&status),
        masters_from_redis_cli(&endpoints(ns)[0]),
        "status and redis-cli --cluster check disagree"
    );
}

/// A proxy for namespace `ns` on a loopback address of its own.
fn proxy(ns: &str, third: u32) -> ProxyProcess {
    let address = format!("127.78.{}.{third}", std::process::id() % 250);
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-redis_cluster"));
    command.env("KUBECONFIG", kubeconfig()).args([
        "-n",
        ns,
        "proxy",
        "--address",
        &address,
        "-o",
        "json",
    ]);
    ProxyProcess::start(command, Duration::from_secs(60))
}

#[test]
fn an_ip_cluster_moves_to_hostnames_one_pod_at_a_time_and_commands_and_keys_work_there() {
    let ns = Namespace::create("hostnames");
    let n = ns.name.as_str();
    plugin_ok(&["-n", n, "deploy"]);
    plugin_ok(&["-n", n, "init", "--yes"]);
    write_keys(&endpoints(n), "ip", 3000);

    // The dry run names every pod's name and the rollout; nothing changes.
    let planned: serde_json::Value = serde_json::from_str(&plugin_ok(&[
        "-n",
        n,
        "announce-hostnames",
        "--dry-run",
        "-o",
        "json",
    ]))
    .expect("JSON");
    assert_eq!(
        planned["schema"],
        "kubectl-redis-cluster/announce-hostnames/v1"
    );
    assert_eq!(planned["result"], "planned");
    assert_eq!(planned["change"], "hostnames");
    let hostnames = planned["hostnames"].as_array().expect("hostnames");
    assert_eq!(hostnames.len(), 6, "{planned}");
    assert!(hostnames.contains(&serde_json::json!({
        "pod": "redis-cluster-0",
        "hostname": name_of("redis-cluster-0", n)
    })));
    let replaced = planned["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["step"] == "replace")
        .count();
    assert_eq!(replaced, 6, "{planned}");
    let status = status_json(&plugin_ok(&["-n", n, "status", "-o", "json"]));
    assert_eq!(
        status["setup"]["hostname_nodes"], 0,
        "a dry run changes nothing"
    );

    // Stopped (as by a kill) once the names are live, before the template changes: every
    // node already knows every name and sends clients to names, the pods not restarted.
    let template = || {
        kubectl_ok(&[
            "-n",
            n,
            "get",
            "statefulset",
            "redis-cluster",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].command}",
        ])
    };
    let uids = || {
        kubectl_ok(&[
            "-n",
            n,
            "get",
            "pods",
            "-o",
            "jsonpath={.items[*].metadata.uid}",
        ])
    };
    let before = uids();
    let killed = plugin_env(
        &["-n", n, "announce-hostnames", "--yes"],
        &[("KUBECTL_REDIS_CLUSTER_FAILPOINT", "hostnames-announced")],
    );
    assert_eq!(killed.code, 137, "{}", killed.stderr);
    assert_names_everywhere(n);
    assert!(!template().contains("--cluster-announce-hostname"));
    assert_eq!(uids(), before, "no pod restarted yet");

    // The same command run again finishes: the template keeps the names, every pod replaced.
    let moved = plugin(&["-n", n, "announce-hostnames", "--yes"]);
    assert_eq!(moved.code, 0, "{}", moved.stderr);
    eprintln!("{}", moved.stderr);
    assert_names_everywhere(n);
    assert!(
        uids().split(' ').all(|uid| !before.contains(uid)),
        "every pod replaced"
    );
    // The template keeps it, and the StatefulSet is back to its own update strategy.
    let command = template();
    assert!(
        command.contains("--cluster-preferred-endpoint-type")
            && command
                .contains("$(POD_NAME).redis-cluster-headless.$(POD_NAMESPACE).svc.cluster.local"),
        "{command}"
    );
    let strategy = kubectl_ok(&[
        "-n",
        n,
        "get",
        "statefulset",
        "redis-cluster",
        "-o",
        "jsonpath={.spec.updateStrategy.type}",
    ]);
    assert_eq!(strategy, "RollingUpdate");
    // Run again: nothing left to do.
    let again = plugin(&["-n", n, "announce-hostnames", "--yes"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("nothing to do"), "{}", again.stderr);

    // Commands work on a cluster that names its nodes; keys read back through the proxy.
    let proxy = proxy(n, 1);
    let (host, port) = (proxy.host(), proxy.port());
    let (bad, hosts) = redis_py(&host, port, "py", 1000, true);
    assert!(bad.is_empty(), "redis-py read back wrong keys: {bad:?}");
    assert_eq!(
        hosts,
        BTreeSet::from([host.clone()]),
        "told of names beyond the proxy"
    );
    let through_proxy =
        redis::cluster::ClusterClient::new(vec![format!("redis://{}", proxy.seed())])
            .expect("cluster client");
    assert_keys_with(&through_proxy, "ip", 3000);
    let status = status_json(&plugin_ok(&["-n", n, "status", "-o", "json"]));
    let masters: Vec<String> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|node| node["role"] == "master")
        .map(|node| node["pod"].as_str().expect("pod").to_string())
        .collect();
    plugin_ok(&[
        "-n",
        n,
        "reshard",
        "--from",
        &masters[0],
        "--to",
        &masters[1],
        "--slots",
        "500",
        "--yes",
    ]);
    let replica = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|node| node["role"] == "replica")
        .and_then(|node| node["pod"].as_str())
        .expect("a replica")
        .to_string();
    plugin_ok(&["-n", n, "failover", &replica, "--yes"]);
    plugin_ok(&["-n", n, "rebalance", "--yes"]);
    assert_names_everywhere(n);
    // New pods come from the template: they announce their names from the start.
    plugin_ok(&["-n", n, "scale", "--masters", "4", "--yes"]);
    assert_names_everywhere(n);
    let status = status_json(&plugin_ok(&["-n", n, "status", "-o", "json"]));
    assert_eq!(
        status["nodes"].as_array().map(Vec::len),
        Some(8),
        "{status}"
    );
    let p = port.to_string();
    redis_cli(&["-c", "-h", &host, "-p", &p, "set", "after", "moves"]);
    assert_eq!(
        redis_cli(&["-c", "-h", &host, "-p", &p, "get", "after"]).trim(),
        "moves"
    );
    assert_keys_with(&through_proxy, "ip", 3000);
    let (bad, _) = redis_py(&host, port, "py", 1000, false);
    assert!(
        bad.is_empty(),
        "after reshard, failover, rebalance, scale: {bad:?}"
    );
    assert!(proxy.interrupt().success());
}

#[test]
fn deploy_announce_hostname_starts_a_cluster_that_names_its_nodes_from_the_first_init() {
    let ns = Namespace::create("named");
    let n = ns.name.as_str();
    plugin_ok(&["-n", n, "deploy", "--announce", "hostname"]);
    plugin_ok(&["-n", n, "init", "--yes"]);
    assert_names_everywhere(n);
    let done = plugin(&["-n", n, "announce-hostnames", "--yes"]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(done.stderr.contains("nothing to do"), "{}", done.stderr);
    let proxy = proxy(n, 2);
    let (bad, hosts) = redis_py(&proxy.host(), proxy.port(), "named", 1000, true);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(hosts, BTreeSet::from([proxy.host()]));
    assert!(proxy.interrupt().success());
}
