//! Refusals a user acts on. Each variant says what was refused (printed `error: …`), what to
//! do next (printed `hint: …`) and which documented exit code the process ends with; `main`
//! finds a `Refusal` anywhere in an error's chain. Unexpected failures stay `anyhow` chains.

use crate::exit_codes;
use crate::k8s::access::Need;
use crate::k8s::lease::Holder;
use crate::output::prompt::NotConfirmed;
use crate::topology::Endpoint;

/// Why a command stopped without (further) changes, or after a change that did not converge.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Removing a master that still serves slots.
    #[error("{node} is a master holding {slots} slot(s); nothing was changed")]
    NeedsDrain {
        /// As the user named it.
        node: String,
        /// Slots it serves.
        slots: usize,
    },
    /// Adding a node that holds keys.
    #[error("{node} is not empty: it holds {keys} key(s); nothing was changed")]
    NotEmpty {
        /// The node.
        node: String,
        /// Its keys.
        keys: u64,
    },
    /// Adding a node that already serves slots.
    #[error("{node} already serves slots {slots}; nothing was changed")]
    ServesSlots {
        /// The node.
        node: String,
        /// The slots, as ranges.
        slots: String,
    },
    /// Adding a node that is a member of another cluster.
    #[error(
        "{node} already knows {peers} other node(s): it belongs to another cluster; nothing was changed"
    )]
    InAnotherCluster {
        /// The node.
        node: String,
        /// How many peers it lists.
        peers: usize,
    },
    /// Removing a node that lists none of this cluster's nodes.
    #[error(
        "{node} lists none of this cluster's nodes: it belongs to another cluster; not touching it"
    )]
    Stranger {
        /// As the user named it.
        node: String,
    },
    /// A node named where a master is needed.
    #[error("{flag} {given}: {endpoint} is not a master; nothing was changed")]
    NotAMaster {
        /// The flag, e.g. `--to`.
        flag: &'static str,
        /// As the user typed it.
        given: String,
        /// The node it resolved to.
        endpoint: String,
    },
    /// An unreachable node still owns slots.
    #[error("{node} is unreachable and still owns slots {slots}; nothing was changed")]
    UnreachableOwnsSlots {
        /// The node.
        node: String,
        /// Its slots.
        slots: String,
    },
    /// `reshard --slots N` asks for more slots than the sources hold.
    #[error("the source masters hold {available} slot(s); cannot move {wanted}")]
    NotEnoughSlots {
        /// Slots the sources hold.
        available: usize,
        /// Slots asked for.
        wanted: usize,
        /// The reshard that moves what they still hold.
        rerun: String,
    },
    /// Slots are open in a way only `fix` may resolve.
    #[error("open slots need `fix` first; nothing was changed:\n  - {}", .0.join("\n  - "))]
    OpenSlots(Vec<String>),
    /// `fix` left slots it could not fix without risking keys.
    #[error("{0} slot(s) could not be fixed safely (see above)")]
    Unfixable(usize),
    /// A pod outside the cluster is not an empty node.
    #[error("pod {pod} ({endpoint}) is not an empty node; nothing was changed")]
    PodNotEmpty {
        /// The pod.
        pod: String,
        /// Its endpoint.
        endpoint: Endpoint,
    },
    /// A saved plan (`apply -f`) no longer fits the cluster.
    #[error("the cluster changed since the plan was made ({why}); nothing was changed")]
    PlanStale {
        /// What differs.
        why: String,
    },
    /// The pods cannot take the shape `scale` was asked for.
    #[error("cannot scale to that shape: {0}; nothing was changed")]
    CannotScale(String),
    /// The pod template's command line cannot be given the hostname options.
    #[error("{0}; nothing was changed")]
    CannotAnnounce(#[from] crate::k8s::announce::NotDirect),
    /// The command needs Kubernetes and was run with `--seed`.
    #[error("{command} works on a StatefulSet, not with --seed")]
    KubernetesOnly {
        /// The subcommand.
        command: &'static str,
    },
    /// The StatefulSet has no pods.
    #[error("statefulset {statefulset} in namespace {namespace} has no pods (replicas: 0)")]
    NoPods {
        /// Its name.
        statefulset: String,
        /// Its namespace.
        namespace: String,
    },
    /// Targets whose `maxmemory` cannot take the keys they would receive.
    #[error("not enough memory on the targets; nothing was changed:\n  - {}", .0.join("\n  - "))]
    NoRoom(Vec<String>),
    /// The caller lacks rights the command needs.
    #[error(
        "missing rights in namespace {namespace}: {}; nothing was changed",
        missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    MissingRights {
        /// The namespace.
        namespace: String,
        /// What is missing.
        missing: Vec<Need>,
    },
    /// Another run holds the cluster's lock.
    #[error(
        "{cluster} is locked by {} (pid {}), running `{}` since {}; nothing was changed",
        holder.identity,
        holder.pid,
        holder.operation,
        holder.since.map_or_else(|| "an unknown time".to_string(), |t| t.to_string())
    )]
    LockHeld {
        /// The cluster: `statefulset NAME`, or `the cluster` with `--seed`.
        cluster: String,
        /// The Lease holding the lock, in Kubernetes mode (else a state file on this machine).
        lease: Option<String>,
        /// Who holds it.
        holder: Box<Holder>,
    },
    /// The user did not confirm.
    #[error(transparent)]
    NotConfirmed(#[from] NotConfirmed),
    /// A rolling restart or upgrade would stop serving slots.
    #[error("{0}; the rollout stops before that pod")]
    NoFailoverTarget(crate::plan::rollout::RollRefusal),
    /// A drain would stop serving slots.
    #[error("{0}; nothing was changed")]
    NoDrainTarget(crate::plan::replicas::DrainRefusal),
    /// Pods are restarted only in a healthy cluster.
    #[error("the cluster is not healthy, so nothing was changed: {0}")]
    NotHealthy(String),
    /// A change was made, but the cluster did not converge within `--timeout`.
    #[error("the change is done but the cluster has not converged: {0}")]
    NotConverged(String),
}

