//! One task per pod: keeps a redis-server running for the pod while the pod wants it, restarts it
//! (with backoff) when it crashes or when the pod comes back with another IP or UID, stops it when
//! the pod stops running, and cleans up the kwok objects when the pod is gone. Before each start it
//! writes host copies of the pod's mounted Secrets (TLS certificates and keys).

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret};
use kube::{Api, Client};
use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::datadirs::{DataDirs, DirGuard};
use crate::kwok;
use crate::podspec::{EnvValue, FileMount, MountSource, ObjKey, RedisPod, expand};
use crate::process::{self, RedisProcess, Spawn};
use crate::redisconf::{LaunchInput, launch};

/// What the main loop wants for a pod.
#[derive(Debug, Clone)]
pub enum Want {
    /// Run redis for this pod.
    Run(Box<RedisPod>),
    /// The pod exists but should not run redis (reason for the log).
    Stop(String),
    /// The pod was deleted: stop, clean up, end the task.
    Gone,
    /// The harness is shutting down: stop, keep everything else, end the task.
    Shutdown,
}

/// Shared settings and clients.
pub struct Ctx {
    /// Kubernetes client.
    pub client: Client,
    /// Data directories.
    pub dirs: Arc<DataDirs>,
    /// `redis-server` binary.
    pub redis_server: PathBuf,
    /// `valkey-server` binary, for Valkey pods.
    pub valkey_server: Option<PathBuf>,
    /// Harness state dir (configs, logs, pid files).
    pub state: PathBuf,
}

impl Ctx {
    /// Generated config file of a pod.
    fn conf_file(&self, key: &ObjKey) -> PathBuf {
        self.state
            .join("conf")
            .join(&key.ns)
            .join(format!("{}.conf", key.name))
    }
    /// redis-server log file of a pod.
    pub fn log_file(&self, key: &ObjKey) -> PathBuf {
        self.state
            .join("logs")
            .join(&key.ns)
            .join(format!("{}.log", key.name))
    }
    /// Host copies of the Secret volumes of a pod, one subdirectory per pod UID (so the cleanup
    /// of a deleted pod cannot remove the files of a recreated pod of the same name).
    fn volumes_dir(&self, key: &ObjKey) -> PathBuf {
        self.state.join("volumes").join(&key.ns).join(&key.name)
    }
    /// Pid file of a pod's redis-server (flat dir: `<ns>_<pod>.pid`; `_` is not valid in names).
    fn pid_file(&self, key: &ObjKey) -> PathBuf {
        self.state
            .join("pids")
            .join(format!("{}_{}.pid", key.ns, key.name))
    }
}

/// A started redis-server and what it was started for.
#[derive(Debug)]
struct Running {
    /// Pod UID, IP, port and data dir it was started for.
    identity: (String, String, u16, PathBuf),
    /// The process.
    proc: RedisProcess,
    /// Keeps the data dir marked in use.
    _guard: DirGuard,
}

/// What woke the supervisor up.
enum Wake {
    /// The wanted state changed (false: the main loop went away).
    Changed(bool),
    /// The process exited by itself.
    Exited(std::io::Result<std::process::ExitStatus>),
    /// The retry timer fired.
    Retry,
}

/// Delay before retry number `failures` (1 s, 2 s, 4 s ... 30 s).
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(5)).min(Duration::from_secs(30))
}

