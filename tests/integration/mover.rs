//! The slot mover through `add-node`, `rebalance`, `reshard`, `del-node` and `failover`:
//! every key survives (read back by an independent client), `redis-cli --cluster check`
//! stays clean, and a run killed at any moment is finished by running it again.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::*;

/// Three masters without replicas holding `keys` keys, plus one empty node not yet added.
fn three_masters_with_keys(keys: usize) -> (Nodes, String) {
    let mut nodes = Nodes::start(3);
    nodes.init(0);
    write_keys(&nodes.seed(), "k", keys);
    let new = nodes.add(1).remove(0);
    (nodes, new)
}

/// The slot of `key`, its owner among `nodes`, and the new master `new`, which is set to
/// import that slot from the owner (as an interrupted move leaves it).
fn importing_on_new<'a>(
    nodes: &'a Nodes,
    new: &str,
    key: &str,
) -> (&'a RedisNode, &'a RedisNode, String) {
    let slot = nodes.nodes[0].cli(&["cluster", "keyslot", key]);
    let owner = nodes
        .nodes
        .iter()
        .find(|n| n.cli(&["exists", key]) == "1")
        .expect("the slot's owner");
    let target = nodes
        .nodes
        .iter()
        .find(|n| n.addr() == new)
        .expect("the new master");
    assert_eq!(
        target.cli(&["cluster", "setslot", &slot, "importing", &owner.id()]),
        "OK"
    );
    (owner, target, slot)
}

/// Copies `keys` from `owner` to `target` (MIGRATE ... COPY), as a MIGRATE whose reply was
/// lost leaves them: on both sides.
fn copy_keys(owner: &RedisNode, target: &RedisNode, keys: &[String]) {
    let port = target.port.to_string();
    let mut copy = vec![
        "migrate",
        &target.host,
        &port,
        "",
        "0",
        "5000",
        "COPY",
        "KEYS",
    ];
    copy.extend(keys.iter().map(String::as_str));
    assert_eq!(owner.cli(&copy), "OK");
}

/// Runs `command` on `node` right after ASKING (one connection), as a client redirected to
/// an importing node does; returns both replies, one per line.
fn asking(node: &RedisNode, command: &str) -> String {
    let out = Command::new(&engine().cli)
        .args(["-h", &node.host, "-p", &node.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(format!("ASKING\n{command}\n").as_bytes())?;
            c.wait_with_output()
        })
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn rebalance_gives_an_added_master_its_share_and_every_key_survives() {
    let (nodes, new) = three_masters_with_keys(20_000);
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
    let out = plugin(&[
        "--seed",
        &seed,
        "rebalance",
        "--use-empty-masters",
        "--yes",
        "-o",
        "json",
    ]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["result"], "moved");
    assert_eq!(report["stats"]["slots"], 4096);
    let moved = report["stats"]["keys"].as_u64().unwrap();
    assert!(
        (4000..6000).contains(&moved),
        "about a quarter of 20000 keys should move, moved {moved}"
    );
    assert_eq!(slot_counts(&nodes.nodes[0]), vec![4096; 4]);
    assert_keys_intact(&seed, "k", 20_000);
    assert_redis_cli_agrees_healthy(&seed);

    // Balanced now: a second run has nothing to do.
    let again = plugin(&[
        "--seed",
        &seed,
        "rebalance",
        "--use-empty-masters",
        "--yes",
        "-o",
        "json",
    ]);
    assert_success(&again);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&again.stdout).unwrap()["result"],
        "nothing_to_do"
    );
}

