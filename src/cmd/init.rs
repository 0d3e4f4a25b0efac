//! `init`: build a cluster from empty nodes. Observe every candidate, plan the missing steps
//! (all of them, some after an interrupted run, none for a formed cluster), show the plan,
//! apply it, and verify the cluster is healthy.

use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Args;
use serde::Serialize;

use super::context::{Ctx, Outcome};
use super::parse;
use crate::k8s::{K8s, Pods};
use crate::plan::init::{InitPlan, NamedInitStep, StepDisplay, plan_init};
use crate::plan::layout::Candidate;
use crate::redis::connector::resolve;
use crate::redis::init::{InitEvent, InitTarget, apply_init};
use crate::redis::observe::observe_nodes;
use crate::redis::wait::{Poll, WaitTimedOut, wait_until};
use crate::topology::health::check;
use crate::topology::{ClusterView, Endpoint, NodeReport};

/// Options of `init`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster init\n  kubectl-redis_cluster init --nodes 10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379 --replicas-per-master 0 --yes\n\nReplaces: redis-trib create --replicas 1 $(kubectl get pods -o jsonpath=...)"
)]
pub struct InitOpts {
    /// Nodes to build the cluster from, without Kubernetes: HOST:PORT,HOST:PORT,...
    #[arg(long, value_delimiter = ',', value_name = "HOST:PORT,...", value_parser = parse::endpoint)]
    pub nodes: Vec<Endpoint>,

    /// Replicas per master; masters = nodes / (1 + R).
    #[arg(long, default_value_t = 1, value_name = "R")]
    pub replicas_per_master: usize,
}

/// `-o json` result of `init`.
#[derive(Debug, Serialize)]
pub struct InitReport {
    /// `created`, `already_initialized`, or `planned` (dry run).
    pub result: &'static str,
    /// The steps planned (`--dry-run`) or taken, in order, nodes named as given.
    pub steps: Vec<NamedInitStep>,
    /// Seconds spent applying.
    pub seconds: f64,
}

impl InitOpts {
    /// Runs `init`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let (candidates, endpoints) = self.candidates(ctx).await?;
        let reports = read_all(ctx, &endpoints).await?;
        let refs: Vec<&NodeReport> = reports.iter().collect();
        let plan = plan_init(&candidates, &refs, self.replicas_per_master)
            .context("init refused; nothing was changed")?;
        let steps = match plan {
            InitPlan::AlreadyInitialized => {
                return already_initialized(ctx, &endpoints, self.replicas_per_master).await;
            }
            InitPlan::Build { steps, .. } => steps,
        };
        let lines: Vec<String> = steps
            .iter()
            .map(|step| {
                StepDisplay {
                    step,
                    candidates: &candidates,
                }
                .to_string()
            })
            .collect();
        let named: Vec<NamedInitStep> = steps.iter().map(|s| s.named(&candidates)).collect();
        if ctx.settings.dry_run {
            print_plan(ctx, &lines);
            return finish(ctx, "planned", named, 0.0, Outcome::Success);
        }
        ctx.confirm(
            &format!(
                "Create a cluster from {} nodes ({} steps)?",
                candidates.len(),
                steps.len()
            ),
            "create the cluster",
            false,
        )?;
        let started = Instant::now();
        let targets: Vec<InitTarget> = reports
            .iter()
            .map(|r| InitTarget {
                endpoint: r.endpoint.clone(),
                id: r.id().clone(),
                cport: r.myself().addr.cport,
            })
            .collect();
        for step in &steps {
            ctx.reporter.step(StepDisplay {
                step,
                candidates: &candidates,
            });
        }
        apply_init(
            &ctx.pool,
            &targets,
            &steps,
            self.replicas_per_master,
            ctx.settings.timeout,
            &|event| match event {
                InitEvent::AllMet => ctx.reporter.done("all nodes have met"),
                InitEvent::Healthy => ctx.reporter.done("cluster is healthy"),
            },
        )
        .await
        .context("init did not finish; run the same command again to resume")?;
        let seconds = started.elapsed().as_secs_f64();
        ctx.reporter.done(format!(
            "cluster created from {} nodes in {seconds:.2}s",
            candidates.len()
        ));
        finish(ctx, "created", named, seconds, Outcome::Success)
    }

    /// The candidates and their endpoints: `--nodes` resolved to IPs, or in Kubernetes mode
    /// the StatefulSet's pods in ordinal order, once all are Ready and answer.
    async fn candidates(&self, ctx: &Ctx) -> anyhow::Result<(Vec<Candidate>, Vec<Endpoint>)> {
        if let (true, Some(k8s), Some(pods)) = (self.nodes.is_empty(), &ctx.k8s, &ctx.members) {
            return pod_candidates(ctx, k8s, pods).await;
        }
        if self.nodes.is_empty() {
            bail!("init needs the nodes to use: pass --nodes HOST:PORT,HOST:PORT,...");
        }
        let mut candidates = Vec::new();
        let mut endpoints = Vec::new();
        for typed in &self.nodes {
            let endpoint = resolve(typed)
                .await
                .with_context(|| format!("cannot resolve {typed}"))?;
            candidates.push(Candidate {
                name: typed.to_string(),
                domain: endpoint.host.clone(),
            });
            endpoints.push(endpoint);
        }
        Ok((candidates, endpoints))
    }
}

