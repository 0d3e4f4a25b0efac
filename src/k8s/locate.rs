//! Finding a cluster the plugin did not deploy: which StatefulSet runs it and on which client
//! port, from the pod spec, when `--statefulset` and `--port` do not say. What the flags say
//! always wins; without them the plugin's own names come first (`redis-cluster`, 6379), then
//! the only StatefulSet in the namespace whose containers run Redis or Valkey.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Container;
use kube::api::ListParams;

use super::client::K8s;
use super::error::{K8sError, Op};

/// The StatefulSet name the plugin deploys, and looks for first.
pub const DEFAULT_STATEFULSET: &str = "redis-cluster";

/// The client port when neither `--port` nor the pod spec says one.
pub const DEFAULT_PORT: u16 = 6379;

/// Names a container port holding the client port is commonly given (ours, Bitnami's, the
/// classic workflow's, Valkey's).
use crate::topology::EngineKind;

const CLIENT_PORT_NAMES: [&str; 5] = ["client", "redis", "tcp-redis", "valkey", "tcp-valkey"];

/// The StatefulSet found and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// Its name.
    pub statefulset: String,
    /// The client port.
    pub port: u16,
    /// What was inferred rather than given, for one line of progress (empty when the flags or
    /// the defaults said everything).
    pub inferred: Vec<String>,
}

impl K8s {
    /// The StatefulSet and port to work on: `statefulset`/`port` when given; else
    /// `redis-cluster` if it exists, else the only Redis-looking StatefulSet of the namespace;
    /// the port from that StatefulSet's redis container, else 6379.
    pub async fn locate(
        &self,
        statefulset: Option<&str>,
        port: Option<u16>,
    ) -> Result<(StatefulSet, Located), K8sError> {
        let mut inferred = Vec::new();
        let sts = match statefulset {
            Some(name) => self.statefulset(name).await?,
            None => match self.statefulset(DEFAULT_STATEFULSET).await {
                Ok(sts) => sts,
                Err(K8sError::NotFound { .. }) => {
                    let sts = self.only_redis_statefulset().await?;
                    let name = sts.metadata.name.clone().unwrap_or_default();
                    inferred.push(format!(
                        "statefulset {name} (the only one in namespace {} that runs redis or valkey; --statefulset picks another)",
                        self.scope.namespace
                    ));
                    sts
                }
                Err(e) => return Err(e),
            },
        };
        let port = match port {
            Some(port) => port,
            None => match client_port(&sts) {
                Some(port) if port != DEFAULT_PORT => {
                    inferred.push(format!(
                        "client port {port} (from the pod spec; --port sets another)"
                    ));
                    port
                }
                _ => DEFAULT_PORT,
            },
        };
        let located = Located {
            statefulset: sts.metadata.name.clone().unwrap_or_default(),
            port,
            inferred,
        };
        Ok((sts, located))
    }

