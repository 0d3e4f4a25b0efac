//! What every command runs with: settings, the connection pool, progress output, stdout and
//! the confirmation prompt; in Kubernetes mode also the client and the StatefulSet's pods.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context as _;

use super::refusal::Refusal;
use crate::k8s::discover::PodAddresses;
use crate::k8s::secret::{SecretKey, TlsKeys, password_ref};
use crate::k8s::served_tls::{ServedTls, served_tls};
use crate::k8s::{K8s, Pods, PortForwardConnector};
use crate::output::Reporter;
use crate::output::prompt::confirm;
use crate::redis::converge::{Addresses, AnyAddress};
use crate::redis::{Connector, Credentials, DirectConnector, Pool, TlsConfig, TlsConnector};
use k8s_openapi::api::apps::v1::StatefulSet;

use crate::settings::{Access, KubeTarget, Settings, TlsSecret};
use crate::topology::Endpoint;

/// How a command ended, when it did not fail outright.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done, and the cluster is healthy.
    Success,
    /// Done, but the cluster is unhealthy.
    Unhealthy,
}

/// A command's environment.
pub struct Ctx {
    /// Validated settings.
    pub settings: Settings,
    /// Connections to nodes.
    pub pool: Pool,
    /// Progress on stderr.
    pub reporter: Reporter,
    /// Nodes to start observing from.
    pub seeds: Vec<Endpoint>,
    /// The Kubernetes client, in Kubernetes mode.
    pub k8s: Option<K8s>,
    /// The StatefulSet's pods as discovered when the command started, in Kubernetes mode.
    pub members: Option<Pods>,
    /// This run's operation (its command line without `--yes`), once it took the lock.
    pub operation: String,
    /// Who holds the cluster's lock for this run.
    pub held: Option<crate::k8s::lease::Holder>,
    /// The journal an interrupted run of the same operation left ([`super::lock`]).
    pub inherited: Option<crate::plan::journal::Journal>,
    /// Whether this run's journal says its plan is done ([`Ctx::finish_journal`]): the lock
    /// then goes with it when released.
    pub journal_done: std::sync::atomic::AtomicBool,
    /// The lock this run holds with `--seed` (a local state file).
    pub local_lock: Option<super::local_lock::LocalLock>,
    /// Whether the whole plan was confirmed ([`Ctx::confirm_plan`]): the run asks nothing
    /// more.
    pub plan_confirmed: std::sync::atomic::AtomicBool,
}

impl Ctx {
    /// With `-o json`, writes `report` as `command`'s JSON document on stdout (with its
    /// `schema`); with the table output, nothing (the progress lines said it).
    pub fn print_json(&self, command: &str, report: &impl serde::Serialize) -> anyhow::Result<()> {
        if self.settings.output == crate::output::OutputFormat::Json {
            crate::output::json::write_report(&mut self.stdout(), command, report)?;
        }
        Ok(())
    }

    /// The endpoints to observe from once the StatefulSet's pods are all back, Ready and
    /// answering (a pod was lost mid-command), waiting up to `--timeout`; the seeds as given
    /// outside Kubernetes mode.
    pub async fn wait_for_pods(&self) -> anyhow::Result<Vec<Endpoint>> {
        let (Some(k8s), Access::Kubernetes(target)) = (&self.k8s, &self.settings.access) else {
            return Ok(self.seeds.clone());
        };
        let name = target.statefulset_name();
        let desired = k8s.replicas(name).await?.desired;
        let pods = k8s
            .wait_members(
                name,
                target.client_port(),
                desired,
                &self.pool,
                self.settings.timeout,
            )
            .await?;
        Ok(pods.endpoints())
    }

    /// The addresses a MEET may name now: the pods' in Kubernetes mode, any elsewhere.
    pub fn addresses(&self) -> Box<dyn Addresses> {
        match (&self.k8s, &self.settings.access) {
            (Some(k8s), Access::Kubernetes(target)) => Box::new(PodAddresses {
                k8s: k8s.clone(),
                statefulset: target.statefulset_name().to_string(),
                port: target.client_port(),
            }),
            _ => Box::new(AnyAddress),
        }
    }

