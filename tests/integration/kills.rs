//! Every mutating command SIGKILLed at seeded moments, on every engine (`make test` runs this
//! module on Redis 7.0, Valkey 8.1 and 9.1): after each kill, running the same command again
//! must finish the job, `redis-cli --cluster check` must be clean, every node must report the
//! same slot map, and every key must read back.
//!
//! Each command first runs uninterrupted on a cluster of its own, to measure how long it
//! takes here; then it runs on fresh clusters and is killed at moments drawn from
//! [`KILL_SEED`] across that length (one in each half), so the kills land in the command's
//! own phases on any machine. `rebalance` has its own twelve-moment test in `faults.rs` and
//! `init` its own in `init.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::harness::*;

const KEYS: usize = 3_000;

/// A cluster for one run of a command: the nodes, and the command's arguments (without
/// `--seed`).
struct Setup {
    nodes: Nodes,
    args: Vec<String>,
}

/// Three masters with a replica each, `KEYS` keys, and `extra` fresh nodes not yet added.
fn cluster(extra: usize) -> (Nodes, Vec<String>) {
    let mut nodes = Nodes::start(6);
    nodes.init(1);
    nodes.write_keys("kill", KEYS);
    let fresh = if extra > 0 { nodes.add(extra) } else { vec![] };
    (nodes, fresh)
}

/// The master with the most slots other than the seed node (which every run is pointed at),
/// as the seed node sees it: (address, id).
fn a_master(nodes: &Nodes) -> (String, String) {
    let lines = nodes.nodes[0].cli(&["cluster", "nodes"]);
    let line = lines
        .lines()
        .filter(|l| l.contains("master") && !l.contains("myself"))
        .max_by_key(|l| slots_in_line(l))
        .expect("a master");
    address_and_id(line)
}

/// A replica, as the seed node sees it: (address, id).
fn a_replica(nodes: &Nodes) -> (String, String) {
    let lines = nodes.nodes[0].cli(&["cluster", "nodes"]);
    let line = lines
        .lines()
        .find(|l| l.contains("slave"))
        .expect("a replica");
    address_and_id(line)
}

fn address_and_id(line: &str) -> (String, String) {
    let fields: Vec<&str> = line.split(' ').collect();
    let address = fields[1].split('@').next().unwrap_or_default().to_string();
    (address, fields[0].to_string())
}

