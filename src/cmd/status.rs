//! `status` (alias `check`): observe the whole cluster, judge it, print the table or JSON.
//! Exit 1 when unhealthy.

use anyhow::{Context as _, bail};
use clap::Args;

use super::context::{Ctx, Outcome};
use crate::k8s::membership::PodNames;
use crate::k8s::membership::{join, placement};
use crate::output::OutputFormat;
use crate::output::status::{build, write_table};
use crate::plan::replicas::exposed;
use crate::redis::observe::observe_cluster;
use crate::topology::health::check;

/// Options of `status`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster status\n  kubectl-redis_cluster --seed 127.0.0.1:7000 status -o json"
)]
pub struct StatusOpts {
    /// Replicas every master should have (default: at least one once any master has one).
    #[arg(long, value_name = "R")]
    pub replicas_per_master: Option<usize>,
}

impl StatusOpts {
    /// Runs `status`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        if let Some(pods) = ctx.members.as_ref().filter(|_| ctx.seeds.is_empty()) {
            bail!(
                "statefulset {} has no pod with an IP yet: is it scaled to 0, or are its pods pending?",
                pods.statefulset
            );
        }
        let view = observe_cluster(&ctx.pool, &ctx.seeds)
            .await
            .context("cannot read the cluster")?;
        let (problems, names, exposed) = match &ctx.members {
            Some(pods) => {
                // Pods outside the cluster are problems of their own, not of the cluster.
                let joined = join(pods, &view);
                let mut problems = check(&joined.cluster, self.replicas_per_master);
                let exposed = exposed(&placement(pods, &joined));
                problems.extend(joined.problems);
                (problems, joined.names, exposed)
            }
            None => (
                check(&view, self.replicas_per_master),
                PodNames::new(),
                Vec::new(),
            ),
        };
        let password = ctx.settings.credentials.as_ref().map(|c| c.origin.clone());
        let tls = ctx.settings.tls.as_ref().map(|t| t.origin().to_string());
        let mut report = build(&view, problems, &names, password, tls);
        report.exposed = exposed;
        let mut out = ctx.stdout();
        match ctx.settings.output {
            OutputFormat::Json => crate::output::json::write_report(&mut out, "status", &report)?,
            OutputFormat::Table => write_table(&report, &ctx.settings.out_styles, &mut out)?,
        }
        Ok(if report.healthy {
            Outcome::Success
        } else {
            Outcome::Unhealthy
        })
    }
}
