//! The `status` report: one row per node (masters in slot order, each followed by its
//! replicas), the problems under it, and the same as JSON for `-o json`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use owo_colors::{OwoColorize, Style};
use serde::Serialize;

use crate::plan::replicas::Exposure;

use super::styles::Styles;
use super::table::Table;
use crate::k8s::membership::PodNames;
use crate::topology::health::Problem;
use crate::topology::{ClusterView, Engine, NodeId, NodeLine, SlotSet};

/// `-o json` output of `status`. Stable: scripts read it.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// No problems found.
    pub healthy: bool,
    /// Every node any node knows.
    pub nodes: Vec<NodeRow>,
    /// What is wrong, each naming its node.
    pub problems: Vec<Problem>,
    /// Each release the reachable nodes run, with how many run it; more than one while a
    /// rolling upgrade is under way (a warning, not a problem).
    pub engines: Vec<EngineCount>,
    /// What the plugin found and relies on, beyond the releases.
    pub setup: Setup,
    /// Shards one failure domain (Kubernetes node, or zone) holds entirely: a warning, not a
    /// problem (Kubernetes mode, pods over more than one domain).
    pub exposed: Vec<Exposure>,
}

/// What the plugin found about how the nodes are set up (the pre-flight of a cluster it did
/// not deploy).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Setup {
    /// Reachable nodes.
    pub nodes: usize,
    /// Of them, those writing an append-only file (the others keep at most RDB snapshots).
    pub aof_nodes: usize,
    /// The distinct cluster bus ports, each as its offset from the node's client port
    /// (10000 by default; another when `cluster-port` is set).
    pub bus_port_offsets: Vec<i64>,
    /// Of them, those announcing a hostname (`cluster-announce-hostname`).
    pub hostname_nodes: usize,
    /// Where the password came from, `None` without one.
    pub password: Option<String>,
    /// Where the TLS material came from (`secret NS/NAME, found from the StatefulSet's volume
    /// tls at /tls`, `secret NS/NAME, named by --tls-secret`, `--cacert FILE`), `None` when
    /// the nodes are reached in plain text.
    pub tls: Option<String>,
}

/// A release and how many nodes run it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct EngineCount {
    /// Redis or Valkey, and the version.
    #[serde(flatten)]
    pub engine: Engine,
    /// Nodes running it.
    pub nodes: usize,
}

impl StatusReport {
    /// Whether the nodes run more than one release.
    pub fn mixed_versions(&self) -> bool {
        self.engines.len() > 1
    }
}

/// One node in the report.
#[derive(Debug, Serialize)]
pub struct NodeRow {
    /// Node id.
    pub id: NodeId,
    /// Pod name (Kubernetes mode) when known.
    pub pod: Option<String>,
    /// Kubernetes node of the pod when known.
    pub k8s_node: Option<String>,
    /// `ip:port`.
    pub endpoint: String,
    /// The hostname it announces (`cluster-announce-hostname`), if any.
    pub hostname: Option<String>,
    /// `master`, `replica`, or `unknown` when unreachable and unflagged.
    pub role: &'static str,
    /// The master's id, for a replica.
    pub master: Option<NodeId>,
    /// Slots served, as `[start, end]` pairs.
    pub slots: SlotSet,
    /// Number of slots served.
    pub slot_count: usize,
    /// Keys held (absent when unreachable).
    pub keys: Option<u64>,
    /// `used_memory` in bytes (absent when unreachable).
    pub used_memory: Option<u64>,
    /// The server and its release (absent when unreachable).
    pub engine: Option<Engine>,
    /// `ok`/`fail` from the node itself, or `unreachable`.
    pub state: String,
    /// `fail`, `fail?`, `handshake` or `noaddr` when any node flags it so.
    pub flagged: Option<&'static str>,
}

