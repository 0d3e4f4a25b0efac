//! What we observed of a cluster: every reachable node's own report (`CLUSTER NODES`,
//! `CLUSTER INFO`, `INFO`), and the nodes we could not reach. Pure data; [`super::health`]
//! judges it and the planners read it.

use std::collections::{BTreeMap, HashMap};

use super::endpoint::Endpoint;
use super::engine::Engine;
use super::node_line::{NodeId, NodeLine};
use super::slots::{SLOT_COUNT, SlotSet};

/// `key:value` lines of `INFO` or `CLUSTER INFO`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InfoFields(pub HashMap<String, String>);

impl InfoFields {
    /// Parses `INFO`-style text, ignoring `# Section` headers and blank lines.
    pub fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.trim().split_once(':'))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// A field's text.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A numeric field, `None` when missing or not a number.
    pub fn number(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.parse().ok())
    }
}

/// One node's answer: how it sees itself and the cluster.
#[derive(Clone, Debug)]
pub struct NodeReport {
    /// The address we reached it at (cluster-internal).
    pub endpoint: Endpoint,
    /// How the connection got there (`direct`, `port-forward to pod redis-cluster-1`).
    pub route: String,
    /// Its `CLUSTER NODES`, its own line included.
    pub nodes: Vec<NodeLine>,
    /// Its `CLUSTER INFO`.
    pub cluster_info: InfoFields,
    /// Its `INFO` (server, memory, replication, keyspace, cluster sections).
    pub info: InfoFields,
}

impl NodeReport {
    /// The node's own line (flag `myself`). Every valid reply has exactly one.
    pub fn myself(&self) -> &NodeLine {
        // The observer only builds reports from replies it validated with `has_myself`.
        self.nodes
            .iter()
            .find(|n| n.flags.myself)
            .expect("reports are built only from replies with a myself line")
    }

    /// Whether `CLUSTER NODES` included the `myself` line (false means a garbled reply).
    pub fn has_myself(nodes: &[NodeLine]) -> bool {
        nodes.iter().filter(|n| n.flags.myself).count() == 1
    }

    /// The node id.
    pub fn id(&self) -> &NodeId {
        &self.myself().id
    }

    /// `cluster_state` from `CLUSTER INFO` (`ok` or `fail`).
    pub fn cluster_state(&self) -> &str {
        self.cluster_info.get("cluster_state").unwrap_or("unknown")
    }

    /// Keys in every database: Redis has only db0 in cluster mode, Valkey ≥ 9.0 has
    /// `cluster-databases` of them.
    pub fn keys(&self) -> u64 {
        self.info
            .0
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix("db")
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .filter_map(|(_, v)| v.split(',').find_map(|kv| kv.strip_prefix("keys=")))
            .filter_map(|n| n.parse::<u64>().ok())
            .sum()
    }

    /// Whether the node writes an append-only file (`INFO persistence`).
    pub fn aof_enabled(&self) -> bool {
        self.info.get("aof_enabled") == Some("1")
    }

    /// The server and its release, from `INFO server`.
    pub fn engine(&self) -> Option<Engine> {
        Engine::from_info(&self.info)
    }

    /// `used_memory` in bytes.
    pub fn used_memory(&self) -> u64 {
        self.info.number("used_memory").unwrap_or(0)
    }

    /// For a replica, whether its replication link is up and the initial sync is done.
    pub fn replica_in_sync(&self) -> bool {
        self.info.get("master_link_status") == Some("up")
            && self.info.get("master_sync_in_progress") != Some("1")
    }

    /// Whether the server runs with `cluster-enabled yes`.
    pub fn cluster_enabled(&self) -> bool {
        self.info.get("cluster_enabled") == Some("1")
    }

    /// The owner of each slot as this node sees it (masters' slot columns), indexed by slot.
    pub fn slot_owners(&self) -> Vec<Option<&NodeId>> {
        let mut owners = vec![None; usize::from(SLOT_COUNT)];
        for n in self.nodes.iter().filter(|n| n.flags.master) {
            for slot in n.slots.iter() {
                owners[usize::from(slot)] = Some(&n.id);
            }
        }
        owners
    }
}

/// A node we tried and failed to reach.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Unreachable {
    /// The address we dialled.
    pub endpoint: Endpoint,
    /// The node id, when some other node told us about it.
    pub id: Option<NodeId>,
    /// What went wrong, one line.
    pub error: String,
}

/// Everything observed in one pass over a cluster.
#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    /// Reachable nodes, in the order they were discovered.
    pub reports: Vec<NodeReport>,
    /// Nodes that did not answer.
    pub unreachable: Vec<Unreachable>,
}

impl ClusterView {
    /// The report of the node with this id.
    pub fn report(&self, id: &NodeId) -> Option<&NodeReport> {
        self.reports.iter().find(|r| r.id() == id)
    }

