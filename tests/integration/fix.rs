//! `fix`: finishes a move killed half-way, covers an unassigned slot, merges a slot whose
//! keys sit on several masters, and heals a cluster whose nodes all came back at new
//! addresses — keeping node ids and every key.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::Stdio;
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

#[test]
fn fix_merges_an_uncovered_slot_whose_keys_are_on_two_masters() {
    let nodes = Nodes::start(3);
    nodes.init(0);
    let seed = nodes.seed();
    write_keys(&seed, "other", 1_000);
    // 3 keys on the slot's owner, then 5 more written on a second master.
    let (slot, owner) = slot_with_keys(&nodes, "{u}", 3);
    let second = (owner + 1) % 3;
    plant_keys(&nodes, second, owner, slot, &keys("{u}", 3..8));
    uncover_everywhere(&nodes, slot, owner);
    let spread = BTreeMap::from([(owner, 3), (second, 5)]);
    assert_eq!(keys_in_slot(&nodes, slot), spread);

    let before = nodes.layout();
    let dry = plugin(&["--seed", &seed, "fix", "--dry-run"]);
    assert_success(&dry);
    assert!(
        stderr(&dry).contains("merge the keys of"),
        "{}",
        stderr(&dry)
    );
    assert_eq!(nodes.layout(), before, "a dry run changes nothing");
    assert_eq!(keys_in_slot(&nodes, slot), spread);

    let out = plugin(&["--seed", &seed, "fix", "--yes"]);
    assert_success(&out);
    let plan = stderr(&out);
    assert!(plan.contains(&format!("slot {slot}: give it to")), "{plan}");
    assert!(plan.contains("holds the most keys in it (5)"), "{plan}");
    assert_eq!(keys_in_slot(&nodes, slot), BTreeMap::from([(second, 8)]));
    assert_keys_intact(&seed, "{u}", 8);
    assert_keys_intact(&seed, "other", 1_000);
    assert_redis_cli_agrees_healthy(&seed);
}

#[test]
fn fix_merges_an_open_slot_whose_keys_are_on_three_masters_on_its_owner() {
    let nodes = Nodes::start(3);
    nodes.init(0);
    let seed = nodes.seed();
    let (slot, a) = slot_with_keys(&nodes, "{o}", 4);
    let (b, c) = ((a + 1) % 3, (a + 2) % 3);
    // b holds keys without any mark; c holds keys and imports the slot from a, while a
    // migrates it to b: crossed marks, keys on the migrating, the importing and a third master.
    plant_keys(&nodes, b, a, slot, &keys("{o}", 4..7));
    plant_keys(&nodes, c, a, slot, &keys("{o}", 7..12));
    setslot(&nodes, c, slot, "importing", a);
    setslot(&nodes, a, slot, "migrating", b);
    assert!(!redis_cli_check(&seed).0);

    let out = plugin(&["--seed", &seed, "fix", "--yes"]);
    assert_success(&out);
    let plan = stderr(&out);
    assert!(plan.contains("the cluster says"), "{plan}");
    assert!(plan.contains("merge the keys of"), "{plan}");
    assert_eq!(keys_in_slot(&nodes, slot), BTreeMap::from([(a, 12)]));
    assert_keys_intact(&seed, "{o}", 12);
    assert_redis_cli_agrees_healthy(&seed);
}

