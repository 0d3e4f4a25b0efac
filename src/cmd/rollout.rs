//! `rolling-restart` and `upgrade --image IMAGE`: every pod replaced one at a time, replicas
//! first, each master's slots handed to an in-sync replica (a coordinated failover) before
//! its pod goes ([`crate::plan::rollout`]); after each pod the run waits until it is back,
//! answering, known at its address by every node, in sync, and the cluster is healthy. The
//! StatefulSet side is [`crate::k8s::rollout`]: a re-run continues from the pods still on
//! the old revision.

use std::time::Instant;

use anyhow::Context as _;
use clap::Args;

use super::context::{Ctx, Outcome};
use super::placement::fail_over_to;
use super::refusal::Refusal;
use crate::k8s::K8s;
use crate::k8s::announce::announces;
use crate::k8s::membership::join;
use crate::k8s::rollout::{Change, RolloutState};
use crate::plan::rollout::{RollMember, RollStep, next, plan};
use crate::redis::converge::wait_for_addresses;
use crate::redis::observe::observe_cluster;
use crate::redis::wait::{Poll, wait_until};
use crate::settings::Access;
use crate::topology::health::{check, explain};

/// Options of `rolling-restart`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster rolling-restart --dry-run\n  kubectl redis-cluster rolling-restart --yes\n\nUnlike `kubectl rollout restart`, no master is killed while it serves slots: it is failed over to an in-sync replica first. Interrupted, the same command continues with the pods not restarted yet."
)]
pub struct RollingRestartOpts {}

/// Options of `upgrade`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster upgrade --image redis:7.2.5 --dry-run\n  kubectl redis-cluster upgrade --image valkey/valkey:8.1 --yes\n\nThe pods are replaced one at a time like rolling-restart does, from the new image. Interrupted, the same command continues."
)]
pub struct UpgradeOpts {
    /// The new image of the Redis container.
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
}

/// `-o json` result of `rolling-restart` and `upgrade`.
#[derive(Debug, serde::Serialize)]
pub struct RolloutReport {
    /// `restarted`, `upgraded`, `announced`, `planned` (dry run) or `nothing_to_do`.
    pub result: &'static str,
    /// `restart`, `upgrade IMAGE`, or `hostnames`.
    pub change: String,
    /// The StatefulSet.
    pub statefulset: String,
    /// `announce-hostnames`: each pod's name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<super::announce::PodHostname>,
    /// The steps taken (or planned).
    pub steps: Vec<RollStep>,
    /// Wall time.
    pub seconds: f64,
}

impl RollingRestartOpts {
    /// Runs `rolling-restart`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let at = k8s_openapi::jiff::Timestamp::now().to_string();
        roll(ctx, Change::Restart { at }, "rolling-restart").await
    }
}

impl UpgradeOpts {
    /// Runs `upgrade`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        roll(ctx, Change::Image(self.image), "upgrade").await
    }
}

/// The StatefulSet a rollout works on.
struct Target<'a> {
    k8s: &'a K8s,
    name: String,
    port: u16,
}

