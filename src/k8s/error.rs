//! Typed errors of the Kubernetes layer. Each is a plain sentence that names the object, the
//! namespace and the kubeconfig context, and says what to do where there is something to do.
//! [`Scope::classify`] turns a `kube::Error` from a request into one of them.

use kube::config::{InClusterError, KubeconfigError};

/// Where requests go: for error messages and for every namespaced `Api`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The namespace every request is made in.
    pub namespace: String,
    /// The kubeconfig context, or `in-cluster`.
    pub context: String,
    /// The API server's URL.
    pub server: String,
}

/// A request, as error messages name it.
#[derive(Clone, Copy, Debug)]
pub struct Op<'a> {
    /// RBAC verb: `get`, `list`, `patch`, `delete`, `create`.
    pub verb: &'a str,
    /// RBAC resource, with subresource: `statefulsets`, `statefulsets/scale`, `pods/portforward`.
    pub resource: &'a str,
    /// Kind and name of the object, when the request is about one: `("statefulset", "redis-cluster")`.
    pub object: Option<(&'a str, &'a str)>,
}

impl<'a> Op<'a> {
    /// A request on a whole collection (`list pods`).
    pub fn new(verb: &'a str, resource: &'a str) -> Self {
        Self {
            verb,
            resource,
            object: None,
        }
    }

    /// A request about one object.
    pub fn on(mut self, kind: &'a str, name: &'a str) -> Self {
        self.object = Some((kind, name));
        self
    }
}

/// Why the Kubernetes layer failed.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// A kubeconfig file could not be read or used.
    #[error("cannot load the kubeconfig {path}: {cause}; {advice}")]
    LoadKubeconfig {
        /// The file (or files, merged) it was read from.
        path: String,
        /// The first-hand cause, said once.
        cause: String,
        /// What to do about it.
        advice: &'static str,
    },
    /// Nothing to configure the client from.
    #[error(
        "no kubeconfig found (looked for {looked}) and not running inside a Kubernetes cluster: pass --kubeconfig PATH or set KUBECONFIG"
    )]
    NoKubeconfig {
        /// The paths looked at.
        looked: String,
    },
    /// `--context` names a context the kubeconfig lacks.
    #[error("context \"{context}\" not found in the kubeconfig; known contexts: {known}")]
    UnknownContext {
        /// The context asked for.
        context: String,
        /// The contexts that exist, comma-separated.
        known: String,
    },
    /// Neither `--context` nor `current-context`.
    #[error(
        "the kubeconfig sets no current-context: pass --context NAME (known contexts: {known})"
    )]
    NoCurrentContext {
        /// The contexts that exist, comma-separated.
        known: String,
    },
    /// Running in a pod, but the service account's files are not usable.
    #[error("cannot use the in-cluster configuration")]
    InCluster(#[source] Box<InClusterError>),
    /// The client could not be built from a valid configuration (TLS setup, say).
    #[error("cannot create the Kubernetes client for context {context}")]
    Client {
        /// The context.
        context: String,
        /// Why.
        #[source]
        source: Box<kube::Error>,
    },
    /// The API server did not answer.
    #[error("cannot reach the Kubernetes API server {server} (context {context})")]
    Unreachable {
        /// Its URL.
        server: String,
        /// The context.
        context: String,
        /// The transport error.
        #[source]
        source: Box<kube::Error>,
    },
    /// 401: the credentials are wrong or expired.
    #[error(
        "the Kubernetes API server {server} rejected the credentials of context {context} (401 Unauthorized): log in again or check the kubeconfig's user"
    )]
    Unauthorized {
        /// Its URL.
        server: String,
        /// The context.
        context: String,
    },
    /// The namespace itself does not exist.
    #[error("namespace {namespace} not found (context {context})")]
    NamespaceNotFound {
        /// The namespace.
        namespace: String,
        /// The context.
        context: String,
    },
    /// No `--statefulset`, no `redis-cluster`, and no other StatefulSet runs Redis or Valkey.
    #[error(
        "no StatefulSet in namespace {namespace} (context {context}) runs redis or valkey: deploy one with `kubectl redis-cluster deploy`, pick the namespace with -n, or name the StatefulSet with --statefulset NAME"
    )]
    NoRedisStatefulSet {
        /// The namespace.
        namespace: String,
        /// The context.
        context: String,
    },
    /// No `--statefulset`, no `redis-cluster`, and more than one StatefulSet could be meant.
    #[error(
        "namespace {namespace} has several StatefulSets running redis or valkey ({names}): name one with --statefulset NAME"
    )]
    SeveralRedisStatefulSets {
        /// The namespace.
        namespace: String,
        /// Their names, comma-separated.
        names: String,
    },
    /// 404 on a named object.
    #[error("{kind} {name} not found in namespace {namespace} (context {context})")]
    NotFound {
        /// `statefulset`, `pod`, ...
        kind: String,
        /// The object's name.
        name: String,
        /// The namespace.
        namespace: String,
        /// The context.
        context: String,
    },
    /// 403: RBAC said no.
    #[error(
        "forbidden: cannot {verb} {resource} in namespace {namespace}: ask for the Role in manifests/base/rbac-plugin-user.yaml"
    )]
    Forbidden {
        /// The verb.
        verb: String,
        /// The resource (with subresource).
        resource: String,
        /// The namespace.
        namespace: String,
    },
    /// Any other refusal, with the API server's own message.
    #[error(
        "the API server refused to {verb} {resource} in namespace {namespace} (context {context}): {message}"
    )]
    Refused {
        /// The verb.
        verb: String,
        /// The resource.
        resource: String,
        /// The namespace.
        namespace: String,
        /// The context.
        context: String,
        /// What the API server said.
        message: String,
    },
    /// Anything else that went wrong with a request (a reply we could not decode, say).
    #[error("cannot {verb} {resource} in namespace {namespace} (context {context})")]
    Request {
        /// The verb.
        verb: String,
        /// The resource.
        resource: String,
        /// The namespace.
        namespace: String,
        /// The context.
        context: String,
        /// Why.
        #[source]
        source: Box<kube::Error>,
    },
}

