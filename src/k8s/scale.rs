//! The StatefulSet's scale subresource: read and set the replica count. Waiting for the pods
//! to follow is [`K8s::wait_members`].

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::{Patch, PatchParams};

use super::client::K8s;
use super::error::{K8sError, Op};

/// The field manager of every change the plugin makes.
pub const FIELD_MANAGER: &str = "kubectl-redis-cluster";

/// A StatefulSet's replica counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replicas {
    /// `spec.replicas`: what was asked for.
    pub desired: u32,
    /// `status.replicas`: pods that exist.
    pub current: u32,
}

impl K8s {
    /// Reads the StatefulSet's scale subresource.
    pub async fn replicas(&self, name: &str) -> Result<Replicas, K8sError> {
        let op = Op::new("get", "statefulsets/scale").on("statefulset", name);
        let scale = self
            .api::<StatefulSet>()
            .get_scale(name)
            .await
            .map_err(|e| self.scope.classify(op, e))?;
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        Ok(Replicas {
            desired: count(scale.spec.and_then(|s| s.replicas).unwrap_or(0)),
            current: count(scale.status.map_or(0, |s| s.replicas)),
        })
    }

    /// Sets `spec.replicas` through the scale subresource (what `kubectl scale` does).
    pub async fn set_replicas(&self, name: &str, replicas: u32) -> Result<(), K8sError> {
        let op = Op::new("patch", "statefulsets/scale").on("statefulset", name);
        let patch = serde_json::json!({ "spec": { "replicas": replicas } });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        self.api::<StatefulSet>()
            .patch_scale(name, &params, &Patch::Merge(&patch))
            .await
            .map_err(|e| self.scope.classify(op, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::mock::{k8s, route, status};
    use super::*;

    const SCALE: &str = "/apis/apps/v1/namespaces/shop/statefulsets/redis-cluster/scale";

    #[tokio::test]
    async fn replicas_are_read_from_the_scale_subresource() {
        let body = serde_json::json!({
            "apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": "redis-cluster"},
            "spec": {"replicas": 8}, "status": {"replicas": 6, "selector": "app=x"},
        });
        let (k8s, _) = k8s(vec![route("GET", SCALE, 200, body)]);
        assert_eq!(
            k8s.replicas("redis-cluster").await.unwrap(),
            Replicas {
                desired: 8,
                current: 6
            }
        );
    }

    #[tokio::test]
    async fn scaling_is_a_merge_patch_of_the_scale_subresource() {
        let body =
            serde_json::json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {}});
        let (k8s, seen) = k8s(vec![route("PATCH", SCALE, 200, body)]);
        k8s.set_replicas("redis-cluster", 8).await.unwrap();
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            [format!("PATCH {SCALE}?&fieldManager=kubectl-redis-cluster")]
        );
    }

    #[tokio::test]
    async fn a_denied_scale_names_the_verb_and_the_role() {
        let (k8s, _) = k8s(vec![route(
            "PATCH",
            SCALE,
            403,
            status(403, "Forbidden", "no"),
        )]);
        let err = k8s.set_replicas("redis-cluster", 8).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "forbidden: cannot patch statefulsets/scale in namespace shop: ask for the Role in manifests/base/rbac-plugin-user.yaml"
        );
    }
}
