//! Clusters the plugin did not deploy. The classic StatefulSet of the redis-trib workflow
//! (`fixtures/classic-statefulset.yaml`) announces no IP: on real pods a server sends from its
//! pod IP, so its peers list it there; the test ground gives every server that source address
//! too (`bind-source-addr`), and the first test holds it to that, then takes the cluster through
//! every day-2 step a newcomer from that workflow needs. The second
//! (`fixtures/foreign-names.yaml`) has none of the plugin's names, and is found from its pod
//! spec without flags.

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

    // From the classic 6 pods to 4 masters and back, with the StatefulSet following.
    plugin_ok(&["-n", n, "scale", "--masters", "4", "--yes"]);
    let up = healthy(n);
    assert_eq!(masters_from_status(&up).len(), 4);
    assert_eq!(up["nodes"].as_array().unwrap().len(), 8);
    assert_eq!(
        masters_from_status(&up),
        masters_from_redis_cli(&endpoints_of(&up)[0])
    );
    assert_keys(&endpoints_of(&up), "classic", 2_000);
    plugin_ok(&["-n", n, "scale", "--masters", "3", "--delete-pvcs", "--yes"]);
    let down = healthy(n);
    assert_eq!(masters_from_status(&down).len(), 3);
    assert_eq!(down["nodes"].as_array().unwrap().len(), 6);
    assert_keys(&endpoints_of(&down), "classic", 2_000);

    // del-node of a replica: its pod stays, outside the cluster, until it is added back.
    let replica = down["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|node| node["role"] == "replica")
        .expect("a replica")
        .clone();
    let pod = replica["pod"].as_str().expect("pod name");
    plugin_ok(&["-n", n, "del-node", pod, "--yes"]);
    let out = status_json(&plugin(&["-n", n, "status", "-o", "json"]).stdout);
    assert_eq!(out["healthy"], false);
    assert!(
        out["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "pod_not_in_cluster" && p["pod"] == pod),
        "{out:#}"
    );
    assert_keys(&endpoints_of(&down), "classic", 2_000);
    let address = replica["endpoint"].as_str().unwrap();
    plugin_ok(&["-n", n, "add-node", address, "--replica", "--yes"]);
    let back = healthy(n);
    assert_eq!(back["nodes"].as_array().unwrap().len(), 6);

    // Every pod deleted at once: back at new IPs, `fix` puts the cluster together again.
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
    let before = pod_ips(n).join(" ");
    kubectl_ok(&[
        "delete",
        "pods",
        "-n",
        n,
        "-l",
        "app=redis-cluster",
        "--wait=false",
    ]);
    eventually("all six pods back at new IPs", || {
        let now = pod_ips(n);
        (now.len() == 6 && now.join(" ") != before).then_some(())
    });
    plugin_ok(&["-n", n, "fix", "--yes"]);
    let fixed = healthy(n);
    assert_eq!(ids(&fixed), ids(&back), "node ids survive the restart");
    assert_eq!(
        masters_from_status(&fixed),
        masters_from_redis_cli(&endpoints_of(&fixed)[0])
    );
    assert_keys(&endpoints_of(&fixed), "classic", 2_000);
}

/// `status -o json` in `ns`, asserting the cluster is healthy.
fn healthy(ns: &str) -> Value {
    let status = status_json(&plugin_ok(&["-n", ns, "status", "-o", "json"]));
    assert_eq!(status["healthy"], true, "{status:#}");
    status
}

/// Every node's endpoint in a status report.
fn endpoints_of(status: &Value) -> Vec<String> {
    status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| node["endpoint"].as_str().expect("endpoint").to_string())
        .collect()
}

const CACHE_PASSWORD: &str = "e2e-cache-pw-81c3";

#[test]
fn a_cluster_with_none_of_our_names_is_found_from_its_pod_spec_without_flags() {
    let ns = Namespace::create("foreign");
    let n = ns.name.as_str();
    kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "cache-auth",
        "-n",
        n,
        &format!("--from-literal=redis-password={CACHE_PASSWORD}"),
    ]);
    apply_fixture("foreign-names.yaml", n);
    eventually("the six pods to answer", || {
        let run = plugin(&["-n", n, "cli", "cache-5", "--", "ping"]);
        (run.stdout == "PONG\n").then_some(())
    });
    let init = plugin(&["-n", n, "init", "--yes"]);
    assert_eq!(init.code, 0, "{init:?}");
    assert!(
        init.stderr
            .contains("Found statefulset cache (the only one in namespace")
            && init
                .stderr
                .contains("Found client port 7000 (from the pod spec"),
        "{}",
        init.stderr
    );
    let status = healthy(n);
    let endpoints = endpoints_of(&status);
    assert!(
        endpoints.iter().all(|e| e.ends_with(":7000")),
        "{endpoints:?}"
    );
    assert_eq!(
        status["nodes"][0]["pod"]
            .as_str()
            .map(|p| p.starts_with("cache-")),
        Some(true)
    );

    // An independent client with the Secret's password reads back what it wrote.
    let urls: Vec<String> = endpoints.iter().map(|e| format!("redis://{e}")).collect();
    let client = redis::cluster::ClusterClientBuilder::new(urls)
        .password(CACHE_PASSWORD)
        .build()
        .expect("cluster client");
    write_keys_with(&client, "cache", 2_000);
    plugin_ok(&["-n", n, "scale", "--masters", "4", "--yes"]);
    let up = healthy(n);
    assert_eq!(masters_from_status(&up).len(), 4);
    assert_keys_with(&client, "cache", 2_000);

    // A second Redis StatefulSet makes the choice ambiguous: the plugin names both and asks
    // for --statefulset, which the flags then give along with what the pod spec said.
    let sessions = std::env::temp_dir().join(format!("{n}-sessions.yaml"));
    std::fs::write(
        &sessions,
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: sessions}\nspec:\n  serviceName: sessions\n  replicas: 0\n  selector: {matchLabels: {app: sessions}}\n  template:\n    metadata: {labels: {app: sessions}}\n    spec: {containers: [{name: valkey, image: 'valkey/valkey:9'}]}\n",
    )
    .expect("write the second StatefulSet");
    kubectl_ok(&[
        "apply",
        "-n",
        n,
        "-f",
        sessions.to_str().expect("utf-8 path"),
    ]);
    let _ = std::fs::remove_file(&sessions);
    let ambiguous = plugin(&["-n", n, "status"]);
    assert_eq!(ambiguous.code, 2, "{ambiguous:?}");
    assert!(
        ambiguous.stderr.contains(&format!(
            "namespace {n} has several StatefulSets running redis or valkey (cache, sessions): name one with --statefulset NAME"
        )),
        "{}",
        ambiguous.stderr
    );
    let flagged = plugin_ok(&[
        "-n",
        n,
        "--statefulset",
        "cache",
        "--port",
        "7000",
        "--password-secret",
        "cache-auth/redis-password",
        "status",
        "-o",
        "json",
    ]);
    assert_eq!(status_json(&flagged)["healthy"], true);
    for run in [&init.stdout, &init.stderr, &flagged] {
        assert!(!run.contains(CACHE_PASSWORD), "the password was printed");
    }
}
