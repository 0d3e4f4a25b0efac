//! `deploy`: apply the manifests embedded in the binary (the same as `kubectl apply -k
//! manifests/`, RBAC aside) with server-side apply, sized by `--masters` and
//! `--replicas-per-master`. `--dry-run` prints the YAML. `init` is the next step.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

use super::context::{Ctx, Outcome};
use super::report::ObjectsChange;
use crate::k8s::K8sError;
use crate::k8s::locate::server_kind;
use crate::k8s::manifests::{DeployParams, Object, render, to_yaml};
use crate::output::OutputFormat;
use crate::settings::Settings;
use crate::topology::EngineKind;

/// The server `deploy --engine` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Server {
    /// Redis.
    Redis,
    /// Valkey.
    Valkey,
}

impl From<Server> for EngineKind {
    fn from(s: Server) -> Self {
        match s {
            Server::Redis => Self::Redis,
            Server::Valkey => Self::Valkey,
        }
    }
}

/// Options of `deploy`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster deploy\n  kubectl redis-cluster deploy -n cache --masters 4 --storage 10Gi --storage-class fast\n  kubectl redis-cluster deploy --dry-run > redis-cluster.yaml\n  kubectl redis-cluster deploy --engine valkey\n  kubectl redis-cluster deploy --announce hostname\n\nThen: kubectl redis-cluster init\n\nThe plugin user's RBAC (manifests/base/rbac-plugin-user.yaml) is not applied: a cluster admin grants it once."
)]
pub struct DeployOpts {
    /// Masters; the StatefulSet gets masters × (1 + replicas-per-master) pods.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub masters: u32,

    /// Replicas per master.
    #[arg(long, default_value_t = 1, value_name = "R")]
    pub replicas_per_master: u32,

    /// Volume size per pod (default: 1Gi, as in the manifests).
    #[arg(long, value_name = "SIZE")]
    pub storage: Option<String>,

    /// The server the pods run: `redis` (the base manifests, redis:7.0.15) or `valkey` (the
    /// valkey overlay: valkey/valkey:9.1, valkey-server, and on SIGTERM a failover to a
    /// replica).
    #[arg(long, value_enum, default_value_t = Server::Redis, value_name = "ENGINE")]
    pub engine: Server,

    /// Image (default: the pinned stock image of the engine); a valkey image tagged 8.x
    /// drops the SIGTERM failover Valkey 8 lacks.
    #[arg(long, value_name = "IMG")]
    pub image: Option<String>,

    /// StorageClass of the volumes (default: the cluster's default class).
    #[arg(long, value_name = "C")]
    pub storage_class: Option<String>,

    /// What each node announces to clients: its pod IP, or a stable DNS name
    /// (<pod>.<headless service>.<namespace>.svc.<cluster domain>; Redis >= 7, Valkey).
    #[arg(long, value_enum, default_value_t = Announce::Ip, value_name = "WHAT")]
    pub announce: Announce,

    /// The cluster's DNS domain, for `--announce hostname`.
    #[arg(long, default_value = "cluster.local", value_name = "DOMAIN", value_parser = super::announce::dns_domain)]
    pub cluster_domain: String,
}

/// What `deploy --announce` makes nodes announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Announce {
    /// The pod IP (`cluster-announce-ip`).
    Ip,
    /// A stable DNS name (`cluster-announce-hostname`, `cluster-preferred-endpoint-type hostname`).
    Hostname,
}

impl DeployOpts {
    /// Runs `deploy`.
    pub async fn exec(self, settings: Settings) -> anyhow::Result<Outcome> {
        let objects = render(&DeployParams {
            masters: self.masters,
            replicas_per_master: self.replicas_per_master,
            storage: self.storage,
            engine: self.engine.into(),
            image: self.image,
            storage_class: self.storage_class,
            hostnames: (self.announce == Announce::Hostname).then_some(self.cluster_domain),
        })?;
        let names = || {
            objects
                .iter()
                .map(|o| format!("{}/{}", o.kind(), o.name()))
                .collect()
        };
        if settings.dry_run {
            let mut out = std::io::stdout().lock();
            if settings.output == OutputFormat::Json {
                let planned = ObjectsChange {
                    result: "planned",
                    objects: names(),
                };
                crate::output::json::write_report(&mut out, "deploy", &planned)?;
            } else {
                out.write_all(to_yaml(&objects).as_bytes())?;
            }
            out.flush()?;
            return Ok(Outcome::Success);
        }
        let (ctx, target) = Ctx::kubernetes(settings, "deploy").await?;
        let k8s = ctx.k8s.as_ref().context("deploy needs Kubernetes")?;
        let sts = statefulset_name(&objects);
        if let Some(given) = target.statefulset.as_deref().filter(|given| *given != sts) {
            bail!(
                "deploy creates statefulset {sts}; --statefulset {given} is for clusters deployed otherwise (use -n to deploy a second cluster)"
            );
        }
        let pods = self.masters * (1 + self.replicas_per_master);
        match k8s.replicas(sts).await {
            Ok(current) if current.desired != pods => bail!(
                "statefulset {sts} already exists with {} pods; deploy would set {pods} without moving any slot: resize a running cluster with `scale`, or `destroy` it first",
                current.desired
            ),
            Ok(_) => {
                let running = server_kind(&k8s.statefulset(sts).await?);
                let asked = EngineKind::from(self.engine);
                if let Some(running) = running.filter(|r| *r != asked) {
                    bail!(
                        "statefulset {sts} runs {running}; deploy --engine {asked} would restart its pods as {asked} servers on {running}'s data: keep `--engine {running}`, or `destroy` it first"
                    );
                }
            }
            Err(K8sError::NotFound { .. } | K8sError::NamespaceNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let scope = &k8s.scope;
        ctx.confirm(
            &format!(
                "Apply {} objects ({pods} {} pods) to namespace {} (context {})?",
                objects.len(),
                EngineKind::from(self.engine),
                scope.namespace,
                scope.context
            ),
            "apply the manifests",
            false,
        )?;
        for object in &objects {
            k8s.apply(object).await?;
            ctx.reporter
                .done(format!("{}/{} applied", object.kind(), object.name()));
        }
        ctx.reporter.line(&format!(
            "next: kubectl redis-cluster -n {} init --replicas-per-master {}",
            scope.namespace, self.replicas_per_master
        ));
        ctx.print_json(
            "deploy",
            &ObjectsChange {
                result: "applied",
                objects: names(),
            },
        )?;
        Ok(Outcome::Success)
    }
}

/// The name of the StatefulSet among the objects.
pub fn statefulset_name(objects: &[Object]) -> &str {
    objects
        .iter()
        .find(|o| matches!(o, Object::StatefulSet(_)))
        .map_or("", Object::name)
}
