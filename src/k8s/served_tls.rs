//! TLS as the StatefulSet's redis container serves it, read from the pod spec so that a
//! cluster deployed with `manifests/overlays/tls` needs no `--tls` flags: the `--tls-port` on
//! its command line, the Secret its `--tls-cert-file`, `--tls-key-file` and
//! `--tls-ca-cert-file` are mounted from (and under which keys), and the DNS name its pods
//! have under the StatefulSet's headless Service, which their certificates usually name.
//! Pure: the StatefulSet in, a value out; the flags (`--tls`, `--tls-secret`,
//! `--tls-server-name`) always win, which [`crate::cmd::context`] decides.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Container, Volume};

use super::locate::{containers, is_redis_container};
use super::secret::TlsKeys;

/// The DNS suffix of Services in a cluster with the default cluster domain. Not readable from
/// the API; a cluster with another domain needs `--tls-server-name`.
const CLUSTER_DOMAIN: &str = "svc.cluster.local";

/// How the redis container serves TLS, from its command line and mounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedTls {
    /// `--tls-port`: the port that speaks TLS.
    pub port: u16,
    /// The Secret the certificate files are mounted from, or why none could be found (the
    /// files are not all from one Secret, or not from a Secret at all).
    pub secret: Result<MountedSecret, String>,
    /// A pod's DNS name under the headless Service
    /// (`redis-cluster-0.redis-cluster-headless.NAMESPACE.svc.cluster.local`), which the
    /// nodes' certificates are checked against; `None` without a `serviceName` or namespace.
    pub server_name: Option<String>,
}

/// The Secret the node's certificate files come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountedSecret {
    /// The Secret's name.
    pub name: String,
    /// The key each file comes from.
    pub keys: TlsKeys,
    /// The volume and where it is mounted, for messages (`volume tls at /tls`).
    pub mount: String,
}

/// How the StatefulSet's redis container serves TLS; `None` when its command line sets no
/// `--tls-port` (or sets it to 0). A TLS setup in a mounted `redis.conf` is not read.
pub fn served_tls(sts: &StatefulSet) -> Option<ServedTls> {
    let all = containers(sts);
    let container = all.iter().find(|c| is_redis_container(c))?;
    let words = command_words(container);
    let port = option(&words, "--tls-port")?
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)?;
    let volumes = sts
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.volumes.clone())
        .unwrap_or_default();
    Some(ServedTls {
        port,
        secret: mounted_secret(container, &volumes, &words),
        server_name: pod_dns_name(sts),
    })
}

/// Every word of the container's command and args; a word holding spaces (a `sh -c` script)
/// is split, so options inside a start script are seen too.
fn command_words(c: &Container) -> Vec<String> {
    c.command
        .iter()
        .chain(c.args.iter())
        .flatten()
        .flat_map(|word| word.split_whitespace().map(str::to_string))
        .collect()
}

/// The value of the last `name VALUE` pair on the command line (redis-server lets a later
/// option override an earlier one).
fn option<'a>(words: &'a [String], name: &str) -> Option<&'a str> {
    words
        .windows(2)
        .rev()
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].trim_matches(['"', '\'']))
}

/// The one Secret the CA, certificate and key files are all mounted from, with the key of
/// each; else why not.
fn mounted_secret(
    c: &Container,
    volumes: &[Volume],
    words: &[String],
) -> Result<MountedSecret, String> {
    let mut found: Vec<(String, String, String)> = Vec::new();
    for flag in ["--tls-ca-cert-file", "--tls-cert-file", "--tls-key-file"] {
        let path = option(words, flag).ok_or_else(|| format!("it sets no {flag}"))?;
        found.push(
            secret_key_of(c, volumes, path).ok_or_else(|| {
                format!("{flag} {path} is not a file of a Secret volume it mounts")
            })?,
        );
    }
    let (name, mount, _) = found[0].clone();
    if let Some((other, _, _)) = found.iter().find(|(n, _, _)| *n != name) {
        return Err(format!(
            "its TLS files come from two Secrets ({name} and {other})"
        ));
    }
    let [ca, cert, key] = [0, 1, 2].map(|i| found[i].2.clone());
    Ok(MountedSecret {
        name,
        keys: TlsKeys { ca, cert, key },
        mount,
    })
}

