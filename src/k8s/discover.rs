//! Discovery: StatefulSet → selector → pods → the pure [`Pods`] model, with each pod's
//! Kubernetes node and that node's zone label.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::ListParams;
use kube::core::Selector;

use super::client::K8s;
use super::error::{K8sError, Op};
use super::pods::{Pods, ZONE_LABEL};
use crate::topology::Endpoint;

impl K8s {
    /// The StatefulSet; a 404 says whether the namespace or the StatefulSet is missing.
    pub async fn statefulset(&self, name: &str) -> Result<StatefulSet, K8sError> {
        let op = Op::new("get", "statefulsets").on("statefulset", name);
        match self.api::<StatefulSet>().get(name).await {
            Ok(sts) => Ok(sts),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(self
                .not_found_namespace()
                .await
                .unwrap_or_else(|| self.scope.classify(op, kube::Error::Api(s)))),
            Err(e) => Err(self.scope.classify(op, e)),
        }
    }

    /// `NamespaceNotFound` when our namespace does not exist; `None` when it exists or we
    /// may not tell (reading namespaces is not in the plugin user's Role).
    pub(super) async fn not_found_namespace(&self) -> Option<K8sError> {
        let api = kube::Api::<Namespace>::all(self.client.clone());
        match api.get(&self.scope.namespace).await {
            Err(kube::Error::Api(s)) if s.code == 404 => Some(K8sError::NamespaceNotFound {
                namespace: self.scope.namespace.clone(),
                context: self.scope.context.clone(),
            }),
            _ => None,
        }
    }

    /// The label selector of a StatefulSet's pods.
    pub fn pod_selector(&self, sts: &StatefulSet) -> Result<Selector, K8sError> {
        let name = sts.metadata.name.clone().unwrap_or_default();
        let refused = |message: String| K8sError::Refused {
            verb: "read".into(),
            resource: format!("the selector of statefulset {name}"),
            namespace: self.scope.namespace.clone(),
            context: self.scope.context.clone(),
            message,
        };
        let selector = sts
            .spec
            .as_ref()
            .map(|s| s.selector.clone())
            .ok_or_else(|| refused("the StatefulSet has no spec".into()))?;
        Selector::try_from(selector).map_err(|e| refused(e.to_string()))
    }

    /// Every pod of the StatefulSet `name`, with node and zone.
    pub async fn members(&self, name: &str, port: u16) -> Result<Pods, K8sError> {
        let sts = self.statefulset(name).await?;
        self.members_of(&sts, port).await
    }

    /// Every pod of `sts`, with node and zone.
    pub async fn members_of(&self, sts: &StatefulSet, port: u16) -> Result<Pods, K8sError> {
        let name = sts.metadata.name.as_deref().unwrap_or_default();
        let pods = self.pods(&self.pod_selector(sts)?).await?;
        let zones = self.zones(&pods).await;
        Ok(Pods::from_objects(name, port, &pods, &zones))
    }

    /// The pods matching `selector`.
    pub async fn pods(&self, selector: &Selector) -> Result<Vec<Pod>, K8sError> {
        Ok(self
            .api::<Pod>()
            .list(&ListParams::default().labels_from(selector))
            .await
            .map_err(|e| self.scope.classify(Op::new("list", "pods"), e))?
            .items)
    }

    /// The zone label of every node these pods run on. Best effort: without the right to read
    /// nodes, pods fall back to their node name as failure domain.
    async fn zones(&self, pods: &[Pod]) -> BTreeMap<String, String> {
        let nodes: std::collections::BTreeSet<&str> = pods
            .iter()
            .filter_map(|p| p.spec.as_ref()?.node_name.as_deref())
            .collect();
        let api = kube::Api::<Node>::all(self.client.clone());
        let mut zones = BTreeMap::new();
        for node in nodes {
            let Ok(Some(n)) = api.get_opt(node).await else {
                continue;
            };
            if let Some(zone) = n.metadata.labels.as_ref().and_then(|l| l.get(ZONE_LABEL)) {
                zones.insert(node.to_string(), zone.clone());
            }
        }
        zones
    }
}

