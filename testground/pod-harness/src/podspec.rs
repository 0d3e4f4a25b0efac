//! What the harness reads from a Pod object: which container is "the redis", on which IP and
//! ports it must listen, which PVC holds its data, which ConfigMap holds its `redis.conf`, which
//! Secrets it mounts as files (TLS certificates), and which environment it has. Pure functions
//! without I/O, so they are unit-tested.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::api::core::v1::{Container, Pod};

/// Annotation a pod can carry to be ignored by the harness (`"false"` = leave alone).
pub const HARNESS_ANNOTATION: &str = "redis-cluster-testground/harness";

/// Namespace and name of a pod (or of any namespaced object).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjKey {
    /// Namespace.
    pub ns: String,
    /// Name.
    pub name: String,
}

impl ObjKey {
    /// Builds a key from a namespace and a name.
    pub fn new(ns: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            ns: ns.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjKey {
    /// Formats as `ns/name`, like kubectl does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ns, self.name)
    }
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// `value: ...` (already expanded against earlier variables by the harness later).
    Literal(String),
    /// `valueFrom.secretKeyRef`.
    Secret {
        /// Secret name.
        name: String,
        /// Key in the secret.
        key: String,
    },
    /// `valueFrom.configMapKeyRef`.
    ConfigMap {
        /// ConfigMap name.
        name: String,
        /// Key in the ConfigMap.
        key: String,
    },
    /// `valueFrom.fieldRef.fieldPath` (only a few paths are resolved).
    Field(String),
}

/// One environment variable of the redis container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Its source.
    pub value: EnvValue,
}

/// What a file volume mounted by the redis container is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// `configMap.name`.
    ConfigMap(String),
    /// `secret.secretName`.
    Secret(String),
}

impl fmt::Display for MountSource {
    /// `configmap NAME` / `secret NAME`, for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountSource::ConfigMap(n) => write!(f, "configmap {n}"),
            MountSource::Secret(n) => write!(f, "secret {n}"),
        }
    }
}

/// A ConfigMap or Secret volume mounted by the redis container: which of its keys appear at which
/// paths in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMount {
    /// The object the files come from.
    pub source: MountSource,
    /// Mount path in the container.
    pub mount_path: String,
    /// `subPath` of the volume mount: only this file or directory of the volume is mounted.
    pub sub_path: Option<String>,
    /// `items` of the volume: (key, relative path); empty = every key under its own name.
    pub items: Vec<(String, String)>,
    /// `optional: true`: a missing object (or key) leaves the files out instead of failing.
    pub optional: bool,
}

impl FileMount {
    /// The path inside the volume that appears at container path `path`, if `path` is inside this
    /// mount (`Some("")` = the mount path of a whole-volume mount itself).
    pub fn volume_path(&self, path: &str) -> Option<String> {
        let base = self.mount_path.trim_end_matches('/');
        let rel = match path.strip_prefix(base)? {
            "" => "",
            r => r.strip_prefix('/')?,
        };
        let sub = self
            .sub_path
            .as_deref()
            .map(|s| s.trim_matches('/'))
            .filter(|s| !s.is_empty());
        Some(match (sub, rel) {
            (Some(s), "") => s.to_string(),
            (Some(s), r) => format!("{s}/{r}"),
            (None, r) => r.to_string(),
        })
    }

    /// The key that appears at `path` in the container, if `path` is a file of this mount.
    pub fn key_for_path(&self, path: &str) -> Option<String> {
        let vpath = self.volume_path(path).filter(|p| !p.is_empty())?;
        if self.items.is_empty() {
            return Some(vpath);
        }
        self.items
            .iter()
            .find(|(_, p)| *p == vpath)
            .map(|(k, _)| k.clone())
    }

