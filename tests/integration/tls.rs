//! Clusters that speak only TLS (`--port 0 --tls-port P`, TLS on the bus and for
//! replication, client certificates required), with certificates made in the test: every
//! command that talks to nodes (`init`, `status`, `add-node`, `rebalance`, `reshard`,
//! `failover`, `fix`, `del-node`, `cli`) works over `--tls`, MIGRATE between nodes included;
//! a certificate from another CA, a name the certificate does not carry and plain text are
//! refused with a clear error.

use crate::harness::*;

/// TLS nodes on hosts whose IPs the node certificate names; returns the nodes (none started
/// yet) and the hosts.
fn tls_nodes(hosts: usize) -> (Nodes, Vec<String>) {
    let hosts: Vec<String> = (0..hosts).map(|_| next_host()).collect();
    let ips: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let files = TlsFiles::generate(&ips);
    let nodes = Nodes::secured(
        Access::tls(&files),
        Box::new(move |port| files.server_args(port)),
    );
    (nodes, hosts)
}

#[test]
fn a_tls_cluster_is_created_checked_grown_and_rebalanced_with_every_key_intact() {
    let (mut nodes, hosts) = tls_nodes(2);
    nodes.add_on(&hosts[0], 6);
    let init = nodes.init(1);
    assert!(
        stderr(&init).contains("cluster created from 6 nodes"),
        "{}",
        stderr(&init)
    );
    nodes.assert_redis_cli_agrees_healthy();
    let status = nodes.plugin(&["status"]);
    assert_success(&status);
    assert!(
        stdout(&status).contains("cluster is healthy"),
        "{}",
        stdout(&status)
    );

    nodes.write_keys("t", 3_000);
    let new = nodes.add_on(&hosts[1], 1).remove(0);
    assert_success(&nodes.plugin(&["add-node", &new, "--yes"]));
    let out = nodes.plugin(&[
        "rebalance",
        "--use-empty-masters",
        "--batch",
        "50",
        "--yes",
        "-o",
        "json",
    ]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stats"]["slots"], 4096);
    assert!(
        report["stats"]["keys"].as_u64().unwrap() > 0,
        "MIGRATE moved no key over TLS"
    );
    nodes.assert_keys_intact("t", 3_000);
    nodes.assert_redis_cli_agrees_healthy();

    // The rest of the commands, each over TLS, each leaving a healthy cluster.
    let seed = nodes.seed();
    let reshard = nodes.plugin(&[
        "reshard", "--from", &new, "--to", &seed, "--slots", "500", "--yes",
    ]);
    assert_success(&reshard);
    assert_success(&nodes.plugin(&["del-node", &new, "--drain", "--yes"]));
    let replica = first_replica(&nodes);
    assert_success(&nodes.plugin(&["failover", &replica, "--yes"]));
    assert_success(&nodes.plugin(&["fix", "--yes"]));
    let ping = nodes.plugin(&["cli", &seed, "--", "PING"]);
    assert_success(&ping);
    assert_eq!(stdout(&ping).trim(), "PONG");
    nodes.assert_keys_intact("t", 3_000);
    nodes.assert_redis_cli_agrees_healthy();
}

/// The address of some replica, from `status -o json`.
fn first_replica(nodes: &Nodes) -> String {
    let out = nodes.plugin(&["status", "-o", "json"]);
    assert_success(&out);
    let status: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("status -o json is JSON");
    status["nodes"]
        .as_array()
        .expect("status -o json lists nodes")
        .iter()
        .find(|n| n["role"] == "replica")
        .and_then(|n| n["endpoint"].as_str())
        .unwrap_or_else(|| panic!("no replica in {status}"))
        .to_string()
}

#[test]
fn a_tls_cluster_refuses_a_wrong_ca_and_plain_text_and_insecure_skips_only_the_certificate_check() {
    let (mut nodes, hosts) = tls_nodes(1);
    nodes.add_on(&hosts[0], 3);
    nodes.init(0);
    let seed = nodes.seed();
    let files = nodes.access.tls.clone().expect("TLS files");

    let mut wrong_ca = files.flags(&files.other_ca());
    wrong_ca.extend(["--seed".into(), seed.clone(), "status".into()]);
    let out = Access::default()
        .command(PLUGIN, &wrong_ca)
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&format!("cannot connect to {seed}: TLS handshake failed: invalid peer certificate: UnknownIssuer")),
        "{}",
        stderr(&out)
    );

    // Plain text: the node hangs up. TLS without the client certificate the nodes ask for:
    // TLS 1.3 checks it after the client's handshake is done, so the node's alert and its
    // hang-up race; either way the message names --cert/--key.
    let hung_up = format!(
        "cannot connect to {seed}: the node hung up before answering: if it speaks only TLS, pass --tls (and --cert/--key"
    );
    let cert_required = format!(
        "cannot connect to {seed}: the node requires a client certificate: pass --cert and --key"
    );
    let no_cert = vec![
        "--tls".to_string(),
        "--cacert".into(),
        files.ca().to_string_lossy().into_owned(),
    ];
    for (flags, expected) in [
        (vec![], vec![&hung_up]),
        (no_cert, vec![&cert_required, &hung_up]),
    ] {
        let args: Vec<String> = flags
            .into_iter()
            .chain(["--seed".into(), seed.clone(), "status".into()])
            .collect();
        let out = Access::default().command(PLUGIN, &args).output().unwrap();
        assert_exit(&out, 2);
        assert!(
            expected.iter().any(|e| stderr(&out).contains(e.as_str())),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    // A name instead of each node's IP: the certificate's DNS name passes, another fails.
    for (name, ok) in [(TlsFiles::DNS_NAME, true), ("elsewhere.tls.test", false)] {
        let mut args = files.flags(&files.ca());
        args.extend(["--tls-server-name".into(), name.into()]);
        args.extend(["--seed".into(), seed.clone(), "status".into()]);
        let out = Access::default().command(PLUGIN, &args).output().unwrap();
        if ok {
            assert_success(&out);
        } else {
            assert_exit(&out, 2);
            assert!(
                stderr(&out).contains(
                    "TLS handshake failed: invalid peer certificate: certificate not valid for name"
                ),
                "{}",
                stderr(&out)
            );
        }
    }

    let mut insecure: Vec<String> = files.flags(&files.ca());
    insecure.splice(1..3, ["--insecure".to_string()]);
    insecure.extend(["--seed".into(), seed.clone(), "status".into()]);
    let out = Access::default()
        .command(PLUGIN, &insecure)
        .output()
        .unwrap();
    assert_success(&out);
    assert!(
        stdout(&out).contains("cluster is healthy"),
        "{}",
        stdout(&out)
    );
}