/// The StatefulSet's pods as candidates, failure domain = zone, else Kubernetes node.
async fn pod_candidates(
    ctx: &Ctx,
    k8s: &K8s,
    pods: &Pods,
) -> anyhow::Result<(Vec<Candidate>, Vec<Endpoint>)> {
    let replicas = k8s.replicas(&pods.statefulset).await?.desired;
    ctx.reporter.step(format!(
        "waiting for the {replicas} pods of statefulset {} to be Ready and answer PING",
        pods.statefulset
    ));
    let pods = k8s
        .wait_members(
            &pods.statefulset,
            pods.port,
            replicas,
            &ctx.pool,
            ctx.settings.timeout,
        )
        .await
        .context("init needs every pod; nothing was changed")?;
    Ok(pods
        .members
        .iter()
        .filter_map(|m| {
            let candidate = Candidate {
                name: m.pod.clone(),
                domain: m.domain(),
            };
            Some((candidate, m.endpoint(pods.port)?))
        })
        .unzip())
}

/// Reads every candidate; all must answer, and every failure is listed.
async fn read_all(ctx: &Ctx, endpoints: &[Endpoint]) -> anyhow::Result<Vec<NodeReport>> {
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for result in observe_nodes(&ctx.pool, endpoints).await {
        match result {
            Ok(r) => reports.push(r),
            Err(e) => failures.push(e.one_line()),
        }
    }
    if !failures.is_empty() {
        bail!(
            "init needs every node to answer; nothing was changed:\n  - {}",
            failures.join("\n  - ")
        );
    }
    Ok(reports)
}

/// The nodes already form a cluster: change nothing, but give it the time a fresh cluster
/// needs to settle (an init killed during its final wait is resumed here: masters report
/// `cluster_state:ok` only a node timeout after they met), then report its health.
async fn already_initialized(
    ctx: &Ctx,
    endpoints: &[Endpoint],
    replicas: usize,
) -> anyhow::Result<Outcome> {
    let settle = ctx.settings.timeout.min(SETTLE);
    let waited = wait_until("the cluster is healthy", settle, || async {
        let mut view = ClusterView::default();
        for report in observe_nodes(&ctx.pool, endpoints).await {
            view.reports.push(report?);
        }
        let problems = check(&view, Some(replicas));
        Ok::<_, anyhow::Error>(if problems.is_empty() {
            Poll::Ready(())
        } else {
            Poll::NotYet(problems.iter().map(|p| format!("\n  - {p}")).collect())
        })
    })
    .await;
    match waited {
        Ok(()) => {
            ctx.reporter
                .done("the cluster is already initialized and healthy; nothing to do");
            finish(ctx, "already_initialized", vec![], 0.0, Outcome::Success)
        }
        Err(e) => match e.downcast::<WaitTimedOut>() {
            Ok(timed_out) => {
                ctx.reporter.warn(format!(
                    "the cluster is already initialized, but unhealthy:{}",
                    timed_out.last
                ));
                ctx.reporter.line("run `fix` to repair it");
                finish(ctx, "already_initialized", vec![], 0.0, Outcome::Unhealthy)
            }
            Err(other) => Err(other),
        },
    }
}

/// How long an already formed cluster may take to settle before it is called unhealthy: a
/// few node timeouts (Redis waits one before a rejoined master reports `ok`).
const SETTLE: std::time::Duration = std::time::Duration::from_secs(30);

/// Prints the plan on stderr.
fn print_plan(ctx: &Ctx, lines: &[String]) {
    ctx.reporter.line(&format!("Plan ({} steps):", lines.len()));
    for l in lines {
        ctx.reporter.line(&format!("  {l}"));
    }
}

/// Prints the JSON result when asked, and returns `outcome`.
fn finish(
    ctx: &Ctx,
    result: &'static str,
    steps: Vec<NamedInitStep>,
    seconds: f64,
    outcome: Outcome,
) -> anyhow::Result<Outcome> {
    ctx.print_json(
        "init",
        &InitReport {
            result,
            steps,
            seconds,
        },
    )?;
    Ok(outcome)
}
