//! `proxy` on the test ground, through real port-forwards: redis-py's `RedisCluster`,
//! `redis-cli -c`, `redis-benchmark --cluster` and redis-rs' cluster client, given only the
//! proxy's address, write and read keys across a `scale --masters 4`, a failover and a pod
//! recreated at a new IP, and every node address they are told is one of the proxy's
//! listeners. (Pod IPs are on this machine's loopback, so the test checks the addresses the
//! clients were told, not merely that their requests succeeded.)

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use crate::cluster::*;
use crate::ground::*;
#[path = "../support/proxy.rs"]
pub mod support;
use support::{ProxyProcess, redis_benchmark, redis_cli, redis_py};

#[test]
fn cluster_clients_work_through_the_proxy_across_a_scale_a_failover_and_a_new_pod_ip() {
    let ns = Namespace::create("proxy");
    let n = ns.name.as_str();
    plugin_ok(&["-n", n, "deploy"]);
    plugin_ok(&["-n", n, "init", "--yes"]);
    // A loopback address no pod has (pods are on 127.1.0.0/16).
    let address = format!("127.77.{}.1", std::process::id() % 250);
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-redis_cluster"));
    command.env("KUBECONFIG", kubeconfig()).args([
        "-n",
        n,
        "proxy",
        "--address",
        &address,
        "-o",
        "json",
    ]);
    let proxy = ProxyProcess::start(command, Duration::from_secs(60));
    let listeners = proxy.report["listeners"]
        .as_array()
        .expect("listeners")
        .clone();
    assert_eq!(listeners.len(), 6, "{}", proxy.report);
    for l in &listeners {
        // Pod N listens on 7000 + N.
        let pod = l["pod"].as_str().expect("pod");
        let ordinal: u16 = pod.rsplit('-').next().unwrap().parse().unwrap();
        assert_eq!(l["local"], format!("{address}:{}", 7000 + ordinal), "{l}");
    }
    let (host, port) = (proxy.host(), proxy.port());
    let only_proxy: BTreeSet<String> = [host.clone()].into();

    let (bad, hosts) = redis_py(&host, port, "py", 2000, true);
    assert!(bad.is_empty(), "redis-py read back wrong keys: {bad:?}");
    assert_eq!(
        hosts, only_proxy,
        "redis-py was told about addresses beyond the proxy"
    );
    let p = port.to_string();
    for i in 0..10 {
        redis_cli(&[
            "-c",
            "-h",
            &host,
            "-p",
            &p,
            "set",
            &format!("cli:{i}"),
            &i.to_string(),
        ]);
    }
    let bench = redis_benchmark(&host, port, 2000);
    assert!(
        bench.status.success() && String::from_utf8_lossy(&bench.stdout).contains("GET:"),
        "{bench:?}"
    );
    let through_proxy =
        redis::cluster::ClusterClient::new(vec![format!("redis://{}", proxy.seed())])
            .expect("cluster client");
    write_keys_with(&through_proxy, "rs", 1000);

    // scale --masters 4 while the proxy runs: two new pods, two new listeners.
    plugin_ok(&["-n", n, "scale", "--masters", "4", "--yes"]);
    proxy.wait_for_stderr("joined: listening on", 2, Duration::from_secs(30));
    let (bad, hosts) = redis_py(&host, port, "py", 2000, false);
    assert!(
        bad.is_empty(),
        "after the scale, redis-py read back wrong keys: {bad:?}"
    );
    assert_eq!(hosts, only_proxy);

    // A failover: the promoted replica's listener now serves a master.
    let status = status_json(&plugin_ok(&["-n", n, "status", "-o", "json"]));
    let replica = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|node| node["role"] == "replica")
        .and_then(|node| node["pod"].as_str())
        .expect("a replica pod")
        .to_string();
    plugin_ok(&["-n", n, "failover", &replica, "--yes"]);
    proxy.wait_for_stderr("is a master now", 1, Duration::from_secs(30));

    // A pod recreated (usually at a new IP: the test ground hands out the lowest free one,
    // which can be its old one) keeps its listener. The integration test
    // proxy::a_node_back_at_a_new_address_keeps_its_listener forces the new address.
    let pod_ip =
        |pod: &str| kubectl_ok(&["-n", n, "get", "pod", pod, "-o", "jsonpath={.status.podIP}"]);
    let old_ip = pod_ip("redis-cluster-1");
    let old_uid = kubectl_ok(&[
        "-n",
        n,
        "get",
        "pod",
        "redis-cluster-1",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    kubectl_ok(&["-n", n, "delete", "pod", "redis-cluster-1"]);
    let new_ip = eventually("redis-cluster-1 back with an IP", || {
        let uid = kubectl(&[
            "-n",
            n,
            "get",
            "pod",
            "redis-cluster-1",
            "-o",
            "jsonpath={.metadata.uid}",
        ]);
        let ip = pod_ip("redis-cluster-1");
        (String::from_utf8_lossy(&uid.stdout) != old_uid && !ip.is_empty()).then_some(ip)
    });
    if new_ip != old_ip {
        proxy.wait_for_stderr(" moved from ", 1, Duration::from_secs(60));
    }
    let local = listeners
        .iter()
        .find(|l| l["pod"] == "redis-cluster-1")
        .and_then(|l| l["local"].as_str())
        .expect("redis-cluster-1's listener")
        .to_string();
    let (lh, lp) = local.rsplit_once(':').expect("host:port");
    let pong = eventually("redis-cluster-1 answering through its listener", || {
        let out = Command::new("redis-cli")
            .args(["-h", lh, "-p", lp, "ping"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("PONG").then_some(text)
    });
    assert!(pong.contains("PONG"));
    eventually("the cluster healthy again", || {
        (plugin(&["-n", n, "status"]).code == 0).then_some(())
    });

    let (bad, hosts) = redis_py(&host, port, "py", 2000, false);
    assert!(
        bad.is_empty(),
        "after the failover and the new pod IP, wrong keys: {bad:?}"
    );
    assert_eq!(hosts, only_proxy);
    assert_keys_with(&through_proxy, "rs", 1000);
    for i in 0..10 {
        let got = redis_cli(&["-c", "-h", &host, "-p", &p, "get", &format!("cli:{i}")]);
        assert_eq!(got.trim(), i.to_string());
    }
    let stopped = proxy.interrupt();
    assert!(
        stopped.success(),
        "Ctrl-C should end the proxy with 0: {stopped:?}"
    );
}
