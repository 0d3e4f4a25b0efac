//! The StatefulSet side of a rolling restart or upgrade. The template changes (a
//! `kubectl.kubernetes.io/restartedAt` annotation, as `kubectl rollout restart` sets, or the
//! Redis container's image) together with `updateStrategy: OnDelete`, so the StatefulSet
//! controller replaces no pod by itself: the plugin deletes them one at a time, in its own
//! order, and each comes back from the new revision. An annotation on the StatefulSet
//! records the rollout in progress and the update strategy to restore at its end, so a
//! re-run continues it.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams};

use super::client::K8s;
use super::error::{K8sError, Op};
use super::locate::{containers, is_redis_container};
use super::scale::FIELD_MANAGER;

/// The StatefulSet annotation that records a rollout in progress.
pub const ROLLOUT_ANNOTATION: &str = "kubectl-redis-cluster/rollout";

/// What a rollout changes in the pod template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing but a restart stamp (RFC 3339 time).
    Restart {
        /// When it was asked for.
        at: String,
    },
    /// The Redis container's image.
    Image(String),
    /// Hostname mode ([`super::announce`]): the redis container's patch (strategic merge)
    /// that announces `<pod>.<service>.<namespace>.svc.<domain>`.
    Hostnames {
        /// The headless Service the names live under.
        service: String,
        /// The cluster's DNS domain.
        domain: String,
        /// The container patch: name, edited command or args, env.
        container: serde_json::Value,
    },
}

impl Change {
    /// How the rollout is recorded: `restart`, `upgrade IMAGE`.
    pub fn label(&self) -> String {
        match self {
            Change::Restart { .. } => "restart".into(),
            Change::Image(image) => format!("upgrade {image}"),
            Change::Hostnames { .. } => "hostnames".into(),
        }
    }
}

/// A rollout in progress, as recorded on the StatefulSet.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InProgress {
    /// [`Change::label`].
    pub what: String,
    /// `spec.updateStrategy` before the rollout (restored at its end).
    pub strategy: serde_json::Value,
}

/// The StatefulSet as a rollout sees it.
#[derive(Clone, Debug)]
pub struct RolloutState {
    /// The rollout in progress, if any.
    pub in_progress: Option<InProgress>,
    /// `status.updateRevision`, once the controller has seen the current template.
    pub update_revision: Option<String>,
    /// The Redis container's name and image.
    pub container: Option<(String, String)>,
    /// The Redis container as the template has it.
    pub redis: Option<k8s_openapi::api::core::v1::Container>,
    /// `spec.serviceName`: the headless Service.
    pub service: Option<String>,
}

impl K8s {
    /// The StatefulSet's rollout state.
    pub async fn rollout_state(&self, name: &str) -> Result<RolloutState, K8sError> {
        let sts = self.statefulset(name).await?;
        let in_progress = sts
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ROLLOUT_ANNOTATION))
            .and_then(|text| serde_json::from_str(text).ok());
        let observed = sts.status.as_ref().and_then(|s| s.observed_generation);
        let current = observed.is_some() && observed == sts.metadata.generation;
        Ok(RolloutState {
            in_progress,
            update_revision: sts
                .status
                .as_ref()
                .and_then(|s| s.update_revision.clone())
                .filter(|_| current),
            container: containers(&sts)
                .into_iter()
                .find(is_redis_container)
                .map(|c| (c.name, c.image.unwrap_or_default())),
            redis: containers(&sts).into_iter().find(is_redis_container),
            service: sts
                .spec
                .as_ref()
                .and_then(|s| s.service_name.clone())
                .filter(|s| !s.is_empty()),
        })
    }

    /// Changes the template for `change` with `updateStrategy: OnDelete`, recording the
    /// rollout (and the strategy it replaces, unless one is recorded already).
    pub async fn start_rollout(&self, name: &str, change: &Change) -> Result<(), K8sError> {
        let sts = self.statefulset(name).await?;
        let recorded: Option<InProgress> = sts
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ROLLOUT_ANNOTATION))
            .and_then(|text| serde_json::from_str(text).ok());
        let strategy = match recorded {
            Some(r) => r.strategy,
            None => serde_json::to_value(sts.spec.as_ref().and_then(|s| s.update_strategy.clone()))
                .unwrap_or(serde_json::Value::Null),
        };
        let record = InProgress {
            what: change.label(),
            strategy,
        };
        let template = match change {
            Change::Restart { at } => serde_json::json!({
                "metadata": { "annotations": { "kubectl.kubernetes.io/restartedAt": at } }
            }),
            Change::Image(image) => {
                let container = containers(&sts)
                    .into_iter()
                    .find(is_redis_container)
                    .map(|c| c.name)
                    .unwrap_or_else(|| "redis".into());
                serde_json::json!({
                    "spec": { "containers": [ { "name": container, "image": image } ] }
                })
            }
            Change::Hostnames { container, .. } => serde_json::json!({
                "spec": { "containers": [ container ] }
            }),
        };
        let patch = serde_json::json!({
            "metadata": { "annotations": {
                ROLLOUT_ANNOTATION: serde_json::to_string(&record).unwrap_or_default()
            } },
            "spec": {
                "updateStrategy": { "type": "OnDelete", "rollingUpdate": null },
                "template": template,
            }
        });
        self.patch_statefulset(name, &Patch::Strategic(&patch))
            .await
    }

    /// Restores the update strategy recorded at the start and removes the record.
    pub async fn finish_rollout(&self, name: &str, recorded: &InProgress) -> Result<(), K8sError> {
        let strategy = match &recorded.strategy {
            serde_json::Value::Null => serde_json::json!({ "type": "RollingUpdate" }),
            other => other.clone(),
        };
        let patch = serde_json::json!({
            "metadata": { "annotations": { ROLLOUT_ANNOTATION: null } },
            "spec": { "updateStrategy": strategy }
        });
        self.patch_statefulset(name, &Patch::Strategic(&patch))
            .await
    }

    /// Deletes one pod (its StatefulSet creates it again).
    pub async fn delete_pod(&self, pod: &str) -> Result<(), K8sError> {
        let op = Op::new("delete", "pods").on("pod", pod);
        self.api::<Pod>()
            .delete(pod, &DeleteParams::default())
            .await
            .map_err(|e| self.scope.classify(op, e))?;
        Ok(())
    }

    async fn patch_statefulset(
        &self,
        name: &str,
        patch: &Patch<&serde_json::Value>,
    ) -> Result<(), K8sError> {
        let op = Op::new("patch", "statefulsets").on("statefulset", name);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        self.api::<StatefulSet>()
            .patch(name, &params, patch)
            .await
            .map_err(|e| self.scope.classify(op, e))?;
        Ok(())
    }
}
