//! One operation at a time: a `coordination.k8s.io` Lease named after the StatefulSet
//! (`<statefulset>-lock`) says who runs which command since when. A run takes it before its
//! first change, renews it while it works and deletes it at the end. A holder that stopped
//! renewing (a crashed run elsewhere) loses it once `leaseDurationSeconds` have passed since
//! its last renewal; a holder on this machine whose process is gone (killed) loses it at once.
//!
//! [`judge`] is the pure decision; the rest are the requests around it.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ObjectMeta, PostParams, Preconditions};

use super::client::K8s;
use super::error::{K8sError, Op};

/// How long a Lease outlives its holder's last renewal.
pub const LEASE_SECONDS: i32 = 30;
/// How often the holder renews it.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);

const HOST: &str = "redis-cluster.kubectl.io/host";
const PID: &str = "redis-cluster.kubectl.io/pid";
const OPERATION: &str = "redis-cluster.kubectl.io/operation";
/// The journal of the running plan ([`crate::plan::journal`]), as JSON: kept when a run
/// ends without finishing it, so the same command run again continues it.
const JOURNAL: &str = "redis-cluster.kubectl.io/journal";

/// The Lease's name for a StatefulSet.
pub fn lease_name(statefulset: &str) -> String {
    format!("{statefulset}-lock")
}

/// Who runs (or ran) an operation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// `user@host`.
    pub identity: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// The command line, e.g. `scale --masters 4`.
    pub operation: String,
    /// When it took the lock.
    pub since: Option<Timestamp>,
    /// When it last renewed it.
    pub renewed: Option<Timestamp>,
    /// Seconds the lock outlives the last renewal.
    pub seconds: i32,
}

impl Holder {
    /// This process, about to run `operation`.
    pub fn me(operation: &str) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown-host".into());
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self {
            identity: format!("{user}@{host}"),
            host,
            pid: std::process::id(),
            operation: operation.to_string(),
            since: None,
            renewed: None,
            seconds: LEASE_SECONDS,
        }
    }

    /// Whether `other` is the same run (same machine, same process).
    pub fn same_run(&self, other: &Holder) -> bool {
        self.host == other.host && self.pid == other.pid
    }

    /// When the lock lapses unless renewed.
    pub fn expires(&self) -> Option<Timestamp> {
        let renewed = self.renewed.or(self.since)?;
        renewed
            .checked_add(Duration::from_secs(
                u64::try_from(self.seconds).unwrap_or(0),
            ))
            .ok()
    }

    fn from_lease(lease: &Lease) -> Option<Self> {
        let spec = lease.spec.as_ref()?;
        let identity = spec.holder_identity.clone().filter(|i| !i.is_empty())?;
        let note = |key: &str| {
            lease
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .cloned()
        };
        Some(Self {
            identity,
            host: note(HOST).unwrap_or_default(),
            pid: note(PID).and_then(|p| p.parse().ok()).unwrap_or(0),
            operation: note(OPERATION).unwrap_or_default(),
            since: spec.acquire_time.as_ref().map(|t| t.0),
            renewed: spec.renew_time.as_ref().map(|t| t.0),
            seconds: spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS),
        })
    }

    fn to_lease(&self, name: &str, now: Timestamp, from: Option<&Lease>) -> Lease {
        let mut lease = from.cloned().unwrap_or_default();
        lease.metadata = ObjectMeta {
            name: Some(name.to_string()),
            resource_version: from.and_then(|l| l.metadata.resource_version.clone()),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_string(),
                    "kubectl-redis-cluster".to_string(),
                )]
                .into(),
            ),
            annotations: Some(
                [
                    (HOST.to_string(), self.host.clone()),
                    (PID.to_string(), self.pid.to_string()),
                    (OPERATION.to_string(), self.operation.clone()),
                ]
                .into_iter()
                .chain(
                    from.and_then(|l| journal_for(l, &self.operation))
                        .map(|j| (JOURNAL.to_string(), j)),
                )
                .collect(),
            ),
            ..ObjectMeta::default()
        };
        let transitions = from
            .and_then(|l| l.spec.as_ref())
            .and_then(|s| s.lease_transitions)
            .unwrap_or(0);
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.seconds),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions + i32::from(from.is_some())),
            ..LeaseSpec::default()
        });
        lease
    }
}

