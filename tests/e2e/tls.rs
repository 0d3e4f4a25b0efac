//! A TLS-only cluster (`manifests/overlays/tls`) with its certificate in a Secret, as
//! cert-manager would write it: one certificate naming the pods' DNS names (not their IPs,
//! which change), used by the nodes as server and as client. Without any TLS flag the plugin
//! finds TLS from the StatefulSet (its `--tls-port`, the Secret mounted where its certificate
//! files are read), reads the CA and the client certificate from that Secret, checks node
//! certificates against the first pod's DNS name, says so on stderr and in `status`, and runs
//! init, status, scale up and down and cli through port-forward; redis-cli's check (over TLS)
//! agrees and every key written by an independent TLS client reads back. The explicit flags
//! (`--tls --tls-secret --tls-server-name`) still work and win. Plain text, and a Secret that
//! is missing, are refused with a clear error.

use crate::certs::CertDir;
use crate::cluster::*;
use crate::ground::*;
use crate::proxy::support::{ProxyProcess, redis_cli};

/// The CA and the pods' certificate, for the StatefulSet's headless Service in `ns`.
fn pod_certificates(ns: &str) -> CertDir {
    let certs = CertDir::new();
    certs.make_ca("ca");
    certs.make_leaf(
        "tls",
        "ca",
        &format!(
            "subjectAltName=DNS:*.redis-cluster-headless.{ns}.svc.cluster.local\n\
             extendedKeyUsage=serverAuth,clientAuth\n"
        ),
    );
    certs
}

/// An independent cluster client over TLS: it checks the chain against the CA but not the
/// name (as Redis nodes do among themselves), and shows the pods' certificate as its own.
fn tls_client(certs: &CertDir, nodes: &[String]) -> redis::cluster::ClusterClient {
    let read = |name: &str| std::fs::read(certs.path(name)).expect("read a PEM file");
    let urls: Vec<String> = nodes.iter().map(|n| format!("rediss://{n}")).collect();
    redis::cluster::ClusterClientBuilder::new(urls)
        .certs(redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: read("tls.crt"),
                client_key: read("tls.key"),
            }),
            root_cert: Some(read("ca.crt")),
        })
        .danger_accept_invalid_hostnames(true)
        .build()
        .expect("TLS cluster client")
}

/// Master count and every node's endpoint from `status -o json`.
fn masters_and_endpoints(status: &serde_json::Value) -> (usize, Vec<String>) {
    let nodes = status["nodes"].as_array().expect("nodes");
    let masters = nodes.iter().filter(|n| n["role"] == "master").count();
    let endpoints = nodes
        .iter()
        .map(|n| n["endpoint"].as_str().expect("endpoint").to_string())
        .collect();
    (masters, endpoints)
}

