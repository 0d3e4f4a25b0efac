//! Nodes that announce hostnames (`cluster-announce-hostname`, `cluster-preferred-endpoint-type
//! hostname`; Redis 7.0 and Valkey, run on every engine of the matrix): the plugin addresses
//! nodes by the IPs in `CLUSTER NODES`, so every command works as on an IP cluster, while
//! clients are sent to names this machine cannot resolve (`*.cache.test`). Keys go through
//! the plugin's `proxy`, which rewrites names to its listeners, and are read back by redis-py
//! after the moves; `--cluster check` agrees.

use std::collections::BTreeSet;

use crate::harness::*;
use crate::proxy::start_proxy;
use crate::proxy::support::redis_py;

#[test]
fn a_cluster_that_sends_clients_to_names_is_formed_moved_and_healed_like_any_other() {
    let mut nodes = Nodes::secured(
        Access::default(),
        Box::new(|port| {
            vec![
                "--cluster-announce-hostname".into(),
                format!("node-{port}.cache.test"),
                "--cluster-preferred-endpoint-type".into(),
                "hostname".into(),
            ]
        }),
    );
    nodes.add(6);
    nodes.init(1);
    let status: serde_json::Value =
        serde_json::from_slice(&nodes.plugin(&["status", "-o", "json"]).stdout).expect("JSON");
    assert_eq!(status["setup"]["hostname_nodes"], 6, "{status}");
    for node in status["nodes"].as_array().expect("nodes") {
        let port = node["endpoint"]
            .as_str()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .1;
        assert_eq!(
            node["hostname"],
            format!("node-{port}.cache.test"),
            "{node}"
        );
    }
    // Clients are told names: MOVED names one.
    let moved = nodes.nodes[0].cli(&["set", "some-key-elsewhere-1", "v"]);
    let moved = if moved.starts_with("MOVED") {
        moved
    } else {
        nodes.nodes[1].cli(&["set", "some-key-elsewhere-1", "v"])
    };
    assert!(
        moved.contains(".cache.test:"),
        "a redirect names the node: {moved}"
    );

    let proxy = start_proxy(&nodes);
    let (host, port) = (proxy.host(), proxy.port());
    let (bad, hosts) = redis_py(&host, port, "named", 1500, true);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(hosts, BTreeSet::from([host.clone()]));

    // The plugin's own commands: a reshard, a failover, a rebalance.
    let masters: Vec<String> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["role"] == "master")
        .map(|n| n["endpoint"].as_str().unwrap().to_string())
        .collect();
    let replica = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["role"] == "replica")
        .map(|n| n["endpoint"].as_str().unwrap().to_string())
        .expect("a replica");
    assert_success(&nodes.plugin(&[
        "reshard",
        "--from",
        &masters[0],
        "--to",
        &masters[1],
        "--slots",
        "1000",
        "--yes",
    ]));
    assert_success(&nodes.plugin(&["failover", &replica, "--yes"]));
    assert_success(&nodes.plugin(&["rebalance", "--yes"]));
    nodes.assert_redis_cli_agrees_healthy();
    let (bad, _) = redis_py(&host, port, "named", 1500, false);
    assert!(
        bad.is_empty(),
        "after reshard, failover and rebalance: {bad:?}"
    );
    assert!(proxy.interrupt().success());
}