    /// The files of the volume as (relative path, content), given the object's `data`: every key
    /// under its own name, or the `items`. A missing key is an error unless the mount is optional
    /// (then it is left out, as the kubelet does); so is an item path that is absolute or climbs
    /// out with `..`.
    pub fn files<'d>(
        &self,
        data: &'d BTreeMap<String, Vec<u8>>,
    ) -> Result<Vec<(String, &'d [u8])>, String> {
        let pairs: Vec<(String, String)> = if self.items.is_empty() {
            data.keys().map(|k| (k.clone(), k.clone())).collect()
        } else {
            self.items.clone()
        };
        let mut out = Vec::new();
        for (key, path) in pairs {
            if !is_plain_relative(&path) {
                return Err(format!(
                    "{}: item path {path:?} must be relative without ..",
                    self.source
                ));
            }
            match data.get(&key) {
                Some(v) => out.push((path, v.as_slice())),
                None if self.optional => {}
                None => return Err(format!("{} has no key {key}", self.source)),
            }
        }
        Ok(out)
    }
}

/// A relative path with no empty, `.` or `..` components.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Everything the harness needs to run one pod's redis-server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisPod {
    /// Namespace and pod name.
    pub key: ObjKey,
    /// Pod UID (a recreated pod with the same name has a new one).
    pub uid: String,
    /// `status.podIP`: the address redis-server binds to.
    pub ip: String,
    /// Name of the container treated as the redis container.
    pub container: String,
    /// Client port redis listens on.
    pub port: u16,
    /// Every port a port-forward may ask for (declared container ports, plus port + 10000).
    pub forward_ports: Vec<u16>,
    /// PVC claim name backing the data directory, if the container mounts one.
    pub claim: Option<String>,
    /// Mount path of that PVC in the container (e.g. `/data`).
    pub data_mount: Option<String>,
    /// ConfigMap and Secret volumes mounted by the container, in mount order.
    pub file_mounts: Vec<FileMount>,
    /// Config file path given to redis-server in the container's command/args, if any.
    pub config_path: Option<String>,
    /// Extra `--option value` arguments after the config path (unexpanded `$(VAR)` references).
    pub extra_args: Vec<String>,
    /// Container environment, in order.
    pub env: Vec<EnvVar>,
    /// The container runs Valkey (`valkey-server`, or a valkey image), not Redis.
    pub valkey: bool,
}

impl RedisPod {
    /// The mounted ConfigMap volumes, in mount order.
    pub fn config_mounts(&self) -> impl Iterator<Item = &FileMount> {
        self.file_mounts
            .iter()
            .filter(|m| matches!(m.source, MountSource::ConfigMap(_)))
    }

    /// The mounted Secret volumes, in mount order.
    pub fn secret_mounts(&self) -> impl Iterator<Item = &FileMount> {
        self.file_mounts
            .iter()
            .filter(|m| matches!(m.source, MountSource::Secret(_)))
    }
}

/// Why a pod is not (or no longer) run by the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// `metadata.deletionTimestamp` is set.
    Terminating,
    /// `status.phase` is not `Running`.
    NotRunning(String),
    /// No `status.podIP` yet.
    NoIp,
    /// Not scheduled to a node.
    Unscheduled,
    /// The pod opted out with the harness annotation.
    OptedOut,
    /// The pod has no containers.
    NoContainer,
}

impl fmt::Display for Skip {
    /// A short phrase for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Terminating => write!(f, "terminating"),
            Skip::NotRunning(p) => write!(f, "phase {p}"),
            Skip::NoIp => write!(f, "no pod IP"),
            Skip::Unscheduled => write!(f, "not scheduled"),
            Skip::OptedOut => write!(f, "annotated {HARNESS_ANNOTATION}=false"),
            Skip::NoContainer => write!(f, "no containers"),
        }
    }
}

/// Name of the node the pod is scheduled to, if any.
pub fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref()
}

