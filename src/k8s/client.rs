//! The Kubernetes client, configured like kubectl: `--kubeconfig`, else every file in
//! `KUBECONFIG` merged, else `~/.kube/config`; `--context`, else the current context; `-n`,
//! else the context's namespace. Inside a pod with no kubeconfig, the service account.

use std::path::PathBuf;

use kube::config::{Config, KubeConfigOptions, Kubeconfig, KubeconfigError};

use super::error::{K8sError, Scope};

/// Where the client configuration comes from, resolved from flags and environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigSource {
    /// Kubeconfig files, merged first-wins as kubectl does.
    pub kubeconfigs: Vec<PathBuf>,
    /// The files were named explicitly (`--kubeconfig` or `KUBECONFIG`): a missing one is an
    /// error rather than a reason to try the in-cluster configuration.
    pub explicit: bool,
    /// `KUBERNETES_SERVICE_HOST` is set: we run inside a pod.
    pub in_cluster: bool,
    /// `--context`.
    pub context: Option<String>,
    /// `-n`.
    pub namespace: Option<String>,
}

/// A client and where it points.
#[derive(Clone)]
pub struct K8s {
    /// The client.
    pub client: kube::Client,
    /// Namespace, context and server, for requests and error messages.
    pub scope: Scope,
    /// Configured from the pod's service account: pod IPs are reachable directly.
    pub in_cluster: bool,
}

impl K8s {
    /// Builds the client. No request is made yet, so an unreachable API server shows up at the
    /// first request, with its address in the error.
    pub async fn connect(source: &ConfigSource) -> Result<Self, K8sError> {
        let (config, context, in_cluster) = match load_kubeconfig(source)? {
            Some(kubeconfig) => {
                let context = pick_context(&kubeconfig, source.context.as_deref())?;
                let options = KubeConfigOptions {
                    context: Some(context.clone()),
                    ..KubeConfigOptions::default()
                };
                let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| K8sError::load_kubeconfig(paths(source), &e))?;
                (config, context, false)
            }
            None => (
                Config::incluster().map_err(|e| K8sError::InCluster(Box::new(e)))?,
                "in-cluster".to_string(),
                true,
            ),
        };
        let scope = Scope {
            namespace: source
                .namespace
                .clone()
                .unwrap_or_else(|| config.default_namespace.clone()),
            context: context.clone(),
            server: config.cluster_url.to_string(),
        };
        let client = kube::Client::try_from(config).map_err(|e| K8sError::Client {
            context,
            source: Box::new(e),
        })?;
        Ok(Self {
            client,
            scope,
            in_cluster,
        })
    }

    /// A client over any HTTP service (tests use a canned API server).
    pub fn with_client(client: kube::Client, scope: Scope) -> Self {
        Self {
            client,
            scope,
            in_cluster: false,
        }
    }

    /// The typed API for a namespaced kind in our namespace.
    pub fn api<K>(&self) -> kube::Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        kube::Api::namespaced(self.client.clone(), &self.scope.namespace)
    }
}

/// Reads and merges the kubeconfig files; `None` means "use the in-cluster configuration".
fn load_kubeconfig(source: &ConfigSource) -> Result<Option<Kubeconfig>, K8sError> {
    let existing: Vec<&PathBuf> = source
        .kubeconfigs
        .iter()
        .filter(|p| source.explicit || p.exists())
        .collect();
    if existing.is_empty() {
        if source.in_cluster && source.context.is_none() {
            return Ok(None);
        }
        let looked: Vec<String> = source
            .kubeconfigs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(K8sError::NoKubeconfig {
            looked: if looked.is_empty() {
                "~/.kube/config (HOME is not set)".into()
            } else {
                looked.join(", ")
            },
        });
    }
    let mut merged = Kubeconfig::default();
    for path in existing {
        let failed = |e: KubeconfigError| K8sError::load_kubeconfig(path.display().to_string(), &e);
        let next = Kubeconfig::read_from(path).map_err(failed)?;
        merged = merged.merge(next).map_err(failed)?;
    }
    Ok(Some(merged))
}

/// The kubeconfig files read, for messages.
fn paths(source: &ConfigSource) -> String {
    let paths: Vec<String> = source
        .kubeconfigs
        .iter()
        .filter(|p| source.explicit || p.exists())
        .map(|p| p.display().to_string())
        .collect();
    paths.join(", ")
}