/// Runs the supervisor of pod `key` until it receives `Gone`/`Shutdown` or the sender is dropped.
pub async fn supervise(ctx: Arc<Ctx>, key: ObjKey, mut rx: watch::Receiver<Want>) {
    let mut current: Option<Running> = None;
    let mut retry_at: Option<Instant> = None;
    let mut failures = 0u32;
    let mut last: Option<Box<RedisPod>> = None;
    loop {
        let want = rx.borrow_and_update().clone();
        match &want {
            Want::Run(rp) => {
                last = Some(rp.clone());
                let id = identity(&ctx, rp);
                if let Some(cur) = &current
                    && cur.identity != id
                {
                    info!(pod = %key, "pod changed (uid/ip/port {} {}:{} -> {} {}:{}), restarting redis-server",
                        cur.identity.0, cur.identity.1, cur.identity.2, id.0, id.1, id.2);
                    stop(&key, current.take()).await;
                    failures = 0;
                    retry_at = None;
                }
                if current.is_none() && retry_at.is_none_or(|t| Instant::now() >= t) {
                    match start(&ctx, rp, id).await {
                        Ok(r) => {
                            current = Some(r);
                            retry_at = None;
                        }
                        Err(e) => {
                            failures += 1;
                            let d = backoff(failures);
                            warn!(pod = %key, "failed to start redis-server: {e:#}; retrying in {d:?}");
                            retry_at = Some(Instant::now() + d);
                        }
                    }
                }
            }
            Want::Stop(reason) => {
                if current.is_some() {
                    info!(pod = %key, "pod is {reason}: stopping redis-server");
                    stop(&key, current.take()).await;
                }
                retry_at = None;
                failures = 0;
            }
            Want::Gone => {
                stop(&key, current.take()).await;
                gone_cleanup(&ctx, &key, last.as_deref());
                return;
            }
            Want::Shutdown => {
                stop(&key, current.take()).await;
                return;
            }
        }
        let wake = tokio::select! {
            r = rx.changed() => Wake::Changed(r.is_ok()),
            s = wait_exit(&mut current) => Wake::Exited(s),
            _ = sleep_until(retry_at) => Wake::Retry,
        };
        match wake {
            Wake::Changed(true) | Wake::Retry => {}
            Wake::Changed(false) => {
                stop(&key, current.take()).await;
                return;
            }
            Wake::Exited(status) => {
                let ran = current
                    .take()
                    .map(|r| r.proc.started.elapsed())
                    .unwrap_or_default();
                failures = if ran > Duration::from_secs(30) {
                    1
                } else {
                    failures + 1
                };
                let d = backoff(failures);
                let tail = process::log_tail(&ctx.log_file(&key), 3);
                let status = status.map_or_else(|e| format!("wait failed: {e}"), |s| s.to_string());
                warn!(pod = %key, "redis-server exited by itself ({status}) after {ran:.1?}; restarting in {d:?}; log tail:\n{tail}");
                retry_at = Some(Instant::now() + d);
            }
        }
    }
}