/// Decides whether the harness should run redis for `pod`, and with what.
pub fn redis_pod(pod: &Pod) -> Result<RedisPod, Skip> {
    let meta = &pod.metadata;
    if meta.deletion_timestamp.is_some() {
        return Err(Skip::Terminating);
    }
    let opted_out = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(HARNESS_ANNOTATION))
        .is_some_and(|v| v == "false");
    if opted_out {
        return Err(Skip::OptedOut);
    }
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.clone()).unwrap_or_default();
    if phase != "Running" {
        return Err(Skip::NotRunning(if phase.is_empty() {
            "unknown".into()
        } else {
            phase
        }));
    }
    let ip = status
        .and_then(|s| s.pod_ip.clone())
        .filter(|ip| !ip.is_empty())
        .ok_or(Skip::NoIp)?;
    let spec = pod.spec.as_ref().ok_or(Skip::NoContainer)?;
    if spec.node_name.is_none() {
        return Err(Skip::Unscheduled);
    }
    let container = pick_container(&spec.containers).ok_or(Skip::NoContainer)?;
    let port = client_port(container);
    let forward_ports = forward_ports(&spec.containers, port);
    let volumes = spec.volumes.clone().unwrap_or_default();
    let mounts = container.volume_mounts.clone().unwrap_or_default();

    let mut claim = None;
    let mut data_mount = None;
    let mut file_mounts = Vec::new();
    for m in &mounts {
        let Some(vol) = volumes.iter().find(|v| v.name == m.name) else {
            continue;
        };
        if let Some(pvc) = &vol.persistent_volume_claim {
            // Prefer the claim mounted at /data, else the first one.
            if claim.is_none() || m.mount_path == "/data" {
                claim = Some(pvc.claim_name.clone());
                data_mount = Some(m.mount_path.clone());
            }
        }
        let sources = [
            vol.config_map.as_ref().map(|cm| {
                (
                    MountSource::ConfigMap(cm.name.clone()),
                    cm.items.as_deref(),
                    cm.optional,
                )
            }),
            vol.secret.as_ref().map(|s| {
                (
                    MountSource::Secret(s.secret_name.clone().unwrap_or_default()),
                    s.items.as_deref(),
                    s.optional,
                )
            }),
        ];
        for (source, items, optional) in sources.into_iter().flatten() {
            file_mounts.push(FileMount {
                source,
                mount_path: m.mount_path.clone(),
                sub_path: m.sub_path.clone().filter(|p| !p.is_empty()),
                items: items
                    .unwrap_or_default()
                    .iter()
                    .map(|i| (i.key.clone(), i.path.clone()))
                    .collect(),
                optional: optional.unwrap_or(false),
            });
        }
    }
    let (config_path, extra_args) = split_redis_args(container);
    Ok(RedisPod {
        key: ObjKey::new(
            meta.namespace.clone().unwrap_or_else(|| "default".into()),
            meta.name.clone().unwrap_or_default(),
        ),
        uid: meta.uid.clone().unwrap_or_default(),
        ip,
        container: container.name.clone(),
        port,
        forward_ports,
        claim,
        data_mount,
        file_mounts,
        config_path,
        extra_args,
        env: container_env(container),
        valkey: runs_valkey(container),
    })
}

/// The container named `redis`, else the first whose image mentions redis, else the first.
fn pick_container(containers: &[Container]) -> Option<&Container> {
    containers
        .iter()
        .find(|c| c.name == "redis")
        .or_else(|| {
            containers.iter().find(|c| {
                c.image
                    .as_deref()
                    .is_some_and(|i| i.contains("redis") || i.contains("valkey"))
            })
        })
        .or_else(|| containers.first())
}

/// Whether the container runs Valkey: its command starts `valkey-server`, or its image is a
/// valkey one.
fn runs_valkey(c: &Container) -> bool {
    let command = c
        .command
        .iter()
        .chain(c.args.iter())
        .flatten()
        .any(|t| t.rsplit('/').next() == Some("valkey-server"));
    command || c.image.as_deref().is_some_and(|i| i.contains("valkey"))
}

/// Client port: 6379 if declared, else a port named `client`/`redis`, else the first, else 6379.
fn client_port(c: &Container) -> u16 {
    let ports = c.ports.clone().unwrap_or_default();
    let as_u16 = |p: i32| u16::try_from(p).ok();
    if ports.iter().any(|p| p.container_port == 6379) {
        return 6379;
    }
    ports
        .iter()
        .find(|p| matches!(p.name.as_deref(), Some("client" | "redis" | "tcp-redis")))
        .or_else(|| ports.first())
        .and_then(|p| as_u16(p.container_port))
        .unwrap_or(6379)
}