/// The context to use: `--context` if it exists, else `current-context`.
fn pick_context(kubeconfig: &Kubeconfig, asked: Option<&str>) -> Result<String, K8sError> {
    let known: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let known_text = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    match asked.or(kubeconfig.current_context.as_deref()) {
        Some(name) if known.contains(&name) => Ok(name.to_string()),
        Some(name) => Err(K8sError::UnknownContext {
            context: name.to_string(),
            known: known_text,
        }),
        None => Err(K8sError::NoCurrentContext { known: known_text }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CONTEXTS: &str = r#"
apiVersion: v1
kind: Config
current-context: dev
clusters:
  - name: c
    cluster: {server: "https://127.0.0.1:6443"}
users:
  - name: u
    user: {token: abc}
contexts:
  - name: dev
    context: {cluster: c, user: u, namespace: shop}
  - name: prod
    context: {cluster: c, user: u}
"#;

    fn source(dir: &tempfile::TempDir, files: &[(&str, &str)]) -> ConfigSource {
        let kubeconfigs = files
            .iter()
            .map(|(name, text)| {
                let path = dir.path().join(name);
                std::fs::write(&path, text).unwrap();
                path
            })
            .collect();
        ConfigSource {
            kubeconfigs,
            explicit: true,
            in_cluster: false,
            context: None,
            namespace: None,
        }
    }

    #[tokio::test]
    async fn the_current_context_and_its_namespace_are_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let k8s = K8s::connect(&source(&dir, &[("a", TWO_CONTEXTS)]))
            .await
            .unwrap();
        assert_eq!(
            k8s.scope,
            Scope {
                namespace: "shop".into(),
                context: "dev".into(),
                server: "https://127.0.0.1:6443/".into()
            }
        );
    }

    #[tokio::test]
    async fn context_and_namespace_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = source(&dir, &[("a", TWO_CONTEXTS)]);
        src.context = Some("prod".into());
        let k8s = K8s::connect(&src).await.unwrap();
        assert_eq!(
            (k8s.scope.context.as_str(), k8s.scope.namespace.as_str()),
            ("prod", "default")
        );
        src.namespace = Some("cache".into());
        assert_eq!(K8s::connect(&src).await.unwrap().scope.namespace, "cache");
    }

    #[tokio::test]
    async fn an_unknown_context_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = source(&dir, &[("a", TWO_CONTEXTS)]);
        src.context = Some("staging".into());
        let err = K8s::connect(&src).await.err().unwrap();
        assert_eq!(
            err.to_string(),
            "context \"staging\" not found in the kubeconfig; known contexts: dev, prod"
        );
    }

    #[tokio::test]
    async fn kubeconfig_files_merge_first_wins_like_kubectl() {
        let dir = tempfile::tempdir().unwrap();
        let other = "apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts: []\n";
        let k8s = K8s::connect(&source(&dir, &[("b", other), ("a", TWO_CONTEXTS)]))
            .await
            .unwrap();
        assert_eq!(k8s.scope.context, "prod");
    }

    #[tokio::test]
    async fn without_any_kubeconfig_outside_a_pod_the_error_says_where_it_looked() {
        let src = ConfigSource {
            kubeconfigs: vec![PathBuf::from("/nonexistent/.kube/config")],
            explicit: false,
            in_cluster: false,
            context: None,
            namespace: None,
        };
        let err = K8s::connect(&src).await.err().unwrap();
        assert!(
            err.to_string()
                .starts_with("no kubeconfig found (looked for /nonexistent/.kube/config)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_explicit_kubeconfig_that_does_not_exist_is_an_error() {
        let src = ConfigSource {
            kubeconfigs: vec![PathBuf::from("/nonexistent/kc")],
            explicit: true,
            in_cluster: true,
            context: None,
            namespace: None,
        };
        let err = K8s::connect(&src).await.err().unwrap();
        assert!(matches!(err, K8sError::LoadKubeconfig { .. }), "{err}");
        // The path and the cause, each said once, and what to do, as `main` prints it.
        let chain = format!("{:#}", anyhow::Error::from(err));
        assert_eq!(
            chain,
            "cannot load the kubeconfig /nonexistent/kc: No such file or directory (os error 2); pass --kubeconfig with a file that exists, or set KUBECONFIG"
        );
    }
}