/// Waits for the current process to exit; pending forever if there is none.
async fn wait_exit(current: &mut Option<Running>) -> std::io::Result<std::process::ExitStatus> {
    match current {
        Some(r) => r.proc.wait().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`; pending forever if `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// The identity a running server is tied to: pod UID, IP, port, data dir.
fn identity(ctx: &Ctx, rp: &RedisPod) -> (String, String, u16, PathBuf) {
    let dir = ctx.dirs.path_for(&rp.key, rp.claim.as_deref(), &rp.uid);
    (rp.uid.clone(), rp.ip.clone(), rp.port, dir)
}

/// Stops a running server, logging the outcome.
async fn stop(key: &ObjKey, running: Option<Running>) {
    let Some(r) = running else { return };
    let pid = r.proc.pid;
    match r.proc.stop(Duration::from_secs(10)).await {
        Ok(status) => {
            info!(pod = %key, "stopped redis-server pid {pid} ({status}); data kept in {}", r.identity.3.display())
        }
        Err(e) => warn!(pod = %key, "failed to stop redis-server pid {pid}: {e:#}"),
    }
}

/// After pod deletion: an emptyDir-style data dir goes with the pod. (The PortForward and Exec
/// objects are owned by the pod, so the garbage collector deletes them; deleting them here could
/// race with the supervisor of a recreated pod of the same name that already re-applied them.)
fn gone_cleanup(ctx: &Ctx, key: &ObjKey, last: Option<&RedisPod>) {
    info!(pod = %key, "pod deleted");
    if let Some(rp) = last
        && rp.claim.is_none()
    {
        remove_pod_dir(&ctx.dirs, key, &rp.uid);
    }
    if let Some(rp) = last {
        let pod_dir = ctx.volumes_dir(key);
        if let Err(e) = remove_if_exists(&pod_dir.join(uid_dir_name(&rp.uid))) {
            warn!(pod = %key, "failed to remove the pod's secret files: {e:#}");
        }
        let _ = fs::remove_dir(&pod_dir); // only if no recreated pod uses it
    }
}

/// Resolves everything and starts redis-server for `rp`.
async fn start(
    ctx: &Arc<Ctx>,
    rp: &RedisPod,
    id: (String, String, u16, PathBuf),
) -> Result<Running> {
    let key = &rp.key;
    let env = resolve_env(&ctx.client, rp).await?;
    let lookup = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let password = lookup("REDIS_PASSWORD").filter(|p| !p.is_empty());
    let config = read_config(&ctx.client, rp).await?;
    let secrets = fetch_secret_volumes(&ctx.client, rp).await?;
    let mounted_files = write_volumes(&ctx.volumes_dir(key), &rp.uid, &secrets)?;
    let pvc_uid = match &rp.claim {
        Some(c) => pvc_uid(&ctx.client, &key.ns, c).await?,
        None => None,
    };
    let data_dir = id.3.clone();
    let guard = ctx.dirs.acquire(&data_dir, pvc_uid.as_deref())?;
    let extra: Vec<String> = rp.extra_args.iter().map(|a| expand(a, lookup)).collect();
    let (conf_file, log_file, pid_file) =
        (ctx.conf_file(key), ctx.log_file(key), ctx.pid_file(key));
    for f in [&conf_file, &log_file, &pid_file] {
        if let Some(dir) = f.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
    }
    let l = launch(&LaunchInput {
        config: config.as_deref(),
        ip: &rp.ip,
        port: rp.port,
        data_dir: &data_dir,
        log_file: &log_file,
        data_mount: rp.data_mount.as_deref(),
        password: password.as_deref(),
        extra_args: &extra,
        mounted_files: &mounted_files,
    });
    std::fs::write(&conf_file, &l.conf_text)
        .with_context(|| format!("failed to write {}", conf_file.display()))?;

    let mut exec_env = env.clone();
    exec_env.extend([
        ("POD_IP".to_string(), rp.ip.clone()),
        ("POD_NAME".to_string(), key.name.clone()),
        ("POD_NAMESPACE".to_string(), key.ns.clone()),
        ("REDIS_PORT".to_string(), rp.port.to_string()),
    ]);
    kwok::apply_debug_objects(&ctx.client, rp, &exec_env, &data_dir).await?;

    let program = if rp.valkey {
        ctx.valkey_server
            .as_ref()
            .context("the pod runs valkey, but the harness was started without --valkey-server")?
    } else {
        &ctx.redis_server
    };
    let mut proc = process::spawn(&Spawn {
        program,
        conf_file: &conf_file,
        args: &l.args,
        log_file: &log_file,
        pid_file: &pid_file,
    })?;
    let addr = format!("{}:{}", rp.ip, rp.port);
    if let Err(e) = proc.wait_listening(&addr, Duration::from_secs(15)).await {
        let tail = process::log_tail(&log_file, 5);
        let _ = proc.stop(Duration::from_secs(2)).await;
        bail!("{e:#}; log tail:\n{tail}");
    }
    info!(pod = %key, "started redis-server pid {} on {addr}{} (data {}, config {}{})", proc.pid,
        if l.tls { " (TLS only)" } else { "" }, data_dir.display(),
        if config.is_some() { "from ConfigMap" } else { "default" },
        if password.is_some() { ", auth from REDIS_PASSWORD" } else { "" });
    Ok(Running {
        identity: id,
        proc,
        _guard: guard,
    })
}

/// Resolves the container env (literals expanded, secrets, ConfigMap keys, a few field refs).
async fn resolve_env(client: &Client, rp: &RedisPod) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in &rp.env {
        let v = match &e.value {
            EnvValue::Literal(v) => expand(v, |n| {
                out.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
            }),
            EnvValue::Secret { name, key } => {
                let s: Secret = Api::namespaced(client.clone(), &rp.key.ns)
                    .get(name)
                    .await
                    .with_context(|| {
                        format!(
                            "failed to read secret {}/{name} for env {}",
                            rp.key.ns, e.name
                        )
                    })?;
                let bytes = s.data.and_then(|d| d.get(key).cloned()).map(|b| b.0);
                let bytes = match bytes {
                    Some(b) => b,
                    None => s
                        .string_data
                        .and_then(|d| d.get(key).cloned())
                        .map(String::into_bytes)
                        .with_context(|| format!("secret {}/{name} has no key {key}", rp.key.ns))?,
                };
                String::from_utf8(bytes).with_context(|| {
                    format!("secret {}/{name} key {key} is not UTF-8", rp.key.ns)
                })?
            }
            EnvValue::ConfigMap { name, key } => {
                let cm: ConfigMap = Api::namespaced(client.clone(), &rp.key.ns)
                    .get(name)
                    .await
                    .with_context(|| {
                        format!(
                            "failed to read configmap {}/{name} for env {}",
                            rp.key.ns, e.name
                        )
                    })?;
                cm.data
                    .and_then(|d| d.get(key).cloned())
                    .with_context(|| format!("configmap {}/{name} has no key {key}", rp.key.ns))?
            }
            EnvValue::Field(path) => match path.as_str() {
                "status.podIP" => rp.ip.clone(),
                "metadata.name" => rp.key.name.clone(),
                "metadata.namespace" => rp.key.ns.clone(),
                "metadata.uid" => rp.uid.clone(),
                _ => continue,
            },
        };
        out.retain(|(k, _)| k != &e.name);
        out.push((e.name.clone(), v));
    }
    Ok(out)
}

/// The pod's redis config text: the ConfigMap key behind the config path in the container args,
/// else key `redis.conf` (else the only `*.conf` key) of the first mounted ConfigMap that has one.
async fn read_config(client: &Client, rp: &RedisPod) -> Result<Option<String>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &rp.key.ns);
    let mounts = rp.config_mounts().count();
    for m in rp.config_mounts() {
        let MountSource::ConfigMap(name) = &m.source else {
            continue;
        };
        let wanted = rp.config_path.as_deref().and_then(|p| m.key_for_path(p));
        if rp.config_path.is_some() && wanted.is_none() && mounts > 1 {
            continue; // the args name a file of another mount
        }
        let cm = api.get(name).await.with_context(|| {
            format!(
                "failed to read configmap {}/{name} mounted at {}",
                rp.key.ns, m.mount_path
            )
        })?;
        let data = cm.data.unwrap_or_default();
        let text = match wanted {
            Some(k) => data.get(&k).cloned(),
            None => data.get("redis.conf").cloned().or_else(|| {
                let confs: Vec<_> = data.iter().filter(|(k, _)| k.ends_with(".conf")).collect();
                (confs.len() == 1).then(|| confs[0].1.clone())
            }),
        };
        if text.is_some() {
            return Ok(text);
        }
    }
    Ok(None)
}