/// Every declared container port of the pod plus the cluster bus port (`port + 10000`).
fn forward_ports(containers: &[Container], port: u16) -> Vec<u16> {
    let mut set: BTreeSet<u16> = containers
        .iter()
        .flat_map(|c| c.ports.clone().unwrap_or_default())
        .filter_map(|p| u16::try_from(p.container_port).ok())
        .collect();
    set.insert(port);
    if let Some(bus) = port.checked_add(10000) {
        set.insert(bus);
    }
    set.into_iter().collect()
}

/// Splits `command + args` into the config file path and the extra options after it, if the
/// container runs `redis-server` directly (a `sh -c` script is not interpreted).
fn split_redis_args(c: &Container) -> (Option<String>, Vec<String>) {
    let tokens: Vec<String> = c
        .command
        .clone()
        .unwrap_or_default()
        .into_iter()
        .chain(c.args.clone().unwrap_or_default())
        .collect();
    let start = tokens
        .iter()
        .position(|t| matches!(t.rsplit('/').next(), Some("redis-server" | "valkey-server")));
    let rest: Vec<String> = match start {
        Some(i) => tokens[i + 1..].to_vec(),
        // An image default entrypoint with only args: `args: [/conf/redis.conf, --x, y]`.
        None if c.command.is_none() => tokens,
        None => return (None, Vec::new()),
    };
    match rest.split_first() {
        Some((first, tail)) if !first.starts_with("--") => (Some(first.clone()), tail.to_vec()),
        _ => (None, rest),
    }
}

/// The container's env list, with value sources.
fn container_env(c: &Container) -> Vec<EnvVar> {
    let mut out = Vec::new();
    for e in c.env.clone().unwrap_or_default() {
        let value = match (e.value, e.value_from) {
            (Some(v), _) => EnvValue::Literal(v),
            (None, Some(from)) => {
                if let Some(s) = from.secret_key_ref {
                    EnvValue::Secret {
                        name: s.name,
                        key: s.key,
                    }
                } else if let Some(cm) = from.config_map_key_ref {
                    EnvValue::ConfigMap {
                        name: cm.name,
                        key: cm.key,
                    }
                } else if let Some(f) = from.field_ref {
                    EnvValue::Field(f.field_path)
                } else {
                    continue;
                }
            }
            (None, None) => EnvValue::Literal(String::new()),
        };
        out.push(EnvVar {
            name: e.name,
            value,
        });
    }
    out
}

