//! `fix`: finishes a move killed half-way, covers an unassigned slot, and heals a cluster
//! whose nodes all came back at new addresses — keeping node ids and every key.

use std::time::Duration;

use crate::harness::*;

#[test]
fn fix_finishes_a_reshard_that_was_killed_half_way() {
    let mut nodes = Nodes::start(3);
    nodes.init(0);
    let seed = nodes.seed();
    write_keys(&seed, "f", 30_000);
    let (from, to) = (nodes.nodes[0].addr(), nodes.nodes[1].addr());
    plugin_killed_after(
        &[
            "--seed", &seed, "reshard", "--from", &from, "--to", &to, "--slots", "3000", "--batch",
            "20", "--yes",
        ],
        Duration::from_millis(400),
    );
    let out = plugin(&["--seed", &seed, "fix", "--yes"]);
    assert_success(&out);
    assert_keys_intact(&seed, "f", 30_000);
    assert_redis_cli_agrees_healthy(&seed);
    nodes.nodes.truncate(3);
}

#[test]
fn fix_gives_an_unassigned_slot_to_a_master_and_explains_why() {
    let nodes = Nodes::start(3);
    nodes.init(0);
    for n in &nodes.nodes {
        assert_eq!(n.cli(&["cluster", "delslots", "100"]), "OK");
    }
    let out = plugin(&["--seed", &nodes.seed(), "fix", "--yes"]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("slot 100: assign it to"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("no master holds keys in it"),
        "{}",
        stderr(&out)
    );
    assert_redis_cli_agrees_healthy(&nodes.seed());
}

#[test]
fn fix_heals_a_cluster_whose_nodes_all_came_back_at_new_addresses() {
    let mut nodes = Nodes::start(6);
    nodes.init(1);
    let seed = nodes.seed();
    write_keys(&seed, "ip", 5_000);
    let ids: Vec<String> = nodes.nodes.iter().map(RedisNode::id).collect();
    // Every node restarts on another loopback address with its old nodes.conf and data.
    let new_host = {
        let parts: Vec<&str> = nodes.nodes[0].host.split('.').collect();
        format!("{}.{}.{}.2", parts[0], parts[1], parts[2])
    };
    for n in &mut nodes.nodes {
        n.kill();
    }
    for n in &mut nodes.nodes {
        n.host = new_host.clone();
        n.spawn();
    }
    let list: Vec<String> = nodes.nodes.iter().map(RedisNode::addr).collect();
    let out = plugin(&[
        "--seed",
        &list[0],
        "fix",
        "--nodes",
        &list[1..].join(","),
        "--yes",
    ]);
    assert_success(&out);
    let new_ids: Vec<String> = nodes.nodes.iter().map(RedisNode::id).collect();
    assert_eq!(ids, new_ids, "node ids must survive the move");
    assert_redis_cli_agrees_healthy(&list[0]);
    assert_keys_intact(&list[0], "ip", 5_000);
}
