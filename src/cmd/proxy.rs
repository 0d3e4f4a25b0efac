//! `proxy`: every node of the cluster on a local port, through the same connector as every
//! other command (a port-forward per client connection from a workstation), with the
//! addresses nodes hand to clients rewritten to those ports ([`crate::redis::proxy`]). Runs
//! until Ctrl-C, following the cluster as it changes.

use std::io::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::context::{Ctx, Outcome};
use crate::interrupt;
use crate::k8s::naming::PodNaming;
use crate::output::status::human_bytes;
use crate::redis::proxy::{Listen, Naming, NodeListener, Proxy, ProxyEvent, TrafficCount, Unnamed};
use crate::redis::tls::{ClientIdentity, Pem, acceptor};
use crate::settings::Access;

/// How often the proxy looks at the cluster for new nodes, failovers and moved pods.
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// Options of `proxy`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster proxy\n  redis-cli -c -p 7000 set user:42 ada\n  kubectl redis-cluster proxy --local-port 17000 -v\n\nEach node gets its own local port (pod N on first port + N). Replies that name nodes (MOVED, ASK, CLUSTER SLOTS, CLUSTER SHARDS, CLUSTER NODES) name those ports, so cluster clients (redis-cli -c, redis-py's RedisCluster, redis-benchmark --cluster) work from a laptop. Clients send AUTH themselves. Ctrl-C stops it.\n\n(--port is the pods' Redis port, as for every command; the local ports are --local-port.)"
)]
pub struct ProxyOpts {
    /// The local address to listen on; anything beyond loopback exposes the cluster to
    /// whoever can reach this machine.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub address: IpAddr,

    /// The first node's local port; the others follow it.
    #[arg(long, short = 'p', default_value_t = 7000, value_name = "PORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub local_port: u16,

    /// Offer TLS on the local side with this certificate (PEM, chain first); clients then
    /// connect with TLS and trust its CA. With it, --listen-key.
    #[arg(long, value_name = "FILE", requires = "listen_key")]
    pub listen_cert: Option<std::path::PathBuf>,

    /// The private key of --listen-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "listen_cert")]
    pub listen_key: Option<std::path::PathBuf>,

