//! One operation at a time on a cluster: every changing command takes the StatefulSet's Lease
//! ([`crate::k8s::lease`]) before its first change, renews it in the background while it
//! works, and deletes it when it ends, well or not. A second run stops at once naming the
//! first (or waits with `--wait-lock`). Not in `--seed` mode (no Kubernetes to hold a Lease),
//! and not for `--dry-run`, which changes nothing.

use std::time::Instant;

use tokio::task::JoinHandle;

use super::context::Ctx;
use super::refusal::Refusal;
use crate::k8s::K8s;
use crate::k8s::lease::{Holder, RENEW_EVERY, Taken, lease_name};
use crate::settings::Access;

/// The lock, held until [`Lock::release`].
pub struct Lock {
    k8s: K8s,
    statefulset: String,
    me: Holder,
    renewing: JoinHandle<()>,
}

/// The command line of this run, as the lock shows it to others.
pub fn operation() -> String {
    std::env::args().skip(1).collect::<Vec<_>>().join(" ")
}

impl Ctx {
    /// Takes the cluster's lock for `operation`, in Kubernetes mode and unless `--dry-run`;
    /// with `--wait-lock`, waits up to `--timeout` for another run to release it.
    pub async fn lock(&self, operation: &str) -> anyhow::Result<Option<Lock>> {
        let (Some(k8s), Access::Kubernetes(target)) = (&self.k8s, &self.settings.access) else {
            return Ok(None);
        };
        let statefulset = target.statefulset_name().to_string();
        if self.settings.dry_run {
            if let Some(holder) = k8s.lock_holder(&statefulset).await? {
                self.reporter.warn(format!(
                    "{} is running `{}` on this cluster (lease {}); a real run would wait for it",
                    holder.identity,
                    holder.operation,
                    lease_name(&statefulset)
                ));
            }
            return Ok(None);
        }
        let me = Holder::me(operation);
        let deadline = Instant::now() + self.settings.timeout;
        let mut told = false;
        loop {
            match k8s.take_lock(&statefulset, &me).await? {
                Taken::Ours(lapsed) => {
                    if let Some((former, why)) = lapsed {
                        self.reporter.warn(format!(
                            "took over the lock of {} (`{}`): {why}",
                            former.identity, former.operation
                        ));
                    }
                    break;
                }
                Taken::Held(holder) if self.settings.wait_lock && Instant::now() < deadline => {
                    if !told {
                        self.reporter.step(format!(
                            "waiting for {} to finish `{}` (lease {})",
                            holder.identity,
                            holder.operation,
                            lease_name(&statefulset)
                        ));
                        told = true;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Taken::Held(holder) => {
                    return Err(Refusal::LockHeld {
                        statefulset,
                        holder: Box::new(holder),
                    }
                    .into());
                }
            }
        }
        let renewing = tokio::spawn({
            let (k8s, statefulset, me) = (k8s.clone(), statefulset.clone(), me.clone());
            async move {
                loop {
                    tokio::time::sleep(RENEW_EVERY).await;
                    match k8s.renew_lock(&statefulset, &me).await {
                        Ok(true) => {}
                        Ok(false) => {
                            eprintln!(
                                "! the lock of statefulset {statefulset} was taken from this run; another run may now change the cluster too"
                            );
                            return;
                        }
                        // A missed renewal is retried; the lease outlives three of them.
                        Err(_) => {}
                    }
                }
            }
        });
        Ok(Some(Lock {
            k8s: k8s.clone(),
            statefulset,
            me,
            renewing,
        }))
    }
}

impl Lock {
    /// Stops renewing and deletes the Lease if this run still holds it. A failure here only
    /// warns: the lease lapses on its own.
    pub async fn release(self, ctx: &Ctx) {
        self.renewing.abort();
        if let Err(e) = self
            .k8s
            .release_lock(&self.statefulset, Some(&self.me))
            .await
        {
            ctx.reporter.warn(format!(
                "could not release the lock ({e}); it lapses on its own"
            ));
        }
    }
}