/// The Secret, mount (for messages) and key a file path inside the container comes from,
/// when a Secret volume is mounted over it (the most specific mount wins, as in the
/// container).
fn secret_key_of(
    c: &Container,
    volumes: &[Volume],
    path: &str,
) -> Option<(String, String, String)> {
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| {
            let dir = m.mount_path.trim_end_matches('/');
            path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
        })
        .max_by_key(|m| m.mount_path.trim_end_matches('/').len())?;
    let dir = mount.mount_path.trim_end_matches('/');
    let below = path[dir.len()..].trim_start_matches('/');
    // With subPath, the mount shows one entry of the volume (a file or a directory).
    let in_volume = match mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
        Some(sub) if below.is_empty() => sub.to_string(),
        Some(sub) => format!("{}/{below}", sub.trim_end_matches('/')),
        None => below.to_string(),
    };
    let volume = volumes.iter().find(|v| v.name == mount.name)?;
    let secret = volume.secret.as_ref()?;
    let name = secret.secret_name.clone()?;
    // `items` maps keys to paths; without them every key is a file of its own name.
    let key = match &secret.items {
        Some(items) => items.iter().find(|i| i.path == in_volume)?.key.clone(),
        None => in_volume,
    };
    let described = format!("volume {} at {}", mount.name, mount.mount_path);
    Some((name, described, key))
}

