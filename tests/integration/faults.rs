//! Faults in the middle of a rebalance, on real redis-server: a source or a target node
//! SIGKILLed while slots are open and restarted from its own dir, and the plugin itself
//! SIGKILLed at seeded moments. Each time one re-run (or `fix`) must converge, with every key
//! read back by an independent client and `redis-cli --cluster check` clean.
//!
//! These are faults of the key-by-key mover (its MIGRATING/IMPORTING states are what gets
//! killed), so every rebalance here says `--migration keys`: on Valkey 9 `auto` would pick
//! atomic slot migration, whose kills `atomic.rs` covers.
//!
//! The nodes killed here run with `appendfsync always`. MIGRATE deletes the source's copy as
//! soon as the target acknowledged its RESTORE, so a target that forgets acknowledged writes
//! loses keys whatever a client does. With `appendfsync everysec` (Redis' default, and the
//! shipped redis.conf) Redis postpones the AOF write for up to 2 s while a background fsync
//! is running and acknowledges anyway: with everysec the target tests below lost 42 of 20 000
//! keys in one of twenty runs. docs/safety.md states the guarantee and the settings it needs.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

/// Three masters holding `keys` keys plus an empty master already added, every node fsyncing
/// each write before acknowledging it, and (as in the shipped redis.conf) an emptied master
/// staying a master rather than turning into a replica.
fn durable_cluster_with_an_empty_master(keys: usize) -> Nodes {
    let mut nodes = Nodes::secured(
        Access::default(),
        Box::new(|_| {
            [
                "--appendfsync",
                "always",
                "--cluster-allow-replica-migration",
                "no",
            ]
            .map(String::from)
            .to_vec()
        }),
    );
    nodes.add(3);
    nodes.init(0);
    nodes.write_keys("f", keys);
    let new = nodes.add(1).remove(0);
    assert_success(&nodes.plugin(&["add-node", &new, "--yes"]));
    nodes
}