/// A mounted Secret volume with its files (relative path, content), as fetched for one start.
#[derive(Debug)]
pub(crate) struct VolumeFiles<'a> {
    /// The mount.
    pub mount: &'a FileMount,
    /// Files of the volume (relative path, content).
    pub files: Vec<(String, Vec<u8>)>,
}

/// Fetches every Secret the pod mounts and picks its files (all keys, or the `items`). A missing
/// Secret or key fails, unless the volume is `optional` (then it has no files / lacks that key).
async fn fetch_secret_volumes<'p>(
    client: &Client,
    rp: &'p RedisPod,
) -> Result<Vec<VolumeFiles<'p>>> {
    let ns = &rp.key.ns;
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut out = Vec::new();
    for m in rp.secret_mounts() {
        let MountSource::Secret(name) = &m.source else {
            continue;
        };
        let secret = api.get_opt(name).await.with_context(|| {
            format!(
                "failed to read secret {ns}/{name} mounted at {}",
                m.mount_path
            )
        })?;
        let data = match secret {
            Some(s) => secret_bytes(s),
            None if m.optional => BTreeMap::new(),
            None => bail!(
                "secret {ns}/{name} mounted at {} does not exist",
                m.mount_path
            ),
        };
        let files = m
            .files(&data)
            .map_err(|e| anyhow!("{e} (namespace {ns}, mounted at {})", m.mount_path))?
            .into_iter()
            .map(|(p, v)| (p, v.to_vec()))
            .collect();
        out.push(VolumeFiles { mount: m, files });
    }
    Ok(out)
}

/// A Secret's keys with their decoded values (`stringData` wins, as on writes to the API).
fn secret_bytes(s: Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = s
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    out.extend(
        s.string_data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes())),
    );
    out
}

/// The directory name of a pod UID below the pod's volumes dir.
fn uid_dir_name(uid: &str) -> &str {
    if uid.is_empty() { "no-uid" } else { uid }
}

/// Replaces the host copies of a pod's Secret volumes: clears `pod_dir` (copies written for this
/// or an earlier pod of the same name), then writes volume number `n` to
/// `pod_dir/<uid>/<n>-<secret name>/` (directories 0700, files 0600). Returns the
/// (container mount path, host path) pairs for [`LaunchInput::mounted_files`].
pub(crate) fn write_volumes(
    pod_dir: &Path,
    uid: &str,
    volumes: &[VolumeFiles<'_>],
) -> Result<Vec<(String, PathBuf)>> {
    remove_if_exists(pod_dir)?;
    if volumes.is_empty() {
        return Ok(Vec::new());
    }
    let root = pod_dir.join(uid_dir_name(uid));
    let mut mapping = Vec::new();
    for (n, v) in volumes.iter().enumerate() {
        let name = match &v.mount.source {
            MountSource::ConfigMap(name) | MountSource::Secret(name) => name,
        };
        let dir = root.join(format!("{n}-{name}"));
        make_private_dir(&dir)?;
        for (rel, content) in &v.files {
            write_private_file(&dir.join(rel), content)?;
        }
        // With a subPath, the mount path shows that part of the volume.
        let shown = v.mount.volume_path(&v.mount.mount_path).unwrap_or_default();
        if shown.split('/').any(|c| c == "..") {
            bail!(
                "subPath {shown:?} of the mount at {} climbs out of the volume",
                v.mount.mount_path
            );
        }
        mapping.push((v.mount.mount_path.clone(), dir.join(shown)));
    }
    Ok(mapping)
}

/// Removes a directory tree; fine if it does not exist.
fn remove_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("failed to remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Creates `dir` and missing parents with mode 0700.
fn make_private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("failed to create {}", dir.display()))
}