/// The journal a Lease keeps for `operation`, if it is that operation's.
fn journal_for(lease: &Lease, operation: &str) -> Option<String> {
    let notes = lease.metadata.annotations.as_ref()?;
    (notes.get(OPERATION).map(String::as_str) == Some(operation))
        .then(|| notes.get(JOURNAL).cloned())
        .flatten()
}

/// What to do about the Lease as found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nobody holds it: take it.
    Free,
    /// Its holder is gone (the reason says how we know): take it over.
    Lapsed {
        /// The former holder.
        holder: Holder,
        /// How we know.
        why: String,
    },
    /// Someone else holds it.
    Held(Holder),
}

/// Judges the Lease as found at `now`, for a run on `my_host`; `alive(pid)` tells whether a
/// process of the plugin runs on this machine with that id.
pub fn judge(
    found: Option<&Lease>,
    now: Timestamp,
    my_host: &str,
    alive: &dyn Fn(u32) -> bool,
) -> Verdict {
    let Some(holder) = found.and_then(Holder::from_lease) else {
        return Verdict::Free;
    };
    if holder.host == my_host && holder.pid != 0 && !alive(holder.pid) {
        let why = format!(
            "its process {} on this machine is gone (killed or crashed)",
            holder.pid
        );
        return Verdict::Lapsed { holder, why };
    }
    match holder.expires() {
        Some(at) if at < now => {
            let why = format!("it was last renewed at {} and lapsed at {at}", {
                holder.renewed.or(holder.since).unwrap_or(at)
            });
            Verdict::Lapsed { holder, why }
        }
        _ => Verdict::Held(holder),
    }
}

/// Whether a process of the plugin runs here with id `pid`.
pub fn plugin_process_alive(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains("redis_cluster"))
}

/// The outcome of [`K8s::take_lock`].
#[derive(Debug)]
pub enum Taken {
    /// The lock is ours: the former holder when it lapsed, and the journal an unfinished run
    /// of the same operation left.
    Ours {
        /// The former holder and how we know it is gone.
        lapsed: Option<(Holder, String)>,
        /// The journal (JSON).
        journal: Option<String>,
    },
    /// Someone else holds it.
    Held(Holder),
}

impl K8s {
    fn leases(&self) -> kube::Api<Lease> {
        self.api::<Lease>()
    }

    /// The Lease of `statefulset`, if any.
    pub async fn lock_holder(&self, statefulset: &str) -> Result<Option<Holder>, K8sError> {
        Ok(self
            .get_lease(statefulset)
            .await?
            .as_ref()
            .and_then(Holder::from_lease))
    }

    /// The Lease of `statefulset` judged as a run of `me` would find it, and the journal it
    /// keeps for `me`'s operation: what a dry run shows instead of taking it.
    pub async fn peek_lock(
        &self,
        statefulset: &str,
        me: &Holder,
    ) -> Result<(Verdict, Option<String>), K8sError> {
        let found = self.get_lease(statefulset).await?;
        let verdict = judge(
            found.as_ref(),
            Timestamp::now(),
            &me.host,
            &plugin_process_alive,
        );
        let journal = found.as_ref().and_then(|l| journal_for(l, &me.operation));
        Ok((verdict, journal))
    }

    async fn get_lease(&self, statefulset: &str) -> Result<Option<Lease>, K8sError> {
        let name = lease_name(statefulset);
        let op = Op::new("get", "leases").on("lease", &name);
        self.leases()
            .get_opt(&name)
            .await
            .map_err(|e| self.scope.classify(op, e))
    }

