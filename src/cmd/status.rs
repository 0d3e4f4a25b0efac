//! `status` (alias `check`): observe the whole cluster, judge it, print the table or JSON.
//! Exit 1 when unhealthy.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Args;

use super::context::{Ctx, Outcome};
use crate::output::OutputFormat;
use crate::output::status::{PodNames, build, write_table};
use crate::redis::observe::observe_cluster;
use crate::topology::health::check;

/// Options of `status`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  kubectl redis-cluster status\n  kubectl-redis_cluster --seed 127.0.0.1:7000 status -o json")]
pub struct StatusOpts {
    /// Replicas every master should have (default: at least one once any master has one).
    #[arg(long, value_name = "R")]
    pub replicas_per_master: Option<usize>,
}

impl StatusOpts {
    /// Runs `status`.
    pub async fn exec(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        let view = observe_cluster(&ctx.pool, &ctx.seeds)
            .await
            .context("cannot read the cluster")?;
        let problems = check(&view, self.replicas_per_master);
        let report = build(&view, problems, &PodNames::new());
        let mut out = ctx.stdout();
        match ctx.settings.output {
            OutputFormat::Json => serde_json::to_writer_pretty(&mut out, &report)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))?,
            OutputFormat::Table => write_table(&report, &ctx.settings.out_styles, &mut out)?,
        }
        Ok(if report.healthy {
            Outcome::Success
        } else {
            Outcome::Unhealthy
        })
    }
}
