//! The harness main loop: watches pods and PVCs in all namespaces, hands each pod on a kwok node
//! to its supervisor task, removes a PVC's data dir when the PVC is deleted, and on SIGTERM/SIGINT
//! stops every redis-server it started before exiting.

use anyhow::{Context, Result};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::datadirs::DataDirs;
use crate::podspec::{self, ObjKey};
use crate::process;
use crate::supervisor::{self, Ctx, Want};

/// Node annotation kwok uses for the nodes it manages.
const KWOK_NODE_ANNOTATION: &str = "kwok.x-k8s.io/node";

/// Settings of `pod-harness run`.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// State dir: `data/`, `harness/{conf,logs,pids}/` live under it.
    pub state_dir: PathBuf,
    /// `redis-server` binary.
    pub redis_server: PathBuf,
    /// `valkey-server` binary, if any.
    pub valkey_server: Option<PathBuf>,
    /// Treat every node as a kwok node (skip the annotation check).
    pub all_nodes: bool,
}

/// One pod's supervisor handle.
struct Sup {
    /// Sends the wanted state.
    tx: watch::Sender<Want>,
}

/// Mutable state of the main loop.
struct Harness {
    /// Shared context for supervisors.
    ctx: Arc<Ctx>,
    /// Settings.
    settings: RunSettings,
    /// Live supervisors by pod.
    sups: HashMap<ObjKey, Sup>,
    /// Supervisor tasks (awaited at shutdown).
    tasks: JoinSet<()>,
    /// Node name → is a kwok node (positive answers only are cached).
    kwok_nodes: HashSet<String>,
    /// Pods listed since the last pod watcher `Init` (to catch deletions missed while re-listing).
    pods_seen: Option<(HashSet<ObjKey>, HashSet<String>)>,
    /// PVCs listed since the last PVC watcher `Init`.
    pvcs_seen: Option<HashSet<(ObjKey, String)>>,
}

/// Runs the harness until SIGTERM/SIGINT.
pub async fn run(settings: RunSettings) -> Result<()> {
    let client = Client::try_default()
        .await
        .context("failed to create a Kubernetes client (is KUBECONFIG set?)")?;
    let harness_dir = settings.state_dir.join("harness");
    let killed = process::kill_stale(&harness_dir.join("pids")).await?;
    if killed > 0 {
        info!("stopped {killed} redis-server(s) left by an earlier harness run");
    }
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        dirs: DataDirs::new(settings.state_dir.join("data")),
        redis_server: settings.redis_server.clone(),
        valkey_server: settings.valkey_server.clone(),
        state: harness_dir,
    });
    let mut h = Harness {
        ctx,
        settings,
        sups: HashMap::new(),
        tasks: JoinSet::new(),
        kwok_nodes: HashSet::new(),
        pods_seen: None,
        pvcs_seen: None,
    };
    let pods = watch_all::<Pod>(&client);
    let pvcs = watch_all::<PersistentVolumeClaim>(&client);
    futures::pin_mut!(pods, pvcs);
    let mut term = signal(SignalKind::terminate()).context("failed to install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("failed to install SIGINT handler")?;
    info!("watching pods and PVCs in all namespaces");
    loop {
        tokio::select! {
            ev = pods.next() => match ev {
                Some(Ok(ev)) => h.on_pod_event(ev).await,
                Some(Err(e)) => warn!("pod watch error (retrying): {e}"),
                None => break,
            },
            ev = pvcs.next() => match ev {
                Some(Ok(ev)) => h.on_pvc_event(ev),
                Some(Err(e)) => warn!("pvc watch error (retrying): {e}"),
                None => break,
            },
            Some(res) = h.tasks.join_next() => {
                if let Err(e) = res { warn!("a pod supervisor task failed: {e}"); }
            },
            _ = term.recv() => { info!("SIGTERM: stopping all redis-servers"); break; }
            _ = int.recv() => { info!("SIGINT: stopping all redis-servers"); break; }
        }
    }
    h.shutdown().await;
    Ok(())
}

/// A watcher over all namespaces with the default backoff.
fn watch_all<K>(client: &Client) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + k8s_openapi::serde::de::DeserializeOwned
        + Send
        + 'static,
{
    watcher::watcher(Api::<K>::all(client.clone()), watcher::Config::default()).default_backoff()
}

impl Harness {
    /// Handles one pod watch event.
    async fn on_pod_event(&mut self, ev: Event<Pod>) {
        match ev {
            Event::Init => self.pods_seen = Some((HashSet::new(), HashSet::new())),
            Event::InitApply(pod) => {
                if let Some((keys, uids)) = &mut self.pods_seen {
                    keys.insert(key_of(&pod));
                    uids.extend(pod.metadata.uid.clone());
                }
                self.on_pod(&pod).await;
            }
            Event::InitDone => {
                let Some((keys, uids)) = self.pods_seen.take() else {
                    return;
                };
                let missed: Vec<ObjKey> = self
                    .sups
                    .keys()
                    .filter(|k| !keys.contains(k))
                    .cloned()
                    .collect();
                for k in missed {
                    self.on_pod_deleted(&k);
                }
                for dir in self.ctx.dirs.orphaned_pod_dirs(&uids) {
                    info!(
                        "removing data dir {} of a pod that no longer exists",
                        dir.display()
                    );
                    if let Err(e) = self.ctx.dirs.remove_if_unused(&dir, None) {
                        warn!("{e:#}");
                    }
                }
            }
            Event::Apply(pod) => self.on_pod(&pod).await,
            Event::Delete(pod) => self.on_pod_deleted(&key_of(&pod)),
        }
    }