    /// The report of the node at `endpoint`.
    pub fn report_at(&self, endpoint: &Endpoint) -> Option<&NodeReport> {
        self.reports.iter().find(|r| &r.endpoint == endpoint)
    }

    /// Masters as they describe themselves, with their slots.
    pub fn masters(&self) -> impl Iterator<Item = &NodeReport> {
        self.reports.iter().filter(|r| r.myself().flags.master)
    }

    /// Replicas as they describe themselves.
    pub fn replicas(&self) -> impl Iterator<Item = &NodeReport> {
        self.reports.iter().filter(|r| r.myself().flags.replica)
    }

    /// The replicas (by their own account) of master `id`.
    pub fn replicas_of<'a>(&'a self, id: &'a NodeId) -> impl Iterator<Item = &'a NodeReport> + 'a {
        self.replicas()
            .filter(move |r| r.myself().master_id.as_ref() == Some(id))
    }

    /// Slots claimed by at least one master, judged by each master's own line.
    pub fn covered_slots(&self) -> SlotSet {
        self.masters()
            .fold(SlotSet::new(), |acc, r| acc.union(&r.myself().slots))
    }

    /// The ids every node should know: the nodes that answered, and every node some report
    /// lists with an address and out of handshake. A handshake entry exists only until its
    /// MEET is answered (it then takes the real id, or is dropped) and a `noaddr` entry is a
    /// node nobody can reach: neither is a member the others must know.
    pub fn member_ids(&self) -> std::collections::BTreeSet<NodeId> {
        let answered = self.reports.iter().map(|r| r.id().clone());
        let listed = self
            .reports
            .iter()
            .flat_map(|r| r.nodes.iter())
            .filter(|l| !l.flags.handshake && !l.flags.noaddr)
            .map(|l| l.id.clone());
        answered.chain(listed).collect()
    }

    /// A short digest of the topology a plan is made against: every known node's id, role,
    /// master and slots (not addresses, epochs or link states, which change without
    /// changing what a plan does). A saved plan is applied only while it is the same.
    pub fn fingerprint(&self) -> String {
        let mut text = String::new();
        for (id, line) in self.known_nodes() {
            let role = if line.flags.master { "m" } else { "r" };
            let master = line.master_id.as_ref().map_or("-", |m| m.0.as_str());
            text.push_str(&format!("{} {role} {master} {}\n", id.0, line.slots));
        }
        // FNV-1a, 64 bits: a change detector, not a signature.
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        format!("{hash:016x}")
    }

    /// Every node id known to any reachable node, with the line that describes it best: its
    /// own `myself` line when we reached it, else the first peer's line.
    pub fn known_nodes(&self) -> BTreeMap<NodeId, &NodeLine> {
        let mut known: BTreeMap<NodeId, &NodeLine> = BTreeMap::new();
        for report in &self.reports {
            known.insert(report.id().clone(), report.myself());
        }
        for report in &self.reports {
            for line in &report.nodes {
                known.entry(line.id.clone()).or_insert(line);
            }
        }
        known
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fingerprint_changes_with_slots_and_roles_not_with_addresses() {
        use crate::topology::fixtures::Fixture;
        let base = Fixture::healthy(3, 1);
        let same = base.view().fingerprint();
        assert_eq!(same, Fixture::healthy(3, 1).view().fingerprint());
        assert_eq!(same.len(), 16);
        let moved = base.clone().uncover(7).view().fingerprint();
        assert_ne!(same, moved, "a slot less");
        let readdressed = Fixture::healthy(3, 1)
            .with(0, |n| n.port += 1)
            .view()
            .fingerprint();
        assert_eq!(
            same, readdressed,
            "a node at another address plans the same"
        );
    }

    use super::*;

    #[test]
    fn info_text_parses_into_fields_and_keys() {
        let info = InfoFields::parse(
            "# Server\r\nredis_version:7.0.15\r\n\r\n# Keyspace\r\ndb0:keys=42,expires=0,avg_ttl=0\r\n",
        );
        assert_eq!(info.get("redis_version"), Some("7.0.15"));
        let report = NodeReport {
            endpoint: Endpoint::new("127.0.0.1", 7000),
            route: "direct TCP".into(),
            nodes: vec![],
            cluster_info: InfoFields::default(),
            info,
        };
        assert_eq!(report.keys(), 42);
        assert_eq!(report.cluster_state(), "unknown");
    }

    #[test]
    fn keys_count_every_database_a_valkey_node_has() {
        let info = InfoFields::parse(
            "# Keyspace\r\ndb0:keys=10,expires=0,avg_ttl=0\r\ndb3:keys=5,expires=1,avg_ttl=0\r\ndbx:keys=99\r\n",
        );
        let report = NodeReport {
            endpoint: Endpoint::new("127.0.0.1", 7000),
            route: "direct TCP".into(),
            nodes: vec![],
            cluster_info: InfoFields::default(),
            info,
        };
        assert_eq!(report.keys(), 15);
    }
}
