//! `destroy`: delete what `deploy` (or `kubectl apply -k manifests/`) created: the
//! StatefulSet and its pods, the Services, the ConfigMap and the PodDisruptionBudget; the
//! PersistentVolumeClaims holding every node's data only with `--delete-pvcs`. Shown first,
//! confirmed, `--dry-run` prints the list.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;

use super::context::{Ctx, Outcome};
use super::deploy::statefulset_name;
use super::report::ObjectsChange;
use crate::k8s::K8s;
use crate::k8s::manifests::{Object, base};
use crate::k8s::pvc::Claim;
use crate::redis::wait::{Poll, WaitTimedOut, wait_until};
use crate::settings::Settings;

/// Options of `destroy`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster destroy\n  kubectl redis-cluster destroy -n cache --delete-pvcs --yes\n\nReplaces: kubectl delete -k manifests/ && kubectl delete pvc -l app.kubernetes.io/name=redis-cluster"
)]
pub struct DestroyOpts {
    /// Also delete the PersistentVolumeClaims: every node's data and identity, for good.
    #[arg(long)]
    pub delete_pvcs: bool,
}

impl DestroyOpts {
    /// Runs `destroy`.
    pub async fn exec(self, settings: Settings) -> anyhow::Result<Outcome> {
        let (ctx, target) = Ctx::kubernetes(settings, "destroy").await?;
        let k8s = ctx.k8s.as_ref().context("destroy needs Kubernetes")?;
        let objects = base();
        let sts_name = statefulset_name(&objects).to_string();
        if let Some(given) = target
            .statefulset
            .as_deref()
            .filter(|given| *given != sts_name)
        {
            bail!(
                "destroy deletes what deploy creates (statefulset {sts_name}); --statefulset {given} is not supported"
            );
        }
        let mut present = Vec::new();
        for object in &objects {
            if k8s.exists(object).await? {
                present.push(object);
            }
        }
        let claims = k8s.claims(&base_statefulset(&objects)).await?;
        let scope = &k8s.scope;
        let mut names: Vec<String> = present
            .iter()
            .map(|o| format!("{}/{}", o.kind(), o.name()))
            .collect();
        if self.delete_pvcs {
            names.extend(
                claims
                    .iter()
                    .map(|c| format!("PersistentVolumeClaim/{}", c.name)),
            );
        }
        let change = |result| ObjectsChange {
            result,
            objects: names.clone(),
        };
        if present.is_empty() && (claims.is_empty() || !self.delete_pvcs) {
            ctx.reporter.done(format!(
                "nothing to delete in namespace {}",
                scope.namespace
            ));
            ctx.print_json("destroy", &change("nothing_to_do"))?;
            return Ok(Outcome::Success);
        }
        print_plan(&ctx, &present, &claims, self.delete_pvcs);
        if ctx.settings.dry_run {
            ctx.print_json("destroy", &change("planned"))?;
            return Ok(Outcome::Success);
        }
        let data = if self.delete_pvcs {
            " and all its data"
        } else {
            ""
        };
        ctx.confirm(
            &format!(
                "Delete the cluster{data} in namespace {} (context {})?",
                scope.namespace, scope.context
            ),
            "delete the cluster",
            true,
        )?;
        for object in present {
            k8s.delete(object).await?;
            ctx.reporter
                .done(format!("{}/{} deleted", object.kind(), object.name()));
        }
        wait_pods_gone(k8s, &objects, ctx.settings.timeout).await?;
        ctx.reporter.done("all pods are gone");
        if self.delete_pvcs {
            k8s.delete_claims(&claims).await?;
            ctx.reporter
                .done(format!("{} PersistentVolumeClaim(s) deleted", claims.len()));
        }
        ctx.print_json("destroy", &change("deleted"))?;
        Ok(Outcome::Success)
    }
}

/// The base's StatefulSet (its claim templates and selector name what to clean up, also
/// after the live one is gone).
fn base_statefulset(objects: &[Object]) -> k8s_openapi::api::apps::v1::StatefulSet {
    objects
        .iter()
        .find_map(|o| match o {
            Object::StatefulSet(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Shows what will be deleted and what kept.
fn print_plan(ctx: &Ctx, present: &[&Object], claims: &[Claim], delete_pvcs: bool) {
    ctx.reporter.line("Plan:");
    for object in present {
        let extra = if matches!(object, Object::StatefulSet(_)) {
            " and its pods"
        } else {
            ""
        };
        ctx.reporter.line(&format!(
            "  delete {}/{}{extra}",
            object.kind(),
            object.name()
        ));
    }
    if delete_pvcs {
        for claim in claims {
            ctx.reporter
                .line(&format!("  delete persistentvolumeclaim/{}", claim.name));
        }
    } else if !claims.is_empty() {
        ctx.reporter.line(&format!(
            "  keep {} PersistentVolumeClaim(s) with the nodes' data (pass --delete-pvcs to delete them)",
            claims.len()
        ));
    }
}

/// Waits until no pod of the StatefulSet is left (claims in use are not deleted before).
async fn wait_pods_gone(k8s: &K8s, objects: &[Object], timeout: Duration) -> anyhow::Result<()> {
    let selector = k8s.pod_selector(&base_statefulset(objects))?;
    wait_until("the pods are gone", timeout, || async {
        let pods = k8s.pods(&selector).await?;
        let names: Vec<String> = pods.into_iter().filter_map(|p| p.metadata.name).collect();
        Ok::<_, WaitOrK8s>(if names.is_empty() {
            Poll::Ready(())
        } else {
            Poll::NotYet(format!("still there: {}", names.join(", ")))
        })
    })
    .await?;
    Ok(())
}

/// The wait's errors: the API's or the deadline.
#[derive(Debug, thiserror::Error)]
enum WaitOrK8s {
    /// A request failed.
    #[error(transparent)]
    K8s(#[from] crate::k8s::K8sError),
    /// Pods remained.
    #[error(transparent)]
    Timeout(#[from] WaitTimedOut),
}
