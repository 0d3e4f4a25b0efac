//! `announce-hostnames`: moves a cluster that announces pod IPs to stable DNS names
//! (`<pod>.<headless service>.<namespace>.svc.<domain>`, [`crate::k8s::announce`]), one pod
//! at a time and without a moment where a client is sent to a name no node knows:
//!
//! 1. live, on one node at a time: `CONFIG SET cluster-announce-hostname`, then wait until
//!    every node lists that name for it (gossip);
//! 2. live, on every node: `CONFIG SET cluster-preferred-endpoint-type hostname` (only once
//!    every name is known everywhere: a node asked to prefer names answers `?` for a node
//!    whose name it does not know);
//! 3. the StatefulSet's template keeps both, and every pod is replaced the way
//!    `rolling-restart` does it ([`super::rollout`]), so a restarted pod comes back as it was.
//!
//! Resumable: steps 1 and 2 are idempotent and the rollout continues from the pods still on
//! the old revision.

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use super::context::{Ctx, Outcome};
use super::refusal::Refusal;
use crate::k8s::K8s;
use crate::k8s::announce::{Edited, hostname, with_hostnames};
use crate::k8s::rollout::Change;
use crate::redis::observe::observe_cluster;
use crate::redis::wait::{Poll, wait_until};
use crate::settings::Access;
use crate::topology::{ClusterView, Endpoint};

/// Options of `announce-hostnames`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster announce-hostnames --dry-run\n  kubectl redis-cluster announce-hostnames --yes\n  kubectl redis-cluster announce-hostnames --cluster-domain k8s.example.org --yes\n\nEach node announces <pod>.<headless service>.<namespace>.svc.<domain>, and MOVED, CLUSTER SLOTS and CLUSTER SHARDS name it instead of the pod IP: clients inside Kubernetes keep working across pod restarts without re-reading IPs. Clients outside it cannot resolve those names: use `kubectl redis-cluster proxy`.\n\nNew clusters: kubectl redis-cluster deploy --announce hostname"
)]
pub struct AnnounceHostnamesOpts {
    /// The cluster's DNS domain (the kubelet's `clusterDomain`).
    #[arg(long, default_value = "cluster.local", value_name = "DOMAIN", value_parser = dns_domain)]
    pub cluster_domain: String,
}

/// A pod and the name its node announces, in `-o json`.
#[derive(Clone, Debug, Serialize)]
pub struct PodHostname {
    /// The pod.
    pub pod: String,
    /// The name.
    pub hostname: String,
}

impl AnnounceHostnamesOpts {
    /// Runs `announce-hostnames`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let (Some(k8s), Access::Kubernetes(target)) = (&ctx.k8s, &ctx.settings.access) else {
            return Err(Refusal::KubernetesOnly {
                command: "announce-hostnames",
            }
            .into());
        };
        let statefulset = target.statefulset_name();
        let state = k8s.rollout_state(statefulset).await?;
        let service = state.service.clone().with_context(|| {
            format!("statefulset {statefulset} names no headless Service (spec.serviceName): its pods have no DNS names to announce")
        })?;
        let redis = state
            .redis
            .clone()
            .with_context(|| format!("statefulset {statefulset} has no redis container"))?;
        let (edited, env) =
            with_hostnames(&redis, &service, &self.cluster_domain).map_err(Refusal::from)?;
        let mut container = serde_json::json!({ "name": redis.name, "env": env });
        match edited {
            Edited::Command(words) => container["command"] = serde_json::json!(words),
            Edited::Args(words) => container["args"] = serde_json::json!(words),
        }
        let change = Change::Hostnames {
            service,
            domain: self.cluster_domain,
            container,
        };
        super::rollout::roll(ctx, change, "announce-hostnames").await
    }
}

/// The names every pod of `statefulset` announces in hostname mode.
pub fn hostnames(
    k8s: &K8s,
    pods: &crate::k8s::Pods,
    service: &str,
    domain: &str,
) -> Vec<PodHostname> {
    pods.members
        .iter()
        .map(|m| PodHostname {
            pod: m.pod.clone(),
            hostname: hostname(&m.pod, service, &k8s.scope.namespace, domain),
        })
        .collect()
}

