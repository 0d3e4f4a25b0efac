//! The proxy's nodes: one local listener per cluster node, kept in step with the cluster.
//! A listener belongs to a node id, not an address, so it survives its pod coming back at a
//! new IP; each client connection is tunnelled to wherever the node is now.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::relay::relay;
use crate::redis::{Connector, Pool};
use crate::topology::Endpoint;
use crate::topology::node_line::{NodeId, NodeLine, parse_cluster_nodes};

/// Where the proxy listens.
#[derive(Clone)]
pub struct Listen {
    /// The local address (loopback unless the user asks otherwise).
    pub address: IpAddr,
    /// The first node's port; the others follow it.
    pub first_port: u16,
    /// TLS on the local side, when asked for.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Names a node's pod (Kubernetes mode): its name and ordinal, which picks its port.
pub trait Naming: Send + Sync {
    /// The pod at `endpoint`, if one is.
    fn pod<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, Option<(String, u16)>>;
}

/// No pods: ports in the order nodes are found.
pub struct Unnamed;

impl Naming for Unnamed {
    fn pod<'a>(&'a self, _: &'a Endpoint) -> BoxFuture<'a, Option<(String, u16)>> {
        Box::pin(async { None })
    }
}

/// One node's listener, as reported.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeListener {
    /// The node.
    pub id: NodeId,
    /// Where clients reach it: `127.0.0.1:7000`.
    pub local: SocketAddr,
    /// Where the node is in the cluster now (`10.244.0.7:6379`).
    #[serde(serialize_with = "as_text")]
    pub endpoint: Endpoint,
    /// Its pod, in Kubernetes mode.
    pub pod: Option<String>,
    /// `master` or `replica`.
    pub role: &'static str,
}

/// `host:port`.
fn as_text<S: serde::Serializer>(endpoint: &Endpoint, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(endpoint)
}

/// What happened to the proxy's nodes.
#[derive(Debug)]
pub enum ProxyEvent {
    /// A node appeared and got a listener.
    Listening(NodeListener),
    /// A node is at another address now (its pod was recreated).
    Moved {
        /// The node as it is now.
        node: NodeListener,
        /// Where it was.
        from: Endpoint,
    },
    /// A node changed role (a failover).
    Role(NodeListener),
    /// A node left the cluster; its listener is closed.
    Gone(NodeListener),
    /// A client's connection to a node could not be opened.
    Unreachable {
        /// The node.
        node: NodeListener,
        /// Why.
        error: String,
    },
    /// The cluster could not be read (the proxy keeps its last view and tries again).
    Blind(String),
}

/// Why the proxy could not start or look at the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No node answered `CLUSTER NODES`.
    #[error("no node of the cluster answered CLUSTER NODES (last error: {0})")]
    NoAnswer(String),
    /// A listener could not be opened.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A node's traffic through the proxy, counted as it goes.
#[derive(Debug, Default)]
pub struct Traffic {
    clients: AtomicU64,
    commands: AtomicU64,
    to_node: AtomicU64,
    to_clients: AtomicU64,
}

/// A [`Traffic`] read at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrafficCount {
    /// Clients connected now.
    pub clients: u64,
    /// Commands sent so far.
    pub commands: u64,
    /// Bytes sent to the node.
    pub to_node: u64,
    /// Bytes sent to clients.
    pub to_clients: u64,
}

