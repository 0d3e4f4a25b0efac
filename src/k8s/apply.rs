//! Creating and deleting the base objects: server-side apply with our field manager (`deploy`)
//! and deletion by name (`destroy`).

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::K8s;
use super::error::{K8sError, Op};
use super::manifests::Object;
use super::scale::FIELD_MANAGER;

/// The RBAC resource name of each kind.
fn resource(object: &Object) -> &'static str {
    match object {
        Object::ConfigMap(_) => "configmaps",
        Object::Service(_) => "services",
        Object::PodDisruptionBudget(_) => "poddisruptionbudgets",
        Object::StatefulSet(_) => "statefulsets",
    }
}

impl K8s {
    /// Server-side applies one object. Conflicts with other field managers (an earlier
    /// `kubectl apply`) are forced: `deploy` states what the objects should be.
    pub async fn apply(&self, object: &Object) -> Result<(), K8sError> {
        match object {
            Object::ConfigMap(o) => self.apply_typed(o, object).await,
            Object::Service(o) => self.apply_typed(o, object).await,
            Object::PodDisruptionBudget(o) => self.apply_typed(o, object).await,
            Object::StatefulSet(o) => self.apply_typed(o, object).await,
        }
    }

    /// Deletes one object (a StatefulSet with its pods); `false` when it did not exist.
    pub async fn delete(&self, object: &Object) -> Result<bool, K8sError> {
        let name = object.name();
        match object {
            Object::ConfigMap(_) => self.delete_typed::<ConfigMap>(name, object).await,
            Object::Service(_) => self.delete_typed::<Service>(name, object).await,
            Object::PodDisruptionBudget(_) => {
                self.delete_typed::<PodDisruptionBudget>(name, object).await
            }
            Object::StatefulSet(_) => self.delete_typed::<StatefulSet>(name, object).await,
        }
    }

    /// Whether the object exists.
    pub async fn exists(&self, object: &Object) -> Result<bool, K8sError> {
        let name = object.name();
        let found = match object {
            Object::ConfigMap(_) => self
                .api::<ConfigMap>()
                .get_opt(name)
                .await
                .map(|o| o.is_some()),
            Object::Service(_) => self
                .api::<Service>()
                .get_opt(name)
                .await
                .map(|o| o.is_some()),
            Object::PodDisruptionBudget(_) => self
                .api::<PodDisruptionBudget>()
                .get_opt(name)
                .await
                .map(|o| o.is_some()),
            Object::StatefulSet(_) => self
                .api::<StatefulSet>()
                .get_opt(name)
                .await
                .map(|o| o.is_some()),
        };
        found.map_err(|e| {
            self.scope
                .classify(Op::new("get", resource(object)).on(object.kind(), name), e)
        })
    }

    /// Server-side apply of a typed object.
    async fn apply_typed<K>(&self, typed: &K, object: &Object) -> Result<(), K8sError>
    where
        K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned,
        K::DynamicType: Default,
    {
        let name = object.name();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let op = Op::new("patch", resource(object)).on(object.kind(), name);
        match self
            .api::<K>()
            .patch(name, &params, &Patch::Apply(typed))
            .await
        {
            Ok(_) => Ok(()),
            // Apply creates missing objects, so a 404 means the namespace is missing.
            Err(kube::Error::Api(s)) if s.code == 404 => Err(self
                .not_found_namespace()
                .await
                .unwrap_or_else(|| self.scope.classify(op, kube::Error::Api(s)))),
            Err(e) => Err(self.scope.classify(op, e)),
        }
    }

    /// Deletes by name, dependents in the background.
    async fn delete_typed<K>(&self, name: &str, object: &Object) -> Result<bool, K8sError>
    where
        K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned,
        K::DynamicType: Default,
    {
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match self.api::<K>().delete(name, &params).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(self.scope.classify(
                Op::new("delete", resource(object)).on(object.kind(), name),
                e,
            )),
        }
    }
}
