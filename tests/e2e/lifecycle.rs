//! The whole life of a cluster, run as a plugin user holding only the Role of
//! manifests/base/rbac-plugin-user.yaml, through port-forward (the default from a
//! workstation): deploy, init, status against redis-cli's check, keys, cli, a re-run of
//! init, destroy.

use crate::cluster::*;
use crate::ground::*;

#[test]
fn deploy_init_status_cli_and_destroy_as_a_plugin_user_through_port_forward() {
    let ns = Namespace::create("life");
    grant_plugin_role(&ns.name);
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = impersonating_kubeconfig(dir.path());
    let kc = kc.to_str().expect("utf-8 path");
    let as_user = |args: &[&str]| -> Vec<String> {
        ["--kubeconfig", kc, "-n", ns.name.as_str()]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: &[&str]| plugin(&as_user(args).iter().map(String::as_str).collect::<Vec<_>>());
    let ok = |args: &[&str]| {
        let r = run(args);
        assert_eq!(r.code, 0, "{args:?} failed:\n{}{}", r.stdout, r.stderr);
        r
    };

    // deploy: the dry run prints the objects and applies nothing.
    let dry = ok(&["deploy", "--dry-run"]);
    assert_eq!(
        dry.stdout.matches("\n---\n").count(),
        4,
        "five objects:\n{}",
        dry.stdout
    );
    assert_eq!(
        dry.stdout.matches("kind: StatefulSet").count(),
        1,
        "{}",
        dry.stdout
    );
    let planned: serde_json::Value =
        serde_json::from_str(&ok(&["deploy", "--dry-run", "-o", "json"]).stdout).expect("JSON");
    assert_eq!(planned["schema"], "kubectl-redis-cluster/deploy/v1");
    assert_eq!(planned["result"], "planned");
    assert!(
        planned["objects"]
            .as_array()
            .expect("objects")
            .contains(&"statefulset/redis-cluster".into()),
        "{planned:#}"
    );
    assert!(kubectl_ok(&["get", "statefulsets", "-n", &ns.name, "-o", "name"]).is_empty());
    let deployed = ok(&["deploy"]);
    assert!(
        deployed
            .stderr
            .contains("statefulset/redis-cluster applied"),
        "{}",
        deployed.stderr
    );
    assert!(
        deployed.stderr.contains("init"),
        "deploy names the next step:\n{}",
        deployed.stderr
    );

    // init waits for the pods, then builds 3 masters + 3 replicas.
    let init = ok(&["init", "--yes"]);
    assert!(
        init.stderr.contains("cluster created from 6 nodes"),
        "{}",
        init.stderr
    );
    let status = status_json(&ok(&["status", "-o", "json"]).stdout);
    assert_eq!(status["healthy"], true, "{status:#}");
    let nodes = status["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.iter().filter(|n| n["role"] == "master").count(), 3);
    assert_eq!(nodes.iter().filter(|n| n["role"] == "replica").count(), 3);
    for n in nodes {
        let pod = n["pod"]
            .as_str()
            .unwrap_or_else(|| panic!("every node runs in a pod: {n}"));
        assert!(pod.starts_with("redis-cluster-"), "{pod}");
        assert_eq!(n["k8s_node"], "kwok-node-0");
        if n["role"] == "replica" {
            let master = nodes
                .iter()
                .find(|m| m["id"] == n["master"])
                .expect("master listed");
            assert_ne!(master["pod"], n["pod"], "a replica shares its master's pod");
        }
    }

    // Keys through an independent cluster client; status and redis-cli's check agree.
    let endpoints: Vec<String> = nodes
        .iter()
        .map(|n| n["endpoint"].as_str().expect("endpoint").to_string())
        .collect();
    write_and_read_keys(&endpoints, 2000);
    let status = status_json(&ok(&["status", "-o", "json"]).stdout);
    let ours = masters_from_status(&status);
    assert_eq!(ours.values().map(|(keys, _, _)| keys).sum::<u64>(), 2000);
    assert_eq!(ours, masters_from_redis_cli(&endpoints[0]));
    let table = ok(&["status"]).stdout;
    assert!(
        table.starts_with("POD ") && table.contains("K8S-NODE"),
        "{table}"
    );

    // cli by pod name, redis-cli style.
    let info = ok(&["cli", "redis-cluster-0", "--", "cluster", "info"]).stdout;
    assert!(
        info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:6"),
        "{info}"
    );
    let myid = ok(&["cli", "redis-cluster-4", "--", "cluster", "myid"]).stdout;
    let pod4 = nodes
        .iter()
        .find(|n| n["pod"] == "redis-cluster-4")
        .expect("pod 4");
    assert_eq!(myid.trim(), pod4["id"]);

    // A second init changes nothing.
    let again = ok(&["init", "--yes"]);
    assert!(
        again.stderr.contains("already initialized and healthy"),
        "{}",
        again.stderr
    );

    // Pods and nodes that do not match are named: an extra pod outside the cluster, then a
    // node whose pod is gone; the pod comes back with its volume, and so with its node id.
    let scale = |n: &str| {
        kubectl_ok(&[
            "scale",
            "statefulset/redis-cluster",
            "-n",
            &ns.name,
            "--replicas",
            n,
        ]);
    };
    let status_until = |what: &str, expected_code: i32| {
        eventually(what, || {
            let r = run(&["status"]);
            (r.code == expected_code && r.stdout.contains(what)).then_some(r.stdout)
        })
    };
    scale("7");
    let table = status_until("is not part of the cluster", 1);
    assert!(table.contains("pod redis-cluster-6 ("), "{table}");
    let id5 = node_id_of(nodes, "redis-cluster-5");
    scale("5");
    let table = status_until("matches no pod of the StatefulSet", 1);
    assert!(
        table.contains(&format!("({}) matches no pod", &id5[..8])),
        "{table}"
    );
    scale("6");
    let table = status_until("cluster is healthy", 0);
    assert!(
        table.contains(&id5[..8]),
        "redis-cluster-5 came back as another node:\n{table}"
    );

    // destroy refuses without a terminal or --yes, then deletes everything, volumes included.
    let refused = run(&["destroy", "--delete-pvcs"]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("pass --yes"), "{}", refused.stderr);
    let destroyed = ok(&["destroy", "--delete-pvcs", "--yes", "-o", "json"]);
    let report: serde_json::Value = serde_json::from_str(&destroyed.stdout).expect("JSON");
    assert_eq!(report["schema"], "kubectl-redis-cluster/destroy/v1");
    assert_eq!(report["result"], "deleted");
    let objects = report["objects"].as_array().expect("objects");
    assert_eq!(
        objects
            .iter()
            .filter(|o| o
                .as_str()
                .is_some_and(|o| o.starts_with("PersistentVolumeClaim/")))
            .count(),
        7,
        "{report:#}"
    );
    assert!(
        destroyed
            .stderr
            // Seven: redis-cluster-6's claim outlived its pod.
            .contains("7 PersistentVolumeClaim(s) deleted"),
        "{}",
        destroyed.stderr
    );
    let left = kubectl_ok(&[
        "get",
        "statefulsets,services,configmaps,poddisruptionbudgets,pods",
        "-n",
        &ns.name,
        "-o",
        "name",
    ]);
    assert_eq!(
        left.trim(),
        "configmap/kube-root-ca.crt",
        "left behind:\n{left}"
    );
    let gone = ok(&["destroy", "--yes"]);
    assert!(gone.stderr.contains("nothing to delete"), "{}", gone.stderr);
}

/// The node id of the node in `pod`, from `status -o json` rows.
fn node_id_of(nodes: &[serde_json::Value], pod: &str) -> String {
    let node = nodes
        .iter()
        .find(|n| n["pod"] == pod)
        .unwrap_or_else(|| panic!("{pod} listed"));
    node["id"].as_str().expect("id").to_string()
}