#[test]
fn a_tls_only_cluster_is_run_from_the_certificate_in_its_secret() {
    let ns = Namespace::create("tls");
    let certs = pod_certificates(&ns.name);
    let file = |name: &str| format!("--from-file={}", certs.path(name).display());
    kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "redis-cluster-tls",
        "-n",
        &ns.name,
        &file("ca.crt"),
        &file("tls.crt"),
        &file("tls.key"),
    ]);
    apply_overlay("tls", &ns.name);
    let server_name = format!(
        "redis-cluster-0.redis-cluster-headless.{}.svc.cluster.local",
        ns.name
    );
    let run = |args: &[&str]| {
        let all: Vec<&str> = ["-n", ns.name.as_str()]
            .iter()
            .chain(args)
            .copied()
            .collect();
        plugin(&all)
    };
    let ok = |args: &[&str]| {
        let r = run(args);
        assert_eq!(r.code, 0, "{args:?}:\n{}{}", r.stdout, r.stderr);
        r
    };
    let found_from_statefulset = format!(
        "secret {}/redis-cluster-tls, found from the StatefulSet's volume tls at /tls",
        ns.name
    );

    // No TLS flag: everything comes from the StatefulSet, and stderr says what.
    let init = ok(&["init", "--yes"]);
    assert!(
        init.stderr.contains("cluster created from 6 nodes"),
        "{}",
        init.stderr
    );
    assert!(
        init.stderr.contains(&format!(
            "Found TLS on port 6379 (--tls-port in the pod spec): {found_from_statefulset}; node certificates checked for {server_name}"
        )),
        "{}",
        init.stderr
    );
    let status = status_json(&ok(&["status", "-o", "json"]).stdout);
    assert_eq!(status["healthy"], true, "{status:#}");
    assert_eq!(
        status["setup"]["tls"],
        found_from_statefulset.as_str(),
        "{status:#}"
    );
    let table = ok(&["status"]);
    assert!(
        table
            .stdout
            .contains(&format!("TLS from {found_from_statefulset}")),
        "{}",
        table.stdout
    );
    // The explicit flags still work, and win over what the StatefulSet says.
    let flagged = ok(&[
        "--tls",
        "--tls-secret",
        "redis-cluster-tls",
        "--tls-server-name",
        server_name.as_str(),
        "status",
        "-o",
        "json",
    ]);
    assert!(!flagged.stderr.contains("Found TLS"), "{}", flagged.stderr);
    let flagged = status_json(&flagged.stdout);
    assert_eq!(flagged["healthy"], true, "{flagged:#}");
    assert_eq!(
        flagged["setup"]["tls"],
        format!(
            "secret {}/redis-cluster-tls, named by --tls-secret",
            ns.name
        ),
        "{flagged:#}"
    );
    let (_, endpoints) = masters_and_endpoints(&status);
    let cert = |name: &str| certs.path(name).to_string_lossy().into_owned();
    let (ca, crt, key) = (cert("ca.crt"), cert("tls.crt"), cert("tls.key"));
    let redis_cli_tls = ["--tls", "--cacert", &ca, "--cert", &crt, "--key", &key];
    assert_eq!(
        masters_from_redis_cli_with(&redis_cli_tls, &endpoints[0]),
        masters_from_status(&status),
        "redis-cli --cluster check over TLS agrees with status"
    );

    let client = tls_client(&certs, &endpoints);
    write_keys_with(&client, "tls", 20_000);
    ok(&["scale", "--masters", "4", "--yes"]);
    let up = status_json(&ok(&["status", "-o", "json"]).stdout);
    assert_eq!(masters_and_endpoints(&up).0, 4, "{up:#}");
    assert_keys_with(&client, "tls", 20_000);
    ok(&["scale", "--masters", "3", "--yes"]);
    let down = status_json(&ok(&["status", "-o", "json"]).stdout);
    let (masters, endpoints) = masters_and_endpoints(&down);
    assert_eq!(masters, 3, "{down:#}");
    assert_keys_with(&tls_client(&certs, &endpoints), "tls", 20_000);
    assert_eq!(
        masters_from_redis_cli_with(&redis_cli_tls, &endpoints[0]),
        masters_from_status(&down)
    );
    let pong = ok(&["cli", "redis-cluster-0", "--", "ping"]);
    assert_eq!(pong.stdout, "PONG\n");

    // The proxy speaks TLS to the pods (the same certificates, found the same way) and plain
    // text on loopback: redis-cli -c without any TLS flag reads the keys.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-redis_cluster"));
    command.env("KUBECONFIG", kubeconfig()).args([
        "-n",
        &ns.name,
        "proxy",
        "--address",
        &format!("127.78.{}.1", std::process::id() % 250),
        "-o",
        "json",
    ]);
    let proxy = ProxyProcess::start(command, std::time::Duration::from_secs(60));
    let port = proxy.port().to_string();
    for i in [0, 4999, 19_999] {
        let got = redis_cli(&[
            "-c",
            "-h",
            &proxy.host(),
            "-p",
            &port,
            "get",
            &format!("tls:{i}"),
        ]);
        assert_eq!(got.trim(), i.to_string(), "tls:{i} through the proxy");
    }
    let slots = redis_cli(&["-h", &proxy.host(), "-p", &port, "cluster", "slots"]);
    assert!(
        !slots.contains("127.1."),
        "CLUSTER SLOTS still names pods: {slots}"
    );
    drop(proxy);

    // In plain text (here straight to a node, where no StatefulSet says TLS) the nodes hang
    // up; a missing Secret is named.
    let plain = plugin(&["--seed", &endpoints[0], "status"]);
    assert_eq!(plain.code, 2, "{}", plain.stderr);
    assert!(plain.stderr.contains("pass --tls"), "{}", plain.stderr);
    let missing = plugin(&[
        "-n",
        &ns.name,
        "--tls",
        "--tls-secret",
        "no-such-secret",
        "status",
    ]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains("cannot read the TLS material (named by --tls-secret no-such-secret)")
            && missing.stderr.contains("secret no-such-secret not found"),
        "{}",
        missing.stderr
    );
}
