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
    assert_eq!(
        doc["schema"],
        format!("kubectl-redis-cluster/{command}/v1"),
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
