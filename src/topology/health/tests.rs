use super::*;
use crate::topology::Endpoint;
use crate::topology::fixtures::{Fixture, fixture_id};

fn kinds(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

#[test]
fn a_healthy_cluster_has_no_problems() {
    let view = Fixture::healthy(3, 1).view();
    assert_eq!(kinds(&check(&view, Some(1))), Vec::<String>::new());
}

#[test]
fn an_unassigned_slot_is_reported_exactly() {
    let view = Fixture::healthy(3, 1).uncover(100).view();
    let problems = check(&view, Some(1));
    assert_eq!(
        problems,
        vec![Problem::SlotsUncovered {
            slots: SlotSet::from_iter([100])
        }]
    );
    assert_eq!(
        problems[0].to_string(),
        "1 slot(s) served by no master: 100"
    );
}

#[test]
fn a_node_still_listing_a_new_replica_as_a_master_disagrees_until_gossip_reaches_it() {
    // Node 3 replicates node 0; node 1 has not heard of it yet.
    let view = Fixture::healthy(3, 1)
        .with(1, |n| n.sees_as_master = vec![3])
        .view();
    let problems = check(&view, Some(1));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        problems[0].to_string(),
        format!(
            "127.0.0.1:7001 ({}) lists 127.0.0.1:7003 ({}) as master, but it is replica of {} by its own account",
            fixture_id(1).short(),
            fixture_id(3).short(),
            fixture_id(0).short()
        )
    );
    assert!(check(&Fixture::healthy(3, 1).view(), Some(1)).is_empty());
}

#[test]
fn a_killed_node_is_unreachable_and_flagged_by_its_peers() {
    let view = Fixture::healthy(3, 1)
        .with(1, |n| n.reachable = false)
        .with(0, |n| n.sees_failed = vec![1])
        .view();
    let problems = check(&view, Some(1));
    assert!(
        matches!(&problems[0], Problem::Unreachable { node, .. } if node.endpoint == "127.0.0.1:7001")
    );
    assert!(problems.iter().any(|p| matches!(p,
        Problem::PeerFlagged { reporter, flag, .. } if reporter.endpoint == "127.0.0.1:7000" && flag == "fail")));
    // Its slots are still covered: the others remember who owns them.
    assert!(
        !problems
            .iter()
            .any(|p| matches!(p, Problem::SlotsUncovered { .. }))
    );
}

#[test]
fn open_slots_are_reported_per_node_and_peer() {
    let view = Fixture::healthy(3, 0)
        .with(0, |n| n.migrating = vec![(5, 1), (6, 1)])
        .with(1, |n| n.importing = vec![(5, 0), (6, 0)])
        .view();
    let text = kinds(&check(&view, Some(0)));
    assert_eq!(
        text,
        vec![
            format!("127.0.0.1:7000 (00aaaaaa) has slots open, migrating to 01aaaaaa: 5-6"),
            format!("127.0.0.1:7001 (01aaaaaa) has slots open, importing from 00aaaaaa: 5-6"),
        ]
    );
}

#[test]
fn a_node_with_a_stale_slot_map_disagrees_with_the_majority() {
    // Node 2 still believes slot 0 belongs to itself; nodes 0 and 1 agree it is node 0's.
    let mut fixture = Fixture::healthy(3, 0);
    fixture.nodes[2].slots.insert(0);
    let mut view = fixture.view();
    // Only node 2's own report carries the stale claim.
    for r in view.reports.iter_mut().take(2) {
        for line in &mut r.nodes {
            if line.id == fixture_id(2) {
                line.slots.remove(0);
            }
        }
    }
    let problems = check(&view, Some(0));
    assert_eq!(
        problems,
        vec![Problem::ViewDisagrees {
            node: NodeRef {
                id: Some(fixture_id(2)),
                endpoint: "127.0.0.1:7002".into()
            },
            slots: SlotSet::from_iter([0]),
        }]
    );
}

