//! Test builders for cluster views: start from a healthy cluster and break it one way at a
//! time, e.g. `Fixture::healthy(3, 1).uncover(100).view()`.

use super::endpoint::Endpoint;
use super::node_line::{Flags, LinkState, NodeAddr, NodeId, NodeLine};
use super::slots::{SLOT_COUNT, SlotRange, SlotSet};
use super::view::{ClusterView, InfoFields, NodeReport, Unreachable};

/// One node of a fixture cluster.
#[derive(Clone, Debug)]
pub struct FixtureNode {
    /// Node id.
    pub id: NodeId,
    /// Client address.
    pub ip: String,
    /// Client port.
    pub port: u16,
    /// Index of its master, for a replica.
    pub master: Option<usize>,
    /// Slots it serves.
    pub slots: SlotSet,
    /// Config epoch.
    pub epoch: u64,
    /// `[slot->-id]` markers.
    pub migrating: Vec<(u16, usize)>,
    /// `[slot-<-id]` markers.
    pub importing: Vec<(u16, usize)>,
    /// `cluster_state`.
    pub state: &'static str,
    /// Replica link up.
    pub in_sync: bool,
    /// Keys held.
    pub keys: u64,
    /// Answers at all.
    pub reachable: bool,
    /// Which other nodes it does not know (by index).
    pub unknown: Vec<usize>,
    /// Peers it flags as failing (by index).
    pub sees_failed: Vec<usize>,
    /// Peers it still lists as masters whatever they say (by index): gossip of a REPLICATE
    /// has not reached it.
    pub sees_as_master: Vec<usize>,
    /// The `INFO server` fields naming its release.
    pub server: &'static str,
}

/// A cluster description that renders into a [`ClusterView`].
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The nodes, masters first.
    pub nodes: Vec<FixtureNode>,
}

/// A recognisable 40-character id for node `i`: `0{i}aaaa…`.
pub fn fixture_id(i: usize) -> NodeId {
    NodeId(format!("{i:02x}{}", "a".repeat(38)))
}

impl Fixture {
    /// `masters` masters with an even slot split, each with `replicas` replicas; node `i`
    /// listens on 127.0.0.1:7000+i.
    pub fn healthy(masters: usize, replicas: usize) -> Self {
        let total = masters * (1 + replicas);
        let mut nodes: Vec<FixtureNode> = (0..total).map(Self::node).collect();
        for (m, node) in nodes.iter_mut().take(masters).enumerate() {
            let start = m * usize::from(SLOT_COUNT) / masters;
            let end = (m + 1) * usize::from(SLOT_COUNT) / masters - 1;
            node.slots = SlotSet::from_range(SlotRange {
                start: start as u16,
                end: end as u16,
            });
            node.epoch = m as u64 + 1;
        }
        for (r, node) in nodes.iter_mut().enumerate().skip(masters) {
            node.master = Some((r - masters) % masters);
        }
        Self { nodes }
    }

    /// `n` fresh nodes: masters without slots, each knowing only itself.
    pub fn fresh(n: usize) -> Self {
        let nodes = (0..n)
            .map(|i| FixtureNode {
                unknown: (0..n).filter(|j| *j != i).collect(),
                ..Self::node(i)
            })
            .collect();
        Self { nodes }
    }

    /// A fresh node `i`: master, no slots, knows only itself.
    fn node(i: usize) -> FixtureNode {
        FixtureNode {
            id: fixture_id(i),
            ip: "127.0.0.1".into(),
            port: 7000 + i as u16,
            master: None,
            slots: SlotSet::new(),
            epoch: 0,
            migrating: vec![],
            importing: vec![],
            state: "ok",
            in_sync: true,
            keys: 0,
            reachable: true,
            unknown: vec![],
            sees_failed: vec![],
            sees_as_master: vec![],
            server: "redis_version:7.0.15",
        }
    }

    /// Adds an empty master that every node knows.
    pub fn with_empty_master(mut self) -> Self {
        let i = self.nodes.len();
        self.nodes.push(Self::node(i));
        self
    }

    /// Applies `f` to node `i`.
    pub fn with(mut self, i: usize, f: impl FnOnce(&mut FixtureNode)) -> Self {
        f(&mut self.nodes[i]);
        self
    }

    /// Removes `slot` from whichever master serves it.
    pub fn uncover(mut self, slot: u16) -> Self {
        for n in &mut self.nodes {
            n.slots.remove(slot);
        }
        self
    }

    /// Renders every node's reports. Each node's `CLUSTER NODES` shows all others as it would.
    pub fn view(&self) -> ClusterView {
        let mut view = ClusterView::default();
        for (i, me) in self.nodes.iter().enumerate() {
            let endpoint = Endpoint::new(me.ip.clone(), me.port);
            if !me.reachable {
                view.unreachable.push(Unreachable {
                    endpoint,
                    id: Some(me.id.clone()),
                    error: "Connection refused".into(),
                });
                continue;
            }
            let nodes = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(j, _)| *j == i || !me.unknown.contains(j))
                .map(|(j, n)| {
                    let mut line = self.line(n, i == j, me.sees_failed.contains(&j));
                    if me.sees_as_master.contains(&j) {
                        line.flags.master = true;
                        line.flags.replica = false;
                        line.master_id = None;
                    }
                    line
                })
                .collect();
            let mut info = format!(
                "{}\r\ncluster_enabled:1\r\nused_memory:1000000\r\ndb0:keys={},expires=0\r\n",
                me.server, me.keys
            );
            if me.master.is_some() {
                let link = if me.in_sync { "up" } else { "down" };
                info.push_str(&format!(
                    "role:slave\r\nmaster_link_status:{link}\r\nmaster_sync_in_progress:0\r\n"
                ));
            }
            view.reports.push(NodeReport {
                endpoint,
                route: "direct TCP".into(),
                nodes,
                cluster_info: InfoFields::parse(&format!("cluster_state:{}\r\n", me.state)),
                info: InfoFields::parse(&info),
            });
        }
        view
    }

    /// The `CLUSTER NODES` line for node `n`, as seen by a node (`myself` when it is itself).
    fn line(&self, n: &FixtureNode, myself: bool, failed: bool) -> NodeLine {
        let id_of = |k: usize| self.nodes[k].id.clone();
        NodeLine {
            id: n.id.clone(),
            addr: NodeAddr {
                ip: n.ip.clone(),
                port: n.port,
                cport: n.port + 10000,
                hostname: None,
            },
            flags: Flags {
                myself,
                master: n.master.is_none(),
                replica: n.master.is_some(),
                fail: failed,
                ..Flags::default()
            },
            master_id: n.master.map(id_of),
            ping_sent: 0,
            pong_recv: 0,
            config_epoch: n.epoch,
            link: if failed {
                LinkState::Disconnected
            } else {
                LinkState::Connected
            },
            slots: if n.master.is_none() {
                n.slots.clone()
            } else {
                SlotSet::new()
            },
            migrating: if myself {
                n.migrating.iter().map(|(s, k)| (*s, id_of(*k))).collect()
            } else {
                vec![]
            },
            importing: if myself {
                n.importing.iter().map(|(s, k)| (*s, id_of(*k))).collect()
            } else {
                vec![]
            },
        }
    }
}