    /// Takes the lock of `statefulset` for `me`, unless someone else holds it. Creating and
    /// replacing are conditional (a create fails if the Lease exists, a replace if it changed
    /// since read), so two runs racing for it cannot both win.
    pub async fn take_lock(&self, statefulset: &str, me: &Holder) -> Result<Taken, K8sError> {
        let name = lease_name(statefulset);
        for _ in 0..5 {
            let found = self.get_lease(statefulset).await?;
            let now = Timestamp::now();
            let lapsed = match judge(found.as_ref(), now, &me.host, &plugin_process_alive) {
                Verdict::Held(holder) if holder.same_run(me) => None,
                Verdict::Held(holder) => return Ok(Taken::Held(holder)),
                Verdict::Free => None,
                Verdict::Lapsed { holder, why } => Some((holder, why)),
            };
            let lease = me.to_lease(&name, now, found.as_ref());
            let journal = found.as_ref().and_then(|l| journal_for(l, &me.operation));
            let written = match &found {
                None => {
                    let op = Op::new("create", "leases").on("lease", &name);
                    self.leases()
                        .create(&PostParams::default(), &lease)
                        .await
                        .map_err(|e| (op, e))
                }
                Some(_) => {
                    let op = Op::new("update", "leases").on("lease", &name);
                    self.leases()
                        .replace(&name, &PostParams::default(), &lease)
                        .await
                        .map_err(|e| (op, e))
                }
            };
            match written {
                Ok(_) => return Ok(Taken::Ours { lapsed, journal }),
                // Another run wrote it between our read and our write: read again.
                Err((_, kube::Error::Api(s))) if s.code == 409 => continue,
                Err((op, e)) => return Err(self.scope.classify(op, e)),
            }
        }
        let op = Op::new("update", "leases").on("lease", &name);
        Err(self.scope.classify(
            op,
            kube::Error::Api(
                kube::core::Status::failure("the lease kept changing under us", "Conflict")
                    .with_code(409)
                    .boxed(),
            ),
        ))
    }

    /// Renews the lock if `me` still holds it; false when someone else took it.
    pub async fn renew_lock(&self, statefulset: &str, me: &Holder) -> Result<bool, K8sError> {
        let name = lease_name(statefulset);
        let Some(mut lease) = self.get_lease(statefulset).await? else {
            return Ok(false);
        };
        match Holder::from_lease(&lease) {
            Some(h) if h.same_run(me) => {}
            _ => return Ok(false),
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.renew_time = Some(MicroTime(Timestamp::now()));
        }
        let op = Op::new("update", "leases").on("lease", &name);
        self.leases()
            .replace(&name, &PostParams::default(), &lease)
            .await
            .map_err(|e| self.scope.classify(op, e))?;
        Ok(true)
    }

    /// Writes (or with `None` removes) the journal on the lock `me` holds.
    pub async fn save_journal(
        &self,
        statefulset: &str,
        me: &Holder,
        journal: Option<&str>,
    ) -> Result<(), K8sError> {
        let name = lease_name(statefulset);
        let op = Op::new("update", "leases").on("lease", &name);
        let Some(mut lease) = self.get_lease(statefulset).await? else {
            return Err(self.scope.classify(
                op,
                kube::Error::Api(
                    kube::core::Status::failure("the lock is gone", "NotFound")
                        .with_code(409)
                        .boxed(),
                ),
            ));
        };
        let notes = lease.metadata.annotations.get_or_insert_default();
        match journal {
            Some(j) => notes.insert(JOURNAL.to_string(), j.to_string()),
            None => notes.remove(JOURNAL),
        };
        if !Holder::from_lease(&lease).is_some_and(|h| h.same_run(me)) {
            return Err(self.scope.classify(
                op,
                kube::Error::Api(
                    kube::core::Status::failure("another run holds the lock now", "Conflict")
                        .with_code(409)
                        .boxed(),
                ),
            ));
        }
        self.leases()
            .replace(&name, &PostParams::default(), &lease)
            .await
            .map_err(|e| self.scope.classify(op, e))?;
        Ok(())
    }