/// The first pod's DNS name under the StatefulSet's governing (headless) Service.
fn pod_dns_name(sts: &StatefulSet) -> Option<String> {
    let name = sts.metadata.name.as_deref()?;
    let namespace = sts.metadata.namespace.as_deref()?;
    let service = sts.spec.as_ref()?.service_name.as_deref()?;
    if service.is_empty() {
        return None;
    }
    Some(format!("{name}-0.{service}.{namespace}.{CLUSTER_DOMAIN}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::manifests::{Object, base};

    /// The TLS overlay's JSON patch, as `kubectl apply -k manifests/overlays/tls` applies it.
    const TLS_PATCH: &str = include_str!("../../manifests/overlays/tls/statefulset-tls.yaml");

    /// The base StatefulSet as shipped, in namespace `shop`.
    fn base_statefulset() -> StatefulSet {
        let mut sts = base()
            .into_iter()
            .find_map(|o| match o {
                Object::StatefulSet(s) => Some(s),
                _ => None,
            })
            .expect("the base has a StatefulSet");
        sts.metadata.namespace = Some("shop".into());
        sts
    }

    /// The base StatefulSet with the TLS overlay's patch applied.
    fn tls_overlay() -> StatefulSet {
        let patch: json_patch::Patch = serde_saphyr::from_str(TLS_PATCH).unwrap();
        let mut doc = serde_json::to_value(base_statefulset()).unwrap();
        json_patch::patch(&mut doc, &patch).unwrap();
        serde_json::from_value(doc).unwrap()
    }

    /// `sts` with its redis container and volumes changed by `edit`.
    fn edited(
        mut sts: StatefulSet,
        edit: impl FnOnce(&mut Container, &mut Vec<Volume>),
    ) -> StatefulSet {
        let pod = sts.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
        let volumes = pod.volumes.get_or_insert_with(Vec::new);
        edit(&mut pod.containers[0], volumes);
        sts
    }

    #[test]
    fn the_tls_overlay_is_found_with_its_secret_keys_and_the_pods_dns_name() {
        assert_eq!(
            served_tls(&tls_overlay()),
            Some(ServedTls {
                port: 6379,
                secret: Ok(MountedSecret {
                    name: "redis-cluster-tls".into(),
                    keys: TlsKeys::default(),
                    mount: "volume tls at /tls".into(),
                }),
                server_name: Some(
                    "redis-cluster-0.redis-cluster-headless.shop.svc.cluster.local".into()
                ),
            })
        );
    }

    #[test]
    fn the_base_and_a_tls_port_of_zero_serve_no_tls() {
        assert_eq!(served_tls(&base_statefulset()), None);
        let off = edited(tls_overlay(), |c, _| {
            c.command
                .as_mut()
                .unwrap()
                .extend(["--tls-port".into(), "0".into()]);
        });
        assert_eq!(served_tls(&off), None, "the last --tls-port wins");
    }

    #[test]
    fn keys_follow_the_items_and_sub_path_the_files_are_mounted_with() {
        let sts = edited(tls_overlay(), |c, volumes| {
            let tls = volumes.iter_mut().find(|v| v.name == "tls").unwrap();
            tls.secret.as_mut().unwrap().items = Some(
                [
                    ("ca.crt", "ca.pem"),
                    ("tls.crt", "node.pem"),
                    ("tls.key", "node-key.pem"),
                ]
                .map(|(key, path)| k8s_openapi::api::core::v1::KeyToPath {
                    key: key.into(),
                    path: path.into(),
                    mode: None,
                })
                .to_vec(),
            );
            let cmd = c.command.as_mut().unwrap();
            for (flag, file) in [
                ("--tls-ca-cert-file", "/tls/ca.pem"),
                ("--tls-cert-file", "/tls/node.pem"),
                ("--tls-key-file", "/etc/key/node-key.pem"),
            ] {
                cmd.extend([flag.into(), file.into()]);
            }
            // The key alone, through a sub-path mount of the same volume.
            c.volume_mounts.as_mut().unwrap().push(
                serde_json::from_value(serde_json::json!(
                    {"name": "tls", "mountPath": "/etc/key/node-key.pem", "subPath": "node-key.pem"}
                ))
                .unwrap(),
            );
        });
        let secret = served_tls(&sts).unwrap().secret.unwrap();
        assert_eq!(secret.keys, TlsKeys::default());

        // Without items, each file is the key of its name.
        let renamed = edited(tls_overlay(), |c, _| {
            let cmd = c.command.as_mut().unwrap();
            cmd.extend(["--tls-cert-file".into(), "/tls/redis.crt".into()]);
            cmd.extend(["--tls-key-file".into(), "/tls/redis.key".into()]);
        });
        assert_eq!(
            served_tls(&renamed).unwrap().secret.unwrap().keys,
            TlsKeys {
                ca: "ca.crt".into(),
                cert: "redis.crt".into(),
                key: "redis.key".into()
            }
        );
    }

    #[test]
    fn files_not_all_from_one_secret_say_why() {
        let other = edited(tls_overlay(), |c, volumes| {
            volumes.push(
                serde_json::from_value(serde_json::json!(
                    {"name": "ca", "secret": {"secretName": "company-ca"}}
                ))
                .unwrap(),
            );
            c.volume_mounts.as_mut().unwrap().push(
                serde_json::from_value(serde_json::json!({"name": "ca", "mountPath": "/ca"}))
                    .unwrap(),
            );
            c.command
                .as_mut()
                .unwrap()
                .extend(["--tls-ca-cert-file".into(), "/ca/ca.crt".into()]);
        });
        assert_eq!(
            served_tls(&other).unwrap().secret,
            Err("its TLS files come from two Secrets (company-ca and redis-cluster-tls)".into())
        );
        let unmounted = edited(tls_overlay(), |c, _| {
            c.command
                .as_mut()
                .unwrap()
                .extend(["--tls-cert-file".into(), "/etc/redis/node.crt".into()]);
        });
        assert_eq!(
            served_tls(&unmounted).unwrap().secret,
            Err(
                "--tls-cert-file /etc/redis/node.crt is not a file of a Secret volume it mounts"
                    .into()
            )
        );
    }

    #[test]
    fn options_inside_a_start_script_are_read_and_no_namespace_means_no_name() {
        let mut sts = edited(tls_overlay(), |c, _| {
            let script = c.command.take().unwrap().join(" ");
            c.command = Some(vec!["sh".into(), "-c".into(), format!("exec {script}")]);
        });
        sts.metadata.namespace = None;
        let served = served_tls(&sts).unwrap();
        assert_eq!(served.port, 6379);
        assert!(served.secret.is_ok(), "{served:?}");
        assert_eq!(served.server_name, None);
    }
}
