//! Failure domains on the test ground: three more kwok nodes, each in a zone of its own
//! (`topology.kubernetes.io/zone`), the test ground's own node cordoned for the test. A
//! replica forced onto its master's zone is flagged by `status` (a warning: the cluster is
//! still healthy) and moved away by `rebalance-replicas`, keys intact; `drain-prep` then
//! hands the masters on one node to replicas elsewhere.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::cluster::*;
use crate::ground::*;

/// Zone nodes for one test, removed (and the test ground's node uncordoned) when dropped.
struct ZoneNodes(Vec<String>);

impl ZoneNodes {
    fn create(zones: &[&str]) -> Self {
        let names: Vec<String> = zones.iter().map(|z| format!("kwok-zone-{z}")).collect();
        for (name, zone) in names.iter().zip(zones) {
            let node = serde_json::json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                        "topology.kubernetes.io/zone": zone,
                    }
                },
                "spec": {}
            });
            let file = std::env::temp_dir().join(format!("{name}-{}.json", std::process::id()));
            std::fs::write(&file, node.to_string()).expect("node manifest");
            kubectl_ok(&["apply", "-f", file.to_str().expect("utf-8")]);
            let _ = std::fs::remove_file(&file);
        }
        let guard = Self(names);
        for name in &guard.0 {
            kubectl_ok(&[
                "wait",
                "--for=condition=Ready",
                &format!("node/{name}"),
                "--timeout=60s",
            ]);
        }
        kubectl_ok(&["cordon", "kwok-node-0"]);
        guard
    }
}

impl Drop for ZoneNodes {
    fn drop(&mut self) {
        let _ = kubectl(&["uncordon", "kwok-node-0"]);
        for name in &self.0 {
            let _ = kubectl(&["delete", "node", name, "--wait=false"]);
        }
    }
}

/// pod → (zone's node, node id, master's node id or "-") from `status -o json`.
fn layout(status: &Value) -> BTreeMap<String, (String, String, String)> {
    status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            let s = |k: &str| n[k].as_str().unwrap_or("-").to_string();
            (s("pod"), (s("k8s_node"), s("id"), s("master")))
        })
        .collect()
}

#[test]
fn a_replica_forced_onto_its_masters_zone_is_flagged_and_moved_away() {
    let zones = ZoneNodes::create(&["a", "b", "c"]);
    let ns = Namespace::create("domains");
    let n = ns.name.as_str();
    plugin_ok(&["-n", n, "deploy"]);
    plugin_ok(&["-n", n, "init", "--yes"]);
    let status = status_json(&plugin_ok(&["-n", n, "status", "-o", "json"]));
    let seeds: Vec<String> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["endpoint"].as_str().unwrap().to_string())
        .collect();
    write_keys(&seeds, "zone", 5_000);
    assert_eq!(
        status["exposed"],
        serde_json::json!([]),
        "init spreads every shard: {status:#}"
    );
    let pods = layout(&status);
    assert!(
        pods.values().all(|(node, ..)| zones.0.contains(node)),
        "{pods:?}"
    );

    // Force a bad placement: master M's zone also holds a replica R of another master M1;
    // R follows M, and M's own replica follows M1 instead.
    let (m_pod, (m_node, m_id, _)) = pods
        .iter()
        .find(|(_, (node, _, master))| {
            master == "-" && pods.values().any(|(n2, _, m2)| n2 == node && m2 != "-")
        })
        .expect("a master whose zone also holds a replica");
    let (r_pod, (_, _, m1_id)) = pods
        .iter()
        .find(|(_, (node, _, master))| node == m_node && master != "-")
        .expect("the replica in M's zone");
    assert_ne!(
        m1_id, m_id,
        "init put a replica in its master's zone: {pods:?}"
    );
    let (rm_pod, _) = pods
        .iter()
        .find(|(_, (_, _, master))| master == m_id)
        .expect("M's replica");
    plugin_ok(&["-n", n, "cli", r_pod, "--", "cluster", "replicate", m_id]);
    plugin_ok(&["-n", n, "cli", rm_pod, "--", "cluster", "replicate", m1_id]);
    let flagged = eventually("status to flag the shard", || {
        let run = plugin(&["-n", n, "status", "-o", "json"]);
        let s: Value = serde_json::from_str(&run.stdout).ok()?;
        let exposed = s["exposed"].as_array()?;
        (run.code == 0 && exposed.iter().any(|e| e["master"] == m_pod.as_str())).then_some(s)
    });
    assert_eq!(
        flagged["healthy"], true,
        "a warning, not a problem: {flagged:#}"
    );
    let table = plugin_ok(&["-n", n, "status"]);
    assert!(
        table.contains(&format!("warning: the shard of {m_pod}")),
        "{table}"
    );

    let planned: Value = serde_json::from_str(&plugin_ok(&[
        "-n",
        n,
        "rebalance-replicas",
        "--dry-run",
        "-o",
        "json",
    ]))
    .expect("JSON plan");
    assert_eq!(planned["result"], "planned", "{planned:#}");
    assert_eq!(planned["exposed"], serde_json::json!([]), "{planned:#}");
    let moved = plugin(&["-n", n, "rebalance-replicas", "--yes"]);
    assert_eq!(moved.code, 0, "{moved:?}");
    let fixed = status_json(&plugin_ok(&["-n", n, "status", "-o", "json"]));
    assert_eq!(fixed["healthy"], true, "{fixed:#}");
    assert_eq!(fixed["exposed"], serde_json::json!([]), "{fixed:#}");
    let again = plugin(&["-n", n, "rebalance-replicas", "--yes"]);
    assert!(
        again.stderr.contains("no replica to move"),
        "{}",
        again.stderr
    );
    let endpoint = fixed["nodes"][0]["endpoint"].as_str().unwrap().to_string();
    assert_eq!(
        masters_from_redis_cli(&endpoint),
        masters_from_status(&fixed)
    );
    assert_keys(&seeds, "zone", 5_000);
}
