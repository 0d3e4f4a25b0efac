//! Atomic slot migration (`--migration atomic|auto`, Valkey ≥ 9.0's `CLUSTER MIGRATESLOTS`),
//! on Valkey 9.1 whatever `TEST_ENGINE` says: the same promises as the key-by-key mover (every
//! key read back by an independent client, `valkey-cli --cluster check` clean, a killed run
//! finished by running it again), and a clear refusal where a node cannot do it.

use std::time::Duration;

use crate::harness::*;

/// Three Valkey 9.1 masters with `keys` keys, plus an empty fourth node; returns both.
fn valkey_masters_with_keys(keys: usize) -> (Nodes, String) {
    let mut nodes = Nodes::running(
        Engine::named("valkey-9.1"),
        Access::default(),
        Box::new(|_| Vec::new()),
    );
    let host = next_host();
    let addrs = nodes.add_on(&host, 4);
    assert_success(&plugin(&[
        "init",
        "--nodes",
        &addrs[..3].join(","),
        "--replicas-per-master",
        "0",
        "--yes",
    ]));
    nodes.write_keys("a", keys);
    (nodes, addrs[3].clone())
}

#[test]
fn an_atomic_rebalance_gives_the_new_master_its_share_and_every_key_survives() {
    let (nodes, new) = valkey_masters_with_keys(20_000);
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
    let dry = plugin(&[
        "--seed",
        &seed,
        "rebalance",
        "--use-empty-masters",
        "--dry-run",
    ]);
    assert_success(&dry);
    assert!(
        stderr(&dry)
            .contains("Plan: move 4096 slot(s), atomic slot migration (CLUSTER MIGRATESLOTS)"),
        "auto picks atomic on Valkey 9:\n{}",
        stderr(&dry)
    );
    let out = plugin(&[
        "--seed",
        &seed,
        "rebalance",
        "--use-empty-masters",
        "--migration",
        "atomic",
        "--yes",
        "-o",
        "json",
    ]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["method"], "atomic");
    assert_eq!(report["stats"]["slots"], 4096);
    let moved = report["stats"]["keys"].as_u64().unwrap();
    assert!((4000..6000).contains(&moved), "moved {moved} keys");
    assert_eq!(slot_counts(&nodes.nodes[0]), vec![4096; 4]);
    nodes.assert_keys_intact("a", 20_000);
    nodes.assert_redis_cli_agrees_healthy();
}

#[test]
fn an_atomic_rebalance_killed_mid_way_is_finished_by_running_it_again() {
    for delay_ms in [150, 400, 800] {
        let (nodes, new) = valkey_masters_with_keys(30_000);
        let seed = nodes.seed();
        assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
        plugin_killed_after(
            &[
                "--seed",
                &seed,
                "rebalance",
                "--use-empty-masters",
                "--migration",
                "atomic",
                "--yes",
            ],
            Duration::from_millis(delay_ms),
        );
        let again = plugin(&[
            "--seed",
            &seed,
            "rebalance",
            "--use-empty-masters",
            "--migration",
            "atomic",
            "--yes",
        ]);
        assert_success(&again);
        assert_eq!(
            slot_counts(&nodes.nodes[0]),
            vec![4096; 4],
            "after a kill at {delay_ms} ms"
        );
        nodes.assert_keys_intact("a", 30_000);
        nodes.assert_redis_cli_agrees_healthy();
    }
}

#[test]
fn atomic_migration_is_refused_by_name_where_a_node_lacks_it() {
    let nodes = Nodes::running(
        Engine::named("redis-7.0"),
        Access::default(),
        Box::new(|_| Vec::new()),
    );
    let mut nodes = nodes;
    nodes.add(4);
    let list: Vec<String> = nodes.nodes.iter().map(RedisNode::addr).collect();
    assert_success(&plugin(&[
        "init",
        "--nodes",
        &list[..3].join(","),
        "--replicas-per-master",
        "0",
        "--yes",
    ]));
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &list[3], "--yes"]));
    let layout = nodes.layout();
    let out = plugin(&[
        "--seed",
        &seed,
        "rebalance",
        "--use-empty-masters",
        "--migration",
        "atomic",
        "--yes",
    ]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("--migration atomic needs Valkey 9.0 or newer")
            && stderr(&out).contains("runs redis 7.0.15"),
        "{}",
        stderr(&out)
    );
    assert_eq!(nodes.layout(), layout, "nothing changed");
}

