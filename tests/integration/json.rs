//! `-o json` on every command that runs without Kubernetes (`deploy`, `scale` and `destroy`
//! are covered on the test ground): each prints one JSON document that `python3 -m
//! json.tool` accepts, with `schema` naming the command, and nothing else on stdout.

use std::process::{Command, Stdio};

use crate::harness::*;

/// Runs `args -o json` against `nodes`, asserts success, and returns the document after
/// checking it with `python3 -m json.tool` and its schema.
fn json(nodes: &Nodes, command: &str, args: &[&str]) -> serde_json::Value {
    let all: Vec<&str> = ["-o", "json", command]
        .iter()
        .chain(args)
        .copied()
        .collect();
    let out = nodes.plugin(&all);
    assert_success(&out);
    let text = stdout(&out);
    let mut tool = Command::new("python3")
        .args(["-m", "json.tool"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run python3 -m json.tool");
    use std::io::Write as _;
    tool.stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    assert!(
        tool.wait().expect("json.tool").success(),
        "{command}: not JSON:\n{text}"
    );
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let version = if ["init", "fix"].contains(&command) {
        2
    } else {
        1
    };
    assert_eq!(
        doc["schema"],
        format!("kubectl-redis-cluster/{command}/v{version}"),
        "{doc:#}"
    );
    doc
}

#[test]
fn every_command_prints_one_json_document_with_its_schema() {
    let mut nodes = Nodes::start(3);
    let list = nodes.list();
    let init = json(
        &nodes,
        "init",
        &["--nodes", &list, "--replicas-per-master", "0", "--yes"],
    );
    assert_eq!(init["result"], "created");
    write_keys(&nodes.seed(), "j", 1_000);
    let status = json(&nodes, "status", &[]);
    assert_eq!(status["healthy"], true);

    let extra = nodes.add(2);
    let added = json(&nodes, "add-node", &[&extra[0], "--yes"]);
    assert_eq!(
        (&added["result"], &added["role"], &added["node"]),
        (&"added".into(), &"master".into(), &extra[0].as_str().into())
    );
    let moved = json(&nodes, "rebalance", &["--use-empty-masters", "--yes"]);
    assert_eq!(moved["result"], "moved");
    assert_eq!(moved["stats"]["slots"], 4096);
    let (a, b) = (nodes.nodes[0].addr(), nodes.nodes[1].addr());
    let resharded = json(
        &nodes,
        "reshard",
        &["--from", &a, "--to", &b, "--slots", "10", "--yes"],
    );
    assert_eq!(resharded["stats"]["slots"], 10);
    let replica = json(
        &nodes,
        "add-node",
        &[&extra[1], "--replica-of", &a, "--yes"],
    );
    assert_eq!(replica["role"], "replica");
    let promoted = json(&nodes, "failover", &[&extra[1], "--yes"]);
    assert_eq!(promoted["result"], "promoted");
    let removed = json(&nodes, "del-node", &[&extra[0], "--drain", "--yes"]);
    assert_eq!(
        (&removed["result"], &removed["role"]),
        (&"removed".into(), &serde_json::Value::Null)
    );
    let fixed = json(&nodes, "fix", &["--yes"]);
    assert_eq!(fixed["refused"], 0, "{fixed:#}");
    let pong = json(&nodes, "cli", &[&b, "--", "ping"]);
    assert_eq!(
        (&pong["node"], &pong["reply"]),
        (&b.as_str().into(), &"PONG".into())
    );
    assert_keys_intact(&nodes.seed(), "j", 1_000);
}

#[test]
fn add_node_and_del_node_dry_runs_list_the_steps_the_real_runs_take() {
    // As the manifests run them: with replica migration allowed (Redis' default), the
    // servers move replicas of an emptied or orphaned master by themselves, after the plan.
    let mut nodes = Nodes::secured(
        Access::default(),
        Box::new(|_| vec!["--cluster-allow-replica-migration".into(), "no".into()]),
    );
    nodes.add(3);
    nodes.init(0);
    nodes.write_keys("steps", 1_000);
    let fresh = nodes.add(1).remove(0);

    let plan = json(&nodes, "add-node", &[&fresh, "--replica", "--dry-run"]);
    let steps = plan["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2, "{plan}");
    assert_eq!(
        (&steps[0]["step"], &steps[0]["node"]),
        (&"join".into(), &fresh.clone().into())
    );
    assert_eq!(steps[1]["step"], "replicate");
    let master = steps[1]["master"].as_str().expect("master").to_string();
    let added = json(&nodes, "add-node", &[&fresh, "--replica", "--yes"]);
    assert_eq!(
        added["steps"], plan["steps"],
        "the real run reports the plan it ran"
    );
    // As a node that stays sees it (the master removed below is reset).
    let master_line = |addr: &str| {
        nodes
            .nodes
            .iter()
            .find(|n| n.addr() == fresh)
            .expect("the new replica stays")
            .cli(&["cluster", "nodes"])
            .lines()
            .find(|l| {
                l.split(' ')
                    .nth(1)
                    .is_some_and(|a| a.starts_with(&format!("{addr}@")))
            })
            .map(str::to_string)
            .expect("listed")
    };
    let master_id = master_line(&master).split(' ').next().unwrap().to_string();
    assert_eq!(
        master_line(&fresh).split(' ').nth(3),
        Some(master_id.as_str()),
        "the replica follows the master the plan named"
    );

    // Removing that master: its slots drained to the two others, its replica re-pointed,
    // then forgotten everywhere and reset.
    let plan = json(&nodes, "del-node", &[&master, "--drain", "--dry-run"]);
    let kinds: Vec<&str> = plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["move_slots", "move_slots", "replicate", "forget", "reset"],
        "{plan}"
    );
    let repointed = plan["steps"][2]["master"].as_str().unwrap().to_string();
    assert_ne!(repointed, master);
    let removed = json(&nodes, "del-node", &[&master, "--drain", "--yes"]);
    assert_eq!(
        removed["steps"], plan["steps"],
        "the real run reports the plan it ran"
    );
    let new_master_id = master_line(&repointed)
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        master_line(&fresh).split(' ').nth(3),
        Some(new_master_id.as_str())
    );
    // Read through a node that stays: the seed node was the one removed (and reset).
    assert_keys_intact(&repointed, "steps", 1_000);
}
