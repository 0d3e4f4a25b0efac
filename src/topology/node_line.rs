//! Parsing of `CLUSTER NODES` output: one [`NodeLine`] per line, exactly as one node sees it.

use std::fmt;

use super::slots::{SlotRange, SlotSet, parse_slot};

/// A 40-character Redis Cluster node id.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl NodeId {
    /// The first 8 characters, the way people quote node ids.
    pub fn short(&self) -> &str {
        self.0.get(..8).unwrap_or(&self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a node listens: client port, cluster-bus port and the announced hostname if any.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct NodeAddr {
    /// IP address (never a name: Redis gossips IPs).
    pub ip: String,
    /// Client port.
    pub port: u16,
    /// Cluster bus port.
    pub cport: u16,
    /// `cluster-announce-hostname`, when set.
    pub hostname: Option<String>,
}

impl NodeAddr {
    /// Whether the ip is known.
    pub fn is_known(&self) -> bool {
        !self.ip.is_empty()
    }

    /// `ip:port`, the form users and `redis-cli` use.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// The flags column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Flags {
    /// This line describes the node that answered.
    pub myself: bool,
    /// A master.
    pub master: bool,
    /// A replica (`slave`).
    pub replica: bool,
    /// `fail?`: unreachable in the reporter's opinion.
    pub pfail: bool,
    /// `fail`: the majority agreed the node is down.
    pub fail: bool,
    /// Still being met.
    pub handshake: bool,
    /// No known address.
    pub noaddr: bool,
    /// Replica that never fails over.
    pub nofailover: bool,
}

impl fmt::Display for Flags {
    /// Comma-separated, the way `CLUSTER NODES` prints them (`myself,master`, `handshake`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.myself, "myself"),
            (self.master, "master"),
            (self.replica, "slave"),
            (self.pfail, "fail?"),
            (self.fail, "fail"),
            (self.handshake, "handshake"),
            (self.noaddr, "noaddr"),
            (self.nofailover, "nofailover"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        if names.is_empty() {
            f.write_str("noflags")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// State of the reporter's cluster-bus link to the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Link up.
    Connected,
    /// Link down.
    Disconnected,
}

/// One line of `CLUSTER NODES`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeLine {
    /// Node id.
    pub id: NodeId,
    /// Address. The ip is empty when unknown: `noaddr` entries (`:0@0`), and a fresh node's
    /// own line before it has met anyone (`:7000@17000`), which still tells the ports.
    pub addr: NodeAddr,
    /// Flags.
    pub flags: Flags,
    /// For a replica, the id of its master.
    pub master_id: Option<NodeId>,
    /// Millisecond timestamp of the last unanswered ping, 0 if none.
    pub ping_sent: u64,
    /// Millisecond timestamp of the last pong.
    pub pong_recv: u64,
    /// The node's config epoch.
    pub config_epoch: u64,
    /// Bus link state.
    pub link: LinkState,
    /// Slots the node serves.
    pub slots: SlotSet,
    /// `[slot->-id]`: slots this node is migrating, and to whom. Only on the `myself` line.
    pub migrating: Vec<(u16, NodeId)>,
    /// `[slot-<-id]`: slots this node is importing, and from whom. Only on the `myself` line.
    pub importing: Vec<(u16, NodeId)>,
}

/// Why a `CLUSTER NODES` line could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot parse CLUSTER NODES line `{line}`: {reason}")]
pub struct NodeLineError {
    /// The offending line.
    pub line: String,
    /// What was wrong with it.
    pub reason: String,
}

impl NodeLine {
    /// Parses one line.
    pub fn parse(line: &str) -> Result<Self, NodeLineError> {
        let fail = |reason: String| NodeLineError {
            line: line.to_string(),
            reason,
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            return Err(fail(format!(
                "expected at least 8 fields, found {}",
                fields.len()
            )));
        }
        let number = |i: usize, what: &str| -> Result<u64, NodeLineError> {
            fields[i]
                .parse()
                .map_err(|_| fail(format!("{what} `{}` is not a number", fields[i])))
        };
        let flags = parse_flags(fields[2]).map_err(fail)?;
        let (slots, migrating, importing) = parse_slots(&fields[8..]).map_err(fail)?;
        Ok(Self {
            id: NodeId(fields[0].to_string()),
            addr: parse_addr(fields[1]).map_err(fail)?,
            flags,
            master_id: (fields[3] != "-").then(|| NodeId(fields[3].to_string())),
            ping_sent: number(4, "ping-sent")?,
            pong_recv: number(5, "pong-recv")?,
            config_epoch: number(6, "config-epoch")?,
            link: match fields[7] {
                "connected" => LinkState::Connected,
                "disconnected" => LinkState::Disconnected,
                other => return Err(fail(format!("unknown link state `{other}`"))),
            },
            slots,
            migrating,
            importing,
        })
    }

    /// Whether the line describes a healthy-looking peer: no fail, pfail, handshake or noaddr.
    pub fn is_flagged(&self) -> Option<&'static str> {
        let f = &self.flags;
        [
            (f.fail, "fail"),
            (f.pfail, "fail?"),
            (f.handshake, "handshake"),
            (f.noaddr, "noaddr"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
    }
}

/// Parses all lines of a `CLUSTER NODES` reply.
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<NodeLine>, NodeLineError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(NodeLine::parse)
        .collect()
}

/// Parses `ip:port@cport[,hostname]`; the ip may be empty (`:0@0`, or a fresh node's own line).
fn parse_addr(field: &str) -> Result<NodeAddr, String> {
    let (addr, hostname) = match field.split_once(',') {
        Some((a, h)) => (a, (!h.is_empty()).then(|| h.to_string())),
        None => (field, None),
    };
    let (ip_port, cport) = addr
        .split_once('@')
        .ok_or_else(|| format!("address `{field}` has no @cport"))?;
    // IPv6 addresses contain colons; the port is after the last one.
    let (ip, port) = ip_port
        .rsplit_once(':')
        .ok_or_else(|| format!("address `{field}` has no port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port in `{field}` is not a number"))?;
    let cport: u16 = cport
        .parse()
        .map_err(|_| format!("bus port in `{field}` is not a number"))?;
    Ok(NodeAddr {
        ip: ip.trim_start_matches('[').trim_end_matches(']').to_string(),
        port,
        cport,
        hostname,
    })
}

/// Parses the comma-separated flags column.
fn parse_flags(field: &str) -> Result<Flags, String> {
    let mut flags = Flags::default();
    for flag in field.split(',') {
        match flag {
            "myself" => flags.myself = true,
            "master" => flags.master = true,
            "slave" => flags.replica = true,
            "fail?" => flags.pfail = true,
            "fail" => flags.fail = true,
            "handshake" => flags.handshake = true,
            "noaddr" => flags.noaddr = true,
            "nofailover" => flags.nofailover = true,
            "noflags" => {}
            other => return Err(format!("unknown flag `{other}`")),
        }
    }
    Ok(flags)
}

/// Slot ranges plus the `[slot->-id]` (migrating) and `[slot-<-id]` (importing) markers.
type ParsedSlots = (SlotSet, Vec<(u16, NodeId)>, Vec<(u16, NodeId)>);

/// Parses the slot columns.
fn parse_slots(fields: &[&str]) -> Result<ParsedSlots, String> {
    let mut slots = SlotSet::new();
    let (mut migrating, mut importing) = (Vec::new(), Vec::new());
    for field in fields {
        if let Some(mark) = field.strip_prefix('[').and_then(|f| f.strip_suffix(']')) {
            if let Some((slot, id)) = mark.split_once("->-") {
                migrating.push((
                    parse_slot(slot).map_err(|e| e.to_string())?,
                    NodeId(id.into()),
                ));
            } else if let Some((slot, id)) = mark.split_once("-<-") {
                importing.push((
                    parse_slot(slot).map_err(|e| e.to_string())?,
                    NodeId(id.into()),
                ));
            } else {
                return Err(format!("unknown slot marker `{field}`"));
            }
        } else {
            slots.insert_range(SlotRange::parse(field).map_err(|e| e.to_string())?);
        }
    }
    Ok((slots, migrating, importing))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from a Redis 7.0.15 cluster with a slot being migrated from the first node.
    const MYSELF_MIGRATING: &str = "9d4ba2ec6bd8b5e7d5f9bc43a4a4a4c7f2f6a2c1 127.0.0.1:7000@17000 myself,master - 0 1700000000000 1 connected 0-5460 [5461->-e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca]";

    #[test]
    fn a_master_line_with_a_migrating_slot_parses() {
        let line = NodeLine::parse(MYSELF_MIGRATING).unwrap();
        assert_eq!(line.id.short(), "9d4ba2ec");
        let addr = line.addr;
        assert_eq!(
            (addr.ip.as_str(), addr.port, addr.cport),
            ("127.0.0.1", 7000, 17000)
        );
        assert!(line.flags.myself && line.flags.master && !line.flags.replica);
        assert_eq!(line.master_id, None);
        assert_eq!(line.config_epoch, 1);
        assert_eq!(line.slots.to_string(), "0-5460");
        assert_eq!(
            line.migrating,
            vec![(
                5461,
                NodeId("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca".into())
            )]
        );
        assert!(line.importing.is_empty());
    }

    #[test]
    fn an_importing_marker_names_the_source() {
        let line = NodeLine::parse("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:7001@17001 myself,master - 0 0 2 connected 5462-10922 [5461-<-9d4ba2ec6bd8b5e7d5f9bc43a4a4a4c7f2f6a2c1]").unwrap();
        assert_eq!(line.importing[0].0, 5461);
        assert_eq!(line.importing[0].1.short(), "9d4ba2ec");
    }

    #[test]
    fn a_failed_replica_line_parses_with_its_master() {
        let line = NodeLine::parse("292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.1.0.4:6379@16379,redis-cluster-3 slave,fail 9d4ba2ec6bd8b5e7d5f9bc43a4a4a4c7f2f6a2c1 1700000000100 1700000000000 1 disconnected").unwrap();
        assert!(line.flags.replica && line.flags.fail);
        assert_eq!(line.is_flagged(), Some("fail"));
        assert_eq!(line.master_id.unwrap().short(), "9d4ba2ec");
        assert_eq!(line.link, LinkState::Disconnected);
        assert_eq!(line.addr.hostname.as_deref(), Some("redis-cluster-3"));
        assert!(line.slots.is_empty());
    }

    #[test]
    fn noaddr_and_handshake_and_pfail_flags_are_recognised() {
        let noaddr = NodeLine::parse("aaaa :0@0 master,fail?,noaddr - 1 2 0 disconnected").unwrap();
        assert!(!noaddr.addr.is_known());
        assert!(noaddr.flags.noaddr && noaddr.flags.pfail);
        assert_eq!(noaddr.is_flagged(), Some("fail?"));
        let hs = NodeLine::parse("bbbb 127.0.0.1:7005@17005 handshake - 0 0 0 connected").unwrap();
        assert_eq!(hs.is_flagged(), Some("handshake"));
        let nf = NodeLine::parse("cccc 127.0.0.1:7005@17005 slave,nofailover dddd 0 0 0 connected")
            .unwrap();
        assert!(nf.flags.nofailover);
    }

    #[test]
    fn a_fresh_nodes_own_line_has_no_ip_but_keeps_its_ports() {
        let line = NodeLine::parse("aaaa :7003@17003 myself,master - 0 0 0 connected").unwrap();
        assert!(!line.addr.is_known());
        assert_eq!((line.addr.port, line.addr.cport), (7003, 17003));
    }

    #[test]
    fn an_empty_hostname_after_the_comma_means_none() {
        let line = NodeLine::parse("aaaa 10.0.0.1:6379@16379, master - 0 0 0 connected").unwrap();
        assert_eq!(line.addr.hostname, None);
    }

    #[test]
    fn ipv6_addresses_keep_their_colons() {
        let line = NodeLine::parse("aaaa ::1:6379@16379 master - 0 0 0 connected 1 3-4").unwrap();
        let addr = line.addr;
        assert_eq!((addr.ip.as_str(), addr.port), ("::1", 6379));
        assert_eq!(line.slots.to_string(), "1 3-4");
    }

    #[test]
    fn malformed_lines_are_rejected_with_the_reason() {
        let err = NodeLine::parse("aaaa 127.0.0.1:7000@17000 master").unwrap_err();
        assert!(err.reason.contains("at least 8 fields"), "{err}");
        let err = NodeLine::parse("aaaa 127.0.0.1:7000@17000 master,weird - 0 0 0 connected")
            .unwrap_err();
        assert!(err.reason.contains("unknown flag `weird`"), "{err}");
        let err = NodeLine::parse("aaaa 127.0.0.1:7000@17000 master - 0 0 0 connected 16384")
            .unwrap_err();
        assert!(err.reason.contains("out of range"), "{err}");
    }

    #[test]
    fn a_whole_reply_parses_line_by_line() {
        let text = format!(
            "{MYSELF_MIGRATING}\ne7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:7001@17001 master - 0 1700000000000 2 connected 5461-10922\n"
        );
        let lines = parse_cluster_nodes(&text).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].flags.myself);
        assert_eq!(lines[1].slots.len(), 5462);
    }
}
