//! Pure decisions about membership: which master a new or orphaned replica should follow
//! (the placement rule of [`super::placement`]), which replicas must move when
//! nodes leave, and whether a node the cluster has already forgotten is left to reset.

use std::collections::BTreeMap;

use super::placement::{Seat, pick_master};
use crate::topology::{ClusterView, Endpoint, NodeId, NodeReport};

/// The master a replica in `domain` should follow: among masters with slots (not in
/// `excluded`), by the one placement rule ([`super::placement`]): another domain, then the
/// fewest replicas, then one whose replicas are elsewhere, then the lowest id.
pub fn choose_master(
    view: &ClusterView,
    domain_of: &dyn Fn(&NodeId) -> String,
    domain: &str,
    excluded: &[NodeId],
) -> Option<NodeId> {
    let mut replicas: BTreeMap<&NodeId, (String, Vec<String>)> = view
        .masters()
        .filter(|m| !m.myself().slots.is_empty() && !excluded.contains(m.id()))
        .map(|m| (m.id(), (domain_of(m.id()), Vec::new())))
        .collect();
    for r in view.replicas() {
        if let Some((_, domains)) = r
            .myself()
            .master_id
            .as_ref()
            .and_then(|m| replicas.get_mut(m))
            && !excluded.contains(r.id())
        {
            domains.push(domain_of(r.id()));
        }
    }
    pick_master(
        replicas.iter().map(|(id, (own, domains))| Seat {
            master: id,
            domain: own,
            replica_domains: domains.iter().map(String::as_str).collect(),
        }),
        domain,
    )
}

/// For nodes about to leave: each replica of a leaving master that stays needs a new master.
/// Returns `(replica, new master)` pairs, balancing as it goes.
pub fn repoint_replicas(
    view: &ClusterView,
    domain_of: &dyn Fn(&NodeId) -> String,
    leaving: &[NodeId],
) -> Vec<(NodeId, NodeId)> {
    let mut moves = Vec::new();
    for r in view.replicas() {
        let Some(master) = &r.myself().master_id else {
            continue;
        };
        if leaving.contains(r.id()) || !leaving.contains(master) {
            continue;
        }
        if let Some(new_master) = choose_master(view, domain_of, &domain_of(r.id()), leaving) {
            moves.push((r.id().clone(), new_master));
        }
    }
    moves
}

/// A `CLUSTER MEET` telling `via` about a member it does not list yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Introduction {
    /// The node that lacks the peer.
    pub via: Endpoint,
    /// The peer, where it answers.
    pub peer: Endpoint,
    /// The peer's bus port.
    pub cport: u16,
}

/// For every answering member lacking an answering member in its table, the MEET that fills
/// the gap. Gossip fills it too, but slowly when the node that first met a newcomer goes away
/// right after (a pod deleted mid-scale), and never when one side lists the other but not the
/// reverse: a node ignores pings from a node it does not know. Only members are introduced to
/// each other: a node is one when some other node lists it (out of handshake), so a fresh
/// node that nobody met is never pulled in, while a node its peers list but that lost its
/// own table (or never completed the handshake) is. A peer is named only at an address `may_meet` allows (the
/// addresses the StatefulSet's pods hold now): pod IPs are reused, and a MEET to an address
/// another cluster's node now holds merges the two clusters.
pub fn introductions(
    view: &ClusterView,
    may_meet: &dyn Fn(&Endpoint) -> bool,
) -> Vec<Introduction> {
    let lists = |r: &crate::topology::NodeReport, id: &NodeId| r.nodes.iter().any(|l| &l.id == id);
    let member = |r: &crate::topology::NodeReport| {
        view.reports.iter().any(|other| {
            other.id() != r.id()
                && other
                    .nodes
                    .iter()
                    .any(|l| &l.id == r.id() && !l.flags.handshake)
        })
    };
    let members: Vec<_> = view.reports.iter().filter(|r| member(r)).collect();
    let mut out = Vec::new();
    for via in &members {
        for peer in members.iter().filter(|p| may_meet(&p.endpoint)) {
            if peer.id() != via.id() && !lists(via, peer.id()) {
                out.push(Introduction {
                    via: via.endpoint.clone(),
                    peer: peer.endpoint.clone(),
                    cport: peer.myself().addr.cport,
                });
            }
        }
    }
    out
}

/// Where a node `del-node` is asked to remove stands, from its own report and its peers'.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leaving {
    /// Some other node still lists it, or a member did not answer (and may list it): remove
    /// it the normal way, which waits for every other node.
    Member,
    /// No other node lists it, every member answered, and it still lists some of them: an
    /// earlier removal stopped between FORGET and RESET; only the reset is left.
    Forgotten,
    /// No other node lists it and it knows no peer: already removed and reset.
    Removed,
    /// It lists peers, but none of this cluster's nodes: it belongs to another cluster.
    Stranger,
}

