//! Joining pods and cluster nodes (pure): which node runs in which pod, which pods are not in
//! the cluster, and which cluster nodes match no pod. `status` judges the cluster proper with
//! [`crate::topology::health::check`] and adds these problems.

use std::collections::{BTreeMap, BTreeSet};

use super::pods::Pods;
use crate::plan::replicas::Placed;
use crate::topology::health::{NodeRef, Problem};
use crate::topology::{ClusterView, NodeId};

/// Extra names for nodes, from Kubernetes discovery: node id → (pod, Kubernetes node).
pub type PodNames = BTreeMap<NodeId, (String, Option<String>)>;

/// Pods and nodes, joined.
#[derive(Debug)]
pub struct Joined {
    /// The cluster proper: the view without the reports of pods outside it.
    pub cluster: ClusterView,
    /// Node id → (pod, Kubernetes node), for every node that runs in a pod.
    pub names: PodNames,
    /// Pods outside the cluster and nodes without a pod.
    pub problems: Vec<Problem>,
}

/// Joins the StatefulSet's pods with a view observed from all of them.
///
/// The cluster proper is the set of nodes known to the node that knows the most nodes (ties:
/// the one serving most slots). When that node knows only itself and serves no slot, there is
/// no cluster yet and every pod is outside it.
pub fn join(pods: &Pods, view: &ClusterView) -> Joined {
    let anchor = view
        .reports
        .iter()
        .max_by_key(|r| (r.nodes.len(), r.myself().slots.len()));
    let members: BTreeSet<&NodeId> = anchor
        .filter(|r| r.nodes.len() > 1 || !r.myself().slots.is_empty())
        .map(|r| r.nodes.iter().map(|l| &l.id).collect())
        .unwrap_or_default();
    let mut cluster = ClusterView {
        reports: Vec::new(),
        unreachable: view.unreachable.clone(),
    };
    let mut problems = Vec::new();
    for report in &view.reports {
        if members.contains(report.id()) {
            cluster.reports.push(report.clone());
        } else if let Some(pod) = pods.by_ip(&report.endpoint.host) {
            problems.push(Problem::PodNotInCluster {
                pod: pod.pod.clone(),
                node: NodeRef {
                    id: Some(report.id().clone()),
                    endpoint: report.endpoint.to_string(),
                },
            });
        }
    }
    let mut names = PodNames::new();
    for (id, line) in view.known_nodes() {
        let ip = view
            .report(&id)
            .map_or(line.addr.ip.as_str(), |r| r.endpoint.host.as_str());
        match pods.by_ip(ip) {
            Some(m) => {
                names.insert(id, (m.pod.clone(), m.node.clone()));
            }
            None if members.contains(&id) => problems.push(Problem::NodeWithoutPod {
                node: NodeRef {
                    endpoint: if line.addr.is_known() {
                        line.addr.endpoint()
                    } else {
                        "?".into()
                    },
                    id: Some(id),
                },
            }),
            None => {}
        }
    }
    Joined {
        cluster,
        names,
        problems,
    }
}

/// Every node of the cluster proper that runs in a pod, with its failure domain (zone, else
/// Kubernetes node) and its master, as each node says of itself.
pub fn placement(pods: &Pods, joined: &Joined) -> Vec<Placed> {
    joined
        .cluster
        .reports
        .iter()
        .filter_map(|r| {
            let me = r.myself();
            let (pod, _) = joined.names.get(&me.id)?;
            let member = pods.by_name(pod)?;
            Some(Placed {
                id: me.id.clone(),
                name: pod.clone(),
                domain: member.domain(),
                master: me.master_id.clone().filter(|_| !me.flags.master),
                k8s_node: member.node.clone(),
                slots: me.slots.len(),
                in_sync: r.replica_in_sync(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::pods::fixtures::pod;
    use super::*;
    use crate::topology::fixtures::{Fixture, fixture_id};
    use crate::topology::health::check;

    /// Pod `rc-i` for fixture node `i`, with that node's IP, over three Kubernetes nodes.
    fn pods_for(fixture: &Fixture) -> Pods {
        let objects: Vec<_> = fixture
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| pod(&format!("rc-{i}"), &n.ip, &format!("k8s-{}", i % 3)))
            .collect();
        Pods::from_objects("rc", 6379, &objects, &BTreeMap::new())
    }

    /// A fixture whose node `i` listens on 10.0.0.i, so IPs identify pods.
    fn spread(mut fixture: Fixture) -> Fixture {
        for (i, n) in fixture.nodes.iter_mut().enumerate() {
            n.ip = format!("10.0.0.{i}");
        }
        fixture
    }

    #[test]
    fn every_node_of_a_healthy_cluster_is_named_by_its_pod() {
        let fixture = spread(Fixture::healthy(3, 1));
        let view = fixture.view();
        let joined = join(&pods_for(&fixture), &view);
        assert!(joined.problems.is_empty(), "{:?}", joined.problems);
        assert_eq!(joined.cluster.reports.len(), 6);
        assert_eq!(
            joined.names.get(&fixture_id(4)),
            Some(&("rc-4".to_string(), Some("k8s-1".to_string())))
        );
    }

    #[test]
    fn a_fresh_pod_is_outside_the_cluster_and_does_not_spoil_its_health() {
        let mut fixture = spread(Fixture::healthy(3, 1));
        let mut fresh = Fixture::fresh(7).nodes.pop().unwrap();
        fresh.unknown = (0..6).collect();
        fresh.ip = "10.0.0.6".into();
        fixture.nodes.push(fresh);
        let mut view = fixture.view();
        // The six cluster nodes have never met the fresh one.
        for r in view.reports.iter_mut().take(6) {
            r.nodes.retain(|l| l.id != fixture_id(6));
        }
        let joined = join(&pods_for(&fixture), &view);
        let text: Vec<String> = joined.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            ["pod rc-6 (10.0.0.6:7006 (06aaaaaa)) is not part of the cluster"]
        );
        assert!(check(&joined.cluster, Some(1)).is_empty());
    }

    #[test]
    fn a_node_left_behind_by_a_removed_pod_is_reported() {
        let fixture = spread(Fixture::healthy(3, 1));
        let view = fixture.view();
        let mut pods = pods_for(&fixture);
        pods.members.retain(|m| m.ordinal != 5);
        let joined = join(&pods, &view);
        let text: Vec<String> = joined.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            ["cluster node 10.0.0.5:7005 (05aaaaaa) matches no pod of the StatefulSet"]
        );
    }

    #[test]
    fn before_init_every_pod_is_outside_and_all_slots_are_uncovered() {
        let fixture = spread(Fixture::fresh(3));
        let view = fixture.view();
        let joined = join(&pods_for(&fixture), &view);
        assert_eq!(joined.problems.len(), 3);
        assert!(joined.cluster.reports.is_empty());
        assert!(matches!(
            check(&joined.cluster, None).as_slice(),
            [Problem::SlotsUncovered { .. }]
        ));
    }
}