impl Scope {
    /// Maps a failed request to a plain sentence.
    pub fn classify(&self, op: Op<'_>, e: kube::Error) -> K8sError {
        let Self {
            namespace,
            context,
            server,
        } = self.clone();
        match e {
            kube::Error::Api(status) => {
                // `is_not_found()`/`is_forbidden()` compare reasons only, and a body that is not a
                // Status (a proxy's plain text) carries just the HTTP code, so check both.
                if status.code == 401 || status.reason == "Unauthorized" {
                    K8sError::Unauthorized { server, context }
                } else if status.code == 403 || status.is_forbidden() {
                    K8sError::Forbidden {
                        verb: op.verb.into(),
                        resource: op.resource.into(),
                        namespace,
                    }
                } else if let Some((kind, name)) = op
                    .object
                    .filter(|_| status.code == 404 || status.is_not_found())
                {
                    K8sError::NotFound {
                        kind: kind.into(),
                        name: name.into(),
                        namespace,
                        context,
                    }
                } else {
                    K8sError::Refused {
                        verb: op.verb.into(),
                        resource: op.resource.into(),
                        namespace,
                        context,
                        message: status.message.clone(),
                    }
                }
            }
            source @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => {
                K8sError::Unreachable {
                    server,
                    context,
                    source: Box::new(source),
                }
            }
            source => K8sError::Request {
                verb: op.verb.into(),
                resource: op.resource.into(),
                namespace,
                context,
                source: Box::new(source),
            },
        }
    }
}

impl K8sError {
    /// A kubeconfig that could not be read or used, naming `path` and the cause once:
    /// `KubeconfigError` already prints its path and repeats its source, so only the innermost
    /// cause is kept.
    pub fn load_kubeconfig(path: impl Into<String>, e: &KubeconfigError) -> Self {
        let mut root: &dyn std::error::Error = e;
        while let Some(next) = root.source() {
            root = next;
        }
        let advice = if matches!(e, KubeconfigError::ReadConfig(..)) {
            "pass --kubeconfig with a file that exists, or set KUBECONFIG"
        } else {
            "check the file with `kubectl config view`"
        };
        Self::LoadKubeconfig {
            path: path.into(),
            cause: root.to_string(),
            advice,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn scope() -> Scope {
        Scope {
            namespace: "shop".into(),
            context: "prod".into(),
            server: "https://10.0.0.1:6443".into(),
        }
    }

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        let mut status = Status::failure(message, reason).with_code(code);
        status.reason = reason.into();
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn a_missing_statefulset_is_named_with_namespace_and_context() {
        let op = Op::new("get", "statefulsets").on("statefulset", "redis-cluster");
        let e = scope().classify(
            op,
            api(
                404,
                "NotFound",
                "statefulsets.apps \"redis-cluster\" not found",
            ),
        );
        assert_eq!(
            e.to_string(),
            "statefulset redis-cluster not found in namespace shop (context prod)"
        );
    }

    #[test]
    fn a_plain_text_404_still_counts_as_not_found() {
        let op = Op::new("get", "statefulsets").on("statefulset", "redis-cluster");
        let e = scope().classify(
            op,
            api(404, "Failed to parse error data", "404 page not found"),
        );
        assert!(matches!(e, K8sError::NotFound { .. }), "{e}");
    }

    #[test]
    fn rbac_denial_names_verb_resource_and_the_role_to_ask_for() {
        let op = Op::new("patch", "statefulsets/scale").on("statefulset", "redis-cluster");
        let e = scope().classify(op, api(403, "Forbidden", "user cannot patch"));
        assert_eq!(
            e.to_string(),
            "forbidden: cannot patch statefulsets/scale in namespace shop: ask for the Role in manifests/base/rbac-plugin-user.yaml"
        );
    }

    #[test]
    fn expired_credentials_say_so() {
        let e = scope().classify(
            Op::new("list", "pods"),
            api(401, "Unauthorized", "Unauthorized"),
        );
        assert!(
            e.to_string()
                .contains("rejected the credentials of context prod"),
            "{e}"
        );
    }

    #[test]
    fn other_refusals_keep_the_servers_message() {
        let op = Op::new("patch", "statefulsets").on("statefulset", "redis-cluster");
        let e = scope().classify(op, api(422, "Invalid", "spec.replicas: must be >= 0"));
        assert_eq!(
            e.to_string(),
            "the API server refused to patch statefulsets in namespace shop (context prod): spec.replicas: must be >= 0"
        );
    }
}