/// The addresses a MEET may name in Kubernetes mode: those the StatefulSet's pods hold now,
/// read from the API each time (pod IPs are reused, and a MEET to an IP another cluster's
/// pod now holds merges the clusters).
pub struct PodAddresses {
    /// The client.
    pub k8s: K8s,
    /// The StatefulSet.
    pub statefulset: String,
    /// The client port.
    pub port: u16,
}

impl crate::redis::converge::Addresses for PodAddresses {
    fn current(
        &self,
    ) -> futures::future::BoxFuture<'_, anyhow::Result<Option<std::collections::BTreeSet<Endpoint>>>>
    {
        Box::pin(async move {
            let pods = self.k8s.members(&self.statefulset, self.port).await?;
            Ok(Some(pods.endpoints().into_iter().collect()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::mock::{k8s, route, status};

    const STS: &str = "/apis/apps/v1/namespaces/shop/statefulsets/redis-cluster";

    fn statefulset() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "redis-cluster", "namespace": "shop"},
            "spec": {
                "serviceName": "redis-cluster-headless",
                "selector": {"matchLabels": {"app.kubernetes.io/name": "redis-cluster"}},
                "template": {"metadata": {}, "spec": {"containers": []}},
            },
        })
    }

    fn pod(name: &str, ip: &str, node: &str) -> serde_json::Value {
        serde_json::to_value(super::super::pods::fixtures::pod(name, ip, node)).unwrap()
    }

    #[tokio::test]
    async fn pods_are_found_through_the_statefulsets_selector_with_their_zones() {
        let pods = serde_json::json!({
            "apiVersion": "v1", "kind": "PodList", "metadata": {},
            "items": [pod("redis-cluster-1", "10.0.0.2", "n2"), pod("redis-cluster-0", "10.0.0.1", "n1")],
        });
        let node = serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "eu-1a"}},
        });
        let (k8s, seen) = k8s(vec![
            route("GET", STS, 200, statefulset()),
            route("GET", "/api/v1/namespaces/shop/pods", 200, pods),
            route("GET", "/api/v1/nodes/n1", 200, node),
        ]);
        let found = k8s.members("redis-cluster", 6379).await.unwrap();
        let domains: Vec<(String, String)> = found
            .members
            .iter()
            .map(|m| (m.pod.clone(), m.domain()))
            .collect();
        assert_eq!(
            domains,
            [
                ("redis-cluster-0".to_string(), "eu-1a".to_string()),
                ("redis-cluster-1".to_string(), "n2".to_string())
            ]
        );
        let requests = seen.lock().unwrap().clone();
        assert!(
            requests[1].ends_with("labelSelector=app.kubernetes.io%2Fname%3Dredis-cluster"),
            "{requests:?}"
        );
    }

    #[tokio::test]
    async fn a_missing_statefulset_in_an_existing_namespace_is_named() {
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
        let (k8s, _) = k8s(vec![route("GET", "/api/v1/namespaces/shop", 200, ns)]);
        let err = k8s.members("redis-cluster", 6379).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "statefulset redis-cluster not found in namespace shop (context test)"
        );
    }

    #[tokio::test]
    async fn a_missing_namespace_is_named_instead_of_the_statefulset() {
        let (k8s, _) = k8s(vec![]);
        let err = k8s.members("redis-cluster", 6379).await.unwrap_err();
        assert_eq!(err.to_string(), "namespace shop not found (context test)");
    }

    #[tokio::test]
    async fn a_denied_pod_list_names_the_verb_and_resource() {
        let (k8s, _) = k8s(vec![
            route("GET", STS, 200, statefulset()),
            route(
                "GET",
                "/api/v1/namespaces/shop/pods",
                403,
                status(403, "Forbidden", "no"),
            ),
        ]);
        let err = k8s.members("redis-cluster", 6379).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "forbidden: cannot list pods in namespace shop: ask for the Role in manifests/base/rbac-plugin-user.yaml"
        );
    }
}
