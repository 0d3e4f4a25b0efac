//! Our manifests against the real API server: every object of the base and of each overlay
//! passes a server-side dry-run apply with strict field validation.

use crate::ground::*;

#[test]
fn the_base_and_every_overlay_pass_a_server_side_dry_run() {
    let ns = Namespace::create("manifests");
    for dir in [
        "manifests",
        "manifests/overlays/auth",
        "manifests/overlays/tls",
        "manifests/overlays/valkey",
    ] {
        let path = repo().join(dir);
        let out = kubectl_ok(&[
            "apply",
            "-k",
            path.to_str().expect("utf-8 path"),
            "-n",
            &ns.name,
            "--server-side",
            "--dry-run=server",
            "--validate=strict",
        ]);
        for kind in [
            "statefulset.apps/redis-cluster",
            "configmap/redis-cluster",
            "poddisruptionbudget.policy/redis-cluster",
            "service/redis-cluster-headless",
        ] {
            assert!(out.contains(kind), "{dir}: {kind} missing from:\n{out}");
        }
    }
}