    /// Builds the context for the settings' access mode: with `--seed`, that node; in
    /// Kubernetes mode, every pod of the StatefulSet, reached by port-forward unless `--direct`
    /// or running inside the cluster.
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let target = match &settings.access {
            Access::Seed(seed) => {
                let seeds = vec![seed.clone()];
                return Ok(Self::direct_tcp(settings, seeds));
            }
            Access::Kubernetes(target) => target.clone(),
        };
        let k8s = K8s::connect(&target.source).await?;
        let (sts, located) = k8s
            .locate(target.statefulset.as_deref(), target.port)
            .await?;
        let mut members = k8s.members_of(&sts, located.port).await?;
        if members.members.is_empty() && k8s.replicas(&located.statefulset).await?.desired == 0 {
            return Err(Refusal::NoPods {
                statefulset: located.statefulset,
                namespace: k8s.scope.namespace.clone(),
            }
            .into());
        }
        let mut settings = settings;
        // From here on, the target names what was found.
        settings.access = Access::Kubernetes(KubeTarget {
            statefulset: Some(located.statefulset.clone()),
            port: Some(located.port),
            ..target
        });
        if settings.credentials.is_none() {
            settings.credentials = secret_credentials(&k8s, &settings, &sts).await?;
        }
        let mut found_tls = None;
        if let Some(wanted) = &settings.tls_secret {
            settings.tls = Some(secret_tls(&k8s, wanted).await?);
        } else if settings.tls.is_none()
            && let Some(served) = served_tls(&sts).filter(|s| s.port == located.port)
        {
            let (tls, found) = served_secret_tls(&k8s, &located.statefulset, served).await?;
            settings.tls = Some(tls);
            found_tls = Some(found);
        }
        let connector: Arc<dyn Connector> = if target.direct || k8s.in_cluster {
            Arc::new(DirectConnector {
                timeout: settings.connect_timeout,
            })
        } else {
            Arc::new(PortForwardConnector::new(
                k8s.clone(),
                &members,
                settings.connect_timeout,
            ))
        };
        let mut ctx = Self::with_connector(settings, connector, members.endpoints());
        if ctx.seeds.is_empty() && !members.members.is_empty() {
            // Pods exist but none has an IP yet (Pending: scheduling, volumes): there is no
            // node to observe from until they do.
            let desired = k8s.replicas(&located.statefulset).await?.desired;
            ctx.reporter.warn(format!(
                "no pod of statefulset {} has an IP yet ({}); waiting up to {}s for them",
                located.statefulset,
                members.not_ready(desired).join(", "),
                ctx.settings.timeout.as_secs()
            ));
            members = k8s
                .wait_members(
                    &located.statefulset,
                    located.port,
                    desired,
                    &ctx.pool,
                    ctx.settings.timeout,
                )
                .await
                .context("no pod can be reached; see `kubectl get pods` for why they have no IP (scheduling, volumes), then run the command again")?;
            ctx.seeds = members.endpoints();
        }
        for found in located.inferred.iter().chain(&found_tls) {
            ctx.reporter.line(&format!("Found {found}"));
        }
        ctx.k8s = Some(k8s);
        ctx.members = Some(members);
        Ok(ctx)
    }

    /// A context with a Kubernetes client but no discovery (`deploy`, `destroy`: the
    /// StatefulSet may not exist); `command` names the subcommand for `--seed`'s refusal.
    pub async fn kubernetes(
        settings: Settings,
        command: &'static str,
    ) -> anyhow::Result<(Self, KubeTarget)> {
        let target = match &settings.access {
            Access::Kubernetes(target) => target.clone(),
            Access::Seed(_) => return Err(Refusal::KubernetesOnly { command }.into()),
        };
        let k8s = K8s::connect(&target.source).await?;
        let mut ctx = Self::direct_tcp(settings, vec![]);
        ctx.k8s = Some(k8s);
        Ok((ctx, target))
    }

    /// A context dialling the nodes directly, whatever the access mode (for `init --nodes`);
    /// TLS material must then come from files.
    pub fn direct(settings: Settings, seeds: Vec<Endpoint>) -> anyhow::Result<Self> {
        anyhow::ensure!(
            settings.tls_secret.is_none(),
            "--tls-secret is read from the StatefulSet's namespace, which --nodes bypasses; give the files with --cacert (and --cert, --key)"
        );
        Ok(Self::direct_tcp(settings, seeds))
    }

    /// A context over TCP (and `--tls` files).
    fn direct_tcp(settings: Settings, seeds: Vec<Endpoint>) -> Self {
        let connector = Arc::new(DirectConnector {
            timeout: settings.connect_timeout,
        });
        Self::with_connector(settings, connector, seeds)
    }

    /// A context dialling through `connector`.
    fn with_connector(
        settings: Settings,
        connector: Arc<dyn Connector>,
        seeds: Vec<Endpoint>,
    ) -> Self {
        // MIGRATE and big CLUSTER NODES replies need more than redis-rs' 500 ms default.
        let response_timeout = settings.timeout.max(std::time::Duration::from_secs(30));
        // --tls: every stream, whichever connector opens it, is wrapped in TLS.
        let connector: Arc<dyn Connector> = match &settings.tls {
            Some(tls) => Arc::new(TlsConnector::new(connector, tls, settings.connect_timeout)),
            None => connector,
        };
        let pool = Pool::new(
            connector,
            settings.credentials.clone(),
            settings.connect_timeout,
            response_timeout,
        );
        let reporter = Reporter::new(settings.err_styles, Box::new(std::io::stderr()));
        Self {
            settings,
            pool,
            reporter,
            seeds,
            k8s: None,
            members: None,
            operation: String::new(),
            held: None,
            inherited: None,
            journal_done: Default::default(),
            plan_confirmed: Default::default(),
            local_lock: None,
        }
    }

    /// Standard output, where results go.
    pub fn stdout(&self) -> impl Write {
        std::io::stdout().lock()
    }

    /// Asks before a change unless `--yes`. Non-destructive changes proceed without a
    /// terminal; destructive ones are refused there.
    pub fn confirm(&self, question: &str, action: &str, destructive: bool) -> Result<(), Refusal> {
        let confirmed = self
            .plan_confirmed
            .load(std::sync::atomic::Ordering::Relaxed);
        if confirmed || (!destructive && !self.settings.interactive) {
            return Ok(());
        }
        Ok(confirm(
            question,
            action,
            self.settings.yes,
            self.settings.interactive,
            &mut std::io::stdin().lock(),
            &mut std::io::stderr(),
        )?)
    }

    /// Asks once for a whole plan, as [`Ctx::confirm`] does; every later question of the
    /// run is taken as answered.
    pub fn confirm_plan(
        &self,
        question: &str,
        action: &str,
        destructive: bool,
    ) -> Result<(), Refusal> {
        self.confirm(question, action, destructive)?;
        self.plan_confirmed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// The TLS client configuration from `--tls-secret`.
async fn secret_tls(k8s: &K8s, wanted: &TlsSecret) -> anyhow::Result<TlsConfig> {
    let mut material = k8s
        .tls_material(
            &wanted.name,
            &TlsKeys::default(),
            wanted.insecure,
            wanted.server_name.clone(),
        )
        .await
        .with_context(|| {
            format!(
                "cannot read the TLS material (named by --tls-secret {})",
                wanted.name
            )
        })?;
    material.origin = format!("{}, named by --tls-secret", material.origin);
    Ok(material.client_config()?)
}

/// The TLS client configuration from the Secret the StatefulSet mounts its certificate files
/// from, when its client port is its `--tls-port` and no TLS flag was given; with the line
/// that says what was found. The nodes' certificate serves as the client certificate, as the
/// nodes use it among themselves.
async fn served_secret_tls(
    k8s: &K8s,
    statefulset: &str,
    served: ServedTls,
) -> anyhow::Result<(TlsConfig, String)> {
    let ServedTls {
        port,
        secret,
        server_name,
    } = served;
    let secret = secret.map_err(|why| {
        anyhow::anyhow!(
            "statefulset {statefulset} serves TLS on port {port} (--tls-port in its pod spec), but {why}: pass --tls with --tls-secret NAME (or --cacert FILE)"
        )
    })?;
    let mut material = k8s
        .tls_material(&secret.name, &secret.keys, false, server_name.clone())
        .await
        .with_context(|| {
            format!(
                "cannot read the TLS material (secret {}, mounted by statefulset {statefulset} as its {}; --tls --tls-secret NAME names another)",
                secret.name, secret.mount
            )
        })?;
    material.origin = format!(
        "{}, found from the StatefulSet's {}",
        material.origin, secret.mount
    );
    let checked = match &server_name {
        Some(name) => format!(
            "node certificates checked for {name} (--tls --tls-secret NAME --tls-server-name NAME set others)"
        ),
        None => "node certificates checked for each node's IP (no namespace or headless Service names the pods; --tls --tls-secret NAME --tls-server-name NAME sets a name)".to_string(),
    };
    let found = format!(
        "TLS on port {port} (--tls-port in the pod spec): {}; {checked}",
        material.origin
    );
    Ok((material.client_config()?, found))
}

/// The password from `--password-secret`, else from the Secret the StatefulSet's redis
/// container reads; `None` when neither exists (a cluster without a password).
async fn secret_credentials(
    k8s: &K8s,
    settings: &Settings,
    statefulset: &StatefulSet,
) -> anyhow::Result<Option<Credentials>> {
    let (wanted, how) = match &settings.password_secret {
        Some(text) => (SecretKey::parse(text), "--password-secret"),
        None => match password_ref(statefulset) {
            Some(found) => (found, "the StatefulSet's env"),
            None => return Ok(None),
        },
    };
    let password = k8s
        .secret_value(&wanted)
        .await
        .with_context(|| format!("cannot read the password (named by {how})"))?;
    Ok(Some(Credentials {
        username: settings.user.clone(),
        password,
        origin: format!(
            "secret {}/{} key {}, named by {how}",
            k8s.scope.namespace, wanted.name, wanted.key
        ),
    }))
}