#[test]
fn dry_run_prints_the_moves_and_moves_nothing() {
    let (nodes, new) = three_masters_with_keys(2_000);
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
    let out = plugin(&[
        "--seed",
        &seed,
        "rebalance",
        "--use-empty-masters",
        "--dry-run",
    ]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("Plan: move 4096 slot(s)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(slot_counts(&nodes.nodes[0]), vec![0, 5461, 5461, 5462]);
}

#[test]
fn reshard_moves_exactly_n_slots_with_their_keys() {
    let mut nodes = Nodes::start(3);
    nodes.init(0);
    write_keys(&nodes.seed(), "r", 10_000);
    let seed = nodes.seed();
    let to = nodes.nodes[2].id();
    let out = plugin(&[
        "--seed",
        &seed,
        "reshard",
        "--from",
        &nodes.nodes[0].addr(),
        "--to",
        &to[..10],
        "--slots",
        "1000",
        "--yes",
    ]);
    assert_success(&out);
    assert_eq!(slot_counts(&nodes.nodes[1]), vec![4461, 5461, 6462]);
    assert_keys_intact(&seed, "r", 10_000);
    assert_redis_cli_agrees_healthy(&seed);
    nodes.nodes.truncate(3);
}

#[test]
fn del_node_refuses_a_master_with_slots_and_drains_it_when_asked() {
    let (nodes, new) = three_masters_with_keys(10_000);
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
    assert_success(&plugin(&[
        "--seed",
        &seed,
        "rebalance",
        "--use-empty-masters",
        "--yes",
    ]));

    let refused = plugin(&["--seed", &seed, "del-node", &new, "--yes"]);
    assert_exit(&refused, 2);
    assert!(
        stderr(&refused)
            .contains("is a master holding 4096 slot(s); nothing was changed\nhint: pass --drain"),
        "{}",
        stderr(&refused)
    );

    let out = plugin(&["--seed", &seed, "del-node", &new, "--drain", "--yes"]);
    assert_success(&out);
    assert_eq!(
        slot_counts(&nodes.nodes[0]).len(),
        3,
        "the removed master is still listed"
    );
    assert_keys_intact(&seed, "k", 10_000);
    assert_redis_cli_agrees_healthy(&seed);
    // It was reset: it knows nobody and holds nothing, so it cannot rejoin by accident.
    let removed = nodes.nodes.iter().find(|n| n.addr() == new).unwrap();
    assert_eq!(removed.cli(&["cluster", "nodes"]).lines().count(), 1);
    assert_eq!(removed.cli(&["dbsize"]), "0");
}

#[test]
fn a_replica_joins_the_master_with_fewest_replicas_and_can_be_removed_and_promoted() {
    let mut nodes = Nodes::start(3);
    nodes.init(0);
    let seed = nodes.seed();
    let replicas = nodes.add(2);
    for r in &replicas {
        assert_success(&plugin(&[
            "--seed",
            &seed,
            "add-node",
            r,
            "--replica",
            "--yes",
        ]));
    }
    let masters_of: Vec<String> = nodes.nodes[3..]
        .iter()
        .map(|n| {
            n.cli(&["cluster", "nodes"])
                .lines()
                .find(|l| l.contains("myself"))
                .unwrap()
                .split(' ')
                .nth(3)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_ne!(
        masters_of[0], masters_of[1],
        "both replicas went to the same master"
    );

    let promote = plugin(&["--seed", &seed, "failover", &replicas[0], "--yes"]);
    assert_success(&promote);
    assert!(nodes.nodes[3].cli(&["role"]).starts_with("master"));
    assert_redis_cli_agrees_healthy(&seed);

    assert_success(&plugin(&[
        "--seed",
        &seed,
        "del-node",
        &replicas[1],
        "--yes",
    ]));
    assert!(
        !nodes.nodes[0]
            .cli(&["cluster", "nodes"])
            .contains(&replicas[1])
    );
}

#[test]
fn a_del_node_stopped_between_forget_and_reset_is_finished_by_running_it_again() {
    let mut nodes = Nodes::start(3);
    nodes.init(0);
    let seed = nodes.seed();
    write_keys(&seed, "f", 2_000);
    let replica = nodes.add(1).remove(0);
    assert_success(&plugin(&[
        "--seed",
        &seed,
        "add-node",
        &replica,
        "--replica",
        "--yes",
    ]));
    // What a del-node killed after its FORGET step leaves: every other node forgot the
    // replica, which still lists them in its nodes.conf.
    let id = nodes.nodes[3].id();
    for node in &nodes.nodes[..3] {
        assert_eq!(node.cli(&["cluster", "forget", &id]), "OK");
    }
    let plan = plugin(&["--seed", &seed, "del-node", &replica, "--dry-run"]);
    assert_success(&plan);
    assert!(
        stderr(&plan).contains("every other node has already forgotten it"),
        "{}",
        stderr(&plan)
    );
    assert!(nodes.nodes[3].cli(&["cluster", "nodes"]).lines().count() > 1);

    let out = plugin(&["--seed", &seed, "del-node", &replica, "--yes"]);
    assert_success(&out);
    let after = nodes.nodes[3].cli(&["cluster", "nodes"]);
    assert_eq!(after.lines().count(), 1, "reset: it knows nobody\n{after}");
    assert!(!after.contains(&id), "reset gives it a new id");
    let again = plugin(&["--seed", &seed, "del-node", &replica, "--yes"]);
    assert_success(&again);
    assert!(
        stderr(&again).contains("nothing to do"),
        "{}",
        stderr(&again)
    );
    assert_keys_intact(&seed, "f", 2_000);
    assert_redis_cli_agrees_healthy(&seed);
}

#[test]
fn a_conflicting_key_on_the_target_stops_the_move_until_replace_is_given() {
    let (nodes, new) = three_masters_with_keys(2_000);
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
    // A stale, different copy of k:0 on the new master, as an interrupted migration or a
    // stray write could leave it: the new master imports the slot and takes one write.
    let (owner, target, _) = importing_on_new(&nodes, &new, "k:0");
    assert_eq!(asking(target, "SET k:0 stale"), "OK\nOK");

    // The open slot is resumed (owner -> new master) and its move hits the conflict.
    let stopped = plugin(&[
        "--seed",
        &seed,
        "reshard",
        "--from",
        &owner.addr(),
        "--to",
        &new,
        "--slots",
        "1",
        "--yes",
    ]);
    assert_exit(&stopped, 2);
    assert!(
        stderr(&stopped).contains("with different values (e.g. k:0)"),
        "{}",
        stderr(&stopped)
    );
    assert!(
        stderr(&stopped).contains("--replace"),
        "{}",
        stderr(&stopped)
    );
    assert_keys_intact(&seed, "k", 2_000);
    assert!(
        !target.cli(&["--raw", "dump", "k:0"]).is_empty(),
        "the stale copy must not be touched"
    );

    let forced = plugin(&[
        "--seed",
        &seed,
        "reshard",
        "--from",
        &owner.addr(),
        "--to",
        &new,
        "--slots",
        "1",
        "--replace",
        "--yes",
    ]);
    assert_success(&forced);
    assert_keys_intact(&seed, "k", 2_000);
    assert_redis_cli_agrees_healthy(&seed);
}

#[test]
fn identical_copies_do_not_license_overwriting_a_different_key_later_in_the_slot() {
    let (nodes, new) = three_masters_with_keys(1_000);
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
    // Thirty keys in one slot: twenty already copied to the target (identical), and one
    // more planted there with another value. Moved two at a time, the identical ones are
    // replaced as they come, but the different one must still stop the move.
    write_keys(&seed, "{sticky}", 30);
    let (owner, target, _) = importing_on_new(&nodes, &new, "{sticky}:0");
    // The source lists a slot's newest keys first: the identical copies (the last twenty
    // written) are met before the different one (written early).
    let identical: Vec<String> = (10..30).map(|i| format!("{{sticky}}:{i}")).collect();
    copy_keys(owner, target, &identical);
    assert_eq!(asking(target, "SET {sticky}:2 stale"), "OK\nOK");

    let stopped = plugin(&[
        "--seed",
        &seed,
        "reshard",
        "--from",
        &owner.addr(),
        "--to",
        &new,
        "--slots",
        "1",
        "--batch",
        "2",
        "--yes",
    ]);
    assert_exit(&stopped, 2);
    assert!(
        stderr(&stopped).contains("with different values (e.g. {sticky}:2)"),
        "{}",
        stderr(&stopped)
    );
    assert_eq!(
        asking(target, "GET {sticky}:2"),
        "OK\nstale",
        "the target's different copy was overwritten"
    );
}

#[test]
fn one_identical_key_already_on_the_target_among_others_of_its_slot_is_replaced_not_refused() {
    let (nodes, new) = three_masters_with_keys(1_000);
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
    // Five keys in one slot; only the third was copied to the target already. The MIGRATE
    // of the batch then moves four keys and answers BUSYKEY for the third: the source no
    // longer has the four (it redirects their DUMP with ASK), which is no reason to stop.
    write_keys(&seed, "{part}", 5);
    let (owner, target, slot) = importing_on_new(&nodes, &new, "{part}:0");
    let in_slot = owner.cli(&["cluster", "countkeysinslot", &slot]);
    copy_keys(owner, target, &["{part}:2".to_string()]);

    let out = plugin(&[
        "--seed",
        &seed,
        "reshard",
        "--from",
        &owner.addr(),
        "--to",
        &new,
        "--slots",
        "1",
        "--yes",
    ]);
    assert_success(&out);
    assert_eq!(target.cli(&["cluster", "countkeysinslot", &slot]), in_slot);
    assert_keys_intact(&seed, "{part}", 5);
    assert_keys_intact(&seed, "k", 1_000);
    assert_redis_cli_agrees_healthy(&seed);
}

/// Regression test (issue 8, found by the fault tests): a MIGRATE whose reply was lost
/// leaves identical copies on both sides; comparing them must send ASKING before every DUMP
/// on the importing target, or every DUMP after the first is redirected and the copies are
/// wrongly reported as different.
#[test]
fn identical_copies_of_several_keys_already_on_the_target_are_replaced_not_refused() {
    let (nodes, new) = three_masters_with_keys(1_000);
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
    // Five keys in one slot, then copied to the new master as an interrupted MIGRATE would
    // leave them: restored on the target, still on the source.
    write_keys(&seed, "{busy}", 5);
    let (owner, target, slot) = importing_on_new(&nodes, &new, "{busy}:0");
    let keys: Vec<String> = (0..5).map(|i| format!("{{busy}}:{i}")).collect();
    copy_keys(owner, target, &keys);

    let out = plugin(&[
        "--seed",
        &seed,
        "reshard",
        "--from",
        &owner.addr(),
        "--to",
        &new,
        "--slots",
        "1",
        "--yes",
    ]);
    assert_success(&out);
    assert_eq!(target.cli(&["cluster", "countkeysinslot", &slot]), "5");
    assert_keys_intact(&seed, "{busy}", 5);
    assert_keys_intact(&seed, "k", 1_000);
    assert_redis_cli_agrees_healthy(&seed);
}

/// The slots `node` serves, by its own `CLUSTER NODES` line.
fn own_slot_count(node: &RedisNode) -> usize {
    let nodes = node.cli(&["cluster", "nodes"]);
    slots_in_line(
        nodes
            .lines()
            .find(|l| l.contains("myself"))
            .expect("a myself line"),
    )
}

#[test]
fn a_rebalance_interrupted_just_short_of_balance_is_finished_exactly_not_within_the_threshold() {
    let (nodes, new) = three_masters_with_keys(5_000);
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
    // What a rebalance killed near its end leaves: the third master still owes the new one
    // 68 slots (1.7 %, under the default 2 % threshold), one of them open mid-move.
    for (i, short) in [(0, 0), (1, 0), (2, 68)] {
        let owe = (own_slot_count(&nodes.nodes[i]) - 4096 - short).to_string();
        let from = nodes.nodes[i].addr();
        assert_success(&plugin(&[
            "--seed", &seed, "reshard", "--from", &from, "--to", &new, "--slots", &owe, "--yes",
        ]));
    }
    assert_eq!(slot_counts(&nodes.nodes[0]), vec![4028, 4096, 4096, 4164]);
    let (owner, target) = (&nodes.nodes[2], &nodes.nodes[3]);
    let mine = owner.cli(&["cluster", "nodes"]);
    let slot = mine
        .lines()
        .find(|l| l.contains("myself"))
        .and_then(|l| l.split(' ').nth(8))
        .and_then(|range| range.split('-').next())
        .expect("the third master's first slot")
        .to_string();
    assert_eq!(
        target.cli(&["cluster", "setslot", &slot, "importing", &owner.id()]),
        "OK"
    );
    assert_eq!(
        owner.cli(&["cluster", "setslot", &slot, "migrating", &target.id()]),
        "OK"
    );

    let out = plugin(&["--seed", &seed, "rebalance", "--use-empty-masters", "--yes"]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("finishing an interrupted move: balancing exactly"),
        "{}",
        stderr(&out)
    );
    assert_eq!(slot_counts(&nodes.nodes[0]), vec![4096; 4]);
    assert_keys_intact(&seed, "k", 5_000);
    assert_redis_cli_agrees_healthy(&seed);

    // Without an interruption, the same imbalance is within the threshold and left alone.
    assert_success(&plugin(&[
        "--seed",
        &seed,
        "reshard",
        "--from",
        &nodes.nodes[0].addr(),
        "--to",
        &new,
        "--slots",
        "68",
        "--yes",
    ]));
    let out = plugin(&["--seed", &seed, "rebalance", "--use-empty-masters", "--yes"]);
    assert_success(&out);
    assert_eq!(slot_counts(&nodes.nodes[0]), vec![4028, 4096, 4096, 4164]);
}

#[test]
fn rebalance_killed_at_any_moment_finishes_when_run_again_without_losing_a_key() {
    for delay_ms in [30, 120, 300, 600, 900, 1500] {
        let (nodes, new) = three_masters_with_keys(30_000);
        let seed = nodes.seed();
        assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
        plugin_killed_after(
            &[
                "--seed",
                &seed,
                "rebalance",
                "--use-empty-masters",
                "--yes",
                "--batch",
                "50",
            ],
            Duration::from_millis(delay_ms),
        );
        let again = plugin(&["--seed", &seed, "rebalance", "--use-empty-masters", "--yes"]);
        assert_success(&again);
        assert_eq!(
            slot_counts(&nodes.nodes[0]),
            vec![4096; 4],
            "after a kill at {delay_ms} ms"
        );
        assert_keys_intact(&seed, "k", 30_000);
        assert_redis_cli_agrees_healthy(&seed);
    }
}

#[test]
fn clients_keep_reading_and_writing_during_a_rebalance_without_errors() {
    let (nodes, new) = three_masters_with_keys(20_000);
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
    // An independent cluster client writes fresh keys and reads old ones all along; it
    // follows MOVED/ASK itself, and any other error fails the test.
    let traffic = LiveTraffic::start(&seed, "k", 20_000);
    let out = plugin(&[
        "--seed",
        &seed,
        "rebalance",
        "--use-empty-masters",
        "--yes",
        "--batch",
        "100",
    ]);
    let (ops, written) = traffic.stop();
    assert_success(&out);
    assert!(ops > 100, "the client barely ran ({ops} operations)");
    assert_keys_intact(&seed, "k", 20_000);
    assert_keys_intact(&seed, "live", written);
    assert_redis_cli_agrees_healthy(&seed);
}
