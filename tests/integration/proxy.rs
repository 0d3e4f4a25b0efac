//! `proxy` with `--seed`, on real servers: clients nobody on the project wrote (redis-py's
//! `RedisCluster`, `redis-cli -c` and `--cluster check`, `redis-benchmark --cluster`,
//! redis-rs' cluster client) given only the proxy's address work through it, and every node
//! address they are told is a listener of the proxy, across a failover and a new master. The
//! nodes listen on one loopback host and the proxy on another, so an address that was not
//! rewritten shows.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::process::Command;
use std::time::Duration;

use crate::harness::*;
#[path = "../support/proxy.rs"]
pub mod support;
use support::{ProxyProcess, redis_benchmark, redis_cli, redis_py};

/// `proxy` for `nodes` on a host of its own.
pub fn start_proxy(nodes: &Nodes) -> ProxyProcess {
    let mut command = Command::new(PLUGIN);
    command.args([
        "--seed",
        &nodes.seed(),
        "proxy",
        "--address",
        &next_host(),
        "-o",
        "json",
    ]);
    ProxyProcess::start(command, Duration::from_secs(30))
}

#[test]
fn cluster_clients_given_only_the_proxy_work_across_a_failover_and_a_new_master() {
    let mut nodes = Nodes::start(6);
    nodes.init(1);
    nodes.write_keys("before", 300);
    let proxy = start_proxy(&nodes);
    let (host, port) = (proxy.host(), proxy.port());
    assert_eq!(proxy.locals().len(), 6, "{}", proxy.report);
    let only_proxy: BTreeSet<String> = [host.clone()].into();

    // redis-py writes and reads through the proxy; the real nodes hold what it wrote.
    let (bad, hosts) = redis_py(&host, port, "py", 400, true);
    assert!(bad.is_empty(), "redis-py read back wrong keys: {bad:?}");
    assert_eq!(
        hosts, only_proxy,
        "redis-py was told about addresses beyond the proxy"
    );
    nodes.assert_keys_intact("py", 400);
    // redis-rs' cluster client, seeded at the proxy, reads what was there before.
    assert_keys_intact_with(&nodes.access, &proxy.seed(), "before", 300);

    // redis-cli: -c follows MOVED through the proxy; --cluster check agrees the cluster is
    // healthy from the proxy's addresses alone.
    let p = port.to_string();
    for i in 0..20 {
        let key = format!("cli:{i}");
        redis_cli(&["-c", "-h", &host, "-p", &p, "set", &key, &value_for(&key)]);
    }
    nodes.assert_keys_intact("cli", 20);
    let check = redis_cli(&["--cluster", "check", &proxy.seed()]);
    assert!(check.contains("[OK] All 16384 slots covered"), "{check}");
    assert!(!check.contains(&nodes.nodes[0].host), "{check}");
    let bench = redis_benchmark(&host, port, 2000);
    let said = String::from_utf8_lossy(&bench.stdout);
    assert!(bench.status.success() && said.contains("GET:"), "{bench:?}");

    // A failover, then a new master given slots: the proxy follows both.
    let replica = nodes
        .nodes
        .iter()
        .find(|n| n.cli(&["role"]).starts_with("slave"))
        .expect("a replica")
        .addr();
    assert_success(&nodes.plugin(&["failover", &replica, "--yes"]));
    proxy.wait_for_stderr("is a master now", 1, Duration::from_secs(20));
    let added = nodes.add(1);
    assert_success(&nodes.plugin(&["add-node", &added[0], "--yes"]));
    assert_success(&nodes.plugin(&["rebalance", "--use-empty-masters", "--yes"]));
    proxy.wait_for_stderr("joined: listening on", 1, Duration::from_secs(20));
    let (bad, hosts) = redis_py(&host, port, "py", 400, false);
    assert!(
        bad.is_empty(),
        "after the changes, redis-py read back wrong keys: {bad:?}"
    );
    assert_eq!(hosts, only_proxy);
    assert_keys_intact_with(&nodes.access, &proxy.seed(), "before", 300);
    assert_keys_intact_with(&nodes.access, &proxy.seed(), "cli", 20);

    let status = proxy.interrupt();
    assert!(
        status.success(),
        "Ctrl-C should end the proxy with 0: {status:?}"
    );
}

