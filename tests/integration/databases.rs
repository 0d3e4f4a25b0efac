//! Valkey 9's `cluster-databases`: keys live in several databases, and GETKEYSINSLOT,
//! COUNTKEYSINSLOT and MIGRATE see only the selected one. Every command that moves slots
//! must carry the keys of every database, or drains and deletions strand them. Always run on
//! Valkey 9.1 (the feature under test), whatever `TEST_ENGINE` says; `valkey-cli -c -n DB`,
//! a cluster client we did not write, writes the keys and reads them back.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::*;

const DATABASES: u32 = 4;
const PER_DB: usize = 1_500;

/// Four Valkey 9.1 nodes with `cluster-databases 4`; the first three form the cluster (three
/// masters), with `PER_DB` keys in every database. Returns the nodes and the fourth's address.
fn cluster_with_keys_in_every_database() -> (Nodes, String) {
    let mut nodes = Nodes::running(
        Engine::named("valkey-9.1"),
        Access::default(),
        Box::new(|_| vec!["--cluster-databases".into(), DATABASES.to_string()]),
    );
    let host = next_host();
    let addrs = nodes.add_on(&host, 4);
    let out = plugin(&[
        "init",
        "--nodes",
        &addrs[..3].join(","),
        "--replicas-per-master",
        "0",
        "--yes",
    ]);
    assert_success(&out);
    for db in 0..DATABASES {
        cli_run(
            &nodes,
            db,
            &(0..PER_DB)
                .map(|i| format!("SET {} {}", key(db, i), value(db, i)))
                .collect::<Vec<_>>(),
        );
    }
    assert_every_key_in_every_database(&nodes);
    (nodes, addrs[3].clone())
}

fn key(db: u32, i: usize) -> String {
    format!("db{db}:{i}")
}

fn value(db: u32, i: usize) -> String {
    format!("v{db}-{i}")
}

/// Runs `commands` through `valkey-cli -c -n db` (one connection, redirects followed) at the
/// first node; returns its replies, one per line (the CLI's redirect notices left out).
fn cli_run(nodes: &Nodes, db: u32, commands: &[String]) -> Vec<String> {
    let mut child = Command::new(&nodes.engine.cli)
        .args([
            "-c",
            "-h",
            &nodes.nodes[0].host,
            "-p",
            &nodes.nodes[0].port.to_string(),
        ])
        .args(["-n", &db.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run valkey-cli");
    let mut stdin = child.stdin.take().expect("stdin");
    let script = commands.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    let out = child.wait_with_output().expect("valkey-cli finishes");
    writer.join().expect("writer").expect("write commands");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("-> Redirected to slot"))
        .map(str::to_string)
        .collect()
}

/// Every key of every database reads back its value, through the cluster client.
fn assert_every_key_in_every_database(nodes: &Nodes) {
    for db in 0..DATABASES {
        let gets: Vec<String> = (0..PER_DB).map(|i| format!("GET {}", key(db, i))).collect();
        let got = cli_run(nodes, db, &gets);
        let bad: Vec<usize> = (0..PER_DB)
            .filter(|i| got.get(*i).map(String::as_str) != Some(value(db, *i).as_str()))
            .collect();
        assert!(
            bad.is_empty(),
            "database {db}: {} of {PER_DB} keys lost or changed, e.g. {} -> {:?}",
            bad.len(),
            key(db, bad[0]),
            got.get(bad[0])
        );
    }
}

/// The keys a node holds, per database (`INFO keyspace`).
fn keys_per_database(node: &RedisNode) -> Vec<u64> {
    let info = node.cli(&["info", "keyspace"]);
    (0..DATABASES)
        .map(|db| {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("db{db}:keys=")))
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

#[test]
fn every_database_moves_with_its_slots_key_by_key_through_rebalance_reshard_and_drain() {
    every_database_moves_with_its_slots("keys");
}

#[test]
fn every_database_moves_with_its_slots_atomically_through_rebalance_reshard_and_drain() {
    every_database_moves_with_its_slots("atomic");
}

/// Rebalance onto a new master, reshard, then drain and delete it, with `--migration how`.
fn every_database_moves_with_its_slots(how: &str) {
    let (nodes, new) = cluster_with_keys_in_every_database();
    let seed = nodes.seed();
    let valkey = |args: &[&str]| {
        let moves = ["rebalance", "reshard", "del-node"].contains(&args[0]);
        let all: Vec<&str> = ["--seed", seed.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .chain(if moves {
                vec!["--migration", how]
            } else {
                vec![]
            })
            .collect();
        plugin(&all)
    };
    let total = u64::from(DATABASES) * PER_DB as u64;

    assert_success(&valkey(&["add-node", &new, "--yes"]));
    let out = valkey(&["rebalance", "--use-empty-masters", "--yes", "-o", "json"]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the JSON report");
    let moved = report["stats"]["keys"].as_u64().expect("stats.keys");
    assert!(
        (total / 6..total / 3).contains(&moved),
        "about a quarter of the {total} keys, in every database, should move: moved {moved}"
    );
    let new_node = nodes
        .nodes
        .iter()
        .find(|n| n.addr() == new)
        .expect("the new node");
    assert!(
        keys_per_database(new_node).iter().all(|n| *n > 0),
        "the new master holds keys of every database: {:?}",
        keys_per_database(new_node)
    );
    assert_every_key_in_every_database(&nodes);
    nodes.assert_redis_cli_agrees_healthy();

    let status = valkey(&["status", "-o", "json"]);
    assert_success(&status);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    let counted: u64 = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["keys"].as_u64().expect("keys"))
        .sum();
    assert_eq!(counted, total, "status counts the keys of every database");
    assert_eq!(status["engines"][0]["kind"], "valkey");
    assert_eq!(status["engines"][0]["version"], "9.1.2");

    let first = nodes.nodes[0].id();
    let second = nodes.nodes[1].id();
    assert_success(&valkey(&[
        "reshard", "--from", &first, "--to", &second, "--slots", "1000", "--yes",
    ]));
    assert_every_key_in_every_database(&nodes);
    nodes.assert_redis_cli_agrees_healthy();

    // Drained and deleted: the node held keys in every database, and none is left behind.
    assert_success(&valkey(&["del-node", &new, "--drain", "--yes"]));
    assert_eq!(keys_per_database(new_node), vec![0; DATABASES as usize]);
    assert_every_key_in_every_database(&nodes);
    let (clean, text) = cli_check(&nodes.engine, &nodes.access, &seed);
    assert!(clean, "valkey-cli --cluster check:\n{text}");
}

#[test]
fn a_key_by_key_rebalance_killed_mid_way_over_several_databases_is_finished_by_running_it_again() {
    for delay_ms in [150, 400] {
        let (nodes, new) = cluster_with_keys_in_every_database();
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
                "20",
                "--migration",
                "keys",
            ],
            Duration::from_millis(delay_ms),
        );
        let again = plugin(&[
            "--seed",
            &seed,
            "rebalance",
            "--use-empty-masters",
            "--yes",
            "--migration",
            "keys",
        ]);
        assert_success(&again);
        assert_eq!(
            slot_counts(&nodes.nodes[0]),
            vec![4096; 4],
            "after a kill at {delay_ms} ms"
        );
        assert_every_key_in_every_database(&nodes);
        nodes.assert_redis_cli_agrees_healthy();
    }
}