impl Traffic {
    pub(super) fn command(&self) {
        self.commands.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn sent(&self, bytes: usize) {
        self.to_node.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub(super) fn received(&self, bytes: usize) {
        self.to_clients.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    /// The counts now.
    pub fn count(&self) -> TrafficCount {
        TrafficCount {
            clients: self.clients.load(Ordering::Relaxed),
            commands: self.commands.load(Ordering::Relaxed),
            to_node: self.to_node.load(Ordering::Relaxed),
            to_clients: self.to_clients.load(Ordering::Relaxed),
        }
    }
}

struct Entry {
    node: NodeListener,
    hostname: Option<String>,
    traffic: Arc<Traffic>,
    accept: JoinHandle<()>,
}

/// The running proxy.
pub struct Proxy {
    /// For `CLUSTER NODES` (authenticated with the command's credentials).
    pool: Pool,
    /// For clients' streams (TLS when the cluster speaks it; clients AUTH themselves).
    connector: Arc<dyn Connector>,
    listen: Listen,
    naming: Box<dyn Naming>,
    seeds: Vec<Endpoint>,
    nodes: Mutex<BTreeMap<NodeId, Entry>>,
    /// Serialises looks at the cluster; counts them, so that a look waited for is not
    /// repeated.
    looks: tokio::sync::Mutex<u64>,
    events: mpsc::UnboundedSender<ProxyEvent>,
    /// Itself, for the tasks it spawns.
    me: Weak<Proxy>,
}

impl Proxy {
    /// A proxy for the cluster reached from `seeds`; nothing listens until [`Proxy::refresh`].
    pub fn new(
        pool: Pool,
        connector: Arc<dyn Connector>,
        listen: Listen,
        naming: Box<dyn Naming>,
        seeds: Vec<Endpoint>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<ProxyEvent>) {
        let (events, received) = mpsc::unbounded_channel();
        let proxy = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            pool,
            connector,
            listen,
            naming,
            seeds,
            nodes: Mutex::new(BTreeMap::new()),
            looks: tokio::sync::Mutex::new(0),
            events,
        });
        (proxy, received)
    }

    /// Every listener, by local port.
    pub fn listeners(&self) -> Vec<(NodeListener, TrafficCount)> {
        let mut all: Vec<_> = self
            .lock()
            .values()
            .map(|e| (e.node.clone(), e.traffic.count()))
            .collect();
        all.sort_by_key(|(n, _)| n.local.port());
        all
    }

    /// The listener of the node announced at `host:port`.
    pub fn local(&self, host: &str, port: u16) -> Option<(String, u16)> {
        self.lock()
            .values()
            .find(|e| {
                e.node.endpoint.port == port
                    && (e.node.endpoint.host == host || e.hostname.as_deref() == Some(host))
            })
            .map(|e| (e.node.local.ip().to_string(), e.node.local.port()))
    }

    /// Looks at the cluster again unless a look finished while this one waited its turn
    /// (a reply named a node the proxy does not know).
    pub async fn learn(&self) {
        let seen = *self.looks.lock().await;
        let mut looks = self.looks.lock().await;
        if *looks == seen {
            let _ = self.look().await;
            *looks += 1;
        }
    }

    /// Looks at the cluster: listeners for new nodes, addresses and roles brought up to
    /// date, listeners of nodes that left closed. The first look must open every listener.
    pub async fn refresh(&self) -> Result<(), ProxyError> {
        let mut looks = self.looks.lock().await;
        let result = self.look().await;
        *looks += 1;
        result
    }

    /// One look (boxed: its listeners serve clients whose replies can ask for a look).
    fn look(&self) -> BoxFuture<'_, Result<(), ProxyError>> {
        Box::pin(async move {
            let lines = match self.cluster_nodes().await {
                Ok(lines) => lines,
                Err(e) => {
                    let _ = self.events.send(ProxyEvent::Blind(e.to_string()));
                    return Err(e);
                }
            };
            let first = self.lock().is_empty();
            let present: HashSet<NodeId> = lines.iter().map(|l| l.id.clone()).collect();
            let gone: Vec<Entry> = {
                let mut nodes = self.lock();
                let ids: Vec<NodeId> = nodes
                    .keys()
                    .filter(|id| !present.contains(*id))
                    .cloned()
                    .collect();
                ids.iter().filter_map(|id| nodes.remove(id)).collect()
            };
            for entry in gone {
                entry.accept.abort();
                let _ = self.events.send(ProxyEvent::Gone(entry.node));
            }
            for line in lines {
                let endpoint = Endpoint::new(line.addr.ip.clone(), line.addr.port);
                let role = if line.flags.master {
                    "master"
                } else {
                    "replica"
                };
                let known = self.lock().get_mut(&line.id).map(|entry| {
                    let before = entry.node.clone();
                    entry.node.endpoint = endpoint.clone();
                    entry.node.role = role;
                    entry.hostname = line.addr.hostname.clone();
                    (before, entry.node.clone())
                });
                match known {
                    Some((before, now)) if before.endpoint != now.endpoint => {
                        self.connector.forget(&before.endpoint);
                        let _ = self.events.send(ProxyEvent::Moved {
                            node: now,
                            from: before.endpoint,
                        });
                    }
                    Some((before, now)) if before.role != now.role => {
                        let _ = self.events.send(ProxyEvent::Role(now));
                    }
                    Some(_) => {}
                    None => self.open(&line, endpoint, role, first).await?,
                }
            }
            Ok(())
        })
    }

    /// `CLUSTER NODES` from the first node that answers as a member of the cluster (some
    /// master it lists holds slots: a node just reset, or a new pod not met yet, lists only
    /// itself and would make every other listener look gone), known nodes before the seeds;
    /// the lines with an address. Without such an answer, the first answer.
    async fn cluster_nodes(&self) -> Result<Vec<NodeLine>, ProxyError> {
        let mut candidates: Vec<Endpoint> = self
            .lock()
            .values()
            .map(|e| e.node.endpoint.clone())
            .collect();
        candidates.extend(self.seeds.iter().cloned());
        let mut last = String::from("no node to ask");
        let mut outsider = None;
        for endpoint in candidates {
            let text: Result<String, _> = self
                .pool
                .quick(&endpoint, ::redis::cmd("CLUSTER").arg("NODES").clone())
                .await;
            match text.map(|t| parse_cluster_nodes(&t)) {
                Ok(Ok(lines)) if lines.iter().any(|l| !l.slots.is_empty()) => {
                    return Ok(addressed(lines));
                }
                Ok(Ok(lines)) => {
                    outsider.get_or_insert(lines);
                }
                Ok(Err(e)) => last = e.to_string(),
                Err(e) => last = format!("{e:#}"),
            }
        }
        outsider.map(addressed).ok_or(ProxyError::NoAnswer(last))
    }