/// Starts the plugin with `--seed` at the first node, output discarded.
fn spawn_plugin(nodes: &Nodes, args: &[&str]) -> Child {
    Command::new(PLUGIN)
        .args(["--seed", &nodes.seed()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the plugin")
}

/// How many slots `node` serves, and whether it has a slot open in the direction given by
/// `mark` (`->-` migrating, `-<-` importing), from its own `CLUSTER NODES` line.
fn own_slots(node: &RedisNode, mark: &str) -> (usize, bool) {
    let nodes = node.cli(&["cluster", "nodes"]);
    let Some(me) = nodes.lines().find(|l| l.contains("myself")) else {
        return (0, false);
    };
    let ranges: Vec<&str> = me.split(' ').skip(8).collect();
    let served = ranges
        .iter()
        .filter(|r| !r.starts_with('['))
        .map(|r| {
            let slot = |s: &str| s.parse::<usize>().expect("a slot number");
            r.split_once('-').map_or(1, |(a, b)| slot(b) - slot(a) + 1)
        })
        .sum();
    (served, ranges.iter().any(|r| r.contains(mark)))
}

/// Waits for the plugin to exit and returns its exit code.
fn exit_code(mut child: Child) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for the plugin") {
            return status.code();
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the plugin did not stop within 60 s after a node died");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a rebalance onto the empty master; once the target serves at least `after` slots
/// and `victim` has a slot open (`mark`), SIGKILLs `victim`, restarts it from its dir, runs
/// the rebalance again and checks every slot, key and redis-cli.
fn kill_a_node_mid_rebalance(victim: usize, mark: &str, after: usize) {
    let mut nodes = durable_cluster_with_an_empty_master(20_000);
    let rebalance = [
        "rebalance",
        "--use-empty-masters",
        "--batch",
        "20",
        "--migration",
        "keys",
        "--yes",
    ];
    let child = spawn_plugin(&nodes, &rebalance);
    wait_for(
        &format!("node {victim} to have a slot open ({mark})"),
        || own_slots(&nodes.nodes[3], "-<-").0 >= after && own_slots(&nodes.nodes[victim], mark).1,
    );
    nodes.nodes[victim].kill();
    assert_eq!(
        exit_code(child),
        Some(2),
        "the interrupted run must stop with an error"
    );
    nodes.nodes[victim].spawn();

    let again = nodes.plugin(&rebalance);
    assert_success(&again);
    assert_eq!(
        slot_counts(&nodes.nodes[0]),
        vec![4096; 4],
        "{}",
        stderr(&again)
    );
    nodes.assert_keys_intact("f", 20_000);
    nodes.assert_redis_cli_agrees_healthy();
}

#[test]
fn a_source_killed_while_its_slots_are_open_and_restarted_loses_no_key_and_a_rerun_converges() {
    kill_a_node_mid_rebalance(1, "->-", 0);
}

#[test]
fn a_source_killed_half_way_through_a_rebalance_loses_no_key_and_a_rerun_converges() {
    kill_a_node_mid_rebalance(2, "->-", 2_000);
}

#[test]
fn a_target_killed_while_importing_and_restarted_loses_no_key_and_a_rerun_converges() {
    kill_a_node_mid_rebalance(3, "-<-", 0);
}

#[test]
fn a_target_killed_half_way_through_a_rebalance_loses_no_key_and_a_rerun_converges() {
    kill_a_node_mid_rebalance(3, "-<-", 2_000);
}

/// Runs the plugin with `args` to the end; returns when the first slot opened and when it
/// exited, both from its start.
fn moving_phase(nodes: &Nodes, args: &[&str]) -> (Duration, Duration) {
    let started = Instant::now();
    let mut child = spawn_plugin(nodes, args);
    let mut first_open = None;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the plugin") {
            assert!(status.success(), "the uninterrupted run {args:?} failed");
            let end = started.elapsed();
            return (first_open.unwrap_or(Duration::ZERO).min(end), end);
        }
        if first_open.is_none() && nodes.nodes.iter().any(|n| own_slots(n, "->-").1) {
            first_open = Some(started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run {args:?} hangs"
        );
    }
}

#[test]
fn rebalance_killed_at_twelve_seeded_moments_is_finished_by_one_rerun_or_fix_every_time() {
    let nodes = durable_cluster_with_an_empty_master(2_000);
    let weight = format!("{}=0", nodes.nodes[3].addr());
    let up = [
        "rebalance",
        "--use-empty-masters",
        "--batch",
        "10",
        "--migration",
        "keys",
        "--yes",
    ];
    let down = [
        "rebalance",
        "--weight",
        &weight,
        "--batch",
        "10",
        "--migration",
        "keys",
        "--yes",
    ];
    // Uninterrupted runs both ways give the layouts to reach and when slots start moving and
    // the run ends, so the kills spread over the moving (and converging) phase on any machine.
    let mut expected = Vec::new();
    let mut phases = Vec::new();
    for args in [&up[..], &down[..]] {
        phases.push(moving_phase(&nodes, args));
        expected.push(slot_counts(&nodes.nodes[0]));
    }
    assert_eq!(expected[0], vec![4096; 4]);

    for (i, fraction) in kill_fractions(KILL_SEED, 12).into_iter().enumerate() {
        let args = if i % 2 == 0 { &up[..] } else { &down[..] };
        let (first_open, end) = phases[i % 2];
        let delay = first_open + (end - first_open).mul_f64(fraction);
        let moment = format!(
            "run {i}, killed after {delay:?} (slots open from {first_open:?}, done at {end:?})"
        );
        let mut child = spawn_plugin(&nodes, args);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        if i % 3 == 2 {
            let fix = nodes.plugin(&["fix", "--yes"]);
            let finished = stderr(&fix)
                .lines()
                .find(|l| l.contains("interrupted move"))
                .map(str::to_string);
            eprintln!(
                "{moment}: fix {}",
                finished.unwrap_or_else(|| "finished no move".into())
            );
            assert!(
                fix.status.success(),
                "{moment}: fix failed:\n{}",
                stderr(&fix)
            );
            nodes.assert_keys_intact("f", 2_000);
            nodes.assert_redis_cli_agrees_healthy();
        }
        let again = nodes.plugin(args);
        let resumed = stderr(&again)
            .lines()
            .find(|l| l.contains("left open"))
            .map(str::to_string);
        eprintln!(
            "{moment}: re-run {}",
            resumed.unwrap_or_else(|| "found no open slot".into())
        );
        assert!(
            again.status.success(),
            "{moment}: the re-run failed:\n{}",
            stderr(&again)
        );
        assert_eq!(slot_counts(&nodes.nodes[0]), expected[i % 2], "{moment}");
        nodes.assert_keys_intact("f", 2_000);
        nodes.assert_redis_cli_agrees_healthy();
    }
}

#[test]
fn ctrl_c_stops_a_key_by_key_rebalance_once_the_slots_in_flight_are_moved_and_running_it_again_finishes_it()
 {
    let nodes = durable_cluster_with_an_empty_master(20_000);
    let rebalance = [
        "rebalance",
        "--use-empty-masters",
        "--batch",
        "20",
        "--migration",
        "keys",
        "--yes",
    ];
    // Ctrl-C as soon as a first window opens: each source then has at most its first window
    // of 1024 slots in flight, which take ~0.9 s here to drain (20 keys per MIGRATE, each
    // fsynced), against ~20 ms for this test to notice the window and signal.
    let target = &nodes.nodes[3];
    let child = Command::new(PLUGIN)
        .args(["--seed", &nodes.seed()])
        .args(rebalance)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the plugin");
    wait_for("the new master to import slots", || {
        own_slots(target, "-<-").1
    });
    // Stopped, the plugin cannot end a window between this look and the signal.
    signal(&child, "-STOP");
    assert_eq!(own_slots(target, "-<-").0, 0, "no window ended yet");
    send_ctrl_c(&child);
    signal(&child, "-CONT");
    let out = child.wait_with_output().expect("wait for the plugin");
    assert_exit(&out, 130);
    assert!(
        stderr(&out).contains("interrupted (Ctrl-C): the slots in flight were finished"),
        "{}",
        stderr(&out)
    );
    // Each source that had opened its first window (1024 slots) finished it; a source that
    // had not yet opened one (the three start together, not at once) opened none.
    let served = own_slots(target, "-<-").0;
    assert!(
        [1024, 2048, 3072].contains(&served),
        "the open first windows, and no more: {served}"
    );
    for node in &nodes.nodes {
        let line = node.cli(&["cluster", "nodes"]);
        let me = line.lines().find(|l| l.contains("myself")).unwrap_or("");
        assert!(!me.contains('['), "{} kept a slot open", node.addr());
    }
    nodes.assert_keys_intact("f", 20_000);

    assert_success(&nodes.plugin(&rebalance));
    assert_eq!(slot_counts(&nodes.nodes[0]), vec![4096; 4]);
    nodes.assert_keys_intact("f", 20_000);
    nodes.assert_redis_cli_agrees_healthy();
}

/// Sends `sig` (`-STOP`, `-CONT`) to a running plugin.
fn signal(child: &Child, sig: &str) {
    let sent = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill {sig} {}", child.id());
}

/// The server process id of `node` (to signal it while it cannot answer).
fn server_pid(node: &RedisNode) -> String {
    node.cli(&["info", "server"])
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .expect("INFO server has process_id")
        .trim()
        .to_string()
}

/// Sends `sig` (`-STOP`, `-CONT`, `-0`) to process `pid`; whether it was delivered.
fn signal_pid(pid: &str, sig: &str) -> bool {
    Command::new("kill")
        .args([sig, pid])
        .status()
        .expect("run kill")
        .success()
}

#[test]
fn a_target_killed_right_after_a_move_loses_no_key_because_its_replica_had_every_key_before_the_target_took_the_slots()
 {
    // Redis' default durability: AOF fsynced every second. MIGRATE deletes the source's copy
    // once the target has the key in memory, so until the target's replica has it too, the
    // target's memory is the only copy.
    let mut nodes = Nodes::secured(
        Access::default(),
        Box::new(|_| ["--appendfsync", "everysec"].map(String::from).to_vec()),
    );
    nodes.add(3);
    nodes.init(0);
    nodes.write_keys("d", 20_000);
    let added = nodes.add(2);
    assert_success(&nodes.plugin(&["add-node", &added[0], "--yes"]));
    let target_id = nodes.nodes[3].id();
    assert_success(&nodes.plugin(&["add-node", &added[1], "--replica-of", &target_id, "--yes"]));
    let (target, replica) = (&nodes.nodes[3], &nodes.nodes[4]);
    wait_for("the target's replica to be in sync", || {
        target
            .cli(&["info", "replication"])
            .contains("state=online")
    });

    let mut child = Command::new(PLUGIN)
        .args(["--seed", &nodes.seed()])
        .args([
            "rebalance",
            "--use-empty-masters",
            "--batch",
            "20",
            "--migration",
            "keys",
            "--yes",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the plugin");
    wait_for("the target to import slots", || own_slots(target, "-<-").1);
    // The replica stops reading its replication stream while every source has a window in
    // flight (each moves 1365 slots, two windows of at most 1024).
    signal(&child, "-STOP");
    let taken = own_slots(target, "-<-").0;
    let replica_pid = server_pid(replica);
    assert!(signal_pid(&replica_pid, "-STOP"));
    signal(&child, "-CONT");
    // Two seconds: less than the cluster's node timeout (3 s), so nobody flags the replica,
    // and Valkey's own 2 s wait of a replicated SETSLOT is not what holds the move.
    std::thread::sleep(Duration::from_secs(2));
    let running = child.try_wait().expect("look at the plugin").is_none();
    let taken_while_stopped = own_slots(target, "-<-").0;
    assert!(signal_pid(&replica_pid, "-CONT"));
    let out = child.wait_with_output().expect("wait for the plugin");
    assert!(
        running,
        "the rebalance ended while the target's replica was stopped:\n{}",
        stderr(&out)
    );
    assert_eq!(
        taken_while_stopped,
        taken,
        "the target took slots whose keys its stopped replica had not acknowledged:\n{}",
        stderr(&out)
    );
    assert_success(&out);
    assert_eq!(own_slots(target, "-<-").0, 4096);

    // The target dies right after the move; its replica takes over.
    let replica_id = replica.id();
    nodes.nodes[3].kill();
    let (seed_node, replica) = (&nodes.nodes[0], &nodes.nodes[4]);
    replica.cli(&["cluster", "failover", "takeover"]);
    wait_for("the replica to serve the target's slots", || {
        seed_node
            .cli(&["cluster", "nodes"])
            .lines()
            .any(|l| l.starts_with(&replica_id) && l.contains("master") && slots_in_line(l) == 4096)
    });
    nodes.assert_keys_intact("d", 20_000);
}

#[test]
fn a_change_made_while_a_node_stops_answering_exits_1_not_converged_and_the_cluster_heals_once_it_answers()
 {
    let mut nodes = durable_cluster_with_an_empty_master(2_000);
    let bystander = nodes.nodes[0].id();
    let replica = nodes.add(1).remove(0);
    assert_success(&nodes.plugin(&["add-node", &replica, "--replica-of", &bystander, "--yes"]));
    let (source, target, replica) = (&nodes.nodes[1], &nodes.nodes[3], &nodes.nodes[4]);
    let child = Command::new(PLUGIN)
        .args(["--seed", &nodes.seed(), "--timeout", "3"])
        .args([
            "reshard",
            "--from",
            &source.addr(),
            "--to",
            &target.addr(),
            "--slots",
            "2000",
            "--batch",
            "20",
            "--migration",
            "keys",
            "--yes",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the plugin");
    wait_for("the target to import slots", || own_slots(target, "-<-").1);
    // The replica of a master the move does not involve stops answering mid-move (a node
    // freezing): the move does not need it, the convergence check after it does.
    signal(&child, "-STOP");
    let replica_pid = server_pid(replica);
    assert!(signal_pid(&replica_pid, "-STOP"));
    signal(&child, "-CONT");
    let out = child.wait_with_output();
    assert!(signal_pid(&replica_pid, "-CONT"));
    let out = out.expect("wait for the plugin");
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("error: the change is done but the cluster has not converged")
            && err.contains("hint: `status` shows what is left"),
        "{err}"
    );
    assert_eq!(own_slots(target, "-<-").0, 2000, "the move itself finished");
    // (`status` would also count the one replica among four masters as too few.)
    wait_for("redis-cli --cluster check to be clean again", || {
        cli_check(&nodes.engine, &Access::default(), &nodes.seed()).0
    });
    nodes.assert_keys_intact("f", 2_000);
    nodes.assert_redis_cli_agrees_healthy();
}
