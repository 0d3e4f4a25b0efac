//! `unlock`: removes the cluster's lock ([`super::lock`]) that a run elsewhere holds, after
//! saying who holds it and since when. Only for a run known to be gone: a live holder keeps
//! changing the cluster and no longer knows it is not alone.

use clap::Args;
use serde::Serialize;

use super::context::{Ctx, Outcome};
use crate::k8s::lease::{Holder, lease_name};
use crate::settings::Settings;

/// Options of `unlock`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster unlock --dry-run\n  kubectl redis-cluster unlock --yes\n\nA run killed on this machine, or whose lease lapsed (30 s after its last renewal), is taken over by the next run without unlock."
)]
pub struct UnlockOpts {}

/// `-o json` result of `unlock`.
#[derive(Debug, Serialize)]
pub struct UnlockReport {
    /// `unlocked`, `not_locked`, or `planned` (dry run).
    pub result: &'static str,
    /// The Lease's name.
    pub lease: String,
    /// Who held it.
    pub holder: Option<Holder>,
}

impl UnlockOpts {
    /// Runs `unlock`.
    pub async fn exec(self, settings: Settings) -> anyhow::Result<Outcome> {
        let (ctx, target) = Ctx::kubernetes(settings, "unlock").await?;
        let Some(k8s) = ctx.k8s.as_ref() else {
            anyhow::bail!("unlock needs Kubernetes");
        };
        let statefulset = target.statefulset_name();
        let lease = lease_name(statefulset);
        let report = |result, holder| UnlockReport {
            result,
            lease: lease.clone(),
            holder,
        };
        let Some(holder) = k8s.lock_holder(statefulset).await? else {
            ctx.reporter.done(format!(
                "statefulset {statefulset} is not locked (no lease {lease}); nothing to do"
            ));
            ctx.print_json("unlock", &report("not_locked", None))?;
            return Ok(Outcome::Success);
        };
        ctx.reporter.line(&format!(
            "Plan: delete lease {lease}: {} (pid {}) has held it since {} for `{}`; it lapses at {} unless renewed",
            holder.identity,
            holder.pid,
            holder
                .since
                .map_or_else(|| "an unknown time".into(), |t| t.to_string()),
            holder.operation,
            holder
                .expires()
                .map_or_else(|| "an unknown time".into(), |t| t.to_string()),
        ));
        if ctx.settings.dry_run {
            ctx.print_json("unlock", &report("planned", Some(holder)))?;
            return Ok(Outcome::Success);
        }
        ctx.confirm(
            "Remove the lock? If that run is still going, two runs may change the cluster at once.",
            "remove the lock",
            true,
        )?;
        let removed = k8s.release_lock(statefulset, None).await?;
        ctx.reporter.done(format!("lease {lease} deleted"));
        ctx.print_json("unlock", &report("unlocked", removed.or(Some(holder))))?;
        Ok(Outcome::Success)
    }
}
