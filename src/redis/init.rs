//! Executes an `init` plan: slots and epochs on every master at once, MEETs from one hub,
//! a wait until every node knows every node (introducing again a node its peers list but that
//! does not list them), REPLICATE, and a wait until the cluster is
//! healthy. Every step is idempotent, so a re-run after a kill only redoes what is missing.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::try_join_all;

use super::error::{ApplyError, NodeError};
use super::membership::introduce;
use super::observe::observe_nodes;
use super::pool::Pool;
use super::wait::{Poll, wait_until};
use crate::plan::init::InitStep;
use crate::plan::layout::CandidateIdx;
use crate::plan::membership::introductions;
use crate::topology::health::check;
use crate::topology::{ClusterView, Endpoint, NodeId};

/// A candidate as the executor needs it.
#[derive(Clone, Debug)]
pub struct InitTarget {
    /// Cluster-internal endpoint (an IP: MEET takes no names).
    pub endpoint: Endpoint,
    /// Node id.
    pub id: NodeId,
    /// Cluster bus port.
    pub cport: u16,
}

/// A milestone of [`apply_init`], for the caller to render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitEvent {
    /// Every node knows every other node.
    AllMet,
    /// Replicas follow their masters and the cluster is healthy.
    Healthy,
}

/// Applies `steps` to `targets`, then waits until the cluster is healthy with
/// `replicas_per_master` replicas per master; `on_event` hears each milestone.
pub async fn apply_init(
    pool: &Pool,
    targets: &[InitTarget],
    steps: &[InitStep],
    replicas_per_master: usize,
    timeout: Duration,
    on_event: &(dyn Fn(InitEvent) + Sync),
) -> Result<(), ApplyError> {
    let mut setup: BTreeMap<CandidateIdx, ::redis::Pipeline> = BTreeMap::new();
    let mut meets: BTreeMap<CandidateIdx, ::redis::Pipeline> = BTreeMap::new();
    let mut replicate = Vec::new();
    for step in steps {
        match step {
            InitStep::AddSlots { node, slots } => {
                let cmd = setup
                    .entry(*node)
                    .or_default()
                    .cmd("CLUSTER")
                    .arg("ADDSLOTSRANGE");
                for r in slots.ranges() {
                    cmd.arg(r.start).arg(r.end);
                }
            }
            InitStep::SetConfigEpoch { node, epoch } => {
                setup
                    .entry(*node)
                    .or_default()
                    .cmd("CLUSTER")
                    .arg("SET-CONFIG-EPOCH")
                    .arg(*epoch);
            }
            InitStep::Meet { node, peer } => {
                let p = &targets[*peer];
                meets
                    .entry(*node)
                    .or_default()
                    .cmd("CLUSTER")
                    .arg("MEET")
                    .arg(&p.endpoint.host)
                    .arg(p.endpoint.port)
                    .arg(p.cport);
            }
            InitStep::Replicate { replica, master } => replicate.push((*replica, *master)),
        }
    }
    run_pipelines(pool, targets, &setup).await?;
    run_pipelines(pool, targets, &meets).await?;

    let endpoints: Vec<Endpoint> = targets.iter().map(|t| t.endpoint.clone()).collect();
    let ids: Vec<NodeId> = targets.iter().map(|t| t.id.clone()).collect();
    wait_until("every node knows every other node", timeout, || async {
        let view = read_view(pool, &endpoints).await?;
        let Some(reason) = strangers(&view, &ids) else {
            return Ok(Poll::Ready(()));
        };
        // A node that others list but that does not list them (its handshake never finished,
        // or it lost its table) is never healed by gossip: introduce it again, as the other
        // membership waits do. Only the nodes being initialized answer here, at the addresses
        // they were given. Best effort: a MEET that fails is tried on the next look.
        introduce(pool, &introductions(&view, &|_| true)).await;
        Ok::<_, ApplyError>(Poll::NotYet(reason))
    })
    .await?;
    on_event(InitEvent::AllMet);

    try_join_all(replicate.iter().map(|(replica, master)| async move {
        let mut node = pool.node(&targets[*replica].endpoint).await?;
        node.call::<()>(
            ::redis::cmd("CLUSTER")
                .arg("REPLICATE")
                .arg(targets[*master].id.to_string())
                .to_owned(),
        )
        .await
    }))
    .await?;

    wait_until("the cluster is healthy", timeout, || async {
        let view = read_view(pool, &endpoints).await?;
        let problems = check(&view, Some(replicas_per_master));
        Ok::<_, ApplyError>(match problems.first() {
            None => Poll::Ready(()),
            Some(p) => Poll::NotYet(p.to_string()),
        })
    })
    .await?;
    on_event(InitEvent::Healthy);
    Ok(())
}

/// Sends each node its pipeline, all nodes at once.
async fn run_pipelines(
    pool: &Pool,
    targets: &[InitTarget],
    pipes: &BTreeMap<CandidateIdx, ::redis::Pipeline>,
) -> Result<(), NodeError> {
    try_join_all(pipes.iter().map(|(i, pipe)| async move {
        pool.node(&targets[*i].endpoint)
            .await?
            .pipeline_ok(pipe)
            .await
    }))
    .await?;
    Ok(())
}

/// Reads exactly these nodes; any failure fails the read (init needs them all).
async fn read_view(pool: &Pool, endpoints: &[Endpoint]) -> Result<ClusterView, NodeError> {
    let mut view = ClusterView::default();
    for report in observe_nodes(pool, endpoints).await {
        view.reports.push(report?);
    }
    Ok(view)
}

/// Which node still lacks which peer (or still shakes hands), if any.
fn strangers(view: &ClusterView, ids: &[NodeId]) -> Option<String> {
    view.reports.iter().find_map(|r| {
        if let Some(hs) = r.nodes.iter().find(|l| l.flags.handshake) {
            return Some(format!(
                "{} is still in handshake with {}",
                r.endpoint,
                hs.addr.endpoint()
            ));
        }
        ids.iter()
            .find(|id| !r.nodes.iter().any(|l| &&l.id == id))
            .map(|id| format!("{} does not know {} yet", r.endpoint, id.short()))
    })
}