/// Steps 1 and 2: every node announces its name, known by every node, then every node sends
/// clients to names.
pub async fn announce_live(
    ctx: &Ctx,
    k8s: &K8s,
    statefulset: &str,
    port: u16,
    service: &str,
    domain: &str,
) -> anyhow::Result<()> {
    let pods = k8s.members(statefulset, port).await?;
    let seeds = pods.endpoints();
    for named in hostnames(k8s, &pods, service, domain) {
        let Some(endpoint) = pods.by_name(&named.pod).and_then(|m| m.endpoint(port)) else {
            continue;
        };
        let view = observe_cluster(&ctx.pool, &seeds)
            .await
            .context("cannot read the cluster")?;
        if known_everywhere(&view, &endpoint, &named.hostname).is_ok() {
            continue;
        }
        ctx.reporter
            .step(format!("{} announces {}", named.pod, named.hostname));
        ctx.pool
            .quick::<()>(
                &endpoint,
                ::redis::cmd("CONFIG")
                    .arg("SET")
                    .arg("cluster-announce-hostname")
                    .arg(&named.hostname)
                    .clone(),
            )
            .await
            .with_context(|| format!("cannot set cluster-announce-hostname on {}", named.pod))?;
        let what = format!("every node knows {} as {}", named.pod, named.hostname);
        wait_until(&what, ctx.settings.timeout, || async {
            let view = observe_cluster(&ctx.pool, &seeds)
                .await
                .context("cannot read the cluster")?;
            Ok::<_, anyhow::Error>(match known_everywhere(&view, &endpoint, &named.hostname) {
                Ok(()) => Poll::Ready(()),
                Err(why) => Poll::NotYet(why),
            })
        })
        .await?;
        ctx.reporter.done(format!(
            "every node knows {} as {}",
            named.pod, named.hostname
        ));
    }
    let mut switched = 0;
    for endpoint in &seeds {
        let now: Vec<String> = ctx
            .pool
            .quick(
                endpoint,
                ::redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("cluster-preferred-endpoint-type")
                    .clone(),
            )
            .await?;
        if now.get(1).map(String::as_str) != Some("hostname") {
            ctx.pool
                .quick::<()>(
                    endpoint,
                    ::redis::cmd("CONFIG")
                        .arg("SET")
                        .arg("cluster-preferred-endpoint-type")
                        .arg("hostname")
                        .clone(),
                )
                .await
                .with_context(|| {
                    format!("cannot set cluster-preferred-endpoint-type on {endpoint}")
                })?;
            switched += 1;
        }
    }
    ctx.reporter.done(format!(
        "every node sends clients to hostnames (MOVED, CLUSTER SLOTS, CLUSTER SHARDS; {switched} switched now)"
    ));
    Ok(())
}

/// Whether every node lists the node at `endpoint` with `name`; else why not.
fn known_everywhere(view: &ClusterView, endpoint: &Endpoint, name: &str) -> Result<(), String> {
    let id = view
        .reports
        .iter()
        .find(|r| r.endpoint.host == endpoint.host)
        .map(|r| r.myself().id.clone())
        .ok_or_else(|| format!("{endpoint} did not answer"))?;
    for report in &view.reports {
        let named = report
            .nodes
            .iter()
            .find(|l| l.id == id)
            .and_then(|l| l.addr.hostname.as_deref());
        if named != Some(name) {
            return Err(format!(
                "{} lists it as {}",
                report.endpoint,
                named.unwrap_or("(no name)")
            ));
        }
    }
    Ok(())
}

/// A DNS domain: dot-separated labels of letters, digits and `-`.
pub(super) fn dns_domain(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!("`{text}` is not a DNS domain (like cluster.local)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_domain_is_checked_when_parsed() {
        assert_eq!(dns_domain("cluster.local"), Ok("cluster.local".into()));
        assert_eq!(dns_domain("K8s.Example.org"), Ok("k8s.example.org".into()));
        for bad in ["", "a..b", "-a.b", "a b", "under_score.local"] {
            assert!(dns_domain(bad).is_err(), "{bad}");
        }
    }
}