    /// A pod was added or changed: tell its supervisor what to do.
    async fn on_pod(&mut self, pod: &Pod) {
        let key = key_of(pod);
        let on_kwok = match podspec::node_name(pod) {
            Some(node) => self.is_kwok_node(node).await,
            None => false,
        };
        let want = match podspec::redis_pod(pod) {
            Ok(_) if !on_kwok => Want::Stop("not on a kwok node".into()),
            Ok(rp) => Want::Run(Box::new(rp)),
            Err(skip) => Want::Stop(skip.to_string()),
        };
        match (&want, self.sups.get(&key)) {
            (_, Some(sup)) => {
                sup.tx.send_replace(want);
            }
            (Want::Run(_), None) => {
                let (tx, rx) = watch::channel(want);
                self.tasks.spawn(supervisor::supervise(
                    Arc::clone(&self.ctx),
                    key.clone(),
                    rx,
                ));
                self.sups.insert(key, Sup { tx });
            }
            (_, None) => debug!(pod = %key, "ignored"),
        }
    }

    /// A pod is gone: its supervisor stops redis (data dir kept) and ends.
    fn on_pod_deleted(&mut self, key: &ObjKey) {
        if let Some(sup) = self.sups.remove(key) {
            sup.tx.send_replace(Want::Gone);
        }
    }

    /// Handles one PVC watch event: deleted PVCs take their data dir with them.
    fn on_pvc_event(&mut self, ev: Event<PersistentVolumeClaim>) {
        match ev {
            Event::Init => self.pvcs_seen = Some(HashSet::new()),
            Event::InitApply(pvc) => {
                if let Some(seen) = &mut self.pvcs_seen {
                    seen.insert((key_of(&pvc), pvc.metadata.uid.clone().unwrap_or_default()));
                }
            }
            Event::InitDone => {
                let Some(live) = self.pvcs_seen.take() else {
                    return;
                };
                for (path, uid) in self.ctx.dirs.orphaned_claim_dirs(&live) {
                    self.remove_claim_dir(path, uid, "its PVC no longer exists");
                }
            }
            Event::Apply(_) => {}
            Event::Delete(pvc) => {
                let key = key_of(&pvc);
                let path = self.ctx.dirs.path_for(&key, Some(&key.name), "");
                let uid = pvc.metadata.uid.clone().unwrap_or_default();
                self.remove_claim_dir(path, uid, &format!("PVC {key} was deleted"));
            }
        }
    }

    /// Removes a PVC's data dir in the background, waiting while a redis-server still uses it.
    fn remove_claim_dir(&mut self, path: PathBuf, uid: String, why: &str) {
        let dirs = Arc::clone(&self.ctx.dirs);
        let why = why.to_string();
        self.tasks.spawn(async move {
            for _ in 0..120 {
                match dirs.remove_if_unused(&path, Some(&uid)) {
                    Ok(true) => {
                        info!("{why}: removed data dir {}", path.display());
                        return;
                    }
                    Ok(false) => tokio::time::sleep(Duration::from_secs(1)).await,
                    Err(e) => {
                        warn!("{why}: {e:#}");
                        return;
                    }
                }
            }
            warn!(
                "{why}: data dir {} still in use after 120 s; left in place",
                path.display()
            );
        });
    }

    /// Whether `node` is managed by kwok (annotation `kwok.x-k8s.io/node`).
    async fn is_kwok_node(&mut self, node: &str) -> bool {
        if self.settings.all_nodes || self.kwok_nodes.contains(node) {
            return true;
        }
        let api: Api<Node> = Api::all(self.ctx.client.clone());
        match api.get_opt(node).await {
            Ok(Some(n)) if n.annotations().contains_key(KWOK_NODE_ANNOTATION) => {
                self.kwok_nodes.insert(node.to_string());
                true
            }
            Ok(_) => false,
            Err(e) => {
                warn!("failed to read node {node}: {e}");
                false
            }
        }
    }

    /// Stops every supervisor (and so every redis-server) and waits for them, up to 30 s.
    async fn shutdown(mut self) {
        for sup in self.sups.values() {
            sup.tx.send_replace(Want::Shutdown);
        }
        self.sups.clear();
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(30), all)
            .await
            .is_err()
        {
            warn!("some redis-servers did not stop within 30 s; killing them");
            self.tasks.shutdown().await; // drops the children, which are kill_on_drop
        }
        info!("harness stopped");
    }
}

/// Namespace/name of an object.
fn key_of<K: kube::Resource>(obj: &K) -> ObjKey {
    ObjKey::new(
        obj.namespace().unwrap_or_else(|| "default".into()),
        obj.name_any(),
    )
}