/// Writes `content` to `path` (and its missing parent dirs) readable by the owner only.
fn write_private_file(path: &Path, content: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        make_private_dir(parent)?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    f.write_all(content)
        .with_context(|| format!("failed to write {}", path.display()))?;
    // The umask may have taken bits off the mode given at creation.
    fs::set_permissions(path, Permissions::from_mode(0o600))
        .with_context(|| format!("failed to set the mode of {}", path.display()))
}

/// UID of PVC `ns/name`, `None` if it does not exist.
async fn pvc_uid(client: &Client, ns: &str, name: &str) -> Result<Option<String>> {
    let pvc = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .with_context(|| format!("failed to read pvc {ns}/{name}"))?;
    Ok(pvc.and_then(|p| p.metadata.uid))
}

/// Removes the emptyDir-style data dir of a deleted pod without a PVC.
fn remove_pod_dir(dirs: &DataDirs, key: &ObjKey, uid: &str) {
    let path = dirs.path_for(key, None, uid);
    if let Err(e) = dirs.remove_if_unused(&path, None) {
        warn!(pod = %key, "failed to remove data dir: {e:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    /// A Secret volume `name` mounted at `/tls` (optionally with a subPath).
    fn secret_mount(name: &str, sub_path: Option<&str>) -> FileMount {
        FileMount {
            source: MountSource::Secret(name.into()),
            mount_path: "/tls".into(),
            sub_path: sub_path.map(String::from),
            items: vec![],
            optional: false,
        }
    }

    /// Files (relative path, content).
    fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        list.iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect()
    }

    /// Mode bits of `path`.
    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn secret_files_are_written_private_below_the_pod_uid() {
        let tmp = TempDir::new("volumes");
        let pod_dir = tmp.path().join("volumes/rc/redis-0");
        let m = secret_mount("redis-cluster-tls", None);
        let v = VolumeFiles {
            mount: &m,
            files: files(&[("tls.key", "KEY"), ("ca/ca.crt", "CA")]),
        };
        let mapping = write_volumes(&pod_dir, "u1", &[v]).expect("written");
        let host = pod_dir.join("u1/0-redis-cluster-tls");
        assert_eq!(mapping, vec![("/tls".to_string(), host.clone())]);
        assert_eq!(fs::read(host.join("tls.key")).expect("key"), b"KEY");
        assert_eq!(fs::read(host.join("ca/ca.crt")).expect("ca"), b"CA");
        assert_eq!(mode(&host.join("tls.key")), 0o600);
        assert_eq!(mode(&host.join("ca/ca.crt")), 0o600);
        assert_eq!(mode(&host), 0o700);
    }

    #[test]
    fn every_start_replaces_the_files_of_earlier_starts_and_pods() {
        let tmp = TempDir::new("volumes");
        let pod_dir = tmp.path().join("redis-0");
        let m = secret_mount("tls", None);
        let first = VolumeFiles {
            mount: &m,
            files: files(&[("old.crt", "1")]),
        };
        write_volumes(&pod_dir, "old-uid", &[first]).expect("first start");
        let second = VolumeFiles {
            mount: &m,
            files: files(&[("tls.crt", "2")]),
        };
        write_volumes(&pod_dir, "new-uid", &[second]).expect("second start");
        assert!(
            !pod_dir.join("old-uid").exists(),
            "an earlier pod's copies go"
        );
        assert!(pod_dir.join("new-uid/0-tls/tls.crt").exists());
        assert!(
            write_volumes(&pod_dir, "new-uid", &[])
                .expect("no secrets")
                .is_empty()
        );
        assert!(!pod_dir.exists(), "no Secret mounts: no copies left");
    }

    #[test]
    fn a_sub_path_mount_maps_to_that_part_of_the_volume() {
        let tmp = TempDir::new("volumes");
        let m = secret_mount("tls", Some("certs/tls.crt"));
        let v = VolumeFiles {
            mount: &m,
            files: files(&[("certs/tls.crt", "C")]),
        };
        let mapping = write_volumes(tmp.path(), "u", &[v]).expect("written");
        assert_eq!(mapping[0].1, tmp.path().join("u/0-tls/certs/tls.crt"));
        assert!(mapping[0].1.is_file());
    }
}
