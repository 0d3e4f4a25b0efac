//! The per-pod kwok debugging objects: a `PortForward` (kwok dials the pod's IP when the API
//! server forwards a port of the pod) and an `Exec` (kwok runs `kubectl exec` commands on this
//! host, with `POD_IP` etc. in the environment, so the `redis-cli` wrapper in kwok's PATH talks to
//! this pod's server). Both are named after the pod and owned by it (ownerReference), so the
//! garbage collector removes them when the pod goes away.

use anyhow::{Context, Result};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};
use std::path::Path;

use crate::podspec::{ObjKey, RedisPod};

/// Field manager name used for server-side apply.
const MANAGER: &str = "pod-harness";

/// `kwok.x-k8s.io/v1alpha1` resource description for `kind` (`PortForward` or `Exec`).
fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kwok.x-k8s.io", "v1alpha1", kind),
        plural,
    )
}

/// `PortForward` resource.
fn port_forward_resource() -> ApiResource {
    resource("PortForward", "portforwards")
}

/// `Exec` resource.
fn exec_resource() -> ApiResource {
    resource("Exec", "execs")
}

/// Metadata shared by both objects: name = pod name, owned by the pod.
fn metadata(rp: &RedisPod) -> Value {
    json!({
        "name": rp.key.name,
        "namespace": rp.key.ns,
        "labels": {"app.kubernetes.io/managed-by": MANAGER},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": rp.key.name, "uid": rp.uid}],
    })
}

/// The `PortForward` object: every forwardable port goes to the same port on the pod IP.
pub fn port_forward_object(rp: &RedisPod) -> Value {
    let forwards: Vec<Value> = rp
        .forward_ports
        .iter()
        .map(|p| json!({"ports": [p], "target": {"address": rp.ip, "port": p}}))
        .collect();
    json!({
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "PortForward",
        "metadata": metadata(rp),
        "spec": {"forwards": forwards},
    })
}

/// The `Exec` object: local exec in `work_dir` with the pod's environment.
pub fn exec_object(rp: &RedisPod, env: &[(String, String)], work_dir: &Path) -> Value {
    let envs: Vec<Value> = env
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    json!({
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Exec",
        "metadata": metadata(rp),
        "spec": {"execs": [{"local": {"workDir": work_dir.display().to_string(), "envs": envs}}]},
    })
}

/// Server-side applies `obj` (a kwok object for `rp`'s pod).
async fn apply(client: &Client, ar: &ApiResource, key: &ObjKey, obj: &Value) -> Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &key.ns, ar);
    api.patch(
        &key.name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
    .with_context(|| format!("failed to apply {} {key}", ar.kind))?;
    Ok(())
}

/// Creates or updates the `PortForward` and `Exec` objects of a pod.
pub async fn apply_debug_objects(
    client: &Client,
    rp: &RedisPod,
    env: &[(String, String)],
    work_dir: &Path,
) -> Result<()> {
    apply(
        client,
        &port_forward_resource(),
        &rp.key,
        &port_forward_object(rp),
    )
    .await?;
    apply(
        client,
        &exec_resource(),
        &rp.key,
        &exec_object(rp, env, work_dir),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_forward_maps_each_port_to_the_pod_ip() {
        let rp = RedisPod {
            key: ObjKey::new("rc", "redis-0"),
            uid: "u".into(),
            ip: "127.1.0.7".into(),
            container: "redis".into(),
            port: 6379,
            forward_ports: vec![6379, 16379],
            claim: None,
            data_mount: None,
            file_mounts: vec![],
            config_path: None,
            extra_args: vec![],
            env: vec![],
            valkey: false,
        };
        let pf = port_forward_object(&rp);
        assert_eq!(
            pf["spec"]["forwards"][1],
            json!({"ports": [16379], "target": {"address": "127.1.0.7", "port": 16379}})
        );
        assert_eq!(pf["metadata"]["ownerReferences"][0]["uid"], "u");
        let ex = exec_object(
            &rp,
            &[("POD_IP".into(), "127.1.0.7".into())],
            Path::new("/w"),
        );
        assert_eq!(
            ex["spec"]["execs"][0]["local"]["envs"][0]["value"],
            "127.1.0.7"
        );
    }
}
