//! `unlock`: removes the cluster's lock ([`super::lock`]) that a run elsewhere holds, after
//! saying who holds it and since when: the Lease in Kubernetes mode, the state file on this
//! machine with `--seed`. Only for a run known to be gone: a live holder keeps changing the
//! cluster and no longer knows it is not alone. The journal kept with the lock goes too.

use clap::Args;
use serde::Serialize;

use super::context::{Ctx, Outcome};
use super::local_lock::LocalLocks;
use super::lock::cluster_node_ids;
use crate::k8s::lease::{Holder, lease_name, plugin_process_alive};
use crate::settings::{Access, Settings};

/// Options of `unlock`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  kubectl redis-cluster unlock --dry-run\n  kubectl redis-cluster unlock --yes\n  kubectl-redis_cluster --seed 127.0.0.1:7000 unlock --yes\n\nA run killed on this machine, or whose lease lapsed (30 s after its last renewal), is taken over by the next run without unlock."
)]
pub struct UnlockOpts {}

/// `-o json` result of `unlock`.
#[derive(Debug, Serialize)]
pub struct UnlockReport {
    /// `unlocked`, `not_locked`, or `planned` (dry run).
    pub result: &'static str,
    /// The Lease's name; none with `--seed`.
    pub lease: Option<String>,
    /// The state file holding the lock, with `--seed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Who held it.
    pub holder: Option<Holder>,
}

impl UnlockOpts {
    /// Runs `unlock`.
    pub async fn exec(self, settings: Settings) -> anyhow::Result<Outcome> {
        if let Access::Seed(_) = &settings.access {
            return self.exec_local(Ctx::connect(settings).await?).await;
        }
        let (ctx, target) = Ctx::kubernetes(settings, "unlock").await?;
        let Some(k8s) = ctx.k8s.as_ref() else {
            anyhow::bail!("unlock needs Kubernetes");
        };
        let statefulset = target.statefulset_name();
        let lease = lease_name(statefulset);
        let report = |result, holder| UnlockReport {
            result,
            lease: Some(lease.clone()),
            file: None,
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
            since(&holder),
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
        let removed = k8s.release_lock(statefulset, None, false).await?;
        ctx.reporter.done(format!("lease {lease} deleted"));
        ctx.print_json("unlock", &report("unlocked", removed.or(Some(holder))))?;
        Ok(Outcome::Success)
    }

    /// `unlock` with `--seed`: the cluster's state file on this machine.
    async fn exec_local(self, ctx: Ctx) -> anyhow::Result<Outcome> {
        let Some(locks) = LocalLocks::for_user() else {
            anyhow::bail!(
                "neither $XDG_STATE_HOME nor $HOME is set: there is no lock file to remove"
            );
        };
        let nodes = cluster_node_ids(&ctx).await;
        let found = locks.look(&nodes, &plugin_process_alive)?;
        let file = found.file.as_ref().map(|f| f.display().to_string());
        let report = |result, holder| UnlockReport {
            result,
            lease: None,
            file: file.clone(),
            holder,
        };
        let Some(file_name) = &file else {
            ctx.reporter.done(format!(
                "the cluster is not locked (no lock file in {}); nothing to do",
                locks.dir().display()
            ));
            ctx.print_json("unlock", &report("not_locked", None))?;
            return Ok(Outcome::Success);
        };
        let holder = found.holder.as_ref().map(|(h, _)| h.clone());
        let kept = if found.journal.is_some() {
            " and the journal it keeps"
        } else {
            ""
        };
        match &found.holder {
            Some((h, live)) => ctx.reporter.line(&format!(
                "Plan: remove {file_name}{kept}: {} (pid {}, {}) has held it since {} for `{}`",
                h.identity,
                h.pid,
                if *live { "running" } else { "gone" },
                since(h),
                h.operation,
            )),
            None => ctx.reporter.line(&format!(
                "Plan: remove {file_name}{kept}: nobody holds the lock; the journal is for the same command run again"
            )),
        }
        if ctx.settings.dry_run {
            ctx.print_json("unlock", &report("planned", holder))?;
            return Ok(Outcome::Success);
        }
        ctx.confirm(
            "Remove the lock? If that run is still going, two runs may change the cluster at once.",
            "remove the lock",
            true,
        )?;
        let removed = locks.remove(&nodes)?;
        ctx.reporter.done(format!("{file_name} removed"));
        ctx.print_json("unlock", &report("unlocked", removed.or(holder)))?;
        Ok(Outcome::Success)
    }
}

/// When `holder` took the lock, as a message says it.
fn since(holder: &Holder) -> String {
    holder
        .since
        .map_or_else(|| "an unknown time".into(), |t| t.to_string())
}