/// Kubernetes-style `$(VAR)` expansion: known variables are replaced, unknown references are kept
/// verbatim, and `$$` is an escaped `$`.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A StatefulSet-style redis pod like the plugin's manifests produce.
    fn sts_pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "redis-cluster-0", "namespace": "rc", "uid": "u1"},
            "spec": {
                "nodeName": "kwok-node-0",
                "containers": [{
                    "name": "redis", "image": "redis:7.0.15",
                    "command": ["redis-server"],
                    "args": ["/etc/redis/redis.conf", "--cluster-announce-ip", "$(POD_IP)"],
                    "ports": [{"name": "client", "containerPort": 6379}, {"name": "bus", "containerPort": 16379}],
                    "env": [
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "password"}}}
                    ],
                    "volumeMounts": [
                        {"name": "conf", "mountPath": "/etc/redis"},
                        {"name": "data", "mountPath": "/data"}
                    ]
                }],
                "volumes": [
                    {"name": "conf", "configMap": {"name": "redis-cluster-config"}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data-redis-cluster-0"}}
                ]
            },
            "status": {"phase": "Running", "podIP": "127.1.0.3"}
        }))
        .expect("valid pod json")
    }

    #[test]
    fn a_running_statefulset_pod_yields_ip_ports_claim_and_config() {
        let rp = redis_pod(&sts_pod()).expect("runnable");
        assert_eq!(rp.key.to_string(), "rc/redis-cluster-0");
        assert_eq!(rp.ip, "127.1.0.3");
        assert_eq!(rp.port, 6379);
        assert_eq!(rp.forward_ports, vec![6379, 16379]);
        assert_eq!(rp.claim.as_deref(), Some("data-redis-cluster-0"));
        assert_eq!(rp.data_mount.as_deref(), Some("/data"));
        let conf = rp.config_mounts().next().expect("a config mount");
        assert_eq!(
            conf.source,
            MountSource::ConfigMap("redis-cluster-config".into())
        );
        assert_eq!(rp.config_path.as_deref(), Some("/etc/redis/redis.conf"));
        assert_eq!(
            conf.key_for_path("/etc/redis/redis.conf").as_deref(),
            Some("redis.conf")
        );
        assert_eq!(rp.secret_mounts().count(), 0);
        assert_eq!(rp.extra_args, vec!["--cluster-announce-ip", "$(POD_IP)"]);
        assert!(rp.env.iter().any(|e| e.name == "REDIS_PASSWORD"
            && e.value
                == EnvValue::Secret {
                    name: "redis-auth".into(),
                    key: "password".into()
                }));
    }

    #[test]
    fn a_valkey_container_is_run_with_valkey_server_and_its_config() {
        assert!(!redis_pod(&sts_pod()).expect("runnable").valkey);
        let mut p = sts_pod();
        let c = &mut p.spec.as_mut().expect("spec").containers[0];
        c.image = Some("valkey/valkey:9.1".into());
        c.command = Some(vec!["valkey-server".into()]);
        let rp = redis_pod(&p).expect("runnable");
        assert!(rp.valkey);
        assert_eq!(rp.config_path.as_deref(), Some("/etc/redis/redis.conf"));
        assert_eq!(rp.extra_args, vec!["--cluster-announce-ip", "$(POD_IP)"]);
    }

    #[test]
    fn pending_terminating_and_ipless_pods_are_skipped() {
        let mut p = sts_pod();
        p.status.as_mut().expect("status").phase = Some("Pending".into());
        assert_eq!(redis_pod(&p), Err(Skip::NotRunning("Pending".into())));
        let mut p = sts_pod();
        p.status.as_mut().expect("status").pod_ip = None;
        assert_eq!(redis_pod(&p), Err(Skip::NoIp));
        let mut p = sts_pod();
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        assert_eq!(redis_pod(&p), Err(Skip::Terminating));
    }

    #[test]
    fn a_pod_without_ports_gets_6379_and_its_bus_port() {
        let mut p = sts_pod();
        p.spec.as_mut().expect("spec").containers[0].ports = None;
        let rp = redis_pod(&p).expect("runnable");
        assert_eq!(rp.port, 6379);
        assert_eq!(rp.forward_ports, vec![6379, 16379]);
    }

    /// A ConfigMap mount at `/conf/` with the given items.
    fn conf_mount(items: &[(&str, &str)]) -> FileMount {
        FileMount {
            source: MountSource::ConfigMap("c".into()),
            mount_path: "/conf/".into(),
            sub_path: None,
            items: items
                .iter()
                .map(|(k, p)| (k.to_string(), p.to_string()))
                .collect(),
            optional: false,
        }
    }

    #[test]
    fn config_items_map_paths_back_to_keys() {
        let m = conf_mount(&[("redis.conf", "r.conf")]);
        assert_eq!(
            m.key_for_path("/conf/r.conf").as_deref(),
            Some("redis.conf")
        );
        assert_eq!(m.key_for_path("/conf/other.conf"), None);
        assert_eq!(m.key_for_path("/elsewhere/r.conf"), None);
        assert_eq!(m.key_for_path("/conference/r.conf"), None);
        assert_eq!(m.key_for_path("/conf"), None, "the directory is no key");
    }

    #[test]
    fn a_sub_path_mount_shows_one_file_of_the_volume_at_the_mount_path() {
        let m = FileMount {
            mount_path: "/etc/redis/redis.conf".into(),
            sub_path: Some("cluster.conf".into()),
            ..conf_mount(&[])
        };
        assert_eq!(
            m.key_for_path("/etc/redis/redis.conf").as_deref(),
            Some("cluster.conf")
        );
        assert_eq!(
            m.volume_path("/etc/redis/redis.conf").as_deref(),
            Some("cluster.conf")
        );
        assert_eq!(m.key_for_path("/etc/redis/other.conf"), None);
    }

    /// The redis container of [`sts_pod`] also mounts TLS files from a Secret at `/tls`.
    fn tls_pod(secret_volume: serde_json::Value) -> Pod {
        let mut p = sts_pod();
        let spec = p.spec.as_mut().expect("spec");
        spec.volumes
            .as_mut()
            .expect("volumes")
            .push(serde_json::from_value(secret_volume).expect("valid volume json"));
        spec.containers[0]
            .volume_mounts
            .as_mut()
            .expect("mounts")
            .push(
                serde_json::from_value(
                    serde_json::json!({"name": "tls", "mountPath": "/tls", "readOnly": true}),
                )
                .expect("valid mount json"),
            );
        p
    }

    #[test]
    fn a_mounted_secret_volume_is_recorded_with_its_items() {
        let rp = redis_pod(&tls_pod(serde_json::json!({
            "name": "tls",
            "secret": {
                "secretName": "redis-cluster-tls",
                "defaultMode": 0o400,
                "items": [
                    {"key": "tls.crt", "path": "tls.crt"},
                    {"key": "tls.key", "path": "tls.key"},
                    {"key": "ca.crt", "path": "ca/ca.crt"}
                ]
            }
        })))
        .expect("runnable");
        let secrets: Vec<&FileMount> = rp.secret_mounts().collect();
        assert_eq!(secrets.len(), 1);
        let tls = secrets[0];
        assert_eq!(tls.source, MountSource::Secret("redis-cluster-tls".into()));
        assert_eq!(tls.mount_path, "/tls");
        assert!(!tls.optional);
        assert_eq!(tls.items.len(), 3);
        assert_eq!(
            tls.key_for_path("/tls/ca/ca.crt").as_deref(),
            Some("ca.crt")
        );
        assert_eq!(tls.key_for_path("/tls/ca.crt"), None, "not an item path");
        assert_eq!(rp.config_mounts().count(), 1, "the ConfigMap mount stays");
    }

    #[test]
    fn a_secret_without_items_mounts_every_key_and_may_be_optional() {
        let rp = redis_pod(&tls_pod(serde_json::json!({
            "name": "tls",
            "secret": {"secretName": "redis-cluster-tls", "optional": true}
        })))
        .expect("runnable");
        let tls = rp.secret_mounts().next().expect("a secret mount");
        assert!(tls.optional);
        assert!(tls.items.is_empty());
        assert_eq!(tls.key_for_path("/tls/tls.key").as_deref(), Some("tls.key"));
    }

    /// Secret data with the usual TLS keys.
    fn tls_data() -> BTreeMap<String, Vec<u8>> {
        ["tls.crt", "tls.key", "ca.crt"]
            .into_iter()
            .map(|k| (k.to_string(), format!("<{k}>").into_bytes()))
            .collect()
    }

    #[test]
    fn files_are_every_key_or_the_items_under_their_paths() {
        let data = tls_data();
        let all = conf_mount(&[]).files(&data).expect("all keys");
        let paths: Vec<&str> = all.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["ca.crt", "tls.crt", "tls.key"]);
        let picked = conf_mount(&[("ca.crt", "ca/root.pem")])
            .files(&data)
            .expect("items");
        assert_eq!(
            picked,
            vec![("ca/root.pem".to_string(), b"<ca.crt>".as_slice())]
        );
    }

    #[test]
    fn a_missing_key_fails_unless_the_mount_is_optional() {
        let data = tls_data();
        let m = conf_mount(&[("tls.crt", "tls.crt"), ("nope", "nope")]);
        assert_eq!(
            m.files(&data).map(|f| f.len()),
            Err("configmap c has no key nope".to_string())
        );
        let optional = FileMount {
            optional: true,
            ..m
        };
        assert_eq!(optional.files(&data).map(|f| f.len()), Ok(1));
    }

    #[test]
    fn item_paths_cannot_leave_the_volume() {
        let data = tls_data();
        for bad in ["../tls.crt", "/tls.crt", "a//b", "./x", ""] {
            assert!(
                conf_mount(&[("tls.crt", bad)]).files(&data).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn expand_replaces_known_vars_and_keeps_unknown_ones() {
        let f = |n: &str| (n == "POD_IP").then(|| "127.1.0.9".to_string());
        assert_eq!(expand("--x $(POD_IP):6379", f), "--x 127.1.0.9:6379");
        assert_eq!(expand("$(NOPE) $$(POD_IP) $", f), "$(NOPE) $(POD_IP) $");
    }
}