/// Builds the report from a view and its problems; `password` and `tls` say where the
/// password and the TLS material came from, if any.
pub fn build(
    view: &ClusterView,
    problems: Vec<Problem>,
    pods: &PodNames,
    password: Option<String>,
    tls: Option<String>,
) -> StatusReport {
    let known = view.known_nodes();
    let mut rows: Vec<NodeRow> = known.values().map(|line| row(view, line, pods)).collect();
    order_rows(&mut rows);
    let mut counts: BTreeMap<Engine, usize> = BTreeMap::new();
    for engine in view.reports.iter().filter_map(|r| r.engine()) {
        *counts.entry(engine).or_default() += 1;
    }
    StatusReport {
        exposed: Vec::new(),
        healthy: problems.is_empty(),
        nodes: rows,
        problems,
        engines: counts
            .into_iter()
            .map(|(engine, nodes)| EngineCount { engine, nodes })
            .collect(),
        setup: Setup {
            nodes: view.reports.len(),
            aof_nodes: view.reports.iter().filter(|r| r.aof_enabled()).count(),
            bus_port_offsets: view
                .reports
                .iter()
                .map(|r| {
                    let me = &r.myself().addr;
                    i64::from(me.cport) - i64::from(me.port)
                })
                .filter(|offset| *offset > 0)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
            hostname_nodes: view
                .reports
                .iter()
                .filter(|r| r.myself().addr.hostname.is_some())
                .count(),
            password,
            tls,
        },
    }
}

/// One row, preferring the node's own report and falling back to what peers say.
fn row(view: &ClusterView, line: &NodeLine, pods: &PodNames) -> NodeRow {
    let report = view.report(&line.id);
    let flagged = view
        .reports
        .iter()
        .flat_map(|r| r.nodes.iter())
        .filter(|l| l.id == line.id && !l.flags.myself)
        .find_map(NodeLine::is_flagged);
    let (pod, k8s_node) = pods
        .get(&line.id)
        .map(|(p, n)| (Some(p.clone()), n.clone()))
        .unwrap_or_default();
    NodeRow {
        id: line.id.clone(),
        pod,
        k8s_node,
        endpoint: report.map_or_else(|| line.addr.endpoint(), |r| r.endpoint.to_string()),
        hostname: report.map_or_else(
            || line.addr.hostname.clone(),
            |r| r.myself().addr.hostname.clone(),
        ),
        role: if line.flags.master {
            "master"
        } else if line.flags.replica {
            "replica"
        } else {
            "unknown"
        },
        master: line.master_id.clone(),
        slot_count: line.slots.len(),
        slots: line.slots.clone(),
        keys: report.map(|r| r.keys()),
        used_memory: report.map(|r| r.used_memory()),
        engine: report.and_then(|r| r.engine()),
        state: report.map_or_else(|| "unreachable".into(), |r| r.cluster_state().to_string()),
        flagged,
    }
}

/// Masters by their first slot (empty masters last), each followed by its replicas.
fn order_rows(rows: &mut Vec<NodeRow>) {
    let first_slot = |r: &NodeRow| {
        r.slots
            .ranges()
            .first()
            .map_or(u32::MAX, |s| u32::from(s.start))
    };
    let mut masters: Vec<NodeRow> = Vec::new();
    let mut others: Vec<NodeRow> = Vec::new();
    for r in rows.drain(..) {
        if r.role == "master" {
            masters.push(r);
        } else {
            others.push(r);
        }
    }
    masters.sort_by_key(|r| (first_slot(r), r.endpoint.clone()));
    others.sort_by_key(|r| r.endpoint.clone());
    for m in masters {
        let id = m.id.clone();
        rows.push(m);
        let (mine, rest): (Vec<NodeRow>, Vec<NodeRow>) = others
            .drain(..)
            .partition(|r| r.master.as_ref() == Some(&id));
        rows.extend(mine);
        others = rest;
    }
    rows.extend(others);
}

