//! Clusters the plugin did not deploy: the classic StatefulSet of the redis-trib workflow
//! (`fixtures/classic-statefulset.yaml`), which announces no IP. On real pods a server sends
//! from its pod IP, so its peers list it there; the test ground gives every server that source
//! address too (`bind-source-addr`), and this test holds it to that.

use serde_json::Value;

use crate::cluster::*;
use crate::ground::*;

/// `kubectl apply -f tests/e2e/fixtures/<name> -n <ns>`.
fn apply_fixture(name: &str, ns: &str) {
    let file = repo().join("tests/e2e/fixtures").join(name);
    kubectl_ok(&["apply", "-f", file.to_str().expect("utf-8 path"), "-n", ns]);
}

/// The pods' IPs, by `kubectl get pods`.
fn pod_ips(ns: &str) -> Vec<String> {
    kubectl_ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "-o",
        "jsonpath={.items[*].status.podIP}",
    ])
    .split_whitespace()
    .map(String::from)
    .collect()
}

#[test]
fn a_classic_statefulset_without_announce_ip_forms_a_cluster_at_its_pod_ips() {
    let ns = Namespace::create("classic");
    let n = ns.name.as_str();
    apply_fixture("classic-statefulset.yaml", n);
    eventually("the six pods to answer", || {
        let run = plugin(&["-n", n, "cli", "redis-cluster-5", "--", "ping"]);
        (run.stdout == "PONG\n").then_some(())
    });
    plugin_ok(&["-n", n, "init", "--yes"]);

    let status = status_json(&plugin_ok(&["-n", n, "status", "-o", "json"]));
    assert_eq!(status["healthy"], true, "{status:#}");
    let ips = pod_ips(n);
    assert_eq!(ips.len(), 6);
    // Every node lists every other at its pod IP, never at the host's 127.0.0.1.
    for pod in 0..6 {
        let nodes = plugin_ok(&[
            "-n",
            n,
            "cli",
            &format!("redis-cluster-{pod}"),
            "--",
            "cluster",
            "nodes",
        ]);
        let listed: Vec<&str> = nodes
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter_map(|addr| addr.split(':').next())
            .collect();
        assert_eq!(listed.len(), 6, "redis-cluster-{pod}:\n{nodes}");
        for ip in &listed {
            assert!(
                ips.iter().any(|p| p == ip),
                "redis-cluster-{pod} lists {ip}, which is no pod's IP ({ips:?}):\n{nodes}"
            );
        }
    }
    let endpoints: Vec<String> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node: &Value| node["endpoint"].as_str().expect("endpoint").to_string())
        .collect();
    write_keys(&endpoints, "classic", 2_000);
    let status = status_json(&plugin_ok(&["-n", n, "status", "-o", "json"]));
    assert_eq!(
        masters_from_status(&status),
        masters_from_redis_cli(&endpoints[0])
    );
    assert_keys(&endpoints, "classic", 2_000);
}