    /// Opens the listener of a node seen for the first time: on its pod's port (first port
    /// plus the ordinal) when there is a pod, else on the next port no listener has. Only
    /// later nodes move on when that port is taken by another program.
    async fn open(
        &self,
        line: &NodeLine,
        endpoint: Endpoint,
        role: &'static str,
        first: bool,
    ) -> Result<(), ProxyError> {
        let pod = self.naming.pod(&endpoint).await;
        let taken: HashSet<u16> = self.lock().values().map(|e| e.node.local.port()).collect();
        let wanted = pod
            .as_ref()
            .and_then(|(_, ordinal)| self.listen.first_port.checked_add(*ordinal))
            .filter(|p| !taken.contains(p));
        let mut candidates = wanted
            .into_iter()
            .chain((self.listen.first_port..=u16::MAX).filter(|p| !taken.contains(p)));
        let mut tries = 0;
        let (listener, local) = loop {
            let Some(port) = candidates.next() else {
                return Ok(());
            };
            let address = SocketAddr::new(self.listen.address, port);
            match TcpListener::bind(address).await {
                Ok(listener) => break (listener, address),
                Err(source) if first || tries >= 64 => {
                    return Err(ProxyError::Listen { address, source });
                }
                Err(_) => tries += 1,
            }
        };
        let node = NodeListener {
            id: line.id.clone(),
            local,
            endpoint,
            pod: pod.map(|(name, _)| name),
            role,
        };
        let traffic = Arc::new(Traffic::default());
        let accept = tokio::spawn(accept(
            self.me.clone(),
            line.id.clone(),
            listener,
            traffic.clone(),
        ));
        self.lock().insert(
            line.id.clone(),
            Entry {
                node: node.clone(),
                hostname: line.addr.hostname.clone(),
                traffic,
                accept,
            },
        );
        let _ = self.events.send(ProxyEvent::Listening(node));
        Ok(())
    }

    /// A stream to the node `id` where it is now; when that fails, after one more look at
    /// the cluster (its pod may have come back at a new IP).
    async fn connect(&self, id: &NodeId) -> Result<crate::redis::connector::BoxedStream, String> {
        let Some(before) = self.node(id) else {
            return Err("the node left the cluster".into());
        };
        match self.connector.connect(&before.endpoint).await {
            Ok(opened) => return Ok(opened.stream),
            Err(_) => self.connector.forget(&before.endpoint),
        }
        let _ = self.refresh().await;
        let now = self.node(id).ok_or("the node left the cluster")?;
        self.connector
            .connect(&now.endpoint)
            .await
            .map(|opened| opened.stream)
            .map_err(|e| format!("cannot reach {}: {e}", now.endpoint))
    }

    fn node(&self, id: &NodeId) -> Option<NodeListener> {
        self.lock().get(id).map(|e| e.node.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<NodeId, Entry>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves one client of node `id`'s listener (after a TLS handshake, with TLS on the
    /// local side).
    async fn serve(&self, id: &NodeId, client: tokio::net::TcpStream, traffic: Arc<Traffic>) {
        let _ = client.set_nodelay(true);
        match &self.listen.tls {
            Some(acceptor) => match acceptor.accept(client).await {
                Ok(tls) => self.relay_to(id, tls, traffic).await,
                Err(e) => {
                    if let Some(node) = self.node(id) {
                        let error = format!("the client's TLS handshake failed: {e}");
                        let _ = self.events.send(ProxyEvent::Unreachable { node, error });
                    }
                }
            },
            None => self.relay_to(id, client, traffic).await,
        }
    }

    /// Relays `client` to node `id` where it is now.
    async fn relay_to<C>(&self, id: &NodeId, client: C, traffic: Arc<Traffic>)
    where
        C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let server = match self.connect(id).await {
            Ok(server) => server,
            Err(error) => {
                if let Some(node) = self.node(id) {
                    let _ = self.events.send(ProxyEvent::Unreachable { node, error });
                }
                return;
            }
        };
        traffic.clients.fetch_add(1, Ordering::Relaxed);
        if let Some(proxy) = self.me.upgrade() {
            let _ = relay(client, server, proxy, traffic.clone()).await;
        }
        traffic.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The lines with an address, in address order (without pods to number them, ports follow
/// the nodes' addresses).
fn addressed(lines: Vec<NodeLine>) -> Vec<NodeLine> {
    let mut lines: Vec<NodeLine> = lines
        .into_iter()
        .filter(|l| l.addr.is_known() && l.addr.port > 0)
        .collect();
    lines.sort_by_key(|l| (l.addr.ip.parse::<IpAddr>().ok(), l.addr.port));
    lines
}

/// Accepts clients of node `id` until the listener is closed.
async fn accept(proxy: Weak<Proxy>, id: NodeId, listener: TcpListener, traffic: Arc<Traffic>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            // Out of file descriptors, say: give the system a moment.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(proxy) = proxy.upgrade() else {
            return;
        };
        let (id, traffic) = (id.clone(), traffic.clone());
        tokio::spawn(async move { proxy.serve(&id, client, traffic).await });
    }
}
