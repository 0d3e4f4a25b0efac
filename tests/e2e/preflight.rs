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