    /// Deletes the lock of `statefulset`: only if `me` holds it when given (the end of a
    /// run), whoever holds it otherwise (`unlock`). Returns the holder it removed. With
    /// `keep_journal`, a lock `me` holds that keeps a journal (the run did not finish its
    /// plan) is released but kept, with the journal, for the same command run again.
    pub async fn release_lock(
        &self,
        statefulset: &str,
        me: Option<&Holder>,
        keep_journal: bool,
    ) -> Result<Option<Holder>, K8sError> {
        let name = lease_name(statefulset);
        let Some(lease) = self.get_lease(statefulset).await? else {
            return Ok(None);
        };
        let holder = Holder::from_lease(&lease);
        if let Some(me) = me {
            match &holder {
                Some(h) if h.same_run(me) => {}
                _ => return Ok(None),
            }
        }
        if me.is_some()
            && keep_journal
            && lease
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(JOURNAL))
        {
            let mut kept = lease;
            if let Some(spec) = kept.spec.as_mut() {
                spec.holder_identity = None;
            }
            let op = Op::new("update", "leases").on("lease", &name);
            self.leases()
                .replace(&name, &PostParams::default(), &kept)
                .await
                .map_err(|e| self.scope.classify(op, e))?;
            return Ok(holder);
        }
        let op = Op::new("delete", "leases").on("lease", &name);
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: lease.metadata.resource_version.clone(),
                uid: lease.metadata.uid.clone(),
            }),
            ..DeleteParams::default()
        };
        match self.leases().delete(&name, &params).await {
            Ok(_) => Ok(holder),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(e) => Err(self.scope.classify(op, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn held_by(host: &str, pid: u32, renewed: i64) -> Lease {
        let mut holder = Holder::me("scale --masters 4");
        holder.host = host.into();
        holder.identity = format!("ann@{host}");
        holder.pid = pid;
        holder.to_lease("redis-cluster-lock", at(renewed), None)
    }

    #[test]
    fn no_lease_or_one_without_holder_is_free() {
        assert_eq!(judge(None, at(0), "here", &|_| true), Verdict::Free);
        let mut released = held_by("there", 7, 0);
        released.spec.as_mut().unwrap().holder_identity = None;
        assert_eq!(
            judge(Some(&released), at(0), "here", &|_| true),
            Verdict::Free
        );
    }

    #[test]
    fn a_holder_elsewhere_holds_it_until_its_lease_lapses() {
        let lease = held_by("there", 7, 0);
        match judge(Some(&lease), at(LEASE_SECONDS.into()), "here", &|_| false) {
            Verdict::Held(h) => {
                assert_eq!(h.identity, "ann@there");
                assert_eq!(h.operation, "scale --masters 4");
                assert_eq!(h.expires(), Some(at(LEASE_SECONDS.into())));
            }
            other => panic!("{other:?}"),
        }
        match judge(
            Some(&lease),
            at(i64::from(LEASE_SECONDS) + 1),
            "here",
            &|_| false,
        ) {
            Verdict::Lapsed { why, .. } => assert!(why.contains("lapsed at"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_holder_on_this_machine_whose_process_is_gone_lapses_at_once() {
        let lease = held_by("here", 4242, 0);
        match judge(Some(&lease), at(1), "here", &|pid| pid != 4242) {
            Verdict::Lapsed { holder, why } => {
                assert_eq!(holder.pid, 4242);
                assert!(
                    why.contains("process 4242 on this machine is gone"),
                    "{why}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            judge(Some(&lease), at(1), "here", &|_| true),
            Verdict::Held(_)
        ));
    }

    #[test]
    fn the_lease_records_who_what_and_since_when() {
        let lease = held_by("there", 7, 0);
        let spec = lease.spec.as_ref().unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("ann@there"));
        assert_eq!(spec.lease_duration_seconds, Some(LEASE_SECONDS));
        assert_eq!(spec.acquire_time, Some(MicroTime(at(0))));
        let notes = lease.metadata.annotations.as_ref().unwrap();
        assert_eq!(notes[OPERATION], "scale --masters 4");
        assert_eq!(notes[PID], "7");
        assert_eq!(lease.metadata.name.as_deref(), Some("redis-cluster-lock"));
    }
}