/// Writes the human report: the table, then a verdict and each problem.
pub fn write_table(report: &StatusReport, styles: &Styles, out: &mut dyn Write) -> io::Result<()> {
    let with_pods = report.nodes.iter().any(|n| n.pod.is_some());
    let mut headers = Vec::new();
    if with_pods {
        headers.extend(["POD", "K8S-NODE"]);
    }
    headers.extend([
        "ID", "ADDRESS", "ROLE", "MASTER", "SLOTS", "KEYS", "MEMORY", "STATE",
    ]);
    let mut table = Table::new(headers);
    let plain = Style::new();
    let by_id: BTreeMap<&NodeId, &NodeRow> = report.nodes.iter().map(|n| (&n.id, n)).collect();
    for n in &report.nodes {
        let mut cells = Vec::new();
        if with_pods {
            cells.push((n.pod.clone().unwrap_or_else(|| "-".into()), styles.bold));
            cells.push((n.k8s_node.clone().unwrap_or_else(|| "-".into()), plain));
        }
        let master = n.master.as_ref().map_or_else(
            || "-".to_string(),
            |m| {
                by_id
                    .get(m)
                    .and_then(|row| row.pod.clone())
                    .unwrap_or_else(|| m.short().to_string())
            },
        );
        let (state, state_style) = match (n.flagged, n.state.as_str()) {
            (Some(flag), _) => (flag.to_string(), styles.error),
            (None, "ok") => ("ok".to_string(), styles.ok),
            (None, other) => (other.to_string(), styles.error),
        };
        cells.extend([
            (n.id.short().to_string(), styles.dim),
            (n.endpoint.clone(), plain),
            (n.role.to_string(), plain),
            (master, plain),
            (slots_cell(&n.slots), plain),
            (n.keys.map_or_else(|| "-".into(), |k| k.to_string()), plain),
            (n.used_memory.map_or_else(|| "-".into(), human_bytes), plain),
            (state, state_style),
        ]);
        table.row(cells);
    }
    table.write(out, styles.bold)?;
    writeln!(out)?;
    write_setup(&report.setup, out)?;
    match report.engines.as_slice() {
        [] => {}
        [one] => writeln!(out, "{} node(s) run {}", one.nodes, one.engine)?,
        several => {
            let list = several
                .iter()
                .map(|e| format!("{} on {} node(s)", e.engine, e.nodes))
                .collect::<Vec<_>>()
                .join(", ");
            writeln!(
                out,
                "{}",
                format!(
                    "warning: mixed releases ({list}); finish the upgrade before changing the cluster"
                )
                .style(styles.warn)
            )?;
        }
    }
    for e in &report.exposed {
        writeln!(
            out,
            "{}",
            format!(
                "warning: the shard of {} and its replica(s) {} all run in {}: draining or losing it takes the shard down (`rebalance-replicas` spreads them)",
                e.master,
                e.replicas.join(", "),
                e.domain
            )
            .style(styles.warn)
        )?;
    }
    if report.healthy {
        writeln!(out, "{}", "cluster is healthy".style(styles.ok))?;
    } else {
        writeln!(
            out,
            "{}",
            format!("{} problem(s):", report.problems.len()).style(styles.error)
        )?;
        for p in &report.problems {
            writeln!(out, "  - {p}")?;
        }
    }
    Ok(())
}

/// One line on persistence, the bus port, the password and TLS.
fn write_setup(setup: &Setup, out: &mut dyn Write) -> io::Result<()> {
    let Setup {
        nodes,
        aof_nodes,
        bus_port_offsets,
        hostname_nodes,
        password,
        tls,
    } = setup;
    if *nodes == 0 {
        return Ok(());
    }
    let aof = match *aof_nodes {
        0 => "AOF off (RDB snapshots at most)".to_string(),
        n if n == *nodes => "AOF on".to_string(),
        n => format!("AOF on {n} of {nodes} node(s)"),
    };
    let bus = match bus_port_offsets.as_slice() {
        [offset] => format!("bus port = client port + {offset}"),
        [] => "bus port unknown".to_string(),
        several => format!(
            "bus ports at client port + {}",
            several
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", +")
        ),
    };
    let password = password.as_deref().map_or_else(
        || "no password".to_string(),
        |p| format!("password from {p}"),
    );
    let tls = tls
        .as_deref()
        .map_or_else(|| "no TLS".to_string(), |t| format!("TLS from {t}"));
    let names = match *hostname_nodes {
        0 => String::new(),
        n if n == *nodes => "; every node announces a hostname".to_string(),
        n => format!("; {n} of {nodes} node(s) announce a hostname"),
    };
    writeln!(out, "{aof}; {bus}; {password}; {tls}{names}")
}

