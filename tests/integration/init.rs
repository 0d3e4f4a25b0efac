//! `init`: builds healthy clusters from empty nodes, is a no-op on a formed cluster, resumes
//! after a kill, and refuses nodes it must not touch, changing nothing.

use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn init_builds_three_masters_with_a_replica_each_that_redis_cli_accepts() {
    let nodes = Nodes::start(6);
    let started = Instant::now();
    let out = nodes.init(1);
    eprintln!(
        "init of 6 nodes took {:.2}s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        stderr(&out).contains("cluster created from 6 nodes"),
        "{}",
        stderr(&out)
    );
    assert_redis_cli_agrees_healthy(&nodes.seed());

    let status = plugin(&["--seed", &nodes.seed(), "status", "-o", "json"]);
    assert_success(&status);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let roles: Vec<&str> = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles.iter().filter(|r| **r == "master").count(), 3);
    assert_eq!(roles.iter().filter(|r| **r == "replica").count(), 3);

    write_keys(&nodes.seed(), "init", 1000);
    assert_keys_intact(&nodes.seed(), "init", 1000);
}

#[test]
fn init_on_a_formed_cluster_changes_nothing_and_says_so() {
    let nodes = Nodes::start(6);
    nodes.init(1);
    let before = nodes.layout();
    let out = nodes.init(1);
    assert!(
        stderr(&out).contains("already initialized and healthy"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("assign slots"), "{}", stderr(&out));
    assert_eq!(before, nodes.layout(), "roles or slots changed");
}

#[test]
fn replicas_are_placed_on_another_host_than_their_master() {
    // Two hosts with three nodes each: no replica may share its master's host.
    let nodes = Nodes::on_hosts(&[3, 3]);
    nodes.init(1);
    for n in &nodes.nodes {
        let me = n.cli(&["cluster", "nodes"]);
        let line = me
            .lines()
            .find(|l| l.contains("myself"))
            .unwrap()
            .to_string();
        let fields: Vec<&str> = line.split(' ').collect();
        if fields[2].contains("slave") {
            let master = me.lines().find(|l| l.starts_with(fields[3])).unwrap();
            let master_host = master.split(' ').nth(1).unwrap().split(':').next().unwrap();
            assert_ne!(
                master_host,
                n.host,
                "replica {} shares a host with its master",
                n.addr()
            );
        }
    }
    assert_redis_cli_agrees_healthy(&nodes.seed());
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let nodes = Nodes::start(6);
    let out = plugin(&["init", "--nodes", &nodes.list(), "--dry-run", "-o", "json"]);
    assert_success(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"], "planned");
    assert_eq!(json["steps"].as_array().unwrap().len(), 14);
    for n in &nodes.nodes {
        assert_eq!(
            n.cli(&["cluster", "info"])
                .lines()
                .find(|l| l.starts_with("cluster_slots_assigned")),
            Some("cluster_slots_assigned:0")
        );
        assert_eq!(
            n.cli(&["cluster", "nodes"]).lines().count(),
            1,
            "{} met someone",
            n.addr()
        );
    }
}

#[test]
fn init_refuses_nodes_that_hold_keys_and_changes_nothing() {
    let mut nodes = Nodes::start(6);
    // A node that once ran without cluster mode and kept its data.
    nodes.nodes[4].restart_with(&["--cluster-enabled", "no"]);
    assert_eq!(nodes.nodes[4].cli(&["set", "precious", "1"]), "OK");
    assert_eq!(nodes.nodes[4].cli(&["save"]), "OK");
    nodes.nodes[4].restart_with(&[]);
    let out = plugin(&["init", "--nodes", &nodes.list(), "--yes"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&format!(
            "{} is not empty: it holds 1 key(s)",
            nodes.nodes[4].addr()
        )),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("nothing was changed"));
    for n in &nodes.nodes {
        assert_eq!(n.cli(&["cluster", "nodes"]).lines().count(), 1);
    }
    assert_eq!(nodes.nodes[4].cli(&["dbsize"]), "1");
}

#[test]
fn init_refuses_a_node_not_in_cluster_mode() {
    let nodes = Nodes::start(5);
    let host = &nodes.nodes[0].host;
    let plain = RedisNode::start(host, nodes.nodes[4].port + 1, &["--cluster-enabled", "no"]);
    let list = format!("{},{}", nodes.list(), plain.addr());
    let out = plugin(&["init", "--nodes", &list, "--yes"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&format!("{} is not in cluster mode", plain.addr())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn init_refuses_counts_that_cannot_make_a_cluster() {
    let nodes = Nodes::start(4);
    let out = plugin(&["init", "--nodes", &nodes.list(), "--yes"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("a cluster needs at least 3"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn init_names_every_unreachable_node() {
    let mut nodes = Nodes::start(6);
    nodes.nodes[2].kill();
    nodes.nodes[5].kill();
    let out = plugin(&["init", "--nodes", &nodes.list(), "--yes"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    for i in [2, 5] {
        assert!(
            err.contains(&format!("cannot connect to {}", nodes.nodes[i].addr())),
            "{err}"
        );
    }
}

#[test]
fn init_killed_at_any_moment_finishes_when_run_again() {
    // Kill the plugin at increasing delays, each time on fresh nodes, then re-run: the
    // second run must finish the job from whatever state the first one left.
    for delay_ms in [5, 40, 150, 400, 1200] {
        let nodes = Nodes::start(6);
        plugin_killed_after(
            &["init", "--nodes", &nodes.list(), "--yes"],
            Duration::from_millis(delay_ms),
        );
        let out = nodes.init(1);
        assert!(
            stderr(&out).contains("cluster created")
                || stderr(&out).contains("already initialized and healthy"),
            "after a kill at {delay_ms} ms: {}",
            stderr(&out)
        );
        assert_redis_cli_agrees_healthy(&nodes.seed());
    }
}

#[test]
fn init_heals_a_node_that_its_peers_list_but_that_lists_none_of_them() {
    // Node 0 met every node, then node 5 lost its table (CLUSTER RESET SOFT keeps its id):
    // the others still list it and it answers their pings, but it lists only itself and
    // ignores pings from nodes it does not know, so gossip never heals it. The plan MEETs
    // nobody (node 0 knows everyone); init's wait must introduce node 5 again.
    let nodes = Nodes::start(6);
    let first = &nodes.nodes[0];
    for n in &nodes.nodes[1..] {
        assert_eq!(
            first.cli(&["cluster", "meet", &n.host, &n.port.to_string()]),
            "OK"
        );
    }
    wait_for("every node to know all six", || {
        nodes
            .nodes
            .iter()
            .all(|n| n.cli(&["cluster", "nodes"]).lines().count() == 6)
    });
    let lone = &nodes.nodes[5];
    assert_eq!(lone.cli(&["cluster", "reset", "soft"]), "OK");
    assert_eq!(lone.cli(&["cluster", "nodes"]).lines().count(), 1);
    assert!(first.cli(&["cluster", "nodes"]).contains(&lone.id()));

    let out = plugin(&[
        "--timeout",
        "30",
        "init",
        "--nodes",
        &nodes.list(),
        "--replicas-per-master",
        "1",
        "--yes",
    ]);
    assert_success(&out);
    assert_eq!(lone.cli(&["cluster", "nodes"]).lines().count(), 6);
    assert_redis_cli_agrees_healthy(&nodes.seed());
}
