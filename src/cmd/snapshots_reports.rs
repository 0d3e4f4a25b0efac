//! Snapshot tests (insta) of the `-o json` reports `super::snapshots` does not cover:
//! `init`, `fix`, `reshard` (and `rebalance`, the same report), `add-node`, `del-node`,
//! `failover` and `proxy` built from fixture clusters with the planners the commands use;
//! `deploy` (and `destroy`), `unlock`, `rebalance-replicas`, `rebalance-primaries`,
//! `drain-prep` and `announce-hostnames` (and `rolling-restart`, `upgrade`) from fixed
//! values. A renamed or retyped field shows as a diff in `src/cmd/snapshots/`.

use crate::output::json::write_report;
use crate::plan::durability::durability;
use crate::plan::heal::{KeyCounts, plan_slot_fixes};
use crate::plan::init::{InitPlan, plan_init};
use crate::plan::layout::Candidate;
use crate::plan::moves::{open_slots, projected_slots, replica_marks};
use crate::plan::rebalance::plan_reshard;
use crate::plan::steps::{Step, move_steps, removal};
use crate::redis::mover::MoveStats;
use crate::redis::proxy::NodeListener;
use crate::topology::fixtures::{Fixture, fixture_id};
use crate::topology::{Endpoint, NodeReport, SlotSet};

use super::fix::FixReport;
use super::init::InitReport;
use super::moving::MoveReport;
use super::proxy::ProxyReport;
use super::report::NodeChange;