/// The slot map a node reports: each range it lists for a master, with the master's id.
fn slot_map(node: &RedisNode) -> BTreeMap<String, String> {
    node.cli(&["cluster", "nodes"])
        .lines()
        .filter(|l| l.contains("master") && !l.contains("fail"))
        .flat_map(|l| {
            let id = l.split(' ').next().unwrap_or_default().to_string();
            l.split(' ')
                .skip(8)
                .filter(|f| !f.starts_with('['))
                .map(move |range| (range.to_string(), id.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every node still in the cluster (it knows a peer) reports the same slot map, with no
/// slot open.
fn assert_one_slot_map(nodes: &Nodes, moment: &str) {
    let members: Vec<&RedisNode> = nodes
        .nodes
        .iter()
        .filter(|n| n.cli(&["cluster", "nodes"]).lines().count() > 1)
        .collect();
    let first = slot_map(members[0]);
    for node in &members {
        let own = node.cli(&["cluster", "nodes"]);
        assert!(
            !own.lines().any(|l| l.contains("myself") && l.contains('[')),
            "{moment}: {} kept a slot open",
            node.addr()
        );
        assert_eq!(
            slot_map(node),
            first,
            "{moment}: {} and {} report different slot maps",
            node.addr(),
            members[0].addr()
        );
    }
}

/// Runs `setup`'s command to the end; how long it took.
fn uninterrupted(setup: &Setup) -> Duration {
    let args: Vec<&str> = setup.args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let out = setup.nodes.plugin(&args);
    let took = started.elapsed();
    assert_success(&out);
    took
}

/// The command built by `make`, killed at two seeded moments (each on a fresh cluster), then
/// run again; `done` says whether the job is finished, given the cluster after the re-run.
fn killed_and_run_again(name: &str, make: impl Fn() -> Setup, done: impl Fn(&Setup) -> bool) {
    let length = uninterrupted(&make());
    let seed = KILL_SEED
        ^ name
            .bytes()
            .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
    for fraction in kill_fractions(seed, 2) {
        let setup = make();
        let delay = length.mul_f64(fraction);
        let moment = format!("{name} killed after {delay:?} of {length:?}");
        let args: Vec<&str> = setup.args.iter().map(String::as_str).collect();
        let seed_node = setup.nodes.seed();
        let killed: Vec<&str> = ["--seed", seed_node.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        plugin_killed_after(&killed, delay);
        let again = setup.nodes.plugin(&args);
        eprintln!(
            "{moment}: re-run said {:?}",
            stderr(&again).lines().last().unwrap_or_default()
        );
        assert!(
            again.status.success(),
            "{moment}: the re-run failed:\n{}",
            stderr(&again)
        );
        assert!(
            done(&setup),
            "{moment}: the re-run did not finish the job; the seed node sees:\n{}",
            setup.nodes.nodes[0].cli(&["cluster", "nodes"])
        );
        setup.nodes.assert_redis_cli_agrees_healthy();
        assert_one_slot_map(&setup.nodes, &moment);
        setup.nodes.assert_keys_intact("kill", KEYS);
    }
}

/// Whether the node at `address` is a member with `role` (`master` or `slave`), as the seed
/// node sees it, and how many slots it serves.
fn role_of(nodes: &Nodes, address: &str) -> Option<(String, usize)> {
    let lines = nodes.nodes[0].cli(&["cluster", "nodes"]);
    let line = lines.lines().find(|l| {
        l.split(' ')
            .nth(1)
            .is_some_and(|a| a.starts_with(&format!("{address}@")))
    })?;
    let role = if line.contains("master") {
        "master"
    } else {
        "slave"
    };
    Some((role.to_string(), slots_in_line(line)))
}

#[test]
fn del_node_drain_killed_at_seeded_moments_is_finished_by_running_it_again() {
    killed_and_run_again(
        "del-node --drain",
        || {
            let (nodes, _) = cluster(0);
            let (address, _) = a_master(&nodes);
            let args = ["del-node", &address, "--drain", "--yes"].map(String::from);
            Setup {
                nodes,
                args: args.to_vec(),
            }
        },
        |setup| role_of(&setup.nodes, &setup.args[1]).is_none(),
    );
}

#[test]
fn add_node_killed_at_seeded_moments_is_finished_by_running_it_again() {
    killed_and_run_again(
        "add-node --replica-of",
        || {
            let (nodes, fresh) = cluster(1);
            let (_, master) = a_master(&nodes);
            let args = ["add-node", &fresh[0], "--replica-of", &master, "--yes"].map(String::from);
            Setup {
                nodes,
                args: args.to_vec(),
            }
        },
        |setup| role_of(&setup.nodes, &setup.args[1]).is_some_and(|(role, _)| role == "slave"),
    );
}

#[test]
fn failover_killed_at_seeded_moments_is_finished_by_running_it_again() {
    killed_and_run_again(
        "failover",
        || {
            let (nodes, _) = cluster(0);
            let (address, _) = a_replica(&nodes);
            let args = ["failover", &address, "--yes"].map(String::from);
            Setup {
                nodes,
                args: args.to_vec(),
            }
        },
        |setup| {
            role_of(&setup.nodes, &setup.args[1])
                .is_some_and(|(role, slots)| role == "master" && slots > 0)
        },
    );
}

#[test]
fn reshard_killed_at_seeded_moments_moves_exactly_what_was_asked_when_run_again() {
    // The killed run left the journal of its plan (a local state file with --seed): the
    // same command run again moves what that plan still lacks, not N more.
    const SLOTS: usize = 2_000;
    killed_and_run_again(
        "reshard --slots",
        || {
            let (nodes, _) = cluster(0);
            let (from, _) = a_master(&nodes);
            let lines = nodes.nodes[0].cli(&["cluster", "nodes"]);
            let to = lines
                .lines()
                .filter(|l| l.contains("master"))
                .map(address_and_id)
                .find(|(a, _)| *a != from)
                .expect("a second master")
                .0;
            let args = [
                "reshard",
                "--from",
                &from,
                "--to",
                &to,
                "--slots",
                &SLOTS.to_string(),
                "--migration",
                "keys",
                "--yes",
            ]
            .map(String::from);
            Setup {
                nodes,
                args: args.to_vec(),
            }
        },
        |setup| {
            let gained = role_of(&setup.nodes, &setup.args[4]).map_or(0, |(_, s)| s) - 5461;
            gained == SLOTS
        },
    );
}
