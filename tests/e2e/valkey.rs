//! Valkey 9.1 on the test ground (`deploy --engine valkey`, which renders
//! `manifests/overlays/valkey`: the stock valkey image; the pod harness runs valkey-server from
//! the PyPI wheel with the manifest's arguments): init, then `scale --masters 4` and back, with
//! every key an independent client wrote read back after each step.

use serde_json::Value;

use crate::cluster::*;
use crate::ground::*;

/// `status -o json` in `ns`, asserting the cluster is healthy.
fn healthy(ns: &str) -> Value {
    let status = status_json(&plugin_ok(&["-n", ns, "status", "-o", "json"]));
    assert_eq!(status["healthy"], true, "{status:#}");
    status
}

/// Every node's endpoint in a status report.
fn endpoints(status: &Value) -> Vec<String> {
    status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["endpoint"].as_str().expect("endpoint").to_string())
        .collect()
}

#[test]
fn a_valkey_9_cluster_scales_to_four_masters_and_back_keeping_every_key() {
    let ns = Namespace::create("valkey");
    let n = ns.name.as_str();
    plugin_ok(&["-n", n, "deploy", "--engine", "valkey", "--yes"]);
    plugin_ok(&["-n", n, "init", "--yes"]);
    let sigterm = plugin_ok(&[
        "-n",
        n,
        "cli",
        "redis-cluster-0",
        "--",
        "config",
        "get",
        "shutdown-on-sigterm",
    ]);
    assert!(sigterm.contains("failover"), "{sigterm}");
    let redis = plugin(&["-n", n, "deploy", "--yes"]);
    assert_eq!(redis.code, 2, "{redis:?}");
    assert!(
        redis.stderr.contains(
            "statefulset redis-cluster runs valkey; deploy --engine redis would restart its pods as redis servers on valkey's data"
        ),
        "{}",
        redis.stderr
    );
    let status = healthy(n);
    assert_eq!(
        status["engines"],
        serde_json::json!([{"kind": "valkey", "version": "9.1.2", "nodes": 6}]),
        "{status:#}"
    );
    let table = plugin_ok(&["-n", n, "status"]);
    assert!(table.contains("6 node(s) run valkey 9.1.2"), "{table}");
    write_keys(&endpoints(&status), "vk", 20_000);

    plugin_ok(&["-n", n, "scale", "--masters", "4", "--yes"]);
    let up = healthy(n);
    assert_eq!(masters_from_status(&up).len(), 4);
    assert_eq!(
        masters_from_status(&up),
        masters_from_redis_cli(&endpoints(&up)[0])
    );
    assert_keys(&endpoints(&up), "vk", 20_000);

    plugin_ok(&["-n", n, "scale", "--masters", "3", "--delete-pvcs", "--yes"]);
    let down = healthy(n);
    assert_eq!(masters_from_status(&down).len(), 3);
    assert_eq!(down["nodes"].as_array().unwrap().len(), 6);
    assert_keys(&endpoints(&down), "vk", 20_000);
}