impl Refusal {
    /// What to do next, one sentence.
    pub fn hint(&self) -> String {
        match self {
            Self::NeedsDrain { node, .. } => format!(
                "pass --drain to move them to the other masters first (or move them with `reshard` or `rebalance --weight {node}=0`)"
            ),
            Self::NotEmpty { .. } | Self::ServesSlots { .. } => {
                "add-node only adds empty nodes: flush it (FLUSHALL) and `CLUSTER RESET HARD` it if its data is not needed".into()
            }
            Self::InAnotherCluster { .. } => {
                "reset it with `CLUSTER RESET HARD` if it should leave that cluster".into()
            }
            Self::Stranger { .. } => "name a node of this cluster; `status` lists them".into(),
            Self::NotAMaster { .. } => "name a master; `status` lists them".into(),
            Self::UnreachableOwnsSlots { .. } => {
                "bring it back, or run `fix` to cover its slots first".into()
            }
            Self::NotEnoughSlots { rerun, .. } => format!(
                "if an interrupted reshard already moved part of them, `status` shows where the slots are, and `{rerun}` (with the same other flags) moves every slot the sources still hold"
            ),
            Self::OpenSlots(_) => {
                "run `fix` (it closes them without losing a key), then run this command again".into()
            }
            Self::Unfixable(_) => {
                "bring the unreachable master back (or forget it with del-node), then run `fix` again".into()
            }
            Self::PodNotEmpty { .. } => {
                "reset it (CLUSTER RESET HARD) or delete its PersistentVolumeClaim, then run the same command again".into()
            }
            Self::KubernetesOnly { command: "scale" } => {
                "without Kubernetes use add-node, rebalance and del-node".into()
            }
            Self::KubernetesOnly { .. } => "drop --seed and name the StatefulSet".into(),
            Self::PlanStale { .. } => {
                "make the plan again (the same command with --dry-run -o json), review it, and apply that one".into()
            }
            Self::CannotScale(_) => {
                "`status` shows the masters and their slots; drain a master first (`reshard`, or `del-node --drain`) or ask for more masters".into()
            }
            Self::CannotAnnounce(_) => {
                "once the template has them, `rolling-restart` brings every pod to it safely".into()
            }
            Self::NoPods { statefulset, .. } => format!(
                "give it pods with `kubectl scale statefulset {statefulset} --replicas=6`, then run `init`"
            ),
            Self::NoRoom(_) => {
                "raise their maxmemory (CONFIG SET maxmemory, and the pods' memory limit), or move fewer slots to them (rebalance --weight)".into()
            }
            Self::MissingRights { missing, .. } => format!(
                "ask for the Role in manifests/base/rbac-plugin-user.yaml, or add these rules to yours: {}",
                missing.iter().map(Need::rule).collect::<Vec<_>>().join(", ")
            ),
            Self::LockHeld {
                lease: Some(lease),
                holder,
                ..
            } => format!(
                "wait for it to finish, or pass --wait-lock to wait for it; if that run is gone, its lock lapses at {} unless renewed (`kubectl redis-cluster unlock` removes lease {lease} now)",
                holder
                    .expires()
                    .map_or_else(|| "its expiry".to_string(), |t| t.to_string()),
            ),
            Self::LockHeld { lease: None, .. } => {
                "wait for it to finish, or pass --wait-lock to wait for it; once its process is gone the next run takes the lock over (`unlock` with the same --seed removes it now)".into()
            }
            Self::NotConfirmed(NotConfirmed::Declined) => {
                "--dry-run prints the plan without asking".into()
            }
            Self::NotConfirmed(NotConfirmed::NoTerminal { .. }) => {
                "pass --yes to proceed (or --dry-run to see the plan)".into()
            }
            Self::NoFailoverTarget(_) => {
                "give that master a replica first (`scale --replicas-per-master 1`, or `add-node NEW --replica-of NODE`), then run the same command again".into()
            }
            Self::NoDrainTarget(_) => {
                "give that master a replica on another node first (`add-node NEW --replica-of NODE`, or `rebalance-replicas`), then run drain-prep again".into()
            }
            Self::NotHealthy(_) => {
                "`status` lists what is wrong and `fix` heals most of it; then run the same command again".into()
            }
            Self::NotConverged(_) => {
                "`status` shows what is left; once the nodes answer again, running the same command again (or `fix`) finishes the job".into()
            }
        }
    }

