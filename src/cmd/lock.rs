//! One operation at a time on a cluster: every changing command takes the cluster's lock
//! before its first change and lets go of it when it ends, well or not. In Kubernetes mode the
//! lock is the StatefulSet's Lease ([`crate::k8s::lease`]), renewed in the background while
//! the run works; with `--seed`, a state file on this machine ([`super::local_lock`]). A
//! second run stops at once naming the first (or waits with `--wait-lock`). `--dry-run`
//! takes no lock: it says who holds it and shows the journal a real run would continue.
//! The journal of a run's plan lives with the lock and goes with it once the plan is done.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Context as _;
use tokio::task::JoinHandle;

use super::context::Ctx;
use super::local_lock::{LocalLock, LocalLocks};
use super::refusal::Refusal;
use crate::k8s::K8s;
use crate::k8s::lease::{Holder, RENEW_EVERY, Taken, Verdict, lease_name, plugin_process_alive};
use crate::plan::journal::{Journal, operation_of};
use crate::settings::Access;

/// The lock, held until [`Lock::release`].
pub enum Lock {
    /// The StatefulSet's Lease, renewed in the background.
    Lease {
        /// The client.
        k8s: K8s,
        /// The StatefulSet.
        statefulset: String,
        /// This run.
        me: Holder,
        /// The renewing task.
        renewing: JoinHandle<()>,
    },
    /// The cluster's state file (`--seed`).
    Local(LocalLock),
}

/// Where the lock of this run's cluster lives.
enum Place {
    Lease(K8s, String),
    Local(LocalLocks, BTreeSet<String>),
}

/// The command line of this run, as the lock shows it to others and the journal names it
/// (without `--yes`).
pub fn operation() -> String {
    operation_of(&std::env::args().skip(1).collect::<Vec<_>>())
}

