//! The plan of a slot move says what it carries before anything moves: keys counted on the
//! sources, bytes from sampled key sizes, the large keys seen, and whether each target's
//! maxmemory has room; a target without room refuses the move and changes nothing.

use crate::harness::*;

#[test]
fn a_move_is_estimated_before_it_runs_and_refused_when_a_target_has_no_room() {
    let nodes = Nodes::start(3);
    nodes.init(0);
    nodes.write_keys("e", 300);
    // A 64 MiB value (SETRANGE writes zeros up to the offset) and three small keys in its
    // slot: that slot is its owner's fullest, so its keys are among those sampled.
    let owner = {
        let seed = &nodes.nodes[0];
        let reply = seed.cli(&["-c", "setrange", "{e-big}:huge", "67108863", "x"]);
        assert_eq!(reply, "67108864");
        for i in 1..=3 {
            seed.cli(&["-c", "set", &format!("{{e-big}}:{i}"), "small"]);
        }
        let slot = seed.cli(&["cluster", "keyslot", "{e-big}:huge"]);
        let slot: u16 = slot.parse().expect("a slot");
        nodes
            .nodes
            .iter()
            .find(|n| n.cli(&["cluster", "countkeysinslot", &slot.to_string()]) == "4")
            .expect("the owner of the big key's slot")
    };
    let keys_on_owner: u64 = owner.cli(&["dbsize"]).parse().expect("DBSIZE");
    let drain = format!("{}=0", owner.addr());

    let planned = nodes.plugin(&["rebalance", "--weight", &drain, "--dry-run", "-o", "json"]);
    assert_success(&planned);
    let report: serde_json::Value = serde_json::from_str(&stdout(&planned)).expect("JSON");
    let estimate = &report["estimate"];
    assert_eq!(estimate["keys"], keys_on_owner, "{estimate:#}");
    assert!(
        estimate["bytes"].as_u64().expect("bytes") >= 64 << 20,
        "{estimate:#}"
    );
    assert_eq!(
        estimate["big_keys"][0]["key"], "{e-big}:huge",
        "{estimate:#}"
    );
    assert_eq!(estimate["targets"].as_array().expect("targets").len(), 2);
    assert!(
        stderr(&planned).contains(&format!("carries {keys_on_owner} key(s), about"))
            && stderr(&planned).contains("key `{e-big}:huge` takes "),
        "{}",
        stderr(&planned)
    );

    // Targets whose maxmemory leaves 1 MiB: refused before any change.
    let targets: Vec<&RedisNode> = nodes
        .nodes
        .iter()
        .filter(|n| n.addr() != owner.addr())
        .collect();
    for t in &targets {
        let used: u64 = t
            .cli(&["info", "memory"])
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory");
        t.cli(&[
            "config",
            "set",
            "maxmemory",
            &(used + (1 << 20)).to_string(),
        ]);
    }
    let before = nodes.layout();
    let refused = nodes.plugin(&["rebalance", "--weight", &drain, "--yes"]);
    assert_exit(&refused, 2);
    assert!(
        stderr(&refused).contains("error: not enough memory on the targets; nothing was changed")
            && stderr(&refused).contains("over its maxmemory")
            && stderr(&refused).contains("hint: raise their maxmemory"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        nodes.layout(),
        before,
        "the refused move changed the cluster"
    );
    for t in &targets {
        t.cli(&["config", "set", "maxmemory", "0"]);
    }
    nodes.assert_keys_intact("e", 300);
}