#[test]
fn fix_stops_on_a_key_with_two_different_values_and_finishes_with_replace() {
    let nodes = Nodes::start(3);
    nodes.init(0);
    let seed = nodes.seed();
    let (slot, owner) = slot_with_keys(&nodes, "{c}", 6);
    let other = (owner + 1) % 3;
    // The other master holds two more keys and a different value for `{c}:0`.
    let mut planted = keys("{c}", 6..8);
    planted.push(("{c}:0".to_string(), "other-value".to_string()));
    plant_keys(&nodes, other, owner, slot, &planted);
    uncover_everywhere(&nodes, slot, owner);

    let out = plugin(&["--seed", &seed, "fix", "--yes"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    for needed in [
        "{c}:0",
        "--replace",
        &nodes.nodes[owner].addr(),
        &nodes.nodes[other].addr(),
    ] {
        assert!(err.contains(needed), "`{needed}` missing from:\n{err}");
    }
    // Nothing was deleted: the owner kept its value, the other master its own.
    assert_keys_intact(&seed, "{c}", 8);
    assert_eq!(asking_get(&nodes, other, "{c}:0"), "other-value");

    let out = plugin(&["--seed", &seed, "fix", "--replace", "--yes"]);
    assert_success(&out);
    assert_eq!(bad_keys(&Access::default(), &seed, "{c}", 8), ["{c}:0"]);
    assert_eq!(
        nodes.nodes[owner].cli(&["-c", "get", "{c}:0"]),
        "other-value",
        "with --replace the merged master's copy wins"
    );
    assert_eq!(keys_in_slot(&nodes, slot), BTreeMap::from([(owner, 8)]));
    assert_redis_cli_agrees_healthy(&seed);
}

#[test]
fn fix_killed_while_merging_is_finished_by_a_rerun() {
    let nodes = Nodes::start(3);
    nodes.init(0);
    let seed = nodes.seed();
    let (slot, owner) = slot_with_keys(&nodes, "{k}", 1_500);
    let second = (owner + 1) % 3;
    plant_keys(&nodes, second, owner, slot, &keys("{k}", 1_500..4_000));
    uncover_everywhere(&nodes, slot, owner);
    // One key per MIGRATE keeps the merge busy long enough for the kills (each run resumes
    // what the previous one left) to land before, during and after moving the keys.
    let args = ["--seed", &seed, "fix", "--batch", "1", "--yes"];
    for delay in [150, 200, 250, 300, 350, 450] {
        plugin_killed_after(&args, Duration::from_millis(delay));
        eprintln!(
            "killed after {delay} ms: keys per node {:?}",
            keys_in_slot(&nodes, slot)
        );
    }
    let out = plugin(&args);
    assert_success(&out);
    assert_eq!(
        keys_in_slot(&nodes, slot),
        BTreeMap::from([(second, 4_000)])
    );
    assert_keys_intact(&seed, "{k}", 4_000);
    assert_redis_cli_agrees_healthy(&seed);
}

/// `prefix:{i}` for `range`, each with the value the harness checks.
fn keys(prefix: &str, range: std::ops::Range<usize>) -> Vec<(String, String)> {
    range
        .map(|i| {
            let key = format!("{prefix}:{i}");
            let value = value_for(&key);
            (key, value)
        })
        .collect()
}

/// Writes `count` keys `prefix:{i}` (a hash-tagged prefix: one slot) through the cluster and
/// returns their slot and the index of the node that owns it.
fn slot_with_keys(nodes: &Nodes, prefix: &str, count: usize) -> (u16, usize) {
    write_keys(&nodes.seed(), prefix, count);
    let slot: u16 = nodes.nodes[0]
        .cli(&["cluster", "keyslot", prefix])
        .parse()
        .expect("CLUSTER KEYSLOT answers a number");
    let owner = keys_in_slot(nodes, slot)
        .into_keys()
        .next()
        .expect("the keys landed on some node");
    (slot, owner)
}

/// Writes `pairs` on node `on`, which does not own `slot`: opens the slot there as importing
/// from node `from`, writes with ASKING, and closes it again — keys stranded on a master that
/// does not serve their slot.
fn plant_keys(nodes: &Nodes, on: usize, from: usize, slot: u16, pairs: &[(String, String)]) {
    setslot(nodes, on, slot, "importing", from);
    let script: String = pairs
        .iter()
        .map(|(k, v)| format!("ASKING\nSET {k} {v}\n"))
        .collect();
    let replies = session(&nodes.nodes[on], &script);
    assert_eq!(replies.matches("OK").count(), 2 * pairs.len(), "{replies}");
    assert_eq!(
        nodes.nodes[on].cli(&["cluster", "setslot", &slot.to_string(), "stable"]),
        "OK"
    );
}

/// `CLUSTER SETSLOT slot <action> <id of node peer>` on node `on`.
fn setslot(nodes: &Nodes, on: usize, slot: u16, action: &str, peer: usize) {
    let id = nodes.nodes[peer].id();
    let reply = nodes.nodes[on].cli(&["cluster", "setslot", &slot.to_string(), action, &id]);
    assert_eq!(reply, "OK", "SETSLOT {slot} {action} on node {on}");
}

/// Makes `slot` unassigned on every node: the owner first, so no node learns it again.
fn uncover_everywhere(nodes: &Nodes, slot: u16, owner: usize) {
    let order = std::iter::once(owner).chain((0..nodes.nodes.len()).filter(|i| *i != owner));
    for i in order {
        let reply = nodes.nodes[i].cli(&["cluster", "delslots", &slot.to_string()]);
        assert_eq!(reply, "OK", "DELSLOTS {slot} on node {i}");
    }
}

/// `(node index, COUNTKEYSINSLOT)` for every node holding keys in `slot`.
fn keys_in_slot(nodes: &Nodes, slot: u16) -> BTreeMap<usize, u64> {
    nodes
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let count = n.cli(&["cluster", "countkeysinslot", &slot.to_string()]);
            (i, count.parse().expect("COUNTKEYSINSLOT answers a number"))
        })
        .filter(|(_, count)| *count > 0)
        .collect()
}

/// `GET key` on node `on` after ASKING: reads a key in a slot the node only imports.
fn asking_get(nodes: &Nodes, on: usize, key: &str) -> String {
    let replies = session(&nodes.nodes[on], &format!("ASKING\nGET {key}\n"));
    replies.lines().nth(1).unwrap_or_default().to_string()
}

/// Runs `script` (one command per line) on one redis-cli connection, so ASKING applies to
/// the next line; returns the replies.
fn session(node: &RedisNode, script: &str) -> String {
    let mut child = node
        .access
        .redis_cli()
        .args(["-h", &node.host, "-p", &node.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run redis-cli");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(script.as_bytes())
        .expect("write the script to redis-cli");
    let out = child.wait_with_output().expect("redis-cli finishes");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