    /// The one StatefulSet of the namespace that runs Redis or Valkey.
    async fn only_redis_statefulset(&self) -> Result<StatefulSet, K8sError> {
        let all = self
            .api::<StatefulSet>()
            .list(&ListParams::default())
            .await
            .map_err(|e| self.scope.classify(Op::new("list", "statefulsets"), e))?
            .items;
        let mut redis: Vec<StatefulSet> = all.into_iter().filter(runs_redis).collect();
        match redis.len() {
            1 => Ok(redis.remove(0)),
            0 => Err(self.not_found_namespace().await.unwrap_or_else(|| {
                K8sError::NoRedisStatefulSet {
                    namespace: self.scope.namespace.clone(),
                    context: self.scope.context.clone(),
                }
            })),
            _ => Err(K8sError::SeveralRedisStatefulSets {
                namespace: self.scope.namespace.clone(),
                names: redis
                    .iter()
                    .filter_map(|s| s.metadata.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// Whether some container of the StatefulSet runs Redis or Valkey: by its image, or by the
/// server its command starts.
pub fn runs_redis(sts: &StatefulSet) -> bool {
    containers(sts).iter().any(is_redis_container)
}

/// The client port the StatefulSet's redis container declares: a port with a client-port
/// name, else 6379 if declared, else its only port that is not a bus, metrics or exporter
/// port. `None` when the spec does not tell.
pub fn client_port(sts: &StatefulSet) -> Option<u16> {
    let all = containers(sts);
    let container = all
        .iter()
        .find(|c| is_redis_container(c))
        .or_else(|| all.first())?;
    let ports: Vec<(Option<&str>, u16)> = container
        .ports
        .iter()
        .flatten()
        .filter_map(|p| Some((p.name.as_deref(), u16::try_from(p.container_port).ok()?)))
        .collect();
    if let Some((_, port)) = ports
        .iter()
        .find(|(name, _)| name.is_some_and(|n| CLIENT_PORT_NAMES.contains(&n)))
    {
        return Some(*port);
    }
    if ports.iter().any(|(_, port)| *port == DEFAULT_PORT) {
        return Some(DEFAULT_PORT);
    }
    let numbers: Vec<u16> = ports.iter().map(|(_, p)| *p).collect();
    let clients: Vec<u16> = ports
        .iter()
        .filter(|(name, port)| {
            let named_other = name.is_some_and(|n| {
                ["bus", "gossip", "metrics", "exporter", "sentinel"]
                    .iter()
                    .any(|other| n.contains(other))
            });
            let is_bus_of_another = port
                .checked_sub(10_000)
                .is_some_and(|client| numbers.contains(&client));
            !named_other && !is_bus_of_another
        })
        .map(|(_, port)| *port)
        .collect();
    match clients.as_slice() {
        [only] => Some(*only),
        _ => None,
    }
}

/// Which server the StatefulSet's redis container runs, by its image's name or the server
/// its command starts (Valkey when either says valkey); `None` when no container runs one.
pub fn server_kind(sts: &StatefulSet) -> Option<EngineKind> {
    let c = containers(sts).into_iter().find(is_redis_container)?;
    let image = c.image.as_deref().unwrap_or_default();
    let name = image.rsplit('/').next().unwrap_or(image);
    let valkey = name.to_ascii_lowercase().contains("valkey")
        || c.command
            .iter()
            .chain(c.args.iter())
            .flatten()
            .any(|word| word.contains("valkey-server"));
    Some(if valkey {
        EngineKind::Valkey
    } else {
        EngineKind::Redis
    })
}

/// The containers of the pod template.
pub(super) fn containers(sts: &StatefulSet) -> Vec<Container> {
    sts.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| p.containers.clone())
        .unwrap_or_default()
}

/// A container running Redis or Valkey (its image, or the server its command starts).
pub(super) fn is_redis_container(c: &Container) -> bool {
    let mentions = |text: &str| {
        let text = text.to_ascii_lowercase();
        text.contains("redis") || text.contains("valkey")
    };
    let image = c.image.as_deref().is_some_and(|i| {
        // The image's name, not its registry or tag: `quay.io/acme/redis:7` yes,
        // `redis-exporter` would also say redis, so exporters are excluded by name.
        let name = i.rsplit('/').next().unwrap_or(i);
        mentions(name) && !name.contains("exporter")
    });
    let command = c
        .command
        .iter()
        .chain(c.args.iter())
        .flatten()
        .any(|word| word.contains("redis-server") || word.contains("valkey-server"));
    image || command
}

#[cfg(test)]
mod tests {
    use super::super::mock::{k8s, route, status};
    use super::*;

    const LIST: &str = "/apis/apps/v1/namespaces/shop/statefulsets";
    const NAMESPACE: &str = "/api/v1/namespaces/shop";

    fn sts(name: &str, image: &str, ports: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "serviceName": name,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [
                        {"name": "metrics", "image": "oliver006/redis_exporter:v1.62.0",
                         "ports": [{"name": "metrics", "containerPort": 9121}]},
                        {"name": "server", "image": image, "ports": ports},
                    ]}
                }
            }
        })
    }