#[test]
fn ctrl_c_cancels_the_running_atomic_migration_and_running_it_again_finishes_the_move() {
    let (nodes, new) = valkey_masters_with_keys(30_000);
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
    // A background save on the first master keeps its export job waiting for the fork to
    // end (`waiting-to-snapshot`): ~10k keys at 600 µs each hold it for ~6 s.
    let stalled = &nodes.nodes[0];
    let served_before = own_slot_count(stalled);
    stalled.cli(&["config", "set", "rdb-key-save-delay", "600"]);
    stalled.cli(&["bgsave"]);
    let child = std::process::Command::new(PLUGIN)
        .args(["--seed", &seed, "rebalance", "--use-empty-masters"])
        .args(["--migration", "atomic", "--yes"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the plugin");
    wait_for("an export job waiting on the first master", || {
        stalled
            .cli(&["cluster", "getslotmigrations"])
            .contains("waiting-to-snapshot")
    });
    send_ctrl_c(&child);
    let out = child.wait_with_output().expect("wait for the plugin");
    assert_exit(&out, 130);
    assert!(
        stderr(&out).contains("cancelled (CLUSTER CANCELSLOTMIGRATIONS)"),
        "{}",
        stderr(&out)
    );
    let jobs = stalled.cli(&["cluster", "getslotmigrations"]);
    assert!(jobs.contains("cancelled"), "{jobs}");
    assert!(!jobs.contains("waiting-to-snapshot"), "{jobs}");
    assert_eq!(own_slot_count(stalled), served_before, "nothing left it");
    nodes.assert_keys_intact("a", 30_000);

    stalled.cli(&["config", "set", "rdb-key-save-delay", "0"]);
    wait_for("the background save to end", || {
        stalled
            .cli(&["info", "persistence"])
            .contains("rdb_bgsave_in_progress:0")
    });
    assert_success(&plugin(&[
        "--seed",
        &seed,
        "rebalance",
        "--use-empty-masters",
        "--migration",
        "atomic",
        "--yes",
    ]));
    assert_eq!(slot_counts(&nodes.nodes[0]), vec![4096; 4]);
    nodes.assert_keys_intact("a", 30_000);
    nodes.assert_redis_cli_agrees_healthy();
}

/// Slots `node` serves by its own `CLUSTER NODES` line.
fn own_slot_count(node: &RedisNode) -> usize {
    let nodes = node.cli(&["cluster", "nodes"]);
    nodes
        .lines()
        .find(|l| l.contains("myself"))
        .map_or(0, slots_in_line)
}

#[test]
fn a_slot_left_open_by_a_killed_key_by_key_move_is_finished_key_by_key_before_the_atomic_jobs() {
    let (nodes, new) = valkey_masters_with_keys(5_000);
    let seed = nodes.seed();
    assert_success(&plugin(&["--seed", &seed, "add-node", &new, "--yes"]));
    let target = nodes.nodes.iter().find(|n| n.addr() == new).expect("new");
    let source = &nodes.nodes[0];
    target.cli(&["cluster", "setslot", "0", "importing", &source.id()]);
    source.cli(&["cluster", "setslot", "0", "migrating", &target.id()]);
    let dry = plugin(&[
        "--seed",
        &seed,
        "rebalance",
        "--use-empty-masters",
        "--dry-run",
    ]);
    assert_success(&dry);
    assert!(
        stderr(&dry).contains("atomic slot migration (CLUSTER MIGRATESLOTS)")
            && stderr(&dry).contains(
                "first, 1 slot(s) an interrupted run left open (MIGRATING/IMPORTING, which atomic migration refuses) are finished key by key"
            ),
        "{}",
        stderr(&dry)
    );
    let out = plugin(&["--seed", &seed, "rebalance", "--use-empty-masters", "--yes"]);
    assert_success(&out);
    assert_eq!(slot_counts(&nodes.nodes[0]), vec![4096; 4]);
    nodes.assert_keys_intact("a", 5_000);
    nodes.assert_redis_cli_agrees_healthy();
}
