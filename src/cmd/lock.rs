//! One operation at a time on a cluster: every changing command takes the StatefulSet's Lease
//! ([`crate::k8s::lease`]) before its first change, renews it in the background while it
//! works, and deletes it when it ends, well or not. A second run stops at once naming the
//! first (or waits with `--wait-lock`). Not in `--seed` mode (no Kubernetes to hold a Lease),
//! and not for `--dry-run`, which changes nothing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use tokio::task::JoinHandle;

use super::context::Ctx;
use super::refusal::Refusal;
use crate::k8s::K8s;
use crate::k8s::lease::{Holder, RENEW_EVERY, Taken, lease_name};
use crate::plan::journal::{Journal, operation_of};
use crate::settings::Access;

/// The lock, held until [`Lock::release`].
pub struct Lock {
    k8s: K8s,
    statefulset: String,
    me: Holder,
    renewing: JoinHandle<()>,
}

/// The command line of this run, as the lock shows it to others and the journal names it
/// (without `--yes`).
pub fn operation() -> String {
    operation_of(&std::env::args().skip(1).collect::<Vec<_>>())
}

impl Ctx {
    /// Takes the cluster's lock for `operation`, in Kubernetes mode and unless `--dry-run`;
    /// with `--wait-lock`, waits up to `--timeout` for another run to release it. Keeps the
    /// journal an unfinished run of the same operation left ([`Ctx::inherited_journal`]).
    pub async fn lock(&mut self, operation: &str) -> anyhow::Result<Option<Lock>> {
        self.operation = operation.to_string();
        let (Some(k8s), Access::Kubernetes(target)) = (&self.k8s, &self.settings.access) else {
            self.inherited = journal_file(self).and_then(|f| read_journal(&f, operation));
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
        let inherited = loop {
            match k8s.take_lock(&statefulset, &me).await? {
                Taken::Ours { lapsed, journal } => {
                    if let Some((former, why)) = lapsed {
                        self.reporter.warn(format!(
                            "took over the lock of {} (`{}`): {why}",
                            former.identity, former.operation
                        ));
                    }
                    break journal.and_then(|j| serde_json::from_str::<Journal>(&j).ok());
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
        };
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
        let lock = Lock {
            k8s: k8s.clone(),
            statefulset,
            me: me.clone(),
            renewing,
        };
        self.inherited = inherited;
        self.held = Some(me);
        Ok(Some(lock))
    }

    /// The journal an interrupted run of this same command left, if any.
    pub fn inherited_journal(&self) -> Option<&Journal> {
        self.inherited.as_ref()
    }

    /// Saves the journal of this run's plan (not for `--dry-run`): on the lock's Lease in
    /// Kubernetes mode, in a local state file with `--seed`.
    pub async fn save_journal(&self, journal: &Journal) -> anyhow::Result<()> {
        if self.settings.dry_run {
            return Ok(());
        }
        let text = serde_json::to_string(journal)?;
        match (&self.k8s, &self.settings.access, &self.held) {
            (Some(k8s), Access::Kubernetes(target), Some(me)) => k8s
                .save_journal(target.statefulset_name(), me, Some(&text))
                .await
                .context("cannot save the journal on the lock")?,
            (_, Access::Seed(_), _) => {
                if let Some(file) = journal_file(self) {
                    if let Some(dir) = file.parent() {
                        std::fs::create_dir_all(dir)
                            .with_context(|| format!("cannot create {}", dir.display()))?;
                    }
                    std::fs::write(&file, text)
                        .with_context(|| format!("cannot write the journal {}", file.display()))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Clears the journal: the plan is done.
    pub async fn clear_journal(&self) -> anyhow::Result<()> {
        if self.settings.dry_run {
            return Ok(());
        }
        match (&self.k8s, &self.settings.access, &self.held) {
            (Some(k8s), Access::Kubernetes(target), Some(me)) => k8s
                .save_journal(target.statefulset_name(), me, None)
                .await
                .context("cannot clear the journal on the lock")?,
            (_, Access::Seed(_), _) => {
                if let Some(file) = journal_file(self) {
                    let _ = std::fs::remove_file(file);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The journal file of a `--seed` run: one per seed, under `$XDG_STATE_HOME` (else
/// `~/.local/state`)`/kubectl-redis-cluster/`.
fn journal_file(ctx: &Ctx) -> Option<PathBuf> {
    let Access::Seed(seed) = &ctx.settings.access else {
        return None;
    };
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    let name: String = seed
        .to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(
        base.join("kubectl-redis-cluster")
            .join(format!("journal-{name}.json")),
    )
}

/// The journal in `file` if it is `operation`'s.
fn read_journal(file: &Path, operation: &str) -> Option<Journal> {
    let text = std::fs::read_to_string(file).ok()?;
    serde_json::from_str::<Journal>(&text)
        .ok()
        .filter(|j| j.operation == operation)
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