    /// The documented exit code ([`crate::exit_codes`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NotConverged(_) => exit_codes::UNHEALTHY,
            _ => exit_codes::ERROR,
        }
    }

    /// The refusal in `error`'s chain, if any.
    pub fn find(error: &anyhow::Error) -> Option<&Self> {
        error.chain().find_map(|c| c.downcast_ref::<Self>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_wrapped_in_context_is_found_with_its_hint_and_exit_code() {
        let e = anyhow::Error::from(Refusal::OpenSlots(vec!["slot 7: both sides".into()]))
            .context("cannot rebalance");
        let found = Refusal::find(&e).expect("found");
        assert_eq!(found.exit_code(), exit_codes::ERROR);
        assert!(found.hint().starts_with("run `fix`"), "{}", found.hint());
        assert_eq!(
            format!("{e:#}"),
            "cannot rebalance: open slots need `fix` first; nothing was changed:\n  - slot 7: both sides"
        );
    }

    #[test]
    fn only_a_change_that_did_not_converge_exits_unhealthy() {
        assert_eq!(
            Refusal::NotConverged("slot 3 is open".into()).exit_code(),
            exit_codes::UNHEALTHY
        );
        assert_eq!(
            Refusal::NotConfirmed(NotConfirmed::Declined).exit_code(),
            exit_codes::ERROR
        );
        assert!(Refusal::find(&anyhow::anyhow!("unexpected")).is_none());
    }
}
