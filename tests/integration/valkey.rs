//! What Valkey does differently from Redis 7, on Valkey 9.1 whatever `TEST_ENGINE` says.
//! Valkey ≥ 8.0 replicates `CLUSTER SETSLOT` to replicas and refuses it on them: a reshard
//! killed mid-way can leave a target's replica importing a slot after its master no longer
//! does (seen at these kill moments on this machine), which `fix` must clear through the
//! master, and `valkey-cli --cluster check` must then find nothing open on any node.

use std::time::Duration;

use crate::harness::*;

/// Nodes with migrating/importing marks (`[slot-<-id]`, `[slot->-id]`) on their own line:
/// address, role and how many.
fn marks(nodes: &Nodes) -> Vec<String> {
    nodes
        .nodes
        .iter()
        .filter_map(|n| {
            let me = n.cli(&["cluster", "nodes"]);
            let line = me.lines().find(|l| l.contains("myself"))?.to_string();
            let count = line.matches('[').count();
            let role = if line.contains("slave") {
                "replica"
            } else {
                "master"
            };
            (count > 0).then(|| format!("{} ({role}): {count} mark(s)", n.addr()))
        })
        .collect()
}

#[test]
fn fix_clears_the_marks_a_killed_reshard_left_on_replicas_through_their_masters() {
    for delay_ms in [500, 900, 1300, 2000] {
        let mut nodes = Nodes::running(
            Engine::named("valkey-9.1"),
            Access::default(),
            Box::new(|_| Vec::new()),
        );
        nodes.add(6);
        nodes.init(1);
        let seed = nodes.seed();
        nodes.write_keys("r", 3_000);
        let masters: Vec<String> = nodes
            .nodes
            .iter()
            .filter(|n| n.cli(&["role"]).starts_with("master"))
            .map(RedisNode::id)
            .collect();
        plugin_killed_after(
            &[
                "--seed",
                &seed,
                "reshard",
                "--from",
                &masters[0],
                "--to",
                &masters[1],
                "--slots",
                "3000",
                "--yes",
                "--batch",
                "5",
            ],
            Duration::from_millis(delay_ms),
        );
        eprintln!("after a kill at {delay_ms} ms: {:#?}", marks(&nodes));
        let fixed = plugin(&["--seed", &seed, "fix", "--yes", "--timeout", "30"]);
        assert_success(&fixed);
        assert!(
            marks(&nodes).is_empty(),
            "after a kill at {delay_ms} ms and fix, marks are left: {:#?}\n{}",
            marks(&nodes),
            stderr(&fixed)
        );
        nodes.assert_redis_cli_agrees_healthy();
        nodes.assert_keys_intact("r", 3_000);
    }
}