/// The cluster as the `staying` nodes know it: the reports of the nodes some staying node
/// lists. A leaving node every staying node already forgot (a scale-down stopped before
/// resetting it) is out, whatever it still lists itself: counted in, it would win the "knows
/// the most nodes" vote with its stale entries (a peer reset meanwhile stays in its table
/// without an address) and block every wait for agreement.
pub fn as_staying_see_it(view: &ClusterView, staying: &[Endpoint]) -> ClusterView {
    let known: std::collections::BTreeSet<&NodeId> = view
        .reports
        .iter()
        .filter(|r| staying.contains(&r.endpoint))
        .flat_map(|r| r.nodes.iter().map(|l| &l.id))
        .collect();
    ClusterView {
        reports: view
            .reports
            .iter()
            .filter(|r| known.contains(r.id()))
            .cloned()
            .collect(),
        unreachable: view.unreachable.clone(),
    }
}

/// Where `id` stands (it must have answered: its report is in `view`).
pub fn leaving_state(view: &ClusterView, id: &NodeId) -> Leaving {
    let others: Vec<&NodeReport> = view.reports.iter().filter(|r| r.id() != id).collect();
    let listed_by_others = others
        .iter()
        .any(|r| r.nodes.iter().any(|line| &line.id == id));
    let member_silent = view
        .unreachable
        .iter()
        .any(|u| u.id.as_ref().is_some_and(|u| u != id));
    let peers: Vec<&NodeId> = view
        .report(id)
        .map(|r| r.nodes.iter().map(|l| &l.id).filter(|p| *p != id).collect())
        .unwrap_or_default();
    let knows_this_cluster = peers.iter().any(|p| others.iter().any(|r| r.id() == *p));
    if listed_by_others || member_silent {
        Leaving::Member
    } else if peers.is_empty() {
        Leaving::Removed
    } else if knows_this_cluster {
        Leaving::Forgotten
    } else {
        Leaving::Stranger
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::{Fixture, fixture_id};

    fn same_host(_: &NodeId) -> String {
        "h".into()
    }

    #[test]
    fn a_leaving_node_every_staying_node_forgot_is_out_whatever_it_lists() {
        // Nodes 0-5 stay. 6 left and was reset: a lone node. 7 was forgotten by every
        // staying node but not reset: it still lists them all, and 6 (its old id).
        let mut view = Fixture::healthy(4, 1).view();
        let (six, seven) = (fixture_id(6), fixture_id(7));
        for r in &mut view.reports {
            let me = r.id().clone();
            if me == six {
                r.nodes.retain(|l| l.id == six);
            } else if me != seven {
                r.nodes.retain(|l| l.id != six && l.id != seven);
            }
        }
        let staying: Vec<Endpoint> = view.reports[..6]
            .iter()
            .map(|r| r.endpoint.clone())
            .collect();
        let seen = as_staying_see_it(&view, &staying);
        let ids: Vec<NodeId> = seen.reports.iter().map(|r| r.id().clone()).collect();
        assert_eq!(ids, (0..6).map(fixture_id).collect::<Vec<_>>());
        // Before the scale-down began, every node is in.
        let whole = Fixture::healthy(4, 1).view();
        assert_eq!(as_staying_see_it(&whole, &staying).reports.len(), 8);
    }

    #[test]
    fn a_new_replica_goes_to_the_master_with_fewest_replicas() {
        // Masters 0,1,2; replicas 3→0, 4→1, 5→2, 6→0: masters 1 and 2 have one each.
        let view = Fixture::healthy(3, 1)
            .with_empty_master()
            .with(6, |n| n.master = Some(0))
            .view();
        assert_eq!(
            choose_master(&view, &same_host, "h", &[]),
            Some(fixture_id(1))
        );
    }

    #[test]
    fn another_failure_domain_wins_over_fewer_replicas() {
        let view = Fixture::healthy(3, 1).view();
        let domain = |id: &NodeId| {
            if *id == fixture_id(0) {
                "a".to_string()
            } else {
                "b".to_string()
            }
        };
        assert_eq!(choose_master(&view, &domain, "b", &[]), Some(fixture_id(0)));
    }

    #[test]
    fn replicas_of_a_leaving_master_are_repointed_and_leaving_replicas_are_not() {
        let view = Fixture::healthy(3, 1).view();
        let moves = repoint_replicas(&view, &same_host, &[fixture_id(0)]);
        assert_eq!(moves, vec![(fixture_id(3), fixture_id(1))]);
        assert!(repoint_replicas(&view, &same_host, &[fixture_id(0), fixture_id(3)]).is_empty());
    }

    #[test]
    fn members_that_do_not_list_each_other_are_introduced_and_strangers_are_not() {
        assert!(introductions(&Fixture::healthy(3, 1).view(), &any).is_empty());
        // Node 6 was met by node 0 only; nodes 1..=5 have not heard of it yet.
        let mut fixture = Fixture::healthy(3, 1).with_empty_master();
        for i in 1..6 {
            fixture = fixture.with(i, |n| n.unknown.push(6));
        }
        let view = fixture.with(6, |n| n.unknown = (1..6).collect()).view();
        let intros = introductions(&view, &any);
        let pairs: Vec<(u16, u16)> = intros.iter().map(|i| (i.via.port, i.peer.port)).collect();
        let mut expected: Vec<(u16, u16)> = (1..6).map(|i| (7000 + i, 7006)).collect();
        expected.extend((1..6).map(|i| (7006, 7000 + i)));
        let mut got = pairs.clone();
        got.sort_unstable();
        expected.sort_unstable();
        assert_eq!(got, expected);
        assert!(intros.iter().all(|i| i.cport == i.peer.port + 10000));

        // A fresh node nobody met stays out, whoever lacks it.
        let stranger = Fixture::healthy(3, 1).with_empty_master();
        let stranger = (0..6).fold(stranger, |f, i| f.with(i, |n| n.unknown.push(6)));
        let view = stranger.with(6, |n| n.unknown = (0..6).collect()).view();
        assert!(introductions(&view, &any).is_empty());
    }

    fn any(_: &Endpoint) -> bool {
        true
    }

    #[test]
    fn a_peer_is_introduced_only_at_an_address_a_pod_holds_now() {
        // Node 6 was met by node 0 only; the address it answered at is no pod's any more.
        let mut fixture = Fixture::healthy(3, 1).with_empty_master();
        for i in 1..6 {
            fixture = fixture.with(i, |n| n.unknown.push(6));
        }
        let view = fixture.with(6, |n| n.unknown = (1..6).collect()).view();
        let gone = view.reports[6].endpoint.clone();
        let intros = introductions(&view, &|e| e != &gone);
        assert!(!intros.is_empty(), "node 6 still learns of the others");
        assert!(intros.iter().all(|i| i.peer != gone), "{intros:?}");
        assert!(intros.iter().all(|i| i.via == gone));
    }

    #[test]
    fn a_node_its_peers_list_but_that_lists_none_of_them_is_introduced_to_each() {
        // Node 5 lost its table: every other node lists it, it lists only itself.
        let view = Fixture::healthy(3, 1)
            .with(5, |n| n.unknown = (0..5).collect())
            .view();
        let mut intros: Vec<(u16, u16)> = introductions(&view, &any)
            .iter()
            .map(|i| (i.via.port, i.peer.port))
            .collect();
        intros.sort_unstable();
        assert_eq!(intros, (0..5).map(|i| (7005, 7000 + i)).collect::<Vec<_>>());
    }

    #[test]
    fn a_node_every_peer_forgot_but_that_still_knows_them_is_left_to_reset() {
        let member = Fixture::healthy(3, 1);
        assert_eq!(
            leaving_state(&member.view(), &fixture_id(5)),
            Leaving::Member
        );
        let forgotten = (0..5).fold(member, |f, i| f.with(i, |n| n.unknown.push(5)));
        assert_eq!(
            leaving_state(&forgotten.view(), &fixture_id(5)),
            Leaving::Forgotten
        );
        let reset = forgotten.with(5, |n| n.unknown = (0..5).collect());
        assert_eq!(
            leaving_state(&reset.view(), &fixture_id(5)),
            Leaving::Removed
        );
        let one_peer_remembers = Fixture::healthy(3, 1).with(0, |n| n.unknown.push(5));
        assert_eq!(
            leaving_state(&one_peer_remembers.view(), &fixture_id(5)),
            Leaving::Member,
            "FORGET must reach every node before the reset"
        );
        let forgotten_but_a_peer_is_down = (0..5)
            .fold(Fixture::healthy(3, 1), |f, i| {
                f.with(i, |n| n.unknown.push(5))
            })
            .with(1, |n| n.reachable = false);
        assert_eq!(
            leaving_state(&forgotten_but_a_peer_is_down.view(), &fixture_id(5)),
            Leaving::Member,
            "a member that did not answer may still list it"
        );
    }

    #[test]
    fn a_node_of_another_cluster_is_a_stranger_not_a_node_to_reset() {
        // Nodes 0-5 form this cluster and know neither 6 nor 7; node 6 knows only node 7, a
        // peer of its own cluster that this view never reached.
        let mut fixture = Fixture::healthy(3, 1)
            .with_empty_master()
            .with_empty_master();
        for i in 0..6 {
            fixture = fixture.with(i, |n| n.unknown.extend([6, 7]));
        }
        let mut view = fixture.with(6, |n| n.unknown = (0..6).collect()).view();
        view.reports.retain(|r| r.id() != &fixture_id(7));
        assert_eq!(leaving_state(&view, &fixture_id(6)), Leaving::Stranger);
    }
}
