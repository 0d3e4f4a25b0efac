//! Mistakes a user can make, each refused with one plain sentence and exit code 2, changing
//! nothing: unknown namespace, context or StatefulSet, missing rights, unreachable API
//! server, pods that never answer; on a deployed StatefulSet: too few masters, a pod count
//! that does not split into masters and replicas, unknown pods, and no pods at all; pods
//! that never get an IP (Pending) and pods that never answer time out naming each pod.

use crate::ground::*;

#[test]
fn bad_input_is_refused_with_a_plain_sentence_and_exit_code_2() {
    let ns = Namespace::create("errors");
    let context = context_name();
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = impersonating_kubeconfig(dir.path());
    let kc = kc.to_str().expect("utf-8 path");
    let unreachable = dir.path().join("unreachable");
    std::fs::write(
        &unreachable,
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:9\"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: gone, context: {cluster: c, user: u}}]\n",
    )
    .expect("write kubeconfig");
    let unreachable = unreachable.to_str().expect("utf-8 path");
    let n = ns.name.as_str();
    let rows: &[(&[&str], String)] = &[
        (
            &["-n", "e2e-no-such-namespace", "status"],
            format!("error: namespace e2e-no-such-namespace not found (context {context})\n"),
        ),
        (
            &["--context", "staging", "status"],
            format!(
                "error: context \"staging\" not found in the kubeconfig; known contexts: {context}\n"
            ),
        ),
        (
            &["-n", n, "status"],
            format!(
                "error: no StatefulSet in namespace {n} (context {context}) runs redis or valkey: deploy one with `kubectl redis-cluster deploy`, pick the namespace with -n, or name the StatefulSet with --statefulset NAME\n"
            ),
        ),
        (
            &["-n", n, "--statefulset", "cache", "init"],
            format!("error: statefulset cache not found in namespace {n} (context {context})\n"),
        ),
        (
            &["--kubeconfig", kc, "--context", "nobody", "-n", n, "status"],
            format!(
                "error: forbidden: cannot get statefulsets in namespace {n}: ask for the Role in manifests/base/rbac-plugin-user.yaml\n"
            ),
        ),
        (
            &["--kubeconfig", kc, "--context", "nobody", "-n", n, "deploy"],
            format!(
                "error: forbidden: cannot get statefulsets/scale in namespace {n}: ask for the Role in manifests/base/rbac-plugin-user.yaml\n"
            ),
        ),
        (
            &["-n", n, "deploy", "--masters", "2"],
            "error: --masters 2 is too few: a cluster needs at least 3 masters\n".to_string(),
        ),
    ];
    for (args, expected) in rows {
        let run = plugin(args);
        assert_eq!(
            (run.code, run.stderr.as_str(), run.stdout.as_str()),
            (2, expected.as_str(), ""),
            "{args:?}"
        );
    }
    let run = plugin(&["--kubeconfig", unreachable, "status"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with(
            "error: cannot reach the Kubernetes API server https://127.0.0.1:9/ (context gone): "
        ),
        "{}",
        run.stderr
    );
    // Nothing was created by any of the refused commands.
    assert!(kubectl_ok(&["get", "all", "-n", n, "-o", "name"]).is_empty());
}

/// Three pods the harness leaves without redis-server: Ready in Kubernetes, never answering.
const SILENT: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: silent}
spec:
  replicas: 3
  serviceName: silent
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: silent}}
  template:
    metadata:
      labels: {app: silent}
      annotations: {"redis-cluster-testground/harness": "false"}
    spec:
      containers: [{name: redis, image: "redis:7.0.15", ports: [{containerPort: 6379}]}]
"#;

