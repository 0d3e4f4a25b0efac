//! `apply -f PLAN`: a plan saved with `--dry-run -o json` runs exactly its moves, once, and
//! only on the cluster it was made for; a wrong file is refused before anything is read.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::harness::*;

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-redis_cluster");

/// The slots the node at `addr` serves.
fn own_slots(nodes: &Nodes, addr: &str) -> usize {
    own_slot_count(nodes.nodes.iter().find(|n| n.addr() == addr).expect("node"))
}

#[test]
fn a_saved_reshard_plan_runs_its_moves_once_and_only_on_the_cluster_it_was_made_for() {
    let nodes = Nodes::start(3);
    nodes.init(0);
    nodes.write_keys("apply", 2_000);
    let (a, b) = (nodes.nodes[0].addr(), nodes.nodes[1].addr());
    let plan = nodes.plugin(&[
        "reshard",
        "--from",
        &a,
        "--to",
        &b,
        "--slots",
        "500",
        "--dry-run",
        "-o",
        "json",
    ]);
    assert_success(&plan);
    let doc: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("JSON");
    assert_eq!(doc["fingerprint"].as_str().map(str::len), Some(16), "{doc}");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plan.json");
    std::fs::write(&file, &plan.stdout).expect("save");
    let file = file.to_str().unwrap();
    let before = own_slots(&nodes, &b);

    // No terminal and no --yes: nothing runs.
    assert_exit(&nodes.plugin(&["apply", "-f", file]), 2);
    assert_eq!(own_slots(&nodes, &b), before);

    // Killed once its journal is saved: the same command continues that journal.
    let killed = plugin_env(
        &["--seed", &nodes.seed(), "apply", "-f", file, "--yes"],
        &[("KUBECTL_REDIS_CLUSTER_FAILPOINT", "journal-saved")],
    );
    assert_exit(&killed, 137);
    let applied = nodes.plugin(&["apply", "-f", file, "--yes", "-o", "json"]);
    assert_success(&applied);
    assert!(
        stderr(&applied).contains("continuing the interrupted `--seed")
            && stderr(&applied).contains("500 of its 500 slot(s) still to move"),
        "{}",
        stderr(&applied)
    );
    let report: serde_json::Value = serde_json::from_slice(&applied.stdout).expect("JSON");
    assert_eq!(report["schema"], "kubectl-redis-cluster/reshard/v1");
    assert_eq!(report["result"], "moved");
    assert_eq!(report["moves"], doc["moves"], "exactly the saved moves");
    assert_eq!(own_slots(&nodes, &b), before + 500);

    // Once: the cluster it was made for is gone.
    let again = nodes.plugin(&["apply", "-f", file, "--yes"]);
    assert_exit(&again, 2);
    assert!(
        stderr(&again).contains("error: the cluster changed since the plan was made")
            && stderr(&again).contains("hint: make the plan again"),
        "{}",
        stderr(&again)
    );
    assert_eq!(own_slots(&nodes, &b), before + 500, "nothing moved");

    // A rebalance plan through standard input puts it back.
    let plan = nodes.plugin(&["rebalance", "--dry-run", "-o", "json"]);
    assert_success(&plan);
    let mut child = Command::new(PLUGIN)
        .args(["--seed", &nodes.seed(), "apply", "-f", "-", "--yes"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start apply");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&plan.stdout)
        .expect("write the plan");
    let out = child.wait_with_output().expect("apply ends");
    assert_success(&out);
    let mut counts = slot_counts(&nodes.nodes[0]);
    counts.dedup();
    assert!(
        counts.iter().all(|c| (5461..=5462).contains(c)),
        "{counts:?}"
    );
    nodes.assert_redis_cli_agrees_healthy();
    nodes.assert_keys_intact("apply", 2_000);
}

#[test]
fn a_file_that_is_not_a_plan_is_refused_when_the_command_line_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let status = dir.path().join("status.json");
    std::fs::write(
        &status,
        r#"{"schema": "kubectl-redis-cluster/status/v1", "healthy": true}"#,
    )
    .unwrap();
    let run = dir.path().join("run.json");
    std::fs::write(
        &run,
        r#"{"schema": "kubectl-redis-cluster/reshard/v1", "result": "moved", "moves": []}"#,
    )
    .unwrap();
    // A seed nobody listens on: a refusal that waited on it would say so.
    for (file, says) in [
        (
            "/nonexistent/plan.json",
            "cannot read /nonexistent/plan.json",
        ),
        (
            status.to_str().unwrap(),
            "is not a plan of reshard, rebalance or scale",
        ),
        (run.to_str().unwrap(), "is the report of a run"),
    ] {
        let out = plugin(&["--seed", "127.0.0.1:1", "apply", "-f", file, "--yes"]);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(says), "{file}: {}", stderr(&out));
    }
}