/// Runs the rollout of `change` as `command`: plan, confirm, then every pod replaced one at
/// a time; for hostname mode, the names are set live first ([`super::announce`]).
pub(super) async fn roll(
    ctx: &Ctx,
    change: Change,
    command: &'static str,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let (Some(k8s), Access::Kubernetes(target)) = (&ctx.k8s, &ctx.settings.access) else {
        return Err(Refusal::KubernetesOnly { command }.into());
    };
    let target = Target {
        k8s,
        name: target.statefulset_name().to_string(),
        port: target.client_port(),
    };
    let state = k8s.rollout_state(&target.name).await?;
    let continuing = state.in_progress.as_ref().is_some_and(|r| {
        r.what == change.label() || matches!(change, Change::Restart { .. }) && r.what == "restart"
    });
    // Which pods the rollout replaces: those not on the new revision once it exists; before
    // the template changes, every pod (an upgrade to the image already there: only those
    // not on the current revision).
    let unchanged = match &change {
        Change::Image(image) => state.container.as_ref().is_some_and(|(_, i)| i == image),
        Change::Hostnames { .. } => state.redis.as_ref().is_some_and(announces),
        Change::Restart { .. } => false,
    };
    let preview_revision = (continuing || unchanged)
        .then(|| state.update_revision.clone())
        .flatten();
    if continuing && !ctx.settings.dry_run {
        // A run killed while a pod was away: wait for it to be back and the cluster healthy.
        settle(ctx, &target, "the pods of the rollout in progress").await?;
    }
    let members = observe(ctx, &target, preview_revision.as_deref(), true).await?;
    let steps = plan(&members).map_err(Refusal::NoFailoverTarget)?;
    let hostnames = match &change {
        Change::Hostnames {
            service, domain, ..
        } => {
            let pods = k8s.members(&target.name, target.port).await?;
            super::announce::hostnames(k8s, &pods, service, domain)
        }
        _ => Vec::new(),
    };
    let report = |result, steps: Vec<RollStep>| RolloutReport {
        result,
        change: change.label(),
        statefulset: target.name.clone(),
        hostnames: hostnames.clone(),
        steps,
        seconds: started.elapsed().as_secs_f64(),
    };
    if steps.is_empty() {
        if let (false, Some(recorded)) = (ctx.settings.dry_run, &state.in_progress) {
            k8s.finish_rollout(&target.name, recorded).await?;
        }
        ctx.reporter.done(format!(
            "every pod of statefulset {} is up to date; nothing to do",
            target.name
        ));
        ctx.print_json(command, &report("nothing_to_do", steps))?;
        return Ok(Outcome::Success);
    }
    print_plan(ctx, &change, continuing, &steps, &hostnames);
    if ctx.settings.dry_run {
        ctx.print_json(command, &report("planned", steps))?;
        return Ok(Outcome::Success);
    }
    let replaced = steps
        .iter()
        .filter(|s| matches!(s, RollStep::Replace { .. }))
        .count();
    ctx.confirm(
        &format!(
            "Replace {replaced} pod(s) of statefulset {} one at a time?",
            target.name
        ),
        "replace pods",
        true,
    )?;
    if let Change::Hostnames {
        service, domain, ..
    } = &change
    {
        super::announce::announce_live(ctx, k8s, &target.name, target.port, service, domain)
            .await?;
        crate::failpoint::hit("hostnames-announced");
    }
    if !continuing {
        k8s.start_rollout(&target.name, &change).await?;
    }
    let revision = new_revision(ctx, &target).await?;
    let mut taken = Vec::new();
    loop {
        let members = observe(ctx, &target, Some(&revision), false).await?;
        let Some(step) = next(&members).map_err(Refusal::NoFailoverTarget)? else {
            break;
        };
        let began = Instant::now();
        match &step {
            RollStep::Failover { pod, to_pod, .. } => {
                ctx.reporter.step(format!("failing {pod} over to {to_pod}"));
                let pods = k8s.members(&target.name, target.port).await?;
                fail_over_to(ctx, &pods, to_pod).await?;
                ctx.reporter.done(format!(
                    "{to_pod} is the master, {pod} its replica ({:.1}s)",
                    began.elapsed().as_secs_f64()
                ));
            }
            RollStep::Replace { pod, role } => {
                ctx.reporter.step(format!("replacing {pod} ({role})"));
                replace(ctx, &target, pod).await?;
                ctx.reporter.done(format!(
                    "{pod} is back, in sync, cluster healthy ({:.1}s)",
                    began.elapsed().as_secs_f64()
                ));
            }
        }
        taken.push(step);
    }
    if let Some(recorded) = k8s.rollout_state(&target.name).await?.in_progress {
        k8s.finish_rollout(&target.name, &recorded).await?;
    }
    let result = match change {
        Change::Restart { .. } => "restarted",
        Change::Image(_) => "upgraded",
        Change::Hostnames { .. } => "announced",
    };
    let summary = match change {
        Change::Hostnames { .. } => "every node announces its hostname, kept in the pod template",
        _ => &format!("every pod {result}"),
    };
    ctx.reporter.done(format!(
        "statefulset {}: {summary} in {:.1}s",
        target.name,
        started.elapsed().as_secs_f64()
    ));
    ctx.print_json(command, &report(result, taken))?;
    Ok(Outcome::Success)
}

/// The plan, one line per step.
fn print_plan(
    ctx: &Ctx,
    change: &Change,
    continuing: bool,
    steps: &[RollStep],
    hostnames: &[super::announce::PodHostname],
) {
    let resumed = if continuing {
        " (continuing the rollout in progress)"
    } else {
        ""
    };
    let header = match change {
        Change::Restart { .. } => {
            format!("Plan: restart, one pod at a time, replicas first{resumed}:")
        }
        Change::Image(image) => {
            format!("Plan: move to image {image}, one pod at a time, replicas first{resumed}:")
        }
        Change::Hostnames { .. } => {
            ctx.reporter.line(&format!(
                "Plan: announce hostnames ({} node(s)), then keep them in the pod template:",
                hostnames.len()
            ));
            for named in hostnames {
                ctx.reporter
                    .line(&format!("  {} → {}", named.pod, named.hostname));
            }
            ctx.reporter.line(
                "  live first: each node's name (one node at a time, each until every node knows it), then every node sends clients to names (cluster-preferred-endpoint-type hostname)",
            );
            format!(
                "Then the template gets both options (and POD_NAME, POD_NAMESPACE), every pod replaced one at a time, replicas first{resumed}:"
            )
        }
    };
    ctx.reporter.line(&header);
    for (i, step) in steps.iter().enumerate() {
        let line = match step {
            RollStep::Failover { pod, to_pod, .. } => {
                format!("fail over {pod} to {to_pod} (coordinated: no acknowledged write lost)")
            }
            RollStep::Replace { pod, role } => {
                format!("replace {pod} ({role}), wait until it is back and in sync")
            }
        };
        ctx.reporter.line(&format!("  {}. {line}", i + 1));
    }
}