#[test]
fn pods_that_never_answer_time_out_naming_each_pod() {
    let ns = Namespace::create("silent");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("silent.yaml");
    std::fs::write(&file, SILENT).expect("write manifest");
    kubectl_ok(&[
        "apply",
        "-n",
        &ns.name,
        "-f",
        file.to_str().expect("utf-8 path"),
    ]);
    // Pods that have IPs but never answer (pods without an IP are the test above): without
    // this wait the plugin may start before kwok gives them IPs, and says that instead.
    eventually("the silent pods have IPs", || {
        let ips = kubectl_ok(&[
            "get",
            "pods",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={range .items[*]}{.status.podIP} {end}",
        ]);
        (ips.split_whitespace().count() == 3).then_some(())
    });
    let run = plugin(&[
        "-n",
        &ns.name,
        "--statefulset",
        "silent",
        "--timeout",
        "3",
        "init",
        "--replicas-per-master",
        "0",
        "--yes",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("init needs every pod; nothing was changed: timed out after"),
        "{}",
        run.stderr
    );
    for pod in ["silent-0", "silent-1", "silent-2"] {
        assert!(run.stderr.contains(pod), "{pod} not named:\n{}", run.stderr);
    }
}

/// Each pod's `CLUSTER NODES` line count: 1 while it has met nobody.
fn known_nodes_per_pod(ns: &str) -> Vec<usize> {
    (0..6)
        .map(|i| {
            let out = plugin_ok(&[
                "-n",
                ns,
                "cli",
                &format!("redis-cluster-{i}"),
                "--",
                "cluster",
                "nodes",
            ]);
            out.lines().filter(|l| !l.trim().is_empty()).count()
        })
        .collect()
}

#[test]
fn mistakes_on_a_deployed_statefulset_are_refused_and_change_nothing() {
    let ns = Namespace::create("mistakes");
    let n = ns.name.as_str();
    plugin_ok(&["-n", n, "deploy"]);
    eventually("the six pods to answer", || {
        let run = plugin(&["-n", n, "cli", "redis-cluster-5", "--", "ping"]);
        (run.stdout == "PONG\n").then_some(())
    });
    let pods = "redis-cluster-0, redis-cluster-1, redis-cluster-2, redis-cluster-3, redis-cluster-4, redis-cluster-5";
    let rows: &[(&[&str], String)] = &[
        (
            &["-n", n, "scale", "--masters", "2", "--yes"],
            "invalid value '2' for '--masters <N>': N must be a whole number of at least 3: a cluster needs at least 3 masters".into(),
        ),
        (
            &["-n", n, "init", "--replicas-per-master", "3", "--yes"],
            "cannot be split into groups of 1 master + 3 replica(s)".into(),
        ),
        (
            &["-n", n, "cli", "redis-cluster-9", "--", "ping"],
            format!(
                "pod redis-cluster-9 does not exist; the pods of statefulset redis-cluster are: {pods}"
            ),
        ),
        (
            &["-n", n, "del-node", "redis-cluster-9", "--yes"],
            format!(
                "pod redis-cluster-9 does not exist; the pods of statefulset redis-cluster are: {pods}"
            ),
        ),
        (
            &["-n", n, "failover", "redis-cluster-9", "--yes"],
            format!(
                "pod redis-cluster-9 does not exist; the pods of statefulset redis-cluster are: {pods}"
            ),
        ),
    ];
    for (args, expected) in rows {
        let run = plugin(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(expected.as_str()),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(
        known_nodes_per_pod(n),
        vec![1; 6],
        "a refused command met nodes"
    );
    let replicas = || {
        kubectl_ok(&[
            "get",
            "statefulset",
            "redis-cluster",
            "-n",
            n,
            "-o",
            "jsonpath={.spec.replicas}",
        ])
    };
    assert_eq!(replicas(), "6", "a refused command scaled the StatefulSet");

    // A StatefulSet scaled to zero: every command says so and how to get pods back.
    kubectl_ok(&[
        "scale",
        "statefulset",
        "redis-cluster",
        "-n",
        n,
        "--replicas=0",
    ]);
    eventually("the pods to go", || {
        kubectl_ok(&["get", "pods", "-n", n, "-o", "name"])
            .is_empty()
            .then_some(())
    });
    for args in [&["-n", n, "status"][..], &["-n", n, "init", "--yes"]] {
        let run = plugin(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(&format!(
                "statefulset redis-cluster in namespace {n} has no pods (replicas: 0)\nhint: give it pods with `kubectl scale statefulset redis-cluster --replicas=6`"
            )),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(replicas(), "0");
}

#[test]
fn a_statefulset_of_servers_without_cluster_mode_is_refused_naming_the_setting() {
    let ns = Namespace::create("plain");
    let n = ns.name.as_str();
    let yaml =
        plugin_ok(&["deploy", "--dry-run"]).replace("cluster-enabled yes", "cluster-enabled no");
    assert!(yaml.contains("cluster-enabled no"), "{yaml}");
    let file = std::env::temp_dir().join(format!("{n}.yaml"));
    std::fs::write(&file, yaml).expect("write the manifests");
    kubectl_ok(&["apply", "-n", n, "-f", file.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&file);
    eventually("the six pods to answer", || {
        let run = plugin(&["-n", n, "cli", "redis-cluster-5", "--", "ping"]);
        (run.stdout == "PONG\n").then_some(())
    });
    for args in [&["-n", n, "init", "--yes"][..], &["-n", n, "status"]] {
        let run = plugin(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr
                .contains("is not in cluster mode: start the server with `cluster-enabled yes`"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// Three pods no node can take (a node selector no node matches): Pending, without IP,
/// never Ready.
const PENDING: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: pending}
spec:
  replicas: 3
  serviceName: pending
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: pending}}
  template:
    metadata:
      labels: {app: pending}
    spec:
      nodeSelector: {e2e-no-such-label: "true"}
      containers: [{name: redis, image: "redis:7.0.15", ports: [{containerPort: 6379}]}]
"#;

#[test]
fn pods_that_are_not_ready_time_out_naming_each_pod_and_why_and_change_nothing() {
    let ns = Namespace::create("pending");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pending.yaml");
    std::fs::write(&file, PENDING).expect("write manifest");
    kubectl_ok(&[
        "apply",
        "-n",
        &ns.name,
        "-f",
        file.to_str().expect("utf-8 path"),
    ]);
    eventually("the three pods to exist", || {
        (kubectl_ok(&["get", "pods", "-n", &ns.name, "-o", "name"])
            .lines()
            .count()
            == 3)
            .then_some(())
    });
    for args in [
        &["init", "--replicas-per-master", "0", "--yes"][..],
        &["rebalance", "--yes"],
    ] {
        let all: Vec<&str> = ["-n", &ns.name, "--statefulset", "pending", "--timeout", "3"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        let run = plugin(&all);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        for pod in ["pending-0", "pending-1", "pending-2"] {
            assert!(
                run.stderr.contains(&format!("{pod} has no IP yet")),
                "{args:?}: {pod} not named with its reason:\n{}",
                run.stderr
            );
        }
    }
    // Nothing was changed: the StatefulSet is as applied.
    assert_eq!(
        kubectl_ok(&[
            "get",
            "statefulset",
            "pending",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "3"
    );
}
