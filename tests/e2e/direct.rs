//! `--direct`: the same commands dialling pod IPs instead of port-forwarding (the default
//! inside a cluster). The manifests are applied with kubectl, as the README's quickstart does.

use crate::cluster::*;
use crate::ground::*;

#[test]
fn kubectl_applied_manifests_init_and_check_with_direct_pod_ips() {
    let ns = Namespace::create("direct");
    let manifests = repo().join("manifests");
    kubectl_ok(&[
        "apply",
        "-k",
        manifests.to_str().expect("utf-8 path"),
        "-n",
        &ns.name,
    ]);
    let dry = plugin_ok(&["-n", &ns.name, "--direct", "init", "--dry-run"]);
    assert!(dry.is_empty(), "the plan goes to stderr: {dry}");
    plugin_ok(&[
        "-n",
        &ns.name,
        "--direct",
        "init",
        "--replicas-per-master",
        "1",
        "--yes",
    ]);
    let status = status_json(&plugin_ok(&[
        "-n", &ns.name, "--direct", "status", "-o", "json",
    ]));
    assert_eq!(status["healthy"], true, "{status:#}");
    let seed = status["nodes"][0]["endpoint"]
        .as_str()
        .expect("endpoint")
        .to_string();
    assert_eq!(masters_from_status(&status), masters_from_redis_cli(&seed));
    let pong = plugin_ok(&[
        "-n",
        &ns.name,
        "--direct",
        "cli",
        "redis-cluster-5",
        "--",
        "ping",
    ]);
    assert_eq!(pong, "PONG\n");
}