/// A report as `-o json` prints it (with its schema).
fn json(command: &str, report: &impl serde::Serialize) -> String {
    let mut out = Vec::new();
    write_report(&mut out, command, report).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn init_dry_run_of_six_fresh_nodes() {
    let view = Fixture::fresh(6).view();
    let candidates: Vec<Candidate> = view
        .reports
        .iter()
        .map(|r| Candidate {
            name: r.endpoint.to_string(),
            domain: r.endpoint.host.clone(),
        })
        .collect();
    let reports: Vec<&NodeReport> = view.reports.iter().collect();
    let InitPlan::Build { steps, .. } = plan_init(&candidates, &reports, 1).unwrap() else {
        panic!("fresh nodes are built");
    };
    let report = InitReport {
        result: "planned",
        steps: steps.iter().map(|s| s.named(&candidates)).collect(),
        seconds: 0.0,
    };
    insta::assert_snapshot!("init_planned_json", json("init", &report));
}

#[test]
fn fix_of_an_interrupted_move_and_an_uncovered_slot() {
    let view = Fixture::healthy(3, 0)
        .with(0, |n| n.migrating = vec![(10, 1)])
        .with(1, |n| n.importing = vec![(10, 0)])
        .uncover(6000)
        .view();
    let open = open_slots(&view);
    // Slot 6000's keys sit on node 2 only.
    let mut keys = KeyCounts::new();
    keys.entry(6000).or_default().insert(fixture_id(2), 4);
    let fixes = plan_slot_fixes(&view, &open, &SlotSet::from_iter([6000]), &keys);
    let report = FixReport {
        readdressed: Vec::new(),
        fixes,
        replica_marks: replica_marks(&view),
        refused: 0,
    };
    insta::assert_snapshot!("fix_json", json("fix", &report));
}

#[test]
fn reshard_dry_run_of_ten_slots() {
    let view = Fixture::healthy(3, 1).view();
    let slots = projected_slots(&view, &[]);
    let moves = plan_reshard(&slots, &[fixture_id(0)], &fixture_id(1), 10).unwrap();
    let report = MoveReport {
        result: "planned",
        method: crate::plan::method::Method::Keys,
        durability: durability(&view, &moves),
        moves,
        estimate: None,
        stats: MoveStats::default(),
        seconds: 0.0,
        fingerprint: Some(view.fingerprint()),
    };
    insta::assert_snapshot!("reshard_planned_json", json("reshard", &report));
}

#[test]
fn add_node_del_node_and_failover_reports() {
    let view = Fixture::healthy(3, 0).view();
    let name = |id: &crate::topology::NodeId| {
        crate::topology::lookup::endpoint_of(&view, id).map_or_else(String::new, |e| e.to_string())
    };
    let added = NodeChange {
        result: "added",
        node: "127.0.0.1:7006".into(),
        id: fixture_id(6).to_string(),
        role: Some("replica"),
        steps: vec![
            Step::Join {
                node: "127.0.0.1:7006".into(),
            },
            Step::Replicate {
                node: "127.0.0.1:7006".into(),
                master: name(&fixture_id(0)),
            },
        ],
    };
    insta::assert_snapshot!("add_node_json", json("add-node", &added));
    let slots = projected_slots(&view, &[]);
    let drained = crate::plan::rebalance::plan_drain(&slots, &[fixture_id(2)]).unwrap();
    let mut steps = move_steps(&drained, &name);
    steps.extend(removal(&[name(&fixture_id(2))], &[name(&fixture_id(2))]));
    let removed = NodeChange {
        result: "planned",
        node: name(&fixture_id(2)),
        id: fixture_id(2).to_string(),
        role: None,
        steps,
    };
    insta::assert_snapshot!("del_node_planned_json", json("del-node", &removed));
    let promoted = NodeChange {
        result: "promoted",
        node: "127.0.0.1:7003".into(),
        id: fixture_id(3).to_string(),
        role: Some("master"),
        steps: Vec::new(),
    };
    insta::assert_snapshot!("failover_json", json("failover", &promoted));
}

#[test]
fn proxy_report() {
    let listeners: Vec<NodeListener> = (0..2)
        .map(|i| NodeListener {
            id: fixture_id(i),
            local: format!("127.0.0.1:{}", 17000 + i).parse().unwrap(),
            endpoint: Endpoint::new(format!("10.244.0.{}", 7 + i), 6379),
            pod: Some(format!("redis-cluster-{i}")),
            role: if i == 0 { "master" } else { "replica" },
        })
        .collect();
    let report = ProxyReport {
        seed: "127.0.0.1:17000".into(),
        redis_cli: "redis-cli -c -p 17000".into(),
        listeners,
    };
    insta::assert_snapshot!("proxy_json", json("proxy", &report));
}

#[test]
fn deploy_and_unlock_reports() {
    let deployed = super::report::ObjectsChange {
        result: "planned",
        objects: vec![
            "Service/redis-cluster-headless".into(),
            "StatefulSet/redis-cluster".into(),
        ],
    };
    insta::assert_snapshot!("deploy_planned_json", json("deploy", &deployed));
    let holder = crate::k8s::lease::Holder {
        identity: "ann@laptop".into(),
        host: "laptop".into(),
        pid: 4242,
        operation: "scale --masters 4".into(),
        since: Some("2026-12-07T10:02:11Z".parse().unwrap()),
        renewed: Some("2026-12-07T10:02:41Z".parse().unwrap()),
        seconds: 60,
    };
    let unlocked = super::unlock::UnlockReport {
        result: "planned",
        lease: Some("redis-cluster-lock".into()),
        file: None,
        holder: Some(holder),
    };
    insta::assert_snapshot!("unlock_planned_json", json("unlock", &unlocked));
}

#[test]
fn day_two_reports() {
    use crate::plan::primaries::PrimaryMove;
    use crate::plan::replicas::{Exposure, Handover, ReplicaMove};
    let replicas = super::rebalance_replicas::RebalanceReplicasReport {
        result: "planned",
        moves: vec![ReplicaMove {
            replica: "redis-cluster-4".into(),
            replica_id: fixture_id(4),
            from: "redis-cluster-1".into(),
            to: "redis-cluster-2".into(),
            to_id: fixture_id(2),
        }],
        exposed: vec![Exposure {
            master: "redis-cluster-0".into(),
            domain: "zone-a".into(),
            replicas: vec!["redis-cluster-3".into()],
        }],
        seconds: 0.0,
    };
    insta::assert_snapshot!(
        "rebalance_replicas_json",
        json("rebalance-replicas", &replicas)
    );
    let primaries = super::rebalance_primaries::RebalancePrimariesReport {
        result: "planned",
        moves: vec![PrimaryMove {
            master: "redis-cluster-0".into(),
            to: "redis-cluster-3".into(),
            to_id: fixture_id(3),
            from_domain: "zone-a".into(),
            to_domain: "zone-b".into(),
        }],
        before: [("zone-a".to_string(), 2), ("zone-b".to_string(), 1)].into(),
        seconds: 0.0,
    };
    insta::assert_snapshot!(
        "rebalance_primaries_json",
        json("rebalance-primaries", &primaries)
    );
    let drain = super::drain_prep::DrainPrepReport {
        result: "planned",
        node: "worker-1".into(),
        handovers: vec![Handover {
            master: "redis-cluster-1".into(),
            to: "redis-cluster-4".into(),
            to_id: fixture_id(4),
        }],
        without_replica: Vec::new(),
        seconds: 0.0,
    };
    insta::assert_snapshot!("drain_prep_json", json("drain-prep", &drain));
    let members: Vec<crate::plan::rollout::RollMember> = (0..2u32)
        .map(|i| crate::plan::rollout::RollMember {
            pod: format!("redis-cluster-{i}"),
            ordinal: i,
            id: Some(fixture_id(i as usize)),
            master: (i == 1).then(|| fixture_id(0)),
            slots: if i == 0 { 16384 } else { 0 },
            in_sync: true,
            outdated: true,
        })
        .collect();
    let announced = super::rollout::RolloutReport {
        result: "planned",
        change: "hostnames".into(),
        statefulset: "redis-cluster".into(),
        hostnames: (0..2)
            .map(|i| super::announce::PodHostname {
                pod: format!("redis-cluster-{i}"),
                hostname: format!(
                    "redis-cluster-{i}.redis-cluster-headless.cache.svc.cluster.local"
                ),
            })
            .collect(),
        steps: crate::plan::rollout::plan(&members).unwrap(),
        seconds: 0.0,
    };
    insta::assert_snapshot!(
        "announce_hostnames_json",
        json("announce-hostnames", &announced)
    );
}