#[test]
fn replies_keep_their_shape_and_only_node_addresses_change() {
    let nodes = Nodes::start(3);
    nodes.init(0);
    let proxy = start_proxy(&nodes);
    let node_host = nodes.nodes[0].host.clone();
    let shown = |v: &redis::Value| format!("{v:?}");
    for protocol in ["resp2", "resp3"] {
        let url = format!("redis://{}/?protocol={protocol}", proxy.seed());
        let replies: Vec<redis::Value> = runtime().block_on(async {
            let client = redis::Client::open(url.as_str()).expect("client");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("connect");
            // One pipeline: plain replies between rewritten ones stay in order.
            let mut pipe = redis::pipe();
            pipe.cmd("PING")
                .cmd("CLUSTER")
                .arg("SLOTS")
                .cmd("ECHO")
                .arg("10.0.0.1:6379")
                .cmd("CLUSTER")
                .arg("NODES")
                .cmd("CLUSTER")
                .arg("SHARDS")
                .cmd("CLUSTER")
                .arg("MYID");
            let mut replies: Vec<redis::Value> =
                pipe.query_async(&mut conn).await.expect("pipeline");
            // MULTI/EXEC: CLUSTER NODES answered inside EXEC's array.
            let exec: redis::Value = redis::pipe()
                .atomic()
                .cmd("CLUSTER")
                .arg("NODES")
                .cmd("PING")
                .query_async(&mut conn)
                .await
                .expect("transaction");
            replies.push(exec);
            replies
        });
        assert_eq!(replies.len(), 7, "{protocol}: {replies:?}");
        assert!(
            shown(&replies[0]).contains("PONG"),
            "{protocol}: {replies:?}"
        );
        assert!(
            shown(&replies[2]).contains("10.0.0.1:6379"),
            "ECHO is data, never rewritten"
        );
        for (i, reply) in replies
            .iter()
            .enumerate()
            .filter(|(i, _)| [1, 3, 4, 6].contains(i))
        {
            let text = shown(reply);
            assert!(
                text.contains(&proxy.host()),
                "{protocol} reply {i} names no listener: {text}"
            );
            assert!(
                !text.contains(&node_host),
                "{protocol} reply {i} still names a node: {text}"
            );
        }
    }
    // A node answering for a slot it does not hold: MOVED names the owner's listener.
    let (host, port) = (proxy.host(), proxy.port().to_string());
    let moved = (0..50)
        .map(|i| redis_cli(&["-h", &host, "-p", &port, "get", &format!("k{i}")]))
        .find(|reply| reply.contains("MOVED"))
        .expect("some key lives on another node");
    assert!(moved.contains(&format!("{host}:")), "{moved}");
    // Pub/sub passes through: a subscriber (a bare socket, so nothing buffers what it
    // hears) gets a message published through the same listener (PUBLISH counts the
    // receivers on the node it ran on).
    let mut subscriber =
        std::net::TcpStream::connect((host.as_str(), proxy.port())).expect("connect");
    subscriber
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    subscriber
        .write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n")
        .expect("SUBSCRIBE");
    let mut heard = Vec::new();
    let mut read_until = |needle: &[u8], heard: &mut Vec<u8>| {
        while !heard.windows(needle.len()).any(|w| w == needle) {
            let mut chunk = [0u8; 512];
            let n = subscriber
                .read(&mut chunk)
                .expect("the subscriber hears in time");
            assert!(n > 0, "the proxy closed the subscriber: {heard:?}");
            heard.extend_from_slice(&chunk[..n]);
        }
    };
    read_until(b"$4\r\nnews\r\n:1\r\n", &mut heard);
    let receivers = redis_cli(&["-h", &host, "-p", &port, "publish", "news", "hello"]);
    assert_eq!(
        receivers.trim(),
        "1",
        "the subscription is not on that node"
    );
    read_until(
        b"$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
        &mut heard,
    );
}

