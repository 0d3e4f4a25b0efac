//! Pre-flight of rights: a user who may read the cluster but not resize it, renew the lock or
//! delete claims gets every missing right at once, with the rules to add, before anything
//! changes; `--dry-run` says the same as a warning.

use crate::ground::*;

/// The plugin user's Role without: update and delete leases, patch and update the scale
/// subresource, delete claims; bound to user e2e-restricted.
const RESTRICTED: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: restricted}
rules:
  - {apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"]}
  - {apiGroups: [""], resources: ["pods/portforward"], verbs: ["get", "create"]}
  - {apiGroups: ["apps"], resources: ["statefulsets"], verbs: ["get", "list", "watch"]}
  - {apiGroups: ["apps"], resources: ["statefulsets/scale"], verbs: ["get"]}
  - {apiGroups: [""], resources: ["persistentvolumeclaims"], verbs: ["get", "list"]}
  - {apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: restricted}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: restricted}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: e2e-restricted}]
"#;

#[test]
fn a_scale_without_the_rights_it_needs_lists_them_all_and_changes_nothing() {
    let ns = Namespace::create("preflight");
    let n = ns.name.as_str();
    plugin_ok(&["-n", n, "deploy"]);
    plugin_ok(&["-n", n, "init", "--yes"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let role = dir.path().join("restricted.yaml");
    std::fs::write(&role, RESTRICTED).expect("write the Role");
    kubectl_ok(&["apply", "-n", n, "-f", role.to_str().expect("utf-8 path")]);
    let kc = impersonating_kubeconfig(dir.path());
    let kc = kc.to_str().expect("utf-8 path");
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
    let as_restricted = |extra: &[&str]| {
        let mut args = vec!["--kubeconfig", kc, "--context", "restricted", "-n", n];
        args.extend_from_slice(&["scale", "--masters", "3", "--delete-pvcs", "--yes"]);
        args.extend_from_slice(extra);
        plugin(&args)
    };

    let refused = as_restricted(&[]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains(&format!(
            "error: missing rights in namespace {n}: update leases, delete leases, patch statefulsets/scale, delete persistentvolumeclaims; nothing was changed\n"
        )) && refused.stderr.contains(
            r#"hint: ask for the Role in manifests/base/rbac-plugin-user.yaml, or add these rules to yours: {apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["update"]}"#
        ) && refused.stderr.contains(
            r#"{apiGroups: ["apps"], resources: ["statefulsets/scale"], verbs: ["patch"]}"#
        ),
        "{}",
        refused.stderr
    );
    assert_eq!(replicas(), "6", "nothing was resized");
    assert!(
        !kubectl(&["get", "lease", "redis-cluster-lock", "-n", n])
            .status
            .success(),
        "no lock was taken"
    );

    let dry = as_restricted(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stderr
            .contains(&format!("! missing rights in namespace {n}: update leases")),
        "{}",
        dry.stderr
    );
    let status: serde_json::Value =
        serde_json::from_str(&plugin_ok(&["-n", n, "status", "-o", "json"])).expect("JSON");
    assert_eq!(status["healthy"], true, "{status:#}");
}

#[test]
fn a_move_past_a_pods_memory_limit_is_refused_before_any_slot_moves() {
    let ns = Namespace::create("memlimit");
    let n = ns.name.as_str();
    plugin_ok(&["-n", n, "deploy"]);
    // A 5 MiB memory limit on the Redis container (kwok does not enforce it; the plugin
    // reads it), rolled out before the cluster is formed.
    kubectl_ok(&[
        "-n",
        n,
        "patch",
        "statefulset",
        "redis-cluster",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/spec/template/spec/containers/0/resources/limits","value":{"memory":"5Mi"}},{"op":"replace","path":"/spec/template/spec/containers/0/resources/requests/memory","value":"5Mi"}]"#,
    ]);
    kubectl_ok(&[
        "-n",
        n,
        "rollout",
        "status",
        "statefulset/redis-cluster",
        "--timeout=120s",
    ]);
    plugin_ok(&["-n", n, "init", "--yes"]);
    let status = crate::cluster::status_json(&plugin_ok(&["-n", n, "status", "-o", "json"]));
    let nodes: Vec<String> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["endpoint"].as_str().unwrap().to_string())
        .collect();
    // About 5 MB of values over three masters: each uses some 3-4 MB of its 5 MiB.
    let urls: Vec<String> = nodes.iter().map(|e| format!("redis://{e}")).collect();
    let client = redis::cluster::ClusterClient::new(urls).expect("cluster client");
    let mut conn = client.get_connection().expect("cluster connection");
    let value = "x".repeat(1000);
    for i in 0..5000 {
        let _: () = redis::cmd("SET")
            .arg(format!("mem:{i}"))
            .arg(&value)
            .query(&mut conn)
            .expect("SET");
    }
    let target = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["role"] == "master")
        .and_then(|x| x["pod"].as_str())
        .expect("a master pod")
        .to_string();
    let layout = || {
        crate::cluster::masters_from_status(&crate::cluster::status_json(&plugin_ok(&[
            "-n", n, "status", "-o", "json",
        ])))
    };
    let before = layout();

    // 10000 slots (some 3 MB) onto one master: past its limit, refused, nothing moved.
    let big = plugin(&[
        "-n", n, "reshard", "--from", "all", "--to", &target, "--slots", "10000", "--yes",
    ]);
    assert_eq!(big.code, 2, "{big:?}");
    assert!(
        big.stderr.contains("over its pod memory limit 5.0MiB")
            && big.stderr.contains("hint: raise their maxmemory"),
        "{}",
        big.stderr
    );
    assert_eq!(layout(), before, "a refused reshard moved slots");
    // 100 slots fit.
    let small = plugin(&[
        "-n", n, "reshard", "--from", "all", "--to", &target, "--slots", "100", "--yes",
    ]);
    assert_eq!(small.code, 0, "{small:?}");
}