/// `5461 (0-5460)`; long range lists are cut after three ranges.
fn slots_cell(slots: &SlotSet) -> String {
    let ranges = slots.ranges();
    if ranges.is_empty() {
        return "0".into();
    }
    let shown: Vec<String> = ranges.iter().take(3).map(ToString::to_string).collect();
    let more = if ranges.len() > 3 {
        format!(" +{} ranges", ranges.len() - 3)
    } else {
        String::new()
    };
    format!("{} ({}{more})", slots.len(), shown.join(" "))
}

/// `1.5MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::fixtures::Fixture;
    use crate::topology::health::check;

    #[test]
    fn a_healthy_cluster_renders_masters_then_their_replicas() {
        let view = Fixture::healthy(3, 1).view();
        let report = build(&view, check(&view, Some(1)), &PodNames::new(), None, None);
        let mut out = Vec::new();
        write_table(&report, &Styles::default(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID "), "{text}");
        assert!(lines[1].contains("127.0.0.1:7000") && lines[1].contains("5461 (0-5460)"));
        assert!(lines[2].contains("127.0.0.1:7003") && lines[2].contains("replica"));
        assert!(lines[3].contains("127.0.0.1:7001"));
        assert_eq!(lines.last(), Some(&"cluster is healthy"));
        assert!(text.contains("6 node(s) run redis 7.0.15"), "{text}");
        assert!(
            text.contains(
                "AOF off (RDB snapshots at most); bus port = client port + 10000; no password; no TLS"
            ),
            "{text}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["nodes"][0]["engine"],
            serde_json::json!({"kind": "redis", "version": "7.0.15"})
        );
    }

    #[test]
    fn the_setup_line_and_json_say_where_the_password_and_tls_came_from() {
        let view = Fixture::healthy(3, 1).view();
        let report = build(
            &view,
            check(&view, Some(1)),
            &PodNames::new(),
            Some("secret shop/auth key password, named by the StatefulSet's env".into()),
            Some(
                "secret shop/redis-cluster-tls, found from the StatefulSet's volume tls at /tls"
                    .into(),
            ),
        );
        let mut out = Vec::new();
        write_table(&report, &Styles::default(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "; password from secret shop/auth key password, named by the StatefulSet's env; TLS from secret shop/redis-cluster-tls, found from the StatefulSet's volume tls at /tls\n"
            ),
            "{text}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["setup"]["tls"],
            "secret shop/redis-cluster-tls, found from the StatefulSet's volume tls at /tls"
        );
        let plain =
            serde_json::to_value(build(&view, vec![], &PodNames::new(), None, None)).unwrap();
        assert_eq!(plain["setup"]["tls"], serde_json::Value::Null);
    }

    #[test]
    fn nodes_on_different_releases_get_a_warning_not_a_problem() {
        let view = Fixture::healthy(3, 1)
            .with(4, |n| {
                n.server = "server_name:valkey\r\nvalkey_version:8.1.8"
            })
            .with(5, |n| {
                n.server = "server_name:valkey\r\nvalkey_version:8.1.8"
            })
            .view();
        let report = build(&view, check(&view, Some(1)), &PodNames::new(), None, None);
        assert!(report.healthy && report.mixed_versions());
        let mut out = Vec::new();
        write_table(&report, &Styles::default(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "warning: mixed releases (redis 7.0.15 on 4 node(s), valkey 8.1.8 on 2 node(s))"
            ),
            "{text}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["engines"],
            serde_json::json!([
                {"kind": "redis", "version": "7.0.15", "nodes": 4},
                {"kind": "valkey", "version": "8.1.8", "nodes": 2},
            ])
        );
    }

    #[test]
    fn an_unreachable_node_shows_as_such_with_its_problem() {
        let view = Fixture::healthy(3, 1)
            .with(2, |n| n.reachable = false)
            .with(0, |n| n.sees_failed = vec![2])
            .view();
        let report = build(&view, check(&view, Some(1)), &PodNames::new(), None, None);
        assert!(!report.healthy);
        let row = report
            .nodes
            .iter()
            .find(|n| n.endpoint == "127.0.0.1:7002")
            .unwrap();
        assert_eq!(
            (row.state.as_str(), row.flagged),
            ("unreachable", Some("fail"))
        );
        assert_eq!(row.keys, None);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["healthy"], false);
        assert_eq!(json["problems"][0]["kind"], "unreachable");
    }

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.5KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0MiB");
    }
}
