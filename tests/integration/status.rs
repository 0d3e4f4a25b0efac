//! `status`: agrees with `redis-cli --cluster check`, and names the exact problem when a slot
//! is unassigned or a node is down.

use crate::harness::*;

#[test]
fn status_of_a_healthy_cluster_exits_zero_and_agrees_with_redis_cli() {
    let nodes = Nodes::start(6);
    nodes.init(1);
    for n in &nodes.nodes {
        let out = plugin(&["status", "--seed", &n.addr()]);
        assert_success(&out);
        assert!(stdout(&out).contains("cluster is healthy"));
        assert_eq!(
            stdout(&out)
                .lines()
                .filter(|l| l.contains(" master "))
                .count(),
            3
        );
    }
    assert_redis_cli_agrees_healthy(&nodes.seed());
}

#[test]
fn an_unassigned_slot_is_reported_exactly_and_redis_cli_agrees() {
    let nodes = Nodes::start(6);
    nodes.init(1);
    // Every node forgets slot 777 (Redis 7.0 keeps a stale owner on nodes not told).
    for n in &nodes.nodes {
        assert_eq!(n.cli(&["cluster", "delslots", "777"]), "OK");
    }
    let out = plugin(&["--seed", &nodes.seed(), "status"]);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("1 slot(s) served by no master: 777"),
        "{}",
        stdout(&out)
    );
    let (clean, text) = redis_cli_check(&nodes.seed());
    assert!(
        !clean && text.contains("Not all 16384 slots are covered"),
        "{text}"
    );
}

#[test]
fn a_killed_node_is_reported_unreachable_and_flagged() {
    let mut nodes = Nodes::start(6);
    nodes.init(1);
    let victim = nodes.nodes[5].addr();
    nodes.nodes[5].kill();
    let out = plugin(&["--seed", &nodes.seed(), "status", "-o", "json"]);
    assert_exit(&out, 1);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problem = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "unreachable")
        .expect("an unreachable problem");
    assert_eq!(problem["node"]["endpoint"], victim);
    // Stricter than redis-cli: right after the kill `redis-cli --cluster check` still reports
    // all slots covered (it skips nodes it cannot reach), while we already name the node.
}

#[test]
fn a_seed_that_does_not_answer_is_a_clear_error() {
    let mut nodes = Nodes::start(1);
    let addr = nodes.seed();
    nodes.nodes[0].kill();
    let out = plugin(&["--seed", &addr, "status"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&format!("cannot connect to {addr}")),
        "{}",
        stderr(&out)
    );
}