    /// Print each node's traffic every few seconds.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// `-o json`: what listens where, printed once the proxy is ready.
#[derive(Debug, serde::Serialize)]
pub struct ProxyReport {
    /// One listener per node.
    pub listeners: Vec<NodeListener>,
    /// The first listener, for clients that take one seed.
    pub seed: String,
    /// A `redis-cli` command line that works now.
    pub redis_cli: String,
}

impl ProxyOpts {
    /// Runs `proxy` until Ctrl-C.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let naming: Box<dyn Naming> = match (&ctx.k8s, &ctx.settings.access) {
            (Some(k8s), Access::Kubernetes(target)) => Box::new(PodNaming {
                k8s: k8s.clone(),
                statefulset: target.statefulset_name().to_string(),
                port: target.client_port(),
            }),
            _ => Box::new(Unnamed),
        };
        let tls = match (&self.listen_cert, &self.listen_key) {
            (Some(cert), Some(key)) => Some(acceptor(&ClientIdentity {
                cert: Pem::read("--listen-cert", cert)?,
                key: Pem::read("--listen-key", key)?,
            })?),
            _ => None,
        };
        let listen = Listen {
            address: self.address,
            first_port: self.local_port,
            tls,
        };
        let (proxy, mut events) = Proxy::new(
            ctx.pool.sibling(),
            ctx.pool.connector(),
            listen,
            naming,
            ctx.seeds.clone(),
        );
        if !self.address.is_loopback() {
            ctx.reporter.warn(format!(
                "listening on {}: anyone who can reach this machine there reaches the cluster",
                self.address
            ));
        }
        let stop = interrupt::SafeStop::begin();
        proxy.refresh().await.with_context(|| {
            format!(
                "the proxy cannot start; pick other ports with --local-port (from {} on, one per node), or see `kubectl redis-cluster status`",
                self.local_port
            )
        })?;
        // The listeners just opened are in the table below, not in the event lines.
        while events.try_recv().is_ok() {}
        self.print_ready(ctx, &proxy.listeners())?;
        let mut look = tokio::time::interval(LOOK_EVERY);
        let mut traffic = tokio::time::interval(Duration::from_secs(5));
        let mut stopped = tokio::time::interval(Duration::from_millis(200));
        let mut last: Vec<(NodeListener, TrafficCount)> = proxy.listeners();
        loop {
            tokio::select! {
                Some(event) = events.recv() => report(ctx, &event),
                _ = look.tick() => {
                    // A failed look is an event (Blind) and the last view stays in use.
                    let _ = proxy.refresh().await;
                }
                _ = traffic.tick(), if self.verbose => {
                    let now = proxy.listeners();
                    let quiet = now.iter().all(|(node, count)| {
                        last.iter().any(|(n, c)| n.id == node.id && c == count)
                    });
                    for (node, count) in now.iter().filter(|_| !quiet) {
                        let before = last.iter().find(|(n, _)| n.id == node.id).map(|(_, c)| *c);
                        ctx.reporter.line(&traffic_line(node, count, before.unwrap_or_default()));
                    }
                    last = now;
                }
                _ = stopped.tick() => {
                    if interrupt::requested() {
                        break;
                    }
                }
            }
        }
        drop(stop);
        ctx.reporter.done("proxy stopped");
        Ok(Outcome::Success)
    }

    /// The listeners and the line to paste, on stdout (or the JSON report).
    fn print_ready(
        &self,
        ctx: &Ctx,
        listeners: &[(NodeListener, TrafficCount)],
    ) -> anyhow::Result<()> {
        let first = listeners
            .first()
            .map(|(n, _)| n.local)
            .context("the cluster has no node with an address")?;
        let mut redis_cli = if first.ip() == IpAddr::from([127, 0, 0, 1]) {
            format!("redis-cli -c -p {}", first.port())
        } else {
            format!("redis-cli -c -h {} -p {}", first.ip(), first.port())
        };
        if self.listen_cert.is_some() {
            redis_cli.push_str(" --tls --cacert CA.pem");
        }
        let auth = ctx.settings.credentials.as_ref();
        if ctx.settings.output == crate::output::OutputFormat::Json {
            ctx.print_json(
                "proxy",
                &ProxyReport {
                    listeners: listeners.iter().map(|(n, _)| n.clone()).collect(),
                    seed: first.to_string(),
                    redis_cli,
                },
            )?;
            ctx.stdout().flush()?;
            return Ok(());
        }
        let mut out = ctx.stdout();
        writeln!(
            out,
            "{:<22} {:<24} {:<8} {:<9} ADDRESS",
            "LOCAL", "POD", "ROLE", "NODE"
        )?;
        for (node, _) in listeners {
            writeln!(
                out,
                "{:<22} {:<24} {:<8} {:<9} {}",
                node.local.to_string(),
                node.pod.as_deref().unwrap_or("-"),
                node.role,
                node.id.short(),
                node.endpoint
            )?;
        }
        writeln!(out)?;
        let ask = if auth.is_some() { " --askpass" } else { "" };
        writeln!(out, "Connect with:  {redis_cli}{ask}")?;
        let ssl = if self.listen_cert.is_some() {
            ", ssl=True, ssl_ca_certs=\"CA.pem\""
        } else {
            ""
        };
        writeln!(
            out,
            "       or:    redis.RedisCluster(host=\"{}\", port={}{ssl}) (redis-py)",
            first.ip(),
            first.port()
        )?;
        if let Some(c) = auth {
            writeln!(
                out,
                "The cluster wants a password ({}): clients send it themselves.",
                c.origin
            )?;
        }
        writeln!(out, "Ctrl-C stops the proxy.")?;
        out.flush()?;
        Ok(())
    }
}

/// One event as a progress line.
fn report(ctx: &Ctx, event: &ProxyEvent) {
    let r = &ctx.reporter;
    match event {
        ProxyEvent::Listening(n) => r.done(format!("{} joined: listening on {}", who(n), n.local)),
        ProxyEvent::Moved { node, from } => r.step(format!(
            "{} moved from {from} to {} (still on {})",
            who(node),
            node.endpoint,
            node.local
        )),
        ProxyEvent::Role(n) => r.step(format!("{} is a {} now ({})", who(n), n.role, n.local)),
        ProxyEvent::Gone(n) => r.warn(format!("{} left the cluster: {} closed", who(n), n.local)),
        ProxyEvent::Unreachable { node, error } => r.warn(format!(
            "a client of {} could not be connected to {}: {error}",
            node.local,
            who(node)
        )),
        ProxyEvent::Blind(error) => r.warn(format!(
            "cannot read the cluster now ({error}); the proxy keeps the last addresses it knew"
        )),
    }
}

/// `node 1a2b3c4d (redis-cluster-3)`.
fn who(node: &NodeListener) -> String {
    match &node.pod {
        Some(pod) => format!("node {} ({pod})", node.id.short()),
        None => format!("node {} ({})", node.id.short(), node.endpoint),
    }
}

/// `127.0.0.1:7000 redis-cluster-0 master: 2 clients, 1200 commands (+130), 1.2 MiB out, 3.4 MiB back`.
fn traffic_line(node: &NodeListener, now: &TrafficCount, before: TrafficCount) -> String {
    format!(
        "{} {} {}: {} clients, {} commands (+{}), {} to the node, {} back",
        node.local,
        node.pod.as_deref().unwrap_or(&node.endpoint.to_string()),
        node.role,
        now.clients,
        now.commands,
        now.commands.saturating_sub(before.commands),
        human_bytes(now.to_node),
        human_bytes(now.to_clients)
    )
}
