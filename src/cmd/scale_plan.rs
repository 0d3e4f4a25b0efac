//! The plan value of `scale` ([`crate::plan::scale`]) built from the StatefulSet's pods and
//! the cluster as observed, with the keys each move carries (sampled); where the pods it
//! names are ([`roster`]). `scale` plans with it before each phase it applies.

use std::collections::BTreeSet;

use crate::k8s::{K8s, Pods};
use crate::plan::membership::as_staying_see_it;
use crate::plan::moves::open_slots;
use crate::plan::scale::{PodNode, ScaleInput, ScalePlan, ScalePod, plan_scale};
use crate::redis::sample::sample;
use crate::redis::steps::Roster;
use crate::topology::{ClusterView, Endpoint, NodeId, NodeReport};

use super::context::Ctx;
use super::refusal::Refusal;

/// What `scale` is asked for.
pub struct Shape<'a> {
    /// The StatefulSet.
    pub statefulset: &'a str,
    /// The pods' client port.
    pub port: u16,
    /// `spec.replicas` now.
    pub pods_now: u32,
    /// Masters wanted.
    pub masters: usize,
    /// Replicas per master wanted.
    pub replicas: usize,
    /// `--delete-pvcs`.
    pub delete_pvcs: bool,
}

/// Plans `shape` from `pods` and `view` and counts the keys of the moves (sampled).
pub async fn plan(
    ctx: &Ctx,
    k8s: &K8s,
    pods: &Pods,
    view: &ClusterView,
    shape: &Shape<'_>,
) -> anyhow::Result<ScalePlan> {
    let mut plan = build(k8s, pods, view, shape).await?;
    match sample(&ctx.pool, view, &plan.moves).await {
        Ok(samples) => plan.count_keys(&samples.keys),
        Err(e) => ctx
            .reporter
            .warn(format!("cannot count the keys to move: {}", e.one_line())),
    }
    Ok(plan)
}

/// Plans `shape` from `pods` and `view` (the pure planner's input read from them).
pub async fn build(
    k8s: &K8s,
    pods: &Pods,
    view: &ClusterView,
    shape: &Shape<'_>,
) -> anyhow::Result<ScalePlan> {
    let want = shape.pods_wanted();
    // Scaling down, members are what the staying pods know: a leaving pod an interrupted run
    // already reset (a lone node now) is no member.
    let members = if want < shape.pods_now {
        as_staying_see_it(view, &staying(pods, shape))
    } else {
        view.clone()
    };
    let claims = if shape.delete_pvcs && want < shape.pods_now {
        let sts = k8s.statefulset(shape.statefulset).await?;
        k8s.claims(&sts)
            .await?
            .into_iter()
            .map(|c| (c.name, c.ordinal))
            .collect()
    } else {
        Vec::new()
    };
    let open = open_slots(&members);
    let listed: BTreeSet<&NodeId> = members
        .reports
        .iter()
        .flat_map(|r| r.nodes.iter().filter(|l| !l.flags.myself).map(|l| &l.id))
        .collect();
    fn report_at<'v>(view: &'v ClusterView, ip: &str) -> Option<&'v NodeReport> {
        view.reports.iter().find(|r| r.endpoint.host == ip)
    }
    let input = ScaleInput {
        statefulset: shape.statefulset.to_string(),
        pods_now: shape.pods_now,
        pods: pods
            .members
            .iter()
            .map(|m| {
                let ip = m.ip.as_deref().unwrap_or_default();
                // A node has joined once another member lists it (a lone node has not; nor
                // has one every member forgot, which still lists them).
                let member = report_at(&members, ip)
                    .filter(|r| !r.myself().slots.is_empty() || listed.contains(r.id()));
                ScalePod {
                    pod: m.pod.clone(),
                    ordinal: m.ordinal,
                    domain: m.domain(),
                    lingering: member.is_none()
                        && report_at(view, ip).is_some_and(|r| r.nodes.len() > 1),
                    node: member.map(|r| PodNode {
                        id: r.id().clone(),
                        slots: r.myself().slots.clone(),
                        master: r.myself().master_id.clone(),
                    }),
                }
            })
            .collect(),
        masters: shape.masters,
        replicas: shape.replicas,
        claims,
        open_slots: open.resume.len() + open.stuck.len(),
    };
    Ok(plan_scale(&input).map_err(|e| Refusal::CannotScale(e.to_string()))?)
}

/// The endpoints of the pods that stay.
pub fn staying(pods: &Pods, shape: &Shape<'_>) -> Vec<Endpoint> {
    let want = shape.pods_wanted();
    pods.members
        .iter()
        .filter(|m| m.ordinal < want)
        .filter_map(|m| m.endpoint(shape.port))
        .collect()
}

/// Where the pods a plan names are: every pod at its address, with the id of the node that
/// answers there; the staying pods forget, a member of the cluster introduces.
pub fn roster(pods: &Pods, view: &ClusterView, shape: &Shape<'_>) -> Roster {
    let hub = view
        .masters()
        .find(|m| !m.myself().slots.is_empty())
        .map(|m| m.endpoint.clone());
    let mut roster = Roster::new(staying(pods, shape), hub);
    for m in &pods.members {
        if let Some(endpoint) = m.endpoint(shape.port) {
            let id = view.report_at(&endpoint).map(|r| r.id().clone());
            roster.add(&m.pod, endpoint, id);
        }
    }
    roster
}

impl Shape<'_> {
    /// Pods the StatefulSet ends with.
    pub fn pods_wanted(&self) -> u32 {
        u32::try_from(self.masters * (1 + self.replicas)).unwrap_or(u32::MAX)
    }
}