    fn parse(value: serde_json::Value) -> StatefulSet {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_server_kind_comes_from_the_image_or_the_command() {
        let ports = serde_json::json!([]);
        let kind = |image: &str| server_kind(&parse(sts("c", image, ports.clone())));
        assert_eq!(kind("redis:7.0.15"), Some(EngineKind::Redis));
        assert_eq!(kind("valkey/valkey:9.1"), Some(EngineKind::Valkey));
        assert_eq!(
            kind("registry.local:5000/cache/valkey:8.1"),
            Some(EngineKind::Valkey)
        );
        assert_eq!(kind("nginx:1"), None);
    }

    #[test]
    fn the_client_port_comes_from_the_redis_containers_ports() {
        let named = parse(sts(
            "cache",
            "docker.io/bitnami/redis-cluster:7.2",
            serde_json::json!([{"name": "tcp-redis", "containerPort": 7000}, {"name": "tcp-redis-bus", "containerPort": 17000}]),
        ));
        assert!(runs_redis(&named));
        assert_eq!(client_port(&named), Some(7000));
        let unnamed = parse(sts(
            "cache",
            "valkey/valkey:9",
            serde_json::json!([{"containerPort": 7100}, {"containerPort": 17100}]),
        ));
        assert_eq!(client_port(&unnamed), Some(7100));
        let classic = parse(sts(
            "redis-cluster",
            "redis:5.0-rc",
            serde_json::json!([{"name": "client", "containerPort": 6379}, {"name": "gossip", "containerPort": 16379}]),
        ));
        assert_eq!(client_port(&classic), Some(6379));
        let silent = parse(sts("cache", "redis:7", serde_json::json!([])));
        assert_eq!(client_port(&silent), None);
        let exporter_only = parse(sts("metrics", "nginx:1", serde_json::json!([])));
        assert!(
            !runs_redis(&exporter_only),
            "an exporter alone is not redis"
        );
    }

    fn list(items: Vec<serde_json::Value>) -> serde_json::Value {
        serde_json::json!({"apiVersion": "apps/v1", "kind": "StatefulSetList", "metadata": {}, "items": items})
    }

    #[tokio::test]
    async fn without_flags_the_only_redis_statefulset_and_its_port_are_used() {
        let cache = sts(
            "cache",
            "bitnami/redis-cluster:7.2",
            serde_json::json!([{"name": "tcp-redis", "containerPort": 7000}]),
        );
        let web = serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"serviceName": "web", "selector": {}, "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1"}]}}}
        });
        let (k8s, _) = k8s(vec![
            route("GET", LIST, 200, list(vec![web, cache])),
            route(
                "GET",
                NAMESPACE,
                200,
                serde_json::json!({"metadata": {"name": "shop"}}),
            ),
        ]);
        let (found, located) = k8s.locate(None, None).await.unwrap();
        assert_eq!(found.metadata.name.as_deref(), Some("cache"));
        assert_eq!(
            (located.statefulset.as_str(), located.port),
            ("cache", 7000)
        );
        assert_eq!(located.inferred.len(), 2, "{:?}", located.inferred);
        assert!(
            located.inferred[0].starts_with("statefulset cache (the only one in namespace shop")
        );

        // --port wins over the pod spec.
        let (_, located) = k8s.locate(None, Some(7001)).await.unwrap();
        assert_eq!(located.port, 7001);
    }

    #[tokio::test]
    async fn the_plugins_own_statefulset_comes_first_and_several_candidates_are_named() {
        let ours = sts(
            "redis-cluster",
            "redis:7.2",
            serde_json::json!([{"name": "client", "containerPort": 6379}]),
        );
        let (k8s, seen) = k8s(vec![route(
            "GET",
            &format!("{LIST}/redis-cluster"),
            200,
            ours,
        )]);
        let (_, located) = k8s.locate(None, None).await.unwrap();
        assert_eq!(
            located,
            Located {
                statefulset: "redis-cluster".into(),
                port: 6379,
                inferred: vec![]
            }
        );
        assert_eq!(seen.lock().unwrap().len(), 1, "no list when ours exists");

        let (k8s, _) = k8s_with_two();
        let err = k8s.locate(None, None).await.unwrap_err().to_string();
        assert_eq!(
            err,
            "namespace shop has several StatefulSets running redis or valkey (cache, sessions): name one with --statefulset NAME"
        );
    }

    fn k8s_with_two() -> (K8s, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let a = sts("cache", "redis:7.2", serde_json::json!([]));
        let b = sts("sessions", "valkey/valkey:8", serde_json::json!([]));
        k8s(vec![
            route("GET", LIST, 200, list(vec![a, b])),
            route(
                "GET",
                "/api/v1/namespaces/shop",
                200,
                serde_json::json!({"metadata": {"name": "shop"}}),
            ),
        ])
    }

    #[tokio::test]
    async fn no_redis_statefulset_at_all_says_how_to_name_one() {
        let (k8s, _) = k8s(vec![
            route("GET", LIST, 200, list(vec![])),
            route(
                "GET",
                "/api/v1/namespaces/shop",
                200,
                serde_json::json!({"metadata": {"name": "shop"}}),
            ),
        ]);
        let err = k8s.locate(None, None).await.unwrap_err().to_string();
        assert_eq!(
            err,
            "no StatefulSet in namespace shop (context test) runs redis or valkey: deploy one with `kubectl redis-cluster deploy`, pick the namespace with -n, or name the StatefulSet with --statefulset NAME"
        );
        // A namespace that does not exist is named as such.
        let (k8s, _) = k8s_missing_namespace();
        let err = k8s.locate(None, None).await.unwrap_err().to_string();
        assert_eq!(err, "namespace shop not found (context test)");
    }

    fn k8s_missing_namespace() -> (K8s, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        k8s(vec![
            route("GET", LIST, 200, list(vec![])),
            route(
                "GET",
                "/api/v1/namespaces/shop",
                404,
                status(404, "NotFound", "namespaces \"shop\" not found"),
            ),
        ])
    }
}