/// Every pod as a rollout member: its node, role, slots, sync, and whether it is still on
/// another revision than `revision` (every pod when `revision` is `None` and `all` is set).
/// Refuses when the cluster is not healthy.
async fn observe(
    ctx: &Ctx,
    target: &Target<'_>,
    revision: Option<&str>,
    all: bool,
) -> anyhow::Result<Vec<RollMember>> {
    let pods = target.k8s.members(&target.name, target.port).await?;
    let view = observe_cluster(&ctx.pool, &pods.endpoints())
        .await
        .context("cannot read the cluster")?;
    let joined = join(&pods, &view);
    let mut problems = check(&joined.cluster, None);
    problems.extend(joined.problems);
    if let Some(p) = problems.first() {
        return Err(Refusal::NotHealthy(explain(&joined.cluster, p)).into());
    }
    Ok(pods
        .members
        .iter()
        .map(|m| {
            let report = m.ip.as_ref().and_then(|ip| {
                joined
                    .cluster
                    .reports
                    .iter()
                    .find(|r| &r.endpoint.host == ip)
            });
            let line = report.map(|r| r.myself());
            RollMember {
                pod: m.pod.clone(),
                ordinal: m.ordinal,
                id: line.map(|l| l.id.clone()),
                master: line.and_then(|l| l.master_id.clone()),
                slots: line.map_or(0, |l| l.slots.len()),
                in_sync: report.is_some_and(|r| r.replica_in_sync()),
                outdated: match revision {
                    Some(rev) => m.revision.as_deref() != Some(rev),
                    None => all,
                },
            }
        })
        .collect())
}

/// The StatefulSet's update revision once the controller has seen the new template.
async fn new_revision(ctx: &Ctx, target: &Target<'_>) -> anyhow::Result<String> {
    let what = format!("statefulset {} has its new revision", target.name);
    wait_until(&what, ctx.settings.timeout, || async {
        let RolloutState {
            update_revision, ..
        } = target.k8s.rollout_state(&target.name).await?;
        Ok::<_, anyhow::Error>(match update_revision {
            Some(rev) => Poll::Ready(rev),
            None => Poll::NotYet("the controller has not seen the change yet".into()),
        })
    })
    .await
}

/// Deletes `pod` and waits until a new pod of that name is Ready and answering, every node
/// knows it at its address, its replication is in sync and the cluster is healthy.
async fn replace(ctx: &Ctx, target: &Target<'_>, pod: &str) -> anyhow::Result<()> {
    let k8s = target.k8s;
    let before = k8s.members(&target.name, target.port).await?;
    let old = before.by_name(pod).cloned();
    if let Some(endpoint) = old.as_ref().and_then(|m| m.endpoint(target.port)) {
        ctx.pool.forget(&endpoint);
    }
    k8s.delete_pod(pod).await?;
    let old_uid = old.and_then(|m| m.uid);
    let what = format!("pod {pod} is recreated");
    wait_until(&what, ctx.settings.timeout, || async {
        let pods = k8s.members(&target.name, target.port).await?;
        Ok::<_, anyhow::Error>(match pods.by_name(pod) {
            Some(m) if m.uid.is_some() && m.uid != old_uid => Poll::Ready(()),
            _ => Poll::NotYet("the old pod is still there".into()),
        })
    })
    .await?;
    settle(ctx, target, pod).await
}

/// Waits until every pod is Ready and answering, every node knows `who` at its address, and
/// the cluster is healthy with its replicas in sync.
async fn settle(ctx: &Ctx, target: &Target<'_>, who: &str) -> anyhow::Result<()> {
    let k8s = target.k8s;
    let desired = k8s.replicas(&target.name).await?.desired;
    let pods = k8s
        .wait_members(
            &target.name,
            target.port,
            desired,
            &ctx.pool,
            ctx.settings.timeout,
        )
        .await?;
    let seeds = pods.endpoints();
    wait_for_addresses(
        &ctx.pool,
        &seeds,
        ctx.addresses().as_ref(),
        &format!("every node knows {who} at its address"),
        ctx.settings.timeout,
    )
    .await?;
    super::moving::wait_healthy_from(ctx, &seeds).await?;
    Ok(())
}