#[test]
fn a_node_back_at_a_new_address_keeps_its_listener() {
    let mut nodes = Nodes::start(3);
    nodes.init(0);
    let proxy = start_proxy(&nodes);
    let (host, port) = (proxy.host(), proxy.port());
    let (bad, _) = redis_py(&host, port, "moved", 300, true);
    assert!(bad.is_empty(), "{bad:?}");
    let old = nodes.nodes[2].addr();
    let listener = proxy.report["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|l| l["endpoint"] == old.as_str())
        .and_then(|l| l["local"].as_str())
        .expect("the node's listener")
        .to_string();
    // The node restarts on another loopback address with its nodes.conf and data.
    let moved = {
        let node = &mut nodes.nodes[2];
        node.kill();
        let parts: Vec<&str> = node.host.split('.').collect();
        node.host = format!("{}.{}.{}.2", parts[0], parts[1], parts[2]);
        node.spawn();
        node.addr()
    };
    proxy.wait_for_stderr(
        &format!("moved from {old} to {moved}"),
        1,
        Duration::from_secs(30),
    );
    let (lh, lp) = listener.rsplit_once(':').expect("host:port");
    assert_eq!(
        redis_cli(&["-h", lh, "-p", lp, "cluster", "myid"]).trim(),
        nodes.nodes[2].id()
    );
    let (bad, hosts) = redis_py(&host, port, "moved", 300, false);
    assert!(
        bad.is_empty(),
        "after the move, redis-py read back wrong keys: {bad:?}"
    );
    assert_eq!(hosts, [host].into());
}

#[test]
fn the_proxy_offers_tls_on_its_side_when_asked() {
    let nodes = Nodes::start(3);
    nodes.init(0);
    let host = next_host();
    let certs = crate::certs::CertDir::new();
    certs.make_ca("ca");
    certs.make_leaf(
        "proxy",
        "ca",
        &format!("subjectAltName=IP:{host}\nextendedKeyUsage=serverAuth\n"),
    );
    let path = |name: &str| certs.path(name).to_string_lossy().into_owned();
    let mut command = Command::new(PLUGIN);
    command.args([
        "--seed",
        &nodes.seed(),
        "proxy",
        "--address",
        &host,
        "-o",
        "json",
    ]);
    command.args([
        "--listen-cert",
        &path("proxy.crt"),
        "--listen-key",
        &path("proxy.key"),
    ]);
    let proxy = ProxyProcess::start(command, Duration::from_secs(30));
    let port = proxy.port().to_string();
    assert!(
        proxy.report["redis_cli"]
            .as_str()
            .unwrap()
            .contains("--tls"),
        "{}",
        proxy.report
    );
    let tls = [
        "--tls",
        "--cacert",
        &path("ca.crt"),
        "-h",
        &host,
        "-p",
        &port,
    ];
    for i in 0..20 {
        let key = format!("tls:{i}");
        let args: Vec<&str> = tls
            .iter()
            .copied()
            .chain(["-c", "set", &key, "v"])
            .collect();
        assert_eq!(redis_cli(&args).trim(), "OK");
    }
    let slots: Vec<&str> = tls.iter().copied().chain(["cluster", "slots"]).collect();
    let slots = redis_cli(&slots);
    assert!(
        slots.contains(&host) && !slots.contains(&nodes.nodes[0].host),
        "{slots}"
    );
    // In plain text the listener answers nothing a client could use.
    let plain = Command::new("redis-cli")
        .args(["-h", &host, "-p", &port, "ping"])
        .output()
        .expect("redis-cli");
    assert!(
        !String::from_utf8_lossy(&plain.stdout).contains("PONG"),
        "{plain:?}"
    );
    // The nodes hold what went through, read straight from them.
    let (node_host, node_port) = (nodes.nodes[0].host.clone(), nodes.nodes[0].port.to_string());
    for i in 0..20 {
        let key = format!("tls:{i}");
        let got = redis_cli(&["-c", "-h", &node_host, "-p", &node_port, "get", &key]);
        assert_eq!(got.trim(), "v", "{key}");
    }
}

/// A small runtime for redis-rs.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
