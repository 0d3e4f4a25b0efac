//! `drain-prep NODE`: run before `kubectl drain NODE`. Every master on that Kubernetes node
//! that serves slots is handed to an in-sync replica on another node (a coordinated
//! failover: the replica catches up with the master's offset first), so the drain evicts
//! only replicas and no slot stops being served ([`crate::plan::replicas::drain_prep`]).

use std::time::Instant;

use clap::Args;

use super::context::{Ctx, Outcome};
use super::placement::{fail_over_to, observe_placed};
use super::refusal::Refusal;
use crate::plan::replicas::{Handover, drain_prep};

/// Options of `drain-prep`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster drain-prep worker-3 --dry-run\n  kubectl redis-cluster drain-prep worker-3 --yes && kubectl drain worker-3 --ignore-daemonsets\n\nRun it again right before the drain if time passed: failovers elsewhere may have put a master back on the node."
)]
pub struct DrainPrepOpts {
    /// The Kubernetes node about to be drained.
    #[arg(value_name = "NODE")]
    pub node: String,
}

/// `-o json` result of `drain-prep`.
#[derive(Debug, serde::Serialize)]
pub struct DrainPrepReport {
    /// `handed_over`, `planned` (dry run) or `nothing_to_do`.
    pub result: &'static str,
    /// The Kubernetes node.
    pub node: String,
    /// Masters handed to replicas elsewhere.
    pub handovers: Vec<Handover>,
    /// Masters that will run without a replica while the node is away (all on it).
    pub without_replica: Vec<String>,
    /// Wall time.
    pub seconds: f64,
}

impl DrainPrepOpts {
    /// Runs `drain-prep`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let started = Instant::now();
        let (pods, placed) = observe_placed(ctx, "drain-prep").await?;
        if !placed
            .iter()
            .any(|p| p.k8s_node.as_deref() == Some(self.node.as_str()))
        {
            ctx.reporter.warn(format!(
                "no pod of statefulset {} runs on node {}",
                pods.statefulset, self.node
            ));
        }
        let (handovers, bare) = drain_prep(&placed, &self.node).map_err(Refusal::NoDrainTarget)?;
        let report = |result, handovers: Vec<Handover>| DrainPrepReport {
            result,
            node: self.node.clone(),
            handovers,
            without_replica: bare.clone(),
            seconds: started.elapsed().as_secs_f64(),
        };
        for master in &bare {
            ctx.reporter.warn(format!(
                "{master} keeps serving, but its replicas all run on {}: it has none while the node is away",
                self.node
            ));
        }
        if handovers.is_empty() {
            ctx.reporter.done(format!(
                "no master serving slots runs on {}: `kubectl drain {}` evicts only replicas",
                self.node, self.node
            ));
            ctx.print_json("drain-prep", &report("nothing_to_do", handovers))?;
            return Ok(Outcome::Success);
        }
        ctx.reporter.line(&format!(
            "Plan: hand {} master(s) on {} to replicas on other nodes:",
            handovers.len(),
            self.node
        ));
        for h in &handovers {
            ctx.reporter.line(&format!(
                "  fail {} over to {} (coordinated: the replica catches up first)",
                h.master, h.to
            ));
        }
        if ctx.settings.dry_run {
            ctx.print_json("drain-prep", &report("planned", handovers))?;
            return Ok(Outcome::Success);
        }
        ctx.confirm(
            &format!("Fail {} master(s) over?", handovers.len()),
            "fail over",
            true,
        )?;
        for h in &handovers {
            fail_over_to(ctx, &pods, &h.to).await?;
            ctx.reporter
                .done(format!("{} is the master, {} its replica", h.to, h.master));
        }
        ctx.reporter.done(format!(
            "no master serving slots runs on {} now: `kubectl drain {} --ignore-daemonsets` next",
            self.node, self.node
        ));
        ctx.print_json("drain-prep", &report("handed_over", handovers))?;
        Ok(Outcome::Success)
    }
}