impl Ctx {
    /// Takes the cluster's lock for `operation` unless `--dry-run`; with `--wait-lock`,
    /// waits up to `--timeout` for another run to release it. Keeps the journal an
    /// unfinished run of the same operation left ([`Ctx::inherited_journal`]); a dry run
    /// reads it without taking the lock, so it shows what a real run would continue.
    pub async fn lock(&mut self, operation: &str) -> anyhow::Result<Option<Lock>> {
        self.operation = operation.to_string();
        let Some(place) = self.lock_place().await else {
            return Ok(None);
        };
        let me = Holder::me(operation);
        if self.settings.dry_run {
            self.peek_lock(&place, &me).await?;
            return Ok(None);
        }
        let deadline = Instant::now() + self.settings.timeout;
        let mut told = false;
        let (journal, local) = loop {
            let (taken, local) = match &place {
                Place::Lease(k8s, statefulset) => (k8s.take_lock(statefulset, &me).await?, None),
                Place::Local(locks, nodes) => locks
                    .take(nodes, &me, &plugin_process_alive)
                    .with_context(|| {
                        format!("cannot take the lock in {}", locks.dir().display())
                    })?,
            };
            match taken {
                Taken::Ours { lapsed, journal } => {
                    if let Some((former, why)) = lapsed {
                        self.reporter.warn(format!(
                            "took over the lock of {} (`{}`): {why}",
                            former.identity, former.operation
                        ));
                    }
                    break (journal, local);
                }
                Taken::Held(holder) if self.settings.wait_lock && Instant::now() < deadline => {
                    if !told {
                        self.reporter.step(format!(
                            "waiting for {} to finish `{}` ({})",
                            holder.identity,
                            holder.operation,
                            place.name()
                        ));
                        told = true;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Taken::Held(holder) => {
                    return Err(Refusal::LockHeld {
                        cluster: place.cluster(),
                        lease: match &place {
                            Place::Lease(_, statefulset) => Some(lease_name(statefulset)),
                            Place::Local(..) => None,
                        },
                        holder: Box::new(holder),
                    }
                    .into());
                }
            }
        };
        self.inherited = journal.and_then(|j| serde_json::from_str::<Journal>(&j).ok());
        self.held = Some(me.clone());
        let lock = match place {
            Place::Lease(k8s, statefulset) => {
                let renewing = renew_in_background(k8s.clone(), statefulset.clone(), me.clone());
                Lock::Lease {
                    k8s,
                    statefulset,
                    me,
                    renewing,
                }
            }
            Place::Local(..) => {
                let local = local.expect("a taken local lock comes with its file");
                self.local_lock = Some(local.clone());
                Lock::Local(local)
            }
        };
        Ok(Some(lock))
    }

    /// Where this run's lock lives: the Lease in Kubernetes mode; with `--seed`, the state
    /// file of the cluster the seed belongs to (none without a home directory: then no lock).
    async fn lock_place(&self) -> Option<Place> {
        match (&self.k8s, &self.settings.access) {
            (Some(k8s), Access::Kubernetes(target)) => Some(Place::Lease(
                k8s.clone(),
                target.statefulset_name().to_string(),
            )),
            (_, Access::Seed(_)) => {
                let locks = LocalLocks::for_user()?;
                Some(Place::Local(locks, cluster_node_ids(self).await))
            }
            _ => None,
        }
    }

    /// What a dry run says about the lock: who holds it and whether a real run would wait
    /// or take it over; keeps the journal a real run would continue.
    async fn peek_lock(&mut self, place: &Place, me: &Holder) -> anyhow::Result<()> {
        let (holder, journal) = match place {
            Place::Lease(k8s, statefulset) => {
                let (verdict, journal) = k8s.peek_lock(statefulset, me).await?;
                let holder = match verdict {
                    Verdict::Free => None,
                    Verdict::Held(h) => Some((h, None)),
                    Verdict::Lapsed { holder, why } => Some((holder, Some(why))),
                };
                (holder, journal)
            }
            Place::Local(locks, nodes) => {
                let found = locks.look(nodes, &plugin_process_alive).with_context(|| {
                    format!("cannot read the locks in {}", locks.dir().display())
                })?;
                let holder = found.holder.map(|(h, live)| {
                    let why = (!live).then(|| {
                        format!(
                            "its process {} on this machine is gone (killed or crashed)",
                            h.pid
                        )
                    });
                    (h, why)
                });
                let journal = found.journal.filter(|j| {
                    serde_json::from_str::<Journal>(j).is_ok_and(|j| j.operation == me.operation)
                });
                (holder, journal)
            }
        };
        match holder {
            Some((h, None)) => self.reporter.warn(format!(
                "{} is running `{}` on this cluster ({}); a real run would wait for it",
                h.identity,
                h.operation,
                place.name()
            )),
            Some((h, Some(why))) => self.reporter.warn(format!(
                "a real run would take over the lock of {} (`{}`): {why}",
                h.identity, h.operation
            )),
            None => {}
        }
        self.inherited = journal.and_then(|j| serde_json::from_str::<Journal>(&j).ok());
        Ok(())
    }

    /// The journal an interrupted run of this same command left, if any.
    pub fn inherited_journal(&self) -> Option<&Journal> {
        self.inherited.as_ref()
    }

    /// Saves the journal of this run's plan with its lock (not for `--dry-run`).
    pub async fn save_journal(&self, journal: &Journal) -> anyhow::Result<()> {
        if self.settings.dry_run {
            return Ok(());
        }
        let text = serde_json::to_string(journal)?;
        match (
            &self.k8s,
            &self.settings.access,
            &self.held,
            &self.local_lock,
        ) {
            (Some(k8s), Access::Kubernetes(target), Some(me), _) => k8s
                .save_journal(target.statefulset_name(), me, Some(&text))
                .await
                .context("cannot save the journal on the lock")?,
            (_, _, _, Some(local)) => local.save_journal(Some(&text)).with_context(|| {
                format!("cannot save the journal in {}", local.file().display())
            })?,
            _ => {}
        }
        Ok(())
    }

    /// Marks the journal done: every slot of the plan moved. It stays with the lock until
    /// the run lets go of it (and goes with it then), so a run stopped in between is known
    /// to have finished.
    pub async fn finish_journal(&self, journal: &Journal) -> anyhow::Result<()> {
        self.save_journal(&journal.finished()).await?;
        self.journal_done.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// The ids of the nodes the `--seed` node knows, its own included: what finds the cluster's
/// lock file. A seed that does not answer stands for its cluster itself (the command will say
/// what is wrong with it).
pub async fn cluster_node_ids(ctx: &Ctx) -> BTreeSet<String> {
    let Access::Seed(seed) = &ctx.settings.access else {
        return BTreeSet::new();
    };
    match crate::redis::observe::observe_node(&ctx.pool, seed).await {
        Ok(report) => report.nodes.iter().map(|n| n.id.0.clone()).collect(),
        Err(_) => BTreeSet::from([format!("seed {seed}")]),
    }
}

/// Renews the Lease every [`RENEW_EVERY`] until aborted; says so once if another run took it.
fn renew_in_background(k8s: K8s, statefulset: String, me: Holder) -> JoinHandle<()> {
    tokio::spawn(async move {
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
    })
}

impl Place {
    /// The lock as a message names it.
    fn name(&self) -> String {
        match self {
            Place::Lease(_, statefulset) => format!("lease {}", lease_name(statefulset)),
            Place::Local(locks, _) => format!("lock file in {}", locks.dir().display()),
        }
    }

    /// The cluster as a refusal names it.
    fn cluster(&self) -> String {
        match self {
            Place::Lease(_, statefulset) => format!("statefulset {statefulset}"),
            Place::Local(..) => "the cluster".to_string(),
        }
    }
}

impl Lock {
    /// Lets go of the lock if this run still holds it: kept, holder-less, with the journal
    /// of a plan the run did not finish; gone otherwise. A failure here only warns: a Lease
    /// lapses on its own, a local lock of a process that ended is taken over.
    pub async fn release(self, ctx: &Ctx) {
        let keep_journal = !ctx.journal_done.load(Ordering::Relaxed);
        let released = match self {
            Lock::Lease {
                k8s,
                statefulset,
                me,
                renewing,
            } => {
                renewing.abort();
                k8s.release_lock(&statefulset, Some(&me), keep_journal)
                    .await
                    .map(|_| ())
                    .map_err(anyhow::Error::from)
            }
            Lock::Local(local) => local.release(keep_journal).map_err(anyhow::Error::from),
        };
        if let Err(e) = released {
            ctx.reporter.warn(format!(
                "could not release the lock ({e}); it lapses on its own"
            ));
        }
    }
}
