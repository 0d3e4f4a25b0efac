//! Mistaken invocations and cluster states, as a table: each row is one command line, the
//! exit code and message the user gets, and every row leaves the cluster exactly as it was
//! (the same nodes, roles and slots on every node). Kubernetes-only rows (unknown namespace,
//! context or StatefulSet, RBAC, API server unreachable) are in tests/e2e/errors.rs.

use crate::harness::*;

/// Every node's view: id, flags, master and slots of each line, sorted.
fn snapshot(nodes: &[RedisNode]) -> Vec<Vec<String>> {
    nodes
        .iter()
        .map(|n| {
            let mut lines: Vec<String> = n
                .cli(&["cluster", "nodes"])
                .lines()
                .map(|l| {
                    let f: Vec<&str> = l.split(' ').collect();
                    format!("{} {} {} {}", f[0], f[2], f[3], f[8..].join(" "))
                })
                .collect();
            lines.sort();
            lines
        })
        .collect()
}

#[test]
fn mistakes_get_a_clear_message_and_exit_code_and_change_nothing() {
    // A formed 3-master cluster, three fresh nodes, a node without cluster mode, a dead address.
    let mut nodes = Nodes::start(3);
    nodes.init(0);
    write_keys(&nodes.seed(), "b", 500);
    let fresh = nodes.add(3);
    let plain = {
        let host = nodes.nodes[3].host.clone();
        let port = nodes.nodes[5].port + 1;
        RedisNode::start(&host, port, &["--cluster-enabled", "no"])
    };
    let dead = format!("{}:{}", nodes.nodes[3].host, nodes.nodes[5].port + 2);
    // Another formed cluster, whose member is offered to add-node.
    let other = Nodes::start(3);
    other.init(0);
    let stranger = other.nodes[0].addr();
    let other_before = snapshot(&other.nodes);
    let seed = nodes.seed();
    let (a, b) = (nodes.nodes[0].addr(), nodes.nodes[1].addr());
    let fresh_list = fresh.join(",");
    let plain_addr = plain.addr();
    let with_plain = format!("{},{}", fresh[..2].join(","), plain_addr);
    let with_dead = format!("{},{}", fresh[..2].join(","), dead);
    let with_member = format!("{},{}", a, fresh[..2].join(","));
    let members = nodes
        .nodes
        .iter()
        .take(3)
        .map(RedisNode::addr)
        .collect::<Vec<_>>()
        .join(",");
    let two_fresh = fresh[..2].join(",");
    let before = snapshot(&nodes.nodes);

    #[rustfmt::skip]
    let rows: Vec<(&str, Vec<&str>, i32, &str, &str)> = vec![
        ("init on a formed cluster is a no-op", vec!["init", "--nodes", &members, "--replicas-per-master", "0", "--yes"], 0, "already initialized and healthy", ""),
        ("init with too few nodes", vec!["init", "--nodes", &two_fresh, "--replicas-per-master", "0", "--yes"], 2, "a cluster needs at least 3", ""),
        ("init with a count not divisible by 1+R", vec!["init", "--nodes", &fresh_list, "--replicas-per-master", "1", "--yes"], 2, "cannot be split into groups of 1 master + 1 replica(s)", ""),
        ("init with a node not in cluster mode", vec!["init", "--nodes", &with_plain, "--replicas-per-master", "0", "--yes"], 2, "is not in cluster mode", ""),
        ("init with an unreachable node", vec!["init", "--nodes", &with_dead, "--replicas-per-master", "0", "--yes"], 2, "cannot connect to", ""),
        ("init with a member of another cluster, holding its keys", vec!["init", "--nodes", &with_member, "--replicas-per-master", "0", "--yes"], 2, "is not empty: it holds", ""),
        ("a seed that is not HOST:PORT", vec!["--seed", "127.0.0.1", "status"], 2, "is not HOST:PORT", ""),
        ("a seed nobody answers at", vec!["--seed", &dead, "status"], 2, "cannot connect to", ""),
        ("add-node of a member of another cluster", vec!["--seed", &seed, "add-node", &stranger, "--yes"], 2, "already knows 2 other node(s): it belongs to another cluster", "reset it with `CLUSTER RESET HARD` if it should leave that cluster"),
        ("add-node of a node not in cluster mode", vec!["--seed", &seed, "add-node", &plain_addr, "--yes"], 2, "is not in cluster mode: start the server with `cluster-enabled yes`", ""),
        ("del-node of a master holding slots", vec!["--seed", &seed, "del-node", &a, "--yes"], 2, "is a master holding 5461 slot(s); nothing was changed", "pass --drain to move them to the other masters first"),
        ("del-node of an unknown node", vec!["--seed", &seed, "del-node", "ffffffffffff", "--yes"], 2, "cannot find node `ffffffffffff`", ""),
        ("reshard of more slots than the sources hold", vec!["--seed", &seed, "reshard", "--from", &a, "--to", &b, "--slots", "9000", "--yes"], 2, "the source masters hold 5461 slot(s); cannot move 9000", "if an interrupted reshard already moved part of them, `status` shows where the slots are, and `reshard --from"),
        ("the command that moves what the sources still hold", vec!["--seed", &seed, "reshard", "--from", &a, "--to", &b, "--slots", "9000", "--yes"], 2, "cannot move 9000", "--slots 5461` (with the same other flags) moves every slot the sources still hold"),
        ("reshard to an unknown node", vec!["--seed", &seed, "reshard", "--from", "all", "--to", "10.9.9.9:1", "--slots", "1", "--yes"], 2, "cannot find node `10.9.9.9:1`", ""),
        ("a weight that is not NODE=W", vec!["--seed", &seed, "rebalance", "--weight", &a, "--yes"], 2, "is not NODE=WEIGHT", ""),
        ("a weight that is no number, refused before any node is dialled", vec!["--seed", &dead, "rebalance", "--weight", "a=x", "--yes"], 2, "invalid value 'a=x' for '--weight <NODE=W>': `x` is not a number (NODE=WEIGHT)", ""),
        ("an init node that is not HOST:PORT, refused before any node is dialled", vec!["init", "--nodes", "127.0.0.1,127.0.0.2:7000", "--yes"], 2, "invalid value '127.0.0.1' for '--nodes <HOST:PORT,...>'", ""),
        ("a slot count out of range, refused before any node is dialled", vec!["--seed", &dead, "reshard", "--from", "all", "--to", &b, "--slots", "0", "--yes"], 2, "invalid value '0' for '--slots <N>': N must be a whole number from 1 to 16384", ""),
        ("a threshold that is no percentage, refused before any node is dialled", vec!["--seed", &dead, "rebalance", "--threshold", "150", "--yes"], 2, "invalid value '150' for '--threshold <PCT>': PCT must be a number from 0 to 100", ""),
        ("a zero timeout, refused before any node is dialled", vec!["--seed", &dead, "status", "--timeout", "0"], 2, "invalid value '0' for '--timeout <SECONDS>'", ""),
        ("a slot move without --yes and no terminal", vec!["--seed", &seed, "reshard", "--from", &a, "--to", &b, "--slots", "10"], 2, "refusing to move slots without confirmation: no terminal to ask on", "pass --yes to proceed (or --dry-run to see the plan)"),
        ("scale to a negative master count", vec!["--seed", &seed, "scale", "--masters", "-1", "--yes"], 2, "invalid value '-1' for '--masters <N>': N must be a whole number of at least 3", ""),
        ("scale to too few masters", vec!["--seed", &seed, "scale", "--masters", "2", "--yes"], 2, "invalid value '2' for '--masters <N>': N must be a whole number of at least 3: a cluster needs at least 3 masters", ""),
        ("scale without Kubernetes", vec!["--seed", &seed, "scale", "--masters", "4", "--yes"], 2, "scale works on a StatefulSet, not with --seed", "without Kubernetes use add-node, rebalance and del-node"),
        ("failover of a master", vec!["--seed", &seed, "failover", &a, "--yes"], 0, "already a master; nothing to do", ""),
        ("an unknown subcommand", vec!["frobnicate"], 2, "unrecognized subcommand", ""),
    ];
    let mut failures = Vec::new();
    for (what, args, code, message, hint) in &rows {
        let out = plugin(args);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        // A refusal the user acts on ends with one `hint:` line saying what to do next.
        let err = stderr(&out);
        let hints: Vec<&str> = err
            .lines()
            .filter_map(|l| l.strip_prefix("hint: "))
            .collect();
        let hint_ok = if hint.is_empty() {
            hints.is_empty()
        } else {
            hints.len() == 1 && hints[0].contains(hint)
        };
        if out.status.code() != Some(*code) || !text.contains(message) || !hint_ok {
            failures.push(format!(
                "{what}: exit {:?}, expected {code} with `{message}` and hint `{hint}`:\n{text}",
                out.status.code()
            ));
        }
        assert_eq!(snapshot(&nodes.nodes), before, "{what} changed the cluster");
        assert_eq!(
            snapshot(&other.nodes),
            other_before,
            "{what} changed the other cluster"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_keys_intact(&seed, "b", 500);
    for f in &fresh {
        let node = nodes.nodes.iter().find(|n| &n.addr() == f).unwrap();
        assert_eq!(
            node.cli(&["cluster", "nodes"]).lines().count(),
            1,
            "{f} was touched"
        );
    }
}