#[test]
fn state_fail_missing_peers_and_lagging_replicas_are_each_reported() {
    let view = Fixture::healthy(3, 1)
        .with(4, |n| n.in_sync = false)
        .with(5, |n| {
            n.state = "fail";
            n.unknown = vec![0];
        })
        .view();
    let text = kinds(&check(&view, Some(1)));
    assert_eq!(
        text,
        vec![
            "127.0.0.1:7005 (05aaaaaa) reports cluster_state:fail",
            "127.0.0.1:7005 (05aaaaaa) disagrees with the other nodes about the owner of 5461 slots: 0-5460",
            "127.0.0.1:7005 (05aaaaaa) does not know node(s) 00aaaaaa",
            "replica 127.0.0.1:7004 (04aaaaaa) is not in sync with its master 01aaaaaa",
        ]
    );
}

/// A `CLUSTER NODES` line as a node shows a MEET still in progress.
fn handshake_line(id: &str, ip: &str) -> crate::topology::NodeLine {
    crate::topology::NodeLine::parse(&format!(
        "{id} {ip}:6379@16379 handshake - 1700000000000 0 0 disconnected"
    ))
    .unwrap()
}

#[test]
fn a_handshake_entry_is_not_a_member_the_others_must_know() {
    // Our own MEET left node 1 a handshake entry for a moment: only node 1 lists its
    // throw-away id, and that id must never be asked of the others.
    let mut view = Fixture::healthy(3, 1).view();
    let phantom = "1029540d".repeat(5);
    view.reports[1]
        .nodes
        .push(handshake_line(&phantom, "127.0.0.9"));
    let text = kinds(&check(&view, Some(1)));
    assert_eq!(
        text,
        vec!["127.0.0.1:7001 (01aaaaaa) sees 127.0.0.9:6379 (1029540d) as handshake"]
    );
    assert!(!view.member_ids().contains(&NodeId(phantom)));
}

#[test]
fn a_missing_peer_is_explained_by_the_reports_that_list_it() {
    // Node 5 lacks node 0; every other node lists it.
    let mut view = Fixture::healthy(3, 1)
        .with(5, |n| n.unknown = vec![0])
        .view();
    view.reports[3].route = "port-forward to pod redis-cluster-3".into();
    view.reports[4].nodes.retain(|l| l.id != fixture_id(0));
    view.reports[4].route = "port-forward to pod redis-cluster-4".into();
    let problem = check(&view, Some(1))
        .into_iter()
        .find(|p| matches!(p, Problem::MissingPeers { .. }))
        .unwrap();
    let text = explain(&view, &problem);
    assert!(
        text.starts_with("127.0.0.1:7004 (04aaaaaa) does not know node(s) 00aaaaaa; 00aaaaaa is listed by 127.0.0.1:7000 (00aaaaaa, dialled by direct TCP) as 127.0.0.1:7000@17000 myself,master"),
        "{text}"
    );
    assert!(
        text.contains("127.0.0.1:7003 (03aaaaaa, dialled by port-forward to pod redis-cluster-3) as 127.0.0.1:7000@17000 master"),
        "{text}"
    );
    // A reporter that says it is elsewhere is named with where it says it is.
    view.reports[3].endpoint = Endpoint::new("127.0.0.2", 7003);
    let text = explain(&view, &problem);
    assert!(
        text.contains("127.0.0.2:7003 (03aaaaaa, dialled by port-forward to pod redis-cluster-3, which says it is at 127.0.0.1:7003)"),
        "{text}"
    );
}

#[test]
fn a_master_without_the_expected_replicas_is_reported() {
    let view = Fixture::healthy(3, 1)
        .with(3, |n| n.master = Some(1))
        .view();
    let text = kinds(&check(&view, Some(1)));
    assert_eq!(
        text,
        vec!["master 127.0.0.1:7000 (00aaaaaa) has 0 replica(s), expected 1"]
    );
    // Without an explicit expectation, a master needs one replica once any master has one.
    assert_eq!(check(&view, None).len(), 1);
}

#[test]
fn problems_serialise_with_a_kind_tag() {
    let p = Problem::SlotsUncovered {
        slots: SlotSet::from_iter([1, 2, 3]),
    };
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"kind":"slots_uncovered","slots":[[1,3]]}"#
    );
}
